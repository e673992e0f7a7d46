"""What a study worker runs: a cell (`dpmi.study.cell.CellTask`) or a level's privacy audit
(`dpmi.study.audit_phase.AuditTask`), both with the worker's shared context (`dpmi.study.cell.init_worker`).

Why one pool for both: the audits (shadow models, canaries) used to run one after another once the cells were
done, leaving all but one core idle for a fifth of the default study; as tasks beside the cells they fill the
workers (longest first: see `dpmi.study.runner`).
"""

from __future__ import annotations

from typing import Any

from dpmi.study.audit_phase import AuditTask, run_audit_task
from dpmi.study.cell import CellTask, run_cell_task, worker_context


def run_task(task: CellTask | AuditTask) -> Any:
    """A cell's (record, images) or an audit's JSON-ready record."""
    if isinstance(task, CellTask):
        return run_cell_task(task)
    if isinstance(task, AuditTask):
        context = worker_context()
        return run_audit_task(task, context.train, context.test, context.public)
    raise TypeError(f"a study worker runs CellTask or AuditTask, got {type(task).__name__}")
