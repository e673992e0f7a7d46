"""Composition of grid PLDs and their (epsilon, delta) curve (Koskela, Jalko, Honkela 2020 FFT accountant;
Meiser & Mohammadi 2018). Composition is convolution of the loss PMFs; k-fold self-composition is one FFT raised
to the k-th power, on a window sized by a Chernoff bound so that at most `tail_mass` falls outside it."""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, signal, special

from .pld_grid_budget import MAX_SUPPORT, SupportTooLargeError, check_support
from .pld_sampled_gaussian import GridPLD

__all__ = [
    "MAX_SUPPORT",
    "SupportTooLargeError",
    "compose",
    "composed_width",
    "delta_for_epsilon",
    "epsilon_for_delta",
    "self_compose",
]
_CHERNOFF_T = np.geomspace(1e-3, 1e7, 241)
_CHERNOFF_BLOCKS = 2048


def _chernoff_window(pld: GridPLD, k: int, tail_mass: float) -> tuple[int, int]:
    """Grid indices [lo, hi] holding the k-fold sum except for <= tail_mass in each tail (Chernoff bound)."""
    # Coarsen to <= _CHERNOFF_BLOCKS blocks first: each block's mass sits at its top loss for the upper bound and at
    # its bottom loss for the lower one, which only loosens (never breaks) the bound.
    n = pld.pmf.size
    width = -(-n // _CHERNOFF_BLOCKS)
    padded = np.zeros(width * -(-n // width))
    padded[:n] = pld.pmf
    block_mass = padded.reshape(-1, width).sum(axis=1)
    block_start = pld.losses[0] + np.arange(block_mass.size) * width * pld.interval
    block_end = np.minimum(block_start + (width - 1) * pld.interval, pld.losses[-1])
    nz = block_mass > 0
    log_p, top, bottom = np.log(block_mass[nz]), block_end[nz], block_start[nz]
    log_tail = math.log(tail_mass)
    t = _CHERNOFF_T[:, None]
    log_m_pos = special.logsumexp(t * top[None, :] + log_p[None, :], axis=1)
    log_m_neg = special.logsumexp(-t * bottom[None, :] + log_p[None, :], axis=1)
    x_hi = float(np.min((k * log_m_pos - log_tail) / _CHERNOFF_T))
    x_lo = float(np.max((log_tail - k * log_m_neg) / _CHERNOFF_T))
    losses = pld.losses
    x_hi = min(x_hi, k * float(losses[-1]))
    x_lo = max(x_lo, k * float(losses[0]))
    return math.floor(x_lo / pld.interval + 1e-9), math.ceil(x_hi / pld.interval - 1e-9)


def composed_width(pld: GridPLD, k: int, tail_mass: float = 1e-15) -> float:
    """Width in nats of the window `self_compose(pld, k)` keeps (Chernoff bound): what its grid must span."""
    if k <= 1:
        return pld.pmf.size * pld.interval
    lo, hi = _chernoff_window(pld, k, tail_mass)
    return (hi - lo + 1) * pld.interval


def self_compose(pld: GridPLD, k: int, tail_mass: float = 1e-15, max_atoms: int = MAX_SUPPORT) -> GridPLD:
    """The PLD of k >= 1 independent repetitions. Mass that the window cuts from the upper tail (at most
    tail_mass, by the Chernoff bound) is added to the infinity mass, so delta stays an upper bound.
    Raises SupportTooLargeError, before allocating, when the window needs more than `max_atoms` atoms."""
    if k == 1:
        return pld
    lo, hi = _chernoff_window(pld, k, tail_mass)
    size = hi - lo + 1
    check_support(size, pld.interval, f"the {k}-fold composed PLD", max_atoms)
    m = fft.next_fast_len(max(size, 2), real=True)
    # Circular convolution commutes with folding the PMF modulo m, so a PMF wider than the window is folded first.
    folded = np.bincount(np.arange(pld.pmf.size) % m, weights=pld.pmf, minlength=m)
    spectrum = fft.rfft(folded)
    powered = fft.irfft(spectrum**k, m)
    start = (lo - k * pld.offset) % m
    window = np.take(powered, (start + np.arange(size)) % m)
    pmf = np.maximum(window, 0.0)
    infinity = -math.expm1(k * math.log1p(-pld.infinity_mass)) + tail_mass
    return GridPLD(pld.interval, lo, pmf, min(1.0, infinity))


def compose(a: GridPLD, b: GridPLD, tail_mass: float = 1e-15, max_atoms: int = MAX_SUPPORT) -> GridPLD:
    """The PLD of running a then b (same interval). Tails under tail_mass are moved pessimistically: the lower one
    to the lowest kept atom, the upper one to infinity. Raises SupportTooLargeError, before allocating, when the
    result would need more than `max_atoms` atoms."""
    if not math.isclose(a.interval, b.interval, rel_tol=1e-12):
        raise ValueError(f"cannot compose PLDs on different grids ({a.interval} vs {b.interval})")
    check_support(a.pmf.size + b.pmf.size - 1, a.interval, "the composition of two phases' PLDs", max_atoms)
    pmf = np.maximum(signal.fftconvolve(a.pmf, b.pmf), 0.0)
    offset = a.offset + b.offset
    cum = np.cumsum(pmf)
    first = int(np.searchsorted(cum, tail_mass / 2, side="right"))
    rcum = np.cumsum(pmf[::-1])
    last = pmf.size - 1 - int(np.searchsorted(rcum, tail_mass / 2, side="right"))
    first = min(first, last)
    kept = pmf[first : last + 1].copy()
    kept[0] += cum[first - 1] if first > 0 else 0.0
    upper_cut = float(rcum[pmf.size - 2 - last]) if last < pmf.size - 1 else 0.0
    infinity = 1.0 - (1.0 - a.infinity_mass) * (1.0 - b.infinity_mass) + upper_cut
    return GridPLD(a.interval, offset + first, kept, min(1.0, infinity))


def delta_for_epsilon(pld: GridPLD, epsilon: float) -> float:
    """delta(eps) = p_inf + sum_k p_k (1 - exp(eps - l_k))_+, the hockey-stick divergence at e^eps."""
    losses = pld.losses
    above = losses > epsilon
    delta = pld.infinity_mass + float(np.sum(pld.pmf[above] * -np.expm1(epsilon - losses[above])))
    return min(1.0, max(0.0, delta))


def epsilon_for_delta(pld: GridPLD, delta: float) -> float:
    """Smallest eps >= 0 with delta(eps) <= delta; inf if the infinity mass alone exceeds delta."""
    if pld.infinity_mass >= delta:
        return math.inf
    if delta_for_epsilon(pld, 0.0) <= delta:
        return 0.0
    losses = pld.losses
    pos = losses > 0
    l_pos, p_pos = losses[pos], pld.pmf[pos]
    # mass_above[j] = sum_{k>j} p_k, accumulated from the top so small tails stay accurate. S[j] =
    # sum_{k>=j} p_k exp(-(l_k - l_j)) comes from the backward recursion S[j] = p_j + e^-interval S[j+1] (a stable
    # one-pole filter), which never forms exp(l) and so cannot overflow however long the loss grid is.
    mass_above = np.concatenate([np.cumsum(p_pos[::-1])[::-1][1:], [0.0]])
    decay = math.exp(-pld.interval)
    s = signal.lfilter([1.0], [1.0, -decay], p_pos[::-1])[::-1]
    s_above = np.concatenate([s[1:], [0.0]]) * decay  # sum_{k>j} p_k exp(-(l_k - l_j))
    delta_at_atoms = pld.infinity_mass + mass_above - s_above
    j = int(np.argmax(delta_at_atoms <= delta))  # first atom where the curve is already below delta
    # On (l_(j-1), l_j] the active atoms are j.. : delta(eps) = A - e^(eps - l_j) S[j]; solve for delta.
    a = pld.infinity_mass + mass_above[j] + p_pos[j]
    eps = float(l_pos[j]) + math.log((a - delta) / s[j]) if s[j] > 0 else float(l_pos[j])
    lower = float(l_pos[j - 1]) if j > 0 else 0.0
    return max(lower, min(float(l_pos[j]), eps))
