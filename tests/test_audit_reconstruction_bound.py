"""The reconstruction-robustness bound 1 - f(kappa) from dpmi's PLD: the Gaussian mechanism's closed form, the
subsampled Gaussian against dp_accounting's PLD (an oracle, never imported by dpmi), and its properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dpmi.privacy.accounting.pld_accountant import PLDAccountant
from dpmi.privacy.accounting.reconstruction_bound import (
    check_kappa,
    dpsgd_plds,
    dpsgd_reconstruction_bound,
    gaussian_reconstruction_bound,
    reconstruction_bound,
    trade_off,
)


@pytest.mark.parametrize("mu", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("kappa", [0.01, 0.05, 0.5, 0.9])
def test_gaussian_mechanism_matches_the_closed_form_from_above(mu, kappa):
    steps = 3  # T Gaussian steps of noise sigma compose to mu = sqrt(T) / sigma GDP
    acc = PLDAccountant(value_discretization_interval=1e-4)
    acc.step(math.sqrt(steps) / mu, 1.0, steps)
    bound = reconstruction_bound(acc.composed_pld(), kappa)
    exact = stats.norm.cdf(stats.norm.ppf(kappa) + mu)
    assert gaussian_reconstruction_bound(mu, kappa) == pytest.approx(exact, abs=1e-12)
    assert exact - 1e-9 <= bound.bound <= exact + 1e-4  # pessimistic, and tight on a fine grid
    assert set(bound.by_direction) == {"with", "without"}


def _oracle_trade_off(pmf, alpha):
    """T(Q, P)(alpha) of a dp_accounting PLD PMF by duality: sup_eps 1 - delta(eps) - e^eps alpha."""
    eps = np.linspace(-30.0, 30.0, 24001)
    deltas = np.asarray(pmf.get_delta_for_epsilon(eps))
    return float(np.clip(np.max(1.0 - deltas - np.exp(eps) * alpha), 0.0, 1.0))


@pytest.mark.parametrize("sigma, q, steps", [(2.0, 0.3, 20), (1.0, 0.05, 100), (4.0, 0.5, 10)])
@pytest.mark.parametrize("kappa", [0.05, 0.25])
def test_subsampled_gaussian_agrees_with_dp_accounting(sigma, q, steps, kappa):
    from dp_accounting.pld import privacy_loss_distribution as oracle

    pld = oracle.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=1e-4, pessimistic_estimate=True, use_connect_dots=True
    ).self_compose(steps)
    expected = 1.0 - min(_oracle_trade_off(pld._pmf_remove, kappa), _oracle_trade_off(pld._pmf_add, kappa))
    got = dpsgd_reconstruction_bound(sigma, q, steps, kappa)
    assert got.bound == pytest.approx(expected, abs=2e-3), (got, expected)
    assert got.bound >= kappa


def test_trade_off_curve_is_a_trade_off_function():
    plds, _ = dpsgd_plds(2.0, 0.3, 30)
    alphas = np.linspace(0.0, 1.0, 201)
    for pld in plds.values():
        for order in ("QP", "PQ"):
            f = trade_off(pld, alphas, order)
            assert np.all(np.diff(f) <= 1e-12) and np.all(f <= 1.0 - alphas + 1e-9) and np.all(f >= 0)
            second = np.diff(f, 2)
            assert np.all(second >= -1e-9)  # convex


@settings(max_examples=12, deadline=None)
@given(
    sigma=st.floats(0.7, 6.0),
    q=st.floats(0.02, 1.0),
    steps=st.integers(1, 40),
    kappas=st.lists(st.floats(1e-4, 0.999), min_size=2, max_size=4),
)
def test_bound_is_monotone_and_within_kappa_and_one(sigma, q, steps, kappas):
    plds, _ = dpsgd_plds(sigma, q, steps, interval=1e-3)
    weaker, _ = dpsgd_plds(sigma * 0.8, q, steps, interval=1e-3)  # less noise: larger epsilon
    values = [reconstruction_bound(plds, k).bound for k in sorted(kappas)]
    assert all(b >= k - 1e-12 and b <= 1.0 for b, k in zip(values, sorted(kappas)))
    assert all(a <= b + 1e-9 for a, b in zip(values, values[1:]))
    for k in kappas:
        assert reconstruction_bound(weaker, k).bound >= reconstruction_bound(plds, k).bound - 2e-3


def test_identity_level_is_weaker_and_vacuous_at_the_study_recipe():
    """The study's softmax recipe at sigma 2 (q = 2/7, T = 105): kappa = 1/20 (which of 20 people). Measured:
    record 44.7 %, a person with 7 images 100 % (vacuous)."""
    record = dpsgd_reconstruction_bound(2.0, 40 / 140, 105, 1 / 20)
    person = dpsgd_reconstruction_bound(2.0, 40 / 140, 105, 1 / 20, records=7, interval=1e-3)
    assert 0.3 < record.bound < 0.6 and not record.vacuous
    assert person.bound >= record.bound and person.vacuous


@pytest.mark.parametrize("kappa", [0.0, 1.0, -0.1, 2.0, float("nan"), "x", None])
def test_kappa_outside_the_open_interval_is_refused(kappa):
    with pytest.raises(ValueError, match="kappa"):
        check_kappa(kappa)
    with pytest.raises(ValueError, match="kappa"):
        dpsgd_reconstruction_bound(2.0, 0.3, 10, kappa)
