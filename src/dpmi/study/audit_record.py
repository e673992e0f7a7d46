"""A saved audit, typed: what `audit/<level>__seed<k>.json` (and results.json's "audits") holds, read once.

`dpmi.study.audit_phase.audit_one` writes the JSON (its "record" is `dpmi.audit.api.AuditRecord.to_dict()`);
`SavedAudit.from_json` reads it into frozen dataclasses, and the study's readers (the report panel, the README's
audit table, the frontier) read attributes, never `.get` chains.

Older records load too: the audit files carry no format version (only `"format": "dpmi-study-audit"`), and
dpmi added parts to them over time (the f-DP analysis of the white-box audit, the black-box one-run audit, the
low-FPR readings, the reconstruction bound, the defense in the settings), so every part a record lacks reads as
None (a mapping as empty). There is nothing to upgrade: a missing part is exactly "not run by that dpmi"; were
an audit format version ever added, its upgrade would go in `dpmi.study.migrate` with the cell's.

The JSON stays the source of truth: `SavedAudit.to_json()` gives back exactly the mapping read (unknown keys of
a newer or older dpmi included), so results.json and a resumed run write the same bytes as before;
`with_cell_accuracy` is the one change the study makes to a saved audit.

Units: every epsilon is at the record's `delta` (per training image unless named identity); a rate (TPR, FPR,
AUC, reconstruction bound, kappa) is in [0, 1]; seconds are wall-clock seconds; counts are numbers of images
(candidates, members) or guesses.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpmi.study.levels import PrivacyLevel

if TYPE_CHECKING:
    from dpmi.audit.roc import RocCurve

AUDIT_FORMAT = "dpmi-study-audit"


def _obj(data: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """data[key] when it is a non-empty mapping, else None (a part an older dpmi did not write, or empty)."""
    value = None if data is None else data.get(key)
    return value if isinstance(value, Mapping) and value else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _rates(data: Any) -> dict[str, float | None]:
    """{"0.001": rate or None, ...} (empty when absent)."""
    return {str(k): _float(v) for k, v in data.items()} if isinstance(data, Mapping) else {}


# ------------------------------------------------------------------------------------------------- accountant


@dataclass(frozen=True)
class AccountantEpsilon:
    """The accountants' epsilon of the level's DP-SGD at the record's delta, per training image (an upper bound
    the accountant proves). Each >= 0; None where the JSON holds null (infinite: sigma 0)."""

    pld: float | None
    rdp: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountantEpsilon:
        return cls(_float(data.get("pld")), _float(data.get("rdp")))

    def items(self) -> Iterator[tuple[str, float | None]]:
        """(accountant name, epsilon), in the order the saved file holds them (sorted names: pld, rdp)."""
        yield "pld", self.pld
        yield "rdp", self.rdp


@dataclass(frozen=True)
class EpsilonLowerBounds:
    """The audits' 95 % epsilon lower bounds (what an attacker proved; each >= 0, None when that audit did not
    run or an older dpmi did not record it).

    black_box, black_box_fdp: the black-box one-run audit (LiRA's online scores as guesses on candidates
        included with probability 1/2) by Steinke et al. and by f-DP (the epsilon of the Gaussian-DP bound).
        Records written before the one-run audit hold here the fixed-split LiRA bound under "black_box" (no
        black_box_fdp); they are read as they are.
    white_box, white_box_fdp: the white-box one-run canary audit of DP-SGD, by Steinke et al. and by f-DP.
    """

    black_box: float | None = None
    black_box_fdp: float | None = None
    white_box: float | None = None
    white_box_fdp: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EpsilonLowerBounds:
        data = data or {}
        return cls(*(_float(data.get(name)) for name in ("black_box", "black_box_fdp", "white_box", "white_box_fdp")))

    def items(self) -> Iterator[tuple[str, float | None]]:
        """(name, bound) for each of the four, in a fixed order (that of the saved file)."""
        yield "black_box", self.black_box
        yield "black_box_fdp", self.black_box_fdp
        yield "white_box", self.white_box
        yield "white_box_fdp", self.white_box_fdp


# ------------------------------------------------------------------------------------------- one-run audits


@dataclass(frozen=True)
class FdpLowerBound:
    """The f-DP analysis of one-run guesses (Mahloujifar et al.): the weakest Gaussian-DP curve they refute.

    mu_lower_bound: mu_lb >= 0 of Gaussian DP; epsilon_lower_bound: the epsilon of mu_lb-GDP at delta;
    approx_epsilon_lower_bound: the (eps, delta)-curve analysis' epsilon; confidence: in (0, 1), e.g. 0.95.
    """

    mu_lower_bound: float | None
    epsilon_lower_bound: float | None
    approx_epsilon_lower_bound: float | None
    confidence: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FdpLowerBound | None:
        if not data:
            return None
        return cls(
            _float(data.get("mu_lower_bound")),
            _float(data.get("epsilon_lower_bound")),
            _float(data.get("approx_epsilon_lower_bound")),
            _float(data.get("confidence")),
        )


@dataclass(frozen=True)
class OneRunBlackBox:
    """The black-box one-run audit (`dpmi.audit.one_run_black_box`): one more training on the pool's candidates
    each included with probability 1/2, LiRA's online scores (the same shadows) as guesses.

    steinke_epsilon_lower_bound: Steinke et al.'s eps_lb (>= 0); fdp: the f-DP analysis of the same guesses;
    tighter: which analysis gives the larger epsilon ("Steinke", "f-DP (GDP)", "equal"); candidates: images in
    the pool; included: those the coin put in; scored: candidates LiRA scored; guesses, correct: guesses made
    and right; guessed_in(_correct), guessed_out(_correct): the same per side; planned_mu: the mu the number of
    guesses was planned for; auc: of the scores against the coins, in [0, 1]; confidence: e.g. 0.95.
    """

    kind: str | None
    steinke_epsilon_lower_bound: float | None
    fdp: FdpLowerBound | None
    tighter: str | None
    candidates: int | None
    included: int | None
    scored: int | None
    guesses: int | None
    correct: int | None
    guessed_in: int | None
    guessed_in_correct: int | None
    guessed_out: int | None
    guessed_out_correct: int | None
    planned_mu: float | None
    auc: float | None
    confidence: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> OneRunBlackBox | None:
        if not data:
            return None
        steinke = _obj(data, "steinke") or {}
        return cls(
            kind=_str(data.get("kind")),
            steinke_epsilon_lower_bound=_float(steinke.get("epsilon_lower_bound")),
            fdp=FdpLowerBound.from_json(_obj(data, "fdp")),
            tighter=_str(data.get("tighter")),
            candidates=_int(data.get("candidates")),
            included=_int(data.get("included")),
            scored=_int(data.get("scored")),
            guesses=_int(data.get("guesses")),
            correct=_int(data.get("correct")),
            guessed_in=_int(data.get("guessed_in")),
            guessed_in_correct=_int(data.get("guessed_in_correct")),
            guessed_out=_int(data.get("guessed_out")),
            guessed_out_correct=_int(data.get("guessed_out_correct")),
            planned_mu=_float(data.get("planned_mu")),
            auc=_float(data.get("auc")),
            confidence=_float(data.get("confidence")),
        )


@dataclass(frozen=True)
class WhiteBoxOneRun:
    """The white-box one-run canary audit of DP-SGD (Steinke, Nasr & Jagielski 2023).

    planned_mu: the CLT Gaussian-DP mu of the level's mechanism; empirical_mu: the canaries' measured
    separation; steinke_epsilon_lower_bound: Steinke et al.'s eps_lb (>= 0); fdp: the f-DP analysis (None in
    records written before it); tighter: which analysis gives the larger epsilon (None without fdp).
    """

    planned_mu: float | None
    empirical_mu: float | None
    steinke_epsilon_lower_bound: float | None
    fdp: FdpLowerBound | None
    tighter: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> WhiteBoxOneRun | None:
        if not data:
            return None
        steinke = _obj(data, "steinke") or {}
        return cls(
            _float(data.get("planned_mu")),
            _float(data.get("empirical_mu")),
            _float(steinke.get("epsilon_lower_bound")),
            FdpLowerBound.from_json(_obj(data, "fdp")),
            _str(data.get("tighter")),
        )


# ------------------------------------------------------------------------------------- LiRA (fixed split)


@dataclass(frozen=True)
class FprTargetReading:
    """The TPR at one FPR target: fpr in (0, 1); measurable: whether the non-members scored can measure it
    (fpr >= 1/N); tpr in [0, 1] (None when not measurable); text: the reading in words."""

    fpr: float | None
    measurable: bool | None
    tpr: float | None
    text: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FprTargetReading:
        return cls(
            _float(data.get("fpr")), _bool(data.get("measurable")), _float(data.get("tpr")), _str(data.get("text"))
        )


@dataclass(frozen=True)
class LowFprSummary:
    """LiRA's low-FPR reading: non_members: N scored; smallest_measurable_fpr: 1/N;
    tpr_at_zero_false_positives: the TPR of the strictest threshold flagging no non-member, in [0, 1];
    targets: {"0.001": reading, ...} per FPR target."""

    non_members: int | None
    smallest_measurable_fpr: float | None
    tpr_at_zero_false_positives: float | None
    targets: dict[str, FprTargetReading] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> LowFprSummary | None:
        if not data:
            return None
        targets = data.get("targets")
        return cls(
            _int(data.get("non_members")),
            _float(data.get("smallest_measurable_fpr")),
            _float(data.get("tpr_at_zero_false_positives")),
            {str(k): FprTargetReading.from_json(v) for k, v in targets.items() if isinstance(v, Mapping)}
            if isinstance(targets, Mapping)
            else {},
        )


@dataclass(frozen=True)
class FixedSplitStrength:
    """Offline LiRA on the study's fixed split: membership-inference strength, never an epsilon bound.
    kind: that statement in words (None in older records); auc_offline in [0, 1]; tpr_at_fpr_offline: {"0.001":
    TPR or None}; low_fpr_offline: the offline low-FPR reading (None in older records)."""

    kind: str | None
    auc_offline: float | None
    tpr_at_fpr_offline: dict[str, float | None]
    low_fpr_offline: LowFprSummary | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FixedSplitStrength | None:
        if not data:
            return None
        return cls(
            _str(data.get("kind")),
            _float(data.get("auc_offline")),
            _rates(data.get("tpr_at_fpr_offline")),
            LowFprSummary.from_json(_obj(data, "low_fpr_offline")),
        )


# -------------------------------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class ConfusionCounts:
    """TP / FP / TN / FN of a threshold (numbers of candidates)."""

    true_positives: int | None
    false_positives: int | None
    true_negatives: int | None
    false_negatives: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ConfusionCounts | None:
        if not data:
            return None
        return cls(
            *(_int(data.get(n)) for n in ("true_positives", "false_positives", "true_negatives", "false_negatives"))
        )


@dataclass(frozen=True)
class BlackBoxCounts:
    """The fixed-split LiRA's counts: candidates scored, members among them, non_members (None in older
    records), shadows (K); threshold: LiRA score chosen on the selection half; scored: counted on the other
    half; selection: on the half it was chosen on."""

    candidates: int | None
    members: int | None
    non_members: int | None
    shadows: int | None
    threshold: float | None
    scored: ConfusionCounts | None
    selection: ConfusionCounts | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> BlackBoxCounts | None:
        if not data:
            return None
        return cls(
            _int(data.get("candidates")),
            _int(data.get("members")),
            _int(data.get("non_members")),
            _int(data.get("shadows")),
            _float(data.get("threshold")),
            ConfusionCounts.from_json(_obj(data, "scored")),
            ConfusionCounts.from_json(_obj(data, "selection")),
        )


@dataclass(frozen=True)
class WhiteBoxCounts:
    """The white-box audit's counts: canaries (m), included (by the coins), guesses made and correct, per side,
    and the confidence of its bounds (e.g. 0.95)."""

    canaries: int | None
    included: int | None
    guesses: int | None
    correct: int | None
    guessed_in: int | None
    guessed_in_correct: int | None
    guessed_out: int | None
    guessed_out_correct: int | None
    confidence: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> WhiteBoxCounts | None:
        if not data:
            return None
        return cls(
            canaries=_int(data.get("canaries")),
            included=_int(data.get("included")),
            guesses=_int(data.get("guesses")),
            correct=_int(data.get("correct")),
            guessed_in=_int(data.get("guessed_in")),
            guessed_in_correct=_int(data.get("guessed_in_correct")),
            guessed_out=_int(data.get("guessed_out")),
            guessed_out_correct=_int(data.get("guessed_out_correct")),
            confidence=_float(data.get("confidence")),
        )


@dataclass(frozen=True)
class AuditCounts:
    """The counts behind every bound: black_box (fixed-split LiRA) and white_box (canaries), None if not run."""

    black_box: BlackBoxCounts | None = None
    white_box: WhiteBoxCounts | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AuditCounts:
        return cls(BlackBoxCounts.from_json(_obj(data, "black_box")), WhiteBoxCounts.from_json(_obj(data, "white_box")))


# -------------------------------------------------------------------------------- a person, reconstruction


@dataclass(frozen=True)
class IdentityConversion:
    """How the identity-level epsilon (a person's k images as a group) was converted: method
    ("subsampled-group" or "dwork-roth", the smaller is reported); each conversion's epsilon (None where
    infinite); records: k."""

    method: str | None
    subsampled_group: float | None
    dwork_roth: float | None
    records: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> IdentityConversion | None:
        if not data:
            return None
        return cls(
            _str(data.get("method")),
            _float(data.get("subsampled_group")),
            _float(data.get("dwork_roth")),
            _int(data.get("records")),
        )


@dataclass(frozen=True)
class ReconstructionReading:
    """The bound on any reconstruction attack's success (`dpmi.privacy.accounting.reconstruction_bound`):
    kappa: the baseline success in (0, 1) (1 / people by default); bound: in [kappa, 1]; by_direction: the bound
    per PLD direction; records: images treated as one (1, or k for a person); interval: the PLD grid step;
    vacuous: whether the bound is ~1 (promises nothing)."""

    kappa: float | None
    bound: float | None
    by_direction: dict[str, float | None]
    records: int | None
    interval: float | None
    vacuous: bool | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ReconstructionReading | None:
        if not data:
            return None
        return cls(
            _float(data.get("kappa")),
            _float(data.get("bound")),
            _rates(data.get("by_direction")),
            _int(data.get("records")),
            _float(data.get("interval")),
            _bool(data.get("vacuous")),
        )


@dataclass(frozen=True)
class ReconstructionBounds:
    """Reconstruction bounds at one kappa: record (one image) and identity (a person's k images)."""

    record: ReconstructionReading | None
    identity: ReconstructionReading | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ReconstructionBounds | None:
        if not data:
            return None
        return cls(
            ReconstructionReading.from_json(_obj(data, "record")),
            ReconstructionReading.from_json(_obj(data, "identity")),
        )


# ------------------------------------------------------------------------------------------------- record


@dataclass(frozen=True)
class SavedAuditRecord:
    """One level's audit as saved: the JSON of `dpmi.audit.api.AuditRecord.to_dict()`, typed.

    epsilon: the accountants' (None when non-private: infinite); delta: of every epsilon here;
    noise_multiplier, sample_rate (q in (0, 1]), steps (T): the DP-SGD mechanism (None when non-private);
    epsilon_lower_bound: the audits' 95 % lower bounds; auc: online LiRA's AUC on the fixed split (a strength,
    in [0, 1]); tpr_at_fpr: {"0.001": online TPR or None (not measurable)}; low_fpr: the online low-FPR reading
    (None in older records); identity_epsilon: a person's epsilon (k images; None when non-private or
    infinite); records_per_identity: k, the most images one person has in the training set; identity: how it
    was converted; black_box: offline LiRA's strength; black_box_one_run, white_box: the one-run audits (None
    when not run or not recorded by an older dpmi); reconstruction (at kappa = 1 / people),
    reconstruction_extra (at a user-set kappa): None when non-private or not asked; counts: behind the bounds;
    seconds: {part: wall seconds} (target, black_box, black_box_one_run, white_box, identity, reconstruction).
    """

    epsilon: AccountantEpsilon | None
    delta: float | None
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int | None
    epsilon_lower_bound: EpsilonLowerBounds
    auc: float | None
    tpr_at_fpr: dict[str, float | None]
    low_fpr: LowFprSummary | None
    identity_epsilon: float | None
    records_per_identity: int | None
    identity: IdentityConversion | None
    black_box: FixedSplitStrength | None
    black_box_one_run: OneRunBlackBox | None
    white_box: WhiteBoxOneRun | None
    reconstruction: ReconstructionBounds | None
    reconstruction_extra: ReconstructionBounds | None
    counts: AuditCounts
    seconds: dict[str, float]

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SavedAuditRecord:
        data = data or {}
        epsilon = _obj(data, "epsilon")
        seconds = data.get("seconds")
        return cls(
            epsilon=None if epsilon is None else AccountantEpsilon.from_json(epsilon),
            delta=_float(data.get("delta")),
            noise_multiplier=_float(data.get("noise_multiplier")),
            sample_rate=_float(data.get("sample_rate")),
            steps=_int(data.get("steps")),
            epsilon_lower_bound=EpsilonLowerBounds.from_json(_obj(data, "epsilon_lower_bound")),
            auc=_float(data.get("auc")),
            tpr_at_fpr=_rates(data.get("tpr_at_fpr")),
            low_fpr=LowFprSummary.from_json(_obj(data, "low_fpr")),
            identity_epsilon=_float(data.get("identity_epsilon")),
            records_per_identity=_int(data.get("records_per_identity")),
            identity=IdentityConversion.from_json(_obj(data, "identity")),
            black_box=FixedSplitStrength.from_json(_obj(data, "black_box")),
            black_box_one_run=OneRunBlackBox.from_json(_obj(data, "black_box_one_run")),
            white_box=WhiteBoxOneRun.from_json(_obj(data, "white_box")),
            reconstruction=ReconstructionBounds.from_json(_obj(data, "reconstruction")),
            reconstruction_extra=ReconstructionBounds.from_json(_obj(data, "reconstruction_extra")),
            counts=AuditCounts.from_json(_obj(data, "counts")),
            seconds={str(k): float(v) for k, v in seconds.items() if v is not None}
            if isinstance(seconds, Mapping)
            else {},
        )

    @property
    def total_seconds(self) -> float:
        """Wall seconds of every part together."""
        return float(sum(self.seconds.values()))


# ----------------------------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class AuditSettingsUsed:
    """The audit's settings for this level (those that change its numbers are in the run's fingerprint).

    shadows: K shadow models (a defense level trains at most `DEFENSE_AUDIT_SHADOWS`); canaries: m for the
    white-box audit (0: skipped); seed: the audit's own seed; model: the dpmi model name; shadows_batched:
    whether the shadows trained together (else one after another); defense: the level's defense (None in
    older records); white_box_skipped: why no white-box bound (None when it ran or the level is non-private).
    """

    shadows: int | None = None
    canaries: int | None = None
    seed: int | None = None
    model: str | None = None
    shadows_batched: bool | None = None
    defense: str | None = None
    white_box_skipped: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AuditSettingsUsed:
        data = data or {}
        return cls(
            _int(data.get("shadows")),
            _int(data.get("canaries")),
            _int(data.get("seed")),
            _str(data.get("model")),
            _bool(data.get("shadows_batched")),
            _str(data.get("defense")),
            _str(data.get("white_box_skipped")),
        )


@dataclass(frozen=True)
class SavedRoc:
    """A saved ROC curve: fpr and tpr in [0, 1] (same length, ascending), auc in [0, 1], positives (members)
    and negatives (non-members) scored."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    auc: float
    positives: int
    negatives: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SavedRoc | None:
        if not data or data.get("fpr") is None or data.get("tpr") is None:
            return None
        return cls(
            tuple(float(v) for v in data["fpr"]),
            tuple(float(v) for v in data["tpr"]),
            float(data.get("auc", math.nan)),
            int(data.get("positives") or 0),
            int(data.get("negatives") or 0),
        )

    def curve(self) -> RocCurve:
        import numpy as np

        from dpmi.audit.roc import RocCurve

        return RocCurve(np.asarray(self.fpr), np.asarray(self.tpr), self.auc, self.positives, self.negatives)


@dataclass(frozen=True)
class SavedAudit:
    """`audit/<level>__seed<k>.json`: one level's audit of its first-seed target, as the study saved it.

    level: the audited level; seed: the target's seed; settings: the audit's; target_test_accuracy: held-out
    accuracy of the retrained target, in [0, 1]; cell_test_accuracy: the study cell's (None until attached);
    target_matches_cell: whether they agree (the audited model is the study's; None until attached);
    record: the numbers; roc, roc_offline: online / offline LiRA's curves (None without the black box).
    """

    level: PrivacyLevel
    seed: int
    settings: AuditSettingsUsed
    target_test_accuracy: float | None
    cell_test_accuracy: float | None
    target_matches_cell: bool | None
    record: SavedAuditRecord
    roc: SavedRoc | None
    roc_offline: SavedRoc | None
    format: str = AUDIT_FORMAT
    # The mapping read, kept so that writing it back (results.json, a resumed run) writes exactly what was read.
    source: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SavedAudit:
        """Read a saved audit (any dpmi's: a part it lacks is None). ValueError when it is not one (no
        "level" with a key and label, or no "seed")."""
        level, seed = data.get("level"), data.get("seed")
        if not isinstance(level, Mapping) or "key" not in level or "label" not in level or seed is None:
            raise ValueError("not a dpmi audit record: it has no level (key and label) or no seed")
        return cls(
            level=PrivacyLevel.from_dict(dict(level)),
            seed=int(seed),
            settings=AuditSettingsUsed.from_json(_obj(data, "settings")),
            target_test_accuracy=_float(data.get("target_test_accuracy")),
            cell_test_accuracy=_float(data.get("cell_test_accuracy")),
            target_matches_cell=_bool(data.get("target_matches_cell")),
            record=SavedAuditRecord.from_json(_obj(data, "record")),
            roc=SavedRoc.from_json(_obj(data, "roc")),
            roc_offline=SavedRoc.from_json(_obj(data, "roc_offline")),
            format=str(data.get("format", AUDIT_FORMAT)),
            source=copy.deepcopy(dict(data)),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON this audit was read from (a copy): what its file and results.json hold."""
        return copy.deepcopy(dict(self.source))

    def with_cell_accuracy(self, accuracy: float, matches: bool) -> SavedAudit:
        """This audit with the study cell's held-out accuracy and whether the audited target matches it."""
        return SavedAudit.from_json({**self.to_json(), "cell_test_accuracy": accuracy, "target_matches_cell": matches})

    @property
    def seconds(self) -> float:
        """Wall seconds the audit took, every part together (target, black box, white box, identity level)."""
        return self.record.total_seconds
