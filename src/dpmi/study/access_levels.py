"""The attacker's access as a study dimension: per privacy level, how many people each access level
(white-box, scores, labels; `dpmi.attacks.access`) recovers by the answering judge, and with how many queries.

An access level's number is its best attack's (the attack of that level whose reconstructions the judge names
most often over the level's seeds): hits of people x seeds, with the 95 % Clopper-Pearson interval and the
one-sided binomial test against chance (`dpmi.metrics.significance.chance_verdict`). The grid draws every
white-box attack and, for each other access level, its best attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dpmi.study.records import CellRecord
from dpmi.study.summary import LevelSummary


@dataclass(frozen=True)
class AccessResult:
    """One access level at one privacy level.

    access: "white-box", "scores" or "labels". attack: its best attack (None: none scored by the judge).
    hits / trials: people the judge names, over attacked people x seeds. low / high: 95 % Clopper-Pearson
    interval of the rate hits / trials (0..1). words: "above chance" / "near chance" (binomial test, 5 %).
    queries_per_person: the best attack's mean queries per attacked person (NaN for white-box).
    """

    access: str
    attack: str | None
    hits: int
    trials: int
    low: float
    high: float
    words: str
    queries_per_person: float

    @property
    def rate(self) -> float:
        return self.hits / self.trials if self.trials else math.nan


def best_of(summary: LevelSummary, attacks: Sequence[str], key: str) -> tuple[str | None, float]:
    """The attack of `attacks` with the highest mean `key` rate at this level (first of equals), and that rate."""
    best, rate = None, math.nan
    for name in attacks:
        value = summary.attack_mean.get(name, {}).get(key, math.nan)
        if math.isfinite(value) and (best is None or value > rate):
            best, rate = name, value
    return best, rate


def access_results(summary: LevelSummary, key: str, chance: float) -> list[AccessResult]:
    """Per access level present at this level (richest first), its best attack's people by `key` (a judge's
    "<judge>_acc1"), read against `chance` (1 / private people)."""
    from dpmi.metrics.significance import chance_verdict

    out = []
    for access in summary.access_levels():
        attack, rate = best_of(summary, summary.attacks_with(access), key)
        if attack is None or summary.trials < 1:
            out.append(AccessResult(access, None, 0, 0, math.nan, math.nan, "not scored", math.nan))
            continue
        verdict = chance_verdict(round(rate * summary.trials), summary.trials, chance)
        queries = summary.attack_mean[attack].get("queries_per_person", math.nan)
        out.append(
            AccessResult(access, attack, verdict.hits, verdict.n, verdict.low, verdict.high, verdict.words, queries)
        )
    return out


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %" if math.isfinite(value) else "-"


def access_sentence(summary: LevelSummary, key: str, judge: str, chance: float) -> str:
    """One sentence for the reading: each access level's people by `judge` (its label), with the interval and
    the queries; "" when the level ran a single access level."""
    results = access_results(summary, key, chance)
    if len(results) < 2:
        return ""
    parts = []
    for r in results:
        if r.attack is None:
            parts.append(f"{r.access}: not scored")
            continue
        queries = (
            f", {r.queries_per_person:,.0f} queries per person"
            if math.isfinite(r.queries_per_person)
            else " (gradients)"
        )
        parts.append(
            f"{r.access} ({r.attack}) {r.hits} of {r.trials}, {_pct(r.rate)} (95% CI {_pct(r.low)}-{_pct(r.high)}), "
            f"{r.words}{queries}"
        )
    return f"By the attacker's access, the {judge} recovers: " + "; ".join(parts) + "."


def grid_attacks(cells: Sequence[CellRecord], key: str | None) -> list[str]:
    """The attacks the grid draws for one privacy level (its cells, any seeds): every white-box attack, then per
    other access level the attack with the highest mean `key` over the cells (first of equals; the first
    such attack when `key` is None or unrecorded), in the study's order."""
    if not cells:
        return []
    names = list(cells[0].attacks)
    access = {name: cells[0].attacks[name].access for name in names}
    keep = {name for name in names if access[name] == "white-box"}
    for level in sorted(set(access.values()) - {"white-box"}):
        mine = [name for name in names if access[name] == level]

        def mean(name: str) -> float:
            values = [c.attacks[name].metrics.get(key, math.nan) for c in cells if key and name in c.attacks]
            finite = [v for v in values if math.isfinite(v)]
            return sum(finite) / len(finite) if finite else -math.inf

        keep.add(max(mine, key=lambda name: (mean(name), -mine.index(name))))
    return [name for name in names if name in keep]


def grid_label(name: str, access: str) -> str:
    """A grid row's attack label: the name, with the access level for a black-box attack."""
    return name if access == "white-box" else f"{name} ({access})"
