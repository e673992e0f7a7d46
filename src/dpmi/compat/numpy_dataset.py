"""AIJack's `NumpyDataset`: a torch Dataset over numpy arrays, with an optional per-item transform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


class NumpyDataset(torch.utils.data.Dataset):
    """Items are `x[i]` (transformed if `transform` is given) and `y[i]`, as AIJack returns them.

    Args:
        x: array of inputs, indexed on the first axis (e.g. uint8 [N, 112, 92]).
        y: optional array of labels with the same first dimension.
        transform: callable applied to each `x[i]` (e.g. `dpmi.compat.transforms.Compose([...])`).
        return_idx: also return the item's index first: `(i, x, y)` or `(i, x)`.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        transform: Callable[[Any], Any] | None = None,
        return_idx: bool = False,
    ) -> None:
        if y is not None and len(y) != len(x):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        self.x = x
        self.y = y
        self.transform = transform
        self.return_idx = return_idx

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        x = self.x[index]
        if self.transform is not None:
            x = self.transform(x)
        item = (x,) if self.y is None else (x, self.y[index])
        if self.return_idx:
            item = (index, *item)
        return item if len(item) > 1 else item[0]
