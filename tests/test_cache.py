"""The content-addressed artefact cache: same inputs hit, any change of input misses, and an entry that is
truncated, not a torch file, from another dpmi version or stored under another key is rebuilt, never
trusted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dpmi
from dpmi.cache import cache_key, cache_root, cached, entry_path, fingerprint_array, load_entry, store_entry


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting_build(value: float):
    calls = []

    def build():
        calls.append(1)
        return {"weights": torch.full((3,), value), "note": "built"}

    return build, calls


def test_root_follows_the_environment(cache_dir, monkeypatch):
    assert cache_root() == cache_dir
    monkeypatch.delenv("DPMI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir / "xdg"))
    assert cache_root() == cache_dir / "xdg" / "dpmi"


def test_key_depends_on_every_part_and_on_array_bytes_not_identity():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    base = cache_key("face-prior", {"images": a, "steps": 10})
    assert base == cache_key("face-prior", {"steps": 10, "images": a.copy()})  # order and copies do not matter
    changed = a.copy()
    changed[0, 0] += 1
    assert base != cache_key("face-prior", {"images": changed, "steps": 10})
    assert base != cache_key("face-prior", {"images": a, "steps": 11})
    assert base != cache_key("other-kind", {"images": a, "steps": 10})
    assert base != cache_key("face-prior", {"images": a.astype(np.int16), "steps": 10})  # dtype enters
    assert fingerprint_array(torch.from_numpy(a)) == fingerprint_array(a)


def test_unsupported_key_part_is_a_clear_error():
    with pytest.raises(TypeError, match="cache key"):
        cache_key("face-prior", {"model": object()})


def test_miss_then_hit(cache_dir):
    build, calls = counting_build(1.0)
    first, hit = cached("face-prior", {"s": 1}, build)
    assert not hit and len(calls) == 1
    second, hit = cached("face-prior", {"s": 1}, build)
    assert hit and len(calls) == 1
    assert torch.equal(first["weights"], second["weights"]) and second["note"] == "built"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other-version", "other-key", "not-a-dict"])
def test_a_damaged_or_foreign_entry_is_rebuilt(cache_dir, damage, monkeypatch):
    build, calls = counting_build(2.0)
    cached("face-prior", {"s": 2}, build)
    key = cache_key("face-prior", {"s": 2})
    path = entry_path("face-prior", key)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a torch file at all")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other-version":
        stored = torch.load(path, weights_only=True)
        stored["dpmi_version"] = "0.0.0-other"
        torch.save(stored, path)
    elif damage == "other-key":
        stored = torch.load(path, weights_only=True)
        stored["key"] = "0" * 64
        torch.save(stored, path)
    elif damage == "not-a-dict":
        torch.save([1, 2, 3], path)
    assert load_entry("face-prior", key) is None
    messages = []
    payload, hit = cached("face-prior", {"s": 2}, build, log=messages.append)
    assert not hit and len(calls) == 2 and torch.equal(payload["weights"], torch.full((3,), 2.0))
    assert messages and "rebuilding" in messages[0]
    assert load_entry("face-prior", key) is not None  # the rebuilt entry is valid again
    _, hit = cached("face-prior", {"s": 2}, build)
    assert hit and len(calls) == 2


def test_entry_written_by_another_version_is_not_read(cache_dir, monkeypatch):
    key = cache_key("face-prior", {"s": 3})
    store_entry("face-prior", key, {"x": 1})
    monkeypatch.setattr(dpmi, "__version__", "9.9.9")
    assert load_entry("face-prior", key) is None


def test_entries_holding_code_are_refused(cache_dir):
    key = cache_key("face-prior", {"s": 4})
    path = entry_path("face-prior", key)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 1, "kind": "face-prior", "key": key, "dpmi_version": dpmi.__version__,
                "payload": {"f": np.random.default_rng(0)}}, path)  # a pickled object: weights_only refuses it
    assert load_entry("face-prior", key) is None


@pytest.mark.parametrize("kind", ["", "a/b", "..", "."])
def test_kind_must_be_a_plain_name(cache_dir, kind):
    with pytest.raises(ValueError, match="plain name"):
        entry_path(kind, "0" * 64)


def test_store_leaves_no_temporary_files(cache_dir):
    store_entry("face-prior", "k" * 64, {"x": torch.zeros(2)})
    files = sorted(p.name for p in (cache_dir / "artifacts" / "face-prior").iterdir())
    assert files == ["k" * 64 + ".pt"]


def test_an_entry_failing_the_callers_check_is_rebuilt_and_overwritten(cache_dir):
    builds = []

    def build(value):
        builds.append(value)
        return {"value": value}

    cached("thing", {"a": 1}, lambda: build(1))
    payload, hit = cached("thing", {"a": 1}, lambda: build(2), valid=lambda p: p["value"] == 2)
    assert (payload["value"], hit) == (2, False)  # readable, but not what the caller needs
    payload, hit = cached("thing", {"a": 1}, lambda: build(3), valid=lambda p: p["value"] == 2)
    assert (payload["value"], hit) == (2, True) and builds == [1, 2]  # the rebuilt entry was stored
