"""What people said: human acc@1 of the blind lineups, per rater and pooled, per level and attack.

Each answer file records, per answer, the level, attack, k and whether the chosen face was the true person,
so the summary needs neither the lineup settings nor the data. acc@1 = correct / answered, with an exact
Clopper-Pearson 95 % interval; chance = 1/k (the mean of 1/k when answers were given at different k); the
not-a-face rate is the share of answers that said the picture shows no face (they count as not correct).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from dpmi.audit.bounds import clopper_pearson
from dpmi.lineup.answers import rater_files, read_answer_file
from dpmi.lineup.items import level_order

ALL = "all attacks"


def _stats(answers: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(answers)
    correct = sum(1 for a in answers if a.get("correct") is True)
    not_a_face = sum(1 for a in answers if a.get("not_a_face") is True)
    low, high = clopper_pearson(correct, n) if n else (None, None)
    return {
        "n": n,
        "correct": correct,
        "acc1": correct / n if n else None,
        "ci95": [low, high],
        "chance": sum(1.0 / int(a["k"]) for a in answers) / n if n else None,
        "not_a_face": not_a_face,
        "not_a_face_rate": not_a_face / n if n else None,
    }


def _levels(answers: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    keys: list[str] = []
    labels: dict[str, str] = {}
    for a in answers:
        key = str(a.get("level"))
        if key not in labels:
            keys.append(key)
            labels[key] = str(a.get("level_label") or key)
    rank = {key: i for i, key in enumerate(order)}
    first = {key: i for i, key in enumerate(keys)}
    keys.sort(key=lambda key: (rank.get(key, len(rank)), first[key]))
    levels = []
    for key in keys:
        mine = [a for a in answers if str(a.get("level")) == key]
        attacks: list[str] = []
        for a in mine:
            if str(a.get("attack")) not in attacks:
                attacks.append(str(a.get("attack")))
        levels.append(
            {
                "level": key,
                "label": labels[key],
                "raters": len({a["_rater"] for a in mine}),
                "all": _stats(mine),
                "attacks": {name: _stats([a for a in mine if str(a.get("attack")) == name]) for name in attacks},
            }
        )
    return levels


def _answers(run_dir: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    by_rater: dict[str, list[dict[str, Any]]] = {}
    for path in rater_files(run_dir):
        data = read_answer_file(path)
        mine = [
            {**a, "_rater": path.stem}
            for a in data["answers"]
            if isinstance(a, dict) and {"level", "attack", "k", "correct"} <= set(a)
        ]
        if mine:
            by_rater[path.stem] = mine
    return by_rater


def summarize_lineups(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Human acc@1 of RUN_DIR's lineups.

    Returns {"raters": [names], "pooled": {"levels": [...], "all": stats}, "per_rater": {name: same}}, where
    each level is {"level", "label", "raters", "all": stats, "attacks": {attack: stats}} in the run's level
    order and stats is {"n", "correct", "acc1", "ci95": [low, high], "chance", "not_a_face",
    "not_a_face_rate"} (None rates when n is 0). No answers: raters [] and empty levels.

    Raises:
        ValueError: an answer file that is not one.
    """
    by_rater = _answers(run_dir)
    order = level_order(run_dir)
    pooled = [a for answers in by_rater.values() for a in answers]

    def block(answers: list[dict[str, Any]]) -> dict[str, Any]:
        return {"levels": _levels(answers, order), "all": _stats(answers)}

    return {
        "raters": sorted(by_rater),
        "pooled": block(pooled),
        "per_rater": {name: block(answers) for name, answers in sorted(by_rater.items())},
    }


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{100.0 * value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _acc(stats: dict[str, Any]) -> str:
    if not stats["n"]:
        return "–"
    low, high = stats["ci95"]
    return f"{_pct(stats['acc1'])} % ({_pct(low)}-{_pct(high)} %)"


def lineup_answer_lines(run_dir: str | os.PathLike[str]) -> list[str]:
    """One sentence per level, pooled over attacks and raters, e.g. "DP-SGD ε=8: people named 3 of 40
    reconstructions correctly (7.5 %, 95 % CI 1.6-20.4 %; chance 20 %), 2 raters"; [] without answers."""
    summary = summarize_lineups(run_dir)
    lines = []
    for level in summary["pooled"]["levels"]:
        s = level["all"]
        low, high = s["ci95"]
        raters = level["raters"]
        lines.append(
            f"{level['label']}: people named {s['correct']} of {s['n']} reconstructions correctly "
            f"({_pct(s['acc1'])} %, 95 % CI {_pct(low)}-{_pct(high)} %; chance {_pct(s['chance'])} %), "
            f"{raters} rater{'' if raters == 1 else 's'}"
        )
    return lines


def _table(block: dict[str, Any]) -> list[str]:
    e = html.escape
    rows = [
        "<table class='lineups'>",
        "<thead><tr><th>level</th><th>attack</th><th>answered</th><th>named correctly</th>"
        "<th>acc@1 (95 % CI)</th><th>chance</th><th>not a face</th></tr></thead><tbody>",
    ]
    for level in block["levels"]:
        entries = list(level["attacks"].items())
        if len(entries) > 1:
            entries.append((ALL, level["all"]))
        for name, s in entries:
            cls = " class='total'" if name == ALL else ""
            rows.append(
                f"<tr{cls}><td>{e(level['label'])}</td><td>{e(name)}</td><td>{s['n']}</td><td>{s['correct']}</td>"
                f"<td>{e(_acc(s))}</td><td>{e(_pct(s['chance']))} %</td><td>{e(_pct(s['not_a_face_rate']))} %</td></tr>"
            )
    rows.append("</tbody></table>")
    return rows


def lineup_report_html(run_dir: str | os.PathLike[str]) -> str:
    """The lineups' numbers as an HTML fragment (every value escaped): pooled over raters, then per rater;
    "" when nobody has rated this run."""
    if not Path(run_dir).is_dir():
        return ""
    summary = summarize_lineups(run_dir)
    if not summary["raters"]:
        return ""
    e = html.escape
    raters = summary["raters"]
    parts = [
        "<div class='lineup-results'>",
        f"<p>Blind lineups: {len(raters)} rater{'' if len(raters) == 1 else 's'} ({e(', '.join(raters))}) saw each "
        "reconstruction beside real faces of the private people (the true person among them, level and attack "
        "hidden) and named whom it shows. acc@1: the share named correctly, with an exact (Clopper-Pearson) "
        "95 % interval; chance: 1/k, one in the number of faces shown; not a face: answers saying it shows no "
        "face (counted as not named).</p>",
    ]
    parts.extend(f"<p>{e(line)}</p>" for line in lineup_answer_lines(run_dir))
    parts.append("<h4>All raters</h4>")
    parts.extend(_table(summary["pooled"]))
    if len(raters) > 1:
        for name in raters:
            parts.append(f"<h4>Rater {e(name)}</h4>")
            parts.extend(_table(summary["per_rater"][name]))
    parts.append("</div>")
    return "\n".join(parts)
