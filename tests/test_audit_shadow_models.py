"""Shadow models trained together equal the same models trained one by one with dpmi's `train` (1e-5)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dpmi.audit.shadow_models import train_together
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train


def _sequential(name, x, y, subsets, seeds, config, num_classes):
    models = []
    for subset, seed in zip(subsets, seeds):
        model = build_model(name, num_classes=num_classes, input_shape=tuple(x.shape[1:]), seed=seed)
        index = torch.from_numpy(subset)
        train(model, x[index], y[index], replace(config, seed=seed))
        models.append(model)
    return models


def _assert_equal(stacked, models, x):
    for k, model in enumerate(models):
        for p, q in zip(model.parameters(), stacked.params):
            assert torch.allclose(p.detach(), q[k], atol=1e-5, rtol=0), float((p.detach() - q[k]).abs().max())
        assert torch.allclose(stacked.logits(x)[k], model.eval()(x).detach(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["softmax", "mlp"])
@pytest.mark.parametrize("privacy", [{}, {"noise_multiplier": 1.0}, {"target_epsilon": 4.0}])
def test_trained_together_equals_sequential_training(synthetic_faces, name, privacy):
    x, y = synthetic_faces.to_tensors()
    rng = np.random.default_rng(0)
    subsets = np.stack([np.sort(rng.choice(len(x), 30, replace=False)) for _ in range(3)])
    seeds = [3, 11, 2024]
    config = TrainConfig(epochs=4, batch_size=7, lr=0.05, **privacy)  # 7 does not divide 30: a short last batch
    stacked = train_together(name, x, y, subsets, seeds, config, num_classes=synthetic_faces.num_classes)
    assert stacked.batched
    _assert_equal(stacked, _sequential(name, x, y, subsets, seeds, config, synthetic_faces.num_classes), x)
    if privacy:
        assert stacked.steps == int(np.ceil(4 / (7 / 30)))


def test_dp_shadows_on_the_real_faces_equal_sequential(faces):
    """The study's softmax recipe (lot 40 of 140 private images, clip 1, sigma 2), 3 epochs."""
    from dpmi.data import split_identities

    private = split_identities(faces).private
    x, y = private.to_tensors()
    rng = np.random.default_rng(1)
    subsets = np.stack([np.sort(rng.choice(len(x), 140, replace=False)) for _ in range(2)])
    config = TrainConfig(epochs=3, noise_multiplier=2.0)
    stacked = train_together("softmax", x, y, subsets, [0, 1], config, num_classes=private.num_classes)
    _assert_equal(stacked, _sequential("softmax", x, y, subsets, [0, 1], config, private.num_classes), x)


def test_other_models_fall_back_to_sequential_training(synthetic_faces):
    x, y = synthetic_faces.to_tensors()
    subsets = np.stack([np.arange(0, 24), np.arange(24, 48)])
    config = TrainConfig(epochs=1, batch_size=8, noise_multiplier=1.0)
    stacked = train_together("cnn", x, y, subsets, [0, 1], config, num_classes=synthetic_faces.num_classes)
    assert not stacked.batched
    _assert_equal(stacked, _sequential("cnn", x, y, subsets, [0, 1], config, synthetic_faces.num_classes), x)


def test_bad_subsets_are_refused(synthetic_faces):
    x, y = synthetic_faces.to_tensors()
    with pytest.raises(ValueError, match="K index arrays"):
        train_together("softmax", x, y, np.zeros((2, 5), int), [0], TrainConfig(batch_size=2), num_classes=8)
    with pytest.raises(ValueError, match="pool size"):
        train_together("softmax", x, y, np.full((1, 5), 999), [0], TrainConfig(batch_size=2), num_classes=8)
