"""One-call epsilon and noise calibration for a single DP-SGD phase, and the tables the CLI prints."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .factory import ACCOUNTANTS, make_accountant
from .pld_grid_budget import SupportTooLargeError
from .rdp_accountant import RDPAccountant
from .steps import dpsgd_steps
from .validation import check_delta, check_epsilon, check_noise_multiplier, check_sample_rate, check_steps

# get_noise_multiplier returns sigma with sigma* <= sigma <= sigma* (1 + SIGMA_RTOL), sigma* the exact smallest one
# (up to the accountant's own monotonicity).
SIGMA_RTOL = 1e-4
_SIGMA_MAX = 1e6


def compute_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp", **options: Any
) -> float:
    """Epsilon (nats) of `steps` Poisson-subsampled Gaussian steps at delta in (0, 1), by a registered accountant
    ("rdp", "pld", ...) built with `options` (e.g. value_discretization_interval=1e-3 for "pld")."""
    return _epsilon_and_note(noise_multiplier, sample_rate, steps, delta, accountant, options)[0]


def _epsilon_and_note(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str, options: Mapping[str, Any]
) -> tuple[float, str]:
    acc = make_accountant(accountant, **options)
    acc.step(noise_multiplier, sample_rate, steps)
    epsilon = acc.get_epsilon(delta)
    return epsilon, str(getattr(acc, "note", "") or "")


def bisect_noise_multiplier(
    epsilon_of: Callable[[float], float],
    target_epsilon: float,
    low: float,
    high: float,
    tolerance: float,
    relative: bool = False,
) -> float:
    """Smallest noise level with epsilon_of(noise) <= target_epsilon, to `tolerance` (absolute, or relative to the
    answer when `relative`). epsilon_of must decrease in the noise. `high` is doubled until it meets the target;
    `low` must be a level that misses it (0 is allowed and never evaluated). The returned level always meets it."""
    while epsilon_of(high) > target_epsilon:
        low, high = high, 2.0 * high
        if high > _SIGMA_MAX:
            raise ValueError(f"target_epsilon={target_epsilon} is not reachable with noise <= {_SIGMA_MAX}")
    while high - low > (tolerance * high if relative else tolerance):
        mid = 0.5 * (low + high)
        if epsilon_of(mid) <= target_epsilon:
            high = mid
        else:
            low = mid
    return high


def get_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = "rdp",
    rtol: float = SIGMA_RTOL,
    **options: Any,
) -> float:
    """Smallest noise multiplier whose epsilon over `steps` steps at rate `sample_rate` is <= target_epsilon.

    target_epsilon in (0, inf), delta in (0, 1), sample_rate in (0, 1], steps >= 1. Bisection to relative tolerance
    `rtol` (default 1e-4): the answer is never below the exact one and never above it by more than rtol. PLD starts
    from the RDP answer, which is an upper bracket because PLD's epsilon is smaller up to discretisation.
    `options` build the accountant (e.g. value_discretization_interval for "pld").
    """
    target = check_epsilon(target_epsilon, "target_epsilon")
    if target == 0.0:
        raise ValueError("target_epsilon must be > 0: epsilon 0 needs infinite noise")
    delta = check_delta(delta)
    q = check_sample_rate(sample_rate)
    n = check_steps(steps, "steps")
    if n == 0:
        raise ValueError("steps must be >= 1 to calibrate a noise multiplier")
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {accountant!r}")

    def epsilon_of(sigma: float) -> float:
        return compute_epsilon(sigma, q, n, delta, accountant, **options)

    if accountant == "rdp" and not options:
        return bisect_noise_multiplier(epsilon_of, target, 0.0, 1.0, rtol, relative=True)
    if accountant == "rdp":
        high = get_noise_multiplier(target, delta, q, n, "rdp", rtol)  # the default orders bracket the answer
        return bisect_noise_multiplier(epsilon_of, target, 0.0, high, rtol, relative=True)
    high = get_noise_multiplier(target, delta, q, n, "rdp", rtol)
    low = 0.5 * high
    while epsilon_of(low) <= target:  # the bisection needs a lower end that misses the target
        low, high = 0.5 * low, low
    return bisect_noise_multiplier(epsilon_of, target, low, high, rtol, relative=True)


@dataclass(frozen=True)
class EpsilonResult:
    """One accountant's answer: epsilon at delta, the RDP order used (None for PLD), and a note on its limits."""

    accountant: str
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    order: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SigmaResult:
    """One accountant's calibrated noise multiplier and the epsilon it actually achieves (<= target), with a note
    on its limits (e.g. a PLD grid coarsened to fit in memory; empty when nothing to report)."""

    accountant: str
    noise_multiplier: float
    epsilon: float
    target_epsilon: float
    delta: float
    sample_rate: float
    steps: int
    rtol: float = SIGMA_RTOL
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _accountant_names(accountants: str | Sequence[str]) -> list[str]:
    if accountants == "all":
        names = list(ACCOUNTANTS)
    else:
        names = [accountants] if isinstance(accountants, str) else list(accountants)
    for name in names:
        if name not in ACCOUNTANTS:
            raise ValueError(f"accountant must be one of {ACCOUNTANTS} or 'all', got {name!r}")
    return names


def sampling_from_batches(batch_size: int, dataset_size: int, epochs: float) -> tuple[float, int]:
    """(sample_rate, steps) for expected batch size / dataset size and a number of epochs (passes):
    q = batch_size / dataset_size and steps = `dpsgd_steps(epochs, q)` (ceil(epochs / q), as training takes)."""
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not (isinstance(dataset_size, int) and dataset_size >= batch_size):
        raise ValueError(f"dataset_size must be an integer >= batch_size ({batch_size}), got {dataset_size!r}")
    if not (epochs > 0 and math.isfinite(epochs)):
        raise ValueError(f"epochs must be in (0, inf), got {epochs!r}")
    q = batch_size / dataset_size
    return q, dpsgd_steps(epochs, q)


def epsilon_table(
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountants: str | Sequence[str] = "all",
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, EpsilonResult]:
    """{accountant: EpsilonResult} for `dpmi epsilon`; accountants "all" or names; `options` maps a name to the
    keyword options its accountant is built with (e.g. {"pld": {"value_discretization_interval": 1e-3}})."""
    sigma = check_noise_multiplier(noise_multiplier)
    q = check_sample_rate(sample_rate)
    n = check_steps(steps, "steps")
    delta = check_delta(delta)
    out: dict[str, EpsilonResult] = {}
    for name in _accountant_names(accountants):
        kwargs = dict((options or {}).get(name, {}))
        if name == "rdp":
            acc = RDPAccountant(**kwargs)
            acc.step(sigma, q, n)
            g = acc.get_privacy_spent(delta)
            out[name] = EpsilonResult(name, g.epsilon, delta, sigma, q, n, g.order, g.note)
            continue
        try:
            eps, note = _epsilon_and_note(sigma, q, n, delta, name, kwargs)
        except SupportTooLargeError as err:
            eps, note = math.inf, f"not computed: {err}"
        if not math.isfinite(eps) and not note:
            note = "delta is below the probability mass the PLD cannot resolve"
        out[name] = EpsilonResult(name, eps, delta, sigma, q, n, None, note)
    return out


def sigma_table(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountants: str | Sequence[str] = "all",
    rtol: float = SIGMA_RTOL,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, SigmaResult]:
    """{accountant: SigmaResult} for `dpmi sigma`: the smallest noise multiplier per accountant meeting the target;
    `options` as in `epsilon_table`."""
    out: dict[str, SigmaResult] = {}
    for name in _accountant_names(accountants):
        kwargs = dict((options or {}).get(name, {}))
        sigma = get_noise_multiplier(target_epsilon, delta, sample_rate, steps, name, rtol, **kwargs)
        eps, note = _epsilon_and_note(sigma, sample_rate, steps, delta, name, kwargs)
        out[name] = SigmaResult(
            name, sigma, eps, float(target_epsilon), float(delta), float(sample_rate), int(steps), rtol, note
        )
    return out
