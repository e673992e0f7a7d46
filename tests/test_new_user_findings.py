"""Issue 23's open findings of a new user, one test each (names, flags, fingerprints, compare, progress)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpmi.study.config import make_config
from dpmi.study.store import RunStore


def _fingerprint(**overrides):
    return make_config(**overrides).cell_fingerprint()


def test_refused_resume_names_flags_and_toml_keys_not_internal_keys(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare(_fingerprint(), {"config": {}})
    store.release_lock()
    changed = _fingerprint(
        attack_options={"mi-face": {"max_iter": 7}}, audit_canaries=50, epochs=5, attacks=("mi-face", "pca-prior")
    )
    changed["images_sha256"] = "0" * 64
    with pytest.raises(ValueError) as refused:
        store.prepare(changed, {"config": {}})
    text = str(refused.value)
    for internal in ("attack_options", "audit_canaries,", "images_sha256", "(epochs"):
        assert internal not in text, text
    assert "--epochs / [train] epochs (was 30, now 5)" in text
    assert "--attack-option mi-face.max_iter / [attack.mi-face] max_iter (was " in text and "now 7)" in text
    assert "[audit] canaries (was 1000, now 50)" in text or "--audit-canaries" in text
    assert "the faces at --data / [data] root" in text


# --------------------------------------------------------------------------------------- --image-size HxW
def test_att_faces_resize_as_the_folder_loader_resizes(faces_root):
    from PIL import Image

    from dpmi.data import load_faces

    att = load_faces(faces_root, image_size=(56, 46))  # the AT&T format, checked against its manifest
    folder = load_faces(faces_root, format="folder", image_size=(56, 46))
    assert att.images.shape == (400, 56, 46) and att.names == folder.names
    np.testing.assert_array_equal(att.images, folder.images)
    with Image.open(faces_root / "s3" / "2.pgm") as img:  # Pillow's bilinear resize, by hand
        expected = np.asarray(img.convert("L").resize((46, 56), Image.Resampling.BILINEAR))
    row = int(np.flatnonzero((att.labels == 2) & (att.image_ids == 2))[0])
    np.testing.assert_array_equal(att.images[row], expected)


def _mixed_folder(root, faces_root):
    """Four people, s1..s4's first three images, one of them stored at half size."""
    from PIL import Image

    for person in range(1, 5):
        (root / f"s{person}").mkdir(parents=True)
        for number in range(1, 4):
            with Image.open(faces_root / f"s{person}" / f"{number}.pgm") as img:
                img = img.resize((46, 56)) if (person, number) == (2, 3) else img
                img.save(root / f"s{person}" / f"{number}.png")
    return root


def test_image_size_flag_on_every_command_that_loads_faces(tmp_path, faces_root, capsys):
    from dpmi.cli import main

    mixed = _mixed_folder(tmp_path / "mixed", faces_root)
    assert main(["data", "info", str(mixed)]) == 0
    assert "mixed sizes" in capsys.readouterr().out
    assert main(["data", "info", str(mixed), "--image-size", "28x23"]) == 0
    assert "loaded as (height x width): 28x23 (resized)" in capsys.readouterr().out
    model = tmp_path / "m" / "model.pt"
    train = ["train", "--data", str(mixed), "--out", str(model), "--epochs", "1", "--train-per-class", "2", "--batch-size", "2"]
    assert main(train) == 2
    assert "--image-size HxW" in capsys.readouterr().err
    assert main([*train, "--image-size", "28x23", "--no-progress"]) == 0
    sidecar = json.loads(model.with_suffix(".json").read_text())
    assert sidecar["data"]["image_size"] == [28, 23] and sidecar["input_shape"] == [1, 28, 23]
    # The attack and the audit read the size back from the sidecar: the faces the model was trained on.
    from dpmi.workflows.saved_model_faces import load_saved_model_faces

    faces = load_saved_model_faces(sidecar)
    assert faces.private_train.image_shape == (28, 23)
    for command in (["run"], ["train"], ["audit"], ["data", "info"], ["data", "verify"]):
        assert main([*command, "--help"]) == 0
        assert "--image-size HxW" in capsys.readouterr().out, command


def test_a_run_older_than_a_new_setting_still_resumes(tmp_path):
    """A fingerprint saved before `image_size` existed lacks the key: its value then was the default (None)."""
    store = RunStore(tmp_path / "run")
    old = _fingerprint()
    del old["image_size"]
    store.prepare(old, {"config": {}})
    store.prepare(_fingerprint(), {"config": {}})  # resumes
    store.release_lock()
    with pytest.raises(ValueError, match=r"--image-size / \[data\] image_size \(was default, now 64,64\)"):
        store.prepare(_fingerprint(image_size=64), {"config": {}})


def test_study_config_reads_image_size_from_toml_and_flag():
    assert make_config(image_size="64x48").data.image_size == (64, 48)
    assert make_config(image_size=[64, 48]).data.image_size == (64, 48)
    assert make_config(image_size=32).data.image_size == (32, 32)
    assert make_config().data.image_size is None
    with pytest.raises(ValueError, match=r"--image-size / \[data\] image_size"):
        make_config(image_size="64y48")


# --------------------------------------------------------------------------------- one fingerprint per folder
def test_data_info_and_the_report_print_one_fingerprint(tmp_path, faces_root, capsys):
    import hashlib

    from dpmi.cli import main
    from dpmi.study.config import make_config
    from dpmi.study.provenance import data_provenance

    assert main(["data", "info", str(faces_root)]) == 0
    info = capsys.readouterr().out
    lines = "".join(  # the definition, by hand: "relative/path sha256" per image, s1/1.pgm .. s40/10.pgm
        f"s{person}/{number}.pgm {hashlib.sha256((faces_root / f's{person}' / f'{number}.pgm').read_bytes()).hexdigest()}\n"
        for person in range(1, 41)
        for number in range(1, 11)
    )
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert f"fingerprint (SHA-256 of paths and contents): {expected}" in info
    from dpmi.data import load_faces

    config = make_config(data=str(faces_root))
    record = data_provenance(config, load_faces(faces_root))
    assert record["fingerprint"] == expected
    resized = data_provenance(make_config(data=str(faces_root), image_size=32), load_faces(faces_root, image_size=32))
    assert resized["fingerprint"] == expected and resized["images_sha256"] != record["images_sha256"]


def test_report_names_the_fingerprint_and_reads_older_runs(tmp_path):
    from dpmi.study.results import render_outputs
    from test_study_report import _results, _write_run  # the synthetic run of the report's tests

    results = _results(seeds=(0,))
    results.data = {"root": "/faces", "fingerprint": "f" * 64, "images_sha256": "a" * 64}
    page = render_outputs(_write_run(tmp_path / "new", results), results)["report"].read_text(encoding="utf-8")
    assert f"fingerprint {'f' * 64} (as <code>dpmi data info</code> prints it)" in page or "f" * 64 in page
    assert "a" * 64 not in page and "manifest SHA-256" not in page
    results.data = {"root": "/faces", "images_sha256": "a" * 64}  # a run older than the fingerprint
    page = render_outputs(_write_run(tmp_path / "old", results), results)["report"].read_text(encoding="utf-8")
    assert "a" * 64 in page and "older than the folder fingerprint" in page


# ------------------------------------------------------------------------------------------------ dpmi compare
def _two_runs(tmp_path):
    """Run A: the report tests' synthetic run on 1 seed; run B: the same on 3 seeds with 60 epochs."""
    from test_study_report import _results, _write_run

    a, b = _results(seeds=(0,)), _results()
    a.config.update(seeds=1, epochs=30)
    b.config.update(seeds=3, epochs=60)
    a.split["private_test_images"] = b.split["private_test_images"] = 60
    for name, results in (("a", a), ("b", b)):
        store = _write_run(tmp_path / name, results)
        (store.root / "results.json").write_text(json.dumps(results.to_dict()))
    return tmp_path / "a" / "run", tmp_path / "b" / "run", a, b


def test_compare_notes_seeds_and_settings_and_shows_intervals(tmp_path, capsys, monkeypatch):
    from scipy.stats import beta, fisher_exact

    from dpmi.cli import main

    run_a, run_b, a, b = _two_runs(tmp_path)
    (tmp_path / "a" / "run").rename(tmp_path / "runA")
    (tmp_path / "b" / "run").rename(tmp_path / "runB")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["compare", str(tmp_path / "runA"), str(tmp_path / "runB")]) == 0
    out = capsys.readouterr().out
    assert not list(work.iterdir())  # nothing in the working directory
    assert (tmp_path / "compare_runA_vs_runB.png").read_bytes().startswith(b"\x89PNG")
    assert "note: the runs have different seeds: A seed 0, B 3 seeds (0..2)" in out
    assert "--epochs / [train] epochs (A: 30, B: 60)" in out and "seeds / " not in out
    assert "-0.0" not in out
    # eps1 / mi-face / eval_acc1: 0 of 10 in A (one seed) and 0 of 30 in B: Clopper-Pearson by its beta quantiles
    high_a, high_b = beta.ppf(0.975, 1, 10), beta.ppf(0.975, 1, 30)
    assert f"0.0-{100 * high_a:.1f}" in out and f"0.0-{100 * high_b:.1f}" in out
    # non-private pca-prior: 9/10 and 27/30, the same rate: not distinguishable; compare with Fisher by hand
    rows = {(r.split()[0], r.split()[1]) for r in out.splitlines()}
    assert rows  # the table printed
    from dpmi.study.compare import compare_runs
    from dpmi.study.results import load_results

    diffs = compare_runs(load_results(tmp_path / "runA"), load_results(tmp_path / "runB"))
    row = next(r for r in diffs if r.level_key == "eps8" and r.attack == "pca-prior" and r.key == "eval_acc1")
    assert (row.trials_a, row.trials_b) == (10, 30)
    assert row.p_value == pytest.approx(fisher_exact([[7, 3], [21, 9]])[1])
    assert row.distinguishable is False


def test_compare_never_prints_minus_zero():
    from dpmi.study.compare import points

    assert points(-1e-9, signed=True) == "+0.0" and points(-1e-9) == "0.0" and points(-0.004) == "-0.4"


def test_compare_figure_x_labels_do_not_overlap(tmp_path):
    from dpmi.study.compare import compare_runs, comparison_axes
    from dpmi.study.results import load_results

    run_a, run_b, _, _ = _two_runs(tmp_path)
    for name in ("a", "b"):  # long level labels, as the defense levels have
        path = tmp_path / name / "run" / "results.json"
        data = json.loads(path.read_text())
        for level in data["levels"]:
            level["label"] = f"early-stop (accuracy of {level['label']})"
        for cell in data["cells"]:
            cell["level"]["label"] = f"early-stop (accuracy of {cell['level']['label']})"
        path.write_text(json.dumps(data))
    fig = comparison_axes(compare_runs(load_results(run_a), load_results(run_b)), "a", "b")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 3
        for left, right in zip(boxes, boxes[1:]):
            assert not left.overlaps(right), (left, right)


# ------------------------------------------------------------------------------------ people named one way
def test_grid_text_names_people_as_the_grid_columns_do():
    from dpmi.study.levels import PrivacyLevel
    from dpmi.study.report import grid_sentence
    from dpmi.study.results import GridRow

    level = PrivacyLevel("nonprivate", "non-private")
    row = GridRow(level, "mi-face", 0, np.zeros((8, 4, 4)), [True, False] * 4, "pretrained face recognizer")
    names = [f"s{k + 1}" for k in range(20)]
    text = grid_sentence([row], "nonprivate", list(range(8)), names)
    assert "people s1..s8" in text and "people 0..7" not in text and "mi-face 4 of 8" in text
    assert "people person 0..person 7" in grid_sentence([row], "nonprivate", list(range(8)))


def test_help_and_study_toml_say_people_one_way(capsys):
    from pathlib import Path

    from dpmi.cli import main

    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "1..K" not in text and "attack the first K private people" in text
    assert "(AT&T: 0 is s1)" in text
    toml = (Path(__file__).parents[1] / "study.toml").read_text()
    assert "0..identities-1" not in toml and "attack the first K private people" in toml
