"""Extreme privacy settings: the PLD accountant sizes every grid before allocating it, coarsens a grid that would not
fit in memory (and says so), and the commands that account (`dpmi epsilon`, `dpmi sigma`, `dpmi train`) answer in
one piece instead of dying in a 325 GiB allocation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dpmi.cli import main
from dpmi.privacy.accounting import PLDAccountant, RDPAccountant, SupportTooLargeError, compute_epsilon
from dpmi.privacy.accounting.pld_sampled_gaussian import sampled_gaussian_pld

# The schedule of the failing commands: batch 40 of 280 (q = 1/7), 30 epochs = 210 steps.
SCHEDULE = ["--batch-size", "40", "--dataset-size", "280", "--epochs", "30"]
Q, STEPS = 40 / 280, 210


def _run(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) <= 1
    return code, captured.out, captured.err


def _count_loss(sigma: float, q: float, steps: int, delta: float) -> float:
    """Closed form for sigma -> 0: a step that samples the example has loss ~ 1/(2 sigma^2) + log q (the Gaussian
    at 1 vs 0 is all but separated), one that does not has loss log(1 - q); so the loss is fixed by the count B ~
    Binomial(steps, q) and epsilon(delta) sits just below the loss of the largest count b with P(B >= b) > delta."""
    count = stats.binom(steps, q)
    b = max(b for b in range(steps + 1) if count.sf(b - 1) > delta)
    return b * (1 / (2 * sigma**2) + math.log(q)) + (steps - b) * math.log1p(-q)


def test_epsilon_at_tiny_sigma_is_coarsened_and_matches_the_counting_closed_form(capsys):
    code, out, err = _run(capsys, ["epsilon", "--sigma", "1e-3", *SCHEDULE, "--json"])
    assert code == 0 and err == ""
    result = json.loads(out)
    pld, rdp = result["epsilon"]["pld"], result["epsilon"]["rdp"]
    closed = _count_loss(1e-3, Q, STEPS, 1e-5)  # ~2.650e7 nats; one count more would add ~5e5
    # Valid upper bound (never below the closed form by more than its Gaussian fluctuation), and within the
    # coarse grid's slack (210 steps x ~100 nats) above it; RDP, looser, is above.
    assert closed - 1e3 <= pld <= closed + 5e4 < rdp
    assert "coarsened" in result["note"]["pld"]
    code, text, _ = _run(capsys, ["epsilon", "--sigma", "1e-3", *SCHEDULE, "--accountant", "pld"])
    assert code == 0 and "PLD grid coarsened" in text and "--pld-interval" in text


def test_epsilon_at_sigma_0_05_is_finite_and_agrees_with_dp_accounting(capsys):
    pld_oracle = pytest.importorskip("dp_accounting.pld")
    from dp_accounting import dp_event

    code, out, _ = _run(capsys, ["epsilon", "--sigma", "0.05", *SCHEDULE, "--json"])
    assert code == 0
    result = json.loads(out)
    ours = result["epsilon"]["pld"]
    event = dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(Q, dp_event.GaussianDpEvent(0.05)), STEPS)
    oracle = pld_oracle.PLDAccountant(value_discretization_interval=0.05)
    oracle.compose(event)
    theirs = oracle.get_epsilon(1e-5)  # ~10603 nats on a grid coarser than ours
    assert ours is not None and theirs - STEPS * 0.05 <= ours <= theirs * (1 + 1e-3)
    assert ours < result["epsilon"]["rdp"] and "coarsened" in result["note"]["pld"]
    # The flag sets the grid; a grid that fits is used as given (no note).
    code, out, _ = _run(capsys, ["epsilon", "--sigma", "0.05", *SCHEDULE, "--accountant", "pld", "--pld-interval",
                                 "0.05", "--json"])
    coarse = json.loads(out)
    assert code == 0 and coarse["note"] == {} and ours <= coarse["epsilon"]["pld"] <= theirs + 1.0


@pytest.mark.slow  # ~15 bisection steps of a coarsened PLD (~10 s)
def test_sigma_for_a_huge_epsilon_is_calibrated_on_a_coarsened_grid(capsys):
    code, out, _ = _run(capsys, ["sigma", "--epsilon", "1e9", *SCHEDULE, "--json"])
    assert code == 0
    result = json.loads(out)
    sigma_pld, sigma_rdp = result["sigma"]["pld"], result["sigma"]["rdp"]
    assert 0 < sigma_pld < sigma_rdp < 1e-3 and result["epsilon"]["pld"] <= 1e9
    assert "coarsened" in result["note"]["pld"]
    # Tight: slightly less noise misses the target. And independently, the counting closed form at that sigma is
    # about the target (the coarsened grid keeps epsilon an upper bound).
    assert compute_epsilon(sigma_pld * (1 - 3e-4), Q, STEPS, 1e-5, "pld") > 1e9
    assert _count_loss(sigma_pld, Q, STEPS, 1e-5) == pytest.approx(1e9, rel=2e-3)


def test_train_with_a_huge_epsilon_accounts_and_saves_the_model(capsys, tmp_path, faces_root):
    out = tmp_path / "huge.pt"
    code, _, err = _run(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--epsilon", "1e9",
                                 "--epochs", "3", "--no-progress"])
    assert code == 0, err
    assert out.is_file()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    epsilon = sidecar["epsilon"]
    assert math.isfinite(epsilon["pld"]) and 0 < epsilon["pld"] <= epsilon["rdp"]


def test_bad_pld_interval_is_one_line(capsys):
    code, _, err = _run(capsys, ["epsilon", "--sigma", "1", *SCHEDULE, "--pld-interval", "-1"])
    assert code == 2 and err.startswith("dpmi: error: --pld-interval")


def test_refusing_to_coarsen_names_the_interval_that_fits_before_allocating():
    acc = PLDAccountant(coarsen=False, max_atoms=1 << 16)  # a small budget keeps the test fast
    acc.step(1e-3, Q, STEPS)
    with pytest.raises(SupportTooLargeError, match="value_discretization_interval of at least") as info:
        acc.get_epsilon(1e-5)
    fits = PLDAccountant(value_discretization_interval=info.value.needed_interval * 1.01, coarsen=False,
                         max_atoms=1 << 16)
    fits.step(1e-3, Q, STEPS)
    assert fits.get_epsilon(1e-5) == pytest.approx(_count_loss(1e-3, Q, STEPS, 1e-5), rel=2e-2)
    assert fits.note == ""


def test_a_grid_that_fits_is_not_coarsened():
    acc = PLDAccountant()
    acc.step(1.0, Q, STEPS)
    eps = acc.get_epsilon(1e-5)
    assert acc.interval_used == 1e-4 and acc.note == ""
    rdp = RDPAccountant()
    rdp.step(1.0, Q, STEPS)
    assert 0.9 * rdp.get_epsilon(1e-5) < eps < rdp.get_epsilon(1e-5)


@settings(max_examples=30, deadline=None)
@given(log_sigma=st.floats(-3.5, 1.0), q=st.floats(1e-3, 1.0), side=st.sampled_from(["remove", "add"]))
def test_one_step_pld_keeps_all_its_mass(log_sigma, q, side):
    # The discretisation moves mass (pessimistically) but never loses it, however extreme the loss values: a tiny
    # sigma once overflowed exp(loss) and silently dropped the sampled branch (P-mass q).
    sigma = 10.0**log_sigma
    interval = max(1e-3, 1.0 / (2 * sigma * sigma) / 5e4)  # keeps the grid small
    pld = sampled_gaussian_pld(sigma, q, interval, side)
    assert not np.isnan(pld.pmf).any()
    assert pld.pmf.sum() + pld.infinity_mass == pytest.approx(1.0, abs=1e-9)
