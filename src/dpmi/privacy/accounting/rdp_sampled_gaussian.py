"""Renyi DP of the Poisson-subsampled Gaussian mechanism (add/remove-one), vectorised over orders.

Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism" (arXiv:1908.10530):
the RDP at order alpha is log(A_alpha) / (alpha - 1), A_alpha = E_{z~N(0,s^2)}[(1 - q + q exp((2z-1)/(2s^2)))^alpha].
Integer alpha: the binomial expansion of Sec. 3.2, summed as A - 1 (all terms positive) so tiny RDP keeps its
relative precision. Fractional alpha: the two-sided series of Sec. 3.3, summed with signs in log space and stopped
at the first term below exp(-30) (Opacus's rule); where that series cannot resolve A - 1 (A - 1 < 1e-4) or does
not reach the cutoff, A - 1 is integrated directly instead (`_a_minus_one_by_quadrature`)."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import integrate, special

from .orders import check_orders
from .validation import check_noise_multiplier, check_sample_rate

# Terms of the fractional series below exp(_LOG_TERM_CUTOFF) end the sum; beyond it the series alternates in sign,
# so the omitted tail is smaller than the last term kept: an absolute error below ~1e-13 in A.
_LOG_TERM_CUTOFF = -30.0
# The fractional series decays only polynomially in the term index; orders that need more terms than this are
# integrated instead. Work is done in row blocks of at most _MAX_TERMS_PER_BLOCK terms to bound memory.
_MAX_FRACTIONAL_TERMS = 1 << 18
_MAX_TERMS_PER_BLOCK = 1 << 21
_SERIES_MIN_LOG_A = 1e-4


@functools.lru_cache(maxsize=16)
def _integer_expansion(alphas: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log C(a, i) masked to -inf where i > a, i, a) for the binomial sum; cached since orders rarely change."""
    a = np.array(alphas)[:, None]
    i = np.arange(int(a.max()) + 1, dtype=np.float64)[None, :]
    valid = i <= a
    a_safe = np.where(valid, a, i)  # keeps gammaln's arguments positive where the term is masked out
    log_binom = special.gammaln(a_safe + 1) - special.gammaln(i + 1) - special.gammaln(a_safe - i + 1)
    log_binom = np.where(valid, log_binom, -np.inf)
    for arr in (log_binom, i, a_safe):
        arr.setflags(write=False)
    return log_binom, i, a_safe


def _log_expm1(x: np.ndarray) -> np.ndarray:
    """log(e^x - 1) for x > 0 without overflow."""
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(x > 30.0, x + np.log1p(-np.exp(-np.minimum(x, 700.0))), np.log(np.expm1(np.minimum(x, 30.0))))


def _log_a_integer(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha for integer alphas (Mironov et al. 2019 Sec. 3.2).

    A = sum_i C(a,i) q^i (1-q)^(a-i) e^((i^2-i)/2s^2). Since the binomial weights sum to 1, A - 1 is the same sum
    with e^(.) replaced by expm1(.), whose i = 0, 1 terms vanish: summing that and taking log1p keeps full relative
    precision even when A - 1 is far below machine epsilon (tiny q, large sigma).
    """
    if alphas.size * (alphas.max() + 1) > _MAX_TERMS_PER_BLOCK and alphas.size > 1:  # bound memory: split rows
        half = alphas.size // 2
        return np.concatenate([_log_a_integer(q, sigma, alphas[:half]), _log_a_integer(q, sigma, alphas[half:])])
    small = alphas <= 64
    if small.any() and not small.all():  # a handful of large orders should not pad every row to their length
        out = np.empty_like(alphas)
        out[small] = _log_a_integer(q, sigma, alphas[small])
        out[~small] = _log_a_integer(q, sigma, alphas[~small])
        return out
    log_binom, i, a = _integer_expansion(tuple(alphas.tolist()))
    exponent = (i * i - i) / (2.0 * sigma**2)
    log_terms = log_binom + i * math.log(q) + (a - i) * math.log1p(-q) + _log_expm1(np.maximum(exponent, 1e-300))
    log_terms = np.where(i >= 2, log_terms, -np.inf)
    log_a_minus_1 = special.logsumexp(log_terms, axis=1)
    return np.logaddexp(0.0, log_a_minus_1)


def _a_minus_one_by_quadrature(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """A_alpha - 1 = E_{z~N(0,s^2)}[(1+w)^alpha - 1 - alpha w], w = q expm1((2z-1)/2s^2) (E[w] = 0), by the
    trapezoid rule on a uniform grid. Used where A - 1 is too small for the series to resolve it: the integrand is
    ~ alpha(alpha-1)/2 w^2, computed from its Taylor series when |w| is small, so no cancellation occurs.
    The integrand is analytic in a strip of half-width pi s^2 and decays like a Gaussian, so the trapezoid rule
    with step <= min(s/8, s^2/4) is accurate to near machine precision.
    """
    h = min(sigma / 8.0, sigma**2 / 4.0)
    lo, hi = -16.0 * sigma, float(alphas.max()) + 16.0 * sigma
    z = np.linspace(lo, hi, int(math.ceil((hi - lo) / h)) + 1)
    log_density = -z * z / (2 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi))
    w = q * np.expm1((2 * z - 1) / (2 * sigma**2))
    a = alphas[:, None]
    log_power = a * np.log1p(w)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        taylor = a * (a - 1) / 2 * w**2 * (1 + (a - 2) / 3 * w * (1 + (a - 3) / 4 * w * (1 + (a - 4) / 5 * w)))
        direct = np.expm1(np.minimum(log_power, 50.0)) - a * w
        g = np.where(np.abs(w) < 1e-3, taylor, direct)
        # Where (1+w)^alpha dominates, multiply in log space so huge powers times tiny densities do not overflow.
        log_abs_g = np.where(log_power > 50.0, log_power, np.log(np.abs(g)))
        values = np.sign(np.where(log_power > 50.0, 1.0, g)) * np.exp(log_abs_g + log_density)
    return integrate.trapezoid(np.nan_to_num(values, nan=0.0), z, axis=1)


def _log_erfc(x: np.ndarray) -> np.ndarray:
    """log(erfc(x)), accurate far into both tails."""
    return math.log(2.0) + special.log_ndtr(-x * math.sqrt(2.0))


def _fractional_terms(q: float, sigma: float, alphas: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log|s0_i|, log|s1_i| and sign of C(alpha, i) for i < n (Mironov et al. 2019 Sec. 3.3)."""
    i = np.arange(n, dtype=np.float64)[None, :]
    a = alphas[:, None]
    # C(a, i) = prod_{k<i} (a - k) / (k + 1): log-magnitude by a running sum, sign by a running product.
    factors = np.concatenate([np.zeros((a.shape[0], 1)), np.log(np.abs(a - i[:, :-1])) - np.log(i[:, 1:])], axis=1)
    log_coef = np.cumsum(factors, axis=1)
    signs = np.concatenate([np.ones((a.shape[0], 1)), np.sign(a - i[:, :-1])], axis=1)
    coef_sign = np.cumprod(signs, axis=1)
    j = a - i
    z0 = sigma**2 * math.log(1.0 / q - 1.0) + 0.5
    log_q, log_1mq = math.log(q), math.log1p(-q)
    log_t0 = log_coef + i * log_q + j * log_1mq
    log_t1 = log_coef + j * log_q + i * log_1mq
    log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2.0) * sigma))
    log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2.0) * sigma))
    log_s0 = log_t0 + (i * i - i) / (2.0 * sigma**2) + log_e0
    log_s1 = log_t1 + (j * j - j) / (2.0 * sigma**2) + log_e1
    return log_s0, log_s1, coef_sign


def _log_a_fractional(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha for fractional alphas, inf where the series does not reach the cutoff within the term budget."""
    out = np.full(alphas.shape, np.inf)
    pending = np.arange(alphas.size)
    n = 64
    while pending.size and n <= _MAX_FRACTIONAL_TERMS:
        if pending.size * n > _MAX_TERMS_PER_BLOCK:  # finish a block of rows first, the rest on the next pass
            block, rest = pending[: max(1, _MAX_TERMS_PER_BLOCK // n)], pending[max(1, _MAX_TERMS_PER_BLOCK // n) :]
        else:
            block, rest = pending, pending[:0]
        pending = block
        log_s0, log_s1, sign = _fractional_terms(q, sigma, alphas[pending], n)
        small = np.maximum(log_s0, log_s1) < _LOG_TERM_CUTOFF
        done = small.any(axis=1)
        stop = np.argmax(small, axis=1)  # first term below the cutoff; it is included, as in Opacus
        rows = np.nonzero(done)[0]
        if rows.size:
            # Signed log-sum-exp of s0_i and s1_i over i <= stop (inclusive), one row per finished order.
            keep = np.arange(n)[None, :] <= stop[rows, None]
            ls0 = np.where(keep, log_s0[rows], -np.inf)
            ls1 = np.where(keep, log_s1[rows], -np.inf)
            top = np.maximum(ls0.max(axis=1), ls1.max(axis=1))[:, None]
            total = np.sum(sign[rows] * (np.exp(ls0 - top) + np.exp(ls1 - top)), axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[pending[rows]] = np.where(total > 0, np.log(total) + top[:, 0], np.inf)
        pending = np.concatenate([pending[~done], rest])
        if not rest.size:
            n *= 4
    return out


def gaussian_rdp(alpha: np.ndarray | float, sigma: float) -> np.ndarray | float:
    """RDP of the (un-subsampled) Gaussian mechanism, sensitivity 1 and noise std sigma > 0, at orders alpha > 1:
    alpha / (2 sigma^2) nats (Mironov 2017, Prop. 7). The q = 1 case of `compute_rdp`."""
    return alpha / (2.0 * sigma**2)


def compute_rdp(noise_multiplier: float, sample_rate: float, orders: object) -> np.ndarray:
    """RDP epsilon(alpha) of ONE step of the Poisson-subsampled Gaussian, for each order.

    noise_multiplier: noise std / L2 clipping norm, in (0, inf). sample_rate: Poisson rate q in (0, 1].
    orders: Renyi orders in (1, inf), integer or fractional. Returns a float64 array (nats; inf only where the
    value overflows). Compose steps by multiplying by the step count (RDP adds up).
    """
    sigma = check_noise_multiplier(noise_multiplier)
    q = check_sample_rate(sample_rate)
    alphas = check_orders(orders)
    if q == 1.0:  # no subsampling
        return np.asarray(gaussian_rdp(alphas, sigma), dtype=np.float64)
    is_int = alphas == np.floor(alphas)
    log_a = np.empty_like(alphas)
    if is_int.any():
        log_a[is_int] = _log_a_integer(q, sigma, alphas[is_int])
    if (~is_int).any():
        frac = alphas[~is_int]
        log_a_frac = _log_a_fractional(q, sigma, frac)
        # Below _SERIES_MIN_LOG_A the series' absolute error (~1e-13) is no longer small relative to log A, and
        # orders where it did not converge are inf: integrate A - 1 directly for both.
        tiny = (log_a_frac < _SERIES_MIN_LOG_A) | ~np.isfinite(log_a_frac)
        if tiny.any():
            log_a_frac[tiny] = np.log1p(np.maximum(_a_minus_one_by_quadrature(q, sigma, frac[tiny]), 0.0))
        log_a[~is_int] = log_a_frac
    # log A_alpha >= 0 in exact arithmetic (A_alpha >= 1); clamp round-off below zero.
    return np.maximum(log_a, 0.0) / (alphas - 1.0)
