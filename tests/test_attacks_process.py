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


def test_miface_with_denoise_process_runs_on_faces():
    model = build_model("softmax", seed=0)
    process = DenoiseSharpen()
    result = MIFace(model, max_iter=3, step_size=0.5, process=process).invert([0, 1])
    assert result.images.shape == (2, 1, 112, 92)
    assert np.isfinite(result.cost_history[:, :4]).all()


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
