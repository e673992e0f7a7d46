"""Shared by the soundness-by-simulation tests of the one-run bounds."""

from __future__ import annotations

from scipy import stats


def allowed_exceedance(runs: int) -> float:
    """The 99.9 % quantile of Binomial(runs, 0.05) / runs: a valid 95 % bound exceeds the truth in more than
    this share of `runs` simulated runs with probability < 0.1 %."""
    return float(stats.binom.ppf(0.999, runs, 0.05)) / runs
