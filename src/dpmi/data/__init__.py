"""Data: face datasets from any identity folder (the AT&T faces are one), splits, tensors, download and
verification, and a torch Dataset that reads a folder lazily.

`ImageFolderDataset` (the only part that needs torch) is imported on first use: `dpmi data fetch` and the
other data commands then start without loading torch (about a second and a half of every `make run`).
"""

from typing import TYPE_CHECKING, Any

from dpmi.data.att_faces import IMAGE_SHAPE, NUM_SUBJECTS, load_att_faces, read_pgm
from dpmi.data.face_dataset import FaceDataset, normalize_images, person_name, split_indices
from dpmi.data.folder_summary import (
    FolderSummary,
    describe_image_folder,
    verify_image_folder,
)
from dpmi.data.formats import DATA_FORMATS as DATA_FORMAT_REGISTRY
from dpmi.data.formats import DataFormat, format_choices
from dpmi.data.identities import IdentitySplit, select_identities, split_identities
from dpmi.data.image_folder import (
    ImageFolderIndex,
    index_image_folder,
    load_image_folder,
)
from dpmi.data.load_faces import (
    load_faces,
    load_identity_split,
    load_public_faces,
)
from dpmi.data.paths import default_cache_dir, resolve_data_root
from dpmi.data.synthetic import make_synthetic_faces, write_image_folder

if TYPE_CHECKING:
    from dpmi.data.folder_dataset import ImageFolderDataset


def __getattr__(name: str) -> Any:
    """ImageFolderDataset (imported when first used), DATA_FORMATS ("auto" and every registered data format,
    read live: a plugin's format appears in it)."""
    if name == "DATA_FORMATS":
        return format_choices()
    if name == "ImageFolderDataset":
        from dpmi.data.folder_dataset import ImageFolderDataset

        return ImageFolderDataset
    raise AttributeError(f"module 'dpmi.data' has no attribute {name!r}")


__all__ = [
    "DATA_FORMATS",
    "DATA_FORMAT_REGISTRY",
    "DataFormat",
    "format_choices",
    "IMAGE_SHAPE",
    "NUM_SUBJECTS",
    "FaceDataset",
    "FolderSummary",
    "IdentitySplit",
    "ImageFolderDataset",
    "ImageFolderIndex",
    "default_cache_dir",
    "describe_image_folder",
    "index_image_folder",
    "load_att_faces",
    "load_faces",
    "load_identity_split",
    "load_image_folder",
    "load_public_faces",
    "make_synthetic_faces",
    "normalize_images",
    "person_name",
    "read_pgm",
    "resolve_data_root",
    "select_identities",
    "split_indices",
    "split_identities",
    "verify_image_folder",
    "write_image_folder",
]
