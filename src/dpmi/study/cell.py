"""One cell of the study: a privacy level x a seed. Train the target, measure it, invert it, score the inversion.

A cell is a pure function of (config, level, seed) and the shared context (the split and the evaluation
classifier, identical in every worker): the seed fixes the model's initial weights and DP-SGD's sampling and
noise, and MI-FACE is deterministic from x_0 = 0. So the same seed gives the same numbers on CPU, whichever
worker runs it and whether or not the run was interrupted and resumed.
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
from dpmi.study.store import json_safe


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell (picklable)."""

    config: StudyConfig
    level: PrivacyLevel
    seed: int


@dataclass
class CellContext:
    """Shared by every cell of a study: the split, as tensors on the device, and the evaluation classifier."""

    train: FaceDataset
    test: FaceDataset
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    evaluator: Any
    device: str


_CONTEXT: CellContext | None = None


def make_context(train: FaceDataset, test: FaceDataset, evaluator_path: str | Path, device: str) -> CellContext:
    from dpmi.study.evaluator_cache import load_evaluator

    x_train, y_train = train.to_tensors(device)
    x_test, y_test = test.to_tensors(device)
    return CellContext(train, test, x_train, y_train, x_test, y_test, load_evaluator(evaluator_path, device), device)


def init_worker(train: FaceDataset, test: FaceDataset, evaluator_path: str, device: str) -> None:
    """Executor initializer: build this process's context once (not once per cell)."""
    global _CONTEXT
    _CONTEXT = make_context(train, test, evaluator_path, device)


def run_cell_task(task: CellTask) -> tuple[dict[str, Any], np.ndarray]:
    """Executor entry point: run `task` with this process's context (see init_worker)."""
    if _CONTEXT is None:
        raise RuntimeError("run_cell_task called before init_worker")
    return run_cell(task, _CONTEXT)


def build_attack(model: torch.nn.Module, config: StudyConfig, device: str):
    """MI-FACE (Fredrikson et al. 2015, Alg. 1) with the study's alpha, beta, gamma, lambda and Process."""
    from dpmi.attacks import DenoiseSharpen, MIFace, TotalVariation

    return MIFace(
        model,
        max_iter=config.attack_max_iter,
        patience=config.attack_patience,
        threshold=config.attack_threshold if config.attack_threshold > 0 else None,  # 0 = rule off
        step_size=config.attack_step_size,
        aux_term=TotalVariation() if config.attack_process == "tv" else None,
        process=DenoiseSharpen() if config.attack_process == "denoise" else None,
        apply_softmax=True,  # dpmi models output logits
        device=device,
    )


def run_cell(task: CellTask, context: CellContext) -> tuple[dict[str, Any], np.ndarray]:
    """Train, evaluate, attack and score one cell.

    Returns:
        (record, reconstructions): the JSON-ready record (layout: store.py's module docstring) and
        the MI-FACE images float32 [identities, 112, 92] in the model input range [-1, 1].
    """
    from dpmi.metrics import evaluate_inversion
    from dpmi.models import build_model
    from dpmi.privacy.dpsgd import TrainConfig, train

    config, level, seed = task.config, task.level, task.seed
    torch.manual_seed(seed)  # anything downstream that draws from the global generator is seeded too
    timings: dict[str, float] = {}

    start = time.perf_counter()
    model = build_model(config.model, seed=seed).to(context.device)
    train_config = TrainConfig(
        epochs=config.epochs, batch_size=config.batch_size, momentum=config.momentum,
        noise_multiplier=level.noise_multiplier, delta=config.delta, max_grad_norm=config.max_grad_norm,
        accountant=config.accountant, seed=seed, device=context.device, lr=config.lr,
    )
    history = train(model, context.x_train, context.y_train, train_config)
    if level.private and (history.steps != level.steps or not np.isclose(history.sample_rate, level.sample_rate)):
        raise RuntimeError(
            f"DP-SGD took {history.steps} steps at rate {history.sample_rate}, but the level's epsilon was "
            f"computed for {level.steps} steps at rate {level.sample_rate}"
        )
    test_accuracy = accuracy(model, context.x_test, context.y_test)
    train_accuracy = accuracy(model, context.x_train, context.y_train)
    timings["train"] = time.perf_counter() - start

    start = time.perf_counter()
    labels = list(range(config.identities))
    result = build_attack(model, config, context.device).invert(labels)
    timings["attack"] = time.perf_counter() - start

    start = time.perf_counter()
    scores = evaluate_inversion(result, context.train, context.evaluator)
    timings["metrics"] = time.perf_counter() - start

    per_label = scores.pop("per_label", {})
    record = {
        "level": level.to_dict(),
        "seed": seed,
        "train": {
            "loss": json_safe(history.loss),
            "epsilon": json_safe(history.epsilon),
            "steps": int(history.steps),
            "sample_rate": None if history.sample_rate is None else float(history.sample_rate),
            "noise_multiplier": None if history.noise_multiplier is None else float(history.noise_multiplier),
        },
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "attack": {"labels": labels, "stop_reason": [str(r) for r in result.stop_reason]},
        "metrics": json_safe(scores),
        "per_label": json_safe(per_label),
        "timings": timings,
    }
    images = result.images.detach().to("cpu", torch.float32).numpy()[:, 0]
    return record, images
