"""The utility-leakage frontier: how much does DP-SGD stop model inversion *at matched accuracy*, beside the
model-inversion defenses and an early-stopped non-private model (Issue 20; MIBench 2024: attack success tracks
the target's accuracy, so a lower number at epsilon 8 may be DP-SGD's protection or just its accuracy cost).

Every level of the study is a point: its target's held-out accuracy (x) and the share of people the strongest
attack recovers by the trusted judge (y, hits over people x seeds, with a 95 % Clopper-Pearson interval). The
report section (`FRONTIER_SECTION`, registered in `dpmi.study.report_sections`) shows the figure, the table and a
reading that compares each DP-SGD level with its accuracy-matched early-stopped model and with every defense.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpmi.study.report_section import ReportSection

if TYPE_CHECKING:
    from dpmi.study.results import StudyResults
    from dpmi.study.summary import LevelSummary
    from dpmi.study.trusted import JudgePanel

MATCH_POINTS = 0.05  # "accuracy-matched": within 5 accuracy points


@dataclass(frozen=True)
class FrontierPoint:
    """One level on the frontier. accuracy: mean held-out accuracy (0..1); hits / n: reconstructions the
    trusted judge names over people x seeds from the strongest attack; low, high: 95 % interval of hits / n;
    epsilon: PLD epsilon (None: no guarantee); auc: LiRA AUC of the level's audit (None: not audited);
    mi_bound: the black-box one-run audit's eps_lb (Steinke, f-DP GDP) for the level, a valid 95 % lower bound
    on its privacy loss from outputs alone, defenses included (None: not audited)."""

    key: str
    label: str
    defense: str
    accuracy: float
    attack: str | None
    hits: int
    n: int
    low: float
    high: float
    epsilon: float | None
    auc: float | None
    matched_to: str | None
    mi_bound: tuple[float, float] | None = None

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan


def frontier_points(results: StudyResults, summaries: list[LevelSummary], panel: JudgePanel) -> list[FrontierPoint]:
    """Every level as a point, by the answering judge (empty without one)."""
    from dpmi.metrics.significance import rate_interval
    from dpmi.study.trusted import best_attack

    if panel.answer_key is None:
        return []
    points = []
    for s in summaries:
        attack, rate = best_attack(s, panel.answer_key)
        n = s.trials
        hits = round(rate * n) if attack is not None and n else 0
        low, high = rate_interval(hits, n) if n else (math.nan, math.nan)
        saved = results.audits.get(s.level.key)
        auc = None if saved is None else saved.record.auc
        bounds = None if saved is None else saved.record.epsilon_lower_bound
        mi_bound = (
            None if bounds is None or bounds.black_box is None else (bounds.black_box, bounds.black_box_fdp or 0.0)
        )
        defense = "dp-sgd" if s.level.private else s.level.defense
        points.append(
            FrontierPoint(
                s.level.key,
                s.level.label,
                defense,
                float(s.mean.get("test_accuracy", math.nan)),
                attack,
                hits,
                n,
                low,
                high,
                s.level.epsilon_pld if s.level.private else None,
                None if auc is None else float(auc),
                s.level.matched_to,
                mi_bound,
            )
        )
    return points


def _pct(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.0f}%"


def frontier_reading(points: list[FrontierPoint], chance: float, judge: str) -> list[str]:
    """Per DP-SGD level: its leakage, the early-stopped model at its accuracy and every defense within
    `MATCH_POINTS` of it, as people more or fewer; then which defenses dominate a DP-SGD level (at least its
    accuracy, at most its leakage) and which give a guarantee."""
    lines = []
    dp = [p for p in points if p.defense == "dp-sgd"]
    others = [p for p in points if p.defense not in ("dp-sgd",)]
    for level in dp:
        text = (
            f"{level.label} (accuracy {_pct(level.accuracy)}, epsilon {level.epsilon:.3g}): the {judge} recognises "
            f"{level.hits} of {level.n} ({_pct(level.rate)}, 95% CI {_pct(level.low)}-{_pct(level.high)})."
        )
        matched = next((p for p in others if p.matched_to == level.key), None)
        if matched is not None:
            gap = matched.accuracy - level.accuracy
            within = abs(gap) <= MATCH_POINTS + 1e-9
            text += (
                f" The early-stopped non-private model searched to its accuracy reaches {_pct(matched.accuracy)}"
                + ("" if within else f" (not within {100 * MATCH_POINTS:.0f} points: no closer short training)")
                + f" and leaks {matched.hits} of {matched.n} ({_pct(matched.rate)}, 95% CI {_pct(matched.low)}-"
                f"{_pct(matched.high)}): {_more_or_fewer(matched, level)} at that accuracy."
            )
        near = [
            p
            for p in others
            if p.matched_to is None and p.defense != "none" and abs(p.accuracy - level.accuracy) <= MATCH_POINTS
        ]
        for p in near:
            text += f" {p.label} at {_pct(p.accuracy)} accuracy leaks {_pct(p.rate)} ({_more_or_fewer(p, level)})."
        lines.append(text)
    # Dominance only where it is measured: at least the accuracy and a leakage interval wholly below the DP-SGD
    # level's; a lower point estimate with overlapping intervals is said as such, not as dominance.
    clear, unclear = [], 0
    for p in others:
        if p.defense == "none":
            continue
        for d in dp:
            if p.accuracy >= d.accuracy and p.rate <= d.rate:
                if p.high < d.low:
                    clear.append(
                        f"{p.label} dominates {d.label} ({_pct(p.accuracy)} >= {_pct(d.accuracy)} accuracy, "
                        f"leakage {_pct(p.low)}-{_pct(p.high)} below {_pct(d.low)}-{_pct(d.high)})"
                    )
                else:
                    unclear += 1
    if clear:
        lines.append("Dominance: " + "; ".join(clear) + ".")
    else:
        lines.append(
            "No defense measurably dominates a DP-SGD level (at least its accuracy with a leakage interval wholly "
            f"below it){f'; in {unclear} pairs a defense is at least as accurate with a lower or equal point estimate, but the intervals overlap' if unclear else ''}."
        )
    guaranteed = sorted({p.label for p in dp})
    lines.append(
        "Only DP-SGD gives a guarantee (an epsilon, hence a bound on membership inference and on reconstruction) "
        f"among these: {', '.join(guaranteed) or 'none run'}; the other defenses give none, and their leakage is "
        f"only what these attacks measured. Chance is {_pct(chance)}."
    )
    return lines


def _more_or_fewer(p: FrontierPoint, reference: FrontierPoint) -> str:
    """A phrase that reads the same in a sentence and in brackets: "as many reconstructions recognised as
    DP-SGD", "1 more reconstruction recognised than DP-SGD (the intervals overlap)", ..."""
    diff = p.hits - reference.hits
    if diff == 0:
        return "as many reconstructions recognised as DP-SGD"
    overlap = not (p.low > reference.high or p.high < reference.low)
    word = "more" if diff > 0 else "fewer"
    noun = "reconstruction" if abs(diff) == 1 else "reconstructions"
    return f"{abs(diff)} {word} {noun} recognised than DP-SGD" + (" (the intervals overlap)" if overlap else "")


def frontier_figure(points: list[FrontierPoint], chance: float, judge: str) -> bytes:
    """Accuracy (x) against leakage by the trusted judge (y), one line per defense (DP-SGD through its levels,
    early-stop through its matched models), with 95 % intervals; chance dotted, the non-private model a star.
    Second panel: LiRA AUC against accuracy for the audited levels."""
    from dpmi.study.figures import _png, _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), squeeze=False)
    leak, mia = axes[0]
    groups: dict[str, list[FrontierPoint]] = {}
    for p in points:
        groups.setdefault("dp-sgd" if p.defense in ("dp-sgd", "none") else p.defense, []).append(p)
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
    for (name, members), colour in zip(groups.items(), colours):
        members = sorted(members, key=lambda p: p.accuracy)
        xs = [p.accuracy for p in members]
        ys = [p.rate for p in members]
        err = [[max(0.0, p.rate - p.low) for p in members], [max(0.0, p.high - p.rate) for p in members]]
        label = "DP-SGD (through non-private)" if name == "dp-sgd" else name
        leak.errorbar(xs, ys, yerr=err, marker="o", capsize=3, lw=1.6, color=colour, label=label)
        audited = [p for p in members if p.auc is not None]
        if audited:
            mia.plot([p.accuracy for p in audited], [p.auc for p in audited], marker="o", color=colour, label=label)
    base = next((p for p in points if p.defense == "none"), None)
    if base is not None:
        leak.plot([base.accuracy], [base.rate], marker="*", ms=16, color="black", ls="none", label="non-private")
    leak.axhline(chance, ls=":", color="grey", label=f"chance ({100 * chance:.0f}%)")
    leak.set_xlabel("target's held-out accuracy")
    leak.set_ylabel(f"people recognised by the {judge}\n(strongest attack)")
    leak.set_title("Leakage at each accuracy", fontsize=11)
    mia.axhline(0.5, ls=":", color="grey", label="AUC 0.5 (guessing)")
    mia.set_xlabel("target's held-out accuracy")
    mia.set_ylabel("LiRA AUC (membership-inference strength)")
    mia.set_title("Membership inference (audited levels, defenses included)", fontsize=11)
    for ax in (leak, mia):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    leak.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    fig.tight_layout()
    return _png(fig)


def frontier_table(points: list[FrontierPoint]) -> str:
    head = [
        "level",
        "defense",
        "test accuracy",
        "strongest attack",
        "recognised (95% CI)",
        "epsilon (PLD)",
        "LiRA AUC",
        "black-box ε_lb, one run (Steinke / f-DP)",
    ]
    rows = []
    for p in points:
        cells = [
            p.label,
            p.defense,
            _pct(p.accuracy),
            p.attack or "-",
            f"{p.hits}/{p.n} = {_pct(p.rate)} ({_pct(p.low)}-{_pct(p.high)})",
            "inf (no guarantee)" if p.epsilon is None else f"{p.epsilon:.3g}",
            "-" if p.auc is None else f"{p.auc:.3f}",
            "-" if p.mi_bound is None else f"{p.mi_bound[0]:.2f} / {p.mi_bound[1]:.2f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def frontier_page(results: StudyResults) -> str | None:
    """The report section: reading, figure and table; None when the run has no defense level or no trusted
    judge."""
    from dpmi.study.trusted import judge_panel

    summaries = results.summaries()
    if not any(s.level.defended for s in summaries):
        return None
    panel = judge_panel(results)
    points = frontier_points(results, summaries, panel)
    if not points or panel.answer is None:
        return "<p>No judge passed calibration on this run: the frontier is not drawn.</p>"
    from dpmi.metrics.judge_registry import JUDGES

    judge = JUDGES.get(panel.answer).label if panel.answer in JUDGES else panel.answer
    chance = 1.0 / results.private_people
    png = frontier_figure(points, chance, judge)
    reading = "".join(f"<p>{html.escape(line)}</p>" for line in frontier_reading(points, chance, judge))
    image = base64.b64encode(png).decode("ascii")
    return (
        "<p>Does DP-SGD protect beyond its accuracy cost? Each level is a point: its accuracy and how many "
        f"reconstructions the {html.escape(judge)} recognises from the strongest attack. An early-stopped "
        "non-private model is trained to each DP-SGD level's accuracy (its short training matched per seed to the "
        "DP-SGD target's held-out accuracy), and the model-inversion defenses run at their default strength.</p>"
        f"<div class=reading>{reading}</div>"
        f'<figure><img alt="utility-leakage frontier" src="data:image/png;base64,{image}"></figure>'
        + frontier_table(points)
    )


def frontier_summary(results: StudyResults) -> list[dict[str, Any]]:
    """The frontier as plain rows (for results readers and the README)."""
    from dpmi.study.trusted import judge_panel

    return [p.__dict__ | {"rate": p.rate} for p in frontier_points(results, results.summaries(), judge_panel(results))]


FRONTIER_SECTION = ReportSection(
    "The frontier: DP-SGD against model-inversion defenses and simply weaker models", page=frontier_page
)
