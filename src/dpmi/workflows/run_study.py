"""`dpmi run`: the study config from defaults, the TOML file and the flags; the number of worker processes
(by default the usable cores, at most one per cell); the run; and what it says afterwards (the summary table,
the short answer, the cells run and the time per phase)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dpmi.flags import option
from dpmi.workflows.command_output import CommandOutput
from dpmi.workflows.study_answer import study_lines


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _jobs_help() -> str:
    return (
        f"worker processes for the cells, >= 1 (default: the usable cores, {usable_cores()} here, divided by "
        "--threads, at most one per cell)"
    )


@dataclass
class RunOptions:
    """Run (or resume) the study: does DP-SGD stop model inversion, and at what epsilon? Writes results and
    a report. The outputs contain personal data (faces of private people) and are private by default."""

    # `dpmi run`'s own flags; the study's settings are StudyConfig's (jobs is declared here: its default
    # depends on this machine).

    config: str | None = option(None, "--config", "study config file (see below); flags override it", metavar="TOML")
    no_progress: bool = option(False, "--no-progress", "no progress bar")
    jobs: int | None = option(None, "--jobs", _jobs_help, kind="int", metavar="N")


def run_epilog() -> str:
    from dpmi.study.flags import config_sections_help

    return f"""\
defaults: the AT&T faces, the first half of the people private (the target's), the rest public (the
attacker's prior and the recipe search); 7 train / 3 test images per private person; softmax regression;
privacy levels non-private, DP-SGD at sigma 0.5 (the tutorial: lot 40, clip 1, delta 1e-5) and DP-SGD
calibrated to epsilon 8, 3 and 1, each with the recipe a search on the public people chose; 3 seeds; the
attacks mi-face, pca-prior and gmi (those registered) on every private person; one worker process per
usable core (at most one per cell).

PERSONAL DATA: the outputs contain reconstructions of private people's faces and their real mean faces.
They are written readable by you only and are private by default; --shareable adds a report without the
real faces.

outputs in --out (default runs/<name>, name default a UTC timestamp):
  results.json   config, versions, data provenance, people split, levels, recipes, every cell, timings
  results.csv    one row per privacy level x seed x attack
  figures/       privacy_utility_leakage.png, reconstructions.png, audit_roc.png (with the audit)
  report.html    one self-contained page (figures embedded); report_shareable.html with --shareable
  cells/         one JSON (+ .npy reconstructions) per finished cell: re-running into the same --out
                 skips them, so an interrupted run resumes where it stopped
  audit/         one JSON per audited privacy level (first seed; [audit]): kept when resuming

config file (--config study.toml; flags given on the command line override it):
{config_sections_help()}

examples:
  dpmi run --data ~/att_faces
  dpmi run --quick --out runs/smoke
  dpmi run --model cnn --attacks mi-face,pca-prior --attack-option mi-face.max_iter=500
  dpmi run --config study.toml --jobs 2 --epsilons 8,3,1,0.5
"""


def study_config(options: RunOptions, overrides: Mapping[str, Any]) -> Any:
    """The StudyConfig of the flags and the file; jobs given by neither is the usable cores over the threads
    per process, at most one per cell."""
    from dpmi.study.config import load_config_file, make_config
    from dpmi.study.levels import plan_levels

    given = {**overrides, "jobs": options.jobs}
    config = make_config(options.config, **given)
    if options.jobs is None and not (options.config and "jobs" in load_config_file(options.config)):
        cells = len(plan_levels(config)) * len(config.cell_seeds())
        jobs = max(1, min(usable_cores() // config.run.threads, cells))
        config = make_config(options.config, **{**given, "jobs": jobs})
    return config


def run_command(options: RunOptions, overrides: Mapping[str, Any], log: Callable[[str], None] = print) -> CommandOutput:
    """Run (or resume) the study; the table, the short answer, the cells and the time per phase."""
    from dpmi.study.results import load_results
    from dpmi.study.runner import run_study

    result = run_study(study_config(options, overrides), progress=not options.no_progress, log=log)
    lines = study_lines(load_results(result.run_dir), result.summaries)
    phases = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items() if k != "total")
    return CommandOutput(
        [
            *lines,
            "",
            f"{result.cells_run} cells run, {result.cells_skipped} resumed; {result.timings['total']:.1f} s in all",
            f"phases (s; training, attacks, metrics and audit are summed over the workers' tasks): {phases}",
            f"report: {result.run_dir / 'report.html'} (personal data: keep it private)",
        ]
    )
