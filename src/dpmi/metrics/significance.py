"""Stated tests behind the words "above chance" and "near chance", so they mean one thing everywhere.

A judge's acc@1 over n reconstructions is `hits / n`. Under the null hypothesis that the attack carries no
identity, each reconstruction is named correctly with probability `chance` (1/M for top-1 among M
identities, min(5, M)/M for top-5), independently, so hits ~ Binomial(n, chance). "Above chance" means the
one-sided exact binomial test rejects that null at level alpha (default 5 %); anything else is "near
chance" (not distinguishable from guessing with this many reconstructions). Rates are reported with a
Clopper-Pearson (exact) interval (Clopper & Pearson, Biometrika 1934), which never undercovers.

Rows from several seeds can be pooled (sum the hits and the counts) when they answer the same question.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest

DEFAULT_ALPHA = 0.05


def _check(hits: int, n: int) -> tuple[int, int]:
    if int(n) != n or int(hits) != hits:
        raise ValueError(f"hits and n must be whole numbers, got hits={hits}, n={n}")
    hits, n = int(hits), int(n)
    if n < 1 or not 0 <= hits <= n:
        raise ValueError(f"need n >= 1 and 0 <= hits <= n, got hits={hits}, n={n}")
    return hits, n


def above_chance_pvalue(hits: int, n: int, chance: float) -> float:
    """One-sided exact binomial p-value P(X >= hits) for X ~ Binomial(n, chance), in [0, 1].

    Args:
        hits: correct identifications, 0..n. n: reconstructions judged, >= 1.
        chance: probability of a correct identification by guessing, in (0, 1).
    """
    hits, n = _check(hits, n)
    if not 0.0 < chance < 1.0:
        raise ValueError(f"chance must be in (0, 1), got {chance}")
    return float(binomtest(hits, n, chance, alternative="greater").pvalue)


def above_chance(hits: int, n: int, chance: float, alpha: float = DEFAULT_ALPHA) -> bool:
    """True when `hits` of `n` is significantly more than guessing: the one-sided exact binomial test
    (`above_chance_pvalue`) rejects hits ~ Binomial(n, chance) at level `alpha` (0 < alpha < 1)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return above_chance_pvalue(hits, n, chance) < alpha


def rate_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) two-sided interval for a rate hits/n at `confidence` (0 < c < 1), as
    (low, high) in [0, 1]."""
    hits, n = _check(hits, n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    interval = binomtest(hits, n, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class ChanceVerdict:
    """A rate compared with guessing.

    Attributes:
        hits, n: correct identifications out of reconstructions judged.
        chance: the guessing rate. rate: hits / n. low, high: its 95 % Clopper-Pearson interval.
        p_value: one-sided exact binomial p-value against chance. above: p_value < alpha.
        words: "above chance" or "near chance", the only two phrases a report uses for this.
    """

    hits: int
    n: int
    chance: float
    rate: float
    low: float
    high: float
    p_value: float
    above: bool

    @property
    def words(self) -> str:
        return "above chance" if self.above else "near chance"

    def describe(self) -> str:
        """e.g. '3/40 = 7.5 % (95 % CI 1.6-20.4 %), near chance (2.5 %; one-sided binomial p = 0.08)'."""
        return (
            f"{self.hits}/{self.n} = {100 * self.rate:.1f} % (95 % CI {100 * self.low:.1f}-"
            f"{100 * self.high:.1f} %), {self.words} ({100 * self.chance:.1f} %; one-sided binomial "
            f"p = {self.p_value:.2g})"
        )


def chance_verdict(hits: int, n: int, chance: float, alpha: float = DEFAULT_ALPHA) -> ChanceVerdict:
    """Everything a report says about `hits` of `n` against `chance`: rate, interval, p-value, words."""
    hits, n = _check(hits, n)
    p_value = above_chance_pvalue(hits, n, chance)
    low, high = rate_interval(hits, n)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return ChanceVerdict(hits, n, float(chance), hits / n, low, high, p_value, p_value < alpha)
