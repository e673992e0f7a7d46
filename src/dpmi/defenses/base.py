"""What a defense is: a `DefenseSpec` (name, paper, strength knob, whether it composes with DP-SGD) and its
hooks into training, each with a default that changes nothing.

A defense changes the training objective or the trainable parts of a target, never the data:

- `wrap_model(model, strength, num_classes, seed=...) -> nn.Module`: the network trained and attacked (MID puts
  a variational information bottleneck before the head; default: the model itself). A wrapper that needs more
  than the logits in the loss leaves them in `defense_extras` (a dict of tensors of its last forward pass).
- `loss(outputs, labels, strength, extras) -> [N]`: per-example losses (default: cross-entropy), so that
  DP-SGD's per-example clipping applies unchanged. `extras` holds "inputs" (the batch) and the wrapper's
  `defense_extras`. Example i's loss must depend on example i alone for the defense to compose with DP-SGD.
- `trainable(model, strength) -> parameters` (default: all of them): TL-DMI fine-tunes only the last layers;
  the others stay bit-identical.
- `pretrain(model, public_x, public_y, config, strength)`: optional, in place, on the public people (TL-DMI);
  no privacy cost, the public people are the attacker's and never the model's.
- `configure(config, strength) -> TrainConfig`: the training recipe the defense runs with (dp-sgd: the target
  epsilon; early-stop: fewer epochs; default unchanged).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dpmi.privacy.dpsgd.train import TrainConfig


@dataclass(frozen=True)
class StrengthKnob:
    """A defense's one strength parameter.

    Attributes:
        name: what it is ("alpha", "beta", "epsilon", ...).
        low, high: its range; `low_open` / `high_open` exclude an end (math.inf for no upper end).
        default: the value used when none is given (inside the range).
        grid: the documented default grid of a frontier run (every value inside the range).
        integer: only whole numbers (epochs, layers).
        doc: one line on what larger values do.
    """

    name: str
    low: float
    high: float
    default: float
    grid: tuple[float, ...]
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        for value in (self.default, *self.grid):
            if not self.contains(value):
                raise ValueError(f"strength {self.name}={value!r} is outside the knob's own range {self.range_text()}")

    def range_text(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or math.isinf(self.high) else "]"
        kind = "an integer in " if self.integer else ""
        return f"{kind}{left}{_num(self.low)}, {_num(self.high)}{right}"

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        v = float(value)
        if not math.isfinite(v) or (self.integer and v != int(v)):
            return False
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return above and below


def same_model(model: nn.Module, strength: float, num_classes: int, seed: int = 0) -> nn.Module:
    """The default `wrap_model`: the model itself."""
    return model


def cross_entropy_loss(
    outputs: torch.Tensor, labels: torch.Tensor, strength: float, extras: dict[str, Any]
) -> torch.Tensor:
    """The default `loss`: per-example cross-entropy on the logits."""
    return F.cross_entropy(outputs, labels, reduction="none")


def all_parameters(model: nn.Module, strength: float) -> list[nn.Parameter]:
    """The default `trainable`: every parameter that requires gradients."""
    return [p for p in model.parameters() if p.requires_grad]


def same_config(config: TrainConfig, strength: float) -> TrainConfig:
    """The default `configure`: the recipe unchanged."""
    return config


@dataclass(frozen=True)
class DefenseSpec:
    """A registered defense.

    Attributes:
        name: registry name ("label-smoothing", "mid", ...).
        summary: one line for listings.
        reference: the paper it follows.
        departs: where dpmi's version departs from the paper.
        strength: its knob, or None for a defense without one (`none`).
        composes_with_dp: True when it can be trained with DP-SGD (a private TrainConfig); else
            `why_not_dp` says why, and asking for it is a ValueError carrying that reason.
        private: True when the defense IS DP-SGD (its strength is the target epsilon).
        wrap_model, loss, trainable, pretrain, configure: the hooks (module docstring).
        needs_public: True when `pretrain` needs the public people.
    """

    name: str
    summary: str
    reference: str
    departs: str
    strength: StrengthKnob | None
    composes_with_dp: bool = True
    why_not_dp: str = ""
    private: bool = False
    wrap_model: Callable[..., nn.Module] = same_model
    loss: Callable[[torch.Tensor, torch.Tensor, float, dict[str, Any]], torch.Tensor] = cross_entropy_loss
    trainable: Callable[[nn.Module, float], Iterable[nn.Parameter]] = all_parameters
    pretrain: Callable[..., Any] | None = None
    configure: Callable[[TrainConfig, float], TrainConfig] = same_config
    needs_public: bool = False

    @property
    def loss_only(self) -> bool:
        """True when the defense changes only the per-example loss of the logits (label-smoothing): same
        network, all parameters, no pre-training, no extras beyond the logits; a trainer with its own fast
        path for cross-entropy (the audit's stacked shadow models) can swap `loss` in for it."""
        return (
            self.wrap_model is same_model
            and self.trainable is all_parameters
            and self.pretrain is None
            and self.loss is not cross_entropy_loss
        )

    @property
    def changes_training(self) -> bool:
        """False for a defense that trains exactly as `dpmi.privacy.dpsgd.train` with the (configured) recipe
        (none, dp-sgd, early-stop): every other one needs `train_with_defense`."""
        return not (
            self.wrap_model is same_model
            and self.trainable is all_parameters
            and self.pretrain is None
            and self.loss is cross_entropy_loss
        )

    def check_strength(self, strength: object = None) -> float:
        """The strength to use: `strength`, or the knob's default when None; ValueError naming the defense, the
        knob and its range when it is outside (or given to a defense without a knob)."""
        if self.strength is None:
            if strength is not None:
                raise ValueError(f"defense {self.name!r} has no strength knob, got strength {strength!r}")
            return 0.0
        if strength is None:
            return float(self.strength.default)
        if not self.strength.contains(strength):
            raise ValueError(
                f"defense {self.name!r}: strength {self.strength.name}={strength!r} is outside its range "
                f"{self.strength.range_text()} ({self.strength.doc})"
            )
        assert isinstance(strength, numbers.Real)
        return float(strength)

    def check_composes(self, config: TrainConfig) -> None:
        """ValueError when `config` is private (DP-SGD) and this defense cannot be trained under it."""
        if config.private and not self.composes_with_dp:
            raise ValueError(f"defense {self.name!r} does not compose with DP-SGD: {self.why_not_dp}")


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value:g}"


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """(dotted name, module) of the model's last nn.Linear in registration order: its head, for the
    models dpmi builds (softmax, mlp, cnn) and for Sequential-style user models. ValueError when there is none."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear layer: this defense needs a linear head (the last nn.Linear)"
        )
    return found[-1]


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted `name` (e.g. "classifier.1") with `module`."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def parameterised_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module that owns parameters itself, in registration order (forward order for
    the models dpmi builds)."""
    return [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def seeded_init(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """`build()` with the torch RNG seeded by `seed`, the global RNG left untouched (as `build_model`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()
