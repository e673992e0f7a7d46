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
    """The largest TPR among thresholds whose FPR is <= `fpr` in (0, 1): the raw reading of the step curve. With n
    non-members the FPR moves in steps of 1/n, so below 1/n this is the TPR at FPR 0 (no non-member flagged), NOT
    a TPR at `fpr`: report it through `low_fpr_reading`, which says so."""
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"FPR target must be in (0, 1), got {fpr}")
    return float(np.max(curve.tpr[curve.fpr <= fpr + 1e-12]))


@dataclass(frozen=True)
class LowFprReading:
    """The TPR at a target FPR, read honestly: with n non-members the smallest non-zero FPR is 1/n, so a target
    below 1/n cannot be measured and only the TPR at zero false positives (among n) is reported.

    Attributes: fpr: the target; measurable: fpr >= 1/n; tpr: the TPR at FPR <= fpr when measurable, else None;
    tpr_at_zero_false_positives: the TPR of the strictest threshold flagging no non-member; negatives: n.
    """

    fpr: float
    measurable: bool
    tpr: float | None
    tpr_at_zero_false_positives: float
    negatives: int

    @property
    def text(self) -> str:
        if self.measurable and self.tpr is not None:
            return f"TPR {100 * self.tpr:.1f}% at {100 * self.fpr:g}% FPR"
        return (
            f"TPR at {100 * self.fpr:g}% FPR not measurable from {self.negatives} non-members (smallest FPR "
            f"1/{self.negatives} = {100 / max(self.negatives, 1):.2g}%); TPR at 0 false positives among "
            f"{self.negatives}: {100 * self.tpr_at_zero_false_positives:.1f}%"
        )


def smallest_measurable_fpr(curve: RocCurve) -> float:
    """1 / n for n non-members: the smallest non-zero false-positive rate the curve can show."""
    return 1.0 / curve.negatives


def tpr_at_zero_false_positives(curve: RocCurve) -> float:
    """The TPR of the strictest threshold that flags no non-member."""
    return float(np.max(curve.tpr[curve.fpr <= 0.0]))


def low_fpr_reading(curve: RocCurve, fpr: float) -> LowFprReading:
    """The TPR at `fpr` in (0, 1) only when fpr >= 1/n (n non-members), else 'not measurable' with the TPR at
    zero false positives among n (never a TPR labelled with an FPR the non-members cannot resolve)."""
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"FPR target must be in (0, 1), got {fpr}")
    measurable = fpr >= smallest_measurable_fpr(curve) - 1e-12
    return LowFprReading(
        float(fpr),
        bool(measurable),
        tpr_at_fpr(curve, fpr) if measurable else None,
        tpr_at_zero_false_positives(curve),
        int(curve.negatives),
    )
