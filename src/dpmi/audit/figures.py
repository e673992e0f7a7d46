"""The audit's ROC figure on log-log axes (Carlini et al. 2022, Fig. 1: the low-FPR corner is what matters)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dpmi.atomic_files import atomic_write_bytes
from dpmi.audit.roc import RocCurve


def roc_figure_png(curves: dict[str, RocCurve], title: str = "") -> bytes:
    """PNG bytes of the ROC curves {label: curve} on log-log axes with the chance diagonal. Rates of 0 are
    drawn at half the smallest visible step (1 / (2 n)) so the curve's start is not lost off the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    floor = 1.0
    for label, curve in curves.items():
        low = 0.5 / max(curve.negatives, curve.positives)
        floor = min(floor, low)
        ax.plot(
            np.maximum(curve.fpr, low),
            np.maximum(curve.tpr, low),
            drawstyle="steps-post",
            label=f"{label} (AUC {curve.auc:.3f})",
        )
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
