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


def add_gaussian_noise_(grads: list[torch.Tensor], std: float, generator: torch.Generator | None) -> list[torch.Tensor]:
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


# ------------------------------------------------------------------------------------------ secure mode
# Seeded noise is for studies: whoever knows the seed can regenerate and subtract it. A released model needs
# noise nobody can reproduce, drawn by a sampler without the floating-point holes Mironov (CCS 2012) used to
# read the secret back out of a textbook Laplace sampler and Jin et al. (S&P 2022, "Are we there yet?") used
# against Gaussian samplers of DP libraries.

# Gaussians summed per output coordinate (Holohan & Braghin, "Secure random sampling in differential privacy",
# ESORICS 2021; Opacus's secure_mode sums 4 and halves). A single Box-Muller draw maps 2 uniforms to a float
# through log/cos, so near any output the set of floats it can produce is sparse and shaped by the mean that
# was added (the porous output of Mironov's attack); a sum of independent draws fills those gaps, so the output
# set no longer depends measurably on the secret. It is a mitigation, not a proof: the provably exact choice
# is a discrete Gaussian on a grid (Canonne, Kamath & Steinke, NeurIPS 2020), whose rejection sampler costs
# several times more per coordinate.
SECURE_GAUSSIAN_TERMS = 4


def secure_uniform(size: int) -> np.ndarray:
    """`size` float64 uniforms in (0, 1] with 53 random bits each, from the operating system's CSPRNG
    (os.urandom: getrandom(2) on Linux, a ChaCha20 generator the kernel seeds from hardware entropy)."""
    import os

    words = np.frombuffer(os.urandom(8 * int(size)), dtype=np.uint64)
    # (k + 1) / 2^53 with k in [0, 2^53): never 0, so log(u) below is finite.
    return ((words >> np.uint64(11)).astype(np.float64) + 1.0) * (1.0 / 9007199254740992.0)


def secure_standard_normal(size: int, terms: int = SECURE_GAUSSIAN_TERMS) -> np.ndarray:
    """`size` float64 N(0, 1) draws, each the sum of `terms` independent Box-Muller normals from CSPRNG
    uniforms, divided by sqrt(terms) (unit variance exactly: a sum of independent Gaussians is Gaussian)."""
    if terms < 1:
        raise ValueError(f"terms must be >= 1, got {terms}")
    size = int(size)
    pairs = (size + 1) // 2
    total = np.zeros(2 * pairs, dtype=np.float64)
    for _ in range(terms):
        u = secure_uniform(2 * pairs)
        radius = np.sqrt(-2.0 * np.log(u[:pairs]))  # Box & Muller (1958)
        angle = (2.0 * np.pi) * u[pairs:]
        total[:pairs] += radius * np.cos(angle)
        total[pairs:] += radius * np.sin(angle)
    return total[:size] / np.sqrt(terms)


class SecureUniformSource:
    """Drop-in for a numpy Generator's `random(n)` (all `PoissonSampler` uses) backed by the OS CSPRNG, so the
    batches of a secure-mode run are as unpredictable as its noise (amplification by sampling assumes the
    adversary does not know who was sampled)."""

    def random(self, size: int) -> np.ndarray:
        return 1.0 - secure_uniform(size)  # in [0, 1), like numpy's Generator.random


class SecureGaussianNoise:
    """The noise of `make_private(..., secure_mode=True)`: CSPRNG-seeded, sum-of-Gaussians sampler.

    Drawn in float64 on the CPU, scaled by std there, rounded once to the buffer's dtype and copied to its
    device. No seed: every call draws fresh OS entropy, so two runs never share noise.
    """

    terms: int = SECURE_GAUSSIAN_TERMS

    def fill_(self, buffers: list[torch.Tensor], std: float) -> list[torch.Tensor]:
        """In place: every coordinate of every buffer := a fresh N(0, std^2) draw (zeros if std is 0)."""
        if std < 0:
            raise ValueError(f"noise std must be >= 0, got {std}")
        for b in buffers:
            if std == 0:
                b.zero_()
                continue
            draw = secure_standard_normal(b.numel(), self.terms) * std
            b.copy_(torch.from_numpy(draw).reshape(b.shape).to(dtype=b.dtype))
        return buffers
