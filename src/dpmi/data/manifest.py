"""The SHA-256 of every AT&T image, shipped with the package so any copy can be checked.

The hashes are facts about the public dataset; the images themselves never enter the repository.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

MANIFEST_NAME = "att_faces.sha256"


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, str]:
    """Relative path (``s1/1.pgm``) -> lowercase hex SHA-256, for all 400 images."""
    text = resources.files("dpmi.data").joinpath(MANIFEST_NAME).read_text(encoding="ascii")
    manifest: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        manifest[name.strip().removeprefix("./").removeprefix("*")] = digest.lower()
    return manifest


def sha256_file(path: Path, chunk_bytes: int = 1 << 16) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
