"""Secure mode: the noise comes from the OS CSPRNG (not from the seed), has the right distribution, and the
mode is recorded in the training history."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, make_private, train
from dpmi.privacy.dpsgd.noise import (
    SecureGaussianNoise,
    SecureUniformSource,
    secure_standard_normal,
    secure_uniform,
)


def test_secure_uniforms_are_in_the_open_unit_interval_and_uniform():
    u = secure_uniform(200_000)
    assert u.min() > 0 and u.max() <= 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_secure_normals_are_standard_normal():
    z = secure_standard_normal(200_001)
    assert z.shape == (200_001,)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.std() - 1) < 5 / math.sqrt(2 * z.size)


def test_secure_noise_fills_with_std_and_never_repeats():
    a, b = torch.empty(50_000), torch.empty(50_000)
    SecureGaussianNoise().fill_([a, b], 0.3)
    assert float(a.std()) == pytest.approx(0.3, rel=0.02)
    assert not torch.equal(a, b)
    zero = torch.ones(3)
    SecureGaussianNoise().fill_([zero], 0.0)
    assert torch.equal(zero, torch.zeros(3))


def test_secure_mode_ignores_the_seed_and_is_recorded(synthetic_faces):
    x, y = synthetic_faces.to_tensors()
    weights = []
    for _ in range(2):
        model = build_model("softmax", num_classes=8, input_shape=tuple(x.shape[1:]), seed=0)
        history = train(model, x, y, TrainConfig(epochs=1, batch_size=8, noise_multiplier=1.0, seed=0,
                                                 secure_mode=True))
        assert history.secure_mode is True
        weights.append(model.fc.weight.detach().clone())
    assert not torch.equal(weights[0], weights[1])  # same seed, different noise: the seed is not used
    seeded = train(build_model("softmax", num_classes=8, input_shape=tuple(x.shape[1:]), seed=0), x, y,
                   TrainConfig(epochs=1, batch_size=8, noise_multiplier=1.0, seed=0))
    assert seeded.secure_mode is False


def test_secure_private_training_samples_batches_from_the_csprng():
    model = torch.nn.Linear(3, 2)
    private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), (torch.randn(20, 3),),
                           noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5, steps=1, seed=3,
                           secure_mode=True)
    assert private.secure_mode and private.noise_generator is None
    assert isinstance(private.sampler.rng, SecureUniformSource)
    sizes = [len(private.sampler.sample()) for _ in range(400)]
    assert abs(np.mean(sizes) - 10) < 5 * math.sqrt(20 * 0.25 / 400)


def test_secure_mode_must_be_a_bool():
    with pytest.raises(ValueError, match="secure_mode"):
        TrainConfig(secure_mode="yes").validate(100)
