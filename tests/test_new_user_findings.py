"""Issue 23's open findings of a new user, one test each (names, flags, fingerprints, compare, progress)."""

from __future__ import annotations

import pytest

from dpmi.study.config import make_config
from dpmi.study.store import RunStore


def _fingerprint(**overrides):
    return make_config(**overrides).cell_fingerprint()


def test_refused_resume_names_flags_and_toml_keys_not_internal_keys(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare(_fingerprint(), {"config": {}})
    store.release_lock()
    changed = _fingerprint(
        attack_options={"mi-face": {"max_iter": 7}}, audit_canaries=50, epochs=5, attacks=("mi-face", "pca-prior")
    )
    changed["images_sha256"] = "0" * 64
    with pytest.raises(ValueError) as refused:
        store.prepare(changed, {"config": {}})
    text = str(refused.value)
    for internal in ("attack_options", "audit_canaries,", "images_sha256", "(epochs"):
        assert internal not in text, text
    assert "--epochs / [train] epochs (was 30, now 5)" in text
    assert "--attack-option mi-face.max_iter / [attack.mi-face] max_iter (was " in text and "now 7)" in text
    assert "[audit] canaries (was 1000, now 50)" in text or "--audit-canaries" in text
    assert "the faces at --data / [data] root" in text
