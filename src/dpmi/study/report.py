"""`report.html`: one self-contained page (CSS inline, figures as base64 PNG): the question, what was run, the
plain-language reading per privacy level, the tables, the recipe search, the figures and the provenance.
Every piece of user-supplied or recorded text goes through html.escape.

Every sentence is generated from the same numbers as the tables and figures, and "above chance" / "near
chance" always comes from one test (`dpmi.study.summary.above_chance`, a one-sided binomial test at 5 %).

Extension point: `dpmi.study.report_sections.REPORT_SECTIONS` (a registered `ReportSection`: a page part and/or a
per-level panel, e.g. the privacy audit) is rendered after the study's own sections.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dpmi.data.face_dataset import person_name
from dpmi.study.access_levels import access_sentence
from dpmi.study.levels import PrivacyLevel
from dpmi.study.summary import (
    LevelSummary,
    attack_columns,
    chance_words,
    format_epsilon,
    format_value,
    is_percent,
    judges_recorded,
)

LevelPanel = Callable[["StudyResults", PrivacyLevel], "str | None"]
PanelIntro = Callable[["StudyResults"], "str | None"]

if TYPE_CHECKING:
    from dpmi.study.results import GridRow, StudyResults
    from dpmi.study.trusted import JudgePanel

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
.question{font-size:1.1em;background:#f4f7fb;border-left:4px solid #0072B2;padding:.6em 1em}
.reading{background:#fbf8f1;border-left:4px solid #E69F00;padding:.6em 1em}
.private{background:#fdecea;border-left:4px solid #c00;padding:.5em 1em}
.smoke{background:#fff4cc;border-left:4px solid #b58900;padding:.5em 1em;font-weight:600}
.answer{background:#eef7ee;border:2px solid #009E73;border-radius:6px;padding:.6em 1.2em;margin:1em 0}
.answer h2{border:none;margin-top:.2em}.answer li{margin:.25em 0}
.fooled{color:#b00;font-weight:600}.trusted{color:#070;font-weight:600}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}th,td{padding:.3em .6em;border-bottom:1px solid #e3e3e3}
th{background:#f6f6f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.meta{color:#666;font-size:.85em}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
"""

PRIVATE_NOTICE = (
    "This report and its run directory contain personal data: reconstructions of private people's faces and "
    "(in report.html) their real mean faces. The files are written readable by you only; keep them private. "
    "`dpmi report RUN_DIR --shareable` writes report_shareable.html without the real faces."
)
SHAREABLE_NOTICE = (
    "Shareable variant: the real faces are left out. The reconstructions are still derived from private data; "
    "share them only where the people's consent allows it."
)
PLD_NOTE = (
    "Each DP-SGD level is labelled with the epsilon it was calibrated to by the {accountant} accountant (which "
    "sets sigma); the tables give both accountants' epsilon for the same training. Both are valid upper bounds "
    "on the privacy loss of the same mechanism (Poisson-subsampled Gaussian, add/remove one example); the "
    "privacy-loss-distribution (PLD) accountant is the tighter one, so the x axes use it: it is the closest to "
    "what the training really guarantees."
)
MIFACE_NOTE = (
    "MI-FACE stops as soon as the target is {threshold} confident in the label. On DP-trained targets it often "
    "stops within a few steps, on the non-private one it runs much longer: the noise DP-SGD adds leaves class "
    "weights that a few gradient steps can push to a near-certain softmax from almost any image, so the "
    "target's confidence is easy to buy and says nothing about resemblance. The judges score what the image "
    "shows; a fast stop on a more private model means the model is easier to fool, not that it leaks more."
)
SEARCH_NOTE = (
    "Recipes (learning rate, epochs, lot size, clipping norm) were chosen per privacy level by a seeded search "
    "on the PUBLIC people only: each candidate was trained with the level's privacy (sigma calibrated for that "
    "lot and epoch count on the private training set's size) on the public people's training images and scored "
    "on their held-out images. The private people's data were not used, so the search costs them no privacy; "
    "each level's epsilon is computed for the recipe it trains with."
)


def register_level_panel(name: str, panel: LevelPanel, intro: PanelIntro | None = None) -> None:
    """Add a per-level panel to every report: `REPORT_SECTIONS.register(name, ReportSection(name, panel, intro),
    replace=True)` (kept for code written before the section registry)."""
    from dpmi.study.report_sections import REPORT_SECTIONS, ReportSection

    key = "-".join(name.lower().split())
    REPORT_SECTIONS.register(key, ReportSection(name, panel=panel, intro=intro), replace=True)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float) -> str:
    """0.9 -> "90%"; small rates keep a decimal, so chance for 40 people reads 2.5%, not 2%."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.1f}%" if abs(value) < 0.1 else f"{100 * value:.0f}%"


def _judge_phrase(s: LevelSummary, attack: str, key: str, name: str, chance: float) -> str:
    rate = s.attack_mean[attack].get(key, math.nan)
    if not math.isfinite(rate):
        return ""
    people = round(rate * s.people) if len(s.seeds) == 1 else None
    count = f"{people} of {s.people} people, " if people is not None else ""
    text = f"the {name} names {count}{_pct(rate)} ({chance_words(rate, s.trials, chance)})"
    return text + collapse_note(s, attack, key)


def collapse_note(s: LevelSummary, attack: str, key: str) -> str:
    """ " - collapsed: ..." when the judge of `key` answered one person for most of the attack's images (in most
    seeds): its rate is then fixed by that one answer, not measured."""
    judge = key.rsplit("_", 1)[0]
    collapsed = s.attack_mean.get(attack, {}).get(f"{judge}_collapsed", math.nan)
    share = s.attack_mean.get(attack, {}).get(f"{judge}_top_answer_share", math.nan)
    if not (math.isfinite(collapsed) and collapsed >= 0.5):
        return ""
    return (
        f" - but it gave one answer for {_pct(share)} of these images, so that rate is fixed by the one answer, "
        "not a measurement"
    )


def strongest_attack(s: LevelSummary, key: str) -> str | None:
    """The attack whose reconstructions `key`'s judge names most often at this level (first of equals)."""
    best, best_rate = None, -1.0
    for attack, values in s.attack_mean.items():
        rate = values.get(key, math.nan)
        if math.isfinite(rate) and rate > best_rate:
            best, best_rate = attack, rate
    return best


def _epsilon_text(level: PrivacyLevel, accountant: str) -> str:
    if not level.private:
        return "no privacy guarantee, epsilon infinite"
    by = f"epsilon {format_epsilon(level.epsilon_pld)} by PLD, {format_epsilon(level.epsilon_rdp)} by RDP"
    if level.target_epsilon is not None:
        return f"{by}; sigma {level.noise_multiplier:.3g} calibrated by {accountant.upper()}"
    return f"{by}; fixed sigma {level.noise_multiplier:.3g}"


# SSIM (Wang et al. 2004) of a reconstruction with the person's mean face: below LOW the image has no face
# structure (it looks like noise or a texture), from HIGH up it has the coarse layout of a face (eyes, nose,
# mouth where a face has them). SSIM cannot tell a photo-like face from a mosaic with that layout (the cnn's
# MI-FACE images are constant on the 4 x 4 blocks its input is pooled over), so the words claim the layout only.
SSIM_NOISE, SSIM_FACE = 0.1, 0.3
PRIOR_CAVEAT = " An attack with a face prior draws a face whatever the model leaks; whose face it is, the judges say."


def _has_face_prior(attack: str) -> bool:
    from dpmi.attacks.registry import attack_spec

    try:
        return bool(attack_spec(attack).needs_public)
    except ValueError:  # an attack of a run made with another version: no claim about it
        return False


def looks_sentence(s: LevelSummary) -> str:
    """What the reconstructions look like, per attack, from their structural similarity with the real mean faces."""
    parts = []
    prior_faces = False
    for attack, values in s.attack_mean.items():
        value = values.get("ssim_mean_face", math.nan)
        blank = values.get("no_reconstruction", math.nan)
        if math.isfinite(blank) and blank >= 0.5:  # nothing to describe: the attack did not move
            parts.append(
                f"{attack} gives no reconstruction for {_pct(blank)} of the people (the image never left its start "
                "image, or is flat: scored as recovering nobody)"
            )
            continue
        if not math.isfinite(value):
            continue
        look = (
            "images with a face's coarse layout"
            if value >= SSIM_FACE
            else "noise-like images without a face's structure"
            if value < SSIM_NOISE
            else "images with a faint face structure"
        )
        prior_faces |= value >= SSIM_FACE and _has_face_prior(attack)
        parts.append(f"{attack} gives {look} (SSIM {value:.2f} with the person's mean face)")
    if not parts:
        return ""
    text = "What the images look like: " + "; ".join(parts) + "."
    if prior_faces:
        text += PRIOR_CAVEAT
    return text


def judges_disagree_sentence(
    s: LevelSummary, judges: list[tuple[str, str, str]], chance: float, panel: JudgePanel | None = None
) -> str:
    """Where the answering judge (the first in `judges`, or `panel.answer`) and each other identifying judge
    disagree about an attack at this level: one above chance, the other not, with why the other one says so
    (its calibration verdict when `panel` is given). The nearest-mean test is left out: it is far more
    sensitive than any judge by design."""
    named = [(key, name) for key, _, name in judges if key != "nearest_mean_top1"]
    if panel is not None and panel.answer_key is not None:
        named.sort(key=lambda item: item[0] != panel.answer_key)
    if len(named) < 2:
        return ""
    (answer_key, answer_name), others = named[0], named[1:]
    parts = []
    for key, name in others:  # one clause per other judge: where it disagrees, and why, said once
        where = []
        for attack, values in s.attack_mean.items():
            answer_rate, rate = values.get(answer_key, math.nan), values.get(key, math.nan)
            if not (math.isfinite(answer_rate) and math.isfinite(rate)):
                continue
            words = chance_words(rate, s.trials, chance)
            if words != chance_words(answer_rate, s.trials, chance):
                where.append(f"{attack} {_pct(rate)}, {words} ({answer_name} {_pct(answer_rate)})")
        if not where:
            continue
        verdict = None if panel is None else panel.verdicts.get(key.rsplit("_", 1)[0])
        if verdict is not None and not verdict.trusted:
            why = f"it is {verdict.words()}"
        elif any("above chance" in w.split("(")[0] for w in where):
            why = (
                "its yes need not be a face a person would recognise (a judge trained on the same private faces "
                "responds to the attack's own features): look at its row in the grid"
            )
        else:
            why = f"it misses what the {answer_name} sees (look at the grid)"
        parts.append(f"the {name} on " + ", ".join(where) + f": {why}")
    return ("Where the judges disagree: " + "; ".join(parts) + ".") if parts else ""


def miface_steps(summaries: list[LevelSummary]) -> str:
    """Mean MI-FACE steps and the target's confidence at the result, per level (from the attack's diagnostics)."""
    parts = []
    for s in summaries:
        values = s.attack_mean.get("mi-face", {})
        steps, confidence = values.get("attack_iterations", math.nan), values.get("attack_confidence", math.nan)
        if math.isfinite(steps) and math.isfinite(confidence):
            parts.append(f"{s.level.label}: {steps:.0f} steps, confidence {confidence:.2f}")
        elif math.isfinite(steps):
            parts.append(f"{s.level.label}: {steps:.0f} steps")
    return ("Here: " + "; ".join(parts) + ".") if parts else ""


def grid_sentence(rows: list[GridRow], level_key: str, columns: list[int], names: list[str] | None = None) -> str:
    """What the grid shows for one level: green frames per attack row (first seed, the drawn people, named as
    the grid's column labels name them: `names`, the private people's folder names, else "person k")."""
    parts = []
    for row in rows:
        if row.level.key != level_key or row.hits is None:
            continue
        green = sum(bool(row.hits[c]) for c in columns)
        parts.append(f"{row.attack} {green} of {len(columns)}")
    if not parts:
        return ""
    judge = next(r.judge for r in rows if r.level.key == level_key)
    return (
        f"In the grid (seed {rows[0].seed}, people {_person(columns[0], names)}..{_person(columns[-1], names)}), "
        "green frames, i.e. people the "
        f"{judge} names: " + ", ".join(parts) + "."
    )


def _person(column: int, names: list[str] | None) -> str:
    return person_name(column, names)  # as figures.py labels columns


def _ordered_judges(judges: list[tuple[str, str, str]], panel: JudgePanel | None) -> list[tuple[str, str, str]]:
    """The answering judge first, then the other recorded judges in registry order."""
    if panel is None or panel.answer_key is None:
        return judges
    return sorted(judges, key=lambda judge: judge[0] != panel.answer_key)


def method_sentence(results: StudyResults, summaries: list[LevelSummary], panel: JudgePanel | None) -> str:
    """How to read the numbers, said once: people attacked, chance, which judge answers and why."""
    classes = results.private_people
    text = (
        f"Each attack reconstructs one image per private person ({summaries[0].people} people attacked, "
        f"{classes} private people in all, chance {_pct(1.0 / classes)}). "
    )
    if panel is not None and panel.answer is not None:
        verdict = panel.verdicts[panel.answer]
        label = _judge_label(panel.answer)
        text += (
            f"Whose face a reconstruction shows is answered by the {label}, the judge that answered as a person "
            f"would on images whose answer is known: it names {_pct(verdict.held_out)} of held-out real faces, "
            f"{_pct(verdict.noise)} of noise and {_pct(verdict.probe)} of images optimised against another "
            "classifier (the judges' table). "
        )
        fooled = [_judge_label(name) for name, v in panel.verdicts.items() if v.fooled]
        if fooled:
            text += (
                f"The {' and the '.join(fooled)} {'is' if len(fooled) == 1 else 'are'} fooled by optimised images "
                "(they name images that no person would call the person), so their numbers are shown beside the "
                "answer, never as it. "
            )
    elif panel is not None:
        text += (
            "No judge passed calibration (see the judges' table), so no number below is an identification a "
            "person would confirm; they are shown as what each judge says. "
        )
    text += (
        "The nearest-mean-face test (is the image most correlated with that person's mean face?) is a sensitive "
        'statistical test that singles out people from images a human would call noise: it is not identification. "Above '
        'chance" means a one-sided binomial test over people x seeds rejects guessing at 5%.'
    )
    return text


def _judge_label(name: str) -> str:
    from dpmi.metrics.judge_registry import JUDGES

    return JUDGES.get(name).label if name in JUDGES else name


def plain_reading(
    results: StudyResults,
    summaries: list[LevelSummary],
    grid_rows: list[GridRow] | None = None,
    columns: list[int] | None = None,
    panel: JudgePanel | None = None,
) -> list[str]:
    """A few sentences a non-specialist can read, generated from the aggregated numbers: the method once, then
    one paragraph per level, by the answering judge (`panel.answer`; else the first recorded judge)."""
    classes = results.private_people
    chance = 1.0 / classes
    judges = _ordered_judges(judges_recorded(summaries), panel)
    if not summaries or not judges:
        return ["No finished cells with attack metrics yet."]
    primary_key, _, primary = judges[0]
    accountant = str(results.config.get("accountant", "rdp"))
    sentences = [method_sentence(results, summaries, panel)]
    base = next((s for s in summaries if not s.level.private and not s.level.defended), None)
    said_prior = False
    for s in summaries:
        if s.level.defended:  # read in the frontier section, at matched accuracy
            continue
        strongest = strongest_attack(s, primary_key)
        text = (
            f"{s.level.label} ({_epsilon_text(s.level, accountant)}): the model names "
            f"{_pct(s.mean.get('test_accuracy', math.nan))} of held-out private faces"
        )
        if base is not None and s is not base:
            text += f" (non-private: {_pct(base.mean.get('test_accuracy', math.nan))})"
        text += ". "
        if strongest is not None:
            best_rate = s.attack_mean[strongest].get(primary_key, math.nan)
            if chance_words(best_rate, s.trials, chance) == "above chance":
                text += f"The attack that recovers the most people by the {primary} is {strongest}: "
            else:
                text += f"No attack recovers people above chance by the {primary}; the highest rate is {strongest}'s: "
            text += "; ".join(
                p for p in (_judge_phrase(s, strongest, key, name, chance) for key, _, name in judges) if p
            )
            text += "."
            others = [a for a in s.attack_mean if a != strongest]
            if others:
                text += (
                    " Others by the same judge: "
                    + ", ".join(
                        f"{a} {_pct(s.attack_mean[a].get(primary_key, math.nan))} "
                        f"({chance_words(s.attack_mean[a].get(primary_key, math.nan), s.trials, chance)})"
                        for a in others
                    )
                    + "."
                )
            looks = looks_sentence(s)
            if looks and said_prior:  # the prior's caveat is said once, at the first level that needs it
                looks = looks.replace(PRIOR_CAVEAT, "")
            said_prior |= PRIOR_CAVEAT in looks
            if looks:
                text += " " + looks.strip()
            by_access = access_sentence(s, primary_key, primary, chance)
            if by_access:
                text += " " + by_access
            disagree = judges_disagree_sentence(s, judges, chance, panel)
            if disagree:
                text += " " + disagree
        if grid_rows and columns:
            grid = grid_sentence(grid_rows, s.level.key, columns, results.split.get("private_names"))
            if grid:
                text += " " + grid
        sentences.append(text)
    return sentences


def _level_table(summaries: list[LevelSummary]) -> str:
    head = [
        "privacy level",
        "sigma",
        "epsilon (RDP)",
        "epsilon (PLD)",
        "recipe",
        "seeds",
        "test accuracy (%)",
        "train accuracy (%)",
    ]
    rows = []
    for s in summaries:
        sigma = "-" if s.level.noise_multiplier is None else f"{s.level.noise_multiplier:.3g}"
        recipe = "-" if s.recipe is None else s.recipe.describe(s.level.private)
        cells = [
            sigma,
            format_epsilon(s.level.epsilon_rdp),
            format_epsilon(s.level.epsilon_pld),
            recipe,
            str(len(s.seeds)),
            format_value("test_accuracy", s.mean.get("test_accuracy", math.nan), s.std.get("test_accuracy")),
            format_value("train_accuracy", s.mean.get("train_accuracy", math.nan), s.std.get("train_accuracy")),
        ]
        rows.append(
            "<tr><td>" + _e(s.level.label) + "</td>" + "".join(f'<td class="num">{_e(c)}</td>' for c in cells) + "</tr>"
        )
    return _table(head, rows)


def _table(head: list[str], rows: list[str]) -> str:
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _attack_table(summaries: list[LevelSummary], chance: float, panel: JudgePanel | None = None) -> str:
    present = [
        (k, t)
        for k, t in attack_columns()
        if any(math.isfinite(v.get(k, math.nan)) for s in summaries for v in s.attack_mean.values())
    ]
    verdict_key = panel.answer_key if panel is not None and panel.answer_key else (present[0][0] if present else "")
    verdict_name = _judge_label(verdict_key.rsplit("_", 1)[0]) if verdict_key else "-"
    head = (
        ["privacy level", "attack", "access"]
        + [t + (" (%)" if is_percent(k) else "") for k, t in present]
        + [f"verdict ({verdict_name} acc@1)"]
    )
    rows = []
    for s in summaries:
        for attack, values in s.attack_mean.items():
            cells = [format_value(k, values.get(k, math.nan), s.attack_std[attack].get(k)) for k, _ in present]
            rate = values.get(verdict_key, math.nan)
            verdict = chance_words(rate, s.trials, chance) if math.isfinite(rate) else "-"
            rows.append(
                f"<tr><td>{_e(s.level.label)}</td><td>{_e(attack)}</td>"
                f"<td>{_e(s.attack_access.get(attack, 'white-box'))}</td>"
                + "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
                + f"<td>{_e(verdict)}</td></tr>"
            )
    return _table(head, rows)


def short_answer(results: StudyResults, summaries: list[LevelSummary], panel: JudgePanel | None) -> list[str]:
    """One line per level: accuracy, epsilon, the people the answering judge says the strongest attack recovers
    (hits of attacks over seeds, with a 95 % Clopper-Pearson interval), chance. The report's box and the
    terminal print these lines."""
    from dpmi.metrics.significance import chance_verdict
    from dpmi.study.trusted import best_attack

    chance = 1.0 / results.private_people
    if panel is None or panel.answer is None:
        return [
            "No judge passed calibration here, so no level can say how many people are recovered "
            "(see the judges' table)."
        ]
    key, label = panel.answer_key or "", _judge_label(panel.answer)
    lines = []
    for s in summaries:
        if s.level.defended:
            continue
        attack, rate = best_attack(s, key)
        head = (
            f"{s.level.label} (accuracy {_pct(s.mean.get('test_accuracy', math.nan))}, "
            f"epsilon {format_epsilon(s.level.epsilon_pld) if s.level.private else 'inf'}): "
        )
        if attack is None or s.trials < 1:
            lines.append(head + f"not scored by the {label}.")
            continue
        verdict = chance_verdict(round(rate * s.trials), s.trials, chance)
        seeds = f" over {len(s.seeds)} seeds" if len(s.seeds) > 1 else ""
        lines.append(
            head + f"the {label} recognises {verdict.hits} of {verdict.n} reconstructions{seeds} from the strongest "
            f"attack ({attack}): {_pct(verdict.rate)}, 95% CI {_pct(verdict.low)}-{_pct(verdict.high)}, "
            f"{verdict.words} (chance {_pct(chance)})."
        )
    return lines


def _short_answer_html(
    results: StudyResults, summaries: list[LevelSummary], panel: JudgePanel | None, lineups: list[str] | None = None
) -> str:
    lines = short_answer(results, summaries, panel)
    extra = (
        "<p>What people said in blind lineups (<code>dpmi lineup RUN_DIR</code>; human acc@1, chance 1/k; the "
        "section Blind lineups has every rater and attack):</p><ul>"
        + "".join(f"<li>{_e(line)}</li>" for line in lineups)
        + "</ul>"
        if lineups
        else "<p class=meta>No person has rated this run's reconstructions yet: <code>dpmi lineup RUN_DIR</code> "
        "serves blind lineups in a local page, and this box then shows what people said.</p>"
    )
    return (
        "<div class=answer><h2>The short answer</h2><ul>"
        + "".join(f"<li>{_e(line)}</li>" for line in lines)
        + "</ul>"
        + extra
        + "</div>"
    )


def _who_leaks_html(results: StudyResults, panel: JudgePanel | None) -> str:
    """Per private person: how many (level, attack) pairs recover them by the answering judge."""
    from dpmi.study.trusted import people_recovered

    if panel is None or panel.answer is None:
        return ""
    rows = people_recovered(results, panel.answer)
    if not rows:
        return ""
    body = []
    for row in rows:
        where = ", ".join(f"{level} / {attack}" for level, attack in row["recovered"]) or "-"
        body.append(
            f"<tr><td>{_e(row['name'])}</td><td class=num>{len(row['recovered'])}</td><td>{_e(where)}</td></tr>"
        )
    return (
        f"<p>Which private people leak, by the {_e(_judge_label(panel.answer))}: for each person, the privacy "
        "levels and attacks whose reconstruction (on any seed) it names as that person. The most exposed come "
        "first.</p>" + _table(["person", "levels x attacks recovering them", "where"], body)
    )


def _recipe_html(results: StudyResults) -> str:
    searched = [r for r in results.recipes if r.searched]
    if not searched:
        return "<p>Every level trained with the base recipe (no search).</p>"
    labels = {level.key: level.label for level in results.levels}
    rows = []
    for choice in results.recipes:
        level = next((lv for lv in results.levels if lv.key == choice.level_key), None)
        private = bool(level and level.private)
        if choice.matches:  # early-stop: per seed, matched on the held-out private accuracy
            per_seed = "; ".join(
                f"seed {m.seed}: {m.recipe.describe(False)} ({_pct(m.accuracy)} vs {_pct(m.target_accuracy)})"
                for m in choice.matches
            )
            rows.append(
                f"<tr><td>{_e(labels.get(choice.level_key, choice.level_key))}</td>"
                f"<td>{_e(per_seed)} (matched per seed on the held-out private accuracy)</td>"
                "<td class=num>-</td><td class=num>-</td><td class=num>-</td></tr>"
            )
        elif choice.searched:
            best = max(t.val_accuracy for t in choice.trials)
            worst = min(t.val_accuracy for t in choice.trials)
            rows.append(
                f"<tr><td>{_e(labels.get(choice.level_key, choice.level_key))}</td>"
                f"<td>{_e(choice.recipe.describe(private))}</td><td class=num>{len(choice.trials)}</td>"
                f"<td class=num>{_e(_pct(best))}</td><td class=num>{_e(_pct(worst))}</td></tr>"
            )
        else:
            rows.append(
                f"<tr><td>{_e(labels.get(choice.level_key, choice.level_key))}</td>"
                f"<td>{_e(choice.recipe.describe(private))} (base recipe, not searched)</td>"
                "<td class=num>-</td><td class=num>-</td><td class=num>-</td></tr>"
            )
    table = _table(
        ["privacy level", "chosen recipe", "candidates", "best public held-out accuracy", "worst candidate"], rows
    )
    details = []
    for choice in (c for c in searched if not c.matches):
        trial_rows = [
            f"<tr><td>{_e(t.recipe.describe(True))}</td><td class=num>"
            f"{'-' if t.noise_multiplier is None else f'{t.noise_multiplier:.3g}'}</td>"
            f"<td class=num>{_e(_pct(t.val_accuracy))}</td></tr>"
            for t in choice.trials
        ]
        details.append(
            f"<details><summary>{_e(labels.get(choice.level_key, choice.level_key))}: every candidate"
            f"</summary>{_table(['recipe', 'sigma', 'public held-out accuracy'], trial_rows)}</details>"
        )
    return f"<p>{_e(SEARCH_NOTE)}</p>{table}{''.join(details)}"


def data_name(results: StudyResults) -> str:
    """What the faces are, in words: "the AT&T faces" only when the run read them, else the folder's name,
    kind and image size."""
    data = results.data or {}
    form = data.get("format")
    if form in (None, "att"):  # results before the format was recorded ran on the AT&T faces
        return "the AT&T faces"
    root = str(data.get("root") or "")
    name = root.rstrip("/").rsplit("/", 1)[-1] or root or "an image folder"
    shape = data.get("image_shape") or []
    size = f", {shape[1]}x{shape[2]} px, {'grey' if shape[0] == 1 else 'colour'}" if len(shape) == 3 else ""
    return f"the image folder {name} ({data.get('people', '?')} people, {data.get('images', '?')} images{size})"


def setup_text(results: StudyResults) -> str:
    """One paragraph saying what was run, from the recorded config and split."""
    from dpmi.attacks.registry import attack_spec

    get = results.config.get
    split = results.split
    attacks = []
    for name in results.attacks:
        try:
            spec = attack_spec(name)
            attacks.append(f"{name} ({spec.summary}; {spec.reference})")
        except ValueError:
            attacks.append(name)
    people = (
        (
            f"{len(split['private'])} private people (the target's) and {len(split['public'])} public people (the "
            "attacker's prior and the recipe search only)"
        )
        if split.get("private")
        else "every person private"
    )
    settings = "".join(
        f" {name}: "
        + ", ".join(
            f"{k} {v}"
            if k != "seed" or "seed" in (results.config.get("attack_options") or {}).get(name, {})
            else "seed = the cell's seed"
            for k, v in options.items()
        )
        + "."
        for name, options in results.attack_settings.items()
    )
    return (
        f"Data: {data_name(results)}, {people}; {get('train_per_class', 7)} training images per private person, the "
        f"rest held out. Target: the {get('model', 'softmax')} model. DP-SGD clips each example's gradient and adds "
        f"Gaussian noise; target epsilons are reached by calibrating sigma with the {str(get('accountant', 'rdp')).upper()} "
        f"accountant at delta {get('delta', 1e-5):g}. Attacks, each on every attacked private person: "
        + "; ".join(attacks)
        + f". Seeds per level: {get('seeds')}. Attack settings used:"
        + (settings or " -")
    )


CALIBRATION_CASES = {
    "held_out_faces": "real held-out faces",
    "blurred_sigma2": "real faces, blurred (sigma 2 px)",
    "blurred_sigma4": "real faces, blurred (sigma 4 px)",
    "mean_faces": "each person's mean face",
    "noise": "pure noise",
    "wrong_label": "real faces scored against a wrong person",
    "optimised_miface": "MI-FACE images optimised against another classifier (a person sees noise)",
    "optimised_prior": "eigenface-prior images optimised against another classifier",
}


def _calibration_html(results: StudyResults, panel: JudgePanel | None = None) -> str:
    """The judges on images whose answer a person knows (`dpmi.metrics.calibrate_judges`), and the verdict
    the study draws from it (`dpmi.metrics.judge_trust`)."""
    from dpmi.metrics.judge_registry import JUDGES

    calibration = (results.evaluator or {}).get("calibration") or {}
    if not calibration:
        return ""
    keys = [
        (f"{name}_acc1", spec.label)
        for name, spec in JUDGES.items()
        if any(f"{name}_acc1" in row for row in calibration.values())
    ]
    keys.append(("nearest_mean_top1", "nearest mean face"))
    detect = [(f"{name}_detected", spec.label) for name, spec in JUDGES.items() if spec.detects_faces]
    rows = []
    for case, values in calibration.items():
        cells = "".join(f"<td class=num>{_e(_pct(values.get(k, math.nan)))}</td>" for k, _ in keys)
        found = "; ".join(f"face found in {_pct(values[k])}" for k, _ in detect if values.get(k) is not None)
        rows.append(f"<tr><td>{_e(CALIBRATION_CASES.get(case, case))}</td>{cells}<td>{_e(found)}</td></tr>")
    if panel is not None:
        cells = ""
        for key, _ in keys:
            verdict = panel.verdicts.get(key.rsplit("_", 1)[0])
            if verdict is None:
                cells += "<td class=fooled>not identification</td>" if key == "nearest_mean_top1" else "<td>-</td>"
            elif verdict.trusted:
                cells += "<td class=trusted>trusted</td>"
            else:
                words = "fooled by optimised images" if verdict.fooled else "not trusted"
                cells += f"<td class=fooled title='{_e('; '.join(verdict.reasons))}'>{_e(words)}</td>"
        rows.append(f"<tr><td><b>verdict</b></td>{cells}<td></td></tr>")
    missing = ""
    if panel is not None and panel.missing:
        missing = "".join(
            f"<p class=meta>Not run here: {_e(_judge_label(name))}: {_e(why)}</p>"
            for name, why in panel.missing.items()
        )
    return (
        "<p>How the judges answer on images whose answer a person knows (private people's images, share of "
        "images named as the right person): a judge a person would trust names real and blurred faces and does "
        "not name noise, a wrong person, or images optimised against another classifier trained on the same "
        "private faces (the attack's own trick: such images make any classifier trained on those faces "
        "confident, but a person sees noise). A judge that names the optimised MI-FACE images above chance is "
        "marked fooled; the eigenface-prior images are shown for reference (a prior draws a real face).</p>"
        + _table(["images"] + [name for _, name in keys] + ["face detector"], rows)
        + missing
    )


def _figure(png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption class=meta>{_e(caption)}</figcaption></figure>"
    )


def _panels(results: StudyResults) -> str:
    """Every registered report section (`dpmi.study.report_sections.REPORT_SECTIONS`) that has something to show."""
    from dpmi.study.report_sections import REPORT_SECTIONS

    parts = []
    for _, section in REPORT_SECTIONS.items():
        body = section.page(results) or "" if section.page is not None else ""
        if section.panel is not None:
            panel = section.panel
            fragments = [(level, panel(results, level)) for level in results.levels]
            levels = "".join(f"<h3>{_e(level.label)}</h3>{fragment}" for level, fragment in fragments if fragment)
            intro = section.intro(results) if section.intro is not None else None
            body += ((intro or "") + levels) if levels else ""
        if body:
            parts.append(f"<h2>{_e(section.title)}</h2>{body}")
    return "".join(parts)


def render_report(
    results: StudyResults,
    summaries: list[LevelSummary],
    *,
    tradeoff_png: bytes | None,
    grid_png: bytes | None,
    grid_rows: list[GridRow],
    columns: list[int],
    shareable: bool = False,
    run_name: str = "",
    panel: JudgePanel | None = None,
    lineups: str = "",
    lineup_lines: list[str] | None = None,
) -> str:
    """The whole page as a string. `panel`: the judges' trust verdicts (default: from the results' calibration);
    `lineups`: an escaped HTML fragment of the blind lineups' numbers (`dpmi.lineup`), "" when none;
    `lineup_lines`: one line per level of them, for the short answer."""
    from dpmi.study.trusted import judge_panel

    panel = panel if panel is not None else judge_panel(results)
    chance = 1.0 / results.private_people
    title = f"dpmi: does DP-SGD stop model inversion? - {results.config.get('name') or run_name}"
    config_rows = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>" for k, v in sorted(results.config.items())
    )
    one_seed = all(len(s.seeds) == 1 for s in summaries)
    banners = [f"<p class=private>{_e(SHAREABLE_NOTICE if shareable else PRIVATE_NOTICE)}</p>"]
    if results.quick:
        banners.append(
            "<p class=smoke>Smoke run (--quick): one seed, shortened attacks and a reduced recipe search. "
            "The numbers show the shape of the result, not its size; run without --quick for the study."
            "</p>"
        )
    if results.migrated_from == 1:
        banners.append(
            "<p class=meta>This run was made by an older dpmi (results format 1: MI-FACE only, every person "
            "private, one recipe); it is shown as recorded. Re-run it for the current study.</p>"
        )
    reading = "".join(f"<p>{_e(s)}</p>" for s in plain_reading(results, summaries, grid_rows, columns, panel))
    notes = [PLD_NOTE.format(accountant=str(results.config.get("accountant", "rdp")).upper())]
    if "mi-face" in results.attacks:
        threshold = (results.config.get("attack_options") or {}).get("mi-face", {}).get("threshold", 0.01)
        notes.append(
            MIFACE_NOTE.format(threshold=_pct(1 - float(threshold)) if threshold else "fully")
            + " "
            + miface_steps(summaries)
        )
    held_out = [
        f"the {_judge_label(name)} {_pct(verdict.held_out)}"
        for name, verdict in panel.verdicts.items()
        if math.isfinite(verdict.held_out)
    ]
    if held_out:
        notes.append(
            "Of the held-out real private faces, "
            + ", ".join(held_out)
            + " are named correctly: an upper reference for each judge's acc@1 on reconstructions."
        )
    missing = [
        f"{level.label} seed {seed}"
        for level in results.levels
        for seed in range(
            int(results.config.get("seed", 0)), int(results.config.get("seed", 0)) + int(results.config.get("seeds", 1))
        )
        if not any(c.level.key == level.key and c.seed == seed for c in results.cells)
    ]
    if missing:
        notes.append(f"Not finished (resume with the same --out): {', '.join(missing)}.")
    spread = "one seed" if one_seed else "mean ± standard deviation over seeds"
    data = results.data or {}
    provenance = f"Faces read from {data.get('root') or 'unknown'}; " + (
        f"fingerprint {data['fingerprint']} (as `dpmi data info` prints it)."
        if data.get("fingerprint")  # older runs recorded only the pixels' SHA-256
        else f"pixels SHA-256 {data.get('images_sha256') or 'unknown'} (a run older than the folder fingerprint)."
    )
    version_text = ", ".join(f"{k} {v}" for k, v in sorted(results.versions.items()))
    grid_caption = (
        "One row per privacy level and attack (first seed), one column per private person. "
        + (
            "The top row is the person's real mean training face. "
            if not shareable
            else "The real faces are left out of this variant. "
        )
        + "Each image is rescaled for display (its mean plus or minus 2.5 standard deviations)."
    )
    tradeoff_caption = (
        f"Left: the target's held-out accuracy. Then one panel per attack: the share of attacked "
        f"people each judge names from the reconstructions ({spread}); bold: judges the calibration trusts, "
        "dashed: the others; dotted: chance."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
{"".join(banners)}
<p class=meta>created {_e(results.created)}; {_e(version_text)}</p>
<h2>The question</h2><p class=question>{_e("If someone inverts this face classifier, do they get the private people's faces back, and how much does training with DP-SGD stop that?")}</p>
{_short_answer_html(results, summaries, panel, lineup_lines)}
<h2>How the study was run</h2><p>{_e(setup_text(results))}</p>
<h2>What we found</h2><div class=reading>{reading}</div>
<h2>Results</h2>
<p class=meta>{_e(spread.capitalize())}. Accuracies in %. eval acc: the evaluation classifier names the person;
NM top-1/top-5: the reconstruction is the most (one of the 5 most) correlated with the person's own mean training
face; KNN dist: squared distance in the evaluation classifier's feature space to the person's closest training
image; Frechet dist: between reconstructions and private images in that feature space (lower = closer);
SSIM against the person's mean face. Verdict: one-sided binomial test at 5% against chance {_e(_pct(chance))}.</p>
{_level_table(summaries)}
{_attack_table(summaries, chance, panel)}
{"".join(f"<p class=meta>{_e(n)}</p>" for n in notes)}
<h2>The judges</h2>{_calibration_html(results, panel)}
<h2>Who leaks</h2>{_who_leaks_html(results, panel) or "<p>No trusted judge: not measured.</p>"}
{f"<h2>Blind lineups</h2>{lineups}" if lineups else ""}
<h2>Training recipes</h2>{_recipe_html(results)}
<h2>Figures</h2>{_figure(tradeoff_png, tradeoff_caption)}{_figure(grid_png, grid_caption)}
{_panels(results)}
<h2>Provenance</h2><p class=meta>{_e(provenance)}</p>
<h2>Configuration</h2><table><tbody>{config_rows}</tbody></table>
</body></html>
"""
