"""Which judge a study's answer comes from: the first registered judge that its calibration trusts
(`dpmi.metrics.judge_trust`), and what each of the others would have said.

The headline, the short answer, the grid's frames and the bold lines of the figure all use `answer_judge`;
a judge that fails calibration is shown beside it, never as the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpmi.metrics.judge_trust import JudgeTrust, judge_trust

if TYPE_CHECKING:
    from dpmi.study.results import StudyResults
    from dpmi.study.summary import LevelSummary


@dataclass(frozen=True)
class JudgePanel:
    """The judges of one run: name -> trust verdict for every judge it recorded (registry order), the judge
    the answer comes from (None when none passed calibration), and the judges that could not run here."""

    verdicts: dict[str, JudgeTrust]
    answer: str | None
    missing: dict[str, str]

    @property
    def answer_key(self) -> str | None:
        """The per-attack metric key of the answering judge ("<judge>_acc1")."""
        return None if self.answer is None else f"{self.answer}_acc1"

    def trusted_keys(self) -> list[str]:
        return [f"{name}_acc1" for name, verdict in self.verdicts.items() if verdict.trusted]


def recorded_judges(results: StudyResults) -> list[str]:
    """Registered judges with a finite acc@1 in at least one cell of the run (registry order)."""
    from dpmi.metrics.judge_registry import JUDGES

    found = []
    for name in JUDGES.names():
        key = f"{name}_acc1"
        if any(
            isinstance(a.metrics.get(key), (int, float)) and math.isfinite(a.metrics[key])
            for cell in results.cells
            for a in cell.attacks.values()
        ):
            found.append(name)
    return found


def judge_panel(results: StudyResults) -> JudgePanel:
    """Trust verdicts from the run's recorded calibration, and the answering judge."""
    calibration = (results.evaluator or {}).get("calibration") or {}
    names = recorded_judges(results)
    verdicts = {name: judge_trust(calibration, name) for name in names}
    answer = next((name for name in names if verdicts[name].trusted), None)
    return JudgePanel(verdicts, answer, dict((results.evaluator or {}).get("missing") or {}))


def people_recovered(results: StudyResults, judge: str) -> list[dict[str, Any]]:
    """Who leaks: per private person, the (level, attack) pairs whose reconstruction `judge` names as that
    person, on any seed, as {"person", "name", "recovered": [(level label, attack)], "cells": cells judged}."""
    names = results.split.get("private_names") or []
    key = f"{judge}_top1"
    rows: dict[int, dict[str, Any]] = {}
    for cell in results.sorted_cells():
        for attack_name, attack in cell.attacks.items():
            labels = attack.per_label.get("label") or []
            hits = attack.per_label.get(key) or []
            for label, hit in zip(labels, hits):
                person = int(label)
                row = rows.setdefault(
                    person,
                    {
                        "person": person,
                        "name": names[person] if person < len(names) else f"person {person}",
                        "recovered": [],
                        "cells": 0,
                    },
                )
                row["cells"] += 1
                if hit is not None and float(hit) >= 0.5 and (cell.level.label, attack_name) not in row["recovered"]:
                    row["recovered"].append((cell.level.label, attack_name))
    return sorted(rows.values(), key=lambda r: (-len(r["recovered"]), r["person"]))


def best_attack(summary: LevelSummary, key: str) -> tuple[str | None, float]:
    """The attack with the highest `key` rate at a level, and that rate (NaN when none recorded it)."""
    best, rate = None, math.nan
    for attack, values in summary.attack_mean.items():
        value = values.get(key, math.nan)
        if math.isfinite(value) and (best is None or value > rate):
            best, rate = attack, value
    return best, rate
