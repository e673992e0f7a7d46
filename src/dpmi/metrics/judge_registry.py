"""The judges of "whose face is this?", by registry: adding a judge is one file (its `JudgeSpec`) plus one
registration line in `_register_builtins` (or a plugin module calling `JUDGES.register`).

A judge is fitted once per private training set and then scores reconstructions: `scores(images)` gives
[K, people] (higher = more like that person; -inf for a person it cannot name), which yields the judge's
prediction, acc@1 and acc@5. A judge may also say whether it sees a face at all (`detected(images)`) and
whether it verifies the claimed person at its own same-person threshold (`verified(images, labels)`).

The summary, figures, tables, report and CLI iterate over `JUDGES`; the summary keys of a judge are
`<name>_acc1`, `<name>_acc5`, `<name>_detected`, `<name>_verified` and its `test_key` (held-out accuracy).
Whether a judge is *trusted* is not declared: it is read off the calibration (`dpmi.metrics.judge_trust`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from dpmi.registry import Registry


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


def _register_builtins() -> None:
    """The built-in judges, in report order (one line each)."""
    from dpmi.metrics import evaluator, lbp_judge, recognizer_judge

    JUDGES.register("recognizer", recognizer_judge.JUDGE, summary=recognizer_judge.JUDGE.label)
    JUDGES.register("eval", evaluator.JUDGE, summary=evaluator.JUDGE.label)
    JUDGES.register("judge2", lbp_judge.JUDGE, summary=lbp_judge.JUDGE.label)


JUDGES: Registry[JudgeSpec] = Registry("judge", loader=_register_builtins)


def judge_keys(name: str) -> dict[str, str]:
    """The summary keys of judge `name`: acc1, acc5, detected, verified, test."""
    spec = JUDGES.get(name)
    return {
        "acc1": f"{name}_acc1",
        "acc5": f"{name}_acc5",
        "detected": f"{name}_detected",
        "verified": f"{name}_verified",
        "test": spec.test_key,
    }


def available_judges() -> dict[str, str]:
    """name -> "" for each registered judge that can run here, or -> why not (the missing package)."""
    out: dict[str, str] = {}
    for name, spec in JUDGES.items():
        ok, why = spec.available()
        out[name] = "" if ok else (why or f"judge {name!r} is not available")
    return out
