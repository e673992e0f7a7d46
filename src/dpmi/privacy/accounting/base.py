"""The interface every accountant shares, so the DP-SGD engine can record real steps into any of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class MechanismStep:
    """`num_steps` compositions of the Poisson-subsampled Gaussian with this noise multiplier and rate."""

    noise_multiplier: float
    sample_rate: float
    num_steps: int


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
