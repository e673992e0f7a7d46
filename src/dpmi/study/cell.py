"""One cell of the study: a privacy level x a seed. Train the target once, measure it, run every attack on it,
score each attack.

A cell is a pure function of (config, level, recipe, seed) and the shared context (the private split, the
attacker's public people and the evaluation classifier, identical in every worker): the seed fixes the
model's initial weights, DP-SGD's sampling and noise, and each attack's randomness. So the same seed gives
the same numbers on CPU, whichever worker runs it and whether or not the run was interrupted and resumed.

Attacks are built only through the registry (`dpmi.attacks.registry.make_attack`): the attacker gets the
target model and the PUBLIC people's images, never a private one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpmi.data import FaceDataset
from dpmi.models.accuracy import accuracy
from dpmi.study.config import StudyConfig
from dpmi.study.levels import PrivacyLevel
from dpmi.study.recipe import Recipe
from dpmi.study.records import AttackRecord, CellRecord, TrainRecord


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell (picklable). people: attacked private people 0..people-1."""

    config: StudyConfig
    level: PrivacyLevel
    recipe: Recipe
    seed: int
    people: int


@dataclass
class CellContext:
    """Shared by every cell of a study: the private split as tensors on the device, the attacker's public
    people, and the judges (`dpmi.metrics.Judges`: the evaluation classifier and the LBP judge)."""

    train: FaceDataset
    test: FaceDataset
    public: FaceDataset
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    evaluator: Any
    device: str


_CONTEXT: CellContext | None = None


def make_context(
    train: FaceDataset, test: FaceDataset, public: FaceDataset, evaluator_path: str | Path, device: str
) -> CellContext:
    from dpmi.study.evaluator_cache import load_judges

    x_train, y_train = train.to_tensors(device)
    x_test, y_test = test.to_tensors(device)
    return CellContext(
        train, test, public, x_train, y_train, x_test, y_test, load_judges(evaluator_path, device), device
    )


def init_worker(train: FaceDataset, test: FaceDataset, public: FaceDataset, evaluator_path: str, device: str) -> None:
    """Executor initializer: build this process's context once (not once per cell)."""
    global _CONTEXT
    _CONTEXT = make_context(train, test, public, evaluator_path, device)


def worker_context() -> CellContext:
    """This process's context (RuntimeError before `init_worker` ran)."""
    if _CONTEXT is None:
        raise RuntimeError("a study task ran before init_worker")
    return _CONTEXT


def run_cell_task(task: CellTask) -> tuple[dict[str, Any], np.ndarray]:
    """Executor entry point: run `task` with this process's context (see init_worker); JSON-ready record."""
    record, images = run_cell(task, worker_context())
    return record.to_dict(), images


def level_train_config(
    config: StudyConfig, level: PrivacyLevel, recipe: Recipe, seed: int, device: str | torch.device
) -> Any:
    """The `TrainConfig` a level's target trains with: the level's chosen recipe, its sigma and the seed. The
    cells and the audit both build it here, so the audited target is the cell's target."""
    from dpmi.privacy.dpsgd import TrainConfig

    return TrainConfig(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        momentum=recipe.momentum,
        noise_multiplier=level.noise_multiplier,
        delta=config.privacy.delta,
        max_grad_norm=recipe.max_grad_norm,
        accountant=config.privacy.accountant,
        seed=seed,
        device=str(device),
    )


def train_target(task: CellTask, context: CellContext) -> tuple[torch.nn.Module, TrainRecord]:
    """The cell's target, trained with the level's privacy and the level's recipe."""
    from dpmi.models import resolve_model
    from dpmi.privacy.dpsgd import train

    config, level, recipe, seed = task.config, task.level, task.recipe, task.seed
    model = resolve_model(
        config.train.model, num_classes=context.train.num_classes, input_shape=context.train.input_shape, seed=seed
    ).to(context.device)
    train_config = level_train_config(config, level, recipe, seed, context.device)
    if level.defense in ("none", "early-stop"):  # early-stop is its searched recipe: fewer epochs, nothing else
        history = train(model, context.x_train, context.y_train, train_config)
    else:  # the defense's objective and trainable parts (TL-DMI pre-trains on the attacker's public people)
        from dpmi.defenses import train_with_defense

        defended = train_with_defense(
            model,
            context.x_train,
            context.y_train,
            train_config,
            level.defense,
            level.defense_strength,
            public=context.public,
            num_classes=context.train.num_classes,
        )
        model, history = defended.model.to(context.device), defended.history
    if level.private and (
        history.steps != level.steps
        or history.sample_rate is None
        or level.sample_rate is None
        or not np.isclose(history.sample_rate, level.sample_rate)
    ):
        raise RuntimeError(
            f"DP-SGD took {history.steps} steps at rate {history.sample_rate}, but the level's epsilon was "
            f"computed for {level.steps} steps at rate {level.sample_rate}"
        )
    return model, TrainRecord(
        list(history.loss),
        list(history.epsilon),
        int(history.steps),
        None if history.sample_rate is None else float(history.sample_rate),
        None if history.noise_multiplier is None else float(history.noise_multiplier),
    )


def run_attack(
    name: str, model: torch.nn.Module, task: CellTask, context: CellContext
) -> tuple[AttackRecord, np.ndarray]:
    """Build attack `name` through the registry, invert the attacked people, score the reconstructions.

    A scores or label-only attack gets the target behind `dpmi.attacks.access.from_module`, whose counter gives
    the record's queries; its per-person `query_budget` is the study's (`config.attack.query_budget`) unless the
    attack's option table sets one, and the target refuses any query past budget x people.

    Returns the record and the images float32 [people, C, H, W] in the model's input range.
    """
    from dpmi.attacks.access import from_module
    from dpmi.attacks.registry import attack_spec, make_attack
    from dpmi.metrics import evaluate_inversion

    start = time.perf_counter()
    torch.manual_seed(task.seed)  # attacks that draw from the global generator are seeded too
    options = task.config.options_for(name)
    fixed = task.config.attack.options.get(name, {})
    if "seed" in options and "seed" not in fixed:
        options["seed"] = task.seed  # the attack's own randomness follows the cell's seed unless fixed in config
    access = attack_spec(name).access
    target: Any = model
    if access != "white-box":  # the attacker queries the target behind a counter (and the study's budget)
        if "query_budget" in options and "query_budget" not in fixed:
            options["query_budget"] = task.config.attack.query_budget
        per_person = options.get("query_budget")
        target = from_module(
            model,
            access,
            input_shape=context.train.input_shape,
            num_classes=context.train.num_classes,
            budget=None if per_person is None else int(per_person) * task.people,
        )
    attack = make_attack(
        name, target, public=context.public, input_shape=context.train.input_shape, device=context.device, **options
    )
    result = attack.invert(list(range(task.people)))
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    scores = evaluate_inversion(result, context.train, context.evaluator)
    per_label = scores.pop("per_label", {})
    metric_seconds = time.perf_counter() - start
    summary = getattr(result, "summary", None)
    diagnostics = summary() if callable(summary) else {}
    record = AttackRecord(
        name,
        {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))},
        {k: np.asarray(v).tolist() for k, v in per_label.items()},
        {k: float(v) for k, v in diagnostics.items()},
        seconds,
        metric_seconds,
        access,
        None if access == "white-box" else int(target.queries),
    )
    images = result.images.detach().to("cpu", torch.float32).numpy()
    return record, images


def run_cell(task: CellTask, context: CellContext) -> tuple[CellRecord, np.ndarray]:
    """Train, evaluate, attack with every attack and score one cell.

    Returns:
        (record, reconstructions): the typed record and every attack's images stacked float32
        [attacks, people, C, H, W] in the study's attack order, in the model input range.
    """
    torch.manual_seed(task.seed)
    start = time.perf_counter()
    model, train_record = train_target(task, context)
    test_accuracy = accuracy(model, context.x_test, context.y_test)
    train_accuracy = accuracy(model, context.x_train, context.y_train)
    model.eval()
    timings = {"train": time.perf_counter() - start, "attack": 0.0, "metrics": 0.0}

    attacks: dict[str, AttackRecord] = {}
    stacked = []
    for name in task.config.attack.names:
        record, images = run_attack(name, model, task, context)
        attacks[name] = record
        stacked.append(images)
        timings["attack"] += record.seconds
        timings["metrics"] += record.metric_seconds
    return (
        CellRecord(task.level, task.seed, task.recipe, train_record, test_accuracy, train_accuracy, attacks, timings),
        np.stack(stacked).astype(np.float32),
    )
