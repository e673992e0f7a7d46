"""Poisson subsampling: every example joins a batch independently with probability q, so batch sizes are
Binomial(N, q) and may be 0. This is the sampling the RDP / PLD accountants analyse (Mironov-Talwar-Zhang
2019; Zhu & Wang 2019); fixed-size shuffled batches would need a different analysis."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class UniformSource(Protocol):
    """What the sampler draws from: `random(n)` -> n floats uniform in [0, 1) (a numpy Generator, or
    `noise.SecureUniformSource` in secure mode)."""

    def random(self, size: int) -> np.ndarray: ...


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
        self.rng: np.random.Generator | UniformSource = np.random.default_rng(seed)

    def sample(self) -> np.ndarray:
        """One batch: sorted int64 indices (possibly empty) of the included examples."""
        return np.flatnonzero(self.rng.random(self.num_examples) < self.sample_rate).astype(np.int64)

    def state_dict(self) -> dict[str, Any]:
        """The generator's position ({"bit_generator": name, "state": ...}, plain ints) so a resumed run draws the
        same batches; empty when the source is not a seeded numpy generator (secure mode)."""
        if not isinstance(self.rng, np.random.Generator):
            return {}
        return {
            "num_examples": self.num_examples,
            "sample_rate": self.sample_rate,
            "bit_generator": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a position saved by `state_dict()` (same N and q); an empty state changes nothing."""
        if not state:
            return
        if state.get("num_examples") != self.num_examples or state.get("sample_rate") != self.sample_rate:
            raise ValueError(
                f"this sampler state is for N={state.get('num_examples')}, q={state.get('sample_rate')}, "
                f"not N={self.num_examples}, q={self.sample_rate}: resume with the same data and rate"
            )
        if not isinstance(self.rng, np.random.Generator):
            raise ValueError("a seeded sampler state cannot be loaded into a secure-mode (OS randomness) sampler")
        self.rng.bit_generator.state = state["bit_generator"]
