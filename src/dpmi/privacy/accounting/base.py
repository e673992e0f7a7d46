"""The interface every accountant shares, so the DP-SGD engine can record real steps into any of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


def history_state(history: list[MechanismStep]) -> list[list[float]]:
    """The history as plain numbers, [[noise_multiplier, sample_rate, num_steps], ...], for a state dict (floats
    round-trip exactly through JSON and torch.save)."""
    return [[e.noise_multiplier, e.sample_rate, float(e.num_steps)] for e in history]


def history_from_state(rows: object) -> list[MechanismStep]:
    """Inverse of `history_state`, validating each row as `step` would."""
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"an accountant state's history must be a list of [sigma, q, steps] rows, got {rows!r}")
    history: list[MechanismStep] = []
    for row in rows:
        if not isinstance(row, (list, tuple)) or len(row) != 3:
            raise ValueError(f"each history row must be [noise_multiplier, sample_rate, num_steps], got {row!r}")
        record_step(history, row[0], row[1], row[2])
    return history


def check_state_name(state: object, name: str) -> dict[str, Any]:
    """`state` as a dict saved by the accountant registered as `name`, else ValueError."""
    if not isinstance(state, dict) or state.get("name") != name:
        got = state.get("name") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"this state is not a {name!r} accountant's state_dict() (it is {got!r})")
    return state


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

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: {"name": registered name, "history": rows, options...}; plain numbers,
        strings and lists only (safe for torch.load(weights_only=True) and JSON)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace this accountant's history and options with those of `state` (from `state_dict()`)."""
        ...
