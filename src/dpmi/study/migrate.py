"""What an older dpmi wrote, upgraded to the current formats in one place.

Readers call `upgrade_results` (results.json) or `upgrade_cell` (a cell file) first and then read only the
current format. Format 1 is dpmi before attacks were a study dimension: MI-FACE only, a cell's numbers in a
flat "metrics" table, every person private, no recipe search (every cell trained with the config's base
recipe), no data provenance. Results of format 1 still render with `dpmi report`, which says they were
migrated (`StudyResults.migrated_from`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CELL_FORMAT = 2
RESULTS_VERSION = 2
# The one attack format-1 runs had, and the base recipe of a format-1 config that did not spell it out.
FORMAT1_ATTACK = "mi-face"
FORMAT1_RECIPE: dict[str, float | int] = {
    "lr": 0.01,
    "epochs": 30,
    "batch_size": 40,
    "max_grad_norm": 1.0,
    "momentum": 0.9,
}


def _version(data: Mapping[str, Any]) -> int:
    return int(data.get("format_version", 1))


def base_recipe(config: Mapping[str, Any]) -> dict[str, Any]:
    """The base recipe (a `Recipe.to_dict()`) of a config saved by flat setting name."""
    return {key: config.get(key, default) for key, default in FORMAT1_RECIPE.items()}


def upgrade_cell(data: dict[str, Any], recipe: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A cell record in the current format. `recipe`: the base recipe a format-1 cell was trained with (its
    run's config; default the format-1 defaults). ValueError for a cell newer than this dpmi reads."""
    version = _version(data)
    if version > CELL_FORMAT:
        raise ValueError(f"cell format {version} is newer than this dpmi reads ({CELL_FORMAT}): upgrade dpmi")
    if version == CELL_FORMAT:
        return data
    timings = data.get("timings") or {}
    attack = {
        "name": FORMAT1_ATTACK,
        "metrics": dict(data.get("metrics") or {}),
        "per_label": dict(data.get("per_label") or {}),
        "diagnostics": {},
        "seconds": float(timings.get("attack", 0.0)),
        "metric_seconds": float(timings.get("metrics", 0.0)),
    }
    upgraded = {k: v for k, v in data.items() if k not in ("metrics", "per_label")}
    upgraded.update(format_version=CELL_FORMAT, recipe=dict(recipe or FORMAT1_RECIPE), attacks=[attack])
    return upgraded


def upgrade_results(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """(results.json in the current format, the format it was migrated from or None). ValueError for results
    newer than this dpmi reads."""
    version = _version(data)
    if version > RESULTS_VERSION:
        raise ValueError(f"results format {version} is newer than this dpmi reads ({RESULTS_VERSION}): upgrade dpmi")
    config = dict(data["config"])
    recipe = base_recipe(config)
    cells = [upgrade_cell(dict(c), recipe) for c in data["cells"]]
    if version == RESULTS_VERSION:
        return {**data, "cells": cells}, None
    config.setdefault("attacks", [FORMAT1_ATTACK])
    recipes = [{"level_key": level["key"], "recipe": recipe, "searched": False} for level in data["levels"]]
    upgraded = {**data, "format_version": RESULTS_VERSION, "config": config, "cells": cells, "recipes": recipes}
    upgraded.update(data={"root": config.get("data")}, split={}, attack_settings={}, audits=[])
    return upgraded, version
