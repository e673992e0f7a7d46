"""Access as a type (`dpmi.attacks.access`): the query counter and budget, shape checks, the registry's
refusal of a white-box attack on a scores- or label-only target, and a target whose backward raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dpmi.attacks import attack_spec, available_attacks, make_attack
from dpmi.attacks.access import (
    LabelsOnly,
    QueryBudgetError,
    ScoresOnly,
    WhiteBox,
    access_of,
    as_access,
    from_module,
)


class _NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        raise RuntimeError("the target's autograd was used")


class RaisingTarget(nn.Module):
    """A linear classifier whose backward raises, and that records whether autograd was on in forward."""

    def __init__(self, input_shape: tuple[int, int, int], classes: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(int(np.prod(input_shape)), classes)
        self.grad_enabled_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.requires_grad:
            self.grad_enabled_calls += 1
        return self.linear(_NoBackward.apply(x.flatten(1)))


SHAPE = (1, 6, 5)


def test_the_raising_target_really_raises_on_backward():
    target = RaisingTarget(SHAPE, 4)
    x = torch.zeros(2, *SHAPE, requires_grad=True)
    with pytest.raises(RuntimeError, match="autograd was used"):
        target(x).sum().backward()


def test_scores_only_counts_images_checks_shapes_and_gives_no_graph():
    target = RaisingTarget(SHAPE, 4)
    scores = from_module(target, "scores", input_shape=SHAPE)
    assert isinstance(scores, ScoresOnly) and scores.outputs == "logits" and scores.num_classes == 4
    x = torch.randn(3, *SHAPE, requires_grad=True)
    out = scores(x)
    assert out.shape == (3, 4) and not out.requires_grad and scores.queries == 3 and scores.calls == 1
    np.testing.assert_allclose(scores.probabilities(x).sum(1).numpy(), 1.0, atol=1e-6)
    assert scores.queries == 6 and target.grad_enabled_calls == 0
    with pytest.raises(ValueError, match=r"images \[B, 1, 6, 5\]"):
        scores(torch.zeros(2, 1, 5, 5))
    wrong = ScoresOnly(lambda x: torch.zeros(len(x), 3), 4, SHAPE)
    with pytest.raises(ValueError, match=r"scores \[2, 4\]"):
        wrong(torch.zeros(2, *SHAPE))


def test_labels_only_returns_the_top_class_only():
    target = RaisingTarget(SHAPE, 4)
    labels = from_module(target, "labels", input_shape=SHAPE)
    x = torch.randn(5, *SHAPE)
    out = labels(x)
    assert out.dtype == torch.int64 and out.shape == (5,)
    assert torch.equal(out, target(x).argmax(1)) and labels.queries == 5
    with pytest.raises(ValueError, match="outside 0..3"):
        LabelsOnly(lambda x: torch.full((len(x),), 9), 4, SHAPE)(x)


def test_a_budget_is_enforced_before_the_query_reaches_the_target():
    calls = []
    scores = ScoresOnly(lambda x: calls.append(len(x)) or torch.zeros(len(x), 4), 4, SHAPE, budget=5)
    scores(torch.zeros(3, *SHAPE))
    assert scores.remaining == 2
    with pytest.raises(QueryBudgetError, match="budget 5, 3 used"):
        scores(torch.zeros(3, *SHAPE))
    assert calls == [3] and scores.queries == 3
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        ScoresOnly(lambda x: x, 4, SHAPE, budget=0)


def test_access_levels_and_conversion():
    target = RaisingTarget(SHAPE, 4)
    assert access_of(target) == "white-box" and access_of(WhiteBox(target)) == "white-box"
    scores = from_module(target, "scores", input_shape=SHAPE)
    labels = as_access(scores, "labels")
    assert isinstance(labels, LabelsOnly) and access_of(labels) == "labels"
    x = torch.randn(4, *SHAPE)
    assert torch.equal(labels(x), target(x).argmax(1))
    assert labels.queries == 4 and scores.queries == 4  # counted by both: the labels come from the scores
    with pytest.raises(ValueError, match="needs white-box access but the target gives only scores"):
        as_access(scores, "white-box")
    with pytest.raises(ValueError, match="needs scores access but the target gives only labels"):
        as_access(labels, "scores")
    with pytest.raises(ValueError, match="access must be one of"):
        from_module(target, "gradients", input_shape=SHAPE)


def test_every_attack_declares_its_access():
    levels = {name: attack_spec(name).access for name in available_attacks()}
    assert levels["mi-face"] == levels["pca-prior"] == levels["gmi"] == "white-box"
    assert levels["pca-prior-bb"] == levels["gmi-bb"] == "scores" and levels["brep-mi"] == "labels"
    for name in ("pca-prior-bb", "gmi-bb", "brep-mi"):
        assert attack_spec(name).defaults["query_budget"] <= 20_000


@pytest.mark.parametrize("attack", ["mi-face", "pca-prior", "gmi"])
def test_a_white_box_attack_on_a_scores_only_target_is_refused(attack, synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    scores = from_module(target, "scores", input_shape=synthetic_faces.input_shape)
    with pytest.raises(ValueError, match=rf"attack '{attack}' needs white-box access .* scores-only .*pca-prior-bb"):
        make_attack(attack, scores, public=synthetic_faces, input_shape=synthetic_faces.input_shape)
    labels = from_module(target, "labels", input_shape=synthetic_faces.input_shape)
    with pytest.raises(ValueError, match="label-only"):
        make_attack(attack, labels, public=synthetic_faces, input_shape=synthetic_faces.input_shape)
    assert scores.queries == labels.queries == 0


def test_a_scores_attack_on_a_label_only_target_is_refused(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    labels = from_module(target, "labels", input_shape=synthetic_faces.input_shape)
    with pytest.raises(ValueError, match="needs scores access but the target gives only labels"):
        make_attack("pca-prior-bb", labels, public=synthetic_faces, components=5)


def test_a_white_box_wrapper_is_unwrapped_for_white_box_attacks(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    attack = make_attack("pca-prior", WhiteBox(target), public=synthetic_faces, components=5, steps=0)
    assert attack.search.model is target


def scores_of_four(images):
    return torch.full((len(images), 4), 0.25)


def labels_of_four(images):
    return torch.zeros(len(images), dtype=torch.int64)


def wrong_shape(images):
    return torch.zeros(len(images), 3)


def raising(images):
    raise RuntimeError("the API is down")


def test_a_callable_target_is_imported_probed_and_refused_when_broken():
    from dpmi.attacks.access import load_callable_target

    here = "test_attacks_access"
    scores = load_callable_target(f"{here}:scores_of_four", "scores", num_classes=4, input_shape=SHAPE, budget=3)
    assert isinstance(scores, ScoresOnly) and scores.queries == 0 and scores.remaining == 3
    labels = load_callable_target(f"{here}:labels_of_four", "labels", num_classes=4, input_shape=SHAPE)
    assert isinstance(labels, LabelsOnly) and labels(torch.zeros(2, *SHAPE)).tolist() == [0, 0]
    for spec, message in [
        (f"{here}:wrong_shape", r"failed on a probe image: .*scores \[1, 4\]"),
        (f"{here}:raising", "failed on a probe image: the API is down"),
        (f"{here}:missing", "cannot import the target"),
        ("no_such_module_xyz:f", "cannot import the target"),
        ("no_colon", "pkg.module:function"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_callable_target(spec, "scores", num_classes=4, input_shape=SHAPE)
    with pytest.raises(ValueError, match="scores or labels access"):
        load_callable_target(f"{here}:scores_of_four", "white-box", num_classes=4, input_shape=SHAPE)
