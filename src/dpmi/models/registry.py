"""Target models by name, with seeded initial weights: one registration line each (`register_model("cnn")`), so a
new architecture is one file plus one line and the CLI, configs and `build_model` see it. The registry is a
`dpmi.registry.Registry`, like every other extension point; a plugin module registers models the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import torch
from torch import nn

from dpmi.registry import Registry

ModelFactory = Callable[..., nn.Module]  # (*, input_shape=(C, H, W), num_classes=K) -> a module returning logits
F = TypeVar("F", bound=ModelFactory)


def _register_builtins() -> None:
    """The built-in targets, one line each."""
    from dpmi.models.mlp import MLP
    from dpmi.models.small_cnn import SmallCNN
    from dpmi.models.softmax_regression import SoftmaxRegression

    MODEL_REGISTRY.register("softmax", SoftmaxRegression, summary="softmax regression: one linear layer on the pixels")
    MODEL_REGISTRY.register("mlp", MLP, summary="one-hidden-layer perceptron")
    MODEL_REGISTRY.register(
        "cnn", SmallCNN, summary="small DP-SGD-friendly CNN: pooled centre-surround input, one tanh conv"
    )


MODEL_REGISTRY: Registry[ModelFactory] = Registry("model", loader=_register_builtins)


class _LiveModels(Mapping[str, ModelFactory]):
    """name -> factory, read-only and live: models registered later (plugins) appear in it."""

    def __getitem__(self, name: str) -> ModelFactory:
        if name not in MODEL_REGISTRY:
            raise KeyError(name)
        return MODEL_REGISTRY.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(MODEL_REGISTRY.names())

    def __len__(self) -> int:
        return len(MODEL_REGISTRY)


MODELS: Mapping[str, ModelFactory] = _LiveModels()


def register_model(name: str, *, summary: str = "") -> Callable[[F], F]:
    """Decorator (or call `register_model(name)(Factory)`): register a model factory under `name`.

    The factory is called as `factory(input_shape=(C, H, W), num_classes=K)` and returns a module mapping a batch
    [N, C, H, W] in [-1, 1] to logits [N, K]. `summary` is one line for `--help` (default: the docstring's first
    line). Names are unique.
    """

    def decorate(factory: F) -> F:
        MODEL_REGISTRY.register(name, factory, summary=summary)
        return factory

    return decorate


def available_models() -> tuple[str, ...]:
    """Registered model names, in registration order."""
    return MODEL_REGISTRY.names()


def model_summary(name: str) -> str:
    """The one-line description a model was registered with (else its docstring's first line)."""
    return MODEL_REGISTRY.describe()[name]


def build_registered_model(
    name: str,
    *,
    num_classes: int = 40,
    input_shape: tuple[int, int, int] = (1, 112, 92),
    seed: int | None = 0,
) -> nn.Module:
    """A fresh registered model `name` that outputs logits; with a seed, its initial weights depend only on it
    (the global torch RNG is left untouched). ValueError naming the registered models for an unknown name."""
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODEL_REGISTRY.names()))}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return MODEL_REGISTRY.get(name)(input_shape=input_shape, num_classes=num_classes)
