"""The single-purpose commands: `dpmi epsilon` / `dpmi sigma` (checked against dp_accounting), and
`dpmi train` then `dpmi attack` on the real faces (weights + sidecar round-trip, weights_only loading)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dpmi.cli import main


def _json_out(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _pld_oracle(sigma, q, steps, delta):
    from dp_accounting import dp_event, pld

    event = dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    accountant = pld.PLDAccountant(value_discretization_interval=1e-3)
    accountant.compose(event)
    return accountant.get_epsilon(delta)


def test_epsilon_on_the_tutorials_setting(capsys):
    """Tutorial: lot 40 of 400 (q = 0.1), 10 epochs (100 steps), sigma 0.5, delta 1e-5."""
    out = _json_out(capsys, ["epsilon", "--sigma", "0.5", "--sample-rate", "0.1", "--steps", "100", "--json"])
    assert out["steps"] == 100 and out["sample_rate"] == 0.1
    assert out["epsilon"]["pld"] == pytest.approx(_pld_oracle(0.5, 0.1, 100, 1e-5), rel=1e-2)  # ~31.37
    assert out["epsilon"]["pld"] < out["epsilon"]["rdp"] < 40  # RDP is an upper bound, ~35.2 here
    # The same schedule given as batch / dataset size / epochs: q = 40/400, steps = ceil(10 * 400 / 40).
    derived = _json_out(capsys, ["epsilon", "--sigma", "0.5", "--batch-size", "40", "--dataset-size", "400",
                                 "--epochs", "10", "--json"])
    assert derived == out
    # Text output names both accountants.
    assert main(["epsilon", "--sigma", "0.5", "--sample-rate", "0.1", "--steps", "100"]) == 0
    text = capsys.readouterr().out
    assert "epsilon (RDP)" in text and "epsilon (PLD)" in text


def test_epsilon_rounds_partial_epochs_up(capsys):
    out = _json_out(capsys, ["epsilon", "--sigma", "1", "--batch-size", "40", "--dataset-size", "280",
                             "--epochs", "2.5", "--accountant", "rdp", "--json"])
    assert out["steps"] == math.ceil(2.5 * 280 / 40) == 18 and set(out["epsilon"]) == {"rdp"}


@pytest.mark.slow  # PLD calibration plus three dp_accounting PLD oracles (~5 s)
def test_sigma_meets_the_target_and_is_tight(capsys):
    argv = ["--delta", "1e-5", "--sample-rate", "0.04", "--steps", "500", "--json"]
    out = _json_out(capsys, ["sigma", "--epsilon", "8", "--accountant", "pld", *argv])
    sigma = out["sigma"]["pld"]
    # Independent check with dp_accounting: sigma meets epsilon 8, and 2% less noise would not.
    assert _pld_oracle(sigma, 0.04, 500, 1e-5) <= 8 * 1.01
    assert _pld_oracle(sigma * 0.98, 0.04, 500, 1e-5) > 8
    both = _json_out(capsys, ["sigma", "--epsilon", "8", *argv])
    assert both["sigma"]["rdp"] >= both["sigma"]["pld"] * 0.999  # RDP is looser: needs at least as much noise


@pytest.mark.slow
def test_train_then_attack_round_trip(capsys, tmp_path, faces_root, faces):
    model_path = tmp_path / "models" / "dp.pt"
    assert main(["train", "--data", str(faces_root), "--out", str(model_path), "--epochs", "5",
                 "--sigma", "1.0", "--seed", "3", "--no-progress"]) == 0, capsys.readouterr().err
    sidecar = json.loads(model_path.with_suffix(".json").read_text())
    assert sidecar["model"] == "softmax" and sidecar["noise_multiplier"] == 1.0
    # Trained on the 20 private identities only: 5 epochs over 20 x 7 = 140 faces at an expected batch of 40
    # (the default) is ceil(5 / (40 / 140)) = 18 steps.
    assert sidecar["identities"]["private"] == list(range(20)) and sidecar["steps"] == 18
    assert sidecar["epsilon"]["pld"] <= sidecar["epsilon"]["rdp"]
    assert sidecar["epsilon"]["pld"] == pytest.approx(_pld_oracle(1.0, 40 / 140, sidecar["steps"], 1e-5), rel=1e-2)

    # The weights are a plain state_dict (weights_only loads it) and reproduce the recorded accuracy on the
    # private identities' held-out faces.
    from dpmi.data import select_identities
    from dpmi.models import build_model

    state = torch.load(model_path, weights_only=True)
    model = build_model("softmax", num_classes=20, seed=None)
    model.load_state_dict(state)
    _, test = select_identities(faces, range(20)).split(train_per_class=7, seed=0)
    x, y = test.to_tensors()
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    assert accuracy == pytest.approx(sidecar["test_accuracy"], abs=1e-9)

    out_dir = tmp_path / "attack"
    assert main(["attack", str(model_path), "--labels", "0-3,11", "--max-iter", "20", "--no-metrics",
                 "--data", str(faces_root), "--out", str(out_dir), "--no-progress"]) == 0, capsys.readouterr().err
    images = np.load(out_dir / "reconstructions.npy")
    assert images.shape == (5, 1, 112, 92) and images.min() >= -1 and images.max() <= 1
    record = json.loads((out_dir / "attack.json").read_text())
    assert record["identities"] == [0, 1, 2, 3, 11] and record["diagnostics"]["iterations"] <= 20
    assert (out_dir / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
