"""`dpmi run`'s flags and the config-file part of its --help, derived from `StudyConfig`'s field metadata (the
one source of truth for each default, flag, TOML key and help line) by `dpmi.flags`, the mechanism every
command's flags come from.

    add_study_arguments(parser)          # one flag per StudyConfig field that has one
    make_config(args.config, **study_overrides(args))
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from dpmi.flags import add_arguments, values
from dpmi.study.config import FIELDS, SETTINGS, TOML_LAYOUT, StudyConfig

GROUPS = {
    "run": "run",
    "data": "data: the faces and who is private",
    "train": "base training recipe",
    "recipe": "recipe search (on the public people)",
    "privacy": "privacy levels",
    "attack": "attacks",
    "defense": "model-inversion defenses",
    "report": "report",
    "audit": "privacy audit (after the cells)",
}


def add_study_arguments(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """Add one flag per StudyConfig field that has one (but those in `skip`, declared by the caller); every
    flag's default is None ("not given"), while --help shows the field's default."""
    add_arguments(parser, StudyConfig, given_only=True, titles=GROUPS, skip=skip)


def study_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """{field: value} of the flags given (None for those not given), ready for `make_config`."""
    return values(args, StudyConfig)


def config_sections_help() -> str:
    """The config-file part of `dpmi run --help`: every section and its keys (= TOML_LAYOUT)."""
    width = max(len(section) for section in TOML_LAYOUT) + 2
    lines = [f"  [{section}]".ljust(width + 3) + " " + ", ".join(keys) for section, keys in TOML_LAYOUT.items()]
    lines.append(
        "  [attack.NAME]".ljust(width + 3) + " one table per attack: its options (`dpmi attack --help` lists them)"
    )
    return "\n".join(lines)


assert set(FIELDS) == set(SETTINGS)
