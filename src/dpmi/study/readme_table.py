"""The README's results tables, generated from a run's results (never typed by hand).

    # keep a run's numbers (small JSON: no images, no per-person arrays) and regenerate the README tables
    python -m dpmi.study.readme_table --keep runs/NAME docs/results/softmax.json
    python -m dpmi.study.readme_table --readme README.md softmax=docs/results/softmax.json cnn=docs/results/cnn.json

The README holds each table between `<!-- dpmi-results:NAME:begin -->` and `<!-- dpmi-results:NAME:end -->`;
everything else in the README is left alone. tests/test_study_readme.py checks that the README's tables are
exactly what this module makes from the committed results files.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from dpmi.study.report import strongest_attack
from dpmi.study.results import StudyResults, load_results
from dpmi.study.summary import (
    chance_words,
    format_epsilon,
    format_value,
    judges_recorded,
)

BEGIN = "<!-- dpmi-results:{name}:begin -->"
END = "<!-- dpmi-results:{name}:end -->"


def slim(results: StudyResults) -> dict[str, Any]:
    """results.json without the per-person arrays and loss curves: what the README's tables need."""
    data = results.to_dict()
    for cell in data["cells"]:
        cell["train"]["loss"] = cell["train"]["loss"][-1:]
        cell["train"]["epsilon"] = cell["train"]["epsilon"][-1:]
        for attack in cell["attacks"]:
            attack["per_label"] = {}
    return data


def markdown_table(results: StudyResults) -> str:
    """One row per (privacy level, attack): the level's epsilons, recipe and accuracy, each judge's acc@1."""
    from dpmi.study.report import _ordered_judges
    from dpmi.study.trusted import judge_panel

    summaries = results.summaries()
    panel = judge_panel(results)
    judges = _ordered_judges(judges_recorded(summaries), panel)
    chance = 1.0 / results.private_people
    seeds = max((len(s.seeds) for s in summaries), default=0)
    head = ["privacy level", "epsilon RDP / PLD", "recipe (searched on public people)", "test accuracy", "attack"]
    head += [f"{name} acc@1{_trust_note(panel, key)}" for key, _, name in judges]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    accuracy_of = {s.level.key: s.mean.get("test_accuracy", math.nan) for s in summaries}
    label_of = {s.level.key: s.level.label for s in summaries}
    for s in summaries:
        for i, attack in enumerate(s.attack_mean):
            first = i == 0
            eps = (
                "inf"
                if not s.level.private
                else (f"{format_epsilon(s.level.epsilon_rdp)} / {format_epsilon(s.level.epsilon_pld)}")
            )
            recipe = "-" if s.recipe is None else s.recipe.describe(s.level.private)
            row = [
                s.level.label if first else "",
                eps if first else "",
                recipe if first else "",
                (
                    format_value("test_accuracy", s.mean.get("test_accuracy", math.nan), s.std.get("test_accuracy"))
                    + " %"
                    + _unmatched_note(s, accuracy_of, label_of)
                )
                if first
                else "",
                attack,
            ]
            for key, _, _ in judges:
                mean = s.attack_mean[attack].get(key, math.nan)
                text = format_value(key, mean, s.attack_std[attack].get(key))
                if math.isfinite(mean):
                    text += " %" + (" (near chance)" if chance_words(mean, s.trials, chance) == "near chance" else "")
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
    if judges and panel.answer is None and panel.verdicts:
        lines += [
            "",
            "- No judge passed calibration on this run: no row above is an identification a person would confirm.",
        ]
    elif judges:
        lines.append("")
        key, _, name = judges[0]
        for s in summaries:
            best = strongest_attack(s, key)
            if best is None:
                continue
            rate = s.attack_mean[best].get(key, math.nan)
            verdict = chance_words(rate, s.trials, chance)
            lead = "strongest attack" if verdict == "above chance" else "no attack above chance; highest"
            lines.append(
                f"- {s.level.label}: test accuracy "
                f"{format_value('test_accuracy', s.mean.get('test_accuracy', math.nan), None)} %; {lead} by "
                f"the {name}: {best}, {format_value(key, rate, None)} % ({verdict})"
            )
    people = summaries[0].people if summaries else 0
    total = results.timings.get("total")
    took = f"; the run took {total:.0f} s" if total else ""
    caption = (
        f"*{results.config.get('model', '?')} target, {people} private people attacked, {seeds} seed(s), "
        f"{'mean ± std over seeds' if seeds > 1 else 'no spread shown for one seed'}; chance "
        f'{100 * chance:.1f} %; "near chance": a one-sided binomial test at 5 % over people x seeds does not '
        f"reject guessing{took}.*"
    )
    return "\n".join(lines) + "\n\n" + caption


def _unmatched_note(summary: Any, accuracy_of: dict[str, float], label_of: dict[str, str]) -> str:
    """ " (not matched: DP-SGD ε=3 is at 43.9 %)" for an early-stopped level further than `MATCH_POINTS` from the
    accuracy it was searched to, else "": a row must not read as accuracy-matched when it is not."""
    from dpmi.study.frontier import MATCH_POINTS

    key = summary.level.matched_to
    if not key or key not in accuracy_of:
        return ""
    target, own = accuracy_of[key], summary.mean.get("test_accuracy", math.nan)
    if not (math.isfinite(target) and math.isfinite(own)) or abs(own - target) <= MATCH_POINTS + 1e-9:
        return ""
    return f" (not matched: {label_of[key]} is at {100 * target:.1f} %)"


def _trust_note(panel: Any, key: str) -> str:
    """ " (trusted)", " (fooled by optimised images)", " (not trusted)", " (not identification)" or ""."""
    if key == "nearest_mean_top1":
        return " (not identification)"
    verdict = panel.verdicts.get(key.rsplit("_", 1)[0])
    if verdict is None:
        return ""
    return " (trusted)" if verdict.trusted else " (fooled by optimised images)" if verdict.fooled else " (not trusted)"


def answer_lines(results: StudyResults) -> str:
    """The short answer (`dpmi.study.report.short_answer`) as markdown bullets: per level, the people the
    trusted judge says the strongest attack recovers, with a 95 % interval."""
    from dpmi.study.report import short_answer
    from dpmi.study.trusted import judge_panel

    return "\n".join(f"- {line}" for line in short_answer(results, results.summaries(), judge_panel(results)))


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    value = float(value)
    return "inf" if math.isinf(value) else f"{value:.{digits}g}"


def _pair(steinke: Any, fdp: Any) -> str:
    """ "STEINKE / FDP", "-" when the audit did not run."""
    if steinke is None and fdp is None:
        return "-"
    return f"{_number(steinke)} / {_number(fdp)}"


def _shadow_words(shadows: dict[str, int]) -> str:
    """ "16 shadow models" or "16 shadow models (8 for mid beta=0.01, ...)": the most common count, then the others."""
    if not shadows:
        return "no shadow models"
    counts = sorted(set(shadows.values()), key=lambda n: (-list(shadows.values()).count(n), -n))
    words = f"{counts[0]} shadow models"
    others = [f"{n} for {', '.join(label for label, m in shadows.items() if m == n)}" for n in counts[1:]]
    return words + (f" ({'; '.join(others)})" if others else "")


def audit_table(results: StudyResults) -> str:
    """One row per audited level: the accountant's epsilon beside what the attackers demonstrably achieved."""
    head = [
        "privacy level",
        "epsilon RDP / PLD (accountant, upper bound)",
        "eps_lb black box, one run (Steinke / f-DP)",
        "eps_lb white box, one run (Steinke / f-DP)",
        "identity epsilon (k images)",
        "LiRA AUC",
        "TPR at 0.1 % FPR (else at 0 false positives of N non-members)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    shadows: dict[str, int] = {}  # level label -> shadow models its audit trained (defense levels may use fewer)
    canaries = None
    for level in results.levels:
        saved = results.audits.get(level.key)
        if saved is None:
            continue
        record = saved.record
        if saved.settings.shadows is not None:  # None in records older than the settings block
            shadows[level.label] = int(saved.settings.shadows)
        if level.private:
            canaries = saved.settings.canaries
        bounds = record.epsilon_lower_bound
        identity = record.identity_epsilon
        k = record.records_per_identity
        identity_text = "-" if identity is None else f"{_number(identity)} (k = {k})"
        eps = (
            "inf" if not level.private else f"{format_epsilon(level.epsilon_rdp)} / {format_epsilon(level.epsilon_pld)}"
        )
        tpr = record.tpr_at_fpr.get("0.001")
        if tpr is not None:
            tpr_text = f"{100 * tpr:.1f} %"
        elif record.low_fpr is not None and record.low_fpr.tpr_at_zero_false_positives is not None:
            # 0.1 % FPR needs >= 1000 non-members; say what the candidates measure instead of a bare dash
            tpr_text = (
                f"unmeasurable; {100 * record.low_fpr.tpr_at_zero_false_positives:.1f} % at 0 FP of "
                f"{record.low_fpr.non_members}"
            )
        else:
            tpr_text = "-"
        row = [
            level.label,
            eps,
            _pair(bounds.black_box, bounds.black_box_fdp),
            _pair(bounds.white_box, bounds.white_box_fdp),
            identity_text,
            _number(record.auc),
            tpr_text,
        ]
        lines.append("| " + " | ".join(row) + " |")
    canary_words = f"{canaries} canaries (DP-SGD levels)" if canaries else "no white-box canaries"
    caption = (
        f"*{results.config.get('model', '?')} target, first seed of each level; {_shadow_words(shadows)}, "
        f"{canary_words}; lower bounds at 95 % confidence from one training run each: black box, LiRA's online scores "
        "on candidates included with probability 1/2 as guesses; white box, gradient canaries; each bounded by "
        "Steinke, Nasr and Jagielski 2023 (Thm 5.2) and, through f-DP, Mahloujifar, Melis and Chaudhuri 2025 (Gaussian "
        "trade-off). A lower bound is what this attacker proved; the accountant's epsilon is what no attacker "
        "can exceed.*"
    )
    return "\n".join(lines) + "\n\n" + caption


def replace_block(readme: str, name: str, body: str) -> str:
    """`readme` with the text between NAME's markers replaced by `body` (ValueError when the markers are missing)."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"the README has no {begin} ... {end} block for {name!r}")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", readme)


def load_kept(path: str | Path) -> StudyResults:
    """A results file kept with --keep (or any results.json)."""
    return StudyResults.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def render_readme(readme: str, tables: dict[str, str | Path]) -> str:
    """`readme` with each named block regenerated from its results file."""
    for name, path in tables.items():
        results = load_kept(path)
        readme = replace_block(readme, name, markdown_table(results))
        if BEGIN.format(name=f"{name}-audit") in readme:  # the audit panel, where the README shows one
            readme = replace_block(readme, f"{name}-audit", audit_table(results))
        if BEGIN.format(name=f"{name}-answer") in readme:  # the short answer, by the trusted judge
            readme = replace_block(readme, f"{name}-answer", answer_lines(results))
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dpmi.study.readme_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keep", nargs=2, metavar=("RUN_DIR", "JSON"), help="write RUN_DIR's slim results to JSON")
    parser.add_argument("--readme", metavar="README", help="regenerate this README's results blocks")
    parser.add_argument("tables", nargs="*", metavar="NAME=JSON", help="which results file fills which block")
    args = parser.parse_args(argv)
    if args.keep:
        run_dir, target = args.keep
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(
            json.dumps(slim(load_results(run_dir)), indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
        print(f"wrote {target}")
    if args.readme:
        tables = dict(item.split("=", 1) for item in args.tables)
        path = Path(args.readme)
        path.write_text(render_readme(path.read_text(encoding="utf-8"), tables), encoding="utf-8")
        print(f"updated {path}: {', '.join(tables)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
