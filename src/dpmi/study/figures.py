"""The study's two figures (matplotlib, PNG bytes): the privacy-utility-leakage curve and the grid of
reconstructions. Both are drawn from aggregated numbers and saved arrays only, so `dpmi report` can redraw
them from a finished run directory."""

from __future__ import annotations

import io
import math

import numpy as np

from dpmi.study.summary import LevelSummary

DPI = 110
# One colour per quantity, colour-blind safe (Okabe & Ito).
COLOURS = {"test_accuracy": "#0072B2", "nearest_mean_top1": "#D55E00", "eval_acc1": "#CC79A7",
           "nearest_mean_top5": "#E69F00"}


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


def tradeoff_figure(summaries: list[LevelSummary], *, num_classes: int = 40, delta: float = 1e-5) -> bytes:
    """Epsilon (log scale) against test accuracy (left) and attack success (right), error bars = std over seeds.

    Points are joined in order of epsilon; the non-private level is drawn at "inf" to the right. The dotted
    line on the right panel is chance (1 / num_classes): an attack at chance has learned nothing about who.
    """
    plt = _pyplot()
    xs, infinity_x = _x_positions(summaries)
    order = np.argsort(xs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True)
    panels = [
        (axes[0], [("test_accuracy", "test accuracy (held-out faces)")], "Utility: does the model still work?"),
        (axes[1], [("nearest_mean_top1", "MI-FACE top-1 (nearest mean face)"),
                   ("eval_acc1", "MI-FACE acc@1 (evaluation classifier)")],
         "Leakage: does the inversion reveal who?"),
    ]
    for ax, series, title in panels:
        for key, label in series:
            if not any(key in s.mean for s in summaries):
                continue
            means = np.array([summaries[i].mean.get(key, math.nan) for i in order])
            stds = np.array([summaries[i].std.get(key, 0.0) for i in order])
            x = np.array([xs[i] for i in order])
            ax.errorbar(x, means, yerr=stds, marker="o", ms=6, capsize=4, lw=1.8, color=COLOURS.get(key),
                        label=label)
        if ax is axes[0]:  # name the levels once, beside the utility points
            for i in order:
                mean = summaries[i].mean.get("test_accuracy", math.nan)
                if math.isfinite(mean):
                    ax.annotate(summaries[i].level.label, (xs[i], mean), textcoords="offset points", xytext=(7, -11),
                                ha="left", fontsize=7, color="0.3")
        if ax is axes[1]:
            ax.axhline(1.0 / num_classes, ls=":", color="grey", lw=1.2, label=f"chance (1/{num_classes})")
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.08)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(f"epsilon (PLD accountant, delta={delta:g}); smaller = more private")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    if infinity_x is not None:
        finite = sorted({x for x in xs if x != infinity_x})
        ticks = finite + [infinity_x]
        for ax in axes:
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:.3g}" for t in finite] + ["inf\n(non-private)"], fontsize=8)
            ax.minorticks_off()
            if finite:
                ax.axvspan(max(finite) * 1.6, infinity_x * 2, color="0.93", zorder=0)
    fig.suptitle("Privacy, utility and leakage across privacy levels (mean ± std over seeds)", fontsize=12)
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


def reconstruction_grid(
    mean_faces: np.ndarray,
    rows: list[tuple[str, np.ndarray, np.ndarray | None]],
    identities: list[int],
) -> bytes:
    """Top row: each identity's real mean training face; then one row per privacy level.

    Args:
        mean_faces: [num_classes, H, W] mean faces (any scale).
        rows: (row label, reconstructions [>= max(identities)+1, H, W], per-identity correctness or None).
            When correctness is given, a green frame marks an identity the attack names correctly (nearest
            mean face) and a red frame one it gets wrong.
        identities: which identities (0-based) are the columns.
    """
    plt = _pyplot()
    n_rows, n_cols = len(rows) + 1, len(identities)
    height, width = mean_faces.shape[-2:]
    cell = 1.05
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols * width / height + 1.6, cell * n_rows + 0.5),
                             squeeze=False)
    labels = ["real mean face"] + [label for label, _, _ in rows]
    for r in range(n_rows):
        for c, identity in enumerate(identities):
            ax = axes[r, c]
            if r == 0:
                image, correct = mean_faces[identity], None
            else:
                _, images, hits = rows[r - 1]
                image = images[identity]
                correct = None if hits is None else bool(hits[identity])
            ax.imshow(_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            frame = {True: "#009E73", False: "#D55E00", None: "0.6"}[correct]
            for spine in ax.spines.values():
                spine.set_edgecolor(frame)
                spine.set_linewidth(2.5 if correct is not None else 0.8)
            if r == 0:
                ax.set_title(f"person {identity + 1}", fontsize=8)
            if c == 0:
                ax.set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("MI-FACE reconstructions by privacy level (frame: green = the nearest-mean-face test names the person, "
                 "red = it names someone else)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.subplots_adjust(wspace=0.06, hspace=0.08)
    return _png(fig)
