"""Identity-level epsilon: the subsampled-group bound against the analytic Gaussian mechanism when nothing is
subsampled, and the group bound's basic properties."""

from __future__ import annotations

import math

import pytest
from scipy import optimize, stats

from dpmi.audit.group_privacy import (
    dwork_roth_group_epsilon,
    group_sample_rate,
    identity_epsilon,
    subsampled_group_epsilon,
)
from dpmi.privacy.accounting import compute_epsilon


def gaussian_epsilon(mu: float, delta: float) -> float:
    """Exact epsilon of mu-GDP at delta (Balle & Wang 2018, Thm. 8; Dong, Roth & Su 2019, Cor. 2.13)."""
    def excess(eps):
        return stats.norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2) - delta
    return optimize.brentq(excess, 0.0, 500.0)


def test_group_sample_rate_closed_form():
    assert group_sample_rate(0.25, 1) == pytest.approx(0.25)
    assert group_sample_rate(0.25, 3) == pytest.approx(1 - 0.75**3)
    assert group_sample_rate(1.0, 5) == 1.0


def test_without_subsampling_a_group_of_k_is_a_gaussian_with_k_times_the_sensitivity():
    # q = 1: T steps of the Gaussian mechanism with noise sigma; a group of k shifts each by k -> mu = k sqrt(T)/sigma
    sigma, steps, k, delta = 20.0, 16, 3, 1e-5
    expected = gaussian_epsilon(k * math.sqrt(steps) / sigma, delta)
    assert subsampled_group_epsilon(sigma, 1.0, steps, delta, k, accountant="pld") == pytest.approx(expected, rel=2e-2)


def test_one_record_is_the_record_level_epsilon_and_groups_cost_more():
    sigma, q, steps, delta = 3.27, 2 / 7, 105, 1e-5
    record = compute_epsilon(sigma, q, steps, delta, accountant="pld")
    assert subsampled_group_epsilon(sigma, q, steps, delta, 1) == pytest.approx(record)
    values = [identity_epsilon(sigma, q, steps, delta, k).epsilon for k in (1, 2, 4)]
    assert values[0] == pytest.approx(record) and values[0] < values[1] < values[2]


def test_identity_epsilon_is_the_smaller_sound_bound():
    result = identity_epsilon(8.52, 2 / 7, 105, 1e-5, 7)
    assert result.epsilon == min(result.subsampled_group, result.dwork_roth)
    # Dwork & Roth Thm. 2.2 at the delta' it chose: k e^{(k-1) eps(delta')} delta' <= delta, eps = dwork_roth / k
    assert result.method == "dwork-roth"
    eps_record = result.dwork_roth / 7
    # the delta' that eps_record holds at is at most delta / (7 e^{6 eps_record}) (RDP epsilon decreases in delta')
    delta_prime = 1e-5 / (7 * math.exp(6 * eps_record))
    assert compute_epsilon(8.52, 2 / 7, 105, delta_prime, accountant="rdp") <= eps_record * (1 + 1e-6)


def test_dwork_roth_is_infinite_when_no_delta_prime_works():
    assert dwork_roth_group_epsilon(0.5, 2 / 7, 105, 1e-5, 7) == math.inf
