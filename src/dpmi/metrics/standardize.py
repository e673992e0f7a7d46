"""Per-image standardisation: a reconstruction's offset and scale are arbitrary (MI-FACE optimises a
confidence, not a brightness), so every metric compares images only after this."""

from __future__ import annotations

import numpy as np
import torch

# Below this standard deviation an image is treated as constant (it carries no pattern to compare).
_FLAT_STD = 1e-12


def standardize(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Flatten every image and give it zero mean and unit standard deviation over its pixels.

    Args:
        images: [N, ...] any dtype (uint8 grey levels or floats in any range); one image per leading index.

    Returns:
        float64 [N, D] (D = pixels per image). A constant image maps to all zeros (no pattern).
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    std = centred.std(axis=1, keepdims=True)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > _FLAT_STD)


def correlation_matrix(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Pearson correlation of every image in `a` [N, ...] with every image in `b` [M, ...], float64 [N, M]
    in [-1, 1] (0 against a constant image)."""
    za, zb = standardize(a), standardize(b)
    if za.shape[1] != zb.shape[1]:
        raise ValueError(f"images differ in size: {za.shape[1]} vs {zb.shape[1]} pixels")
    return za @ zb.T / za.shape[1]
