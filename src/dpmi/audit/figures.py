"""The audit's ROC figure on log-log axes (Carlini et al. 2022, Fig. 1: the low-FPR corner is what matters)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dpmi.atomic_files import atomic_write_bytes
from dpmi.audit.roc import RocCurve, tpr_at_zero_false_positives


def roc_figure_png(curves: dict[str, RocCurve], title: str = "") -> bytes:
    """PNG bytes of the ROC curves {label: curve} on log-log axes with the chance diagonal. Rates of 0 are
    drawn at half the smallest visible step (1 / (2 n)) so the curve's start is not lost off the axes; each
    legend entry gives the TPR at 0 false positives among the n non-members, and a dashed line marks the
    smallest measurable FPR 1/n (left of it the curve shows no measured FPR, only zero false positives)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    floor = 1.0
    for label, curve in curves.items():
        low = 0.5 / max(curve.negatives, curve.positives)
        floor = min(floor, low)
        zero_fp = tpr_at_zero_false_positives(curve)
        ax.plot(
            np.maximum(curve.fpr, low),
            np.maximum(curve.tpr, low),
            drawstyle="steps-post",
            label=f"{label} (AUC {curve.auc:.3f}; TPR {100 * zero_fp:.1f}% at 0 FP of {curve.negatives})",
        )
    for n in sorted({curve.negatives for curve in curves.values()}):
        ax.axvline(1.0 / n, color="black", linewidth=0.6, linestyle="--", alpha=0.5)
        ax.annotate(f"FPR 1/{n}", (1.0 / n, 0.02), xycoords=("data", "axes fraction"), fontsize=6, rotation=90)
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(floor, 1.05)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_roc_figure(path: str | Path, curves: dict[str, RocCurve], title: str = "") -> Path:
    """Write the ROC figure atomically to `path` (PNG); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, roc_figure_png(curves, title))
    return path
