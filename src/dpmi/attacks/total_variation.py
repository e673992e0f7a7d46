"""Total-variation regularisation as an MI-FACE AuxTerm: penalises pixel-to-pixel jumps, so the inversion
prefers smooth, face-like images over the high-frequency patterns a linear model's gradient draws."""

from __future__ import annotations

import torch


class TotalVariation:
    """AuxTerm(x) = weight * mean over pixels of the anisotropic total variation of each image.

    For x [B, C, H, W]: weight * (mean |x[..., i+1, j] - x[..., i, j]| + mean |x[..., i, j+1] - x[..., i, j]|),
    one value per row. Means (not sums) keep `weight` independent of the image size: for images in
    [-1, 1] the term lies in [0, 4 * weight].

    Args:
        weight: >= 0, the term's scale relative to the confidence term (which lies in [0, 1]).
    """

    def __init__(self, weight: float = 0.05) -> None:
        if not weight >= 0:
            raise ValueError(f"weight must be a number >= 0, got {weight}")
        self.weight = float(weight)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3:
            raise ValueError(f"x must be [B, ..., H, W], got shape {tuple(x.shape)}")
        flat_start = 1
        vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(flat_start).mean(dim=1)
        horizontal = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(flat_start).mean(dim=1)
        return self.weight * (vertical + horizontal)

    def __repr__(self) -> str:
        return f"TotalVariation(weight={self.weight})"
