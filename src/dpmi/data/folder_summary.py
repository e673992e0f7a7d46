"""What is in an image folder (`dpmi data info DIR`) and whether all of it loads (`dpmi data verify DIR`).

The AT&T faces are checked against the SHA-256 manifest shipped with dpmi (`fetch.verify_att_faces`); any
other folder has no published hashes, so verifying it means decoding every image under the folder rules of
`dpmi.data.image_folder` and reporting what a study would see.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpmi.data.image_folder import ImageFolderIndex, index_image_folder, load_index
from dpmi.data.manifest import load_manifest, sha256_file


@dataclass(frozen=True)
class FolderSummary:
    """A folder of faces as dpmi sees it.

    Attributes:
        root: the folder.
        names: identity names, in label order.
        counts: images per identity, in label order.
        sizes: {(height, width): number of images stored at that size}.
        grey_images: how many images are stored as greyscale (the rest are colour).
        fingerprint: hex SHA-256 over every image's relative path and SHA-256 (the data's manifest hash):
            the same files give the same value wherever the folder lives.
    """

    root: Path
    names: tuple[str, ...]
    counts: tuple[int, ...]
    sizes: dict[tuple[int, int], int]
    grey_images: int
    fingerprint: str

    @property
    def num_images(self) -> int:
        return int(sum(self.counts))

    @property
    def channels_text(self) -> str:
        if self.grey_images == self.num_images:
            return "greyscale (1 channel)"
        if self.grey_images == 0:
            return "colour (loaded as RGB, 3 channels)"
        return f"mixed: {self.grey_images} greyscale, {self.num_images - self.grey_images} colour (loaded as RGB)"

    def lines(self) -> list[str]:
        """Human-readable description, one fact per line."""
        counts = np.asarray(self.counts)
        sizes = ", ".join(f"{w}x{h} ({n})" for (h, w), n in sorted(self.sizes.items(), key=lambda kv: -kv[1]))
        small = [f"{name} ({c})" for name, c in zip(self.names, self.counts) if c < 2]
        out = [
            f"folder: {self.root}",
            f"identities: {len(self.names)} ({', '.join(self.names[:8])}{', ...' if len(self.names) > 8 else ''})",
            f"images: {self.num_images}; per identity min {counts.min()}, median {float(np.median(counts)):g}, "
            f"max {counts.max()}",
            f"sizes (width x height): {sizes}"
            + ("" if len(self.sizes) == 1 else "; mixed sizes: give an image size to resize them"),
            f"channels: {self.channels_text}",
            f"fingerprint (SHA-256 of paths and contents): {self.fingerprint}",
        ]
        if small:
            out.append(
                f"warning: {len(small)} identities have fewer than 2 images and cannot be split into train "
                f"and test: {', '.join(small[:5])}{', ...' if len(small) > 5 else ''}"
            )
        return out


def folder_fingerprint(index: ImageFolderIndex) -> str:
    """A folder's fingerprint, the one dpmi prints everywhere (`dpmi data info`, the report, results.json's
    data.fingerprint, a model's sidecar): hex SHA-256 over the lines "relative/path sha256-of-the-file" of every
    image, in index order. It depends on the files only (not on where the folder is, nor on load options such as
    an image size)."""
    digest = hashlib.sha256()
    for path in index.paths:
        digest.update(f"{path.relative_to(index.root).as_posix()} {sha256_file(path)}\n".encode())
    return digest.hexdigest()


def fingerprint_folder(root: str | os.PathLike[str]) -> str | None:
    """`folder_fingerprint` of root/<identity>/<image>; None when `root` is no such folder (a plugin format's
    data), since then there are no image files to name."""
    try:
        return folder_fingerprint(index_image_folder(root))
    except (OSError, ValueError):
        return None


def _summary(index: ImageFolderIndex) -> FolderSummary:
    sizes = Counter((int(h), int(w)) for h, w in index.sizes)
    return FolderSummary(
        root=index.root,
        names=index.names,
        counts=tuple(int(c) for c in index.counts()),
        sizes=dict(sizes),
        grey_images=int(index.grey.sum()),
        fingerprint=folder_fingerprint(index),
    )


def describe_image_folder(root: str | os.PathLike[str]) -> FolderSummary:
    """Identities, images, sizes and channels of root/<identity>/<image>, from the images' headers.

    Raises the folder loader's errors (missing folder, < 2 identities, a non-image: each named).
    """
    return _summary(index_image_folder(root))


def verify_image_folder(
    root: str | os.PathLike[str], image_size: int | tuple[int, int] | None = None, grayscale: bool | None = None
) -> FolderSummary:
    """Decode every image of the folder as `load_image_folder(root, image_size, grayscale)` would.

    Raises:
        FileNotFoundError / ValueError: anything that would stop the folder from loading, naming the file.
    """
    index = index_image_folder(root)
    load_index(index, image_size, grayscale)
    return _summary(index)


def looks_like_att_faces(root: str | os.PathLike[str]) -> bool:
    """True if any image the AT&T manifest lists exists under `root` (then the manifest is the judge)."""
    directory = Path(root).expanduser()
    return directory.is_dir() and any((directory / name).is_file() for name in load_manifest())
