"""The study's figures (matplotlib, PNG bytes): the privacy-utility-leakage curves (one panel per attack) and
the grid of reconstructions. Both are drawn from aggregated numbers and saved arrays only, so `dpmi report`
can redraw them from a finished run directory. Titles and legends say only what the picture shows."""

from __future__ import annotations

import io
import math

import numpy as np

from dpmi.data.face_dataset import person_name
from dpmi.study.summary import LevelSummary, judge_columns

DPI = 110
# One colour per quantity, colour-blind safe (Okabe & Ito).
COLOURS = {
    "test_accuracy": "#56B4E9",
    "nearest_mean_top1": "#D55E00",
    "nearest_mean_top5": "#E69F00",
}


def judge_style(key: str) -> tuple[str, str]:
    """(colour, marker) of a per-attack judge key ("<judge>_acc1"): the judge's registered ones, else the
    fixed ones above."""
    from dpmi.metrics.judge_registry import JUDGES

    name = key.rsplit("_", 1)[0]
    if name in JUDGES:
        spec = JUDGES.get(name)
        return spec.colour, spec.marker
    return COLOURS.get(key, "0.3"), "^"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; never open a window (works headless and in workers)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)
    return buffer.getvalue()


def _x_positions(summaries: list[LevelSummary]) -> tuple[list[float], float | None]:
    """x = epsilon (PLD) for DP levels; non-private sits one decade-ish right of the largest epsilon."""
    finite = [s.level.epsilon_pld for s in summaries if s.level.epsilon_pld is not None]
    infinity_x = (max(finite) * 3.0) if finite else 1.0
    xs = [s.level.epsilon_pld if s.level.epsilon_pld is not None else infinity_x for s in summaries]
    has_infinity = any(s.level.epsilon_pld is None for s in summaries)
    return xs, (infinity_x if has_infinity else None)


def tradeoff_figure(
    summaries: list[LevelSummary], *, num_classes: int, delta: float = 1e-5, trusted: list[str] | None = None
) -> bytes:
    """Epsilon (PLD, log scale) against the target's test accuracy (first panel) and, one panel per attack, the
    share of people each judge names correctly from the reconstructions; error bars = std over seeds (none
    with one seed). The non-private level is drawn at "inf" on the right; the dotted line is chance
    (1 / num_classes). Judges in `trusted` (metric keys, "<judge>_acc1"; None: all) are drawn bold; the others
    thin and dashed, labelled "not trusted" (the calibration showed that they are fooled or unchecked).
    """
    plt = _pyplot()
    xs, infinity_x = _x_positions(summaries)
    order = np.argsort(xs)
    attacks: list[str] = []
    for s in summaries:
        attacks += [a for a in s.attack_mean if a not in attacks]
    judges = [
        j
        for j in judge_columns()
        if any(math.isfinite(s.attack_mean.get(a, {}).get(j[0], math.nan)) for s in summaries for a in attacks)
    ]
    panels = 1 + len(attacks)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels + 0.6, 4.6), sharex=True, squeeze=False)
    axes = axes[0]
    spread = any(len(s.seeds) > 1 for s in summaries)
    x = np.array([xs[i] for i in order])

    def line(ax, means, stds, colour, label, marker="o", bold=True):
        stds = np.array([0.0 if v is None else v for v in stds]) if spread else None
        ax.errorbar(
            x,
            means,
            yerr=stds,
            marker=marker,
            ms=6 if bold else 4,
            capsize=4 if spread else 0,
            lw=2.4 if bold else 1.0,
            ls="-" if bold else "--",
            alpha=1.0 if bold else 0.6,
            color=colour,
            label=label,
        )

    means = np.array([summaries[i].mean.get("test_accuracy", math.nan) for i in order])
    line(
        axes[0],
        means,
        [summaries[i].std.get("test_accuracy") for i in order],
        COLOURS["test_accuracy"],
        "test accuracy (held-out private faces)",
    )
    for i in order:
        mean = summaries[i].mean.get("test_accuracy", math.nan)
        if math.isfinite(mean):
            axes[0].annotate(
                summaries[i].level.label,
                (xs[i], mean),
                textcoords="offset points",
                xytext=(7, -11),
                ha="left",
                fontsize=7,
                color="0.3",
            )
    axes[0].set_title("Utility: the target's accuracy", fontsize=11)
    for ax, attack in zip(axes[1:], attacks):
        for key, _, name in judges:
            values = np.array([summaries[i].attack_mean.get(attack, {}).get(key, math.nan) for i in order])
            stds = [summaries[i].attack_std.get(attack, {}).get(key) for i in order]
            colour, marker = judge_style(key)
            bold = trusted is None or key in trusted
            label = f"{name}: person named" + ("" if bold else " (not trusted)")
            line(ax, values, stds, colour, label, marker, bold)
        ax.axhline(1.0 / num_classes, ls=":", color="grey", lw=1.2, label=f"chance (1/{num_classes})")
        ax.set_title(f"Leakage: {attack}", fontsize=11)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.08)
        ax.set_xlabel(f"epsilon (PLD, delta={delta:g}); smaller = more private", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, frameon=False)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    if infinity_x is not None:
        finite = sorted({x for x in xs if x != infinity_x})
        ticks = finite + [infinity_x]
        for ax in axes:
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:.3g}" for t in finite] + ["inf\n(non-\nprivate)"], fontsize=7)
            ax.minorticks_off()
            if finite:
                ax.axvspan(max(finite) * 1.6, infinity_x * 2, color="0.93", zorder=0)
    what = "mean ± std over seeds" if spread else "one seed"
    fig.suptitle(f"Privacy, utility and leakage per attack ({what})", fontsize=12)
    fig.tight_layout()
    return _png(fig)


def _display(image: np.ndarray) -> np.ndarray:
    """Standardise one image for display (reconstructions have arbitrary scale): clip to mean ± 2.5 std."""
    image = np.asarray(image, dtype=np.float64)
    centred = image - image.mean()
    spread = centred.std()
    if spread < 1e-12:
        return np.full_like(image, 0.5)
    return np.clip(centred / (5.0 * spread) + 0.5, 0.0, 1.0)


FRAME_RIGHT = "#00A000"  # green
FRAME_WRONG = "#FF0000"  # red, pure: the title says "red"


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])


FRAME_NEUTRAL = "#999999"  # grey: a row the judge did not score


def reconstruction_grid(
    mean_faces: np.ndarray | None,
    rows: list[tuple[str, np.ndarray, np.ndarray | list[bool] | None]],
    identities: list[int],
    *,
    judge: str = "the evaluation classifier",
    title: str = "Reconstructions",
    names: list[str] | None = None,
) -> bytes:
    """Top row: each person's real mean training face (left out when `mean_faces` is None: the shareable
    variant); then one row per entry of `rows`.

    Args:
        mean_faces: [num_classes, H, W] mean faces (any scale), or None.
        rows: (row label, reconstructions [>= max(identities)+1, H, W], per-person correctness or None).
            With correctness, a green frame marks a person `judge` names correctly and a red frame one it
            names as someone else; rows without it get a thin grey frame, and the title mentions colours
            only when some row has them.
        identities: which people (0-based) are the columns.
        names: the private people's names (label k is names[k]), shown over the columns; None: "person k".

    The faces are drawn as one image at one screen pixel per image pixel (tiles with their frames painted in),
    not as one matplotlib axes per face: the same picture in a tenth of the time (a 16 x 10 grid of axes took
    seconds to lay out, a sizeable part of a warm study).
    """
    plt = _pyplot()
    reference = 1 if mean_faces is not None else 0
    n_rows, n_cols = len(rows) + reference, len(identities)
    if not rows and mean_faces is None:
        raise ValueError("nothing to draw: give rows or mean faces")
    reference_image = rows[0][1][0] if rows else mean_faces[0]  # type: ignore[index]
    height, width = reference_image.shape[:2]  # [H, W] or [H, W, C]
    border, gap = 3, 4
    step_y, step_x = height + 2 * border + gap, width + 2 * border + gap
    canvas = np.ones((n_rows * step_y - gap, n_cols * step_x - gap, 3))
    labels = (["real mean face"] if reference else []) + [label for label, _, _ in rows]
    framed = any(hits is not None for _, _, hits in rows)
    for r in range(n_rows):
        for c, identity in enumerate(identities):
            if r < reference and mean_faces is not None:
                image, correct = mean_faces[identity], None
            else:
                _, images, hits = rows[r - reference]
                image = images[identity]
                correct = None if hits is None else bool(hits[identity])
            shown = _display(image)
            tile = np.repeat(shown[..., None], 3, axis=2) if shown.ndim == 2 else shown[..., :3]
            frame = {True: FRAME_RIGHT, False: FRAME_WRONG, None: FRAME_NEUTRAL}[correct]
            y, x = r * step_y, c * step_x
            canvas[y : y + height + 2 * border, x : x + width + 2 * border] = _rgb(frame)
            if correct is None:  # a thin frame: only the outer pixel is grey
                canvas[y + 1 : y + height + 2 * border - 1, x + 1 : x + width + 2 * border - 1] = 1.0
            canvas[y + border : y + border + height, x + border : x + border + width] = tile
    pixels_h, pixels_w = canvas.shape[:2]
    fig = plt.figure(figsize=(pixels_w / DPI, pixels_h / DPI), dpi=DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(canvas, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    for c, identity in enumerate(identities):
        label = person_name(identity, names)
        ax.text(c * step_x + (width + 2 * border) / 2, -4, label, ha="center", va="bottom", fontsize=8)
    for r in range(n_rows):
        ax.text(-8, r * step_y + (height + 2 * border) / 2, labels[r], ha="right", va="center", fontsize=8)
    text = title
    if framed:
        text += f" (frame: green = {judge} names the person, red = it names someone else)"
    ax.text(pixels_w / 2, -24, text, ha="center", va="bottom", fontsize=10)
    return _png(fig)
