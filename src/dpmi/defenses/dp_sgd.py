"""`dp-sgd`: the existing DP-SGD path (Abadi et al., "Deep learning with differential privacy", CCS 2016) at a
target epsilon; the study's privacy levels. It composes with every defense that keeps a per-example loss: give
that defense a private `TrainConfig` (e.g. `train_with_defense(..., TrainConfig(target_epsilon=8), "tl-dmi")`)."""

from __future__ import annotations

import math
from dataclasses import replace

from dpmi.defenses.base import DefenseSpec, StrengthKnob
from dpmi.privacy.dpsgd.train import TrainConfig


def configure(config: TrainConfig, epsilon: float) -> TrainConfig:
    """The recipe with sigma calibrated to `epsilon` at the recipe's delta (any fixed sigma it had is dropped)."""
    return replace(config, target_epsilon=float(epsilon), noise_multiplier=None)


SPEC = DefenseSpec(
    name="dp-sgd",
    summary="DP-SGD (per-example clipping, Gaussian noise) calibrated to a target epsilon: a guarantee",
    reference="Abadi et al., Deep learning with differential privacy, CCS 2016 (Alg. 1)",
    departs=(
        "as dpmi's engine everywhere: Poisson batches, ghost-norm clipping over all trained parameters, noise "
        "divided by the expected batch size, RDP or PLD accounting; the strength is the target epsilon only "
        "(the study's fixed-sigma level stays a study level)"
    ),
    strength=StrengthKnob(
        name="epsilon",
        low=0.0,
        high=math.inf,
        low_open=True,
        default=8.0,
        grid=(8.0, 3.0, 1.0),
        doc="target epsilon at the recipe's delta; smaller is more private",
    ),
    private=True,
    configure=configure,
)
