"""The defenses by name: one file per defense (its `SPEC`) plus one registration line in `_register_builtins`,
or a plugin module calling `DEFENSES.register("name", spec)`."""

from __future__ import annotations

from dpmi.defenses.base import DefenseSpec
from dpmi.registry import Registry


def _register_builtins() -> None:
    """The built-in defenses, in report order (one line each)."""
    from dpmi.defenses import bido, dp_sgd, early_stop, label_smoothing, mid, none, tl_dmi

    for module in (none, dp_sgd, early_stop, label_smoothing, mid, bido, tl_dmi):
        DEFENSES.register(module.SPEC.name, module.SPEC, summary=module.SPEC.summary)


DEFENSES: Registry[DefenseSpec] = Registry("defense", loader=_register_builtins)


def check_defense(name: str, strength: object = None, *, private: bool = False) -> tuple[DefenseSpec, float]:
    """(spec, strength) for defense `name` at `strength` (None: its default), trained with DP-SGD when
    `private`. ValueError naming the cause: an unknown defense, a strength outside its range, or a defense that
    does not compose with DP-SGD (with why). What a CLI checks before creating anything."""
    spec = DEFENSES.get(name)
    value = spec.check_strength(strength)
    if private and not spec.composes_with_dp:
        raise ValueError(f"defense {spec.name!r} does not compose with DP-SGD: {spec.why_not_dp}")
    return spec, value
