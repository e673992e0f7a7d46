"""What a judge is: `JudgeSpec` (how to fit, load and show it) and the `FittedJudge` interface. Kept apart from
the registry so each judge's file can declare its spec without importing the registry (no import circle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FittedJudge(Protocol):
    """What a fitted judge offers: `scores(images [K, C, H, W] in [-1, 1]) -> float [K, people]`, its held-out
    top-1 accuracy on real private faces (0..1, NaN when not measured), and a state of tensors/numbers."""

    @property
    def test_accuracy(self) -> float: ...

    def scores(self, images: Any) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...


def always_available() -> tuple[bool, str]:
    return True, ""


@dataclass(frozen=True)
class JudgeSpec:
    """A registered judge.

    Attributes:
        label: its name in tables and the report ("pretrained face recognizer").
        family: one line on what it is and what it learnt from ("a CNN trained on the private images").
        colour, marker: its colour and marker in every figure.
        fit: `fit(train, test, *, seed, device, log) -> FittedJudge`, learning only from the private training
            faces `train` (a `dpmi.data.FaceDataset`); `test` (held-out private faces or None) measures it.
        load: `load(state, device) -> FittedJudge`, the inverse of the fitted judge's `state_dict()`.
        test_key: the summary key of its held-out accuracy (kept for results written by older versions).
        version: bump when `fit` would give another judge for the same inputs (part of the cache key).
        available: `() -> (True, "")`, or (False, "what is missing and how to install it") when the judge's
            dependencies are absent; the study then runs without it and says so.
        detects_faces: True when the fitted judge has `detected(images) -> bool [K]`.
        verifies: True when the fitted judge has `verified(images, labels) -> bool [K]`.
        reference: the paper or software it follows.
    """

    label: str
    family: str
    colour: str
    marker: str
    fit: Callable[..., FittedJudge]
    load: Callable[[dict[str, Any], Any], FittedJudge]
    test_key: str
    version: int = 1
    available: Callable[[], tuple[bool, str]] = always_available
    detects_faces: bool = False
    verifies: bool = False
    reference: str = ""
