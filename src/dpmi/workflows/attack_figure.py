"""The figure `dpmi attack` writes: each attacked person's reconstruction, under their real mean face, the
columns titled with the person names the study's grid uses (`dpmi.data.person_name`).

The legend states only what the picture shows: coloured frames appear, and are explained, only when a
per-identity verdict is passed (the judge the calibration trusts: does it recognise this identity?); without
one the frames are plain and the title says so.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np

RIGHT = "#1a9641"  # green: the trusted judge recognises this identity
WRONG = "#d7191c"  # red: it names another identity
PLAIN = "0.6"


def _display(image: np.ndarray) -> np.ndarray:
    """[H, W] or [C, H, W] / [H, W, C] in any range -> [H, W] or [H, W, 3] in [0, 1] (per-image min-max)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = float(np.min(image)), float(np.max(image))
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def attack_grid(
    reconstructions: np.ndarray,
    people: list[str],
    *,
    mean_faces: np.ndarray | None,
    correct: np.ndarray | None,
    title: str,
    judge: str | None = None,
) -> bytes:
    """PNG bytes: one column per person; top row their real mean face (when given), bottom the reconstruction.

    Args:
        reconstructions: [K, H, W] or [K, C, H, W] (or [K, H, W, C]), any range (each shown min-max scaled).
        people: the K attacked people's names (`dpmi.data.person_name`, as the study's grid names them: the
            AT&T faces' "s1".., a folder's person folders), the column titles.
        mean_faces: [K, ...] the real mean training face of each column's identity, or None (row left out).
        correct: [K] booleans, `judge`'s verdict per column, or None (plain frames, no legend).
        title: what was attacked (attack and model), first line of the figure's title.
        judge: the judge the frames show (the one the calibration trusts).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(people)
    if len(reconstructions) != count or (mean_faces is not None and len(mean_faces) != count):
        raise ValueError(
            f"need one reconstruction (and mean face) per identity: {count} identities, "
            f"{len(reconstructions)} reconstructions"
        )
    if correct is not None and len(correct) != count:
        raise ValueError(f"correct must have one verdict per identity ({count}), got {len(correct)}")
    rows = [("real mean face", mean_faces)] if mean_faces is not None else []
    rows.append(("reconstruction", reconstructions))
    height, width = _display(reconstructions[0]).shape[:2]
    fig_width = max(6.0, 1.1 * count * width / height + 1.6)  # inches; wide enough for the title
    fig, axes = plt.subplots(len(rows), count, squeeze=False, figsize=(fig_width, 1.15 * len(rows) + 1.1))
    for r, (label, images) in enumerate(rows):
        for c, person in enumerate(people):
            ax = axes[r, c]
            shown = _display(images[c])
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            verdict = None if (correct is None or label != "reconstruction") else bool(correct[c])
            for spine in ax.spines.values():
                spine.set_edgecolor({True: RIGHT, False: WRONG, None: PLAIN}[verdict])
                spine.set_linewidth(3.0 if verdict is not None else 0.8)
            if r == 0:
                ax.set_title(person, fontsize=8)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if correct is not None:
        hits = int(np.sum(correct))
        legend = (
            f"frame: green = the {judge or 'judge'} names the person, red = it names someone else "
            f"({hits} of {count} green)"
        )
    else:
        legend = "no judge passed calibration (or no scores computed): frames carry no verdict"
    lines = textwrap.wrap(title, int(fig_width * 13)) + textwrap.wrap(legend, int(fig_width * 13))
    fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.045 * len(lines) * 2.6 / fig.get_figheight()))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
