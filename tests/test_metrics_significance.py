"""The stated test behind "above chance" / "near chance" and the interval of a rate, against closed forms:
the one-sided binomial tail summed by hand and the Clopper-Pearson bounds as beta quantiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta

from dpmi.metrics import (
    above_chance,
    above_chance_pvalue,
    chance_verdict,
    rate_interval,
)


def upper_tail(hits: int, n: int, p: float) -> float:
    """P(X >= hits), X ~ Binomial(n, p), summed term by term."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(hits, n + 1))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 80), st.data(), st.floats(0.01, 0.6))
def test_p_value_is_the_binomial_upper_tail(n, data, chance):
    hits = data.draw(st.integers(0, n))
    assert above_chance_pvalue(hits, n, chance) == pytest.approx(upper_tail(hits, n, chance), rel=1e-9, abs=1e-12)


def test_readme_case_three_of_forty_is_near_chance():
    # 3 of 40 at chance 1/40: P(X >= 3) = 1 - P(0) - P(1) - P(2) = 0.0785 > 0.05.
    expected = 1 - sum(math.comb(40, k) * 0.025**k * 0.975 ** (40 - k) for k in range(3))
    assert above_chance_pvalue(3, 40, 1 / 40) == pytest.approx(expected, rel=1e-12)
    assert not above_chance(3, 40, 1 / 40)
    assert above_chance(4, 40, 1 / 40)  # P(X >= 4) = 0.0148
    verdict = chance_verdict(3, 40, 1 / 40)
    assert verdict.words == "near chance" and verdict.rate == 0.075
    assert "3/40" in verdict.describe() and "near chance" in verdict.describe()
    assert chance_verdict(16, 20, 1 / 20).words == "above chance"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.data())
def test_clopper_pearson_bounds_are_beta_quantiles(n, data):
    hits = data.draw(st.integers(0, n))
    low, high = rate_interval(hits, n, confidence=0.95)
    expected_low = 0.0 if hits == 0 else beta.ppf(0.025, hits, n - hits + 1)
    expected_high = 1.0 if hits == n else beta.ppf(0.975, hits + 1, n - hits)
    assert low == pytest.approx(expected_low, abs=1e-9)
    assert high == pytest.approx(expected_high, abs=1e-9)
    assert low <= hits / n <= high


@pytest.mark.parametrize("args", [(3, 2, 0.1), (-1, 5, 0.1), (1, 0, 0.1), (1, 5, 0.0), (1, 5, 1.0), (1.5, 5, 0.1)])
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        above_chance(*args)
