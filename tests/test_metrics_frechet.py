"""Frechet distance (the FID formula of Heusel et al. 2017) against its closed form with scipy's sqrtm as the
oracle, zero for identical sets, and its known values for simple Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import sqrtm

from dpmi.metrics import frechet_distance, frechet_distance_gaussians, gaussian_fit


def random_covariance(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def sqrtm_oracle(m1, c1, m2, c2) -> float:
    cross = sqrtm(c1 @ c2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * cross))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 12))
def test_matches_the_sqrtm_closed_form(seed, dim):
    rng = np.random.default_rng(seed)
    m1, m2 = rng.normal(size=dim), rng.normal(size=dim)
    c1, c2 = random_covariance(rng, dim), random_covariance(rng, dim)
    assert frechet_distance_gaussians(m1, c1, m2, c2) == pytest.approx(sqrtm_oracle(m1, c1, m2, c2), rel=1e-7,
                                                                       abs=1e-8)


def test_known_values():
    # Isotropic: N(0, a^2 I) vs N(mu, b^2 I) in d dims: |mu|^2 + d (a - b)^2.
    d = 5
    mu = np.arange(d, dtype=float)
    assert frechet_distance_gaussians(np.zeros(d), 4 * np.eye(d), mu, np.eye(d)) == pytest.approx(
        mu @ mu + d * (2 - 1) ** 2)
    # Commuting diagonal covariances: sum (sqrt(s1) - sqrt(s2))^2.
    s1, s2 = np.array([1.0, 9.0, 0.0]), np.array([4.0, 1.0, 2.0])
    assert frechet_distance_gaussians(np.zeros(3), np.diag(s1), np.zeros(3), np.diag(s2)) == pytest.approx(
        np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2))


def test_identical_sets_are_at_zero_and_rank_deficient_sets_work():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(20, 128))  # fewer samples than dimensions, as with 20 reconstructions
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(features, features[::-1].copy()) == pytest.approx(0.0, abs=1e-6)
    shifted = features + 1.0
    assert frechet_distance(features, shifted) == pytest.approx(128.0, rel=1e-6)  # only the means differ


def test_sample_fit_and_shrinkage():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    mean, cov = gaussian_fit(x)
    np.testing.assert_allclose(mean, x.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False))
    _, shrunk = gaussian_fit(x, shrinkage=1.0)
    np.testing.assert_allclose(shrunk, np.trace(cov) / 4 * np.eye(4))
    with pytest.raises(ValueError):
        gaussian_fit(x, shrinkage=1.5)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(x, x[:, :3])


@pytest.mark.parametrize("n_1, n_2", [(20, 140), (140, 20), (5, 5), (30, 200)])
def test_low_rank_route_equals_the_square_root_of_the_full_covariances(n_1, n_2):
    # frechet_distance takes the n x n route when a set has fewer samples than dimensions; the oracle is
    # scipy's sqrtm of the full D x D product.
    rng = np.random.default_rng(n_1 + n_2)
    d = 32
    mixing = rng.normal(size=(d, d))
    x1 = rng.normal(size=(n_1, d)) @ mixing + 0.5
    x2 = rng.normal(size=(n_2, d)) @ mixing.T
    m1, c1 = gaussian_fit(x1)
    m2, c2 = gaussian_fit(x2)
    assert frechet_distance(x1, x2) == pytest.approx(sqrtm_oracle(m1, c1, m2, c2), rel=1e-7)
