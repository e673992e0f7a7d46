"""What the page shows: PNG bytes of a reconstruction (display-stretched) and of a real face.

Reconstructions have arbitrary scale and are shown like the report's grid (`dpmi.study.figures._display`:
mean ± 2.5 std mapped to black..white); real faces are in [-1, 1] and mapped linearly to 0..255. Both are
upscaled x2 (nearest neighbour: no invented detail) so a person can look at them.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SCALE = 2


def display_stretch(image: np.ndarray) -> np.ndarray:
    """One image to 0..1 for display: clip to mean ± 2.5 std (as dpmi.study.figures._display)."""
    image = np.asarray(image, dtype=np.float64)
    centred = image - image.mean()
    spread = centred.std()
    if spread < 1e-12:
        return np.full_like(image, 0.5)
    return np.clip(centred / (5.0 * spread) + 0.5, 0.0, 1.0)


def channels_last(image: np.ndarray, *, channels_first: bool) -> np.ndarray:
    """[C, H, W] (channels_first: a reconstruction row) or [H, W, C] -> [H, W] (grey) or [H, W, C]."""
    image = np.asarray(image)
    if image.ndim == 3 and channels_first:
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def png(unit: np.ndarray, scale: int = SCALE) -> bytes:
    """An image in 0..1 ([H, W] or [H, W, C]) as PNG bytes, upscaled `scale` times."""
    pixels = np.rint(np.clip(np.nan_to_num(unit, nan=0.5), 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.ndim == 3:
        pixels = pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., 0]
    picture = Image.fromarray(np.ascontiguousarray(pixels))
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def reconstruction_png(row: np.ndarray) -> bytes:
    """A reconstruction ([C, H, W] in the model input range) as the page shows it."""
    return png(display_stretch(channels_last(row, channels_first=True)))


def real_face_png(face: np.ndarray) -> bytes:
    """A real mean face ([H, W] or [H, W, C] in [-1, 1]) as the page shows it."""
    return png((channels_last(face, channels_first=False).astype(np.float64) + 1.0) / 2.0)
