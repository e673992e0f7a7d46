"""Bilinear resizing as two small matrix products: the same numbers as `torch.nn.functional.interpolate`
(mode "bilinear", align_corners=False, with or without antialias) for a fixed pair of sizes, at a fraction of
its cost inside an optimisation loop.

Why: bilinear resizing is linear and separable, resize(x) = R_h @ x @ R_w^T with R_h [H_out, H_in] and R_w
[W_out, W_in]. The latent search of the GAN-prior attack resizes every decoded image twice per step (up to the
target's size, down to the discriminator's), and on the CPU `interpolate`'s backward pass cost more than the
generator's convolutions (measured: a quarter of each step); two matrix products and their transposes do not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_matrix(size_in: int, size_out: int, *, antialias: bool = False) -> torch.Tensor:
    """R [size_out, size_in] (float32) such that R @ v is `v` resized by `interpolate` along one axis.

    Built by resizing the unit impulses with `interpolate` itself, so the matrix is that operator (the other
    axis is held at 2 pixels and left unchanged: a 1-pixel axis takes another code path in torch).
    """
    if size_in < 1 or size_out < 1:
        raise ValueError(f"sizes must be >= 1, got {size_in} -> {size_out}")
    impulses = torch.eye(size_in, dtype=torch.float64).view(size_in, 1, 1, size_in).expand(size_in, 1, 2, size_in)
    moved = F.interpolate(
        impulses.contiguous(), size=(2, size_out), mode="bilinear", align_corners=False, antialias=antialias
    )
    return moved[:, 0, 0, :].T.contiguous().float()


class SeparableResize:
    """Resize [..., H_in, W_in] -> [..., H_out, W_out] as R_h @ x @ R_w^T (bilinear, align_corners=False).

    Args:
        size_in: (H_in, W_in). size_out: (H_out, W_out). antialias: as `interpolate`'s (for downsampling).
    """

    def __init__(self, size_in: tuple[int, int], size_out: tuple[int, int], *, antialias: bool = False) -> None:
        self.size_in = (int(size_in[0]), int(size_in[1]))
        self.size_out = (int(size_out[0]), int(size_out[1]))
        self.antialias = bool(antialias)
        self.rows = resize_matrix(self.size_in[0], self.size_out[0], antialias=antialias)
        self.columns_t = resize_matrix(self.size_in[1], self.size_out[1], antialias=antialias).T.contiguous()

    def to(self, device: str | torch.device) -> SeparableResize:
        self.rows = self.rows.to(device)
        self.columns_t = self.columns_t.to(device)
        return self

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.size_in:
            raise ValueError(f"expected images of size {self.size_in}, got {tuple(images.shape[-2:])}")
        rows, columns_t = self.rows.to(images), self.columns_t.to(images)
        return rows @ images @ columns_t
