"""Poisson subsampling: every example joins a batch independently with probability q, so batch sizes are
Binomial(N, q) and may be 0. This is the sampling the RDP / PLD accountants analyse (Mironov-Talwar-Zhang
2019; Zhu & Wang 2019); fixed-size shuffled batches would need a different analysis."""

from __future__ import annotations

import numpy as np


class PoissonSampler:
    """Yields index arrays of Poisson-sampled batches.

    Args:
        num_examples: dataset size N >= 1.
        sample_rate: inclusion probability q in (0, 1].
        seed: seeds the sampler's own numpy generator (None: fresh entropy).
    """

    def __init__(self, num_examples: int, sample_rate: float, seed: int | None = None) -> None:
        if num_examples < 1:
            raise ValueError(f"num_examples must be >= 1, got {num_examples}")
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        self.num_examples = num_examples
        self.sample_rate = sample_rate
        self.rng = np.random.default_rng(seed)

    def sample(self) -> np.ndarray:
        """One batch: sorted int64 indices (possibly empty) of the included examples."""
        return np.flatnonzero(self.rng.random(self.num_examples) < self.sample_rate).astype(np.int64)
