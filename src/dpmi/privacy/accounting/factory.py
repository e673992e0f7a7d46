"""Accountant by name, for configs and the CLI."""

from __future__ import annotations

from .base import Accountant
from .pld_accountant import PLDAccountant
from .rdp_accountant import RDPAccountant

ACCOUNTANTS = ("rdp", "pld")


def make_accountant(name: str, **kwargs: object) -> Accountant:
    """A fresh accountant: "rdp" -> RDPAccountant(**kwargs), "pld" -> PLDAccountant(**kwargs) (case-insensitive)."""
    key = str(name).lower()
    if key == "rdp":
        return RDPAccountant(**kwargs)  # type: ignore[arg-type]
    if key == "pld":
        return PLDAccountant(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {name!r}")
