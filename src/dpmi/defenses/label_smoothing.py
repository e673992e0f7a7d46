"""`label-smoothing`: cross-entropy against smoothed labels, with negative factors as a model-inversion defense.

Struppek, Hintersdorf & Kersting, "Be careful what you smooth for: label smoothing can be a privacy shield but
also a catalyst for model inversion attacks", ICLR 2024: positive smoothing (alpha > 0) makes a target MORE
vulnerable to inversion, negative smoothing (alpha < 0) less, at a small cost in accuracy.

Targets t = (1 - alpha) onehot(y) + alpha / K, loss_i = -sum_k t_ik log softmax(z_i)_k. For alpha < 0 the
non-target entries are negative, so the loss rewards pushing those probabilities down (it is unbounded below).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from dpmi.defenses.base import DefenseSpec, StrengthKnob


def smoothed_targets(
    labels: torch.Tensor, num_classes: int, alpha: float, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(1 - alpha) onehot(labels) + alpha / K: [N, K] of `dtype` (default: torch's), each row summing to 1."""
    onehot = F.one_hot(labels, num_classes).to(dtype or torch.get_default_dtype())
    return (1.0 - alpha) * onehot + alpha / num_classes


def loss(outputs: torch.Tensor, labels: torch.Tensor, alpha: float, extras: dict[str, Any]) -> torch.Tensor:
    """Per-example cross-entropy of the logits `outputs` [N, K] against the smoothed labels: [N]."""
    log_p = F.log_softmax(outputs, dim=1)
    targets = smoothed_targets(labels, outputs.shape[1], float(alpha), log_p.dtype)
    return -(targets * log_p).sum(dim=1)


SPEC = DefenseSpec(
    name="label-smoothing",
    summary="cross-entropy on smoothed labels; negative alpha defends, positive alpha is known to raise leakage",
    reference=(
        "Struppek, Hintersdorf & Kersting, Be careful what you smooth for: label smoothing can be a privacy "
        "shield but also a catalyst for model inversion attacks, ICLR 2024"
    ),
    departs=(
        "the factor is constant over training (the paper ramps negative factors in over the first epochs for "
        "stability); same smoothed cross-entropy, per example, so it composes with DP-SGD"
    ),
    strength=StrengthKnob(
        name="alpha",
        low=-1.0,
        high=1.0,
        high_open=True,
        default=-0.05,
        grid=(-0.1, -0.05, 0.05, 0.1),
        doc="smoothing factor; negative defends, positive (known to raise leakage) shows the other side",
    ),
    loss=loss,
)
