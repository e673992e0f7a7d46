"""The PLD accountant: numerically tight (epsilon, delta) for DP-SGD, as a valid upper bound, in bounded memory."""

from __future__ import annotations

import math
from functools import reduce
from typing import Any

from .base import MechanismStep, check_state_name, history_from_state, history_state, record_step
from .factory import register_accountant
from .pld_composition import compose, composed_width, delta_for_epsilon, epsilon_for_delta, self_compose
from .pld_grid_budget import MAX_SUPPORT, SupportTooLargeError, interval_for
from .pld_sampled_gaussian import NEIGHBOURING_SIDES, GridPLD, sampled_gaussian_pld
from .validation import check_delta, check_epsilon

DEFAULT_INTERVAL = 1e-4  # nats
# A grid that has to be coarsened anyway is coarsened to this many atoms, not to the memory bound: 16 times faster,
# and the answer is then huge (tiny noise or very many steps), so the coarser grid costs little relative tightness.
COARSENED_ATOMS = 1 << 20
# The cheap first look at a step's PLD, used to size the composed grid before building anything large.
_PROBE_ATOMS = 1 << 14
# The probe's coarse grid overstates the composed width a little (pessimistic rounding per step): only when it
# exceeds the budget by this factor is the requested grid skipped without trying it.
_PROBE_MARGIN = 1.25
# Each coarsening multiplies the interval by at least this much, so the search for a grid that fits ends quickly.
_MIN_COARSENING = 1.25
_MAX_COARSENINGS = 64


def check_interval(value: object, name: str = "value_discretization_interval") -> float:
    """A PLD grid step in nats: a finite number > 0."""
    try:
        interval = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of nats > 0, got {value!r}") from None
    if not (0.0 < interval < math.inf):
        raise ValueError(f"{name} must be a finite number of nats > 0 (e.g. 1e-4), got {value!r}")
    return interval


@register_accountant("pld", summary="privacy loss distribution: numerically tight, a valid upper bound on a grid")
class PLDAccountant:
    """Privacy-loss-distribution accountant (Koskela et al. 2020; Meiser & Mohammadi 2018; Doroshenko et al. 2022).

    value_discretization_interval: grid step of the privacy loss, in nats, > 0 (default 1e-4). Smaller is tighter
    and slower; the pessimistic rounding makes epsilon an upper bound whose slack grows roughly with the interval.
    tail_mass: probability mass per tail that is truncated pessimistically (moved up or to infinity), in (0, 1e-6].
    max_atoms: memory bound, in grid atoms (8 bytes each, a few copies live at once), for any one PMF.
    coarsen: when a grid at the requested interval would exceed `max_atoms` (a tiny noise multiplier or a huge
    number of steps), use the smallest coarser interval that fits -- epsilon stays a valid upper bound, only less
    tight -- and say so in `note`; with coarsen=False raise SupportTooLargeError (a ValueError) naming the
    interval that would fit. Every grid is sized before it is allocated.
    Both add and remove neighbours are composed separately; the reported delta is the larger of the two.

    After a query, `interval_used` is the interval the answer was computed on and `note` is "" or a sentence
    saying the grid was coarsened.
    """

    def __init__(
        self,
        value_discretization_interval: float = DEFAULT_INTERVAL,
        tail_mass: float = 1e-15,
        max_atoms: int = MAX_SUPPORT,
        coarsen: bool = True,
    ) -> None:
        interval = check_interval(value_discretization_interval)
        if not (0.0 < tail_mass <= 1e-6):
            raise ValueError(f"tail_mass must be in (0, 1e-6], got {tail_mass}")
        if not (isinstance(max_atoms, int) and max_atoms >= 1024):
            raise ValueError(f"max_atoms must be an integer >= 1024, got {max_atoms!r}")
        self.value_discretization_interval = interval
        self.tail_mass = float(tail_mass)
        self.max_atoms = max_atoms
        self.coarsen = bool(coarsen)
        self.history: list[MechanismStep] = []
        self.interval_used = interval
        self._step_cache: dict[tuple[float, float, str, float], GridPLD] = {}
        self._composed: tuple[tuple[MechanismStep, ...], dict[str, GridPLD | None]] | None = None

    def step(self, noise_multiplier: float, sample_rate: float, num_steps: int = 1) -> None:
        """Record `num_steps` >= 0 steps with noise multiplier in (0, inf) and Poisson rate in (0, 1]."""
        record_step(self.history, noise_multiplier, sample_rate, num_steps)

    @property
    def note(self) -> str:
        """Empty, or a sentence saying the grid was coarsened to fit in memory (after a query)."""
        if self.interval_used == self.value_discretization_interval:
            return ""
        return (
            f"PLD grid coarsened from {self.value_discretization_interval:g} to {self.interval_used:.3g} nats: "
            f"the finer grid needs more than {self.max_atoms} atoms ({self.max_atoms * 8 >> 20} MiB each); "
            "epsilon is still an upper bound, only less tight"
        )

    def state_dict(self) -> dict[str, Any]:
        """{"name": "pld", "history": [[sigma, q, steps], ...], and the grid options}: plain numbers only."""
        return {
            "name": "pld",
            "history": history_state(self.history),
            "value_discretization_interval": self.value_discretization_interval,
            "tail_mass": self.tail_mass,
            "max_atoms": self.max_atoms,
            "coarsen": self.coarsen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the history and grid options saved by `state_dict()`."""
        state = check_state_name(state, "pld")
        fresh = PLDAccountant(
            state.get("value_discretization_interval", DEFAULT_INTERVAL),
            state.get("tail_mass", 1e-15),
            int(state.get("max_atoms", MAX_SUPPORT)),
            bool(state.get("coarsen", True)),
        )
        fresh.history = history_from_state(state.get("history", []))
        self.__dict__.update(fresh.__dict__)

    def _single_step(self, sigma: float, q: float, side: str, interval: float) -> GridPLD:
        key = (sigma, q, side, interval)
        if key not in self._step_cache:
            # Per-step tails far below the composition's, so their pessimistic moves cost nothing visible.
            self._step_cache[key] = sampled_gaussian_pld(
                sigma, q, interval, side, tail_mass=1e-20, max_atoms=self.max_atoms
            )
        return self._step_cache[key]

    def _probe_width(self) -> float:
        """Nats the widest grid (one step's, or a side's composed window) must span, from cheap coarse probes."""
        widest = 0.0
        for side in NEIGHBOURING_SIDES:
            total = 0.0
            for e in self.history:
                if e.num_steps == 0:
                    continue
                try:
                    probe = sampled_gaussian_pld(
                        e.noise_multiplier,
                        e.sample_rate,
                        self.value_discretization_interval,
                        side,
                        tail_mass=1e-20,
                        max_atoms=_PROBE_ATOMS,
                    )
                except SupportTooLargeError as err:
                    probe = sampled_gaussian_pld(
                        e.noise_multiplier, e.sample_rate, interval_for(err.width, _PROBE_ATOMS), side, tail_mass=1e-20
                    )
                widest = max(widest, probe.pmf.size * probe.interval)
                total += composed_width(probe, e.num_steps, self.tail_mass)
            widest = max(widest, total)
        return widest

    def _first_interval(self) -> float:
        """The requested interval, unless the probes show its grids cannot fit: then the coarsened one at once
        (or SupportTooLargeError when coarsening is off)."""
        requested = self.value_discretization_interval
        width = self._probe_width()
        if width / requested <= _PROBE_MARGIN * self.max_atoms:
            return requested
        if not self.coarsen:
            needed = interval_for(width, self.max_atoms)
            raise SupportTooLargeError(
                f"the composed PLD spans about {width:.3g} nats: more than {self.max_atoms} atoms at interval "
                f"{requested:g}; give a value_discretization_interval of at least {needed:.3g}",
                needed,
                width,
            )
        return max(requested, interval_for(width, COARSENED_ATOMS))

    def _compose_at(self, interval: float) -> dict[str, GridPLD | None]:
        result: dict[str, GridPLD | None] = {}
        for side in NEIGHBOURING_SIDES:
            phases = [
                self_compose(
                    self._single_step(e.noise_multiplier, e.sample_rate, side, interval),
                    e.num_steps,
                    self.tail_mass,
                    self.max_atoms,
                )
                for e in self.history
                if e.num_steps > 0
            ]
            result[side] = (
                reduce(lambda a, b: compose(a, b, self.tail_mass, self.max_atoms), phases) if phases else None
            )
        return result

    def composed_pld(self) -> dict[str, GridPLD | None]:
        """The composed grid PLD for each neighbouring side ("remove", "add"); None when nothing was recorded.
        Coarsens the grid (see the class docstring) when the requested one would not fit in `max_atoms`."""
        key = tuple(self.history)
        if self._composed is not None and self._composed[0] == key:
            return self._composed[1]
        interval = self._first_interval()
        for _ in range(_MAX_COARSENINGS):
            try:
                result = self._compose_at(interval)
                break
            except SupportTooLargeError as err:  # the probe underestimated: coarsen from the measured width
                if not self.coarsen:
                    raise SupportTooLargeError(
                        f"{err}: give a value_discretization_interval of at least {err.needed_interval:.3g}",
                        err.needed_interval,
                        err.width,
                    ) from None
                self._step_cache = {k: v for k, v in self._step_cache.items() if k[3] != interval}
                interval = max(interval_for(err.width, COARSENED_ATOMS), interval * _MIN_COARSENING)
        else:  # pragma: no cover - each pass coarsens by >= 25 %, so 64 passes span a factor of 1e6
            raise SupportTooLargeError("no PLD grid within the memory bound was found", interval)
        self.interval_used = interval
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
        return (
            f"PLDAccountant(value_discretization_interval={self.value_discretization_interval}, "
            f"history={self.history!r})"
        )
