"""Epsilon lower bounds from a membership test's outcomes: what an attacker demonstrably achieved.

Two constructions, both holding with probability >= 1 - alpha over the training randomness:

* **Many runs / one threshold** (Jagielski, Ullman & Oprea, NeurIPS 2020, Sec. 4): an (eps, delta)-DP mechanism
  makes every test obey FPR + e^eps FNR >= 1 - delta and FNR + e^eps FPR >= 1 - delta (Kairouz et al. 2015),
  so with upper confidence ends FPR_hi, FNR_hi (two-sided Clopper-Pearson)

      eps_lb = max( ln((1 - delta - FNR_hi) / FPR_hi), ln((1 - delta - FPR_hi) / FNR_hi) ),  floored at 0.

* **One run** (Steinke, Nasr & Jagielski, NeurIPS 2023, Thm. 5.2 with the recursion of their Alg. 2): m
  canaries each included with probability 1/2, r guesses, v right. Under (eps, delta)-DP

      P[V >= v] <= P[Binomial(r, e^eps / (1 + e^eps)) >= v] + 2 m delta * max_{i=1..v} P[v > B >= v - i] / i,

  and eps_lb is the largest eps whose p-value is still below alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact binomial interval (Clopper & Pearson 1934) for a rate: (low, high) in [0, 1].

    Each end holds with probability (1 - confidence) / 2. trials >= 1, 0 <= successes <= trials.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(stats.beta.ppf(1.0 - tail, successes + 1, trials - successes))
    return low, high


def epsilon_from_rates(fpr_high: float, fnr_high: float, delta: float) -> float:
    """Jagielski et al. (2020) eps_lb from upper ends of the false-positive and false-negative rates, >= 0."""
    candidates = [0.0]
    for numerator_rate, denominator_rate in ((fnr_high, fpr_high), (fpr_high, fnr_high)):
        numerator = 1.0 - delta - numerator_rate
        if numerator > 0 and denominator_rate > 0:
            candidates.append(math.log(numerator / denominator_rate))
    return max(candidates)


@dataclass(frozen=True)
class ThresholdCounts:
    """Outcomes of 'member iff score >= threshold' on a set of candidates with known membership."""

    threshold: float
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int

    @property
    def positives(self) -> int:
        return self.true_positives + self.false_negatives

    @property
    def negatives(self) -> int:
        return self.false_positives + self.true_negatives


def counts_at(scores: np.ndarray, members: np.ndarray, threshold: float) -> ThresholdCounts:
    """TP/FP/TN/FN of guessing 'member' exactly when score >= threshold."""
    guess = np.asarray(scores) >= threshold
    members = np.asarray(members, dtype=bool)
    return ThresholdCounts(
        float(threshold),
        int(np.sum(guess & members)),
        int(np.sum(guess & ~members)),
        int(np.sum(~guess & ~members)),
        int(np.sum(~guess & members)),
    )


def epsilon_from_counts(counts: ThresholdCounts, delta: float, confidence: float = 0.95) -> float:
    """eps_lb of one threshold's outcomes: Clopper-Pearson upper ends of FPR and FNR, then Jagielski et al."""
    if counts.positives < 1 or counts.negatives < 1:
        return 0.0
    fpr_high = clopper_pearson(counts.false_positives, counts.negatives, confidence)[1]
    fnr_high = clopper_pearson(counts.false_negatives, counts.positives, confidence)[1]
    return epsilon_from_rates(fpr_high, fnr_high, delta)


@dataclass(frozen=True)
class SplitBound:
    """An eps lower bound whose threshold was chosen on one half of the guesses and scored on the other.

    Attributes:
        epsilon: the bound, from the scored half only (>= 0).
        counts: TP/FP/TN/FN of the scored half at the chosen threshold.
        selection_counts: the same on the selection half (what the threshold was chosen for).
        confidence: two-sided Clopper-Pearson confidence.
    """

    epsilon: float
    counts: ThresholdCounts
    selection_counts: ThresholdCounts
    confidence: float


def split_threshold_bound(
    scores: np.ndarray, members: np.ndarray, delta: float, seed: int, confidence: float = 0.95
) -> SplitBound:
    """Choose the threshold that maximises eps_lb on a random half of the candidates, then compute eps_lb
    on the other half at that threshold: a threshold fitted to the scored guesses would overstate the bound.
    """
    scores = np.asarray(scores, dtype=np.float64)
    members = np.asarray(members, dtype=bool)
    if scores.shape != members.shape or scores.ndim != 1:
        raise ValueError(f"scores and members must be 1-D of one length, got {scores.shape} and {members.shape}")
    if scores.size < 4:
        raise ValueError(f"need at least 4 scored candidates to split into selection and evaluation, got {scores.size}")
    order = np.random.default_rng(seed).permutation(scores.size)
    select, score = order[: scores.size // 2], order[scores.size // 2 :]
    best = None
    for threshold in np.unique(scores[select]):
        counts = counts_at(scores[select], members[select], threshold)
        value = epsilon_from_counts(counts, delta, confidence)
        if best is None or value > best[0]:
            best = (value, counts)
    assert best is not None
    chosen = best[1]
    evaluated = counts_at(scores[score], members[score], chosen.threshold)
    return SplitBound(epsilon_from_counts(evaluated, delta, confidence), evaluated, chosen, confidence)


# ----------------------------------------------------------------------------------------------- one run
def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """Steinke, Nasr & Jagielski (2023) Thm. 5.2: an upper bound on P[>= v of r guesses right] over m
    canaries (each in with probability 1/2) under (epsilon, delta)-DP. In [0, 1]."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if epsilon < 0 or not 0.0 <= delta <= 1.0:
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1], got {epsilon}, {delta}")
    q = 1.0 / (1.0 + math.exp(-epsilon))  # accuracy of eps-DP randomised response
    beta = float(stats.binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(beta, 1.0)
    # alpha = max_i P[v > B >= v - i] / i, B ~ Binomial(r, q): cumulative pmf below v, divided by i.
    pmf_below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[B = v-1], P[B = v-2], ..., P[B = 0]
    alpha = float(np.max(np.cumsum(pmf_below) / np.arange(1, v + 1)))
    return min(beta + alpha * delta * 2 * m, 1.0)


def one_run_epsilon(m: int, r: int, v: int, delta: float, alpha: float = 0.05, tolerance: float = 1e-4) -> float:
    """The largest eps (to `tolerance`) that v right of r guesses rejects at level alpha: eps_lb >= 0."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if one_run_p_value(m, r, v, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while one_run_p_value(m, r, v, high, delta) < alpha:
        low, high = high, 2.0 * high
        if high > 1e3:
            return math.inf
    while high - low > tolerance:
        mid = 0.5 * (low + high)
        if one_run_p_value(m, r, v, mid, delta) < alpha:
            low = mid
        else:
            high = mid
    return low
