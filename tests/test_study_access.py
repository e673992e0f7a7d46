"""The attacker's access as a study dimension: settings and their checks, records carrying the access level and
the queries, the aggregation, the per-access reading (counted naively, intervals against scipy's beta
quantiles), the grid's choice of rows, the terminal table and the CSV; one real cell on the faces with an
exact query count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta

from dpmi.study.access_levels import access_results, access_sentence, grid_attacks, grid_label
from dpmi.study.config import make_config
from dpmi.study.levels import PrivacyLevel
from dpmi.study.recipe import Recipe
from dpmi.study.records import AttackRecord, CellRecord, TrainRecord
from dpmi.study.results import StudyResults, csv_rows
from dpmi.study.summary import aggregate, summary_table

PEOPLE = 10
LEVEL = PrivacyLevel("nonprivate", "non-private")
RECIPE = Recipe(0.01, 30, 40, 1.0, 0.9)
# attack -> (access, recognizer hits per seed, queries per person)
ATTACKS = {
    "mi-face": ("white-box", (1, 2, 0), None),
    "pca-prior": ("white-box", (4, 5, 3), None),
    "pca-prior-bb": ("scores", (3, 2, 4), 1849),
    "gmi-bb": ("scores", (1, 1, 1), 1849),
    "brep-mi": ("labels", (0, 1, 0), 1990),
}


def _attack(name: str, seed: int) -> AttackRecord:
    access, hits, per_person = ATTACKS[name]
    top1 = [1.0] * hits[seed] + [0.0] * (PEOPLE - hits[seed])
    metrics = {"num_labels": float(PEOPLE), "recognizer_acc1": hits[seed] / PEOPLE}
    queries = None if per_person is None else per_person * PEOPLE + seed
    return AttackRecord(name, metrics, {"recognizer_top1": top1, "label": list(range(PEOPLE))}, {}, 1.0, 0.1,
                        access, queries)


def _cells() -> list[CellRecord]:
    return [
        CellRecord(LEVEL, seed, RECIPE, TrainRecord([1.0], [], 10, None, None), 0.9, 1.0,
                   {name: _attack(name, seed) for name in ATTACKS}, {})
        for seed in range(3)
    ]


def test_records_carry_access_and_queries_and_read_old_cells_as_white_box():
    record = _attack("pca-prior-bb", 1)
    back = AttackRecord.from_dict(record.to_dict())
    assert (back.access, back.queries) == ("scores", 18491)
    assert back.queries_per_person == pytest.approx(1849.1) and back.numbers()["queries_per_person"] == 1849.1
    old = record.to_dict()
    del old["access"], old["queries"]
    legacy = AttackRecord.from_dict(old)
    assert legacy.access == "white-box" and legacy.queries is None and math.isnan(legacy.queries_per_person)
    assert "queries_per_person" not in legacy.numbers()


def test_aggregate_keeps_each_attacks_access_and_mean_queries():
    (summary,) = aggregate([LEVEL], _cells())
    assert summary.attack_access == {name: spec[0] for name, spec in ATTACKS.items()}
    assert summary.access_levels() == ["white-box", "scores", "labels"]
    assert summary.attacks_with("scores") == ["pca-prior-bb", "gmi-bb"]
    assert summary.attack_mean["brep-mi"]["queries_per_person"] == pytest.approx(np.mean([1990, 1990.1, 1990.2]))
    assert "queries_per_person" not in summary.attack_mean["mi-face"]


def test_access_results_count_the_best_attack_per_level_with_clopper_pearson():
    (summary,) = aggregate([LEVEL], _cells())
    results = {r.access: r for r in access_results(summary, "recognizer_acc1", 1 / 20)}
    for access, expected in (("white-box", "pca-prior"), ("scores", "pca-prior-bb"), ("labels", "brep-mi")):
        r = results[access]
        assert r.attack == expected
        hits = sum(ATTACKS[expected][1])  # naive count over seeds of the per-person verdicts
        assert (r.hits, r.trials) == (hits, 3 * PEOPLE)
        low = 0.0 if hits == 0 else beta.ppf(0.025, hits, r.trials - hits + 1)
        high = beta.ppf(0.975, hits + 1, r.trials - hits)
        assert r.low == pytest.approx(low, abs=1e-9) and r.high == pytest.approx(high, abs=1e-9)
    assert results["white-box"].words == "above chance"  # 12 of 30 against 5 %
    assert results["labels"].words == "near chance"
    assert math.isnan(results["white-box"].queries_per_person)
    sentence = access_sentence(summary, "recognizer_acc1", "face recognizer", 1 / 20)
    assert "white-box (pca-prior) 12 of 30" in sentence and "scores (pca-prior-bb) 9 of 30" in sentence
    assert "labels (brep-mi) 1 of 30" in sentence and "1,990 queries per person" in sentence


def test_the_grid_draws_every_white_box_attack_and_the_best_of_each_other_level():
    assert grid_attacks(_cells(), "recognizer_acc1") == ["mi-face", "pca-prior", "pca-prior-bb", "brep-mi"]
    assert grid_attacks(_cells(), None) == ["mi-face", "pca-prior", "pca-prior-bb", "brep-mi"]  # first of equals
    assert grid_label("brep-mi", "labels") == "brep-mi (labels)" and grid_label("gmi", "white-box") == "gmi"


def test_terminal_table_and_csv_show_access_and_queries():
    cells = _cells()
    table = summary_table(aggregate([LEVEL], cells), chance=1 / 20)
    header, rule, *rows = table.splitlines()
    assert "access" in header and "queries/person" in header
    bb = next(r for r in rows if "pca-prior-bb" in r)
    assert "scores" in bb and bb.rstrip().endswith("1,849")
    results = StudyResults(created="now", config={}, levels=[LEVEL], cells=cells, recipes=[], evaluator={})
    fields, csv = csv_rows(results)
    assert fields.index("access") == fields.index("attack") + 1 and "queries_per_person" in fields
    row = next(r for r in csv if r["attack"] == "brep-mi" and r["seed"] == 2)
    assert row["access"] == "labels" and row["queries_per_person"] == pytest.approx(1990.2)


def test_access_settings_choose_the_attacks_and_refuse_mismatches():
    default = make_config()
    assert default.attack.access == ("white-box", "scores", "labels") and default.attack.query_budget == 2000
    white = make_config(access=("white-box",))
    assert white.attack.names == ("mi-face", "pca-prior", "gmi")
    assert make_config(access=("scores", "labels")).attack.names == ("pca-prior-bb", "brep-mi")
    with pytest.raises(ValueError, match="needs scores access, which is not among"):
        make_config(access=("white-box",), attacks=("mi-face", "pca-prior-bb"))
    with pytest.raises(ValueError, match="unknown access level 'telepathy'"):
        make_config(access=("telepathy",))
    with pytest.raises(ValueError, match="query_budget must be >= 1"):
        make_config(query_budget=0)


def test_run_rejects_a_bad_access_level_in_one_line(capsys, tmp_path):
    from dpmi.cli import main

    out = tmp_path / "run"
    assert main(["run", "--access", "white-box,telepathy", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error: ") and "telepathy" in err[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def real_cell(faces):
    """A non-private softmax target on the real faces' private people, and a cell context with the real judges."""
    import torch

    from dpmi.data import split_identities
    from dpmi.metrics import load_or_train_judges
    from dpmi.models import build_model
    from dpmi.privacy.dpsgd import TrainConfig, train
    from dpmi.study.cell import CellContext

    split = split_identities(faces)
    train_set, test_set = split.private.split(train_per_class=7, seed=0)
    x, y = train_set.to_tensors()
    xt, yt = test_set.to_tensors()
    model = build_model("softmax", num_classes=train_set.num_classes, input_shape=train_set.input_shape, seed=0)
    train(model, x, y, TrainConfig(epochs=10, seed=0))
    model.eval()
    judges = load_or_train_judges(train_set, test_set, seed=0, public=split.public)
    torch.set_grad_enabled(True)
    return model, CellContext(train_set, test_set, split.public, x, y, xt, yt, judges, "cpu")


def test_a_real_cell_runs_the_scores_attack_behind_the_studys_budget(real_cell):
    from dpmi.attacks.registry import attack_spec
    from dpmi.study.cell import CellTask, run_attack

    model, context = real_cell
    people, budget = 3, 600
    task = CellTask(make_config(query_budget=budget), LEVEL, RECIPE, 0, people)
    record, images = run_attack("pca-prior-bb", model, task, context)
    d = attack_spec("pca-prior-bb").defaults
    fixed = d["candidates"] + people * d["restarts"] * 6  # the pool and the result selection
    steps = (people * budget - fixed) // (people * d["restarts"] * d["population"])
    assert record.access == "scores" and steps >= 1
    assert record.queries == fixed + steps * people * d["restarts"] * d["population"] <= people * budget
    assert record.diagnostics["queries"] == record.queries  # the attack's own count agrees with the counter
    assert images.shape == (people, 1, 112, 92) and math.isfinite(record.metrics["recognizer_acc1"])
    white, _ = run_attack("pca-prior", model, task, context)
    assert white.access == "white-box" and white.queries is None
