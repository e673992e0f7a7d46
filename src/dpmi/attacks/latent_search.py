"""Batched white-box latent search against a target classifier under a face prior: the attack loop shared
by `pca-prior` and `gmi`.

For identities y_1..y_K and R restarts each, all K*R rows are optimised together, one forward and one
backward pass through prior decoder + target per step (rows do not interact: the target runs in eval mode
and Adam is element-wise):

    minimise over z:   L_id(target(G(z)), y) + w * L_prior(z, G(z))

following GMI (Zhang et al., CVPR 2020, Eq. 4-5: identity loss + lambda * prior loss, optimised over the
latent of a generator trained on public faces) with PPA's initial and result selection (Struppek et al.,
ICML 2022) and Adam on the latent (PPA; GMI uses SGD with momentum). The identity loss is the
cross-entropy -log p_y (GMI) or, with `identity_loss="margin"`, the logit margin max_{j != y} l_j - l_y
clipped at -`margin_cap` (Carlini & Wagner, S&P 2017, Eq. 7 in logit form); probabilities are the model's
softmax, or its outputs when it already outputs probabilities (decided as MIFace's apply_softmax=None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from dpmi.attacks.mi_face import outputs_probabilities
from dpmi.attacks.ppa_selection import initial_selection, result_selection, robust_confidence
from dpmi.attacks.result import PriorInversionResult

IDENTITY_LOSSES = ("ce", "margin")
_LOG_FLOOR = 1e-12


class LatentPrior(Protocol):
    """A face prior the search optimises over."""

    @property
    def latent_dim(self) -> int: ...

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """`count` random latents from the prior's latent distribution."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in the target's input range."""

    def realism_loss(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """[B] the prior's penalty (lower = more face-like)."""


@dataclass(frozen=True)
class SearchSettings:
    """How the latent search runs (see the attack docstrings for the defaults and why).

    steps: Adam steps (>= 0). lr: Adam learning rate on the latent (> 0). restarts: R candidates optimised
    per identity (>= 1). candidates: random latents decoded for the initial selection (>= restarts).
    prior_weight: w >= 0 on the realism term. identity_loss: "ce" or "margin". margin_cap: > 0, the margin
    loss stops rewarding once the label leads by this many logits. selection_shift: pixels of the
    result-selection shifts (>= 0). apply_softmax: True/False/None as MIFace. seed: seeds the latents.
    """

    steps: int
    lr: float
    restarts: int
    candidates: int
    prior_weight: float
    identity_loss: str = "ce"
    margin_cap: float = 10.0
    selection_shift: int = 2
    apply_softmax: bool | None = None
    seed: int = 0

    def validate(self) -> None:
        if int(self.steps) != self.steps or self.steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {self.steps}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if int(self.restarts) != self.restarts or self.restarts < 1:
            raise ValueError(f"restarts must be an integer >= 1, got {self.restarts}")
        if int(self.candidates) != self.candidates or self.candidates < self.restarts:
            raise ValueError(f"candidates must be an integer >= restarts ({self.restarts}), got {self.candidates}")
        if not (np.isfinite(self.prior_weight) and self.prior_weight >= 0):
            raise ValueError(f"prior_weight must be a finite number >= 0, got {self.prior_weight}")
        if self.identity_loss not in IDENTITY_LOSSES:
            raise ValueError(f"identity_loss must be one of {', '.join(IDENTITY_LOSSES)}, got {self.identity_loss!r}")
        if not (np.isfinite(self.margin_cap) and self.margin_cap > 0):
            raise ValueError(f"margin_cap must be a finite number > 0, got {self.margin_cap}")
        if int(self.selection_shift) != self.selection_shift or self.selection_shift < 0:
            raise ValueError(f"selection_shift must be an integer >= 0, got {self.selection_shift}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed}")


class LatentSearch:
    """Run `SearchSettings` against `model` under `prior` (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        prior: LatentPrior,
        settings: SearchSettings,
        device: torch.device,
        *,
        candidate_batch: int = 256,
    ) -> None:
        settings.validate()
        self.model = model
        self.prior = prior
        self.settings = settings
        self.device = device
        self.candidate_batch = int(candidate_batch)

    def _probabilities(self, outputs: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        return outputs.softmax(dim=1) if apply_softmax else outputs

    def _identity_loss(self, outputs: torch.Tensor, labels: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        if self.settings.identity_loss == "ce" or not apply_softmax:
            log_p = outputs.log_softmax(dim=1) if apply_softmax else outputs.clamp_min(_LOG_FLOOR).log()
            if self.settings.identity_loss == "ce":
                return -log_p.gather(1, labels.view(-1, 1)).squeeze(1)
            outputs = log_p  # margin on log-probabilities: the same ordering as on logits
        own = outputs.gather(1, labels.view(-1, 1)).squeeze(1)
        others = outputs.scatter(1, labels.view(-1, 1), float("-inf")).max(dim=1).values
        return (others - own).clamp_min(-self.settings.margin_cap)

    def _labels(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        label_tensor = torch.as_tensor(labels, dtype=torch.int64).reshape(-1).to(self.device)
        if label_tensor.numel() == 0:
            raise ValueError("labels is empty: pass at least one class index to invert")
        return label_tensor

    def invert(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> PriorInversionResult:
        label_tensor = self._labels(labels)
        was_training = self.model.training
        self.model.eval()
        try:
            return self._run(label_tensor)
        finally:
            self.model.train(was_training)

    def _run(self, labels: torch.Tensor) -> PriorInversionResult:
        s = self.settings
        generator = torch.Generator(device=self.device).manual_seed(int(s.seed))
        count, restarts = int(labels.shape[0]), int(s.restarts)

        # Initial selection (PPA Sec. 4.2): the target's confidence on many random latents.
        with torch.no_grad():
            pool = self.prior.sample(int(s.candidates), generator)
            outputs = torch.cat(
                [
                    self.model(self.prior.decode(pool[i : i + self.candidate_batch]))
                    for i in range(0, pool.shape[0], self.candidate_batch)
                ]
            )
        if outputs.ndim != 2:
            raise ValueError(f"the model must output [batch, classes], got shape {tuple(outputs.shape)}")
        classes = int(outputs.shape[1])
        if int(labels.min()) < 0 or int(labels.max()) >= classes:
            raise ValueError(
                f"labels must be in 0..{classes - 1} (the model has {classes} classes), got "
                f"{labels.min().item()}..{labels.max().item()}"
            )
        apply_softmax = s.apply_softmax
        if apply_softmax is None:
            apply_softmax = not outputs_probabilities(outputs[: min(len(outputs), 64)])
        pool_probabilities = self._probabilities(outputs, apply_softmax)
        chosen = initial_selection(pool_probabilities, labels, restarts)  # [K, R]
        start_confidence = pool_probabilities[chosen.reshape(-1), labels.repeat_interleave(restarts)]
        row_labels = labels.repeat_interleave(restarts)  # row = k * R + r
        z = pool[chosen.reshape(-1)].clone().requires_grad_(True)

        # Optimisation: all K*R rows in one batch, one forward/backward per step.
        optimizer = torch.optim.Adam([z], lr=float(s.lr))
        for _ in range(int(s.steps)):
            images = self.prior.decode(z)
            identity = self._identity_loss(self.model(images), row_labels, apply_softmax)
            loss = identity + s.prior_weight * self.prior.realism_loss(z, images) if s.prior_weight else identity
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()

        # Result selection (PPA Sec. 4.3): keep each identity's candidate that stays confident when moved.
        with torch.no_grad():
            z = z.detach()
            images = self.prior.decode(z)
            outputs = self.model(images)
            identity = self._identity_loss(outputs, row_labels, apply_softmax)
            realism = self.prior.realism_loss(z, images)
            robust = robust_confidence(
                images, row_labels, lambda x: self._probabilities(self.model(x), apply_softmax), int(s.selection_shift)
            ).view(count, restarts)
            best = result_selection(robust)  # [K]
            rows = torch.arange(count, device=self.device) * restarts + best
            confidence = self._probabilities(outputs, apply_softmax).gather(1, row_labels.view(-1, 1)).squeeze(1)
            final_loss = identity + s.prior_weight * realism
        return PriorInversionResult(
            images=images[rows].detach(),
            labels=labels,
            measured_confidence=confidence[rows].cpu().numpy().astype(np.float64),
            final_loss=final_loss[rows].cpu().numpy().astype(np.float64),
            identity_loss=identity[rows].cpu().numpy().astype(np.float64),
            realism_loss=realism[rows].cpu().numpy().astype(np.float64),
            robust_confidence=robust.gather(1, best.view(-1, 1)).squeeze(1).cpu().numpy().astype(np.float64),
            start_confidence=start_confidence.view(count, restarts)
            .gather(1, best.view(-1, 1))
            .squeeze(1)
            .cpu()
            .numpy()
            .astype(np.float64),
            restarts=restarts,
            steps=int(s.steps),
        )
