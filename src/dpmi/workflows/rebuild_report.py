"""`dpmi report`: redraw a run's figures and report.html from its results.json and saved reconstructions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dpmi.flags import option
from dpmi.workflows.command_output import CommandOutput
from dpmi.workflows.study_answer import study_lines


@dataclass
class ReportOptions:
    """Redraw the figures and report.html of RUN_DIR from results.json and the saved reconstructions (no
    data, no training). The report contains personal data; --shareable also writes report_shareable.html
    without the real faces."""

    run_dir: str = option("", "RUN_DIR", "a directory written by `dpmi run`")
    shareable: bool = option(False, "--shareable", "also write report_shareable.html, leaving the real faces out")


def rebuild_report(options: ReportOptions, log: Callable[[str], None] = print) -> CommandOutput:
    from dpmi.study.results import load_results, render_outputs
    from dpmi.study.store import RunStore

    results = load_results(options.run_dir)
    if results.migrated_from is not None:
        log(
            f"{options.run_dir} was written by an older dpmi (results format {results.migrated_from}, MI-FACE "
            "only); showing it as recorded"
        )
    shareable = options.shareable or bool(results.config.get("shareable"))
    paths = render_outputs(RunStore(options.run_dir), results, shareable=shareable)
    return CommandOutput([*study_lines(results, results.summaries()), "wrote " + ", ".join(map(str, paths.values()))])
