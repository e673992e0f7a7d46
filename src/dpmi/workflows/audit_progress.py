"""`dpmi audit`'s progress on stderr: on a terminal one bar over every phase's steps (the total is the plan's,
exact), its label naming the phase running; elsewhere (a log, a pipe) one line as each phase starts and one
when the audit ends. Nothing at all with --no-progress (the workflow then passes no reporter)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from dpmi.audit.progress import AuditPhase


class AuditProgressReport:
    """An `AuditProgress` for the command line (see the module docstring).

    Args:
        log: where the per-phase lines go (the CLI's stderr lines).
        stream: the bar's stream; the bar is drawn only when it is a terminal (default sys.stderr).
    """

    def __init__(self, log: Callable[[str], None], stream: TextIO | None = None) -> None:
        self.log = log
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.phases: list[AuditPhase] = []
        self.bar: Any = None
        self.done = 0
        self.started = time.perf_counter()

    @property
    def total(self) -> int:
        return sum(p.steps for p in self.phases)

    def plan(self, phases: Sequence[AuditPhase]) -> None:
        self.phases = list(phases)
        self.started = time.perf_counter()
        if self.terminal:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total, desc="audit", unit="step", file=self.stream, dynamic_ncols=True, leave=True
            )

    def start(self, phase: AuditPhase) -> None:
        number = self.phases.index(phase) + 1
        where = f"audit {number}/{len(self.phases)}"
        if self.bar is not None:
            self.bar.set_description_str(f"{where} {phase.key.replace('_', '-')}")
        else:
            self.log(f"{where}: {phase.label} ({phase.steps} steps; {self.done} of {self.total} done)")

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        if self.bar is not None:
            self.bar.update(steps)

    def close(self) -> None:
        """Close the bar (also after an error) and say how long the audit took."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.phases and self.done == self.total:
            self.log(f"audit finished: {self.done} steps in {time.perf_counter() - self.started:.1f} s")
