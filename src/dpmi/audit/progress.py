"""How `audit_level` reports its progress: the phases it will run, planned before anything trains, and the
training steps of each as they finish.

The unit is one optimizer step (a step of the shadow models trained together counts once, however many
models the stack holds), plus one per accounting bound (the identity epsilon, the reconstruction bounds). The
plan's totals are exact: every phase advances by exactly its planned steps (the tests check it), so a bar
over the plan ends at its total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AuditPhase:
    """One phase of an audit.

    Attributes:
        key: "shadows", "one_run", "white_box" or "accounting".
        label: what it does, in words (e.g. "64 shadow models and the target, trained together").
        steps: the units it advances by in all (optimizer steps; accounting: one per bound).
    """

    key: str
    label: str
    steps: int


class AuditProgress(Protocol):
    """What `audit_level(progress=...)` calls: `plan` once before any work, then `start` per phase in plan
    order, `advance` as its steps finish."""

    def plan(self, phases: Sequence[AuditPhase]) -> None: ...

    def start(self, phase: AuditPhase) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class PhaseProgress:
    """`audit_level`'s side: forwards to a reporter, or does nothing without one."""

    def __init__(self, inner: AuditProgress | None) -> None:
        self.inner = inner
        self.phases: dict[str, AuditPhase] = {}

    def plan(self, phases: Sequence[AuditPhase]) -> None:
        self.phases = {p.key: p for p in phases}
        if self.inner is not None:
            self.inner.plan(list(phases))

    def start(self, key: str) -> None:
        if self.inner is not None:
            self.inner.start(self.phases[key])

    def advance(self, steps: int = 1) -> None:
        if self.inner is not None and steps:
            self.inner.advance(int(steps))
