"""`pca-prior`: model inversion through an eigenface prior fitted on the attacker's public faces.

Pieces and where they come from:
- prior: eigenfaces (Turk & Pentland 1991) of the public images and their mirror images, coefficients
  standardised so that z ~ N(0, I) (probabilistic PCA, Tipping & Bishop 1999); `dpmi.attacks.priors.PCAPrior`.
- objective: identity loss + w * 0.5 ||z||^2 / d, the GMI objective (Zhang et al., CVPR 2020, Eq. 5) with
  the eigenface Gaussian's negative log density in place of GMI's discriminator (a departure: no GAN).
- search: PPA's initial selection, restarts and result selection (Struppek et al., ICML 2022) with Adam on
  the coefficients; batched over identities x restarts (`dpmi.attacks.latent_search`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dpmi.attacks.latent_search import LatentSearch, SearchSettings
from dpmi.attacks.priors.pca_prior import PCAPrior, load_pca_prior
from dpmi.attacks.result import PriorInversionResult
from dpmi.data import FaceDataset


class PCAPriorAttack:
    """Eigenface-prior inversion of `model` (see the module docstring).

    Args:
        model: target classifier, [B, C, H, W] in [-1, 1] -> [B, classes] logits or probabilities.
        public: the attacker's public faces; the only images the prior sees.
        components: eigenfaces kept (d), 1 .. 2 * len(public) - 1.
        settings: the latent search (`SearchSettings`).
        device: where the attack runs (default: the model's device).
    """

    def __init__(
        self,
        model: nn.Module,
        public: FaceDataset,
        *,
        components: int,
        settings: SearchSettings,
        device: str | torch.device | None = None,
    ) -> None:
        if device is None:
            first = next(iter(model.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)
        prior, self.cache_hit = load_pca_prior(public, components, flips=True)
        self.prior: PCAPrior = prior.to(self.device)
        self.search = LatentSearch(model, self.prior, settings, self.device)

    def invert(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> PriorInversionResult:
        """One reconstruction per label (row k reconstructs `labels[k]`), images in [-1, 1]."""
        return self.search.invert(labels)
