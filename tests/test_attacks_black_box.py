"""The scores-only (`pca-prior-bb`, `gmi-bb`) and label-only (`brep-mi`) attacks: they never touch the
target's autograd (its backward raises), their query counts are exactly what their options say, one batched
query per step, a batched run equals one identity at a time, and budgets are enforced before any query."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpmi.attacks import AttackResult, make_attack
from dpmi.attacks.access import QueryBudgetError, from_module
from test_attacks_access import RaisingTarget

TINY_GAN = dict(gan_steps=3, gan_scale=0.5, gan_width=8, gan_latent_dim=8)
ES = dict(steps=6, population=10, sigma=0.5, lr=0.1, restarts=2, candidates=30, seed=3)
BREP = dict(steps=7, points=6, init_batch=40, init_rounds=5, seed=1)

CASES = {
    "pca-prior-bb": ("scores", dict(components=6, **ES)),
    "gmi-bb": ("scores", dict(**TINY_GAN, **ES)),
    "brep-mi": ("labels", dict(prior="gan", **TINY_GAN, **BREP)),
    "brep-mi-pca": ("labels", dict(prior="pca", components=6, **BREP)),
}


@pytest.fixture(autouse=True)
def tiny_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path_factory.getbasetemp() / "black-box-cache"))


def build(case: str, faces, target: RaisingTarget, budget: int | None = None, **extra):
    access, options = CASES[case]
    wrapped = from_module(target, access, input_shape=faces.input_shape, budget=budget)
    name = "brep-mi" if case.startswith("brep-mi") else case
    return wrapped, make_attack(name, wrapped, public=faces, **{**options, **extra})


def brep_start_rounds(attack, target: RaisingTarget, labels: list[int]) -> int:
    """Rounds of the start search, replayed by hand: the first round after which every label was seen."""
    s = attack.settings
    generator = torch.Generator().manual_seed(s.seed)
    seen: set[int] = set()
    for round_ in range(1, s.init_rounds + 1):
        with torch.no_grad():
            predicted = target(attack.prior.decode(attack.prior.sample(s.init_batch, generator))).argmax(1)
        seen |= set(predicted.tolist())
        if set(labels) <= seen:
            return round_
    return s.init_rounds


@pytest.mark.parametrize("case", list(CASES))
def test_black_box_attacks_never_touch_the_targets_autograd_and_count_queries_exactly(case, synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes, seed=4)
    wrapped, attack = build(case, synthetic_faces, target)
    labels = [0, 3, 5]
    result = attack.invert(labels)  # a single backward through the target would raise
    assert isinstance(result, AttackResult)
    assert result.images.shape == (3, *synthetic_faces.input_shape) and torch.isfinite(result.images).all()
    assert target.grad_enabled_calls == 0
    if CASES[case][0] == "scores":
        # candidates + K x R x (steps x population + 6 selection transforms); 1 + steps + 1 calls.
        expected = ES["candidates"] + 3 * ES["restarts"] * (ES["steps"] * ES["population"] + 6)
        assert wrapped.calls == 1 + ES["steps"] + 1
    else:
        rounds = brep_start_rounds(attack, target, labels)
        # init_batch x rounds + K x steps x (points + 1 proposal); one call per round and per step.
        expected = BREP["init_batch"] * rounds + 3 * BREP["steps"] * (BREP["points"] + 1)
        assert result.start_queries == BREP["init_batch"] * rounds
        assert wrapped.calls == rounds + BREP["steps"]
    assert wrapped.queries == result.queries == expected
    summary = result.summary()
    assert summary["queries_per_identity"] == pytest.approx(expected / 3)
    assert 0 <= result.confidence.min() and result.confidence.max() <= 1


@pytest.mark.parametrize("case", list(CASES))
def test_batched_equals_one_identity_at_a_time(case, synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes, seed=6)
    _, attack = build(case, synthetic_faces, target)
    together = attack.invert([0, 1, 2])
    for row, label in enumerate([0, 1, 2]):
        _, alone_attack = build(case, synthetic_faces, target)
        alone = alone_attack.invert([label])
        torch.testing.assert_close(together.images[row], alone.images[0], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(together.confidence[row], alone.confidence[0], atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_a_budget_below_one_step_is_refused_before_any_query(case, synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    if CASES[case][0] == "scores":
        one_step = ES["candidates"] + 2 * ES["restarts"] * (ES["population"] + 6)
    else:
        one_step = BREP["init_batch"] + 2 * (BREP["points"] + 1)
    wrapped, attack = build(case, synthetic_faces, target, budget=one_step - 1)
    with pytest.raises(QueryBudgetError, match="below what one step"):
        attack.invert([1, 2])
    assert wrapped.queries == 0 and wrapped.calls == 0
    # The attack's own per-identity budget: the same rule.
    wrapped, attack = build(case, synthetic_faces, target, query_budget=(one_step - 1) // 2)
    with pytest.raises(QueryBudgetError, match="below what one step"):
        attack.invert([1, 2])
    assert wrapped.queries == 0


def test_a_budget_between_one_step_and_the_plan_cuts_the_steps(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    per_step = 2 * ES["restarts"] * ES["population"]
    fixed = ES["candidates"] + 2 * ES["restarts"] * 6
    budget = fixed + 3 * per_step + per_step // 2  # room for 3 steps and a half
    wrapped, attack = build("pca-prior-bb", synthetic_faces, target, budget=budget)
    result = attack.invert([1, 2])
    assert result.steps == 3 and result.planned_steps == ES["steps"]
    assert wrapped.queries == fixed + 3 * per_step <= budget
    with pytest.raises(QueryBudgetError):  # the budget is spent: the next invert cannot run one step
        attack.invert([1, 2])


def test_scores_given_as_probabilities_give_the_same_search_as_logits(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes, seed=8)
    logits = from_module(target, "scores", input_shape=synthetic_faces.input_shape)
    from dpmi.attacks.access import ScoresOnly

    probabilities = ScoresOnly(lambda x: target(x).softmax(1), synthetic_faces.num_classes, synthetic_faces.input_shape)
    options = CASES["pca-prior-bb"][1]
    a = make_attack("pca-prior-bb", logits, public=synthetic_faces, **options).invert([2, 4])
    b = make_attack("pca-prior-bb", probabilities, public=synthetic_faces, **options).invert([2, 4])
    torch.testing.assert_close(a.images, b.images, atol=1e-4, rtol=1e-4)


def test_a_module_passed_to_a_black_box_attack_is_queried_not_differentiated(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    attack = make_attack("pca-prior-bb", target, public=synthetic_faces, **CASES["pca-prior-bb"][1])
    result = attack.invert([1])
    assert attack.target.queries == result.queries > 0 and target.grad_enabled_calls == 0


def test_bad_options_are_refused(synthetic_faces):
    target = RaisingTarget(synthetic_faces.input_shape, synthetic_faces.num_classes)
    with pytest.raises(ValueError, match="population must be an even integer"):
        build("pca-prior-bb", synthetic_faces, target, population=7)
    with pytest.raises(ValueError, match="brep-mi prior must be one of"):
        build("brep-mi", synthetic_faces, target, prior="vae")
    with pytest.raises(ValueError, match="takes no option"):
        build("pca-prior-bb", synthetic_faces, target, points=3)


@pytest.mark.slow
def test_scores_only_attack_on_the_real_faces_names_people(faces):
    """A short pca-prior-bb run (2 restarts x 30 steps x 50) on the non-private softmax target names most of
    the 20 private people by their nearest mean face, far above chance (1/20)."""
    from dpmi.data import split_identities
    from dpmi.metrics import evaluate_inversion
    from dpmi.models import build_model
    from dpmi.privacy.dpsgd import TrainConfig, train

    people = split_identities(faces)
    train_set, _ = people.private.split(train_per_class=7, seed=0)
    x, y = train_set.to_tensors()
    model = build_model("softmax", num_classes=20, input_shape=train_set.input_shape, seed=0)
    train(model, x, y, TrainConfig(seed=0))
    scores = from_module(model, "scores", input_shape=train_set.input_shape)
    attack = make_attack("pca-prior-bb", scores, public=people.public, steps=30, restarts=2)
    result = attack.invert(range(20))
    assert result.queries == 500 + 20 * 2 * (30 * 50 + 6) == scores.queries
    metrics = evaluate_inversion(result, train_set)
    assert metrics["nearest_mean_top1"] >= 0.5
    assert metrics["attack_queries_per_identity"] == pytest.approx(result.queries / 20)
