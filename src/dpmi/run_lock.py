"""One `dpmi run` per run directory: a lock file that says who holds it, taken over safely when its holder is gone.

The lock is `<run dir>/.dpmi-run.lock`, created with O_CREAT | O_EXCL (atomic: of two runs starting together exactly
one creates it) and holding JSON {pid, host, started, process_start, token}. A second run finds it, checks the
holder, and stops at once with one line naming it. A lock whose holder is gone -- same host, and no process with
that pid, or one whose kernel start time differs (the pid was reused) -- is stale: it is renamed aside (atomic, so
only one contender wins it), checked to be the very file judged stale, and deleted; then the O_EXCL create is
retried. A lock held on another host cannot be checked from here and counts as live.

Within one process the lock is re-entrant (a resumed study in the same interpreter takes it again) and is released
by `release()`, on leaving `with`, or at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LOCK_NAME = ".dpmi-run.lock"
# A lock file being written by its creator can be briefly empty: how long to wait for its content.
_UNREADABLE_GRACE_S = 2.0


class RunLockedError(ValueError):
    """The run directory is in use by another live process (`holder`)."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run directory: pid and host, wall-clock start (UTC, ISO 8601), the kernel's start time of the
    process where known (tells a reused pid apart), and a random token naming this particular lock."""

    pid: int
    host: str
    started: str
    process_start: str | None
    token: str

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}, started {self.started}"

    @classmethod
    def from_json(cls, data: Any) -> LockHolder:
        if not isinstance(data, dict):
            raise ValueError("not a lock record")
        return cls(
            int(data["pid"]),
            str(data["host"]),
            str(data["started"]),
            None if data.get("process_start") is None else str(data["process_start"]),
            str(data["token"]),
        )


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux /proc, clock ticks since boot), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces or parentheses
    return fields[19] if len(fields) > 19 else None


def holder_is_alive(holder: LockHolder) -> bool:
    """False only when the holder is certainly gone: same host, and its pid is free or now names another process."""
    if holder.host != socket.gethostname() or os.name == "nt":  # cannot check (os.kill(pid, 0) kills on Windows)
        return True
    if holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    if holder.process_start is not None:
        now = _process_start(holder.pid)
        if now is not None and now != holder.process_start:
            return False  # the pid was reused by a later process
    return True


_HELD: dict[Path, tuple[LockHolder, int]] = {}  # lock path -> (our record, re-entry count), this process only
_HELD_GUARD = threading.Lock()


class RunLock:
    """The lock of one run directory; `with RunLock(dir):` or acquire()/release()."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME

    def _key(self) -> Path:
        return self.path.resolve()

    def _read_raw(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _parse(self, raw: bytes) -> LockHolder:
        try:
            return LockHolder.from_json(json.loads(raw.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path} is not a dpmi run lock ({exc})") from None

    def read_holder(self) -> LockHolder | None:
        """The current holder, None if there is no lock file; ValueError if the file is not a lock record."""
        raw = self._read_raw()
        return None if raw is None else self._parse(raw)

    def check_free(self) -> None:
        """Raise RunLockedError if another live process holds the lock; touches nothing (a cheap early check, so a
        second run stops before any work; `acquire` is what actually takes the lock)."""
        try:
            holder = self.read_holder()
        except ValueError:
            return  # unreadable: acquire() sorts it out
        if holder is None or self.held_here() or not holder_is_alive(holder):
            return
        raise self._locked(holder)

    def _locked(self, holder: LockHolder) -> RunLockedError:
        return RunLockedError(
            f"{self.directory} is in use by another dpmi run ({holder.describe()}): wait for it to finish or "
            f"choose another --out (if that process is not a dpmi run, delete {self.path})",
            holder,
        )

    def held_here(self) -> bool:
        """Whether this process holds the lock now."""
        with _HELD_GUARD:
            held = _HELD.get(self._key())
        try:
            return held is not None and self.read_holder() == held[0]
        except ValueError:
            return False

    def claim(self) -> LockHolder:
        """`acquire()`, except that a lock this process already holds is kept as it is (no re-entry counted)."""
        with _HELD_GUARD:
            held = _HELD.get(self._key())
        if held is not None and self.read_holder() == held[0]:
            return held[0]
        return self.acquire()

    def acquire(self) -> LockHolder:
        """Take the lock or raise RunLockedError naming its live holder. Creates the directory if needed."""
        key = self._key()
        with _HELD_GUARD:
            if key in _HELD:
                record, count = _HELD[key]
                if self.read_holder() == record:  # still ours: re-enter
                    _HELD[key] = (record, count + 1)
                    return record
                del _HELD[key]
        self.directory.mkdir(parents=True, exist_ok=True)
        me = LockHolder(
            os.getpid(),
            socket.gethostname(),
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
            _process_start(os.getpid()),
            uuid.uuid4().hex,
        )
        unreadable_since: float | None = None
        for _ in range(1000):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(json.dumps(asdict(me)))
                    handle.flush()
                    os.fsync(handle.fileno())
                with _HELD_GUARD:
                    _HELD[key] = (me, 1)
                return me
            raw = self._read_raw()
            if raw is None:
                continue  # released meanwhile: try the create again
            try:
                holder = self._parse(raw)
            except ValueError:  # empty or half-written: its creator is writing it, or died while doing so
                unreadable_since = unreadable_since or time.monotonic()
                if time.monotonic() - unreadable_since < _UNREADABLE_GRACE_S:
                    time.sleep(0.05)
                else:
                    self._remove_if_unchanged(raw)
                continue
            if holder_is_alive(holder):
                raise self._locked(holder)
            self._remove_if_unchanged(raw)
        raise RunLockedError(f"could not take {self.path}: too many contenders", None)

    def _remove_if_unchanged(self, stale: bytes) -> None:
        """Remove the lock file if it still holds `stale`: rename it aside (atomic; one contender wins), compare, and
        put back a file that turned out to be a fresh lock (link() never overwrites)."""
        aside = self.path.with_name(f"{LOCK_NAME}.stale.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another contender removed it first
        try:
            if aside.read_bytes() != stale:  # a new holder replaced the stale file in between: give it back
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    pass
        finally:
            aside.unlink(missing_ok=True)

    def release(self) -> None:
        """Give the lock up (after the last re-entry); a lock file that is no longer ours is left alone."""
        key = self._key()
        with _HELD_GUARD:
            if key not in _HELD:
                return
            record, count = _HELD[key]
            if count > 1:
                _HELD[key] = (record, count - 1)
                return
            del _HELD[key]
        try:
            if self.read_holder() == record:
                self.path.unlink(missing_ok=True)
        except ValueError:
            pass

    def __enter__(self) -> RunLock:  # noqa: PYI034 (a final class in practice; Self needs Python 3.11)
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@atexit.register
def _release_all() -> None:
    for key in list(_HELD):
        lock = RunLock(key.parent)
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key] = (_HELD[key][0], 1)
        lock.release()
