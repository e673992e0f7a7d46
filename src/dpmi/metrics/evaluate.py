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

# The summary keys that do not depend on the judges, in report order; `summary_keys()` puts every registered
# judge's keys after the chance levels (attack diagnostics add "attack_<name>" keys beside them).
BASE_SUMMARY_KEYS = (
    "num_labels",
    "chance_top1",
    "chance_top5",
    "nearest_mean_top1",
    "nearest_mean_top5",
    "knn_dist",
    "frechet_distance",
    "psnr_mean_face",
    "ssim_mean_face",
    "psnr_best_private",
    "ssim_best_private",
    "attack_confidence",
    "no_reconstruction",
)

# One line per key that does not depend on the judges, for tables, --help and the report.
BASE_DESCRIPTIONS: dict[str, str] = {
    "num_labels": "reconstructions scored (one per inverted identity)",
    "chance_top1": "top-1 rate of guessing: 1 / identities",
    "chance_top5": "top-5 rate of guessing: min(5, identities) / identities",
    "nearest_mean_top1": "the identity's mean private face is the most correlated with the reconstruction",
    "nearest_mean_top5": "the identity's mean private face is among the 5 most correlated",
    "knn_dist": "squared distance, in the evaluation classifier's features, to the nearest private image of the "
    "identity (lower = closer)",
    "frechet_distance": "Frechet distance between Gaussians fitted to the reconstructions' and the private images' "
    "evaluation-classifier features (FID stand-in; lower = closer; biased upward for few images)",
    "psnr_mean_face": "PSNR (dB) against the identity's mean private face, after matching brightness and contrast",
    "ssim_mean_face": "SSIM against the identity's mean private face, after matching brightness and contrast",
    "psnr_best_private": "best PSNR (dB) against any one private image of the identity",
    "ssim_best_private": "best SSIM against any one private image of the identity",
    "attack_confidence": "target model's probability of the label at the reconstruction (mean)",
    "no_reconstruction": "share of rows that are no reconstruction (never left the start image, or flat): "
    "scored as recovering nobody",
}


def summary_keys(judges: Any = None) -> tuple[str, ...]:
    """Every key `evaluate_inversion` returns (besides "attack_<name>" and "per_label") when the judges named
    `judges` ran (default: every registered judge), in report order."""
    return BASE_SUMMARY_KEYS[:3] + judge_summary_keys(judges) + BASE_SUMMARY_KEYS[3:]


def summary_descriptions() -> dict[str, str]:
    """One line per `summary_keys()` key, the judges' from their registered label and family."""
    from dpmi.metrics.judge_registry import JUDGES, judge_keys

    out = dict(BASE_DESCRIPTIONS)
    for name, spec in JUDGES.items():
        keys = judge_keys(name)
        out[keys["acc1"]] = f"{spec.label} ({spec.family}) names the identity (top-1)"
        out[keys["acc5"]] = f"{spec.label} has the identity among its 5 most likely"
        out[keys["detected"]] = f"{spec.label} finds a face in the reconstruction"
        out[keys["verified"]] = f"{spec.label} verifies the claimed identity at its own same-person threshold"
        out[keys["test"]] = f"{spec.label}'s accuracy on held-out real private faces"
        out[f"{name}_collapsed"] = f"{spec.label} answered one person for most images (its rate is no measurement)"
        out[f"{name}_top_answer_share"] = f"share of images for which {spec.label} gave its most frequent answer"
    return {key: out[key] for key in summary_keys()}


def per_label_keys(judges: Any = None) -> tuple[str, ...]:
    """The keys of `evaluate_inversion(...)["per_label"]` when the judges named `judges` ran (default: every
    registered judge)."""
    from dpmi.metrics.judge_registry import JUDGES

    keys = ["label", "confidence"]
    for name in JUDGES.names() if judges is None else judges:
        spec = JUDGES.get(name)
        keys += [f"{name}_pred", f"{name}_top1", f"{name}_top5"]
        keys += [f"{name}_detected"] if spec.detects_faces else []
        keys += [f"{name}_verified"] if spec.verifies else []
    keys += ["nearest_mean_rank", "nearest_mean_top1", "nearest_mean_top5", "knn_dist", "no_reconstruction"]
    return (*keys, "psnr_mean_face", "ssim_mean_face", "psnr_best_private", "ssim_best_private")


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


def _as_judges(judges: Any) -> dict[str, Any]:
    """judge name -> fitted judge, from a `Judges`, a bare `Evaluator` (the evaluation classifier alone) or None."""
    if judges is None:
        return {}
    if isinstance(judges, Evaluator):
        return {"eval": judges}
    if hasattr(judges, "members"):
        return dict(judges.members)
    raise ValueError(f"judges must be a dpmi.metrics.Judges, an Evaluator or None, got {type(judges).__name__}")


def judge_summary_keys(names: Any = None) -> tuple[str, ...]:
    """The summary keys of the judges `names` (default: every registered judge), in registry order."""
    from dpmi.metrics.judge_registry import JUDGES, judge_keys

    keys: list[str] = []
    for name in JUDGES.names() if names is None else names:
        spec, named = JUDGES.get(name), judge_keys(name)
        keys += [named["acc1"], named["acc5"]]
        keys += [named["detected"]] if spec.detects_faces else []
        keys += [named["verified"]] if spec.verifies else []
        keys += [named["test"], f"{name}_collapsed", f"{name}_top_answer_share"]
    return tuple(keys)


def dataset_layout(images: torch.Tensor) -> np.ndarray:
    """[K, C, H, W] tensor -> float64 numpy in FaceDataset's layout: [K, H, W] grey or [K, H, W, C]."""
    x = images.detach().cpu().to(torch.float64)
    if x.ndim != 4:
        raise ValueError(f"images must be [K, C, H, W], got shape {tuple(x.shape)}")
    return x[:, 0].numpy() if x.shape[1] == 1 else x.permute(0, 2, 3, 1).numpy()


def _no_reconstruction(result: Any, count: int) -> np.ndarray:
    """The result's own no-reconstruction flags [K] (an attack that checks its start image), else flat or
    non-finite images (`dpmi.attacks.no_reconstruction.no_reconstruction_mask` without a start)."""
    from dpmi.attacks.no_reconstruction import no_reconstruction_mask

    flags = getattr(result, "no_reconstruction", None)
    if flags is not None:
        flags = np.asarray(flags, dtype=bool).reshape(-1)
        if flags.shape == (count,):
            return flags
    return no_reconstruction_mask(result.images)


def judge_collapses(
    per_label: dict[str, np.ndarray], members: dict[str, Any], num_classes: int, labels: np.ndarray
) -> dict[str, float]:
    """Per judge given, "<judge>_collapsed" (1.0 when it answered one person for most images,
    `dpmi.metrics.judge_collapse`, else 0.0) and "<judge>_top_answer_share" (the share of all images given that
    answer, 0..1)."""
    from dpmi.metrics.judge_collapse import judge_collapse

    out: dict[str, float] = {}
    if num_classes < 2:
        return out
    for name in members:
        found = judge_collapse(per_label[f"{name}_pred"], num_classes, labels=labels)
        out[f"{name}_collapsed"] = 1.0 if found["collapsed"] else 0.0
        # over all images: a judge that answered for none (no face detected anywhere) has no top answer: 0
        out[f"{name}_top_answer_share"] = found["count"] / len(labels) if len(labels) else 0.0
    return out


def judge_rates(per_label: dict[str, np.ndarray], members: dict[str, Any]) -> dict[str, float]:
    """Summary rates of every judge given (`members`, registry names) from its per-row verdicts, and each
    judge's held-out accuracy under its `test_key`. A judge not given has no keys (not NaN ones): tables show
    the judges that ran."""
    from dpmi.metrics.judge_registry import JUDGES, judge_keys

    out: dict[str, float] = {}
    for name in members:
        spec, keys = JUDGES.get(name), judge_keys(name)
        present = True
        rows = {"acc1": "top1", "acc5": "top5"}
        if spec.detects_faces:
            rows["detected"] = "detected"
        if spec.verifies:
            rows["verified"] = "verified"
        for rate, row in rows.items():
            values = per_label.get(f"{name}_{row}")
            out[keys[rate]] = float(np.mean(values)) if present and values is not None else float("nan")
        out[keys["test"]] = float(members[name].test_accuracy) if present else float("nan")
    return out


def identification(
    images: torch.Tensor, labels: np.ndarray, private_train: FaceDataset, judges: Any = None
) -> dict[str, np.ndarray]:
    """Per-row verdicts of every judge (the identification part of `evaluate_inversion`): for each judge
    `<name>_pred`, `<name>_top1`, `<name>_top5` (and `<name>_detected`, `<name>_verified` where the judge
    says), nearest_mean_*, knn_dist (NaN without an evaluation classifier), plus "features" and
    "private_features" (the evaluation classifier's embeddings [K, D], absent without one)."""
    members = _as_judges(judges)
    count = len(labels)
    ranks = target_rank(dataset_layout(images), labels, private_train.class_means())
    out: dict[str, np.ndarray] = {
        "nearest_mean_rank": ranks,
        "nearest_mean_top1": (ranks <= 1).astype(np.float64),
        "nearest_mean_top5": (ranks <= 5).astype(np.float64),
        "knn_dist": np.full(count, np.nan),
    }
    for name, judge in members.items():
        if isinstance(judge, Evaluator):  # one pass gives the logits and the features (KNN, Frechet)
            logits, features = judge.logits_and_features(images)
            scores = logits.double().cpu().numpy()
            private_features = judge.reference_features(private_train)
            private_labels = torch.as_tensor(private_train.labels, device=private_features.device)
            distances = torch.cdist(features.double(), private_features.double()).pow(2)
            own = private_labels[None, :] == torch.as_tensor(labels, device=distances.device)[:, None]
            out["knn_dist"] = distances.masked_fill(~own, float("inf")).min(dim=1).values.cpu().numpy()
            out["features"] = features.cpu().numpy()
            out["private_features"] = private_features.cpu().numpy()
        answered = np.ones(count, dtype=bool)
        if not isinstance(judge, Evaluator) and callable(getattr(judge, "verdicts", None)):
            # one pass for scores, face detection and verification; a judge may decline to answer for a row
            # (the face recognizer where no face is detected): that row names nobody
            verdicts = judge.verdicts(images, labels)
            scores = np.asarray(verdicts["scores"], dtype=np.float64)
            answered = np.asarray(verdicts.get("answered", answered), dtype=bool).reshape(-1)
            for extra in ("detected", "verified"):
                if extra in verdicts:
                    out[f"{name}_{extra}"] = np.asarray(verdicts[extra], dtype=np.float64)
        elif not isinstance(judge, Evaluator):
            scores = np.asarray(judge.scores(images), dtype=np.float64)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : min(5, scores.shape[1])]
        out[f"{name}_pred"] = np.where(answered, order[:, 0], -1).astype(np.int64)
        out[f"{name}_top1"] = ((order[:, 0] == labels) & answered).astype(np.float64)
        out[f"{name}_top5"] = ((order == labels[:, None]).any(axis=1) & answered).astype(np.float64)
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
        A flat dict of floats: every key of `summary_keys()` (described in `summary_descriptions()`; rates in
        0..1 are means over the K rows), plus "attack_<name>" for every entry of `result.summary()`, plus
        "per_label", a dict of numpy arrays [K] in row order with the keys of `per_label_keys()` (those of the
        judges given). Judge
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
    # An image that never left the start image, or is flat, is no reconstruction: it recovers nobody, whatever
    # a judge answers for it (`dpmi.attacks.no_reconstruction`).
    blank = _no_reconstruction(result, count)
    per_label["no_reconstruction"] = blank.astype(np.float64)
    if blank.any():
        for key in list(per_label):
            if key.endswith(("_top1", "_top5")):
                per_label[key] = np.where(blank, 0.0, per_label[key])

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

    members = _as_judges(judges)
    # `identification` sets "features" and "private_features" together (both absent without an evaluator).
    frechet = float("nan")
    if features is not None and private_features is not None:
        frechet = frechet_distance(features, private_features)
    summary: dict[str, float] = {
        "num_labels": float(count),
        "chance_top1": 1.0 / num_classes,
        "chance_top5": min(5, num_classes) / num_classes,
    }
    summary.update(judge_rates(per_label, members))
    summary["no_reconstruction"] = float(blank.mean())
    summary.update(judge_collapses(per_label, members, num_classes, labels))
    summary.update(
        {
            "nearest_mean_top1": float(per_label["nearest_mean_top1"].mean()),
            "nearest_mean_top5": float(per_label["nearest_mean_top5"].mean()),
            "knn_dist": float(np.mean(per_label["knn_dist"])),
            "frechet_distance": float(frechet),
            "psnr_mean_face": float(psnr_mean.mean()),
            "ssim_mean_face": float(ssim_mean.mean()),
            "psnr_best_private": float(psnr_best.mean()),
            "ssim_best_private": float(ssim_best.mean()),
            "attack_confidence": float(np.mean(per_label["confidence"])) if count else float("nan"),
        }
    )
    for name, value in dict(result.summary()).items():
        key = f"attack_{name}"
        if key in summary:
            raise ValueError(f"attack summary key {name!r} collides with the metric {key!r}: rename it")
        summary[key] = float(value)
    return {**summary, "per_label": per_label}
