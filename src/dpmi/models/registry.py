"""Target models by name, with seeded initial weights: one registration call each (`register_model("cnn")`, the
shape of Opacus's `register_grad_sampler`), so a new architecture is one decorated factory and the CLI, configs and
`build_model` see it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

import torch
from torch import nn

from dpmi.models.mlp import MLP
from dpmi.models.small_cnn import SmallCNN
from dpmi.models.softmax_regression import SoftmaxRegression

ModelFactory = Callable[..., nn.Module]  # (*, input_shape=(C, H, W), num_classes=K) -> a module returning logits
F = TypeVar("F", bound=ModelFactory)

_REGISTRY: dict[str, ModelFactory] = {}
_SUMMARIES: dict[str, str] = {}

# name -> factory, read-only and live: models registered later appear in it.
MODELS: Mapping[str, ModelFactory] = MappingProxyType(_REGISTRY)


def register_model(name: str, *, summary: str = "") -> Callable[[F], F]:
    """Decorator (or call `register_model(name)(Factory)`): register a model factory under `name`.

    The factory is called as `factory(input_shape=(C, H, W), num_classes=K)` and returns a module mapping a batch
    [N, C, H, W] in [-1, 1] to logits [N, K]. `summary` is one line for `--help`. Names are unique.
    """
    key = str(name)
    if not key or key != key.strip():
        raise ValueError(f"model name must be a non-empty word, got {name!r}")

    def decorate(factory: F) -> F:
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise ValueError(f"model {key!r} is already registered (by {_REGISTRY[key]!r})")
        _REGISTRY[key] = factory
        doc_lines = (factory.__doc__ or "").strip().splitlines()
        _SUMMARIES[key] = summary or (doc_lines[0] if doc_lines else "")
        return factory

    return decorate


def available_models() -> tuple[str, ...]:
    """Registered model names, in registration order."""
    return tuple(_REGISTRY)


def model_summary(name: str) -> str:
    """The one-line description a model was registered with (else its docstring's first line)."""
    return _SUMMARIES[name]


register_model("softmax", summary="softmax regression: one linear layer on the pixels")(SoftmaxRegression)
register_model("mlp", summary="one-hidden-layer perceptron")(MLP)
register_model("cnn", summary="small DP-SGD-friendly CNN: pooled centre-surround input, one tanh conv")(SmallCNN)


def build_model(
    name: str,
    *,
    num_classes: int = 40,
    input_shape: tuple[int, int, int] = (1, 112, 92),
    seed: int | None = 0,
) -> nn.Module:
    """A fresh model `name` (one of `available_models()`: "softmax", "mlp", "cnn", ...) that outputs logits.

    With a seed, the initial weights depend only on it (the global torch RNG is left untouched). A user
    factory "pkg.module:factory" is built by `dpmi.models.user_models.build_user_model`, so everything that
    builds models by name (the study's cells, shadow models, audits) takes `--model pkg.module:factory` too.
    """
    from dpmi.models.user_models import build_user_model, is_factory_spec

    if is_factory_spec(name):
        return build_user_model(name, num_classes, input_shape, seed)
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(_REGISTRY))}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return _REGISTRY[name](input_shape=input_shape, num_classes=num_classes)
