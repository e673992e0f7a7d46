"""The audit of a privacy level on the real faces: the bounds an attacker demonstrates never exceed the
accountant's epsilon (a violation means DP-SGD or the accountant is broken), and the non-private target leaks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dpmi.audit.api import audit_level, balanced_subsets
from dpmi.privacy.dpsgd import TrainConfig


@pytest.fixture(scope="module")
def private_split(faces):
    from dpmi.data import split_identities

    train, test = split_identities(faces).private.split(train_per_class=7, seed=0)
    return train, test


def _audit(private_split, recipe, **kw):
    train, test = private_split
    xm, ym = train.to_tensors()
    xh, yh = test.to_tensors()
    return audit_level(xm, ym, xh, yh, recipe, num_classes=train.num_classes, **kw)


def test_nonprivate_target_shows_membership_inference_strength_and_no_bound(private_split):
    record = _audit(private_split, TrainConfig(), shadows=8, seed=0, fixed_variance=True)
    assert record.epsilon is None and record.white_box is None and record.identity is None
    assert record.reconstruction is None
    bb = record.black_box
    assert bb.auc > 0.8
    # 60 non-members: FPRs of 0.1 % and 1 % are below 1/60, so no TPR is given at them, only at 0 false positives.
    assert bb.negatives == 60 and bb.tpr_at_fpr == {"0.001": None, "0.01": None}
    assert all(not r.measurable and "0 false positives among 60" in r.text for r in bb.low_fpr.values())
    assert 0.0 <= bb.tpr_at_zero_fp <= 1.0
    c = bb.split.counts
    assert c.true_positives + c.false_positives + c.true_negatives + c.false_negatives == bb.candidates // 2 + bb.candidates % 2 or \
        c.true_positives + c.false_positives + c.true_negatives + c.false_negatives == bb.candidates - bb.candidates // 2
    d = record.to_dict()
    assert "epsilon" not in d and d["epsilon_lower_bound"]["white_box"] is None
    # The fixed split's LiRA is strength only; the black-box bound comes from the one-run retraining (S_i at random).
    assert d["black_box"]["kind"].startswith("membership-inference strength")
    assert d["epsilon_lower_bound"]["black_box"] == d["black_box_one_run"]["steinke"]["epsilon_lower_bound"] >= 0
    assert d["low_fpr"]["non_members"] == 60 and d["low_fpr"]["targets"]["0.01"]["measurable"] is False
    assert set(d["tpr_at_fpr"]) == {"0.001", "0.01"} and d["records_per_identity"] == 7


def test_balanced_subsets_share_the_candidates_evenly():
    subsets = balanced_subsets(200, 140, 10, seed=0)
    counts = np.bincount(subsets.ravel(), minlength=200)
    assert subsets.shape == (10, 140) and counts.max() - counts.min() <= 1
    assert all(len(set(s)) == 140 for s in subsets)


@pytest.mark.slow
@pytest.mark.parametrize("level", [{"noise_multiplier": 0.5}, {"target_epsilon": 8.0}, {"target_epsilon": 3.0},
                                   {"target_epsilon": 1.0}], ids=["sigma0.5", "eps8", "eps3", "eps1"])
def test_every_bound_stays_below_the_accountant(private_split, level):
    """The study's softmax recipe (lr 0.01, momentum 0.9, 30 epochs, lot 40, clip 1; 20 private ids x 7)."""
    record = _audit(private_split, TrainConfig(**level), shadows=16, canaries=500, seed=0, fixed_variance=True)
    epsilon = min(record.epsilon.values())
    for name, bound in record.epsilon_lower_bounds().items():
        assert bound is not None and bound <= epsilon, (
            f"{name} eps_lb {bound:.3f} exceeds the accountant's epsilon {record.epsilon} at {level}: "
            "DP-SGD or the accountant is broken")
    assert record.identity.epsilon >= max(record.epsilon.values()) - 1e-9
    rec = record.reconstruction
    assert 1 / 20 <= rec["record"].bound <= rec["identity"].bound <= 1.0
    assert math.isfinite(record.black_box.auc)


def test_a_shadow_whose_training_diverged_is_named_not_scored(private_split):
    # A defense trainer whose third model comes out with NaN weights (as a runaway MID bottleneck did): the audit
    # says which model diverged and what to change, instead of failing on non-finite ROC scores.
    from types import SimpleNamespace

    calls = []

    def trainer(model, x, y, config):
        calls.append(config.seed)
        if len(calls) == 3:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
        return SimpleNamespace(model=model)

    with pytest.raises(ValueError, match=r"shadow model\(s\) \[1\] of 4 diverged in training .*learning rate"):
        _audit(private_split, TrainConfig(epochs=1), shadows=4, seed=0, trainer=trainer)
    assert len(calls) == 5  # the target and 4 shadows trained, then the audit stopped
