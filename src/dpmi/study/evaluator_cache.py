"""The evaluation classifier, trained once per study and cached in the run directory.

It depends only on the training split and its seed (both fixed for a run directory by the resume check), so
the first `dpmi run` trains it and saves it (`Evaluator.save`); resumed runs and every worker process load
it (`Evaluator.load`, weights_only) instead of training it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dpmi.data import FaceDataset


def ensure_evaluator(
    path: str | os.PathLike[str],
    train: FaceDataset,
    test: FaceDataset,
    *,
    seed: int,
    device: str = "cpu",
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, float]:
    """Train the evaluator on `train` and save it at `path`, unless a saved one is already there.

    Returns:
        {"train_accuracy", "test_accuracy"}: its top-1 accuracy on the private training images and on the
        held-out `test` images, in [0, 1] (how far its verdicts on reconstructions can be trusted).
    """
    from dpmi.metrics import Evaluator, train_evaluator

    path = Path(path)
    if path.is_file():
        evaluator = Evaluator.load(path, device)
    else:
        log("training the evaluation classifier (once per study) ...")
        evaluator = train_evaluator(train, seed=seed, test=test, device=device)
        evaluator.save(path)
    return {"train_accuracy": float(evaluator.train_accuracy), "test_accuracy": float(evaluator.test_accuracy)}


def load_evaluator(path: str | os.PathLike[str], device: str = "cpu"):
    """The evaluator saved by `ensure_evaluator`, on `device`."""
    from dpmi.metrics import Evaluator

    return Evaluator.load(path, device)
