"""`gmi`: model inversion through a GAN face prior trained on the attacker's public faces.

Pieces and where they come from:
- prior: a small GAN trained on the public images with flips and shifts (GMI, Zhang et al., CVPR 2020,
  Sec. 4.1; DiffAugment, Zhao et al., NeurIPS 2020); departures listed in `dpmi.attacks.priors.face_generator`.
- objective: identity loss + w * prior loss, GMI's Eq. 5 with the discriminator's non-saturating loss
  softplus(-D(G(z))) as the prior loss (GMI: -D(G(z)) of a WGAN critic).
- search: PPA's initial selection, restarts and result selection (Struppek et al., ICML 2022) with Adam on
  z (GMI: SGD with momentum, z clipped to [-1, 1], 5 random restarts); batched over identities x restarts
  (`dpmi.attacks.latent_search`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from dpmi.attacks.latent_search import LatentSearch, SearchSettings
from dpmi.attacks.priors.face_generator import FaceGAN, GANSettings, load_face_gan
from dpmi.attacks.result import PriorInversionResult
from dpmi.data import FaceDataset


class GMIAttack:
    """GAN-prior inversion of `model` (see the module docstring).

    Args:
        model: target classifier, [B, C, H, W] in [-1, 1] -> [B, classes] logits or probabilities.
        public: the attacker's public faces; the only images the GAN sees.
        gan: how the GAN prior is trained (`GANSettings`); trained once, then read from the cache.
        settings: the latent search (`SearchSettings`).
        latent_weight: weight of 0.5 ||z||^2 / d added to the discriminator's loss (keeps z where the GAN
            was trained; 0 = GMI's prior loss alone).
        progress: show a progress bar while the GAN trains.
        device: where the attack runs (default: the model's device).
        log: called with one line when a cache entry is rebuilt.
    """

    def __init__(
        self,
        model: nn.Module,
        public: FaceDataset,
        *,
        gan: GANSettings,
        settings: SearchSettings,
        latent_weight: float = 0.0,
        progress: bool = True,
        device: str | torch.device | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if device is None:
            first = next(iter(model.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)
        if not (np.isfinite(latent_weight) and latent_weight >= 0):
            raise ValueError(f"latent_weight must be a finite number >= 0, got {latent_weight}")
        prior, self.cache_hit = load_face_gan(public, gan, progress=progress, latent_weight=latent_weight, log=log)
        self.prior: FaceGAN = prior.to(self.device)
        self.search = LatentSearch(model, self.prior, settings, self.device)

    def invert(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> PriorInversionResult:
        """One reconstruction per label (row k reconstructs `labels[k]`), images in [-1, 1]."""
        return self.search.invert(labels)
