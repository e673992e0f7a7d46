"""The Gaussian mechanism of DP-SGD: N(0, (sigma * C)^2) per coordinate, added once to the summed clipped
gradient (Abadi et al. 2016, Alg. 1). Noise comes from its own `torch.Generator` on the parameters'
device, seeded apart from the batch sampler, so the same seed gives the same noise on CPU."""

from __future__ import annotations

import numpy as np
import torch


def derive_seeds(seed: int | None, count: int) -> list[int]:
    """`count` independent 63-bit seeds from one user seed (numpy SeedSequence); fresh entropy if None."""
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0 or None, got {seed}")
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]


def make_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def add_gaussian_noise_(
    grads: list[torch.Tensor], std: float, generator: torch.Generator | None
) -> list[torch.Tensor]:
    """In place: grads[k] += N(0, std^2) per coordinate. std = noise_multiplier * max_grad_norm >= 0."""
    if std == 0:
        return grads
    for g in grads:
        g.add_(fill_gaussian_noise_([torch.empty_like(g)], std, generator)[0])
    return grads


def fill_gaussian_noise_(
    buffers: list[torch.Tensor], std: float, generator: torch.Generator | None
) -> list[torch.Tensor]:
    """In place: every coordinate of every buffer := a fresh N(0, std^2) draw (zeros if std is 0)."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    for b in buffers:
        if std == 0:
            b.zero_()
        else:
            b.normal_(0.0, std, generator=generator)
    return buffers
