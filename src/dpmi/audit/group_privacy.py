"""Identity-level epsilon: what DP-SGD's record-level guarantee says about a person with k images in the data.

Removing a person removes k records. With Poisson sampling at rate q, at each step the j ~ Binomial(k, q) of
them that are sampled move the clipped sum by a vector of norm <= j C. Conditioned on at least one being
sampled (probability q_k = 1 - (1 - q)^k) the output is a mixture over j >= 1 of shifted Gaussians, so

    P = (1 - q_k) N(0, s^2) + q_k sum_{j>=1} v_j N(mu_j, s^2) = sum_j v_j [(1 - q_k) N(0, s^2) + q_k N(mu_j, s^2)],

with ||mu_j|| <= kC. The hockey-stick and Renyi divergences are jointly convex, so each step's divergence (both
directions, add and remove) is at most the largest term's, and (1 - q_k) N(0) + q_k N(j) vs N(0) is a
post-processing of the j = k pair (add N(0, s^2 (k^2/j^2 - 1)), scale by j/k), hence the largest term is j = k.
So a group of k is dominated, step by step, by ONE record of a Poisson-subsampled Gaussian with

    sample rate q_k = 1 - (1 - q)^k   and   noise multiplier sigma / k,

and the dominating pairs compose over the T steps (Zhu, Dong & Wang, AISTATS 2022, Thm. 10), so dpmi's own
accountants (RDP and PLD) give the identity-level epsilon directly.

Its epsilon grows like k^2 in the tail (the group's GDP mu is ~k times the record's), so for many steps and
small record-level epsilon the generic conversion of Dwork & Roth (2014, Thm. 2.2), linear in k,

    (eps, delta')-DP  =>  (k eps, k e^{(k-1) eps} delta')-DP for groups of k,

can be smaller: it is evaluated at the delta' that makes k e^{(k-1) eps(delta')} delta' <= delta (found by
bisection, with the RDP accountant, which is exact in its conversion at any delta'). Both are sound, so the
identity-level epsilon reported is the smaller of the two, and `IdentityEpsilon.method` says which.
(RDP group privacy, Mironov 2017 Prop. 2, (alpha / 2^c, 3^c eps) for 2^c records, is looser than both here.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpmi.privacy.accounting import compute_epsilon


def group_sample_rate(sample_rate: float, records: int) -> float:
    """q_k = 1 - (1 - q)^k: the probability that a step samples at least one of k records."""
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    if records < 1:
        raise ValueError(f"records must be >= 1, got {records}")
    return -math.expm1(records * math.log1p(-sample_rate)) if sample_rate < 1.0 else 1.0


def subsampled_group_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, records: int, accountant: str = "pld"
) -> float:
    """Epsilon at `delta` for a person with `records` (k >= 1) images in a DP-SGD training set trained for
    `steps` steps at Poisson rate `sample_rate` with noise multiplier `noise_multiplier` > 0 (see the module
    docstring for why the group is a subsampled Gaussian at rate q_k and noise sigma / k). k = 1 gives the
    record-level epsilon."""
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be > 0 for a finite epsilon, got {noise_multiplier}")
    return float(
        compute_epsilon(
            noise_multiplier / records, group_sample_rate(sample_rate, records), steps, delta, accountant=accountant
        )
    )


def dwork_roth_group_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, records: int
) -> float:
    """k eps(delta') with the largest delta' (bisection on log delta') meeting k e^{(k-1) eps(delta')} delta' <= delta
    (Dwork & Roth 2014, Thm. 2.2), eps by the RDP accountant; inf when no delta' >= 1e-300 meets it."""
    k = int(records)
    if k == 1:
        return float(compute_epsilon(noise_multiplier, sample_rate, steps, delta, accountant="rdp"))

    def feasible(log_delta: float) -> tuple[bool, float]:
        eps = float(compute_epsilon(noise_multiplier, sample_rate, steps, math.exp(log_delta), accountant="rdp"))
        return math.log(k) + (k - 1) * eps + log_delta <= math.log(delta), eps

    high, low = math.log(delta / k), math.log(1e-300)
    ok, eps = feasible(high)
    if ok:
        return k * eps
    ok, best = feasible(low)
    if not ok:
        return math.inf
    for _ in range(40):  # keep `low` feasible, `high` infeasible
        mid = 0.5 * (low + high)
        ok, eps = feasible(mid)
        if ok:
            low, best = mid, eps
        else:
            high = mid
    return k * best


@dataclass(frozen=True)
class IdentityEpsilon:
    """Identity-level epsilon at `delta` for `records` images per person: the smaller of the two sound bounds.

    Attributes: epsilon; method ("subsampled-group" or "dwork-roth"); subsampled_group, dwork_roth: each bound.
    """

    epsilon: float
    method: str
    subsampled_group: float
    dwork_roth: float
    records: int
    delta: float


def identity_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, records: int, accountant: str = "pld"
) -> IdentityEpsilon:
    """The identity-level epsilon of a person with `records` images (see the module docstring)."""
    group = subsampled_group_epsilon(noise_multiplier, sample_rate, steps, delta, records, accountant)
    generic = dwork_roth_group_epsilon(noise_multiplier, sample_rate, steps, delta, records)
    method = "subsampled-group" if group <= generic else "dwork-roth"
    return IdentityEpsilon(min(group, generic), method, group, generic, int(records), float(delta))
