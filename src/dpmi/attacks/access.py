"""What an attacker can ask of the target: the threat model as a type.

- `WhiteBox(module)`: the module itself (weights, gradients); what `mi-face`, `pca-prior` and `gmi` need.
- `ScoresOnly(predict, num_classes, input_shape, budget=None, outputs="probabilities")`: a callable returning
  the scores of a batch, [B, C, H, W] -> [B, classes] probabilities (or logits, when declared), as an API that
  returns a score vector does. Called under `torch.no_grad()` on the images detached from any graph: an
  attack behind it can never read a gradient of the target (`predict` must not modify its input in place).
- `LabelsOnly(predict, num_classes, input_shape, budget=None)`: a callable returning only the top class of a
  batch, [B, C, H, W] -> [B] int64 (an API that returns a name).

The last two count the images queried (`queries`) and enforce an optional budget of images (`budget`): a call
that would pass it raises `QueryBudgetError` (a ValueError) before reaching the target. Attacks plan their
queries up front (`plan_steps`) so that a budget below one step of the attack is refused before any query.
`from_module(model, access)` builds each from a module, so a saved model can be attacked at any access level.

An attack declares the access it needs (`AttackSpec.access`); `make_attack` accepts a target of that level
or a richer one (a module serves scores, scores serve labels: `as_access`), and refuses a poorer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import torch
from torch import nn

ACCESS_LEVELS = ("white-box", "scores", "labels")  # richest first
SCORE_OUTPUTS = ("probabilities", "logits")

Predict = Callable[[torch.Tensor], Any]


class QueryBudgetError(ValueError):
    """A query (or an attack's planned queries) would pass the target's query budget."""


@dataclass(frozen=True)
class WhiteBox:
    """White-box access: the target module (an attack may differentiate through it)."""

    module: nn.Module
    access: str = "white-box"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images)


class QueryAccess:
    """A black-box target (the shared part of `ScoresOnly` and `LabelsOnly`): shape checks, the query counter
    and the budget. Not built directly."""

    access = "query"

    def __init__(
        self,
        predict: Predict,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
    ) -> None:
        if not callable(predict):
            raise ValueError(f"predict must be a callable images -> outputs, got {type(predict).__name__}")
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {tuple(input_shape)}")
        if budget is not None and (int(budget) != budget or budget < 1):
            raise ValueError(f"the query budget must be an integer >= 1 (images) or None, got {budget}")
        self.predict = predict
        self.num_classes = int(num_classes)
        self.input_shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self.budget = None if budget is None else int(budget)
        self.queries = 0  # images queried so far
        self.calls = 0  # calls of `predict` so far

    @property
    def remaining(self) -> int | None:
        """Images that may still be queried (None: no budget)."""
        return None if self.budget is None else self.budget - self.queries

    def require(self, images: int, what: str = "this attack") -> None:
        """QueryBudgetError unless `images` more queries fit in the budget (no query is made)."""
        remaining = self.remaining
        if remaining is not None and images > remaining:
            raise QueryBudgetError(
                f"{what} needs {images} queries but the target's query budget has {remaining} left "
                f"(budget {self.budget}, {self.queries} used): raise the budget or lower the attack's settings"
            )

    def _query(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"a query must be images [B, {', '.join(map(str, self.input_shape))}], got {shape}")
        count = int(images.shape[0])
        self.require(count, f"a query of {count} images")
        with torch.no_grad():
            outputs = self.predict(images.detach())
        self.queries += count
        self.calls += 1
        outputs = torch.as_tensor(outputs)
        if outputs.requires_grad:  # a predict that re-enabled autograd: the attack still gets no graph
            outputs = outputs.detach()
        return outputs.to(images.device)


class ScoresOnly(QueryAccess):
    """Scores access: `predict(images [B, C, H, W]) -> [B, num_classes]` probabilities (`outputs=
    "probabilities"`, the default) or logits (`outputs="logits"`). See the module docstring."""

    access = "scores"

    def __init__(
        self,
        predict: Predict,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        *,
        outputs: str = "probabilities",
    ) -> None:
        super().__init__(predict, num_classes, input_shape, budget)
        if outputs not in SCORE_OUTPUTS:
            raise ValueError(f"outputs must be one of {', '.join(SCORE_OUTPUTS)}, got {outputs!r}")
        self.outputs = outputs

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The scores [B, num_classes] of `images` as `predict` returns them (counted)."""
        scores = self._query(images)
        if scores.ndim != 2 or tuple(scores.shape) != (images.shape[0], self.num_classes):
            raise ValueError(
                f"the target's predict must return scores [{images.shape[0]}, {self.num_classes}] for "
                f"{images.shape[0]} images, got {tuple(scores.shape)}"
            )
        return scores.to(torch.float32)

    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """log p(class | image) [B, num_classes] (log-softmax of logits, or the log of clamped probabilities)."""
        scores = self(images)
        if self.outputs == "logits":
            return scores.log_softmax(dim=1)
        return scores.clamp_min(1e-12).log()

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """p(class | image) [B, num_classes]."""
        return self.log_probabilities(images).exp()


class LabelsOnly(QueryAccess):
    """Label-only access: `predict(images [B, C, H, W]) -> [B]` top class indices. See the module docstring."""

    access = "labels"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The top class [B] (int64) of `images` (counted)."""
        labels = self._query(images)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"the target's predict must return labels [{images.shape[0]}] for {images.shape[0]} images, "
                f"got {tuple(labels.shape)}"
            )
        if labels.is_floating_point() and not bool((labels == labels.round()).all()):
            raise ValueError("the target's predict must return class indices, got fractional values")
        labels = labels.to(torch.int64)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"the target's predict returned labels outside 0..{self.num_classes - 1}")
        return labels


Target = WhiteBox | ScoresOnly | LabelsOnly


def access_of(target: Any) -> str:
    """The access level ("white-box", "scores", "labels") of a target: an `nn.Module` is white-box."""
    if isinstance(target, nn.Module):
        return "white-box"
    level = getattr(target, "access", None)
    if isinstance(target, WhiteBox | ScoresOnly | LabelsOnly) and level in ACCESS_LEVELS:
        return str(level)
    raise ValueError(
        "the target must be an nn.Module, WhiteBox, ScoresOnly or LabelsOnly "
        f"(dpmi.attacks.access), got {type(target).__name__}"
    )


def _module_outputs(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(images)
    finally:
        model.train(was_training)


def _infer_shapes(
    model: nn.Module, num_classes: int | None, input_shape: Sequence[int] | None
) -> tuple[int, tuple[int, int, int]]:
    if input_shape is None:
        raise ValueError("input_shape=(C, H, W) is needed to query a module as a black box")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    if num_classes is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
        num_classes = int(_module_outputs(model, torch.zeros(1, *shape, device=device)).shape[1])
    return int(num_classes), (shape[0], shape[1], shape[2])


@overload
def from_module(
    model: nn.Module,
    access: Literal["white-box"],
    *,
    input_shape: Sequence[int] | None = ...,
    num_classes: int | None = ...,
    budget: int | None = ...,
) -> WhiteBox: ...


@overload
def from_module(
    model: nn.Module,
    access: Literal["scores"],
    *,
    input_shape: Sequence[int] | None = ...,
    num_classes: int | None = ...,
    budget: int | None = ...,
) -> ScoresOnly: ...


@overload
def from_module(
    model: nn.Module,
    access: Literal["labels"],
    *,
    input_shape: Sequence[int] | None = ...,
    num_classes: int | None = ...,
    budget: int | None = ...,
) -> LabelsOnly: ...


@overload
def from_module(
    model: nn.Module,
    access: str,
    *,
    input_shape: Sequence[int] | None = ...,
    num_classes: int | None = ...,
    budget: int | None = ...,
) -> WhiteBox | ScoresOnly | LabelsOnly: ...


def from_module(
    model: nn.Module,
    access: str,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    budget: int | None = None,
) -> WhiteBox | ScoresOnly | LabelsOnly:
    """`model` behind the access `access` ("white-box", "scores" or "labels").

    Scores are the module's outputs as they are (logits, declared so; a module that outputs probabilities is
    declared "probabilities"), labels their argmax; both are computed in eval mode under `torch.no_grad()`.
    num_classes defaults to the width of one output (one zero image, not counted); input_shape is required
    for the black-box levels. budget: the most images that may be queried (None: unlimited).
    """
    if access not in ACCESS_LEVELS:
        raise ValueError(f"access must be one of {', '.join(ACCESS_LEVELS)}, got {access!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"from_module needs an nn.Module, got {type(model).__name__}")
    if access == "white-box":
        return WhiteBox(model)
    classes, shape = _infer_shapes(model, num_classes, input_shape)
    if access == "scores":
        from dpmi.attacks.mi_face import outputs_probabilities

        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
        probe = _module_outputs(model, torch.zeros(2, *shape, device=device))
        outputs = "probabilities" if outputs_probabilities(probe) else "logits"
        return ScoresOnly(lambda x: _module_outputs(model, x), classes, shape, budget, outputs=outputs)
    return LabelsOnly(lambda x: _module_outputs(model, x).argmax(dim=1), classes, shape, budget)


def as_access(
    target: Any,
    access: str,
    *,
    input_shape: Sequence[int] | None = None,
    budget: int | None = None,
) -> WhiteBox | ScoresOnly | LabelsOnly:
    """`target` (a module or an access object) served at the access level `access`, which must be the same
    as or poorer than the target's; ValueError when the attack needs more than the target gives.

    A module becomes `from_module(target, access)`; scores become labels by their argmax (queries are
    counted by the new object and, underneath, by the scores object and its budget); a target already at
    `access` is returned as it is.
    """
    if access not in ACCESS_LEVELS:
        raise ValueError(f"access must be one of {', '.join(ACCESS_LEVELS)}, got {access!r}")
    have = access_of(target)
    if ACCESS_LEVELS.index(have) > ACCESS_LEVELS.index(access):
        raise ValueError(
            f"this attack needs {access} access but the target gives only {have} access "
            f"({'its gradients' if access == 'white-box' else 'its scores'} are not available): choose an "
            f"attack for {have} access, or pass the model itself"
        )
    if have == access:
        return WhiteBox(target) if isinstance(target, nn.Module) else target
    if isinstance(target, nn.Module):
        return from_module(target, access, input_shape=input_shape, budget=budget)
    if isinstance(target, WhiteBox):
        return from_module(target.module, access, input_shape=input_shape, budget=budget)
    scores: ScoresOnly = target
    return LabelsOnly(lambda x: scores(x).argmax(dim=1), scores.num_classes, scores.input_shape, budget)


def load_callable_target(
    spec: str,
    access: str,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    budget: int | None = None,
    outputs: str = "probabilities",
) -> ScoresOnly | LabelsOnly:
    """A user's deployed model behind a Python callable, `spec` = "pkg.module:predict" (what `dpmi attack
    --target` takes), as `ScoresOnly` (access "scores"; `outputs` says whether it returns probabilities or
    logits) or `LabelsOnly` (access "labels").

    The callable is imported and checked by one probe query of a zero image (not counted against `budget`):
    ValueError, naming `spec`, when it cannot be imported, is not callable, raises, or returns the wrong shape.
    """
    import importlib

    if access not in ("scores", "labels"):
        raise ValueError(f"a callable target gives scores or labels access, not {access!r}")
    module_name, _, attribute = str(spec).partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a target callable is given as pkg.module:function, got {spec!r}")
    try:
        predict = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import the target {spec!r}: {error}") from error
    if not callable(predict):
        raise ValueError(f"the target {spec!r} is not callable")
    target: ScoresOnly | LabelsOnly = (
        ScoresOnly(predict, num_classes, input_shape, budget, outputs=outputs)
        if access == "scores"
        else LabelsOnly(predict, num_classes, input_shape, budget)
    )
    try:
        target(torch.zeros(1, *target.input_shape))
    except Exception as error:  # the user's code: any failure is a bad target
        raise ValueError(f"the target {spec!r} failed on a probe image: {error}") from error
    target.queries = 0
    target.calls = 0
    return target
