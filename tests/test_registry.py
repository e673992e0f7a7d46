"""`dpmi.registry.Registry`: one type for every extension point (register, get, names, describe, check), and
plugins imported by module name or through the `dpmi.plugins` entry point."""

from __future__ import annotations

import sys
import textwrap

import pytest

from dpmi.registry import Registry, load_entry_point_plugins, load_plugins


def test_register_get_names_describe_and_check():
    loaded = []
    registry: Registry[int] = Registry("widget", loader=lambda: loaded.append(registry.register("builtin", 0)))
    registry.register("plugged", 7, summary="a plugged widget")
    assert loaded == [0] and registry.names() == ("builtin", "plugged")  # built-ins first, loaded once
    assert registry.get("plugged") == 7 and registry.describe()["plugged"] == "a plugged widget"
    assert "plugged" in registry and len(registry) == 2 and list(registry) == ["builtin", "plugged"]
    assert registry.entry("plugged").origin == __name__
    assert registry.check(["plugged", "builtin"]) == ("plugged", "builtin")
    with pytest.raises(ValueError, match=r"unknown widget 'nope' in --widgets: choose from builtin, plugged"):
        registry.check(["plugged", "nope"], "--widgets")
    with pytest.raises(ValueError, match="unknown widget 'nope': choose one of builtin, plugged"):
        registry.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("plugged", 8)
    registry.register("plugged", 8, replace=True)
    assert registry.get("plugged") == 8
    for bad in ("", " x", "two words"):
        with pytest.raises(ValueError, match="non-empty word"):
            registry.register(bad, 1)
    registry.unregister("plugged")
    assert registry.names() == ("builtin",)


def test_plugins_by_module_name_and_entry_point(tmp_path, monkeypatch):
    (tmp_path / "my_widgets.py").write_text(
        textwrap.dedent(
            """
            from dpmi.metrics.judge_registry import JUDGES
            import tests_registry_target
            tests_registry_target.REGISTRY.register("from-plugin", 42)
            """
        )
    )
    target = type(sys)("tests_registry_target")
    target.REGISTRY = Registry("widget")
    monkeypatch.setitem(sys.modules, "tests_registry_target", target)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugins(["my_widgets"]) == ["my_widgets"]
    assert target.REGISTRY.get("from-plugin") == 42
    with pytest.raises(ValueError, match="cannot be imported.*PYTHONPATH"):
        load_plugins(["no_such_plugin_module"])
    with pytest.raises(ValueError, match="importable module name"):
        load_plugins(["not a/module"])
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match="failed while importing: RuntimeError: boom"):
        load_plugins(["broken_plugin"])

    class Point:
        value = "my_widgets:ignored"

    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [Point()] if group == "dpmi.plugins" else [])
    assert load_entry_point_plugins() == ["my_widgets"]
