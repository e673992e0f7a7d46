"""`build_model`: a fresh target by registered name or by a user factory "pkg.module:factory"."""

from __future__ import annotations

from torch import nn

from dpmi.models.registry import build_registered_model
from dpmi.models.user_models import build_user_model, is_factory_spec


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
    if is_factory_spec(name):
        return build_user_model(name, num_classes, input_shape, seed)
    return build_registered_model(name, num_classes=num_classes, input_shape=input_shape, seed=seed)
