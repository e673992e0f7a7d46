"""Where a study's cells spend their time, per kind of level (privacy levels, early-stop, each defense).

    python benchmarks/study_phases.py runs/NAME            # or a results.json (e.g. docs/results/softmax.json)

Reads the cells' recorded phase seconds (train, attack, metrics: task-seconds, each measured inside its cell)
and the audits' (summed over their parts), groups them by the level's defense, and prints the totals and the
mean cell's time as a ratio to the mean non-private cell's, all from the one run (timings on a shared machine
are noisy across runs; ratios within one run much less so).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def _kind(level: dict) -> str:
    defense = level.get("defense") or "none"
    if defense == "none":
        return "non-private" if level.get("noise_multiplier") is None else "dp-sgd"
    return defense


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    path = Path(argv[0])
    results = json.loads((path / "results.json" if path.is_dir() else path).read_text())
    cells: dict[str, list[dict]] = defaultdict(list)
    for cell in results["cells"]:
        cells[_kind(cell["level"])].append(cell["timings"])
    audits: dict[str, float] = defaultdict(float)
    for audit in results.get("audits", []):
        audits[_kind(audit["level"])] += sum(audit["record"].get("seconds", {}).values())
    base = cells.get("non-private") or next(iter(cells.values()))
    base_cell = sum(sum(t.values()) for t in base) / len(base)
    print(
        f"{'kind':14s} {'cells':>5s} {'train':>7s} {'attack':>7s} {'metrics':>7s} {'audit':>7s} {'per cell':>9s} ratio"
    )
    totals = defaultdict(float)
    for kind, timings in cells.items():
        sums = {phase: sum(t.get(phase, 0.0) for t in timings) for phase in ("train", "attack", "metrics")}
        for phase, value in sums.items():
            totals[phase] += value
        totals["audit"] += audits[kind]
        per_cell = sum(sums.values()) / len(timings)
        print(
            f"{kind:14s} {len(timings):5d} {sums['train']:7.1f} {sums['attack']:7.1f} {sums['metrics']:7.1f} "
            f"{audits[kind]:7.1f} {per_cell:8.1f}s {per_cell / base_cell:5.2f}x"
        )
    print(
        f"{'all':14s} {sum(map(len, cells.values())):5d} {totals['train']:7.1f} {totals['attack']:7.1f} "
        f"{totals['metrics']:7.1f} {totals['audit']:7.1f}   (task-seconds; run total {results['timings'].get('total', 0):.0f} s wall)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
