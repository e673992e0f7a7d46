"""The prior attacks' parts: no private pixel reaches a prior; the eigenface basis against an independent
SVD; PPA's selections against brute force; the batched latent search equals one identity at a time; the
GAN prior is cached, reused, and rebuilt when its entry is damaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpmi.attacks import AttackResult, PriorInversionResult, make_attack
from dpmi.attacks.image_shifts import apply_transform, random_flip_shift, selection_transforms, shift
from dpmi.attacks.latent_search import LatentSearch, SearchSettings
from dpmi.attacks.ppa_selection import initial_selection, robust_confidence
from dpmi.attacks.priors.face_generator import (
    CACHE_KIND, GANSettings, face_gan_key_parts, load_face_gan, train_face_gan,
)
from dpmi.attacks.priors.pca_prior import CACHE_KIND as EIGENFACE_KIND
from dpmi.attacks.priors.pca_prior import fit_pca_prior, load_pca_prior
from dpmi.cache import cache_key, entry_path
from dpmi.data import FaceDataset, split_identities

TINY_GAN = GANSettings(latent_dim=8, scale=0.5, upsamplings=2, width=8, steps=3, batch_size=4, seed=0)


def linear_target(dataset: FaceDataset, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(dataset.input_shape)), dataset.num_classes))


def with_private_pixels_replaced(faces: FaceDataset, private: list[int]) -> FaceDataset:
    images = faces.images.copy()
    rows = np.isin(faces.labels, private)
    images[rows] = np.random.default_rng(1).integers(0, 256, size=images[rows].shape, dtype=np.uint8)
    return FaceDataset(images, faces.labels.copy(), faces.image_ids.copy(), num_classes=faces.num_classes)


# --- no private pixel reaches a prior ------------------------------------------------------------------


def test_priors_built_from_public_ignore_every_private_pixel(faces):
    split = split_identities(faces)
    altered = split_identities(with_private_pixels_replaced(faces, list(split.private_ids)))
    assert not np.array_equal(split.private.images, altered.private.images)
    model = linear_target(split.private)
    prior = make_attack("pca-prior", model, public=split.public, components=20, steps=0).prior
    prior_altered = make_attack("pca-prior", model, public=altered.public, components=20, steps=0).prior
    for name in ("mean", "basis", "scale"):
        assert torch.equal(getattr(prior, name), getattr(prior_altered, name))
    # The GAN prior's cache key (its only input besides the settings) is blind to the private side too,
    # and does see the public side.
    assert cache_key(CACHE_KIND, face_gan_key_parts(split.public, GANSettings())) == cache_key(
        CACHE_KIND, face_gan_key_parts(altered.public, GANSettings()))
    public_changed = split_identities(with_private_pixels_replaced(faces, list(split.public_ids)))
    assert cache_key(CACHE_KIND, face_gan_key_parts(split.public, GANSettings())) != cache_key(
        CACHE_KIND, face_gan_key_parts(public_changed.public, GANSettings()))


def test_eigenfaces_equal_an_svd_of_the_public_images_and_their_mirrors(faces):
    split = split_identities(faces)
    prior = fit_pca_prior(split.public, 12)
    # Oracle: numpy float64 eigen-decomposition of the covariance of public images + mirrors.
    x = split.public.images.astype(np.float64) / 127.5 - 1.0
    x = np.concatenate([x, x[:, :, ::-1]]).reshape(2 * len(x), -1)
    centred = x - x.mean(axis=0)
    gram = centred @ centred.T / (len(x) - 1)          # n x n: the same non-zero spectrum as the covariance
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:12]
    directions = (centred.T @ vectors[:, order]) / np.sqrt(values[order] * (len(x) - 1))
    np.testing.assert_allclose(prior.mean.numpy(), x.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(prior.scale.numpy(), np.sqrt(values[order]), rtol=1e-4)
    overlap = np.abs(np.sum(prior.basis.numpy().astype(np.float64) * directions.T, axis=1))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-3)  # same directions up to sign
    # Standardised coefficients: the public images' codes have unit variance along every direction.
    codes = prior.encode(split.public.to_tensors()[0]).numpy()
    codes_mirror = prior.encode(split.public.to_tensors()[0].flip(-1)).numpy()
    np.testing.assert_allclose(np.concatenate([codes, codes_mirror]).std(axis=0, ddof=1), 1.0, rtol=1e-3)


def test_decode_inverts_encode_inside_the_pixel_range(synthetic_faces):
    prior = fit_pca_prior(synthetic_faces, 10)
    z = torch.randn(5, 10, generator=torch.Generator().manual_seed(0)) * 0.1
    np.testing.assert_allclose(prior.encode(prior.decode(z)).numpy(), z.numpy(), atol=1e-4)
    basis = prior.basis.double()
    np.testing.assert_allclose((basis @ basis.T).numpy(), np.eye(10), atol=1e-5)


def test_the_cached_eigenface_prior_is_the_fitted_one_and_damage_is_rebuilt(synthetic_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path))
    fitted = fit_pca_prior(synthetic_faces, 7)
    first, hit_first = load_pca_prior(synthetic_faces, 7)
    second, hit_second = load_pca_prior(synthetic_faces, 7)
    assert (hit_first, hit_second) == (False, True)
    for prior in (first, second):
        for name in ("mean", "basis", "scale"):
            torch.testing.assert_close(getattr(prior, name), getattr(fitted, name), rtol=0, atol=0)
        assert prior.input_shape == synthetic_faces.input_shape
    other, hit_other = load_pca_prior(synthetic_faces, 5)  # another setting is another entry
    assert not hit_other and other.latent_dim == 5
    paths = list((tmp_path / "artifacts" / EIGENFACE_KIND).glob("*.pt"))
    assert len(paths) == 2
    for path in paths:
        path.write_bytes(b"truncated")
    rebuilt, hit_rebuilt = load_pca_prior(synthetic_faces, 7)
    assert not hit_rebuilt
    torch.testing.assert_close(rebuilt.basis, fitted.basis, rtol=0, atol=0)


# --- shifts and PPA's selections ---------------------------------------------------------------------


def test_shift_moves_pixels_and_repeats_the_border():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    moved = shift(x, 1, -2)
    assert torch.equal(moved[0, 0, 1:, :3], x[0, 0, :3, 2:])
    assert torch.equal(moved[0, 0, 0, :3], x[0, 0, 0, 2:])       # top row repeated
    assert torch.equal(moved[0, 0, 1:, 3], x[0, 0, :3, 4])       # right column repeated
    with pytest.raises(ValueError, match="smaller than the image"):
        shift(x, 4, 0)


def test_random_flip_shift_is_a_flip_and_shift_of_each_row():
    x = torch.randn(16, 1, 7, 6, generator=torch.Generator().manual_seed(0))
    out = random_flip_shift(x, 2, torch.Generator().manual_seed(1))
    for row in range(16):
        candidates = [apply_transform(x[row : row + 1], (flip, dy, dx)) for flip in (False, True)
                      for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(torch.equal(out[row : row + 1], c) for c in candidates)


def test_initial_selection_is_each_labels_top_candidates():
    probabilities = torch.rand(50, 6, generator=torch.Generator().manual_seed(0)).softmax(1)
    labels = torch.tensor([3, 0, 3])
    chosen = initial_selection(probabilities, labels, 4)
    for row, label in enumerate(labels.tolist()):
        expected = np.argsort(-probabilities[:, label].numpy())[:4]
        assert sorted(chosen[row].tolist()) == sorted(expected.tolist())
    with pytest.raises(ValueError, match="restarts"):
        initial_selection(probabilities, labels, 51)


def test_robust_confidence_averages_over_the_mirror_and_shifts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(30, 3))
    images = torch.randn(4, 1, 6, 5)
    labels = torch.tensor([0, 1, 2, 1])
    got = robust_confidence(images, labels, lambda x: model(x).softmax(1), 1)
    expected = torch.stack([model(apply_transform(images, t)).softmax(1)[torch.arange(4), labels]
                            for t in selection_transforms(1)]).mean(0)
    torch.testing.assert_close(got, expected)


# --- the batched search --------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_batched_search_equals_one_identity_at_a_time(synthetic_faces, loss):
    model = linear_target(synthetic_faces, seed=2)
    prior = fit_pca_prior(synthetic_faces, 8)
    settings = SearchSettings(steps=15, lr=0.1, restarts=3, candidates=40, prior_weight=0.5, identity_loss=loss)
    together = LatentSearch(model, prior, settings, torch.device("cpu")).invert([1, 4, 6])
    for row, label in enumerate([1, 4, 6]):
        alone = LatentSearch(model, prior, settings, torch.device("cpu")).invert([label])
        torch.testing.assert_close(together.images[row], alone.images[0], atol=1e-5, rtol=1e-5)


def test_prior_attack_result_protocol_and_confidence(synthetic_faces):
    model = linear_target(synthetic_faces, seed=3)
    attack = make_attack("pca-prior", model, public=synthetic_faces, components=8, steps=30, restarts=2,
                         candidates=20, prior_weight=0.01)
    result = attack.invert([0, 5, 5])
    assert isinstance(result, AttackResult) and isinstance(result, PriorInversionResult)
    assert result.images.shape == (3, *synthetic_faces.input_shape)
    assert float(result.images.min()) >= -1 and float(result.images.max()) <= 1
    assert result.labels.tolist() == [0, 5, 5] and result.labels.dtype == torch.int64
    with torch.no_grad():
        expected = model(result.images).softmax(1)[torch.arange(3), result.labels].numpy()
    np.testing.assert_allclose(result.confidence, expected, atol=1e-6)
    summary = result.summary()
    assert summary["restarts"] == 2 and summary["iterations"] == 30
    assert summary["label_confidence"] > summary["start_confidence"]  # the search raised the confidence
    repeat = make_attack("pca-prior", model, public=synthetic_faces, components=8, steps=30, restarts=2,
                         candidates=20, prior_weight=0.01).invert([0, 5, 5])
    assert torch.equal(repeat.images, result.images)  # same seed, same numbers


def test_probability_output_gives_the_same_search_as_logits(synthetic_faces):
    logits_model = linear_target(synthetic_faces, seed=4)
    probability_model = nn.Sequential(logits_model, nn.Softmax(dim=1))
    options = dict(components=8, steps=10, restarts=2, candidates=20)
    a = make_attack("pca-prior", logits_model, public=synthetic_faces, **options).invert([1, 2])
    b = make_attack("pca-prior", probability_model, public=synthetic_faces, **options).invert([1, 2])
    torch.testing.assert_close(a.images, b.images, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)


# --- the GAN prior and its cache -------------------------------------------------------------------------


def test_gan_prior_is_cached_reused_and_rebuilt_when_damaged(synthetic_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    first, hit = load_face_gan(synthetic_faces, TINY_GAN, progress=False)
    assert not hit
    second, hit = load_face_gan(synthetic_faces, TINY_GAN, progress=False)
    assert hit
    for a, b in zip(first.generator.state_dict().values(), second.generator.state_dict().values()):
        assert torch.equal(a, b)
    path = entry_path(CACHE_KIND, cache_key(CACHE_KIND, face_gan_key_parts(synthetic_faces, TINY_GAN)))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    third, hit = load_face_gan(synthetic_faces, TINY_GAN, progress=False)
    assert not hit
    for a, b in zip(first.generator.state_dict().values(), third.generator.state_dict().values()):
        assert torch.equal(a, b)  # retrained deterministically from the same seed
    stored = torch.load(path, weights_only=True)
    stored["payload"]["generator"] = {"nonsense": torch.zeros(1)}  # readable but not these networks
    torch.save(stored, path)
    _, hit = load_face_gan(synthetic_faces, TINY_GAN, progress=False)
    assert not hit
    _, hit = load_face_gan(synthetic_faces, TINY_GAN, progress=False)
    assert hit


def test_gan_decodes_to_the_datas_shape_and_is_deterministic(synthetic_faces):
    payload = train_face_gan(synthetic_faces, TINY_GAN, progress=False)
    again = train_face_gan(synthetic_faces, TINY_GAN, progress=False)
    for key, value in payload["generator"].items():
        assert torch.equal(value, again["generator"][key])
    from dpmi.attacks.priors.face_generator import face_gan_from_payload

    gan = face_gan_from_payload(payload)
    images = gan.decode(gan.sample(3, torch.Generator().manual_seed(0)))
    assert images.shape == (3, *synthetic_faces.input_shape)
    assert float(images.abs().max()) <= 1.0
    assert gan.realism_loss(torch.zeros(3, 8), images).shape == (3,)


def test_gan_prior_decodes_and_scores_as_its_networks_with_interpolate(synthetic_faces):
    # The oracle: the payload's networks rebuilt as trained (spectral norm still a parametrization) with
    # torch's interpolate for both resizes; FaceGAN freezes the norm and resizes with matrix products.
    import torch.nn.functional as F

    from dpmi.attacks.priors.face_generator import _networks, face_gan_from_payload

    payload = train_face_gan(synthetic_faces, TINY_GAN, progress=False)
    gan = face_gan_from_payload(payload)
    generator, discriminator, size = _networks(synthetic_faces.input_shape, TINY_GAN)
    generator.load_state_dict(payload["generator"])
    discriminator.load_state_dict(payload["discriminator"])
    generator.eval(), discriminator.eval()
    z = gan.sample(4, torch.Generator().manual_seed(1))
    with torch.no_grad():
        oracle_images = F.interpolate(generator(z), size=synthetic_faces.image_shape, mode="bilinear",
                                      align_corners=False)
        small = F.interpolate(oracle_images, size=size, mode="bilinear", align_corners=False, antialias=True)
        oracle_realism = F.softplus(-discriminator(small))
        images = gan.decode(z)
        torch.testing.assert_close(images, oracle_images, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gan.realism_loss(z, images), oracle_realism, atol=1e-5, rtol=1e-5)


def test_gmi_attack_runs_on_a_cached_tiny_prior(synthetic_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    model = linear_target(synthetic_faces, seed=5)
    options = dict(gan_steps=3, gan_scale=0.5, gan_width=8, gan_latent_dim=8, steps=5, restarts=2, candidates=10)
    result = make_attack("gmi", model, public=synthetic_faces, **options).invert([2, 3])
    assert result.images.shape == (2, *synthetic_faces.input_shape)
    assert make_attack("gmi", model, public=synthetic_faces, **options).cache_hit
