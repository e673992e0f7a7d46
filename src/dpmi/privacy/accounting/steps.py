"""How many DP-SGD steps a number of epochs is: the one rule `make_private`, the study and `dpmi epsilon/sigma`
share, so the steps trained are the steps accounted."""

from __future__ import annotations

import math

from .validation import check_sample_rate

# epochs / q that is within this relative distance of an integer is that integer: 17 / (85 / 280) evaluates to
# 56.00000000000001 in floating point and must not become 57 steps.
_INTEGER_RTOL = 1e-9


def dpsgd_steps(epochs: float, sample_rate: float) -> int:
    """ceil(epochs / q), at least 1: the DP-SGD steps for `epochs` passes (in (0, inf)) over the data at Poisson
    rate q = `sample_rate` in (0, 1]. Rounding up means the accounted epsilon is never for fewer steps than the
    epochs asked for."""
    q = check_sample_rate(sample_rate)
    try:
        passes = float(epochs)
    except (TypeError, ValueError):
        raise ValueError(f"epochs must be a real number in (0, inf), got {epochs!r}") from None
    if not (0.0 < passes < math.inf):
        raise ValueError(f"epochs must be in (0, inf) (passes over the data), got {epochs!r}")
    exact = passes / q
    nearest = round(exact)
    if abs(exact - nearest) <= _INTEGER_RTOL * max(1.0, exact):
        return max(1, int(nearest))
    return max(1, math.ceil(exact))
