"""What a report section is (`ReportSection`), apart from the registry so a section's own file can declare one
without importing the registry (see `dpmi.study.report_sections`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpmi.study.levels import PrivacyLevel
    from dpmi.study.results import StudyResults


@dataclass(frozen=True)
class ReportSection:
    """A part of the report: its heading and what it shows (see the module docstring)."""

    title: str
    panel: Callable[[StudyResults, PrivacyLevel], str | None] | None = None
    intro: Callable[[StudyResults], str | None] | None = None
    page: Callable[[StudyResults], str | None] | None = None
