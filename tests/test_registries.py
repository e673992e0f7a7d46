"""One registration call adds a model, an accountant or a layer-gradient rule, and everything that lists or builds
them (build_model, MODELS, make_accountant, ACCOUNTANTS, the CLI's choices, DP-SGD's clipping) sees it. Accountant
state dicts round-trip exactly."""

from __future__ import annotations

import io
import json

import pytest
import torch
from torch import nn

from dpmi.models import MODELS, available_models, build_model, register_model
from dpmi.models import registry as model_registry
from dpmi.privacy.accounting import (
    ACCOUNTANTS,
    PLDAccountant,
    RDPAccountant,
    accountant_from_state,
    available_accountants,
    epsilon_table,
    make_accountant,
    register_accountant,
)
from dpmi.privacy.accounting import factory as accountant_registry
from dpmi.privacy.dpsgd import GradientCapture
from dpmi.privacy.dpsgd import layer_gradients as rules


class TinyModel(nn.Module):
    """Mean pooling to one value per channel, then a linear layer."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], num_classes)

    def forward(self, x):
        return self.linear(x.mean(dim=(2, 3)))


def test_one_call_registers_a_model():
    try:
        register_model("tiny", summary="test model")(TinyModel)
        assert "tiny" in MODELS and available_models()[-1] == "tiny"
        a, b = (
            build_model("tiny", num_classes=3, input_shape=(2, 5, 4), seed=1),
            build_model("tiny", num_classes=3, input_shape=(2, 5, 4), seed=1),
        )
        assert a(torch.zeros(1, 2, 5, 4)).shape == (1, 3)
        assert torch.equal(a.linear.weight, b.linear.weight)  # seeded
        with pytest.raises(ValueError, match="already registered"):
            register_model("tiny")(MLPLike)
    finally:
        model_registry.MODEL_REGISTRY.unregister("tiny")
    assert "tiny" not in MODELS
    with pytest.raises(ValueError, match="unknown model 'tiny'"):
        build_model("tiny")


class MLPLike(TinyModel):
    pass


def test_one_call_registers_an_accountant(capsys):
    @register_accountant("rdp-short", summary="RDP over orders 2..32 only")
    def short_rdp(**options):
        return RDPAccountant(orders=range(2, 33), **options)

    try:
        assert "rdp-short" in ACCOUNTANTS and available_accountants() == ("rdp", "pld", "rdp-short")
        acc = make_accountant("RDP-short")
        acc.step(1.0, 0.05, 100)
        full = make_accountant("rdp")
        full.step(1.0, 0.05, 100)
        assert acc.get_epsilon(1e-5) >= full.get_epsilon(1e-5)  # fewer orders: never tighter
        table = epsilon_table(1.0, 0.05, 100, 1e-5, ["rdp-short"])
        assert table["rdp-short"].epsilon == acc.get_epsilon(1e-5)
        from dpmi.cli import main

        assert (
            main(
                [
                    "epsilon",
                    "--sigma",
                    "1",
                    "--sample-rate",
                    "0.05",
                    "--steps",
                    "100",
                    "--accountant",
                    "rdp-short",
                    "--json",
                ]
            )
            == 0
        )
        assert json.loads(capsys.readouterr().out)["epsilon"]["rdp-short"] == pytest.approx(acc.get_epsilon(1e-5))
    finally:
        accountant_registry.ACCOUNTANT_REGISTRY.unregister("rdp-short")
    assert tuple(ACCOUNTANTS) == ("rdp", "pld")
    with pytest.raises(ValueError, match="accountant must be one of"):
        make_accountant("rdp-short")


@pytest.mark.parametrize(
    "make", [lambda: RDPAccountant(orders=[2.0, 8.0, 32.0]), lambda: PLDAccountant(value_discretization_interval=1e-3)]
)
def test_accountant_state_round_trips_exactly(make):
    acc = make()
    acc.step(1.1, 0.05, 40)
    acc.step(0.9, 0.1, 7)
    state = acc.state_dict()
    json.dumps(state)  # plain numbers only
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = accountant_from_state(torch.load(buffer, weights_only=True))
    assert type(restored) is type(acc) and restored.history == acc.history
    assert restored.get_epsilon(1e-5) == acc.get_epsilon(1e-5)
    other = PLDAccountant() if isinstance(acc, RDPAccountant) else RDPAccountant()
    with pytest.raises(ValueError, match="not a"):
        other.load_state_dict(state)


class Scale(nn.Module):
    """y = x * w per feature: one weight vector, so a per-example gradient is d * a (closed form)."""

    def __init__(self, features):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, features))

    def forward(self, x):
        return x * self.weight


def _naive_clipped_sum(model, x, y, clip):
    total = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(x.shape[0]):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, clip / (float(norm) + 1e-6))
        total = [t + factor * g for t, g in zip(total, grads)]
    return total


def test_one_call_registers_a_layer_gradient_rule():
    calls = []

    @rules.register_grad_rule(Scale)
    def scale_rule(module, a, d, out):
        calls.append(module)
        return rules.MaterialisedGradients([d * a])  # per-example gradient of sum(d * x * w) in w

    try:
        assert rules.grad_rule_for(Scale(3)) is scale_rule and not rules.uses_functorch(Scale(3))
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), Scale(5), nn.Tanh(), nn.Linear(5, 3))
        x, y = torch.randn(9, 6), torch.randint(0, 3, (9,))
        expected = _naive_clipped_sum(model, x, y, clip=0.5)
        capture = GradientCapture(model)
        losses = nn.functional.cross_entropy(model(x), y, reduction="none")
        got = capture.clipped_gradient_sum(losses, 0.5).grads
        capture.remove()
        assert len(calls) == 1
        for g, e in zip(got, expected):
            assert torch.allclose(g, e, atol=1e-5)
    finally:
        rules._GRAD_RULES.pop(Scale, None)
    assert rules.uses_functorch(Scale(3))  # back to the torch.func fallback


def test_a_subclass_uses_its_base_class_rule():
    class MyLinear(nn.Linear):
        pass

    assert rules.grad_rule_for(MyLinear(2, 2)) is rules.grad_rule_for(nn.Linear(2, 2)) is not None
