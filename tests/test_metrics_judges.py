"""The two judges on the real faces (20 private identities, 7 training images each): both name held-out
real faces, both sit at chance on noise (by the stated binomial test), and they are built once and cached
(a cache hit gives the same weights; a corrupt entry is rebuilt). Also evaluate_inversion's bookkeeping on
images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.cache import cache_key, entry_path
from dpmi.data import split_identities
from dpmi.metrics import (
    Judges,
    LabelledImages,
    above_chance,
    evaluate_inversion,
    load_or_train_judges,
    summary_keys,
    train_evaluator,
)
from dpmi.metrics.evaluator import EvaluatorRecipe
from dpmi.metrics.judges import CACHE_KIND, judges_cache_parts


@pytest.fixture(scope="module")
def private_split(faces):
    """The study's default: identities 0-19 private, each split 7 train / 3 held out (seed 0)."""
    return split_identities(faces).private.split(7, seed=0)


@pytest.fixture(scope="module")
def judges(private_split):
    train, test = private_split
    return load_or_train_judges(train, test, seed=0)


@pytest.mark.slow
def test_evaluator_names_held_out_private_faces(judges, private_split):
    _, test = private_split
    x, y = test.to_tensors()
    accuracy = float((judges.evaluator.predict(x) == y.numpy()).mean())  # recomputed, not the stored number
    assert accuracy == pytest.approx(judges.evaluator.test_accuracy)
    assert accuracy >= 0.90, accuracy  # 60 held-out faces of 20 people: chance is 0.05


@pytest.mark.slow
def test_second_judge_names_held_out_private_faces(judges, private_split):
    _, test = private_split
    x, y = test.to_tensors()
    accuracy = float((judges.second.predict(x) == y.numpy()).mean())
    assert accuracy == pytest.approx(judges.second.test_accuracy)
    # Measured 0.95-1.00 on seeds 0-2 of this split; the floor leaves room for one more miss.
    assert accuracy >= 0.90, accuracy


@pytest.fixture(scope="module")
def real_scores(judges, private_split):
    """The held-out real faces scored as if an attack had made them."""
    train, test = private_split
    x, y = test.to_tensors()
    return evaluate_inversion(LabelledImages(x, y, {"steps": 4.0}), train, judges)


@pytest.mark.slow
def test_real_faces_as_reconstructions_are_identified_by_both_judges(judges, private_split, real_scores):
    _, test = private_split
    _, y = test.to_tensors()
    scores = real_scores
    assert set(summary_keys(judges.members)) <= set(scores) and scores["attack_steps"] == 4.0
    assert scores["eval_acc1"] == pytest.approx(judges.evaluator.test_accuracy)
    assert scores["judge2_acc1"] == pytest.approx(judges.second.test_accuracy)
    assert scores["eval_acc5"] >= scores["eval_acc1"] and scores["judge2_acc5"] >= scores["judge2_acc1"]
    hits = round(scores["eval_acc1"] * len(y))
    assert above_chance(hits, len(y), scores["chance_top1"])
    assert np.isfinite(scores["frechet_distance"]) and np.isfinite(scores["knn_dist"])
    per_label = scores["per_label"]
    assert per_label["eval_top1"].mean() == scores["eval_acc1"]
    np.testing.assert_array_equal(per_label["judge2_pred"][per_label["judge2_top1"] == 1],
                                  y.numpy()[per_label["judge2_top1"] == 1])


@pytest.mark.slow
def test_noise_is_at_chance_for_both_judges(judges, private_split, real_scores):
    train, _ = private_split
    generator = torch.Generator().manual_seed(5)
    labels = torch.arange(2 * train.num_classes) % train.num_classes  # every identity twice
    noise = (torch.randn(len(labels), *train.input_shape, generator=generator) / 3).clamp(-1, 1)
    scores = evaluate_inversion(LabelledImages(noise, labels), train, judges)
    n = len(labels)
    for key in ("eval_acc1", "judge2_acc1", "nearest_mean_top1"):
        assert not above_chance(round(scores[key] * n), n, scores["chance_top1"]), (key, scores[key])
    # Noise is far from every face in the evaluator's features, real held-out faces are close.
    real = real_scores
    assert scores["frechet_distance"] > 3 * real["frechet_distance"]
    assert scores["knn_dist"] > 3 * real["knn_dist"]


@pytest.mark.slow
def test_calibration_is_stored_with_the_judges(judges):
    calibration = judges.calibration
    assert {"held_out_faces", "blurred_sigma2", "blurred_sigma4", "mean_faces", "wrong_label", "noise"} <= set(
        calibration)
    assert calibration["held_out_faces"]["eval_acc1"] == pytest.approx(judges.evaluator.test_accuracy)
    assert calibration["mean_faces"]["nearest_mean_top1"] == 1.0  # its own references, by construction
    for case in ("noise", "wrong_label"):
        row = calibration[case]
        for key in ("eval_acc1", "judge2_acc1"):
            assert not above_chance(round(row[key] * row["n"]), int(row["n"]), 1 / 20), (case, key, row[key])


@pytest.mark.slow
def test_cache_hit_returns_identical_judges(judges, private_split):
    train, test = private_split
    key = cache_key(CACHE_KIND, judges_cache_parts(train, test, 0, EvaluatorRecipe()))
    assert entry_path(CACHE_KIND, key).is_file()
    again = load_or_train_judges(train, test, seed=0)
    for a, b in zip(judges.evaluator.net.state_dict().values(), again.evaluator.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(judges.second.histograms, again.second.histograms)
    assert again.calibration == judges.calibration


def test_cache_entry_holds_freshly_trained_weights_and_a_corrupt_one_is_rebuilt(synthetic_faces, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    train, test = synthetic_faces.split(4, seed=0)
    messages: list[str] = []
    built = load_or_train_judges(train, test, seed=3, log=messages.append, epochs=2)
    assert sum("training the evaluation classifier" in m for m in messages) == 1
    built_messages = len(messages)  # also a line per judge that cannot run here (e.g. without dlib)
    fresh = train_evaluator(train, seed=3, test=test, epochs=2)  # the same recipe, outside the cache
    for a, b in zip(built.evaluator.net.state_dict().values(), fresh.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    loaded = load_or_train_judges(train, test, seed=3, log=messages.append, epochs=2)
    assert len(messages) == built_messages  # a hit: nothing rebuilt, nothing said
    path = entry_path(CACHE_KIND, cache_key(CACHE_KIND, judges_cache_parts(train, test, 3,
                                                                          EvaluatorRecipe(epochs=2))))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    rebuilt = load_or_train_judges(train, test, seed=3, log=messages.append, epochs=2)
    assert any("corrupt" in m for m in messages)
    for a, b in zip(loaded.evaluator.net.state_dict().values(), rebuilt.evaluator.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert Judges.load(Judges.save(rebuilt, tmp_path / "judges.pt")).calibration == rebuilt.calibration
    with pytest.raises(ValueError, match="delete"):
        (tmp_path / "bad.pt").write_bytes(b"not a torch file")
        Judges.load(tmp_path / "bad.pt")


def test_colour_reconstructions_are_scored(tmp_path, monkeypatch):
    from dpmi.data import make_synthetic_faces

    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    colour = make_synthetic_faces(num_identities=5, per_identity=4, image_shape=(32, 28), channels=3, seed=2)
    train, test = colour.split(3, seed=0)
    judges = load_or_train_judges(train, test, seed=0, epochs=1)
    x, y = test.to_tensors()
    scores = evaluate_inversion(LabelledImages(x, y), train, judges)
    assert scores["judge2_acc1"] == pytest.approx(judges.second.test_accuracy)
    assert scores["ssim_best_private"] < 1.0 and np.isfinite(scores["psnr_mean_face"])
    # A training image scored against itself: SSIM 1 in colour too.
    x_train, y_train = train.to_tensors()
    own = evaluate_inversion(LabelledImages(x_train[:1], y_train[:1]), train, judges)
    assert own["ssim_best_private"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="private faces are"):
        evaluate_inversion(LabelledImages(x[:, :1], y), train, judges)
