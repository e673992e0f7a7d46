"""An output directory checked before the work that fills it: a bad path fails in a second, not after minutes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def prepare_output_dir(path: str | os.PathLike[str], *, what: str = "output directory") -> list[Path]:
    """Create `path` (and missing parents) and prove a file can be written there; return the directories made.

    Raises:
        ValueError: `path` or one of its parents is a file, or the directory cannot be created or written
            (read-only file system, no permission, /proc ...); the message names the path and the reason.

    The caller may remove the returned directories (innermost first) if its work fails, so a failed command
    leaves nothing behind.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a directory: choose a directory path")
    created = [p for p in [path, *path.parents] if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)  # may hold personal data: the owner's only
        fd, probe = tempfile.mkstemp(prefix=".dpmi-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_empty_dirs(created)
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{what} {path} cannot be written ({reason}): choose a writable directory") from exc
    return created


def remove_empty_dirs(directories: list[Path]) -> None:
    """Remove the directories `prepare_output_dir` created, innermost first, where they are still empty."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            break
