"""The built-in `cnn` target (SmallCNN): its shapes, its centre-surround front end against a closed form, its
per-example gradients through dpmi's DP-SGD engine against a naive one-example-at-a-time loop on the real
faces, gradients reaching the input (what MI-FACE needs), and seeded determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dpmi.models import build_model
from dpmi.models.small_cnn import CentreSurround, SmallCNN
from dpmi.privacy.dpsgd import GradientCapture
from dpmi.privacy.dpsgd.layer_gradients import uses_functorch


def _with_random_head(model: SmallCNN, seed: int) -> SmallCNN:
    """The head starts at zero, so no gradient reaches the convolution or the input: give it weights first."""
    generator = torch.Generator().manual_seed(seed)
    head = model.classifier[1]
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.1)
        head.bias.copy_(torch.randn(head.bias.shape, generator=generator) * 0.1)
    return model


def test_logits_shape_and_uniform_start_for_the_datas_shape(faces_split):
    train, _ = faces_split
    x, _ = train.to_tensors()
    model = SmallCNN(input_shape=train.input_shape, num_classes=train.num_classes)
    logits = model(x[:5])
    assert logits.shape == (5, train.num_classes)
    # Zero-initialised head: the untrained model is indifferent between the people.
    torch.testing.assert_close(logits, torch.zeros_like(logits))
    colour = SmallCNN(input_shape=(3, 40, 36), num_classes=7)
    assert colour(torch.rand(2, 3, 40, 36) * 2 - 1).shape == (2, 7)
    plain = SmallCNN(input_shape=train.input_shape, num_classes=train.num_classes, surround=0)  # no high-pass
    torch.testing.assert_close(plain.features[:2](x[:2]), F.avg_pool2d(x[:2], 4))


def test_too_small_images_are_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"images of shape \(1, 15, 30\).*at least 16 pixels a side"):
        SmallCNN(input_shape=(1, 15, 30), num_classes=3)
    SmallCNN(input_shape=(1, 16, 16), num_classes=3)  # the smallest allowed


def test_centre_surround_matches_a_loop_and_kills_constants():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 7, 6, generator=generator, dtype=torch.float64)
    got = CentreSurround(5)(x)
    want = torch.empty_like(x)
    for i in range(7):
        for j in range(6):  # mean over the in-image part of the 5x5 window
            window = x[:, :, max(0, i - 2) : i + 3, max(0, j - 2) : j + 3]
            want[:, :, i, j] = x[:, :, i, j] - window.mean(dim=(2, 3))
    torch.testing.assert_close(got, want)
    constant = torch.full((1, 1, 9, 8), 0.37, dtype=torch.float64)
    torch.testing.assert_close(CentreSurround(5)(constant), torch.zeros_like(constant))
    for bad in (4, 1):
        with pytest.raises(ValueError, match="odd number of pixels >= 3"):
            CentreSurround(bad)


def test_every_weighted_layer_has_a_closed_form_per_example_rule():
    model = SmallCNN()
    weighted = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    assert [type(m).__name__ for m in weighted] == ["Conv2d", "Linear"]
    assert not any(uses_functorch(m) for m in weighted)


def test_per_example_norms_and_clipped_sum_match_a_naive_loop_on_faces(faces_split):
    train, _ = faces_split
    x, y = train.to_tensors()
    index = torch.arange(0, len(train), len(train) // 8)[:8]  # 8 faces of 8 different people
    xb, yb = x[index].double(), y[index]
    model = _with_random_head(SmallCNN(train.input_shape, train.num_classes), seed=1).double()
    params = [p for p in model.parameters()]

    naive_norms, naive_grads = [], []
    for i in range(len(xb)):
        grads = torch.autograd.grad(F.cross_entropy(model(xb[i : i + 1]), yb[i : i + 1]), params)
        naive_norms.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        naive_grads.append(grads)
    naive_norms_t = torch.stack(naive_norms)
    clip = float(naive_norms_t.median())  # some examples clipped, some not
    want = [sum(g[k] * min(1.0, clip / float(n)) for g, n in zip(naive_grads, naive_norms)) for k in range(len(params))]

    capture = GradientCapture(model)
    result = capture.clipped_gradient_sum(F.cross_entropy(model(xb), yb, reduction="none"), clip)
    capture.remove()
    torch.testing.assert_close(result.norms.double(), naive_norms_t, rtol=1e-6, atol=1e-9)
    assert (result.factors < 1).any() and (result.factors == 1).any()
    for got, expected in zip(result.grads, want):
        scale = float(expected.abs().max())
        assert scale > 0  # the convolution gets a gradient too
        torch.testing.assert_close(got.double() / scale, expected / scale, rtol=1e-6, atol=1e-6)


def test_gradient_reaches_every_input_pixel(faces_split):
    train, _ = faces_split
    x, _ = train.to_tensors()
    model = _with_random_head(SmallCNN(train.input_shape, train.num_classes), seed=2)
    image = x[:1].clone().requires_grad_(True)
    model(image)[0, 3].backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()
    # Each pixel belongs to one pooling block: a block whose gradient is zero would be a blind spot.
    blocks = F.avg_pool2d(image.grad.abs(), 4)
    assert (blocks > 0).float().mean() > 0.99


def test_same_seed_same_weights_and_another_seed_other_weights():
    a = build_model("cnn", num_classes=20, input_shape=(1, 56, 46), seed=5)
    b = build_model("cnn", num_classes=20, input_shape=(1, 56, 46), seed=5)
    c = build_model("cnn", num_classes=20, input_shape=(1, 56, 46), seed=6)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.state_dict()["features.2.weight"], c.state_dict()["features.2.weight"])
    x = torch.rand(3, 1, 56, 46) * 2 - 1
    torch.testing.assert_close(a.features(x), b.features(x), rtol=0, atol=0)
