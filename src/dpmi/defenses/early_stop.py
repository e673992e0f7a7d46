"""`early-stop`: the non-private model trained for fewer epochs. Not a defense from the literature but the
accuracy-matched baseline: attack success tracks a target's accuracy (MIBench, 2024), so DP-SGD's protection
is read against a non-private model as accurate as the private one, not against the fully trained one."""

from __future__ import annotations

from dataclasses import replace

from dpmi.defenses.base import DefenseSpec, StrengthKnob
from dpmi.privacy.dpsgd.train import TrainConfig


def configure(config: TrainConfig, epochs: float) -> TrainConfig:
    """The recipe stopped after `epochs` of its epochs; ValueError when that is not fewer than the recipe's."""
    count = int(epochs)
    if count >= config.epochs:
        raise ValueError(
            f"defense 'early-stop': strength epochs={count} is not fewer than the recipe's {config.epochs} epochs; "
            f"choose 1..{config.epochs - 1}"
            + (" (the recipe trains 1 epoch: nothing to stop early)" if config.epochs == 1 else "")
        )
    return replace(config, epochs=count)


SPEC = DefenseSpec(
    name="early-stop",
    summary="non-private, fewer epochs than the recipe: the accuracy-matched baseline for each DP-SGD level",
    reference="MIBench (Qiu et al., 2024): attack effectiveness scales with the target's accuracy",
    departs=(
        "the strength is an epoch count (not a fraction of the recipe's epochs), with the recipe's lr, batch and "
        "momentum; the study searches it for the count whose accuracy matches each DP-SGD level"
    ),
    strength=StrengthKnob(
        name="epochs",
        low=1,
        high=10_000,
        default=3,
        grid=(1, 2, 3, 5, 10),
        integer=True,
        doc="epochs trained, fewer than the recipe's; fewer is less accurate",
    ),
    composes_with_dp=False,
    why_not_dp=(
        "it is the non-private accuracy-matched baseline; under DP-SGD the number of epochs is part of the "
        "recipe the public search picks (and of the epsilon spent), not a defense"
    ),
    configure=configure,
)
