"""A trained target model on disk: `model.pt` (a state_dict only) and its `model.json` sidecar.

The sidecar says what the weights are (model name, input shape, classes), how they were trained (the
TrainConfig, the split), what they cost in privacy (sigma, sample rate, steps, epsilon by RDP and PLD) and
how well they work (accuracy), plus the SHA-256 of model.pt. Loading rebuilds the model by name and reads
the weights with `torch.load(..., weights_only=True)`, so a checkpoint can never run pickled code, and
anything that is not a dpmi model (no sidecar, a foreign sidecar, weights that do not fit) is refused with a
ValueError that says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dpmi.atomic_files import atomic_write_bytes, atomic_write_json

FORMAT = "dpmi-model"
FORMAT_VERSION = 1


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """model.pt -> model.json (same directory, same stem)."""
    path = Path(model_path)
    if path.suffix == ".json":
        raise ValueError(f"model path {path} ends in .json, which is the sidecar's name: use e.g. model.pt")
    return path.with_suffix(".json")


def save_model(model: nn.Module, path: str | os.PathLike[str], metadata: dict[str, Any]) -> Path:
    """Write the state_dict to `path` and the sidecar beside it (both atomically); return the sidecar path.

    `metadata` must hold at least "model" (a name build_model knows), "num_classes" and "input_shape".
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    atomic_write_bytes(path, weights)
    atomic_write_json(
        sidecar,
        {
            **metadata,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "weights_file": path.name,
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
        },
    )
    return sidecar


def update_sidecar(path: str | os.PathLike[str], updates: dict[str, Any]) -> Path:
    """Merge `updates` into the sidecar of the model file `path` (atomically); return the sidecar path.

    Lets a caller save the weights first and add what it learns afterwards (e.g. the privacy spent), so a
    failure in that later step never loses the trained model. The weights file is checked as in read_sidecar.
    """
    metadata = read_sidecar(path)
    sidecar = sidecar_path(path)
    reserved = {"format", "format_version", "weights_file", "weights_sha256"} & set(updates)
    if reserved:
        raise ValueError(f"update_sidecar cannot change {sorted(reserved)}: they describe the weights file")
    atomic_write_json(sidecar, {**metadata, **updates})
    return sidecar


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of model file `path`, checked to be a dpmi one that matches the weights' bytes.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: no sidecar, a sidecar that is not dpmi's, or weights that differ from those it describes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist (write one with `dpmi train --out {path}`)")
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise ValueError(f"{path} is not a dpmi model: its sidecar {sidecar} is missing (`dpmi train` writes both)")
    try:
        metadata = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a dpmi model: its sidecar {sidecar} is not readable JSON ({exc})") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dpmi model: {sidecar} is not a dpmi model sidecar")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a dpmi with model format {metadata.get('format_version')}, this one reads "
            f"format {FORMAT_VERSION}: retrain it with `dpmi train`"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != metadata.get("weights_sha256"):
        raise ValueError(f"{path} does not match its sidecar {sidecar} (SHA-256 differs): the weights were replaced")
    return metadata


def load_model(path: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by `save_model`, in eval mode on `device`; return it and its sidecar.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a dpmi model (see read_sidecar), or its weights do not fit the named model.
    """
    from dpmi.models import resolve_model

    metadata = read_sidecar(path)
    try:
        name, num_classes = str(metadata["model"]), int(metadata["num_classes"])
        input_shape = _shape(metadata["input_shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a dpmi model: its sidecar lacks a valid {exc}") from exc
    model = resolve_model(name, num_classes, input_shape, seed=None)  # a registered name or pkg.module:factory
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (UnpicklingError, RuntimeError, EOFError, ...)
        raise ValueError(f"{path} is not a dpmi model: torch cannot read it as weights ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a dpmi model: it does not hold a state_dict of tensors")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path} does not fit a {metadata['model']!r} model: {first}") from exc
    return model.to(device).eval(), metadata


def _shape(values: Any) -> tuple[int, int, int]:
    """[C, H, W] from a sidecar -> (C, H, W) ints (TypeError/ValueError on anything else)."""
    channels, height, width = (int(v) for v in values)
    return channels, height, width
