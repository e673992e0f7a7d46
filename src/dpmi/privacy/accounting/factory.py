"""Accountants by name: one registration call each (`@register_accountant("rdp")`), the shape of Opacus's
`register_grad_sampler`, so a new accountant is one decorated class and configs, the CLI and `make_accountant` see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

from dpmi.registry import Registry

from .base import Accountant

# The accountant classes register themselves below their definitions (rdp_accountant, pld_accountant), which
# `dpmi.privacy.accounting` imports: the registry needs no loader.
ACCOUNTANT_REGISTRY: Registry[Callable[..., Accountant]] = Registry("accountant")

T = TypeVar("T", bound=Callable[..., Accountant])


def register_accountant(name: str, *, summary: str = "") -> Callable[[T], T]:
    """Decorator: register an accountant class (or factory) under `name` (lower case, unique).

    The factory takes keyword options only and returns an object with the `Accountant` protocol (step,
    get_epsilon, get_delta, history, state_dict, load_state_dict). `summary` is one line for `--help`.
    """
    key = str(name).lower()
    if not key or not key.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"accountant name must be a non-empty word (letters, digits, - or _), got {name!r}")

    def decorate(factory: T) -> T:
        ACCOUNTANT_REGISTRY.register(key, factory, summary=summary)
        return factory

    return decorate


def available_accountants() -> tuple[str, ...]:
    """Registered accountant names, in registration order ("rdp", "pld" built in)."""
    return ACCOUNTANT_REGISTRY.names()


def accountant_summary(name: str) -> str:
    """The one-line description an accountant was registered with."""
    return ACCOUNTANT_REGISTRY.describe()[str(name).lower()]


def make_accountant(name: str, **kwargs: Any) -> Accountant:
    """A fresh accountant registered as `name` (case-insensitive), built with `kwargs`."""
    key = str(name).lower()
    if key not in ACCOUNTANT_REGISTRY:
        raise ValueError(f"accountant must be one of {available_accountants()}, got {name!r}")
    return ACCOUNTANT_REGISTRY.get(key)(**kwargs)


def accountant_from_state(state: dict[str, Any]) -> Accountant:
    """An accountant rebuilt from its `state_dict()` (its "name" entry says which one)."""
    if not isinstance(state, dict) or "name" not in state:
        raise ValueError("an accountant state must be a dict with a 'name' entry, as state_dict() returns")
    accountant = make_accountant(str(state["name"]))
    accountant.load_state_dict(state)
    return accountant


class _RegisteredNames(Sequence[str]):
    """A live, read-only tuple-like view of the registered names (so `name in ACCOUNTANTS` sees new ones)."""

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return available_accountants()[index]

    def __len__(self) -> int:
        return len(ACCOUNTANT_REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(available_accountants())

    def __contains__(self, name: object) -> bool:
        return name in ACCOUNTANT_REGISTRY

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (tuple, list, _RegisteredNames)) else other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(available_accountants())


ACCOUNTANTS: Sequence[str] = _RegisteredNames()
