"""The study's settings, one frozen dataclass per study.toml table, each checking its own values.

`RunSettings` is [run], `DataSettings` [data], and so on; `StudyConfig` (dpmi.study.config.study_config) holds
one of each. A section's `check()` raises ValueError naming the first value outside its range and the flag /
TOML key that sets it; checks that need two sections are StudyConfig's, checks that need the data are
`validate_against_data`'s. Registries (models, accountants, executors, data formats, attacks, defenses) are
read only inside checks and choices, so importing the schema stays light.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dpmi.study.config.setting import SETTING_KEY, Setting, setting

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
# The default audit size (study.toml says why): sized so the default run stays in its time goal.
AUDIT_SHADOWS = 16
AUDIT_CANARIES = 1000
# --quick: one seed, attacks at their registered smoke-run caps, a small recipe search: a smoke run that shows
# the shape of the result.
QUICK_SEEDS = 1
QUICK_RECIPE_LIMIT = 2  # values kept per searched recipe setting


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fail_first(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _executor_names() -> tuple[str, ...]:
    from dpmi.study.executor import EXECUTORS

    return tuple(EXECUTORS.names())


def _format_names() -> tuple[str, ...]:
    from dpmi.data.formats import format_choices

    return tuple(format_choices())


def _accountant_names() -> tuple[str, ...]:
    from dpmi.privacy.accounting.factory import ACCOUNTANTS

    return tuple(ACCOUNTANTS)


def _model_help() -> str:
    from dpmi.models import MODELS

    return (
        f"target model: {', '.join(MODELS)}, or your own as pkg.module:factory (called with num_classes and "
        "input_shape (C, H, W), returning an nn.Module that outputs logits)"
    )


def default_attacks(access: Sequence[str] = STUDY_ACCESS) -> tuple[str, ...]:
    """The study's default attacks for these access levels: those of PREFERRED_ATTACKS that are registered and
    need one of them (else the first registered attack)."""
    from dpmi.attacks.registry import ATTACKS, available_attacks

    registered = available_attacks()
    chosen = tuple(name for name in PREFERRED_ATTACKS if name in registered and ATTACKS.get(name).access in access)
    return chosen or tuple(registered[:1])


def check_device(device: str) -> None:
    """Raise ValueError if `device` names an accelerator this torch cannot use."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested, but this torch has no usable CUDA device: use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested, but it is not available here: use --device cpu")


@dataclass(frozen=True)
class RunSettings:
    """[run]: where and how the cells run. Only seed and seeds change a number."""

    name: str | None = setting(None, "name", "--name", "path", "run name: directory runs/NAME (default: UTC timestamp)")
    out: str | None = setting(None, "out", "--out", "path", "run directory (default runs/NAME)", "DIR")
    jobs: int = setting(1, "jobs", "--jobs", "int", "worker processes for the cells, >= 1", "N")
    threads: int = setting(
        1,
        "threads",
        "--threads",
        "int",
        "torch threads per process, >= 1 (cells are small: parallelise with --jobs)",
        "T",
    )
    seed: int = setting(0, "seed", "--seed", "int", "first seed, >= 0 (cells use SEED..SEED+SEEDS-1)", "S")
    seeds: int = setting(3, "seeds", "--seeds", "int", "seeds per privacy level, >= 1", "N")
    quick: bool = setting(
        False,
        "quick",
        "--quick",
        "bool",
        f"smoke run: {QUICK_SEEDS} seed, every attack at its smoke-run caps (fewer steps and restarts), "
        "a small recipe search",
    )
    device: str = setting("cpu", "device", "--device", "str", "torch device: cpu, cuda, cuda:N or mps")
    executor: str = setting(
        "local",
        "executor",
        "--executor",
        "str",
        "where cells run: local (this process for --jobs 1, else --jobs worker processes) or "
        "ray (Ray tasks of --threads CPUs each; pip install 'dpmi[ray]')",
        choices=_executor_names,  # read when the parser is built: a plugin's executor is a choice
    )
    ray_address: str | None = setting(
        None,
        "ray_address",
        "--ray-address",
        "path",
        "Ray cluster to join (host:port, ray://host:port or auto; default: a local "
        "Ray on this machine); needs --executor ray",
        "ADDRESS",
    )

    def check(self) -> None:
        w = where
        _fail_first(
            [
                (self.jobs >= 1, f"jobs must be >= 1 ({w('jobs')}), got {self.jobs}"),
                (self.threads >= 1, f"threads must be >= 1 ({w('threads')}), got {self.threads}"),
                (
                    self.device == "cpu" or self.device.startswith(("cuda", "mps")),
                    f"device must be cpu, cuda, cuda:N or mps ({w('device')}), got {self.device!r}",
                ),
                (self.seed >= 0, f"seed must be >= 0 ({w('seed')}), got {self.seed}"),
                (
                    self.seeds >= 1,
                    f"seeds (the number of seeds per level) must be >= 1 ({w('seeds')}), got {self.seeds}",
                ),
                (
                    self.executor in _executor_names(),
                    f"executor must be one of {', '.join(_executor_names())} ({w('executor')}), got {self.executor!r}",
                ),
                (
                    self.ray_address is None or self.executor == "ray",
                    f"ray_address ({w('ray_address')}) needs the Ray executor ({w('executor')} ray)",
                ),
                (
                    self.name is None
                    or (self.name.strip() != "" and "/" not in self.name and self.name not in (".", "..")),
                    f"name must be a non-empty directory name without '/' ({w('name')}), got {self.name!r}",
                ),
            ]
        )
        check_device(self.device)


@dataclass(frozen=True)
class DataSettings:
    """[data]: the faces, and which people are private (the target's) or public (the attacker's)."""

    root: str | None = setting(
        None,
        "data",
        "--data",
        "path",
        "faces directory: the AT&T faces or any identity folder DIR/<person>/<image> "
        "(default: $DPMI_DATA, else the AT&T cache)",
        "DIR",
    )
    format: str = setting(
        "auto",
        "data_format",
        "--data-format",
        "str",
        "how to read --data: att (the AT&T layout), folder (one sub-folder per person: "
        "PNG, JPEG, PGM, ...), auto (att when it holds AT&T images, else folder)",
        choices=_format_names,
    )
    image_size: tuple[int, int] | None = setting(
        None,
        "image_size",
        "--image-size",
        "size",
        "resize every image to height x width (bilinear, with Pillow), e.g. 64x64 or 64; in TOML "
        '"64x64" or [64, 64] (default: as stored, all one size)',
        "HxW",
    )
    public_root: str | None = setting(
        None,
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
        "train_per_class",
        "--train-per-class",
        "int",
        "training images per private person; the rest are held out",
        "K",
    )
    split_seed: int = setting(0, "split_seed", "--split-seed", "int", "seed of the train/test split", "S")
    private: tuple[int, ...] = setting(
        (),
        "private_identities",
        "--private-people",
        "ints",
        "the target's people by position in the folder from 0 (AT&T: 0 is s1); [] = the first half, or "
        "every person not public",
        "LIST",
    )
    public: tuple[int, ...] = setting(
        (),
        "public_identities",
        "--public-people",
        "ints",
        "the attacker's people by position from 0, disjoint from private; [] = every person not private",
        "LIST",
    )

    def check(self) -> None:
        w = where
        overlap = sorted(set(self.private) & set(self.public))
        _fail_first(
            [
                (
                    self.train_per_class >= 1,
                    f"train_per_class must be >= 1 ({w('train_per_class')}), got {self.train_per_class}",
                ),
                (self.split_seed >= 0, f"split_seed must be >= 0 ({w('split_seed')}), got {self.split_seed}"),
                (
                    self.format in _format_names(),
                    f"data format must be one of {', '.join(_format_names())} ({w('data_format')}), "
                    f"got {self.format!r}",
                ),
                (
                    self.public_root is None or not self.public,
                    f"give the attacker's people either as a second folder ({w('public_root')}) or as people of "
                    f"the data ({w('public_identities')}), not both",
                ),
                (
                    len(set(self.private)) == len(self.private) and len(set(self.public)) == len(self.public),
                    f"identity lists must not repeat a person ({w('private_identities')}, {w('public_identities')})",
                ),
                (
                    not overlap,
                    f"private and public people overlap in {overlap}: an attacker's prior must never see a private "
                    f"person ({w('private_identities')}, {w('public_identities')})",
                ),
            ]
        )


@dataclass(frozen=True)
class TrainSettings:
    """[train]: the base recipe (fixed-sigma levels, and every level when the search is off)."""

    model: str = setting("softmax", "model", "--model", "str", _model_help)
    epochs: int = setting(30, "epochs", "--epochs", "int", "passes over the training set, >= 1")
    batch_size: int = setting(
        40,
        "batch_size",
        "--batch-size",
        "int",
        "lot size (expected Poisson batch when private), 1..training set size",
        "B",
    )
    lr: float = setting(0.01, "lr", "--lr", "float", "SGD learning rate, > 0")
    momentum: float = setting(0.9, "momentum", "--momentum", "float", "SGD momentum in [0, 1)")
    max_grad_norm: float = setting(1.0, "max_grad_norm", "--clip", "float", "per-example clipping norm C, > 0", "C")

    def check(self) -> None:
        from dpmi.models import MODELS

        w = where
        _fail_first(
            [
                (
                    self.model in MODELS or ":" in self.model,
                    f"unknown model {self.model!r} ({w('model')}): choose one of {', '.join(sorted(MODELS))}, or "
                    "your own as pkg.module:factory",
                ),
                (self.epochs >= 1, f"epochs must be >= 1 ({w('epochs')}), got {self.epochs}"),
                (self.batch_size >= 1, f"batch_size must be >= 1 ({w('batch_size')}), got {self.batch_size}"),
                (_finite(self.lr) and self.lr > 0, f"lr must be > 0 ({w('lr')}), got {self.lr}"),
                (
                    _finite(self.momentum) and 0 <= self.momentum < 1,
                    f"momentum must be in [0, 1) ({w('momentum')}), got {self.momentum}",
                ),
                (
                    _finite(self.max_grad_norm) and self.max_grad_norm > 0,
                    f"max_grad_norm (the clipping norm) must be > 0 ({w('max_grad_norm')}), got {self.max_grad_norm}",
                ),
            ]
        )


@dataclass(frozen=True)
class RecipeSettings:
    """[recipe]: the per-level recipe search on the public people (no privacy cost)."""

    search: bool = setting(
        True,
        "recipe_search",
        "--no-recipe-search",
        "bool",
        "turn the recipe search off: every level trains with the base recipe (on: each "
        "level's recipe is chosen by a search on the public people, at no privacy cost)",
        negate=True,
    )
    lr: tuple[float, ...] = setting(
        (0.01, 0.03, 0.1), "recipe_lr", "--search-lr", "floats", "learning rates tried", "LIST"
    )
    epochs: tuple[int, ...] = setting(
        (30, 60), "recipe_epochs", "--search-epochs", "ints", "epoch counts tried", "LIST"
    )
    batch_size: tuple[int, ...] = setting(
        (40, 70), "recipe_batch_size", "--search-batch-size", "ints", "lot sizes tried", "LIST"
    )
    clip: tuple[float, ...] = setting(
        (0.5, 2.0), "recipe_clip", "--search-clip", "floats", "clipping norms tried (private levels)", "LIST"
    )

    def check(self) -> None:
        if not self.search:
            return
        lists = {"recipe_lr": self.lr, "recipe_epochs": self.epochs, "recipe_batch_size": self.batch_size}
        lists["recipe_clip"] = self.clip
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


@dataclass(frozen=True)
class PrivacySettings:
    """[privacy]: the privacy levels (non-private, fixed sigmas, calibrated epsilons) and their accounting."""

    nonprivate: bool = setting(
        True, "nonprivate", "--no-nonprivate", "bool", "leave out the non-private level", negate=True
    )
    noise_multipliers: tuple[float, ...] = setting(
        (0.5,),
        "noise_multipliers",
        "--sigmas",
        "floats",
        "fixed DP-SGD noise multipliers, one level each, trained with the base recipe ('none': no such level)",
        "LIST",
    )
    target_epsilons: tuple[float, ...] = setting(
        (8.0, 3.0, 1.0),
        "target_epsilons",
        "--epsilons",
        "floats",
        "DP-SGD levels calibrated to these epsilons ('none': no such level)",
        "LIST",
    )
    delta: float = setting(1e-5, "delta", "--delta", "float", "DP delta in (0, 1)")
    accountant: str = setting(
        "rdp",
        "accountant",
        "--accountant",
        "str",
        "accountant that calibrates sigma (both epsilons are reported)",
        choices=_accountant_names,
    )

    def check(self) -> None:
        w = where
        _fail_first(
            [
                (
                    all(_finite(s) and s > 0 for s in self.noise_multipliers),
                    f"noise multipliers (sigma) must be > 0 ({w('noise_multipliers')}), got "
                    f"{list(self.noise_multipliers)}",
                ),
                (
                    all(_finite(e) and e > 0 for e in self.target_epsilons),
                    f"target epsilons must be > 0 ({w('target_epsilons')}), got {list(self.target_epsilons)}",
                ),
                (
                    _finite(self.delta) and 0 < self.delta < 1,
                    f"delta must be in (0, 1) ({w('delta')}), got {self.delta}",
                ),
                (
                    self.accountant in _accountant_names(),
                    f"accountant must be one of {', '.join(_accountant_names())} ({w('accountant')}), got "
                    f"{self.accountant!r}",
                ),
                (
                    bool(self.nonprivate or self.noise_multipliers or self.target_epsilons),
                    "no privacy level to run: drop --no-nonprivate, or give --sigmas / --epsilons "
                    "([privacy] nonprivate, noise_multipliers, target_epsilons)",
                ),
                (
                    len(set(self.noise_multipliers)) == len(self.noise_multipliers)
                    and len(set(self.target_epsilons)) == len(self.target_epsilons),
                    "--sigmas and --epsilons must not repeat a value ([privacy] noise_multipliers, target_epsilons)",
                ),
            ]
        )


@dataclass(frozen=True)
class AttackSettings:
    """[attack] and its [attack.NAME] option tables: which attacks run, with which options, on whom."""

    names: tuple[str, ...] = setting(
        None,
        "attacks",
        "--attacks",
        "strs",
        "attacks run on every cell, in this order (default: those of "
        f"{', '.join(PREFERRED_ATTACKS)} that are registered)",
        "LIST",
        factory=default_attacks,
    )
    access: tuple[str, ...] = setting(
        STUDY_ACCESS,
        "access",
        "--access",
        "strs",
        "the attacker's access levels, each running the attacks that declare it: white-box (gradients), "
        "scores (a score vector per query), labels (the top class per query)",
        "LIST",
    )
    query_budget: int | None = setting(
        STUDY_QUERY_BUDGET,
        "query_budget",
        "--query-budget",
        "int?",
        "queries (images) per attacked person for the scores and labels attacks, >= 1 (an [attack.NAME] "
        "query_budget overrides it)",
        "N",
    )
    options: Mapping[str, Mapping[str, Any]] = setting(
        None,
        "attack_options",
        "--attack-option",
        "options",
        "one attack's option, NAME.KEY=VALUE (repeatable); in TOML a table [attack.NAME]",
        "NAME.KEY=VALUE",
        factory=dict,
    )
    identities: int | None = setting(
        None, "identities", "--identities", "int?", "attack the first K private people (default: all of them)", "K"
    )

    def options_for(self, attack: str) -> dict[str, Any]:
        """`attack`'s resolved options: its registered defaults updated by this section's table."""
        from dpmi.attacks.registry import resolve_options

        return resolve_options(attack, dict(self.options.get(attack, {})))

    def check(self) -> None:
        """Every attack is registered, none repeats, and every option table belongs to a registered attack that
        takes its keys."""
        from dpmi.attacks.access import ACCESS_LEVELS
        from dpmi.attacks.registry import attack_spec, available_attacks, resolve_options

        w = where
        _fail_first(
            [
                (
                    self.identities is None or self.identities >= 1,
                    f"identities must be >= 1 ({w('identities')}), got {self.identities}",
                ),
                (len(self.names) > 0, f"no attack to run: name at least one ({w('attacks')})"),
                (
                    len(set(self.names)) == len(self.names),
                    f"attacks must not repeat ({w('attacks')}), got {list(self.names)}",
                ),
            ]
        )
        registered = available_attacks()
        for name in self.names:
            if name not in registered:
                raise ValueError(f"unknown attack {name!r} ({w('attacks')}): choose from {', '.join(registered)}")
        for level in self.access:
            if level not in ACCESS_LEVELS:
                raise ValueError(
                    f"unknown access level {level!r} ({w('access')}): choose from {', '.join(ACCESS_LEVELS)}"
                )
        if not self.access or len(set(self.access)) != len(self.access):
            raise ValueError(
                f"access must name each level at most once and at least one ({w('access')}), got {list(self.access)}"
            )
        for name in self.names:
            needs = attack_spec(name).access
            if needs not in self.access:
                raise ValueError(
                    f"attack {name!r} needs {needs} access, which is not among the study's access levels "
                    f"{', '.join(self.access)} ({w('access')}): add {needs}, or drop the attack ({w('attacks')})"
                )
        if self.query_budget is not None and self.query_budget < 1:
            raise ValueError(
                f"query_budget must be >= 1 query per person ({w('query_budget')}), got {self.query_budget}"
            )
        for name, options in self.options.items():
            if name not in registered:
                raise ValueError(
                    f"options given for unknown attack {name!r} ([attack.{name}] / --attack-option "
                    f"{name}.KEY=VALUE): attacks are {', '.join(registered)}"
                )
            resolve_options(name, options)  # ValueError naming an option of another attack


@dataclass(frozen=True)
class DefenseSettings:
    """[defense]: the model-inversion defenses trained beside the privacy levels."""

    names: tuple[str, ...] = setting(
        ("early-stop", "label-smoothing", "mid"),
        "defenses",
        "--defenses",
        "strs",
        "model-inversion defenses trained beside the privacy levels, NAME or NAME:STRENGTH (dpmi.defenses: "
        "early-stop = non-private, stopped early to match each DP-SGD level's accuracy; label-smoothing, mid, "
        "bido, tl-dmi at their default strength unless given; 'none' and 'dp-sgd' are the [privacy] levels; "
        "'none' alone: no defense levels)",
        "LIST",
    )
    require_matched_baseline: bool = setting(
        False,
        "require_matched_baseline",
        "--require-matched-baseline",
        "bool",
        "stop before the run (one error line) when a DP-SGD level has no early-stopped model within 5 accuracy "
        "points on some seed (off: the frontier says so for that level)",
    )

    def choices(self) -> list[tuple[str, float | None]]:
        """The defense levels asked for, as (registered defense, strength or None for early-stop's matched
        search), without the [privacy] levels ('none', 'dp-sgd'). ValueError naming an unknown defense, a
        strength outside its range, or a defense given twice."""
        from dpmi.defenses import DEFENSES, check_defense

        out: list[tuple[str, float | None]] = []
        for entry in self.names:
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
                        f"early-stop takes no strength in {where('defenses')}: its epochs are searched on the "
                        "public people to match each DP-SGD level's accuracy"
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
            raise ValueError(f"{where('defenses')} repeats a defense: {list(self.names)}")
        return out

    def check(self) -> None:
        self.choices()


@dataclass(frozen=True)
class ReportSettings:
    """[report]: what the report shows."""

    grid_identities: int | None = setting(
        None,
        "grid_identities",
        "--grid-identities",
        "int?",
        "people in the reconstruction grid (default: 8, at most --identities)",
        "K",
    )
    shareable: bool = setting(
        False, "shareable", "--shareable", "bool", "also write report_shareable.html, without the real faces"
    )

    def check(self) -> None:
        if self.grid_identities is not None and self.grid_identities < 1:
            raise ValueError(f"grid_identities must be >= 1 ({where('grid_identities')}), got {self.grid_identities}")


@dataclass(frozen=True)
class AuditSettings:
    """[audit]: the privacy audit of each level's target after the cells (dpmi.study.audit_phase)."""

    enabled: bool = setting(
        True,
        "audit_enabled",
        "--no-audit",
        "bool",
        "skip the privacy audit (on: each audited level's first-seed target gets LiRA "
        "and, for the softmax model, the one-run canary audit; off in --quick)",
        negate=True,
    )
    shadows: int = setting(
        AUDIT_SHADOWS, "audit_shadows", "--audit-shadows", "int", "LiRA shadow models per audited level, >= 2", "K"
    )
    canaries: int = setting(
        AUDIT_CANARIES,
        "audit_canaries",
        "--audit-canaries",
        "int",
        "canaries of the white-box one-run audit (softmax model, private levels); 0: skip it",
        "M",
    )
    levels: tuple[str, ...] = setting(
        ("all",), "audit_levels", "--audit-levels", "strs", "level keys to audit (e.g. nonprivate,eps8) or all", "LIST"
    )
    seed: int = setting(
        0,
        "audit_seed",
        "--audit-seed",
        "int",
        "seed of the audit's own randomness (shadow subsets, canaries), >= 0",
        "S",
    )

    def check(self) -> None:
        w = where
        _fail_first(
            [
                (self.shadows >= 2, f"audit_shadows must be >= 2 ({w('audit_shadows')}), got {self.shadows}"),
                (self.canaries >= 0, f"audit_canaries must be >= 0 ({w('audit_canaries')}), got {self.canaries}"),
                (self.seed >= 0, f"audit_seed must be >= 0 ({w('audit_seed')}), got {self.seed}"),
            ]
        )


# TOML table -> its section class, in study.toml's order.
SECTIONS: dict[str, type] = {
    "run": RunSettings,
    "data": DataSettings,
    "train": TrainSettings,
    "recipe": RecipeSettings,
    "privacy": PrivacySettings,
    "attack": AttackSettings,
    "defense": DefenseSettings,
    "report": ReportSettings,
    "audit": AuditSettings,
}


def _index() -> tuple[dict[str, Setting], dict[str, dataclasses.Field]]:
    settings: dict[str, Setting] = {}
    fields: dict[str, dataclasses.Field] = {}
    for table, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            s = dataclasses.replace(f.metadata[SETTING_KEY], section=table, key=f.name)
            if s.name in settings:
                raise RuntimeError(f"two study settings are named {s.name!r}")  # a schema bug, caught at import
            settings[s.name] = s
            fields[s.name] = f
    return settings, fields


# Flat setting name -> its Setting (section and key filled in) and its section's dataclass field.
SETTINGS, FIELDS = _index()


def where(name: str) -> str:
    """How a user sets setting `name` (a flat name): '--flag / [section] key'."""
    s = SETTINGS[name]
    place = f"[{s.section}] {s.key}"
    return f"{s.flag} / {place}" if s.flag else place


def default_of(name: str) -> Any:
    """A setting's default value (calling its factory)."""
    f = FIELDS[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default
