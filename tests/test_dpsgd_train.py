"""The `train` helper: validation, reproducibility, accounting of the steps taken, and the accuracy its
defaults reach on the held-out faces (3 per identity)."""

from __future__ import annotations

import dataclasses

import dp_accounting
import pytest
import torch

from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, make_private, train


@pytest.fixture(scope="module")
def tensors(faces_split):
    train_set, test_set = faces_split
    return (*train_set.to_tensors(), *test_set.to_tensors())


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def dp_accounting_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """Independent oracle: Google's dp_accounting RDP accountant on the same Poisson-sampled Gaussian."""
    accountant = dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    accountant.compose(event, steps)
    return accountant.get_epsilon(delta)


@pytest.mark.slow
def test_defaults_train_softmax_well_without_and_with_dp(tensors):
    x, y, x_test, y_test = tensors
    plain = build_model("softmax", seed=0)
    history = train(plain, x, y, TrainConfig())
    assert history.epsilon == [] and history.accountant is None and history.noise_multiplier is None
    assert len(history.loss) == 30 and history.loss[-1] < 0.1 < history.loss[0]
    assert history.steps == 30 * 7  # 280 examples in batches of 40
    assert accuracy(plain, x_test, y_test) >= 0.9

    private = build_model("softmax", seed=0)
    history = train(private, x, y, TrainConfig(noise_multiplier=0.5))
    assert history.loss[-1] < history.loss[0] - 1.0
    assert accuracy(private, x_test, y_test) >= 0.7  # the tutorial's sigma and clip


@pytest.mark.slow
def test_target_epsilon_is_met_and_every_step_is_accounted(tensors):
    x, y, _, _ = tensors
    config = TrainConfig(target_epsilon=3.0, epochs=10, delta=1e-5)
    history = train(build_model("softmax", seed=0), x, y, config)
    q = 40 / 280
    planned = 70  # 10 epochs * 280 examples / 40 per expected batch
    assert history.sample_rate == pytest.approx(q)
    assert history.steps == planned
    assert sum(step.num_steps for step in history.accountant.history) == planned
    assert len(history.epsilon) == 10 and history.epsilon == sorted(history.epsilon)
    oracle = dp_accounting_epsilon(history.noise_multiplier, q, planned, 1e-5)
    assert history.epsilon[-1] == pytest.approx(oracle, rel=1e-2)
    assert 0.97 * 3.0 <= history.epsilon[-1] <= 3.0


def test_same_seed_same_model_other_seed_other_model(tensors):
    x, y, _, _ = tensors
    small = dict(epochs=2, noise_multiplier=1.0)
    weights = []
    for seed in (5, 5, 6):
        model = build_model("softmax", seed=0)
        train(model, x, y, TrainConfig(seed=seed, **small))
        weights.append(model.fc.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert not torch.allclose(weights[0], weights[2])


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=281), "batch_size"),
        (dict(lr=0.0), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(noise_multiplier=1.0, target_epsilon=1.0), "not both"),
        (dict(noise_multiplier=-1.0), "noise_multiplier"),
        (dict(target_epsilon=0.0), "target_epsilon"),
        (dict(target_epsilon=1.0, delta=1.0), "delta"),
        (dict(max_grad_norm=0.0), "max_grad_norm"),
        (dict(accountant="gdp"), "accountant"),
        (dict(seed=-1), "seed"),
    ],
)
def test_invalid_config_names_the_field(tensors, change, field):
    x, y, _, _ = tensors
    with pytest.raises(ValueError, match=field):
        train(build_model("softmax", seed=0), x, y, dataclasses.replace(TrainConfig(), **change))


def test_make_private_argument_errors():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = (torch.randn(10, 2), torch.zeros(10, dtype=torch.long))
    base = dict(max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=5, epochs=1)
    for change, message in [
        (dict(expected_batch_size=None), "expected_batch_size"),
        (dict(sample_rate=0.5), "exactly one of expected_batch_size"),
        (dict(expected_batch_size=11), "expected_batch_size"),
        (dict(steps=3), "exactly one of epochs"),
        (dict(noise_multiplier=None), "exactly one of noise_multiplier"),
        (dict(target_epsilon=1.0), "exactly one of noise_multiplier"),
        (dict(max_grad_norm=-1.0), "max_grad_norm"),
        (dict(delta=0.0), "delta"),
        (dict(seed=-2), "seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_private(model, opt, data, **{**base, **change})
    with pytest.raises(ValueError, match="tuple of tensors"):
        make_private(model, opt, [1, 2, 3], **base)
    with pytest.raises(ValueError, match="GroupNorm"):
        bn = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        make_private(bn, torch.optim.SGD(bn.parameters(), lr=0.1), data, **base)
