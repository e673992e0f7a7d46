"""Building a study's config: defaults, then a TOML file, then flags, then --quick, validated; and the checks
and counts that need the data."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dpmi.study.config.coerce import coerce_setting
from dpmi.study.config.sections import QUICK_RECIPE_LIMIT, QUICK_SEEDS, SETTINGS, default_attacks, where
from dpmi.study.config.study_config import StudyConfig
from dpmi.study.config.toml_file import load_config_file


def _merge_options(
    base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    merged = {k: dict(v) for k, v in base.items()}
    for name, options in extra.items():
        merged.setdefault(name, {}).update(options)
    return merged


def make_config(file: str | os.PathLike[str] | None = None, **overrides: Any) -> StudyConfig:
    """Defaults, then the TOML `file`, then `overrides` by flat setting name (flags; None means "not given"),
    then --quick, validated.

    Attack option overrides are merged into the file's tables (a flag changes one option, not the table).
    """
    values: dict[str, Any] = {}
    if file is not None:
        values.update(load_config_file(file))
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted((set(values) | set(given)) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown study setting(s): {', '.join(unknown)}")
    if "attack_options" in given:
        given["attack_options"] = _merge_options(
            coerce_setting("attack_options", values.get("attack_options", {})),
            coerce_setting("attack_options", given["attack_options"]),
        )
    values.update(given)
    config = StudyConfig.from_settings({k: coerce_setting(k, v) for k, v in values.items()})
    if "attacks" not in values:  # the default attacks: those of the chosen access levels
        config = config.with_settings(attacks=default_attacks(config.attack.access))
    if config.run.quick:
        config = quicken(config)
    validate(config)
    return config


def quicken(config: StudyConfig) -> StudyConfig:
    """The --quick version of `config`: one seed, every attack at its registered smoke-run caps
    (`AttackSpec.quick`, e.g. MI-FACE at most 100 iterations), the first values of each recipe search list,
    no audit."""
    from dpmi.attacks.registry import attack_spec, resolve_options

    options = {k: dict(v) for k, v in config.attack.options.items()}
    for name in config.attack.names:
        try:
            current = resolve_options(name, options.get(name, {}))
            caps = attack_spec(name).quick
        except ValueError:
            continue  # an unknown attack or option is reported by validate()
        for key, cap in caps.items():
            if isinstance(current[key], (int, float)) and not isinstance(current[key], bool):
                options.setdefault(name, {})[key] = min(current[key], cap)
    recipe = config.recipe
    return config.with_settings(
        seeds=min(config.run.seeds, QUICK_SEEDS),
        attack_options=options,
        recipe_lr=recipe.lr[: QUICK_RECIPE_LIMIT + 1],
        recipe_epochs=recipe.epochs[:1],
        recipe_batch_size=recipe.batch_size[:1],
        recipe_clip=recipe.clip[:QUICK_RECIPE_LIMIT],
        audit_enabled=False,
    )


def validate(config: StudyConfig) -> None:
    """Raise ValueError naming the first setting outside its range (`StudyConfig.check`)."""
    config.check()


def defense_choices(config: StudyConfig) -> list[tuple[str, float | None]]:
    """The defense levels asked for (`DefenseSettings.choices`)."""
    return config.defense.choices()


def validate_against_data(config: StudyConfig, *, private_people: int, train_size: int) -> None:
    """The checks that need the data: identities within the private people, lot sizes within the training set."""
    identities = config.attack.identities
    if identities is not None and identities > private_people:
        raise ValueError(
            f"identities must be in 1..{private_people} (the private people) ({where('identities')}), got {identities}"
        )
    sizes = [("batch_size", config.train.batch_size)]
    if config.recipe.search:
        sizes += [("recipe_batch_size", b) for b in config.recipe.batch_size]
    for name, value in sizes:
        if not 1 <= value <= train_size:
            raise ValueError(
                f"{name} must be in 1..{train_size} (the private training set size) ({where(name)}), got {value}"
            )


def attacked_identities(config: StudyConfig, private_people: int) -> int:
    """How many private people are attacked: --identities, else all of them."""
    return private_people if config.attack.identities is None else config.attack.identities


def grid_identities(config: StudyConfig, attacked: int) -> int:
    """People drawn in the grid: --grid-identities, else 8, never more than are attacked."""
    wanted = config.report.grid_identities
    return min(attacked, 8) if wanted is None else min(wanted, attacked)
