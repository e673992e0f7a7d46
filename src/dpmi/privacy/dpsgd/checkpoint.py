"""Checkpoints of a DP-SGD run, so training stopped at any step (a crash, a kill, Ctrl-C) resumes to the same
weights and the same epsilon as an uninterrupted run: model and optimizer state, the steps taken, the batch
sampler's and noise generator's positions and the accountant's history, written atomically (never half a file)
and read with `torch.load(weights_only=True)`.

    private = make_private(model, optimizer, (x, y), ..., seed=0)
    if path.exists():
        load_checkpoint(path, private)            # continues where the last save left off
    for xb, yb in private.batches():
        private.step(F.cross_entropy(model(xb), yb, reduction="none"))
        save_checkpoint(path, private)            # e.g. every k steps
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from dpmi.atomic_files import atomic_write_bytes
from dpmi.privacy.dpsgd.private_training import PrivateTraining

FORMAT = "dpmi-dpsgd-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str], private: PrivateTraining, extra: dict[str, Any] | None = None
) -> None:
    """Write `private`'s model, optimizer and DP-SGD state (and `extra`: plain numbers, strings, lists, tensors)
    to `path` atomically."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": private.model.state_dict(),
        "optimizer": private.optimizer.state_dict(),
        "private": private.state_dict(),
        "extra": extra or {},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], private: PrivateTraining) -> dict[str, Any]:
    """Restore a checkpoint written by `save_checkpoint` into `private` (built by `make_private` with the same
    model architecture, optimizer type, data and settings); returns its `extra`."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable dpmi DP-SGD checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dpmi DP-SGD checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {payload.get('format_version')}, this dpmi reads {FORMAT_VERSION}"
        )
    private.load_state_dict(payload["private"])  # checks the settings first, before touching the weights
    private.model.load_state_dict(payload["model"])
    private.optimizer.load_state_dict(payload["optimizer"])
    return dict(payload.get("extra", {}))
