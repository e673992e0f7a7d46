"""TPR at low FPR, honestly: a TPR is given at an FPR only when the non-members scored can measure it (>= 1/N),
else 'not measurable' with the TPR at 0 false positives among N; the figure says the same."""

from __future__ import annotations

import numpy as np
import pytest

from dpmi.audit.figures import roc_figure_png
from dpmi.audit.roc import low_fpr_reading, roc_curve, smallest_measurable_fpr, tpr_at_zero_false_positives


def _curve(negatives: int, positives: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(1.0, 1.0, positives), rng.normal(0.0, 1.0, negatives)]
    return roc_curve(scores, np.r_[np.ones(positives, bool), np.zeros(negatives, bool)])


def test_below_one_over_n_is_not_measurable():
    curve = _curve(60)
    assert smallest_measurable_fpr(curve) == pytest.approx(1 / 60)
    for fpr in (0.001, 0.01):
        reading = low_fpr_reading(curve, fpr)
        assert not reading.measurable and reading.tpr is None
        assert reading.tpr_at_zero_false_positives == tpr_at_zero_false_positives(curve)
        assert "not measurable" in reading.text and "0 false positives among 60" in reading.text
    measured = low_fpr_reading(curve, 0.05)
    assert measured.measurable and measured.tpr is not None and measured.tpr >= measured.tpr_at_zero_false_positives


def test_measurable_with_enough_non_members():
    curve = _curve(2000)
    reading = low_fpr_reading(curve, 0.001)
    assert reading.measurable and reading.tpr is not None and "at 0.1% FPR" in reading.text
    # DP-consistent by construction here: the TPR at FPR <= 0.1 % of a weak Gaussian test is small.
    assert reading.tpr < 0.2


def test_exactly_one_over_n_is_measurable():
    curve = _curve(100)
    assert low_fpr_reading(curve, 0.01).measurable and not low_fpr_reading(curve, 0.0099).measurable


def test_figure_labels_say_zero_false_positives():
    png = roc_figure_png({"LiRA online": _curve(60)}, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fpr", [0.0, 1.0, -0.5])
def test_bad_fpr_target_is_refused(fpr):
    with pytest.raises(ValueError, match="FPR target"):
        low_fpr_reading(_curve(10), fpr)
