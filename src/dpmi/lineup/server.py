"""The lineup server: a small HTTP server on the loopback interface (stdlib ThreadingHTTPServer), the page
and its JSON API.

    GET  /                       the page (page.html)
    GET  /api/items?rater=NAME   {"rater", "k", "total", "answered", "next", "items": [{"id", "image", "faces",
                                 "answered", "choice"}]}: every item with its image URLs, in rating order;
                                 "next" is the index of the first unanswered one (null when all are done).
                                 Never the truth, the level or the attack.
    POST /api/answers            {"rater", "item", "choice"}: choice 0..k-1 or "not-a-face"; stored at once.
                                 409 when this rater has answered the item already (the first answer stands).
    GET  /img/<id>.png           the reconstruction of item <id>; /img/<id>-<j>.png: its j-th real face.

Errors are JSON {"error": message} with 400 (bad rater name, body or choice), 404 (unknown item or path),
409 (answered already), 413 (body too large). Only loopback hosts are served, and requests whose Host header
is not this server's are refused (403), so a web page elsewhere cannot read the faces by DNS rebinding.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from dpmi.lineup.answers import AlreadyAnswered, AnswerStore, RaterNameError, check_choice, check_rater
from dpmi.lineup.images import real_face_png, reconstruction_png
from dpmi.lineup.items import NOT_A_FACE, LineupItem, LineupItems, build_items, load_real_faces, reconstruction_stack

LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
MAX_BODY = 4096
IMAGE_PATH = re.compile(r"/img/([0-9a-f]{16})(?:-(\d{1,3}))?\.png")
QUESTION = "Which of these people is this?"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False  # never share a port with another server
    request_queue_size = 128  # a page loads many images at once: the default backlog (5) resets connections
    lineup: LineupServer


class _IPv6HTTPServer(_HTTPServer):
    address_family = socket.AF_INET6


class LineupServer:
    """Blind lineups of RUN_DIR's reconstructions, served at `url` between `start()` and `stop()`.

    Raises (at construction):
        ValueError: a host that is not loopback, a port in use, or what `build_items` refuses.
    """

    def __init__(
        self,
        run_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        k: int = 5,
        seed: int = 0,
        data: Any = None,
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(
                f"host {host!r} is not loopback: the lineups show private faces, so they are served only on "
                "127.0.0.1, localhost or ::1 (reach them from elsewhere with an SSH tunnel)"
            )
        self.run_dir = Path(run_dir)
        self.faces = load_real_faces(self.run_dir, data)
        self.items: LineupItems = build_items(self.run_dir, k=k, seed=seed, data=data, faces=self.faces)
        self.by_id: dict[str, LineupItem] = {item.id: item for item in self.items}
        self.answers = AnswerStore(self.run_dir)
        self._stacks: dict[tuple[str, int], np.ndarray] = {}
        self._png: dict[str, bytes] = {}
        self._cache_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        bind = LOOPBACK[host]
        server_class = _IPv6HTTPServer if ":" in bind else _HTTPServer
        try:
            self._server = server_class((bind, int(port)), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"port {port} is already in use on {host}: choose another (--port N), or --port 0 for a free one"
                ) from exc
            raise ValueError(f"cannot serve on {host}:{port} ({exc}); try --port 0") from exc
        self._server.lineup = self
        self.host = bind
        self.port = int(self._server.server_address[1])
        shown = f"[{bind}]" if ":" in bind else bind
        self.url = f"http://{shown}:{self.port}/"
        self.allowed_hosts = {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> LineupServer:
        """Serve in a background thread (returns at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="dpmi-lineup", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LineupServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the API answers ------------------------------------------------------------------------------
    def items_for(self, rater: str) -> dict[str, Any]:
        done = self.answers.answers(rater)
        items = []
        first_open: int | None = None
        for index, item in enumerate(self.items):
            answer = done.get(item.id)
            if answer is None and first_open is None:
                first_open = index
            items.append(
                {
                    "id": item.id,
                    "image": f"/img/{item.id}.png",
                    "faces": [f"/img/{item.id}-{j}.png" for j in range(item.k)],
                    "answered": answer is not None,
                    "choice": None if answer is None else answer.get("choice"),
                }
            )
        answered = sum(1 for item in self.items if item.id in done)
        return {
            "rater": rater,
            "k": self.items.k,
            "total": len(self.items),
            "answered": answered,
            "next": first_open,
            "question": QUESTION,
            "not_a_face": NOT_A_FACE,
            "items": items,
        }

    def image(self, ident: str, face: int | None) -> bytes | None:
        """PNG bytes of an item's reconstruction (face None) or of its face-th real face; None if unknown."""
        item = self.by_id.get(ident)
        if item is None or (face is not None and not 0 <= face < item.k):
            return None
        name = ident if face is None else f"{ident}-{face}"
        with self._cache_lock:
            cached = self._png.get(name)
            if cached is not None:
                return cached
            if face is None:
                stack_key = (item.level, item.seed)
                stack = self._stacks.get(stack_key)
                if stack is None:
                    stem = f"{item.level}__seed{item.seed}"
                    stack = reconstruction_stack(self.run_dir / "cells" / f"{stem}.npy")
                    self._stacks[stack_key] = stack
                data = reconstruction_png(np.asarray(stack[item.attack_index, item.row]))
            else:
                data = real_face_png(self.faces[item.choices[face]])
            self._png[name] = data
            return data


def _page() -> bytes:
    return resources.files("dpmi.lineup").joinpath("page.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "dpmi-lineup"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # quiet: the terminal shows the URL, not every image request

    # -- replies -------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _host_ok(self) -> bool:
        if self.headers.get("Host", "") not in self.server.lineup.allowed_hosts:
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header: open the URL the server printed")
            return False
        return True

    # -- routes --------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if not self._host_ok():
            return
        lineup = self.server.lineup
        parts = urlsplit(self.path)
        if parts.path in ("/", "/index.html"):
            page = _page()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.send_header("Cache-Control", "no-store")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
            )
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(page)
            return
        if parts.path == "/api/items":
            raters = parse_qs(parts.query).get("rater", [])
            try:
                rater = check_rater(raters[0] if len(raters) == 1 else None)
                self._json(HTTPStatus.OK, lineup.items_for(rater))
            except RaterNameError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            except ValueError as exc:  # an unreadable answer file: say so, do not overwrite it
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
            return
        match = IMAGE_PATH.fullmatch(parts.path)
        if match:
            data = lineup.image(match.group(1), None if match.group(2) is None else int(match.group(2)))
            if data is None:
                self._error(HTTPStatus.NOT_FOUND, "no such image")
            else:
                self._send(HTTPStatus.OK, data, "image/png", cache=True)
            return
        self._error(HTTPStatus.NOT_FOUND, f"no such page: {parts.path}")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/answers":
            self._error(HTTPStatus.NOT_FOUND, "no such endpoint")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"send a JSON body of at most {MAX_BODY} bytes")
            return
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            self._error(
                HTTPStatus.BAD_REQUEST, 'send JSON {"rater": NAME, "item": ID, "choice": 0..k-1 or "not-a-face"}'
            )
            return
        lineup = self.server.lineup
        try:
            rater = check_rater(body.get("rater"))
        except RaterNameError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        ident = body.get("item")
        item = lineup.by_id.get(ident) if isinstance(ident, str) else None
        if item is None:
            self._error(HTTPStatus.NOT_FOUND, "no such item in these lineups (reload the page)")
            return
        try:
            choice = check_choice(body.get("choice"), item.k)
        except ValueError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        try:
            answered = lineup.answers.record(rater, item, choice)
        except AlreadyAnswered as exc:
            self._error(HTTPStatus.CONFLICT, f"{exc}: the first answer stands")
            return
        except ValueError as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
            return
        self._json(HTTPStatus.OK, {"ok": True, "answered": answered, "total": len(lineup.items)})


def serve(
    run_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    k: int = 5,
    seed: int = 0,
    data: Any = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve RUN_DIR's blind lineups until Ctrl-C; print the URL (and call `ready(url)` once serving).

    Raises:
        ValueError: see LineupServer.
    """
    server = LineupServer(run_dir, host, port, k, seed, data)
    items = server.items
    skipped = f", {items.skipped} attacks without a reconstruction left out" if items.skipped else ""
    print(
        f"blind lineups of {run_dir}: {len(items)} reconstructions, {items.k} faces each{skipped}\n"
        f"open {server.url} in a browser (answers go to {server.answers.directory}/<name>.json); Ctrl-C stops",
        flush=True,
    )
    try:
        if ready is not None:
            server.start()
            ready(server.url)
            assert server._thread is not None
            while server._thread.is_alive():
                server._thread.join(0.5)
        else:
            server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.stop()
