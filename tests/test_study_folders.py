"""`dpmi run` on your own faces and model: identity folders built on the fly (RGB and greyscale, 15 people
with 3..8 images each, a second public folder resized to the private images), a user model factory, and
the Ray executor; bad input is one `dpmi: error:` line, exit 2, and no run directory."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from dpmi.cli import main
from dpmi.data import make_synthetic_faces, write_image_folder

PEOPLE = 15
USER_MODEL = "_study_user_model:small_mlp"  # tests/ is on sys.path (pytest's rootdir-relative import)
# The whole study at its smallest: 1 seed, the non-private level and one calibrated epsilon, 2 epochs,
# one recipe per level in the search, MI-FACE and the PCA prior at a few steps.
TINY = ["--seeds", "1", "--epochs", "2", "--batch-size", "8", "--train-per-class", "3", "--sigmas", "none",
        "--epsilons", "8", "--search-lr", "0.05", "--search-epochs", "2", "--search-batch-size", "8",
        "--search-clip", "1", "--attacks", "mi-face,pca-prior", "--attack-option", "mi-face.max_iter=5",
        "--attack-option", "pca-prior.steps=3", "--attack-option", "pca-prior.restarts=1",
        "--attack-option", "pca-prior.candidates=8", "--attack-option", "pca-prior.components=4",
        "--defenses", "none", "--no-progress"]


def uneven_folder(root: Path, *, channels: int, shape: tuple[int, int], seed: int, people: int = PEOPLE,
                  counts: list[int] | None = None, prefix: str = "person") -> Path:
    """`people` identities with 3..8 images each (cycling), written as root/<prefix>NN/<k>.png."""
    faces = make_synthetic_faces(num_identities=people, per_identity=8, image_shape=shape, channels=channels,
                                 seed=seed)
    counts = counts or [3 + k % 6 for k in range(people)]
    keep = np.concatenate([np.flatnonzero(faces.labels == k)[:counts[k]] for k in range(people)])
    names = [f"{prefix}{k:02d}" for k in range(people)]
    return write_image_folder(faces.subset(keep), root, names=names)


def run_cli(argv: list[str]) -> int:
    return main(["run", *argv])


def check_results(out: Path, *, private_names: list[str], channels: int, shape: tuple[int, int]) -> dict:
    results = json.loads((out / "results.json").read_text())
    split = results["split"]
    assert split["private_names"] == private_names
    assert results["data"]["format"] == "folder" and results["data"]["image_shape"] == [channels, *shape]
    assert set(split["private_names"]).isdisjoint(split["public_names"])
    levels = {level["key"]: level for level in results["levels"]}
    assert len(levels) == 2 and len(results["cells"]) == 2
    for cell in results["cells"]:
        level = levels[cell["level"]["key"]]
        assert math.isfinite(cell["test_accuracy"]) and 0 <= cell["test_accuracy"] <= 1
        assert [attack["name"] for attack in cell["attacks"]] == ["mi-face", "pca-prior"]
        for attack in cell["attacks"]:
            metrics = attack["metrics"]
            assert 0 <= metrics["eval_acc1"] <= 1 and all(math.isfinite(v) for v in metrics.values()), metrics
        epsilon = cell["train"]["epsilon"]
        if level["target_epsilon"] is None:
            assert not epsilon  # non-private: no epsilon
        else:  # private: an epsilon spent, within the level's target
            assert epsilon and math.isfinite(epsilon[-1]) and 0 < epsilon[-1] <= level["target_epsilon"] + 1e-6
        reconstructions = np.load(out / "cells" / f"{level['key']}__seed{cell['seed']}.npy")
        assert reconstructions.shape == (2, results["split"]["people_attacked"], channels, *shape)
        assert np.isfinite(reconstructions).all()
    assert (out / "report.html").is_file() and (out / "figures" / "reconstructions.png").is_file()
    return results


def test_study_on_an_rgb_folder_with_a_user_model(tmp_path, monkeypatch):
    """15 RGB people, 3..8 images each; the default split of the one folder gives private and public people."""
    import dpmi.study.figures as figures

    drawn = {}
    grid = figures.reconstruction_grid

    def recording_grid(*args, **kwargs):
        drawn.update(kwargs, mean_faces=args[0], rows=args[1])
        return grid(*args, **kwargs)

    monkeypatch.setattr(figures, "reconstruction_grid", recording_grid)
    data = uneven_folder(tmp_path / "faces", channels=3, shape=(18, 16), seed=1)
    out = tmp_path / "run"
    assert run_cli(["--data", str(data), "--model", USER_MODEL, "--out", str(out), *TINY]) == 0
    private = [f"person{k:02d}" for k in range(7)]
    results = check_results(out, private_names=private, channels=3, shape=(18, 16))
    assert results["split"]["public_names"] == [f"person{k:02d}" for k in range(7, PEOPLE)]
    assert results["split"]["private_train_images"] == sum(min(3, 3 + k % 6 - 1) for k in range(7))  # capped
    # The report's grid names the people as the folder does, and draws them in colour.
    assert drawn["names"] == private
    assert drawn["rows"][0][1].shape == (7, 18, 16, 3) and drawn["mean_faces"].shape == (7, 18, 16, 3)


@pytest.mark.slow  # its Ray half starts a local Ray (~10 s on 2 shared cores)
def test_study_on_a_greyscale_folder_with_a_public_folder_serial_and_on_ray(tmp_path):
    """All 15 people of --data are private; the attacker's people are a second folder of other people at
    another size and in RGB, converted to the private images' size and channel. The same study with
    `--executor ray` on a local Ray of 2 CPUs gives the same cell numbers and reconstructions."""
    data = uneven_folder(tmp_path / "private", channels=1, shape=(16, 17), seed=2)
    public = uneven_folder(tmp_path / "public", channels=3, shape=(24, 20), seed=3, people=6, prefix="other")
    flags = ["--data", str(data), "--public", str(public), "--model", USER_MODEL, "--identities", "4",
             *TINY]
    assert run_cli([*flags, "--out", str(tmp_path / "serial")]) == 0
    results = check_results(tmp_path / "serial", private_names=[f"person{k:02d}" for k in range(PEOPLE)],
                            channels=1, shape=(16, 17))
    assert results["split"]["public_names"] == [f"other{k:02d}" for k in range(6)]
    assert results["data"]["public_people"] == 6

    ray = pytest.importorskip("ray")
    # Ray's workers import the user's factory by module name, as they would on a cluster: put tests/ on the
    # path of the local Ray's workers (they inherit this environment).
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent)] + ([saved] if saved else []))
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        assert run_cli([*flags, "--executor", "ray", "--out", str(tmp_path / "ray")]) == 0
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    serial, on_ray = _cell_numbers(tmp_path / "serial"), _cell_numbers(tmp_path / "ray")
    assert serial.keys() == on_ray.keys() and len(serial) == 2
    for key, (record, images) in serial.items():
        assert on_ray[key][0] == record, key
        np.testing.assert_array_equal(on_ray[key][1], images)


def _cell_numbers(out: Path) -> dict:
    """Every cell's numbers (timings left out: they are the only thing allowed to differ)."""
    cells = {}
    for path in sorted((out / "cells").glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("timings", None)
        for attack in record["attacks"]:
            attack.pop("seconds", None)
            attack.pop("metric_seconds", None)
        cells[path.stem] = (record, np.load(path.with_suffix(".npy")))
    return cells


def _fails_cleanly(capsys, argv, fragment):
    code = main(["run", *argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("dpmi: error: "), captured.err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("case", "flags", "fragment"),
    [
        ("one identity", [], "identit"),
        ("one image", [], "person03"),
        ("ok", ["--model", "_no_such_module_here:factory"], "cannot import module"),
        ("ok", ["--model", "_study_user_model:not_a_module"], "not a torch.nn.Module"),
        ("ok", ["--model", "_study_user_model:one_logit_too_many"], "expected (2, 7)"),
        ("ok", ["--model", "_study_user_model:with_batchnorm"], "BatchNorm"),
        ("ok", ["--executor", "ray", "--ray-address", "127.0.0.1:9"], "does not answer"),
        ("ok", ["--ray-address", "127.0.0.1:9"], "needs the Ray executor"),
        ("tiny images", [], "at least 16 a side"),
        ("public is private", [], "also among the private images"),
    ],
)
def test_bad_input_is_one_line_and_no_run_directory(capsys, tmp_path, case, flags, fragment):
    counts = None
    people = PEOPLE
    if case == "one identity":
        people, counts = 2, [5, 5]
    elif case == "one image":
        counts = [3 + k % 6 for k in range(PEOPLE)]
        counts[3] = 1
    shape = (12, 10) if case == "tiny images" else (16, 16)
    data = uneven_folder(tmp_path / "faces", channels=1, shape=shape, seed=4, people=people, counts=counts)
    if case == "one identity":
        shutil.rmtree(data / "person01")
    if case == "public is private":  # the attacker's folder holds private faces
        flags = ["--public", str(data)]
    out = tmp_path / "run"
    _fails_cleanly(capsys, ["--data", str(data), "--out", str(out), *TINY, *flags], fragment)
    assert not out.exists()


def _cell_numbers(out: Path) -> dict:
    """Every cell's numbers (timings left out: they are the only thing allowed to differ)."""
    cells = {}
    for path in sorted((out / "cells").glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("timings", None)
        for attack in record["attacks"]:
            attack.pop("seconds", None)
            attack.pop("metric_seconds", None)
        cells[path.stem] = (record, np.load(path.with_suffix(".npy")))
    return cells

