"""The README's "Extending dpmi" plugin module, loaded as printed with --plugin's loader: its attack, judge and
defense are registered, and each works (the attack's images are scored by the judge, the defense trains)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from dpmi.attacks.registry import ATTACKS, available_attacks, make_attack
from dpmi.data import make_synthetic_faces
from dpmi.defenses import DEFENSES, train_with_defense
from dpmi.metrics import JUDGES, evaluate_inversion, load_or_train_judges, summary_keys
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig
from dpmi.registry import load_plugins

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def readme_plugin(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Extending dpmi.*?```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "my_dpmi_plugin.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    yield load_plugins(["my_dpmi_plugin"])
    JUDGES.unregister("pixel")
    DEFENSES.unregister("smooth")
    ATTACKS.unregister("public-mean")
    monkeypatch.delitem(__import__("sys").modules, "my_dpmi_plugin", raising=False)


def test_the_readme_plugin_adds_an_attack_a_judge_and_a_defense(readme_plugin):
    assert readme_plugin == ["my_dpmi_plugin"]
    assert "public-mean" in available_attacks() and "pixel" in JUDGES and "smooth" in DEFENSES
    assert "pixel_acc1" in summary_keys()
    faces = make_synthetic_faces(num_identities=6, per_identity=5, image_shape=(24, 20), seed=1)
    train, test = faces.split(3, seed=0)
    model = build_model("softmax", num_classes=6, input_shape=train.input_shape, seed=0)
    x, y = train.to_tensors()
    defended = train_with_defense(model, x, y, TrainConfig(epochs=2, batch_size=6), "smooth", -0.2)
    assert defended.strength == -0.2 and torch.isfinite(torch.tensor(defended.history.loss)).all()
    attack = make_attack("public-mean", defended.model, public=test, input_shape=train.input_shape)
    judges = load_or_train_judges(train, test, seed=0, epochs=1)
    scores = evaluate_inversion(attack.invert(range(6)), train, judges)
    # One image for every person: a deterministic judge names the same person for all six, so one hit at most.
    assert scores["pixel_acc1"] in (0.0, 1 / 6) and scores["pixel_collapsed"] == 1.0
