"""`dpmi run --quick` end to end on the real faces: every output exists and holds sane numbers, the
non-private model leaks clearly more than the eps <= 1 one, a re-run resumes without recomputing, a
recomputed cell gives the same numbers (determinism on CPU), and `dpmi report` rebuilds the page."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dpmi.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, faces_root):
    out = tmp_path_factory.mktemp("study") / "quick <&> run"  # a name that needs escaping in the report
    code = main(["run", "--quick", "--data", str(faces_root), "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_outputs_exist(quick_run):
    for name in ("results.json", "results.csv", "report.html", "figures/privacy_utility_leakage.png",
                 "figures/reconstructions.png", "evaluator.pt", "study.json"):
        assert (quick_run / name).is_file(), name
    results = _results(quick_run)
    assert [level["key"] for level in results["levels"]] == ["nonprivate", "sigma0.5", "eps8", "eps3", "eps1"]
    assert len(results["cells"]) == 5 and {c["seed"] for c in results["cells"]} == {0}
    with open(quick_run / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and rows[0]["level"] == "nonprivate"
    page = (quick_run / "report.html").read_text()
    assert "quick &lt;&amp;&gt; run" in page and "quick <&> run" not in page
    assert page.count("data:image/png;base64,") == 2
    assert set(results["timings"]) >= {"data", "accounting", "evaluator", "training", "attack", "metrics",
                                       "report", "total"}


def test_numbers_are_sane(quick_run):
    results = _results(quick_run)
    cells = {c["level"]["key"]: c for c in results["cells"]}
    levels = {level["key"]: level for level in results["levels"]}
    # Privacy: calibrated levels meet their target under the calibrating accountant; PLD is tighter than RDP.
    for key, target in (("eps8", 8.0), ("eps3", 3.0), ("eps1", 1.0)):
        assert levels[key]["epsilon_rdp"] <= target * 1.001
        assert levels[key]["epsilon_pld"] <= levels[key]["epsilon_rdp"]
    assert levels["sigma0.5"]["epsilon_rdp"] > levels["eps8"]["epsilon_rdp"]
    # Every DP cell took exactly the steps its epsilon was computed for.
    for key in ("sigma0.5", "eps8", "eps3", "eps1"):
        assert cells[key]["train"]["steps"] == levels[key]["steps"] == 210  # 30 epochs * 280 / 40
    # Utility: the non-private softmax model recognises most held-out faces; eps 1 costs accuracy.
    assert cells["nonprivate"]["test_accuracy"] >= 0.8
    assert cells["eps1"]["test_accuracy"] <= cells["nonprivate"]["test_accuracy"]
    # Leakage: non-private clearly above eps <= 1 (the claim), which is near chance (1/40).
    top1 = {key: cell["metrics"]["nearest_mean_top1"] for key, cell in cells.items()}
    assert top1["nonprivate"] >= 0.5
    assert top1["nonprivate"] >= top1["eps1"] + 0.3
    assert top1["eps1"] <= 0.2
    for cell in cells.values():
        assert 0 <= cell["metrics"]["eval_acc1"] <= 1 and len(cell["per_label"]) > 0
    images = np.load(quick_run / "cells" / "nonprivate__seed0.npy")
    assert images.shape == (40, 112, 92) and np.isfinite(images).all()
    assert images.min() >= -1 and images.max() <= 1


class _InterruptAfterFirstCell:
    """An executor that runs one cell and then behaves as if the user pressed Ctrl-C."""

    def map_unordered(self, fn, tasks, initializer=None, initargs=()):
        from dpmi.study.executor import SerialExecutor

        yield next(SerialExecutor().map_unordered(fn, tasks, initializer, initargs))
        raise KeyboardInterrupt


def test_rerun_resumes_and_recomputed_cells_are_identical(quick_run, faces_root, capsys):
    from dpmi.study.config import make_config
    from dpmi.study.runner import run_study

    cells = quick_run / "cells"
    before = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    old = {key: json.loads((cells / f"{key}__seed0.json").read_text()) for key in ("eps3", "eps1")}
    argv = ["run", "--quick", "--data", str(faces_root), "--out", str(quick_run), "--no-progress"]
    assert main(argv) == 0
    assert "0 cells run, 5 resumed" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")} == before

    # Lose two cells, then get interrupted after recomputing the first: it is kept, the other is not there.
    for key in old:
        (cells / f"{key}__seed0.json").unlink()
    config = make_config(quick=True, data=str(faces_root), out=str(quick_run))
    with pytest.raises(KeyboardInterrupt):
        run_study(config, executor=_InterruptAfterFirstCell(), progress=False)
    assert (cells / "eps3__seed0.json").is_file() and not (cells / "eps1__seed0.json").exists()
    assert main(argv) == 0
    assert "1 cells run, 4 resumed" in capsys.readouterr().out
    # Recomputed cells reproduce the original numbers exactly (deterministic for a seed on CPU).
    for key, record in old.items():
        new = json.loads((cells / f"{key}__seed0.json").read_text())
        for part in ("train", "test_accuracy", "attack", "metrics", "per_label"):
            assert new[part] == record[part], (key, part)
    # Settings that change the numbers cannot be mixed into the same directory.
    assert main([*argv, "--epochs", "5"]) == 2
    assert "different settings (epochs)" in capsys.readouterr().err


def test_report_rebuilds_from_results_json(quick_run, capsys):
    for name in ("report.html", "figures/privacy_utility_leakage.png", "figures/reconstructions.png"):
        (quick_run / name).unlink()
    assert main(["report", str(quick_run)]) == 0
    assert "non-private" in capsys.readouterr().out
    assert (quick_run / "report.html").is_file() and (quick_run / "figures" / "reconstructions.png").is_file()
