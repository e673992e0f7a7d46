"""`dpmi epsilon` and `dpmi sigma`: a DP-SGD schedule (from q and steps, or from batch, dataset size and
epochs), the accountants' options, and the epsilon or sigma each accountant gives, as lines or JSON.

Light: nothing here imports torch (`dpmi.privacy.accounting` is numpy and scipy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dpmi.flags import option
from dpmi.workflows.command_output import CommandOutput

SCHEDULE = (
    "the DP-SGD schedule: --sample-rate and --steps, or --batch-size, --dataset-size and --epochs "
    "(q = B/N, steps = ceil(epochs * N / B))"
)
# Accountant options a flag sets: (accountant, library option name) -> the flag, so notes name the flag.
PLD_INTERVAL = ("pld", "value_discretization_interval", "--pld-interval")


def _accountant_choices() -> tuple[str, ...]:
    from dpmi.privacy.accounting import available_accountants

    return (*available_accountants(), "all")


def _accountants_help() -> str:
    from dpmi.privacy.accounting import accountant_summary, available_accountants

    each = "; ".join(f"{name.upper()}: {accountant_summary(name)}" for name in available_accountants())
    return f"which accountant(s): {each} (default all)"


def _pld_interval_help() -> str:
    from dpmi.privacy.accounting.pld_accountant import DEFAULT_INTERVAL

    return (
        f"PLD grid step in nats, > 0 (default {DEFAULT_INTERVAL:g}): smaller is tighter and slower. A grid too "
        "fine to fit in memory is coarsened automatically, and the output says so"
    )


@dataclass
class ScheduleOptions:
    """The schedule and accounting flags `dpmi epsilon` and `dpmi sigma` share."""

    sample_rate: float | None = option(
        None, "--sample-rate", "Poisson sampling rate q in (0, 1]", kind="float", metavar="Q", group=SCHEDULE
    )
    steps: int | None = option(None, "--steps", "number of DP-SGD steps, >= 1", kind="int", group=SCHEDULE)
    batch_size: int | None = option(
        None, "--batch-size", "expected batch (lot) size", kind="int", metavar="B", group=SCHEDULE
    )
    dataset_size: int | None = option(
        None, "--dataset-size", "training set size", kind="int", metavar="N", group=SCHEDULE
    )
    epochs: float | None = option(None, "--epochs", "passes over the data", kind="float", group=SCHEDULE)
    delta: float = option(1e-5, "--delta", "DP delta in (0, 1)", kind="float")
    accountant: str = option("all", "--accountant", _accountants_help, choices=_accountant_choices)
    pld_interval: float | None = option(None, "--pld-interval", _pld_interval_help, kind="float", metavar="NATS")
    json: bool = option(False, "--json", "print JSON instead of text")

    def schedule(self) -> tuple[float, int]:
        """(q, steps) from --sample-rate/--steps or from --batch-size/--dataset-size/--epochs."""
        from dpmi.privacy.accounting import sampling_from_batches

        direct = self.sample_rate is not None or self.steps is not None
        derived = (self.batch_size, self.dataset_size, self.epochs)
        if direct and any(v is not None for v in derived):
            raise ValueError("give --sample-rate and --steps, or --batch-size, --dataset-size and --epochs, not both")
        if any(v is not None for v in derived):
            if self.batch_size is None or self.dataset_size is None or self.epochs is None:
                raise ValueError("--batch-size, --dataset-size and --epochs go together: give all three")
            return sampling_from_batches(self.batch_size, self.dataset_size, self.epochs)
        if self.sample_rate is None or self.steps is None:
            raise ValueError("give --sample-rate and --steps (or --batch-size, --dataset-size and --epochs)")
        if not 0 < self.sample_rate <= 1:
            raise ValueError(f"--sample-rate must be in (0, 1], got {self.sample_rate}")
        if self.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {self.steps}")
        return self.sample_rate, self.steps

    def accountant_options(self) -> dict[str, dict[str, float]]:
        """Per-accountant options from the flags (today only --pld-interval), checked with --delta before any
        work."""
        if not (math.isfinite(self.delta) and 0 < self.delta < 1):
            raise ValueError(f"--delta must be in (0, 1), got {self.delta}")
        if self.pld_interval is None:
            return {}
        if not (math.isfinite(self.pld_interval) and self.pld_interval > 0):
            raise ValueError(f"--pld-interval must be a finite number of nats > 0 (e.g. 1e-3), got {self.pld_interval}")
        return {PLD_INTERVAL[0]: {PLD_INTERVAL[1]: self.pld_interval}}


@dataclass
class EpsilonOptions(ScheduleOptions):
    """Epsilon spent by DP-SGD with noise multiplier sigma, at delta."""

    sigma: float | None = option(
        None, "--sigma", "noise multiplier (noise std / clip norm), > 0", kind="float", required=True
    )


@dataclass
class SigmaOptions(ScheduleOptions):
    """The smallest DP-SGD noise multiplier whose epsilon at delta is <= the target."""

    epsilon: float | None = option(None, "--epsilon", "target epsilon, > 0", kind="float", required=True)


def flag_note(note: str) -> str:
    """A library note in the CLI's words: the PLD grid option is the --pld-interval flag."""
    _, name, flag = PLD_INTERVAL
    if "PLD grid" in note or name in note:
        return note.replace(name, flag) + f" ({flag} sets the grid)"
    return note


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _positive(value: float | None, flag: str) -> float:
    if value is None or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be > 0, got {value}")
    return value


def epsilon_report(options: EpsilonOptions, log: Any = None) -> CommandOutput:
    """Epsilon of DP-SGD at noise multiplier `options.sigma` by each accountant asked for."""
    from dpmi.privacy.accounting import epsilon_table

    sigma = _positive(options.sigma, "--sigma")
    extra = options.accountant_options()
    q, steps = options.schedule()
    table = epsilon_table(sigma, q, steps, options.delta, options.accountant, extra)
    lines = [f"sigma {sigma:g}, q {q:.6g}, {steps} steps, delta {options.delta:g}:"]
    for name, r in table.items():
        order = f" (order {r.order:g})" if r.order is not None else ""
        note = f"  [{flag_note(r.note)}]" if r.note else ""
        lines.append(f"  epsilon ({name.upper()}) = {r.epsilon:.6g}{order}{note}")
    data = {
        "sigma": sigma,
        "sample_rate": q,
        "steps": steps,
        "delta": options.delta,
        "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
        "order": {name: r.order for name, r in table.items() if r.order is not None},
        "note": {name: r.note for name, r in table.items() if r.note},
    }
    return CommandOutput(lines, data)


def sigma_report(options: SigmaOptions, log: Any = None) -> CommandOutput:
    """The smallest noise multiplier meeting `options.epsilon`, by each accountant asked for."""
    from dpmi.privacy.accounting import sigma_table

    epsilon = _positive(options.epsilon, "--epsilon")
    extra = options.accountant_options()
    q, steps = options.schedule()
    table = sigma_table(epsilon, options.delta, q, steps, options.accountant, options=extra)
    lines = [f"target epsilon {epsilon:g}, q {q:.6g}, {steps} steps, delta {options.delta:g}:"]
    for name, r in table.items():
        note = f"  [{flag_note(r.note)}]" if r.note else ""
        lines.append(f"  sigma ({name.upper()}) = {r.noise_multiplier:.6g}  (epsilon {r.epsilon:.6g}){note}")
    data = {
        "target_epsilon": epsilon,
        "sample_rate": q,
        "steps": steps,
        "delta": options.delta,
        "sigma": {name: r.noise_multiplier for name, r in table.items()},
        "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
        "note": {name: r.note for name, r in table.items() if r.note},
    }
    return CommandOutput(lines, data)
