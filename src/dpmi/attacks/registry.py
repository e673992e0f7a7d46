"""One way to name, list and build every model-inversion attack.

    from dpmi.attacks import available_attacks, make_attack
    attack = make_attack("pca-prior", model, public=public_faces)
    result = attack.invert(range(20))          # result.images: [K, C, H, W] in the model's input range

An attack registers itself once with `register_attack` (the shape of Opacus's `register_grad_sampler`):
its name, its documented default options (its best measured setting), whether it needs the attacker's
public faces, and the factory that builds it. The study, the CLI and the report only ever go through
`make_attack`, `attack_spec` and `available_attacks`.
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


_REGISTRY: dict[str, AttackSpec] = {}


def register_attack(
    name: str,
    *,
    defaults: Mapping[str, Any],
    needs_public: bool,
    summary: str,
    reference: str,
    help: Mapping[str, str] | None = None,
    quick: Mapping[str, Any] | None = None,
    access: str = "white-box",
) -> Callable[[AttackFactory], AttackFactory]:
    """Decorator registering `factory(model, *, public, input_shape, device, **options)` under `name`."""

    def decorate(factory: AttackFactory) -> AttackFactory:
        if name in _REGISTRY:
            raise ValueError(f"an attack named {name!r} is already registered")
        from dpmi.attacks.access import ACCESS_LEVELS

        if access not in ACCESS_LEVELS:
            raise ValueError(f"attack {name!r}: access must be one of {', '.join(ACCESS_LEVELS)}, got {access!r}")
        _REGISTRY[name] = AttackSpec(
            name,
            factory,
            dict(defaults),
            needs_public,
            summary,
            reference,
            dict(help or {}),
            dict(quick or {}),
            access,
        )
        return factory

    return decorate


def available_attacks() -> list[str]:
    """Names of every registered attack, in registration order."""
    _load_builtins()
    return list(_REGISTRY)


def attack_spec(name: str) -> AttackSpec:
    """The registered attack `name`; ValueError listing the names when there is none."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def resolve_options(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`name`'s defaults updated by `options`; ValueError naming any option the attack does not take (and
    which other attack takes it, when one does)."""
    spec = attack_spec(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        owners = {key: [other for other in _REGISTRY if key in _REGISTRY[other].defaults] for key in unknown}
        detail = "; ".join(
            f"{key!r}" + (f" belongs to {', '.join(owners[key])}" if owners[key] else "") for key in unknown
        )
        raise ValueError(
            f"attack {name!r} takes no option {detail}; its options are {', '.join(spec.defaults) or '(none)'}"
        )
    return {**spec.defaults, **options}


def make_attack(
    name: str,
    model: Any,
    *,
    public: Any = None,
    input_shape: tuple[int, int, int] | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> Attack:
    """Build the registered attack `name` against `model`.

    Args:
        name: one of `available_attacks()`.
        model: the target classifier, [B, C, H, W] inputs in its own range -> [B, classes] logits or
            probabilities: an `nn.Module` (white-box), or a `dpmi.attacks.access` object (`WhiteBox`,
            `ScoresOnly`, `LabelsOnly`). An attack gets the access it declares (`attack_spec(name).access`):
            a module is queried through `from_module` by a scores or label-only attack, scores serve labels;
            a white-box attack on a scores- or label-only target is a ValueError.
        public: the attacker's public faces (a `dpmi.data.FaceDataset` of identities disjoint from the
            target's); required by attacks with a prior, ignored by the others.
        input_shape: (C, H, W) of one model input; default: the public faces' shape. Attacks that need it
            and get neither raise ValueError.
        device: where the attack runs (default: the model's device).
        options: the attack's options (see `attack_spec(name).defaults`); unknown ones are a ValueError.
    """
    spec = attack_spec(name)
    resolved = resolve_options(name, options)
    if spec.needs_public and public is None:
        raise ValueError(
            f"attack {name!r} learns a face prior from public identities: pass public=<FaceDataset of "
            "identities the target never saw>"
        )
    if input_shape is None and public is not None:
        input_shape = (
            (public.channels, *public.image_shape) if hasattr(public, "channels") else (1, *public.image_shape)
        )
    model = _target_for(spec, model, input_shape)
    return spec.factory(model, public=public, input_shape=input_shape, device=device, **resolved)


def _target_for(spec: AttackSpec, model: Any, input_shape: tuple[int, int, int] | None) -> Any:
    """The target at the access `spec` needs (`dpmi.attacks.access.as_access`); a white-box attack gets the
    bare module. ValueError when the target gives less access than the attack needs."""
    from dpmi.attacks.access import LabelsOnly, QueryAccess, WhiteBox, as_access

    if spec.access == "white-box":
        if isinstance(model, WhiteBox):
            return model.module
        if isinstance(model, QueryAccess):
            level = "label-only" if isinstance(model, LabelsOnly) else "scores-only"
            others = [n for n, s in _REGISTRY.items() if s.access == model.access]
            raise ValueError(
                f"attack {spec.name!r} needs white-box access (the target's gradients) but the target is "
                f"{level} ({type(model).__name__}): use an attack for {model.access} access"
                + (f" ({', '.join(others)})" if others else "")
                + ", or pass the model itself"
            )
        return model
    if isinstance(model, QueryAccess) and input_shape is not None and tuple(input_shape) != model.input_shape:
        raise ValueError(
            f"the target takes images {model.input_shape} but the attack's images are {tuple(input_shape)}"
        )
    return as_access(model, spec.access, input_shape=input_shape)


def _load_builtins() -> None:
    """Import the modules that register the built-in attacks (once)."""
    import dpmi.attacks.builtin  # noqa: F401  (registers on import)
