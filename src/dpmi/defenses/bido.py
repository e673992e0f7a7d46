"""`bido`: bilateral dependency optimisation with HSIC regularisers.

Peng, Liu, Zheng, Zheng, Han, Yang, Ahn & Li, "Bilateral dependency optimization: defending against
model-inversion attacks", KDD 2022 (BiDO-HSIC): keep the representation Z dependent on the labels Y and make
it less dependent on the input X,

    loss = CE - lambda_y * nHSIC(Z, Y) + lambda_x * nHSIC(X, Z),

HSIC (Gretton et al., ALT 2005) estimated on each minibatch with the biased estimator
HSIC(K, L) = tr(K H L H) / (n - 1)^2, H = I - 11^T / n, Gaussian kernels on X and Z of width sigma * sqrt(d)
(BiDO's kernel: exp(-||a - b||^2 / (2 sigma^2 d)), sigma = 5) and the linear kernel on one-hot Y (BiDO's
default for the labels; a Gaussian kernel on one-hot labels is an affine function of it, so after centring only
a scale differs). nHSIC(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) in [0, 1] (centred kernel alignment).

HSIC is a statistic of the whole batch: one example's loss depends on every other example of the batch, so
per-example clipping no longer bounds one example's influence, and BiDO does not compose with DP-SGD.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dpmi.defenses.base import DefenseSpec, StrengthKnob, last_linear, parameterised_layers

# lambda_x = LAMBDA_X_RATIO * lambda_y: BiDO's defaults (lambda_x 0.0005, lambda_y 0.005) keep this ratio.
LAMBDA_X_RATIO = 0.1
# BiDO's kernel width: sigma * sqrt(dimension).
KERNEL_SIGMA = 5.0


def gaussian_kernel(a: torch.Tensor, sigma: float = KERNEL_SIGMA) -> torch.Tensor:
    """K_ij = exp(-||a_i - a_j||^2 / (2 sigma^2 d)) for a [n, ...] flattened to [n, d]."""
    flat = a.reshape(a.shape[0], -1)
    d = flat.shape[1]
    sq = flat.square().sum(dim=1)
    dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * flat @ flat.t()).clamp(min=0)
    return torch.exp(-dist / (2.0 * sigma * sigma * d))


def linear_kernel(a: torch.Tensor) -> torch.Tensor:
    """L_ij = <a_i, a_j> for a [n, ...] flattened."""
    flat = a.reshape(a.shape[0], -1)
    return flat @ flat.t()


def hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:  # noqa: E741 (the kernel's usual name)
    """The biased HSIC estimate tr(K H L H) / (n - 1)^2 from two n x n kernel matrices (n >= 2)."""
    n = k.shape[0]
    if n < 2:
        raise ValueError(f"HSIC needs a batch of at least 2 examples, got {n}")
    kc = k - k.mean(dim=0, keepdim=True)  # K H
    lc = l - l.mean(dim=0, keepdim=True)  # L H
    return (kc * lc.t()).sum() / float((n - 1) ** 2)  # tr(KH LH) = sum_ij (KH)_ij (LH)_ji


def normalized_hsic(k: torch.Tensor, l: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:  # noqa: E741
    """HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), in [0, 1] for positive semi-definite kernels."""
    return hsic(k, l) / (hsic(k, k) * hsic(l, l)).clamp(min=eps).sqrt()


class FeatureTap(nn.Module):
    """The model unchanged, with the representation Z of its last forward pass in `defense_extras["features"]`:
    the input of its head (last nn.Linear), or its logits when nothing with parameters comes before the head
    (the softmax target, whose head input is the raw pixels X themselves)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        name, head = last_linear(model)
        self.on_logits = [n for n, _ in parameterised_layers(model)] == [name]
        self.defense_extras: dict[str, torch.Tensor] = {}
        if not self.on_logits:
            head.register_forward_pre_hook(self._tap)

    def _tap(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.defense_extras = {"features": args[0]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if self.on_logits:
            self.defense_extras = {"features": out}
        return out


def wrap_model(model: nn.Module, strength: float, num_classes: int, seed: int = 0) -> nn.Module:
    """A `FeatureTap` around a copy of `model` (the model itself gets no hook)."""
    return FeatureTap(copy.deepcopy(model))


def loss(outputs: torch.Tensor, labels: torch.Tensor, lambda_y: float, extras: dict[str, Any]) -> torch.Tensor:
    """CE_i - lambda_y nHSIC(Z, Y) + lambda_x nHSIC(X, Z), the batch terms added to every example's CE: [N]."""
    ce = F.cross_entropy(outputs, labels, reduction="none")
    if labels.shape[0] < 2 or lambda_y == 0:
        return ce
    if "features" not in extras:
        raise ValueError("defense 'bido' needs the model built by its wrap_model (a FeatureTap): features missing")
    z = extras["features"]
    kx = gaussian_kernel(extras["inputs"].to(z.dtype))
    kz = gaussian_kernel(z)
    ly = linear_kernel(F.one_hot(labels, outputs.shape[1]).to(z.dtype))
    batch_term = LAMBDA_X_RATIO * lambda_y * normalized_hsic(kx, kz) - lambda_y * normalized_hsic(kz, ly)
    return ce + batch_term


SPEC = DefenseSpec(
    name="bido",
    summary="HSIC regularisers: keep the features dependent on the labels, less on the input (not with DP-SGD)",
    reference=(
        "Peng, Liu, Zheng, Zheng, Han, Yang, Ahn & Li, Bilateral dependency optimization: defending against "
        "model-inversion attacks, KDD 2022 (BiDO-HSIC)"
    ),
    departs=(
        "one knob lambda_y with lambda_x = 0.1 lambda_y (BiDO's default ratio); HSIC normalised by centred kernel "
        "alignment instead of BiDO's regularised normalisation; Z is the head's input only (BiDO sums over "
        "several hidden layers), or the logits when the head sits on the raw pixels (softmax target)"
    ),
    strength=StrengthKnob(
        name="lambda_y",
        low=0.0,
        high=100.0,
        default=0.5,
        grid=(0.1, 0.5, 1.0, 2.0),
        doc="weight of the label-dependence term (lambda_x = 0.1 lambda_y); larger trades input dependence away",
    ),
    composes_with_dp=False,
    why_not_dp=(
        "its HSIC terms are statistics of the whole batch, so one example's loss depends on the others and "
        "per-example clipping no longer bounds any example's influence (no DP guarantee); train it without "
        "noise, or pick label-smoothing, mid or tl-dmi to combine with DP-SGD"
    ),
    wrap_model=wrap_model,
    loss=loss,
)
