"""Data formats by registry: how a directory of faces is recognised and read. Adding a format is one file (a
`DataFormat`) plus one registration line here, or a plugin calling `DATA_FORMATS.register`.

"auto" is not a format: it picks the first registered format whose `detect` accepts the directory, trying the
fallback formats (the generic identity folder) last, so a plugin's format is tried before them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dpmi.registry import Registry

if TYPE_CHECKING:
    from dpmi.data.face_dataset import FaceDataset

AUTO = "auto"


@dataclass(frozen=True)
class DataFormat:
    """A way to read faces.

    Attributes:
        detect: `detect(directory) -> bool`: does this directory hold data of this format?
        load: `load(directory, image_size, grayscale) -> FaceDataset` (image_size: int or (H, W) or None;
            grayscale: force one (True) or three (False) channels, None: as stored).
        fallback: tried last by "auto" (a format that accepts any directory).
    """

    detect: Callable[[Path], bool]
    load: Callable[[Path, int | Sequence[int] | None, bool | None], FaceDataset]
    fallback: bool = False


def _att_detect(directory: Path) -> bool:
    from dpmi.data.folder_summary import looks_like_att_faces

    return not directory.is_dir() or looks_like_att_faces(directory)


def _att_load(directory: Path, image_size: int | Sequence[int] | None, grayscale: bool | None) -> FaceDataset:
    from dpmi.data.att_faces import load_att_faces

    if grayscale is not None:
        raise ValueError(
            "the AT&T faces are greyscale: drop the grayscale option, or use the folder format to load them as RGB"
        )
    return load_att_faces(directory, image_size=image_size)


def _folder_load(directory: Path, image_size: int | Sequence[int] | None, grayscale: bool | None) -> FaceDataset:
    from dpmi.data.image_folder import load_image_folder

    return load_image_folder(directory, image_size=image_size, grayscale=grayscale)


def _register_builtins() -> None:
    DATA_FORMATS.register(
        "att",
        DataFormat(_att_detect, _att_load),
        summary="the AT&T/ORL faces: s1..s40/1..10.pgm, 112x92 grey, checked against the shipped manifest",
    )
    DATA_FORMATS.register(
        "folder",
        DataFormat(lambda directory: True, _folder_load, fallback=True),
        summary="any identity folder root/<person>/<image> (PNG, JPEG, PGM, ...; grey or RGB)",
    )


DATA_FORMATS: Registry[DataFormat] = Registry("data format", loader=_register_builtins)


def format_choices() -> tuple[str, ...]:
    """What `--data-format` accepts: "auto" and every registered format."""
    return (AUTO, *DATA_FORMATS.names())


def resolve_format(directory: str | os.PathLike[str], name: str = AUTO) -> str:
    """The registered format `directory` is read in: `name` itself, or for "auto" the first format whose
    `detect` accepts it (fallback formats last). ValueError for an unknown name."""
    if name != AUTO:
        DATA_FORMATS.check([name], "the data format")
        return name
    path = Path(directory)
    ordered = sorted(DATA_FORMATS.items(), key=lambda item: item[1].fallback)
    for format_name, form in ordered:
        if form.detect(path):
            return format_name
    raise ValueError(f"no data format recognises {path}: choose one of {', '.join(DATA_FORMATS.names())}")
