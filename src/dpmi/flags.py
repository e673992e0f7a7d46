"""Command-line flags from dataclass field metadata: the one mechanism behind every `dpmi` command's options.

A command's options are a dataclass; each field a user sets from the command line is declared with
`option(default, flag, help, ...)`, which stores a `Flag` in the field's metadata. `StudyConfig` keeps its
own metadata (`dpmi.study.config.Setting`, which also says the TOML place); both are read here:

    add_arguments(parser, TrainOptions)                # one argparse argument per field
    options = TrainOptions(**values(args, TrainOptions))
    raise in_flag_terms(error, TrainOptions)            # "batch_size must be ..." -> "--batch-size must be ..."

Options of a plugin (an attack's KEY=VALUE, a study's NAME.KEY=VALUE) are read by `parse_option`, the only
parser of such pairs, and typed like the option's default by `typed_like`. Nothing here imports more than
the standard library, so building a light command's parser stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FLAG_KEY = "flag"  # metadata key of a `Flag`
SETTING_KEY = "setting"  # metadata key of a study `Setting` (dpmi.study.config.setting)
SECTION_KEY = "section"  # metadata key of a StudyConfig field that holds a section of Settings


@dataclass(frozen=True)
class Flag:
    """How one dataclass field appears on the command line.

    flag: the option ("--batch-size"), or a positional argument's name in capitals ("MODEL").
    help: one line for --help (or a callable giving it when the parser is built); the default is appended
        as " (default X)" unless the line already speaks of a default.
    kind: how the text is read: bool (a switch; the default for a bool default), str, int, float, floats /
        ints / strs (comma-separated; '' or 'none' is empty), labels ('all' or identities like 0,11,39 or
        0-7), size (HxW or N pixels), options (repeated KEY=VALUE, collected into a dict).
    choices: allowed values, or a callable giving them when the parser is built (a registry's names, so a
        plugin loaded before shows up). group: the argument group's title. exclusive: fields sharing this
        key are mutually exclusive. optional: a positional that may be left out. aliases: more option strings.
    """

    flag: str
    help: str | Callable[[], str]
    kind: str = "str"
    metavar: str | None = None
    group: str | None = None
    exclusive: str | None = None
    optional: bool = False
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None


def option(
    default: Any,
    flag: str,
    help: str | Callable[[], str],
    *,
    kind: str | None = None,
    factory: Callable[[], Any] | None = None,
    **settings: Any,
) -> Any:
    """A dataclass field that is a flag: `epochs: int = option(30, "--epochs", "passes over the data", kind="int")`.

    kind defaults to "bool" for a bool default, else "str". `factory` (instead of `default`) is called for the
    default, so a default read from elsewhere is looked up only when the options are built.
    """
    kind = kind or ("bool" if isinstance(default, bool) else "str")
    meta = {FLAG_KEY: Flag(flag, help, kind, **settings)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


DATA_HELP = "the AT&T faces or any DIR/<identity>/<image> folder (default $DPMI_DATA, else the cache)"
RESIZE_HELP = "resize every image to height x width, e.g. 64x64 (Pillow, bilinear)"


def data_option(help: str = DATA_HELP) -> Any:
    """The `--data DIR` field of a command that loads faces."""
    return option(None, "--data", help, metavar="DIR")


def image_size_option(help: str = RESIZE_HELP + " (default: as stored, all one size)") -> Any:
    """The `--image-size HxW` field (None: as stored) of a command that loads faces; read as (height, width)."""
    return option(None, "--image-size", help, kind="size", metavar="HxW")


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _flags(options: type) -> list[tuple[str, dataclasses.Field, Flag]]:
    """(destination, field, Flag) of every field of `options` that is a flag. A StudyConfig section field is
    walked into: each of its Settings becomes a Flag whose destination is the setting's flat name and whose
    group is the section."""
    found = []
    for f in dataclasses.fields(options):
        if FLAG_KEY in f.metadata:
            found.append((f.name, f, f.metadata[FLAG_KEY]))
        elif SECTION_KEY in f.metadata:
            for inner in dataclasses.fields(f.default_factory):  # type: ignore[arg-type]
                s = inner.metadata[SETTING_KEY]
                if s.flag:
                    kind = {"path": "str", "int?": "int", "options": "study-options"}.get(s.kind, s.kind)
                    flag = Flag(s.flag, s.help, kind, s.metavar, f.metadata[SECTION_KEY], choices=s.choices)
                    found.append((s.name, inner, flag))
    return found


def add_arguments(
    parser: argparse.ArgumentParser,
    options: type,
    *,
    given_only: bool = False,
    titles: dict[str, str] | None = None,
    skip: Sequence[str] = (),
) -> None:
    """Add one argument per flag field of dataclass `options` (but those named in `skip`) to `parser`.

    given_only: every argparse default is None ("not given", so a config file's value can stand) while --help
    shows the field's default. titles: group key -> title (a Setting's section -> its group's title).
    """
    groups: dict[str | None, Any] = {None: parser}
    exclusive: dict[str, Any] = {}
    for name, f, flag in _flags(options):
        if name in skip:
            continue
        title = (titles or {}).get(str(flag.group), flag.group)
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        target = groups[title]
        if flag.exclusive is not None:
            if flag.exclusive not in exclusive:
                exclusive[flag.exclusive] = target.add_mutually_exclusive_group()
            target = exclusive[flag.exclusive]
        default = _default(f)
        negate = flag.kind == "bool" and _negated(f)
        text = flag.help() if callable(flag.help) else flag.help
        text = _help_with_default(text, default, flag, given_only, negate, name)
        kwargs: dict[str, Any] = {"help": text.replace("%", "%%"), "default": None if given_only else default}
        if not flag.flag.startswith("-"):  # a positional argument: its field is its dest
            if flag.optional:
                kwargs["nargs"] = "?"
            else:
                kwargs.pop("default")
            target.add_argument(name, metavar=flag.flag, **kwargs)
            continue
        names = (flag.flag, *flag.aliases)
        if flag.kind == "bool":
            target.add_argument(*names, dest=name, action="store_false" if negate else "store_true", **kwargs)
            continue
        if flag.kind in ("options", "study-options"):
            kwargs["default"] = None
            reader = parse_option if flag.kind == "options" else _named_option
            target.add_argument(*names, dest=name, action="append", type=reader, metavar=flag.metavar, **kwargs)
            continue
        choices = flag.choices() if callable(flag.choices) else flag.choices
        target.add_argument(
            *names,
            dest=name,
            type=_reader(flag.kind),
            metavar=flag.metavar,
            choices=None if choices is None else tuple(choices),
            required=flag.required,
            **kwargs,
        )


def _negated(f: dataclasses.Field) -> bool:
    setting = f.metadata.get(SETTING_KEY)
    return bool(getattr(setting, "negate", False))


def _help_with_default(text: str, default: Any, flag: Flag, given_only: bool, negate: bool, name: str) -> str:
    if given_only:  # the study's way: "(default: X)", bool switches "(default: off)"
        if flag.kind == "bool":
            return text if negate else text + " (default: off)"
        if flag.kind == "study-options" or default in (None, ()) or name == "attacks":
            return text
        return f"{text} (default: {shown(default)})"
    if "default" in text or default is None or isinstance(default, bool) or flag.kind == "options":
        return text
    return f"{text} (default {shown(default)})"


def values(args: argparse.Namespace, options: type) -> dict[str, Any]:
    """{field: parsed value} of every flag field of `options` found in `args`.

    Repeated KEY=VALUE options become a dict; a study's NAME.KEY=VALUE options become {NAME: {KEY: VALUE}}.
    """
    found: dict[str, Any] = {}
    for name, _, flag in _flags(options):
        if not hasattr(args, name):
            continue
        value = getattr(args, name)
        if flag.kind == "options" and value is not None:
            value = dict(value)
        elif flag.kind == "study-options" and value:
            tables: dict[str, dict[str, Any]] = {}
            for table, key, item in value:
                tables.setdefault(table, {})[key] = item
            value = tables
        elif flag.kind == "study-options":
            value = None
        found[name] = value
    return found


def from_args(options: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The dataclass `options` built from the parsed `args` (and `extra` fields that are no flags)."""
    return options(**values(args, options), **extra)


def in_flag_terms(error: ValueError, options: type) -> ValueError:
    """ "batch_size must be ..." -> "--batch-size must be ...": a field named at the start becomes its flag."""
    text = str(error)
    name = text.split(" ", 1)[0]
    flags = {name: flag.flag for name, _, flag in _flags(options) if flag.flag.startswith("-")}
    return ValueError(flags[name] + text[len(name) :]) if name in flags else error


def shown(value: Any) -> str:
    """A default as a user would type it: 0.001,0.01 for a list, 1e-05 for a float, 'none' for an empty list."""
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ------------------------------------------------------------------------------------------ value readers
def _reader(kind: str) -> Callable[[str], Any]:
    simple: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}
    if kind in simple:
        return simple[kind]
    if kind in ("ints", "floats", "strs"):
        return lambda text: _list(kind, text)
    readers: dict[str, Callable[[str], Any]] = {"labels": _labels, "size": read_size}
    if kind not in readers:
        raise ValueError(f"unknown flag kind {kind!r}")
    return readers[kind]


def _list(kind: str, text: str) -> tuple[Any, ...]:
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


def _labels(text: str) -> list[int] | None:
    """'all' -> None; '0,11,39' -> [0, 11, 39]; '0-7' -> [0..7]."""
    if text.strip().lower() == "all":
        return None
    labels: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                low, high = part.split("-", 1)
                labels.extend(range(int(low), int(high) + 1))
            else:
                labels.append(int(part))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected 'all' or identities like 0,11,39 or 0-7, got {text!r}") from exc
    return labels


def read_size(text: str) -> tuple[int, int]:
    """HxW (height x width) or N (square)."""
    try:
        size = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        size = ()
    size = size * 2 if len(size) == 1 else size
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH or N (pixels >= 1), got {text!r}")
    return (size[0], size[1])


# -------------------------------------------------------------------------------- KEY=VALUE plugin options
def parse_option(text: str) -> tuple[str, Any]:
    """'max_iter=100' -> ('max_iter', 100): the value read as TOML reads it (100 an int, 0.1 a float, true a
    bool, [1, 2] a list), a bare word as a string. Dashes in KEY become underscores."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    head, sep, raw = text.partition("=")
    key = head.strip().replace("-", "_")
    if not (sep and key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. max_iter=100), got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: a string
    return key, value


def _named_option(text: str) -> tuple[str, str, Any]:
    """'mi-face.max_iter=100' -> ('mi-face', 'max_iter', 100) (the study's --attack-option)."""
    name, dot, rest = text.partition(".")
    if not (dot and name.strip() and "=" in rest and rest.partition("=")[0].strip()):
        raise argparse.ArgumentTypeError(f"expected NAME.KEY=VALUE (e.g. mi-face.max_iter=100), got {text!r}")
    key, value = parse_option(rest)
    return name.strip(), rest.partition("=")[0].strip(), value


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def typed_like(default: Any, value: Any) -> Any:
    """`value` (as `parse_option` read it) in the type of the option's `default`; ValueError when it has none.

    A bool takes true/false, yes/no, on/off, 1/0; an int an integer; a float any number; else as read.
    """
    if isinstance(default, bool):
        word = str(value).strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(f"expected true or false, got {value!r}")
        return word in _TRUE
    try:
        if isinstance(default, int) and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected an integer, got {value!r}")
            return int(value)
        if isinstance(default, float) and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a number like {default!r}, got {value!r}") from exc
    if isinstance(default, str) and not isinstance(value, str):
        return str(value)
    return value
