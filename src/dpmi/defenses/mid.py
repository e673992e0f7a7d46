"""`mid`: mutual-information regularisation through a variational information bottleneck (VIB).

Wang, Zhang, Jia, Zhu & Cheng, "Improving robustness to model inversion attacks via mutual information
regularization", AAAI 2021 (MID), after Alemi et al.'s deep VIB (ICLR 2017). The target's head is moved behind
a stochastic bottleneck: features h -> encoder -> (mu, log sigma^2) of z in R^k -> z = mu + sigma * eps
(eps ~ N(0, I), reparameterised) -> head -> logits, trained with

    loss_i = CE(head(z_i), y_i) + beta * KL(N(mu_i, diag sigma_i^2) || N(0, I)),
    KL = 1/2 sum_j (mu_ij^2 + sigma_ij^2 - 1 - log sigma_ij^2),

the KL bounding the information z keeps about the input. At test time (eval mode) z = mu: the attacked model is
deterministic. Each example's loss depends on its own activations and its own eps only, so the per-example
clipping of DP-SGD applies and MID composes with it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dpmi.defenses.base import DefenseSpec, StrengthKnob, last_linear, seeded_init, set_submodule

# log sigma^2 = encoder output + LOGVAR_OFFSET: the bottleneck starts nearly deterministic (sigma ~ 0.0067, the
# start of MID's own parameterisation sigma = softplus(s - 5)), so the random initial encoder does not drown
# mu (of order 0.1..1) in unit noise on the first steps.
LOGVAR_OFFSET = -10.0

# Bottleneck width: MID uses half the feature width (k = 256 of VGG16's 512); capped so that a head on raw
# pixels (softmax: 10304 features) does not get a 10304 x 10304 encoder. The cap is 64, not MID's 256: on the
# softmax the encoder is 10304 x 2k weights, and every attack step runs it forward and backward. Measured on
# the faces (softmax, beta 0.01, the base recipe, seeds 0-2; one forward + backward of 100 images, one
# thread, one run): k = 256: 97.8 % test accuracy, 5,281,300 weights, 103.6 ms (22x the undefended softmax's
# 4.7 ms); k = 64: 97.8 %, 1,320,340, 23.7 ms (5x); k = 32: 97.8 %, 15.8 ms. The default study's mid cells
# spent 3x an undefended cell's attack time at k = 256 (docs/results/frontier.md, time).
MAX_BOTTLENECK = 64

# log sigma^2 is capped at LOGVAR_MAX (sigma <= e^5 ~ 148, far above the ~0.05..20 that trained bottlenecks
# reach: max log sigma^2 3.9..6.2 over 12 softmax trainings at beta 0.01). Why: the KL's gradient in log sigma^2
# is (e^logvar - 1) / 2, so a unit that overshoots runs away; measured in an audit shadow (softmax, beta 0.01,
# lr 0.03, momentum 0.9): 26.7 at one step, 1.4e8 at the next, NaN after, and the audit stopped on non-finite
# scores. Below the cap the model is unchanged, so runs that never reach it give the same numbers.
LOGVAR_MAX = 10.0


def bottleneck_width(features: int) -> int:
    return max(1, min(MAX_BOTTLENECK, features // 2))


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row: [N] from [N, k]."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


class VIBModel(nn.Module):
    """`body` (the target without its head) -> Linear(features, 2k) -> (mu, log sigma^2) -> z -> Linear(k, K).

    In train mode z = mu + sigma * eps with eps from a generator seeded by `seed` (so a run is reproducible and
    a copy made before training draws the same eps); in eval mode z = mu. After each forward pass
    `defense_extras` holds {"mu", "logvar"} for the loss.
    """

    def __init__(self, body: nn.Module, features: int, num_classes: int, bottleneck: int, seed: int = 0) -> None:
        super().__init__()
        self.body = body
        self.bottleneck = int(bottleneck)
        self.encoder = nn.Linear(features, 2 * self.bottleneck)
        self.head = nn.Linear(self.bottleneck, num_classes)
        self.seed = int(seed)
        self._generator: torch.Generator | None = None
        self.defense_extras: dict[str, torch.Tensor] = {}

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        if self._generator is None or self._generator.device != like.device:
            self._generator = torch.Generator(device=like.device)
            self._generator.manual_seed(self.seed)
        return torch.randn(like.shape, generator=self._generator, device=like.device, dtype=like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = self.encoder(self.body(x))
        mu = stats[:, : self.bottleneck]
        logvar = (stats[:, self.bottleneck :] + LOGVAR_OFFSET).clamp(max=LOGVAR_MAX)
        z = mu + self._noise(mu) * (0.5 * logvar).exp() if self.training else mu
        self.defense_extras = {"mu": mu, "logvar": logvar}
        return self.head(z)

    def __deepcopy__(self, memo: dict[int, Any]) -> VIBModel:
        """A copy with the generator's position (torch.Generator itself cannot be deep-copied)."""
        generator, extras = self._generator, self.defense_extras
        self._generator, self.defense_extras = None, {}
        try:
            cls = type(self)
            clone = cls.__new__(cls)
            memo[id(self)] = clone
            for key, value in self.__dict__.items():
                clone.__dict__[key] = copy.deepcopy(value, memo)
        finally:
            self._generator, self.defense_extras = generator, extras
        if generator is not None:
            clone._generator = torch.Generator(device=generator.device)
            clone._generator.set_state(generator.get_state())
        return clone


def wrap_model(model: nn.Module, beta: float, num_classes: int, seed: int = 0) -> nn.Module:
    """A `VIBModel` around a copy of `model` whose head (last nn.Linear) is replaced by the bottleneck and a new
    head of `num_classes` (on the old head's device and dtype); the new layers' weights are seeded by `seed`. `model` itself is left untouched."""
    body = copy.deepcopy(model)
    name, head = last_linear(body)
    set_submodule(body, name, nn.Identity())
    features = head.in_features

    def build() -> nn.Module:
        return VIBModel(body, features, num_classes, bottleneck_width(features), seed=seed)

    net = seeded_init(seed, build)
    net.encoder.to(device=head.weight.device, dtype=head.weight.dtype)  # the new layers as the old head
    net.head.to(device=head.weight.device, dtype=head.weight.dtype)
    return net


def loss(outputs: torch.Tensor, labels: torch.Tensor, beta: float, extras: dict[str, Any]) -> torch.Tensor:
    """CE + beta * KL per example: [N]. Needs the VIBModel's `defense_extras` (mu, logvar) in `extras`."""
    if "mu" not in extras or "logvar" not in extras:
        raise ValueError("defense 'mid' needs the model built by its wrap_model (a VIBModel): mu and logvar missing")
    return F.cross_entropy(outputs, labels, reduction="none") + float(beta) * kl_to_standard_normal(
        extras["mu"], extras["logvar"]
    )


SPEC = DefenseSpec(
    name="mid",
    summary="variational information bottleneck before the head, CE + beta * KL (mutual-information regulariser)",
    reference=(
        "Wang, Zhang, Jia, Zhu & Cheng, Improving robustness to model inversion attacks via mutual information "
        "regularization, AAAI 2021"
    ),
    departs=(
        f"the bottleneck is parameterised by log-variance (offset {LOGVAR_OFFSET:g}, so it starts as nearly "
        f"deterministic as MID's softplus(s - 5) standard deviation; capped at {LOGVAR_MAX:g} so that the KL's "
        "e^logvar gradient cannot run away), with width min(64, features / 2) instead "
        "of features / 2; one eps per example per step from a seeded generator; eval mode uses z = mu; the "
        "bottleneck sits on whatever feeds the target's head (raw pixels for the softmax target, so that target "
        "becomes a two-layer linear network with a noisy middle)"
    ),
    strength=StrengthKnob(
        name="beta",
        low=0.0,
        high=100.0,
        default=0.01,
        grid=(0.001, 0.003, 0.01, 0.03),
        doc="weight of the KL term; larger keeps less information about the input",
    ),
    wrap_model=wrap_model,
    loss=loss,
)
