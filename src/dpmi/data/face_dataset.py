"""The one dataset type every loader returns: face images, their identities and the identities' names.

`load_image_folder` (any root/<identity>/<image> folder), `load_att_faces` (the AT&T faces: a folder with
known contents) and `make_synthetic_faces` all build a `FaceDataset`; everything downstream (split,
tensors, mean faces, identity splits) reads sizes, channels and class counts from it, never from a
particular database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily at run time (the data layer loads without it)
    import torch


def person_name(index: int, names: Sequence[str] | None) -> str:
    """How dpmi names a person everywhere people read it (the study's grid and report, `dpmi attack`'s figure
    and lines): `names[index]`, the person's folder name (the AT&T faces: dataset identity i is "s{i+1}"),
    else "person {index}" when the faces have no names (or too few)."""
    return str(names[index]) if names is not None and 0 <= index < len(names) else f"person {index}"


@dataclass(frozen=True)
class FaceDataset:
    """Face images and their identities.

    Attributes:
        images: uint8 array [N, H, W] (greyscale) or [N, H, W, C] (C channels, e.g. RGB), levels 0..255.
        labels: int64 array [N], identity 0..num_classes-1.
        image_ids: int64 array [N], the image's number within its identity (1-based, in file-name order
            for folders: AT&T's `s3/7.pgm` has id 7).
        num_classes: number of identities (some may have no image in a subset). 0 (the default) means
            labels.max() + 1.
        names: the identities' names (folder names for a folder, e.g. "s1"), label k is names[k]; None
            when the identities have no names.
    """

    images: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    num_classes: int = 0
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.ndim not in (3, 4) or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 [N, H, W] or [N, H, W, C], got {self.images.dtype} {self.images.shape}"
            )
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.image_ids.shape != (n,):
            raise ValueError(
                f"labels and image_ids must have shape ({n},), got {self.labels.shape} and {self.image_ids.shape}"
            )
        if self.num_classes == 0:
            object.__setattr__(self, "num_classes", int(self.labels.max()) + 1 if n else 0)
        if n and not (0 <= int(self.labels.min()) and int(self.labels.max()) < self.num_classes):
            raise ValueError(
                f"labels must be in 0..{self.num_classes - 1}, got {int(self.labels.min())}..{int(self.labels.max())}"
            )
        if self.names is not None:
            object.__setattr__(self, "names", tuple(str(name) for name in self.names))
            if len(self.names) != self.num_classes:
                raise ValueError(f"names must hold one name per identity ({self.num_classes}), got {len(self.names)}")

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

    def identity_name(self, label: int) -> str:
        """The name of identity `label` (its folder name), or "identity {label}" when unnamed."""
        return self.names[label] if self.names is not None else f"identity {label}"

    def counts(self) -> np.ndarray:
        """int64 [num_classes]: how many images each identity has."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def subset(self, index: np.ndarray) -> FaceDataset:
        """The images at `index` (an integer or boolean array), in that order; identities and names kept."""
        return FaceDataset(self.images[index], self.labels[index], self.image_ids[index], self.num_classes, self.names)

    def split(
        self, train_per_class: int = 7, seed: int = 0, *, train_fraction: float | None = None
    ) -> tuple[FaceDataset, FaceDataset]:
        """Stratified split: some images of every identity to train, the rest (at least one) to test.

        See `split_indices` (the rows chosen); the same seed gives the same split.
        """
        train_rows, test_rows = split_indices(
            self.labels, self.num_classes, train_per_class, seed, train_fraction=train_fraction, names=self.names
        )
        return self.subset(train_rows), self.subset(test_rows)

    def to_tensors(self, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
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


def split_indices(
    labels: np.ndarray,
    num_classes: int,
    train_per_class: int = 7,
    seed: int = 0,
    *,
    train_fraction: float | None = None,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a stratified split of `labels` (int [N] in 0..num_classes-1): (train rows, test rows).

    Fredrikson et al. (CCS 2015) used 7 train / 3 test per person: `split(7)` on the AT&T faces. With
    uneven counts, an identity with n images trains on min(train_per_class, n - 1) of them, so every
    identity keeps at least one test image; or give `train_fraction` f in (0, 1) (train_per_class is then
    ignored) and an identity trains on round(f * n) images, clipped to 1..n-1. The choice within each
    identity is a seeded permutation; rows are sorted within each identity. Needs only the labels, so a
    folder read lazily (`ImageFolderIndex.labels`) splits exactly as the same folder loaded.

    Raises:
        ValueError: an identity with fewer than 2 images (named, with `names`), train_per_class < 1 or at
            least the largest identity's count, or train_fraction outside (0, 1).
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    counts = np.bincount(labels, minlength=num_classes).astype(np.int64)
    small = [k for k in range(num_classes) if counts[k] < 2]
    if small:
        name = (lambda k: names[k]) if names is not None else (lambda k: f"identity {k}")
        listed = ", ".join(f"{name(k)!r} ({counts[k]})" for k in small[:5])
        raise ValueError(
            f"{len(small)} identit{'y has' if len(small) == 1 else 'ies have'} fewer than 2 images ({listed}"
            f"{', ...' if len(small) > 5 else ''}): the split needs one image to train on and one to test "
            "on per identity; add images or remove those identities"
        )
    if train_fraction is not None:
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        train_counts = np.clip(np.floor(train_fraction * counts + 0.5).astype(np.int64), 1, counts - 1)
    else:
        largest = int(counts.max()) if num_classes else 0
        if not 0 < train_per_class < largest:
            raise ValueError(
                f"train_per_class must be in 1..{largest - 1} (the largest identity has {largest} images; "
                f"smaller ones keep one test image), got {train_per_class}"
            )
        train_counts = np.minimum(train_per_class, counts - 1)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        chosen = rng.permutation(members)
        take = int(train_counts[label])
        train_idx.append(np.sort(chosen[:take]))
        test_idx.append(np.sort(chosen[take:]))
    return np.concatenate(train_idx), np.concatenate(test_idx)
