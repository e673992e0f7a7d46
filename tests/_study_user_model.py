"""User model factories for the study tests (`--model _study_user_model:NAME`): what a privacy engineer would
write for their own model, plus the broken ones the study must refuse before any training."""

from __future__ import annotations

import math

from torch import nn


def small_mlp(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """A two-layer perceptron on the flattened image: sized from the data, as a factory must be."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 24), nn.ReLU(), nn.Linear(24, num_classes))


def one_logit_too_many(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes + 1))


def with_batchnorm(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """BatchNorm mixes the examples of a batch: DP-SGD's per-example gradients cannot be taken through it."""
    return nn.Sequential(nn.Conv2d(input_shape[0], 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(4 * input_shape[1] * input_shape[2], num_classes))


def not_a_module(num_classes: int, input_shape: tuple[int, int, int]) -> str:
    return "a model"
