"""The judge registry: a judge added by one registration is fitted, cached, scored, tabled and calibrated without
naming it anywhere else; images that are no reconstruction recover nobody; a judge that answers one person for
most images is flagged; trust is read off the calibration (fooled by optimised images -> not trusted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.data import make_synthetic_faces
from dpmi.metrics import JUDGES, JudgeSpec, LabelledImages, evaluate_inversion, load_or_train_judges, summary_keys
from dpmi.metrics.judge_trust import judge_trust, trusted_judges


class _MeanFaceJudge:
    """Scores by minus the L2 distance to each person's mean training image (a judge with no training)."""

    def __init__(self, means: np.ndarray, test_accuracy: float = float("nan")) -> None:
        self.means = means
        self.test_accuracy = test_accuracy

    def scores(self, images):
        x = torch.as_tensor(images).reshape(len(images), -1).double().numpy()
        return -((x[:, None, :] - self.means[None]) ** 2).sum(axis=2)

    def state_dict(self):
        return {"means": torch.from_numpy(self.means), "test_accuracy": float(self.test_accuracy)}


def _fit(train, test, **_):
    x, y = train.to_tensors()
    flat = x.reshape(len(x), -1).double().numpy()
    means = np.stack([flat[y.numpy() == k].mean(axis=0) for k in range(train.num_classes)])
    judge = _MeanFaceJudge(means)
    if test is not None:
        xt, yt = test.to_tensors()
        judge.test_accuracy = float((judge.scores(xt).argmax(axis=1) == yt.numpy()).mean())
    return judge


PLUGIN_JUDGE = JudgeSpec(
    label="mean-face L2 judge",
    family="L2 distance to each person's mean image (a test plugin)",
    colour="#000000",
    marker="x",
    fit=_fit,
    load=lambda state, device: _MeanFaceJudge(state["means"].numpy(), state["test_accuracy"]),
    test_key="meanl2_test_acc",
)


@pytest.fixture
def plugin_judge():
    JUDGES.register("meanl2", PLUGIN_JUDGE)
    yield "meanl2"
    JUDGES.unregister("meanl2")


@pytest.fixture
def faces(tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    data = make_synthetic_faces(num_identities=6, per_identity=5, image_shape=(24, 20), seed=4)
    return data.split(3, seed=0)


def test_a_registered_judge_is_fitted_cached_scored_and_calibrated(plugin_judge, faces, tmp_path):
    train, test = faces
    judges = load_or_train_judges(train, test, seed=0, epochs=1)
    assert plugin_judge in judges.members and "meanl2_acc1" in summary_keys()
    x, y = test.to_tensors()
    scores = evaluate_inversion(LabelledImages(x, y), train, judges)
    # Its acc@1 on the held-out faces is its own held-out accuracy, computed independently here.
    own = judges.members[plugin_judge]
    expected = float((own.scores(x).argmax(axis=1) == y.numpy()).mean())
    assert scores["meanl2_acc1"] == pytest.approx(expected) == pytest.approx(scores["meanl2_test_acc"])
    assert "meanl2_acc1" in judges.calibration["noise"]
    # The state round-trips (what the study's workers load), and a second call is a cache hit.
    again = type(judges).load(judges.save(tmp_path / "judges.pt"))
    np.testing.assert_array_equal(again.members[plugin_judge].means, own.means)
    messages: list[str] = []
    load_or_train_judges(train, test, seed=0, epochs=1, log=messages.append)
    assert messages == []


def test_images_that_are_no_reconstruction_recover_nobody(plugin_judge, faces):
    train, test = faces
    judges = load_or_train_judges(train, test, seed=0, epochs=1)
    labels = torch.arange(train.num_classes)
    flat = torch.zeros(len(labels), *train.input_shape)  # MI-FACE's blank start, never moved
    scores = evaluate_inversion(LabelledImages(flat, labels), train, judges)
    assert scores["no_reconstruction"] == 1.0
    for key in ("meanl2_acc1", "eval_acc1", "judge2_acc1", "nearest_mean_top1"):
        assert scores[key] == 0.0, key
    # Every flat image gets the same answer from a deterministic judge: it has collapsed onto one person.
    assert scores["meanl2_collapsed"] == 1.0 and scores["meanl2_top_answer_share"] == 1.0
    real, y = test.to_tensors()
    honest = evaluate_inversion(LabelledImages(real, y), train, judges)
    assert honest["no_reconstruction"] == 0.0 and honest["meanl2_collapsed"] == 0.0


def _row(n: int, **rates: float) -> dict[str, float]:
    return {"n": float(n), "chance_top1": 0.05, **rates}


def test_trust_is_read_off_the_calibration():
    calibration = {
        "held_out_faces": _row(60, a_acc1=1.0, b_acc1=0.98, c_acc1=0.5),
        "noise": _row(60, a_acc1=0.05, b_acc1=0.05, c_acc1=0.03),
        "optimised_miface": _row(20, a_acc1=0.05, b_acc1=0.40, c_acc1=0.0),
    }
    a, b, c = (judge_trust(calibration, name) for name in "abc")
    assert a.trusted and not a.fooled and a.words() == "trusted"
    # 8 of 20 at chance 5 %: binomial p ~ 1e-6, above chance: fooled by the attack's own features.
    assert not b.trusted and b.fooled and "optimised" in b.words()
    assert not c.trusted and not c.fooled and "held-out" in c.words()
    assert trusted_judges(calibration, "abc") == ["a"]
    # A judge never shown optimised images is not trusted: the check is missing, not passed.
    unchecked = judge_trust({k: v for k, v in calibration.items() if k != "optimised_miface"}, "a")
    assert not unchecked.trusted and "not checked" in unchecked.words()
