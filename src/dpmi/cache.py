"""A content-addressed cache for artefacts that depend only on data and settings (face priors, evaluation
classifiers, chosen training recipes).

An entry's key is the SHA-256 of a canonical JSON of (kind, dpmi version, the settings, and fingerprints of
the data), so the same inputs find the same file and any change of input misses. Entries are written
atomically (`dpmi.atomic_files`) as a torch file holding only tensors, numbers, strings, lists and dicts, and
are read with `weights_only=True` (no pickled code runs). A file that is truncated, unreadable, from another
dpmi version or written under another key is rebuilt, never trusted.

Location: `$DPMI_CACHE`, else `$XDG_CACHE_HOME/dpmi`, else `~/.cache/dpmi`; entries live under
`<root>/artifacts/<kind>/<key>.pt`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV_VAR = "DPMI_CACHE"
FORMAT = 1


def cache_root() -> Path:
    """The cache directory: `$DPMI_CACHE`, else `$XDG_CACHE_HOME/dpmi`, else `~/.cache/dpmi`."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dpmi"


def fingerprint_array(array: np.ndarray | Any) -> str:
    """SHA-256 of an array's dtype, shape and bytes (torch tensors are moved to the CPU first)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "detach"):
        return {"array_sha256": fingerprint_array(value)}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot use {type(value).__name__} in a cache key: pass numbers, strings, lists, dicts or arrays")


def cache_key(kind: str, parts: Mapping[str, Any]) -> str:
    """The hex SHA-256 naming the entry of `kind` for `parts` (arrays enter by their fingerprint)."""
    import dpmi

    document = {"kind": kind, "dpmi_version": dpmi.__version__, "format": FORMAT, "parts": _canonical(parts)}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def entry_path(kind: str, key: str) -> Path:
    if not kind or "/" in kind or kind in (".", ".."):
        raise ValueError(f"cache kind must be a plain name, got {kind!r}")
    return cache_root() / "artifacts" / kind / f"{key}.pt"


def load_entry(kind: str, key: str) -> dict[str, Any] | None:
    """The payload stored under (kind, key), or None when absent, unreadable, foreign or from another version."""
    import torch

    import dpmi

    path = entry_path(kind, key)
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated, not a torch file, or holding objects weights_only refuses
        return None
    if (
        not isinstance(stored, dict)
        or stored.get("format") != FORMAT
        or stored.get("kind") != kind
        or stored.get("key") != key
        or stored.get("dpmi_version") != dpmi.__version__
        or not isinstance(stored.get("payload"), dict)
    ):
        return None
    return stored["payload"]


def store_entry(kind: str, key: str, payload: dict[str, Any]) -> Path:
    """Write `payload` (tensors, numbers, strings, lists, dicts) under (kind, key), atomically."""
    import torch

    import dpmi
    from dpmi.atomic_files import atomic_write_bytes

    path = entry_path(kind, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(
        {"format": FORMAT, "kind": kind, "key": key, "dpmi_version": dpmi.__version__, "payload": payload}, buffer
    )
    atomic_write_bytes(path, buffer.getvalue())
    return path


def cached(
    kind: str,
    parts: Mapping[str, Any],
    build: Callable[[], dict[str, Any]],
    *,
    log: Callable[[str], None] | None = None,
    valid: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[dict[str, Any], bool]:
    """The payload for (kind, parts): loaded when a valid entry exists, else built by `build()` and stored.

    valid: a check of a loaded payload beyond readability (e.g. that it rebuilds the caller's networks); an
    entry that fails it is rebuilt and overwritten, like a corrupt one.

    Returns:
        (payload, hit): hit is True when it came from the cache.
    """
    key = cache_key(kind, parts)
    payload = load_entry(kind, key)
    if payload is not None and (valid is None or valid(payload)):
        return payload, True
    if log is not None and entry_path(kind, key).exists():
        log(f"cache entry {entry_path(kind, key)} is corrupt or from another dpmi version: rebuilding it")
    payload = build()
    store_entry(kind, key, payload)
    return payload, False
