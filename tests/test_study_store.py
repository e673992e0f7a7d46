"""The run directory: atomic writes leave old-or-new (never half) files, a cell is finished only once its
JSON is complete, and a directory is resumed only with the settings it was made with."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dpmi.study import store as store_module
from dpmi.atomic_files import atomic_write_json
from dpmi.study.store import RunStore, json_safe


def _record(level="eps3", seed=1):
    return {"level": {"key": level}, "seed": seed, "test_accuracy": 0.5}


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_json(path, {"version": 1})

    def crash(src, dst):
        raise KeyboardInterrupt  # Ctrl-C between writing the temporary file and moving it into place

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"version": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"version": 1}
    assert os.listdir(tmp_path) == ["results.json"]  # the temporary file was removed too


def test_cell_is_finished_only_when_its_json_is_complete(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare({"epochs": 30}, {"config": {}})
    assert not store.finished("eps3", 1)
    images = np.random.default_rng(0).normal(size=(4, 112, 92)).astype(np.float32)
    store.save_cell(_record(), images)
    assert store.finished("eps3", 1)
    assert store.load_cell("eps3", 1)["test_accuracy"] == 0.5
    np.testing.assert_array_equal(store.load_reconstructions("eps3", 1), images)
    # A truncated JSON (say, from a copy that was cut short) does not count as finished.
    store.cell_json("eps3", 1).write_text('{"level": {"key": "eps3"}, "se')
    assert not store.finished("eps3", 1)
    # Reconstructions without a JSON: not finished either (the JSON is written last).
    store.save_cell(_record(seed=2), images)
    store.cell_json("eps3", 2).unlink()
    assert not store.finished("eps3", 2)


def test_resume_requires_the_same_settings(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare({"epochs": 30, "model": "softmax"}, {"config": {}})
    store.prepare({"epochs": 30, "model": "softmax"}, {"config": {}})  # same settings: fine
    with pytest.raises(ValueError, match=r"different settings: --epochs / \[train\] epochs \(was 30, now 10\)"):
        store.prepare({"epochs": 10, "model": "softmax"}, {"config": {}})


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a run")
    with pytest.raises(ValueError, match="is a file"):
        RunStore(target).prepare({}, {})
    assert target.read_text() == "not a run"


def test_json_safe_turns_numpy_and_nan_into_json():
    value = json_safe({"a": np.float32(0.5), "b": np.array([1.0, np.nan]), "c": np.int64(3), "d": np.array(["x"])})
    assert value == {"a": 0.5, "b": [1.0, None], "c": 3, "d": ["x"]}
    json.dumps(value, allow_nan=False)
