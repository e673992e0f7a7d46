"""Epsilon lower bounds: Clopper-Pearson against scipy's exact interval, the Jagielski et al. formula in closed
form, and the one-run p-value bound (Steinke et al. 2023) checked for soundness by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dpmi.audit.bounds import (
    clopper_pearson,
    counts_at,
    epsilon_from_counts,
    epsilon_from_rates,
    one_run_epsilon,
    one_run_p_value,
    split_threshold_bound,
)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
@settings(max_examples=60, deadline=None)
def test_clopper_pearson_matches_scipy_exact_interval(kn):
    k, n = kn
    low, high = clopper_pearson(k, n, 0.95)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert low == pytest.approx(ci.low, abs=1e-9)
    assert high == pytest.approx(ci.high, abs=1e-9)


def test_clopper_pearson_zero_successes_has_closed_form_upper_end():
    # P[Bin(n, p) = 0] = (1 - p)^n = 0.025  =>  p = 1 - 0.025^(1/n)
    assert clopper_pearson(0, 30)[1] == pytest.approx(1 - 0.025 ** (1 / 30), rel=1e-9)


def test_epsilon_from_rates_closed_form():
    assert epsilon_from_rates(0.01, 0.5, 0.0) == pytest.approx(math.log(0.5 / 0.01))
    assert epsilon_from_rates(0.5, 0.01, 1e-5) == pytest.approx(math.log((0.5 - 1e-5) / 0.01))
    assert epsilon_from_rates(0.6, 0.6, 0.0) == 0.0  # no better than chance: no bound


def test_counts_and_bound_from_counts():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    members = np.array([1, 1, 0, 1, 0, 0], bool)
    c = counts_at(scores, members, 0.7)
    assert (c.true_positives, c.false_positives, c.true_negatives, c.false_negatives) == (2, 1, 2, 1)
    fpr_hi = clopper_pearson(1, 3)[1]
    fnr_hi = clopper_pearson(1, 3)[1]
    assert epsilon_from_counts(c, 1e-5) == pytest.approx(epsilon_from_rates(fpr_hi, fnr_hi, 1e-5))


def test_split_bound_scores_only_the_held_out_half():
    # Perfectly separated on every candidate: the bound is positive, and its counts cover half the candidates.
    rng = np.random.default_rng(0)
    members = rng.random(400) < 0.5
    scores = members + 0.01 * rng.random(400)
    bound = split_threshold_bound(scores, members, 1e-5, seed=1)
    assert bound.counts.positives + bound.counts.negatives == 200
    # the threshold is the selection half's; a scored member just below it is a false negative
    assert bound.counts.false_positives == 0 and bound.counts.false_negatives <= 2
    assert bound.epsilon > 3.0
    # Scores unrelated to membership: whatever threshold the selection half liked, the scored half gives ~0.
    noise = rng.random(400)
    assert split_threshold_bound(noise, members, 1e-5, seed=1).epsilon < 0.5


def test_one_run_p_value_without_delta_is_the_binomial_tail():
    p = one_run_p_value(1000, 100, 80, 1.0, 0.0)
    q = 1 / (1 + math.exp(-1.0))
    assert p == pytest.approx(stats.binom.sf(79, 100, q), rel=1e-9)


def test_one_run_p_value_delta_term_by_hand():
    m, r, v, eps, delta = 50, 10, 9, 0.5, 1e-3
    q = 1 / (1 + math.exp(-eps))
    pmf = [stats.binom.pmf(j, r, q) for j in range(r + 1)]
    alpha = max(sum(pmf[v - i : v]) / i for i in range(1, v + 1))
    assert one_run_p_value(m, r, v, eps, delta) == pytest.approx(stats.binom.sf(v - 1, r, q) + 2 * m * delta * alpha)


def test_one_run_epsilon_is_sound_for_randomised_response():
    """eps0-DP randomised response guesses each canary right w.p. e^eps0 / (1 + e^eps0): the 95 % bound may
    exceed eps0 in at most ~5 % of runs (here: 300 simulated runs)."""
    rng = np.random.default_rng(0)
    eps0, m = 2.0, 400
    p_right = math.exp(eps0) / (1 + math.exp(eps0))
    above = sum(one_run_epsilon(m, m, int(rng.binomial(m, p_right)), 0.0, 0.05, 1e-3) > eps0 for _ in range(300))
    assert above <= 0.05 * 300 + 3 * math.sqrt(0.05 * 0.95 * 300)
    # ... and it is not vacuous: a typical run gets within a factor ~2 of eps0
    assert one_run_epsilon(m, m, int(m * p_right), 0.0) > 0.5 * eps0


def test_one_run_epsilon_grows_with_correct_guesses_and_caps_with_few_guesses():
    values = [one_run_epsilon(1000, 100, v, 1e-5) for v in (50, 70, 90, 100)]
    assert values[0] == 0.0 and values == sorted(values)
    # r guesses all right: eps_lb ~ ln(r / ln(20)) at most; here r = 100 -> ~3.5
    assert 3.0 < values[-1] < 4.0
