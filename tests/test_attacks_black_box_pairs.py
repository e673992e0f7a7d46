"""`decode_pairs`: one product per antithetic pair gives the images of decoding z + sigma eps and z - sigma eps
one by one (the eigenface prior fitted on the real public faces; and the generic path for any prior)."""

from __future__ import annotations

import pytest
import torch

from dpmi.attacks.black_box_latent import decode_latents, decode_pairs
from dpmi.attacks.priors.pca_prior import fit_pca_prior


@pytest.fixture(scope="module")
def prior(faces):
    from dpmi.data import split_identities

    return fit_pca_prior(split_identities(faces).public, 40)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 3.0])
def test_pairs_equal_decoding_each_sample(prior, sigma):
    generator = torch.Generator().manual_seed(1)
    z = prior.sample(6, generator)
    half = torch.randn(6, 5, prior.latent_dim, generator=generator)
    naive = decode_latents(prior, (z.unsqueeze(1) + sigma * torch.cat([half, -half], dim=1)).reshape(60, -1))
    fast = decode_pairs(prior, z, half, sigma)
    assert fast.shape == naive.shape == (60, 1, 112, 92)
    torch.testing.assert_close(fast, naive, atol=2e-5, rtol=0)
    assert float(fast.min()) >= -1.0 and float(fast.max()) <= 1.0  # clamped like the decoder


class _Doubling:
    """A non-eigenface prior: decode is z -> 2 z as a [d, 1, 1] image."""

    def decode(self, z):
        return (2 * z).view(len(z), -1, 1, 1)


def test_other_priors_decode_every_sample():
    z, half = torch.ones(2, 3), torch.arange(12.0).view(2, 2, 3)
    out = decode_pairs(_Doubling(), z, half, 0.5)
    expected = 2 * (z.unsqueeze(1) + 0.5 * torch.cat([half, -half], dim=1)).reshape(8, 3)
    torch.testing.assert_close(out.view(8, 3), expected)


def test_a_workspace_reuses_its_buffers_and_changes_no_image(prior):
    generator = torch.Generator().manual_seed(2)
    space: dict[str, torch.Tensor] = {}
    firsts = []
    for _ in range(2):
        z, half = prior.sample(4, generator), torch.randn(4, 3, prior.latent_dim, generator=generator)
        fresh = decode_pairs(prior, z, half, 0.5)
        reused = decode_pairs(prior, z, half, 0.5, space)
        torch.testing.assert_close(reused, fresh, atol=0, rtol=0)
        firsts.append(reused.data_ptr())
    assert firsts[0] == firsts[1]  # the second step wrote into the first step's buffer


def test_decode_latents_with_a_workspace_equals_without(prior):
    generator = torch.Generator().manual_seed(3)
    space: dict[str, torch.Tensor] = {}
    for count in (5, 5, 7):
        z = prior.sample(count, generator)
        torch.testing.assert_close(decode_latents(prior, z, space), decode_latents(prior, z), atol=0, rtol=0)
    assert space["decoded"].shape[0] == 7  # a new batch size gets a new buffer
