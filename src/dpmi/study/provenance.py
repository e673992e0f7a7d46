"""Which faces a study's numbers come from: the directory read, its format, the fingerprint `dpmi data info`
prints, and the same for a second (public) folder. Recorded in results.json's "data"."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpmi.data import FaceDataset
    from dpmi.study.config import StudyConfig


def data_format(config: StudyConfig) -> str:
    """The registered format `config.data` is read in (resolving "auto" as `dpmi.data.load_faces` does)."""
    from dpmi.data import resolve_data_root
    from dpmi.data.formats import resolve_format

    return resolve_format(resolve_data_root(config.data.root), config.data.format)


def data_provenance(config: StudyConfig, faces: FaceDataset, public: FaceDataset | None = None) -> dict[str, Any]:
    """Which faces the numbers come from: the directory actually read and its format, the SHA-256 of the
    manifest the AT&T faces are checked against (the one shipped with dpmi; None for another folder), a
    fingerprint of the pixels loaded, the identities' names, and the same for a second (public) folder."""
    from importlib import resources

    from dpmi.cache import fingerprint_array
    from dpmi.data import resolve_data_root
    from dpmi.data.folder_summary import fingerprint_folder
    from dpmi.data.manifest import MANIFEST_NAME

    form = data_format(config)
    manifest = resources.files("dpmi.data").joinpath(MANIFEST_NAME).read_bytes() if form == "att" else None
    record: dict[str, Any] = {
        "root": str(resolve_data_root(config.data.root).resolve()),
        "format": form,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest() if manifest is not None else None,
        "images_sha256": fingerprint_array(faces.images),
        "fingerprint": fingerprint_folder(resolve_data_root(config.data.root)),  # as `dpmi data info` prints it
        "people": int(faces.num_classes),
        "images": len(faces),
        "image_shape": list(faces.input_shape),
        "image_size": None if config.data.image_size is None else list(config.data.image_size),  # resized to, if asked
        "names": None if faces.names is None else list(faces.names),
    }
    if public is not None and config.data.public_root is not None:
        record.update(
            {
                "public_root": str(Path(config.data.public_root).resolve()),
                "public_images_sha256": fingerprint_array(public.images),
                "public_people": int(public.num_classes),
                "public_images": len(public),
            }
        )
    return record
