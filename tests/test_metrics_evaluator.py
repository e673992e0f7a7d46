"""The evaluation classifier's pieces: augmentation does what it says, training is seeded, saving
round-trips, its inputs are contrast-normalised (so a reconstruction's scale cannot matter), and its shape
comes from the data (any size, 1 or 3 channels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.metrics import (
    Evaluator,
    EvaluatorNet,
    augment_similarity,
    contrast_normalize,
    train_evaluator,
)
from dpmi.metrics.evaluator import random_blur


def shift_with_edges(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Content moves by (dx, dy) pixels; uncovered pixels repeat the edge (the oracle)."""
    h, w = image.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[np.ix_(rows, cols)]


def test_without_zoom_or_rotation_augmentation_is_an_edge_padded_integer_shift_maybe_flipped():
    x = torch.arange(2 * 9 * 7, dtype=torch.float32).reshape(2, 1, 9, 7)
    out = augment_similarity(x, 2, 0.0, 0.0, generator=torch.Generator().manual_seed(3))
    for image, augmented in zip(x[:, 0].numpy(), out[:, 0].numpy()):
        candidates = [
            variant
            for dx in range(-2, 3) for dy in range(-2, 3)
            for variant in (shift_with_edges(image, dx, dy), shift_with_edges(image, dx, dy)[:, ::-1])
        ]
        # Bilinear sampling at whole-pixel offsets lands on pixel centres: exact up to float round-off.
        assert any(np.allclose(augmented, c, atol=1e-4) for c in candidates)
    again = augment_similarity(x, 2, 0.0, 0.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, again)


def test_augmentation_without_shift_only_flips():
    x = torch.randn(16, 1, 5, 4, generator=torch.Generator().manual_seed(0))
    out = augment_similarity(x, 0, 0.0, 0.0, generator=torch.Generator().manual_seed(1))
    flipped = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_zoom_and_rotation_keep_the_image_and_its_brightness_roughly():
    # A smooth image rotated by <= 10 degrees and zoomed by <= 10 % stays close to itself (not noise).
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 40), torch.linspace(-1, 1, 32), indexing="ij")
    x = torch.exp(-(xx**2 + yy**2) * 2)[None, None].repeat(8, 1, 1, 1)
    out = augment_similarity(x, 0, 0.1, 10.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(out, x, atol=1e-3)
    assert (out - x).abs().max() < 0.25


def test_random_blur_is_scipys_gaussian_filter_per_image():
    from scipy.ndimage import gaussian_filter

    x = torch.randn(6, 2, 20, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = random_blur(x, 3.0, 1.0, torch.Generator().manual_seed(4))
    sigmas = torch.rand(6, generator=torch.Generator().manual_seed(4)).double() * 3.0  # the same draws
    for image, blurred, sigma in zip(x.numpy(), out.numpy(), sigmas.tolist()):
        for plane, got in zip(image, blurred):
            # Edges repeated ("nearest"), kernel cut at ceil(3 * max_sigma) = 9 pixels as in random_blur.
            expected = gaussian_filter(plane, sigma, mode="nearest", truncate=9 / sigma)
            np.testing.assert_allclose(got, expected, atol=1e-12)
    assert torch.equal(random_blur(x, 3.0, 0.0, torch.Generator()), x)


def test_contrast_normalisation_makes_the_network_scale_free():
    net = EvaluatorNet(6, (1, 56, 46)).eval()
    x = torch.randn(3, 1, 56, 46, generator=torch.Generator().manual_seed(0))
    z = contrast_normalize(x)
    torch.testing.assert_close(z.flatten(1).mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.flatten(1).std(1, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(5.0 * x - 0.3), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("input_shape", [(1, 24, 24), (3, 24, 30), (1, 112, 92), (3, 64, 48), (1, 16, 60)])
def test_network_takes_its_shape_from_the_data(input_shape):
    net = EvaluatorNet(7, input_shape).eval()
    with torch.no_grad():
        assert net(torch.randn(2, *input_shape)).shape == (2, 7)
        assert net.embed(torch.randn(2, *input_shape)).shape == (2, 128)
    with pytest.raises(ValueError, match="pixels"):
        EvaluatorNet(7, (1, 12, 40))


@pytest.fixture(scope="module")
def short_evaluator(synthetic_faces):
    train_set, _ = synthetic_faces.split(4, seed=0)
    return train_evaluator(train_set, seed=1, epochs=2)


def test_training_is_seeded(synthetic_faces, short_evaluator):
    train_set, _ = synthetic_faces.split(4, seed=0)
    again = train_evaluator(train_set, seed=1, epochs=2)
    for a, b in zip(short_evaluator.net.state_dict().values(), again.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_colour_faces_train_and_predict():
    from dpmi.data import make_synthetic_faces

    colour = make_synthetic_faces(num_identities=4, per_identity=3, image_shape=(24, 20), channels=3, seed=1)
    evaluator = train_evaluator(colour, seed=0, epochs=1)
    x, _ = colour.to_tensors()
    assert evaluator.logits(x).shape == (12, 4)


def test_save_and_load_round_trip(tmp_path, synthetic_faces, short_evaluator):
    _, test_set = synthetic_faces.split(4, seed=0)
    path = short_evaluator.save(tmp_path / "cache" / "evaluator.pt")
    assert not list(path.parent.glob(".*.tmp"))
    loaded = Evaluator.load(path)
    x, _ = test_set.to_tensors()
    torch.testing.assert_close(loaded.logits(x[:10]), short_evaluator.logits(x[:10]))
    torch.testing.assert_close(loaded.embed(x[:10]), short_evaluator.embed(x[:10]))
    assert loaded.train_accuracy == short_evaluator.train_accuracy
    with pytest.raises(FileNotFoundError, match="train_evaluator"):
        Evaluator.load(tmp_path / "missing.pt")


def test_topk_hits_agree_with_predict(synthetic_faces, short_evaluator):
    _, test_set = synthetic_faces.split(4, seed=0)
    x, y = test_set.to_tensors()
    predicted = short_evaluator.predict(x)
    np.testing.assert_array_equal(short_evaluator.topk_hits(x, y, k=1), predicted == y.numpy())
    assert short_evaluator.topk_hits(x, y, k=synthetic_faces.num_classes).all()


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"lr": 0.0}, {"width": 2}, {"max_shift": -1},
                                    {"max_scale": 1.0}, {"dropout": 1.0}, {"colour": True}])
def test_invalid_arguments(synthetic_faces, kwargs):
    with pytest.raises(ValueError):
        train_evaluator(synthetic_faces, **kwargs)
