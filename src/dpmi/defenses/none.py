"""`none`: no defense, the baseline every other defense is read against."""

from __future__ import annotations

from dpmi.defenses.base import DefenseSpec

SPEC = DefenseSpec(
    name="none",
    summary="no defense: cross-entropy on every parameter, the recipe as searched",
    reference="-",
    departs="-",
    strength=None,
)
