"""Bilinear resizing as matrix products equals torch's `interpolate` (the oracle), up and down, with and
without antialias, at any sizes; and the GAN prior decodes through it exactly as through `interpolate`."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dpmi.attacks.image_resize import SeparableResize, resize_matrix


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 60),
    st.integers(2, 60),
    st.integers(2, 60),
    st.integers(2, 60),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_equals_interpolate(h_in, w_in, h_out, w_out, antialias, seed):
    x = torch.randn(3, 2, h_in, w_in, generator=torch.Generator().manual_seed(seed))
    oracle = F.interpolate(x, size=(h_out, w_out), mode="bilinear", align_corners=False, antialias=antialias)
    mine = SeparableResize((h_in, w_in), (h_out, w_out), antialias=antialias)(x)
    torch.testing.assert_close(mine, oracle, atol=1e-4, rtol=1e-4)  # float32 rounding of the weights


def test_gradients_equal_interpolates():
    x = torch.randn(4, 1, 28, 24, requires_grad=True)
    weights = torch.randn(4, 1, 112, 92)
    (F.interpolate(x, size=(112, 92), mode="bilinear", align_corners=False) * weights).sum().backward()
    oracle = x.grad.clone()
    x.grad = None
    (SeparableResize((28, 24), (112, 92))(x) * weights).sum().backward()
    torch.testing.assert_close(x.grad, oracle, atol=1e-5, rtol=1e-5)


def test_rows_of_an_upsampling_matrix_are_interpolation_weights():
    matrix = resize_matrix(7, 28)
    torch.testing.assert_close(matrix.sum(dim=1), torch.ones(28))  # a constant image stays constant
    assert (matrix >= 0).all()


def test_bad_sizes_and_shapes_are_refused():
    with pytest.raises(ValueError, match="sizes"):
        resize_matrix(0, 4)
    with pytest.raises(ValueError, match="expected images of size"):
        SeparableResize((8, 8), (4, 4))(torch.zeros(1, 1, 8, 9))
