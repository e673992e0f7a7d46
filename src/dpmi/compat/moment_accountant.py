"""AIJack's `GeneralMomentAccountant`, as a thin adapter over `dpmi.compat.aijack_bounds`.

Drop-in for `aijack.defense.GeneralMomentAccountant`: same constructor arguments (swapped order bounds such as the
tutorial's `order_max=1, order_min=72` and AIJack's own test's `order_max=0, order_min=72` work), same `add_step_info` / `get_epsilon` numbers. Deliberate differences,
each because AIJack's behaviour is not a valid bound or loses state: `get_delta` uses the correct Thm 21 inverse,
`get_noise_multiplier` returns a sigma whose epsilon meets the target and leaves the recorded steps untouched, the
tight bound is evaluated at ceil(order), `search="ternary_int"` finds the smallest epsilon (AIJack's converges on
the largest), and repeated `add_step_info` with the same (params, rate) add step counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dpmi.compat.aijack_bounds import (
    BOUND_TYPES,
    NOISE_TYPES,
    OrderSearch,
    StepInfo,
    aijack_delta,
    aijack_epsilon,
)
from dpmi.privacy.accounting.calibration import bisect_noise_multiplier
from dpmi.privacy.accounting.validation import check_delta, check_epsilon

BACKENDS = ("python", "cpp")


class GeneralMomentAccountant:
    """RDP ("moments") accountant with a continuous order search, AIJack-compatible.

    name: label only. search: "ternary" (continuous order, to `precision`), "ternary_int" or "greedy" (integer
    orders in range, or the explicit `orders`). order_min / order_max: the order range (either order). noise_type:
    "Gaussian" (noise_params {"sigma": s}) or "Laplace" ({"b": b}). bound_type: "rdp_upperbound_closedformula"
    (exact sampled-Gaussian RDP, Mironov et al. 2019) or "rdp_tight_upperbound" (Zhu & Wang 2019). backend:
    "python" or "cpp", accepted for compatibility; both run the same numpy code.
    """

    def __init__(
        self,
        name: str = "SGM",
        search: str = "ternary",
        order_min: float = 2,
        order_max: float = 64,
        precision: float = 0.5,
        orders: Sequence[float] = (),
        noise_type: str = "Gaussian",
        bound_type: str = "rdp_upperbound_closedformula",
        max_iterations: int = 10000,
        backend: str = "cpp",
    ) -> None:
        if noise_type not in NOISE_TYPES:
            raise ValueError(f"noise_type must be one of {NOISE_TYPES}, got {noise_type!r}")
        if bound_type not in BOUND_TYPES:
            raise ValueError(f"bound_type must be one of {BOUND_TYPES}, got {bound_type!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not (min(order_min, order_max) >= 0 and max(order_min, order_max) > 1):
            raise ValueError(
                f"order_min and order_max must be >= 0 with one of them > 1 (orders <= 1 have no "
                f"bound and are skipped), got {order_min} and {order_max}"
            )
        self.name = name
        self.noise_type = noise_type
        self.bound_type = bound_type
        self.backend = backend
        self.order_search = OrderSearch(
            search,
            float(order_min),
            float(order_max),
            tuple(float(o) for o in orders),
            float(precision),
            int(max_iterations),
        )
        # (params as a sorted tuple, sampling_rate) -> accumulated num_steps; insertion order is kept.
        self._steps: dict[tuple[tuple[tuple[str, float], ...], float], float] = {}

    @property
    def steps_info(self) -> list[StepInfo]:
        """The recorded phases as AIJack's (noise_params, sampling_rate, num_steps) triples."""
        return [(dict(key), rate, n) for (key, rate), n in self._steps.items()]

    def reset_step_info(self) -> None:
        """Forget every recorded step."""
        self._steps = {}

    def add_step_info(self, noise_params: Mapping[str, float], sampling_rate: float, num_steps: float) -> None:
        """Record num_steps >= 0 steps with these noise params at Poisson rate in [0, 1]; same (params, rate) add up."""
        rate = float(sampling_rate)
        if not 0.0 <= rate <= 1.0 or math.isnan(rate):
            raise ValueError(f"sampling_rate must be in [0, 1], got {sampling_rate!r}")
        steps = float(num_steps)
        if not 0.0 <= steps < math.inf:
            raise ValueError(f"num_steps must be a finite number >= 0, got {num_steps!r}")
        needed = "sigma" if self.noise_type == "Gaussian" else "b"
        if needed not in noise_params or not float(noise_params[needed]) > 0:
            raise ValueError(
                f"noise_params must hold {needed!r} > 0 for noise_type={self.noise_type!r}, got {dict(noise_params)!r}"
            )
        key = (tuple(sorted((k, float(v)) for k, v in noise_params.items())), rate)
        self._steps[key] = self._steps.get(key, 0.0) + steps

    def get_epsilon(self, delta: float) -> float:
        """Epsilon of the recorded steps at delta in (0, 1), minimised over the order by the configured search."""
        delta = check_delta(delta)
        if not self._steps:
            return 0.0
        return aijack_epsilon(self.steps_info, delta, self.noise_type, self.bound_type, self.order_search)[0]

    def get_delta(self, epsilon: float) -> float:
        """Delta in [0, 1] of the recorded steps at epsilon >= 0 (the Thm 21 inverse)."""
        epsilon = check_epsilon(epsilon)
        if not self._steps:
            return 0.0
        return aijack_delta(self.steps_info, epsilon, self.noise_type, self.bound_type, self.order_search)[0]

    def get_noise_multiplier(
        self,
        noise_multiplier_key: str,
        target_epsilon: float,
        target_delta: float,
        sampling_rate: float,
        num_iterations: float,
        noise_multiplier_min: float = 0,
        noise_multiplier_max: float = 10,
        noise_multiplier_precision: float = 0.01,
    ) -> float:
        """Smallest noise parameter (to `noise_multiplier_precision`) whose epsilon over `num_iterations` epochs
        (int(num_iterations / sampling_rate) steps, as AIJack) is <= target_epsilon at target_delta."""
        target_epsilon = check_epsilon(target_epsilon, "target_epsilon")
        target_delta = check_delta(target_delta, "target_delta")
        steps = int(num_iterations / sampling_rate)

        def epsilon_of(noise: float) -> float:
            phase: list[StepInfo] = [({noise_multiplier_key: noise}, float(sampling_rate), steps)]
            return aijack_epsilon(phase, target_delta, self.noise_type, self.bound_type, self.order_search)[0]

        return bisect_noise_multiplier(
            epsilon_of,
            target_epsilon,
            float(noise_multiplier_min),
            2.0 * float(noise_multiplier_max),
            float(noise_multiplier_precision),
        )

    def __repr__(self) -> str:
        return (
            f"GeneralMomentAccountant(name={self.name!r}, noise_type={self.noise_type!r}, "
            f"bound_type={self.bound_type!r}, search={self.order_search!r}, steps={self.steps_info!r})"
        )


__all__: list[str] = ["GeneralMomentAccountant"]
