"""The f-DP analysis of a one-run audit's guesses (Mahloujifar, Melis & Chaudhuri, ICML 2025, "Auditing
f-differential privacy in one run"), beside Steinke, Nasr & Jagielski's (eps, delta) analysis (`bounds`).

The game is the one of `one_run_audit`: m canaries, each included independently with probability 1/2, r guesses
fixed before the run, v of them right. Instead of (eps, delta), the null hypothesis is a whole trade-off curve f
(the mechanism is f-DP for each canary, in both directions), through its "blow-up" B(x) = 1 - f(x): an event of
probability x under one value of a canary's bit has probability <= B(x) under the other.

**The bound.** With C the number of right guesses, let r_i = E[C 1{C >= i}] / m and h_i = E[(r - C) 1{C >= i}] / m
(right and wrong guesses per canary, on the runs with at least i right). Flipping one canary's bit turns a right
guess into a wrong one and C >= i + 1 into C >= i, so f-DP and the concavity of B give r_(i+1) <= B(h_i), i.e.
h_i >= B^-1(r_(i+1)); and h_i >= h_(i+1), r_i - r_(i+1) = i / (r - i) (h_i - h_(i+1)) by definition. If
P[C >= v] >= tau, starting from r_v = tau v / m, h_v = tau (r - v) / m and taking the smallest h_i allowed at each
step down to i = 0 gives the least r_0 + h_0 any f-DP mechanism needs; but r_0 + h_0 = r / m exactly (every run
makes r guesses). So when that least value exceeds r / m, P[C >= v] < tau under f: v right guesses reject f at
level tau. (Their Thm. 3 and Alg. 2 with k = 2 outcomes per canary; the same recursion as the authors' reference
code in Meta's PrivacyGuard, `FDPAnalysisNode`.)

**Families.** `gdp`: f = G_mu, B^-1(x) = Phi(Phi^-1(x) - mu); mu_lb is the largest mu rejected, and eps_lb the
epsilon of mu_lb-GDP at delta. That epsilon is a lower bound for a mechanism whose trade-off curve is Gaussian
(as DP-SGD's nearly is, by the CLT of Bu, Dong, Long & Su 2020): strictly, the run refutes "mu-GDP" for every
mu < mu_lb, not "(eps, delta)-DP". `approx` : f = f_(eps, delta), B(x) = min(1, e^eps x + delta,
1 - e^-eps (1 - delta - x)); eps_lb is then an (eps, delta)-DP lower bound in the very sense of Steinke et al.'s,
so the two can be compared like for like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

FAMILIES = ("gdp", "approx")
_MU_MAX = 40.0
_EPS_MAX = 60.0


def _check_counts(m: int, r: int, v: int, alpha: float) -> None:
    if not (0 <= v <= r <= m and m >= 1):
        raise ValueError(f"need 0 <= v <= r <= m and m >= 1, got v={v}, r={r}, m={m}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def rejects(
    m: int, r: int, v: int, inverse_blow_up: Callable[[np.ndarray], np.ndarray], alpha: float = 0.05
) -> np.ndarray:
    """True where v right of r guesses (m canaries) reject the trade-off curve(s) at level alpha.

    inverse_blow_up maps x [n] to B^-1(x) [n] for n candidate curves at once (vectorised over the curves)."""
    _check_counts(m, r, v, alpha)
    if v == 0:
        return np.zeros(np.shape(inverse_blow_up(np.zeros(1))), dtype=bool)
    right = np.full(np.shape(inverse_blow_up(np.zeros(1))), alpha * v / m, dtype=np.float64)
    wrong = np.full_like(right, alpha * (r - v) / m)
    for i in range(v - 1, -1, -1):
        needed = np.maximum(wrong, inverse_blow_up(right))
        right = right + (i / (r - i)) * (needed - wrong)
        wrong = needed
    return right + wrong > r / m * (1.0 + 1e-12)


def gdp_inverse_blow_up(mu: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """B^-1 of mu-GDP (vectorised over mu): x -> Phi(Phi^-1(x) - mu)."""
    mu = np.asarray(mu, dtype=np.float64)

    def inverse(x: np.ndarray) -> np.ndarray:
        return special.ndtr(special.ndtri(np.clip(x, 0.0, 1.0)) - mu)

    return inverse


def approx_inverse_blow_up(epsilon: np.ndarray, delta: float) -> Callable[[np.ndarray], np.ndarray]:
    """B^-1 of (eps, delta)-DP (vectorised over eps): max(0, (x - delta) e^-eps, 1 - delta - e^eps (1 - x))."""
    eps = np.asarray(epsilon, dtype=np.float64)

    def inverse(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        return np.maximum(0.0, np.maximum((x - delta) * np.exp(-eps), 1.0 - delta - np.exp(eps) * (1.0 - x)))

    return inverse


def _largest_rejected(reject_at: Callable[[np.ndarray], np.ndarray], high: float, tolerance: float) -> float:
    """sup of the parameters rejected in [0, high] (rejection is monotone: the smaller the parameter, the
    stronger the claim), by a grid then bisection on vectors of candidates."""
    low_value, high_value = 0.0, high
    if not bool(reject_at(np.array([tolerance]))[0]):
        return 0.0
    if bool(reject_at(np.array([high]))[0]):
        return math.inf
    while high_value - low_value > tolerance:
        grid = np.linspace(low_value, high_value, 34)[1:-1]
        hit = reject_at(grid)
        below = grid[hit]
        above = grid[~hit]
        low_value = float(below.max()) if below.size else low_value
        high_value = float(above.min()) if above.size else high_value
    return low_value


def gdp_epsilon(mu: float, delta: float) -> float:
    """Epsilon of mu-GDP at delta: the root of Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2) = delta."""
    if mu <= 0:
        return 0.0
    if not math.isfinite(mu):
        return math.inf

    def excess(eps: float) -> float:
        return float(special.ndtr(-eps / mu + mu / 2) - math.exp(eps) * special.ndtr(-eps / mu - mu / 2)) - delta

    if excess(0.0) <= 0:
        return 0.0
    high = 1.0
    while excess(high) > 0:
        high *= 2.0
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-10))


@lru_cache(maxsize=4096)
def gdp_mu_lower_bound(m: int, r: int, v: int, alpha: float = 0.05, tolerance: float = 1e-4) -> float:
    """The largest mu whose mu-GDP v right of r guesses reject at level alpha (0 when none)."""
    _check_counts(m, r, v, alpha)
    return _largest_rejected(lambda mu: rejects(m, r, v, gdp_inverse_blow_up(mu), alpha), _MU_MAX, tolerance)


@lru_cache(maxsize=4096)
def approx_epsilon_lower_bound(
    m: int, r: int, v: int, delta: float, alpha: float = 0.05, tolerance: float = 1e-4
) -> float:
    """The largest eps whose (eps, delta)-DP curve v right of r guesses reject at level alpha (0 when none)."""
    _check_counts(m, r, v, alpha)
    return _largest_rejected(
        lambda eps: rejects(m, r, v, approx_inverse_blow_up(eps, delta), alpha), _EPS_MAX, tolerance
    )


@dataclass(frozen=True)
class FdpBound:
    """The f-DP analysis of one run's guesses.

    Attributes:
        mu_lower_bound: largest mu-GDP refuted at `confidence`; epsilon_lower_bound: eps of mu_lb-GDP at delta.
        approx_epsilon_lower_bound: largest eps of (eps, delta)-DP refuted (the f-DP analysis with the (eps,
            delta) curve: a like-for-like companion of Steinke et al.'s bound).
        canaries, guesses, correct, delta, confidence.
    """

    mu_lower_bound: float
    epsilon_lower_bound: float
    approx_epsilon_lower_bound: float
    canaries: int
    guesses: int
    correct: int
    delta: float
    confidence: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "mu_lower_bound": self.mu_lower_bound,
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "approx_epsilon_lower_bound": self.approx_epsilon_lower_bound,
            "confidence": self.confidence,
        }


def fdp_one_run_bound(m: int, r: int, v: int, delta: float, confidence: float = 0.95) -> FdpBound:
    """Both f-DP analyses (GDP and (eps, delta) curves) of v right of r guesses over m canaries."""
    alpha = 1.0 - confidence
    _check_counts(m, r, v, alpha)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    mu = gdp_mu_lower_bound(int(m), int(r), int(v), float(alpha))
    return FdpBound(
        float(mu),
        gdp_epsilon(mu, delta),
        float(approx_epsilon_lower_bound(int(m), int(r), int(v), float(delta), float(alpha))),
        int(m),
        int(r),
        int(v),
        float(delta),
        float(confidence),
    )
