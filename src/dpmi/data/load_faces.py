"""One entry point for "the faces at this path": the AT&T faces or any identity folder, by format.

The study, the CLI (`--data DIR`, `--public DIR`, `[data] root` / `format`) and library users call
`load_faces`, or `load_identity_split` for the private / public people of a study; `load_public_faces`
loads a second folder of attacker-side identities in the private data's image format.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from dpmi.data.face_dataset import FaceDataset
from dpmi.data.formats import DATA_FORMATS as FORMAT_REGISTRY
from dpmi.data.formats import format_choices, resolve_format
from dpmi.data.identities import IdentitySplit, split_identities
from dpmi.data.image_folder import load_image_folder
from dpmi.data.paths import missing_directory_message, resolve_data_root


def __getattr__(name: str) -> object:
    """DATA_FORMATS: "auto" and every registered format, read live (a plugin's format appears in it)."""
    if name == "DATA_FORMATS":
        return format_choices()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_faces(
    root: str | os.PathLike[str] | None = None,
    format: str = "auto",
    image_size: int | Sequence[int] | None = None,
    grayscale: bool | None = None,
) -> FaceDataset:
    """The faces at `root` (else `$DPMI_DATA`, else the AT&T cache directory).

    Args:
        format: a registered data format (`dpmi.data.formats.DATA_FORMATS`): "att" (the AT&T faces, checked
            against the shipped manifest's layout: s1..s40/1..10.pgm, 112x92 greyscale PGM), "folder" (any
            root/<identity>/<image> folder, see `dpmi.data.image_folder`), a plugin's, or "auto" (the default):
            the first format that recognises the directory ("att" when it holds any of the AT&T images), else
            "folder".
        image_size: resize every image to (height, width) (an int: square), with Pillow, bilinear; any format.
        grayscale: for "folder" (and "auto" resolving to it): force one or three channels; "att" refuses it
            (the AT&T images are greyscale).

    Raises:
        FileNotFoundError: "no such directory: PATH" for a path given (or $DPMI_DATA) that does not exist;
            for the default cache directory, how to fetch the AT&T faces there.
    """
    if format not in format_choices():
        raise ValueError(f"data format must be one of {', '.join(format_choices())}, got {format!r}")
    directory = resolve_data_root(root)
    if not directory.is_dir():
        missing = missing_directory_message(directory, root)
        if missing is not None:  # a mistyped path: say so, not how to download the AT&T faces
            raise FileNotFoundError(missing)
    return FORMAT_REGISTRY.get(resolve_format(directory, format)).load(directory, image_size, grayscale)


def load_public_faces(root: str | os.PathLike[str], like: FaceDataset) -> FaceDataset:
    """A second identity folder (the attacker's public people) in `like`'s image size and channels.

    Its images are resized to `like.image_shape` and converted to `like.channels`, so an attack prior
    learned on them fits the target model's input.

    Raises:
        ValueError: a public image is pixel-for-pixel one of `like`'s (private) images: the attacker's data
            must not contain the private people (names the first such file's identity).
    """
    public = load_image_folder(root, image_size=like.image_shape, grayscale=like.channels == 1)
    private_digests = {hashlib.sha256(image.tobytes()).digest() for image in like.images}
    for row, image in enumerate(public.images):
        if hashlib.sha256(image.tobytes()).digest() in private_digests:
            raise ValueError(
                f"the public folder {root} holds an image of identity {public.identity_name(int(public.labels[row]))!r} "
                f"(image {int(public.image_ids[row])}) that is also among the private images: the attacker's "
                "public identities must not include private people; remove them from one of the folders"
            )
    return public


def load_identity_split(
    root: str | os.PathLike[str] | None = None,
    public_root: str | os.PathLike[str] | None = None,
    format: str = "auto",
    image_size: int | Sequence[int] | None = None,
    grayscale: bool | None = None,
) -> IdentitySplit:
    """The private and public people of a study: `--data DIR` alone, or with `--public DIR`.

    Without `public_root`, the identities of the faces at `root` are split by `split_identities` (first
    half private, the rest public). With it, every identity at `root` is private and the public ones are
    the folder `public_root` (loaded in the private images' size and channels; refused if it holds any
    private image): `private_ids` are then 0..k-1 of `root` and `public_ids` 0..m-1 of `public_root`.
    """
    faces = load_faces(root, format, image_size, grayscale)
    if public_root is None:
        return split_identities(faces)
    public = load_public_faces(public_root, like=faces)
    return IdentitySplit(
        private=faces,
        public=public,
        private_ids=tuple(range(faces.num_classes)),
        public_ids=tuple(range(public.num_classes)),
    )
