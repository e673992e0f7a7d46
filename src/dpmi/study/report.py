"""`report.html`: one self-contained page (CSS inline, figures as base64 PNG) with the question, the config,
the table, the figures and a plain-language reading. Every piece of user-supplied or recorded text goes
through html.escape."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from dpmi.study.summary import COLUMNS, PERCENT_KEYS, LevelSummary, format_epsilon

QUESTION = (
    "If someone inverts this face classifier with MI-FACE (Fredrikson, Jha & Ristenpart, CCS 2015), do they get "
    "the people's faces back, and how much does training with DP-SGD stop that?"
)

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
.question{font-size:1.1em;background:#f4f7fb;border-left:4px solid #0072B2;padding:.6em 1em}
.reading{background:#fbf8f1;border-left:4px solid #E69F00;padding:.6em 1em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}th,td{padding:.3em .6em;border-bottom:1px solid #e3e3e3}
th{background:#f6f6f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.meta{color:#666;font-size:.85em}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float) -> str:
    """0.9 -> "90%"; small rates keep a decimal, so chance for 40 people reads 2.5%, not 2%."""
    return f"{100 * value:.1f}%" if abs(value) < 0.1 else f"{100 * value:.0f}%"


def _cell(key: str, s: LevelSummary) -> str:
    mean, std = s.mean.get(key, math.nan), s.std.get(key, 0.0)
    if not math.isfinite(mean):
        return "-"
    spread = len(s.seeds) > 1
    if key in PERCENT_KEYS:
        return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if spread else "")
    return f"{mean:.3g}" + (f" ± {std:.2g}" if spread else "")


def results_table_html(summaries: list[LevelSummary]) -> str:
    head = ["privacy level", "sigma", "epsilon (RDP)", "epsilon (PLD)", "seeds"] + [
        title + (" (%)" if key in PERCENT_KEYS else "") for key, title in COLUMNS
    ]
    rows = []
    for s in summaries:
        sigma = "-" if s.level.noise_multiplier is None else f"{s.level.noise_multiplier:.3g}"
        cells = [sigma, format_epsilon(s.level.epsilon_rdp), format_epsilon(s.level.epsilon_pld), str(len(s.seeds))]
        cells += [_cell(key, s) for key, _ in COLUMNS]
        rows.append("<tr><td>" + _e(s.level.label) + "</td>" + "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
                    + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def near_chance(rate: float, chance: float, trials: int) -> bool:
    """True if an identification rate is within two binomial standard deviations of chance.

    With `trials` = identities x seeds attacks each naming the right person with probability `chance`, the
    rate's std is sqrt(chance (1 - chance) / trials): for 40 identities and 3 seeds, chance 2.5% +- 1.4%.
    """
    return rate <= chance + 2.0 * math.sqrt(chance * (1.0 - chance) / max(trials, 1))


def _attack_rates(s: LevelSummary) -> str:
    text = f"nearest-mean-face test names the person {_pct(s.mean['nearest_mean_top1'])} of the time"
    if "eval_acc1" in s.mean:
        text += f", the evaluation classifier {_pct(s.mean['eval_acc1'])}"
    return text


def plain_reading(summaries: list[LevelSummary], *, identities: int, num_classes: int = 40) -> list[str]:
    """A few sentences a non-specialist can read, generated from the aggregated numbers."""
    chance = 1.0 / num_classes
    key = "nearest_mean_top1"
    if not summaries or not all(key in s.mean for s in summaries):
        return ["No finished cells with attack metrics yet."]
    sentences = [
        f"Two judges decide whether a reconstruction reveals who it is: the nearest-mean-face test (is it most "
        f"correlated with that person's mean training face, among all {num_classes}?) is a sensitive statistical "
        "test that can pick the right person out of an image a human would call noise; the evaluation classifier "
        "(an independent network trained on the real faces) asks whether it looks like that person. Chance is "
        f"{_pct(chance)} for both."
    ]
    base = next((s for s in summaries if not s.level.private), None)
    if base is not None:
        sentences.append(
            f"Without differential privacy the model recognises {_pct(base.mean['test_accuracy'])} of held-out faces; "
            f"inverting it, the {_attack_rates(base)}, over the {identities} people attacked."
        )
    private = sorted((s for s in summaries if s.level.private), key=lambda s: -(s.level.epsilon_pld or 0.0))
    for s in private:
        trials = identities * len(s.seeds)
        verdict = "indistinguishable from guessing" if near_chance(s.mean[key], chance, trials) else "above chance"
        sentences.append(
            f"{s.level.label} (epsilon {s.level.epsilon_pld:.3g} by PLD, {s.level.epsilon_rdp:.3g} by RDP): "
            f"accuracy {_pct(s.mean['test_accuracy'])}; the {_attack_rates(s)} (nearest mean: {verdict})."
        )
    if base is not None and private:
        strongest = private[-1]
        sentences.append(
            f"In short: the strongest guarantee here (epsilon {strongest.level.epsilon_pld:.3g}) takes identification "
            f"from {_pct(base.mean[key])} to {_pct(strongest.mean[key])}, at a cost of "
            f"{100 * (base.mean['test_accuracy'] - strongest.mean['test_accuracy']):.0f} points of test accuracy. "
            "Large epsilons may blur the faces yet still let the person be singled out; only small epsilons "
            "promise that they cannot be."
        )
    return sentences


def setup_text(config: dict[str, Any]) -> str:
    """One paragraph saying what was run, from the config (missing keys fall back to the defaults' names)."""
    get = config.get
    threshold = get("attack_threshold", 0) or "off"
    return (
        f"Target: the {get('model', 'softmax')} model trained on {get('train_per_class', 7)} images per person of the "
        f"AT&T faces (40 people; the other {10 - int(get('train_per_class', 7))} per person are held out), "
        f"{get('epochs', 30)} epochs of SGD (momentum {get('momentum', 0.9)}) with lot size {get('batch_size', 40)}. "
        f"DP-SGD clips each example's gradient to norm {get('max_grad_norm', 1.0)} and adds Gaussian noise; target "
        f"epsilons are reached by calibrating sigma with the {str(get('accountant', 'rdp')).upper()} accountant at "
        f"delta {get('delta', 1e-5):g}, and every level's epsilon is reported by both RDP and PLD. "
        f"Attack: MI-FACE (Fredrikson et al. 2015, Alg. 1) from a blank image on each of the first "
        f"{get('identities', 40)} people: at most {get('attack_max_iter')} steps of size {get('attack_step_size')}, "
        f"patience {get('attack_patience')}, threshold {threshold}, process {get('attack_process', 'none')}. "
        f"Seeds per level: {get('seeds')}."
    )


def render_report(
    *,
    title: str,
    config: dict[str, Any],
    summaries: list[LevelSummary],
    figures: dict[str, bytes],
    versions: dict[str, str],
    created: str,
    identities: int,
    notes: list[str] | None = None,
) -> str:
    """The whole page as a string. `figures` maps a caption to PNG bytes (embedded as data: URIs)."""
    config_rows = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>" for k, v in sorted(config.items())
    )
    figure_html = "".join(
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption class=meta>{_e(caption)}</figcaption></figure>"
        for caption, png in figures.items()
    )
    reading = "".join(f"<p>{_e(s)}</p>" for s in plain_reading(summaries, identities=identities))
    extra = "".join(f"<p class=meta>{_e(n)}</p>" for n in (notes or []))
    version_text = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p class=meta>created {_e(created)}; {_e(version_text)}</p>
<h2>The question</h2><p class=question>{_e(QUESTION)}</p>
<p>{_e(setup_text(config))}</p>
<h2>What we found</h2><div class=reading>{reading}</div>
<h2>Results</h2>
<p class=meta>Mean ± standard deviation over seeds. "MI top-1/top-5": the reconstruction is most correlated with
the person's own mean training face (top-1) or among the 5 most correlated. "eval acc": an independent
evaluation classifier names the person. "KNN dist": squared distance in that classifier's feature space to
the person's closest training image (lower = closer). SSIM/PSNR against the person's mean face.</p>
{results_table_html(summaries)}
{extra}
<h2>Figures</h2>{figure_html}
<h2>Configuration</h2><table><tbody>{config_rows}</tbody></table>
</body></html>
"""
