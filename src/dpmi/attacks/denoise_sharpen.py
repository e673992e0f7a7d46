"""A Process for MI-FACE: non-local-means denoising followed by an unsharp mask (scikit-image).

Fredrikson et al. (2015) use a denoising autoencoder trained on public faces as Process-DAE; public
reproductions replace it with this denoise + sharpen pair, which needs no extra data. It runs per image on
the CPU (scikit-image works on numpy arrays), so it dominates the cost of an iteration when enabled.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import convolve
from skimage.filters import unsharp_mask
from skimage.restoration import denoise_nl_means

# Immerkaer (1996), "Fast noise variance estimation": this kernel cancels smooth image structure, leaving
# (mostly) noise; sigma = sqrt(pi / 2) / (6 (W - 2)(H - 2)) * sum |I * M|.
_NOISE_KERNEL = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of additive Gaussian noise in a 2-D image (Immerkaer 1996), in its units."""
    height, width = image.shape
    if height < 3 or width < 3:
        return 0.0
    response = convolve(image.astype(np.float64), _NOISE_KERNEL, mode="reflect")[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).sum() / (6.0 * (width - 2) * (height - 2)))


class DenoiseSharpen:
    """Process(x): map each image from `value_range` to [0, 1], denoise with non-local means, sharpen with
    an unsharp mask, map back to `value_range`.

    Args:
        h: non-local-means filter strength in [0, 1] image units; None estimates it per image as
            0.8 * the image's noise sigma (Immerkaer's estimate, `estimate_noise_sigma`), so a clean image is
            left nearly untouched.
        patch_size: side of the patches compared, pixels (>= 1).
        patch_distance: search radius for similar patches, pixels (>= 1).
        sharpen_radius: Gaussian sigma of the unsharp mask, pixels (> 0).
        sharpen_amount: how strongly edges are amplified (>= 0; 0 = no sharpening).
        value_range: (low, high) the model's input range the images live in, default the faces' [-1, 1].
    """

    def __init__(
        self,
        h: float | None = None,
        patch_size: int = 5,
        patch_distance: int = 6,
        sharpen_radius: float = 1.0,
        sharpen_amount: float = 1.0,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        if h is not None and not h > 0:
            raise ValueError(f"h must be > 0 or None (estimate from the image), got {h}")
        if patch_size < 1 or patch_distance < 1:
            raise ValueError(f"patch_size and patch_distance must be >= 1, got {patch_size}, {patch_distance}")
        if not sharpen_radius > 0 or not sharpen_amount >= 0:
            raise ValueError(
                f"sharpen_radius must be > 0 and sharpen_amount >= 0, got {sharpen_radius}, {sharpen_amount}"
            )
        low, high = value_range
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        self.h = h
        self.patch_size = int(patch_size)
        self.patch_distance = int(patch_distance)
        self.sharpen_radius = float(sharpen_radius)
        self.sharpen_amount = float(sharpen_amount)
        self.value_range = (float(low), float(high))

    def process_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise and sharpen one 2-D float image given in `value_range`; returns the same range."""
        low, high = self.value_range
        unit = np.clip((image.astype(np.float64) - low) / (high - low), 0.0, 1.0)
        h = self.h if self.h is not None else 0.8 * estimate_noise_sigma(unit)
        if h > 0:
            unit = denoise_nl_means(
                unit, h=h, patch_size=self.patch_size, patch_distance=self.patch_distance, fast_mode=True
            )
        if self.sharpen_amount > 0:
            unit = unsharp_mask(unit, radius=self.sharpen_radius, amount=self.sharpen_amount, preserve_range=True)
        return np.clip(unit, 0.0, 1.0) * (high - low) + low

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] (or [B, H, W]) -> same shape, dtype and device."""
        if x.ndim < 3:
            raise ValueError(f"x must be [B, ..., H, W], got shape {tuple(x.shape)}")
        images = x.detach().cpu().numpy()
        flat = images.reshape(-1, *images.shape[-2:])
        processed = np.stack([self.process_image(image) for image in flat]).reshape(images.shape)
        return torch.from_numpy(processed).to(device=x.device, dtype=x.dtype)

    def __repr__(self) -> str:
        return (
            f"DenoiseSharpen(h={self.h}, patch_size={self.patch_size}, patch_distance={self.patch_distance}, "
            f"sharpen_radius={self.sharpen_radius}, sharpen_amount={self.sharpen_amount}, "
            f"value_range={self.value_range})"
        )
