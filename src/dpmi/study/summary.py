"""Aggregate finished cells over seeds (mean and spread per privacy level and attack) and print the terminal
table. Also the study's one test of "above chance", used by every sentence and table that says it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpmi.study.levels import PrivacyLevel
from dpmi.study.recipe import Recipe
from dpmi.study.records import CellRecord

NEAREST_MEAN = ("nearest_mean_top1", "nearest_mean_top1", "nearest mean face")


def judge_columns() -> list[tuple[str, str, str]]:
    """The judges of "does the reconstruction show who it is?" as (per-attack metric key, per-person key, name):
    every registered judge in registry order (`dpmi.metrics.judge_registry.JUDGES`), then the nearest-mean-face
    test. A judge appears in tables and sentences only when the run recorded it."""
    from dpmi.metrics.judge_registry import JUDGES

    return [(f"{name}_acc1", f"{name}_top1", spec.label) for name, spec in JUDGES.items()] + [NEAREST_MEAN]


def attack_columns() -> list[tuple[str, str]]:
    """Per-attack numbers shown in the report and CSV (key, title): each judge's acc@1 and acc@5 (and face
    detection where the judge detects faces), nearest mean, distances, SSIM."""
    from dpmi.metrics.judge_registry import JUDGES

    columns: list[tuple[str, str]] = []
    for name, spec in JUDGES.items():
        columns += [(f"{name}_acc1", f"{spec.label} acc@1"), (f"{name}_acc5", f"{spec.label} acc@5")]
        if spec.detects_faces:
            columns.append((f"{name}_detected", f"{spec.label}: face found"))
    return columns + [
        ("nearest_mean_top1", "NM top-1"),
        ("nearest_mean_top5", "NM top-5"),
        ("knn_dist", "KNN dist"),
        ("frechet_distance", "Frechet dist"),
        ("ssim_mean_face", "SSIM mean"),
        ("queries_per_person", "queries/person"),
    ]


def is_percent(key: str) -> bool:
    """Rates in 0..1 shown as percent: accuracies, judges' rates, nearest-mean rates."""
    return key in ("test_accuracy", "train_accuracy") or key.endswith(
        ("_acc1", "_acc5", "_detected", "_verified", "_top1", "_top5", "no_reconstruction")
    )


SIGNIFICANCE = 0.05


def above_chance(successes: int, trials: int, chance: float, alpha: float = SIGNIFICANCE) -> bool:
    """One-sided exact binomial test: is `successes` of `trials` more than chance `chance` would give?

    True when P(X >= successes) < alpha for X ~ Binomial(trials, chance). The metrics package's test is used
    when it exists (one test, the same words everywhere); this is the same test.
    """
    if trials <= 0:
        return False
    successes = max(0, min(int(successes), int(trials)))
    try:
        from dpmi.metrics.significance import above_chance as shared
    except ImportError:  # the same test, written out
        from scipy.stats import binom

        return bool(binom.sf(successes - 1, trials, chance) < alpha)
    return bool(shared(successes, trials, chance, alpha=alpha))


def chance_words(rate: float, trials: int, chance: float) -> str:
    """ "above chance" or "near chance" for a success rate over `trials` attacks (binomial test, 5 %)."""
    successes = round(rate * trials)
    return "above chance" if above_chance(successes, trials, chance) else "near chance"


@dataclass
class LevelSummary:
    """Mean and spread over the seeds of one level. std is None with one seed (no spread to speak of).

    mean/std: the target's numbers (test_accuracy, train_accuracy, time_*). attack_mean/attack_std: attack
    name -> metric key -> value (with "queries_per_person" for a black-box attack). attack_access: attack name ->
    its access level. recipe: what the level trained with. people: attacked people per seed.
    """

    level: PrivacyLevel
    seeds: list[int]
    recipe: Recipe | None = None
    people: int = 0
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    attack_mean: dict[str, dict[str, float]] = field(default_factory=dict)
    attack_std: dict[str, dict[str, float | None]] = field(default_factory=dict)
    attack_access: dict[str, str] = field(default_factory=dict)

    def access_levels(self) -> list[str]:
        """The access levels of this level's attacks, richest first (`dpmi.attacks.access.ACCESS_LEVELS`)."""
        from dpmi.attacks.access import ACCESS_LEVELS

        present = set(self.attack_access.values())
        return [level for level in ACCESS_LEVELS if level in present]

    def attacks_with(self, access: str) -> list[str]:
        """This level's attacks of access level `access`, in the study's order (white-box when unrecorded)."""
        return [name for name in self.attack_mean if self.attack_access.get(name, "white-box") == access]

    @property
    def trials(self) -> int:
        """Attacks per (level, attack): attacked people x seeds."""
        return self.people * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.to_dict(),
            "seeds": self.seeds,
            "people": self.people,
            "recipe": None if self.recipe is None else self.recipe.to_dict(),
            "mean": _json(self.mean),
            "std": _json(self.std),
            "attacks": {
                name: {
                    "access": self.attack_access.get(name, "white-box"),
                    "mean": _json(self.attack_mean[name]),
                    "std": _json(self.attack_std[name]),
                }
                for name in self.attack_mean
            },
        }


def _json(values: dict[str, Any]) -> dict[str, float | None]:
    return {k: None if v is None or not math.isfinite(v) else float(v) for k, v in values.items()}


def _stats(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float | None]]:
    keys = sorted(set().union(*rows)) if rows else []
    mean: dict[str, float] = {}
    std: dict[str, float | None] = {}
    for key in keys:
        values = np.array([row.get(key, math.nan) for row in rows], dtype=np.float64)
        mean[key] = float(np.mean(values))
        std[key] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return mean, std


def target_numbers(record: CellRecord) -> dict[str, float]:
    numbers = {"test_accuracy": record.test_accuracy, "train_accuracy": record.train_accuracy}
    numbers.update({f"time_{k}": v for k, v in record.timings.items()})
    return numbers


def aggregate(levels: list[PrivacyLevel], records: list[CellRecord]) -> list[LevelSummary]:
    """One LevelSummary per level that has at least one finished cell, in the levels' order."""
    summaries = []
    for level in levels:
        mine = sorted((r for r in records if r.level.key == level.key), key=lambda r: r.seed)
        if not mine:
            continue
        mean, std = _stats([target_numbers(r) for r in mine])
        summary = LevelSummary(level, [r.seed for r in mine], mine[0].recipe, mean=mean, std=std)
        for name in mine[0].attack_names:
            summary.attack_mean[name], summary.attack_std[name] = _stats(
                [r.attacks[name].numbers() for r in mine if name in r.attacks]
            )
            summary.attack_access[name] = mine[0].attacks[name].access
        first = next(iter(mine[0].attacks.values()), None)
        summary.people = int(first.metrics.get("num_labels", 0)) if first is not None else 0
        summaries.append(summary)
    return summaries


def judges_recorded(summaries: list[LevelSummary]) -> list[tuple[str, str, str]]:
    """The judges with a finite number in at least one (level, attack)."""
    found = []
    for judge in judge_columns():
        if any(math.isfinite(values.get(judge[0], math.nan)) for s in summaries for values in s.attack_mean.values()):
            found.append(judge)
    return found


def format_epsilon(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def format_value(key: str, mean: float, std: float | None) -> str:
    """A number as the tables show it: percent for rates, mean ± std only when there is a spread (> 1 seed)."""
    if mean is None or not math.isfinite(mean):
        return "-"
    if is_percent(key):
        return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")
    if key.startswith("queries"):  # counts of images: whole numbers with thousands separators
        return f"{mean:,.0f}" + (f" ± {std:,.0f}" if std is not None else "")
    return f"{mean:.3g}" + (f" ± {std:.2g}" if std is not None else "")


def summary_table(summaries: list[LevelSummary], chance: float | None = None) -> str:
    """A fixed-width table: one row per (level, attack), accuracies in %, mean ± std over seeds (> 1 seed).
    With `chance` (1 / private people), each judge's rate is marked "+" when above chance (one-sided binomial
    test at 5 % over people x seeds) and the chance level is said under the table."""
    judges = judges_recorded(summaries)
    header = ["level", "eps PLD", "test acc %", "attack", "access"] + [f"{name} %" for _, _, name in judges]
    header.append("queries/person")
    body = []
    for s in summaries:
        for i, attack in enumerate(s.attack_mean):
            row = [
                s.level.label if i == 0 else "",
                format_epsilon(s.level.epsilon_pld) if i == 0 else "",
                format_value("test_accuracy", s.mean.get("test_accuracy", math.nan), s.std.get("test_accuracy"))
                if i == 0
                else "",
                attack,
                s.attack_access.get(attack, "white-box"),
            ]
            for key, _, _ in judges:
                mean = s.attack_mean[attack].get(key, math.nan)
                text = format_value(key, mean, s.attack_std[attack].get(key))
                if chance is not None and math.isfinite(mean):
                    text += " +" if chance_words(mean, s.trials, chance) == "above chance" else "  "
                row.append(text)
            queries = s.attack_mean[attack].get("queries_per_person", math.nan)
            row.append(f"{queries:,.0f}" if math.isfinite(queries) else "-")
            body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i in (0, 3, 4) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if chance is not None:
        lines.append(
            f"chance {100 * chance:.1f} %; + = above chance (one-sided binomial test at 5 % over people x seeds)"
        )
    return "\n".join(lines)
