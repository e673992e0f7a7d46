"""The PLD accountant: numerically tight (epsilon, delta) for DP-SGD, as a valid upper bound."""

from __future__ import annotations

import math
from functools import reduce

from .base import MechanismStep, record_step
from .pld_composition import compose, delta_for_epsilon, epsilon_for_delta, self_compose
from .pld_sampled_gaussian import NEIGHBOURING_SIDES, GridPLD, sampled_gaussian_pld
from .validation import check_delta, check_epsilon


class PLDAccountant:
    """Privacy-loss-distribution accountant (Koskela et al. 2020; Meiser & Mohammadi 2018; Doroshenko et al. 2022).

    value_discretization_interval: grid step of the privacy loss, in nats, > 0. Smaller is tighter and slower;
    the pessimistic rounding makes epsilon an upper bound whose slack grows roughly with the interval.
    tail_mass: probability mass per tail that is truncated pessimistically (moved up or to infinity), in (0, 1e-6].
    Both add and remove neighbours are composed separately; the reported delta is the larger of the two.
    """

    def __init__(self, value_discretization_interval: float = 1e-4, tail_mass: float = 1e-15) -> None:
        interval = float(value_discretization_interval)
        if not (0.0 < interval <= 1.0) or math.isnan(interval):
            raise ValueError("value_discretization_interval must be in (0, 1] nats, "
                             f"got {value_discretization_interval}")
        if not (0.0 < tail_mass <= 1e-6):
            raise ValueError(f"tail_mass must be in (0, 1e-6], got {tail_mass}")
        self.value_discretization_interval = interval
        self.tail_mass = float(tail_mass)
        self.history: list[MechanismStep] = []
        self._step_cache: dict[tuple[float, float, str], GridPLD] = {}
        self._composed: tuple[tuple[MechanismStep, ...], dict[str, GridPLD | None]] | None = None

    def step(self, noise_multiplier: float, sample_rate: float, num_steps: int = 1) -> None:
        """Record `num_steps` >= 0 steps with noise multiplier in (0, inf) and Poisson rate in (0, 1]."""
        record_step(self.history, noise_multiplier, sample_rate, num_steps)

    def _single_step(self, sigma: float, q: float, side: str) -> GridPLD:
        key = (sigma, q, side)
        if key not in self._step_cache:
            # Per-step tails far below the composition's, so their pessimistic moves cost nothing visible.
            self._step_cache[key] = sampled_gaussian_pld(sigma, q, self.value_discretization_interval, side,
                                                         tail_mass=1e-20)
        return self._step_cache[key]

    def composed_pld(self) -> dict[str, GridPLD | None]:
        """The composed grid PLD for each neighbouring side ("remove", "add"); None when nothing was recorded."""
        key = tuple(self.history)
        if self._composed is not None and self._composed[0] == key:
            return self._composed[1]
        result: dict[str, GridPLD | None] = {}
        for side in NEIGHBOURING_SIDES:
            phases = [self_compose(self._single_step(e.noise_multiplier, e.sample_rate, side), e.num_steps,
                                   self.tail_mass) for e in self.history if e.num_steps > 0]
            result[side] = reduce(lambda a, b: compose(a, b, self.tail_mass), phases) if phases else None
        self._composed = (key, result)
        return result

    def get_epsilon(self, delta: float) -> float:
        """Epsilon (nats) of all recorded steps at delta in (0, 1); inf if delta is below the unresolvable mass."""
        delta = check_delta(delta)
        plds = [p for p in self.composed_pld().values() if p is not None]
        return max((epsilon_for_delta(p, delta) for p in plds), default=0.0)

    def get_delta(self, epsilon: float) -> float:
        """Delta in [0, 1] of all recorded steps at epsilon >= 0."""
        epsilon = check_epsilon(epsilon)
        plds = [p for p in self.composed_pld().values() if p is not None]
        return max((delta_for_epsilon(p, epsilon) for p in plds), default=0.0)

    def __repr__(self) -> str:
        return (f"PLDAccountant(value_discretization_interval={self.value_discretization_interval}, "
                f"history={self.history!r})")
