"""The target model, built once before anything is trained or written, so a broken model fails at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpmi.data import IdentitySplit
    from dpmi.study.config import StudyConfig


def check_model(config: StudyConfig, split: IdentitySplit, input_shape: tuple[int, int, int]) -> None:
    """Build the target model once for the private people (and, if the recipe search runs, for the public
    ones), so a factory that does not import, returns something else or outputs the wrong number of logits,
    and a model DP-SGD cannot train when a level is private, fail here: before any training or disk write."""
    from dpmi.metrics.evaluator import MIN_SIDE
    from dpmi.models import resolve_model

    if min(input_shape[1:]) < MIN_SIDE:  # the evaluation classifier's smallest image, checked before any write
        raise ValueError(
            f"the images are {input_shape[1]}x{input_shape[2]} pixels; the study's evaluation "
            f"classifier needs at least {MIN_SIDE} a side: use larger images"
        )
    private_levels = bool(config.privacy.noise_multipliers or config.privacy.target_epsilons)
    resolve_model(
        config.train.model, split.private.num_classes, input_shape, seed=config.run.seed, for_dp_sgd=private_levels
    )
    if config.recipe.search:
        resolve_model(config.train.model, split.public.num_classes, input_shape, seed=config.run.seed)
