"""AIJack's MI_FACE interface, as the tutorial calls it, backed by the real MI-FACE: the lowest-cost iterate
comes back and gradients do not pile up across iterations (AIJack's own loop never zeroes x.grad)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpmi.compat.mi_face import MI_FACE


class TutorialNet(nn.Module):
    """The tutorial's Net: flatten, linear, softmax (outputs probabilities)."""

    def __init__(self, seed: int = 0, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fla = nn.Flatten()
        self.fc = nn.Linear(112 * 92, 40)
        with torch.no_grad():
            self.fc.weight.mul_(scale)

    def forward(self, x):
        return torch.softmax(self.fc(self.fla(x)), dim=1)


class Bump(nn.Module):
    """Two 'probabilities' whose first peaks at x = 0.5 everywhere: exp(-8 mean((x - 0.5)^2))."""

    def forward(self, x):
        p = torch.exp(-8 * ((x - 0.5) ** 2).flatten(1).mean(1))
        return torch.stack([p, 1 - p], dim=1)


def fresh_gradient_loop(model, label, lam, steps, process=lambda x: x):
    """Oracle: the tutorial's loop with x.grad zeroed every step; returns all iterates and costs."""
    x = torch.zeros(1, 1, 112, 92)
    iterates, costs = [], []
    for _ in range(steps + 1):
        x = x.detach().requires_grad_(True)
        cost = 1 - model(x)[0, label]
        iterates.append(x.detach().clone())
        costs.append(float(cost.detach()))
        cost.backward()
        with torch.no_grad():
            x = process(x - lam * x.grad)
    return iterates, costs


def test_tutorial_call_pattern(capsys):
    net = TutorialNet()
    mi = MI_FACE(net, (1, 1, 112, 92), target_label=11, num_itr=100, lam=0.03, log_interval=0)
    x_result, log = mi.attack()
    image = x_result[0][0].detach().numpy()
    assert image.shape == (112, 92) and np.isfinite(image).all()
    assert len(log) == 101 and all(isinstance(c, float) for c in log)
    assert capsys.readouterr().out == ""


def test_matches_fresh_gradient_loop_and_returns_lowest_cost():
    """A drift Process walks x past the confidence peak at 0.5: the cost falls, then rises. The best
    iterate (step 5), not the last, comes back."""
    def drift(x):
        return x + 0.1

    iterates, costs = fresh_gradient_loop(Bump(), 0, 0.01, 12, drift)
    best = int(np.argmin(costs))
    assert best == 5 and costs[-1] > costs[best] + 0.5
    x_result, log = MI_FACE(Bump(), (1, 1, 112, 92), target_label=0, num_itr=12, lam=0.01,
                            process_func=drift, log_interval=0).attack()
    np.testing.assert_allclose(log, costs, atol=1e-6)
    torch.testing.assert_close(x_result, iterates[best], atol=1e-6, rtol=0)


def test_gradients_do_not_accumulate():
    """AIJack's loop never zeroes x.grad, so its step i follows the sum of gradients 0..i. Ours follows
    the fresh gradient, matching the zeroing oracle, and leaves the model's parameter gradients alone."""
    net = TutorialNet(seed=2, scale=20.0)
    x_result, log = MI_FACE(net, (1, 1, 112, 92), target_label=0, num_itr=3, lam=5.0, log_interval=0).attack()
    assert all(p.grad is None for p in net.parameters())
    iterates, costs = fresh_gradient_loop(net, 0, 5.0, 3)
    np.testing.assert_allclose(log, costs, atol=1e-6)
    torch.testing.assert_close(x_result, iterates[int(np.argmin(costs))], atol=1e-6, rtol=0)

    x = torch.zeros(1, 1, 112, 92, requires_grad=True)  # AIJack's accumulating loop
    for _ in range(3):
        (1 - net(x)[0, 0]).backward()
        with torch.no_grad():
            x -= 5.0 * x.grad
    assert float((x.detach() - iterates[3]).abs().max()) > 1e-3


def test_logits_model_with_apply_softmax_equals_probability_model():
    prob_net = TutorialNet(seed=3)
    logit_net = nn.Sequential(prob_net.fla, prob_net.fc)
    a, _ = MI_FACE(prob_net, (1, 1, 112, 92), target_label=5, num_itr=10, lam=0.5, log_interval=0).attack()
    b, _ = MI_FACE(logit_net, (1, 1, 112, 92), target_label=5, num_itr=10, lam=0.5, apply_softmax=True,
                   log_interval=0).attack()
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_auxterm_process_init_and_logging(capsys):
    net = TutorialNet(seed=4)
    calls = []

    def process(x):
        calls.append(1)
        return x.clamp(-0.01, 0.01)

    init = torch.full((1, 1, 112, 92), 0.005)
    x_result, log = MI_FACE(net, (1, 1, 112, 92), target_label=1, num_itr=12, lam=1.0,
                            auxterm_func=lambda x: 0.25, process_func=process, log_interval=5).attack(init)
    assert len(calls) == 12
    assert float(x_result.abs().max()) <= 0.01
    with torch.no_grad():
        assert log[0] == pytest.approx(1 - float(net(init)[0, 1]) + 0.25, abs=1e-6)
    printed = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in printed] == ["epoch 0", "epoch 5", "epoch 10"]


def test_round_decimal_is_refused():
    with pytest.raises(ValueError, match="round_decimal"):
        MI_FACE(TutorialNet(), (1, 1, 112, 92), round_decimal=3)
