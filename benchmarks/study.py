"""How long the default `dpmi run` takes, and where the time goes.

Runs the default study (5 privacy levels x 3 seeds = 15 cells, MI-FACE on all 40 people) into a temporary
directory and prints the per-phase split: data, accounting (sigma calibration + RDP/PLD epsilons),
evaluator (trained once per study), training, attack, metrics, report. The goal is <= 60 s in all on the
2-core development machine. Timings are wall-clock and noisy when other work shares the CPU; the shares
within one run are the robust part.

    .venv/bin/python benchmarks/study.py [--jobs N] [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

GOAL_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="time --quick instead of the default run")
    parser.add_argument("--data", default=os.environ.get("DPMI_DATA"))
    args = parser.parse_args()

    from dpmi.study.config import make_config
    from dpmi.study.runner import run_study
    from dpmi.study.summary import summary_table

    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(data=args.data, out=os.path.join(tmp, "run"), jobs=args.jobs, quick=args.quick or None)
        result = run_study(config, progress=False)
    timings = result.timings
    cells = result.cells_run
    print(summary_table(result.summaries))
    print()
    print(f"dpmi run{' --quick' if args.quick else ''} --jobs {args.jobs}: {cells} cells, "
          f"torch threads {config.threads} per process, cpu count {os.cpu_count()}")
    print(f"{'phase':<12}{'seconds':>9}{'share':>8}{'per cell':>10}")
    phases = [k for k in timings if k != "total"]
    for phase in phases:
        per_cell = f"{timings[phase] / cells:.2f}" if phase in ("training", "attack", "metrics") and cells else ""
        print(f"{phase:<12}{timings[phase]:>9.2f}{timings[phase] / timings['total']:>8.0%}{per_cell:>10}")
    print(f"{'total':<12}{timings['total']:>9.2f}")
    if not args.quick:
        verdict = "meets" if timings["total"] <= GOAL_S else "MISSES"
        print(f"\ndefault run {timings['total']:.1f} s: {verdict} the <= {GOAL_S:.0f} s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
