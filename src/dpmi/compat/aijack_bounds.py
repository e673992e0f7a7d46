"""AIJack's moments-accountant maths, reimplemented so `dpmi.compat.GeneralMomentAccountant` gives its numbers.
It serves the compat layer only; the conversion and the Gaussian RDP it builds on live in `dpmi.privacy.accounting`.

AIJack (Koukyosyumei/AIJack, `GeneralMomentAccountant`) searches a continuous Renyi order for the smallest
epsilon = RDP(order) + log((order-1)/order) - (log order + log delta)/(order-1) (Balle et al. 2020 Thm 21, the same
per-order formula as `rdp_conversion.thm21_epsilon`, which is used here) with a ternary search, instead of
minimising over a fixed grid. Unlike `rdp_conversion.epsilon_from_rdp` it applies neither the KL rule nor a clamp at
0, as AIJack does not. Orders <= 1, which AIJack's own tests put at one end of the search range (`order_max=0`), have
no Thm 21 bound: they count as epsilon (and delta) +inf, so the search moves away from them. Its two RDP bounds for a Poisson-subsampled mechanism:

* "rdp_upperbound_closedformula": the sampled Gaussian's RDP of Mironov, Talwar, Zhang 2019 (integer orders by the
  binomial sum, fractional ones by the Sec. 3.3 series) -- the same maths as `rdp_sampled_gaussian.compute_rdp`.
* "rdp_tight_upperbound": Zhu & Wang 2019 ("Poisson subsampled Renyi DP", ICML), Theorems 6 and 8: for integer
  alpha >= 2, exp((alpha-1) eps(alpha)) <= (1-q)^(alpha-1) (alpha q - q + 1)
  + sum_{l=2}^{alpha} C(alpha,l) q^l (1-q)^(alpha-l) exp((l-1) eps_M(l)), eps_M the base mechanism's RDP.
  It only holds at integer orders; at a fractional order we evaluate it at ceil(order), which is valid because RDP is
  non-decreasing in the order (AIJack truncates to floor, which is not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from dpmi.privacy.accounting.rdp_conversion import thm21_epsilon, thm21_log_delta
from dpmi.privacy.accounting.rdp_sampled_gaussian import compute_rdp, gaussian_rdp

BOUND_TYPES = ("rdp_upperbound_closedformula", "rdp_tight_upperbound")
NOISE_TYPES = ("Gaussian", "Laplace")
SEARCH_METHODS = ("ternary", "ternary_int", "greedy")


def laplace_rdp(alpha: float, b: float) -> float:
    """RDP of the Laplace mechanism with sensitivity 1 and scale b (Mironov 2017, Table II)."""
    if alpha == 1.0:
        return 1.0 / b + math.exp(-1.0 / b) - 1.0
    if math.isinf(alpha):
        return 1.0 / b
    terms = [math.log(alpha / (2 * alpha - 1)) + (alpha - 1) / b, math.log((alpha - 1) / (2 * alpha - 1)) - alpha / b]
    return float(special.logsumexp(terms)) / (alpha - 1)


def base_mechanism_rdp(noise_type: str, noise_params: Mapping[str, float]) -> Callable[[float], float]:
    """eps_M(alpha) of the un-subsampled mechanism: Gaussian needs noise_params['sigma'], Laplace needs ['b']."""
    if noise_type == "Gaussian":
        sigma = float(noise_params["sigma"])
        return lambda alpha: float(gaussian_rdp(alpha, sigma))
    if noise_type == "Laplace":
        b = float(noise_params["b"])
        return lambda alpha: laplace_rdp(alpha, b)
    raise ValueError(f"noise_type must be one of {NOISE_TYPES}, got {noise_type!r}")


def zhu_wang_poisson_rdp(alpha: int, base_rdp: Callable[[float], float], q: float) -> float:
    """Zhu & Wang 2019 Thms 6/8 upper bound on the RDP at integer order alpha >= 2 of Poisson(q)-subsampling M."""
    ls = np.arange(2, alpha + 1, dtype=np.float64)
    log_1mq = math.log1p(-q)
    first = (alpha - 1) * log_1mq + math.log(alpha * q - q + 1)
    log_binom = special.gammaln(alpha + 1) - special.gammaln(ls + 1) - special.gammaln(alpha - ls + 1)
    rest = (
        log_binom + ls * math.log(q) + (alpha - ls) * log_1mq + (ls - 1) * np.array([base_rdp(order) for order in ls])
    )
    return float(special.logsumexp(np.concatenate([[first], rest]))) / (alpha - 1)


def subsampled_rdp(
    order: float, noise_type: str, noise_params: Mapping[str, float], q: float, bound_type: str
) -> float:
    """One step's RDP at `order` > 1 under AIJack's `bound_type` for Poisson rate q in [0, 1]."""
    if q == 0.0:
        return 0.0
    base = base_mechanism_rdp(noise_type, noise_params)
    if q == 1.0:
        return base(order)
    if bound_type == "rdp_upperbound_closedformula":
        if noise_type != "Gaussian":
            raise ValueError(
                "bound_type='rdp_upperbound_closedformula' is for noise_type='Gaussian' only; "
                "use bound_type='rdp_tight_upperbound' for Laplace noise"
            )
        return float(compute_rdp(float(noise_params["sigma"]), q, [order])[0])
    if bound_type == "rdp_tight_upperbound":
        return zhu_wang_poisson_rdp(max(2, math.ceil(order)), base, q)
    raise ValueError(f"bound_type must be one of {BOUND_TYPES}, got {bound_type!r}")


def ternary_search(
    f: Callable[[float], float], left: float, right: float, precision: float, max_iterations: int
) -> float:
    """Minimiser of a unimodal f on the interval between left and right (either may be the larger), to `precision`."""
    for _ in range(max_iterations):
        if abs(right - left) < precision:
            break
        left_third = left + (right - left) / 3
        right_third = right - (right - left) / 3
        if f(left_third) < f(right_third):
            right = right_third
        else:
            left = left_third
    return (left + right) / 2


def ternary_search_int(f: Callable[[float], float], left: int, right: int, max_iterations: int) -> int:
    """Integer minimiser of a unimodal f on the integers between left and right (either may be the larger): bisection
    on the sign of f(m+1) - f(m), then the best of the (at most three) integers left.

    (AIJack's version keeps the half where f ascends, so it converges on the order with the LARGEST epsilon.)
    """
    lo, hi = min(left, right), max(left, right)
    for _ in range(max_iterations):
        if hi - lo <= 2:
            break
        mid = (lo + hi) // 2
        if f(mid + 1) < f(mid):  # still descending at mid: a unimodal f has its minimum to the right
            lo = mid + 1
        else:
            hi = mid
    candidates = range(lo, hi + 1) if hi - lo <= 2 else (lo, (lo + hi) // 2, hi)  # max_iterations ran out
    best, best_value = lo, math.inf
    for m in candidates:
        value = f(m)
        if value < best_value:  # NaN never wins
            best, best_value = m, value
    return best


def greedy_search(f: Callable[[float], float], candidates: Sequence[float]) -> float:
    """The candidate with the smallest f (first one on ties)."""
    values = [f(c) for c in candidates]
    return float(candidates[int(np.nanargmin(values))])


@dataclass(frozen=True)
class OrderSearch:
    """How AIJack picks the Renyi order: `method` over [order_min, order_max] (swapped bounds are accepted).

    greedy: the explicit `orders` if given, else every integer order in the range (orders <= 1 are skipped: the
    conversion divides by order - 1).
    """

    method: str = "ternary"
    order_min: float = 2.0
    order_max: float = 64.0
    orders: tuple[float, ...] = field(default_factory=tuple)
    precision: float = 0.5
    max_iterations: int = 10000

    def __post_init__(self) -> None:
        if self.method not in SEARCH_METHODS:
            raise ValueError(f"search must be one of {SEARCH_METHODS}, got {self.method!r}")
        if not self.precision > 0:
            raise ValueError(f"precision must be > 0 (order resolution of the ternary search), got {self.precision}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")

    def minimise(self, f: Callable[[float], float]) -> float:
        lo, hi = min(self.order_min, self.order_max), max(self.order_min, self.order_max)
        if self.method == "ternary":
            return ternary_search(f, self.order_min, self.order_max, self.precision, self.max_iterations)
        if self.method == "ternary_int":
            return float(ternary_search_int(f, max(2, math.ceil(lo)), int(math.floor(hi)), self.max_iterations))
        candidates = list(self.orders) if self.orders else list(range(max(2, math.ceil(lo)), int(math.floor(hi)) + 1))
        candidates = [c for c in candidates if c > 1]
        if not candidates:
            raise ValueError(f"no Renyi order > 1 to search in [{lo}, {hi}] / orders={self.orders}")
        return greedy_search(f, candidates)


StepInfo = tuple[Mapping[str, float], float, float]  # (noise_params, sampling_rate, num_steps)


def composed_rdp(order: float, steps: Sequence[StepInfo], noise_type: str, bound_type: str) -> float:
    """Sum over recorded phases of num_steps * one-step RDP at `order`."""
    return float(sum(n * subsampled_rdp(order, noise_type, p, q, bound_type) for p, q, n in steps if n))


def aijack_epsilon(
    steps: Sequence[StepInfo], delta: float, noise_type: str, bound_type: str, search: OrderSearch
) -> tuple[float, float]:
    """(epsilon, order): Thm 21 conversion minimised by `search`, exactly as AIJack's get_epsilon evaluates it."""

    def epsilon_at(order: float) -> float:
        if not order > 1.0:  # no bound below order 1 (Thm 21 divides by order - 1)
            return math.inf
        return float(thm21_epsilon(order, composed_rdp(order, steps, noise_type, bound_type), delta))

    order = search.minimise(epsilon_at)
    return epsilon_at(order), order


def aijack_delta(
    steps: Sequence[StepInfo], epsilon: float, noise_type: str, bound_type: str, search: OrderSearch
) -> tuple[float, float]:
    """(delta, order): Thm 21 solved for delta, log delta = (a-1)(rdp - eps + log(1-1/a)) - log a, minimised
    by `search`.

    (AIJack evaluates (a-1)(rdp(a-1) - eps), mixing two orders, which can undercount delta; this is the valid form.)
    """

    def log_delta_at(order: float) -> float:
        if not order > 1.0:
            return math.inf
        return float(thm21_log_delta(order, composed_rdp(order, steps, noise_type, bound_type), epsilon))

    order = search.minimise(log_delta_at)
    return min(1.0, math.exp(log_delta_at(order))), order
