"""Judge collapse: a judge that gives one answer for most images measures nothing about them.

When the evaluation classifier answers person 10 for 19 of 20 MI-FACE images (noise, a flat grey), its
acc@1 is fixed by that one answer: with one image per person it is 1 of 20 = 5 % whatever the images show,
"exact by construction, not a measurement". `judge_collapse` finds this from the judge's answers alone and
gives the line to print next to the number.

The test: the judge's most frequent answer a, given for c of n images. A judge that has not collapsed spreads
its answers over the k classes (one per person when the images are one per person; about uniformly when it
guesses); under "each answer is one of the k classes uniformly at random, independently" the chance that any
class gets >= c of n answers is at most k * P(Binomial(n, 1/k) >= c) (a binomial tail, Bonferroni over the k
classes: the answer is the most frequent one, not chosen in advance). The judge has collapsed when a has at
least `min_share` of the answers (default half), there are at least `min_images` answers (default 4) and that
p-value is below `alpha` (default 0.01).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

MIN_SHARE = 0.5
MIN_IMAGES = 4
ALPHA = 0.01


def judge_collapse(
    predictions: np.ndarray | Sequence[int],
    num_classes: int,
    *,
    labels: np.ndarray | Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    judge: str = "the judge",
    min_share: float = MIN_SHARE,
    min_images: int = MIN_IMAGES,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Whether a judge's answers collapsed onto one class.

    Args:
        predictions: int [n], the judge's top-1 answer for each image (e.g. `per_label["<judge>_pred"]` of
            `dpmi.metrics.evaluate_inversion`); entries < 0 (a judge that did not run answers -1) are left out.
        num_classes: k, the classes the judge chooses from (>= 2).
        labels: int [n], the true class of each image (optional): with them the result also says how many
            of the answers are right, and `text` gives the judge's accuracy.
        names: the classes' names (optional; e.g. the identity folder names) for `text`; default "person <a>".
        judge: how `text` names the judge.
        min_share, min_images, alpha: the collapse rule (see the module docstring).

    Returns:
        A dict: "images" (n answered), "answer" (the most frequent answer, int, ties to the lowest; None when
        nothing was answered), "count" (its count), "share" (count / n), "expected_share" (1 / k, a spread-out
        judge's share of one class), "p_value" (the binomial test above; 1.0 when nothing was answered),
        "collapsed" (bool), "correct" (answers equal to `labels`, None without labels), "accuracy" (correct / n,
        None without labels) and "text": one line to state next to the judge's number when it collapsed, e.g.
        "the judge answered person 10 for 19 of 20 images: its 5 % is exact by construction, not a
        measurement"; None when it did not collapse.
    """
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    if int(min_images) != min_images or min_images < 1:
        raise ValueError(f"min_images must be an integer >= 1, got {min_images}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = int(num_classes)
    answers = np.asarray(predictions).reshape(-1)
    if answers.size and not np.issubdtype(answers.dtype, np.integer):
        if not (np.isfinite(answers).all() and np.all(answers == np.round(answers))):
            raise ValueError("predictions must be integer class indices (the judge's top-1 answers)")
        answers = answers.astype(np.int64)
    truth = None
    if labels is not None:
        truth = np.asarray(labels, dtype=np.int64).reshape(-1)
        if truth.shape != answers.shape:
            raise ValueError(f"labels must have one entry per prediction ({answers.size}), got {truth.size}")
    if names is not None and len(names) != k:
        raise ValueError(f"names must name the {k} classes, got {len(names)}")
    answered = answers >= 0
    if np.any(answers[answered] >= k):
        raise ValueError(f"predictions must be in 0..{k - 1} (or -1 for no answer), got max {answers.max()}")
    kept = answers[answered].astype(np.int64)
    n = int(kept.size)
    out: dict[str, Any] = {
        "images": n,
        "answer": None,
        "count": 0,
        "share": float("nan"),
        "expected_share": 1.0 / k,
        "p_value": 1.0,
        "collapsed": False,
        "correct": None,
        "accuracy": None,
        "text": None,
    }
    if n == 0:
        return out
    counts = np.bincount(kept, minlength=k)
    answer = int(np.argmax(counts))
    count = int(counts[answer])
    # P(one given class gets >= count of n uniform answers), times k for "the most frequent of k classes".
    p_value = float(min(1.0, k * stats.binom.sf(count - 1, n, 1.0 / k)))
    collapsed = n >= min_images and count / n >= min_share and p_value < alpha
    out.update(answer=answer, count=count, share=count / n, p_value=p_value, collapsed=bool(collapsed))
    if truth is not None:
        correct = int(np.sum(kept == truth[answered]))
        out.update(correct=correct, accuracy=correct / n)
    if collapsed:
        who = names[answer] if names is not None else f"person {answer}"
        head = f"{judge} answered {who} for {count} of {n} images"
        if out["accuracy"] is not None:
            out["text"] = f"{head}: its {_percent(out['accuracy'])} is exact by construction, not a measurement"
        else:
            out["text"] = f"{head}: its accuracy is fixed by that one answer, not a measurement"
    return out


def _percent(value: float) -> str:
    text = f"{100 * value:.1f}".rstrip("0").rstrip(".")
    return f"{text} %"
