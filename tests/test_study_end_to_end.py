"""`dpmi run --quick` end to end on the real faces (two levels, two attacks, four people): every output exists
and holds sane numbers, the split and the data's provenance are recorded, each level's epsilon is the one of
the recipe it trained with, a re-run resumes without recomputing, a recomputed cell gives the same numbers,
`dpmi report` rebuilds the page (and its shareable variant), and `dpmi compare` compares or refuses."""

from __future__ import annotations

import csv
import hashlib
import json
from importlib import resources

import numpy as np
import pytest

from dpmi.cli import main

pytestmark = pytest.mark.slow
ATTACKS = "mi-face,pca-prior"


def _argv(out, faces_root):
    return ["run", "--quick", "--data", str(faces_root), "--out", str(out), "--no-progress", "--identities", "4",
            "--sigmas", "none", "--epsilons", "8", "--attacks", ATTACKS, "--defenses", "early-stop",
            # a short prior attack: this test is about the study's plumbing, not the attack's strength
            "--attack-option", "pca-prior.restarts=1", "--attack-option", "pca-prior.candidates=50",
            "--attack-option", "pca-prior.steps=50"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, faces_root):
    out = tmp_path_factory.mktemp("study") / "quick <&> run"  # a name that needs escaping in the report
    assert main(_argv(out, faces_root)) == 0
    return out


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_outputs_exist_and_record_split_and_provenance(quick_run, faces_root):
    for name in ("results.json", "results.csv", "report.html", "figures/privacy_utility_leakage.png",
                 "figures/reconstructions.png", "study.json"):
        assert (quick_run / name).is_file(), name
    results = _results(quick_run)
    # The privacy levels, then the frontier's accuracy-matched early-stopped model for the DP-SGD level.
    assert [level["key"] for level in results["levels"]] == ["nonprivate", "eps8", "earlystop-eps8"]
    assert len(results["cells"]) == 3 and {c["seed"] for c in results["cells"]} == {0}
    matched = next(lv for lv in results["levels"] if lv["key"] == "earlystop-eps8")
    assert matched["defense"] == "early-stop" and matched["matched_to"] == "eps8" and matched["noise_multiplier"] is None
    assert all([a["name"] for a in c["attacks"]] == ATTACKS.split(",") for c in results["cells"])
    split = results["split"]
    assert split["private"] == list(range(20)) and split["public"] == list(range(20, 40))
    assert split["private_train_images"] == 140 and split["people_attacked"] == 4
    manifest = resources.files("dpmi.data").joinpath("att_faces.sha256").read_bytes()
    assert results["data"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert results["data"]["root"] == str(faces_root.resolve())
    with open(quick_run / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[0]["level"] == "nonprivate" and rows[0]["attack"] == "mi-face"
    page = (quick_run / "report.html").read_text()
    assert "quick &lt;&amp;&gt; run" in page and "quick <&> run" not in page
    # The trade-off figure and the grid (privacy levels only), and the frontier's figure when a judge is trusted.
    assert page.count("data:image/png;base64,") in (2, 3) and "The frontier" in page
    assert "Smoke run (--quick)" in page and "±" not in page and "personal data" in page
    assert set(results["timings"]) >= {"data", "recipe search", "accounting", "evaluator", "prior", "training",
                                       "attacks", "metrics", "report", "total"}


def test_numbers_are_sane_and_epsilon_follows_the_recipe(quick_run):
    from dpmi.privacy.accounting import dpsgd_steps

    results = _results(quick_run)
    cells = {c["level"]["key"]: c for c in results["cells"]}
    level = next(lv for lv in results["levels"] if lv["key"] == "eps8")
    recipe = next(r for r in results["recipes"] if r["level_key"] == "eps8")
    assert recipe["searched"] and len(recipe["trials"]) > 1
    assert recipe["val_accuracy"] == max(t["val_accuracy"] for t in recipe["trials"])
    # The level's epsilon was computed for the chosen recipe's lot and epochs on the 140 private images.
    assert level["sample_rate"] == pytest.approx(recipe["recipe"]["batch_size"] / 140)
    assert level["steps"] == dpsgd_steps(recipe["recipe"]["epochs"], recipe["recipe"]["batch_size"] / 140)
    assert cells["eps8"]["train"]["steps"] == level["steps"]
    assert level["epsilon_rdp"] <= 8.0 * 1.001 and level["epsilon_pld"] <= level["epsilon_rdp"]
    assert cells["eps8"]["recipe"] == recipe["recipe"]
    assert cells["nonprivate"]["test_accuracy"] >= 0.8
    for cell in cells.values():
        for attack in cell["attacks"]:
            assert 0 <= attack["metrics"]["eval_acc1"] <= 1 and len(attack["per_label"]["eval_top1"]) == 4
    images = np.load(quick_run / "cells" / "nonprivate__seed0.npy")
    assert images.shape == (2, 4, 1, 112, 92) and np.isfinite(images).all()


class _InterruptAfterFirstCell:
    """An executor that runs one cell and then behaves as if the user pressed Ctrl-C."""

    def map_unordered(self, fn, tasks, initializer=None, initargs=()):
        from dpmi.study.executor import SerialExecutor

        yield next(SerialExecutor().map_unordered(fn, tasks, initializer, initargs))
        raise KeyboardInterrupt


def test_rerun_resumes_and_recomputed_cells_are_identical(quick_run, faces_root, capsys):
    from dpmi.cli import build_parser
    from dpmi.study.config import make_config
    from dpmi.study.flags import study_overrides
    from dpmi.study.runner import run_study

    cells = quick_run / "cells"
    argv = _argv(quick_run, faces_root)
    before = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    old = json.loads((cells / "eps8__seed0.json").read_text())
    assert main(argv) == 0
    assert "0 cells run, 3 resumed" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")} == before

    # Lose a cell, recompute it and get interrupted right after: the finished cell is kept.
    (cells / "eps8__seed0.json").unlink()
    config = make_config(**study_overrides(build_parser().parse_args(argv)))
    with pytest.raises(KeyboardInterrupt):
        run_study(config, executor=_InterruptAfterFirstCell(), progress=False)
    assert main(argv) == 0
    assert "0 cells run, 3 resumed" in capsys.readouterr().out
    new = json.loads((cells / "eps8__seed0.json").read_text())
    for part in ("train", "test_accuracy", "recipe"):
        assert new[part] == old[part], part
    for a, b in zip(new["attacks"], old["attacks"]):
        assert a["metrics"] == b["metrics"] and a["per_label"] == b["per_label"], a["name"]
    assert main([*argv, "--epochs", "5"]) == 2  # settings that change the numbers cannot be mixed
    assert "different settings: --epochs / [train] epochs (was 30, now 5)" in capsys.readouterr().err


def test_report_rebuilds_and_compare(quick_run, tmp_path, capsys):
    for name in ("report.html", "figures/privacy_utility_leakage.png", "figures/reconstructions.png"):
        (quick_run / name).unlink()
    assert main(["report", str(quick_run), "--shareable"]) == 0
    assert "non-private" in capsys.readouterr().out
    assert (quick_run / "report.html").is_file() and (quick_run / "figures" / "reconstructions.png").is_file()
    assert "real faces are left out" in (quick_run / "report_shareable.html").read_text()

    png = tmp_path / "cmp.png"
    assert main(["compare", str(quick_run), str(quick_run), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "pca-prior" in out and "+0.0" in out and png.read_bytes().startswith(b"\x89PNG")
    other = tmp_path / "other"
    other.mkdir()
    results = _results(quick_run)
    results["split"]["private"] = list(range(1, 21))
    (other / "results.json").write_text(json.dumps(results))
    assert main(["compare", str(quick_run), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different private people" in err[0]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--attacks", "mi-face,nope"], "unknown attack 'nope'"),
        (["--attack-option", "mi-face.components=3"], "takes no option 'components'"),
        (["--search-lr", "none"], "recipe search space is empty"),
        (["--search-clip", "0"], "must be > 0"),
        (["--identities", "21"], "identities must be in 1..20"),
        (["--batch-size", "141"], "batch_size must be in 1..140"),
        (["--private-people", "0,1", "--public-people", "1,2"], "overlap"),
    ],
)
def test_bad_study_settings_fail_in_one_line_without_a_run_dir(capsys, tmp_path, faces_root, flags, fragment):
    out = tmp_path / "run"
    code = main(["run", "--data", str(faces_root), "--out", str(out), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("dpmi: error: ") and fragment in err[0], err
    assert not out.exists()
