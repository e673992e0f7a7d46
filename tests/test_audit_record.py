"""Saved audits read typed (`dpmi.study.audit_record.SavedAudit`): a real record from the audit code round-trips
to exactly the JSON written (file, results.json), every typed field is the number the JSON holds, and the report
panel and the README's audit table render from it; a record written before the f-DP and black-box one-run parts
loads with those parts None and still renders; unreadable files are skipped by `load_audits`."""

from __future__ import annotations

import copy
import json

import pytest

from dpmi.study.audit_phase import (
    attach_cell_accuracies,
    audit_intro,
    audit_panel,
    audit_path,
    load_audits,
    save_audit,
    violations,
)
from dpmi.study.audit_record import SavedAudit
from dpmi.study.levels import PrivacyLevel
from dpmi.study.readme_table import audit_table
from dpmi.study.results import StudyResults

# A record as dpmi wrote it before the f-DP analyses, the black-box one-run audit, the low-FPR readings and the
# reconstruction bound (the cnn study's eps8 level of docs/results/cnn.json, its ROC cut to three points): its
# "black_box" lower bound is the fixed-split LiRA's of that time.
OLD_RECORD = {
    "cell_test_accuracy": 0.75,
    "format": "dpmi-study-audit",
    "level": {
        "epsilon_pld": 7.353632320008997,
        "epsilon_rdp": 7.99942219924429,
        "key": "eps8",
        "label": "DP-SGD ε=8",
        "noise_multiplier": 2.0706787109375,
        "sample_rate": 0.2857142857142857,
        "steps": 105,
        "target_epsilon": 8.0,
    },
    "record": {
        "auc": 0.5972619047619048,
        "black_box": {
            "auc_offline": 0.6367857142857143,
            "offline_epsilon_lower_bound": 0.0,
            "tpr_at_fpr_offline": {"0.001": 0.05, "0.01": 0.05},
        },
        "counts": {
            "black_box": {
                "candidates": 200,
                "confidence": 0.95,
                "members": 140,
                "scored": {"false_negatives": 0, "false_positives": 35, "true_negatives": 2, "true_positives": 63},
                "selection": {"false_negatives": 0, "false_positives": 23, "true_negatives": 0, "true_positives": 77},
                "shadows": 16,
                "threshold": -3.5391513985027405,
            }
        },
        "delta": 1e-05,
        "epsilon": {"pld": 7.353632320008997, "rdp": 7.99942219924429},
        "epsilon_lower_bound": {"black_box": 0.0, "white_box": None},
        "identity": {
            "dwork_roth": 453.11237379314946,
            "method": "dwork-roth",
            "records": 7,
            "subsampled_group": 683.32036895225,
        },
        "identity_epsilon": 453.11237379314946,
        "noise_multiplier": 2.0706787109375,
        "records_per_identity": 7,
        "sample_rate": 0.2857142857142857,
        "seconds": {"black_box": 12.3188446690001, "identity": 2.2871923749989946, "target": 1.9986965120006062},
        "steps": 105,
        "tpr_at_fpr": {"0.001": 0.04285714285714286, "0.01": 0.04285714285714286},
    },
    "roc": {
        "auc": 0.5972619047619048,
        "fpr": [0.0, 0.5, 1.0],
        "negatives": 37,
        "positives": 63,
        "tpr": [0.0, 0.6, 1.0],
    },
    "roc_offline": None,
    "seed": 0,
    "settings": {
        "canaries": 0,
        "model": "cnn",
        "seed": 0,
        "shadows": 16,
        "shadows_batched": False,
        "white_box_skipped": "the one-run audit needs the softmax model, not cnn",
    },
    "target_matches_cell": True,
    "target_test_accuracy": 0.75,
}


def _cells(table: str, label: str) -> list[str]:
    row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def _results(audits: dict[str, SavedAudit], model: str = "softmax") -> StudyResults:
    levels = [audit.level for audit in audits.values()]
    return StudyResults("", {"model": model}, levels, [], audits=audits)


def test_an_old_record_loads_with_the_missing_parts_none_and_renders(tmp_path):
    audit = SavedAudit.from_json(OLD_RECORD)
    r = audit.record
    assert audit.level.key == "eps8" and audit.seed == 0 and audit.target_matches_cell is True
    assert r.epsilon is not None and r.epsilon.pld == 7.353632320008997 and r.epsilon.rdp == 7.99942219924429
    bounds = r.epsilon_lower_bound
    assert bounds.black_box == 0.0 and bounds.black_box_fdp is None
    assert bounds.white_box is None and bounds.white_box_fdp is None
    assert r.black_box_one_run is None and r.white_box is None and r.low_fpr is None and r.reconstruction is None
    assert r.counts.white_box is None and r.counts.black_box is not None and r.counts.black_box.non_members is None
    assert r.counts.black_box.scored is not None and r.counts.black_box.scored.false_positives == 35
    assert r.black_box is not None and r.black_box.kind is None and r.black_box.low_fpr_offline is None
    assert audit.settings.defense is None and audit.settings.shadows == 16 and audit.roc_offline is None
    assert r.identity is not None and r.identity.method == "dwork-roth" and r.records_per_identity == 7
    assert audit.seconds == pytest.approx(12.3188446690001 + 2.2871923749989946 + 1.9986965120006062)
    # The shape is kept: writing it back adds no keys (no None-filled parts an old run never had).
    assert audit.to_json() == OLD_RECORD and audit.to_json() is not audit.source

    results = _results({"eps8": audit}, model="cnn")
    table = audit_table(results)
    assert _cells(table, "DP-SGD ε=8")[2:] == ["0 / -", "-", "453 (k = 7)", "0.597", "4.3 %"]
    assert "16 shadow models, no white-box canaries" in table
    panel = audit_panel(results, audit.level)
    assert panel is not None and "no white-box audit for this model" in panel and "From outputs alone" not in panel
    assert "TP 63, FP 35, TN 2, FN 0" in panel and "Dwork &amp; Roth" in panel
    intro = audit_intro(results)
    assert intro is not None and "White-box bound skipped: the one-run audit needs the softmax model" in intro
    assert "With 37 non-members scored" in intro and "AUDIT VIOLATION" not in intro

    # In a run directory it loads, and attaching the cell's accuracy changes only those two values.
    (tmp_path / "audit").mkdir()
    audit_path(tmp_path, "eps8", 0).write_text(json.dumps(OLD_RECORD), encoding="utf-8")
    (tmp_path / "audit" / "broken__seed0.json").write_text('{"format": "dpmi-study-audit", "seed": 0}')
    assert list(load_audits(tmp_path)) == ["eps8"]  # the file without a level is skipped (redone)
    attached = attach_cell_accuracies(tmp_path, lambda key, seed: 0.5)["eps8"]
    assert attached.cell_test_accuracy == 0.5 and attached.target_matches_cell is False
    written = json.loads(audit_path(tmp_path, "eps8", 0).read_text(encoding="utf-8"))
    assert written == {**OLD_RECORD, "cell_test_accuracy": 0.5, "target_matches_cell": False}
    assert SavedAudit.from_json(written) == attached and "differs from the study cell's 0.5" in violations(attached)[0]


def test_a_non_private_record_and_a_missing_level_or_seed():
    old = copy.deepcopy(OLD_RECORD)
    del old["record"]["epsilon"], old["record"]["identity"]
    old["record"]["identity_epsilon"] = None
    audit = SavedAudit.from_json(old)
    assert audit.record.epsilon is None and audit.record.identity is None
    assert _cells(audit_table(_results({"eps8": audit})), "DP-SGD ε=8")[4] == "-"
    for broken in ({**OLD_RECORD, "level": {"key": "x"}}, {k: v for k, v in OLD_RECORD.items() if k != "seed"}):
        with pytest.raises(ValueError, match="not a dpmi audit record"):
            SavedAudit.from_json(broken)


@pytest.fixture(scope="module")
def real_audit(faces):
    """A real audit of a DP-SGD level by the study's audit code (sigma 1, 2 epochs, 4 shadows, 64 canaries:
    ~10 s on 2 cores): every part, white box and black-box one-run included."""
    from dpmi.data import split_identities
    from dpmi.study.audit_phase import audit_one
    from dpmi.study.config import make_config
    from dpmi.study.levels import resolve_levels
    from dpmi.study.recipe import base_recipe

    config = make_config(audit_shadows=4, audit_canaries=64, epochs=2)
    private = split_identities(faces).private
    train, test = private.split(train_per_class=config.data.train_per_class, seed=config.data.split_seed)
    (level,) = resolve_levels([PrivacyLevel("sigma1", "DP-SGD σ=1", noise_multiplier=1.0)], config, len(train))
    return audit_one(config, level, base_recipe(config), 0, train, test)


@pytest.mark.slow
def test_a_real_record_round_trips_and_renders(real_audit, tmp_path):
    data = real_audit
    saved = save_audit(tmp_path, data)
    text = audit_path(tmp_path, "sigma1", 0).read_text(encoding="utf-8")
    (loaded,) = load_audits(tmp_path).values()
    assert loaded == saved
    # Byte for byte: the typed audit writes back the file it was read from.
    assert json.dumps(loaded.to_json(), indent=2, sort_keys=True, allow_nan=False) + "\n" == text
    raw = json.loads(text)
    r, rec = loaded.record, raw["record"]
    assert r.epsilon is not None and (r.epsilon.rdp, r.epsilon.pld) == (rec["epsilon"]["rdp"], rec["epsilon"]["pld"])
    assert dict(r.epsilon_lower_bound.items()) == rec["epsilon_lower_bound"]
    one, wb = r.black_box_one_run, r.white_box
    assert one is not None and one.fdp is not None and wb is not None and wb.fdp is not None
    assert one.steinke_epsilon_lower_bound == rec["epsilon_lower_bound"]["black_box"]
    assert one.fdp.epsilon_lower_bound == rec["epsilon_lower_bound"]["black_box_fdp"]
    assert one.candidates == 200 and one.guesses == rec["black_box_one_run"]["guesses"]
    assert wb.steinke_epsilon_lower_bound == rec["epsilon_lower_bound"]["white_box"]
    assert wb.fdp.epsilon_lower_bound == rec["epsilon_lower_bound"]["white_box_fdp"]
    assert wb.tighter == rec["white_box"]["tighter"] and r.counts.white_box is not None
    assert r.counts.white_box.canaries == 64 and r.counts.white_box.confidence == 0.95
    assert r.counts.black_box is not None and r.counts.black_box.shadows == 4 and r.auc == rec["auc"]
    assert r.low_fpr is not None and r.low_fpr.non_members == 60 and set(r.low_fpr.targets) == {"0.001", "0.01"}
    assert r.tpr_at_fpr == rec["tpr_at_fpr"] and r.identity_epsilon == rec["identity_epsilon"]
    assert r.reconstruction is not None and r.reconstruction.record is not None
    assert r.reconstruction.record.kappa == pytest.approx(1 / 20) and r.reconstruction.record.records == 1
    assert loaded.settings.shadows == 4 and loaded.settings.canaries == 64 and loaded.settings.defense == "none"
    assert loaded.roc is not None and loaded.roc.negatives == 60 and len(loaded.roc.fpr) == len(raw["roc"]["fpr"])
    assert loaded.seconds == pytest.approx(sum(rec["seconds"].values())) and violations(loaded) == []

    # results.json holds the same JSON, and reading it back gives the same typed audit.
    results = _results({"sigma1": loaded})
    written = results.to_dict()
    assert written["audits"] == [raw]
    assert StudyResults.from_dict(json.loads(json.dumps(written))).audits == {"sigma1": loaded}

    table = audit_table(results)
    lb = r.epsilon_lower_bound
    cells = _cells(table, "DP-SGD σ=1")
    assert cells[2:4] == [
        f"{lb.black_box:.3g} / {lb.black_box_fdp:.3g}",
        f"{lb.white_box:.3g} / {lb.white_box_fdp:.3g}",
    ]
    panel = audit_panel(results, loaded.level)
    assert panel is not None and f"ε ≥ {lb.white_box:.2f} (Steinke et al.)" in panel
    assert f"{one.correct} of {one.guesses} LiRA guesses right" in panel and "Reconstruction: against" in panel
    intro = audit_intro(results)
    assert intro is not None and "4 shadow models (trained together), 64 canaries" in intro
    assert f"<td>{lb.white_box:.2f}</td>" in intro and "data:image/png;base64," in intro
