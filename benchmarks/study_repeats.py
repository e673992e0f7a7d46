"""How long the default `dpmi run` takes, as a range: the study run N times (default 3) with a warm cache.

The README's timings come from here. One warm-up run first fills the artefact cache (recipes, judges, priors) and
is not counted unless --no-warmup; then each repeat runs the whole study into a fresh temporary directory (no
resume) and its wall time and per-phase split are recorded. Printed: min / median / max of the total and of each
phase, and each repeat's total, so the spread between runs on the same machine is visible (issue 23 measured
87-145 s warm on an idle 2-core machine where one run had said 78 s).

Run it on an otherwise idle machine: timings are wall clock and other work sharing the CPU inflates them.

    .venv/bin/python benchmarks/study_repeats.py [--repeats N] [--jobs N] [--quick] [--no-warmup] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def run_once(data: str | None, jobs: int, quick: bool) -> tuple[float, dict[str, float]]:
    """One whole study into a fresh directory: (wall seconds measured here, the run's own phase timings)."""
    from dpmi.study.config import make_config
    from dpmi.study.runner import run_study

    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(data=data, out=os.path.join(tmp, "run"), jobs=jobs, quick=quick or None)
        start = time.perf_counter()
        result = run_study(config, progress=False, log=lambda message: None)
        wall = time.perf_counter() - start
    return wall, dict(result.timings)


def spread(values: list[float]) -> tuple[float, float, float]:
    """(min, median, max) of the values."""
    return min(values), statistics.median(values), max(values)


def report(walls: list[float], timings: list[dict[str, float]]) -> list[str]:
    """The table: total wall time and every phase as min / median / max over the repeats."""
    lines = [f"{'phase':<15}{'min s':>9}{'median s':>10}{'max s':>9}"]
    phases = [p for p in timings[0] if p != "total"]
    for phase in phases:
        low, mid, high = spread([t.get(phase, 0.0) for t in timings])
        lines.append(f"{phase:<15}{low:>9.1f}{mid:>10.1f}{high:>9.1f}")
    low, mid, high = spread(walls)
    lines.append(f"{'total (wall)':<15}{low:>9.1f}{mid:>10.1f}{high:>9.1f}")
    lines.append("repeats: " + ", ".join(f"{w:.1f} s" for w in walls) + f"; max / min = {high / low:.2f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="counted runs, >= 1 (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2, as `make run`)")
    parser.add_argument("--quick", action="store_true", help="time --quick instead of the default run")
    parser.add_argument("--no-warmup", action="store_true", help="count the first run too (its cache may be cold)")
    parser.add_argument("--data", default=os.environ.get("DPMI_DATA"))
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if not args.no_warmup:
        wall, _ = run_once(args.data, args.jobs, args.quick)
        print(f"warm-up run (not counted): {wall:.1f} s", flush=True)
    walls, timings = [], []
    for repeat in range(args.repeats):
        wall, phases = run_once(args.data, args.jobs, args.quick)
        walls.append(wall)
        timings.append(phases)
        print(f"repeat {repeat + 1}/{args.repeats}: {wall:.1f} s", flush=True)
    what = f"dpmi run{' --quick' if args.quick else ''} --jobs {args.jobs}"
    print(f"\n{what}, warm cache, {args.repeats} repeats, cpu count {os.cpu_count()}:")
    print("\n".join(report(walls, timings)))
    print("(training, attacks, metrics, audit are summed over worker tasks; the other phases are wall clock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
