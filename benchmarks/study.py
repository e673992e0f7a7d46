"""How long the default `dpmi run` takes, and where the time goes.

Runs the default study (5 privacy levels x 3 seeds = 15 cells, every registered attack of mi-face, pca-prior,
gmi on the 20 private people, softmax target, recipes searched on the public people) into a temporary
directory and prints the per-phase split: data, recipe search, accounting, evaluator (the judges), prior
(training or loading the attacks' face priors), training, attacks, metrics, report.

Goals (2-core development machine): <= 300 s with a cold artefact cache (recipes, judges and priors rebuilt),
<= 90 s with a warm one. `--cold` points $DPMI_CACHE at an empty directory first; by default the run uses the
current cache (warm after the first run). Timings are wall-clock and noisy when other work shares the CPU; the
shares within one run are the robust part.

    .venv/bin/python benchmarks/study.py [--cold] [--jobs N] [--quick] [--data DIR] [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

COLD_GOAL_S = 300.0
WARM_GOAL_S = 90.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2, as `make run`)")
    parser.add_argument("--quick", action="store_true", help="time --quick instead of the default run")
    parser.add_argument("--cold", action="store_true", help="start from an empty artefact cache")
    parser.add_argument("--model", default=None, help="target model (default: the study's)")
    parser.add_argument("--data", default=os.environ.get("DPMI_DATA"))
    parser.add_argument("--out", default=None, help="keep the run here (default: a temporary directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            os.environ["DPMI_CACHE"] = os.path.join(tmp, "cache")
        from dpmi.study.config import make_config
        from dpmi.study.runner import run_study
        from dpmi.study.summary import summary_table

        config = make_config(
            data=args.data,
            out=args.out or os.path.join(tmp, "run"),
            jobs=args.jobs,
            quick=args.quick or None,
            model=args.model,
        )
        result = run_study(config, progress=False)
    timings = result.timings
    cells = result.cells_run
    print(summary_table(result.summaries))
    print()
    print(
        f"dpmi run{' --quick' if args.quick else ''} --jobs {args.jobs} ({'cold' if args.cold else 'current'} "
        f"cache): {cells} cells, attacks {', '.join(config.attacks)}, torch threads {config.threads} per process, "
        f"cpu count {os.cpu_count()}"
    )
    # training, attacks, metrics and audit run in the workers: their seconds are summed over tasks (with N jobs
    # up to N times the wall clock they fill); the other phases are wall clock in the main process.
    in_workers = ("training", "attacks", "metrics", "audit")
    print(f"{'phase':<15}{'seconds':>9}{'share':>8}{'per cell':>10}  clock")
    for phase in (k for k in timings if k != "total"):
        per_cell = f"{timings[phase] / cells:.2f}" if phase in in_workers[:3] and cells else ""
        clock = "summed over worker tasks" if phase in in_workers else "wall"
        print(f"{phase:<15}{timings[phase]:>9.2f}{timings[phase] / timings['total']:>8.0%}{per_cell:>10}  {clock}")
    print(f"{'total':<15}{timings['total']:>9.2f}{'':>18}  wall")
    worker_seconds = sum(timings.get(phase, 0.0) for phase in in_workers)
    print(
        f"worker task-seconds {worker_seconds:.1f} over {args.jobs} job(s): at least {worker_seconds / args.jobs:.1f} s "
        "of wall clock"
    )
    hits = sum(choice.cached for choice in result.recipes.values() if choice.searched)
    print(f"recipe choices from the cache: {hits} of {sum(c.searched for c in result.recipes.values())}")
    if not args.quick:
        goal = COLD_GOAL_S if args.cold else WARM_GOAL_S
        verdict = "meets" if timings["total"] <= goal else "MISSES"
        print(
            f"\ndefault run {timings['total']:.1f} s: {verdict} the <= {goal:.0f} s "
            f"{'cold' if args.cold else 'warm'}-cache goal"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
