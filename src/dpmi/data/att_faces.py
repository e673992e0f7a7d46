"""The AT&T (ORL) face database: 40 people x 10 greyscale 112x92 images (Olivetti Research Laboratory).

Label k-1 is subject `s{k}`; images are ordered by subject, then image number, so every run sees the same
order. A dataset is all-or-nothing: any missing, truncated or malformed image raises before anything is
returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dpmi.data.paths import ENV_VAR, resolve_data_root

NUM_SUBJECTS = 40
IMAGES_PER_SUBJECT = 10
IMAGE_HEIGHT = 112
IMAGE_WIDTH = 92
IMAGE_SHAPE = (IMAGE_HEIGHT, IMAGE_WIDTH)


@dataclass(frozen=True)
class FaceDataset:
    """Greyscale faces and their identities.

    Attributes:
        images: uint8 array [N, 112, 92], grey levels 0..255.
        labels: int64 array [N], identity 0..num_classes-1 (subject `s{k}` is k-1).
        image_ids: int64 array [N], the image number 1..10 within its subject's directory.
        num_classes: number of identities (40 for the full database).
    """

    images: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    num_classes: int = NUM_SUBJECTS

    def __post_init__(self) -> None:
        if self.images.ndim not in (3, 4) or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W] or [N, H, W, C], got {self.images.dtype} "
                             f"{self.images.shape}")
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.image_ids.shape != (n,):
            raise ValueError(
                f"labels and image_ids must have shape ({n},), got {self.labels.shape} and {self.image_ids.shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    @property
    def channels(self) -> int:
        """Colour channels of one image: 1 for greyscale [N, H, W] images, else the last axis's size."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[3])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W): the shape of one image as a model sees it (`to_tensors`)."""
        return (self.channels, *self.image_shape)

    def subset(self, index: np.ndarray) -> "FaceDataset":
        """The images at `index` (an integer or boolean array), in that order."""
        return FaceDataset(self.images[index], self.labels[index], self.image_ids[index], self.num_classes)

    def split(self, train_per_class: int = 7, seed: int = 0) -> tuple["FaceDataset", "FaceDataset"]:
        """Stratified split: `train_per_class` images of every identity to train, the rest to test.

        Fredrikson et al. (CCS 2015) used 7 train / 3 test per person. The choice within each identity is
        a seeded permutation, so the same seed gives the same split.
        """
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        counts = np.bincount(self.labels, minlength=self.num_classes)
        if not 0 < train_per_class < counts.min():
            raise ValueError(
                f"train_per_class must be in 1..{counts.min() - 1} (each identity has {counts.min()} images), "
                f"got {train_per_class}"
            )
        rng = np.random.default_rng(seed)
        train_idx, test_idx = [], []
        for label in range(self.num_classes):
            members = np.flatnonzero(self.labels == label)
            chosen = rng.permutation(members)
            train_idx.append(np.sort(chosen[:train_per_class]))
            test_idx.append(np.sort(chosen[train_per_class:]))
        return self.subset(np.concatenate(train_idx)), self.subset(np.concatenate(test_idx))

    def to_tensors(self, device: str | None = None):
        """Float images [N, C, H, W] in [-1, 1] and int64 labels [N], as torch tensors.

        Same values as the tutorial's `ToTensor()` then `Normalize((0.5,), (0.5,))`: x / 255 * 2 - 1.
        """
        import torch

        pixels = normalize_images(self.images)
        x = torch.from_numpy(pixels).unsqueeze(1) if pixels.ndim == 3 else torch.from_numpy(pixels).permute(0, 3, 1, 2)
        x = x.contiguous()
        y = torch.from_numpy(self.labels.astype(np.int64))
        if device is not None:
            x, y = x.to(device), y.to(device)
        return x, y

    def class_means(self) -> np.ndarray:
        """Mean face of every identity, float64 [num_classes, H, W] (or [num_classes, H, W, C]) in levels 0..255."""
        means = np.zeros((self.num_classes, *self.images.shape[1:]), dtype=np.float64)
        for label in range(self.num_classes):
            members = self.images[self.labels == label]
            if len(members):
                means[label] = members.mean(axis=0)
        return means


def normalize_images(images: np.ndarray) -> np.ndarray:
    """uint8 grey levels -> float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    return (images.astype(np.float32) / 255.0 - 0.5) / 0.5


def read_pgm(path: Path) -> np.ndarray:
    """Read one AT&T image as uint8 [112, 92]; raise ValueError naming the file if it is not one."""
    try:
        with Image.open(path) as img:
            if img.format != "PPM" or img.mode != "L":
                raise ValueError(
                    f"{path} is not an 8-bit greyscale PGM image (format {img.format}, mode {img.mode}); "
                    "re-fetch the dataset with `dpmi data fetch`"
                )
            pixels = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"{path} cannot be read as a PGM image ({exc}); it may be truncated or corrupt: "
            "re-fetch the dataset with `dpmi data fetch`"
        ) from exc
    if pixels.shape != IMAGE_SHAPE:
        raise ValueError(
            f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels, expected {IMAGE_WIDTH}x{IMAGE_HEIGHT} "
            "(width x height): this is not the AT&T faces database"
        )
    return pixels


def load_att_faces(root: str | os.PathLike[str] | None = None) -> FaceDataset:
    """Load all 400 AT&T faces from `root`, else `$DPMI_DATA`, else `~/.cache/dpmi/att_faces`.

    Raises:
        FileNotFoundError: the directory or one of the 400 images is missing (the message says where it
            looked and how to fetch the data).
        ValueError: an image is truncated, not a greyscale PGM, or not 112x92.
    """
    directory = resolve_data_root(root)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no AT&T faces directory at {directory} (looked at the given path, else ${ENV_VAR}, else the "
            f"cache). Download it with `dpmi data fetch`, or pass --data / set {ENV_VAR} to a directory "
            "holding s1..s40/1..10.pgm"
        )
    images = np.empty((NUM_SUBJECTS * IMAGES_PER_SUBJECT, *IMAGE_SHAPE), dtype=np.uint8)
    labels = np.empty(len(images), dtype=np.int64)
    image_ids = np.empty(len(images), dtype=np.int64)
    row = 0
    for subject in range(1, NUM_SUBJECTS + 1):
        for number in range(1, IMAGES_PER_SUBJECT + 1):
            path = directory / f"s{subject}" / f"{number}.pgm"
            if not path.is_file():
                raise FileNotFoundError(
                    f"missing image {path}: the AT&T faces at {directory} are incomplete (need "
                    "s1..s40/1..10.pgm); re-fetch them with `dpmi data fetch`"
                )
            images[row] = read_pgm(path)
            labels[row] = subject - 1
            image_ids[row] = number
            row += 1
    return FaceDataset(images, labels, image_ids)
