"""Aggregate finished cells over seeds (mean and spread per privacy level) and print the terminal table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpmi.study.levels import PrivacyLevel

# (key in a cell's numbers, short column title). The attack-success keys are dpmi.metrics.evaluate_inversion's.
COLUMNS: list[tuple[str, str]] = [
    ("test_accuracy", "test acc"),
    ("nearest_mean_top1", "MI top-1"),
    ("nearest_mean_top5", "MI top-5"),
    ("eval_acc1", "eval acc@1"),
    ("eval_acc5", "eval acc@5"),
    ("knn_dist", "KNN dist"),
    ("ssim_mean_face", "SSIM mean"),
    ("psnr_mean_face", "PSNR mean"),
]
# The terminal shows the headline columns only (the report and results.csv have all of them).
TERMINAL_COLUMNS: list[tuple[str, str]] = [COLUMNS[i] for i in (0, 1, 2, 3, 6)]
PERCENT_KEYS = {"test_accuracy", "train_accuracy", "nearest_mean_top1", "nearest_mean_top5", "eval_acc1", "eval_acc5"}


def cell_numbers(record: dict[str, Any]) -> dict[str, float]:
    """The flat numbers of one cell: accuracies, attack metrics and timings (seconds)."""
    numbers: dict[str, float] = {"test_accuracy": record["test_accuracy"], "train_accuracy": record["train_accuracy"]}
    numbers.update({k: v for k, v in record["metrics"].items() if isinstance(v, (int, float))})
    numbers.update({f"time_{k}": v for k, v in record.get("timings", {}).items()})
    return {k: (float(v) if v is not None else math.nan) for k, v in numbers.items()}


@dataclass
class LevelSummary:
    """Mean and standard deviation (ddof=1; 0 for one seed) over the seeds of one level."""

    level: PrivacyLevel
    seeds: list[int]
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.to_dict(),
            "seeds": self.seeds,
            "mean": {k: _json_float(v) for k, v in self.mean.items()},
            "std": {k: _json_float(v) for k, v in self.std.items()},
        }


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def aggregate(levels: list[PrivacyLevel], records: list[dict[str, Any]]) -> list[LevelSummary]:
    """One LevelSummary per level that has at least one finished cell, in the levels' order."""
    summaries = []
    for level in levels:
        mine = sorted((r for r in records if r["level"]["key"] == level.key), key=lambda r: r["seed"])
        if not mine:
            continue
        rows = [cell_numbers(r) for r in mine]
        keys = sorted(set().union(*rows))
        mean, std = {}, {}
        for key in keys:
            values = np.array([row.get(key, math.nan) for row in rows], dtype=np.float64)
            mean[key] = float(np.mean(values))
            std[key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        summaries.append(LevelSummary(level, [int(r["seed"]) for r in mine], mean, std))
    return summaries


def format_epsilon(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def _format(key: str, mean: float, std: float, seeds: int) -> str:
    if not math.isfinite(mean):
        return "-"
    if key in PERCENT_KEYS:
        text = f"{100 * mean:.1f}"
        return text + (f"±{100 * std:.1f}" if seeds > 1 else "")
    text = f"{mean:.3g}"
    return text + (f"±{std:.2g}" if seeds > 1 else "")


def summary_table(summaries: list[LevelSummary], columns: list[tuple[str, str]] | None = None) -> str:
    """A fixed-width table: one row per level, accuracies in %, mean±std over seeds."""
    columns = columns or TERMINAL_COLUMNS
    header = ["level", "sigma", "eps RDP", "eps PLD", "seeds"] + [title + (" %" if key in PERCENT_KEYS else "")
                                                                  for key, title in columns]
    body = []
    for s in summaries:
        sigma = "-" if s.level.noise_multiplier is None else f"{s.level.noise_multiplier:.3g}"
        row = [s.level.label, sigma, format_epsilon(s.level.epsilon_rdp), format_epsilon(s.level.epsilon_pld),
               str(len(s.seeds))]
        row += [_format(key, s.mean.get(key, math.nan), s.std.get(key, 0.0), len(s.seeds)) for key, _ in columns]
        body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
