"""MI-FACE (Fredrikson et al. 2015, Alg. 1), batched: checked against a naive one-label-at-a-time loop
written here from the algorithm, against closed forms for softmax regression, and against the stopping
rules read off the returned cost history."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dpmi.attacks import MIFace, TotalVariation, outputs_probabilities

SHAPE = (1, 6, 5)


def tiny_linear(classes: int = 4, seed: int = 0, scale: float = 1.0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), classes))
    with torch.no_grad():
        model[1].weight.mul_(scale)
    return model


def tiny_mlp(classes: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), 16), nn.Tanh(), nn.Linear(16, classes))


def naive_alg1(model, label, *, alpha, beta, gamma, lam, clamp, aux=None, start=None):
    """Algorithm 1 for one label, float64, one Python step at a time (the oracle)."""
    x = torch.zeros((1, *SHAPE), dtype=torch.float64) if start is None else start.clone().double()
    model = model.double()
    costs, iterates = [], []
    for i in range(alpha + 1):
        x = x.detach().requires_grad_(True)
        p = model(x).softmax(dim=1)[0, label]
        c = 1 - p + (aux(x)[0] if aux is not None else 0)
        c.backward()
        costs.append(float(c.detach()))
        iterates.append(x.detach().clone())
        if i >= 1 and gamma is not None and costs[i] <= gamma:
            break
        if beta is not None and i >= beta and costs[i] >= max(costs[i - beta : i]):
            break
        if i == alpha:
            break
        x = x.detach() - lam * x.grad
        if clamp is not None:
            x = x.clamp(*clamp)
    model.float()
    best = int(np.argmin(costs))
    return iterates[best], costs[best], len(costs) - 1, costs


CASES = {
    # name: (model, labels, beta, gamma, lambda, clamp)
    "fixed-steps": (lambda: tiny_mlp(classes=5, seed=1), [0, 1, 2, 3, 4, 2], None, None, 2.0, (-1, 1)),
    "threshold": (lambda: tiny_mlp(classes=5, seed=1), [0, 1, 2, 3, 4, 2], None, 0.4, 20.0, None),
    "both": (lambda: tiny_mlp(classes=5, seed=1), [0, 1, 2, 3, 4], 5, 0.4, 50.0, None),
    "patience": (lambda: tiny_linear(classes=2, seed=1), [0, 1, 1], 4, None, 1000.0, (-0.3, 0.3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_batched_matches_one_label_at_a_time(case):
    make_model, labels, beta, gamma, lam, clamp = CASES[case]
    model = make_model()
    attack = MIFace(model, max_iter=60, patience=beta, threshold=gamma, step_size=lam, clamp=clamp,
                    input_shape=SHAPE, apply_softmax=True)
    result = attack.invert(labels)
    assert result.images.shape == (len(labels), *SHAPE)
    for row, label in enumerate(labels):
        image, cost, steps, costs = naive_alg1(model, label, alpha=60, beta=beta, gamma=gamma, lam=lam,
                                               clamp=clamp)
        assert result.iterations[row] == steps
        np.testing.assert_allclose(result.history(row), costs, rtol=0, atol=2e-5)
        np.testing.assert_allclose(result.best_cost[row], cost, atol=2e-5)
        torch.testing.assert_close(result.images[row].double(), image[0], atol=2e-4, rtol=0)


def test_rows_stop_at_different_times_for_their_own_reasons():
    model = tiny_mlp(classes=5, seed=1)
    result = MIFace(model, max_iter=60, threshold=0.4, step_size=50.0, clamp=None, input_shape=SHAPE,
                    apply_softmax=True).invert([0, 1, 2, 3, 4])
    assert len(set(result.iterations.tolist())) > 1
    for row in range(5):
        history = result.history(row)
        if result.stop_reason[row] == "threshold":
            assert history[-1] <= 0.4 and (history[1:-1] > 0.4).all()
        else:
            assert result.stop_reason[row] == "max_iter" and result.iterations[row] == 60
            assert (history[1:] > 0.4).all()
    assert np.isnan(result.cost_history[result.iterations < 60, -1]).all()


def test_patience_fires_one_window_after_a_plateau():
    """A huge step puts a 2-class linear model's input in the clamp box's corner at step 1, where the cost
    stays put; the window rule c(x_i) >= max(c(x_{i-beta}), ..., c(x_{i-1})) first holds at i = beta + 1."""
    for beta in (1, 3, 7):
        result = MIFace(tiny_linear(classes=2, seed=1), max_iter=50, patience=beta, step_size=1000.0,
                        clamp=(-0.3, 0.3), input_shape=SHAPE).invert([0, 1])
        assert result.iterations.tolist() == [beta + 1, beta + 1]
        assert result.stop_reason.tolist() == ["patience", "patience"]
        np.testing.assert_allclose(result.best_cost, result.cost_history[:, 1])


def test_one_step_matches_softmax_regression_closed_form():
    """From x0 = 0, the gradient of 1 - softmax(Wx + b)_c is -p_c (w_c - sum_j p_j w_j) with p = softmax(b)."""
    model = tiny_linear(classes=4, seed=3)
    w = model[1].weight.detach().double().numpy()
    b = model[1].bias.detach().double().numpy()
    p = np.exp(b - b.max()) / np.exp(b - b.max()).sum()
    lam = 0.5
    for label in range(4):
        x1 = lam * p[label] * (w[label] - p @ w)
        logits = w @ x1 + b
        c1 = 1 - np.exp(logits[label] - logits.max()) / np.exp(logits - logits.max()).sum()
        result = MIFace(model, max_iter=1, step_size=lam, clamp=None, input_shape=SHAPE).invert([label])
        np.testing.assert_allclose(result.cost_history[0], [1 - p[label], c1], atol=1e-6)
        np.testing.assert_allclose(result.images[0].reshape(-1).numpy(), x1, atol=1e-6)


def test_returns_argmin_not_last_iterate():
    """A huge step overshoots (cost rises); the best iterate, not the last, comes back."""
    model = tiny_mlp(classes=3, seed=2)
    result = MIFace(model, max_iter=30, step_size=50.0, clamp=None, input_shape=SHAPE,
                    apply_softmax=True).invert([0, 1, 2])
    for row in range(3):
        history = result.history(row)
        assert result.best_cost[row] == pytest.approx(history.min(), abs=1e-7)
        with torch.no_grad():
            recomputed = 1 - model(result.images[row : row + 1]).softmax(1)[0, row]
        assert float(recomputed) == pytest.approx(result.best_cost[row], abs=1e-5)


def test_no_gradient_accumulation_and_repeatable():
    model = tiny_mlp(seed=4)
    attack = MIFace(model, max_iter=20, step_size=1.0, input_shape=SHAPE, apply_softmax=True)
    first = attack.invert([0, 1, 2, 3])
    second = attack.invert([0, 1, 2, 3])
    torch.testing.assert_close(first.images, second.images, rtol=0, atol=0)
    assert all(p.grad is None for p in model.parameters())


def test_model_mode_is_restored_and_eval_used():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(30, 3))
    model.train()
    attack = MIFace(model, max_iter=5, input_shape=SHAPE)
    a, b = attack.invert([0, 1]), attack.invert([0, 1])
    torch.testing.assert_close(a.images, b.images)  # dropout off during the attack
    assert model.training


def test_probability_model_equals_logit_model_with_softmax():
    logits = tiny_mlp(seed=5)
    probabilities = nn.Sequential(logits, nn.Softmax(dim=1))
    auto_prob = MIFace(probabilities, max_iter=15, step_size=1.0, input_shape=SHAPE).invert([0, 1, 2, 3])
    auto_logit = MIFace(logits, max_iter=15, step_size=1.0, input_shape=SHAPE).invert([0, 1, 2, 3])
    torch.testing.assert_close(auto_prob.images, auto_logit.images, atol=1e-6, rtol=0)
    wrong = MIFace(logits, max_iter=15, step_size=1.0, input_shape=SHAPE, apply_softmax=False).invert([0])
    assert not np.allclose(wrong.cost_history[0, :2], auto_logit.cost_history[0, :2])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 50), st.floats(-30, 30), st.integers(0, 2**31 - 1))
def test_probability_detection(classes, shift, seed):
    logits = torch.randn(3, classes, generator=torch.Generator().manual_seed(seed)) * 5 + shift
    assert outputs_probabilities(logits.softmax(dim=1))
    # Logits are never read as probabilities unless they happen to be in [0, 1] and sum to 1.
    spread = torch.cat([logits, logits[:, :1] + 2.0], dim=1)
    assert not outputs_probabilities(spread)


def test_clamp_and_init():
    model = tiny_linear(scale=50.0)
    start = torch.full(SHAPE, 0.25)
    result = MIFace(model, max_iter=10, step_size=5.0, clamp=(-0.5, 0.5), input_shape=SHAPE).invert(
        [0, 1], init=start)
    assert float(result.images.min()) >= -0.5 and float(result.images.max()) <= 0.5
    zero_steps = MIFace(model, max_iter=0, input_shape=SHAPE).invert([2], init=start)
    torch.testing.assert_close(zero_steps.images[0], start)


def test_total_variation_closed_form_and_gradient_flow():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 3.0]]]])
    # vertical |1-0|,|3-1| mean 1.5; horizontal |1-0|,|3-1| mean 1.5
    assert float(TotalVariation(2.0)(x)[0]) == pytest.approx(2.0 * (1.5 + 1.5))
    smooth = MIFace(tiny_linear(scale=5.0), max_iter=40, step_size=0.5, aux_term=TotalVariation(1.0),
                    input_shape=SHAPE).invert([0])
    rough = MIFace(tiny_linear(scale=5.0), max_iter=40, step_size=0.5, input_shape=SHAPE).invert([0])
    assert float(TotalVariation(1.0)(smooth.images)[0]) < float(TotalVariation(1.0)(rough.images)[0])


def test_process_is_applied_each_step():
    calls = []

    def halve(x):
        calls.append(x.shape[0])
        return x * 0.5

    MIFace(tiny_linear(), max_iter=7, input_shape=SHAPE, process=halve).invert([0, 1, 2])
    assert calls == [3] * 7
    calls.clear()
    MIFace(tiny_linear(), max_iter=7, input_shape=SHAPE, process=halve, process_every=3).invert([0])
    assert calls == [1, 1]  # after steps 3 and 6


@pytest.mark.parametrize("kwargs", [dict(max_iter=-1), dict(patience=0), dict(step_size=0.0),
                                    dict(clamp=(1.0, -1.0)), dict(threshold=float("nan")),
                                    dict(process_every=0)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        MIFace(tiny_linear(), input_shape=SHAPE, **kwargs)


def test_invalid_labels():
    attack = MIFace(tiny_linear(classes=4), input_shape=SHAPE)
    with pytest.raises(ValueError, match="labels must be in 0..3"):
        attack.invert([4])
    with pytest.raises(ValueError, match="empty"):
        attack.invert([])


def test_paper_preset_reads_gamma_as_confidence():
    attack = MIFace.paper(tiny_linear())
    assert (attack.max_iter, attack.patience, attack.threshold, attack.step_size) == (5000, 100, 0.01, 0.1)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.one_of(st.none(), st.integers(1, 6)),
       gamma=st.one_of(st.none(), st.floats(0.2, 0.7)), lam=st.floats(0.5, 60.0))
def test_batched_equals_sequential_for_random_models_and_rules(seed, beta, gamma, lam):
    model = tiny_mlp(classes=4, seed=seed)
    labels = [0, 1, 2, 3]
    result = MIFace(model, max_iter=25, patience=beta, threshold=gamma, step_size=lam, clamp=(-2, 2),
                    input_shape=SHAPE, apply_softmax=True).invert(labels)
    for row, label in enumerate(labels):
        _, cost, steps, costs = naive_alg1(model, label, alpha=25, beta=beta, gamma=gamma, lam=lam,
                                           clamp=(-2, 2))
        assert result.iterations[row] == steps
        np.testing.assert_allclose(result.history(row), costs, atol=1e-4)
        assert result.best_cost[row] == pytest.approx(cost, abs=1e-4)
