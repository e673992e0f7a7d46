"""One call that scores any attack's reconstructions against the private faces: what `dpmi run` records.

Works for every attack in the registry (`dpmi.attacks.registry.AttackResult`: `.images` [K, C, H, W] in the
model's input range, `.labels` [K], `.confidence` [K], `.summary()`), greyscale or colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpmi.data import FaceDataset
from dpmi.metrics.evaluator import Evaluator
from dpmi.metrics.frechet import frechet_distance
from dpmi.metrics.image_quality import psnr, ssim
from dpmi.metrics.nearest_mean import target_rank

# The fixed summary keys, in report order (attack diagnostics add "attack_<name>" keys beside them).
SUMMARY_KEYS = (
    "num_labels",
    "chance_top1",
    "chance_top5",
    "eval_acc1",
    "eval_acc5",
    "judge2_acc1",
    "judge2_acc5",
    "nearest_mean_top1",
    "nearest_mean_top5",
    "knn_dist",
    "frechet_distance",
    "evaluator_test_acc",
    "judge2_test_acc",
    "psnr_mean_face",
    "ssim_mean_face",
    "psnr_best_private",
    "ssim_best_private",
    "attack_confidence",
)

# One line per summary key, for tables, --help and the report.
SUMMARY_DESCRIPTIONS: dict[str, str] = {
    "num_labels": "reconstructions scored (one per inverted identity)",
    "chance_top1": "top-1 rate of guessing: 1 / identities",
    "chance_top5": "top-5 rate of guessing: min(5, identities) / identities",
    "eval_acc1": "evaluation classifier (CNN trained on the private images) names the identity (top-1)",
    "eval_acc5": "evaluation classifier has the identity among its 5 most likely",
    "judge2_acc1": "second judge (LBP histograms, chi-square nearest private image) names the identity (top-1)",
    "judge2_acc5": "second judge has the identity among its 5 nearest",
    "nearest_mean_top1": "the identity's mean private face is the most correlated with the reconstruction",
    "nearest_mean_top5": "the identity's mean private face is among the 5 most correlated",
    "knn_dist": "squared distance, in the evaluation classifier's features, to the nearest private image of the "
    "identity (lower = closer)",
    "frechet_distance": "Frechet distance between Gaussians fitted to the reconstructions' and the private images' "
    "evaluation-classifier features (FID stand-in; lower = closer; biased upward for few images)",
    "evaluator_test_acc": "evaluation classifier's accuracy on held-out real private faces",
    "judge2_test_acc": "second judge's accuracy on held-out real private faces",
    "psnr_mean_face": "PSNR (dB) against the identity's mean private face, after matching brightness and contrast",
    "ssim_mean_face": "SSIM against the identity's mean private face, after matching brightness and contrast",
    "psnr_best_private": "best PSNR (dB) against any one private image of the identity",
    "ssim_best_private": "best SSIM against any one private image of the identity",
    "attack_confidence": "target model's probability of the label at the reconstruction (mean)",
}

PER_LABEL_KEYS = (
    "label",
    "confidence",
    "eval_pred",
    "eval_top1",
    "eval_top5",
    "judge2_pred",
    "judge2_top1",
    "judge2_top5",
    "nearest_mean_rank",
    "nearest_mean_top1",
    "nearest_mean_top5",
    "knn_dist",
    "psnr_mean_face",
    "ssim_mean_face",
    "psnr_best_private",
    "ssim_best_private",
)


@dataclass(frozen=True)
class LabelledImages:
    """Images to score as if an attack had made them (real faces, noise, blurred faces: the judges'
    calibration). Satisfies `dpmi.attacks.registry.AttackResult`.

    Attributes:
        images: float tensor [K, C, H, W] in the model's input range. labels: int64 tensor [K].
        diagnostics: what `summary()` returns.
    """

    images: torch.Tensor
    labels: torch.Tensor
    diagnostics: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> np.ndarray:
        """No target model: NaN for every row."""
        return np.full(int(self.labels.shape[0]), np.nan)

    def summary(self) -> dict[str, float]:
        return dict(self.diagnostics)


def _as_judges(judges: Any):
    """(evaluator or None, second judge or None, evaluator test accuracy, second judge test accuracy)."""
    if judges is None:
        return None, None
    if isinstance(judges, Evaluator):
        return judges, None
    if hasattr(judges, "evaluator"):
        return judges.evaluator, getattr(judges, "second", None)
    raise ValueError(f"judges must be a dpmi.metrics.Judges, an Evaluator or None, got {type(judges).__name__}")


def dataset_layout(images: torch.Tensor) -> np.ndarray:
    """[K, C, H, W] tensor -> float64 numpy in FaceDataset's layout: [K, H, W] grey or [K, H, W, C]."""
    x = images.detach().cpu().to(torch.float64)
    if x.ndim != 4:
        raise ValueError(f"images must be [K, C, H, W], got shape {tuple(x.shape)}")
    return x[:, 0].numpy() if x.shape[1] == 1 else x.permute(0, 2, 3, 1).numpy()


def identification(
    images: torch.Tensor, labels: np.ndarray, private_train: FaceDataset, judges: Any = None
) -> dict[str, np.ndarray]:
    """Per-row verdicts of every judge (the identification part of `evaluate_inversion`): the per_label
    arrays eval_*, judge2_*, nearest_mean_*, knn_dist, plus "features" (the evaluator's embedding of the
    images, [K, D], absent without an evaluator)."""
    evaluator, second = _as_judges(judges)
    count = len(labels)
    ranks = target_rank(dataset_layout(images), labels, private_train.class_means())
    out: dict[str, np.ndarray] = {
        "nearest_mean_rank": ranks,
        "nearest_mean_top1": (ranks <= 1).astype(np.float64),
        "nearest_mean_top5": (ranks <= 5).astype(np.float64),
    }
    nan = np.full(count, np.nan)
    if evaluator is not None:
        logits, features = evaluator.logits_and_features(images)
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
        private_features = evaluator.reference_features(private_train)
        private_labels = torch.as_tensor(private_train.labels, device=private_features.device)
        distances = torch.cdist(features.double(), private_features.double()).pow(2)
        own = private_labels[None, :] == torch.as_tensor(labels, device=distances.device)[:, None]
        knn = distances.masked_fill(~own, float("inf")).min(dim=1).values.cpu().numpy()
        out.update(
            eval_pred=top5[:, 0].astype(np.int64),
            eval_top1=(top5[:, 0] == labels).astype(np.float64),
            eval_top5=(top5 == labels[:, None]).any(axis=1).astype(np.float64),
            knn_dist=knn,
            features=features.cpu().numpy(),
            private_features=private_features.cpu().numpy(),
        )
    else:
        out.update(eval_pred=np.full(count, -1, dtype=np.int64), eval_top1=nan, eval_top5=nan, knn_dist=nan)
    if second is not None:
        scores = second.scores(images)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : min(5, scores.shape[1])]
        out.update(
            judge2_pred=order[:, 0].astype(np.int64),
            judge2_top1=(order[:, 0] == labels).astype(np.float64),
            judge2_top5=(order == labels[:, None]).any(axis=1).astype(np.float64),
        )
    else:
        out.update(judge2_pred=np.full(count, -1, dtype=np.int64), judge2_top1=nan, judge2_top5=nan)
    return out


def evaluate_inversion(result: Any, private_train: FaceDataset, judges: Any = None) -> dict:
    """Score reconstructions against the private (training) faces they came from.

    Every reconstruction's offset and scale are arbitrary, so every measure is scale-free (the judges
    contrast-normalise or rescale; PSNR/SSIM match brightness and contrast first).

    Args:
        result: any attack's result (`AttackResult`: `.images` [K, C, H, W], `.labels` [K], `.confidence`,
            `.summary()`); row k reconstructs private identity `labels[k]`. `LabelledImages` scores real
            images the same way.
        private_train: the private faces the target model was trained on (uint8); its identities' mean faces
            and images are the references.
        judges: a `Judges` (both judges), a bare `Evaluator` (the second judge's numbers are NaN), or None
            (only nearest-mean and image-quality numbers).

    Returns:
        A flat dict of floats: every key of `SUMMARY_KEYS` (described in `SUMMARY_DESCRIPTIONS`; rates in
        0..1 are means over the K rows), plus "attack_<name>" for every entry of `result.summary()`, plus
        "per_label", a dict of numpy arrays [K] in row order with the keys of `PER_LABEL_KEYS`. Judge
        numbers are NaN when that judge was not given.
    """
    images = result.images.detach().cpu().to(torch.float32)
    labels = np.asarray(torch.as_tensor(result.labels).cpu(), dtype=np.int64).reshape(-1)
    count = len(labels)
    if images.ndim != 4 or images.shape[0] != count:
        raise ValueError(f"result.images must be [K, C, H, W] with K = {count} labels, got {tuple(images.shape)}")
    if tuple(images.shape[1:]) != tuple(private_train.input_shape):
        raise ValueError(
            f"reconstructions are {tuple(images.shape[1:])} (C, H, W) but the private faces are "
            f"{tuple(private_train.input_shape)}: score them against the faces the target saw"
        )
    num_classes = private_train.num_classes
    if count == 0:
        raise ValueError("result has no reconstructions to score")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"result.labels must be in 0..{num_classes - 1} (the private identities), got "
            f"{labels.min()}..{labels.max()}"
        )
    present = np.bincount(private_train.labels, minlength=num_classes) > 0
    if not present[labels].all():
        missing = sorted(set(labels[~present[labels]].tolist()))
        raise ValueError(f"private_train has no images of identities {missing}: pass the private training faces")

    verdicts = identification(images, labels, private_train, judges)
    features = verdicts.pop("features", None)
    private_features = verdicts.pop("private_features", None)
    per_label: dict[str, np.ndarray] = {
        "label": labels,
        "confidence": np.asarray(result.confidence, dtype=np.float64).reshape(-1),
    }
    per_label.update(verdicts)

    planes = dataset_layout(images)
    means = private_train.class_means()
    psnr_mean, ssim_mean = np.empty(count), np.empty(count)
    psnr_best, ssim_best = np.empty(count), np.empty(count)
    for row, (plane, label) in enumerate(zip(planes, labels)):
        psnr_mean[row] = psnr(plane, means[label])
        ssim_mean[row] = ssim(plane, means[label])
        members = private_train.images[private_train.labels == label]
        psnr_best[row] = max(psnr(plane, member) for member in members)
        ssim_best[row] = max(ssim(plane, member) for member in members)
    per_label.update(
        psnr_mean_face=psnr_mean, ssim_mean_face=ssim_mean, psnr_best_private=psnr_best, ssim_best_private=ssim_best
    )

    evaluator, second = _as_judges(judges)
    # `identification` sets "features" and "private_features" together (both absent without an evaluator).
    frechet = float("nan")
    if features is not None and private_features is not None:
        frechet = frechet_distance(features, private_features)
    summary = {
        "num_labels": float(count),
        "chance_top1": 1.0 / num_classes,
        "chance_top5": min(5, num_classes) / num_classes,
        "eval_acc1": float(np.mean(per_label["eval_top1"])),
        "eval_acc5": float(np.mean(per_label["eval_top5"])),
        "judge2_acc1": float(np.mean(per_label["judge2_top1"])),
        "judge2_acc5": float(np.mean(per_label["judge2_top5"])),
        "nearest_mean_top1": float(per_label["nearest_mean_top1"].mean()),
        "nearest_mean_top5": float(per_label["nearest_mean_top5"].mean()),
        "knn_dist": float(np.mean(per_label["knn_dist"])),
        "frechet_distance": float(frechet),
        "evaluator_test_acc": float(evaluator.test_accuracy) if evaluator is not None else float("nan"),
        "judge2_test_acc": float(second.test_accuracy) if second is not None else float("nan"),
        "psnr_mean_face": float(psnr_mean.mean()),
        "ssim_mean_face": float(ssim_mean.mean()),
        "psnr_best_private": float(psnr_best.mean()),
        "ssim_best_private": float(ssim_best.mean()),
        "attack_confidence": float(np.mean(per_label["confidence"])) if count else float("nan"),
    }
    for name, value in dict(result.summary()).items():
        key = f"attack_{name}"
        if key in summary:
            raise ValueError(f"attack summary key {name!r} collides with the metric {key!r}: rename it")
        summary[key] = float(value)
    return {**summary, "per_label": per_label}
