"""Per-example norms and clipped sums of the fast engine against a naive loop (one example at a time:
gradient, L2 norm over all parameters, clip to C, sum), on the real faces for the target models and on
random inputs for every other layer rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dpmi.models import build_model
from dpmi.privacy.dpsgd import GradientCapture, make_private


class RecordingAccountant:
    """Counts steps (sigma 0 is never sent to it, so any recorded step is a real noisy one)."""

    def __init__(self) -> None:
        self.history = []

    def step(self, noise_multiplier, sample_rate, num_steps=1):
        self.history.append((noise_multiplier, sample_rate, num_steps))

    def get_epsilon(self, delta):
        return float("nan")


def naive_clipped_sum(model, loss_fn, inputs, targets, max_grad_norm):
    """Oracle: per example, autograd on that example alone, clip, accumulate."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    norms = []
    for i in range(inputs.shape[0]):
        grads = torch.autograd.grad(loss_fn(model(inputs[i : i + 1]), targets[i : i + 1]).sum(), params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        norm = torch.sqrt(sum(g.double().pow(2).sum() for g in grads))
        norms.append(norm)
        factor = min(1.0, max_grad_norm / (float(norm) + 1e-6))
        for acc, g in zip(total, grads):
            acc.add_(g.double() * factor)
    return total, torch.stack(norms)


def ce(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


def assert_matches_naive(model, loss_fn, inputs, targets, max_grad_norm, rtol=1e-5):
    capture = GradientCapture(model)
    result = capture.clipped_gradient_sum(loss_fn(model(inputs), targets), max_grad_norm)
    capture.remove()
    expected_sum, expected_norms = naive_clipped_sum(model, loss_fn, inputs, targets, max_grad_norm)
    torch.testing.assert_close(result.norms.double(), expected_norms, rtol=rtol, atol=1e-7)
    for got, want in zip(result.grads, expected_sum):
        scale = float(want.abs().max()) + 1e-12
        torch.testing.assert_close(got.double() / scale, want / scale, rtol=rtol, atol=rtol)
    return result


@pytest.mark.parametrize("name", ["softmax", "mlp", "cnn"])
def test_norms_and_clipped_sum_match_naive_loop_on_faces(name, faces_split):
    train, _ = faces_split
    x, y = train.to_tensors()
    index = torch.arange(0, 280, 35)  # 8 faces of 8 different people
    model = build_model(name, seed=0)
    # C = median norm, so some examples are clipped and some are not
    capture = GradientCapture(model)
    norms = capture.clipped_gradient_sum(ce(model(x[index]), y[index]), 1.0).norms
    capture.remove()
    result = assert_matches_naive(model, ce, x[index], y[index], float(norms.median()))
    assert (result.factors < 1).any() and (result.factors == 1).any()


@pytest.mark.parametrize("name", ["softmax", "mlp", "cnn"])
def test_one_step_with_zero_noise_equals_naive_update(name, faces_split):
    """sigma = 0, SGD lr 1 without momentum: theta' - theta = -(sum_i clip(g_i)) / (q N). In float64,
    so the difference of parameters measures the update, not float32 rounding of the parameters."""
    train, _ = faces_split
    x, y = train.to_tensors()
    x = x.double()
    model = build_model(name, seed=1).double()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    private = make_private(
        model, optimizer, (x, y), noise_multiplier=0.0, max_grad_norm=0.5, expected_batch_size=8,
        steps=1, accountant=RecordingAccountant(), seed=3,
    )
    xb, yb = next(private.batches())
    expected_sum, _ = naive_clipped_sum(model, ce, xb, yb, 0.5)
    private.step(ce(model(xb), yb))
    for p, p0, s in zip(model.parameters(), before, expected_sum):
        update = (p.detach() - p0).double()
        want = -s / 8.0
        scale = float(want.abs().max()) or 1.0  # a zero-initialised head leaves the layers below it a zero update
        torch.testing.assert_close(update / scale, want / scale, rtol=1e-5, atol=1e-5)


def test_other_layer_rules_match_naive_loop():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(3, 4, kernel_size=3, padding=1),
        nn.GroupNorm(2, 4),
        nn.PReLU(4),  # no fast rule: torch.func fallback
        nn.Flatten(),
        nn.LayerNorm(4 * 10),
        nn.Linear(40, 5),
    )
    x = torch.randn(6, 3, 10)
    y = torch.randint(0, 5, (6,))
    assert_matches_naive(model, ce, x, y, max_grad_norm=0.3)


def test_conv2d_ghost_norm_grouped_conv_and_conv3d_match_naive_loop():
    torch.manual_seed(0)
    # 64*64*3*3 kernel weights > (4*4)^2 positions: the Gram-matrix ghost norm path
    ghost = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.Flatten(), nn.Linear(64 * 16, 3))
    assert_matches_naive(ghost, ce, torch.randn(5, 64, 4, 4), torch.randint(0, 3, (5,)), max_grad_norm=0.5)
    grouped = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, groups=2, dilation=1, padding=1), nn.Flatten(), nn.Linear(8 * 9, 3))
    assert_matches_naive(grouped, ce, torch.randn(5, 4, 6, 6), torch.randint(0, 3, (5,)), max_grad_norm=0.5)
    cube = nn.Sequential(nn.Conv3d(2, 3, 2, stride=(1, 2, 1), dilation=(2, 1, 1)), nn.Flatten(), nn.LazyLinear(3))
    cube(torch.randn(1, 2, 5, 6, 4))
    assert_matches_naive(cube, ce, torch.randn(4, 2, 5, 6, 4), torch.randint(0, 3, (4,)), max_grad_norm=0.5)


class TokenClassifier(nn.Module):
    def __init__(self, vocab: int, dim: int, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.mix = nn.Linear(dim, width)
        self.head = nn.Linear(width, 3)

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.embed(tokens))).mean(dim=1))


@pytest.mark.parametrize("width", [2, 300])  # sequence Linear: Gram path (T^2 < in*out) and materialised path
def test_embedding_and_sequence_linear_match_naive_loop(width):
    torch.manual_seed(0)
    model = TokenClassifier(vocab=7, dim=6, width=width)
    tokens = torch.randint(0, 7, (5, 9))  # repeated tokens and padding index 0 both occur
    assert_matches_naive(model, ce, tokens, torch.randint(0, 3, (5,)), max_grad_norm=0.2)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    features=st.integers(1, 12),
    classes=st.integers(2, 5),
    clip=st.floats(1e-3, 10.0),
    scale=st.floats(1e-2, 1e2),
)
def test_linear_ghost_norm_property(n, features, classes, clip, scale):
    """||d_i a_i^T||^2 + ||d_i||^2 = per-example gradient norm^2, and every clipped contribution has
    norm <= C, for any batch size, width, clip and input scale."""
    generator = torch.Generator().manual_seed(n * 1000 + features)
    model = nn.Linear(features, classes).double()
    x = torch.randn(n, features, generator=generator, dtype=torch.float64) * scale
    y = torch.randint(0, classes, (n,), generator=generator)
    capture = GradientCapture(model)
    result = capture.clipped_gradient_sum(ce(model(x), y), clip)
    capture.remove()
    _, naive_norms = naive_clipped_sum(model, ce, x, y, clip)
    torch.testing.assert_close(result.norms, naive_norms, rtol=1e-9, atol=1e-12)
    assert torch.all(result.factors * result.norms <= clip * (1 + 1e-9))


def test_batch_norm_is_rejected_with_advice():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ValueError, match="GroupNorm"):
        GradientCapture(model)


def test_weight_sharing_is_refused():
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    capture = GradientCapture(model)
    with pytest.raises(ValueError, match="ran 2 times"):
        capture.clipped_gradient_sum(model(torch.randn(3, 4)).sum(dim=1), 1.0)


def test_empty_or_reduced_loss_is_refused():
    model = nn.Linear(3, 2)
    capture = GradientCapture(model)
    with pytest.raises(ValueError, match="reduction='none'"):
        capture.clipped_gradient_sum(model(torch.randn(4, 3)).sum(), 1.0)


@pytest.mark.parametrize("zero_gamma", [False, True])
def test_group_norm_with_inplace_activation_or_zero_scale_matches_naive_loop(zero_gamma):
    """GroupNorm's rule reads its output when it is unmodified and gamma has no zero; an in-place ReLU
    after it, or a zero gamma, must send it back to the input."""
    torch.manual_seed(0)
    norm = nn.GroupNorm(2, 4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 0.0 if zero_gamma else 2.0, -1.0, 1.5]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    for inplace in (False, True):
        model = nn.Sequential(nn.Conv2d(2, 4, 3), norm, nn.ReLU(inplace=inplace), nn.Flatten(), nn.Linear(4 * 16, 3))
        assert_matches_naive(model, ce, torch.randn(5, 2, 6, 6), torch.randint(0, 3, (5,)), max_grad_norm=0.5)


def test_step_without_a_recorded_forward_is_refused():
    model = nn.Linear(3, 2)
    capture = GradientCapture(model)
    x = torch.randn(4, 3)
    with torch.no_grad():
        model(x)
    with pytest.raises(ValueError, match="no forward pass"):
        capture.clipped_gradient_sum(torch.zeros(4, requires_grad=True), 1.0)


def test_conv_per_example_grads_in_chunks_match_naive_loop(monkeypatch):
    """Large batches fold a few examples per backward call; 5 examples in chunks of 2 (a partial last one)."""
    import dpmi.privacy.dpsgd.layer_gradients as layer_gradients

    monkeypatch.setattr(layer_gradients, "CONV_CHUNK_ELEMENTS", 2 * 3 * 7 * 7)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3))
    assert_matches_naive(model, ce, torch.randn(5, 3, 7, 7), torch.randint(0, 3, (5,)), max_grad_norm=0.5)
