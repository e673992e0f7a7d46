"""Bad input to the CLI: one line on stderr starting `dpmi: error:`, exit code 2, no traceback, and no run
directory left behind. --help and --version exit 0."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch

from dpmi.cli import main


def _fails_cleanly(capsys, argv, fragment):
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("dpmi: error: "), captured.err
    assert "Traceback" not in captured.err
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--model", "resnet"], "unknown model 'resnet'"),
        (["--epsilons", "8,0"], "target epsilons must be > 0"),
        (["--epsilons", "-1"], "target epsilons must be > 0"),
        (["--delta", "1"], "delta must be in (0, 1)"),
        (["--delta", "1.5"], "delta must be in (0, 1)"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--seeds", "-2"], "seeds"),
        (["--epochs", "-5"], "epochs must be >= 1"),
        (["--epochs", "three"], "invalid int value"),
        (["--epsilons", "8,x"], "comma-separated list of numbers"),
        (["--accountant", "moments"], "'moments'"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_run_rejects_bad_settings_before_touching_disk(capsys, tmp_path, faces_root, flags, fragment):
    out = tmp_path / "run"
    _fails_cleanly(capsys, ["run", "--data", str(faces_root), "--out", str(out), *flags], fragment)
    assert not out.exists()


def test_run_rejects_unreadable_config(capsys, tmp_path, faces_root):
    bad = tmp_path / "study.toml"
    bad.write_text("[train]\nepochs = = 3\n")
    out = tmp_path / "run"
    _fails_cleanly(capsys, ["run", "--config", str(bad), "--out", str(out)], "not valid TOML")
    _fails_cleanly(capsys, ["run", "--config", str(tmp_path / "nope.toml"), "--out", str(out)], "does not exist")
    bad.write_bytes(b"\xff\xfe\x00 not text")
    _fails_cleanly(capsys, ["run", "--config", str(bad), "--out", str(out)], "not valid TOML")
    assert not out.exists()


def test_run_rejects_a_data_directory_without_faces(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    # --data-format auto reads a directory without AT&T images as an identity folder
    _fails_cleanly(capsys, ["run", "--data", str(empty), "--out", str(out)], "holds 0 identity folders")
    _fails_cleanly(capsys, ["run", "--data", str(tmp_path / "nowhere"), "--out", str(out)], "no such directory")
    assert not out.exists()


def test_run_rejects_an_out_that_is_a_file(capsys, tmp_path, faces_root):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    _fails_cleanly(capsys, ["run", "--data", str(faces_root), "--out", str(taken)], "is a file")
    assert taken.read_text() == "keep me"


def _fake_model(tmp_path, payload: bytes, sidecar: dict | None):
    path = tmp_path / "model.pt"
    path.write_bytes(payload)
    if sidecar is not None:
        sidecar = {**sidecar, "weights_sha256": hashlib.sha256(payload).hexdigest()}
        (tmp_path / "model.json").write_text(json.dumps(sidecar))
    return path


_SIDECAR = {"format": "dpmi-model", "format_version": 1, "model": "softmax", "num_classes": 40,
            "input_shape": [1, 112, 92]}


class Payload:
    """Not weights: torch.load(weights_only=True) must refuse to unpickle it."""


def test_attack_rejects_files_that_are_not_dpmi_models(capsys, tmp_path):
    _fails_cleanly(capsys, ["attack", str(tmp_path / "missing.pt")], "does not exist")
    path = _fake_model(tmp_path, b"\x00garbage", None)
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "sidecar")
    path = _fake_model(tmp_path, b"\x00garbage", {"format": "something-else"})
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "not a dpmi model sidecar")
    path = _fake_model(tmp_path, b"\x00garbage", _SIDECAR)
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "torch cannot read it")
    path = _fake_model(tmp_path, pickle.dumps(Payload(), protocol=2), _SIDECAR)
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "not a dpmi model")
    # Real tensors, but the wrong shapes for the named model.
    buffer = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(3)}, buffer)
    path = _fake_model(tmp_path, buffer.read_bytes(), _SIDECAR)
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "does not fit a 'softmax' model")
    # A real dpmi-looking pair whose weights were swapped afterwards.
    (tmp_path / "model.pt").write_bytes(buffer.read_bytes() + b"x")
    _fails_cleanly(capsys, ["attack", str(path), "--no-metrics"], "does not match its sidecar")


def test_report_on_a_directory_that_is_not_a_run(capsys, tmp_path):
    _fails_cleanly(capsys, ["report", str(tmp_path / "nope")], "does not exist")
    _fails_cleanly(capsys, ["report", str(tmp_path)], "not a finished dpmi run directory")
    (tmp_path / "results.json").write_text("{not json")
    _fails_cleanly(capsys, ["report", str(tmp_path)], "not a dpmi results file")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["epsilon", "--sigma", "0", "--sample-rate", "0.1", "--steps", "10"], "--sigma must be > 0"),
        (["epsilon", "--sigma", "1", "--sample-rate", "1.5", "--steps", "10"], "--sample-rate must be in (0, 1]"),
        (["epsilon", "--sigma", "1", "--sample-rate", "0.1", "--steps", "0"], "--steps must be >= 1"),
        (["epsilon", "--sigma", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1"], "--delta"),
        (["epsilon", "--sigma", "1", "--sample-rate", "0.1"], "give --sample-rate and --steps"),
        (["epsilon", "--sigma", "1", "--batch-size", "40", "--epochs", "3"], "go together"),
        (["epsilon", "--sigma", "1", "--sample-rate", "0.1", "--steps", "5", "--epochs", "3"], "not both"),
        (["sigma", "--epsilon", "0", "--sample-rate", "0.1", "--steps", "10"], "--epsilon must be > 0"),
        (["sigma", "--epsilon", "-2", "--sample-rate", "0.1", "--steps", "10"], "--epsilon must be > 0"),
        (["epsilon"], "required"),
        (["train", "--model", "vgg", "--out", "x.pt"], "unknown model 'vgg'"),
        (["train", "--sigma", "1", "--epsilon", "3"], "not allowed with argument"),
        (["nonsense"], "invalid choice"),
        ([], "required"),
        (["data"], "required"),
    ],
)
def test_other_commands_reject_bad_input(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    _fails_cleanly(capsys, argv, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_train_rejects_negative_epochs_and_seeds_before_training(capsys, tmp_path, faces_root):
    out = tmp_path / "m.pt"
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--epochs", "-1"], "epochs")
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--seed", "-1"], "--seed must be")
    # Errors name the flag, not the TrainConfig field (batch_size, max_grad_norm, train_per_class).
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--batch-size", "1000"],
                   "--batch-size must be")
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--clip", "0"], "--clip must be")
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(out), "--train-per-class", "10"],
                   "--train-per-class must be")
    _fails_cleanly(capsys, ["train", "--data", str(faces_root), "--out", str(tmp_path)], "is a directory")
    assert not out.exists()


def test_help_and_version_exit_zero(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip().startswith("dpmi ")
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--quick", "--jobs", "--out", "--data", "--epsilons", "--sigmas", "results.json"):
        assert flag in text


def test_ctrl_c_exits_130_with_one_line(capsys, monkeypatch):
    from dpmi.workflows import account

    def interrupted(options, log=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(account, "epsilon_report", interrupted)
    code = main(["epsilon", "--sigma", "1", "--sample-rate", "0.1", "--steps", "10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1 and "interrupted" in err[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(capsys, tmp_path, faces_root):
    out = tmp_path / "run"
    _fails_cleanly(capsys, ["run", "--data", str(faces_root), "--out", str(out), "--device", "cuda"], "no usable CUDA")
    _fails_cleanly(capsys, ["train", "--out", str(tmp_path / "m.pt"), "--device", "cuda:0"], "no usable CUDA")
    assert list(tmp_path.iterdir()) == []
