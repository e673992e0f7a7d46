"""One call that scores an MI-FACE run against the private faces: what `dpmi run` records."""

from __future__ import annotations

import numpy as np
import torch

from dpmi.attacks.result import InversionResult
from dpmi.data import FaceDataset
from dpmi.metrics.evaluator import Evaluator
from dpmi.metrics.image_quality import psnr, ssim
from dpmi.metrics.nearest_mean import target_rank

SUMMARY_KEYS = (
    "num_labels", "chance_top1", "chance_top5",
    "nearest_mean_top1", "nearest_mean_top5",
    "eval_acc1", "eval_acc5", "knn_dist", "evaluator_test_acc",
    "psnr_mean_face", "ssim_mean_face", "psnr_best_private", "ssim_best_private",
    "attack_best_cost", "attack_iterations",
)


def evaluate_inversion(
    result: InversionResult, dataset: FaceDataset, evaluator: Evaluator | None = None
) -> dict:
    """Score reconstructions against the private (training) faces they came from.

    Every reconstruction is standardised (zero mean, unit std) first: its scale is arbitrary.

    Args:
        result: an `InversionResult` (row k reconstructs identity `result.labels[k]`).
        dataset: the private faces the target model was trained on (uint8 grey levels); its identities'
            mean faces and images are the references.
        evaluator: a trained `Evaluator`; None skips the evaluation-classifier metrics (they are NaN).

    Returns:
        A flat dict of floats, means over the K inverted rows, plus "per_label", a dict of numpy arrays
        [K] in row order:

        - num_labels: K. chance_top1, chance_top5: 1/M and min(5, M)/M for M identities.
        - nearest_mean_top1 / nearest_mean_top5 (0..1): fraction of rows whose target is the identity (one
          of the 5) whose mean private face correlates best (Pearson) with the reconstruction.
        - eval_acc1 / eval_acc5 (0..1): evaluation-classifier top-1 / top-5 accuracy on the reconstructions.
        - knn_dist (>= 0): squared L2, in the evaluator's embedding, from each reconstruction to the closest
          private image of its identity. Lower = closer.
        - evaluator_test_acc (0..1): the evaluator's held-out accuracy (NaN if unknown).
        - psnr_mean_face (dB) / ssim_mean_face ([-1, 1]): against the identity's mean private face.
        - psnr_best_private / ssim_best_private: the best (highest) value over the identity's private
          images, each metric maximised separately.
        - attack_best_cost: mean of `result.best_cost`; attack_iterations: mean gradient steps used.

        per_label keys: label, nearest_mean_rank (1 = best), nearest_mean_top1, nearest_mean_top5,
        eval_pred, eval_top1, eval_top5, knn_dist, psnr_mean_face, ssim_mean_face, psnr_best_private,
        ssim_best_private, best_cost, iterations.
    """
    images = result.images.detach().cpu().to(torch.float32)
    labels = result.labels.detach().cpu().numpy().astype(np.int64)
    count = len(labels)
    num_classes = dataset.num_classes
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"result.labels must be in 0..{num_classes - 1} (the dataset's identities), got "
                         f"{labels.min()}..{labels.max()}")
    present = np.bincount(dataset.labels, minlength=num_classes) > 0
    if not present[labels].all():
        missing = sorted(set(labels[~present[labels]].tolist()))
        raise ValueError(f"dataset has no images of identities {missing}: pass the private training faces")
    planes = images.reshape(count, -1, *dataset.image_shape)[:, 0].numpy()
    means = dataset.class_means()

    ranks = target_rank(images, labels, means)
    per_label: dict[str, np.ndarray] = {
        "label": labels,
        "nearest_mean_rank": ranks,
        "nearest_mean_top1": (ranks <= 1).astype(np.float64),
        "nearest_mean_top5": (ranks <= 5).astype(np.float64),
    }

    psnr_mean = np.empty(count)
    ssim_mean = np.empty(count)
    psnr_best = np.empty(count)
    ssim_best = np.empty(count)
    for row, (plane, label) in enumerate(zip(planes, labels)):
        psnr_mean[row] = psnr(plane, means[label])
        ssim_mean[row] = ssim(plane, means[label])
        members = dataset.images[dataset.labels == label]
        psnr_best[row] = max(psnr(plane, member) for member in members)
        ssim_best[row] = max(ssim(plane, member) for member in members)
    per_label.update(psnr_mean_face=psnr_mean, ssim_mean_face=ssim_mean,
                     psnr_best_private=psnr_best, ssim_best_private=ssim_best)

    nan = np.full(count, np.nan)
    if evaluator is not None:
        logits = evaluator.logits(images)
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
        recon_features = evaluator.embed(images)
        private_x, _ = dataset.to_tensors()
        private_features = evaluator.embed(private_x)
        private_labels = torch.as_tensor(dataset.labels, device=private_features.device)
        distances = torch.cdist(recon_features.double(), private_features.double()).pow(2)
        own = private_labels[None, :] == torch.as_tensor(labels, device=distances.device)[:, None]
        knn = distances.masked_fill(~own, float("inf")).min(dim=1).values.cpu().numpy()
        per_label.update(
            eval_pred=top5[:, 0].astype(np.int64),
            eval_top1=(top5[:, 0] == labels).astype(np.float64),
            eval_top5=(top5 == labels[:, None]).any(axis=1).astype(np.float64),
            knn_dist=knn,
        )
    else:
        per_label.update(eval_pred=np.full(count, -1, dtype=np.int64), eval_top1=nan, eval_top5=nan,
                         knn_dist=nan)
    per_label["best_cost"] = np.asarray(result.best_cost, dtype=np.float64)
    per_label["iterations"] = np.asarray(result.iterations, dtype=np.int64)

    summary = {
        "num_labels": float(count),
        "chance_top1": 1.0 / num_classes,
        "chance_top5": min(5, num_classes) / num_classes,
        "nearest_mean_top1": float(per_label["nearest_mean_top1"].mean()),
        "nearest_mean_top5": float(per_label["nearest_mean_top5"].mean()),
        "eval_acc1": float(np.mean(per_label["eval_top1"])),
        "eval_acc5": float(np.mean(per_label["eval_top5"])),
        "knn_dist": float(np.mean(per_label["knn_dist"])),
        "evaluator_test_acc": float(evaluator.test_accuracy) if evaluator is not None else float("nan"),
        "psnr_mean_face": float(psnr_mean.mean()),
        "ssim_mean_face": float(ssim_mean.mean()),
        "psnr_best_private": float(psnr_best.mean()),
        "ssim_best_private": float(ssim_best.mean()),
        "attack_best_cost": float(per_label["best_cost"].mean()),
        "attack_iterations": float(per_label["iterations"].mean()),
    }
    return {**summary, "per_label": per_label}
