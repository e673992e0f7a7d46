"""The two judges of "does this reconstruction show that person?", built once and cached, and their
calibration on images whose answer a person knows.

- `evaluator`: the evaluation classifier (`dpmi.metrics.evaluator`), a CNN trained on the private training
  images; its features also give the KNN and Frechet distances.
- `second`: local binary pattern histograms with chi-square nearest neighbour (`dpmi.metrics.lbp_judge`), a
  classical face-recognition pipeline with no learned weights (its gallery: the private training images and
  blurred copies of them).

`load_or_train_judges` builds both for (private training images, held-out images, recipe, seed) and stores
them in the content-addressed cache (`dpmi.cache`, kind "judges"): later studies, the CLI and the tests load
them in milliseconds; a corrupt or foreign entry is rebuilt. The build also runs `calibrate_judges`, whose
numbers (stored with the judges) tell the report which judge agrees with a person looking at the images.

Measured (20 private AT&T identities, 7 training / 3 held-out images each, seeds 0-2; acc@1, chance 0.05):

    case                      evaluator      LBP judge     nearest mean
    held-out real faces       0.98-1.00      0.95-1.00     0.92-0.98
    blurred, sigma 2 / 4 px   0.98-1.00      0.97-1.00     0.88-0.97
    mean private faces        1.00           1.00          1.00 (its own references)
    wrong label               0.00           0.00-0.02     0.00-0.02
    Gaussian noise            0.05           0.05-0.08     0.03-0.10
    MI-FACE on a DP-SGD target (epsilon 8, seed 0; noise to the eye)
                              0.05           0.15          0.95

So the evaluation classifier is the judge to trust (it names what a person names and nothing else); the
LBP judge agrees with it on real, blurred and noise images but under-counts smooth prior reconstructions
(seed 0, PCA-prior attack on a non-private target: 0.45 vs 0.80), so it is a conservative check; nearest
mean says yes to images a person calls noise (it correlates faint linear templates with the mean faces) and
must not be reported as identification.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpmi.atomic_files import atomic_write_bytes
from dpmi.data import FaceDataset
from dpmi.metrics.blur import blur_faces
from dpmi.metrics.evaluator import Evaluator, EvaluatorRecipe, train_evaluator
from dpmi.metrics.lbp_judge import LBPJudge, fit_lbp_judge

CACHE_KIND = "judges"
EVALUATOR_CACHE_KIND = "evaluator"
# Bump when the code changes what would be computed for the same inputs (invalidates those cache entries):
# JUDGES_VERSION for the second judge and the calibration, EVALUATOR_VERSION for the evaluation classifier.
JUDGES_VERSION = 3
EVALUATOR_VERSION = 1
CALIBRATION_SEED_OFFSET = 7919  # noise images draw from seed + this, away from the evaluator's stream
BLUR_SIGMAS = (2.0, 4.0)


@dataclass
class Judges:
    """Both judges and their calibration.

    Attributes:
        evaluator: the evaluation classifier (acc@1/acc@5, KNN and Frechet features).
        second: the LBP chi-square nearest-neighbour judge.
        calibration: case -> numbers (see `calibrate_judges`); empty when not measured.
        seed: the seed the evaluator was trained with.
    """

    evaluator: Evaluator
    second: LBPJudge
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    seed: int = 0

    @property
    def test_accuracy(self) -> float:
        """The evaluation classifier's held-out accuracy (the primary judge's)."""
        return float(self.evaluator.test_accuracy)

    def accuracies(self) -> dict[str, float]:
        """Train/held-out top-1 accuracy of each judge, in 0..1 (what the study records)."""
        return {
            "train_accuracy": float(self.evaluator.train_accuracy),
            "test_accuracy": float(self.evaluator.test_accuracy),
            "judge2_test_accuracy": float(self.second.test_accuracy),
        }

    def state_dict(self) -> dict[str, Any]:
        """Tensors, numbers, strings and dicts only (a `dpmi.cache` payload; loads with weights_only)."""
        evaluator = self.evaluator.state_dict()
        evaluator["weights"] = {k: v.detach().cpu() for k, v in evaluator["weights"].items()}
        return {
            "version": JUDGES_VERSION,
            "evaluator": evaluator,
            "second": self.second.state_dict(),
            "calibration": {case: {k: float(v) for k, v in row.items()} for case, row in self.calibration.items()},
            "seed": int(self.seed),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> Judges:
        if not isinstance(state, dict) or state.get("version") != JUDGES_VERSION:
            raise ValueError(
                "these judges were saved by another dpmi version: delete the file; load_or_train_judges rebuilds them"
            )
        return cls(
            Evaluator.from_state_dict(state["evaluator"], device),
            LBPJudge.from_state_dict(state["second"]),
            {case: dict(row) for case, row in state.get("calibration", {}).items()},
            int(state["seed"]),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `state_dict()` to `path` atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Judges:
        """Read judges written by `save`; FileNotFoundError when absent, ValueError when unreadable."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved judges at {path}: build them with dpmi.metrics.load_or_train_judges")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated or not a torch file
            raise ValueError(
                f"{path} is not a readable judges file ({type(error).__name__}): delete it; "
                "load_or_train_judges rebuilds it"
            ) from error
        return cls.from_state_dict(state, device)


def judges_cache_parts(
    train: FaceDataset, test: FaceDataset | None, seed: int, recipe: EvaluatorRecipe
) -> dict[str, Any]:
    """What the judges depend on (the cache key): the private images and labels, the recipe, the seed, and
    the version of the judges' code."""
    parts: dict[str, Any] = {
        "train_images": train.images,
        "train_labels": train.labels,
        "num_classes": int(train.num_classes),
        "seed": int(seed),
        "recipe": recipe.as_dict(),
        "version": JUDGES_VERSION,
    }
    if test is not None:
        parts.update(test_images=test.images, test_labels=test.labels)
    return parts


def load_or_train_evaluator(
    train: FaceDataset,
    test: FaceDataset | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    **recipe: Any,
) -> Evaluator:
    """The evaluation classifier alone, from the cache (kind "evaluator") or trained and cached. Its own entry,
    so a change to the second judge or the calibration does not retrain it. Arguments as
    `load_or_train_judges`."""
    from dpmi.cache import cached

    settings = EvaluatorRecipe(**recipe)
    settings.check()
    parts = judges_cache_parts(train, test, seed, settings)
    parts["version"] = EVALUATOR_VERSION

    def build() -> dict[str, Any]:
        if log is not None:
            log(
                f"training the evaluation classifier on {len(train)} private images of {train.num_classes} "
                "identities (once; cached for later runs) ..."
            )
        evaluator = train_evaluator(train, seed, test=test, device=device, progress=progress, **settings.as_dict())
        state = evaluator.state_dict()
        state["weights"] = {k: v.detach().cpu() for k, v in state["weights"].items()}
        return state

    payload, _ = cached(EVALUATOR_CACHE_KIND, parts, build, log=log)
    return Evaluator.from_state_dict(payload, device)


def load_or_train_judges(
    train: FaceDataset,
    test: FaceDataset | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    **recipe: Any,
) -> Judges:
    """Both judges for the private identities, from the cache when built before, else built and cached.

    Args:
        train: the private training images (the target's training set); the only images either judge learns
            from.
        test: held-out private images: the judges' held-out accuracies and calibration are measured on them
            (recommended; without them both are NaN / empty).
        seed: seeds the evaluator's training and the calibration noise (same seed, same judges on CPU).
        device: where the evaluator trains and runs (the cache entry is device-free).
        log: called with one line before a (re)build, e.g. the study's logger.
        progress: progress(epochs_done, epochs) while the evaluator trains (a progress bar).
        recipe: `EvaluatorRecipe` fields overriding the measured defaults (part of the cache key).
    """
    from dpmi.cache import cached

    settings = EvaluatorRecipe(**recipe)
    settings.check()

    def build() -> dict[str, Any]:
        evaluator = load_or_train_evaluator(train, test, seed, device, log, progress=progress, **settings.as_dict())
        second = fit_lbp_judge(train, test)
        judges = Judges(evaluator, second, seed=seed)
        if test is not None and len(test):
            judges.calibration = calibrate_judges(judges, train, test, seed=seed)
        return judges.state_dict()

    payload, _ = cached(CACHE_KIND, judges_cache_parts(train, test, seed, settings), build, log=log)
    return Judges.from_state_dict(payload, device)


def calibration_cases(
    train: FaceDataset, test: FaceDataset, seed: int = 0
) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """Images whose right answer a person knows, each as (images [K, C, H, W] in [-1, 1], labels [K]):

    - held_out_faces: the private test images (a person recognises them: every judge should too);
    - blurred_sigma2 / blurred_sigma4: the same, Gaussian-blurred by 2 / 4 pixels (a person still
      recognises them: hair, glasses and face shape survive);
    - mean_faces: each identity's mean private training face (a person sees that identity; note the nearest
      mean judge is compared with these very images, so its score here is 1 by construction);
    - wrong_label: the held-out faces labelled as the next identity (a person says no: a judge that says yes
      here is fooled by faces in general);
    - noise: Gaussian noise images, labelled round-robin (a person sees nobody: chance level expected).
    """
    x_test, y_test = test.to_tensors()
    cases: dict[str, tuple[torch.Tensor, np.ndarray]] = {"held_out_faces": (x_test, y_test.numpy())}
    for sigma in BLUR_SIGMAS:
        x_blur, _ = blur_faces(test, sigma).to_tensors()
        cases[f"blurred_sigma{sigma:g}"] = (x_blur, y_test.numpy())
    present = np.flatnonzero(np.bincount(train.labels, minlength=train.num_classes) > 0)
    means = train.class_means()[present]
    mean_faces = FaceDataset(
        np.clip(np.rint(means), 0, 255).astype(np.uint8),
        present.astype(np.int64),
        np.zeros(len(present), dtype=np.int64),
        train.num_classes,
    )
    cases["mean_faces"] = (mean_faces.to_tensors()[0], present.astype(np.int64))
    cases["wrong_label"] = (x_test, ((y_test.numpy() + 1) % train.num_classes).astype(np.int64))
    generator = torch.Generator().manual_seed(seed + CALIBRATION_SEED_OFFSET)
    noise = torch.randn(len(x_test), *x_test.shape[1:], generator=generator).clamp(-3, 3) / 3
    cases["noise"] = (noise, np.arange(len(x_test), dtype=np.int64) % train.num_classes)
    return cases


def calibrate_judges(
    judges: Judges, train: FaceDataset, test: FaceDataset, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Every judge on every `calibration_cases` case.

    Returns:
        case -> {"n": images, "eval_acc1", "eval_acc5", "judge2_acc1", "judge2_acc5", "nearest_mean_top1",
        "nearest_mean_top5", "knn_dist", "frechet_distance"} (rates in 0..1; distances in the evaluator's
        features, against the private training images).
    """
    from dpmi.metrics.evaluate import identification
    from dpmi.metrics.frechet import frechet_distance

    out: dict[str, dict[str, float]] = {}
    for case, (images, labels) in calibration_cases(train, test, seed).items():
        verdicts = identification(images, labels, train, judges)
        out[case] = {
            "n": float(len(labels)),
            "eval_acc1": float(verdicts["eval_top1"].mean()),
            "eval_acc5": float(verdicts["eval_top5"].mean()),
            "judge2_acc1": float(verdicts["judge2_top1"].mean()),
            "judge2_acc5": float(verdicts["judge2_top5"].mean()),
            "nearest_mean_top1": float(verdicts["nearest_mean_top1"].mean()),
            "nearest_mean_top5": float(verdicts["nearest_mean_top5"].mean()),
            "knn_dist": float(verdicts["knn_dist"].mean()),
            "frechet_distance": frechet_distance(verdicts["features"], verdicts["private_features"]),
        }
    return out
