"""Gaussian blur of a FaceDataset's images: the judges' calibration (a person still recognises a blurred
face) and the second judge's gallery (blurred copies of the private images, so smooth reconstructions are
matched with smooth references)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from dpmi.data import FaceDataset


def blur_faces(dataset: FaceDataset, sigma: float) -> FaceDataset:
    """Every image Gaussian-blurred over its two spatial axes by `sigma` pixels (>= 0; colour channels kept
    apart, edges repeated), rounded back to uint8; labels and ids unchanged."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 pixels, got {sigma}")
    sigmas = (0.0, sigma, sigma) + ((0.0,) if dataset.images.ndim == 4 else ())
    blurred = gaussian_filter(dataset.images.astype(np.float64), sigma=sigmas, mode="nearest")
    return FaceDataset(
        np.clip(np.rint(blurred), 0, 255).astype(np.uint8), dataset.labels, dataset.image_ids, dataset.num_classes
    )
