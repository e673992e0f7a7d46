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

from collections.abc import Callable, Mapping
from typing import Any

import torch

from dpmi.attacks.attack_spec import Attack, AttackFactory, AttackResult, AttackSpec, make_spec
from dpmi.registry import Registry

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackFactory",
    "AttackResult",
    "AttackSpec",
    "attack_spec",
    "available_attacks",
    "make_attack",
    "register_attack",
    "resolve_options",
]


def _register_builtins() -> None:
    """The built-in attacks: every factory `dpmi.attacks.builtin` declares, in its order."""
    from dpmi.attacks import builtin

    for value in vars(builtin).values():
        spec = getattr(value, "attack_spec", None)
        if isinstance(spec, AttackSpec):
            ATTACKS.register(spec.name, spec, summary=spec.summary)


ATTACKS: Registry[AttackSpec] = Registry("attack", loader=_register_builtins)


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
    """Decorator registering `factory(model, *, public, input_shape, device, **options)` under `name` (what a
    plugin calls; the same checks as a built-in's declaration)."""

    def decorate(factory: AttackFactory) -> AttackFactory:
        if name in ATTACKS:
            raise ValueError(f"an attack named {name!r} is already registered")
        spec = make_spec(
            name,
            factory,
            defaults=defaults,
            needs_public=needs_public,
            summary=summary,
            reference=reference,
            help=help,
            quick=quick,
            access=access,
        )
        ATTACKS.register(name, spec, summary=summary)
        return factory

    return decorate


def available_attacks() -> list[str]:
    """Names of every registered attack, in registration order."""
    return list(ATTACKS.names())


def attack_spec(name: str) -> AttackSpec:
    """The registered attack `name`; ValueError listing the names when there is none."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}: choose one of {', '.join(ATTACKS.names())}")
    return ATTACKS.get(name)


def resolve_options(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`name`'s defaults updated by `options`; ValueError naming any option the attack does not take (and
    which other attack takes it, when one does)."""
    spec = attack_spec(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        owners = {key: [other for other, spec in ATTACKS.items() if key in spec.defaults] for key in unknown}
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
            others = [n for n, s in ATTACKS.items() if s.access == model.access]
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
