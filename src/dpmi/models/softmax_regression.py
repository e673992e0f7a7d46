"""The tutorial's target model: multinomial logistic (softmax) regression on raw pixels."""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxRegression(nn.Module):
    """Flatten, then one linear layer to class logits: 112*92 = 10304 inputs -> 40 identities.

    Outputs logits (unlike the tutorial's `Net`, which applies softmax in `forward` and then trains it with
    CrossEntropyLoss, i.e. a double softmax). MI-FACE applies softmax itself when given logits.
    """

    def __init__(self, input_shape: tuple[int, int, int] = (1, 112, 92), num_classes: int = 40) -> None:
        super().__init__()
        features = 1
        for size in input_shape:
            features *= size
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))
