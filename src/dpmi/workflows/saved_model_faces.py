"""The faces a saved model was trained on, rebuilt from its sidecar: its private identities' training and
held-out images (as the model's labels 0..k-1) and the public identities left to an attacker.

`dpmi train` records the identities, the split and the SHA-256 of the images it read; this module reads them
back, finds the faces (the directory given, else the one the sidecar records, else `$DPMI_DATA`, else the
cache) and refuses faces whose bytes differ from those the model was trained on: an attack scored against
other faces, or an audit's shadow models trained on them, would measure something else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpmi.data import FaceDataset


@dataclass(frozen=True)
class SavedModelFaces:
    """The faces of a saved model.

    Attributes:
        private_train, private_heldout: the private identities' training and held-out images, labelled as the
            model labels them (0..k-1: label j is dataset identity private_ids[j]).
        public: the public identities' images (labels 0..len(public_ids)-1), or None when the model was
            trained on every identity (a model saved before the private/public split).
        private_ids, public_ids: dataset identities (numbered from 0) on each side.
        root: the directory the faces were read from (None when passed in memory).
    """

    private_train: FaceDataset
    private_heldout: FaceDataset
    public: FaceDataset | None
    private_ids: list[int]
    public_ids: list[int]
    root: Path | None


def sidecar_identities(metadata: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(private, public) dataset identities from a sidecar; a model saved before the split knew all of them."""
    recorded = metadata.get("identities")
    if isinstance(recorded, dict) and "private" in recorded:
        return [int(i) for i in recorded["private"]], [int(i) for i in recorded.get("public") or []]
    return list(range(int(metadata["num_classes"]))), []


def load_saved_model_faces(
    metadata: dict[str, Any], data: str | os.PathLike[str] | FaceDataset | None = None
) -> SavedModelFaces:
    """The faces of the model whose sidecar is `metadata` (see the module docstring for where they are looked for).

    Raises:
        FileNotFoundError: no faces where they were looked for.
        ValueError: faces other than those the model was trained on (their SHA-256 differs), or a split the
            sidecar describes that these faces cannot make.
    """
    from dpmi.cache import fingerprint_array
    from dpmi.data import load_faces, resolve_data_root, select_identities

    recorded = metadata.get("data") or {}
    root: Path | None
    if isinstance(data, FaceDataset):
        faces, root = data, None
    else:
        given = data
        if given is None and recorded.get("root") and Path(recorded["root"]).is_dir():
            given = recorded["root"]
        root = resolve_data_root(given)
        faces = load_faces(root, image_size=recorded.get("image_size"))  # the size the model was trained at
    digest = recorded.get("images_sha256")
    if digest and fingerprint_array(faces.images) != digest:
        where = f"at {root}" if root is not None else "passed"
        raise ValueError(
            f"the faces {where} are not the ones the model was trained on (their SHA-256 differs; "
            f"trained on {recorded.get('root') or 'faces passed in memory'}): pass those with --data"
        )
    private_ids, public_ids = sidecar_identities(metadata)
    split = metadata.get("split") or {}
    train, heldout = select_identities(faces, private_ids).split(
        train_per_class=int(split.get("train_per_class", 7)), seed=int(split.get("split_seed", 0))
    )
    public = select_identities(faces, public_ids) if public_ids else None
    return SavedModelFaces(train, heldout, public, private_ids, public_ids, root)
