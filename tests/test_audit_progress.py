"""`dpmi audit`'s progress: the plan's step totals are exact (every phase advances by what it planned, for
every way the shadows train), a line per phase off a terminal, one bar on one, nothing with --no-progress
(an error is then the one line on stderr)."""

from __future__ import annotations

import io
import re

import pytest

from dpmi.cli import main
from dpmi.privacy.accounting import dpsgd_steps


class Recorder:
    """An AuditProgress that records what it is told."""

    def __init__(self):
        self.phases = []
        self.advanced = {}
        self.current = None

    def plan(self, phases):
        assert not self.phases, "plan is called once"
        self.phases = list(phases)

    def start(self, phase):
        assert phase in self.phases and phase.key not in self.advanced
        self.current = phase.key
        self.advanced[phase.key] = 0

    def advance(self, steps=1):
        assert self.current is not None and steps > 0
        self.advanced[self.current] += steps


def _recipe(**kw):
    from dpmi.privacy.dpsgd import TrainConfig

    return TrainConfig(**{"epochs": 2, "batch_size": 8, "lr": 0.05, **kw})


@pytest.mark.parametrize("case", ["plain", "private", "saved target", "sequential cnn", "defense"])
def test_every_phase_advances_by_its_planned_steps(synthetic_faces, case):
    from dpmi.audit import api
    from dpmi.models import build_model

    train, held = synthetic_faces.split(train_per_class=4, seed=0)
    x, y = train.to_tensors()
    xh, yh = held.to_tensors()
    model, kw = "softmax", {}
    recipe = _recipe(noise_multiplier=1.5) if case == "private" else _recipe()
    if case == "saved target":
        kw["target"] = build_model("softmax", num_classes=8, input_shape=(1, 28, 24), seed=0)
    if case == "sequential cnn":
        model = "cnn"
    if case == "defense":
        from dpmi.defenses import defended_trainer

        kw["trainer"] = defended_trainer("label-smoothing")
    recorder = Recorder()
    api.audit_level(x, y, xh, yh, recipe, model=model, num_classes=8, shadows=3, canaries=20, progress=recorder, **kw)
    planned = {p.key: p.steps for p in recorder.phases}
    assert recorder.advanced == planned  # every phase started, in the plan, and advanced by exactly its steps
    keys = [p.key for p in recorder.phases]
    steps = 2 * -(-len(x) // 8)  # plain: epochs x ceil(n / batch)
    if case == "private":
        t = dpsgd_steps(2, 8 / len(x))
        assert keys == ["shadows", "one_run", "white_box", "accounting"]
        assert planned == {"shadows": t, "one_run": t, "white_box": t, "accounting": 2}
    else:
        assert keys == ["shadows", "one_run"]
        together = case in ("plain", "saved target")
        models = 3 if case == "saved target" else 4  # the target trains with the shadows unless given
        assert planned["shadows"] == (steps if together else models * steps)
        assert ("trained together" in recorder.phases[0].label) == together


def _lines(err):
    return [line for line in err.splitlines() if line.strip()]


PHASE = re.compile(r"^audit (\d)/(\d): .+ \((\d+) steps; (\d+) of (\d+) done\)$")


def test_off_a_terminal_one_line_per_phase_with_honest_counts(capsys, faces_root):
    code = main(["audit", "--data", str(faces_root), "--sigma", "4", "--shadows", "4", "--canaries", "50",
                 "--epochs", "2"])
    assert code == 0
    err = _lines(capsys.readouterr().err)
    assert err[0] == "auditing softmax with 4 shadow models and 50 canaries ..."
    phases = [PHASE.match(line) for line in err[1:-1]]
    assert all(phases), err
    t = dpsgd_steps(2, 40 / 140)  # 20 private people x 7 training images, batch 40
    total = 3 * t + 2  # shadows (together), the one-run target, the white-box run: T each; two bounds
    assert [(int(m[1]), int(m[2])) for m in phases] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [int(m[3]) for m in phases] == [t, t, t, 2]
    assert [int(m[4]) for m in phases] == [0, t, 2 * t, 3 * t]  # done so far: the earlier phases' steps
    assert {int(m[5]) for m in phases} == {total}
    assert re.fullmatch(rf"audit finished: {total} steps in [\d.]+ s", err[-1]), err[-1]


def test_no_progress_prints_nothing_on_stderr(capsys, faces_root):
    assert main(["audit", "--data", str(faces_root), "--shadows", "4", "--epochs", "2", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "accountant epsilon" in captured.out


@pytest.mark.parametrize("flags, progress", [(["--no-progress"], False), ([], True)])
def test_an_error_mid_audit_is_one_line_with_no_progress(capsys, faces_root, monkeypatch, flags, progress):
    from dpmi.audit import api

    def fail(*args, **kwargs):
        raise ValueError("the white-box run failed")

    monkeypatch.setattr(api, "one_run_audit", fail)
    code = main(["audit", "--data", str(faces_root), "--sigma", "4", "--shadows", "4", "--canaries", "50",
                 "--epochs", "2", *flags])
    assert code == 2
    err = _lines(capsys.readouterr().err)
    assert err[-1] == "dpmi: error: the white-box run failed"
    if progress:  # the phases up to the failing one, and no "finished" line
        assert [line.split(":")[0] for line in err[1:-1]] == ["audit 1/4", "audit 2/4", "audit 3/4"]
    else:
        assert len(err) == 1


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_bar_over_the_plan(synthetic_faces):
    from dpmi.audit import api
    from dpmi.workflows.audit_progress import AuditProgressReport

    train, held = synthetic_faces.split(train_per_class=4, seed=0)
    x, y = train.to_tensors()
    xh, yh = held.to_tensors()
    lines, stream = [], Terminal()
    report = AuditProgressReport(lines.append, stream=stream)
    api.audit_level(x, y, xh, yh, _recipe(noise_multiplier=1.5), num_classes=8, shadows=3, canaries=20,
                    progress=report)
    total = report.total
    assert report.bar.n == total and report.bar.total == total  # one bar, ending at its planned total
    report.close()
    text = stream.getvalue()
    assert f"{total}/{total}" in text and "audit 4/4 accounting" in text
    assert len(lines) == 1 and lines[0].startswith(f"audit finished: {total} steps")  # no per-phase lines
