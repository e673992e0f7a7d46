"""`dpmi train` and `dpmi attack` as a newcomer meets them: defaults from one source and shown in --help,
a finished training never lost to its accounting, attack results kept beside the model (and a bad --out
refused before the attack), JSON output, and a figure whose frames say only what was measured."""

from __future__ import annotations

import argparse
import inspect
import json
from dataclasses import fields

import numpy as np
import pytest

from dpmi.cli import build_parser, main


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_train_flags_take_their_defaults_from_trainconfig_and_train_model():
    from dpmi.privacy.dpsgd import TrainConfig
    from dpmi.workflows import train_model

    args = _subparser("train").parse_args([])
    defaults = TrainConfig()
    for f in fields(TrainConfig):  # every TrainConfig field is a flag, and its default is TrainConfig's
        assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    signature = inspect.signature(train_model).parameters
    for name in ("model", "train_per_class", "split_seed", "private_identities", "public_identities"):
        assert getattr(args, name) == signature[name].default, name


def test_attack_flags_and_listing_take_their_defaults_from_the_registry(capsys):
    from dpmi.attacks.registry import attack_spec, available_attacks
    from dpmi.workflows import attack_saved_model

    parser = _subparser("attack")
    signature = inspect.signature(attack_saved_model).parameters
    args = parser.parse_args(["model.pt"])
    assert (args.attack, args.device, args.identities, args.out) == (
        signature["attack"].default, signature["device"].default, signature["identities"].default,
        signature["out"].default)
    assert not args.no_metrics and signature["metrics"].default is True
    help_text = parser.format_help()
    mi_face = attack_spec("mi-face")
    for key, default in mi_face.defaults.items():
        action = next(a for a in parser._actions if a.dest == f"mi_face_{key}")
        assert f"(default {default})" in " ".join(action.help.replace("%%", "%").split())
    assert main(["attack", "--list-attacks"]) == 0
    listing = capsys.readouterr().out
    for name in available_attacks():
        spec = attack_spec(name)
        assert f"{name}:" in listing and f"{name}:" in help_text
        for key, default in spec.defaults.items():
            assert f"{key}={default}" in listing


@pytest.mark.parametrize("command", ["train", "attack"])
def test_every_option_shows_its_default(command):
    for action in _subparser(command)._actions:
        if action.dest in ("help", "list_attacks") or not action.option_strings:
            continue
        assert "default" in (action.help or ""), f"{command} {action.option_strings[0]}: {action.help!r}"
    text = " ".join(_subparser(command).format_help().split())
    for term in (("RDP ", "PLD ", "order ", "seeded ", "secure ") if command == "train"
                 else ("ALPHA", "BETA", "GAMMA", "LAMBDA", "Process is", "AuxTerm is", "numbered from 0")):
        assert term in text, term


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory, faces_root):
    """One epoch of DP-SGD on the real faces' private identities, through the CLI, with PLD failing after
    training (as it did at --epsilon 1e9: numpy could not allocate 325 GiB)."""
    from dpmi.privacy import accounting

    real = accounting.compute_epsilon

    def pld_out_of_memory(sigma, q, steps, delta, accountant="rdp"):
        if accountant == "pld":
            raise MemoryError("Unable to allocate 325. GiB for an array with shape (43620000000,)")
        return real(sigma, q, steps, delta, accountant=accountant)

    path = tmp_path_factory.mktemp("cli") / "models" / "dp.pt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounting, "compute_epsilon", pld_out_of_memory)
        code = main(["train", "--data", str(faces_root), "--out", str(path), "--epochs", "1", "--sigma", "1",
                     "--json", "--no-progress"])
    return path, code


def test_train_saves_the_model_even_when_accounting_fails(cli_model):
    path, code = cli_model
    assert code == 0 and path.is_file()
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["epsilon"]["pld"] is None and sidecar["epsilon"]["rdp"] > 0
    assert "MemoryError" in sidecar["accounting_errors"]["pld"]
    assert sidecar["identities"]["private"] == list(range(20)) and sidecar["num_classes"] == 20
    assert sidecar["data"]["num_images"] == 400 and sidecar["data"]["root"] and sidecar["mode"] == "seeded"


def test_train_json_and_warning(capsys, tmp_path, faces_root, monkeypatch):
    from dpmi.privacy import accounting

    monkeypatch.setattr(accounting, "compute_epsilon", lambda *a, **k: (_ for _ in ()).throw(MemoryError("no")))
    assert main(["train", "--data", str(faces_root), "--out", str(tmp_path / "m.pt"), "--epochs", "1",
                 "--sigma", "2", "--private-people", "0-4", "--batch-size", "10", "--secure", "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["identities"]["private"] == [0, 1, 2, 3, 4] and out["identities"]["public"] == list(range(5, 40))
    assert out["epsilon"] == {"rdp": None, "pld": None} and out["mode"] == "secure"
    warnings = [line for line in captured.err.splitlines() if line.startswith("dpmi: warning:")]
    assert len(warnings) == 2 and all("saved" in line for line in warnings)


def test_attack_keeps_its_results_beside_the_model(capsys, cli_model, faces_root):
    path, _ = cli_model
    capsys.readouterr()
    assert main(["attack", str(path), "--identities", "0-2,11", "--max-iter", "5", "--no-metrics",
                 "--no-progress"]) == 0, capsys.readouterr().err
    out_dir = path.parent / "dp-mi-face"
    assert str(out_dir) in capsys.readouterr().out  # says where
    images = np.load(out_dir / "reconstructions.npy")
    assert images.shape == (4, 1, 112, 92)
    record = json.loads((out_dir / "attack.json").read_text())
    assert record["identities"] == [0, 1, 2, 11] and record["options"]["max_iter"] == 5
    assert (out_dir / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    # --json prints the same record; --option sets any registered option.
    assert main(["attack", str(path), "--identities", "3", "--option", "max_iter=2", "--option", "process=tv",
                 "--no-metrics", "--no-progress", "--json", "--out", str(path.parent / "tv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["options"]["process"] == "tv" and printed["options"]["max_iter"] == 2
    assert printed["out_dir"] == str(path.parent / "tv")


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--out", "/proc/dpmi-cannot-write"], "cannot be written"),
    (["--identities", "25"], "public"),
    (["--option", "bogus=1"], "takes no option 'bogus'"),
    (["--option", "max_iter=many"], "--option max_iter"),
    (["--attack", "nope"], "invalid choice"),
])
def test_attack_refuses_before_attacking(capsys, cli_model, monkeypatch, argv, fragment):
    from dpmi.attacks import registry

    def never(*args, **kwargs):
        raise AssertionError("the attack ran")

    monkeypatch.setattr(registry, "make_attack", never)
    path, _ = cli_model
    code = main(["attack", str(path), "--no-metrics", "--no-progress", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("dpmi: error:") and fragment in err[0], err


def test_attack_figure_frames_only_what_was_measured():
    from matplotlib.image import imread

    from dpmi.workflows.attack_figure import RIGHT, WRONG, attack_grid

    def colour_pixels(png: bytes, hex_colour: str) -> int:
        import io

        pixels = imread(io.BytesIO(png))[..., :3]
        target = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        return int((np.abs(pixels - target).max(axis=-1) < 0.02).sum())

    rng = np.random.default_rng(0)
    recon, means = rng.uniform(-1, 1, (3, 1, 28, 24)), rng.uniform(-1, 1, (3, 1, 28, 24))
    judged = attack_grid(recon, ["s1", "s5", "s8"], mean_faces=means, correct=np.array([True, False, False]), title="t")
    plain = attack_grid(recon, ["s1", "s5", "s8"], mean_faces=means, correct=None, title="t")
    green, red = colour_pixels(judged, RIGHT), colour_pixels(judged, WRONG)
    assert green > 0 and red > 1.5 * green  # one green frame, two red ones
    assert colour_pixels(plain, RIGHT) == 0 and colour_pixels(plain, WRONG) == 0


def test_train_checks_where_it_will_write_before_training(capsys, faces_root, monkeypatch, tmp_path):
    from dpmi.privacy import dpsgd

    def never(*args, **kwargs):
        raise AssertionError("trained although the model could not be saved")

    monkeypatch.setattr(dpsgd, "train", never)
    for out, fragment in (("/proc/dpmi-cannot-write/m.pt", "cannot be written"),
                          (str(tmp_path / "a-file" / "m.pt"), "is a file")):
        (tmp_path / "a-file").write_text("x")
        code = main(["train", "--data", str(faces_root), "--out", out, "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and fragment in err[0], err
