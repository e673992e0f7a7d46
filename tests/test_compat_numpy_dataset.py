"""The AIJack `NumpyDataset` and the torchvision-free transforms the tutorial uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.compat.numpy_dataset import NumpyDataset
from dpmi.compat.transforms import Compose, Normalize, ToTensor


def test_items_follow_aijack_shapes():
    x = np.arange(24, dtype=np.uint8).reshape(3, 2, 4)
    y = np.array([2, 0, 1])
    assert len(NumpyDataset(x, y)) == 3
    xi, yi = NumpyDataset(x, y)[1]
    np.testing.assert_array_equal(xi, x[1])
    assert yi == 0
    np.testing.assert_array_equal(NumpyDataset(x)[2], x[2])
    idx, xi, yi = NumpyDataset(x, y, return_idx=True)[2]
    assert idx == 2 and yi == 1
    idx, xi = NumpyDataset(x, return_idx=True)[0]
    assert idx == 0
    with pytest.raises(ValueError, match="same length"):
        NumpyDataset(x, y[:2])


def test_tutorial_transform_equals_torchvision_formula(faces):
    transform = Compose([ToTensor(), Normalize((0.5,), (0.5,))])
    dataset = NumpyDataset(faces.images, faces.labels, transform=transform)
    xi, yi = dataset[37]
    assert tuple(xi.shape) == (1, 112, 92) and xi.dtype == torch.float32
    expected = (faces.images[37].astype(np.float64) / 255.0 - 0.5) / 0.5
    np.testing.assert_allclose(xi[0].numpy(), expected, atol=1e-6)
    assert yi == 3
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=False)
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (4, 1, 112, 92) and yb.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="std"):
        Normalize((0.5,), (0.0,))
