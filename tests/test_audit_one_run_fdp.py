"""Both analyses of the white-box one-run audit on dpmi's own DP-SGD (the setting of test_audit_one_run.py): the
honest run is refuted by neither, the silently 10x-cut noise is caught in one run by both."""

from __future__ import annotations

import pytest

from dpmi.audit.one_run_audit import one_run_audit
from dpmi.privacy.accounting import compute_epsilon
from dpmi.privacy.dpsgd import private_training

SIGMA, Q, T, M, R, DELTA = 5.0, 0.5, 20, 500, 200, 1e-5


def _audit(synthetic_faces, seed):
    x, y = synthetic_faces.to_tensors()
    return one_run_audit(x, y, num_classes=synthetic_faces.num_classes, noise_multiplier=SIGMA, sample_rate=Q,
                         steps=T, canaries=M, guesses=R, lr=0.05, delta=DELTA, seed=seed)


@pytest.fixture
def claimed():
    return {name: compute_epsilon(SIGMA, Q, T, DELTA, accountant=name) for name in ("rdp", "pld")}


def test_honest_run_is_refuted_by_neither_analysis(synthetic_faces, claimed):
    for seed in range(2):
        result = _audit(synthetic_faces, seed)
        assert result.fdp is not None
        assert result.fdp.epsilon_lower_bound <= claimed["pld"], (seed, result.fdp)
        assert result.fdp.approx_epsilon_lower_bound <= claimed["pld"]
        analyses = result.analyses()
        assert analyses["steinke"]["epsilon_lower_bound"] == result.epsilon_lower_bound
        assert analyses["tighter"] in {"f-DP (GDP)", "Steinke", "equal"}


def test_cut_noise_is_caught_by_both_analyses(synthetic_faces, claimed, monkeypatch):
    real_fill = private_training.fill_gaussian_noise_

    def cut_fill(buffers, std, generator):  # 10x less noise; the accountant still records sigma = 5
        return real_fill(buffers, std / 10.0, generator)

    monkeypatch.setattr(private_training, "fill_gaussian_noise_", cut_fill)
    for seed in range(2):
        result = _audit(synthetic_faces, seed)
        assert result.epsilon_lower_bound > claimed["rdp"], (seed, result)
        assert result.fdp.epsilon_lower_bound > claimed["rdp"], (seed, result.fdp)
