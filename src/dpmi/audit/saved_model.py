"""What the audit of a model saved by `dpmi train` needs from its sidecar: the model, its training recipe and
the faces it was (and was not) trained on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from dpmi.data import FaceDataset
from dpmi.privacy.dpsgd import TrainConfig


@dataclasses.dataclass(frozen=True)
class SavedTarget:
    """A saved model with its recipe (TrainConfig), name, and its private training and held-out images."""

    model: nn.Module
    model_name: str
    recipe: TrainConfig
    members: FaceDataset
    heldout: FaceDataset
    metadata: dict[str, Any]


def recipe_from_sidecar(metadata: dict[str, Any], path: str | Path) -> TrainConfig:
    """The TrainConfig recorded in the sidecar; ValueError if it is missing or unreadable (shadow models need
    the exact recipe, so an audit without it would measure some other training)."""
    config = metadata.get("train_config")
    if not isinstance(config, dict) or "epochs" not in config or "batch_size" not in config:
        raise ValueError(
            f"{path}: its sidecar lacks the training recipe (train_config) that shadow models must "
            "repeat; retrain it with `dpmi train` to audit it"
        )
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        return TrainConfig(**{k: v for k, v in config.items() if k in known})
    except TypeError as exc:
        raise ValueError(f"{path}: its sidecar's train_config is not a dpmi training recipe ({exc})") from exc


def load_saved_target(path: str | Path, data: Any = None, device: str = "cpu") -> SavedTarget:
    """Load model `path`, its recipe and the private identities' train / held-out split it was trained on."""
    from dpmi.models.model_file import load_model, read_sidecar
    from dpmi.workflows.saved_model_faces import load_saved_model_faces

    metadata = read_sidecar(path)
    recipe = recipe_from_sidecar(metadata, path)
    model, metadata = load_model(path, device)
    identities = metadata.get("identities") or {}
    private = identities.get("private")
    split = metadata.get("split") or {}
    if not private or "train_per_class" not in split:
        raise ValueError(
            f"{path}: its sidecar lacks the identities or the split the model was trained on; "
            "retrain it with `dpmi train` to audit it"
        )
    # The faces the sidecar records (its directory, image size and pixels' SHA-256), as `dpmi attack` reads them.
    faces = load_saved_model_faces(metadata, data)
    members, heldout = faces.private_train, faces.private_heldout
    return SavedTarget(
        model,
        str(metadata["model"]),
        dataclasses.replace(recipe, secure_mode=False, device=device),
        members,
        heldout,
        metadata,
    )
