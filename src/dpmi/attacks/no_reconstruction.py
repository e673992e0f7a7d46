"""Is an attack's image a reconstruction at all? An image that never left the attack's start image, or that is
flat (one grey everywhere), shows nothing the model gave away, however it is scored or displayed.

MI-FACE's cost 1 - p has no gradient where the target's probability p of the label is ~0 at the blank
start, so on such a model (e.g. one that standardises its input per pixel: the blank image is far from every
face and one class takes all the probability) every row stays exactly at the start image. A judge still
names a person for a flat image, and a display that stretches mean +- 2.5 std turns a 2e-6 change into a
visible pattern: `no_reconstruction_mask` finds these rows so they can be reported as "no reconstruction"
instead of scored, described or rescaled.

The tolerance is relative to the model's input range: by default half a grey level of an 8-bit image
(0.5 / 255 of the range), i.e. a change that would vanish when the image is saved as 8-bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

# Half a grey level of an 8-bit image, as a fraction of the input range.
HALF_GREY_LEVEL = 0.5 / 255


def no_reconstruction_mask(
    images: torch.Tensor | np.ndarray,
    start: torch.Tensor | np.ndarray | None = None,
    *,
    tol: float = HALF_GREY_LEVEL,
    input_range: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Which rows of `images` are no reconstruction.

    Row k is flagged when any of these holds, with `limit = tol * (high - low)` of `input_range`:
    - it did not move: max over pixels of |images[k] - start[k]| <= limit (only when `start` is given);
    - it is flat: the standard deviation of its pixels <= limit;
    - it has a non-finite pixel (NaN or inf): no image at all.

    Args:
        images: [K, C, H, W] (or [K, ...] of any image shape) in the model's input range.
        start: the attack's start image(s): one image (the shape of `images[0]`), or [1 or K, ...]; None
            checks flatness only (an attack without one start, e.g. a prior attack).
        tol: the tolerance as a fraction of the input range, >= 0 (default half an 8-bit grey level).
        input_range: (low, high) of the model's input; the faces are normalised to [-1, 1].

    Returns:
        bool numpy array [K]: True = no reconstruction.
    """
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0 (a fraction of the input range), got {tol}")
    low, high = (float(v) for v in input_range)
    if not low < high:
        raise ValueError(f"input_range must be (low, high) with low < high, got {tuple(input_range)}")
    batch = torch.as_tensor(images).detach().to("cpu", torch.float64)
    if batch.ndim < 2:
        raise ValueError(f"images must be [K, ...] (one row per image), got shape {tuple(batch.shape)}")
    rows = batch.reshape(batch.shape[0], -1)
    limit = float(tol) * (high - low)
    finite = torch.isfinite(rows).all(dim=1)
    safe = torch.where(torch.isfinite(rows), rows, torch.zeros_like(rows))
    flat = safe.std(dim=1, unbiased=False) <= limit
    flagged = flat | ~finite
    if start is not None:
        origin = torch.as_tensor(start).detach().to("cpu", torch.float64)
        if tuple(origin.shape) == tuple(batch.shape[1:]):
            origin = origin.unsqueeze(0)
        if tuple(origin.shape[1:]) != tuple(batch.shape[1:]) or origin.shape[0] not in (1, batch.shape[0]):
            raise ValueError(
                f"start must have the shape of one image {tuple(batch.shape[1:])} or [1 or {batch.shape[0]}, "
                f"...] of it, got {tuple(origin.shape)}"
            )
        moved = (safe - origin.reshape(origin.shape[0], -1)).abs().max(dim=1).values
        flagged = flagged | (moved <= limit)
    return flagged.numpy().astype(bool)


def no_reconstruction_note(mask: Sequence[bool] | np.ndarray, attack: str = "the attack") -> str | None:
    """One line to state next to an attack's numbers when some of its rows are no reconstruction, e.g.
    "mi-face: 5 of 6 images are no reconstruction (never left the start image, or flat): they show nothing
    of the model"; None when every row is a reconstruction."""
    flags = np.asarray(mask, dtype=bool).reshape(-1)
    count = int(flags.sum())
    if count == 0:
        return None
    return (
        f"{attack}: {count} of {flags.size} image{'s' if flags.size != 1 else ''} "
        f"{'are' if count != 1 else 'is'} no reconstruction (never left the start image, or flat): they show "
        "nothing of the model"
    )
