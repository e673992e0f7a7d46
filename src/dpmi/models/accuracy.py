"""How often a classifier names the right label: top-1 accuracy of a target model on labelled inputs."""

from __future__ import annotations

import torch


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] of `model` on inputs `x` [N, ...] with labels `y` [N].

    The model is evaluated in eval mode; its previous mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        return float((model(x).argmax(dim=1) == y).float().mean())
    finally:
        model.train(was_training)
