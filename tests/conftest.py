"""Shared fixtures: the real AT&T faces from ../shared (or $DPMI_DATA), loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO.parent / "shared" / "datasets" / "att_faces"


def faces_dir() -> Path:
    env = os.environ.get("DPMI_DATA")
    return Path(env) if env else SHARED_FACES


@pytest.fixture(scope="session")
def faces_root() -> Path:
    root = faces_dir()
    if not (root / "s1" / "1.pgm").is_file():
        pytest.fail(f"the AT&T faces are not at {root}: set DPMI_DATA or keep ../shared beside the repo")
    return root


@pytest.fixture(scope="session")
def faces(faces_root):
    from dpmi.data import load_att_faces

    return load_att_faces(faces_root)


@pytest.fixture(scope="session")
def faces_split(faces):
    """The default 7 train / 3 test per identity split, seed 0."""
    return faces.split(train_per_class=7, seed=0)
