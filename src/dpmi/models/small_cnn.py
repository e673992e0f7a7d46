"""A small DP-friendly CNN: two strided convolutions with GroupNorm (BatchNorm mixes examples, which
breaks per-example DP), then a linear classifier."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Conv(1->16, 5x5, stride 2) -> GroupNorm -> ReLU -> Conv(16->32, 5x5, stride 2) -> GroupNorm -> ReLU
    -> average pool 4x4 -> Linear -> logits."""

    def __init__(
        self, input_shape: tuple[int, int, int] = (1, 112, 92), num_classes: int = 40, width: int = 16
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, kernel_size=5, stride=2, padding=2),
            nn.GroupNorm(4, width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel_size=5, stride=2, padding=2),
            nn.GroupNorm(4, 2 * width),
            nn.ReLU(),
            nn.AvgPool2d(4),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, channels, height, width_px)).numel()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
