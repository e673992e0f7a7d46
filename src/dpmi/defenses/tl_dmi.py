"""`tl-dmi`: transfer learning as a model-inversion defense.

Ho, Ho, Vu, Nguyen & Cheung, "Model inversion robustness: can transfer learning help?", CVPR 2024 (TL-DMI):
pre-train the target on public data, then fine-tune only its last layer(s) on the private data. The first
layers never see a private example, which limits what an inversion can recover through them, and far fewer
parameters are fine-tuned, so under DP-SGD the same epsilon buys less noise per trained parameter: it
composes with DP-SGD (the pre-training on public people has no privacy cost).

Here the public data are the public people (the attacker's identities, disjoint from the private ones). The
pre-training puts a temporary head for the public people in place of the target's head (last nn.Linear), trains
the whole network with the recipe (non-private), then restores the target's own untrained head; the private
fine-tuning trains the last `layers` parameterised layers (layers that own parameters, counted from the output;
1 = the head only) and every other parameter stays bit-identical.

On the softmax target (one linear layer on the pixels) there is nothing below the head to transfer: tl-dmi
refuses it and asks for a model with a layer before the head (mlp: the hidden layer; cnn: the convolution).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from dpmi.defenses.base import DefenseSpec, StrengthKnob, last_linear, parameterised_layers, seeded_init, set_submodule
from dpmi.privacy.dpsgd.train import TrainConfig, TrainHistory, train


def fine_tuned_layers(model: nn.Module, layers: float) -> list[tuple[str, nn.Module]]:
    """The last `layers` parameterised layers of `model`; ValueError unless at least one layer stays frozen."""
    found = parameterised_layers(model)
    count = int(layers)
    if len(found) < 2:
        raise ValueError(
            f"defense 'tl-dmi': {type(model).__name__} has {len(found)} layer(s) with parameters, so there is no "
            "layer below the head to pre-train and freeze; use a model with a layer before the head (mlp, cnn)"
        )
    if count >= len(found):
        raise ValueError(
            f"defense 'tl-dmi': strength layers={count} would fine-tune all {len(found)} layers with parameters of "
            f"{type(model).__name__} (nothing frozen); choose 1..{len(found) - 1}"
        )
    return found[-count:]


def trainable(model: nn.Module, layers: float) -> list[nn.Parameter]:
    """The parameters of the last `layers` parameterised layers (the fine-tuned part)."""
    return [p for _, m in fine_tuned_layers(model, layers) for p in m.parameters(recurse=False)]


def pretrain(
    model: nn.Module, public_x: torch.Tensor, public_y: torch.Tensor, config: TrainConfig, layers: float
) -> TrainHistory:
    """Train `model` in place on the public people (labels 0..P-1) through a temporary head of P outputs, with
    the recipe `config` made non-private; the model's own head is put back untouched. Returns that history."""
    fine_tuned_layers(model, layers)  # refuse a model with nothing to freeze before spending the pre-training
    name, head = last_linear(model)
    classes = int(public_y.max()) + 1
    zero_head = bool((head.weight == 0).all())

    def build() -> nn.Module:
        public_head = nn.Linear(head.in_features, classes, bias=head.bias is not None)
        if zero_head:  # a head that starts at zero (the cnn's) starts at zero for the public people too
            nn.init.zeros_(public_head.weight)
            if public_head.bias is not None:
                nn.init.zeros_(public_head.bias)
        return public_head.to(device=head.weight.device, dtype=head.weight.dtype)

    set_submodule(model, name, seeded_init(config.seed + 1, build))
    try:
        public_config = replace(
            config,
            noise_multiplier=None,
            target_epsilon=None,
            batch_size=min(config.batch_size, int(public_x.shape[0])),
        )
        return train(model, public_x, public_y, public_config)
    finally:
        set_submodule(model, name, head)


def _pretrain_hook(model: nn.Module, public_x: Any, public_y: Any, config: TrainConfig, layers: float) -> Any:
    return pretrain(model, public_x, public_y, config, layers)


SPEC = DefenseSpec(
    name="tl-dmi",
    summary="pre-train on the public people, fine-tune only the last layer(s) on the private ones",
    reference="Ho, Ho, Vu, Nguyen & Cheung, Model inversion robustness: can transfer learning help?, CVPR 2024",
    departs=(
        "the public data are the study's public people (20 faces identities, not a large public face set); "
        "pre-training uses the private recipe without noise; the strength counts parameterised layers from the "
        "output (the paper chooses the fine-tuned blocks of a deep network); not defined for the one-layer "
        "softmax target"
    ),
    strength=StrengthKnob(
        name="layers",
        low=1,
        high=1000,
        default=1,
        grid=(1,),
        integer=True,
        doc="parameterised layers fine-tuned, counted from the output; at least one layer must stay frozen",
    ),
    trainable=trainable,
    pretrain=_pretrain_hook,
    needs_public=True,
)
