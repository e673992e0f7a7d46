"""PLD accountant against dp_accounting's PLDAccountant, the exact Gaussian-mechanism curve, and RDP."""

from __future__ import annotations

import math

import pytest
from scipy import optimize, special

from dpmi.privacy.accounting import PLDAccountant, RDPAccountant

dpa = pytest.importorskip("dp_accounting")
from dp_accounting import pld as dpa_pld  # noqa: E402

INTERVAL = 1e-4


def _dpa_epsilon(phases, delta: float, interval: float = INTERVAL) -> float:
    acc = dpa_pld.PLDAccountant(value_discretization_interval=interval)
    for sigma, q, n in phases:
        acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), n)
    return acc.get_epsilon(delta)


def _ours(phases, interval: float = INTERVAL) -> PLDAccountant:
    acc = PLDAccountant(value_discretization_interval=interval)
    for sigma, q, n in phases:
        acc.step(sigma, q, n)
    return acc


def _check_against_dp_accounting(ours: float, theirs: float, steps: int, interval: float) -> None:
    assert ours == pytest.approx(theirs, rel=5e-3)
    # Pessimistic on both sides: we may sit below dp_accounting only by what the grid itself can move the answer.
    assert ours >= theirs - steps * interval


# sigma in [0.4, 20], q in [1e-4, 1], steps in [1, 1e5], chosen so dp_accounting runs in about a second each.
GRID = [(0.5, 0.1, 100), (0.4, 1e-4, 1), (1.0, 0.01, 1000), (2.0, 0.5, 10), (0.8, 1.0, 5), (20.0, 0.3, 1),
        (1.5, 0.002, 100_000), (5.0, 0.05, 10_000)]


@pytest.mark.slow
@pytest.mark.parametrize("sigma,q,steps", GRID)
def test_epsilon_close_to_dp_accounting(sigma, q, steps):
    ours = _ours([(sigma, q, steps)]).get_epsilon(1e-5)
    _check_against_dp_accounting(ours, _dpa_epsilon([(sigma, q, steps)], 1e-5), steps, INTERVAL)


def test_heterogeneous_phases_close_to_dp_accounting():
    phases = [(1.0, 0.02, 300), (0.7, 0.05, 100)]
    ours = _ours(phases, 1e-3).get_epsilon(1e-6)
    _check_against_dp_accounting(ours, _dpa_epsilon(phases, 1e-6, 1e-3), 400, 1e-3)


def _gaussian_delta(epsilon: float, mu: float) -> float:
    """Exact delta(eps) of the Gaussian mechanism with sensitivity/std = mu (Balle & Wang 2018, Thm 8)."""
    return special.ndtr(-epsilon / mu + mu / 2) - math.exp(epsilon) * special.ndtr(-epsilon / mu - mu / 2)


@pytest.mark.parametrize("sigma,steps", [(1.0, 1), (0.8, 10), (3.0, 50)])
def test_full_batch_matches_exact_gaussian_curve(sigma, steps):
    # q = 1: k Gaussian steps with std sigma compose to one with mu = sqrt(k) / sigma, whose curve is known exactly.
    mu = math.sqrt(steps) / sigma
    acc = _ours([(sigma, 1.0, steps)])
    for delta in (1e-3, 1e-6, 1e-10):
        exact = optimize.brentq(lambda e: _gaussian_delta(e, mu) - delta, 0.0, 200.0, xtol=1e-14)
        ours = acc.get_epsilon(delta)
        assert exact <= ours <= exact + steps * INTERVAL  # a valid upper bound, as tight as the grid allows
    for eps in (0.5, 2.0):
        assert acc.get_delta(eps) >= _gaussian_delta(eps, mu) * (1 - 1e-9)


def test_pld_is_tighter_than_rdp_and_inverts():
    acc, rdp = _ours([(1.0, 0.05, 500)]), RDPAccountant()
    rdp.step(1.0, 0.05, 500)
    eps = acc.get_epsilon(1e-5)
    assert 0 < eps < rdp.get_epsilon(1e-5)
    assert acc.get_delta(eps) == pytest.approx(1e-5, rel=1e-6)
    assert acc.get_delta(eps * 1.01) < 1e-5 < acc.get_delta(eps * 0.99)


def test_finer_grid_is_tighter_but_never_below_the_exact_value():
    # q = 1 keeps an exact oracle: the coarse grid's epsilon is larger, the fine one's closer, both above exact.
    mu = math.sqrt(20) / 1.2
    exact = optimize.brentq(lambda e: _gaussian_delta(e, mu) - 1e-5, 0.0, 200.0, xtol=1e-14)
    coarse = _ours([(1.2, 1.0, 20)], 1e-2).get_epsilon(1e-5)
    fine = _ours([(1.2, 1.0, 20)], 1e-4).get_epsilon(1e-5)
    assert exact <= fine <= coarse


def test_bad_interval_raises():
    with pytest.raises(ValueError, match="value_discretization_interval"):
        PLDAccountant(value_discretization_interval=0.0)
