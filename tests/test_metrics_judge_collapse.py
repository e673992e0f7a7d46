"""Judge collapse on hand-made answers: one answer for most images is detected, stated, and tested against
the spread a judge that has not collapsed gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpmi.metrics.judge_collapse import judge_collapse


def test_the_issues_case_person_10_for_19_of_20():
    labels = np.arange(20)  # one MI-FACE image per person
    answers = np.full(20, 10)
    answers[3] = 7
    out = judge_collapse(answers, 20, labels=labels)
    assert out["collapsed"] and out["answer"] == 10 and out["count"] == 19 and out["images"] == 20
    assert out["share"] == pytest.approx(0.95) and out["expected_share"] == pytest.approx(0.05)
    assert out["correct"] == 1 and out["accuracy"] == pytest.approx(0.05)
    assert out["text"] == (
        "the judge answered person 10 for 19 of 20 images: its 5 % is exact by construction, not a measurement"
    )
    assert out["p_value"] < 1e-20


def test_p_value_is_the_bonferroni_binomial_tail():
    answers = [2, 2, 2, 2, 0, 1]
    out = judge_collapse(answers, 5)
    tail = sum(math.comb(6, j) * 0.2**j * 0.8 ** (6 - j) for j in range(4, 7))
    assert out["p_value"] == pytest.approx(5 * tail)
    assert out["collapsed"] == (5 * tail < 0.01)


def test_a_spread_out_judge_has_not_collapsed():
    out = judge_collapse(np.arange(20), 20, labels=np.arange(20))
    assert not out["collapsed"] and out["text"] is None and out["share"] == pytest.approx(0.05)
    assert out["accuracy"] == 1.0
    # Two answers per class is a spread too.
    assert not judge_collapse(np.repeat(np.arange(10), 2), 20)["collapsed"]


def test_too_few_images_or_too_small_a_share_is_no_collapse():
    assert not judge_collapse([4, 4, 4], 40)["collapsed"]  # 3 < 4 images, however unlikely by chance
    assert judge_collapse([4, 4, 4, 4], 40)["collapsed"]
    almost_half = [1] * 9 + list(range(2, 13))  # 9 of 20: below half, though far above 1/40
    out = judge_collapse(almost_half, 40)
    assert out["p_value"] < 0.01 and not out["collapsed"]


def test_a_share_that_chance_explains_is_no_collapse():
    """With 2 classes a judge answering one class for 3 of 4 images is what a coin gives."""
    out = judge_collapse([0, 0, 0, 1], 2)
    assert out["share"] == 0.75 and out["p_value"] > 0.5 and not out["collapsed"]


def test_names_and_missing_answers():
    out = judge_collapse([-1, 1, 1, 1, 1, 1, 1], 3, names=["ann", "bob", "cy"], judge="the LBP judge")
    assert out["images"] == 6 and out["answer"] == 1
    assert (
        out["text"] == "the LBP judge answered bob for 6 of 6 images: its accuracy is fixed by that one answer, "
        "not a measurement"
    )
    nothing = judge_collapse(np.full(4, -1), 3)
    assert nothing["images"] == 0 and nothing["answer"] is None and not nothing["collapsed"]


def test_float_answers_from_a_numpy_array_are_accepted():
    assert judge_collapse(np.array([3.0, 3.0, 3.0, 3.0, 3.0]), 10)["answer"] == 3


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([0, 1], 1), {}, "num_classes"),
        (([0, 5], 5), {}, "0..4"),
        (([0.5, 1.0], 5), {}, "integer class"),
        (([0, 1], 5), {"labels": [0]}, "one entry per prediction"),
        (([0, 1], 3), {"names": ["a"]}, "name the 3"),
        (([0, 1], 3), {"min_share": 0.0}, "min_share"),
        (([0, 1], 3), {"alpha": 1.0}, "alpha"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        judge_collapse(*args, **kwargs)
