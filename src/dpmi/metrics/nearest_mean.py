"""Nearest class-mean identification: does a reconstruction look most like its target's mean face?

Fredrikson et al. (2015) judged reconstructions by whether people picked the right face; this is the
automatic version the AIJack tutorial leaves to the eye: rank all identities by the Pearson correlation of
their mean private (training) face with the standardised reconstruction.
"""

from __future__ import annotations

import numpy as np
import torch

from dpmi.metrics.standardize import correlation_matrix


def target_rank(
    reconstructions: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, class_means: np.ndarray
) -> np.ndarray:
    """Rank of each reconstruction's target among all identities, 1 = the most correlated mean face.

    Args:
        reconstructions: [K, ...] images in any range (each is standardised first).
        labels: [K] the target identity of each row, 0..M-1.
        class_means: [M, H, W] mean face of each identity (any range, e.g. `FaceDataset.class_means()`).

    Returns:
        int64 [K] in 1..M. Ties count against the target (a constant image gets rank M, never 1).
    """
    labels = np.asarray(torch.as_tensor(labels).cpu(), dtype=np.int64).reshape(-1)
    correlations = correlation_matrix(reconstructions, class_means)
    if labels.shape[0] != correlations.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries for {correlations.shape[0]} reconstructions")
    if labels.min() < 0 or labels.max() >= correlations.shape[1]:
        raise ValueError(f"labels must be in 0..{correlations.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    own = correlations[np.arange(len(labels)), labels]
    # Count identities at least as correlated as the target (the target itself included).
    return (correlations >= own[:, None]).sum(axis=1).astype(np.int64)


def nearest_mean_topk(
    reconstructions: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, class_means: np.ndarray, k: int = 1
) -> np.ndarray:
    """Per row, True when the target is among the k identities whose mean face correlates best (k >= 1)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return target_rank(reconstructions, labels, class_means) <= k
