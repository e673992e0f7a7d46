"""Faces in the layout users already have: root/<identity>/<image> (as torchvision's ImageFolder).

Rules (the same for `load_image_folder`, `ImageFolderDataset`, `dpmi data verify` and `dpmi data info`):

- Every sub-folder of `root` is one identity, named after the folder; identities and images are taken in
  natural order of their names ("s2" before "s10", "2.png" before "10.png"), so label k is the k-th
  identity folder and the same folder always gives the same labels.
- Any format Pillow decodes (PNG, JPEG, PGM/PPM, BMP, TIFF, WebP, ...), greyscale or colour. The format is
  read from the file's content, not its extension.
- Hidden entries (names starting with ".", e.g. .DS_Store) and plain files directly under `root` (a README,
  a licence) are ignored. Anything else inside an identity folder must be an image: a file Pillow cannot
  read (a text file, a truncated or empty image) or a nested folder is REFUSED with an error naming it,
  never skipped: a folder of private faces is loaded exactly as it is, or not at all.
- Without `image_size`, all images must have one size (the error names the first that differs); with it,
  every image is resized (bilinear, antialiased) to (height, width).
- `grayscale=None` keeps greyscale if every image is greyscale, else converts all to RGB; True/False force
  one channel / three.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dpmi.data.face_dataset import FaceDataset

# Pillow modes whose pixels are one grey level (all others are colour or palette images).
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

ImageCheck = Callable[[Path, "Image.Image"], None]


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: "s2" < "s10", "img9.png" < "img10.png"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


@dataclass(frozen=True)
class ImageFolderIndex:
    """Where a folder's images are, without their pixels: what every reader of the folder starts from.

    Attributes:
        root: the folder.
        paths: one path per image, identity by identity.
        labels: int64 [N], the identity of each image (label k is names[k]).
        image_ids: int64 [N], 1-based position of the image in its identity's folder.
        names: identity (folder) names.
        sizes: int64 [N, 2], each image's (height, width) as stored.
        grey: bool [N], whether each image is stored as greyscale.
    """

    root: Path
    paths: tuple[Path, ...]
    labels: np.ndarray
    image_ids: np.ndarray
    names: tuple[str, ...]
    sizes: np.ndarray
    grey: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def counts(self) -> np.ndarray:
        """int64 [num_classes]: images per identity."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def output_format(
        self, image_size: int | Sequence[int] | None = None, grayscale: bool | None = None
    ) -> tuple[tuple[int, int], int]:
        """((height, width), channels) of the images as loaded with these options.

        Raises:
            ValueError: mixed sizes without `image_size` (names every size found, how many images have it and
                one of them, and the fix: an image size), or a bad `image_size`.
        """
        channels = 1 if (grayscale if grayscale is not None else bool(self.grey.all())) else 3
        if image_size is not None:
            return _parse_size(image_size), channels
        first = self.sizes[0]
        differs = np.flatnonzero((self.sizes != first).any(axis=1))
        if differs.size:
            raise ValueError(mixed_sizes_message(self))
        return (int(first[0]), int(first[1])), channels


def mixed_sizes_message(index: ImageFolderIndex) -> str:
    """The error for a folder whose images differ in size: every size found (height x width, the order
    --image-size takes), how many images have it and one of them, most common first, and the fix."""
    sizes, first_row, counts = np.unique(index.sizes, axis=0, return_index=True, return_counts=True)
    order = sorted(range(len(sizes)), key=lambda i: (-int(counts[i]), int(first_row[i])))
    found = "; ".join(
        f"{int(sizes[i][0])}x{int(sizes[i][1])} ({int(counts[i])} image{'s' if counts[i] != 1 else ''}, e.g. "
        f"{index.paths[int(first_row[i])]})"
        for i in order
    )
    common = sizes[order[0]]
    return (
        f"the images in {index.root} differ in size (height x width): {found}. Resize them all to one size: "
        f"pass --image-size HxW (e.g. --image-size {int(common[0])}x{int(common[1])}, the most common size; "
        "image_size=(height, width) in Python)"
    )


def _parse_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
        raise ValueError(f"image_size must be an integer >= 1 or (height, width) of such, got {image_size!r}")
    return int(size[0]), int(size[1])


def _header(path: Path, check: ImageCheck | None = None) -> tuple[int, int, bool]:
    """(height, width, is_grey) from the image's header; ValueError naming the file if it is not an image."""
    try:
        if path.stat().st_size == 0:
            raise ValueError(f"{path} is empty (0 bytes): remove it or replace it with the image")
        with Image.open(path) as img:
            if check is not None:
                check(path, img)
            width, height = img.size
            return int(height), int(width), img.mode in _GREY_MODES
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"{path} is not an image Pillow can read ({exc}); identity folders must hold images only: "
            "move other files out of them"
        ) from exc


def index_image_folder(root: str | os.PathLike[str]) -> ImageFolderIndex:
    """List root/<identity>/<image> and read every image's header (size, grey or colour), not its pixels.

    Raises:
        FileNotFoundError: `root` is not a directory.
        ValueError: fewer than 2 identity folders, an empty identity folder, a nested folder, or a file
            that is not a readable image (each named).
    """
    directory = Path(root).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no such directory: {directory} (give a directory holding one sub-folder of images per identity: "
            "root/<identity>/<image>)"
        )
    identities = sorted(
        (p for p in directory.iterdir() if p.is_dir() and _visible(p)), key=lambda p: natural_key(p.name)
    )
    if len(identities) < 2:
        raise ValueError(
            f"{directory} holds {len(identities)} identity folder{'' if len(identities) == 1 else 's'}; a face "
            "dataset needs at least 2 (root/<identity>/<image>, one sub-folder per person)"
        )
    paths: list[Path] = []
    labels: list[int] = []
    image_ids: list[int] = []
    for label, folder in enumerate(identities):
        entries = sorted((p for p in folder.iterdir() if _visible(p)), key=lambda p: natural_key(p.name))
        nested = [p for p in entries if p.is_dir()]
        if nested:
            raise ValueError(
                f"{nested[0]} is a folder inside identity folder {folder}: identity folders must hold "
                "images only (one level: root/<identity>/<image>)"
            )
        if not entries:
            raise ValueError(f"identity folder {folder} holds no images: add images or remove the folder")
        paths.extend(entries)
        labels.extend([label] * len(entries))
        image_ids.extend(range(1, len(entries) + 1))
    return _index(directory, paths, labels, image_ids, [p.name for p in identities])


def _index(
    root: Path,
    paths: Sequence[Path],
    labels: Sequence[int],
    image_ids: Sequence[int],
    names: Sequence[str],
    check: ImageCheck | None = None,
) -> ImageFolderIndex:
    headers = np.array([_header(p, check) for p in paths], dtype=np.int64).reshape(-1, 3)
    return ImageFolderIndex(
        root=root,
        paths=tuple(paths),
        labels=np.asarray(labels, dtype=np.int64),
        image_ids=np.asarray(image_ids, dtype=np.int64),
        names=tuple(names),
        sizes=headers[:, :2].copy(),
        grey=headers[:, 2].astype(bool),
    )


def read_image(
    path: Path, image_shape: tuple[int, int], channels: int, resize: bool, check: ImageCheck | None = None
) -> np.ndarray:
    """Decode one image to uint8 [H, W] (channels 1) or [H, W, 3], resized to `image_shape` if `resize`.

    16-bit greyscale keeps its top 8 bits; colour to grey uses Pillow's ITU-R 601-2 luma; an alpha channel
    is dropped.
    """
    try:
        with Image.open(path) as img:
            if check is not None:
                check(path, img)
            img.load()
            if img.mode.startswith("I;16"):
                grey = (np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8)
                img8 = Image.fromarray(grey, mode="L")
                img8 = img8 if channels == 1 else img8.convert("RGB")
            else:
                target = "L" if channels == 1 else "RGB"
                img8 = img if img.mode == target else img.convert(target)
            if resize and img8.size != (image_shape[1], image_shape[0]):
                img8 = img8.resize((image_shape[1], image_shape[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(img8, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"{path} cannot be read as an image ({exc}); it may be truncated or corrupt: replace or remove it"
        ) from exc
    if pixels.shape[:2] != tuple(image_shape):
        raise ValueError(
            f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels, expected {image_shape[1]}x"
            f"{image_shape[0]} (width x height); resize all images by giving an image size"
        )
    return pixels


def load_index(
    index: ImageFolderIndex,
    image_size: int | Sequence[int] | None = None,
    grayscale: bool | None = None,
    check: ImageCheck | None = None,
) -> FaceDataset:
    """Decode every image of `index` into one FaceDataset (see the module's rules)."""
    shape, channels = index.output_format(image_size, grayscale)
    images = np.empty((len(index), *shape) + ((channels,) if channels > 1 else ()), dtype=np.uint8)
    for row, path in enumerate(index.paths):
        images[row] = read_image(path, shape, channels, image_size is not None, check)
    return FaceDataset(
        images, index.labels.copy(), index.image_ids.copy(), num_classes=index.num_classes, names=index.names
    )


def load_image_folder(
    root: str | os.PathLike[str],
    image_size: int | Sequence[int] | None = None,
    grayscale: bool | None = None,
) -> FaceDataset:
    """Load root/<identity>/<image> into a FaceDataset, identity names kept (see the module's rules).

    Args:
        root: the folder: one sub-folder per identity (>= 2), any number of images in each.
        image_size: None keeps the images' common size; an int (square) or (height, width) resizes all.
        grayscale: None: greyscale iff every image is; True: one channel; False: RGB.

    Raises:
        FileNotFoundError: no such directory.
        ValueError: fewer than 2 identities, an empty identity, a non-image, unreadable, empty or (without
            image_size) differently sized image: the message names the file.
    """
    return load_index(index_image_folder(root), image_size, grayscale)
