"""Discretised privacy loss distribution (PLD) of one Poisson-subsampled Gaussian step, add/remove-one relation.

A dominating pair for Poisson(q)-subsampling of the Gaussian mechanism (sensitivity 1, noise std sigma) under
add/remove is, for "remove", P = (1-q) N(0, s^2) + q N(1, s^2) vs Q = N(0, s^2), and for "add" the reversed pair
Q vs P (Zhu, Dong, Wang 2022, Prop. 30; Koskela, Jalko, Honkela 2020). The privacy loss L(o) = log dP/dQ(o) is
monotone in o, so its law under P is computed from normal CDFs over the o-intervals that map to each loss bin.

Discretisation on the grid l_k = k * interval is pessimistic, so the resulting delta(eps) is a valid upper bound:
* inside a bin (l_k, l_{k+1}], the mass is split between the two end atoms so that both P- and Q-mass are kept
  ("connect the dots", Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022): a mean-preserving spread of the
  likelihood ratio, which can only raise every hockey-stick divergence (Jensen);
* the tails beyond `tail_mass` keep their P-mass and move to a higher loss: the atom just above them (lower tail,
  and the add-side upper tail, whose loss is bounded by -log(1-q)), or +inf (remove-side upper tail).
Only P-masses are stored: delta(eps) = p_inf + sum_k p_k (1 - exp(eps - l_k))_+ needs nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .pld_grid_budget import MAX_SUPPORT, check_support

NEIGHBOURING_SIDES = ("remove", "add")


@dataclass(frozen=True)
class GridPLD:
    """P-masses `pmf[i]` at losses (offset + i) * interval (nats), plus `infinity_mass` at loss +inf."""

    interval: float
    offset: int
    pmf: np.ndarray
    infinity_mass: float

    @property
    def losses(self) -> np.ndarray:
        return (self.offset + np.arange(self.pmf.size)) * self.interval


def _normal_mass(a: np.ndarray, b: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    """N(mean, sigma^2) mass of [a, b] (a <= b), computed on the tail side for relative accuracy."""
    za, zb = (a - mean) / sigma, (b - mean) / sigma
    upper = special.ndtr(-za) - special.ndtr(-zb)
    lower = special.ndtr(zb) - special.ndtr(za)
    return np.maximum(np.where(za > 0, upper, lower), 0.0)


def _mixture_mass(a: np.ndarray, b: np.ndarray, q: float, sigma: float) -> np.ndarray:
    return (1.0 - q) * _normal_mass(a, b, 0.0, sigma) + q * _normal_mass(a, b, 1.0, sigma)


def _tail_width(tail_mass: float) -> float:
    """T with Phi(-T) = tail_mass."""
    return float(-special.ndtri(tail_mass))


def sampled_gaussian_pld(
    noise_multiplier: float,
    sample_rate: float,
    interval: float,
    side: str,
    tail_mass: float = 1e-20,
    max_atoms: int = MAX_SUPPORT,
) -> GridPLD:
    """Pessimistic grid PLD of one step. noise_multiplier in (0, inf), sample_rate in (0, 1], interval > 0 (nats),
    side "remove" or "add", tail_mass: P-mass in each tail that is moved pessimistically instead of binned.
    Raises SupportTooLargeError, before allocating, when the grid would need more than `max_atoms` atoms."""
    sigma, q = noise_multiplier, sample_rate
    if side not in NEIGHBOURING_SIDES:
        raise ValueError(f"side must be one of {NEIGHBOURING_SIDES}, got {side!r}")
    t = _tail_width(tail_mass)
    log_1mq = math.log1p(-q) if q < 1.0 else -math.inf
    s2 = sigma * sigma

    if side == "remove":
        # P = mixture, Q = N(0); L(o) = log(1 - q + q exp((2o-1)/(2 s^2))), increasing; L > log(1-q).
        o_lo, o_hi = -t * sigma, 1.0 + t * sigma

        def loss(o: np.ndarray) -> np.ndarray:
            return np.logaddexp(log_1mq, math.log(q) + (2 * o - 1) / (2 * s2))

        def o_of_loss(lv: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                inner = np.where(lv > log_1mq, np.log(-np.expm1(log_1mq - lv)) + lv - math.log(q), -np.inf)
            return s2 * inner + 0.5

        p_mass = lambda a, b: _mixture_mass(a, b, q, sigma)  # noqa: E731
        q_mass = lambda a, b: _normal_mass(a, b, 0.0, sigma)  # noqa: E731
        low_tail = (1.0 - q) * special.ndtr(-t) + q * special.ndtr((o_lo - 1.0) / sigma)
        high_tail = (1.0 - q) * special.ndtr(-o_hi / sigma) + q * special.ndtr(-t)
        loss_lo, loss_hi = float(loss(np.array(o_lo))), float(loss(np.array(o_hi)))
        high_tail_to_infinity = True
    else:
        # P = N(0), Q = mixture; L(o) = -log(1 - q + q exp((2o-1)/(2 s^2))), decreasing; L < -log(1-q).
        o_lo, o_hi = -t * sigma, t * sigma

        def loss(o: np.ndarray) -> np.ndarray:
            return -np.logaddexp(log_1mq, math.log(q) + (2 * o - 1) / (2 * s2))

        def o_of_loss(lv: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                inner = np.where(-lv > log_1mq, np.log(-np.expm1(log_1mq + lv)) - lv - math.log(q), -np.inf)
            return s2 * inner + 0.5

        p_mass = lambda a, b: _normal_mass(a, b, 0.0, sigma)  # noqa: E731
        q_mass = lambda a, b: _mixture_mass(a, b, q, sigma)  # noqa: E731
        low_tail = special.ndtr(-t)  # o > o_hi: the lowest losses
        high_tail = special.ndtr(-t)  # o < o_lo: the highest losses, at most -log(1-q)
        loss_lo, loss_hi = float(loss(np.array(o_hi))), float(loss(np.array(o_lo)))
        high_tail_to_infinity = q == 1.0

    k0 = math.floor(loss_lo / interval)
    k1 = math.ceil(loss_hi / interval)
    if not high_tail_to_infinity:
        k1 = max(k1, math.ceil(-log_1mq / interval))  # the atom that absorbs the bounded upper tail
    check_support(k1 - k0 + 1, interval, f"one step's PLD (sigma {sigma:g}, q {q:g}, {side})", max_atoms)
    grid = (k0 + np.arange(k1 - k0 + 1)) * interval  # atoms l_k0 .. l_k1; bins between consecutive atoms
    edges = np.clip(o_of_loss(grid), o_lo, o_hi)
    if side == "add":  # loss decreases in o: bin (l_k, l_k+1] is the o-interval [o(l_k+1), o(l_k))
        lo_edge, hi_edge = edges[1:], edges[:-1]
    else:
        lo_edge, hi_edge = edges[:-1], edges[1:]
    bin_p = p_mass(lo_edge, hi_edge)
    bin_q = q_mass(lo_edge, hi_edge)
    # The split in P units: r = e^l_k * (bin's Q-mass) is at most the bin's P-mass (dP/dQ = e^L >= e^l_k on the
    # bin), and u = e^l_k * (Q-mass sent to the upper atom), chosen so that P and Q are both kept:
    # u = (p - r) / (e^interval - 1), clipped to [0, r]. The lower atom gets P-mass r - u, the upper e^interval u
    # = (p - r) / (1 - e^-interval) <= r e^interval. Working with r (formed in logs and capped at p) instead of
    # e^l_k and the Q-mass apart means a huge loss (tiny sigma: l_k ~ 1 / (2 sigma^2)) or a coarse interval cannot
    # overflow into inf * 0 = NaN and drop the bin's mass.
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        r = np.minimum(np.exp(np.log(bin_q) + grid[:-1]), bin_p)
    to_upper_p = np.clip((bin_p - r) / -math.expm1(-interval), 0.0, r * math.exp(min(interval, 700.0)))
    to_lower_p = r - to_upper_p * math.exp(-interval)
    pmf = np.zeros(grid.size)
    pmf[:-1] += to_lower_p
    pmf[1:] += to_upper_p
    # Where round-off clipped the split (e.g. Q-mass underflowing in the far tail), P-mass the split did not keep
    # goes to the upper atom: rounding the loss up stays pessimistic.
    kept = to_lower_p + to_upper_p
    pmf[1:] += np.maximum(bin_p - kept, 0.0)
    # The low tail's losses lie below the lowest binned loss <= l_(k0+1): round them up to that atom.
    pmf[min(1, pmf.size - 1)] += low_tail
    infinity_mass = 0.0
    if high_tail_to_infinity:
        infinity_mass = float(high_tail)
    else:
        pmf[-1] += high_tail
    nz = np.nonzero(pmf > 0)[0]
    pmf = pmf[nz[0] : nz[-1] + 1] if nz.size else np.zeros(1)
    return GridPLD(interval, k0 + (int(nz[0]) if nz.size else 0), pmf, infinity_mass)
