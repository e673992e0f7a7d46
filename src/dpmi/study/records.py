"""Typed records of a study: what one cell (a privacy level x a seed) found, for every attack.

A cell trains one target and runs every attack on it; `CellRecord` holds the training outcome and one
`AttackRecord` per attack. They are written to JSON (`to_dict`) in the cell files and in results.json, and
read back with `from_dict`, which reads older formats through `dpmi.study.migrate` so older run directories
still render with `dpmi report`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dpmi.study.levels import PrivacyLevel
from dpmi.study.migrate import CELL_FORMAT, upgrade_cell
from dpmi.study.recipe import Recipe
from dpmi.study.store import json_safe


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass
class TrainRecord:
    """What training did. loss: mean cross-entropy (nats) per epoch; epsilon: after each epoch (RDP or PLD as
    calibrated; empty when non-private); steps: optimizer steps; sample_rate, noise_multiplier: None when
    non-private."""

    loss: list[float]
    epsilon: list[float]
    steps: int
    sample_rate: float | None
    noise_multiplier: float | None

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "loss": self.loss,
                "epsilon": self.epsilon,
                "steps": self.steps,
                "sample_rate": self.sample_rate,
                "noise_multiplier": self.noise_multiplier,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainRecord:
        return cls(
            [_float(v) for v in data.get("loss", [])],
            [_float(v) for v in data.get("epsilon", [])],
            int(data.get("steps", 0)),
            data.get("sample_rate"),
            data.get("noise_multiplier"),
        )


@dataclass
class AttackRecord:
    """One attack on one cell's target.

    metrics: `dpmi.metrics.evaluate_inversion`'s flat numbers (means over the attacked people; NaN when a
        judge was not run). per_label: its per-person arrays, as lists in row order. diagnostics: the
        attack result's `summary()` (e.g. mean iterations). seconds: the attack's wall time; metric_seconds:
        the scoring's. access: what the attack read of the target ("white-box", "scores", "labels";
        `dpmi.attacks.access`). queries: images it sent to the target, all attacked people together (None for
        white-box: it reads gradients, not answers).
    """

    name: str
    metrics: dict[str, float]
    per_label: dict[str, list[Any]] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    metric_seconds: float = 0.0
    access: str = "white-box"
    queries: int | None = None

    @property
    def queries_per_person(self) -> float:
        """Queries per attacked person (NaN for white-box or when the people are unknown)."""
        people = self.metrics.get("num_labels", math.nan)
        if self.queries is None or not math.isfinite(people) or people < 1:
            return math.nan
        return self.queries / people

    def numbers(self) -> dict[str, float]:
        """The metrics plus "queries_per_person" for a black-box attack: what tables and the CSV show."""
        if self.queries is None:
            return dict(self.metrics)
        return {**self.metrics, "queries_per_person": self.queries_per_person}

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "name": self.name,
                "metrics": self.metrics,
                "per_label": self.per_label,
                "diagnostics": self.diagnostics,
                "seconds": self.seconds,
                "metric_seconds": self.metric_seconds,
                "access": self.access,
                "queries": self.queries,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackRecord:
        return cls(
            str(data["name"]),
            {k: _float(v) for k, v in data.get("metrics", {}).items() if v is None or isinstance(v, (int, float))},
            dict(data.get("per_label", {})),
            {k: _float(v) for k, v in data.get("diagnostics", {}).items() if v is None or isinstance(v, (int, float))},
            float(data.get("seconds", 0.0)),
            float(data.get("metric_seconds", 0.0)),
            str(data.get("access") or "white-box"),  # cells written before access levels: white-box attacks
            None if data.get("queries") is None else int(data["queries"]),
        )

    def hits(self, key: str) -> list[bool] | None:
        """Per-person verdict of a judge ("eval_top1", "nearest_mean_top1", ...), or None when not recorded."""
        values = self.per_label.get(key)
        if values is None:
            return None
        return [bool(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else False for v in values]


@dataclass
class CellRecord:
    """One finished cell: a privacy level x a seed, trained with `recipe`, attacked by every attack of the study.

    test_accuracy / train_accuracy: the target's top-1 accuracy (0..1) on the private people's held-out and
    training images. attacks: attack name -> its record, in the study's attack order. timings: seconds per
    phase of this cell (train, attack, metrics).
    """

    level: PrivacyLevel
    seed: int
    recipe: Recipe
    train: TrainRecord
    test_accuracy: float
    train_accuracy: float
    attacks: dict[str, AttackRecord]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def attack_names(self) -> list[str]:
        return list(self.attacks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": CELL_FORMAT,
            "level": self.level.to_dict(),
            "seed": int(self.seed),
            "recipe": self.recipe.to_dict(),
            "train": self.train.to_dict(),
            "test_accuracy": json_safe(self.test_accuracy),
            "train_accuracy": json_safe(self.train_accuracy),
            "attacks": [record.to_dict() for record in self.attacks.values()],
            "timings": json_safe(self.timings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_recipe: Recipe | None = None) -> CellRecord:
        """Read a cell record, upgrading an older format first (`dpmi.study.migrate.upgrade_cell`; `base_recipe`:
        the recipe a format-1 cell's run used).

        Raises:
            ValueError: not a dpmi cell record, or one newer than this dpmi reads.
        """
        try:
            data = upgrade_cell(data, None if base_recipe is None else base_recipe.to_dict())
            return cls(
                PrivacyLevel.from_dict(data["level"]),
                int(data["seed"]),
                Recipe.from_dict(data["recipe"]),
                TrainRecord.from_dict(data.get("train", {})),
                _float(data.get("test_accuracy")),
                _float(data.get("train_accuracy")),
                {a["name"]: AttackRecord.from_dict(a) for a in data["attacks"]},
                {k: float(v) for k, v in data.get("timings", {}).items() if v is not None},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a dpmi cell record (missing or malformed {exc})") from exc
