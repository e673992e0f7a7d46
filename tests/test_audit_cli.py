"""`dpmi audit`: bad input is one `dpmi: error:` line, exit 2 and nothing written; a small audit's JSON."""

from __future__ import annotations

import json

import pytest

from dpmi.cli import main


@pytest.mark.parametrize("args, message", [
    (["--shadows", "1"], "shadows must be an integer >= 2"),
    (["--sigma", "2", "--canaries", "20000"], "canaries must be 0"),
    (["--fpr", "0,0.01"], "FPR targets must be in (0, 1)"),
    (["--fpr", "0.01,1"], "FPR targets must be in (0, 1)"),
    (["--model", "resnet"], "unknown model"),
    (["--sigma", "1", "--epsilon", "3"], "not allowed with argument"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, faces_root, args, message):
    out = tmp_path / "audit"
    assert main(["audit", "--data", str(faces_root), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error:") and message in err[0]
    assert not out.exists()


def test_saved_model_without_its_recipe_is_refused(tmp_path, capsys, faces_root):
    import torch

    from dpmi.models import build_model
    from dpmi.models.model_file import save_model

    model = build_model("softmax", num_classes=20, seed=0)
    path = tmp_path / "model.pt"
    save_model(model, path, {"model": "softmax", "num_classes": 20, "input_shape": [1, 112, 92]})
    out = tmp_path / "audit"
    assert main(["audit", "--model", str(path), "--data", str(faces_root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks the training recipe" in err[0]
    assert not out.exists()
    del torch


def test_small_private_audit_json_has_every_key(tmp_path, capsys, faces_root):
    out = tmp_path / "audit"
    code = main(["audit", "--data", str(faces_root), "--sigma", "4", "--shadows", "4", "--canaries", "50",
                 "--epochs", "2", "--json", "--out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["epsilon"]) == {"rdp", "pld"}
    assert set(result["epsilon_lower_bound"]) == {"black_box", "black_box_fdp", "white_box", "white_box_fdp"}
    # black box: the one-run retraining with candidates in at random (the fixed split's LiRA is strength only)
    one = result["black_box_one_run"]
    assert result["epsilon_lower_bound"]["black_box"] == one["steinke"]["epsilon_lower_bound"]
    assert one["candidates"] == 200 and 0 <= one["correct"] <= one["guesses"] <= 200
    assert set(result["tpr_at_fpr"]) == {"0.001", "0.01"}
    assert set(result["reconstruction"]) == {"record", "identity"}
    assert result["white_box"]["tighter"] in {"f-DP (GDP)", "Steinke", "equal"}
    assert 0 <= result["auc"] <= 1 and result["identity_epsilon"] > result["epsilon"]["pld"]
    bb, wb = result["counts"]["black_box"], result["counts"]["white_box"]
    assert set(bb["scored"]) == {"true_positives", "false_positives", "true_negatives", "false_negatives"}
    assert wb["canaries"] == 50 and 0 <= wb["correct"] <= wb["guesses"] <= 50
    for bound in result["epsilon_lower_bound"].values():
        assert bound is None or bound <= result["epsilon"]["pld"]
    assert json.loads((out / "audit.json").read_text())["auc"] == result["auc"]
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
