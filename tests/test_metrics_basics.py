"""Attack-success metrics on constructed cases with known answers: standardisation, nearest class-mean
ranks, PSNR/SSIM after scale matching (against closed forms), and evaluate_inversion's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpmi.data import normalize_images
from dpmi.metrics import (
    PER_LABEL_KEYS,
    SUMMARY_DESCRIPTIONS,
    SUMMARY_KEYS,
    LabelledImages,
    correlation_matrix,
    evaluate_inversion,
    match_to_reference,
    nearest_mean_topk,
    per_label_keys,
    psnr,
    ssim,
    standardize,
    summary_keys,
    target_rank,
)


def as_result(images: torch.Tensor, labels) -> LabelledImages:
    """Images posing as an attack's result, with an attack-style summary()."""
    return LabelledImages(images, torch.as_tensor(labels), {"best_cost": 0.5, "iterations": 7.0})


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 100), st.floats(-50, 50))
def test_standardize_ignores_offset_and_scale(seed, scale, offset):
    images = np.random.default_rng(seed).normal(size=(3, 7, 5))
    z = standardize(images)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(standardize(images * scale + offset), z, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_correlation_matrix_matches_numpy_corrcoef(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(4, 6, 6)), rng.normal(size=(3, 6, 6))
    expected = np.corrcoef(a.reshape(4, -1), b.reshape(3, -1))[:4, 4:]
    np.testing.assert_allclose(correlation_matrix(a, b), expected, atol=1e-12)


def test_constant_image_has_no_pattern():
    assert np.all(standardize(np.ones((1, 4, 4))) == 0)
    means = np.random.default_rng(0).normal(size=(5, 4, 4))
    assert target_rank(np.ones((1, 4, 4)), [2], means)[0] == 5  # ties count against the target


def test_nearest_mean_on_the_means_themselves(synthetic_faces):
    means = synthetic_faces.class_means()
    people = np.arange(synthetic_faces.num_classes)
    # Each mean face, in the model's input range and rescaled arbitrarily, is its own nearest mean.
    recon = torch.from_numpy(normalize_images(means.astype(np.uint8))) * 3.0 + 0.7
    assert (target_rank(recon, people, means) == 1).all()
    # Claiming the wrong identity for every row: rank > 1.
    assert not nearest_mean_topk(recon, (people + 1) % len(people), means, k=1).any()
    # Negated images anti-correlate with their own mean.
    assert (target_rank(-recon, people, means) > 1).all()


def test_target_rank_counts_better_identities():
    means = np.stack([np.full((3, 3), 0.0) + np.eye(3) * k for k in range(1, 5)])
    means[:, 0, 1] = [0.1, 0.2, 0.3, 0.4]
    recon = means[2:3]
    correlations = correlation_matrix(recon, means)[0]
    expected = int((correlations >= correlations[2]).sum())
    assert target_rank(recon, [2], means)[0] == expected
    assert nearest_mean_topk(recon, [2], means, k=expected)[0]


def test_psnr_closed_form_after_scale_matching():
    rng = np.random.default_rng(1)
    reference = rng.uniform(40, 200, size=(20, 16))
    recon = rng.normal(size=(20, 16))
    matched = np.clip((recon - recon.mean()) / recon.std() * reference.std() + reference.mean(), 0, 255)
    mse = np.mean((matched - reference) ** 2)
    assert psnr(recon, reference) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)
    np.testing.assert_allclose(match_to_reference(recon, reference), matched)


def test_scale_free_perfect_match():
    reference = np.random.default_rng(2).uniform(40, 200, size=(32, 30))
    recon = (reference - 128) / 128 * 0.01 - 0.3  # same pattern, another range
    assert psnr(recon, reference) > 100
    assert ssim(recon, reference) == pytest.approx(1.0, abs=1e-6)
    assert ssim(-recon, reference) < 0


def test_evaluate_inversion_on_mean_faces(faces_split):
    train_set, _ = faces_split
    means = train_set.class_means()
    images = torch.from_numpy(normalize_images(np.rint(means).astype(np.uint8))).unsqueeze(1)
    labels = [3, 0, 17, 39]
    scores = evaluate_inversion(as_result(images[labels], labels), train_set)
    # No judge given: the judges' keys are absent (not NaN), every other key is there.
    assert set(SUMMARY_DESCRIPTIONS) == set(SUMMARY_KEYS) and set(summary_keys([])) <= set(scores)
    assert not any(k in scores for k in set(SUMMARY_KEYS) - set(summary_keys([])))
    assert all(isinstance(scores[k], float) for k in summary_keys([]))
    assert set(scores["per_label"]) == set(per_label_keys([])) and set(per_label_keys([])) < set(PER_LABEL_KEYS)
    assert scores["nearest_mean_top1"] == 1.0 and scores["nearest_mean_top5"] == 1.0
    assert scores["ssim_mean_face"] > 0.99 and scores["psnr_mean_face"] > 40
    assert scores["psnr_best_private"] < scores["psnr_mean_face"]
    assert "eval_acc1" not in scores and np.isnan(scores["knn_dist"]) and "judge2_acc1" not in scores
    assert np.isnan(scores["frechet_distance"]) and np.isnan(scores["attack_confidence"])
    assert scores["chance_top1"] == pytest.approx(1 / 40)
    assert scores["attack_iterations"] == 7.0 and scores["attack_best_cost"] == 0.5
    per_label = scores["per_label"]
    assert per_label["label"].tolist() == labels
    assert per_label["nearest_mean_rank"].tolist() == [1, 1, 1, 1]


def test_best_private_is_the_best_single_image(synthetic_faces):
    train_set, _ = synthetic_faces.split(train_per_class=4, seed=0)
    members = np.flatnonzero(train_set.labels == 5)
    image = torch.from_numpy(normalize_images(train_set.images[members[2]]))[None, None]
    scores = evaluate_inversion(as_result(image, [5]), train_set)
    assert scores["ssim_best_private"] == pytest.approx(1.0, abs=1e-6)
    assert scores["psnr_best_private"] > 100


def test_evaluate_inversion_rejects_unknown_identities(synthetic_faces):
    train_set, _ = synthetic_faces.split(train_per_class=4, seed=0)
    subset = train_set.subset(np.flatnonzero(train_set.labels < 4))
    image = torch.zeros(1, *train_set.input_shape)
    with pytest.raises(ValueError, match="no images of identities"):
        evaluate_inversion(as_result(image, [6]), subset)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 12), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_chi_square_distances_equal_a_loop_over_pairs(k, n, d, chunk, seed):
    from dpmi.metrics.lbp_judge import chi_square_distances

    rng = np.random.default_rng(seed)
    queries = rng.random((k, d)) * (rng.random((k, d)) < 0.6)  # empty bins in both histograms count 0
    references = (rng.random((n, d)) * (rng.random((n, d)) < 0.6)).astype(np.float32)
    expected = np.zeros((k, n))
    for i in range(k):
        for j in range(n):
            for b in range(d):
                q, r = queries[i, b], float(references[j, b])
                if q + r > 0:
                    expected[i, j] += (q - r) ** 2 / (q + r)
    # rtol: the implementation adds 1e-10 to each denominator (empty bins).
    np.testing.assert_allclose(chi_square_distances(queries, references, chunk=chunk), expected, rtol=1e-6, atol=1e-9)
