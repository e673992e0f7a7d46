"""The evaluation classifier's pieces: augmentation does what it says, training is seeded, saving
round-trips, and its inputs are contrast-normalised (so a reconstruction's scale cannot matter)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.metrics import Evaluator, EvaluatorNet, contrast_normalize, train_evaluator
from dpmi.metrics.evaluator import augment


def shift_with_edges(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Content moves by (dx, dy) pixels; uncovered pixels repeat the edge (the oracle)."""
    h, w = image.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[np.ix_(rows, cols)]


def test_augment_is_an_edge_padded_integer_shift_maybe_flipped():
    x = torch.arange(2 * 9 * 7, dtype=torch.float32).reshape(2, 1, 9, 7)
    out = augment(x, max_shift=2, generator=torch.Generator().manual_seed(3))
    for image, augmented in zip(x[:, 0].numpy(), out[:, 0].numpy()):
        candidates = [
            variant
            for dx in range(-2, 3) for dy in range(-2, 3)
            for variant in (shift_with_edges(image, dx, dy), shift_with_edges(image, dx, dy)[:, ::-1])
        ]
        assert any(np.array_equal(augmented, c) for c in candidates)
    again = augment(x, max_shift=2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, again)


def test_augment_without_shift_only_flips():
    x = torch.randn(16, 1, 5, 4, generator=torch.Generator().manual_seed(0))
    out = augment(x, max_shift=0, generator=torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_contrast_normalisation_makes_the_network_scale_free():
    net = EvaluatorNet().eval()
    x = torch.randn(3, 1, 112, 92, generator=torch.Generator().manual_seed(0))
    z = contrast_normalize(x)
    torch.testing.assert_close(z.flatten(1).mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.flatten(1).std(1, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(5.0 * x - 0.3), atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def short_evaluator(faces_split):
    train_set, _ = faces_split
    return train_evaluator(train_set, seed=1, epochs=1)


def test_training_is_seeded(faces_split, short_evaluator):
    train_set, _ = faces_split
    again = train_evaluator(train_set, seed=1, epochs=1)
    for a, b in zip(short_evaluator.net.state_dict().values(), again.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_save_and_load_round_trip(tmp_path, faces_split, short_evaluator):
    _, test_set = faces_split
    path = short_evaluator.save(tmp_path / "cache" / "evaluator.pt")
    assert not list(path.parent.glob(".*.tmp"))
    loaded = Evaluator.load(path)
    x, _ = test_set.to_tensors()
    torch.testing.assert_close(loaded.logits(x[:10]), short_evaluator.logits(x[:10]))
    torch.testing.assert_close(loaded.embed(x[:10]), short_evaluator.embed(x[:10]))
    assert loaded.train_accuracy == short_evaluator.train_accuracy
    with pytest.raises(FileNotFoundError, match="train_evaluator"):
        Evaluator.load(tmp_path / "missing.pt")


def test_topk_hits_agree_with_predict(faces_split, short_evaluator):
    _, test_set = faces_split
    x, y = test_set.to_tensors()
    predicted = short_evaluator.predict(x)
    np.testing.assert_array_equal(short_evaluator.topk_hits(x, y, k=1), predicted == y.numpy())
    assert short_evaluator.topk_hits(x, y, k=40).all()


@pytest.mark.parametrize("kwargs", [dict(epochs=0), dict(lr=0.0), dict(width=6), dict(max_shift=-1)])
def test_invalid_arguments(faces_split, kwargs):
    with pytest.raises(ValueError):
        train_evaluator(faces_split[0], **kwargs)
