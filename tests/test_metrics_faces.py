"""The evidence on the real faces: MI-FACE identifies people from a non-private softmax model and mostly
fails after DP-SGD at epsilon <= 3, by nearest class-mean identification and by the judges. Target, judges
and metrics see only the 20 private identities (`split_identities`, first half), split 7 train / 3 held
out. Models are trained once for the module (softmax regression trains in seconds); the judges come from
the cache shared with test_metrics_judges.py."""

from __future__ import annotations

import numpy as np
import pytest

from dpmi.attacks import MIFace
from dpmi.data import split_identities
from dpmi.metrics import (
    LabelledImages,
    above_chance,
    evaluate_inversion,
    load_or_train_judges,
)
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faces_split(faces):
    """Private identities only (this module's stand-in for the 40-identity fixture of the same name)."""
    return split_identities(faces).private.split(7, seed=0)


@pytest.fixture(scope="module")
def everyone(faces_split):
    return np.arange(faces_split[0].num_classes)


@pytest.fixture(scope="module")
def tensors(faces_split):
    train_set, _ = faces_split
    return train_set.to_tensors()


def target(faces_split):
    train_set, _ = faces_split
    return build_model("softmax", num_classes=train_set.num_classes, input_shape=train_set.input_shape, seed=0)


@pytest.fixture(scope="module")
def plain_model(tensors, faces_split):
    model = target(faces_split)
    train(model, *tensors, TrainConfig(seed=0))
    return model.eval()


@pytest.fixture(scope="module")
def private_model(tensors, faces_split):
    """DP-SGD at epsilon 2 (delta 1e-5), the trainer's defaults otherwise (30 epochs, batch 40, clip 1).

    Measured on the 20 private identities, seed 0: MI-FACE's images are noise to the eye; the evaluation
    classifier names 1 of 20 (chance 0.05), the LBP judge 2 of 20, but the nearest-mean judge 9 of 20: it
    correlates faint linear templates with the mean faces and is not a judge of what a person would see.
    """
    model = target(faces_split)
    history = train(model, *tensors, TrainConfig(target_epsilon=2.0, delta=1e-5, seed=0))
    return model.eval(), history


@pytest.fixture(scope="module")
def judges(faces_split):
    train_set, test_set = faces_split
    return load_or_train_judges(train_set, test_set, seed=0)


def _registry_miface(model, faces_split):
    # The registry's MI-FACE (cost -log p, dpmi's default by measurement): the tutorial's 1 - p settings leave
    # the non-private softmax's images within half a grey level of the blank start (no reconstruction, below).
    from dpmi.attacks import make_attack

    return make_attack("mi-face", model, input_shape=faces_split[0].input_shape)


@pytest.fixture(scope="module")
def plain_scores(plain_model, faces_split, judges, everyone):
    return evaluate_inversion(_registry_miface(plain_model, faces_split).invert(everyone), faces_split[0], judges)


@pytest.fixture(scope="module")
def private_scores(private_model, faces_split, judges, everyone):
    return evaluate_inversion(_registry_miface(private_model[0], faces_split).invert(everyone), faces_split[0], judges)


def test_the_tutorial_settings_leave_the_blank_start_and_score_nobody(plain_model, faces_split, judges, everyone):
    """Issue 23: the tutorial's MI-FACE (cost 1 - p, small steps) barely moves on this model; an image within
    half an 8-bit grey level of its start is no reconstruction and recovers nobody, whatever a judge says."""
    result = MIFace.tutorial(plain_model).invert(everyone)
    spread = result.images.flatten(1).std(dim=1, unbiased=False)
    scores = evaluate_inversion(result, faces_split[0], judges)
    # Flat to within half an 8-bit grey level (the start image is 0 in [-1, 1]; measured max |pixel| < 0.008)
    assert bool((spread <= 2 * 0.5 / 255).all()) and float(result.images.abs().max()) < 0.01
    assert scores["no_reconstruction"] == 1.0
    assert scores["nearest_mean_top1"] == scores["eval_acc1"] == scores["recognizer_acc1"] == 0.0


def test_non_private_model_gives_faces_back(plain_scores):
    print({k: v for k, v in plain_scores.items() if k != "per_label"})
    assert plain_scores["nearest_mean_top1"] >= 0.8
    assert plain_scores["nearest_mean_top5"] >= 0.9
    assert plain_scores["eval_acc5"] >= 0.3


def test_dp_sgd_at_epsilon_2_stops_most_of_it(private_model, private_scores, plain_scores):
    _, history = private_model
    print(f"epsilon {history.epsilon[-1]:.3f} sigma {history.noise_multiplier:.3f}",
          {k: v for k, v in private_scores.items() if k != "per_label"})
    assert history.epsilon[-1] <= 2.0  # calibrated to 2 (the claim is for eps <= 3)
    n = int(private_scores["num_labels"])
    for judge in ("eval_acc1", "judge2_acc1"):  # the judges that agree with a person (test_metrics_judges)
        assert not above_chance(round(private_scores[judge] * n), n, private_scores["chance_top1"]), judge
    assert above_chance(round(plain_scores["eval_acc1"] * n), n, plain_scores["chance_top1"])
    # The same shape by every measure: worse identification, farther from the real faces.
    assert private_scores["nearest_mean_top5"] < plain_scores["nearest_mean_top5"]
    assert private_scores["nearest_mean_top1"] < plain_scores["nearest_mean_top1"]
    assert private_scores["knn_dist"] > plain_scores["knn_dist"]
    assert private_scores["frechet_distance"] > plain_scores["frechet_distance"]
    assert private_scores["ssim_mean_face"] < plain_scores["ssim_mean_face"]


def test_paper_settings_also_identify_on_the_non_private_model(plain_model, faces_split, everyone):
    result = MIFace.paper(plain_model).invert(everyone)
    scores = evaluate_inversion(result, faces_split[0])
    assert scores["nearest_mean_top1"] >= 0.8
    # gamma read as a confidence: rows stop once the model is 99% sure, long before alpha = 5000 steps.
    assert (result.stop_reason == "threshold").mean() >= 0.9
    assert (result.best_cost[result.stop_reason == "threshold"] <= 0.01).all()


def test_held_out_faces_score_like_the_judges_test_accuracy(faces_split, judges):
    """Real images as 'reconstructions': each judge reproduces its own held-out accuracy, and the nearest-mean
    metric identifies real held-out faces far above chance."""
    train_set, test_set = faces_split
    x, y = test_set.to_tensors()
    scores = evaluate_inversion(LabelledImages(x, y), train_set, judges)
    held_out_accuracy = float((judges.evaluator.predict(x) == y.numpy()).mean())  # argmax of its logits, by hand
    assert scores["eval_acc1"] == pytest.approx(held_out_accuracy)
    assert scores["judge2_acc1"] == pytest.approx(float((judges.second.predict(x) == y.numpy()).mean()))
    assert held_out_accuracy >= 0.90  # chance is 0.05; the evaluator is a real face classifier
    assert scores["nearest_mean_top1"] >= 0.5
