"""ROC/AUC against the Mann-Whitney statistic; LiRA's scaled confidence and Gaussian scores in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from dpmi.audit.lira import lira_scores, scaled_confidence
from dpmi.audit.roc import roc_curve, tpr_at_fpr


def test_auc_equals_mann_whitney_u_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=300), 1)  # many ties
    members = rng.random(300) < 0.4
    scores[members] += 0.5
    curve = roc_curve(scores, members)
    u = stats.mannwhitneyu(scores[members], scores[~members]).statistic
    assert curve.auc == pytest.approx(u / (members.sum() * (~members).sum()), rel=1e-12)
    assert curve.fpr[0] == 0 and curve.tpr[-1] == 1 and np.all(np.diff(curve.fpr) >= 0)


def test_tpr_at_fpr_reads_the_step_curve():
    scores = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1.0])
    members = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0], bool)
    curve = roc_curve(scores, members)
    assert tpr_at_fpr(curve, 0.1) == 0.5  # 6 non-members: FPR 1/6 > 0.1, so only the top two members
    assert tpr_at_fpr(curve, 0.2) == 0.75
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        tpr_at_fpr(curve, 0.0)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        tpr_at_fpr(curve, 1.0)


def test_scaled_confidence_is_log_odds_of_the_label():
    logits = torch.randn(3, 7, 5, dtype=torch.float64) * 4
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    p = torch.softmax(logits, dim=-1).gather(-1, labels.view(1, -1, 1).expand(3, -1, 1)).squeeze(-1)
    assert torch.allclose(scaled_confidence(logits, labels), torch.log(p / (1 - p)), atol=1e-9)


def test_lira_scores_are_the_gaussian_likelihood_ratio():
    rng = np.random.default_rng(0)
    k, n = 40, 6
    shadow_in = rng.random((k, n)) < 0.5
    shadow_phi = np.where(shadow_in, 3.0, 0.0) + rng.normal(size=(k, n))
    target = np.array([3.0, 0.0, 1.5, 4.0, -1.0, 2.0])
    scores = lira_scores(target, shadow_phi, shadow_in)
    for j in range(n):
        vin, vout = shadow_phi[shadow_in[:, j], j], shadow_phi[~shadow_in[:, j], j]
        expected = (stats.norm.logpdf(target[j], vin.mean(), vin.std(ddof=1))
                    - stats.norm.logpdf(target[j], vout.mean(), vout.std(ddof=1)))
        assert scores.online[j] == pytest.approx(expected, rel=1e-9)
        assert scores.offline[j] == pytest.approx(stats.norm.logcdf((target[j] - vout.mean()) / vout.std(ddof=1)))
    assert scores.online[0] > 0 > scores.online[1]


def test_lira_needs_an_out_shadow_per_candidate():
    with pytest.raises(ValueError, match="without it"):
        lira_scores(np.zeros(2), np.zeros((3, 2)), np.ones((3, 2), bool))
