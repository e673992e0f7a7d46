"""Synthetic "faces": a small, deterministic stand-in for tests and demos that are not about real faces.

Each identity is a fixed random smooth pattern (a sum of a few Gaussian blobs on a mid-grey background);
each of its images is that pattern shifted by a pixel or two, with its own contrast and pixel noise. The
identities are therefore learnable (a classifier separates them) but nothing here is a person.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dpmi.data.face_dataset import FaceDataset


def make_synthetic_faces(
    num_identities: int = 8,
    per_identity: int = 6,
    image_shape: tuple[int, int] = (28, 24),
    *,
    channels: int = 1,
    noise: float = 12.0,
    seed: int = 0,
) -> FaceDataset:
    """A FaceDataset of `num_identities` x `per_identity` uint8 images of `image_shape` (height, width).

    Args:
        num_identities: >= 2. per_identity: >= 2. image_shape: (H, W), each >= 8.
        channels: 1 (greyscale, images [N, H, W]) or 3 (RGB, images [N, H, W, 3]).
        noise: standard deviation of the per-pixel noise, in grey levels (>= 0).
        seed: the same seed gives the same images.
    """
    if num_identities < 2 or per_identity < 2:
        raise ValueError(f"need >= 2 identities and >= 2 images each, got {num_identities}, {per_identity}")
    height, width = (int(s) for s in image_shape)
    if height < 8 or width < 8:
        raise ValueError(f"image_shape must be at least 8x8, got {image_shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    images = np.empty((num_identities * per_identity, height, width, channels), dtype=np.uint8)
    labels = np.repeat(np.arange(num_identities, dtype=np.int64), per_identity)
    image_ids = np.tile(np.arange(1, per_identity + 1, dtype=np.int64), num_identities)
    for identity in range(num_identities):
        blobs = rng.uniform(
            [0.15 * height, 0.15 * width, 1.5, -90.0],
            [0.85 * height, 0.85 * width, 0.25 * min(height, width), 90.0],
            size=(5, 4),
        )
        tint = rng.uniform(0.6, 1.0, size=channels)
        for image in range(per_identity):
            dy, dx = rng.integers(-1, 2, size=2)
            pattern = np.full((height, width), 128.0)
            for cy, cx, radius, amplitude in blobs:
                pattern += amplitude * np.exp(-((yy - cy - dy) ** 2 + (xx - cx - dx) ** 2) / (2 * radius**2))
            contrast = rng.uniform(0.8, 1.2)
            for channel in range(channels):
                plane = 128 + contrast * tint[channel] * (pattern - 128) + rng.normal(0, noise, (height, width))
                images[identity * per_identity + image, :, :, channel] = np.clip(np.rint(plane), 0, 255)
    if channels == 1:
        images = images[..., 0]
    return FaceDataset(np.ascontiguousarray(images), labels, image_ids, num_classes=num_identities)


def write_image_folder(
    dataset: FaceDataset,
    root: str | os.PathLike[str],
    *,
    image_format: str = "png",
    names: Sequence[str] | None = None,
) -> Path:
    """Write `dataset` as root/<identity>/<image_id>.<image_format>, the layout `load_image_folder` reads.

    Identity folders are named `names` (default: the dataset's names, else "id0", "id1", ...). With a
    lossless format (png, pgm/ppm, bmp, tiff) `load_image_folder(root)` gives back the same pixels.
    Returns `root`.
    """
    directory = Path(root)
    if names is None:
        names = dataset.names if dataset.names is not None else [f"id{k}" for k in range(dataset.num_classes)]
    if len(names) != dataset.num_classes:
        raise ValueError(f"names must hold {dataset.num_classes} names, got {len(names)}")
    from PIL import Image

    for image, label, number in zip(dataset.images, dataset.labels, dataset.image_ids):
        folder = directory / names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{int(number)}.{image_format}")
    return directory
