"""Every extension kind is one registration from a plugin module outside the repo: a model, an attack, a judge, a
defense, a data format, an executor and a report section, registered by a module in a temp directory and used by
`dpmi run --quick --plugin MODULE`; the summary, tables, figures and report pick each up without naming it."""

from __future__ import annotations

import csv
import json
import textwrap

import pytest

from dpmi.cli import main
from dpmi.data import make_synthetic_faces, write_image_folder

PLUGIN = textwrap.dedent(
    '''
    """A plugin adding one of every extension kind (each one registration line)."""
    import numpy as np
    import torch
    from torch import nn

    from dpmi.attacks.registry import register_attack
    from dpmi.data.formats import DATA_FORMATS, DataFormat
    from dpmi.defenses import DEFENSES, DefenseSpec, StrengthKnob
    from dpmi.metrics import LabelledImages
    from dpmi.metrics.judge_registry import JUDGES
    from dpmi.metrics.judge_spec import JudgeSpec
    from dpmi.models import register_model
    from dpmi.study.executor import EXECUTORS, SerialExecutor
    from dpmi.study.report_sections import REPORT_SECTIONS, ReportSection

    EXECUTED = []


    @register_model("plug-linear", summary="a plugin's linear model")
    class PlugLinear(nn.Module):
        def __init__(self, input_shape, num_classes):
            super().__init__()
            self.linear = nn.Linear(int(np.prod(input_shape)), num_classes)

        def forward(self, x):
            return self.linear(x.flatten(1))


    class MeanFaceAttack:
        """Answers every person with the public people's mean face (a baseline that reads no model)."""

        def __init__(self, public):
            x, _ = public.to_tensors()
            self.mean = x.mean(dim=0, keepdim=True)

        def invert(self, labels):
            labels = torch.as_tensor(list(labels))
            return LabelledImages(self.mean.repeat(len(labels), 1, 1, 1), labels, {"plugged": 1.0})


    register_attack("plug-mean", defaults={}, needs_public=True, summary="the public mean face",
                    reference="a test plugin")(lambda model, *, public, input_shape, device: MeanFaceAttack(public))


    class L2Judge:
        def __init__(self, means, test_accuracy=float("nan")):
            self.means, self.test_accuracy = means, test_accuracy

        def scores(self, images):
            x = torch.as_tensor(images).reshape(len(images), -1).double().numpy()
            return -((x[:, None, :] - self.means[None]) ** 2).sum(axis=2)

        def state_dict(self):
            return {"means": torch.from_numpy(self.means), "test_accuracy": float(self.test_accuracy)}


    def fit_l2(train, test, **_):
        x, y = train.to_tensors()
        flat = x.reshape(len(x), -1).double().numpy()
        return L2Judge(np.stack([flat[y.numpy() == k].mean(axis=0) for k in range(train.num_classes)]))


    JUDGES.register("plugl2", JudgeSpec(label="plugin L2 judge", family="L2 to mean faces", colour="#000000",
                    marker="x", fit=fit_l2, load=lambda s, d: L2Judge(s["means"].numpy(), s["test_accuracy"]),
                    test_key="plugl2_test_acc"))
    DEFENSES.register("plug-smooth", DefenseSpec(
        name="plug-smooth", summary="a plugin's label smoothing", reference="a test plugin", departs="-",
        strength=StrengthKnob("alpha", -1.0, 1.0, default=-0.1, grid=(-0.1,), high_open=True),
        loss=lambda out, y, alpha, extras: -(((1 - alpha) * nn.functional.one_hot(y, out.shape[1]) + alpha
                                              / out.shape[1]) * out.log_softmax(1)).sum(1)))


    def load_marked(directory, image_size, grayscale):
        from dpmi.data.image_folder import load_image_folder

        return load_image_folder(directory, image_size=image_size, grayscale=grayscale)


    DATA_FORMATS.register("plug-format", DataFormat(lambda d: (d / "PLUGIN_FORMAT").is_file(), load_marked))


    class CountingExecutor(SerialExecutor):
        def map_unordered(self, fn, tasks, initializer=None, initargs=()):
            for task, result in super().map_unordered(fn, tasks, initializer, initargs):
                EXECUTED.append(task)
                yield task, result


    EXECUTORS.register("plug-serial", lambda **_: CountingExecutor())
    REPORT_SECTIONS.register("plug-section", ReportSection(
        "A plugin's section", page=lambda results: f"<p>plugin section: {len(results.cells)} cells</p>"))
    '''
)

TINY = ["--seeds", "1", "--epochs", "2", "--batch-size", "8", "--train-per-class", "3", "--sigmas", "none",
        "--epsilons", "none", "--search-lr", "0.05", "--search-epochs", "2", "--search-batch-size", "8"]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    from dpmi.attacks.registry import ATTACKS
    from dpmi.data.formats import DATA_FORMATS
    from dpmi.defenses import DEFENSES
    from dpmi.metrics.judge_registry import JUDGES
    from dpmi.models import MODEL_REGISTRY
    from dpmi.study.executor import EXECUTORS
    from dpmi.study.report_sections import REPORT_SECTIONS

    folder = tmp_path / "plugin_pkg"
    folder.mkdir()
    (folder / "dpmi_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    yield "dpmi_test_plugin"
    for registry, name in ((MODEL_REGISTRY, "plug-linear"), (JUDGES, "plugl2"), (DEFENSES, "plug-smooth"),
                           (DATA_FORMATS, "plug-format"), (EXECUTORS, "plug-serial"),
                           (REPORT_SECTIONS, "plug-section")):
        registry.unregister(name)
    ATTACKS.unregister("plug-mean")
    import sys

    sys.modules.pop("dpmi_test_plugin", None)


@pytest.mark.slow
def test_one_plugin_module_adds_every_extension_kind_to_a_run(plugin, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    faces = make_synthetic_faces(num_identities=8, per_identity=5, image_shape=(32, 28), seed=3)
    data = write_image_folder(faces, tmp_path / "faces")
    (data / "PLUGIN_FORMAT").write_text("read by the plugin's data format\n")
    out = tmp_path / "run"
    argv = ["run", "--quick", "--plugin", plugin, "--data", str(data), "--out", str(out), "--model", "plug-linear",
            "--attacks", "plug-mean", "--defenses", "plug-smooth:-0.2", "--executor", "plug-serial", *TINY]
    assert main(argv) == 0, capsys.readouterr().err
    import dpmi_test_plugin

    results = json.loads((out / "results.json").read_text())
    assert results["data"]["format"] == "plug-format" and results["config"]["model"] == "plug-linear"
    levels = [level["key"] for level in results["levels"]]
    assert levels == ["nonprivate", "plug-smooth-0.2"]
    assert len(dpmi_test_plugin.EXECUTED) == len(results["cells"]) == 2  # every cell ran on the plugin executor
    cell = results["cells"][0]
    attack = cell["attacks"][0] if isinstance(cell["attacks"], list) else cell["attacks"]["plug-mean"]
    metrics = attack["metrics"]
    assert metrics["attack_plugged"] == 1.0 and 0.0 <= metrics["plugl2_acc1"] <= 1.0
    with open(out / "results.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert "plugl2_acc1" in header
    page = (out / "report.html").read_text()
    for shown in ("plug-mean", "plugin L2 judge", "plug-smooth alpha=-0.2", "A plugin&#x27;s section",
                  "plugin section: 2 cells", "plug-linear"):
        assert shown in page, shown
    assert (out / "figures" / "privacy_utility_leakage.png").stat().st_size > 0
    assert "plugin L2 judge" in capsys.readouterr().out  # the terminal table has the judge's column
