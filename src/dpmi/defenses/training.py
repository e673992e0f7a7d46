"""Training a target under a defense, with or without DP-SGD:

    from dpmi.defenses import train_with_defense
    done = train_with_defense(model, x, y, TrainConfig(), "label-smoothing", -0.05)
    done = train_with_defense(model, x, y, TrainConfig(target_epsilon=8.0), "tl-dmi", 1, public=people.public)
    done.model   # the trained network (a new module when the defense wraps the model, e.g. mid)

The defense's wrapper, per-example loss and trainable parameters go into `dpmi.privacy.dpsgd.train`, whose
non-private loop minimises the mean loss and whose DP-SGD loop clips each example's loss gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dpmi.defenses.base import DefenseSpec
from dpmi.defenses.registry import DEFENSES
from dpmi.privacy.dpsgd.train import Objective, TrainConfig, TrainHistory, train


@dataclass
class DefendedTraining:
    """What `train_with_defense` did.

    Attributes:
        model: the trained network (the defense's wrapper around the given model, or the model itself).
        history: the training history (private: epsilon per epoch).
        defense: the defense's name; strength: the strength used (0.0 for `none`).
        config: the TrainConfig actually trained with (dp-sgd's target epsilon, early-stop's epochs).
        trained_parameters, frozen_parameters: parameter counts (elements) trained and left untouched.
        pretrain_history: the public pre-training's history (tl-dmi), else None.
    """

    model: nn.Module
    history: TrainHistory
    defense: str
    strength: float
    config: TrainConfig
    trained_parameters: int
    frozen_parameters: int
    pretrain_history: TrainHistory | None = None


def defense_objective(spec: DefenseSpec, strength: float) -> Objective:
    """`objective(model, xb, yb) -> [n]`: one forward pass, then the defense's per-example loss with extras
    {"inputs": xb, **model.defense_extras}."""

    def objective(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        outputs = model(xb)
        extras: dict[str, Any] = {"inputs": xb, **getattr(model, "defense_extras", {})}
        losses = spec.loss(outputs, yb, strength, extras)
        if losses.dim() != 1 or losses.shape[0] != yb.shape[0]:
            raise ValueError(
                f"defense {spec.name!r}: its loss must give one value per example ([{yb.shape[0]}]), got shape "
                f"{tuple(losses.shape)}"
            )
        return losses

    return objective


def _public_tensors(public: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) from a FaceDataset (its `to_tensors()`) or an (x, y) pair; labels remapped to 0..P-1."""
    x, y = public.to_tensors() if hasattr(public, "to_tensors") else public
    _, y = torch.unique(torch.as_tensor(y), return_inverse=True)
    return torch.as_tensor(x), y.long()


def train_with_defense(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    defense: str = "none",
    strength: float | None = None,
    *,
    public: Any = None,
    num_classes: int | None = None,
) -> DefendedTraining:
    """Train `model` on (x [N, ...], y [N]) under `defense` at `strength` (None: its default) with `config`,
    which is private (DP-SGD) when it sets a noise multiplier or target epsilon (or the defense is dp-sgd).

    Args:
        public: the public people (a FaceDataset or (x, y) tensors) for a defense that pre-trains (tl-dmi).
        num_classes: outputs of a head the defense builds (default: max(y) + 1).

    ValueError, naming the cause: an unknown defense, a strength outside its range, a defense that does not
    compose with DP-SGD under a private config, tl-dmi without public people or on a model with one layer.
    """
    spec = DEFENSES.get(defense)
    value = spec.check_strength(strength)
    config = spec.configure(config, value)
    spec.check_composes(config)
    if spec.needs_public and public is None:
        raise ValueError(f"defense {spec.name!r} pre-trains on the public people: pass public= (their faces)")
    classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    net = spec.wrap_model(model, value, classes, seed=config.seed)
    pretrain_history = None
    if spec.pretrain is not None:
        px, py = _public_tensors(public)
        pretrain_history = spec.pretrain(net, px.to(config.device), py.to(config.device), config, value)
    chosen = list(spec.trainable(net, value))
    chosen_ids = {id(p) for p in chosen}
    history = train(net, x, y, config, objective=defense_objective(spec, value), parameters=chosen)
    trained = sum(p.numel() for p in chosen)
    frozen = sum(p.numel() for p in net.parameters() if id(p) not in chosen_ids)
    return DefendedTraining(net, history, spec.name, value, config, trained, frozen, pretrain_history)


def defended_trainer(
    defense: str, strength: float | None = None, *, public: Any = None, num_classes: int | None = None
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor, TrainConfig], DefendedTraining]:
    """`trainer(model, x, y, config) -> DefendedTraining`: `train_with_defense` with the defense fixed, checked
    once here (unknown name or strength out of range: ValueError), for code that trains many models of one
    recipe, such as an audit's shadow and canary models."""
    spec = DEFENSES.get(defense)
    value = spec.check_strength(strength)

    def trainer(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> DefendedTraining:
        return train_with_defense(model, x, y, config, spec.name, value, public=public, num_classes=num_classes)

    return trainer
