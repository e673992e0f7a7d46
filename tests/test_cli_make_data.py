"""`make run`'s first step on a machine without the faces: `make data` downloads them (with progress), checks
every image's SHA-256 and installs them in the cache, instead of stopping with an error. Run against a real
HTTP server on 127.0.0.1 serving an archive built here from the shared copy, with no $DPMI_DATA and an empty
cache."""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from dpmi.data.fetch import verify_att_faces

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def faces_server(tmp_path, faces_root):
    """http://127.0.0.1:PORT/att_faces.zip: the faces zipped the way the AT&T archive is (att_faces/sN/M.pgm)."""
    www = tmp_path / "www"
    www.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in faces_root.rglob("*.pgm")):
            archive.writestr(f"att_faces/{path.relative_to(faces_root).as_posix()}", path.read_bytes())
    (www / "att_faces.zip").write_bytes(buffer.getvalue())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args, **kwargs: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}/att_faces.zip"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow  # a make and a dpmi process (~10 s on 2 busy cores)
@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_data_fetches_and_verifies_missing_faces(tmp_path, faces_server):
    _, url = faces_server
    env = {k: v for k, v in os.environ.items() if k != "DPMI_DATA"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    # SHARED_FACES=/nonexistent: this checkout's Makefile must not find the workspace's copy; -o: never
    # re-install the virtualenv from inside a test.
    argv = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "data",
            "SHARED_FACES=/nonexistent", f"FACES_URL={url}"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert first.returncode == 0, first.stderr
    installed = tmp_path / "xdg" / "dpmi" / "att_faces"
    assert verify_att_faces(installed) == 400
    assert "installed" in first.stdout and str(installed) in first.stdout
    assert "100%" in first.stderr  # the download's progress bar reached its end

