"""Properties over the whole supported range: finite, non-negative, monotone (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpmi.privacy.accounting import PLDAccountant, compute_epsilon

sigmas = st.floats(0.3, 100.0)
rates = st.floats(1e-6, 1.0)
steps = st.integers(1, 1_000_000)
deltas = st.floats(1e-12, 0.1)
growth = st.floats(1.01, 3.0)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Epsilons are minima over orders of exactly monotone RDP curves; allow only floating-point noise.
TOL = 1e-9


def _eps(sigma: float, q: float, n: int, delta: float) -> float:
    return compute_epsilon(sigma, q, n, delta, "rdp")


@PROPERTY
@given(sigmas, rates, steps, deltas)
def test_rdp_epsilon_is_finite_and_non_negative(sigma, q, n, delta):
    eps = _eps(sigma, q, n, delta)
    assert math.isfinite(eps) and eps >= 0


@PROPERTY
@given(sigmas, growth, rates, steps, deltas)
def test_rdp_epsilon_falls_as_sigma_grows(sigma, factor, q, n, delta):
    assert _eps(min(100.0, sigma * factor), q, n, delta) <= _eps(sigma, q, n, delta) * (1 + TOL) + TOL


@PROPERTY
@given(sigmas, rates, growth, steps, deltas)
def test_rdp_epsilon_rises_with_sample_rate(sigma, q, factor, n, delta):
    assert _eps(sigma, min(1.0, q * factor), n, delta) >= _eps(sigma, q, n, delta) * (1 - TOL) - TOL


@PROPERTY
@given(sigmas, rates, steps, growth, deltas)
def test_rdp_epsilon_rises_with_steps(sigma, q, n, factor, delta):
    assert _eps(sigma, q, min(1_000_000, math.ceil(n * factor)), delta) >= _eps(sigma, q, n, delta) * (1 - TOL) - TOL


@PROPERTY
@given(sigmas, rates, steps, deltas, growth)
def test_rdp_epsilon_falls_as_delta_grows(sigma, q, n, delta, factor):
    assert _eps(sigma, q, n, min(0.1, delta * factor)) <= _eps(sigma, q, n, delta) * (1 + TOL) + TOL


INTERVAL = 1e-3


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.5, 20.0), st.floats(1e-3, 1.0), st.integers(1, 1000), st.floats(1e-10, 0.1), growth)
def test_pld_is_finite_below_rdp_and_monotone_in_sigma(sigma, q, n, delta, factor):
    def pld_eps(s: float) -> float:
        acc = PLDAccountant(value_discretization_interval=INTERVAL)
        acc.step(s, q, n)
        return acc.get_epsilon(delta)

    eps = pld_eps(sigma)
    assert math.isfinite(eps) and eps >= 0
    # PLD is within its discretisation of the exact curve, which RDP only bounds from above.
    assert eps <= _eps(sigma, q, n, delta) + n * INTERVAL
    assert pld_eps(sigma * factor) <= eps + n * INTERVAL
