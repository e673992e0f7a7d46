"""The Gaussian noise and the Poisson sampling of the engine, checked statistically at fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from dpmi.models import build_model
from dpmi.privacy.accounting import RDPAccountant
from dpmi.privacy.dpsgd import PoissonSampler, make_private


def zero_gradient_step(model, x, y, *, sigma, clip, batch, seed):
    """One private step whose per-example gradients are exactly zero (loss = 0 * logits), SGD lr 1:
    the parameter change is minus the noise divided by the expected batch size."""
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    private = make_private(
        model, optimizer, (x, y), noise_multiplier=sigma, max_grad_norm=clip, expected_batch_size=batch,
        steps=1, seed=seed,
    )
    xb, _ = next(private.batches())
    private.step((model(xb) * 0.0).sum(dim=1))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (before - after).double()


def test_noise_std_per_coordinate_is_sigma_c_over_expected_batch(faces_split):
    train, _ = faces_split
    x, y = train.to_tensors()
    sigma, clip, batch = 1000.0, 0.5, 40
    noise = zero_gradient_step(build_model("softmax", seed=0), x, y, sigma=sigma, clip=clip, batch=batch, seed=7)
    k = noise.numel()  # 412,200 coordinates
    expected_std = sigma * clip / batch
    # The sample std of k normals has relative standard error 1/sqrt(2(k-1)) ~ 0.0011; allow 5 of them.
    assert float(noise.std()) == pytest.approx(expected_std, rel=5 / math.sqrt(2 * (k - 1)))
    assert abs(float(noise.mean())) < 5 * expected_std / math.sqrt(k)
    # and it is Gaussian: Kolmogorov-Smirnov against N(0, expected_std^2) on a subsample
    assert stats.kstest(noise[::40].numpy() / expected_std, "norm").pvalue > 1e-3


def test_noise_is_seeded_and_independent_of_the_sampler(faces_split):
    train, _ = faces_split
    x, y = train.to_tensors()
    first = zero_gradient_step(build_model("softmax", seed=0), x, y, sigma=1.0, clip=1.0, batch=40, seed=3)
    again = zero_gradient_step(build_model("softmax", seed=0), x, y, sigma=1.0, clip=1.0, batch=40, seed=3)
    other = zero_gradient_step(build_model("softmax", seed=0), x, y, sigma=1.0, clip=1.0, batch=40, seed=4)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_batches_do_not_depend_on_the_noise_multiplier():
    x = torch.randn(50, 3)
    y = torch.zeros(50, dtype=torch.long)
    sizes = []
    for sigma in (0.7, 5.0):
        model = nn.Linear(3, 2)
        private = make_private(
            model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y, torch.arange(50)), noise_multiplier=sigma,
            max_grad_norm=1.0, expected_batch_size=10, steps=20, seed=11,
        )
        seen = []
        for xb, yb, ib in private.batches():
            seen.append(ib.tolist())
            private.step(nn.functional.cross_entropy(model(xb), yb, reduction="none"))
        sizes.append(seen)
    assert sizes[0] == sizes[1]


def test_batch_sizes_follow_binomial_n_q():
    """Chi-square goodness of fit of 4000 Poisson batch sizes to Binomial(280, 1/7), seed 0."""
    n, q, draws = 280, 40 / 280, 4000
    sampler = PoissonSampler(n, q, seed=0)
    sizes = np.array([sampler.sample().size for _ in range(draws)])
    # bins: <=30, 31..49 one by one, >=50 (every expected count >= 5)
    edges = np.arange(31, 50)
    observed = [np.sum(sizes <= 30)] + [np.sum(sizes == k) for k in edges] + [np.sum(sizes >= 50)]
    probs = [stats.binom.cdf(30, n, q)] + [stats.binom.pmf(k, n, q) for k in edges] + [stats.binom.sf(49, n, q)]
    expected = np.array(probs) * draws
    assert expected.min() >= 5
    chi2, pvalue = stats.chisquare(observed, expected)
    assert pvalue > 1e-3, (chi2, pvalue)
    assert sizes.mean() == pytest.approx(n * q, abs=4 * math.sqrt(n * q * (1 - q) / draws))


def test_every_step_is_recorded_including_empty_batches():
    """N = 20, q = 0.05: about 36% of batches are empty. Each one still takes a noise-only step, and the
    accountant holds exactly the steps taken."""
    x = torch.randn(20, 4)
    y = torch.randint(0, 2, (20,))
    model = nn.Linear(4, 2)
    accountant = RDPAccountant()
    private = make_private(
        model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), noise_multiplier=1.3, max_grad_norm=1.0,
        sample_rate=0.05, steps=200, accountant=accountant, seed=0,
    )
    yielded = 0
    before = model.weight.detach().clone()
    for xb, yb in private.batches():
        assert xb.shape[0] >= 1
        yielded += 1
        private.step(nn.functional.cross_entropy(model(xb), yb, reduction="none"))
    assert yielded < 200 - 30  # empty batches happened and were not yielded
    assert private.steps_taken == 200
    assert sum(step.num_steps for step in accountant.history) == 200
    assert {(s.noise_multiplier, s.sample_rate) for s in accountant.history} == {(1.3, 0.05)}
    assert not torch.equal(model.weight.detach(), before)
    fresh = RDPAccountant()
    fresh.step(1.3, 0.05, 200)
    assert private.epsilon(1e-5) == pytest.approx(fresh.get_epsilon(1e-5), rel=1e-12)


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")),
])
def test_noise_generator_lives_on_the_model_device(device):
    model = nn.Linear(3, 2).to(device)
    data = (torch.randn(10, 3, device=device), torch.zeros(10, dtype=torch.long, device=device))
    private = make_private(
        model, torch.optim.SGD(model.parameters(), lr=0.1), data,
        noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=5, steps=3, seed=0,
    )
    assert isinstance(private.noise_generator, torch.Generator)
    assert private.noise_generator.device == model.weight.device
