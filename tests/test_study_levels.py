"""The study's privacy levels: sigma and both epsilons equal the accountants' own answers, whether computed or
read from the cache, and a change to the accountants' source is a new cache entry."""

from __future__ import annotations

import pytest

from dpmi.privacy.accounting import compute_epsilon, dpsgd_steps, get_noise_multiplier
from dpmi.study import levels as levels_module
from dpmi.study.config import make_config
from dpmi.study.levels import plan_levels, resolve_levels


def _expected(level, config, train_size):
    rate = config.train.batch_size / train_size
    steps = dpsgd_steps(config.train.epochs, rate)
    sigma = level.noise_multiplier
    if sigma is None:
        sigma = get_noise_multiplier(level.target_epsilon, config.privacy.delta, rate, steps, accountant=config.privacy.accountant)
    return sigma, {name: compute_epsilon(sigma, rate, steps, config.privacy.delta, accountant=name) for name in ("rdp", "pld")}


def test_levels_equal_the_accountants_computed_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path))
    config = make_config(target_epsilons=(8.0, 2.0), noise_multipliers=(0.7,))
    planned = plan_levels(config)
    first = resolve_levels(planned, config, 140)
    entries = sorted((tmp_path / "artifacts" / "privacy-level").glob("*.pt"))
    assert len(entries) == 3  # one per private level
    second = resolve_levels(planned, config, 140)
    assert second == first
    for level in first:
        if not level.private:
            continue
        sigma, epsilons = _expected(level, config, 140)
        assert level.noise_multiplier == pytest.approx(sigma, rel=1e-12)
        assert level.epsilon_rdp == pytest.approx(epsilons["rdp"], rel=1e-12)
        assert level.epsilon_pld == pytest.approx(epsilons["pld"], rel=1e-12)
        if level.target_epsilon is not None:
            assert level.epsilon_rdp <= level.target_epsilon * (1 + 1e-6)
    # An edited accountant is another key: computed again, not read.
    monkeypatch.setattr(levels_module, "accounting_source_fingerprint", lambda: "edited")
    resolve_levels(planned, config, 140)
    assert len(sorted((tmp_path / "artifacts" / "privacy-level").glob("*.pt"))) == 6
