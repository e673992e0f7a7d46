"""A run's outputs, rebuilt from its finished cells: results.json, results.csv, the figures and report.html.

`write_outputs` is called at the end of `dpmi run`; `rebuild_report` (`dpmi report RUN_DIR`) redraws the
figures and the page from results.json and the saved reconstructions, without the data or any training.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.study.figures import reconstruction_grid, tradeoff_figure
from dpmi.study.levels import PrivacyLevel
from dpmi.study.report import render_report
from dpmi.atomic_files import atomic_write_bytes, atomic_write_json, atomic_write_text
from dpmi.study.store import RunStore, json_safe
from dpmi.study.summary import LevelSummary, aggregate, cell_numbers

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_HTML = "report.html"
MEAN_FACES = "mean_faces.npy"
FIGURES_DIR = "figures"
TRADEOFF_PNG = "privacy_utility_leakage.png"
GRID_PNG = "reconstructions.png"


def versions() -> dict[str, str]:
    """Versions of what produced the numbers (for results.json and the report)."""
    import matplotlib
    import scipy
    import torch

    import dpmi

    return {
        "dpmi": dpmi.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "scipy": scipy.__version__, "matplotlib": matplotlib.__version__,
        "platform": platform.platform(terse=True),
    }


def csv_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per (level, seed): the level's privacy parameters, then every number of the cell."""
    level_fields = ["level", "label", "seed", "noise_multiplier", "target_epsilon", "sample_rate", "steps",
                    "epsilon_rdp", "epsilon_pld"]
    rows, number_keys = [], []
    for record in records:
        level = record["level"]
        numbers = cell_numbers(record)
        number_keys += [k for k in numbers if k not in number_keys]
        row = {"level": level["key"], "label": level["label"], "seed": record["seed"]}
        row.update({k: level.get(k) for k in level_fields[3:]})
        row.update(numbers)
        rows.append(row)
    return level_fields + number_keys, rows


def _csv_text(fields: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                         for k, v in row.items()})
    return buffer.getvalue()


def write_outputs(
    store: RunStore,
    *,
    config: dict[str, Any],
    levels: list[PrivacyLevel],
    records: list[dict[str, Any]],
    timings: dict[str, float],
    created: str,
    evaluator: dict[str, float] | None = None,
) -> list[LevelSummary]:
    """Write results.json and results.csv from the cells, then the figures and report.html."""
    order = {level.key: i for i, level in enumerate(levels)}
    records = sorted(records, key=lambda r: (order[r["level"]["key"]], r["seed"]))
    summaries = aggregate(levels, records)
    results = {
        "question": "MI-FACE vs DP-SGD on the AT&T faces",
        "created": created,
        "config": config,
        "versions": versions(),
        "levels": [level.to_dict() for level in levels],
        "summary": [s.to_dict() for s in summaries],
        "evaluator": json_safe(evaluator or {}),
        "timings": timings,
        "cells": records,
    }
    atomic_write_json(store.root / RESULTS_JSON, results)
    fields, rows = csv_rows(records)
    atomic_write_text(store.root / RESULTS_CSV, _csv_text(fields, rows))
    render_outputs(store, results)
    return summaries


def record_timings(store: RunStore, timings: dict[str, float]) -> None:
    """Put the final per-phase timings (report and total are known only after the report) into results.json."""
    path = store.root / RESULTS_JSON
    results = json.loads(path.read_text(encoding="utf-8"))
    results["timings"] = {k: round(float(v), 4) for k, v in timings.items()}
    atomic_write_json(path, results)


def load_results(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run's results.json.

    Raises:
        FileNotFoundError: RUN_DIR or its results.json does not exist.
        ValueError: results.json is not a dpmi results file.
    """
    path = Path(run_dir) / RESULTS_JSON
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist (pass the --out of a `dpmi run`)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a finished dpmi run directory")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(results, dict) or not {"config", "levels", "cells"} <= set(results):
            raise ValueError("missing config/levels/cells")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a dpmi results file ({exc})") from exc
    return results


def render_outputs(store: RunStore, results: dict[str, Any]) -> dict[str, Path]:
    """Draw the figures and write report.html from a results dict and the saved arrays; return their paths."""
    levels = [PrivacyLevel.from_dict(level) for level in results["levels"]]
    records = results["cells"]
    summaries = aggregate(levels, records)
    config = results["config"]
    figures_dir = store.root / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {}
    paths: dict[str, Path] = {}
    if summaries:
        png = tradeoff_figure(summaries, delta=float(config.get("delta", 1e-5)))
        atomic_write_bytes(figures_dir / TRADEOFF_PNG, png)
        pngs["Privacy-utility-leakage: epsilon against test accuracy and attack success (error bars: std over "
             "seeds; dotted: chance)."] = png
        paths["tradeoff"] = figures_dir / TRADEOFF_PNG
    grid = _grid_png(store, levels, records, int(config.get("grid_identities", 8)))
    if grid is not None:
        atomic_write_bytes(figures_dir / GRID_PNG, grid)
        pngs["MI-FACE reconstructions (first seed), one row per privacy level; the real mean training face on "
             "top."] = grid
        paths["grid"] = figures_dir / GRID_PNG
    missing = [f"{level.label} seed {seed}" for level in levels for seed in _seeds(config)
               if not any(r["level"]["key"] == level.key and r["seed"] == seed for r in records)]
    notes = [f"Not finished (resume with the same --out): {', '.join(missing)}."] if missing else []
    evaluator = results.get("evaluator") or {}
    if evaluator.get("test_accuracy") is not None:
        notes.append(
            f"The evaluation classifier (a CNN trained once on the private training images) names "
            f"{100 * evaluator['test_accuracy']:.1f}% of the held-out real faces correctly "
            f"({100 * evaluator.get('train_accuracy', float('nan')):.1f}% of its training images): an upper "
            "reference for its acc@1 on reconstructions."
        )
    page = render_report(
        title=f"dpmi: MI-FACE vs DP-SGD - {config.get('name') or store.root.name}",
        config=config, summaries=summaries, figures=pngs, versions=results.get("versions", {}),
        created=str(results.get("created", "")), identities=int(config.get("identities", 40)), notes=notes,
    )
    atomic_write_text(store.root / REPORT_HTML, page)
    paths["report"] = store.root / REPORT_HTML
    return paths


def _seeds(config: dict[str, Any]) -> list[int]:
    first, count = int(config.get("seed", 0)), int(config.get("seeds", 1))
    return list(range(first, first + count))


def _grid_png(store: RunStore, levels: list[PrivacyLevel], records: list[dict[str, Any]], columns: int) -> bytes | None:
    mean_path = store.root / MEAN_FACES
    if not mean_path.is_file():
        return None
    mean_faces = np.load(mean_path, allow_pickle=False)
    rows = []
    for level in levels:
        mine = sorted((r for r in records if r["level"]["key"] == level.key), key=lambda r: r["seed"])
        if not mine:
            continue
        images = store.load_reconstructions(level.key, mine[0]["seed"])
        if images is None:
            continue
        hits = (mine[0].get("per_label") or {}).get("nearest_mean_top1")  # row k attacked identity k
        rows.append((f"{level.label}\nseed {mine[0]['seed']}", images, None if hits is None else np.asarray(hits)))
    if not rows:
        return None
    identities = list(range(min(columns, min(len(images) for _, images, _ in rows))))
    return reconstruction_grid(mean_faces, rows, identities)
