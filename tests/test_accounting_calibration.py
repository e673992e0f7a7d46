"""Noise calibration and the epsilon/sigma tables the CLI prints."""

from __future__ import annotations

import math
import time

import pytest

from dpmi.privacy.accounting import (
    SIGMA_RTOL,
    compute_epsilon,
    epsilon_table,
    dpsgd_steps,
    get_noise_multiplier,
    sampling_from_batches,
    sigma_table,
)


@pytest.mark.parametrize("target,q,steps", [(8.0, 0.04, 2250), (1.0, 0.01, 10_000), (3.0, 1.0, 10), (50.0, 0.1, 100)])
def test_rdp_sigma_is_the_smallest_meeting_the_target(target, q, steps):
    start = time.perf_counter()
    sigma = get_noise_multiplier(target, 1e-5, q, steps)
    elapsed = time.perf_counter() - start
    assert compute_epsilon(sigma, q, steps, 1e-5) <= target
    assert compute_epsilon(sigma * (1 - 2 * SIGMA_RTOL), q, steps, 1e-5) > target
    print(f"rdp calibration target={target} q={q} steps={steps}: sigma={sigma:.5f} in {elapsed * 1e3:.0f} ms")


def test_rdp_sigma_agrees_with_opacus():
    opacus = pytest.importorskip("opacus.accountants.utils")
    theirs = opacus.get_noise_multiplier(target_epsilon=8.0, target_delta=1e-5, sample_rate=0.04, steps=2250,
                                         accountant="rdp", epsilon_tolerance=1e-4)
    ours = get_noise_multiplier(8.0, 1e-5, 0.04, 2250)
    # Opacus stops once epsilon is within its tolerance below the target; ours is within SIGMA_RTOL above sigma*.
    assert ours == pytest.approx(theirs, rel=1e-3)
    assert ours <= theirs * (1 + SIGMA_RTOL)


@pytest.mark.slow
def test_pld_sigma_meets_target_and_is_below_rdp():
    sigma_pld = get_noise_multiplier(2.0, 1e-5, 0.05, 600, accountant="pld")
    sigma_rdp = get_noise_multiplier(2.0, 1e-5, 0.05, 600, accountant="rdp")
    assert compute_epsilon(sigma_pld, 0.05, 600, 1e-5, "pld") <= 2.0
    assert compute_epsilon(sigma_pld * (1 - 2 * SIGMA_RTOL), 0.05, 600, 1e-5, "pld") > 2.0
    assert sigma_pld < sigma_rdp


@pytest.mark.parametrize("kwargs,match", [
    (dict(target_epsilon=0.0), "target_epsilon must be > 0"), (dict(target_epsilon=-1.0), "target_epsilon"),
    (dict(delta=1.0), "delta"), (dict(sample_rate=0.0), "sample_rate"), (dict(steps=0), "steps"),
    (dict(accountant="gdp"), "accountant"),
])
def test_bad_calibration_arguments_raise(kwargs, match):
    args = dict(target_epsilon=8.0, delta=1e-5, sample_rate=0.04, steps=100, accountant="rdp") | kwargs
    with pytest.raises(ValueError, match=match):
        get_noise_multiplier(**args)


def test_epsilon_table_for_the_cli():
    table = epsilon_table(0.5, 0.1, 100, 1e-5, "all")
    assert set(table) == {"rdp", "pld"}
    assert table["rdp"].epsilon == compute_epsilon(0.5, 0.1, 100, 1e-5, "rdp")
    assert table["pld"].epsilon < table["rdp"].epsilon and table["rdp"].order is not None
    row = table["pld"].to_dict()
    assert row["accountant"] == "pld" and row["steps"] == 100 and row["order"] is None
    assert list(epsilon_table(0.5, 0.1, 100, 1e-5, "rdp")) == ["rdp"]
    with pytest.raises(ValueError, match="accountant"):
        epsilon_table(0.5, 0.1, 100, 1e-5, "moments")


def test_sigma_table_reports_achieved_epsilon():
    row = sigma_table(8.0, 1e-5, 0.04, 2250, "rdp")["rdp"]
    assert row.epsilon <= row.target_epsilon == 8.0 and row.noise_multiplier > 0


def test_dpsgd_steps_rounds_up_but_not_float_error():
    assert dpsgd_steps(30, 40 / 280) == 210  # 30 epochs * 280 / 40
    assert dpsgd_steps(17, 85 / 280) == 56  # 17 * 280 / 85 exactly; 17 / (85 / 280) is 56.00000000000001 in floats
    assert dpsgd_steps(10, 0.1) == 100
    assert dpsgd_steps(1, 0.3) == 4  # 3.33 steps: round up, never account for fewer steps than the epochs asked
    assert dpsgd_steps(2.5, 0.5) == 5 and dpsgd_steps(0.01, 1.0) == 1
    with pytest.raises(ValueError, match="epochs"):
        dpsgd_steps(0, 0.1)
    with pytest.raises(ValueError, match="epochs"):
        dpsgd_steps(math.inf, 0.1)
    with pytest.raises(ValueError, match="sample_rate"):
        dpsgd_steps(1, 0.0)


def test_sampling_from_batches():
    assert sampling_from_batches(40, 400, 10) == (0.1, 100)
    q, steps = sampling_from_batches(40, 280, 30)
    assert q == pytest.approx(1 / 7) and steps == 210
    assert sampling_from_batches(3, 10, 1) == (0.3, 4)  # 3.33 steps rounds up: never understate epsilon
    with pytest.raises(ValueError, match="dataset_size"):
        sampling_from_batches(40, 20, 1)
    with pytest.raises(ValueError, match="epochs"):
        sampling_from_batches(4, 20, math.nan)
