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


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread for the whole suite: numbers then do not depend on the machine's core count,
    and tests that start worker processes do not oversubscribe the 2 CI cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def dpmi_cache_dir():
    """Artefacts cached by content (face priors, evaluators, recipes) go to the checkout's .cache/ unless
    $DPMI_CACHE is set: warm across runs of the suite in one checkout, cold in a fresh clone (as in CI)."""
    if "DPMI_CACHE" not in os.environ:
        os.environ["DPMI_CACHE"] = str(REPO / ".cache" / "dpmi")
    yield Path(os.environ["DPMI_CACHE"])


@pytest.fixture(scope="session")
def synthetic_faces():
    """8 synthetic identities x 6 greyscale 28x24 images (`dpmi.data.make_synthetic_faces`): for tests about
    shapes and arithmetic that need no real faces."""
    from dpmi.data import make_synthetic_faces

    return make_synthetic_faces(num_identities=8, per_identity=6, image_shape=(28, 24), seed=0)
