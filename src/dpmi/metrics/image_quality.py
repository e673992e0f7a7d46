"""PSNR and SSIM (scikit-image) of a reconstruction against a real face, after matching its scale.

A reconstruction's offset and scale are arbitrary, so it is standardised and then given the reference's
mean and standard deviation in grey levels (0..255) and clipped to 0..255 before comparison: the scores
then measure the pattern, not the brightness MI-FACE happened to land on.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dpmi.metrics.standardize import standardize

GREY_RANGE = 255.0


def match_to_reference(reconstruction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`reconstruction` (any range) standardised, rescaled to `reference`'s mean and std (grey levels),
    clipped to 0..255; float64 with `reference`'s shape."""
    reference = np.asarray(reference, dtype=np.float64)
    z = standardize(np.asarray(reconstruction)[None])[0].reshape(reference.shape)
    return np.clip(z * reference.std() + reference.mean(), 0.0, GREY_RANGE)


def psnr(reconstruction: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (data range 255) of the scale-matched reconstruction against
    `reference` (grey levels 0..255, [H, W] or [H, W, C]). Higher is closer; +inf for a perfect match."""
    matched = match_to_reference(reconstruction, reference)
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(np.asarray(reference, dtype=np.float64), matched, data_range=GREY_RANGE))


def ssim(reconstruction: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity in [-1, 1] (data range 255, 7x7 window) of the scale-matched reconstruction
    against `reference` (grey levels 0..255, [H, W] grey or [H, W, C] colour: the mean over channels).
    1 = identical."""
    matched = match_to_reference(reconstruction, reference)
    reference = np.asarray(reference, dtype=np.float64)
    channel_axis = -1 if reference.ndim == 3 else None
    return float(structural_similarity(reference, matched, data_range=GREY_RANGE, channel_axis=channel_axis))
