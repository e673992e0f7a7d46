"""The frontier's accuracy-matched baseline on the real faces: the per-seed sweep reads exactly the models a
shorter training gives, every DP-SGD level of a small study gets an early-stopped model within 5 points of
its target on every seed (checked by training both as their cells do), and a level with no match possible is
one `dpmi: error:` line when a matched baseline is required."""

from __future__ import annotations

import pytest
import torch

from dpmi.cli import main
from dpmi.models import resolve_model
from dpmi.models.accuracy import accuracy
from dpmi.privacy.dpsgd import TrainConfig, train
from dpmi.study import early_stop_match as esm
from dpmi.study.cell import CellContext, CellTask, train_target
from dpmi.study.config import make_config
from dpmi.study.levels import plan_levels, resolve_levels
from dpmi.study.people import split_people
from dpmi.study.recipe import Recipe, choose_recipe


@pytest.fixture(scope="module")
def private_split(faces):
    config = make_config()
    split = split_people(config, faces, None)
    train_set, test_set = split.private.split(train_per_class=7, seed=0)
    return split, train_set, test_set


def test_after_epoch_reads_the_model_a_shorter_training_gives(private_split):
    _, train_set, test_set = private_split
    x, y = train_set.to_tensors("cpu")
    xt, yt = test_set.to_tensors("cpu")

    def fresh():
        return resolve_model("softmax", num_classes=20, input_shape=train_set.input_shape, seed=3)

    long_model, read = fresh(), {}
    config = TrainConfig(epochs=6, batch_size=40, lr=0.0003, seed=3)
    train(
        long_model, x, y, config,
        after_epoch=lambda e: read.update({e: [p.detach().clone() for p in long_model.parameters()]}),
    )  # fmt: skip
    assert sorted(read) == [1, 2, 3, 4, 5, 6]
    for epochs in (1, 4):  # the naive way: a separate training of that many epochs
        short = fresh()
        train(short, x, y, TrainConfig(epochs=epochs, batch_size=40, lr=0.0003, seed=3))
        assert all(torch.equal(a, b) for a, b in zip(read[epochs], short.parameters(), strict=True))
    assert accuracy(long_model, xt, yt) > 0.05  # it learned something: not a comparison of two blank models
    with pytest.raises(ValueError, match="non-private"):
        train(fresh(), x, y, TrainConfig(epochs=1, noise_multiplier=1.0), after_epoch=lambda e: None)


def test_nearest_breaks_ties_by_fewest_epochs_then_smallest_lr():
    def r(lr, epochs):
        return Recipe(lr, epochs, 40, 1.0, 0.9)

    candidates = [(r(0.01, 3), 0.50), (r(0.001, 2), 0.60), (r(0.0001, 2), 0.40), (r(0.001, 9), 0.52)]
    assert esm.nearest(candidates, 0.50) == candidates[0]
    assert esm.nearest(candidates, 0.45)[0] == r(0.0001, 2)  # 0.40 and 0.50 tie at 5 points: 2 epochs < 3
    assert esm.nearest(candidates, 0.99)[1] == 0.60


@pytest.mark.slow
def test_every_dp_level_has_a_matched_early_stop_on_every_seed(private_split, tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path))  # computed here, not read from an earlier run
    split, train_set, test_set = private_split
    config = make_config(
        noise_multipliers=(0.5,), target_epsilons=(8.0, 3.0, 1.0), defenses=("early-stop",), seeds=2,
        recipe_search=False,
    )  # fmt: skip
    planned = plan_levels(config)
    recipes = {}
    for level in planned:
        recipes[level.key] = choose_recipe(level, config, train_set, test_set, len(train_set), chosen=recipes)
    levels = resolve_levels(planned, config, len(train_set), {k: c.recipe for k, c in recipes.items()})
    matched = esm.match_early_stops(levels, recipes, config, train_set, test_set, split.public)

    x, y = train_set.to_tensors("cpu")
    xt, yt = test_set.to_tensors("cpu")
    context = CellContext(train_set, test_set, split.public, x, y, xt, yt, None, "cpu")
    by_key = {lv.key: lv for lv in levels}
    early = [lv for lv in levels if lv.defense == "early-stop"]
    assert [lv.matched_to for lv in early] == ["sigma0.5", "eps8", "eps3", "eps1"]

    def cell_accuracy(level, recipe, seed):  # what the study's cell would report (run_cell's seeding)
        torch.manual_seed(seed)
        model, _ = train_target(CellTask(config, level, recipe, seed, 0), context)
        return accuracy(model, xt, yt)

    for level in early:
        choice = matched[level.key]
        assert [m.seed for m in choice.matches] == [0, 1] and choice.recipe == choice.matches[0].recipe
        dp_level = by_key[level.matched_to]
        for m in choice.matches:
            dp_accuracy = cell_accuracy(dp_level, recipes[dp_level.key].recipe, m.seed)
            es_accuracy = cell_accuracy(level, choice.recipe_for(m.seed), m.seed)
            assert m.target_accuracy == dp_accuracy and m.accuracy == es_accuracy
            assert abs(es_accuracy - dp_accuracy) <= 0.05 + 1e-9, (level.key, m)
            assert m.recipe.epochs <= esm.EARLY_STOP_MAX_EPOCHS and m.recipe.lr in esm.EARLY_STOP_LR
    # The DP levels differ by seed and so may their baselines: each seed is matched on its own target.
    assert len({m.target_accuracy for c in matched.values() for m in c.matches}) > 2


@pytest.mark.slow
def test_no_matched_baseline_possible_is_one_error_line_when_required(faces_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    # A sweep that cannot go below ~70 % (one lr 0.01, at least one epoch) cannot match epsilon 1 (~10 %).
    monkeypatch.setattr(esm, "EARLY_STOP_LR", (0.01,))
    monkeypatch.setattr(esm, "EARLY_STOP_MAX_EPOCHS", 2)
    out = tmp_path / "run"
    argv = ["run", "--data", str(faces_root), "--out", str(out), "--no-progress", "--seeds", "1",
            "--sigmas", "none", "--epsilons", "1", "--no-recipe-search", "--defenses", "early-stop",
            "--require-matched-baseline"]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("dpmi: error: "), err
    assert "no accuracy-matched baseline for DP-SGD ε=1 on seed 0" in err[0] and "not within 5 points" in err[0]
    assert not out.exists()
