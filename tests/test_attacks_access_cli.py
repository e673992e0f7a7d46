"""`dpmi attack --access / --query-budget / --target`: a saved model or a user's callable attacked with scores
or labels only, on the real faces; exact query counts; bad input is one `dpmi: error:` line, exit 2, nothing
written."""

from __future__ import annotations

import json

import pytest

import _callable_targets as targets  # noqa: E402  (tests/ is on sys.path: pytest rootdir conftest)
from dpmi.attacks.registry import attack_spec
from dpmi.cli import main

HERE = "_callable_targets"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, faces_root):
    """A non-private softmax target trained through the CLI on the real faces' private people."""
    path = tmp_path_factory.mktemp("access") / "model.pt"
    assert main(["train", "--data", str(faces_root), "--out", str(path), "--epochs", "5", "--no-progress"]) == 0
    return path


def _fails_cleanly(capsys, argv, fragment, out):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("dpmi: error: "), err
    assert fragment in err[0], err[0]
    assert not out.exists(), "a refused attack must write nothing"


def _nes_queries(identities: int, steps: int) -> int:
    """pca-prior-bb's queries by its documented formula: candidates + K R (steps P + T), T = 6 transforms."""
    d = attack_spec("pca-prior-bb").defaults
    return d["candidates"] + identities * d["restarts"] * (steps * d["population"] + 6)


def test_scores_access_on_a_saved_model_counts_exact_queries(capsys, saved_model, faces_root, tmp_path):
    """Budget 1,000 per identity for 2 identities: 2,000 images fit 3 NES steps (548 + 8 x 50 x 3 = 1,748)."""
    out = tmp_path / "scores"
    argv = ["attack", str(saved_model), "--access", "scores", "--query-budget", "1000", "--identities", "0,1",
            "--no-metrics", "--no-progress", "--json", "--data", str(faces_root), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["attack"] == "pca-prior-bb" and report["access"] == "scores"
    steps = (2 * 1000 - _nes_queries(2, 0)) // (2 * 4 * 50)
    assert report["queries"] == _nes_queries(2, steps) <= 2000
    assert report["queries_per_identity"] == report["queries"] / 2 and report["query_budget"] == 1000
    assert json.loads((out / "attack.json").read_text())["queries"] == report["queries"]


def test_labels_access_picks_the_label_only_attack(capsys, saved_model, faces_root, tmp_path):
    argv = ["attack", str(saved_model), "--access", "labels", "--query-budget", "1500", "--identities", "3",
            "--no-metrics", "--no-progress", "--json", "--data", str(faces_root), "--out", str(tmp_path / "l")]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["attack"] == "brep-mi" and report["access"] == "labels"
    assert 0 < report["queries"] <= 1500


def test_callable_target_is_queried_exactly_as_reported(capsys, faces_root, tmp_path):
    """No MODEL: the callable's classes are the default split's 20 private people; every image dpmi says it
    sent reached the callable (plus the one uncounted probe)."""
    targets.IMAGES[0] = 0
    argv = ["attack", "--target", f"{HERE}:scores", "--query-budget", "700", "--identities", "0,1,2",
            "--no-metrics", "--no-progress", "--json", "--data", str(faces_root), "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["access"] == "scores" and report["attack"] == "pca-prior-bb"
    steps = (3 * 700 - _nes_queries(3, 0)) // (3 * 4 * 50)
    assert steps >= 1 and report["queries"] == _nes_queries(3, steps)
    assert targets.IMAGES[0] == report["queries"] + 1


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--access", "scores", "--attack", "mi-face"], "needs white-box access but the target gives only scores"),
        (["--access", "labels", "--attack", "pca-prior-bb"], "needs scores access but the target gives only labels"),
        (["--access", "scores", "--query-budget", "10"], "below what one step of the attack needs"),
        (["--access", "labels", "--query-budget", "10"], "below"),
        (["--query-budget", "100"], "--query-budget applies to scores or labels access"),
        (["--access", "scores", "--query-budget", "0"], "--query-budget must be an integer >= 1"),
        (["--target", f"{HERE}:scores", "--attack", "gmi"], "a --target callable answers queries"),
        (["--target", f"{HERE}:scores", "--access", "white-box"], "not white-box"),
        (["--target", f"{HERE}:wrong_shape"], "must return scores [1, 20]"),
        (["--target", f"{HERE}:raises"], "connection refused"),
        (["--target", f"{HERE}:raises_later", "--query-budget", "2000"], "rate limited"),
        (["--target", f"{HERE}:NOT_CALLABLE"], "is not callable"),
        (["--target", "no_such_module_xyz:predict"], "cannot import the target"),
        (["--target", f"{HERE}:scores", "--access", "labels"], "must return labels [1]"),
    ],
)
def test_bad_access_input_is_one_line_and_writes_nothing(capsys, saved_model, faces_root, tmp_path, flags, fragment):
    out = tmp_path / "never"
    model = [] if "--target" in flags else [str(saved_model)]
    argv = ["attack", *model, *flags, "--identities", "0,1", "--no-metrics", "--no-progress",
            "--data", str(faces_root), "--out", str(out)]
    _fails_cleanly(capsys, argv, fragment, out)
