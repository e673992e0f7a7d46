"""What an attack's `invert` returns: MI-FACE's best iterate of every row and how it got there
(`InversionResult`), and a prior attack's selected reconstructions with their diagnostics
(`PriorInversionResult`). Both satisfy `dpmi.attacks.registry.AttackResult`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dpmi.attacks.no_reconstruction import no_reconstruction_mask


@dataclass(frozen=True)
class InversionResult:
    """The outcome of `MIFace.invert` for K target labels (row k inverts `labels[k]`).

    Attributes:
        images: float tensor [K, C, H, W] on the attack's device, the lowest-cost iterate of every row
            (Fredrikson et al. 2015, Alg. 1 returns argmin_i c(x_i)), in the model's input range
            (within `clamp` when the attack clamps).
        labels: int64 tensor [K], the inverted labels.
        best_cost: float numpy array [K], c at `images`, i.e. 1 - f_label(x) + AuxTerm(x) (cost
            "one-minus-p") or -log f_label(x) + AuxTerm(x) (cost "log-p").
        iterations: int64 numpy array [K], gradient steps taken by each row before its stopping rule fired
            (0..max_iter).
        cost_history: float numpy array [K, max_iter + 1]; column i is c(x_i), NaN after the row stopped, so
            row k holds `iterations[k] + 1` finite costs (x_0 .. x_iterations[k]).
        stop_reason: numpy array of str [K]: "threshold" (c <= gamma), "patience" (no progress in a window
            of beta), or "max_iter" (alpha steps taken).
        measured_confidence: float numpy array [K] or None: the target's softmax probability of the label at
            `images`, measured by a forward pass (MIFace does so when an AuxTerm makes 1 - best_cost differ
            from it, and with cost "log-p"). None: `confidence` is 1 - best_cost (exact without an AuxTerm).
        no_reconstruction: bool numpy array [K] or None: True where the row's image is no reconstruction
            (it never left the start image, or it is flat: `dpmi.attacks.no_reconstruction_mask`). None: not
            checked (a result built by hand); `moved` is then all True.
        cost: the cost descended, "one-minus-p" or "log-p" (`dpmi.attacks.mi_face.COSTS`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    best_cost: np.ndarray
    iterations: np.ndarray
    cost_history: np.ndarray
    stop_reason: np.ndarray
    measured_confidence: np.ndarray | None = None
    no_reconstruction: np.ndarray | None = None
    cost: str = "one-minus-p"

    @property
    def confidence(self) -> np.ndarray:
        """Target's probability of `labels[k]` at `images[k]`, in [0, 1], numpy [K]."""
        if self.measured_confidence is not None:
            return np.asarray(self.measured_confidence, dtype=np.float64)
        return self.best_confidence()

    @property
    def moved(self) -> np.ndarray:
        """bool numpy [K]: True where the row's image is a reconstruction (not `no_reconstruction`)."""
        if self.no_reconstruction is None:
            return np.ones(len(self), dtype=bool)
        return ~np.asarray(self.no_reconstruction, dtype=bool)

    def summary(self) -> dict[str, float]:
        """Means over rows of the lowest cost c and of the gradient steps taken, and "no_reconstruction": the
        fraction of rows whose image never left the start or is flat (when checked)."""
        out = {"best_cost": float(np.mean(self.best_cost)), "iterations": float(np.mean(self.iterations))}
        if self.no_reconstruction is not None:
            out["no_reconstruction"] = float(np.mean(np.asarray(self.no_reconstruction, dtype=bool)))
        return out

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def history(self, row: int) -> np.ndarray:
        """The costs c(x_0), ..., c(x_T) of one row, without the NaN padding."""
        if not 0 <= row < len(self):
            raise ValueError(f"row must be in 0..{len(self) - 1}, got {row}")
        return self.cost_history[row, : int(self.iterations[row]) + 1].copy()

    def best_confidence(self) -> np.ndarray:
        """The target-class confidence at the returned image read off `best_cost` (exact when there is no
        AuxTerm): 1 - best_cost for cost "one-minus-p", exp(-best_cost) for "log-p"."""
        best = np.asarray(self.best_cost, dtype=np.float64)
        return np.exp(-best) if self.cost == "log-p" else 1.0 - best


@dataclass(frozen=True)
class PriorInversionResult:
    """The outcome of a prior attack (`pca-prior`, `gmi`) for K labels: one selected reconstruction per row.

    Attributes:
        images: float tensor [K, C, H, W] in [-1, 1], the candidate kept by result selection.
        labels: int64 tensor [K].
        measured_confidence: float numpy [K], the target's probability of the label at `images`.
        final_loss: float numpy [K], identity loss + weight * realism loss of the kept candidate.
        identity_loss: float numpy [K]; realism_loss: float numpy [K] (the prior's term, unweighted).
        robust_confidence: float numpy [K], the kept candidate's mean confidence over the selection
            transforms (mirror and small shifts).
        start_confidence: float numpy [K], the target's confidence at the kept candidate's start latent.
        restarts: candidates optimised per identity. steps: optimisation steps per candidate.
    """

    images: torch.Tensor
    labels: torch.Tensor
    measured_confidence: np.ndarray
    final_loss: np.ndarray
    identity_loss: np.ndarray
    realism_loss: np.ndarray
    robust_confidence: np.ndarray
    start_confidence: np.ndarray
    restarts: int
    steps: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        return np.asarray(self.measured_confidence, dtype=np.float64)

    # The names the MI-FACE scoring path reads (`dpmi.metrics.evaluate_inversion`): the kept candidate's
    # final loss and the steps every row took.
    @property
    def best_cost(self) -> np.ndarray:
        return np.asarray(self.final_loss, dtype=np.float64)

    @property
    def iterations(self) -> np.ndarray:
        return np.full(len(self), self.steps, dtype=np.int64)

    @property
    def no_reconstruction(self) -> np.ndarray:
        """bool numpy [K]: True where the kept image is flat or not finite (`no_reconstruction_mask` without a
        start: a prior attack starts from many latents, not one image)."""
        return no_reconstruction_mask(self.images)

    @property
    def moved(self) -> np.ndarray:
        return ~self.no_reconstruction

    def summary(self) -> dict[str, float]:
        """Means over rows: final/identity/realism loss, confidence at the image, selection confidences,
        the fraction of flat images ("no_reconstruction"), plus restarts and steps."""
        return {
            "no_reconstruction": float(np.mean(self.no_reconstruction)),
            "final_loss": float(np.mean(self.final_loss)),
            "identity_loss": float(np.mean(self.identity_loss)),
            "realism_loss": float(np.mean(self.realism_loss)),
            "label_confidence": float(np.mean(self.measured_confidence)),
            "selected_confidence": float(np.mean(self.robust_confidence)),
            "start_confidence": float(np.mean(self.start_confidence)),
            "restarts": float(self.restarts),
            "iterations": float(self.steps),
        }
