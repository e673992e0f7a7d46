"""`dpmi compare`: the differences of two runs, level by level and attack by attack, as a table and a figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dpmi.flags import option
from dpmi.workflows.command_output import CommandOutput


@dataclass
class CompareOptions:
    """Print and plot the differences of two studies (privacy levels, accuracies, attack success by each
    judge), each rate with its 95% Clopper-Pearson interval and whether the difference is beyond noise; notes
    first when the runs' seeds or settings differ. Refuses runs on different faces or different private
    people, or with no level or attack in common."""

    run_a: str = option("", "RUN_A", "a directory written by `dpmi run`")
    run_b: str = option("", "RUN_B", "another one")
    out: str | None = option(
        None,
        "--out",
        "where the figure goes (default: compare_<A>_vs_<B>.png beside RUN_A, in its parent directory)",
        metavar="PNG",
    )
    json: bool = option(False, "--json", "print the comparison as JSON on stdout (default: text)")


def default_figure_path(run_a: str, run_b: str) -> Path:
    """compare_<A>_vs_<B>.png in RUN_A's parent directory: beside the runs, never the working directory."""
    a, b = Path(run_a).resolve(), Path(run_b).resolve()
    return a.parent / f"compare_{a.name}_vs_{b.name}.png"


def compare_command(options: CompareOptions, log: Callable[[str], None] = print) -> CommandOutput:
    from dpmi.atomic_files import atomic_write_bytes
    from dpmi.study.compare import compare_data, compare_runs, comparison_figure, comparison_table, run_notes
    from dpmi.study.results import load_results

    out = Path(options.out) if options.out else default_figure_path(options.run_a, options.run_b)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: give a file path such as {out / 'compare.png'}")
    a, b = load_results(options.run_a), load_results(options.run_b)
    rows = compare_runs(a, b)
    notes = run_notes(a, b)
    name_a, name_b = Path(options.run_a).resolve().name, Path(options.run_b).resolve().name
    atomic_write_bytes(out, comparison_figure(rows, name_a, name_b))
    lines = [f"note: {note}" for note in notes]
    lines += [comparison_table(rows, name_a, name_b), f"wrote {out}"]
    return CommandOutput(lines, {**compare_data(rows, notes), "figure": str(out)}, indent=2)
