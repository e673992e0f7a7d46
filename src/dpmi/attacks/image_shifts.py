"""Small rigid changes of a face image (horizontal flip, shift by whole pixels) used by the prior attacks:
as training augmentation of the generative prior (DiffAugment's translation, Zhao et al. NeurIPS 2020) and
as the transforms of PPA's result selection (Struppek et al. ICML 2022, Sec. 4.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hflip(images: torch.Tensor) -> torch.Tensor:
    """Mirror [B, C, H, W] images left-right."""
    return images.flip(-1)


def shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move [B, C, H, W] images by (dy, dx) whole pixels (down, right), repeating the border pixels into the
    uncovered edge (a face's border is background: repeating it adds no structure). |dy| < H, |dx| < W."""
    dy, dx = int(dy), int(dx)
    if dy == 0 and dx == 0:
        return images
    height, width = images.shape[-2:]
    if abs(dy) >= height or abs(dx) >= width:
        raise ValueError(f"a shift must be smaller than the image ({height}x{width}), got ({dy}, {dx})")
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + height, left : left + width]


def random_flip_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image flipped left-right with probability 1/2 and shifted by an integer in
    [-max_shift, max_shift] along each axis (drawn from `generator`); differentiable in `images`."""
    count = images.shape[0]
    device = images.device
    flips = torch.rand(count, generator=generator, device=device) < 0.5
    out = torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
    if max_shift <= 0:
        return out
    height, width = images.shape[-2:]
    # Translation as one gather on a border-padded copy: every row gets its own offset in one call.
    padded = F.pad(out, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (count, 2), generator=generator, device=device)
    rows = offsets[:, 0].view(-1, 1) + torch.arange(height, device=device).view(1, -1)  # [B, H]
    cols = offsets[:, 1].view(-1, 1) + torch.arange(width, device=device).view(1, -1)  # [B, W]
    channels = images.shape[1]
    index_rows = rows.view(count, 1, height, 1).expand(count, channels, height, padded.shape[-1])
    out = padded.gather(2, index_rows)
    index_cols = cols.view(count, 1, 1, width).expand(count, channels, height, width)
    return out.gather(3, index_cols)


def selection_transforms(max_shift: int) -> list[tuple[bool, int, int]]:
    """PPA-style result-selection transforms as (flip, dy, dx): the image itself, its mirror, and shifts by
    `max_shift` pixels up/down/left/right (none but the first two when max_shift is 0)."""
    transforms = [(False, 0, 0), (True, 0, 0)]
    if max_shift > 0:
        s = int(max_shift)
        transforms += [(False, s, 0), (False, -s, 0), (False, 0, s), (False, 0, -s)]
    return transforms


def apply_transform(images: torch.Tensor, transform: tuple[bool, int, int]) -> torch.Tensor:
    flip, dy, dx = transform
    out = hflip(images) if flip else images
    return shift(out, dy, dx)
