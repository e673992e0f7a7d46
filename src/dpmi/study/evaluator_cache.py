"""The study's judges (every registered judge that can run here), built once per private training set.

They depend only on the private training and held-out images, the judges' recipe and the seed, so they live
in dpmi's content-addressed cache (`dpmi.metrics.load_or_train_judges` -> `dpmi.cache`, kind "judges"):
the first study on a split trains them, every later study, resume and test loads them. The run directory
gets a copy (`path`, written atomically) so worker processes load them without recomputing the cache key,
and so a run directory says which judges scored it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dpmi.data import FaceDataset


def ensure_judges(
    path: str | os.PathLike[str],
    train: FaceDataset,
    test: FaceDataset,
    *,
    seed: int,
    device: str = "cpu",
    log: Callable[[str], None] = lambda message: None,
    progress: Callable[[int, int], None] | None = None,
    public: FaceDataset | None = None,
) -> dict[str, Any]:
    """Build (or load from the cache) the judges for `train`/`test` and write them to `path`.

    Returns:
        {"train_accuracy", "test_accuracy"} of the evaluation classifier, "judge2_test_accuracy" of the second
        judge (top-1, 0..1, on the private training / held-out `test` images: how far their verdicts on
        reconstructions can be trusted), "calibration" (case -> numbers, `dpmi.metrics.calibrate_judges`; with
        `public`, the attacker's people, also on images optimised against a second classifier), and "missing"
        (judge -> why it could not run here).
    """
    from dpmi.metrics import load_or_train_judges

    judges = load_or_train_judges(train, test, seed=seed, device=device, log=log, progress=progress, public=public)
    judges.save(path)
    return {**judges.accuracies(), "calibration": judges.calibration, "missing": dict(judges.missing)}


def load_judges(path: str | os.PathLike[str], device: str = "cpu"):
    """The `dpmi.metrics.Judges` written by `ensure_judges`, on `device` (pass it to evaluate_inversion)."""
    from dpmi.metrics import Judges

    return Judges.load(Path(path), device)


# The names the study used before the second judge existed.
ensure_evaluator = ensure_judges
load_evaluator = load_judges
