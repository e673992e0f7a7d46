"""`dpmi audit`: one privacy level's accountant epsilon beside what a black-box (LiRA) and a white-box
(one-run canary) attacker demonstrably achieve, and the identity-level epsilon; the ROC figure and the JSON
record written to --out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpmi.flags import RESIZE_HELP, data_option, image_size_option, option
from dpmi.workflows.command_output import CommandOutput

EPILOG = """\
what it measures, for one privacy level:
  accountant   epsilon by RDP and PLD at --delta (absent when non-private)
  black box    LiRA (Carlini et al. 2022) with K shadow models trained together on random subsets of the
               candidates (the private identities' training + held-out images); AUC, TPR at low FPR, and a
               95 % Clopper-Pearson epsilon lower bound (threshold chosen on one half of the candidates,
               scored on the other)
  white box    one-run audit of DP-SGD with M gradient canaries (Steinke, Nasr & Jagielski 2023): a 95 %
               epsilon lower bound from one training run (private levels, softmax model)
  identity     epsilon for a person with k images in the training set (group privacy)

examples:
  dpmi audit                                  # non-private softmax, 64 shadows
  dpmi audit --sigma 2 --canaries 1000 --json
  dpmi audit --model model.pt --shadows 32    # a model saved by `dpmi train` (recipe from its sidecar)
"""


def _accountants() -> tuple[str, ...]:
    from dpmi.privacy.accounting import available_accountants

    return available_accountants()


def _model_help() -> str:
    from dpmi.models import available_models

    return f"{', '.join(available_models())}; or a model file saved by `dpmi train` (its recipe is used)"


@dataclass
class AuditOptions:
    """Audit one privacy level: the accountant's epsilon beside what a black-box (LiRA) and a white-box
    (one-run canary) attacker demonstrably achieve, and the identity-level epsilon."""

    model: str = option("softmax", "--model", _model_help)
    epsilon: float | None = option(
        None,
        "--epsilon",
        "DP-SGD target epsilon (sigma calibrated); neither: non-private",
        kind="float",
        exclusive="privacy",
    )
    sigma: float | None = option(
        None, "--sigma", "DP-SGD noise multiplier; neither: non-private", kind="float", exclusive="privacy"
    )
    shadows: int = option(64, "--shadows", "shadow models, >= 2", kind="int", metavar="K")
    canaries: int = option(
        1000, "--canaries", "white-box gradient canaries (0: skip the white-box audit)", kind="int", metavar="M"
    )
    fpr: tuple[float, ...] = option(
        (0.001, 0.01), "--fpr", "FPRs in (0, 1) to report the TPR at", kind="floats", metavar="LIST"
    )
    seed: int = option(0, "--seed", "seed of the target (as in the study) and of the audit", kind="int")
    data: str | None = data_option()
    image_size: tuple[int, int] | None = image_size_option(
        RESIZE_HELP + " (default: as stored; a saved model: the size its sidecar records)"
    )
    epochs: int = option(30, "--epochs", "passes over the training set", kind="int")
    batch_size: int = option(40, "--batch-size", "(expected) batch size", kind="int", metavar="B")
    lr: float = option(0.01, "--lr", "SGD learning rate", kind="float")
    momentum: float = option(0.9, "--momentum", "SGD momentum", kind="float")
    clip: float = option(1.0, "--clip", "per-example clip norm", kind="float", metavar="C")
    delta: float = option(1e-5, "--delta", "DP delta", kind="float")
    accountant: str = option("rdp", "--accountant", "calibrates --epsilon", choices=_accountants)
    train_per_class: int = option(7, "--train-per-class", "training images per person", kind="int", metavar="K")
    split_seed: int = option(0, "--split-seed", "seed of the train/test split", kind="int", metavar="S")
    out: str | None = option(None, "--out", "write audit.json and roc.png here", metavar="DIR")
    json: bool = option(False, "--json", "print the result as JSON")
    no_progress: bool = option(
        False, "--no-progress", "no progress (default: a bar on a terminal's stderr, else a line per phase)"
    )


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def audit_command(options: AuditOptions, log: Callable[[str], None] = print) -> CommandOutput:
    """Load the data (or the saved model), check every setting, audit, write --out, and say what was found."""
    from dpmi.audit.api import audit_level, check_audit_settings
    from dpmi.privacy.dpsgd import TrainConfig

    o = options
    out = Path(o.out) if o.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: choose a directory path")
    if not (isinstance(o.seed, int) and o.seed >= 0):
        raise ValueError(f"--seed must be >= 0, got {o.seed}")
    target = None
    model_path = Path(o.model)
    if model_path.suffix in (".pt", ".pth") or model_path.is_file():
        from dpmi.audit.saved_model import load_saved_target

        if o.epsilon is not None or o.sigma is not None:
            raise ValueError("--epsilon/--sigma do not apply to a saved model: its recipe comes from its sidecar")
        if o.image_size is not None:
            raise ValueError(
                "--image-size does not apply to a saved model: its faces load at the size its sidecar records"
            )
        saved = load_saved_target(model_path, o.data)
        target, model_name, recipe = saved.model, saved.model_name, saved.recipe
        members, heldout = saved.members, saved.heldout
    else:
        from dpmi.data import load_faces, split_identities
        from dpmi.models import MODELS

        if o.model not in MODELS:
            raise ValueError(
                f"unknown model {o.model!r}: choose one of {', '.join(sorted(MODELS))} or give a "
                "model file saved by `dpmi train`"
            )
        model_name = o.model
        recipe = TrainConfig(
            epochs=o.epochs,
            batch_size=o.batch_size,
            lr=o.lr,
            momentum=o.momentum,
            noise_multiplier=o.sigma,
            target_epsilon=o.epsilon,
            delta=o.delta,
            max_grad_norm=o.clip,
            accountant=o.accountant,
            seed=o.seed,
        )
        check_audit_settings(o.shadows, o.canaries, o.fpr, (1,), False)
        faces = load_faces(o.data, image_size=o.image_size)
        members, heldout = split_identities(faces).private.split(train_per_class=o.train_per_class, seed=o.split_seed)
    check_audit_settings(o.shadows, o.canaries, o.fpr, members.input_shape, recipe.private)
    recipe.validate(len(members))
    x_members, y_members = members.to_tensors()
    x_heldout, y_heldout = heldout.to_tensors()
    canaries = f" and {o.canaries} canaries" if recipe.private and o.canaries else ""
    progress = None
    if not o.no_progress:  # progress lines only: with --no-progress an error is the one line on stderr
        from dpmi.workflows.audit_progress import AuditProgressReport

        log(f"auditing {model_name} with {o.shadows} shadow models{canaries} ...")
        progress = AuditProgressReport(log)
    try:
        record = audit_level(
            x_members,
            y_members,
            x_heldout,
            y_heldout,
            recipe,
            model=model_name,
            num_classes=members.num_classes,
            target_seed=recipe.seed,
            shadows=o.shadows,
            canaries=o.canaries if recipe.private else 0,
            seed=o.seed,
            fpr_targets=tuple(o.fpr),
            target=target,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    result = record.to_dict()
    lines = []
    if record.epsilon is None:
        lines.append(f"{model_name}, non-private: accountant epsilon inf")
    else:
        lines.append(
            f"{model_name}, sigma {record.noise_multiplier:.4g}: accountant epsilon {record.epsilon['rdp']:.3g} "
            f"(RDP) / {record.epsilon['pld']:.3g} (PLD) at delta {record.delta:g}"
        )
    bounds = result["epsilon_lower_bound"]
    lines += [
        f"  LiRA membership-inference strength (not a bound): AUC {_fmt(result['auc'])}   "
        + "   ".join(t["text"] for t in ((result.get("low_fpr") or {}).get("targets") or {}).values()),
        f"  black-box eps_lb (one run)     {_fmt(bounds.get('black_box'))} (Steinke et al.)   "
        f"{_fmt(bounds.get('black_box_fdp'))} (f-DP, Gaussian curve)",
        f"  white-box eps_lb (one run)     {_fmt(bounds['white_box'])} (Steinke et al.)   "
        f"{_fmt(bounds.get('white_box_fdp'))} (f-DP, Gaussian curve)",
        f"  identity epsilon ({record.records_per_identity} images)  {_fmt(result['identity_epsilon'])}",
    ]
    if out is not None:
        from dpmi.atomic_files import atomic_write_json
        from dpmi.audit.figures import write_roc_figure

        out.mkdir(parents=True, exist_ok=True)
        if record.black_box is not None:
            sigma = "non-private" if record.epsilon is None else f"sigma {record.noise_multiplier:.3g}"
            write_roc_figure(
                out / "roc.png",
                {"LiRA online": record.black_box.roc, "LiRA offline": record.black_box.roc_offline},
                title=f"{model_name}, {sigma}",
            )
        atomic_write_json(out / "audit.json", result)
        lines.append(
            f"wrote {out / 'audit.json'}" + (f" and {out / 'roc.png'}" if record.black_box is not None else "")
        )
    return CommandOutput(lines, result, indent=2)
