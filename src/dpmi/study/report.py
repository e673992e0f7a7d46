"""`report.html`: one self-contained page (CSS inline, figures as base64 PNG): the question, what was run, the
plain-language reading per privacy level, the tables, the recipe search, the figures and the provenance.
Every piece of user-supplied or recorded text goes through html.escape.

Every sentence is generated from the same numbers as the tables and figures, and "above chance" / "near
chance" always comes from one test (`dpmi.study.summary.above_chance`, a one-sided binomial test at 5 %).

Extension point: `register_level_panel(name, panel)` adds a per-level panel (e.g. a privacy audit) to the
page; `panel(results, level)` returns an HTML fragment (already escaped) or None to skip that level.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dpmi.study.levels import PrivacyLevel
from dpmi.study.summary import (
    ATTACK_COLUMNS,
    PERCENT_KEYS,
    LevelSummary,
    chance_words,
    format_epsilon,
    format_value,
    judges_recorded,
)

if TYPE_CHECKING:
    from dpmi.study.results import GridRow, StudyResults

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
.question{font-size:1.1em;background:#f4f7fb;border-left:4px solid #0072B2;padding:.6em 1em}
.reading{background:#fbf8f1;border-left:4px solid #E69F00;padding:.6em 1em}
.private{background:#fdecea;border-left:4px solid #c00;padding:.5em 1em}
.smoke{background:#fff4cc;border-left:4px solid #b58900;padding:.5em 1em;font-weight:600}
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

LevelPanel = Callable[["StudyResults", PrivacyLevel], "str | None"]
_LEVEL_PANELS: dict[str, LevelPanel] = {}
PanelIntro = Callable[["StudyResults"], "str | None"]
_PANEL_INTROS: dict[str, PanelIntro] = {}


def register_level_panel(name: str, panel: LevelPanel, intro: PanelIntro | None = None) -> None:
    """Add a per-level panel to every report (e.g. a privacy audit); a later registration under `name`
    replaces it. `panel(results, level)` returns an escaped HTML fragment, or None to show nothing there;
    `intro(results)`, if given, an escaped fragment shown once above the levels (e.g. a table and a figure)."""
    _LEVEL_PANELS[name] = panel
    if intro is not None:
        _PANEL_INTROS[name] = intro


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
    return f"the {name} names {count}{_pct(rate)} ({chance_words(rate, s.trials, chance)})"


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
        text += " An attack with a face prior draws a face whatever the model leaks; whose face it is, the judges say."
    return text


def judges_disagree_sentence(s: LevelSummary, judges: list[tuple[str, str, str]], chance: float) -> str:
    """Where the two identifying judges (the evaluation classifier and the LBP judge) disagree about an attack at
    this level: one above chance, the other not. The nearest-mean test is left out: it is far more sensitive
    than either by design."""
    named = [(key, name) for key, _, name in judges if key in ("eval_acc1", "judge2_acc1")]
    if len(named) < 2:
        return ""
    parts = []
    for attack, values in s.attack_mean.items():
        if not all(math.isfinite(values.get(key, math.nan)) for key, _ in named):
            continue
        verdicts = {key: chance_words(values[key], s.trials, chance) for key, _ in named}
        if len(set(verdicts.values())) < 2:
            continue
        said = "; ".join(f"{name} {_pct(values[key])}, {verdicts[key]}" for key, name in named)
        if verdicts["eval_acc1"] == "above chance":
            why = (
                "its images carry features the evaluation network responds to, which need not be a face a person "
                "would recognise (both networks learned from the same private faces, and such features carry over "
                "from one network to another): look at its row in the grid"
            )
        else:
            why = "the LBP judge matches local textures, which need not make the person recognisable as a whole"
        parts.append(f"on {attack} ({said}): {why}")
    return ("The two judges disagree " + "; and ".join(parts) + ".") if parts else ""


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


def grid_sentence(rows: list[GridRow], level_key: str, columns: list[int]) -> str:
    """What the grid shows for one level: green frames per attack row (first seed, the drawn people)."""
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
        f"In the grid (seed {rows[0].seed}, people {columns[0]}..{columns[-1]}), green frames, i.e. people the "
        f"{judge} names: " + ", ".join(parts) + "."
    )


def plain_reading(
    results: StudyResults,
    summaries: list[LevelSummary],
    grid_rows: list[GridRow] | None = None,
    columns: list[int] | None = None,
) -> list[str]:
    """A few sentences a non-specialist can read, generated from the aggregated numbers, one per level."""
    classes = results.private_people
    chance = 1.0 / classes
    judges = judges_recorded(summaries)
    if not summaries or not judges:
        return ["No finished cells with attack metrics yet."]
    primary_key, _, primary = judges[0]
    accountant = str(results.config.get("accountant", "rdp"))
    sentences = [
        (
            f"Each attack reconstructs one image per private person ({summaries[0].people} people attacked, "
            f"{classes} private people in all, chance {_pct(chance)}). Judges decide whether a reconstruction shows who "
            f"it is: the {primary} (a network trained on the real private faces) is the one that answered like a person "
            "on real, blurred and mean faces and on noise (the judges' table); on attack images the two judges can "
            "disagree, and the reading says where. The nearest-mean-face test (is the image most correlated with that person's mean "
            "face?) is a sensitive statistical test that can single out a person from an image a human would call "
            'noise. "Above chance" means a one-sided binomial test over people x seeds rejects guessing at 5%.'
        )
    ]
    base = next((s for s in summaries if not s.level.private), None)
    for s in summaries:
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
            if looks:
                text += " " + looks
            disagree = judges_disagree_sentence(s, judges, chance)
            if disagree:
                text += " " + disagree
        if grid_rows and columns:
            grid = grid_sentence(grid_rows, s.level.key, columns)
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


def _attack_table(summaries: list[LevelSummary], chance: float) -> str:
    present = [
        (k, t)
        for k, t in ATTACK_COLUMNS
        if any(math.isfinite(v.get(k, math.nan)) for s in summaries for v in s.attack_mean.values())
    ]
    head = (
        ["privacy level", "attack"]
        + [t + (" (%)" if k in PERCENT_KEYS else "") for k, t in present]
        + ["verdict (eval acc@1)"]
    )
    rows = []
    for s in summaries:
        for attack, values in s.attack_mean.items():
            cells = [format_value(k, values.get(k, math.nan), s.attack_std[attack].get(k)) for k, _ in present]
            rate = values.get("eval_acc1", math.nan)
            verdict = chance_words(rate, s.trials, chance) if math.isfinite(rate) else "-"
            rows.append(
                f"<tr><td>{_e(s.level.label)}</td><td>{_e(attack)}</td>"
                + "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
                + f"<td>{_e(verdict)}</td></tr>"
            )
    return _table(head, rows)


def _recipe_html(results: StudyResults) -> str:
    searched = [r for r in results.recipes if r.searched]
    if not searched:
        return "<p>Every level trained with the base recipe (no search).</p>"
    labels = {level.key: level.label for level in results.levels}
    rows = []
    for choice in results.recipes:
        level = next((lv for lv in results.levels if lv.key == choice.level_key), None)
        private = bool(level and level.private)
        if choice.searched:
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
    for choice in searched:
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
        f"Data: the AT&T faces, {people}; {get('train_per_class', 7)} training images per private person, the "
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
}


def _calibration_html(results: StudyResults) -> str:
    """The judges on images whose answer a person knows (`dpmi.metrics.calibrate_judges`)."""
    calibration = (results.evaluator or {}).get("calibration") or {}
    if not calibration:
        return ""
    keys = [
        ("eval_acc1", "evaluation classifier"),
        ("judge2_acc1", "LBP judge"),
        ("nearest_mean_top1", "nearest mean face"),
    ]
    rows = []
    for case, values in calibration.items():
        cells = "".join(f"<td class=num>{_e(_pct(values.get(k, math.nan)))}</td>" for k, _ in keys)
        rows.append(f"<tr><td>{_e(CALIBRATION_CASES.get(case, case))}</td>{cells}</tr>")
    return (
        "<p>How the judges answer on images whose answer a person knows (private people's images, share of "
        "images named as the right person): a judge a person would trust names real and blurred faces and does "
        "not name noise or a wrong person.</p>" + _table(["images"] + [name for _, name in keys], rows)
    )


def _figure(png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption class=meta>{_e(caption)}</figcaption></figure>"
    )


def _panels(results: StudyResults) -> str:
    parts = []
    for name, panel in _LEVEL_PANELS.items():
        fragments = [(level, panel(results, level)) for level in results.levels]
        body = "".join(f"<h3>{_e(level.label)}</h3>{fragment}" for level, fragment in fragments if fragment)
        intro = _PANEL_INTROS[name](results) if name in _PANEL_INTROS else None
        body = (intro or "") + body if body else body
        if body:
            parts.append(f"<h2>{_e(name)}</h2>{body}")
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
) -> str:
    """The whole page as a string."""
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
    reading = "".join(f"<p>{_e(s)}</p>" for s in plain_reading(results, summaries, grid_rows, columns))
    notes = [PLD_NOTE.format(accountant=str(results.config.get("accountant", "rdp")).upper())]
    if "mi-face" in results.attacks:
        threshold = (results.config.get("attack_options") or {}).get("mi-face", {}).get("threshold", 0.01)
        notes.append(
            MIFACE_NOTE.format(threshold=_pct(1 - float(threshold)) if threshold else "fully")
            + " "
            + miface_steps(summaries)
        )
    evaluator = results.evaluator or {}
    if evaluator.get("test_accuracy") is not None:
        notes.append(
            f"The evaluation classifier names {_pct(evaluator['test_accuracy'])} of the held-out real private "
            f"faces correctly ({_pct(evaluator.get('train_accuracy', math.nan))} of its training images)"
            + (
                f", the LBP judge {_pct(evaluator['judge2_test_accuracy'])}"
                if evaluator.get("judge2_test_accuracy") is not None
                else ""
            )
            + ": an upper reference for their acc@1 on reconstructions."
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
    provenance = (
        f"Faces read from {data.get('root') or 'unknown'}; manifest SHA-256 "
        f"{data.get('manifest_sha256') or 'unknown'}; pixels SHA-256 {data.get('images_sha256') or 'unknown'}."
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
        f"people each judge names from the reconstructions ({spread}); dotted: chance."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
{"".join(banners)}
<p class=meta>created {_e(results.created)}; {_e(version_text)}</p>
<h2>The question</h2><p class=question>{_e("If someone inverts this face classifier, do they get the private people's faces back, and how much does training with DP-SGD stop that?")}</p>
<p>{_e(setup_text(results))}</p>
<h2>What we found</h2><div class=reading>{reading}</div>
<h2>Results</h2>
<p class=meta>{_e(spread.capitalize())}. Accuracies in %. eval acc: the evaluation classifier names the person;
NM top-1/top-5: the reconstruction is the most (one of the 5 most) correlated with the person's own mean training
face; KNN dist: squared distance in the evaluation classifier's feature space to the person's closest training
image; Frechet dist: between reconstructions and private images in that feature space (lower = closer);
SSIM against the person's mean face. Verdict: one-sided binomial test at 5% against chance {_e(_pct(chance))}.</p>
{_level_table(summaries)}
{_attack_table(summaries, chance)}
{"".join(f"<p class=meta>{_e(n)}</p>" for n in notes)}
<h2>The judges</h2>{_calibration_html(results)}
<h2>Training recipes</h2>{_recipe_html(results)}
<h2>Figures</h2>{_figure(tradeoff_png, tradeoff_caption)}{_figure(grid_png, grid_caption)}
{_panels(results)}
<h2>Provenance</h2><p class=meta>{_e(provenance)}</p>
<h2>Configuration</h2><table><tbody>{config_rows}</tbody></table>
</body></html>
"""
