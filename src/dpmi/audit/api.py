"""One privacy level audited three ways, side by side: `audit_level(...) -> AuditRecord`.

* what the accountant promises: epsilon by RDP and PLD for the level's (sigma, q, T) at delta;
* what an attacker achieves: black-box LiRA (online and offline, `lira`) against the target with K shadow models
  trained together (`shadow_models`): its membership-inference STRENGTH (ROC, AUC, TPR at an FPR only where the
  non-members scored can measure it, else the TPR at zero false positives among them, `roc.low_fpr_reading`).
  It is not an epsilon lower bound: the candidates' membership is the one fixed split of one target, so their
  guesses are not independent trials and no Clopper-Pearson interval over them holds at its stated confidence
  (a valid black-box bound needs a one-run retraining with candidates included at random). That retraining
  is `one_run_black_box`: an audit target trained on the pool's candidates each included with probability 1/2,
  LiRA's online scores (the same shadows) as guesses, `epsilon_lower_bound["black_box"]` (Steinke et al.) and
  `["black_box_fdp"]` (f-DP). The white-box one-run audit of DP-SGD with m gradient canaries
  (`one_run_audit`), analysed both by Steinke et al. and by the f-DP analysis of Mahloujifar et al.
  (`fdp_one_run`), gives the white-box lower bounds;
* what the promise means for a person: the identity-level epsilon for k images per person (`group_privacy`), and
  the bound on any reconstruction attack's success at baseline kappa (kappa = 1 / people by default), record
  and identity level (`dpmi.privacy.accounting.reconstruction_bound`).

The candidate pool is the target's training images (members) plus held-out images of the same people
(non-members), e.g. the private identities' 7 / 3 split: the target is exactly the study's model for that
seed (same recipe, same seed). Each shadow trains on a random subset of the pool OF THE TARGET'S TRAINING-SET
SIZE (Carlini et al. use half of the pool because their target is trained on half; keeping the target's size
keeps the shadows' Poisson rate and step count, hence their mechanism, equal to the target's), the subsets
balanced so that every candidate is in as equal a share of the shadows as possible (`balanced_subsets`).

A defense level (`trainer=`, e.g. `dpmi.defenses.defended_trainer("label-smoothing")`) trains its shadows and
its one-run target with the defense's objective, one after another (the batched `train_together` knows only
cross-entropy), so its membership-inference numbers are measured under the defense.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from dpmi.audit.bounds import SplitBound, ThresholdCounts, split_threshold_bound
from dpmi.audit.fdp_one_run import FdpBound
from dpmi.audit.group_privacy import IdentityEpsilon, identity_epsilon
from dpmi.audit.lira import lira_scores, scaled_confidence
from dpmi.audit.one_run_audit import OneRunResult, max_canaries, one_run_audit, planned_mu
from dpmi.audit.one_run_black_box import (
    PLAN_MU,
    BlackBoxOneRun,
    Trainer,
    analyse_one_run,
    include_at_random,
    plan_black_box_guesses,
    train_one_run_target,
)
from dpmi.audit.progress import AuditPhase, AuditProgress, PhaseProgress
from dpmi.audit.roc import LowFprReading, RocCurve, low_fpr_reading, roc_curve, tpr_at_zero_false_positives
from dpmi.audit.shadow_models import model_steps, stack_steps, train_together, trains_together
from dpmi.models import build_model
from dpmi.privacy.accounting.reconstruction_bound import ReconstructionBound, check_kappa
from dpmi.privacy.dpsgd import TrainConfig
from dpmi.privacy.dpsgd.noise import derive_seeds

DEFAULT_FPR_TARGETS = (0.001, 0.01)


@dataclass(frozen=True)
class BlackBoxResult:
    """LiRA against the target: membership-inference strength on the fixed split, NOT an epsilon lower bound.

    Attributes:
        auc, auc_offline: area under the online / offline ROC.
        low_fpr, low_fpr_offline: {"0.001": LowFprReading, ...} for the FPR targets (a TPR only where the FPR is
            measurable from the non-members scored, else the TPR at zero false positives among them).
        tpr_at_zero_fp, tpr_at_zero_fp_offline: TPR of the strictest threshold flagging no non-member.
        split: online LiRA's TP/FP/TN/FN at a threshold chosen on half of the candidates and counted on the
            other half (a description of strength; its `epsilon` is NOT a valid bound, see the module docstring).
        candidates, members: candidates scored (those left out of at least one shadow) and members among them;
            shadows: how many shadow models.
        roc, roc_offline: the curves (for the figure).
    """

    auc: float
    auc_offline: float
    low_fpr: dict[str, LowFprReading]
    low_fpr_offline: dict[str, LowFprReading]
    tpr_at_zero_fp: float
    tpr_at_zero_fp_offline: float
    split: SplitBound
    candidates: int
    members: int
    shadows: int
    roc: RocCurve = field(repr=False)
    roc_offline: RocCurve = field(repr=False)

    @property
    def negatives(self) -> int:
        return self.roc.negatives

    @property
    def tpr_at_fpr(self) -> dict[str, float | None]:
        """{"0.001": tpr or None (not measurable from the non-members scored)}, online LiRA."""
        return {k: r.tpr for k, r in self.low_fpr.items()}

    @property
    def tpr_at_fpr_offline(self) -> dict[str, float | None]:
        return {k: r.tpr for k, r in self.low_fpr_offline.items()}


@dataclass(frozen=True)
class AuditRecord:
    """Everything the audit of one privacy level found. `to_dict()` is the JSON of `dpmi audit --json`.

    Attributes:
        noise_multiplier, sample_rate, steps: the level's DP-SGD mechanism (None when non-private).
        delta: the delta of every epsilon here.
        epsilon: {"rdp": .., "pld": ..} by the accountants; None when non-private (infinite).
        black_box: LiRA results (None if not run).
        white_box: the one-run canary audit (None if non-private or not run).
        identity: identity-level epsilon for `records_per_identity` images per person (None if non-private).
        records_per_identity: k, the most images any one person has in the target's training set.
        seconds: wall time of each part.
        reconstruction: {"record": .., "identity": ..} bounds on any reconstruction's success at `kappa`
            (None when non-private); reconstruction_extra: the same at a user-set kappa (None if not asked).
    """

    noise_multiplier: float | None
    sample_rate: float | None
    steps: int | None
    delta: float
    epsilon: dict[str, float] | None
    black_box: BlackBoxResult | None
    white_box: OneRunResult | None
    identity: IdentityEpsilon | None
    records_per_identity: int
    seconds: dict[str, float]
    reconstruction: dict[str, ReconstructionBound] | None = None
    reconstruction_extra: dict[str, ReconstructionBound] | None = None
    black_box_one_run: BlackBoxOneRun | None = None

    def epsilon_lower_bounds(self) -> dict[str, float | None]:
        """The valid 95 % lower bounds: black box (the one-run retraining with candidates included at random,
        LiRA's guesses) and white box (gradient canaries), each by Steinke et al. and by the f-DP (GDP) analysis.
        The fixed-split LiRA measures strength, never a bound."""
        wb = self.white_box
        fdp: FdpBound | None = None if wb is None else wb.fdp
        one = self.black_box_one_run
        return {
            "black_box": None if one is None else one.epsilon_lower_bound,
            "black_box_fdp": None if one is None else one.fdp.epsilon_lower_bound,
            "white_box": None if wb is None else wb.epsilon_lower_bound,
            "white_box_fdp": None if fdp is None else fdp.epsilon_lower_bound,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: epsilon (absent when non-private), epsilon_lower_bound, auc, tpr_at_fpr,
        identity_epsilon and the counts behind every bound."""
        out: dict[str, Any] = {}
        if self.epsilon is not None:
            out["epsilon"] = dict(self.epsilon)
        out["delta"] = self.delta
        out["noise_multiplier"] = self.noise_multiplier
        out["sample_rate"] = self.sample_rate
        out["steps"] = self.steps
        out["epsilon_lower_bound"] = self.epsilon_lower_bounds()
        bb = self.black_box
        out["auc"] = None if bb is None else bb.auc
        out["tpr_at_fpr"] = None if bb is None else dict(bb.tpr_at_fpr)
        out["low_fpr"] = None if bb is None else _low_fpr_dict(bb.low_fpr, bb.tpr_at_zero_fp, bb.negatives)
        out["identity_epsilon"] = None if self.identity is None else self.identity.epsilon
        out["records_per_identity"] = self.records_per_identity
        counts: dict[str, Any] = {}
        if bb is not None:
            c, s = bb.split.counts, bb.split.selection_counts
            counts["black_box"] = {
                "candidates": bb.candidates,
                "members": bb.members,
                "non_members": bb.negatives,
                "shadows": bb.shadows,
                "threshold": c.threshold,
                "scored": _counts_dict(c),
                "selection": _counts_dict(s),
            }
            out["black_box"] = {
                "kind": "membership-inference strength (fixed split): not an epsilon lower bound",
                "auc_offline": bb.auc_offline,
                "tpr_at_fpr_offline": dict(bb.tpr_at_fpr_offline),
                "low_fpr_offline": _low_fpr_dict(bb.low_fpr_offline, bb.tpr_at_zero_fp_offline, bb.negatives),
            }
        if self.black_box_one_run is not None:
            out["black_box_one_run"] = self.black_box_one_run.to_dict()
        if self.white_box is not None:
            wb = self.white_box
            counts["white_box"] = {**wb.counts(), "confidence": wb.confidence}
            out["white_box"] = {"planned_mu": wb.planned_mu, "empirical_mu": wb.empirical_mu, **wb.analyses()}
        if self.reconstruction is not None:
            out["reconstruction"] = {name: b.to_dict() for name, b in self.reconstruction.items()}
        if self.reconstruction_extra is not None:
            out["reconstruction_extra"] = {name: b.to_dict() for name, b in self.reconstruction_extra.items()}
        if self.identity is not None:
            out["identity"] = {
                "method": self.identity.method,
                "subsampled_group": _finite(self.identity.subsampled_group),
                "dwork_roth": _finite(self.identity.dwork_roth),
                "records": self.identity.records,
            }
            out["identity_epsilon"] = _finite(self.identity.epsilon)
        out["counts"] = counts
        out["seconds"] = dict(self.seconds)
        return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _low_fpr_dict(readings: dict[str, LowFprReading], zero_fp: float, negatives: int) -> dict[str, Any]:
    return {
        "non_members": negatives,
        "smallest_measurable_fpr": 1.0 / negatives,
        "tpr_at_zero_false_positives": zero_fp,
        "targets": {
            key: {"fpr": r.fpr, "measurable": r.measurable, "tpr": r.tpr, "text": r.text} for key, r in readings.items()
        },
    }


def _counts_dict(c: ThresholdCounts) -> dict[str, int]:
    return {
        "true_positives": c.true_positives,
        "false_positives": c.false_positives,
        "true_negatives": c.true_negatives,
        "false_negatives": c.false_negatives,
    }


def check_audit_settings(
    shadows: int, canaries: int, fpr_targets: Sequence[float], input_shape: Sequence[int], private: bool
) -> None:
    """ValueError naming the first bad setting (the CLI checks these before anything is trained or written)."""
    if not (isinstance(shadows, int) and shadows >= 2):
        raise ValueError(f"shadows must be an integer >= 2 (LiRA fits a Gaussian per candidate), got {shadows!r}")
    limit = max_canaries(tuple(input_shape))
    if private and not (isinstance(canaries, int) and 0 <= canaries <= limit and canaries != 1):
        raise ValueError(
            f"canaries must be 0 (no white-box audit) or an integer in 2..{limit} (one per input "
            f"dimension at most), got {canaries!r}"
        )
    if not fpr_targets:
        raise ValueError("give at least one FPR target")
    for fpr in fpr_targets:
        if not 0.0 < float(fpr) < 1.0:
            raise ValueError(f"FPR targets must be in (0, 1), got {fpr}")


def audit_level(
    x_members: torch.Tensor,
    y_members: torch.Tensor,
    x_heldout: torch.Tensor,
    y_heldout: torch.Tensor,
    recipe: TrainConfig,
    *,
    model: str = "softmax",
    num_classes: int,
    target_seed: int = 0,
    shadows: int = 64,
    canaries: int = 1000,
    seed: int = 0,
    fpr_targets: Sequence[float] = DEFAULT_FPR_TARGETS,
    target: nn.Module | None = None,
    sample_rate: float | None = None,
    steps: int | None = None,
    fixed_variance: bool = False,
    confidence: float = 0.95,
    black_box: bool = True,
    kappa: float | None = None,
    one_run: bool = True,
    trainer: Trainer | None = None,
    progress: AuditProgress | None = None,
) -> AuditRecord:
    """Audit one privacy level (see the module docstring).

    Args:
        x_members, y_members: the target's training images [n, C, H, W] and labels (e.g. the private identities'
            training split); x_heldout, y_heldout: images of the same people it never saw (e.g. their test split).
        recipe: the target's TrainConfig (epochs, batch_size, lr, momentum, max_grad_norm, delta, accountant, and
            noise_multiplier or target_epsilon; None of both = non-private). Its seed is replaced by target_seed.
        model: dpmi model name; num_classes: the labels' range.
        target_seed: the target's seed (the study's cell seed: the target is then the study's model).
        shadows: K >= 2 shadow models; canaries: m for the white-box audit (0: skip it; private levels only).
        seed: the audit's own randomness (shadow subsets and seeds, the threshold split, the canaries).
        fpr_targets: FPRs in (0, 1) to report the TPR at.
        target: an already-trained target (e.g. a saved model) to score instead of training one.
        sample_rate, steps: the level's q and T if known (checked against the recipe's: a mismatch raises).
        fixed_variance: LiRA with one variance per side (for small K).
        black_box: False skips LiRA (the one-run audit and the accounting only).
        kappa: a user-set baseline in (0, 1) for the reconstruction bound, beside kappa = 1 / num_classes.
        one_run: with black_box, also the black-box one-run audit (`one_run_black_box`: one more training on the
            pool's candidates included at random, scored by LiRA with the same shadows), a valid eps_lb.
        trainer: a non-private defense's `trainer(model, x, y, config)` (`dpmi.defenses.defended_trainer`): the
            shadows, the one-run target and (if `target` is None) the target train with it, sequentially.
        progress: told the phases (`dpmi.audit.progress`: their exact step totals) once every setting is
            checked and before anything trains, then each phase as it starts and its steps as they finish.

    Returns: AuditRecord (`.to_dict()` for JSON).
    """
    input_shape = tuple(int(s) for s in x_members.shape[1:])
    if kappa is not None:
        kappa = check_kappa(kappa)
    check_audit_settings(shadows, canaries, fpr_targets, input_shape, recipe.private)
    n = int(x_members.shape[0])
    recipe = replace(recipe, seed=int(target_seed))
    recipe.validate(n)
    seconds: dict[str, float] = {}
    from dpmi.privacy.accounting import (
        compute_epsilon,
        dpsgd_steps,
        get_noise_multiplier,
    )

    sigma = q = t_steps = None
    epsilon = None
    if recipe.private:
        q = recipe.batch_size / n
        t_steps = dpsgd_steps(recipe.epochs, q)
        if (sample_rate is not None and not math.isclose(sample_rate, q, rel_tol=1e-9)) or (
            steps is not None and steps != t_steps
        ):
            raise ValueError(
                f"the recipe trains {t_steps} steps at rate {q:.6g} on {n} images, but the level says "
                f"{steps} steps at rate {sample_rate}: give the level's training set and batch size"
            )
        sigma = recipe.noise_multiplier
        if sigma is None:
            assert recipe.target_epsilon is not None  # a private recipe sets noise_multiplier or target_epsilon
            sigma = float(
                get_noise_multiplier(recipe.target_epsilon, recipe.delta, q, t_steps, accountant=recipe.accountant)
            )
        recipe = replace(recipe, noise_multiplier=float(sigma), target_epsilon=None)
        if sigma > 0:
            epsilon = {
                name: float(compute_epsilon(sigma, q, t_steps, recipe.delta, accountant=name))
                for name in ("rdp", "pld")
            }
        else:
            epsilon = {"rdp": math.inf, "pld": math.inf}

    records = int(np.bincount(y_members.cpu().numpy(), minlength=num_classes).max())
    audit_seeds = derive_seeds(seed, 4)

    if trainer is not None and recipe.private:
        raise ValueError("a defense's trainer is audited for non-private levels only (DP-SGD levels train plainly)")
    tracker = PhaseProgress(progress)
    tracker.plan(
        audit_phases(
            recipe,
            model,
            num_classes,
            input_shape,
            n,
            int(x_heldout.shape[0]),
            shadows=shadows,
            canaries=canaries,
            seed=seed,
            target_given=target is not None,
            black_box=black_box,
            one_run=one_run,
            defended=trainer is not None,
            steps=t_steps,
        )
    )
    bb = one = None
    if black_box:
        start = time.perf_counter()
        tracker.start("shadows")
        bb, pool_phi = _black_box(
            x_members,
            y_members,
            x_heldout,
            y_heldout,
            recipe,
            model,
            num_classes,
            shadows,
            audit_seeds,
            fpr_targets,
            target,
            fixed_variance,
            confidence,
            trainer,
            tracker.advance,
        )
        seconds["black_box"] = time.perf_counter() - start
        if one_run:
            start = time.perf_counter()
            tracker.start("one_run")
            one = _black_box_one_run(
                torch.cat([x_members, x_heldout]),
                torch.cat([y_members, y_heldout]),
                pool_phi,
                recipe,
                model,
                num_classes,
                seed,
                q,
                t_steps,
                sigma,
                fixed_variance,
                confidence,
                trainer,
                tracker.advance,
            )
            seconds["black_box_one_run"] = time.perf_counter() - start

    wb = None
    if recipe.private and sigma and canaries:
        assert q is not None and t_steps is not None  # set together with sigma for a private recipe
        start = time.perf_counter()
        tracker.start("white_box")
        wb = one_run_audit(
            x_members,
            y_members,
            num_classes=num_classes,
            noise_multiplier=float(sigma),
            sample_rate=float(q),
            steps=int(t_steps),
            canaries=canaries,
            model=model,
            lr=recipe.lr,
            momentum=recipe.momentum,
            max_grad_norm=recipe.max_grad_norm,
            delta=recipe.delta,
            seed=audit_seeds[2] % (2**31),
            confidence=confidence,
            advance=tracker.advance,
        )
        seconds["white_box"] = time.perf_counter() - start

    identity = None
    if recipe.private and sigma:
        assert q is not None and t_steps is not None  # as above
        start = time.perf_counter()
        tracker.start("accounting")
        identity = identity_epsilon(float(sigma), float(q), int(t_steps), recipe.delta, records)
        tracker.advance()
        seconds["identity"] = time.perf_counter() - start
    reconstruction = extra = None
    if recipe.private and sigma:
        assert q is not None and t_steps is not None  # as above
        start = time.perf_counter()
        kappas = [1.0 / max(num_classes, 2)] + ([] if kappa is None else [kappa])
        bounds = _reconstruction(float(sigma), float(q), int(t_steps), kappas, records)
        reconstruction = bounds[0]
        extra = bounds[1] if kappa is not None else None
        tracker.advance()
        seconds["reconstruction"] = time.perf_counter() - start
    return AuditRecord(
        None if sigma is None else float(sigma),
        q,
        t_steps,
        float(recipe.delta),
        epsilon,
        bb,
        wb,
        identity,
        records,
        seconds,
        reconstruction,
        extra,
        one,
    )


def audit_phases(
    recipe: TrainConfig,
    model: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    members: int,
    heldout: int,
    *,
    shadows: int,
    canaries: int,
    seed: int,
    target_given: bool = False,
    black_box: bool = True,
    one_run: bool = True,
    defended: bool = False,
    steps: int | None = None,
) -> list[AuditPhase]:
    """The phases `audit_level` runs for a checked recipe (sigma resolved; `steps` its DP-SGD steps T) and
    what each advances by: the shadow stack's steps, the one-run target's, the white-box run's T, and one per
    accounting bound."""
    shape = cast(tuple[int, int, int], tuple(int(s) for s in input_shape))
    sigma = recipe.noise_multiplier if recipe.private else None
    phases = []
    if black_box:
        count = shadows + (0 if target_given else 1)
        who = f"{shadows} shadow models" + ("" if target_given else " and the target")
        if defended:  # trained one after another by the defense's trainer (`_defended_logits`)
            total = count * model_steps(replace(recipe, batch_size=min(recipe.batch_size, members)), members)
            phases.append(AuditPhase("shadows", f"{who}, one after another (the defense's objective)", total))
        else:
            how = "trained together" if trains_together(model, num_classes, shape) else "one after another"
            total = stack_steps(model, count, members, recipe, num_classes, shape)
            phases.append(AuditPhase("shadows", f"{who}, {how}", total))
        if one_run:
            pool = members + heldout
            included = int(_one_run_inclusion(pool, seed).sum())
            if recipe.private:
                assert steps is not None  # a private recipe's steps are resolved with its sigma
                total = int(steps)
            else:
                total = model_steps(replace(recipe, batch_size=min(recipe.batch_size, included)), included)
            phases.append(
                AuditPhase(
                    "one_run", f"the one-run target on {included} of {pool} candidates, each in at random", total
                )
            )
    if recipe.private and sigma and canaries:
        assert steps is not None
        phases.append(AuditPhase("white_box", f"the white-box run with {canaries} gradient canaries", int(steps)))
    if recipe.private and sigma:
        phases.append(AuditPhase("accounting", "identity epsilon and reconstruction bounds (PLD)", 2))
    return phases


def _one_run_inclusion(pool: int, seed: int) -> np.ndarray:
    """[pool] bool: the black-box one-run audit's candidates in its target (stream 4 of the audit seed; the
    fixed-split audit draws streams 0-3, so its numbers are unchanged)."""
    return include_at_random(pool, int(derive_seeds(int(seed), 6)[4] % (2**31)))


# The identity-level PLD (sigma / k, q_k) is wide; its bound is ~1 anyway, so a coarser grid (still pessimistic)
# keeps it to seconds.
IDENTITY_PLD_INTERVAL = 1e-3


def _reconstruction(
    sigma: float, q: float, steps: int, kappas: Sequence[float], records: int
) -> list[dict[str, ReconstructionBound]]:
    """Per kappa: {"record": bound for one image, "identity": bound for a person with `records` images}."""
    from dpmi.privacy.accounting.reconstruction_bound import dpsgd_plds, reconstruction_bound

    levels = {"record": (1, 1e-4), "identity": (records, IDENTITY_PLD_INTERVAL)}
    plds = {name: dpsgd_plds(sigma, q, steps, k, interval) for name, (k, interval) in levels.items()}
    out = []
    for kappa in kappas:
        per: dict[str, ReconstructionBound] = {}
        for name, (k, _) in levels.items():
            grid, used = plds[name]
            b = reconstruction_bound(grid, kappa)
            per[name] = ReconstructionBound(b.kappa, b.bound, b.by_direction, k, sigma, q, steps, used)
        out.append(per)
    return out


def _black_box(
    x_members,
    y_members,
    x_heldout,
    y_heldout,
    recipe,
    model,
    num_classes,
    shadows,
    audit_seeds,
    fpr_targets,
    target,
    fixed_variance,
    confidence,
    trainer=None,
    advance=None,
) -> tuple[BlackBoxResult, tuple[np.ndarray, np.ndarray]]:
    """Fixed-split LiRA; also returns the shadows' phi and membership over the whole pool [K, P] (for the
    one-run audit, which scores its own target with the same shadows)."""
    n, held = int(x_members.shape[0]), int(x_heldout.shape[0])
    x_pool = torch.cat([x_members, x_heldout])
    y_pool = torch.cat([y_members, y_heldout])
    pool = n + held
    is_member = np.r_[np.ones(n, bool), np.zeros(held, bool)]
    subsets = balanced_subsets(pool, n, shadows, audit_seeds[0])
    shadow_seeds = [int(s % (2**31)) for s in derive_seeds(audit_seeds[1], shadows)]
    shadow_in = np.zeros((shadows, pool), dtype=bool)
    np.put_along_axis(shadow_in, subsets, True, axis=1)
    if trainer is not None:  # a defense's objective: every model trained on its own (sequentially)
        all_subsets = subsets if target is not None else np.concatenate([np.arange(n)[None], subsets])
        all_seeds = shadow_seeds if target is not None else [recipe.seed, *shadow_seeds]
        logits = _defended_logits(trainer, model, x_pool, y_pool, all_subsets, all_seeds, recipe, num_classes, advance)
        if target is None:
            target_logits, shadow_logits = logits[0], logits[1:]
        else:
            shadow_logits = logits
    elif target is None:  # the target trains with the shadows, as model 0 of the stack (seed: the recipe's)
        all_subsets = np.concatenate([np.arange(n)[None], subsets])
        stacked = train_together(
            model,
            x_pool,
            y_pool,
            all_subsets,
            [recipe.seed, *shadow_seeds],
            recipe,
            num_classes=num_classes,
            advance=advance,
        )
        logits = stacked.logits(x_pool)
        target_logits, shadow_logits = logits[0], logits[1:]
    else:
        stacked = train_together(
            model, x_pool, y_pool, subsets, shadow_seeds, recipe, num_classes=num_classes, advance=advance
        )
        shadow_logits = stacked.logits(x_pool)
    if target is not None:
        target.eval()
        with torch.no_grad():
            target_logits = target(x_pool)
    target_phi = scaled_confidence(target_logits, y_pool).cpu().numpy()
    shadow_phi = scaled_confidence(shadow_logits, y_pool).cpu().numpy()
    # A model whose training diverged has NaN logits: say which, rather than an ROC of non-finite scores.
    diverged = np.flatnonzero(~np.isfinite(shadow_phi).all(axis=1)).tolist()
    target_finite = bool(np.isfinite(target_phi).all())
    if not target_finite or diverged:
        who = "the target" if not target_finite else f"shadow model(s) {diverged} of {len(shadow_phi)}"
        raise ValueError(
            f"the audit's {who} diverged in training (non-finite logits): lower the recipe's learning rate or the "
            "defense's strength"
        )
    pool_phi = (shadow_phi, shadow_in.copy())
    # A candidate in every shadow (possible with very few shadows) has no OUT fit: it is not scored.
    scored = ~shadow_in.all(axis=0)
    if scored.sum() < 4 or is_member[scored].all() or not is_member[scored].any():
        raise ValueError(f"with {shadows} shadows too few candidates were left out of some shadow: add shadows")
    target_phi, shadow_phi, shadow_in, is_member = (
        target_phi[scored],
        shadow_phi[:, scored],
        shadow_in[:, scored],
        is_member[scored],
    )
    scores = lira_scores(target_phi, shadow_phi, shadow_in, fixed_variance=fixed_variance)
    roc_on, roc_off = roc_curve(scores.online, is_member), roc_curve(scores.offline, is_member)
    split_seed = int(audit_seeds[3] % (2**31))
    split = split_threshold_bound(scores.online, is_member, recipe.delta, split_seed, confidence)
    result = BlackBoxResult(
        roc_on.auc,
        roc_off.auc,
        {f"{f:g}": low_fpr_reading(roc_on, f) for f in fpr_targets},
        {f"{f:g}": low_fpr_reading(roc_off, f) for f in fpr_targets},
        tpr_at_zero_false_positives(roc_on),
        tpr_at_zero_false_positives(roc_off),
        split,
        int(scored.sum()),
        int(is_member.sum()),
        shadows,
        roc_on,
        roc_off,
    )
    return result, pool_phi


def _defended_logits(trainer, model, x_pool, y_pool, subsets, seeds, recipe, num_classes, advance=None) -> torch.Tensor:
    """[K, P, classes]: model k trained by the defense's `trainer` on x_pool[subsets[k]] with seed seeds[k]."""
    shape = cast(tuple[int, int, int], tuple(int(s) for s in x_pool.shape[1:]))  # x_pool is [P, C, H, W]
    out = []
    for subset, seed in zip(subsets, seeds):
        index = torch.from_numpy(np.asarray(subset, dtype=np.int64))
        net = build_model(model, num_classes=num_classes, input_shape=shape, seed=int(seed))
        trained = train_one_run_target(
            net, x_pool[index], y_pool[index], replace(recipe, seed=int(seed)), trainer=trainer, advance=advance
        )
        trained.eval()
        with torch.no_grad():
            out.append(trained(x_pool))
    return torch.stack(out)


def _black_box_one_run(
    x_pool,
    y_pool,
    pool_phi,
    recipe,
    model,
    num_classes,
    seed,
    q,
    t_steps,
    sigma,
    fixed_variance,
    confidence,
    trainer,
    advance=None,
) -> BlackBoxOneRun:
    """The black-box one-run audit (`one_run_black_box`): plan r, include at random, train, score, analyse."""
    shadow_phi, shadow_in = pool_phi
    m = int(x_pool.shape[0])
    mu = PLAN_MU if not recipe.private else min(PLAN_MU, planned_mu(float(sigma), float(q), int(t_steps)))
    guesses = plan_black_box_guesses(m, recipe.delta, mu, confidence)  # before anything is trained
    # Streams 4 and 5 of the audit seed (the fixed-split audit draws streams 0-3: its numbers are unchanged).
    target_seed = derive_seeds(int(seed), 6)[5]
    included = _one_run_inclusion(m, seed)
    index = torch.from_numpy(np.flatnonzero(included))
    shape = cast(tuple[int, int, int], tuple(int(s) for s in x_pool.shape[1:]))  # x_pool is [P, C, H, W]
    seed_k = int(target_seed % (2**31))
    net = build_model(model, num_classes=num_classes, input_shape=shape, seed=seed_k)
    trained = train_one_run_target(
        net,
        x_pool[index],
        y_pool[index],
        replace(recipe, seed=seed_k),
        sample_rate=q,
        steps=t_steps,
        trainer=trainer,
        advance=advance,
    )
    trained.eval()
    with torch.no_grad():
        phi = scaled_confidence(trained(x_pool), y_pool).cpu().numpy()
    return analyse_one_run(
        phi,
        shadow_phi,
        shadow_in,
        included,
        guesses,
        recipe.delta,
        planned_mu=mu,
        confidence=confidence,
        fixed_variance=fixed_variance,
    )


def balanced_subsets(pool: int, size: int, count: int, seed: int) -> np.ndarray:
    """`count` sorted subsets of range(pool) of `size` each, every candidate in as equal a number of them as
    possible (each shadow takes the `size` candidates used least so far, ties broken at random), so every
    candidate has IN and OUT shadows for LiRA's fits as soon as there are enough shadows."""
    rng = np.random.default_rng(seed)
    used = np.zeros(pool)
    subsets = []
    for _ in range(count):
        chosen = np.argsort(used + rng.random(pool), kind="stable")[:size]
        used[chosen] += 1
        subsets.append(np.sort(chosen))
    return np.stack(subsets)
