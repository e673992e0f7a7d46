"""Which user-facing settings differ between two cell fingerprints (`StudyConfig.cell_fingerprint`), in the words a
user types: `--epochs / [train] epochs (was 30, now 5)`, `--attack-option mi-face.max_iter / [attack.mi-face]
max_iter (was 100, now 300)`, never the internal keys (attack_options, audit_canaries, images_sha256).

Used by a refused resume (`RunStore.prepare`) and by `dpmi compare`'s note on runs made differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Fingerprint keys the runner adds that are no StudyConfig field: what the user would change to cause them.
DATA_KEYS = {
    "images_sha256": "the faces at --data / [data] root (their pixels differ)",
    "public_images_sha256": "the faces at --public / [data] public_root (their pixels differ)",
}


def _shown(value: Any, limit: int = 40) -> str:
    from dpmi.flags import shown

    if isinstance(value, Mapping):
        text = ", ".join(f"{k}={_shown(v)}" for k, v in value.items()) or "none"
    elif value is None:
        text = "default"
    elif isinstance(value, bool):
        text = "on" if value else "off"
    else:
        text = shown(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _option_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One phrase per attack option that differs, for attacks in both (an attack added or removed is `attacks`)."""
    found = []
    for attack in sorted(set(old) & set(new)):
        before, after = old[attack] or {}, new[attack] or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                found.append(
                    f"--attack-option {attack}.{key} / [attack.{attack}] {key} "
                    f"(was {_shown(before.get(key))}, now {_shown(after.get(key))})"
                )
    return found


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every setting whose value differs between fingerprint `old` and `new`, as '--flag / [section] key (was X,
    now Y)' (TOML-only settings without the flag), in the order of StudyConfig's fields; keys no setting
    knows (an older dpmi's) by their name."""
    from dpmi.study.config import FIELDS, where

    keys = [k for k in FIELDS if k in old or k in new]
    keys += sorted(k for k in set(old) | set(new) if k not in FIELDS)
    found: list[str] = []
    for key in keys:
        if old.get(key) == new.get(key):
            continue
        if key == "attack_options":
            found += _option_changes(old.get(key) or {}, new.get(key) or {})
        elif key in DATA_KEYS:
            found.append(DATA_KEYS[key])
        elif key in FIELDS:
            found.append(f"{where(key)} (was {_shown(old.get(key))}, now {_shown(new.get(key))})")
        else:
            found.append(f"{key} (a setting of another dpmi version)")
    return found
