"""Black-box audit in ONE training run (Steinke, Nasr & Jagielski, NeurIPS 2023, Sec. 3 / Alg. 1), with LiRA's
scores as the guesses: a valid 95 % epsilon lower bound from the model's outputs alone.

**The run.** Each of the m candidates of the audit's pool (the target's training images plus the held-out
images of the same people) is put in a fresh training set independently with probability 1/2 (S_i); an audit
target is trained on exactly those, with the level's recipe otherwise unchanged: DP-SGD at the level's sigma,
Poisson rate q and T steps (q and T are the level's, not recomputed from the smaller training set, so the
mechanism is the one the accountant's epsilon is for), the plain recipe for a non-private level, or the
defense's objective for a defense level (`dpmi.defenses.defended_trainer`). Unlike the study's fixed 7 / 3
split, the S_i are independent fair coins, which is what Steinke et al.'s Thm. 5.2 (and the f-DP analysis of
Mahloujifar, Melis & Chaudhuri, ICML 2025, `fdp_one_run`) need: the fixed split's LiRA numbers stay what they
are, membership-inference strength.

**The guesses.** Online LiRA (Carlini et al. 2022, Eq. 4) scores every candidate against the audit target with
the shadow models the audit already trains (their subsets are drawn independently of S, so they are part of the
attacker's fixed knowledge of the pool, never of S). It guesses "in" for the r / 2 highest scores, "out" for the
r / 2 lowest, and abstains on the rest; v of r guesses are right. A candidate with no OUT shadow (possible with
very few shadows) cannot be scored: it stays one of the m and gets the middle score, so it is never guessed.

**How many guesses.** r is fixed before the run from the configuration alone (`plan_black_box_guesses`): the r of
a fixed grid that maximises the lower quartile of the larger eps_lb of the two analyses over simulated runs of
the Gaussian game (score = mu S_i + N(0, 1)) at mu = min(PLAN_MU, the level's white-box mu). PLAN_MU is an
assumption about LiRA's strength made before any score is seen (mu 1: AUC 0.76); a wrong assumption costs
tightness, never validity.

**What one run can show.** With m = 200 candidates and r guesses all right, eps_lb is at most about
ln(r / ln(20)) (3.9 for r = 100): a non-private model leaks far more than any such run can prove, and a DP level
at eps 8 more than the honest LiRA can find from outputs (the white-box audit, which sees the updates, is the
stronger attacker).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.audit.bounds import one_run_epsilon
from dpmi.audit.fdp_one_run import FdpBound, fdp_one_run_bound
from dpmi.audit.lira import lira_scores
from dpmi.privacy.dpsgd import TrainConfig

PLAN_MU = 1.0  # the LiRA strength (GDP mu of its score game) the guess plan assumes, fixed before any run
PLAN_GRID = (10, 16, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300, 400, 500)
PLAN_SIMULATIONS = 32

Trainer = Callable[[nn.Module, torch.Tensor, torch.Tensor, TrainConfig], Any]


def tighter_analysis(steinke: float, gdp: float) -> str:
    """Which of two 95 % lower bounds is larger: "f-DP (GDP)", "Steinke" or "equal"."""
    return "f-DP (GDP)" if gdp > steinke else ("Steinke" if steinke > gdp else "equal")


@dataclass(frozen=True)
class GuessOutcome:
    """r guesses on m candidates: guessed_in (top scores) and guessed_out (bottom), and how many were right."""

    canaries: int
    guessed_in: int
    guessed_in_correct: int
    guessed_out: int
    guessed_out_correct: int

    @property
    def guesses(self) -> int:
        return self.guessed_in + self.guessed_out

    @property
    def correct(self) -> int:
        return self.guessed_in_correct + self.guessed_out_correct


def guess_extremes(scores: np.ndarray, included: np.ndarray, guesses: int) -> GuessOutcome:
    """Guess 'in' for the guesses // 2 highest scores and 'out' for the rest of the guesses from the lowest
    (ties broken by index, stably). scores, included: [m]; 2 <= guesses <= m."""
    scores = np.asarray(scores, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    m = int(scores.size)
    if included.shape != scores.shape or scores.ndim != 1:
        raise ValueError(f"scores and included must be 1-D of one length, got {scores.shape} and {included.shape}")
    if not 2 <= guesses <= m:
        raise ValueError(f"guesses must be in 2..{m} (the candidates), got {guesses}")
    order = np.argsort(-scores, kind="stable")
    k_in = guesses // 2
    k_out = guesses - k_in
    top, bottom = order[:k_in], order[m - k_out :]
    return GuessOutcome(m, k_in, int(included[top].sum()), k_out, int((~included[bottom]).sum()))


def both_bounds(outcome: GuessOutcome, delta: float, confidence: float = 0.95) -> tuple[float, FdpBound]:
    """Steinke et al.'s eps_lb and the f-DP analysis of the same (m, r, v), each at `confidence`."""
    m, r, v = outcome.canaries, outcome.guesses, outcome.correct
    return one_run_epsilon(m, r, v, delta, 1.0 - confidence, 1e-3), fdp_one_run_bound(m, r, v, delta, confidence)


@lru_cache(maxsize=64)
def plan_black_box_guesses(
    candidates: int, delta: float, mu: float = PLAN_MU, confidence: float = 0.95, simulations: int = PLAN_SIMULATIONS
) -> int:
    """r for m = `candidates`, from the configuration only (fixed seed 0): the grid value maximising the lower
    quartile of max(Steinke, f-DP GDP) eps_lb over simulated Gaussian games at `mu` (ties: fewer guesses)."""
    if not (isinstance(candidates, int) and candidates >= 2):
        raise ValueError(f"need at least 2 candidates, got {candidates!r}")
    rng = np.random.default_rng(0)
    grid = [g for g in PLAN_GRID if g <= candidates] or [candidates]
    results: dict[int, list[float]] = {g: [] for g in grid}
    for _ in range(simulations):
        included = rng.random(candidates) < 0.5
        scores = mu * included + rng.standard_normal(candidates)
        for g in grid:
            steinke, fdp = both_bounds(guess_extremes(scores, included, g), delta, confidence)
            results[g].append(max(steinke, fdp.epsilon_lower_bound))
    return max(grid, key=lambda g: (float(np.percentile(results[g], 25)), -g))


@dataclass(frozen=True)
class BlackBoxOneRun:
    """The black-box one-run audit's outcome (module docstring).

    Attributes:
        epsilon_lower_bound: Steinke et al.'s eps_lb at `confidence` (>= 0).
        fdp: the f-DP analysis of the same guesses (mu_lb of Gaussian DP, its epsilon, and the (eps, delta) curve).
        outcome: the guesses (m candidates, r, v and their split into "in" / "out").
        included: candidates the audit target trained on (sum of S_i); scored: those LiRA could score.
        planned_mu: the score-game strength the plan of r assumed; delta, confidence.
        auc: online LiRA's AUC on the one-run target (strength, for comparison with the fixed split's).
    """

    epsilon_lower_bound: float
    fdp: FdpBound
    outcome: GuessOutcome
    included: int
    scored: int
    planned_mu: float
    delta: float
    confidence: float
    auc: float

    @property
    def tighter(self) -> str:
        return tighter_analysis(self.epsilon_lower_bound, self.fdp.epsilon_lower_bound)

    def to_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "kind": "one-run audit (candidates included at random): a valid lower bound at its confidence",
            "steinke": {"epsilon_lower_bound": self.epsilon_lower_bound},
            "fdp": self.fdp.to_dict(),
            "tighter": self.tighter,
            "candidates": o.canaries,
            "included": self.included,
            "scored": self.scored,
            "guesses": o.guesses,
            "correct": o.correct,
            "guessed_in": o.guessed_in,
            "guessed_in_correct": o.guessed_in_correct,
            "guessed_out": o.guessed_out,
            "guessed_out_correct": o.guessed_out_correct,
            "planned_mu": self.planned_mu,
            "auc": self.auc,
            "confidence": self.confidence,
        }


def include_at_random(candidates: int, seed: int) -> np.ndarray:
    """S_i: each candidate in independently with probability 1/2 ([m] bool), from `seed` alone."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x1B1AC4])).random(candidates) < 0.5


def train_one_run_target(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: TrainConfig,
    *,
    sample_rate: float | None = None,
    steps: int | None = None,
    trainer: Trainer | None = None,
    advance: Callable[[int], None] | None = None,
) -> nn.Module:
    """Train `model` on the included candidates (x, y) with the level's recipe; returns the trained module.

    Private (`recipe.noise_multiplier` set): DP-SGD through `make_private` at the level's `sample_rate` q and
    `steps` T (both required), SGD with the recipe's lr and momentum, cross-entropy. Otherwise `trainer(model,
    x, y, recipe)` (default `dpmi.privacy.dpsgd.train`; a defense's trainer returns a DefendedTraining, whose
    `.model` is used). `advance` is called with the steps taken as they finish (per epoch plain, per step
    private, all at the end with a defense's trainer): epochs x ceil(n / batch size) plain, `steps` private."""
    from dpmi.privacy.dpsgd import make_private, train

    if not recipe.private:
        recipe = replace(recipe, batch_size=min(recipe.batch_size, int(x.shape[0])))
        per_epoch = -(-int(x.shape[0]) // recipe.batch_size)
        if trainer is not None:
            out = trainer(model, x, y, recipe)
            if advance is not None:
                advance(recipe.epochs * per_epoch)
            return getattr(out, "model", model)
        train(model, x, y, recipe, after_epoch=None if advance is None else (lambda epoch: advance(per_epoch)))
        return model
    if recipe.noise_multiplier is None or sample_rate is None or steps is None:
        raise ValueError("a private one-run target needs the level's noise_multiplier, sample_rate and steps")
    model.to(torch.device(recipe.device)).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    private = make_private(
        model,
        optimizer,
        (x, y),
        noise_multiplier=float(recipe.noise_multiplier),
        max_grad_norm=recipe.max_grad_norm,
        sample_rate=float(sample_rate),
        steps=int(steps),
        delta=recipe.delta,
        seed=recipe.seed,
    )
    try:
        for xb, yb in private.batches(int(steps)):
            private.step(F.cross_entropy(model(xb), yb, reduction="none"))
            if advance is not None:
                advance(1)
    finally:
        private.detach()
    return model


def analyse_one_run(
    target_phi: np.ndarray,
    shadow_phi: np.ndarray,
    shadow_in: np.ndarray,
    included: np.ndarray,
    guesses: int,
    delta: float,
    *,
    planned_mu: float = PLAN_MU,
    confidence: float = 0.95,
    fixed_variance: bool = False,
) -> BlackBoxOneRun:
    """LiRA's online scores of the one-run target's phi [m] (shadows' phi and membership [K, m]) as guesses on
    S = `included` [m]; both analyses. `guesses` must have been fixed before the run."""
    from dpmi.audit.roc import roc_curve

    included = np.asarray(included, dtype=bool)
    scored = ~np.asarray(shadow_in, dtype=bool).all(axis=0)
    if scored.sum() < 2:
        raise ValueError("too few candidates were left out of some shadow model to score: add shadows")
    online = lira_scores(target_phi[scored], shadow_phi[:, scored], shadow_in[:, scored], fixed_variance).online
    scores = np.full(included.shape, float(np.median(online)))
    scores[scored] = online
    outcome = guess_extremes(scores, included, guesses)
    steinke, fdp = both_bounds(outcome, delta, confidence)
    auc = roc_curve(online, included[scored]).auc if 0 < included[scored].sum() < scored.sum() else math.nan
    return BlackBoxOneRun(
        steinke, fdp, outcome, int(included.sum()), int(scored.sum()), float(planned_mu), delta, confidence, auc
    )
