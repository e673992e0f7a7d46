"""The RDP accountant: composes Poisson-subsampled Gaussian steps by adding RDP curves, converts with Thm 21."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import MechanismStep, check_state_name, history_from_state, history_state, record_step
from .factory import register_accountant
from .orders import DEFAULT_ORDERS, check_orders
from .rdp_conversion import delta_from_rdp, epsilon_from_rdp
from .rdp_sampled_gaussian import compute_rdp
from .validation import check_delta, check_epsilon


@dataclass(frozen=True)
class RDPGuarantee:
    """An (epsilon, delta) guarantee read off the RDP curve, with the order that gave it.

    `order_at_boundary` is True when the best order is the smallest or largest one searched: the bound is still
    valid but a wider order range might tighten it. `note` says so in words (empty when nothing to report).
    """

    epsilon: float
    delta: float
    order: float
    order_at_boundary: bool
    note: str


def _boundary_note(orders: np.ndarray, order: float, value: float) -> tuple[bool, str]:
    if not math.isfinite(value) or math.isnan(order):
        return True, "no Renyi order gives a finite bound for this configuration (sigma too small for these orders)"
    if order == orders.min() and orders.min() > 1.0 and value > 0.0:
        return True, f"optimal order is the smallest searched ({order}); smaller orders may give a tighter bound"
    if order == orders.max():
        return True, f"optimal order is the largest searched ({order}); larger orders may give a tighter bound"
    return False, ""


@register_accountant("rdp", summary="Renyi DP (moments accountant): a closed-form upper bound, as Opacus's default")
class RDPAccountant:
    """Renyi-DP accountant for DP-SGD (Mironov 2017; Mironov, Talwar, Zhang 2019; Balle et al. 2020 Thm 21).

    orders: Renyi orders to minimise over, each in (1, inf); default `DEFAULT_ORDERS` (Opacus's grid + 64..1024).
    Consecutive steps with the same (noise_multiplier, sample_rate) are merged into one history entry.
    """

    def __init__(self, orders: object = None) -> None:
        self.orders: np.ndarray = DEFAULT_ORDERS.copy() if orders is None else check_orders(orders)
        self.history: list[MechanismStep] = []
        self._rdp_cache: dict[tuple[float, float], np.ndarray] = {}

    def step(self, noise_multiplier: float, sample_rate: float, num_steps: int = 1) -> None:
        """Record `num_steps` >= 0 steps with noise multiplier in (0, inf) and Poisson rate in (0, 1]."""
        record_step(self.history, noise_multiplier, sample_rate, num_steps)

    def state_dict(self) -> dict[str, Any]:
        """{"name": "rdp", "orders": [...], "history": [[sigma, q, steps], ...]}: plain numbers only."""
        return {"name": "rdp", "orders": [float(a) for a in self.orders], "history": history_state(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the orders and history saved by `state_dict()`."""
        state = check_state_name(state, "rdp")
        orders = check_orders(state.get("orders", DEFAULT_ORDERS))
        history = history_from_state(state.get("history", []))
        self.orders, self.history, self._rdp_cache = orders, history, {}

    def _step_rdp(self, sigma: float, q: float) -> np.ndarray:
        key = (sigma, q)
        if key not in self._rdp_cache:
            self._rdp_cache[key] = compute_rdp(sigma, q, self.orders)
        return self._rdp_cache[key]

    def get_rdp(self) -> np.ndarray:
        """The composed RDP curve (nats) at `self.orders`: the sum over history of num_steps * per-step RDP."""
        total = np.zeros_like(self.orders)
        for entry in self.history:
            if entry.num_steps:
                with np.errstate(invalid="ignore"):
                    total = total + entry.num_steps * self._step_rdp(entry.noise_multiplier, entry.sample_rate)
        return total

    def get_privacy_spent(self, delta: float) -> RDPGuarantee:
        """Epsilon at this delta in (0, 1), the optimal order, and whether the order range limited the bound."""
        delta = check_delta(delta)
        eps, order = epsilon_from_rdp(self.orders, self.get_rdp(), delta)
        at_boundary, note = _boundary_note(self.orders, order, eps)
        return RDPGuarantee(eps, delta, order, at_boundary, note)

    def get_epsilon(self, delta: float) -> float:
        """Epsilon (nats) of all recorded steps at this delta in (0, 1); inf if no order bounds it."""
        return self.get_privacy_spent(delta).epsilon

    def get_optimal_order(self, delta: float) -> float:
        """The Renyi order at which the epsilon for this delta is attained."""
        return self.get_privacy_spent(delta).order

    def get_delta(self, epsilon: float) -> float:
        """Smallest delta in [0, 1] that the recorded steps satisfy at this epsilon >= 0."""
        eps = check_epsilon(epsilon)
        return delta_from_rdp(self.orders, self.get_rdp(), eps)[0]

    def __repr__(self) -> str:
        return f"RDPAccountant(orders={self.orders.size} orders, history={self.history!r})"
