"""Argument checks shared by every accountant: one message format naming the argument and its valid range."""

from __future__ import annotations

import math


def _as_float(name: str, value: object) -> float:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(result):
        raise ValueError(f"{name} must not be NaN")
    return result


def check_noise_multiplier(value: object, name: str = "noise_multiplier") -> float:
    """Noise std divided by the clipping norm; valid range (0, inf)."""
    sigma = _as_float(name, value)
    if not (0.0 < sigma < math.inf):
        raise ValueError(f"{name} must be in (0, inf) (noise std / clipping norm), got {sigma}")
    return sigma


def check_sample_rate(value: object, name: str = "sample_rate") -> float:
    """Poisson sampling probability of each record per step; valid range (0, 1]."""
    q = _as_float(name, value)
    if not (0.0 < q <= 1.0):
        raise ValueError(f"{name} must be in (0, 1] (Poisson sampling probability), got {q}")
    return q


def check_delta(value: object, name: str = "delta") -> float:
    """Target delta; valid range (0, 1)."""
    delta = _as_float(name, value)
    if not (0.0 < delta < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {delta}")
    return delta


def check_epsilon(value: object, name: str = "epsilon") -> float:
    """Target epsilon; valid range [0, inf)."""
    eps = _as_float(name, value)
    if not (0.0 <= eps < math.inf):
        raise ValueError(f"{name} must be in [0, inf), got {eps}")
    return eps


def check_steps(value: object, name: str = "num_steps") -> int:
    """Number of composed steps: a whole number >= 0 (a float such as 100.0 is accepted if integral)."""
    steps = _as_float(name, value)
    if not (0.0 <= steps < math.inf) or steps != math.floor(steps):
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(steps)
