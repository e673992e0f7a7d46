"""The real faces of a run without mean_faces.npy: recomputed from the faces it used, with its own split.

`dpmi run` saves RUN_DIR/mean_faces.npy; older runs (or a copied directory without it) need the data again.
The private people and their training images are rebuilt exactly as the run chose them (study.json's config:
people, split seed, images per person), and each person's mean training face is returned in [-1, 1].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def mean_faces_from_data(run_dir: str | os.PathLike[str], data: Any) -> np.ndarray:
    """Mean private training face per person, float32 [people, H, W] (or [..., C]) in [-1, 1].

    data: a `dpmi.data.FaceDataset` of the run's private training faces (used as it is), or the directory
    of the faces the run used (`dpmi run --data`), split again with the run's study.json settings.

    Raises:
        ValueError: RUN_DIR has no study.json to split the faces with, or the faces do not fit it.
    """
    from dpmi.data import FaceDataset

    if isinstance(data, FaceDataset):
        return (data.class_means() / 127.5 - 1.0).astype(np.float32)
    from dpmi.data import load_faces, load_public_faces
    from dpmi.study.config import SETTINGS, StudyConfig
    from dpmi.study.people import split_people
    from dpmi.study.store import RunStore

    study = RunStore(run_dir).read_study()
    if not study or not isinstance(study.get("config"), dict):
        raise ValueError(f"{Path(run_dir) / 'study.json'} is missing: cannot tell which faces were private")
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in study["config"].items() if k in SETTINGS
    }
    try:
        config = StudyConfig.from_settings(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"study.json of {run_dir} cannot be read by this dpmi ({exc})") from exc
    faces = load_faces(str(data), format=config.data.format, image_size=config.data.image_size)
    public = None if config.data.public_root is None else load_public_faces(config.data.public_root, like=faces)
    split = split_people(config, faces, public)
    train, _ = split.private.split(train_per_class=config.data.train_per_class, seed=config.data.split_seed)
    return (train.class_means() / 127.5 - 1.0).astype(np.float32)
