"""White-box audit of dpmi's own DP-SGD in ONE training run (Steinke, Nasr & Jagielski, NeurIPS 2023).

m gradient canaries are drawn; each is put in the training set independently with probability 1/2 (S_i). The
model then trains with dpmi's `make_private` exactly as any model does: Poisson sampling at the level's rate
q over real images plus the included canaries, per-example clipping to C, N(0, (sigma C)^2) noise, the
accountant. The auditor sees every noisy update (the white-box threat model DP-SGD's accounting covers: all
iterates released) and scores each canary from the update it would cause; it then guesses "in" for the k
highest scores and "out" for the k lowest and abstains on the rest; v of its r = 2k guesses are right. The
p-value bound of Steinke et al. (Thm. 5.2, `bounds.one_run_p_value`) turns (m, r, v) into eps_lb at 95 %.

**Canaries.** Canary i is an input a_i = R x_i (x_i a random unit vector of the input space, R = CANARY_NORM)
with the per-example loss s <z(a_i), d_i> (d_i a random unit vector of the logit space) instead of the
cross-entropy. For softmax regression z = W a + b, so its gradient is s (d_i a_i^T, d_i), a FIXED direction
u_i (independent of the weights), of norm s sqrt(R^2 + 1) = 2C: dpmi's clipping scales it to C u_i. The x_i
are drawn orthogonal to the span of the training images, so the faces' gradients (d x^T with x a face) have
no component along any canary's weight direction; random directions in a 20 x 10304 space are nearly
orthogonal to each other.

**Score.** At step t the released noisy sum is G_t = sum_batch clip(g) + N(0, sigma^2 C^2 I) (read from the
parameters' .grad times the expected batch size, before the optimiser applies it). Its projection
x_ti = <G_t, u_i> / C is N(B_ti, sigma^2) with B_ti ~ Bernoulli(q) for an included canary and N(0, sigma^2)
otherwise (plus the faces' tiny projection). The score is the log-likelihood ratio of the two,

    score_i = sum_t log(1 - q + q exp((2 x_ti - 1) / (2 sigma^2))),

the Neyman-Pearson test between "in" and "out" for the Poisson-subsampled Gaussian. Over T steps "in" vs
"out" behaves like mu-GDP with mu ~ q sqrt(T (e^{1/sigma^2} - 1)) (the CLT of Bu, Dong, Long & Su 2020).

**How many guesses.** r is fixed BEFORE the run (not fitted to the scores, which would void the p-value):
`plan_guesses` simulates the score above for the claimed sigma, q, T and m and takes the r of a fixed grid
with the largest lower quartile of the larger of the two analyses' eps_lb (or the caller fixes r). Worked
example, the study's softmax recipe on 20 private identities x 7 images (q = 40/140, T = ceil(30 / q) = 105) at
sigma = 2: the accountant says eps 8.38 (RDP) / 7.71 (PLD) at delta 1e-5; mu = q sqrt(T (e^{1/4} - 1)) = 1.56
(the runs' empirical mu: 1.48-1.50). The plan picks r = 100 of m = 1000 (planning by Steinke's bound alone
picked 150); seeds 0, 1, 2 get 100, 99, 96 of 100 right: Steinke eps_lb 3.47, 3.00, 2.32 (45, 39, 30 % of
the PLD epsilon) and f-DP (GDP) mu_lb 1.23, 1.07, 0.84 -> eps_lb 5.55, 4.73, 3.57 (72, 61, 46 %): the f-DP
analysis is the tighter on every seed and reaches 50 % on two of three. The cap is the run's few decisive
guesses: even all 100 right give mu_lb 1.23, below the mechanism's own ~1.5, and more guesses bring in
canaries whose scores are not decisive (docs/results/audit.md).

**Catching a broken implementation.** If the noise is silently cut by a factor c while the accountant still
records sigma, the true mu grows ~c-fold, but one run's eps_lb is capped by its guesses: r guesses all right
give p ~ (1 + e^-eps)^-r, i.e. eps_lb <= ~ln(r / ln(1/alpha)) ~ ln(r / 3) (4.2 for r = 200). So a run can only
refute claims below that cap, and the included canaries must be sampled often enough that the Poisson count
(not the noise) does not blur them: tests/test_audit_one_run.py uses q = 0.5, T = 20, sigma = 5 (claim: eps
2.02 RDP / 1.85 PLD; honest mu = 0.45), m = 500, r = 200 fixed in advance, and a 10x noise cut: an included
canary's summed projection is 10 +- 3.2 against 0 +- 2.2 for an absent one, the 200 extreme scores are
(almost) all right and eps_lb > 2.02 on every seed, while the honest runs stay below 1.85.

Works for models whose only parameterised layer is a Linear on the flattened input ("softmax"): there the
canary direction is fixed; in deeper models it would move with the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.audit.bounds import one_run_epsilon
from dpmi.audit.fdp_one_run import FdpBound, fdp_one_run_bound
from dpmi.audit.one_run_black_box import both_bounds, guess_extremes, tighter_analysis
from dpmi.models import build_model

CANARY_NORM = 100.0  # R: most of each canary's gradient lies in the weights, 1/R of it in the bias
GUESS_GRID = (10, 20, 30, 50, 76, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000)


@dataclass(frozen=True)
class OneRunResult:
    """Outcome of one white-box run.

    Attributes:
        epsilon_lower_bound: eps_lb at `confidence` (Steinke et al. Thm. 5.2), >= 0.
        canaries: m; included: canaries actually in the training set; guesses: r; correct: v.
        guessed_in, guessed_in_correct, guessed_out, guessed_out_correct: the split of r and v.
        noise_multiplier, sample_rate, steps: the mechanism that was claimed (and accounted).
        planned_mu: the GDP mu the plan expected (claimed sigma); empirical_mu: (mean score in - mean score
            out) / pooled std of the summed projections, a diagnostic of what the run actually showed.
        delta, confidence.
        scores, included_mask: per-canary LR scores and S_i (numpy, for plots and re-analysis).
        fdp: the f-DP analysis of the same (m, r, v) (`dpmi.audit.fdp_one_run`).
    """

    epsilon_lower_bound: float  # Steinke et al.'s
    canaries: int
    included: int
    guesses: int
    correct: int
    guessed_in: int
    guessed_in_correct: int
    guessed_out: int
    guessed_out_correct: int
    noise_multiplier: float
    sample_rate: float
    steps: int
    planned_mu: float
    empirical_mu: float
    delta: float
    confidence: float
    scores: np.ndarray = field(repr=False)
    included_mask: np.ndarray = field(repr=False)
    fdp: FdpBound | None = None

    def analyses(self) -> dict[str, object]:
        """Both analyses of the same guesses: Steinke et al.'s (eps, delta) bound and the f-DP one (Mahloujifar
        et al.; GDP curve: mu_lb and its epsilon at delta; (eps, delta) curve), and which epsilon is larger.
        Each is a 95 % bound on its own; the larger of the two is reported as a reading, not as one more bound
        (picking the larger after the fact holds at 90 % by the union bound)."""
        out: dict[str, object] = {"steinke": {"epsilon_lower_bound": self.epsilon_lower_bound}}
        if self.fdp is None:
            return out
        out["fdp"] = self.fdp.to_dict()
        gdp, steinke = self.fdp.epsilon_lower_bound, self.epsilon_lower_bound
        out["tighter"] = tighter_analysis(steinke, gdp)
        return out

    def counts(self) -> dict[str, int]:
        return {
            "canaries": self.canaries,
            "included": self.included,
            "guesses": self.guesses,
            "correct": self.correct,
            "guessed_in": self.guessed_in,
            "guessed_in_correct": self.guessed_in_correct,
            "guessed_out": self.guessed_out,
            "guessed_out_correct": self.guessed_out_correct,
        }


def planned_mu(noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """mu ~ q sqrt(T (e^{1/sigma^2} - 1)): the CLT GDP parameter of T Poisson-subsampled Gaussian steps."""
    if noise_multiplier <= 0:
        return math.inf
    return sample_rate * math.sqrt(steps * math.expm1(min(1.0 / noise_multiplier**2, 700.0)))


def _lr_scores(projections: np.ndarray, noise_multiplier: float, sample_rate: float) -> np.ndarray:
    """sum_t log(1 - q + q exp((2x - 1) / (2 sigma^2))) over the rows' steps; projections [m, T] in units of C."""
    exponent = (2.0 * projections - 1.0) / (2.0 * noise_multiplier**2)
    if sample_rate >= 1.0:
        return exponent.sum(axis=1)
    return np.logaddexp(math.log1p(-sample_rate), math.log(sample_rate) + exponent).sum(axis=1)


@lru_cache(maxsize=64)
def plan_guesses(
    canaries: int,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    confidence: float = 0.95,
    simulations: int = 24,
) -> int:
    """The number of guesses r that maximises the lower quartile, over simulated honest runs (fixed seed 0, so
    a function of the configuration only: choosing it does not look at the audited run), of the larger eps_lb
    of the two analyses reported (Steinke et al.'s and the f-DP GDP one). The quartile, not the median, because
    few guesses have a high median but a wide spread (one run is one draw)."""
    rng = np.random.default_rng(0)
    grid = [g for g in GUESS_GRID if g <= canaries] or [canaries]
    results: dict[int, list[float]] = {g: [] for g in grid}
    for _ in range(simulations):
        included = rng.random(canaries) < 0.5
        sampled = (rng.random((canaries, steps)) < sample_rate) & included[:, None]
        x = sampled + noise_multiplier * rng.standard_normal((canaries, steps))
        scores = _lr_scores(x, noise_multiplier, sample_rate)
        for g in grid:
            steinke, fdp = both_bounds(guess_extremes(scores, included, g), delta, confidence)
            results[g].append(max(steinke, fdp.epsilon_lower_bound))
    return max(grid, key=lambda g: (float(np.percentile(results[g], 25)), -g))


def max_canaries(input_shape: tuple[int, ...]) -> int:
    """At most one canary per input dimension (their directions can then be near-orthogonal)."""
    return int(np.prod(input_shape))


def one_run_audit(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    num_classes: int,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    canaries: int = 1000,
    model: str = "softmax",
    lr: float = 0.01,
    momentum: float = 0.9,
    max_grad_norm: float = 1.0,
    delta: float = 1e-5,
    seed: int = 0,
    guesses: int | None = None,
    confidence: float = 0.95,
    advance: Callable[[int], None] | None = None,
) -> OneRunResult:
    """Run the white-box one-run audit of `make_private` at (sigma, q, T) on the training images x_train
    [N, C, H, W] (labels y_train [N]) plus `canaries` gradient canaries; see the module docstring.

    Args:
        noise_multiplier: the sigma DP-SGD claims (> 0); sample_rate q in (0, 1]; steps T >= 1.
        canaries: m in 2..prod(input shape).
        guesses: r in 2..m; None plans it from (m, sigma, q, T) before the run (`plan_guesses`).
        seed: canary directions, inclusion, initial weights, sampling and noise.
        advance: called with 1 after each of the T steps (a progress bar).
    """
    from dpmi.privacy.dpsgd import make_private

    input_shape = cast(tuple[int, int, int], tuple(int(s) for s in x_train.shape[1:]))  # x_train is [N, C, H, W]
    features = max_canaries(input_shape)
    if model != "softmax":
        raise ValueError(
            f"the white-box one-run audit needs the 'softmax' model (a fixed canary direction per "
            f"gradient), got {model!r}"
        )
    if not (isinstance(canaries, int) and 2 <= canaries <= features):
        raise ValueError(
            f"canaries must be an integer in 2..{features} (one per input dimension at most), got {canaries!r}"
        )
    if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"the one-run audit needs a private level: noise_multiplier > 0, got {noise_multiplier}")
    if guesses is None:
        guesses = plan_guesses(canaries, noise_multiplier, sample_rate, steps, delta, confidence)
    if not 2 <= guesses <= canaries:
        raise ValueError(f"guesses must be in 2..{canaries} (the canaries), got {guesses}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0A0D17]))
    directions_x = rng.standard_normal((canaries, features))
    # Orthogonal to every training image: a real example's weight gradient d_i x_i^T then has no component
    # along any canary's d_c x_c^T, so the faces add nothing to the canaries' scores (only the noise does).
    basis = np.linalg.qr(x_train.reshape(x_train.shape[0], -1).double().cpu().numpy().T)[0]  # [F, n]
    if basis.shape[1] < features:
        directions_x -= (directions_x @ basis) @ basis.T
    directions_x /= np.linalg.norm(directions_x, axis=1, keepdims=True)
    directions_d = rng.standard_normal((canaries, num_classes))
    directions_d /= np.linalg.norm(directions_d, axis=1, keepdims=True)
    included = rng.random(canaries) < 0.5

    dtype = x_train.dtype
    xs = torch.from_numpy(directions_x).to(dtype)  # [m, F] unit rows
    ds = torch.from_numpy(directions_d).to(dtype)  # [m, classes] unit rows
    inc = np.flatnonzero(included)
    n_real = int(x_train.shape[0])
    x_all = torch.cat([x_train, (CANARY_NORM * xs[inc]).reshape(len(inc), *input_shape)])
    y_all = torch.cat([y_train, torch.zeros(len(inc), dtype=y_train.dtype)])
    canary_id = torch.cat([torch.full((n_real,), -1, dtype=torch.long), torch.from_numpy(inc)])
    # loss s <z, d>: gradient norm s sqrt(R^2 + 1) = 2C, so clipping always brings it to exactly C u_i.
    loss_scale = 2.0 * max_grad_norm / math.sqrt(CANARY_NORM**2 + 1.0)

    net = build_model(model, num_classes=num_classes, input_shape=input_shape, seed=seed)
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linear) == 1
    fc = linear[0]
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    private = make_private(
        net,
        optimizer,
        (x_all, y_all, canary_id),
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        sample_rate=sample_rate,
        steps=steps,
        delta=delta,
        seed=seed,
    )
    projections = np.zeros((canaries, steps))
    xs_t = xs.t().contiguous()  # [F, m]
    unit = 1.0 / math.sqrt(CANARY_NORM**2 + 1.0)
    step = [0]

    def observe(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        # The released noisy sum G_t = .grad * q N, projected on every u_i = (R d_i x_i^T, d_i) / sqrt(R^2 + 1).
        with torch.no_grad():
            total = private.expected_batch_size
            weight_grad, bias_grad = fc.weight.grad, fc.bias.grad
            assert weight_grad is not None and bias_grad is not None  # the optimizer steps after backward
            gw, gb = weight_grad * total, bias_grad * total
            proj = (ds * (gw @ xs_t).t()).sum(dim=1) * CANARY_NORM + ds @ gb  # d_i^T G_W x_i, no [m, F] temporary
            projections[:, step[0]] = (proj * unit / max_grad_norm).double().numpy()
        step[0] += 1

    handle = optimizer.register_step_pre_hook(observe)
    try:
        for xb, yb, cb in private.batches():
            z = net(xb)
            is_canary = cb >= 0
            canary_loss = loss_scale * (z * ds[cb.clamp(min=0)]).sum(dim=1)
            real_loss = F.cross_entropy(z, yb, reduction="none")
            private.step(torch.where(is_canary, canary_loss, real_loss))
            if advance is not None:
                advance(1)
    finally:
        handle.remove()
        private.detach()
    if step[0] != steps:
        raise RuntimeError(f"observed {step[0]} updates, expected {steps}")

    scores = _lr_scores(projections, noise_multiplier, sample_rate)
    outcome = guess_extremes(scores, included, guesses)
    k_in, right_in, k_out, right_out = (
        outcome.guessed_in,
        outcome.guessed_in_correct,
        outcome.guessed_out,
        outcome.guessed_out_correct,
    )
    correct = outcome.correct
    epsilon = one_run_epsilon(canaries, guesses, correct, delta, 1.0 - confidence)
    sums = projections.sum(axis=1)
    pooled = math.sqrt(0.5 * (np.var(sums[included]) + np.var(sums[~included]))) if 0 < inc.size < canaries else 1.0
    empirical = float((sums[included].mean() - sums[~included].mean()) / pooled) if 0 < inc.size < canaries else 0.0
    return OneRunResult(
        float(epsilon),
        canaries,
        int(inc.size),
        guesses,
        correct,
        k_in,
        right_in,
        k_out,
        right_out,
        float(noise_multiplier),
        float(sample_rate),
        int(steps),
        planned_mu(noise_multiplier, sample_rate, steps),
        empirical,
        float(delta),
        float(confidence),
        scores,
        included,
        fdp_one_run_bound(canaries, guesses, correct, delta, confidence),
    )
