"""Model-inversion defenses as a study dimension: `DEFENSES` (a `dpmi.registry.Registry[DefenseSpec]`), one
file per defense, and `train_with_defense`, which trains a target under any of them, with or without DP-SGD.

    none | dp-sgd | early-stop | label-smoothing | mid | bido | tl-dmi

`DEFENSES.names()` lists them, `DEFENSES.get(name)` gives a spec (paper, departures, strength knob and grid,
DP-SGD composition); `check_defense(name, strength, private=...)` validates a choice (unknown name, strength out
of range, no DP-SGD composition) before anything is trained.
"""

from dpmi.defenses.base import DefenseSpec, StrengthKnob
from dpmi.defenses.registry import DEFENSES, check_defense
from dpmi.defenses.training import DefendedTraining, defended_trainer, defense_objective, train_with_defense

__all__ = [
    "DEFENSES",
    "DefendedTraining",
    "DefenseSpec",
    "StrengthKnob",
    "check_defense",
    "defended_trainer",
    "defense_objective",
    "train_with_defense",
]
