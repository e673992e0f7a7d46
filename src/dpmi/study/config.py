"""The study's configuration: one frozen dataclass, loaded from TOML, overridden by flags, validated.

Each `StudyConfig` field carries its own metadata (`Setting`): the TOML section and key, the `dpmi run` flag,
the help line and the kind of value. That metadata is the one source of truth: `TOML_LAYOUT`, the run
command's flags and `--help` (`dpmi.cli`) and the check messages are derived from it, and a test keeps the
repository's `study.toml` equal to the defaults.

Anything else (an unknown section or key, a value of the wrong type) is a ValueError that names it, with the
flag a command-line user would type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from dpmi.data.formats import format_choices
from dpmi.models import MODELS
from dpmi.privacy.accounting.factory import ACCOUNTANTS
from dpmi.study.executor import EXECUTORS

# The study's attacks, strongest prior last; the default is every one of them that is registered (and whose
# access is among [attack] access): the white-box ones, then the best scores-only and label-only attack
# (docs/results/access.md; gmi-bb is left out: no better than pca-prior-bb at 7x its cost).
PREFERRED_ATTACKS = ("mi-face", "pca-prior", "gmi", "pca-prior-bb", "brep-mi")
# The attacker's access levels the study runs (dpmi.attacks.access.ACCESS_LEVELS, richest first), and the
# default query budget per attacked person of the black-box levels: 2,000 images keeps the default study's
# added cost near 6 task-seconds per cell (20,000, the attacks' own default, costs ~34 s per cell: measured in
# docs/results/access.md).
STUDY_ACCESS = ("white-box", "scores", "labels")
STUDY_QUERY_BUDGET = 2000

# --quick: one seed, attacks at their registered smoke-run caps, a small recipe search: a smoke run that shows
# the shape of the result.
QUICK_SEEDS = 1
QUICK_RECIPE_LIMIT = 2  # values kept per searched recipe setting
# The default audit size (study.toml says why): sized so the default run stays in its time goal.
AUDIT_SHADOWS = 16
AUDIT_CANARIES = 1000
AUDIT_NUMBER_FIELDS = ("audit_shadows", "audit_canaries", "audit_seed")  # change an audit record's numbers


@dataclass(frozen=True)
class Setting:
    """Where a StudyConfig field lives for users.

    section/key: its TOML place (`[section] key = ...`). flag: its `dpmi run` option (None: TOML only).
    kind: the value's type for parsing and checks: int, float, bool, str, path (optional str), int?
    (optional int), ints, floats, strs (lists; a flag takes them comma-separated), options (the per-attack
    option tables). help: one line for --help. metavar: the flag's value name. negate: a bool flag that
    turns the setting off (`--no-nonprivate`).
    """

    section: str
    key: str
    flag: str | None
    kind: str
    help: str
    metavar: str | None = None
    negate: bool = False
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None


def setting(
    default: Any,
    section: str,
    key: str,
    flag: str | None,
    kind: str,
    help: str,
    metavar: str | None = None,
    negate: bool = False,
    factory: Any = None,
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None,
) -> Any:
    meta = {"setting": Setting(section, key, flag, kind, help, metavar, negate, choices)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, hash=False)
    return field(default=default, metadata=meta)


def _default_attacks(access: Sequence[str] = STUDY_ACCESS) -> tuple[str, ...]:
    from dpmi.attacks.registry import ATTACKS, available_attacks

    registered = available_attacks()
    chosen = tuple(name for name in PREFERRED_ATTACKS if name in registered and ATTACKS.get(name).access in access)
    return chosen or tuple(registered[:1])


@dataclass(frozen=True)
class StudyConfig:
    """Everything `dpmi run` needs (units and ranges in each field's help; `dpmi run --help` lists them).

    The default study: the AT&T faces, the first half of the people private (the target's) and the rest
    public (the attacker's); the tutorial's softmax model on 7 train / 3 test images per private person;
    non-private, DP-SGD at the tutorial's sigma 0.5 and DP-SGD calibrated to epsilon 8, 3, 1, each trained
    with the recipe a small search on the public people chose; every registered attack of mi-face,
    pca-prior, gmi on every private person; 3 seeds.
    """

    # [run]
    name: str | None = setting(
        None, "run", "name", "--name", "path", "run name: directory runs/NAME (default: UTC timestamp)"
    )
    out: str | None = setting(None, "run", "out", "--out", "path", "run directory (default runs/NAME)", "DIR")
    jobs: int = setting(1, "run", "jobs", "--jobs", "int", "worker processes for the cells, >= 1", "N")
    threads: int = setting(
        1,
        "run",
        "threads",
        "--threads",
        "int",
        "torch threads per process, >= 1 (cells are small: parallelise with --jobs)",
        "T",
    )
    seed: int = setting(0, "run", "seed", "--seed", "int", "first seed, >= 0 (cells use SEED..SEED+SEEDS-1)", "S")
    seeds: int = setting(3, "run", "seeds", "--seeds", "int", "seeds per privacy level, >= 1", "N")
    quick: bool = setting(
        False,
        "run",
        "quick",
        "--quick",
        "bool",
        f"smoke run: {QUICK_SEEDS} seed, every attack at its smoke-run caps (fewer steps and restarts), "
        "a small recipe search",
    )
    device: str = setting("cpu", "run", "device", "--device", "str", "torch device: cpu, cuda, cuda:N or mps")
    executor: str = setting(
        "local",
        "run",
        "executor",
        "--executor",
        "str",
        "where cells run: local (this process for --jobs 1, else --jobs worker processes) or "
        "ray (Ray tasks of --threads CPUs each; pip install 'dpmi[ray]')",
        choices=EXECUTORS.names,  # read when the parser is built: a plugin's executor is a choice
    )
    ray_address: str | None = setting(
        None,
        "run",
        "ray_address",
        "--ray-address",
        "path",
        "Ray cluster to join (host:port, ray://host:port or auto; default: a local "
        "Ray on this machine); needs --executor ray",
        "ADDRESS",
    )
    # [data]
    data: str | None = setting(
        None,
        "data",
        "root",
        "--data",
        "path",
        "faces directory: the AT&T faces or any identity folder DIR/<person>/<image> "
        "(default: $DPMI_DATA, else the AT&T cache)",
        "DIR",
    )
    data_format: str = setting(
        "auto",
        "data",
        "format",
        "--data-format",
        "str",
        "how to read --data: att (the AT&T layout), folder (one sub-folder per person: "
        "PNG, JPEG, PGM, ...), auto (att when it holds AT&T images, else folder)",
        choices=format_choices,
    )
    image_size: tuple[int, int] | None = setting(
        None,
        "data",
        "image_size",
        "--image-size",
        "size",
        "resize every image to height x width (bilinear, with Pillow), e.g. 64x64 or 64; in TOML "
        '"64x64" or [64, 64] (default: as stored, all one size)',
        "HxW",
    )
    public_root: str | None = setting(
        None,
        "data",
        "public_root",
        "--public",
        "path",
        "the attacker's public people from this second identity folder (resized "
        "to the private images); every person of --data is then private "
        "(default: a split of --data's people)",
        "DIR",
    )
    train_per_class: int = setting(
        7,
        "data",
        "train_per_class",
        "--train-per-class",
        "int",
        "training images per private person; the rest are held out",
        "K",
    )
    split_seed: int = setting(0, "data", "split_seed", "--split-seed", "int", "seed of the train/test split", "S")
    private_identities: tuple[int, ...] = setting(
        (),
        "data",
        "private",
        "--private-people",
        "ints",
        "the target's people by position in the folder from 0 (AT&T: 0 is s1); [] = the first half, or "
        "every person not public",
        "LIST",
    )
    public_identities: tuple[int, ...] = setting(
        (),
        "data",
        "public",
        "--public-people",
        "ints",
        "the attacker's people by position from 0, disjoint from private; [] = every person not private",
        "LIST",
    )
    # [train]: the base recipe (fixed-sigma levels, and every level when the search is off)
    model: str = setting(
        "softmax",
        "train",
        "model",
        "--model",
        "str",
        f"target model: {', '.join(MODELS)}, or your own as pkg.module:factory (called with "
        "num_classes and input_shape (C, H, W), returning an nn.Module that outputs logits)",
    )
    epochs: int = setting(30, "train", "epochs", "--epochs", "int", "passes over the training set, >= 1")
    batch_size: int = setting(
        40,
        "train",
        "batch_size",
        "--batch-size",
        "int",
        "lot size (expected Poisson batch when private), 1..training set size",
        "B",
    )
    lr: float = setting(0.01, "train", "lr", "--lr", "float", "SGD learning rate, > 0")
    momentum: float = setting(0.9, "train", "momentum", "--momentum", "float", "SGD momentum in [0, 1)")
    max_grad_norm: float = setting(
        1.0, "train", "max_grad_norm", "--clip", "float", "per-example clipping norm C, > 0", "C"
    )
    # [recipe]: the per-level search on the public people
    recipe_search: bool = setting(
        True,
        "recipe",
        "search",
        "--no-recipe-search",
        "bool",
        "turn the recipe search off: every level trains with the base recipe (on: each "
        "level's recipe is chosen by a search on the public people, at no privacy cost)",
        negate=True,
    )
    recipe_lr: tuple[float, ...] = setting(
        (0.01, 0.03, 0.1), "recipe", "lr", "--search-lr", "floats", "learning rates tried", "LIST"
    )
    recipe_epochs: tuple[int, ...] = setting(
        (30, 60), "recipe", "epochs", "--search-epochs", "ints", "epoch counts tried", "LIST"
    )
    recipe_batch_size: tuple[int, ...] = setting(
        (40, 70), "recipe", "batch_size", "--search-batch-size", "ints", "lot sizes tried", "LIST"
    )
    recipe_clip: tuple[float, ...] = setting(
        (0.5, 2.0), "recipe", "clip", "--search-clip", "floats", "clipping norms tried (private levels)", "LIST"
    )
    # [privacy]
    nonprivate: bool = setting(
        True, "privacy", "nonprivate", "--no-nonprivate", "bool", "leave out the non-private level", negate=True
    )
    noise_multipliers: tuple[float, ...] = setting(
        (0.5,),
        "privacy",
        "noise_multipliers",
        "--sigmas",
        "floats",
        "fixed DP-SGD noise multipliers, one level each, trained with the base recipe ('none': no such level)",
        "LIST",
    )
    target_epsilons: tuple[float, ...] = setting(
        (8.0, 3.0, 1.0),
        "privacy",
        "target_epsilons",
        "--epsilons",
        "floats",
        "DP-SGD levels calibrated to these epsilons ('none': no such level)",
        "LIST",
    )
    delta: float = setting(1e-5, "privacy", "delta", "--delta", "float", "DP delta in (0, 1)")
    accountant: str = setting(
        "rdp",
        "privacy",
        "accountant",
        "--accountant",
        "str",
        "accountant that calibrates sigma (both epsilons are reported)",
        choices=lambda: tuple(ACCOUNTANTS),
    )
    # [attack]
    attacks: tuple[str, ...] = setting(
        None,
        "attack",
        "names",
        "--attacks",
        "strs",
        "attacks run on every cell, in this order (default: those of "
        f"{', '.join(PREFERRED_ATTACKS)} that are registered)",
        "LIST",
        factory=_default_attacks,
    )
    access: tuple[str, ...] = setting(
        STUDY_ACCESS,
        "attack",
        "access",
        "--access",
        "strs",
        "the attacker's access levels, each running the attacks that declare it: white-box (gradients), "
        "scores (a score vector per query), labels (the top class per query)",
        "LIST",
    )
    query_budget: int | None = setting(
        STUDY_QUERY_BUDGET,
        "attack",
        "query_budget",
        "--query-budget",
        "int?",
        "queries (images) per attacked person for the scores and labels attacks, >= 1 (an [attack.NAME] "
        "query_budget overrides it)",
        "N",
    )
    attack_options: Mapping[str, Mapping[str, Any]] = setting(
        None,
        "attack",
        "<name>",
        "--attack-option",
        "options",
        "one attack's option, NAME.KEY=VALUE (repeatable); in TOML a table [attack.NAME]",
        "NAME.KEY=VALUE",
        factory=dict,
    )
    # [defense]
    defenses: tuple[str, ...] = setting(
        ("early-stop", "label-smoothing", "mid"),
        "defense",
        "names",
        "--defenses",
        "strs",
        "model-inversion defenses trained beside the privacy levels, NAME or NAME:STRENGTH (dpmi.defenses: "
        "early-stop = non-private, stopped early to match each DP-SGD level's accuracy; label-smoothing, mid, "
        "bido, tl-dmi at their default strength unless given; 'none' and 'dp-sgd' are the [privacy] levels; "
        "'none' alone: no defense levels)",
        "LIST",
    )
    identities: int | None = setting(
        None,
        "attack",
        "identities",
        "--identities",
        "int?",
        "attack the first K private people (default: all of them)",
        "K",
    )
    # [report]
    grid_identities: int | None = setting(
        None,
        "report",
        "grid_identities",
        "--grid-identities",
        "int?",
        "people in the reconstruction grid (default: 8, at most --identities)",
        "K",
    )
    shareable: bool = setting(
        False, "report", "shareable", "--shareable", "bool", "also write report_shareable.html, without the real faces"
    )
    # [audit]: the privacy audit of each level's target after the cells (dpmi.study.audit_phase)
    audit_enabled: bool = setting(
        True,
        "audit",
        "enabled",
        "--no-audit",
        "bool",
        "skip the privacy audit (on: each audited level's first-seed target gets LiRA "
        "and, for the softmax model, the one-run canary audit; off in --quick)",
        negate=True,
    )
    audit_shadows: int = setting(
        AUDIT_SHADOWS, "audit", "shadows", "--audit-shadows", "int", "LiRA shadow models per audited level, >= 2", "K"
    )
    audit_canaries: int = setting(
        AUDIT_CANARIES,
        "audit",
        "canaries",
        "--audit-canaries",
        "int",
        "canaries of the white-box one-run audit (softmax model, private levels); 0: skip it",
        "M",
    )
    audit_levels: tuple[str, ...] = setting(
        ("all",),
        "audit",
        "levels",
        "--audit-levels",
        "strs",
        "level keys to audit (e.g. nonprivate,eps8) or all",
        "LIST",
    )
    audit_seed: int = setting(
        0,
        "audit",
        "seed",
        "--audit-seed",
        "int",
        "seed of the audit's own randomness (shadow subsets, canaries), >= 0",
        "S",
    )

    def cell_seeds(self) -> list[int]:
        """The seeds every privacy level is run with."""
        return list(range(self.seed, self.seed + self.seeds))

    def options_for(self, attack: str) -> dict[str, Any]:
        """`attack`'s resolved options: its registered defaults updated by this config's table."""
        from dpmi.attacks.registry import resolve_options

        return resolve_options(attack, dict(self.attack_options.get(attack, {})))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (tuples become lists, the option tables plain dicts)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = {k: dict(v) for k, v in value.items()}
            values[f.name] = value
        return values

    # Fields that do not change a cell's numbers: a run directory resumes whatever they are.
    # The data's own fields (data, data_format, public_root) are here like `data` always was: which pixels a
    # run used is recorded in results.json's provenance; the public folder's pixels are added to the fingerprint
    # by the runner when one is given.
    NON_CELL_FIELDS = (
        "defenses",  # a defense level's key names the defense and strength: cells of other levels do not change
        "name",
        "out",
        "jobs",
        "threads",
        "seeds",
        "quick",
        "device",
        "data",
        "grid_identities",
        "shareable",
        "executor",
        "ray_address",
        "data_format",
        "public_root",
    )

    def cell_fingerprint(self) -> dict[str, Any]:
        """The settings a finished cell depends on (everything but NON_CELL_FIELDS; attack options resolved)."""
        values = {k: v for k, v in self.to_dict().items() if k not in self.NON_CELL_FIELDS}
        values["attack_options"] = {name: self.options_for(name) for name in self.attacks}
        for name in ("audit_enabled", "audit_levels", *(() if self.audit_enabled else AUDIT_NUMBER_FIELDS)):
            values.pop(name, None)  # which levels are audited, and whether, leave every saved number as it is
        return values


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(StudyConfig)}
SETTINGS: dict[str, Setting] = {name: f.metadata["setting"] for name, f in FIELDS.items()}

# TOML section -> {key: field}, derived from the fields' metadata (the attack option tables are subtables).
TOML_LAYOUT: dict[str, dict[str, str]] = {}
for _name, _setting in SETTINGS.items():
    if _setting.kind != "options":
        TOML_LAYOUT.setdefault(_setting.section, {})[_setting.key] = _name


def default_of(name: str) -> Any:
    """A field's default value (calling its factory)."""
    f = FIELDS[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def where(name: str) -> str:
    """How a user sets field `name`: '--flag / [section] key'."""
    s = SETTINGS[name]
    place = f"[{s.section}] {s.key}"
    return f"{s.flag} / {place}" if s.flag else place


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a study TOML file into {field: value} (not yet validated).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid TOML, or an unknown section/key.
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
    for section, body in document.items():
        if section not in TOML_LAYOUT or not isinstance(body, dict):
            raise ValueError(
                f"config file {path}: unknown section [{section}]; sections are "
                + ", ".join(f"[{s}]" for s in TOML_LAYOUT)
            )
        for key, value in body.items():
            if section == "attack" and isinstance(value, dict):  # [attack.NAME] option table
                values.setdefault("attack_options", {})[key] = dict(value)
                continue
            if key not in TOML_LAYOUT[section]:
                hint = " (attack options go in a table [attack.NAME])" if section == "attack" else ""
                raise ValueError(
                    f"config file {path}: unknown key {key!r} in [{section}]; valid keys: "
                    + ", ".join(TOML_LAYOUT[section])
                    + hint
                )
            values[TOML_LAYOUT[section][key]] = value
    return values


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(name: str, value: Any) -> Any:
    """Check a raw value's type against the field's kind and normalise it (ints for floats, lists -> tuples)."""
    kind = SETTINGS[name].kind
    if value is None:
        if kind in ("path", "int?", "size"):
            return None
        raise ValueError(f"{name} ({where(name)}) must be set")
    if kind == "size":  # "64x64", 64 or [64, 64]: (height, width)
        return _size(name, value)
    if kind in ("floats", "ints", "strs"):
        if not isinstance(value, (list, tuple)):
            value = [value]
        if kind == "strs":
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} ({where(name)}) must be a list of names, got {value!r}")
            return tuple(value)
        if not all(_number(v) for v in value):
            raise ValueError(f"{name} ({where(name)}) must be a list of numbers, got {value!r}")
        if kind == "ints":
            if not all(float(v).is_integer() for v in value):
                raise ValueError(f"{name} ({where(name)}) must be a list of integers, got {value!r}")
            return tuple(int(v) for v in value)
        return tuple(float(v) for v in value)
    if kind == "options":
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            raise ValueError(f"attack options must be tables [attack.NAME] of key = value, got {value!r}")
        return {str(k): dict(v) for k, v in value.items()}
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} ({where(name)}) must be true or false, got {value!r}")
        return value
    if kind in ("int", "int?"):
        if not _number(value) or not float(value).is_integer() or isinstance(value, float):
            raise ValueError(f"{name} ({where(name)}) must be an integer, got {value!r}")
        return int(value)
    if kind == "float":
        if not _number(value):
            raise ValueError(f"{name} ({where(name)}) must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} ({where(name)}) must be a string, got {value!r}")  # noqa: TRY004 (one CLI line)
    return value


def _size(name: str, value: Any) -> tuple[int, int]:
    """An image size setting as (height, width): "HxW" or "N" text, an integer, or a [height, width] list."""
    import argparse

    from dpmi.flags import read_size

    if isinstance(value, str):
        try:
            return read_size(value)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"{name} ({where(name)}): {exc}") from exc
    size = [value] * 2 if _number(value) else list(value) if isinstance(value, (list, tuple)) else []
    if len(size) != 2 or not all(_number(v) and float(v).is_integer() and v >= 1 for v in size):
        raise ValueError(f"{name} ({where(name)}) must be HxW, N or [height, width] (pixels >= 1), got {value!r}")
    return int(size[0]), int(size[1])


def _merge_options(base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]):
    merged = {k: dict(v) for k, v in base.items()}
    for name, options in extra.items():
        merged.setdefault(name, {}).update(options)
    return merged


def make_config(file: str | os.PathLike[str] | None = None, **overrides: Any) -> StudyConfig:
    """Defaults, then the TOML `file`, then `overrides` (flags; None means "not given"), then --quick, validated.

    Attack option overrides are merged into the file's tables (a flag changes one option, not the table).
    """
    values: dict[str, Any] = {}
    if file is not None:
        values.update(load_config_file(file))
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted((set(values) | set(given)) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown study setting(s): {', '.join(unknown)}")
    if "attack_options" in given:
        given["attack_options"] = _merge_options(
            _coerce("attack_options", values.get("attack_options", {})),
            _coerce("attack_options", given["attack_options"]),
        )
    values.update(given)
    config = StudyConfig(**{k: _coerce(k, v) for k, v in values.items()})
    if "attacks" not in values:  # the default attacks: those of the chosen access levels
        config = dataclasses.replace(config, attacks=_default_attacks(config.access))
    if config.quick:
        config = quicken(config)
    validate(config)
    return config


def quicken(config: StudyConfig) -> StudyConfig:
    """The --quick version of `config`: one seed, every attack at its registered smoke-run caps
    (`AttackSpec.quick`, e.g. MI-FACE at most 100 iterations), the first values of each recipe search list."""
    from dpmi.attacks.registry import attack_spec, resolve_options

    options = {k: dict(v) for k, v in config.attack_options.items()}
    for name in config.attacks:
        try:
            current = resolve_options(name, options.get(name, {}))
            caps = attack_spec(name).quick
        except ValueError:
            continue  # an unknown attack or option is reported by validate()
        for key, cap in caps.items():
            if isinstance(current[key], (int, float)) and not isinstance(current[key], bool):
                options.setdefault(name, {})[key] = min(current[key], cap)
    return dataclasses.replace(
        config,
        seeds=min(config.seeds, QUICK_SEEDS),
        attack_options=options,
        recipe_lr=config.recipe_lr[: QUICK_RECIPE_LIMIT + 1],
        recipe_epochs=config.recipe_epochs[:1],
        recipe_batch_size=config.recipe_batch_size[:1],
        recipe_clip=config.recipe_clip[:QUICK_RECIPE_LIMIT],
        audit_enabled=False,
    )


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_device(device: str) -> None:
    """Raise ValueError if `device` names an accelerator this torch cannot use."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested, but this torch has no usable CUDA device: use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested, but it is not available here: use --device cpu")


def validate(config: StudyConfig) -> None:
    """Raise ValueError naming the first setting outside its range and the flag / TOML key that sets it.

    Checks that need the data (identities against the number of people, batch sizes against the training
    set) are in `validate_against_data`.
    """
    w = where
    checks: list[tuple[bool, str]] = [
        (config.jobs >= 1, f"jobs must be >= 1 ({w('jobs')}), got {config.jobs}"),
        (config.threads >= 1, f"threads must be >= 1 ({w('threads')}), got {config.threads}"),
        (
            config.device == "cpu" or config.device.startswith(("cuda", "mps")),
            f"device must be cpu, cuda, cuda:N or mps ({w('device')}), got {config.device!r}",
        ),
        (config.seed >= 0, f"seed must be >= 0 ({w('seed')}), got {config.seed}"),
        (config.seeds >= 1, f"seeds (the number of seeds per level) must be >= 1 ({w('seeds')}), got {config.seeds}"),
        (
            config.train_per_class >= 1,
            (f"train_per_class must be >= 1 ({w('train_per_class')}), got {config.train_per_class}"),
        ),
        (config.split_seed >= 0, f"split_seed must be >= 0 ({w('split_seed')}), got {config.split_seed}"),
        (config.audit_shadows >= 2, f"audit_shadows must be >= 2 ({w('audit_shadows')}), got {config.audit_shadows}"),
        (
            config.audit_canaries >= 0,
            f"audit_canaries must be >= 0 ({w('audit_canaries')}), got {config.audit_canaries}",
        ),
        (config.audit_seed >= 0, f"audit_seed must be >= 0 ({w('audit_seed')}), got {config.audit_seed}"),
        (
            config.model in MODELS or ":" in config.model,
            f"unknown model {config.model!r} ({w('model')}): choose one of {', '.join(sorted(MODELS))}, or your own "
            "as pkg.module:factory",
        ),
        (
            config.executor in EXECUTORS,
            f"executor must be one of {', '.join(EXECUTORS.names())} ({w('executor')}), got {config.executor!r}",
        ),
        (
            config.ray_address is None or config.executor == "ray",
            f"ray_address ({w('ray_address')}) needs the Ray executor ({w('executor')} ray)",
        ),
        (
            config.data_format in format_choices(),
            f"data format must be one of {', '.join(format_choices())} ({w('data_format')}), got {config.data_format!r}",
        ),
        (
            config.public_root is None or not config.public_identities,
            (
                f"give the attacker's people either as a second folder ({w('public_root')}) or as people of the data "
                f"({w('public_identities')}), not both"
            ),
        ),
        (config.epochs >= 1, f"epochs must be >= 1 ({w('epochs')}), got {config.epochs}"),
        (config.batch_size >= 1, f"batch_size must be >= 1 ({w('batch_size')}), got {config.batch_size}"),
        (_finite(config.lr) and config.lr > 0, f"lr must be > 0 ({w('lr')}), got {config.lr}"),
        (
            _finite(config.momentum) and 0 <= config.momentum < 1,
            f"momentum must be in [0, 1) ({w('momentum')}), got {config.momentum}",
        ),
        (
            _finite(config.max_grad_norm) and config.max_grad_norm > 0,
            f"max_grad_norm (the clipping norm) must be > 0 ({w('max_grad_norm')}), got {config.max_grad_norm}",
        ),
        (
            all(_finite(s) and s > 0 for s in config.noise_multipliers),
            f"noise multipliers (sigma) must be > 0 ({w('noise_multipliers')}), got {list(config.noise_multipliers)}",
        ),
        (
            all(_finite(e) and e > 0 for e in config.target_epsilons),
            f"target epsilons must be > 0 ({w('target_epsilons')}), got {list(config.target_epsilons)}",
        ),
        (_finite(config.delta) and 0 < config.delta < 1, f"delta must be in (0, 1) ({w('delta')}), got {config.delta}"),
        (
            config.accountant in ACCOUNTANTS,
            f"accountant must be one of {', '.join(ACCOUNTANTS)} ({w('accountant')}), got {config.accountant!r}",
        ),
        (
            config.identities is None or config.identities >= 1,
            f"identities must be >= 1 ({w('identities')}), got {config.identities}",
        ),
        (
            config.grid_identities is None or config.grid_identities >= 1,
            f"grid_identities must be >= 1 ({w('grid_identities')}), got {config.grid_identities}",
        ),
        (
            config.identities is None or config.grid_identities is None or config.grid_identities <= config.identities,
            (
                f"grid_identities must be in 1..{config.identities} (the attacked people, --identities) "
                f"({w('grid_identities')}), got {config.grid_identities}"
            ),
        ),
        (
            bool(config.nonprivate or config.noise_multipliers or config.target_epsilons),
            (
                "no privacy level to run: drop --no-nonprivate, or give --sigmas / --epsilons "
                "([privacy] nonprivate, noise_multipliers, target_epsilons)"
            ),
        ),
        (
            config.name is None
            or (config.name.strip() != "" and "/" not in config.name and config.name not in (".", "..")),
            f"name must be a non-empty directory name without '/' ({w('name')}), got {config.name!r}",
        ),
        (len(config.attacks) > 0, f"no attack to run: name at least one ({w('attacks')})"),
        (
            len(set(config.attacks)) == len(config.attacks),
            (f"attacks must not repeat ({w('attacks')}), got {list(config.attacks)}"),
        ),
        (
            len(set(config.private_identities)) == len(config.private_identities)
            and len(set(config.public_identities)) == len(config.public_identities),
            f"identity lists must not repeat a person ({w('private_identities')}, {w('public_identities')})",
        ),
        (
            not set(config.private_identities) & set(config.public_identities),
            (
                f"private and public people overlap in {sorted(set(config.private_identities) & set(config.public_identities))}"
                f": an attacker's prior must never see a private person ({w('private_identities')}, "
                f"{w('public_identities')})"
            ),
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    _validate_recipe_space(config)
    _validate_attacks(config)
    defense_choices(config)
    check_device(config.device)
    if len(set(config.noise_multipliers)) != len(config.noise_multipliers) or len(set(config.target_epsilons)) != len(
        config.target_epsilons
    ):
        raise ValueError(
            "--sigmas and --epsilons must not repeat a value ([privacy] noise_multipliers, target_epsilons)"
        )


def _validate_recipe_space(config: StudyConfig) -> None:
    if not config.recipe_search:
        return
    lists = {
        "recipe_lr": config.recipe_lr,
        "recipe_epochs": config.recipe_epochs,
        "recipe_batch_size": config.recipe_batch_size,
        "recipe_clip": config.recipe_clip,
    }
    for name, values in lists.items():
        if not values:
            raise ValueError(
                f"the recipe search space is empty: {name} ({where(name)}) lists no value; give at least "
                f"one, or turn the search off ({where('recipe_search')})"
            )
        if len(set(values)) != len(values):
            raise ValueError(f"{name} ({where(name)}) repeats a value: {list(values)}")
    bad = [(name, v) for name, values in lists.items() for v in values if not (_finite(v) and v > 0)]
    if bad:
        name, value = bad[0]
        raise ValueError(f"recipe search values must be > 0: {name} ({where(name)}) has {value}")


def defense_choices(config: StudyConfig) -> list[tuple[str, float | None]]:
    """The defense levels asked for, as (registered defense, strength or None for early-stop's matched search),
    without the [privacy] levels ('none', 'dp-sgd'). ValueError naming an unknown defense, a strength outside its
    range, or a defense given twice."""
    from dpmi.defenses import DEFENSES, check_defense

    out: list[tuple[str, float | None]] = []
    for entry in config.defenses:
        name, _, strength_text = str(entry).partition(":")
        if name not in DEFENSES:
            raise ValueError(
                f"unknown defense {name!r} ({where('defenses')}): choose from {', '.join(DEFENSES.names())}"
            )
        if name in ("none", "dp-sgd"):  # the [privacy] levels: nonprivate, noise_multipliers, target_epsilons
            continue
        if name == "early-stop":
            if strength_text:
                raise ValueError(
                    f"early-stop takes no strength in {where('defenses')}: its epochs are searched on the public "
                    "people to match each DP-SGD level's accuracy"
                )
            out.append((name, None))
            continue
        try:
            strength = float(strength_text) if strength_text else None
        except ValueError:
            raise ValueError(f"defense {entry!r} ({where('defenses')}): STRENGTH must be a number") from None
        _, resolved = check_defense(name, strength, private=False)
        out.append((name, float(resolved)))
    if len(set(out)) != len(out):
        raise ValueError(f"{where('defenses')} repeats a defense: {list(config.defenses)}")
    return out


def _validate_attacks(config: StudyConfig) -> None:
    """Every attack is registered and every option table belongs to an attack that is run and takes it."""
    from dpmi.attacks.access import ACCESS_LEVELS
    from dpmi.attacks.registry import attack_spec, available_attacks, resolve_options

    registered = available_attacks()
    for name in config.attacks:
        if name not in registered:
            raise ValueError(f"unknown attack {name!r} ({where('attacks')}): choose from {', '.join(registered)}")
    for level in config.access:
        if level not in ACCESS_LEVELS:
            raise ValueError(
                f"unknown access level {level!r} ({where('access')}): choose from {', '.join(ACCESS_LEVELS)}"
            )
    if not config.access or len(set(config.access)) != len(config.access):
        raise ValueError(
            f"access must name each level at most once and at least one ({where('access')}), got {list(config.access)}"
        )
    for name in config.attacks:
        needs = attack_spec(name).access
        if needs not in config.access:
            raise ValueError(
                f"attack {name!r} needs {needs} access, which is not among the study's access levels "
                f"{', '.join(config.access)} ({where('access')}): add {needs}, or drop the attack ({where('attacks')})"
            )
    if config.query_budget is not None and config.query_budget < 1:
        raise ValueError(
            f"query_budget must be >= 1 query per person ({where('query_budget')}), got {config.query_budget}"
        )
    for name, options in config.attack_options.items():
        if name not in registered:
            raise ValueError(
                f"options given for unknown attack {name!r} ([attack.{name}] / --attack-option "
                f"{name}.KEY=VALUE): attacks are {', '.join(registered)}"
            )
        resolve_options(name, options)  # ValueError naming an option of another attack


def validate_against_data(config: StudyConfig, *, private_people: int, train_size: int) -> None:
    """The checks that need the data: identities within the private people, lot sizes within the training set."""
    if config.identities is not None and config.identities > private_people:
        raise ValueError(
            f"identities must be in 1..{private_people} (the private people) ({where('identities')}), "
            f"got {config.identities}"
        )
    limit = train_size
    sizes = [("batch_size", config.batch_size)]
    if config.recipe_search:
        sizes += [("recipe_batch_size", b) for b in config.recipe_batch_size]
    for name, value in sizes:
        if not 1 <= value <= limit:
            raise ValueError(
                f"{name} must be in 1..{limit} (the private training set size) ({where(name)}), got {value}"
            )


def attacked_identities(config: StudyConfig, private_people: int) -> int:
    """How many private people are attacked: --identities, else all of them."""
    return private_people if config.identities is None else config.identities


def grid_identities(config: StudyConfig, attacked: int) -> int:
    """People drawn in the grid: --grid-identities, else 8, never more than are attacked."""
    return min(attacked, 8) if config.grid_identities is None else min(config.grid_identities, attacked)
