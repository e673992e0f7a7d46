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
    judge). Refuses runs on different faces or different private people, or with no level or attack in
    common."""

    run_a: str = option("", "RUN_A", "a directory written by `dpmi run`")
    run_b: str = option("", "RUN_B", "another one")
    out: str = option("compare.png", "--out", "where the figure goes", metavar="PNG")


def compare_command(options: CompareOptions, log: Callable[[str], None] = print) -> CommandOutput:
    from dpmi.atomic_files import atomic_write_bytes
    from dpmi.study.compare import compare_runs, comparison_figure, comparison_table
    from dpmi.study.results import load_results

    out = Path(options.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: give a file path such as {out / 'compare.png'}")
    rows = compare_runs(load_results(options.run_a), load_results(options.run_b))
    name_a, name_b = Path(options.run_a).name, Path(options.run_b).name
    atomic_write_bytes(out, comparison_figure(rows, name_a, name_b))
    return CommandOutput([comparison_table(rows, name_a, name_b), f"wrote {out}"])
