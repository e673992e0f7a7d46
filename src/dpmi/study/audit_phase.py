"""The study's privacy-audit phase and its report panel: per privacy level (first seed), what the accountant
promises beside what an attacker measurably achieves (`dpmi.audit.audit_level`).

Beside the cells, in the same workers (`AuditTask`, `pending_audits`, `dpmi.study.worker_tasks`), the study
audits each chosen level's target: exactly the study's model for that level and the first seed (same recipe,
same seed: it is retrained here by the cell's own `train_target`, and its held-out accuracy is checked against
the cell's record by `attach_cell_accuracies` once both are done). Black box: LiRA with `audit_shadows` shadow models trained with
the level's recipe (trained together for the "softmax" and "mlp" models; the "cnn" falls back to sequential
shadows, K times one training) measures membership-inference strength on the fixed split, and the black-box
one-run audit (one more training with the pool's candidates each included with probability 1/2, scored by the
same shadows: `dpmi.audit.one_run_black_box`) gives a valid eps_lb by Steinke et al. and by f-DP. White box: the one-run canary audit of DP-SGD (Steinke, Nasr & Jagielski 2023),
which needs the "softmax" model (a fixed canary gradient direction per input dimension): for other models the
white-box bound is skipped and the panel says so. The target trains on the study's device; the shadows and the
canary run train on the CPU (the one-run audit reads DP-SGD's updates with numpy).

Each level's record is saved atomically as `audit/<level>__seed<k>.json` in the run directory (read back typed:
`dpmi.study.audit_record.SavedAudit`); its presence
means the level is audited, so a resumed run does not audit it again (the settings that change its numbers,
shadows, canaries and the audit seed, are in the run's fingerprint, see `StudyConfig.cell_fingerprint`).
`dpmi report RUN_DIR` redraws the panel and the ROC figure from these records.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dpmi.atomic_files import atomic_write_json
from dpmi.study.audit_record import AUDIT_FORMAT, LowFprSummary, SavedAudit, SavedAuditRecord
from dpmi.study.levels import PrivacyLevel
from dpmi.study.report_section import ReportSection
from dpmi.study.store import cell_stem, json_safe

if TYPE_CHECKING:
    from dpmi.data import FaceDataset
    from dpmi.study.config import StudyConfig
    from dpmi.study.recipe import Recipe
    from dpmi.study.results import StudyResults

AUDIT_DIR = "audit"
AUDIT_ROC_PNG = "audit_roc.png"
# Slack for float rounding only: an eps_lb above the accountant's epsilon by more is a bug in one of them.
VIOLATION_TOLERANCE = 1e-9
WHITE_BOX_MODELS = ("softmax",)
# A defense with its own objective trains its shadows one after another (the batched trainer knows only
# cross-entropy): at most this many, so its audit stays cheap. Measured (softmax, 20 people, 2 cores, one run):
# label-smoothing 2.7 s and bido 7 s at 16 shadows, mid 39 s at 16 (about 2 s per model), ~21 s at 8.
DEFENSE_AUDIT_SHADOWS = 8


def audit_path(run_dir: str | Path, level_key: str, seed: int) -> Path:
    return Path(run_dir) / AUDIT_DIR / f"{cell_stem(level_key, seed)}.json"


def audited_levels(config: StudyConfig, levels: list[PrivacyLevel]) -> list[PrivacyLevel]:
    """The levels to audit ([audit] levels: keys, or "all"); ValueError naming an unknown key."""
    if not config.audit.enabled:
        return []
    wanted = config.audit.levels
    if not wanted or "all" in wanted:
        # Defense levels too: their shadows and one-run target train with the defense's objective
        # (`audit_trainer`), so a defense's membership-inference numbers are measured, not assumed.
        return list(levels)
    keys = [level.key for level in levels]
    unknown = [k for k in wanted if k not in keys]
    if unknown:
        raise ValueError(
            f"audit levels {', '.join(unknown)} are not levels of this study (--audit-levels / [audit] "
            f"levels): choose from {', '.join(keys)} or 'all'"
        )
    return [level for level in levels if level.key in wanted]


def audit_canaries(config: StudyConfig) -> int:
    """Canaries for the white-box audit: 0 (skipped) for models it cannot audit."""
    return config.audit.canaries if config.train.model in WHITE_BOX_MODELS else 0


def check_audit_config(config: StudyConfig, levels: list[PrivacyLevel], input_shape: tuple[int, ...]) -> None:
    """Every audit setting checked before the run directory is touched (ValueError naming the flag)."""
    from dpmi.audit import check_audit_settings

    chosen = audited_levels(config, levels)
    if not chosen:
        return
    try:
        check_audit_settings(
            config.audit.shadows,
            audit_canaries(config),
            (0.001, 0.01),
            input_shape,
            private=any(level.private for level in chosen),
        )
    except ValueError as exc:
        raise ValueError(f"{exc} (--audit-shadows / --audit-canaries, [audit] shadows / canaries)") from exc


def _curve_dict(curve: Any) -> dict[str, Any]:
    return {
        "fpr": np.asarray(curve.fpr).tolist(),
        "tpr": np.asarray(curve.tpr).tolist(),
        "auc": float(curve.auc),
        "positives": int(curve.positives),
        "negatives": int(curve.negatives),
    }


def shadows_batched(model_name: str, input_shape: tuple[int, int, int], num_classes: int) -> bool:
    """True when `train_together` trains this model's shadows at once (else sequentially: the cnn)."""
    from dpmi.audit.shadow_models import _batchable_layers
    from dpmi.models import build_model

    return (
        _batchable_layers(build_model(model_name, num_classes=num_classes, input_shape=input_shape, seed=0)) is not None
    )


def audit_trainer(level: PrivacyLevel, public: FaceDataset | None, num_classes: int) -> Any:
    """The trainer of a defense level's shadows and one-run target: the defense's objective and trainable parts
    (`dpmi.defenses.defended_trainer`); None for the privacy levels and early-stop (plain recipe, batched)."""
    if level.defense in ("none", "early-stop") or level.private:
        return None
    from dpmi.defenses import defended_trainer

    return defended_trainer(level.defense, level.defense_strength, public=public, num_classes=num_classes)


def audit_one(
    config: StudyConfig,
    level: PrivacyLevel,
    recipe: Recipe,
    seed: int,
    train: FaceDataset,
    test: FaceDataset,
    cell_test_accuracy: float | None = None,
    public: FaceDataset | None = None,
) -> dict[str, Any]:
    """Audit `level`'s target for `seed`; the JSON-ready record that `audit/<level>__seed<k>.json` holds.
    `public`: the attacker's public people (a defense that pre-trains on them, tl-dmi, needs them)."""
    import torch

    from dpmi.audit import audit_level
    from dpmi.models.accuracy import accuracy
    from dpmi.study.cell import CellContext, CellTask, level_train_config, train_target

    start = time.perf_counter()
    x_train, y_train = train.to_tensors(config.run.device)
    x_test, y_test = test.to_tensors(config.run.device)
    if public is None and level.defense == "tl-dmi":
        raise ValueError(f"the audit of {level.label} needs the public people its defense pre-trains on")
    context = CellContext(
        train, test, train if public is None else public, x_train, y_train, x_test, y_test, None, config.run.device
    )
    task = CellTask(config, level, recipe, seed, 0)
    torch.manual_seed(seed)  # as run_cell: the target is the cell's
    target, _ = train_target(task, context)
    target.eval()
    target_accuracy = accuracy(target, x_test, y_test)
    # The retrained target must be the cell's model: same held-out accuracy (the report says so loudly if not).
    matches = None if cell_test_accuracy is None else math.isclose(target_accuracy, cell_test_accuracy, abs_tol=1e-9)
    target_seconds = time.perf_counter() - start
    # The target trains on the study's device (it must be the cell's model); the audit itself (shadows, canaries)
    # runs on the CPU: the one-run audit reads the updates with numpy, and shadows only need the same recipe.
    canaries = audit_canaries(config)
    trainer = audit_trainer(level, public, train.num_classes)
    shadows = config.audit.shadows if trainer is None else min(config.audit.shadows, DEFENSE_AUDIT_SHADOWS)
    record = audit_level(
        x_train.cpu(),
        y_train.cpu(),
        x_test.cpu(),
        y_test.cpu(),
        level_train_config(config, level, recipe, seed, "cpu"),
        model=config.train.model,
        num_classes=train.num_classes,
        target_seed=seed,
        shadows=shadows,
        canaries=canaries,
        seed=config.audit.seed,
        target=target.cpu(),
        sample_rate=level.sample_rate,
        steps=level.steps,
        trainer=trainer,
    )
    out = record.to_dict()
    out["seconds"]["target"] = target_seconds
    bb = record.black_box
    return json_safe(
        {
            "format": AUDIT_FORMAT,
            "level": level.to_dict(),
            "seed": seed,
            "settings": {
                "shadows": shadows,
                "canaries": canaries,
                "seed": config.audit.seed,
                "model": config.train.model,
                "shadows_batched": shadows_batched(config.train.model, train.input_shape, train.num_classes)
                and trainer is None,
                "defense": level.defense,
                "white_box_skipped": None
                if canaries or not level.private
                else f"the one-run audit needs the {' or '.join(WHITE_BOX_MODELS)} model, not {config.train.model}",
            },
            "target_test_accuracy": target_accuracy,
            "cell_test_accuracy": cell_test_accuracy,
            "target_matches_cell": matches,
            "record": out,
            "roc": None if bb is None else _curve_dict(bb.roc),
            "roc_offline": None if bb is None else _curve_dict(bb.roc_offline),
        }
    )


def load_audits(run_dir: str | os.PathLike[str]) -> dict[str, SavedAudit]:
    """{level key: saved audit} of a run directory (unreadable files are skipped: they are redone)."""
    folder = Path(run_dir) / AUDIT_DIR
    audits: dict[str, SavedAudit] = {}
    if not folder.is_dir():
        return audits
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(data, dict) and data.get("format") == AUDIT_FORMAT):
                continue
            audit = SavedAudit.from_json(data)
        except (OSError, ValueError, TypeError):
            continue
        audits[audit.level.key] = audit
    return audits


@dataclass(frozen=True)
class AuditTask:
    """One level's audit (its first-seed target), runnable in a study worker beside the cells (picklable)."""

    config: StudyConfig
    level: PrivacyLevel
    recipe: Recipe
    seed: int


def pending_audits(
    config: StudyConfig, run_dir: Path, levels: list[PrivacyLevel], recipes: dict[str, Recipe]
) -> list[AuditTask]:
    """The audits of the chosen levels (first seed) that `run_dir` does not hold yet."""
    done = load_audits(run_dir)
    return [
        AuditTask(config, level, recipes[level.key], config.run.seed)
        for level in audited_levels(config, levels)
        if not (audit_path(run_dir, level.key, config.run.seed).is_file() and level.key in done)
    ]


def run_audit_task(
    task: AuditTask, train: FaceDataset, test: FaceDataset, public: FaceDataset | None = None
) -> dict[str, Any]:
    """`audit_one` for a task. The cell's accuracy is attached later (`attach_cell_accuracies`): the audit may
    run before or beside its cell."""
    return audit_one(task.config, task.level, task.recipe, task.seed, train, test, public=public)


def save_audit(run_dir: Path, data: dict[str, Any], log: Callable[[str], None] = lambda message: None) -> SavedAudit:
    """Write one audit record (`audit_one`'s JSON) atomically as `audit/<level>__seed<k>.json`; log any
    violation it shows; return it typed."""
    audit = SavedAudit.from_json(data)
    path = audit_path(run_dir, audit.level.key, audit.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)
    for problem in violations(audit):
        log(f"WARNING: {problem}")
    return audit


def attach_cell_accuracies(run_dir: Path, cell_accuracy: Callable[[str, int], float | None]) -> dict[str, SavedAudit]:
    """Record beside each audit the held-out accuracy of the study's cell for the same level and seed, and
    whether the audited target is that model (same accuracy); return every saved audit by level."""
    audits = load_audits(run_dir)
    for key, audit in audits.items():
        accuracy = cell_accuracy(key, audit.seed)
        if accuracy is None or audit.cell_test_accuracy == accuracy:
            continue
        if audit.target_test_accuracy is None:
            raise ValueError(f"the audit of {audit.level.label} has no target_test_accuracy")
        matches = math.isclose(audit.target_test_accuracy, accuracy, abs_tol=1e-9)
        audits[key] = audit = audit.with_cell_accuracy(accuracy, matches)
        atomic_write_json(audit_path(run_dir, key, audit.seed), audit.to_json())
    return audits


def audit_seconds(audit: SavedAudit) -> float:
    """CPU-seconds an audit took (target, black box, white box, identity level)."""
    return audit.seconds


# ---------------------------------------------------------------------------------------------------- report


def violations(audit: SavedAudit) -> list[str]:
    """Each eps_lb above an accountant epsilon of the same level: a bug in the audit or in the accountant."""
    record = audit.record
    label = audit.level.label
    found = []
    if audit.target_matches_cell is False:
        found.append(
            f"{label}: the audited target's held-out accuracy {audit.target_test_accuracy} differs "
            f"from the study cell's {audit.cell_test_accuracy}: it is not the study's model"
        )
    epsilon = [] if record.epsilon is None else list(record.epsilon.items())
    for name, lower in record.epsilon_lower_bound.items():
        for accountant, upper in epsilon:
            if lower is not None and upper is not None and lower > upper + VIOLATION_TOLERANCE:
                found.append(
                    f"{label}: the {name.replace('_', '-')} lower bound {lower:.3g} exceeds the "
                    f"{accountant.upper()} accountant's epsilon {upper:.3g}; one of them is wrong"
                )
    return found


# How the identity-level epsilon was converted (dpmi.audit.group_privacy: the smaller of the two is reported).
IDENTITY_METHODS = {
    "subsampled-group": "the k images as one record sampled at rate 1-(1-q)^k with noise sigma/k, composed by the "
    "accountant (Zhu, Dong & Wang 2022, Thm. 10)",
    "dwork-roth": "group privacy (k eps, k e^((k-1) eps) delta) of Dwork & Roth 2014, Thm. 2.2",
}


def _lira_words(record: SavedAuditRecord) -> str:
    """LiRA's membership-inference strength in words (never an epsilon: the fixed split gives no valid bound)."""
    low = record.low_fpr
    words = f"LiRA's membership-inference strength from the model's outputs: AUC {_num(record.auc, '.3f')}"
    if low is not None and low.non_members:
        words += (
            f", TPR {_rate(low.tpr_at_zero_false_positives)} at 0 false positives among {low.non_members} non-members"
        )
    return words + " (a strength on the study's fixed split, not a bound on ε)"


def _black_box_bound_words(record: SavedAuditRecord) -> str:
    """The black-box one-run audit's bounds in words ('' when it did not run)."""
    one = record.black_box_one_run
    if one is None:
        return ""
    fdp = one.fdp
    return (
        f" From outputs alone, the one-run audit (the {one.candidates} candidates each trained on with "
        f"probability 1/2, {one.correct} of {one.guesses} LiRA guesses right) proves "
        f"ε ≥ {_num(one.steinke_epsilon_lower_bound)} (Steinke et al.) and "
        f"μ ≥ {_num(None if fdp is None else fdp.mu_lower_bound)} Gaussian DP, i.e. "
        f"ε ≥ {_num(None if fdp is None else fdp.epsilon_lower_bound)} (f-DP); tighter: {one.tighter}, each at 95%."
    )


def _white_box_words(record: SavedAuditRecord) -> str:
    bound = record.epsilon_lower_bound.white_box
    if bound is None:
        return "no white-box audit for this model."
    wb = record.white_box
    fdp = None if wb is None else wb.fdp
    words = f"the one-run audit proves ε ≥ {_num(bound)} (Steinke et al.)"
    if wb is not None and fdp is not None:
        words += (
            f" and, through f-DP (Mahloujifar et al.), μ ≥ {_num(fdp.mu_lower_bound)} Gaussian DP, i.e. "
            f"ε ≥ {_num(fdp.epsilon_lower_bound)} for a Gaussian trade-off curve; tighter: {wb.tighter}"
        )
    return words + ", each at 95% from the training's updates."


def _reconstruction_words(record: SavedAuditRecord, k: int | None) -> str:
    rec = record.reconstruction
    one = None if rec is None else rec.record
    person = None if rec is None else rec.identity
    if one is None:
        return ""
    kappa = float(one.kappa or 0.0)
    words = (
        f" Reconstruction: against a baseline of {_rate(kappa)} (guessing which of {round(1 / kappa)} people), no "
        f"attack recovers a given training image with probability above {_rate(one.bound)}"
    )
    if person is not None:
        words += f", and for a person with k = {k} images the bound is {_rate(person.bound)}" + (
            ": vacuous, DP-SGD at this level promises nothing against recovering a person." if person.vacuous else "."
        )
    return words


def _num(value: Any, digits: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(float(value), digits)


def _rate(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


AUDIT_READING = (
    "How to read this panel. The accountant's epsilon is an upper bound it PROVES for the training mechanism "
    "(DP-SGD at the level's sigma, sampling rate and steps): no attack on one training image can do better. The "
    "lower bounds are what an attacker PROVED here, at 95% confidence: the white-box one-run audit, which sees "
    "every noisy update of DP-SGD and plants gradient canaries, analysed by Steinke et al. (an (ε, δ) bound) and "
    "through f-DP by Mahloujifar et al. (the weakest Gaussian-DP curve the guesses refute, and its ε). A lower "
    "bound far below the accountant's epsilon does not mean the model is safer than promised: it means this "
    "attacker, with these few guesses, could not show more. A lower bound above the accountant's epsilon would "
    "prove the implementation or the accounting wrong. The black-box lower bounds come from a one-run audit that "
    "sees only the model's outputs: one more model is trained on the candidates (training and held-out images), "
    "each included by a fair coin, and LiRA's most confident guesses are counted, analysed by the same two methods. "
    "LiRA against the study's own model is shown as membership-inference STRENGTH (AUC, TPR at low FPR): its "
    "candidates share one fixed training split, so those guesses are not independent trials and give no valid "
    "bound on ε. A TPR is given at an FPR only when the "
    "non-members scored can measure that FPR (at least 1/N); otherwise the TPR at 0 false positives among the N "
    "non-members. The identity-level epsilon is the guarantee for a PERSON, who has k images in the training set: "
    "a group of k records, whose epsilon grows with k. The reconstruction bound turns the guarantee into what it "
    "promises against RECOVERING someone: no attack, however strong, succeeds with probability above it, against "
    "the baseline of guessing without the model (1 in the number of people); near 100% it promises nothing."
)


def _summary_table(audits: dict[str, SavedAudit], levels: list[PrivacyLevel]) -> str:
    head = [
        "level",
        "ε RDP",
        "ε PLD",
        "ε_lb black box (Steinke)",
        "ε_lb black box (f-DP; μ_lb)",
        "tighter (black box)",
        "ε_lb white box (Steinke)",
        "ε_lb white box (f-DP; μ_lb)",
        "tighter (white box)",
        "identity ε (k)",
        "reconstruction ≤ (image / person)",
        "LiRA AUC (strength)",
        "TPR @ 0.1% FPR",
        "TPR @ 1% FPR",
        "TPR at 0 FP (of N)",
        "eps_lb ≤ ε",
    ]
    rows = []
    for level in levels:
        audit = audits.get(level.key)
        if audit is None:
            continue
        r = audit.record
        eps = r.epsilon
        lb = r.epsilon_lower_bound
        low = r.low_fpr
        k = r.records_per_identity
        wb = r.white_box
        fdp = None if wb is None else wb.fdp
        rec = r.reconstruction
        one = r.black_box_one_run
        one_fdp = None if one is None else one.fdp
        check = "n/a (ε infinite)" if eps is None else ("VIOLATED" if violations(audit) else "yes")
        rec_record = None if rec is None else rec.record
        rec_identity = None if rec is None else rec.identity
        cells = [
            level.label,
            "∞" if eps is None else _num(eps.rdp),
            "∞" if eps is None else _num(eps.pld),
            _num(lb.black_box),
            "-" if one_fdp is None else f"{_num(one_fdp.epsilon_lower_bound)}; μ {_num(one_fdp.mu_lower_bound)}",
            str((None if one is None else one.tighter) or "-"),
            _num(lb.white_box),
            "-" if fdp is None else f"{_num(fdp.epsilon_lower_bound)}; μ {_num(fdp.mu_lower_bound)}",
            str((None if wb is None else wb.tighter) or "-"),
            (f"∞ (k={k})" if eps is None else f"{_num(r.identity_epsilon)} (k={k})"),
            (
                f"{_rate(None if rec_record is None else rec_record.bound)} / "
                f"{_rate(None if rec_identity is None else rec_identity.bound)}"
                f" (κ {_rate(None if rec_record is None else rec_record.kappa)})"
                if rec is not None
                else ("100% (no DP)" if eps is None else "-")
            ),
            _num(r.auc, ".3f"),
            _tpr_cell(low, "0.001"),
            _tpr_cell(low, "0.01"),
            ("-" if low is None else f"{_rate(low.tpr_at_zero_false_positives)} (N={low.non_members})"),
            check,
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _tpr_cell(low: LowFprSummary | None, key: str) -> str:
    """The TPR at an FPR target, or 'not measurable (N=..)' when the FPR is below 1/N."""
    target = None if low is None else low.targets.get(key)
    if low is None or target is None:
        return "-"
    if not target.measurable:
        return f"not measurable (N={low.non_members})"
    return _rate(target.tpr)


def roc_png(audits: dict[str, SavedAudit], levels: list[PrivacyLevel]) -> bytes | None:
    """The ROC figure (online LiRA, log-log), one curve per audited level; None when no level has one."""
    from dpmi.audit.figures import roc_figure_png

    curves = {}
    for level in levels:
        audit = audits.get(level.key)
        if audit is not None and audit.roc is not None:
            curves[level.label] = audit.roc.curve()
    if not curves:
        return None
    return roc_figure_png(curves, "LiRA (online) membership-inference strength per level")


def audit_intro(results: StudyResults) -> str | None:
    """The panel's head: the reading, loud violations, the levels-by-numbers table and the ROC figure."""
    import base64

    audits: dict[str, SavedAudit] = getattr(results, "audits", None) or {}
    if not audits:
        return None
    problems = [p for audit in audits.values() for p in violations(audit)]
    loud = "".join(f"<p class=private><b>AUDIT VIOLATION:</b> {html.escape(p)}</p>" for p in problems)
    if not problems:
        loud = (
            "<p class=meta>Checked: every lower bound is at most the accountant's epsilon (RDP and PLD) of its "
            "level.</p>"
        )
    first = next(iter(audits.values()))
    settings = first.settings
    how = (
        f"Target: the study's model of each level for seed {first.seed}; {settings.shadows} shadow "
        f"models ({'trained together' if settings.shadows_batched else 'trained one after another'}), "
        f"{settings.canaries} canaries, audit seed {settings.seed}."
    )
    if settings.white_box_skipped:
        how += f" White-box bound skipped: {settings.white_box_skipped}."
    seconds = sum(a.seconds for a in audits.values())
    how += f" The audit took {seconds:.0f} s."
    negatives = max((0 if a.roc is None else a.roc.negatives for a in audits.values()), default=0)
    if negatives:
        how += (
            f" With {negatives} non-members scored, the false-positive rate moves in steps of 1/{negatives} "
            f"({100 / negatives:.1f}%): a TPR at a lower FPR is not measurable, and the table gives the TPR at "
            "0 false positives instead."
        )
    png = roc_png(audits, results.levels)
    figure = (
        ""
        if png is None
        else (
            f'<figure><img alt="ROC of LiRA per level" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
            "<figcaption class=meta>ROC of online LiRA against each level's target on log-log axes (the low-FPR corner is "
            "what matters); dotted: chance; dashed: the smallest measurable FPR 1/N (left of it: 0 false positives, "
            "no FPR measured).</figcaption></figure>"
        )
    )
    return (
        f"<div class=reading><p>{html.escape(AUDIT_READING)}</p></div>{loud}<p class=meta>{html.escape(how)}</p>"
        f"{_summary_table(audits, results.levels)}{figure}"
    )


def audit_panel(results: StudyResults, level: PrivacyLevel) -> str | None:
    """One level's plain reading of its audit (None when it was not audited)."""
    audits: dict[str, SavedAudit] = getattr(results, "audits", None) or {}
    audit = audits.get(level.key)
    if audit is None:
        return None
    r = audit.record
    eps = r.epsilon
    bb = r.counts.black_box
    scored = None if bb is None else bb.scored
    k = r.records_per_identity
    if eps is not None:
        text = (
            f"The accountant proves ε ≤ {_num(eps.pld)} (PLD; {_num(eps.rdp)} by RDP) per image; "
            f"{_white_box_words(r)}{_black_box_bound_words(r)} {_lira_words(r)}."
        )
        method = None if r.identity is None else r.identity.method
        text += (
            f" For a person with k = {k} training images the guarantee is ε ≤ {_num(r.identity_epsilon)}"
            f" ({IDENTITY_METHODS.get(str(method), 'group privacy')})."
        )
        text += _reconstruction_words(r, k)
    else:
        text = f"No DP: the accountant promises nothing (ε infinite).{_black_box_bound_words(r)} {_lira_words(r)}."
    if bb is not None and scored is not None:
        text += (
            f" LiRA at a threshold chosen on half of the {bb.candidates} candidates, counted on the other "
            f"half: TP {scored.true_positives}, FP {scored.false_positives}, "
            f"TN {scored.true_negatives}, FN {scored.false_negatives}."
        )
    problems = violations(audit)
    loud = "".join(f"<p class=private><b>VIOLATION:</b> {html.escape(p)}</p>" for p in problems)
    return f"<p>{html.escape(text)}</p>{loud}"


AUDIT_SECTION = ReportSection(
    "Privacy audit: the accountant's promise and what an attacker achieved", panel=audit_panel, intro=audit_intro
)
