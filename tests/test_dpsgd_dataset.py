"""DP-SGD from a map-style Dataset through a DataLoader: the same batches, weights and epsilon as the tensor
path for the same seed (with and without worker processes), empty Poisson batches still take their noise
step, and a folder read lazily trains exactly like the same folder loaded into tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from dpmi.data import (
    ImageFolderDataset,
    index_image_folder,
    load_image_folder,
    make_synthetic_faces,
    split_indices,
    write_image_folder,
)
from dpmi.models import resolve_model
from dpmi.privacy.dpsgd import TrainConfig, make_private, train, train_on_dataset


class ItemDataset(Dataset):
    """Map-style: item i is (x[i], y[i]); nothing else (not a TensorDataset, so the DataLoader path runs)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def _run(data, x_shape, classes, *, num_workers=0, steps=40, expected_batch_size=1.0):
    model = resolve_model("softmax", classes, x_shape, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    private = make_private(model, optimizer, data, max_grad_norm=1.0, noise_multiplier=1.1,
                           expected_batch_size=expected_batch_size, steps=steps, seed=7, num_workers=num_workers)
    sizes = []
    for xb, yb in private.batches():
        sizes.append(int(yb.shape[0]))
        private.step(F.cross_entropy(model(xb), yb, reduction="none"))
    private.detach()
    return model, private, sizes


@pytest.mark.parametrize("num_workers", [0, 1])
def test_dataset_path_matches_the_tensor_path_exactly_including_empty_batches(synthetic_faces, num_workers):
    x, y = synthetic_faces.to_tensors()
    shape, classes = synthetic_faces.input_shape, synthetic_faces.num_classes
    # Expected batch 1 of 48: P(empty) = (47/48)^48 ~ 0.36, so about a third of the 40 steps are empty.
    ref_model, ref, ref_sizes = _run((x, y), shape, classes)
    model, private, sizes = _run(ItemDataset(x, y), shape, classes, num_workers=num_workers)
    assert sizes == ref_sizes and 5 <= 40 - len(sizes) <= 25  # same non-empty batches; some steps empty
    assert private.steps_taken == ref.steps_taken == 40  # empty draws took their (noise-only) steps
    for a, b in zip(model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert private.epsilon() == pytest.approx(ref.epsilon(), rel=1e-12)


def test_an_all_empty_run_still_moves_the_weights_by_noise(synthetic_faces):
    x, y = synthetic_faces.to_tensors()
    start = resolve_model("softmax", 8, synthetic_faces.input_shape, seed=0).fc.weight.detach().clone()
    model, private, sizes = _run(ItemDataset(x, y), synthetic_faces.input_shape, 8, steps=3,
                                 expected_batch_size=1e-9)
    assert sizes == [] and private.steps_taken == 3
    assert not torch.equal(model.fc.weight, start)  # three noise steps were taken


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    faces = make_synthetic_faces(6, 5, (16, 12), channels=3, seed=3)
    return write_image_folder(faces, tmp_path_factory.mktemp("faces"))


def test_a_folder_read_lazily_equals_the_folder_loaded_into_tensors(rgb_folder):
    faces = load_image_folder(rgb_folder, image_size=(12, 10))
    lazy = ImageFolderDataset(rgb_folder, image_size=(12, 10))
    x, y = faces.to_tensors()
    assert len(lazy) == len(faces) and lazy.input_shape == faces.input_shape and lazy.names == faces.names
    for i in (0, 7, len(lazy) - 1):
        xi, yi = lazy[i]
        assert torch.equal(xi, x[i]) and int(yi) == int(y[i])


@pytest.mark.parametrize("private", [True, False])
def test_train_on_dataset_equals_train_on_tensors(rgb_folder, private):
    faces = load_image_folder(rgb_folder)
    train_set, _ = faces.split(train_per_class=3, seed=0)
    index = index_image_folder(rgb_folder)  # the same split from the labels alone, no pixels read
    rows, _ = split_indices(index.labels, index.num_classes, 3, seed=0)
    assert rows.tolist() == _rows_of(faces, train_set)
    lazy = ImageFolderDataset(index, indices=rows)
    config = TrainConfig(epochs=3, batch_size=6, lr=0.05, noise_multiplier=1.0 if private else None, seed=2)
    a = resolve_model("mlp", faces.num_classes, faces.input_shape, seed=1)
    b = resolve_model("mlp", faces.num_classes, faces.input_shape, seed=1)
    history_a = train(a, *train_set.to_tensors(), config)
    history_b = train_on_dataset(b, lazy, config)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    assert history_a.steps == history_b.steps and history_a.loss == pytest.approx(history_b.loss, abs=1e-6)
    assert history_a.epsilon == history_b.epsilon


def _rows_of(faces, subset):
    keys = {(int(label), int(number)) for label, number in zip(subset.labels, subset.image_ids)}
    return [i for i, key in enumerate(zip(faces.labels.tolist(), faces.image_ids.tolist())) if key in keys]


def test_a_cached_folder_dataset_reads_each_file_once(rgb_folder, monkeypatch):
    from dpmi.data import folder_dataset

    lazy = ImageFolderDataset(rgb_folder, cache=True)
    first = [lazy[i][0] for i in range(3)]
    monkeypatch.setattr(folder_dataset, "read_image", lambda *a, **k: pytest.fail("read a cached image again"))
    assert all(torch.equal(lazy[i][0], first[i]) for i in range(3))


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_checkpoint_mid_training_resumes_to_the_uninterrupted_result(synthetic_faces, num_workers):
    """The loader draws batches ahead (prefetch); the checkpoint must hold the sampler's position as of the
    batches consumed, or the resumed run would skip the prefetched ones."""
    x, y = synthetic_faces.to_tensors()
    data, shape = ItemDataset(x, y), synthetic_faces.input_shape

    def start():
        model = resolve_model("softmax", 8, shape, seed=0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        private = make_private(model, optimizer, data, max_grad_norm=1.0, noise_multiplier=1.0,
                               expected_batch_size=6, steps=20, seed=3, num_workers=num_workers)
        return model, optimizer, private

    def run(model, private, steps):
        for xb, yb in private.batches(steps):
            private.step(F.cross_entropy(model(xb), yb, reduction="none"))

    whole, _, private = start()
    run(whole, private, 20)
    first, optimizer, private = start()
    run(first, private, 8)  # the loader has already drawn some of steps 9.. ahead
    saved = (first.state_dict(), optimizer.state_dict(), private.state_dict())
    resumed, optimizer, private = start()
    resumed.load_state_dict(saved[0])
    optimizer.load_state_dict(saved[1])
    private.load_state_dict(saved[2])
    run(resumed, private, 12)
    assert private.steps_taken == 20
    for a, b in zip(resumed.parameters(), whole.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
