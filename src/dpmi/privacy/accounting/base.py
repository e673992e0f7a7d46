"""The interface every accountant shares, so the DP-SGD engine can record real steps into any of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .validation import check_noise_multiplier, check_sample_rate, check_steps


@dataclass(frozen=True)
class MechanismStep:
    """`num_steps` compositions of the Poisson-subsampled Gaussian with this noise multiplier and rate."""

    noise_multiplier: float
    sample_rate: float
    num_steps: int


def record_step(history: list[MechanismStep], noise_multiplier: float, sample_rate: float, num_steps: int) -> None:
    """Validate a step and append it to `history`, merging it into the last phase when sigma and q repeat
    (one entry per phase keeps composition cost independent of how often `step` is called)."""
    sigma = check_noise_multiplier(noise_multiplier)
    q = check_sample_rate(sample_rate)
    n = check_steps(num_steps)
    last = history[-1] if history else None
    if last is not None and last.noise_multiplier == sigma and last.sample_rate == q:
        history[-1] = MechanismStep(sigma, q, last.num_steps + n)
    else:
        history.append(MechanismStep(sigma, q, n))


@runtime_checkable
class Accountant(Protocol):
    """Tracks the composed privacy loss of Poisson-subsampled Gaussian steps (add/remove-one relation)."""

    history: list[MechanismStep]

    def step(self, noise_multiplier: float, sample_rate: float, num_steps: int = 1) -> None:
        """Record `num_steps` steps with noise std `noise_multiplier * clip` and sampling rate in (0, 1]."""
        ...

    def get_epsilon(self, delta: float) -> float:
        """The epsilon of all recorded steps at this delta in (0, 1)."""
        ...

    def get_delta(self, epsilon: float) -> float:
        """The delta in [0, 1] of all recorded steps at this epsilon >= 0."""
        ...
