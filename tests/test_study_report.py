"""Records, aggregation, the words "above/near chance", the figures and report.html, from synthetic cells (the
real-faces run is in test_study_end_to_end.py): numbers match independent computations, the page says only
what its numbers and figures show, frames are really red and green, the shareable page has no real faces."""

from __future__ import annotations

import base64
import io
import math
import re
import statistics

import numpy as np
import pytest

from dpmi.study.levels import PrivacyLevel
from dpmi.study.recipe import Recipe, RecipeChoice, RecipeTrial
from dpmi.study.records import AttackRecord, CellRecord, TrainRecord
from dpmi.study.results import StudyResults, csv_rows, render_outputs
from dpmi.study.store import RunStore
from dpmi.study.summary import above_chance, aggregate, summary_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PEOPLE, CLASSES = 10, 20
LEVELS = [
    PrivacyLevel("nonprivate", "non-private"),
    PrivacyLevel("eps8", "DP-SGD ε=8", 2.1, 8.0, 40 / 140, 105, 8.0, 7.3),
    PrivacyLevel("eps1", "DP-SGD ε=1", 9.0, 1.0, 40 / 140, 105, 1.0, 0.9),
]
RECIPE = Recipe(0.01, 30, 40, 1.0, 0.9)
# Exact per-person hits: (level, attack) -> people named correctly by the evaluation classifier (of 10).
HITS = {("nonprivate", "mi-face"): 6, ("nonprivate", "pca-prior"): 9, ("eps8", "mi-face"): 1,
        ("eps8", "pca-prior"): 7, ("eps1", "mi-face"): 0, ("eps1", "pca-prior"): 2}


def _attack(name: str, level: str, seed: int) -> AttackRecord:
    hits = HITS[(level, name)]
    eval_top1 = [1.0] * hits + [0.0] * (PEOPLE - hits)
    nearest = [1.0] * min(PEOPLE, hits + 2) + [0.0] * (PEOPLE - min(PEOPLE, hits + 2))
    metrics = {"num_labels": float(PEOPLE), "eval_acc1": hits / PEOPLE, "nearest_mean_top1": float(np.mean(nearest)),
               "knn_dist": 1.0 + seed, "ssim_mean_face": 0.1 * seed}
    return AttackRecord(name, metrics, {"eval_top1": eval_top1, "nearest_mean_top1": nearest}, {"iterations": 5.0},
                        0.5, 0.1)


def _cell(level: PrivacyLevel, seed: int) -> CellRecord:
    accuracy = {"nonprivate": 0.95, "eps8": 0.7, "eps1": 0.2}[level.key] + 0.01 * seed
    return CellRecord(level, seed, RECIPE, TrainRecord([1.0], [], 105, level.sample_rate, level.noise_multiplier),
                      accuracy, accuracy + 0.02, {a: _attack(a, level.key, seed) for a in ("mi-face", "pca-prior")},
                      {"train": 1.0, "attack": 1.0, "metrics": 0.2})


def _results(seeds=(0, 1, 2), quick=False) -> StudyResults:
    cells = [_cell(level, seed) for level in LEVELS for seed in seeds]
    trials = (RecipeTrial(RECIPE, 2.1, 0.6), RecipeTrial(Recipe(0.1, 30, 40, 1.0, 0.9), 2.1, 0.3))
    return StudyResults(
        created="now", config={"name": "syn", "seed": 0, "seeds": len(seeds), "quick": quick, "accountant": "rdp",
                               "delta": 1e-5, "attacks": ["mi-face", "pca-prior"]},
        levels=LEVELS, cells=cells,
        recipes=[RecipeChoice("nonprivate", RECIPE, False), RecipeChoice("eps8", RECIPE, True, 0.6, trials),
                 RecipeChoice("eps1", RECIPE, True, 0.6, trials)],
        evaluator={"test_accuracy": 0.95, "train_accuracy": 1.0}, data={"root": "/faces", "fingerprint": "abc"},
        split={"private": list(range(CLASSES)), "public": list(range(CLASSES, 2 * CLASSES)), "grid_people": 4},
        versions={"dpmi": "0"},
    )


def _write_run(tmp_path, results: StudyResults):
    store = RunStore(tmp_path / "run")
    store.prepare({}, {})
    rng = np.random.default_rng(0)
    np.save(store.root / "mean_faces.npy", rng.normal(size=(CLASSES, 28, 24)).astype(np.float32))
    for cell in results.cells:
        store.save_cell(cell.to_dict(), rng.normal(size=(2, PEOPLE, 1, 28, 24)).astype(np.float32))
    return store


def test_cell_record_round_trips_and_reads_format_1():
    cell = _cell(LEVELS[1], 2)
    again = CellRecord.from_dict(cell.to_dict())
    assert again.to_dict() == cell.to_dict() and again.attack_names == ["mi-face", "pca-prior"]
    old = {"level": LEVELS[1].to_dict(), "seed": 0, "train": {"steps": 210}, "test_accuracy": 0.5,
           "train_accuracy": 0.6, "attack": {"labels": [0]}, "metrics": {"eval_acc1": 0.25, "nearest_mean_top1": 1.0},
           "per_label": {"eval_top1": [1.0]}, "timings": {"train": 1.0, "attack": 2.0, "metrics": 0.5}}
    migrated = CellRecord.from_dict(old, base_recipe=RECIPE)
    assert migrated.attack_names == ["mi-face"] and migrated.attacks["mi-face"].metrics["eval_acc1"] == 0.25
    assert migrated.recipe == RECIPE
    with pytest.raises(ValueError, match="not a dpmi cell"):
        CellRecord.from_dict({"seed": 1})


def test_aggregate_matches_statistics_module():
    results = _results()
    summaries = aggregate(LEVELS, results.cells)
    for s in summaries:
        accuracies = [c.test_accuracy for c in results.cells if c.level.key == s.level.key]
        assert s.mean["test_accuracy"] == pytest.approx(statistics.fmean(accuracies), rel=1e-12)
        assert s.std["test_accuracy"] == pytest.approx(statistics.stdev(accuracies), rel=1e-12)
        knn = [1.0, 2.0, 3.0]
        assert s.attack_mean["pca-prior"]["knn_dist"] == pytest.approx(statistics.fmean(knn))
        assert s.attack_std["mi-face"]["knn_dist"] == pytest.approx(statistics.stdev(knn))
        assert s.seeds == [0, 1, 2] and s.people == PEOPLE and s.trials == 3 * PEOPLE


def test_one_seed_shows_no_spread():
    summaries = aggregate(LEVELS, _results(seeds=(0,)).cells)
    assert all(v is None for s in summaries for v in s.std.values())
    assert all(s.to_dict()["std"]["test_accuracy"] is None for s in summaries)  # not a fake 0.0
    assert "±" not in summary_table(summaries)
    assert "±" in summary_table(aggregate(LEVELS, _results().cells))


def _binomial_tail(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(("k", "n", "p"), [(3, 40, 1 / 40), (2, 40, 1 / 40), (1, 20, 0.05), (4, 30, 0.05),
                                           (0, 10, 0.1), (10, 10, 0.5)])
def test_above_chance_is_the_one_sided_binomial_test(k, n, p):
    assert above_chance(k, n, p) == (_binomial_tail(k, n, p) < 0.05)


EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from dpmi.study.audit_phase import AUDIT_SECTION

    """One 3-seed run rendered with the shareable variant and a registered level panel (rendering is slow)."""
    from dpmi.study import report

    results = _results()
    results.config["name"] = EVIL
    store = _write_run(tmp_path_factory.mktemp("rendered"), results)
    from dpmi.study.report_sections import REPORT_SECTIONS, ReportSection

    section = ReportSection("Privacy audit", panel=lambda res, level: "<p>audit of " + report._e(level.key) + "</p>"
                            if level.private else None)
    REPORT_SECTIONS.register("privacy-audit", section, replace=True)  # one registration line adds a section
    try:
        paths = render_outputs(store, results, shareable=True)
    finally:
        REPORT_SECTIONS.unregister("privacy-audit")
        REPORT_SECTIONS.register("privacy-audit", AUDIT_SECTION)
    return store, paths


def test_reading_names_the_strongest_attack_and_uses_the_test(rendered):
    store, _ = rendered
    page = (store.root / "report.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    for level in ("non-private", "DP-SGD ε=8", "DP-SGD ε=1"):
        assert f"{level} (" in text
    assert text.count("The attack that recovers the most people by the evaluation classifier is pca-prior") == 3
    # Pooled over 3 seeds: 3 x hits of 30 attacks at chance 1/20; the words must be the test's verdict.
    for (level, attack), hits in HITS.items():
        verdict = "above chance" if _binomial_tail(3 * hits, 3 * PEOPLE, 1 / CLASSES) < 0.05 else "near chance"
        rate = hits / PEOPLE
        shown = f"{100 * rate:.1f}%" if rate < 0.1 else f"{100 * rate:.0f}%"  # small rates keep a decimal
        assert f"{attack} {shown} ({verdict})" in text or f"names {shown} ({verdict})" in text, (level, attack)
    assert "Smoke run" not in text and "PLD" in text and "personal data" in text
    assert "/faces" in text and "abc" in text  # provenance: the directory and the folder fingerprint


def test_quick_report_says_smoke_run_and_shows_no_spread(tmp_path):
    results = _results(seeds=(0,), quick=True)
    store = _write_run(tmp_path, results)
    render_outputs(store, results)
    page = (store.root / "report.html").read_text()
    head = page[: page.index("<h2>")]
    assert "Smoke run (--quick): one seed" in head
    assert "±" not in page
    # With one seed, the reading counts people: "names 7 of 10 people".
    assert "names 7 of 10 people, 70% (above chance)" in page


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    return (matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(int)


def test_grid_frames_are_red_and_green_and_shareable_has_no_real_faces(rendered):
    store, paths = rendered
    full = paths["grid"].read_bytes()
    shareable = paths["grid_shareable"].read_bytes()
    assert full.startswith(PNG_MAGIC) and shareable.startswith(PNG_MAGIC)
    pixels = _pixels(full).reshape(-1, 3)
    colours = {tuple(p) for p in pixels}
    assert (255, 0, 0) in colours and (0, 160, 0) in colours  # the title's "red" and "green"
    assert _pixels(shareable).shape[0] < _pixels(full).shape[0]  # one row (the real faces) fewer
    page = (store.root / "report_shareable.html").read_text()
    assert "real faces are left out" in page and "real mean training face" not in page
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(embedded[-1]) == shareable


def test_csv_has_one_row_per_cell_and_attack():
    results = _results()
    fields, rows = csv_rows(results)
    assert len(rows) == len(results.cells) * 2
    assert {"level", "seed", "attack", "epsilon_pld", "lr", "eval_acc1", "test_accuracy"} <= set(fields)


def test_level_panel_hook_and_escaping(rendered):
    store, _ = rendered
    page = (store.root / "report.html").read_text()
    assert "<h2>Privacy audit</h2>" in page and "audit of eps8" in page and "audit of nonprivate" not in page
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page  # nothing fetched from elsewhere


def test_results_round_trip_through_json():
    results = _results()
    again = StudyResults.from_dict(results.to_dict())
    assert [c.to_dict() for c in again.cells] == [c.to_dict() for c in results.sorted_cells()]
    assert again.recipes[1].trials == results.recipes[1].trials and again.split == results.split


def test_an_old_run_directory_still_renders_with_a_migration_note(tmp_path, capsys):
    """results.json of format 1 (MI-FACE only, every person private): `dpmi report` reads it and says so."""
    import json

    from dpmi.cli import main

    run = tmp_path / "old"
    (run / "cells").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(run / "mean_faces.npy", rng.normal(size=(40, 28, 24)).astype(np.float32))
    cells = []
    for level in LEVELS:
        cells.append({"level": level.to_dict(), "seed": 0, "train": {"steps": 105}, "test_accuracy": 0.5,
                      "train_accuracy": 0.6, "attack": {"labels": list(range(40))},
                      "metrics": {"num_labels": 40.0, "eval_acc1": 0.1, "nearest_mean_top1": 0.9},
                      "per_label": {"eval_top1": [1.0] * 4 + [0.0] * 36}, "timings": {"train": 1.0}})
        np.save(run / "cells" / f"{level.key}__seed0.npy", rng.normal(size=(40, 28, 24)).astype(np.float32))
    (run / "results.json").write_text(json.dumps({"config": {"seeds": 1, "identities": 40, "lr": 0.01},
                                                  "levels": [lv.to_dict() for lv in LEVELS], "cells": cells}))
    assert main(["report", str(run)]) == 0
    captured = capsys.readouterr()
    assert "older dpmi" in captured.err and "mi-face" in captured.out
    page = (run / "report.html").read_text()
    assert "older dpmi (results format 1" in page and (run / "figures" / "reconstructions.png").is_file()
    (run / "results.json").write_text(json.dumps({"config": {}, "levels": [], "cells": [], "format_version": 9}))
    assert main(["report", str(run)]) == 2
    assert "newer than this dpmi reads" in capsys.readouterr().err


def test_reading_says_where_the_two_judges_disagree_and_claims_faces_only_for_prior_attacks():
    from types import SimpleNamespace

    from dpmi.study.report import judges_disagree_sentence, looks_sentence
    from dpmi.study.summary import judge_columns

    JUDGES = [judge for judge in judge_columns() if judge[0] in ("eval_acc1", "judge2_acc1")]  # recorded here
    # 60 trials at chance 0.05: 12/60 is above chance (binomial p < 0.001), 4/60 is not.
    level = SimpleNamespace(
        trials=60,
        attack_mean={
            "mi-face": {"eval_acc1": 0.2, "judge2_acc1": 4 / 60, "ssim_mean_face": 0.35},
            "pca-prior": {"eval_acc1": 0.2, "judge2_acc1": 0.2, "ssim_mean_face": 0.45},
            "gmi": {"eval_acc1": 4 / 60, "judge2_acc1": 0.2, "ssim_mean_face": 0.05},
        },
    )
    text = judges_disagree_sentence(level, JUDGES, 0.05)
    # One clause per other judge, each disagreement once: mi-face (20% vs 6.7%) and gmi (6.7% vs 20%).
    assert "the LBP judge on mi-face 6.7%, near chance (evaluation classifier 20%), gmi 20%, above chance " \
        "(evaluation classifier 6.7%)" in text
    assert "pca-prior" not in text  # both judges above chance: no disagreement
    looks = looks_sentence(level)
    assert "mi-face gives images with a face's coarse layout" in looks and "face-like" not in looks
    assert "gmi gives noise-like images" in looks
    assert "An attack with a face prior draws a face" in looks  # pca-prior has a prior and a face's layout
    only_miface = SimpleNamespace(trials=60, attack_mean={"mi-face": level.attack_mean["mi-face"]})
    assert "An attack with a face prior" not in looks_sentence(only_miface)
    agree = SimpleNamespace(trials=60, attack_mean={"pca-prior": level.attack_mean["pca-prior"]})
    assert judges_disagree_sentence(agree, JUDGES, 0.05) == ""


def test_the_short_answer_comes_right_after_the_question(rendered):
    """Issue 23: the answer box is the first thing after the question; the method paragraph follows it."""
    store, _ = rendered
    page = (store.root / "report.html").read_text()
    question, answer = page.index("<h2>The question</h2>"), page.index("<h2>The short answer</h2>")
    method = page.index("<h2>How the study was run</h2>")
    assert question < answer < method < page.index("<h2>What we found</h2>")
    assert "Data: " not in page[question:answer]
