"""Where the AT&T faces are looked for: an explicit path, else $DPMI_DATA, else the user cache."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DPMI_DATA"


def default_cache_dir() -> Path:
    """The cache directory a `dpmi data fetch` writes to: `$XDG_CACHE_HOME/dpmi/att_faces` or `~/.cache/...`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dpmi" / "att_faces"


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the faces directory to use: `root` if given, else `$DPMI_DATA`, else the cache directory.

    The directory is not checked here; the loader checks it and says how to fetch it when missing.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def missing_directory_message(directory: Path, root: str | os.PathLike[str] | None) -> str | None:
    """The error for a faces directory that does not exist and was asked for (a path given, or $DPMI_DATA):
    "no such directory: PATH", saying where the path came from; None when it is the default cache directory,
    for which the fix is to fetch the AT&T faces, not to correct a path."""
    if root is not None:
        return f"no such directory: {directory}"
    if os.environ.get(ENV_VAR):
        return f"no such directory: {directory} (from ${ENV_VAR})"
    return None
