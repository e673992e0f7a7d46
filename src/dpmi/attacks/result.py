"""What one MI-FACE run returns: the best iterate of every row and how it got there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class InversionResult:
    """The outcome of `MIFace.invert` for K target labels (row k inverts `labels[k]`).

    Attributes:
        images: float tensor [K, C, H, W] on the attack's device, the lowest-cost iterate of every row
            (Fredrikson et al. 2015, Alg. 1 returns argmin_i c(x_i)), in the model's input range
            (within `clamp` when the attack clamps).
        labels: int64 tensor [K], the inverted labels.
        best_cost: float numpy array [K], c at `images`, i.e. 1 - f_label(x) + AuxTerm(x).
        iterations: int64 numpy array [K], gradient steps taken by each row before its stopping rule fired
            (0..max_iter).
        cost_history: float numpy array [K, max_iter + 1]; column i is c(x_i), NaN after the row stopped, so
            row k holds `iterations[k] + 1` finite costs (x_0 .. x_iterations[k]).
        stop_reason: numpy array of str [K]: "threshold" (c <= gamma), "patience" (no progress in a window
            of beta), or "max_iter" (alpha steps taken).
    """

    images: torch.Tensor
    labels: torch.Tensor
    best_cost: np.ndarray
    iterations: np.ndarray
    cost_history: np.ndarray
    stop_reason: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def history(self, row: int) -> np.ndarray:
        """The costs c(x_0), ..., c(x_T) of one row, without the NaN padding."""
        if not 0 <= row < len(self):
            raise ValueError(f"row must be in 0..{len(self) - 1}, got {row}")
        return self.cost_history[row, : int(self.iterations[row]) + 1].copy()

    def best_confidence(self) -> np.ndarray:
        """1 - best_cost: the target-class confidence at the returned image when there is no AuxTerm."""
        return 1.0 - self.best_cost
