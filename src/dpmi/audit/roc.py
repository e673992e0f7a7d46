"""ROC of a membership score: false- and true-positive rates over every threshold, area, and TPR at a low FPR
(Carlini et al., S&P 2022, Sec. III: an attack matters by what it finds at low FPR, not by its average)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RocCurve:
    """Attributes: fpr, tpr: [T] increasing rates in [0, 1] from (0, 0) to (1, 1), one point per distinct
    score (guess 'member' iff score >= it); auc: area under it (trapezoids, ties count half); positives,
    negatives: members and non-members scored."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    positives: int
    negatives: int


def roc_curve(scores: np.ndarray, members: np.ndarray) -> RocCurve:
    """ROC of 'member iff score >= threshold'. Needs at least one member and one non-member."""
    scores = np.asarray(scores, dtype=np.float64)
    members = np.asarray(members, dtype=bool)
    if scores.shape != members.shape or scores.ndim != 1:
        raise ValueError(f"scores and members must be 1-D of one length, got {scores.shape} and {members.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    positives, negatives = int(members.sum()), int((~members).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(f"an ROC needs members and non-members, got {positives} and {negatives}")
    order = np.argsort(-scores, kind="stable")
    s, m = scores[order], members[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(m)[last_of_tie]
    fp = np.cumsum(~m)[last_of_tie]
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return RocCurve(fpr, tpr, auc, positives, negatives)


def tpr_at_fpr(curve: RocCurve, fpr: float) -> float:
    """The largest TPR among thresholds whose FPR is <= `fpr` in (0, 1). With n non-members the FPR moves in
    steps of 1/n, so below 1/n this is the TPR at FPR 0 (no non-member flagged)."""
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"FPR target must be in (0, 1), got {fpr}")
    return float(np.max(curve.tpr[curve.fpr <= fpr + 1e-12]))
