"""From an RDP curve to (epsilon, delta): Balle, Barthe, Gaboardi, Hsu, Sato 2020, "Hypothesis testing
interpretations and Renyi DP", Theorem 21 (the conversion Opacus and dp_accounting use), both directions."""

from __future__ import annotations

import math

import numpy as np


def thm21_epsilon(orders: np.ndarray | float, rdp: np.ndarray | float, delta: float) -> np.ndarray | float:
    """Epsilon at each order a > 1 from an RDP bound rdp(a) >= 0 (nats) and delta in (0, 1), per order:
    eps = rdp + log((a-1)/a) - (log delta + log a)/(a-1) (Balle et al. 2020 Thm 21). No minimum over the orders,
    no clamping; works on scalars and arrays alike."""
    return rdp + np.log1p(-1.0 / orders) - (math.log(delta) + np.log(orders)) / (orders - 1.0)


def thm21_log_delta(orders: np.ndarray | float, rdp: np.ndarray | float, epsilon: float) -> np.ndarray | float:
    """log delta at each order a > 1 for epsilon >= 0, per order: Thm 21 solved for delta,
    log delta = (a-1)(rdp - eps + log(1 - 1/a)) - log a. No minimum over the orders, no cap at 1."""
    return (orders - 1.0) * (rdp - epsilon + np.log1p(-1.0 / orders)) - np.log(orders)


def epsilon_from_rdp(orders: np.ndarray, rdp: np.ndarray, delta: float) -> tuple[float, float]:
    """Smallest epsilon over the orders and the order achieving it; (inf, nan) if no order bounds it.

    Per order: `thm21_epsilon`, and eps = 0 where delta >= sqrt(1 - exp(-rdp)) (the KL / Pinsker-type bound,
    since KL <= RDP at any order > 1; as dp_accounting). The result is clamped at 0. Inputs: orders > 1,
    rdp >= 0 (nats), delta in (0, 1).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        eps = thm21_epsilon(orders, rdp, delta)
        eps = np.where(delta**2 + np.expm1(-rdp) > 0.0, 0.0, eps)
    eps = np.where(np.isnan(eps), np.inf, eps)
    if not np.isfinite(eps).any():
        return math.inf, math.nan
    idx = int(np.argmin(eps))
    return max(0.0, float(eps[idx])), float(orders[idx])


def delta_from_rdp(orders: np.ndarray, rdp: np.ndarray, epsilon: float) -> tuple[float, float]:
    """Smallest delta over the orders for this epsilon >= 0, and the order achieving it (capped at 1).

    Per order: `thm21_log_delta`, and delta <= sqrt(1 - exp(-rdp)) from the KL bound; the smaller is kept.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_delta = thm21_log_delta(orders, rdp, epsilon)
        log_kl = 0.5 * np.log(-np.expm1(-rdp))
        log_delta = np.minimum(np.where(np.isnan(log_delta), np.inf, log_delta), log_kl)
    idx = int(np.argmin(log_delta))
    return min(1.0, float(np.exp(log_delta[idx]))), float(orders[idx])
