"""Build a target model by name with seeded initial weights."""

from __future__ import annotations

import torch
from torch import nn

from dpmi.models.mlp import MLP
from dpmi.models.small_cnn import SmallCNN
from dpmi.models.softmax_regression import SoftmaxRegression

MODELS: dict[str, type[nn.Module]] = {"softmax": SoftmaxRegression, "mlp": MLP, "cnn": SmallCNN}


def build_model(
    name: str,
    *,
    num_classes: int = 40,
    input_shape: tuple[int, int, int] = (1, 112, 92),
    seed: int | None = 0,
) -> nn.Module:
    """A fresh model `name` ("softmax", "mlp" or "cnn") that outputs logits.

    With a seed, the initial weights depend only on it (the global torch RNG is left untouched).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return MODELS[name](input_shape=input_shape, num_classes=num_classes)
