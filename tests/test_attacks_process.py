"""The built-in Process (non-local means + unsharp mask) on real faces, and inside MI-FACE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.attacks import DenoiseSharpen, MIFace
from dpmi.data import normalize_images
from dpmi.models import build_model


def faces_tensor(faces, count=4):
    return torch.from_numpy(normalize_images(faces.images[:count])).unsqueeze(1)


def test_denoising_brings_a_noisy_face_closer_to_the_clean_one(faces):
    clean = faces_tensor(faces)
    noisy = (clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    denoised = DenoiseSharpen(sharpen_amount=0.0)(noisy)
    assert denoised.shape == noisy.shape and denoised.dtype == noisy.dtype
    before = ((noisy - clean) ** 2).mean(dim=(1, 2, 3))
    after = ((denoised - clean) ** 2).mean(dim=(1, 2, 3))
    assert (after < 0.5 * before).all(), (before, after)


def test_sharpening_adds_edge_energy_and_stays_in_range(faces):
    clean = faces_tensor(faces)
    blurred = torch.nn.functional.avg_pool2d(clean, 3, stride=1, padding=1, count_include_pad=False)

    def edge_energy(x):
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())

    sharpened = DenoiseSharpen(h=1e-6, sharpen_amount=1.0)(blurred)
    assert edge_energy(sharpened) > 1.2 * edge_energy(blurred)
    assert float(sharpened.min()) >= -1.0 and float(sharpened.max()) <= 1.0


def test_custom_value_range_round_trips(faces):
    image = faces.images[0].astype(np.float64)
    identity = DenoiseSharpen(h=1e-9, sharpen_amount=0.0, value_range=(0.0, 255.0))
    np.testing.assert_allclose(identity.process_image(image), image, atol=1e-6)


def _total_variation(images: torch.Tensor) -> float:
    """Mean absolute difference of neighbouring pixels of each image standardised to zero mean, unit std
    (a reconstruction's scale is arbitrary)."""
    dims = (1, 2, 3)
    images = (images - images.mean(dim=dims, keepdim=True)) / images.std(dim=dims, keepdim=True)
    return float((images.diff(dim=-1).abs().mean() + images.diff(dim=-2).abs().mean()) / 2)


def test_denoise_process_gives_smoother_inversions_of_a_face_model(faces_split):
    from dpmi.privacy.dpsgd import TrainConfig, train

    x, y = faces_split[0].to_tensors()
    model = build_model("softmax", seed=0)
    train(model, x, y, TrainConfig(epochs=5, seed=0))
    plain = MIFace(model, max_iter=20, step_size=0.1).invert([0, 1])
    denoised = MIFace(model, max_iter=20, step_size=0.1, process=DenoiseSharpen()).invert([0, 1])
    assert denoised.images.shape == (2, 1, 112, 92)
    assert np.isfinite(denoised.best_cost).all()
    # Non-local means removes the pixel-level noise of the raw gradient steps.
    assert _total_variation(denoised.images) < 0.8 * _total_variation(plain.images)


@pytest.mark.parametrize("kwargs", [dict(h=0.0), dict(patch_size=0), dict(sharpen_radius=0.0),
                                    dict(value_range=(1.0, 1.0))])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        DenoiseSharpen(**kwargs)


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3])
def test_noise_estimate_recovers_gaussian_sigma(sigma):
    from dpmi.attacks.denoise_sharpen import estimate_noise_sigma

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 92)[None, :] * np.ones((112, 1))  # smooth structure the kernel cancels
    assert estimate_noise_sigma(ramp + sigma * rng.standard_normal(ramp.shape)) == pytest.approx(sigma, rel=0.05)
