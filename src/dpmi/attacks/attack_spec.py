"""What an attack is: the `Attack` and `AttackResult` protocols, `AttackSpec` (a registered attack), and
`declare_attack`, the decorator a module of attacks uses to declare them without importing the registry
(`dpmi.attacks.registry` registers the built-in module's declarations when first asked: no import circle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class AttackResult(Protocol):
    """What every attack's `invert(labels)` returns (row k reconstructs `labels[k]`).

    images: float tensor [K, C, H, W], in the model's input range.
    labels: int64 tensor [K].
    confidence: float numpy array [K], the target's softmax probability of `labels[k]` at `images[k]`.
    summary(): scalar diagnostics (str -> float) recorded with the metrics, e.g. mean iterations.
    """

    images: torch.Tensor
    labels: torch.Tensor

    @property
    def confidence(self) -> np.ndarray: ...

    def summary(self) -> dict[str, float]: ...


@runtime_checkable
class Attack(Protocol):
    """A built attack against one target model."""

    def invert(self, labels: Sequence[int]) -> AttackResult: ...


AttackFactory = Callable[..., Attack]


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack.

    Attributes:
        name: registry name ("mi-face", "pca-prior", "gmi", ...).
        factory: `factory(model, *, public, input_shape, device, **options) -> Attack`.
        defaults: every option the attack takes, with its default value (its best measured setting).
        needs_public: True when the attack learns a prior from the attacker's public faces.
        summary: one line for listings and the report.
        reference: the paper(s) it follows.
        help: option name -> one line explaining it (for --help and the report).
        quick: caps on numeric options for smoke runs (`dpmi run --quick`): each option is set to
            min(its value, the cap), so a smoke run shows the shape of the result in seconds, not the attack's
            full strength.
        access: what the attack needs of the target (`dpmi.attacks.access.ACCESS_LEVELS`): "white-box" (the
            module and its gradients), "scores" (a score vector per queried image) or "labels" (the top class).
    """

    name: str
    factory: AttackFactory
    defaults: Mapping[str, Any]
    needs_public: bool
    summary: str
    reference: str
    help: Mapping[str, str] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    access: str = "white-box"


def make_spec(
    name: str,
    factory: AttackFactory,
    *,
    defaults: Mapping[str, Any],
    needs_public: bool,
    summary: str,
    reference: str,
    help: Mapping[str, str] | None = None,
    quick: Mapping[str, Any] | None = None,
    access: str = "white-box",
) -> AttackSpec:
    """An `AttackSpec`, checked (ValueError for an unknown access level)."""
    from dpmi.attacks.access import ACCESS_LEVELS

    if access not in ACCESS_LEVELS:
        raise ValueError(f"attack {name!r}: access must be one of {', '.join(ACCESS_LEVELS)}, got {access!r}")
    return AttackSpec(
        name, factory, dict(defaults), needs_public, summary, reference, dict(help or {}), dict(quick or {}), access
    )


def declare_attack(name: str, **settings: Any) -> Callable[[AttackFactory], AttackFactory]:
    """Decorator: attach `make_spec(name, factory, **settings)` to the factory as `factory.attack_spec`, for
    the registry to register (used by `dpmi.attacks.builtin`; a plugin calls `register_attack` instead)."""

    def decorate(factory: AttackFactory) -> AttackFactory:
        factory.attack_spec = make_spec(name, factory, **settings)  # type: ignore[attr-defined]
        return factory

    return decorate
