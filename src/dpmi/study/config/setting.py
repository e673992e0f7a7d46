"""One study setting's user-facing metadata, stored in its section field's metadata.

A setting lives at `[section] key` in study.toml (the section is the dataclass it is declared in, the key its
field name) and has a flat `name` (`audit_shadows`, `recipe_lr`, ...): the keyword `make_config` takes, the
`dpmi run` flag's destination and the key results.json and the cell fingerprint store it under. The flat names
are the stable, user-visible identity of a setting; the nested attribute (`config.audit.shadows`) is how code
reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SETTING_KEY = "setting"  # metadata key of a `Setting` (dpmi.flags reads it by this name)
SECTION_KEY = "section"  # metadata key marking a StudyConfig field that is a section (its TOML table name)


@dataclass(frozen=True)
class Setting:
    """Where a study setting lives for users.

    name: its flat name (unique over all sections). flag: its `dpmi run` option (None: TOML only). kind: the
    value's type for parsing and checks: int, float, bool, str, path (optional str), int? (optional int), ints,
    floats, strs (lists; a flag takes them comma-separated), options (the per-attack option tables). help: one
    line for --help (or a callable giving it when the parser is built). metavar: the flag's value name. negate: a bool flag that turns the setting off
    (`--no-nonprivate`). choices: allowed values, or a callable giving them when the parser is built.
    section, key: its TOML place, filled in when the sections are indexed (`dpmi.study.config.sections`).
    """

    name: str
    flag: str | None
    kind: str
    help: str | Callable[[], str]
    metavar: str | None = None
    negate: bool = False
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    section: str = ""
    key: str = ""


def setting(
    default: Any,
    name: str,
    flag: str | None,
    kind: str,
    help: str | Callable[[], str],
    metavar: str | None = None,
    negate: bool = False,
    factory: Any = None,
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None,
) -> Any:
    """A section field that is a study setting: `epochs: int = setting(30, "epochs", "--epochs", "int", "...")`."""
    meta = {SETTING_KEY: Setting(name, flag, kind, help, metavar, negate, choices)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, hash=False)
    return field(default=default, metadata=meta)


def section(cls: type, name: str) -> Any:
    """A StudyConfig field holding section `cls` (TOML table [name]), defaulting to the section's defaults."""
    return field(default_factory=cls, metadata={SECTION_KEY: name})
