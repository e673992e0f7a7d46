"""Python callables standing in for a user's deployed model (`dpmi attack --target tests._callable_targets:NAME`).

`scores` is a fixed linear softmax over the 20 private people of the AT&T split, with a query counter
(`CALLS`, `IMAGES`) that the tests compare with what dpmi reports; the others are the bad targets the CLI
must refuse in one line.
"""

from __future__ import annotations

import torch

CLASSES = 20
_WEIGHTS = torch.randn(112 * 92, CLASSES, generator=torch.Generator().manual_seed(0)) * 0.02
IMAGES = [0]
CALLS = [0]


def scores(images: torch.Tensor) -> torch.Tensor:
    """Probabilities [B, 20] of a fixed linear model; counts every image it is asked about."""
    IMAGES[0] += int(images.shape[0])
    CALLS[0] += 1
    return (images.reshape(len(images), -1) @ _WEIGHTS).softmax(dim=1)


def labels(images: torch.Tensor) -> torch.Tensor:
    """The top class [B] of the same model."""
    return scores(images).argmax(dim=1)


def wrong_shape(images: torch.Tensor) -> torch.Tensor:
    """Scores with one class too few."""
    return torch.zeros(len(images), CLASSES - 1)


def raises(images: torch.Tensor) -> torch.Tensor:
    """A target whose code fails."""
    raise RuntimeError("connection refused")


def raises_later(images: torch.Tensor) -> torch.Tensor:
    """Answers the probe of one image, then fails on the attack's first batch."""
    if len(images) > 1:
        raise RuntimeError("rate limited")
    return scores(images)


NOT_CALLABLE = 3
