"""`dpmi compare RUN_A RUN_B`: the differences of two studies, level by level and attack by attack.

Two runs are comparable when they answer the same question about the same people: the same faces (pixel
fingerprint), the same private people, and at least one privacy level (by key: "nonprivate", "eps8", ...)
and one attack in common. They may differ in anything else (model, recipes, seeds, attack options): that is
what a comparison is for, and `run_notes` names what differs (as a user sets it: flags and TOML keys, seeds).
Otherwise `compare_runs` raises ValueError saying why.

Every rate is shown with its 95 % Clopper-Pearson interval (`dpmi.metrics.significance.rate_interval`) over
the run's trials (attacked people x seeds for an attack; held-out images x seeds for the target's accuracy),
seeds pooled as the significance module allows. A difference is called distinguishable when Fisher's exact
test on the two runs' pooled hits rejects equal rates at 5 % (two-sided); else it is within noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dpmi.study.results import StudyResults
from dpmi.study.summary import LevelSummary, format_epsilon, judge_columns


def compared_columns() -> list[tuple[str, str]]:
    """(key, title) of every compared number: the target's accuracy, then each judge's acc@1."""
    return [("test_accuracy", "test acc")] + [(key, name) for key, _, name in judge_columns()]


@dataclass(frozen=True)
class Difference:
    """One compared number: level key and label, attack (None for the target's accuracy), metric key, the two
    runs' means (NaN where a run lacks it), their epsilons (PLD; None: non-private), and each run's trials
    (the rate's denominator pooled over seeds; 0: unknown, no interval)."""

    level_key: str
    label: str
    attack: str | None
    key: str
    a: float
    b: float
    epsilon_a: float | None
    epsilon_b: float | None
    trials_a: int = 0
    trials_b: int = 0

    @property
    def delta(self) -> float:
        return self.b - self.a

    def interval(self, run: str) -> tuple[float, float] | None:
        """The 95 % Clopper-Pearson interval of run "a" or "b"'s rate, None without trials or a value."""
        from dpmi.metrics.significance import rate_interval

        rate, trials = (self.a, self.trials_a) if run == "a" else (self.b, self.trials_b)
        if trials < 1 or not math.isfinite(rate):
            return None
        return rate_interval(_hits(rate, trials), trials)

    @property
    def p_value(self) -> float:
        """Two-sided Fisher exact test of equal rates on the pooled hits (NaN when a run has no trials)."""
        from scipy.stats import fisher_exact

        if self.interval("a") is None or self.interval("b") is None:
            return math.nan
        hits_a, hits_b = _hits(self.a, self.trials_a), _hits(self.b, self.trials_b)
        table = [[hits_a, self.trials_a - hits_a], [hits_b, self.trials_b - hits_b]]
        return float(fisher_exact(table)[1])

    @property
    def distinguishable(self) -> bool | None:
        """True when the difference is beyond noise at 5 % (Fisher's exact test); None when it cannot be said."""
        p = self.p_value
        return None if math.isnan(p) else p < 0.05


def _hits(rate: float, trials: int) -> int:
    return max(0, min(trials, round(rate * trials)))


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


# Settings that never change a number (where the run went, how it was executed): not worth a note.
_UNNOTED = ("name", "out", "jobs", "threads", "device", "executor", "ray_address", "shareable", "seed", "seeds")


def _seeds(results: StudyResults) -> list[int]:
    seed, count = int(results.config.get("seed", 0)), int(results.config.get("seeds", 1))
    return list(range(seed, seed + count))


def run_notes(a: StudyResults, b: StudyResults) -> list[str]:
    """What a reader must know before reading the differences: the runs' seeds when they differ, and every
    user-facing setting that differs (`dpmi.study.changed_settings`, run A's value "was", run B's "now")."""
    from dpmi.study.changed_settings import changed_settings

    notes = []
    seeds_a, seeds_b = _seeds(a), _seeds(b)
    if seeds_a != seeds_b:
        notes.append(
            f"the runs have different seeds: A {_seed_text(seeds_a)}, B {_seed_text(seeds_b)}; each number is the "
            "mean over its run's seeds, and the intervals are wider for the run with fewer"
        )
    old = {k: v for k, v in a.config.items() if k not in _UNNOTED}
    new = {k: v for k, v in b.config.items() if k not in _UNNOTED}
    changed = [c.replace("(was ", "(A: ").replace(", now ", ", B: ") for c in changed_settings(old, new)]
    if changed:
        notes.append("the runs differ in settings: " + "; ".join(changed))
    return notes


def _seed_text(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]})"


def compare_runs(a: StudyResults, b: StudyResults) -> list[Difference]:
    """Every number both runs can be compared on, in run A's level order, then attack order."""
    check_comparable(a, b)
    summaries_b = {s.level.key: s for s in b.summaries()}
    rows: list[Difference] = []
    for sa in a.summaries():
        sb = summaries_b.get(sa.level.key)
        if sb is None:
            continue
        rows.append(_diff(sa, sb, None, "test_accuracy", (_test_trials(a, sa), _test_trials(b, sb))))
        for attack in sa.attack_mean:
            if attack not in sb.attack_mean:
                continue
            for key, _ in compared_columns()[1:]:
                row = _diff(sa, sb, attack, key, (sa.trials, sb.trials))
                if math.isfinite(row.a) or math.isfinite(row.b):
                    rows.append(row)
    return rows


def _test_trials(results: StudyResults, summary: LevelSummary) -> int:
    """Held-out images x seeds (0 when the run did not record its held-out count)."""
    return int(results.split.get("private_test_images") or 0) * len(summary.seeds)


def _diff(sa: LevelSummary, sb: LevelSummary, attack: str | None, key: str, trials: tuple[int, int]) -> Difference:
    if attack is None:
        va, vb = sa.mean.get(key, math.nan), sb.mean.get(key, math.nan)
    else:
        va, vb = sa.attack_mean[attack].get(key, math.nan), sb.attack_mean[attack].get(key, math.nan)
    level = sa.level
    return Difference(level.key, level.label, attack, key, va, vb, level.epsilon_pld, sb.level.epsilon_pld, *trials)


def points(value: float, signed: bool = False) -> str:
    """A rate in 0..1 as percent with one decimal ("+" before a signed one), never "-0.0"; "-" for NaN."""
    if not math.isfinite(value):
        return "-"
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    return text.replace("-0.0", "+0.0" if signed else "0.0")


def _interval_text(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"{points(interval[0])}-{points(interval[1])}"


def comparison_table(rows: list[Difference], name_a: str, name_b: str) -> str:
    """A fixed-width table of the differences (percent and percentage points), each rate with its 95 %
    Clopper-Pearson interval, and whether the difference is distinguishable from noise (Fisher, 5 %)."""
    names = dict(compared_columns())
    header = ["level", "eps A", "eps B", "attack", "measure", f"A {name_a} %", "A 95% CI", f"B {name_b} %",
              "B 95% CI", "B - A (points)", "distinguishable"]  # fmt: skip
    body = []
    for r in rows:
        verdict = {True: "yes", False: "no (noise)", None: "-"}[r.distinguishable]
        body.append(
            [
                r.label,
                format_epsilon(r.epsilon_a),
                format_epsilon(r.epsilon_b),
                r.attack or "(target)",
                names.get(r.key, r.key),
                points(r.a),
                _interval_text(r.interval("a")),
                points(r.b),
                _interval_text(r.interval("b")),
                points(r.delta, signed=True),
                verdict,
            ]
        )
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i in (0, 3, 4, 10) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def comparison_figure(rows: list[Difference], name_a: str, name_b: str) -> bytes:
    """One panel per measure: run A and run B side by side for every (level, attack) they share, each bar with
    its 95 % Clopper-Pearson interval; x labels rotated and the figure as wide as its bars need (PNG bytes)."""
    from dpmi.study.figures import _png

    return _png(comparison_axes(rows, name_a, name_b))


def comparison_axes(rows: list[Difference], name_a: str, name_b: str) -> Any:
    """The matplotlib figure of `comparison_figure`, not yet rendered."""
    import numpy as np

    from dpmi.study.figures import _pyplot

    plt = _pyplot()
    keys = [k for k, _ in compared_columns() if any(r.key == k for r in rows)]
    names = dict(compared_columns())
    groups = max(len([r for r in rows if r.key == k]) for k in keys) if keys else 1
    longest = max((len(_tick(r)) for r in rows), default=10)  # vertical labels: room below each panel
    panel_height = 2.6 + 0.065 * longest
    fig, axes = plt.subplots(len(keys) or 1, 1, figsize=(max(7.0, 0.42 * groups + 2.0), panel_height * max(1, len(keys))),
                             squeeze=False)  # fmt: skip
    for ax, key in zip(axes[:, 0], keys):
        mine = [r for r in rows if r.key == key]
        x = np.arange(len(mine))
        for offset, run, name, colour in (
            (-0.2, "a", f"A: {name_a}", "#0072B2"),
            (0.2, "b", f"B: {name_b}", "#E69F00"),
        ):
            values = np.array([getattr(r, run) for r in mine], dtype=float)
            errors = np.array([_error_bar(r.interval(run), v) for r, v in zip(mine, values)]).T
            ax.bar(x + offset, values, 0.4, label=name, color=colour, yerr=errors, capsize=2,
                   error_kw={"elinewidth": 0.8})  # fmt: skip
        ax.set_xticks(x)
        ax.set_xticklabels(
            [_tick(r) for r in mine], fontsize=7, rotation=90, ha="right", va="center", rotation_mode="anchor"
        )
        ax.set_xlim(-0.6, len(mine) - 0.4)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(names.get(key, key), fontsize=9)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Run A ({name_a}) and run B ({name_b}), mean over each run's seeds, 95% Clopper-Pearson intervals",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def _tick(row: Difference) -> str:
    return row.label if row.attack is None else f"{row.label}: {row.attack}"


def _error_bar(interval: tuple[float, float] | None, value: float) -> tuple[float, float]:
    if interval is None or not math.isfinite(value):
        return (0.0, 0.0)
    return (max(0.0, value - interval[0]), max(0.0, interval[1] - value))


def compare_data(rows: list[Difference], notes: list[str]) -> dict[str, Any]:
    """The comparison as JSON-ready data (rates in 0..1, intervals, p-values)."""
    return {
        "notes": notes,
        "rows": [
            {
                "level": r.level_key,
                "attack": r.attack,
                "measure": r.key,
                "a": r.a if math.isfinite(r.a) else None,
                "b": r.b if math.isfinite(r.b) else None,
                "a_interval": r.interval("a"),
                "b_interval": r.interval("b"),
                "p_value": None if math.isnan(r.p_value) else r.p_value,
                "distinguishable": r.distinguishable,
            }
            for r in rows
        ],
    }
