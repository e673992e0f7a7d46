"""A one-hidden-layer perceptron, the next step up from softmax regression (Fredrikson et al. 2015 also
attack an MLP)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten -> Linear(10304, hidden) -> ReLU -> Linear(hidden, classes); outputs logits."""

    def __init__(
        self, input_shape: tuple[int, int, int] = (1, 112, 92), num_classes: int = 40, hidden: int = 256
    ) -> None:
        super().__init__()
        features = 1
        for size in input_shape:
            features *= size
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
