"""The AT&T (ORL) face database: 40 people x 10 greyscale 112x92 images (Olivetti Research Laboratory).

It is one image folder (`dpmi.data.image_folder`) with known contents: `load_att_faces` reads exactly the
images the shipped manifest lists (s1..s40/1..10.pgm) through the folder loader and checks that each is an
8-bit greyscale PGM of 112x92. The constants below are facts about this database only; nothing else in dpmi
reads them (classes, sizes and channels come from the data).

Label k-1 is subject `s{k}` (named "s{k}"); images are ordered by subject, then image number, so every run
sees the same order. A dataset is all-or-nothing: any missing, truncated or malformed image raises before
anything is returned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from dpmi.data.face_dataset import FaceDataset, normalize_images
from dpmi.data.image_folder import _index, load_index, read_image
from dpmi.data.manifest import load_manifest
from dpmi.data.paths import ENV_VAR, missing_directory_message, resolve_data_root

__all__ = ["IMAGE_SHAPE", "NUM_SUBJECTS", "FaceDataset", "load_att_faces", "normalize_images", "read_pgm"]

NUM_SUBJECTS = 40
IMAGES_PER_SUBJECT = 10
IMAGE_HEIGHT = 112
IMAGE_WIDTH = 92
IMAGE_SHAPE = (IMAGE_HEIGHT, IMAGE_WIDTH)


def read_pgm(path: Path) -> np.ndarray:
    """Read one AT&T image as uint8 [112, 92]; raise ValueError naming the file if it is not one."""
    return read_image(Path(path), IMAGE_SHAPE, 1, resize=False, check=_check_att_image)


def _check_att_image(path: Path, img: Image.Image) -> None:
    """The manifest's expectation of every AT&T file: an 8-bit greyscale PGM of 112x92."""
    if img.format != "PPM" or img.mode != "L":
        raise ValueError(
            f"{path} is not an 8-bit greyscale PGM image (format {img.format}, mode {img.mode}); "
            "re-fetch the dataset with `dpmi data fetch`"
        )
    width, height = img.size
    if (height, width) != IMAGE_SHAPE:
        raise ValueError(
            f"{path} is {width}x{height} pixels, expected {IMAGE_WIDTH}x{IMAGE_HEIGHT} "
            "(width x height): this is not the AT&T faces database"
        )


def att_image_names() -> list[tuple[int, int, str]]:
    """(subject, image number, relative path) of every image the manifest lists, subject then number."""
    names = []
    for name in load_manifest():
        match = re.fullmatch(r"s(\d+)/(\d+)\.pgm", name)
        if match:
            names.append((int(match.group(1)), int(match.group(2)), name))
    return sorted(names)


def load_att_faces(
    root: str | os.PathLike[str] | None = None, image_size: int | Sequence[int] | None = None
) -> FaceDataset:
    """Load all 400 AT&T faces from `root`, else `$DPMI_DATA`, else `~/.cache/dpmi/att_faces`.

    image_size: None keeps the stored 112x92; an int (square) or (height, width) resizes every image after its
    check, as the folder loader resizes (`image_folder.read_image`: Pillow, bilinear).

    Raises:
        FileNotFoundError: the directory or one of the 400 images is missing (the message says where it
            looked and how to fetch the data).
        ValueError: an image is truncated, not a greyscale PGM, or not 112x92.
    """
    directory = resolve_data_root(root)
    if not directory.is_dir():
        missing = missing_directory_message(directory, root)
        if missing is not None:
            raise FileNotFoundError(
                f"{missing}: check the path; to put the AT&T faces there, run `dpmi data fetch --dest {directory}`"
            )
        raise FileNotFoundError(
            f"no AT&T faces directory at {directory} (looked at the given path, else ${ENV_VAR}, else the "
            f"cache). Download it with `dpmi data fetch`, or pass --data / set {ENV_VAR} to a directory "
            "holding s1..s40/1..10.pgm"
        )
    listed = att_image_names()
    subjects = sorted({subject for subject, _, _ in listed})
    for _, _, name in listed:
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(
                f"missing image {path}: the AT&T faces at {directory} are incomplete (need "
                f"s1..s{subjects[-1]}/1..{max(n for _, n, _ in listed)}.pgm); re-fetch them with `dpmi data fetch`"
            )
    label_of = {subject: label for label, subject in enumerate(subjects)}
    index = _index(
        directory,
        [directory / name for _, _, name in listed],
        [label_of[subject] for subject, _, _ in listed],
        [number for _, number, _ in listed],
        [f"s{subject}" for subject in subjects],
        check=_check_att_image,
    )
    return load_index(index, image_size, check=_check_att_image)
