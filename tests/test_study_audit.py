"""The study's audit phase on the real faces: a tiny study (one seed, non-private and one DP level, few shadows and
canaries, a few epochs) with the audit on saves one record per level, puts the panel and the ROC figure in the
report, never reports an eps_lb above the accountant's epsilon, and a resumed run does not audit again; `dpmi
report` redraws the panel from the saved records; --quick runs no audit."""

from __future__ import annotations

import json

import pytest

from dpmi.cli import main
from dpmi.study.audit_phase import AUDIT_DIR, audit_intro, violations
from dpmi.study.audit_record import SavedAudit
from dpmi.study.config import make_config

pytestmark = pytest.mark.slow
PANEL = "Privacy audit: the accountant&#x27;s promise and what an attacker achieved"


def _argv(out, faces_root):
    return [
        "run",
        "--data",
        str(faces_root),
        "--out",
        str(out),
        "--no-progress",
        "--defenses",
        "none",  # the privacy levels only: the audit panel is what this file tests
        "--seeds",
        "1",
        "--identities",
        "2",
        "--no-recipe-search",
        "--epochs",
        "4",
        "--sigmas",
        "1",
        "--epsilons",
        "none",
        "--attacks",
        "mi-face",
        "--attack-option",
        "mi-face.max_iter=5",
        "--audit-shadows",
        "4",
        "--audit-canaries",
        "64",
    ]


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory, faces_root):
    out = tmp_path_factory.mktemp("audit") / "run"
    assert main(_argv(out, faces_root)) == 0
    return out


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / AUDIT_DIR).glob("*.json"))}


def test_each_level_is_audited_and_the_report_shows_the_panel(audited_run):
    records = _records(audited_run)
    assert set(records) == {"nonprivate__seed0", "sigma1__seed0"}
    results = json.loads((audited_run / "results.json").read_text())
    assert [a["level"]["key"] for a in results["audits"]] == ["nonprivate", "sigma1"]
    assert "audit" in results["timings"]
    for audit in records.values():
        assert audit["target_matches_cell"] is True  # the audited target is the study's model
        assert audit["settings"]["shadows"] == 4 and audit["record"]["counts"]["black_box"]["shadows"] == 4
    private = records["sigma1__seed0"]["record"]
    assert private["counts"]["white_box"]["confidence"] == 0.95 and private["identity_epsilon"] > 0
    assert private["records_per_identity"] == 7
    page = (audited_run / "report.html").read_text()
    assert PANEL in page and "AUDIT VIOLATION" not in page
    assert "upper bound it PROVES" in page and "TPR @ 0.1% FPR" in page
    png = (audited_run / "figures" / "audit_roc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and page.count("data:image/png;base64,") == 3


def test_lower_bounds_stay_below_the_accountant(audited_run):
    results = json.loads((audited_run / "results.json").read_text())
    levels = {level["key"]: level for level in results["levels"]}
    for audit in _records(audited_run).values():
        record, level = audit["record"], levels[audit["level"]["key"]]
        if level["noise_multiplier"] is None:
            assert "epsilon" not in record and record["epsilon_lower_bound"]["white_box"] is None
            continue
        # The audit's accountant epsilons are the study's (computed separately, from the level's q and T).
        assert record["epsilon"]["rdp"] == pytest.approx(level["epsilon_rdp"], rel=1e-9)
        assert record["epsilon"]["pld"] == pytest.approx(level["epsilon_pld"], rel=1e-9)
        # Black box: the one-run retraining (candidates in at random), never the fixed split (strength only).
        assert record["black_box_one_run"]["candidates"] == 200  # 20 private people x (7 + 3)
        for name, bound in record["epsilon_lower_bound"].items():
            assert bound is not None and 0 <= bound <= min(record["epsilon"].values()), name
        assert violations(SavedAudit.from_json(audit)) == []


def test_resume_does_not_audit_again_and_a_redone_audit_gives_the_same_numbers(audited_run, faces_root):
    paths = sorted((audited_run / AUDIT_DIR).glob("*.json"))
    before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in paths}
    removed = audited_run / AUDIT_DIR / "sigma1__seed0.json"
    removed.unlink()
    assert main(_argv(audited_run, faces_root)) == 0
    after = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in sorted((audited_run / AUDIT_DIR).glob("*.json"))}
    assert after["nonprivate__seed0.json"] == before["nonprivate__seed0.json"]  # not re-audited
    redone = json.loads(after["sigma1__seed0.json"][1])["record"]
    first = json.loads(before["sigma1__seed0.json"][1])["record"]
    for key in ("epsilon", "epsilon_lower_bound", "auc", "tpr_at_fpr", "identity_epsilon", "counts"):
        assert redone[key] == first[key], key  # same seeds, same numbers


def test_report_redraws_the_panel_and_old_runs_render_without_it(audited_run, tmp_path):
    import shutil

    (audited_run / "report.html").unlink()
    assert main(["report", str(audited_run)]) == 0
    assert PANEL in (audited_run / "report.html").read_text()
    old = tmp_path / "old"
    shutil.copytree(audited_run, old)
    shutil.rmtree(old / AUDIT_DIR)
    results = json.loads((old / "results.json").read_text())
    del results["audits"]
    (old / "results.json").write_text(json.dumps(results))
    assert main(["report", str(old)]) == 0
    assert PANEL not in (old / "report.html").read_text()


def test_quick_runs_no_audit_and_the_fingerprint_holds_the_audit_numbers():
    assert make_config(quick=True).audit.enabled is False
    on, off = make_config(audit_shadows=8), make_config(audit_enabled=False, audit_shadows=8)
    assert on.cell_fingerprint()["audit_shadows"] == 8 and "audit_shadows" not in off.cell_fingerprint()
    assert "audit_levels" not in on.cell_fingerprint()


def test_a_bound_above_the_accountant_is_reported_loudly():
    audit = {
        "level": {"key": "eps1", "label": "DP-SGD ε=1"},
        "seed": 0,
        "settings": {},
        "record": {"epsilon": {"rdp": 1.0, "pld": 0.9}, "epsilon_lower_bound": {"black_box": 0.2, "white_box": 1.5}},
    }
    saved = SavedAudit.from_json(audit)
    assert len(violations(saved)) == 2 and "white-box" in violations(saved)[0]

    class Results:
        audits = {"eps1": saved}
        levels: list = []

    assert "AUDIT VIOLATION" in audit_intro(Results())


def test_bad_audit_settings_are_one_error_line(tmp_path, faces_root, capsys):
    out = tmp_path / "bad"
    assert main(["run", "--data", str(faces_root), "--out", str(out), "--audit-shadows", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error:") and "--audit-shadows" in err[0]
    assert not out.exists()


def test_the_default_non_private_target_leaks_membership(faces):
    """The study's default non-private softmax (base recipe, private people's 7 / 3 split) at the default audit
    size: LiRA's membership-inference strength is well above chance (AUC measured 0.87 at seed 0; the fixed split
    gives no valid epsilon bound), and the black-box one-run audit proves a bound above 0 (measured: 92 of 100
    guesses right of 200 candidates, Steinke 1.82, f-DP (GDP) 3.51)."""
    from dpmi.data import split_identities
    from dpmi.study.audit_phase import audit_one
    from dpmi.study.levels import PrivacyLevel
    from dpmi.study.recipe import base_recipe

    config = make_config()
    private = split_identities(faces).private
    train, test = private.split(train_per_class=config.data.train_per_class, seed=config.data.split_seed)
    audit = audit_one(config, PrivacyLevel("nonprivate", "non-private"), base_recipe(config), 0, train, test)
    record = audit["record"]
    assert record["auc"] > 0.75 and record["black_box"]["kind"].startswith("membership-inference strength")
    assert record["epsilon_lower_bound"]["black_box"] > 0.5 and record["epsilon_lower_bound"]["black_box_fdp"] > 1.0
    assert audit["settings"]["shadows"] == 16 and audit["settings"]["shadows_batched"] is True


def test_a_defense_level_is_audited_with_the_defenses_objective(faces, monkeypatch):
    """Label smoothing (its default strength): the shadows and the one-run target train through the defense's
    trainer (counted), one after another and at most DEFENSE_AUDIT_SHADOWS of them, and its numbers are its
    own. Measured (16 shadows, audit seed 0): AUC 0.815 against 0.870 without a defense; one-run 72 of 100
    right (Steinke 0.56, f-DP 1.06) against 92 (1.82, 3.51); at 8 shadows as here, below."""
    import dpmi.defenses as defenses
    from dpmi.data import split_identities
    from dpmi.study import audit_phase
    from dpmi.study.levels import PrivacyLevel
    from dpmi.study.recipe import base_recipe

    calls = []
    real = defenses.defended_trainer

    def counting(*args, **kwargs):
        trainer = real(*args, **kwargs)

        def counted(model, x, y, config):
            calls.append(int(x.shape[0]))
            return trainer(model, x, y, config)

        return counted

    monkeypatch.setattr(defenses, "defended_trainer", counting)
    config = make_config(audit_shadows=16)
    split = split_identities(faces)
    train, test = split.private.split(train_per_class=config.data.train_per_class, seed=config.data.split_seed)
    level = PrivacyLevel("label-smoothing", "label smoothing", defense="label-smoothing")
    assert level in audit_phase.audited_levels(config, [PrivacyLevel("nonprivate", "non-private"), level])
    audit = audit_phase.audit_one(config, level, base_recipe(config), 0, train, test, public=split.public)
    shadows = audit_phase.DEFENSE_AUDIT_SHADOWS
    # the shadows on 140 of the 200 candidates each, then the one-run target on the coin-flipped ones
    assert len(calls) == shadows + 1 and calls[:shadows] == [140] * shadows and 60 < calls[-1] < 140
    assert audit["settings"]["shadows"] == shadows and audit["settings"]["shadows_batched"] is False
    assert audit["settings"]["defense"] == "label-smoothing"
    record = audit["record"]
    assert "epsilon" not in record and record["epsilon_lower_bound"]["white_box"] is None
    assert 0.5 < record["auc"] < 1.0 and record["black_box_one_run"]["guesses"] == 100
    assert record["epsilon_lower_bound"]["black_box"] >= 0
