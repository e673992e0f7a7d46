"""Report sections by registry: a section is one `ReportSection` plus one registration line in
`_register_builtins` (or a plugin calling `REPORT_SECTIONS.register`). `dpmi report` and `dpmi run` render every
registered section after the study's own tables and figures, in registration order, without naming any.

A section is a page part, `page(results) -> escaped HTML or None`, and/or a per-level panel:
`panel(results, level) -> escaped HTML or None` for each privacy level, with `intro(results)` shown once above
the levels (e.g. a table and a figure). A section that returns nothing is left out of the page.
"""

from __future__ import annotations

from dpmi.registry import Registry
from dpmi.study.report_section import ReportSection

__all__ = ["REPORT_SECTIONS", "ReportSection"]


def _register_builtins() -> None:
    """The built-in sections, one line each (registered explicitly: importing a module registers nothing)."""
    from dpmi.study.audit_phase import AUDIT_SECTION
    from dpmi.study.frontier import FRONTIER_SECTION

    REPORT_SECTIONS.register("frontier", FRONTIER_SECTION, summary=FRONTIER_SECTION.title)
    REPORT_SECTIONS.register("privacy-audit", AUDIT_SECTION, summary=AUDIT_SECTION.title)


REPORT_SECTIONS: Registry[ReportSection] = Registry("report section", loader=_register_builtins)
