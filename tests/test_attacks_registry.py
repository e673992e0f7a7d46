"""The attack registry: every attack is listed by one call and built by name; bad names, options of
another attack and a missing public set are ValueErrors saying what to do; every result satisfies the
`AttackResult` protocol (MI-FACE's confidence is measured at the image when an AuxTerm is in the cost)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpmi.attacks import (
    AttackResult, InversionResult, MIFace, TotalVariation, attack_spec, available_attacks, make_attack,
    resolve_options,
)

SHAPE = (1, 6, 5)


def tiny_model(classes: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), classes))


def test_listing_names_the_three_attacks_in_order():
    assert available_attacks()[:3] == ["mi-face", "pca-prior", "gmi"]
    for name in available_attacks():
        spec = attack_spec(name)
        assert spec.summary and spec.reference and spec.defaults
        assert set(spec.help) == set(spec.defaults), f"{name}: every option is explained"
    assert not attack_spec("mi-face").needs_public
    assert attack_spec("pca-prior").needs_public and attack_spec("gmi").needs_public


def test_unknown_attack_lists_the_names():
    with pytest.raises(ValueError, match="unknown attack 'gmii'.*mi-face, pca-prior, gmi"):
        make_attack("gmii", tiny_model(), input_shape=SHAPE)


def test_option_of_another_attack_names_its_owner():
    with pytest.raises(ValueError, match="'components' belongs to pca-prior"):
        make_attack("mi-face", tiny_model(), input_shape=SHAPE, components=10)
    with pytest.raises(ValueError, match="'gan_steps' belongs to gmi"):
        resolve_options("pca-prior", {"gan_steps": 3})
    with pytest.raises(ValueError, match="'max_iter' belongs to mi-face"):
        resolve_options("gmi", {"max_iter": 3})
    with pytest.raises(ValueError, match="'nonsense'"):
        resolve_options("gmi", {"nonsense": 3})


@pytest.mark.parametrize("name", ["pca-prior", "gmi"])
def test_prior_attacks_need_public_faces(name):
    with pytest.raises(ValueError, match="public=<FaceDataset"):
        make_attack(name, tiny_model(), input_shape=SHAPE)


def test_bad_option_values_are_value_errors(synthetic_faces):
    model = tiny_model()
    with pytest.raises(ValueError, match="process must be one of"):
        make_attack("mi-face", model, input_shape=SHAPE, process="blur")
    with pytest.raises(ValueError, match="components must be in"):
        make_attack("pca-prior", model, public=synthetic_faces, components=10_000)
    with pytest.raises(ValueError, match="identity_loss must be one of"):
        make_attack("pca-prior", model, public=synthetic_faces, identity_loss="hinge")
    with pytest.raises(ValueError, match="candidates must be"):
        make_attack("pca-prior", model, public=synthetic_faces, restarts=8, candidates=4)


def test_mi_face_result_is_an_attack_result_with_measured_confidence():
    model = tiny_model()
    attack = make_attack("mi-face", model, input_shape=SHAPE, max_iter=20)
    result = attack.invert([0, 2, 3])
    assert isinstance(result, AttackResult) and isinstance(result, InversionResult)
    with torch.no_grad():
        expected = model(result.images).softmax(1).gather(1, result.labels.view(-1, 1)).squeeze(1).numpy()
    assert result.confidence.shape == (3,)
    np.testing.assert_allclose(result.confidence, expected, atol=1e-6)
    summary = result.summary()
    assert summary == {"best_cost": pytest.approx(float(np.mean(result.best_cost))),
                       "iterations": pytest.approx(float(np.mean(result.iterations))),
                       "no_reconstruction": float(np.mean(result.no_reconstruction))}
    assert result.history(0).shape == (result.iterations[0] + 1,) and set(result.stop_reason) <= {
        "threshold", "patience", "max_iter"}


def test_mi_face_with_an_aux_term_measures_confidence_by_a_forward_pass():
    model = tiny_model(seed=3)
    attack = MIFace(model, max_iter=15, step_size=0.5, aux_term=TotalVariation(0.05), input_shape=SHAPE)
    result = attack.invert([1, 2])
    with torch.no_grad():
        expected = model(result.images).softmax(1).gather(1, result.labels.view(-1, 1)).squeeze(1).numpy()
    np.testing.assert_allclose(result.confidence, expected, atol=1e-6)
    # 1 - best_cost is off by the AuxTerm, which is what made measuring necessary.
    assert np.all(np.abs(result.confidence - (1 - result.best_cost)) > 1e-4)
