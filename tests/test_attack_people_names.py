"""Issue 23: people are named one way everywhere. `dpmi attack`'s figure titles, its lines and attack.json
name the attacked people as the study's grid does (`dpmi.data.person_name`: the AT&T faces' s1.., a user
folder's own person folders), not "identity k"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpmi.cli import main
from dpmi.data import person_name


def _titles(monkeypatch):
    """Record every axes title matplotlib is given."""
    from matplotlib.axes import Axes

    titles: list[str] = []
    real = Axes.set_title

    def record(self, label, *args, **kwargs):
        titles.append(str(label))
        return real(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_title", record)
    return titles


def test_one_rule_for_grid_report_and_attack():
    from dpmi.study.report import _person

    assert person_name(0, ["s1", "s2"]) == "s1" and person_name(1, ("a", "b")) == "b"
    assert person_name(3, None) == "person 3" and person_name(3, ["s1"]) == "person 3"
    assert _person(1, ["s1", "s2"]) == person_name(1, ["s1", "s2"]) and _person(4, None) == "person 4"


def test_the_figure_titles_its_columns_with_the_names_given(monkeypatch):
    from dpmi.workflows.attack_figure import attack_grid

    titles = _titles(monkeypatch)
    rng = np.random.default_rng(0)
    recon, means = rng.uniform(-1, 1, (3, 1, 28, 24)), rng.uniform(-1, 1, (3, 1, 28, 24))
    attack_grid(recon, ["s1", "s5", "alice"], mean_faces=means, correct=np.array([True, False, True]),
                title="t", judge="ArcFace")
    assert titles == ["s1", "s5", "alice"]


def test_attacked_people_from_the_faces_else_the_sidecar():
    from dpmi.data import make_synthetic_faces, select_identities
    from dpmi.workflows.attack_model import attacked_people, people_list

    faces = make_synthetic_faces(num_identities=6, per_identity=3, seed=0)
    named = type(faces)(faces.images, faces.labels, faces.image_ids, faces.num_classes,
                        names=("ann", "bob", "cy", "dee", "ed", "flo"))
    private = select_identities(named, [1, 3, 5])  # model labels 0, 1, 2 = dataset identities 1, 3, 5
    assert attacked_people([3, 5], [1, 2], private, {}) == ["dee", "flo"]
    # faces not at hand: the names `dpmi train` recorded in the sidecar, by dataset identity
    assert attacked_people([3, 5], [1, 2], None, {"data": {"names": list(named.names)}}) == ["dee", "flo"]
    assert attacked_people([3, 5], [1, 2], None, {"data": {}}) == ["person 3", "person 5"]  # an older sidecar
    assert people_list([f"s{i}" for i in range(1, 21)]) == "s1, s2, s3, s4, s5, s6, ..., s20"


def test_dpmi_attack_names_the_att_people_as_the_grid_does(tmp_path, capsys, faces_root, monkeypatch):
    model = tmp_path / "m.pt"
    assert main(["train", "--data", str(faces_root), "--out", str(model), "--epochs", "1", "--no-progress"]) == 0
    assert json.loads(model.with_suffix(".json").read_text())["data"]["names"][:2] == ["s1", "s2"]
    capsys.readouterr()
    titles = _titles(monkeypatch)
    out = tmp_path / "attack"
    assert main(["attack", str(model), "--identities", "0,4,11", "--max-iter", "2", "--no-metrics",
                 "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mi-face on 3 people (s1, s5, s12; identities 0, 4, 11) of " in printed, printed
    assert titles == ["s1", "s5", "s12"]  # dataset identity i is person s{i+1}, as in the study's grid
    record = json.loads((out / "attack.json").read_text())
    assert record["identities"] == [0, 4, 11] and record["people"] == ["s1", "s5", "s12"]  # keys kept, names added


@pytest.mark.parametrize("with_faces", [True, False])
def test_a_user_folder_keeps_its_own_person_names(tmp_path, capsys, monkeypatch, with_faces):
    import shutil

    from dpmi.data import make_synthetic_faces, write_image_folder

    faces = make_synthetic_faces(num_identities=6, per_identity=6, image_shape=(28, 24), seed=1)
    root = write_image_folder(faces, tmp_path / "faces", names=[f"guest-{c}" for c in "abcdef"])
    model = tmp_path / "m.pt"
    assert main(["train", "--data", str(root), "--out", str(model), "--epochs", "1", "--train-per-class", "4",
                 "--batch-size", "4", "--no-progress"]) == 0
    if not with_faces:  # the faces are gone (and none elsewhere): the names come from the sidecar
        shutil.rmtree(root)
        monkeypatch.setenv("DPMI_DATA", str(tmp_path / "nowhere"))
    capsys.readouterr()
    titles = _titles(monkeypatch)
    assert main(["attack", str(model), "--identities", "1,2", "--max-iter", "2", "--no-metrics", "--no-progress",
                 "--json", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["people"] == ["guest-b", "guest-c"]
    assert titles == ["guest-b", "guest-c"]
