"""One training loop for every model the study trains: plain minibatch SGD, or DP-SGD when a noise
multiplier or a target epsilon is given. Loss: cross-entropy on the model's logits, or a defense's
per-example objective (`objective=`) over a subset of the parameters (`parameters=`; see `dpmi.defenses`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dpmi.privacy.accounting.base import Accountant
from dpmi.privacy.dpsgd.private_training import PrivateTraining, make_private

# objective(model, xb, yb) -> per-example losses [n] of one forward pass of `model` on the batch: what a
# defense trains with instead of cross-entropy. Example i's loss must depend on example i alone (its inputs and
# the network's activations on it), so that DP-SGD's per-example clipping bounds each example's influence.
Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_objective(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """The default objective: per-example cross-entropy on the model's logits."""
    return F.cross_entropy(model(xb), yb, reduction="none")


@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        epochs: passes over the training set, >= 1 (private: steps = ceil(epochs / sample_rate)).
        batch_size: expected Poisson batch size when private, fixed shuffled minibatch size when not;
            in 1..N.
        lr: SGD learning rate > 0. The default 0.01 (momentum 0.9, 30 epochs, batch 40, clip 1) trains
            softmax regression on the 7/3 split of the AT&T faces to held-out accuracy 0.975 without
            noise, 0.875 at sigma 0.5, 0.64 / 0.29 / 0.075 at epsilon 8 / 3 / 1 (delta 1e-5, RDP); 0.05
            is better without noise but much worse with it (noise enters the update times lr).
        momentum: SGD momentum in [0, 1).
        noise_multiplier: sigma >= 0; training is private iff this or `target_epsilon` is set (not both).
        target_epsilon: > 0; sigma is calibrated by the accountant for the planned steps at `delta`.
        delta: in (0, 1).
        max_grad_norm: per-example clipping bound C > 0.
        accountant: "rdp" or "pld".
        seed: >= 0; seeds shuffling / Poisson sampling and the noise.
        device: torch device the data and model are moved to ("cpu", "cuda", ...).
        secure_mode: private training draws its noise and batches from the OS CSPRNG (never from `seed`;
            `make_private(secure_mode=True)`), for a model to release; False: seeded, reproducible.
    """

    epochs: int = 30
    batch_size: int = 40
    lr: float = 0.01
    momentum: float = 0.9
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    accountant: str = "rdp"
    seed: int = 0
    device: str = "cpu"
    secure_mode: bool = False

    @property
    def private(self) -> bool:
        return self.noise_multiplier is not None or self.target_epsilon is not None

    def validate(self, num_examples: int) -> None:
        """Raise ValueError naming the first invalid field and its valid range."""
        if not (_is_int(self.epochs) and self.epochs >= 1):
            raise ValueError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not (_is_int(self.batch_size) and 1 <= self.batch_size <= num_examples):
            raise ValueError(
                f"batch_size must be an integer in 1..{num_examples} (the training set size), got {self.batch_size!r}"
            )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ValueError("set noise_multiplier or target_epsilon, not both")
        if self.noise_multiplier is not None and not (
            self.noise_multiplier >= 0 and math.isfinite(self.noise_multiplier)
        ):
            raise ValueError(f"noise_multiplier must be a finite number >= 0, got {self.noise_multiplier}")
        if self.target_epsilon is not None and not (self.target_epsilon > 0 and math.isfinite(self.target_epsilon)):
            raise ValueError(f"target_epsilon must be a finite number > 0, got {self.target_epsilon}")
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {self.delta}")
        if not (self.max_grad_norm > 0 and math.isfinite(self.max_grad_norm)):
            raise ValueError(f"max_grad_norm must be a finite number > 0, got {self.max_grad_norm}")
        from dpmi.privacy.accounting import ACCOUNTANTS  # the registry: "rdp", "pld" and any registered since

        if self.accountant not in ACCOUNTANTS:
            raise ValueError(f"accountant must be one of {', '.join(ACCOUNTANTS)}, got {self.accountant!r}")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.secure_mode, bool):
            raise ValueError(f"secure_mode must be True or False, got {self.secure_mode!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass
class TrainHistory:
    """What training did.

    Attributes:
        loss: mean training cross-entropy (nats) of the batches seen, per epoch (the objective's mean when
            trained with one).
        epsilon: epsilon at `delta` after each epoch (empty if not private).
        noise_multiplier: sigma used (None if not private).
        steps: optimizer steps taken (private: including empty Poisson batches).
        sample_rate: Poisson rate q (None if not private).
        accountant: the accountant holding every private step (None if not private).
        secure_mode: True when the DP-SGD noise came from the OS CSPRNG (not reproducible from the seed);
            False for seeded noise and for non-private training.
    """

    loss: list[float] = field(default_factory=list)
    epsilon: list[float] = field(default_factory=list)
    noise_multiplier: float | None = None
    steps: int = 0
    sample_rate: float | None = None
    accountant: Accountant | None = None
    secure_mode: bool = False


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    *,
    objective: Objective | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> TrainHistory:
    """Train `model` (returns logits) on images `x` [N, ...] and labels `y` [N] in place.

    Plain SGD with momentum on fixed-size shuffled minibatches, or DP-SGD (Poisson batches, per-example
    clipping, Gaussian noise, accounting) when `config.noise_multiplier` or `config.target_epsilon` is set.

    Args:
        objective: `objective(model, xb, yb) -> [n]` per-example losses (default: cross-entropy); plain
            training minimises their mean, DP-SGD clips each one's gradient.
        parameters: the parameters to train (default: all that require gradients). Every other parameter is
            frozen for the run (requires_grad off, restored afterwards), so it stays bit-identical and DP-SGD
            clips and noises only the trained ones.
        after_epoch: non-private only: called with the epoch number (1..epochs) after each epoch, the model as
            it stands; a plain run's batches do not depend on `epochs`, so after epoch e the model equals the
            one `epochs=e` trains (what the early-stop baseline's sweep reads, `dpmi.study.early_stop_match`).
    """
    if after_epoch is not None and config.private:
        raise ValueError("after_epoch is for non-private training only (DP-SGD's steps depend on the epochs)")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of examples, got {x.shape[0]} and {y.shape[0]}")
    with _training_only(model, parameters) as trained:
        device, optimizer = _prepare(model, int(x.shape[0]), config, trained)
        x, y = x.to(device), y.to(device)
        history = TrainHistory()
        if not config.private:
            _train_plain(model, optimizer, x, y, config, history, objective, after_epoch)
            return history
        _train_private(model, _private_training(model, optimizer, (x, y), config), config, history, objective)
        return history


@contextmanager
def _training_only(model: nn.Module, parameters: Iterable[nn.Parameter] | None) -> Iterator[list[nn.Parameter] | None]:
    """Within the block only `parameters` require gradients; yields them (None, changing nothing, when None:
    the model trains as it is). ValueError when one of them is not the model's, or none is given."""
    if parameters is None:
        yield None
        return
    chosen = list(parameters)
    own = {id(p) for p in model.parameters()}
    if not chosen:
        raise ValueError("parameters to train is empty: nothing to train")
    if any(id(p) not in own for p in chosen):
        raise ValueError("parameters to train must be parameters of the model being trained")
    keep = {id(p) for p in chosen}
    saved = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(id(p) in keep)
        yield [p for p in model.parameters() if id(p) in keep]
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def _prepare(
    model: nn.Module, n: int, config: TrainConfig, parameters: list[nn.Parameter] | None = None
) -> tuple[torch.device, torch.optim.SGD]:
    """Check the config against n training examples, put the model on the config's device in train mode, and
    make its SGD optimizer (over `parameters`, default all): what tensor and Dataset training share."""
    if n < 1:
        raise ValueError("the training set is empty")
    config.validate(n)
    device = torch.device(config.device)
    model.to(device)
    model.train()
    params = list(model.parameters()) if parameters is None else parameters
    return device, torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)


def _private_training(model: nn.Module, optimizer: Any, data: Any, config: TrainConfig, **loader: Any) -> Any:
    """`make_private` with the config's DP-SGD settings, over tensors (x, y) or a Dataset (`loader`: its
    DataLoader's num_workers and pin_memory)."""
    return make_private(
        model,
        optimizer,
        data,
        noise_multiplier=config.noise_multiplier,
        target_epsilon=config.target_epsilon,
        delta=config.delta,
        max_grad_norm=config.max_grad_norm,
        expected_batch_size=config.batch_size,
        epochs=config.epochs,
        accountant=config.accountant,
        seed=config.seed,
        secure_mode=config.secure_mode,
        **loader,
    )


def _train_private(
    model: nn.Module,
    private: PrivateTraining,
    config: TrainConfig,
    history: TrainHistory,
    objective: Objective | None = None,
) -> None:
    """The DP-SGD epochs of `train` / `train_on_dataset`; detaches `private` from the model at the end."""
    try:
        history.noise_multiplier = private.noise_multiplier
        history.sample_rate = private.sample_rate
        history.accountant = private.accountant
        history.secure_mode = private.secure_mode
        for epoch in range(config.epochs):
            # The planned steps split into epochs; the last epoch takes whatever rounding left.
            start = private.steps_taken
            planned_end = (
                private.steps
                if epoch == config.epochs - 1
                else min(private.steps, round((epoch + 1) * private.steps / config.epochs))
            )
            total, count = 0.0, 0
            for xb, yb in private.batches(max(0, planned_end - start)):
                losses = (
                    F.cross_entropy(model(xb), yb, reduction="none") if objective is None else objective(model, xb, yb)
                )
                private.step(losses)
                total += float(losses.detach().sum())
                count += int(losses.shape[0])
            history.loss.append(total / count if count else float("nan"))
            history.epsilon.append(private.epsilon(config.delta))
        history.steps = private.steps_taken
    finally:
        private.detach()


def train_on_dataset(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
    objective: Objective | None = None,
    parameters: Iterable[nn.Parameter] | None = None,
) -> TrainHistory:
    """`train` on a map-style Dataset (`dataset[i]` = (image [C, H, W], label)) read through a DataLoader
    with `num_workers` workers, so the training images never sit in memory as one tensor (e.g.
    `dpmi.data.ImageFolderDataset` over a folder). Same batches, so the same model and epsilon, as `train` on
    tensors holding the same examples, for the same config.
    """
    n = len(dataset)  # type: ignore[arg-type]
    device, optimizer = _prepare(model, n, config)
    history = TrainHistory()
    if not config.private:
        rng = np.random.default_rng(config.seed)  # the permutations of _train_plain, in the same order
        orders = [rng.permutation(n) for _ in range(config.epochs)]
        chunks = [order[s : s + config.batch_size].tolist() for order in orders for s in range(0, n, config.batch_size)]
        loader = DataLoader(dataset, batch_sampler=chunks, num_workers=num_workers, pin_memory=pin_memory)
        per_epoch = len(chunks) // config.epochs
        total = 0.0
        for k, (xb, yb) in enumerate(loader):
            xb, yb = xb.to(device, non_blocking=pin_memory), yb.to(device, non_blocking=pin_memory)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb) if objective is None else objective(model, xb, yb).mean()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * yb.numel()
            history.steps += 1
            if (k + 1) % per_epoch == 0:
                history.loss.append(total / n)
                total = 0.0
        return history
    private = _private_training(model, optimizer, dataset, config, num_workers=num_workers, pin_memory=pin_memory)
    _train_private(model, private, config, history, objective)
    return history


def _train_plain(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    history: TrainHistory,
    objective: Objective | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> None:
    n = int(x.shape[0])
    rng = np.random.default_rng(config.seed)
    for epoch in range(config.epochs):
        order = torch.from_numpy(rng.permutation(n)).to(x.device)
        total = 0.0
        for start in range(0, n, config.batch_size):
            index = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            if objective is None:
                loss = F.cross_entropy(model(x[index]), y[index])
            else:
                loss = objective(model, x[index], y[index]).mean()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * index.numel()
            history.steps += 1
        history.loss.append(total / n)
        if after_epoch is not None:
            after_epoch(epoch + 1)
