"""LOMMA for the white-box prior attacks (`pca-prior-lomma`, `gmi-lomma`): Nguyen, Tran, Huang, Mahmood,
Cheung, "Re-thinking Model Inversion Attacks Against Deep Neural Networks", CVPR 2023.

Two changes to the prior attacks' latent search (`dpmi.attacks.latent_search`), each switchable:

- logit loss: the identity loss is -l_y (the label's raw logit; LOMMA Eq. 4 without its feature
  regulariser) instead of the cross-entropy or margin, which stop rewarding once p_y ~ 1;
- model augmentation: `surrogates` models of the attacker's choosing (dpmi's model registry) distilled from
  the target on the public people's images (and their mirrors), labelled by the target's softmax
  (knowledge distillation, Hinton et al. 2015; the attacker owns those queries); the search then minimises
  the mean identity loss over the target and the surrogates (LOMMA Sec. 4.2), so that it follows what the
  target has learnt about the person rather than the target's quirks.

PPA's initial and result selection use the same ensemble. Departures: LOMMA's feature regulariser (distance
of the penultimate features to public features of the class) is left out (the softmax target has none),
and the surrogates are small (a public set of 200 images trains no more).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dpmi.attacks.latent_search import LatentPrior, LatentSearch, SearchSettings
from dpmi.attacks.result import PriorInversionResult
from dpmi.data import FaceDataset


class LogitEnsemble(nn.Module):
    """The mean of the members' logits (log-softmax of members that output probabilities is not needed:
    dpmi's models and the surrogates output logits)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


def distil_surrogates(
    target: nn.Module,
    public: FaceDataset,
    *,
    architecture: str,
    count: int,
    epochs: int,
    lr: float = 0.01,
    temperature: float = 1.0,
    batch_size: int = 40,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[nn.Module]:
    """`count` models `architecture` (dpmi's model registry) trained to match the target's softmax on the
    public images and their mirrors (KL at `temperature`, SGD with momentum 0.9), each from its own seed.
    Uses the target's outputs on public images only: no private image is involved."""
    from dpmi.models import build_model

    x, _ = public.to_tensors(str(device))
    x = torch.cat([x, x.flip(-1)])
    was_training = target.training
    target.eval()
    with torch.no_grad():
        soft = (target(x) / temperature).softmax(dim=1)
    target.train(was_training)
    classes = int(soft.shape[1])
    out: list[nn.Module] = []
    for index in range(int(count)):
        model = build_model(architecture, num_classes=classes, input_shape=public.input_shape, seed=seed + index).to(
            device
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        generator = torch.Generator().manual_seed(seed + index)
        model.train()
        for _ in range(int(epochs)):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), batch_size):
                rows = order[start : start + batch_size]
                log_q = (model(x[rows]) / temperature).log_softmax(dim=1)
                loss = F.kl_div(log_q, soft[rows], reduction="batchmean")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        out.append(model)
    return out


class LogitLatentSearch(LatentSearch):
    """`LatentSearch` whose identity loss is LOMMA's logit loss -l_y when `logit_loss` is on."""

    def __init__(
        self, model: nn.Module, prior: LatentPrior, settings: SearchSettings, device: torch.device, *, logit_loss: bool
    ) -> None:
        super().__init__(model, prior, settings, device)
        self.logit_loss = bool(logit_loss)

    def _identity_loss(self, outputs: torch.Tensor, labels: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        if not self.logit_loss:
            return super()._identity_loss(outputs, labels, apply_softmax)
        logits = outputs if apply_softmax else outputs.clamp_min(1e-12).log()
        return -logits.gather(1, labels.view(-1, 1)).squeeze(1)


class LommaAttack:
    """A prior attack (`prior`) against the target, or against the target and its surrogates, with or
    without the logit loss (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        prior: LatentPrior,
        settings: SearchSettings,
        *,
        logit_loss: bool,
        surrogates: Sequence[nn.Module] = (),
        device: torch.device,
    ) -> None:
        self.device = device
        self.prior = prior
        self.surrogates = list(surrogates)
        ensemble = LogitEnsemble([model, *self.surrogates]) if self.surrogates else model
        self.search = LogitLatentSearch(ensemble, prior, settings, device, logit_loss=logit_loss)

    def invert(self, labels: Sequence[int] | torch.Tensor) -> PriorInversionResult:
        """One reconstruction per label (row k reconstructs `labels[k]`), images in [-1, 1]."""
        return self.search.invert(labels)
