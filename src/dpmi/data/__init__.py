"""Data: the AT&T faces, their loader, split, tensors, download and verification."""

from dpmi.data.att_faces import (
    IMAGE_SHAPE,
    NUM_SUBJECTS,
    FaceDataset,
    load_att_faces,
    normalize_images,
    read_pgm,
)
from dpmi.data.identities import IdentitySplit, select_identities, split_identities
from dpmi.data.paths import default_cache_dir, resolve_data_root
from dpmi.data.synthetic import make_synthetic_faces

__all__ = [
    "IMAGE_SHAPE",
    "NUM_SUBJECTS",
    "FaceDataset",
    "IdentitySplit",
    "default_cache_dir",
    "load_att_faces",
    "make_synthetic_faces",
    "normalize_images",
    "read_pgm",
    "resolve_data_root",
    "select_identities",
    "split_identities",
]
