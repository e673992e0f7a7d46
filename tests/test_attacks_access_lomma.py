"""LOMMA for the white-box prior attacks (`dpmi.attacks.lomma`): the logit loss, surrogates distilled from
the target on public faces only, the ensemble, and the registered attacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpmi.attacks import make_attack
from dpmi.attacks.access import from_module
from dpmi.attacks.latent_search import SearchSettings
from dpmi.attacks.lomma import LogitEnsemble, LogitLatentSearch, distil_surrogates
from dpmi.attacks.priors.pca_prior import fit_pca_prior
from dpmi.data import split_identities


def linear(shape, classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), classes))


def test_the_logit_loss_is_minus_the_labels_logit(synthetic_faces):
    model = linear(synthetic_faces.input_shape, 5)
    settings = SearchSettings(steps=0, lr=0.1, restarts=1, candidates=4, prior_weight=0.0)
    search = LogitLatentSearch(model, fit_pca_prior(synthetic_faces, 4), settings, torch.device("cpu"), logit_loss=True)
    logits = torch.randn(3, 5)
    labels = torch.tensor([0, 4, 2])
    torch.testing.assert_close(search._identity_loss(logits, labels, True), -logits[[0, 1, 2], [0, 4, 2]])
    off = LogitLatentSearch(model, fit_pca_prior(synthetic_faces, 4), settings, torch.device("cpu"), logit_loss=False)
    torch.testing.assert_close(off._identity_loss(logits, labels, True), -logits.log_softmax(1)[[0, 1, 2], [0, 4, 2]])


def test_surrogates_learn_the_targets_labels_from_public_faces_only(synthetic_faces):
    split = split_identities(synthetic_faces)
    target = linear(split.public.input_shape, 4, seed=1)
    with torch.no_grad():
        target[1].weight.mul_(30)  # a confident target: its softmax names one class per image
    surrogates = distil_surrogates(target, split.public, architecture="softmax", count=2, epochs=100, lr=0.05, seed=0)
    x, _ = split.public.to_tensors()
    with torch.no_grad():
        wanted = target(x).argmax(1)
        for surrogate in surrogates:
            assert (surrogate(x).argmax(1) == wanted).float().mean() >= 0.9
            assert not any(p.requires_grad for p in surrogate.parameters())
    assert not torch.equal(surrogates[0](x), surrogates[1](x))  # each from its own seed
    ensemble = LogitEnsemble([target, *surrogates])
    with torch.no_grad():
        torch.testing.assert_close(ensemble(x), (target(x) + surrogates[0](x) + surrogates[1](x)) / 3)


@pytest.mark.parametrize("name", ["pca-prior-lomma", "gmi-lomma"])
def test_lomma_attacks_run_and_refuse_a_scores_only_target(name, synthetic_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    model = linear(synthetic_faces.input_shape, synthetic_faces.num_classes, seed=2)
    options = dict(steps=5, restarts=2, candidates=10, surrogates=1, surrogate_model="softmax", surrogate_epochs=2)
    options.update(
        dict(components=6)
        if name == "pca-prior-lomma"
        else dict(gan_steps=3, gan_scale=0.5, gan_width=8, gan_latent_dim=8)
    )
    result = make_attack(name, model, public=synthetic_faces, **options).invert([1, 3])
    assert result.images.shape == (2, *synthetic_faces.input_shape) and torch.isfinite(result.images).all()
    scores = from_module(model, "scores", input_shape=synthetic_faces.input_shape)
    with pytest.raises(ValueError, match="needs white-box access"):
        make_attack(name, scores, public=synthetic_faces, **options)
