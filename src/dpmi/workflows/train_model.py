"""Train one target model on the private identities, save it with its sidecar, then account for its privacy.

    from dpmi.workflows import train_model
    from dpmi.privacy.dpsgd import TrainConfig
    trained = train_model("model.pt", config=TrainConfig(target_epsilon=3.0, seed=0))
    print(trained.test_accuracy, trained.epsilon)        # {"rdp": ..., "pld": ...}

What `dpmi train` does, as a library call. The faces' identities are split into private ones (the target
learns only these) and public ones (left for an attacker's prior; `dpmi.data.split_identities`, by default
the first half private), and the private images into training and held-out images per identity. The
weights and the sidecar are written *before* the privacy accounting, so a failure in accounting (an
accountant running out of memory at an extreme setting, say) costs the epsilon in the sidecar, never the
trained model: the failure is recorded in the sidecar's `accounting_errors` and in the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from torch import nn

from dpmi.data import FaceDataset


@dataclass(frozen=True)
class TrainedModel:
    """A model `train_model` trained and saved.

    Attributes:
        path: the weights file (a state_dict; `dpmi.models.model_file.load_model` reads it back).
        sidecar: the JSON beside it that says what the weights are (its content is `metadata`).
        model: the trained module, in eval mode.
        metadata: the sidecar's content (model, identities, split, data, TrainConfig, privacy, accuracy).
    """

    path: Path
    sidecar: Path
    model: nn.Module
    metadata: dict[str, Any]

    @property
    def test_accuracy(self) -> float:
        """Top-1 accuracy in [0, 1] on the private identities' held-out images."""
        return float(self.metadata["test_accuracy"])

    @property
    def train_accuracy(self) -> float:
        """Top-1 accuracy in [0, 1] on the private training images."""
        return float(self.metadata["train_accuracy"])

    @property
    def private(self) -> bool:
        return self.metadata.get("noise_multiplier") is not None

    @property
    def epsilon(self) -> dict[str, float | None] | None:
        """{accountant: epsilon at `delta`} (None for an accountant that failed); None when not private."""
        return self.metadata.get("epsilon")

    @property
    def accounting_errors(self) -> dict[str, str]:
        """{accountant: one-line error} for the accountants that failed after the model was saved."""
        return dict(self.metadata.get("accounting_errors") or {})

    @property
    def mode(self) -> str:
        """ "secure" (noise from the OS's cryptographic source, not reproducible) or "seeded" (reproducible)."""
        return str(self.metadata.get("mode", "seeded"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what `dpmi train --json` prints)."""
        keys = (
            "model",
            "mode",
            "num_classes",
            "input_shape",
            "identities",
            "split",
            "data",
            "noise_multiplier",
            "sample_rate",
            "steps",
            "delta",
            "epsilon",
            "accounting_errors",
            "final_loss",
            "test_accuracy",
            "train_accuracy",
        )
        return {"path": str(self.path), "sidecar": str(self.sidecar), **{key: self.metadata.get(key) for key in keys}}


def train_model(
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | FaceDataset | None = None,
    model: str = "softmax",
    config: Any = None,
    train_per_class: int = 7,
    split_seed: int = 0,
    private_identities: Sequence[int] | None = None,
    public_identities: Sequence[int] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    image_size: int | Sequence[int] | None = None,
) -> TrainedModel:
    """Train a target model on the private identities, save weights + sidecar at `out`, then account.

    Args:
        out: the weights file to write (e.g. "model.pt"); the sidecar is `out` with suffix .json.
            Missing parent directories are created.
        data: the faces: a directory, the AT&T faces or any DIR/<identity>/<image> folder
            (`dpmi.data.load_faces`; default `$DPMI_DATA`, else the cache `dpmi data fetch` fills), or a
            `FaceDataset` already in memory (the sidecar then records no directory).
        model: a target model: a registered name (`dpmi.models.available_models()`: "softmax", "mlp", "cnn",
            ...) or your own factory "pkg.module:factory" (`dpmi.models.resolve_model`).
        config: a `dpmi.privacy.dpsgd.TrainConfig` (default `TrainConfig()`: non-private, 30 epochs, ...);
            private iff it has a noise multiplier or a target epsilon. Its seed also seeds the weights.
        train_per_class: training images per private identity (the rest are held out), >= 1 and below the
            images per identity.
        split_seed: seed of the train/held-out split, >= 0.
        private_identities, public_identities: identities (dataset labels, from 0) the model is trained on
            and those left to the attacker; default the first half private, the rest public
            (`dpmi.data.split_identities`).
        progress: show a progress bar of the training steps on stderr.
        log: where one-line notes go (e.g. an accountant that failed); default nowhere.
        image_size: resize every image of `data` to (height, width) (an int: square) as `dpmi.data.load_faces`
            does; recorded in the sidecar, so the attack and the audit load the same pixels. Default: as stored.

    Returns:
        The saved `TrainedModel`.

    Raises:
        ValueError: a setting out of range, an unknown model, an `out` that is a directory or ends in .json,
            faces that cannot be split as asked. FileNotFoundError: no faces at `data`.
        Nothing is written when these are raised: every check runs before training, and the directory of
        `out` is created and proved writable first.
    """
    from dpmi.models import available_models
    from dpmi.models.model_file import sidecar_path
    from dpmi.models.user_models import is_factory_spec
    from dpmi.privacy.dpsgd import TrainConfig
    from dpmi.study.config import check_device
    from dpmi.workflows.output_dir import prepare_output_dir, remove_empty_dirs

    note = log or (lambda message: None)
    config = TrainConfig() if config is None else replace(config)
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"out {out} is a directory: give a file path such as {out / 'model.pt'}")
    sidecar_path(out)  # refuses a .json name
    check_device(config.device)
    if not (is_factory_spec(model) or model in available_models()):  # checked before the data is read
        raise ValueError(
            f"unknown model {model!r}: choose one of {', '.join(available_models())}, or your own as pkg.module:factory"
        )
    # The weights' directory must take files before minutes of training go into them.
    created = prepare_output_dir(out.parent, what=f"the directory of {out}")
    try:
        return _train_and_save(
            out,
            data,
            model,
            config,
            train_per_class,
            split_seed,
            private_identities,
            public_identities,
            progress,
            note,
            image_size,
        )
    except BaseException:
        remove_empty_dirs(created)
        raise


def _train_and_save(
    out: Path,
    data: Any,
    model: str,
    config: Any,
    train_per_class: int,
    split_seed: int,
    private_identities: Sequence[int] | None,
    public_identities: Sequence[int] | None,
    progress: bool,
    note: Callable[[str], None],
    image_size: int | Sequence[int] | None = None,
) -> TrainedModel:
    import dpmi
    from dpmi.cache import fingerprint_array
    from dpmi.data import load_faces, resolve_data_root, split_identities
    from dpmi.data.folder_summary import fingerprint_folder
    from dpmi.models import check_dp_trainable, resolve_model
    from dpmi.models.accuracy import accuracy
    from dpmi.models.model_file import save_model, update_sidecar
    from dpmi.privacy.accounting import sampling_from_batches
    from dpmi.privacy.dpsgd import train
    from dpmi.workflows.forward_progress import forward_progress

    if isinstance(data, FaceDataset):
        faces, data_root = data, None
    else:
        data_root = resolve_data_root(data)
        faces = load_faces(data_root, image_size=image_size)
    identities = split_identities(faces, private=private_identities, public=public_identities)
    if not (isinstance(split_seed, int) and split_seed >= 0):
        raise ValueError(f"split_seed must be an integer >= 0, got {split_seed!r}")
    train_set, test_set = identities.private.split(train_per_class=train_per_class, seed=split_seed)
    config.validate(len(train_set))

    net = resolve_model(model, len(identities.private_ids), train_set.input_shape, seed=config.seed)
    if config.private:
        check_dp_trainable(net, train_set.input_shape, f"model {model!r}")  # before any training
    x_train, y_train = train_set.to_tensors(config.device)
    x_test, y_test = test_set.to_tensors(config.device)
    if config.private:
        steps = sampling_from_batches(config.batch_size, len(train_set), config.epochs)[1]
    else:
        steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
    with forward_progress(net, total=steps, desc=f"training {model}", unit="step", enabled=progress):
        history = train(net, x_train, y_train, config)
    net.eval()

    private = history.noise_multiplier is not None
    metadata: dict[str, Any] = {
        "dpmi_version": dpmi.__version__,
        "model": model,
        "mode": "secure"
        if getattr(history, "secure_mode", False) or getattr(config, "secure_mode", False)
        else "seeded",
        "num_classes": len(identities.private_ids),
        "input_shape": [int(s) for s in train_set.input_shape],
        "train_config": asdict(config),
        "identities": {
            "private": list(identities.private_ids),
            "public": list(identities.public_ids),
            "requested_private": None if private_identities is None else [int(i) for i in private_identities],
            "requested_public": None if public_identities is None else [int(i) for i in public_identities],
            "rule": "dpmi.data.split_identities (default: the first half of the identities private)",
            "note": "model label k is dataset identity private[k]; identities are numbered from 0",
        },
        "split": {"train_per_class": train_per_class, "split_seed": split_seed},
        "data": {
            "root": None if data_root is None else str(data_root.resolve()),
            "images_sha256": fingerprint_array(faces.images),
            "labels_sha256": fingerprint_array(faces.labels),
            "num_images": len(faces),
            "num_identities": faces.num_classes,
            "names": None if faces.names is None else list(faces.names),  # dataset identity i is names[i]
            "image_size": None if image_size is None else list(faces.image_shape),  # resized to, if asked
            "fingerprint": None if data_root is None else fingerprint_folder(data_root),  # as `dpmi data info`
        },
        "noise_multiplier": history.noise_multiplier,
        "sample_rate": history.sample_rate,
        "steps": history.steps,
        "delta": config.delta if private else None,
        "epsilon": None,
        "accounting_errors": {},
        "final_loss": history.loss[-1] if history.loss and math.isfinite(history.loss[-1]) else None,
        "test_accuracy": accuracy(net, x_test, y_test),
        "train_accuracy": accuracy(net, x_train, y_train),
    }
    sidecar = save_model(net, out, metadata)  # the model is safe on disk before any accounting runs

    if private:
        epsilon, errors = _account(history, config.delta, note)
        metadata.update(epsilon=epsilon, accounting_errors=errors)
        update_sidecar(out, {"epsilon": epsilon, "accounting_errors": errors})
    return TrainedModel(out, sidecar, net, metadata)


def _account(history: Any, delta: float, note: Callable[[str], None]) -> tuple[dict[str, float | None], dict[str, str]]:
    """Epsilon of the steps taken by every accountant; an accountant that fails is recorded, not raised."""
    from dpmi.privacy.accounting import ACCOUNTANTS, compute_epsilon

    epsilon: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in ACCOUNTANTS:  # every one of them: RDP is an upper bound, PLD tight
        try:
            value = float(
                compute_epsilon(history.noise_multiplier, history.sample_rate, history.steps, delta, accountant=name)
            )
            epsilon[name] = value if math.isfinite(value) else None
            if not math.isfinite(value):
                errors[name] = "epsilon is infinite at this noise level"
        except (ArithmeticError, MemoryError, ValueError, RuntimeError) as exc:  # numpy's memory error is a MemoryError
            epsilon[name] = None
            errors[name] = " ".join(f"{type(exc).__name__}: {exc}".split())
            note(f"{name.upper()} accounting failed ({errors[name]}); the model is saved, its sidecar records this")
    return epsilon, errors


def train_config_fields() -> dict[str, Any]:
    """{field: default} of `TrainConfig`: the one source of `dpmi train`'s training defaults."""
    from dpmi.privacy.dpsgd import TrainConfig

    defaults = TrainConfig()
    return {f.name: getattr(defaults, f.name) for f in fields(TrainConfig)}
