"""`dpmi compare RUN_A RUN_B`: the differences of two studies, level by level and attack by attack.

Two runs are comparable when they answer the same question about the same people: the same faces (pixel
fingerprint), the same private people, and at least one privacy level (by key: "nonprivate", "eps8", ...)
and one attack in common. They may differ in anything else (model, recipes, seeds, attack options): that is
what a comparison is for. Otherwise `compare_runs` raises ValueError saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpmi.study.results import StudyResults
from dpmi.study.summary import LevelSummary, format_epsilon, judge_columns


def compared_columns() -> list[tuple[str, str]]:
    """(key, title) of every compared number: the target's accuracy, then each judge's acc@1."""
    return [("test_accuracy", "test acc")] + [(key, name) for key, _, name in judge_columns()]


@dataclass(frozen=True)
class Difference:
    """One compared number: level key and label, attack (None for the target's accuracy), metric key, the two
    runs' means (NaN where a run lacks it) and their epsilons (PLD; None: non-private)."""

    level_key: str
    label: str
    attack: str | None
    key: str
    a: float
    b: float
    epsilon_a: float | None
    epsilon_b: float | None

    @property
    def delta(self) -> float:
        return self.b - self.a


def check_comparable(a: StudyResults, b: StudyResults) -> None:
    """Raise ValueError when the runs do not answer the same question (see the module docstring)."""
    pixels_a, pixels_b = a.data.get("images_sha256"), b.data.get("images_sha256")
    if pixels_a and pixels_b and pixels_a != pixels_b:
        raise ValueError("the runs used different faces (pixel fingerprints differ): their numbers are not comparable")
    if a.split.get("private") != b.split.get("private"):
        raise ValueError(
            f"the runs attacked different private people ({_people(a)} vs {_people(b)}): their "
            "numbers are not comparable"
        )
    common_levels = {lv.key for lv in a.levels} & {lv.key for lv in b.levels}
    if not common_levels:
        raise ValueError("the runs have no privacy level in common: nothing to compare")
    if not set(a.attacks) & set(b.attacks):
        raise ValueError(f"the runs have no attack in common ({', '.join(a.attacks)} vs {', '.join(b.attacks)})")


def _people(results: StudyResults) -> str:
    private = results.split.get("private")
    return "every person (older run)" if not private else f"{len(private)} people from {private[0]}"


def compare_runs(a: StudyResults, b: StudyResults) -> list[Difference]:
    """Every number both runs can be compared on, in run A's level order, then attack order."""
    check_comparable(a, b)
    summaries_b = {s.level.key: s for s in b.summaries()}
    rows: list[Difference] = []
    for sa in a.summaries():
        sb = summaries_b.get(sa.level.key)
        if sb is None:
            continue
        rows.append(_diff(sa, sb, None, "test_accuracy"))
        for attack in sa.attack_mean:
            if attack not in sb.attack_mean:
                continue
            for key, _ in compared_columns()[1:]:
                row = _diff(sa, sb, attack, key)
                if math.isfinite(row.a) or math.isfinite(row.b):
                    rows.append(row)
    return rows


def _diff(sa: LevelSummary, sb: LevelSummary, attack: str | None, key: str) -> Difference:
    if attack is None:
        va, vb = sa.mean.get(key, math.nan), sb.mean.get(key, math.nan)
    else:
        va, vb = sa.attack_mean[attack].get(key, math.nan), sb.attack_mean[attack].get(key, math.nan)
    return Difference(sa.level.key, sa.level.label, attack, key, va, vb, sa.level.epsilon_pld, sb.level.epsilon_pld)


def comparison_table(rows: list[Difference], name_a: str, name_b: str) -> str:
    """A fixed-width table of the differences (percentage points)."""
    names = dict(compared_columns())
    header = ["level", "eps A", "eps B", "attack", "measure", f"A {name_a} %", f"B {name_b} %", "B - A (points)"]
    body = []
    for r in rows:
        pct = [f"{100 * v:.1f}" if math.isfinite(v) else "-" for v in (r.a, r.b)]
        delta = f"{100 * r.delta:+.1f}" if math.isfinite(r.delta) else "-"
        body.append(
            [
                r.label,
                format_epsilon(r.epsilon_a),
                format_epsilon(r.epsilon_b),
                r.attack or "(target)",
                names.get(r.key, r.key),
                *pct,
                delta,
            ]
        )
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i in (0, 3, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def comparison_figure(rows: list[Difference], name_a: str, name_b: str) -> bytes:
    """One panel per measure: run A and run B side by side for every (level, attack) they share."""
    import numpy as np

    from dpmi.study.figures import _png, _pyplot

    plt = _pyplot()
    keys = [k for k, _ in compared_columns() if any(r.key == k for r in rows)]
    names = dict(compared_columns())
    fig, axes = plt.subplots(
        len(keys),
        1,
        figsize=(max(6.0, 0.55 * max(1, len(rows) // max(1, len(keys))) + 3), 2.8 * len(keys)),
        squeeze=False,
    )
    for ax, key in zip(axes[:, 0], keys):
        mine = [r for r in rows if r.key == key]
        x = np.arange(len(mine))
        ax.bar(x - 0.2, [r.a for r in mine], 0.4, label=f"A: {name_a}", color="#0072B2")
        ax.bar(x + 0.2, [r.b for r in mine], 0.4, label=f"B: {name_b}", color="#E69F00")
        ax.set_xticks(x)
        ax.set_xticklabels([r.label + ("" if r.attack is None else f"\n{r.attack}") for r in mine], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(names.get(key, key), fontsize=9)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
        ax.legend(fontsize=8)
    fig.suptitle(f"Run A ({name_a}) and run B ({name_b}), mean over each run's seeds", fontsize=11)
    fig.tight_layout()
    return _png(fig)
