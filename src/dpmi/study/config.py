"""The study's configuration: one frozen dataclass, loaded from TOML, overridden by flags, validated.

A `study.toml` groups keys in sections; `TOML_LAYOUT` below maps every key to one `StudyConfig` field
(`dpmi run --help` and the repository's `study.toml` list them for users).

Anything else (an unknown section or key, a value of the wrong type) is a ValueError that names it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from dpmi.models import MODELS
from dpmi.privacy.dpsgd.train import TrainConfig

ACCOUNTANTS = ("rdp", "pld")
PROCESSES = ("none", "denoise", "tv")
NUM_IDENTITIES = 40

# --quick: one seed and a short attack, enough to show the shape of the result in a few seconds a cell.
QUICK_SEEDS = 1
QUICK_MAX_ITER = 100


@dataclass(frozen=True)
class StudyConfig:
    """Everything `dpmi run` needs. Defaults are the issue's: the tutorial's softmax model on the 7/3 split,
    non-private, DP-SGD at the tutorial's sigma 0.5, and DP-SGD calibrated to epsilon 8, 3, 1; 3 seeds.

    Attributes (units and ranges):
        name: run name (the run directory's name under runs/); None -> a UTC timestamp.
        out: run directory; None -> runs/<name>. Must not be an existing file.
        jobs: worker processes for the cells, >= 1 (1 runs them in this process).
        threads: torch threads per process, >= 1. The cells' tensors are small, so threads mostly spin
            (on 2 shared cores, training took 7x longer with 2 threads than with 1); parallelise over
            cells with `jobs` instead.
        seed: first cell seed, >= 0; cells use seed, seed+1, ..., seed+seeds-1 (also seeds the evaluator).
        seeds: number of seeds per privacy level, >= 1.
        quick: smoke run: 1 seed and at most QUICK_MAX_ITER attack iterations.
        device: torch device the cells run on ("cpu", "cuda", "cuda:1", ...).
        data: faces directory; None -> $DPMI_DATA, else the cache.
        train_per_class: training images per identity, 1..9 (the rest are the held-out test images).
        split_seed: seed of the train/test split, >= 0 (fixed across cells: every cell sees the same people).
        model: target model, one of dpmi.models.MODELS.
        epochs: passes over the training set, >= 1 (steps = ceil(epochs / sample_rate) when private).
        batch_size: expected (Poisson) lot size when private, minibatch when not; 1..training set size.
        lr: SGD learning rate > 0 (default: dpmi.privacy.dpsgd.TrainConfig's, tuned for the softmax model).
        momentum: SGD momentum in [0, 1).
        max_grad_norm: per-example clipping norm C > 0.
        nonprivate: include the non-private level.
        noise_multipliers: fixed DP-SGD noise multipliers (sigma > 0), one level each (tutorial: 0.5).
        target_epsilons: DP-SGD levels calibrated to these epsilons (> 0) at `delta`.
        delta: the DP delta, in (0, 1).
        accountant: accountant that calibrates sigma for target epsilons, "rdp" or "pld" (both are reported).
        attack_max_iter: MI-FACE alpha, >= 1.
        attack_patience: MI-FACE beta, >= 1 (stop when no cost improvement in this many iterations).
        attack_threshold: MI-FACE gamma in [0, 1] (stop when cost 1 - p_label <= gamma; 0 disables it).
        attack_step_size: MI-FACE lambda > 0.
            The defaults are Fredrikson et al.'s (2015) beta 100, lambda 0.1 and gamma 0.99 read as a
            confidence (cost <= 0.01, as `MIFace.paper` does), with alpha capped at 300 instead of 5000: on the
            softmax model the metrics at 300 equal those at 200 and the DP models reach the threshold within
            ~50 steps, which keeps the default study inside its time budget.
        attack_process: MI-FACE Process: "none", "denoise" (NL-means + unsharp mask) or "tv" (TV AuxTerm).
        identities: attack identities 0..identities-1, 1..40.
        grid_identities: identities shown in the reconstruction grid, 1..identities.
    """

    name: str | None = None
    out: str | None = None
    jobs: int = 1
    threads: int = 1
    seed: int = 0
    seeds: int = 3
    quick: bool = False
    device: str = "cpu"
    data: str | None = None
    train_per_class: int = 7
    split_seed: int = 0
    model: str = "softmax"
    epochs: int = 30
    batch_size: int = 40
    lr: float = TrainConfig.lr
    momentum: float = 0.9
    max_grad_norm: float = 1.0
    nonprivate: bool = True
    noise_multipliers: tuple[float, ...] = (0.5,)
    target_epsilons: tuple[float, ...] = (8.0, 3.0, 1.0)
    delta: float = 1e-5
    accountant: str = "rdp"
    attack_max_iter: int = 300
    attack_patience: int = 100
    attack_threshold: float = 0.01
    attack_step_size: float = 0.1
    attack_process: str = "none"
    identities: int = NUM_IDENTITIES
    grid_identities: int = 8

    def cell_seeds(self) -> list[int]:
        """The seeds every privacy level is run with."""
        return list(range(self.seed, self.seed + self.seeds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (tuples become lists)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    # Fields that change a cell's numbers: a run directory is only resumed with the same values.
    CELL_FIELDS = (
        "train_per_class", "split_seed", "model", "epochs", "batch_size", "lr", "momentum", "max_grad_norm",
        "delta", "accountant", "attack_max_iter", "attack_patience", "attack_threshold", "attack_step_size",
        "attack_process", "identities", "seed",
    )

    def cell_fingerprint(self) -> dict[str, Any]:
        """The settings a finished cell depends on (see CELL_FIELDS)."""
        return {k: v for k, v in self.to_dict().items() if k in self.CELL_FIELDS}


# TOML section -> {key: field}. Field names are prefixed where a bare key would be ambiguous.
TOML_LAYOUT: dict[str, dict[str, str]] = {
    "run": {"name": "name", "out": "out", "jobs": "jobs", "threads": "threads", "seed": "seed", "seeds": "seeds", "quick": "quick",
            "device": "device"},
    "data": {"root": "data", "train_per_class": "train_per_class", "split_seed": "split_seed"},
    "train": {k: k for k in ("model", "epochs", "batch_size", "lr", "momentum", "max_grad_norm")},
    "privacy": {k: k for k in ("nonprivate", "noise_multipliers", "target_epsilons", "delta", "accountant")},
    "attack": {"max_iter": "attack_max_iter", "patience": "attack_patience", "threshold": "attack_threshold",
               "step_size": "attack_step_size", "process": "attack_process", "identities": "identities"},
    "report": {"grid_identities": "grid_identities"},
}


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a study TOML file into {field: value} (not yet validated).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid TOML, or an unknown section/key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist (pass --config a study TOML file)")
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"config file {path} cannot be read: {exc}") from exc
    values: dict[str, Any] = {}
    for section, body in document.items():
        if section not in TOML_LAYOUT or not isinstance(body, dict):
            raise ValueError(
                f"config file {path}: unknown section [{section}]; sections are "
                + ", ".join(f"[{s}]" for s in TOML_LAYOUT)
            )
        for key, value in body.items():
            if key not in TOML_LAYOUT[section]:
                raise ValueError(
                    f"config file {path}: unknown key {key!r} in [{section}]; valid keys: "
                    + ", ".join(TOML_LAYOUT[section])
                )
            values[TOML_LAYOUT[section][key]] = value
    return values


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(StudyConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Check a raw value's type against the field's and normalise it (ints for float fields, lists->tuples)."""
    kind = _FIELD_TYPES[name]
    optional = "None" in kind
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} must be set")
    if "tuple[float" in kind:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            raise ValueError(f"{name} must be a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def make_config(file: str | os.PathLike[str] | None = None, **overrides: Any) -> StudyConfig:
    """Defaults, then the TOML `file`, then `overrides` (flags; None means "not given"), then --quick, validated."""
    values: dict[str, Any] = {}
    if file is not None:
        values.update(load_config_file(file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(f"unknown study setting(s): {', '.join(unknown)}")
    config = StudyConfig(**{k: _coerce(k, v) for k, v in values.items()})
    if config.quick:
        config = dataclasses.replace(
            config, seeds=min(config.seeds, QUICK_SEEDS), attack_max_iter=min(config.attack_max_iter, QUICK_MAX_ITER)
        )
    validate(config)
    return config


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_device(device: str) -> None:
    """Raise ValueError if `device` names an accelerator this torch cannot use."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested, but this torch has no usable CUDA device: use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested, but it is not available here: use --device cpu")


def validate(config: StudyConfig) -> None:
    """Raise ValueError naming the first setting outside its range (see StudyConfig for the ranges)."""
    checks: list[tuple[bool, str]] = [
        (config.jobs >= 1, f"jobs must be >= 1, got {config.jobs}"),
        (config.threads >= 1, f"threads must be >= 1, got {config.threads}"),
        (config.device == "cpu" or config.device.startswith(("cuda", "mps")),
         f"device must be cpu, cuda, cuda:N or mps, got {config.device!r}"),
        (config.seed >= 0, f"seed must be >= 0, got {config.seed}"),
        (config.seeds >= 1, f"seeds (the number of seeds per level) must be >= 1, got {config.seeds}"),
        (1 <= config.train_per_class <= 9, f"train_per_class must be in 1..9, got {config.train_per_class}"),
        (config.split_seed >= 0, f"split_seed must be >= 0, got {config.split_seed}"),
        (config.model in MODELS, f"unknown model {config.model!r}: choose one of {', '.join(sorted(MODELS))}"),
        (config.epochs >= 1, f"epochs must be >= 1, got {config.epochs}"),
        (1 <= config.batch_size <= config.train_per_class * NUM_IDENTITIES,
         f"batch_size must be in 1..{config.train_per_class * NUM_IDENTITIES} (the training set size), "
         f"got {config.batch_size}"),
        (_finite(config.lr) and config.lr > 0, f"lr must be > 0, got {config.lr}"),
        (_finite(config.momentum) and 0 <= config.momentum < 1, f"momentum must be in [0, 1), got {config.momentum}"),
        (_finite(config.max_grad_norm) and config.max_grad_norm > 0,
         f"max_grad_norm (the clipping norm) must be > 0, got {config.max_grad_norm}"),
        (all(_finite(s) and s > 0 for s in config.noise_multipliers),
         f"noise multipliers (sigma) must be > 0, got {list(config.noise_multipliers)}"),
        (all(_finite(e) and e > 0 for e in config.target_epsilons),
         f"target epsilons must be > 0, got {list(config.target_epsilons)}"),
        (_finite(config.delta) and 0 < config.delta < 1, f"delta must be in (0, 1), got {config.delta}"),
        (config.accountant in ACCOUNTANTS, f"accountant must be one of {', '.join(ACCOUNTANTS)}, got {config.accountant!r}"),
        (config.attack_max_iter >= 1, f"attack max_iter must be >= 1, got {config.attack_max_iter}"),
        (config.attack_patience >= 1, f"attack patience must be >= 1, got {config.attack_patience}"),
        (_finite(config.attack_threshold) and 0 <= config.attack_threshold <= 1,
         f"attack threshold must be in [0, 1], got {config.attack_threshold}"),
        (_finite(config.attack_step_size) and config.attack_step_size > 0,
         f"attack step_size must be > 0, got {config.attack_step_size}"),
        (config.attack_process in PROCESSES,
         f"attack process must be one of {', '.join(PROCESSES)}, got {config.attack_process!r}"),
        (1 <= config.identities <= NUM_IDENTITIES, f"identities must be in 1..{NUM_IDENTITIES}, got {config.identities}"),
        (1 <= config.grid_identities <= config.identities,
         f"grid_identities must be in 1..{config.identities} (the attacked identities), got {config.grid_identities}"),
        (config.nonprivate or config.noise_multipliers or config.target_epsilons,
         "no privacy level to run: enable nonprivate or give noise_multipliers / target_epsilons"),
        (config.name is None or (config.name.strip() != "" and "/" not in config.name and config.name not in (".", "..")),
         f"name must be a non-empty directory name without '/', got {config.name!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    check_device(config.device)
    if len(set(config.noise_multipliers)) != len(config.noise_multipliers) or len(set(config.target_epsilons)) != len(
        config.target_epsilons
    ):
        raise ValueError("noise_multipliers and target_epsilons must not repeat a value")
