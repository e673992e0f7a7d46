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

from dpmi.metrics.judge_spec import FittedJudge, JudgeSpec, always_available
from dpmi.registry import Registry

__all__ = ["JUDGES", "FittedJudge", "JudgeSpec", "always_available", "available_judges", "judge_keys"]


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
