"""The `dpmi` command line: run the study, train, attack, rebuild a report, account for privacy, get the data.

Every command turns bad input (ValueError, FileNotFoundError and other OS errors, argparse errors) into ONE
line on stderr, `dpmi: error: ...`, and exit code 2; Ctrl-C exits with 130. `main(argv)` returns the exit
code, so tests call it in-process and the console script does `sys.exit(main())`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dpmi

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
GRID_COLUMNS = 10  # identities drawn in `dpmi attack --out`'s reconstructions.png


class UsageError(ValueError):
    """A command-line mistake argparse found (unknown flag, missing value, bad number...)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so main() reports one line."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _numbers(text: str) -> tuple[float, ...]:
    """'8,3,1' -> (8.0, 3.0, 1.0); '' or 'none' -> () (drops those levels)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers, got {text!r}") from exc


def _labels(text: str) -> list[int] | None:
    """'all' -> None; '0,11,39' -> [0, 11, 39]; '0-7' -> [0..7]."""
    if text.strip().lower() == "all":
        return None
    labels: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                low, high = part.split("-", 1)
                labels.extend(range(int(low), int(high) + 1))
            else:
                labels.append(int(part))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected 'all' or identities like 0,11,39 or 0-7, got {text!r}") from exc
    return labels


# ----------------------------------------------------------------------------------------------- dpmi run
RUN_EPILOG = """\
defaults (the issue's study): the AT&T faces split 7 train / 3 test per person; the tutorial's softmax
regression; privacy levels non-private, DP-SGD at sigma 0.5 (the tutorial: lot 40, clip 1, delta 1e-5) and
DP-SGD calibrated to epsilon 8, 3 and 1 (same lot, clip and epochs); 3 seeds; MI-FACE on all 40 people.

outputs in --out (default runs/<name>, name default a UTC timestamp):
  results.json   config, versions, levels, every cell's numbers, aggregates, timings
  results.csv    one row per privacy level x seed
  figures/       privacy_utility_leakage.png, reconstructions.png
  report.html    one self-contained page (figures embedded)
  cells/         one JSON (+ .npy reconstructions) per finished cell: re-running into the same --out
                 skips them, so an interrupted run resumes where it stopped

config file (--config study.toml; flags given on the command line override it):
  [run]     name, out, jobs, threads, seed, seeds, quick, device
  [data]    root, train_per_class, split_seed
  [train]   model, epochs, batch_size, lr, momentum, max_grad_norm
  [privacy] nonprivate, noise_multipliers, target_epsilons, delta, accountant
  [attack]  max_iter, patience, threshold, step_size, process, identities
  [report]  grid_identities

examples:
  dpmi run --data ~/att_faces
  dpmi run --quick --out runs/smoke
  dpmi run --config study.toml --jobs 2 --epsilons 8,3,1,0.5
"""


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="the study: privacy levels x seeds -> train, account, attack, measure, report",
                       description="Run (or resume) the MI-FACE vs DP-SGD study and write its report.",
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("run")
    g.add_argument("--config", metavar="TOML", help="study config file (see below); flags override it")
    g.add_argument("--out", metavar="DIR", help="run directory (default runs/<name>)")
    g.add_argument("--name", help="run name (default: UTC timestamp)")
    g.add_argument("--jobs", type=int, metavar="N", help="worker processes for the cells (default 1)")
    g.add_argument("--threads", type=int, metavar="T", help="torch threads per process (default 1; see --jobs)")
    g.add_argument("--seeds", type=int, metavar="N", help="seeds per privacy level (default 3)")
    g.add_argument("--seed", type=int, metavar="S", help="first seed, >= 0 (cells use S..S+N-1; default 0)")
    g.add_argument("--quick", action="store_true", default=None,
                   help="smoke run: 1 seed and at most 100 MI-FACE iterations")
    g.add_argument("--device", help="torch device: cpu (default), cuda, cuda:N")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="DIR", help="AT&T faces directory (default $DPMI_DATA, else the cache)")
    g.add_argument("--train-per-class", type=int, metavar="K", help="training images per person, 1..9 (default 7)")
    g.add_argument("--split-seed", type=int, metavar="S", help="seed of the train/test split (default 0)")
    g = p.add_argument_group("target model and training")
    g.add_argument("--model", help="softmax (default), mlp or cnn")
    g.add_argument("--epochs", type=int, help="passes over the training set (default 30)")
    g.add_argument("--batch-size", type=int, metavar="B", help="expected lot size when private (default 40)")
    g.add_argument("--lr", type=float, help="SGD learning rate (default 0.01, dpmi.privacy.dpsgd's)")
    g.add_argument("--momentum", type=float, help="SGD momentum in [0, 1) (default 0.9)")
    g.add_argument("--clip", type=float, dest="max_grad_norm", metavar="C", help="per-example clip norm (default 1)")
    g = p.add_argument_group("privacy levels")
    g.add_argument("--sigmas", type=_numbers, dest="noise_multipliers", metavar="LIST",
                   help="fixed noise multipliers, comma-separated (default 0.5; 'none' for no such level)")
    g.add_argument("--epsilons", type=_numbers, dest="target_epsilons", metavar="LIST",
                   help="target epsilons, comma-separated (default 8,3,1; 'none' for no such level)")
    g.add_argument("--no-nonprivate", action="store_false", dest="nonprivate", default=None,
                   help="leave out the non-private level")
    g.add_argument("--delta", type=float, help="DP delta in (0, 1) (default 1e-5)")
    g.add_argument("--accountant", choices=("rdp", "pld"), help="accountant that calibrates sigma (default rdp)")
    g = p.add_argument_group("attack (MI-FACE, Fredrikson et al. 2015, Alg. 1)")
    g.add_argument("--attack-iters", type=int, dest="attack_max_iter", metavar="ALPHA", help="max iterations")
    g.add_argument("--attack-patience", type=int, metavar="BETA", help="stop after BETA iterations without progress")
    g.add_argument("--attack-threshold", type=float, metavar="GAMMA", help="stop when 1 - p_label <= GAMMA (0: off)")
    g.add_argument("--attack-step", type=float, dest="attack_step_size", metavar="LAMBDA", help="gradient step")
    g.add_argument("--attack-process", choices=("none", "denoise", "tv"), help="Process / AuxTerm (default none)")
    g.add_argument("--identities", type=int, metavar="K", help="attack people 1..K (default all 40)")
    g.add_argument("--grid-identities", type=int, metavar="K", help="people in the reconstruction grid (default 8)")
    p.set_defaults(handler=_cmd_run)


_RUN_FIELDS = (
    "out", "name", "jobs", "threads", "seeds", "seed", "quick", "device", "data", "train_per_class", "split_seed", "model",
    "epochs", "batch_size", "lr", "momentum", "max_grad_norm", "noise_multipliers", "target_epsilons",
    "nonprivate", "delta", "accountant", "attack_max_iter", "attack_patience", "attack_threshold",
    "attack_step_size", "attack_process", "identities", "grid_identities",
)


def _cmd_run(args: argparse.Namespace) -> int:
    from dpmi.study.config import make_config
    from dpmi.study.runner import run_study
    from dpmi.study.summary import summary_table

    config = make_config(args.config, **{name: getattr(args, name) for name in _RUN_FIELDS})
    result = run_study(config, progress=not args.no_progress, log=_log)
    print(summary_table(result.summaries))
    print(f"\n{result.cells_run} cells run, {result.cells_skipped} resumed; "
          f"{result.timings['total']:.1f} s in all")
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items() if k != "total"))
    print(f"report: {result.run_dir / 'report.html'}")
    return 0


# --------------------------------------------------------------------------------------------- dpmi train
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train one target model; save weights (model.pt) and a JSON sidecar",
                       description="Train one target model, non-privately or with DP-SGD, on the training split.")
    p.add_argument("--out", default="model.pt", metavar="PATH", help="weights file (default model.pt; sidecar .json)")
    p.add_argument("--data", metavar="DIR", help="AT&T faces directory (default $DPMI_DATA, else the cache)")
    p.add_argument("--model", default="softmax", help="softmax (default), mlp or cnn")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    p.add_argument("--batch-size", type=int, default=40, metavar="B", help="(expected) batch size (default 40)")
    p.add_argument("--lr", type=float, help="SGD learning rate (default: dpmi.privacy.dpsgd's)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    privacy = p.add_mutually_exclusive_group()
    privacy.add_argument("--sigma", type=float, help="DP-SGD noise multiplier (private)")
    privacy.add_argument("--epsilon", type=float, help="DP-SGD target epsilon (private; sigma is calibrated)")
    p.add_argument("--delta", type=float, default=1e-5, help="DP delta (default 1e-5)")
    p.add_argument("--clip", type=float, default=1.0, metavar="C", help="per-example clip norm (default 1)")
    p.add_argument("--accountant", choices=("rdp", "pld"), default="rdp", help="accountant (default rdp)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, sampling and noise (default 0)")
    p.add_argument("--train-per-class", type=int, default=7, metavar="K", help="training images per person")
    p.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of the train/test split")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(handler=_cmd_train)


def _check_output_file(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"--out {path} is a directory: give a file path such as {path / 'model.pt'}")
    if path.parent != Path("") and path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"--out {path}: {path.parent} is a file, not a directory")


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from dpmi.data import load_att_faces
    from dpmi.models import build_model
    from dpmi.privacy.accounting import compute_epsilon
    from dpmi.privacy.dpsgd import TrainConfig, train
    from dpmi.models.accuracy import accuracy
    from dpmi.models.model_file import save_model, sidecar_path

    from dpmi.study.config import check_device

    out = Path(args.out)
    _check_output_file(out)
    sidecar_path(out)
    check_device(args.device)
    model = build_model(args.model, seed=args.seed)  # validates the name and the seed
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, momentum=args.momentum, noise_multiplier=args.sigma,
        target_epsilon=args.epsilon, delta=args.delta, max_grad_norm=args.clip, accountant=args.accountant,
        seed=args.seed, device=args.device, **({"lr": args.lr} if args.lr is not None else {}),
    )
    faces = load_att_faces(args.data)
    train_set, test_set = faces.split(train_per_class=args.train_per_class, seed=args.split_seed)
    config.validate(len(train_set))
    x_train, y_train = train_set.to_tensors(args.device)
    x_test, y_test = test_set.to_tensors(args.device)
    history = train(model, x_train, y_train, config)
    epsilon = None
    if history.noise_multiplier is not None:
        epsilon = {name: float(compute_epsilon(history.noise_multiplier, history.sample_rate, history.steps,
                                               args.delta, accountant=name)) for name in ("rdp", "pld")}
    metadata = {
        "dpmi_version": dpmi.__version__, "model": args.model, "num_classes": faces.num_classes,
        "input_shape": [1, *faces.image_shape], "train_config": asdict(config),
        "split": {"train_per_class": args.train_per_class, "split_seed": args.split_seed},
        "noise_multiplier": history.noise_multiplier, "sample_rate": history.sample_rate, "steps": history.steps,
        "delta": args.delta if epsilon else None, "epsilon": epsilon,
        "final_loss": history.loss[-1] if history.loss and math.isfinite(history.loss[-1]) else None,
        "test_accuracy": accuracy(model, x_test, y_test), "train_accuracy": accuracy(model, x_train, y_train),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = save_model(model, out, metadata)
    privacy = "non-private" if epsilon is None else (
        f"sigma {history.noise_multiplier:.4g}, epsilon {epsilon['rdp']:.3g} (RDP) / {epsilon['pld']:.3g} (PLD) "
        f"at delta {args.delta:g}")
    print(f"{args.model}: test accuracy {metadata['test_accuracy']:.3f}, train accuracy "
          f"{metadata['train_accuracy']:.3f}; {privacy}")
    print(f"wrote {out} and {sidecar}")
    return 0


# -------------------------------------------------------------------------------------------- dpmi attack
def _add_attack(sub) -> None:
    p = sub.add_parser("attack", help="MI-FACE against a model saved by `dpmi train`",
                       description="Invert a model saved by `dpmi train` (MI-FACE, Fredrikson et al. 2015, Alg. 1) "
                                   "and score the reconstructions against the model's own training split.")
    p.add_argument("model", metavar="MODEL", help="weights file written by `dpmi train` (with its .json sidecar)")
    p.add_argument("--labels", type=_labels, default=None, help="'all' (default), or e.g. 0,11,39 or 0-7")
    p.add_argument("--max-iter", type=int, default=300, metavar="ALPHA", help="max iterations (default 300)")
    p.add_argument("--patience", type=int, default=100, metavar="BETA", help="no-progress window (default 100)")
    p.add_argument("--threshold", type=float, default=0.01, metavar="GAMMA",
                   help="stop when 1 - p_label <= GAMMA (default 0.01, i.e. 99%% confidence; 0: off)")
    p.add_argument("--step-size", type=float, default=0.1, metavar="LAMBDA", help="gradient step (default 0.1)")
    p.add_argument("--process", choices=("none", "denoise", "tv"), default="none", help="Process / AuxTerm")
    p.add_argument("--data", metavar="DIR", help="AT&T faces directory, for the metrics and the mean faces")
    p.add_argument("--no-metrics", action="store_true",
                   help="skip the scores (no evaluation classifier to train; prints confidences only)")
    p.add_argument("--out", metavar="DIR", help="write reconstructions.npy, reconstructions.png, attack.json here")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(handler=_cmd_attack)


def _cmd_attack(args: argparse.Namespace) -> int:
    import numpy as np

    from dpmi.data import load_att_faces
    from dpmi.study.cell import build_attack
    from dpmi.study.config import StudyConfig, validate
    from dpmi.models.model_file import load_model
    from dpmi.atomic_files import atomic_save_npy, atomic_write_bytes, atomic_write_json
    from dpmi.study.store import json_safe

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: choose a directory path")
    settings = StudyConfig(attack_max_iter=args.max_iter, attack_patience=args.patience,
                           attack_threshold=args.threshold, attack_step_size=args.step_size,
                           attack_process=args.process, device=args.device)
    validate(settings)
    model, metadata = load_model(args.model, args.device)
    classes = int(metadata["num_classes"])
    labels = list(range(classes)) if args.labels is None else args.labels
    bad = [label for label in labels if not 0 <= label < classes]
    if bad:
        raise ValueError(f"--labels must be in 0..{classes - 1} (the model has {classes} classes), got {bad[:5]}")
    split = metadata.get("split", {})
    train_set = test_set = None
    if not args.no_metrics or out is not None:
        faces = load_att_faces(args.data)
        train_set, test_set = faces.split(train_per_class=int(split.get("train_per_class", 7)),
                                   seed=int(split.get("split_seed", 0)))
    result = build_attack(model, settings, args.device).invert(labels)
    scores: dict[str, Any] = {}
    if not args.no_metrics:
        from dpmi.metrics import evaluate_inversion, train_evaluator

        _log("training the evaluation classifier on the model's training split ...")
        evaluator = train_evaluator(train_set, seed=0, test=test_set, device=args.device)
        scores = evaluate_inversion(result, train_set, evaluator)
    confidence = result.best_confidence()
    print(f"MI-FACE on {len(labels)} identities of {args.model} ({metadata['model']}): mean confidence "
          f"{float(np.mean(confidence)):.3f}, mean iterations {float(np.mean(result.iterations)):.0f}")
    for key, value in scores.items():
        if isinstance(value, (int, float)):
            print(f"  {key:20s} {value:.4g}")
    if out is not None:
        from dpmi.study.figures import reconstruction_grid

        out.mkdir(parents=True, exist_ok=True)
        images = result.images.detach().to("cpu").numpy()[:, 0]
        atomic_save_npy(out / "reconstructions.npy", images.astype(np.float32))
        full = np.zeros((classes, *images.shape[1:]), dtype=np.float32)
        full[labels] = images
        means = train_set.class_means() / 127.5 - 1.0
        shown = labels[:GRID_COLUMNS]
        atomic_write_bytes(out / "reconstructions.png",
                           reconstruction_grid(means, [(Path(args.model).name, full, None)], shown))
        atomic_write_json(out / "attack.json", json_safe({
            "model": str(args.model), "sidecar": metadata, "labels": labels, "settings": _attack_settings(args),
            "best_cost": result.best_cost, "iterations": result.iterations, "scores": scores,
        }))
        print(f"wrote {out / 'reconstructions.npy'}, {out / 'reconstructions.png'}, {out / 'attack.json'}")
    return 0


def _attack_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("max_iter", "patience", "threshold", "step_size", "process")}


# -------------------------------------------------------------------------------------------- dpmi report
def _add_report(sub) -> None:
    p = sub.add_parser("report", help="rebuild figures and report.html of a run from its results.json",
                       description="Redraw the figures and report.html of RUN_DIR from results.json and the "
                                   "saved reconstructions (no data, no training).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by `dpmi run`")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from dpmi.study.levels import PrivacyLevel
    from dpmi.study.results import load_results, render_outputs
    from dpmi.study.store import RunStore
    from dpmi.study.summary import aggregate, summary_table

    results = load_results(args.run_dir)
    paths = render_outputs(RunStore(args.run_dir), results)
    levels = [PrivacyLevel.from_dict(level) for level in results["levels"]]
    print(summary_table(aggregate(levels, results["cells"])))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


# ---------------------------------------------------------------------------------- dpmi epsilon / sigma
def _add_schedule(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the DP-SGD schedule: --sample-rate and --steps, or --batch-size, --dataset-size "
                             "and --epochs (q = B/N, steps = ceil(epochs * N / B))")
    g.add_argument("--sample-rate", type=float, metavar="Q", help="Poisson sampling rate q in (0, 1]")
    g.add_argument("--steps", type=int, help="number of DP-SGD steps, >= 1")
    g.add_argument("--batch-size", type=int, metavar="B", help="expected batch (lot) size")
    g.add_argument("--dataset-size", type=int, metavar="N", help="training set size")
    g.add_argument("--epochs", type=float, help="passes over the data")
    p.add_argument("--delta", type=float, default=1e-5, help="DP delta in (0, 1) (default 1e-5)")
    p.add_argument("--accountant", choices=("rdp", "pld", "all"), default="all",
                   help="which accountant(s) (default all: both)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _schedule(args: argparse.Namespace) -> tuple[float, int]:
    """(q, steps) from --sample-rate/--steps or from --batch-size/--dataset-size/--epochs."""
    from dpmi.privacy.accounting import sampling_from_batches

    direct = args.sample_rate is not None or args.steps is not None
    derived = any(v is not None for v in (args.batch_size, args.dataset_size, args.epochs))
    if direct and derived:
        raise ValueError("give --sample-rate and --steps, or --batch-size, --dataset-size and --epochs, not both")
    if derived:
        if None in (args.batch_size, args.dataset_size, args.epochs):
            raise ValueError("--batch-size, --dataset-size and --epochs go together: give all three")
        return sampling_from_batches(args.batch_size, args.dataset_size, args.epochs)
    if args.sample_rate is None or args.steps is None:
        raise ValueError("give --sample-rate and --steps (or --batch-size, --dataset-size and --epochs)")
    if not 0 < args.sample_rate <= 1:
        raise ValueError(f"--sample-rate must be in (0, 1], got {args.sample_rate}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    return args.sample_rate, args.steps


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _check_delta(delta: float) -> None:
    if not (math.isfinite(delta) and 0 < delta < 1):
        raise ValueError(f"--delta must be in (0, 1), got {delta}")


def _accountants(choice: str) -> list[str]:
    return ["rdp", "pld"] if choice == "all" else [choice]


def _add_epsilon(sub) -> None:
    p = sub.add_parser("epsilon", help="epsilon of DP-SGD (Poisson-subsampled Gaussian) by RDP and/or PLD",
                       description="Epsilon spent by DP-SGD with noise multiplier sigma, at delta.")
    p.add_argument("--sigma", type=float, required=True, help="noise multiplier (noise std / clip norm), > 0")
    _add_schedule(p)
    p.set_defaults(handler=_cmd_epsilon)


def _cmd_epsilon(args: argparse.Namespace) -> int:
    from dpmi.privacy.accounting import epsilon_table

    if not (math.isfinite(args.sigma) and args.sigma > 0):
        raise ValueError(f"--sigma must be > 0, got {args.sigma}")
    _check_delta(args.delta)
    q, steps = _schedule(args)
    table = epsilon_table(args.sigma, q, steps, args.delta, args.accountant)
    if args.json:
        print(json.dumps({
            "sigma": args.sigma, "sample_rate": q, "steps": steps, "delta": args.delta,
            "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
            "order": {name: r.order for name, r in table.items() if r.order is not None},
        }))
    else:
        print(f"sigma {args.sigma:g}, q {q:.6g}, {steps} steps, delta {args.delta:g}:")
        for name, r in table.items():
            order = f" (order {r.order:g})" if r.order is not None else ""
            note = f"  [{r.note}]" if r.note else ""
            print(f"  epsilon ({name.upper()}) = {r.epsilon:.6g}{order}{note}")
    return 0


def _add_sigma(sub) -> None:
    p = sub.add_parser("sigma", help="smallest noise multiplier meeting a target epsilon",
                       description="The smallest DP-SGD noise multiplier whose epsilon at delta is <= the target.")
    p.add_argument("--epsilon", type=float, required=True, help="target epsilon, > 0")
    _add_schedule(p)
    p.set_defaults(handler=_cmd_sigma)


def _cmd_sigma(args: argparse.Namespace) -> int:
    from dpmi.privacy.accounting import sigma_table

    if not (math.isfinite(args.epsilon) and args.epsilon > 0):
        raise ValueError(f"--epsilon must be > 0, got {args.epsilon}")
    _check_delta(args.delta)
    q, steps = _schedule(args)
    table = sigma_table(args.epsilon, args.delta, q, steps, args.accountant)
    if args.json:
        print(json.dumps({
            "target_epsilon": args.epsilon, "sample_rate": q, "steps": steps, "delta": args.delta,
            "sigma": {name: r.noise_multiplier for name, r in table.items()},
            "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
        }))
    else:
        print(f"target epsilon {args.epsilon:g}, q {q:.6g}, {steps} steps, delta {args.delta:g}:")
        for name, r in table.items():
            print(f"  sigma ({name.upper()}) = {r.noise_multiplier:.6g}  (epsilon {r.epsilon:.6g})")
    return 0


# ---------------------------------------------------------------------------------------------- dpmi data
def _image_size(text: str) -> tuple[int, int]:
    """--image-size HxW (height x width) or N (square)."""
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH or N (pixels >= 1), got {text!r}")
    return size  # type: ignore[return-value]


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="get, check or describe face data (the AT&T faces or your own folder)",
                       description="Get the AT&T faces (fetch), check a copy or any identity folder (verify), "
                                   "describe a folder (info). An identity folder is DIR/<identity>/<image>: one "
                                   "sub-folder per person, any image format Pillow reads; hidden files and files "
                                   "directly in DIR are ignored, any other non-image is refused.")
    data_sub = p.add_subparsers(dest="data_command", metavar="{fetch,verify,info}", parser_class=_Parser)
    data_sub.required = True
    fetch = data_sub.add_parser(
        "fetch", help="download, verify and install the AT&T faces",
        description="Download the AT&T faces archive, check every image against the SHA-256 list shipped with "
                    "dpmi, and install the directory only if all match. A valid copy already at the destination "
                    "is verified and kept (nothing is downloaded).")
    fetch.add_argument("--url", help="archive address (default: the AT&T Laboratories Cambridge archive)")
    fetch.add_argument("--dest", metavar="DIR", help="install here (default $DPMI_DATA, else the cache)")
    fetch.add_argument("--force", action="store_true",
                       help="replace an existing directory at the destination that is not a valid copy (it is deleted)")
    fetch.set_defaults(handler=_cmd_fetch)
    verify = data_sub.add_parser(
        "verify", help="check the AT&T faces against their SHA-256 list, or that every image of a folder loads",
        description="A directory holding AT&T images is checked image by image against the published SHA-256 "
                    "list; any other directory is read as an identity folder and every image decoded.")
    verify.add_argument("root", nargs="?", metavar="DIR", help="faces directory (default $DPMI_DATA, else the cache)")
    verify.add_argument("--image-size", type=_image_size, metavar="HxW",
                        help="check the folder resized to height x width (default: none; all images one size)")
    verify.set_defaults(handler=_cmd_verify)
    info = data_sub.add_parser(
        "info", help="identities, images, sizes and channels of a face folder",
        description="Describe DIR/<identity>/<image> from the image headers: identities and their names, images "
                    "per identity, sizes, channels, and a fingerprint (SHA-256 of paths and contents).")
    info.add_argument("root", nargs="?", metavar="DIR", help="faces directory (default $DPMI_DATA, else the cache)")
    info.set_defaults(handler=_cmd_info)


def _cmd_fetch(args: argparse.Namespace) -> int:
    from dpmi.data.fetch import install_att_faces

    outcome = install_att_faces(args.url, args.dest, force=args.force, progress=True)
    if outcome.installed:
        print(f"AT&T faces installed at {outcome.path} ({outcome.images} images verified)")
    else:
        print(f"AT&T faces already there, verified: {outcome.images} images at {outcome.path} (nothing downloaded)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from dpmi.data import resolve_data_root, verify_image_folder
    from dpmi.data.fetch import verify_att_faces
    from dpmi.data.folder_summary import looks_like_att_faces

    root = resolve_data_root(args.root)
    if args.image_size is None and (not root.is_dir() or looks_like_att_faces(root)):
        count = verify_att_faces(root)
        print(f"ok: {count} images at {root} match the published AT&T faces")
        return 0
    summary = verify_image_folder(root, image_size=args.image_size)
    print(f"ok: every image at {root} loads: {len(summary.names)} identities, {summary.num_images} images")
    for line in summary.lines()[2:]:
        print(f"  {line}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from dpmi.data import describe_image_folder, resolve_data_root

    for line in describe_image_folder(resolve_data_root(args.root)).lines():
        print(line)
    return 0


# ------------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dpmi", description="Model inversion (MI-FACE) vs differential privacy (DP-SGD) on "
                                              "face classifiers: train, account, attack, measure, report.")
    parser.add_argument("--version", action="version", version=f"dpmi {dpmi.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_run, _add_train, _add_attack, _add_report, _add_epsilon, _add_sigma, _add_data):
        add(sub)
    return parser


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `dpmi` command line with `argv` (default sys.argv[1:]); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except SystemExit as exit_:  # --help and --version print, then exit 0
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("dpmi: interrupted; finished work is saved (re-run with the same --out to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # FileNotFoundError and FileExistsError are OSErrors
        print(f"dpmi: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
