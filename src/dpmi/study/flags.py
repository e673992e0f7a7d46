"""`dpmi run`'s flags and the config-file part of its --help, derived from `StudyConfig`'s field metadata (the
one source of truth for each default, flag, TOML key and help line).

    add_study_arguments(parser)          # one flag per StudyConfig field that has one
    make_config(args.config, **study_overrides(args))
"""

from __future__ import annotations

import argparse
from typing import Any

from dpmi.study.config import FIELDS, SETTINGS, TOML_LAYOUT, default_of

GROUPS = {
    "run": "run",
    "data": "data: the faces and who is private",
    "train": "base training recipe",
    "recipe": "recipe search (on the public people)",
    "privacy": "privacy levels",
    "attack": "attacks",
    "report": "report",
    "audit": "privacy audit (after the cells)",
}


def _list(kind: str):
    def parse(text: str):
        if text.strip().lower() in ("", "none"):
            return ()
        parts = [p.strip() for p in text.split(",")]
        try:
            if kind == "floats":
                return tuple(float(p) for p in parts)
            if kind == "ints":
                return tuple(int(p) for p in parts)
        except ValueError as exc:
            what = "integers" if kind == "ints" else "numbers"
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}") from exc
        return tuple(parts)

    return parse


def _option(text: str) -> tuple[str, str, Any]:
    """'mi-face.max_iter=100' -> ('mi-face', 'max_iter', 100); the value is read as TOML would read it."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    head, sep, raw = text.partition("=")
    name, dot, key = head.partition(".")
    if not (sep and dot and name.strip() and key.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME.KEY=VALUE (e.g. mi-face.max_iter=100), got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: a string
    return name.strip(), key.strip(), value


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per StudyConfig field that has one; every flag's default is None ("not given")."""
    groups = {section: parser.add_argument_group(title) for section, title in GROUPS.items()}
    for name, s in SETTINGS.items():
        if s.flag is None:
            continue
        group = groups[s.section]
        if s.kind == "bool":
            help_text = s.help if s.negate else s.help + " (default: off)"
            group.add_argument(
                s.flag, dest=name, action="store_false" if s.negate else "store_true", default=None, help=help_text
            )
            continue
        if s.kind == "options":
            group.add_argument(
                s.flag, dest=name, action="append", type=_option, default=None, metavar=s.metavar, help=s.help
            )
            continue
        default = default_of(name)
        shown = None if default in (None, ()) or name == "attacks" else _shown(default)
        parse = {"int": int, "int?": int, "float": float}.get(s.kind) or (
            _list(s.kind) if s.kind in ("floats", "ints", "strs") else str
        )
        group.add_argument(
            s.flag,
            dest=name,
            type=parse,
            default=None,
            metavar=s.metavar,
            choices=s.choices,
            help=s.help if shown is None else f"{s.help} (default: {shown})",
        )


def study_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """{field: value} of the flags given (None for those not given), ready for `make_config`."""
    values = {name: getattr(args, name, None) for name, s in SETTINGS.items() if s.flag is not None}
    options = values.pop("attack_options", None)
    if options:
        tables: dict[str, dict[str, Any]] = {}
        for attack, key, value in options:
            tables.setdefault(attack, {})[key] = value
        values["attack_options"] = tables
    return values


def config_sections_help() -> str:
    """The config-file part of `dpmi run --help`: every section and its keys (= TOML_LAYOUT)."""
    width = max(len(section) for section in TOML_LAYOUT) + 2
    lines = [f"  [{section}]".ljust(width + 3) + " " + ", ".join(keys) for section, keys in TOML_LAYOUT.items()]
    lines.append(
        "  [attack.NAME]".ljust(width + 3) + " one table per attack: its options (`dpmi attack --help` lists them)"
    )
    return "\n".join(lines)


assert set(FIELDS) == set(SETTINGS)
