"""The two torchvision transforms the tutorial uses, without torchvision (it cannot be installed beside
the CPU torch wheel this project pins): `Compose([ToTensor(), Normalize((0.5,), (0.5,))])`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for transform in self.transforms:
            x = transform(x)
        return x


class ToTensor:
    """HxW or HxWxC uint8 array (0..255) -> float32 tensor CxHxW in [0, 1], as torchvision's ToTensor."""

    def __call__(self, pic: np.ndarray) -> torch.Tensor:
        array = np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"ToTensor expects an HxW or HxWxC image, got shape {array.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        if array.dtype == np.uint8:
            return tensor.float().div(255.0)
        return tensor.float()


class Normalize:
    """(x - mean) / std per channel, as torchvision's Normalize."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if any(s <= 0 for s in std):
            raise ValueError(f"Normalize std must be > 0, got {tuple(std)}")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        return (tensor - self.mean) / self.std
