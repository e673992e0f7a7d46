"""Reading a study TOML file: one table per StudyConfig section, `[attack.NAME]` tables for attack options.

Anything else (an unknown table or key) is a ValueError that names it and lists what is valid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from dpmi.study.config.sections import SETTINGS


def _layout() -> dict[str, dict[str, str]]:
    layout: dict[str, dict[str, str]] = {}
    for name, s in SETTINGS.items():
        if s.kind != "options":
            layout.setdefault(s.section, {})[s.key] = name
    return layout


# TOML table -> {key: flat setting name}, derived from the sections (the attack option tables are subtables).
TOML_LAYOUT: dict[str, dict[str, str]] = _layout()


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a study TOML file into {flat setting name: value} (not yet coerced or validated).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid TOML, or an unknown table/key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist (pass --config a study TOML file)")
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"config file {path} cannot be read: {exc}") from exc
    values: dict[str, Any] = {}
    for table, body in document.items():
        if table not in TOML_LAYOUT or not isinstance(body, dict):
            raise ValueError(
                f"config file {path}: unknown section [{table}]; sections are "
                + ", ".join(f"[{s}]" for s in TOML_LAYOUT)
            )
        for key, value in body.items():
            if table == "attack" and isinstance(value, dict):  # [attack.NAME] option table
                values.setdefault("attack_options", {})[key] = dict(value)
                continue
            if key not in TOML_LAYOUT[table]:
                hint = " (attack options go in a table [attack.NAME])" if table == "attack" else ""
                raise ValueError(
                    f"config file {path}: unknown key {key!r} in [{table}]; valid keys: "
                    + ", ".join(TOML_LAYOUT[table])
                    + hint
                )
            values[TOML_LAYOUT[table][key]] = value
    return values
