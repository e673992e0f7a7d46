"""`dpmi train`: its options (every `TrainConfig` field plus what `train_model` takes, with their defaults),
the training, and what it says afterwards."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from dpmi.flags import RESIZE_HELP, data_option, image_size_option, in_flag_terms, option
from dpmi.privacy.dpsgd import TrainConfig
from dpmi.workflows.attack_model import identity_ranges
from dpmi.workflows.command_output import CommandOutput
from dpmi.workflows.train_model import train_model

EPILOG = """\
privacy, in one line each:
  DP-SGD     clip each example's gradient to norm C (--clip), add Gaussian noise of std sigma*C to their sum
  sigma      the noise multiplier (--sigma); or give --epsilon and the smallest sigma meeting it is found
  epsilon    the privacy spent: lower is more private (at probability delta of failing, --delta)
  RDP        Renyi-DP accountant (Mironov 2017): an upper bound on epsilon, fast
  PLD        privacy-loss-distribution accountant (Koskela et al. 2020): a tight epsilon, never above RDP's
  order      the Renyi order alpha at which RDP's bound is tightest (`dpmi epsilon` prints it)
  seeded     sampling and noise drawn from --seed: the same seed gives the same model (for studies)
  secure     noise from the operating system's cryptographic source: not reproducible (for release)

identities are numbered from 0 in the order of the data (AT&T: folder s1 is identity 0). The model learns
only the private identities (--private-people; default the first half); the others stay public, the faces an
attacker with a prior may use (`dpmi attack`). Model label k is private identity k of the sidecar's list.

writes --out (the weights, a state_dict) and the sidecar beside it (--out with .json): model, identities,
split, data directory and its SHA-256, the full training recipe, sigma, epsilon by RDP and PLD, accuracy.
The weights are saved before the privacy is accounted: an accountant that fails leaves the model saved and
says so.
"""
_CONFIG = TrainConfig()  # the one source of the training flags' defaults
_CALL = {name: p.default for name, p in inspect.signature(train_model).parameters.items()}
SPLIT, TRAINING, PRIVACY, OUTPUT = "identities and split", "training", "privacy (DP-SGD; see below)", "output"


def _models_help() -> str:
    from dpmi.models import available_models

    return f"target model: {', '.join(available_models())}, or your own as pkg.module:factory"


def _accountants() -> tuple[str, ...]:
    from dpmi.privacy.accounting import available_accountants

    return available_accountants()


@dataclass
class TrainOptions:
    """Train one target model on the private identities' training images, non-privately or with DP-SGD;
    save the weights and a JSON sidecar."""

    out: str = option("model.pt", "--out", "weights file; the sidecar is PATH with .json", metavar="PATH")
    data: str | None = data_option()
    image_size: tuple[int, int] | None = image_size_option(
        RESIZE_HELP + " (default: as stored, all one size); the sidecar records it, so `dpmi attack` and "
        "`dpmi audit` load the faces at the same size"
    )
    model: str = option(_CALL["model"], "--model", _models_help, metavar="NAME")
    private_identities: tuple[int, ...] | None = option(
        _CALL["private_identities"],
        "--private-people",
        "identities the model learns, e.g. 0-19 (default: the first half)",
        kind="labels",
        metavar="LIST",
        group=SPLIT,
    )
    public_identities: tuple[int, ...] | None = option(
        _CALL["public_identities"],
        "--public-people",
        "identities left to the attacker (default: every identity not private)",
        kind="labels",
        metavar="LIST",
        group=SPLIT,
    )
    train_per_class: int = option(
        _CALL["train_per_class"],
        "--train-per-class",
        "training images per private identity; the rest are held out",
        kind="int",
        metavar="K",
        group=SPLIT,
    )
    split_seed: int = option(
        _CALL["split_seed"], "--split-seed", "seed of the train/held-out split", kind="int", metavar="S", group=SPLIT
    )
    epochs: int = option(
        _CONFIG.epochs, "--epochs", "passes over the training set", kind="int", metavar="N", group=TRAINING
    )
    batch_size: int = option(
        _CONFIG.batch_size,
        "--batch-size",
        "batch size; the expected (Poisson) batch size when private",
        kind="int",
        metavar="B",
        group=TRAINING,
    )
    lr: float = option(_CONFIG.lr, "--lr", "SGD learning rate", kind="float", group=TRAINING)
    momentum: float = option(
        _CONFIG.momentum, "--momentum", "SGD momentum in [0, 1)", kind="float", metavar="M", group=TRAINING
    )
    seed: int = option(
        _CONFIG.seed,
        "--seed",
        "seed of the initial weights, the batches and the noise",
        kind="int",
        metavar="S",
        group=TRAINING,
    )
    device: str = option(_CONFIG.device, "--device", "torch device: cpu, cuda, cuda:N", metavar="DEV", group=TRAINING)
    noise_multiplier: float | None = option(
        _CONFIG.noise_multiplier,
        "--sigma",
        "noise multiplier: train privately with this sigma (default: non-private)",
        kind="float",
        metavar="SIGMA",
        group=PRIVACY,
        exclusive="privacy",
    )
    target_epsilon: float | None = option(
        _CONFIG.target_epsilon,
        "--epsilon",
        "target epsilon: train privately with the smallest sigma meeting it (default: non-private)",
        kind="float",
        metavar="EPSILON",
        group=PRIVACY,
        exclusive="privacy",
    )
    delta: float = option(_CONFIG.delta, "--delta", "DP delta in (0, 1)", kind="float", metavar="D", group=PRIVACY)
    max_grad_norm: float = option(
        _CONFIG.max_grad_norm, "--clip", "per-example gradient clip norm", kind="float", metavar="C", group=PRIVACY
    )
    accountant: str = option(
        _CONFIG.accountant,
        "--accountant",
        "accountant that calibrates sigma for --epsilon and tracks training; the sidecar records both",
        choices=_accountants,
        group=PRIVACY,
    )
    secure_mode: bool = option(
        _CONFIG.secure_mode,
        "--secure",
        "secure mode: noise from the OS's cryptographic source, not reproducible (default: seeded from --seed)",
        group=PRIVACY,
    )
    json: bool = option(False, "--json", "print the result as JSON on stdout (default: text)", group=OUTPUT)
    no_progress: bool = option(False, "--no-progress", "no progress bar (default: a bar on stderr)", group=OUTPUT)

    def config(self) -> TrainConfig:
        """The TrainConfig these options describe: every TrainConfig field, by its name."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})


def _ids(ids: Any) -> str:
    return identity_ranges(ids) if ids else "none"


def train_command(options: TrainOptions, log: Callable[[str], None] = print) -> CommandOutput:
    """Train and save; errors name the flag ("--batch-size must be ...") rather than the field."""
    try:
        trained = train_model(
            options.out,
            data=options.data,
            image_size=options.image_size,
            model=options.model,
            config=options.config(),
            train_per_class=options.train_per_class,
            split_seed=options.split_seed,
            private_identities=options.private_identities,
            public_identities=options.public_identities,
            progress=not options.no_progress,
            log=lambda message: log(f"dpmi: warning: {message}"),
        )
    except ValueError as error:
        raise in_flag_terms(error, TrainOptions) from error
    meta = trained.metadata
    ids = meta["identities"]
    lines = [
        f"{meta['model']} trained on {len(ids['private'])} private identities ({_ids(ids['private'])}; "
        f"public: {_ids(ids['public'])}): test accuracy {trained.test_accuracy:.3f}, "
        f"train accuracy {trained.train_accuracy:.3f}"
    ]
    if trained.private:
        eps = trained.epsilon or {}
        spent = " / ".join(f"{'failed' if v is None else f'{v:.3g}'} ({k.upper()})" for k, v in eps.items())
        lines.append(
            f"DP-SGD: sigma {meta['noise_multiplier']:.4g}, {meta['steps']} steps at sample rate "
            f"{meta['sample_rate']:.4g}; epsilon {spent} at delta {meta['delta']:g}"
        )
    else:
        lines.append("non-private (no DP-SGD): no privacy guarantee")
    seeded = (
        " (reproducible from --seed)" if trained.mode == "seeded" else " (noise from the OS's cryptographic source)"
    )
    lines += [f"mode: {trained.mode}{seeded}", f"wrote {trained.path} and {trained.sidecar}"]
    return CommandOutput(lines, trained.to_dict())
