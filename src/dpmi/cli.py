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


class UsageError(ValueError):
    """A command-line mistake argparse found (unknown flag, missing value, bad number...)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so main() reports one line."""

    def error(self, message: str):
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
def _run_epilog() -> str:
    from dpmi.study.flags import config_sections_help

    return f"""\
defaults: the AT&T faces, the first half of the people private (the target's), the rest public (the
attacker's prior and the recipe search); 7 train / 3 test images per private person; softmax regression;
privacy levels non-private, DP-SGD at sigma 0.5 (the tutorial: lot 40, clip 1, delta 1e-5) and DP-SGD
calibrated to epsilon 8, 3 and 1, each with the recipe a search on the public people chose; 3 seeds; the
attacks mi-face, pca-prior and gmi (those registered) on every private person.

PERSONAL DATA: the outputs contain reconstructions of private people's faces and their real mean faces.
They are written readable by you only and are private by default; --shareable adds a report without the
real faces.

outputs in --out (default runs/<name>, name default a UTC timestamp):
  results.json   config, versions, data provenance, people split, levels, recipes, every cell, timings
  results.csv    one row per privacy level x seed x attack
  figures/       privacy_utility_leakage.png, reconstructions.png, audit_roc.png (with the audit)
  report.html    one self-contained page (figures embedded); report_shareable.html with --shareable
  cells/         one JSON (+ .npy reconstructions) per finished cell: re-running into the same --out
                 skips them, so an interrupted run resumes where it stopped
  audit/         one JSON per audited privacy level (first seed; [audit]): kept when resuming

config file (--config study.toml; flags given on the command line override it):
{config_sections_help()}

examples:
  dpmi run --data ~/att_faces
  dpmi run --quick --out runs/smoke
  dpmi run --model cnn --attacks mi-face,pca-prior --attack-option mi-face.max_iter=500
  dpmi run --config study.toml --jobs 2 --epsilons 8,3,1,0.5
"""


def _add_run(sub) -> None:
    from dpmi.study.flags import add_study_arguments

    p = sub.add_parser(
        "run",
        help=_HEAVY_COMMANDS["run"],
        description="Run (or resume) the study: does DP-SGD stop model inversion, and at what "
        "epsilon? Writes results and a report. The outputs contain personal data "
        "(faces of private people) and are private by default.",
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="TOML", help="study config file (see below); flags override it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_study_arguments(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from dpmi.study.config import make_config
    from dpmi.study.flags import study_overrides
    from dpmi.study.runner import run_study
    from dpmi.study.summary import summary_table

    config = make_config(args.config, **study_overrides(args))
    result = run_study(config, progress=not args.no_progress, log=_log)
    print(summary_table(result.summaries))
    print(f"\n{result.cells_run} cells run, {result.cells_skipped} resumed; {result.timings['total']:.1f} s in all")
    print(
        "phases (s; training, attacks, metrics and audit are summed over the workers' tasks): "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items() if k != "total")
    )
    print(f"report: {result.run_dir / 'report.html'} (personal data: keep it private)")
    return 0


# --------------------------------------------------------------------------------------------- dpmi train
_HEAVY_COMMANDS = {  # their one-line help; their options are built only when they run (see build_parser)
    "run": "the study: privacy levels x seeds x attacks -> train, account, attack, measure, report",
    "epsilon": "epsilon of DP-SGD (Poisson-subsampled Gaussian) by RDP and/or PLD",
    "sigma": "smallest noise multiplier meeting a target epsilon",
    "audit": "privacy audit of one level: accountant vs membership inference vs canaries",
    "train": "train one target model on the private identities; save weights + sidecar",
    "attack": "invert a model saved by `dpmi train` with any registered attack; write the results beside it",
}
TRAIN_EPILOG = """\
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


def _add_train(sub) -> None:
    import inspect

    from dpmi.models import available_models
    from dpmi.privacy.accounting import ACCOUNTANTS
    from dpmi.workflows.train_model import train_config_fields, train_model

    config = train_config_fields()  # TrainConfig's defaults: the one source of the training flags' defaults
    call = {name: p.default for name, p in inspect.signature(train_model).parameters.items()}
    p = sub.add_parser(
        "train",
        help=_HEAVY_COMMANDS["train"],
        description="Train one target model on the private identities' training images, "
        "non-privately or with DP-SGD; save the weights and a JSON sidecar.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        default="model.pt",
        metavar="PATH",
        help="weights file (default %(default)s); the sidecar is PATH with .json",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the AT&T faces or any DIR/<identity>/<image> folder (default $DPMI_DATA, else the cache)",
    )
    p.add_argument(
        "--model",
        default=call["model"],
        metavar="NAME",
        help=f"target model: {', '.join(available_models())}, or your own as pkg.module:factory (default %(default)s)",
    )
    g = p.add_argument_group("identities and split")
    g.add_argument(
        "--private-people",
        type=_labels,
        dest="private_identities",
        default=call["private_identities"],
        metavar="LIST",
        help="identities the model learns, e.g. 0-19 (default: the first half)",
    )
    g.add_argument(
        "--public-people",
        type=_labels,
        dest="public_identities",
        default=call["public_identities"],
        metavar="LIST",
        help="identities left to the attacker (default: every identity not private)",
    )
    g.add_argument(
        "--train-per-class",
        type=int,
        default=call["train_per_class"],
        metavar="K",
        help="training images per private identity; the rest are held out (default %(default)s)",
    )
    g.add_argument(
        "--split-seed",
        type=int,
        default=call["split_seed"],
        metavar="S",
        help="seed of the train/held-out split (default %(default)s)",
    )
    g = p.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=int,
        default=config["epochs"],
        metavar="N",
        help="passes over the training set (default %(default)s)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=config["batch_size"],
        metavar="B",
        help="batch size; the expected (Poisson) batch size when private (default %(default)s)",
    )
    g.add_argument("--lr", type=float, default=config["lr"], help="SGD learning rate (default %(default)s)")
    g.add_argument(
        "--momentum",
        type=float,
        default=config["momentum"],
        metavar="M",
        help="SGD momentum in [0, 1) (default %(default)s)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=config["seed"],
        metavar="S",
        help="seed of the initial weights, the batches and the noise (default %(default)s)",
    )
    g.add_argument(
        "--device",
        default=config["device"],
        metavar="DEV",
        help="torch device: cpu, cuda, cuda:N (default %(default)s)",
    )
    g = p.add_argument_group("privacy (DP-SGD; see below)")
    privacy = g.add_mutually_exclusive_group()
    privacy.add_argument(
        "--sigma",
        type=float,
        dest="noise_multiplier",
        default=config["noise_multiplier"],
        metavar="SIGMA",
        help="noise multiplier: train privately with this sigma (default: non-private)",
    )
    privacy.add_argument(
        "--epsilon",
        type=float,
        dest="target_epsilon",
        default=config["target_epsilon"],
        metavar="EPSILON",
        help="target epsilon: train privately with the smallest sigma meeting it (default: non-private)",
    )
    g.add_argument(
        "--delta", type=float, default=config["delta"], metavar="D", help="DP delta in (0, 1) (default %(default)s)"
    )
    g.add_argument(
        "--clip",
        type=float,
        dest="max_grad_norm",
        default=config["max_grad_norm"],
        metavar="C",
        help="per-example gradient clip norm (default %(default)s)",
    )
    g.add_argument(
        "--accountant",
        choices=ACCOUNTANTS,
        default=config["accountant"],
        help="accountant that calibrates sigma for --epsilon and tracks training (default %(default)s); "
        "the sidecar records both",
    )
    if "secure_mode" in config:
        g.add_argument(
            "--secure",
            action="store_true",
            dest="secure_mode",
            default=config["secure_mode"],
            help="secure mode: noise from the OS's cryptographic source, not reproducible "
            "(default: seeded from --seed)",
        )
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print the result as JSON on stdout (default: text)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (default: a bar on stderr)")
    # Errors from TrainConfig and train_model name their field ("batch_size must be ..."): say the flag instead.
    flags = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings and a.dest != "help"}
    p.set_defaults(handler=_cmd_train, flag_of_field=flags)


def _train_config(args: argparse.Namespace):
    """The TrainConfig the flags describe: every TrainConfig field that has a flag, by the field's name."""
    from dataclasses import fields

    from dpmi.privacy.dpsgd import TrainConfig

    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})


def _cmd_train(args: argparse.Namespace) -> int:
    from dpmi.workflows import train_model

    try:
        trained = train_model(
            args.out,
            data=args.data,
            model=args.model,
            config=_train_config(args),
            train_per_class=args.train_per_class,
            split_seed=args.split_seed,
            private_identities=args.private_identities,
            public_identities=args.public_identities,
            progress=not args.no_progress,
            log=lambda message: _log(f"dpmi: warning: {message}"),
        )
    except ValueError as error:
        raise _in_flag_terms(error, args.flag_of_field) from error
    if args.json:
        print(json.dumps(trained.to_dict(), allow_nan=False))
        return 0
    meta = trained.metadata
    ids = meta["identities"]
    print(
        f"{meta['model']} trained on {len(ids['private'])} private identities ({_id_ranges(ids['private'])}; "
        f"public: {_id_ranges(ids['public'])}): test accuracy {trained.test_accuracy:.3f}, "
        f"train accuracy {trained.train_accuracy:.3f}"
    )
    if trained.private:
        eps = trained.epsilon or {}
        spent = " / ".join(f"{'failed' if v is None else f'{v:.3g}'} ({k.upper()})" for k, v in eps.items())
        print(
            f"DP-SGD: sigma {meta['noise_multiplier']:.4g}, {meta['steps']} steps at sample rate "
            f"{meta['sample_rate']:.4g}; epsilon {spent} at delta {meta['delta']:g}"
        )
    else:
        print("non-private (no DP-SGD): no privacy guarantee")
    print(
        f"mode: {trained.mode}"
        + (" (reproducible from --seed)" if trained.mode == "seeded" else " (noise from the OS's cryptographic source)")
    )
    print(f"wrote {trained.path} and {trained.sidecar}")
    return 0


def _in_flag_terms(error: ValueError, flag_of_field: dict[str, str]) -> ValueError:
    """ "batch_size must be ..." -> "--batch-size must be ...": a field named at the start becomes its flag."""
    text = str(error)
    field = text.split(" ", 1)[0]
    if field in flag_of_field:
        return ValueError(flag_of_field[field] + text[len(field) :])
    return error


def _id_ranges(ids: Sequence[int]) -> str:
    from dpmi.workflows.attack_model import identity_ranges

    return identity_ranges(ids) if ids else "none"


# -------------------------------------------------------------------------------------------- dpmi attack
def _attack_epilog() -> str:
    """Every registered attack with its options, defaults and meaning (the same text as --list-attacks)."""
    import textwrap

    paragraphs = [
        (
            "MI-FACE's terms: Process is an image operation applied after each gradient step (denoise: NL-means "
            "denoising + unsharp mask); AuxTerm is a term added to the cost (tv: total variation)."
        ),
        (
            "identities are numbered from 0 as in the model's sidecar (AT&T: folder s1 is identity 0); only the "
            "private ones, which the model learned, can be attacked."
        ),
        (
            "outputs (default: a directory beside the model, MODEL-stem-ATTACK/, e.g. model-mi-face/): "
            "reconstructions.npy (float32 [K, C, H, W] in [-1, 1]), attack.json (settings, scores, per-identity "
            "scores), reconstructions.png. They hold reconstructions of private faces, i.e. personal data: the "
            "files are created readable by their owner only (0600)."
        ),
    ]
    return (
        "attacks (--attack NAME; options: --option KEY=VALUE, repeatable):\n"
        + _list_attacks_text()
        + "\n"
        + "\n\n".join(textwrap.fill(text, 100) for text in paragraphs)
        + "\n"
    )


def _list_attacks_text() -> str:
    from dpmi.attacks.registry import attack_spec, available_attacks

    lines = []
    for name in available_attacks():
        spec = attack_spec(name)
        prior = "; learns a prior from the public identities" if spec.needs_public else ""
        lines.append(f"  {name}: {spec.summary} ({spec.reference}{prior})")
        for key, default in spec.defaults.items():
            lines.append(f"      {f'{key}={default}':<22} {spec.help.get(key, '')}")
    return "\n".join(lines) + "\n"


def _add_attack(sub) -> None:
    import inspect

    from dpmi.attacks.registry import attack_spec, available_attacks
    from dpmi.workflows import attack_saved_model

    call = {name: p.default for name, p in inspect.signature(attack_saved_model).parameters.items()}
    mi_face = attack_spec("mi-face")
    p = sub.add_parser(
        "attack",
        help=_HEAVY_COMMANDS["attack"],
        description="Invert a model saved by `dpmi train`, score the reconstructions against its "
        "private training faces, and write them, their scores and a figure.",
        epilog=_attack_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", nargs="?", metavar="MODEL", help="weights file written by `dpmi train` (with its .json sidecar)"
    )
    p.add_argument(
        "--attack", default=call["attack"], choices=available_attacks(), help="the attack (default %(default)s)"
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the attack, repeatable (default: the attack's defaults, listed below)",
    )
    p.add_argument("--list-attacks", action="store_true", help="list the attacks, their options and defaults; exit")
    g = p.add_argument_group("MI-FACE's options as flags (Fredrikson et al. 2015, Alg. 1; same as --option KEY=VALUE)")
    for key, default in mi_face.defaults.items():
        meaning = mi_face.help.get(key, "")
        symbol = meaning.split(":", 1)[0] if ":" in meaning else key
        kind = type(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else str
        g.add_argument(
            f"--{key.replace('_', '-')}",
            dest=f"mi_face_{key}",
            type=kind,
            default=None,
            metavar=symbol.split("/")[0].upper().replace(" ", "_"),
            help=f"{meaning} (default {default})".replace("%", "%%"),
        )
    p.add_argument(
        "--identities",
        "--labels",
        type=_labels,
        dest="identities",
        default=None,
        metavar="LIST",
        help="identities to attack: 'all' or e.g. 0,11,19 or 0-7 (default: all private identities)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the faces the model was trained on (default: the directory its sidecar records, else "
        "$DPMI_DATA, else the cache)",
    )
    p.add_argument(
        "--no-metrics",
        action="store_true",
        help="skip the scores: no evaluation classifier is trained (default: score)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="results directory, checked writable before the attack (default: MODEL-stem-ATTACK/ beside the model)",
    )
    p.add_argument("--device", default=call["device"], help="torch device (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout (default: text)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: a bar on stderr)")
    p.set_defaults(handler=_cmd_attack)


def _option_value(default: Any, text: str) -> Any:
    """'300' -> 300 when the default is an int, '0.1' -> 0.1 for a float, 'yes'/'no' for a bool, else text."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise ValueError(f"expected true or false, got {text!r}")
        return lowered in ("true", "yes", "1", "on")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if default is None:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _attack_options(args: argparse.Namespace) -> dict[str, Any]:
    """--option KEY=VALUE pairs and MI-FACE's flags, typed like the attack's defaults."""
    from dpmi.attacks.registry import attack_spec

    defaults = attack_spec(args.attack).defaults
    options: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith("mi_face_") and value is not None:
            options[key.removeprefix("mi_face_")] = value
    for pair in args.option:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = _option_value(defaults.get(key), text) if key in defaults else text
        except ValueError as exc:
            raise ValueError(f"--option {key}: {exc}") from exc
    return options


def _cmd_attack(args: argparse.Namespace) -> int:
    from dpmi.workflows import attack_saved_model
    from dpmi.workflows.attack_model import score_lines

    if args.list_attacks:
        print(_list_attacks_text(), end="")
        return 0
    if args.model is None:
        raise UsageError("the following arguments are required: MODEL (see `dpmi attack --help`)")
    report = attack_saved_model(
        args.model,
        args.attack,
        options=_attack_options(args),
        identities=args.identities,
        out=args.out,
        data=args.data,
        metrics=not args.no_metrics,
        device=args.device,
        progress=not args.no_progress,
        log=_log,
    )
    if args.json:
        print(json.dumps(report.to_dict(), allow_nan=False))
        return 0
    print(
        f"{report.attack} on {len(report.identities)} identities ({_id_ranges(report.identities)}) of "
        f"{report.model_path}: mean target confidence {float(report.confidence.mean()):.3f}"
    )
    if report.diagnostics and not report.scores:  # scored: the diagnostics are among the scores
        print("  attack: " + ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in report.diagnostics.items()))
    for meaning, value in score_lines(report.scores):
        print(f"  {meaning}: {value}")
    if report.out_dir is not None:
        print(
            f"wrote {', '.join(report.files)} to {report.out_dir}/ (reconstructions of private faces: personal "
            f"data, readable by you only)"
        )
    return 0


# -------------------------------------------------------------------------------------------- dpmi report
def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild figures and report.html of a run from its results.json",
        description="Redraw the figures and report.html of RUN_DIR from results.json and the "
        "saved reconstructions (no data, no training). The report contains personal "
        "data; --shareable also writes report_shareable.html without the real faces.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by `dpmi run`")
    p.add_argument(
        "--shareable", action="store_true", help="also write report_shareable.html, leaving the real faces out"
    )
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from dpmi.study.results import load_results, render_outputs
    from dpmi.study.store import RunStore
    from dpmi.study.summary import summary_table

    results = load_results(args.run_dir)
    if results.migrated_from is not None:
        _log(
            f"{args.run_dir} was written by an older dpmi (results format {results.migrated_from}, MI-FACE only); "
            "showing it as recorded"
        )
    paths = render_outputs(
        RunStore(args.run_dir), results, shareable=args.shareable or bool(results.config.get("shareable"))
    )
    print(summary_table(results.summaries()))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


# ------------------------------------------------------------------------------------------- dpmi compare
def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="the differences of two runs, level by level and attack by attack",
        description="Print and plot the differences of two studies (privacy levels, accuracies, "
        "attack success by each judge). Refuses runs on different faces or different "
        "private people, or with no level or attack in common.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="a directory written by `dpmi run`")
    p.add_argument("run_b", metavar="RUN_B", help="another one")
    p.add_argument("--out", metavar="PNG", default="compare.png", help="where the figure goes (default compare.png)")
    p.set_defaults(handler=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from dpmi.atomic_files import atomic_write_bytes
    from dpmi.study.compare import compare_runs, comparison_figure, comparison_table
    from dpmi.study.results import load_results

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: give a file path such as {out / 'compare.png'}")
    a, b = load_results(args.run_a), load_results(args.run_b)
    rows = compare_runs(a, b)
    name_a, name_b = Path(args.run_a).name, Path(args.run_b).name
    print(comparison_table(rows, name_a, name_b))
    atomic_write_bytes(out, comparison_figure(rows, name_a, name_b))
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------------- dpmi epsilon / sigma
def _add_schedule(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "the DP-SGD schedule: --sample-rate and --steps, or --batch-size, --dataset-size "
        "and --epochs (q = B/N, steps = ceil(epochs * N / B))"
    )
    g.add_argument("--sample-rate", type=float, metavar="Q", help="Poisson sampling rate q in (0, 1]")
    g.add_argument("--steps", type=int, help="number of DP-SGD steps, >= 1")
    g.add_argument("--batch-size", type=int, metavar="B", help="expected batch (lot) size")
    g.add_argument("--dataset-size", type=int, metavar="N", help="training set size")
    g.add_argument("--epochs", type=float, help="passes over the data")
    p.add_argument("--delta", type=float, default=1e-5, help="DP delta in (0, 1) (default 1e-5)")
    p.add_argument(
        "--accountant",
        choices=(*_accountant_choices(), "all"),
        default="all",
        help="which accountant(s): "
        + "; ".join(f"{name.upper()}: {_accountant_help(name)}" for name in _accountant_choices())
        + " (default all)",
    )
    p.add_argument(
        "--pld-interval",
        type=float,
        metavar="NATS",
        default=None,
        help=f"PLD grid step in nats, > 0 (default {_pld_default_interval():g}): smaller is tighter and "
        "slower. A grid too fine to fit in memory is coarsened automatically, and the output says so",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _pld_default_interval() -> float:
    from dpmi.privacy.accounting.pld_accountant import DEFAULT_INTERVAL

    return DEFAULT_INTERVAL


def _accountant_choices() -> tuple[str, ...]:
    from dpmi.privacy.accounting import available_accountants

    return available_accountants()


def _accountant_help(name: str) -> str:
    from dpmi.privacy.accounting import accountant_summary

    return accountant_summary(name)


def _accountant_options(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Per-accountant options from the flags (today only --pld-interval), checked before any work."""
    if args.pld_interval is None:
        return {}
    if not (math.isfinite(args.pld_interval) and args.pld_interval > 0):
        raise ValueError(f"--pld-interval must be a finite number of nats > 0 (e.g. 1e-3), got {args.pld_interval}")
    return {"pld": {"value_discretization_interval": args.pld_interval}}


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


def _add_epsilon(sub) -> None:
    p = sub.add_parser(
        "epsilon",
        help=_HEAVY_COMMANDS["epsilon"],
        description="Epsilon spent by DP-SGD with noise multiplier sigma, at delta.",
    )
    p.add_argument("--sigma", type=float, required=True, help="noise multiplier (noise std / clip norm), > 0")
    _add_schedule(p)
    p.set_defaults(handler=_cmd_epsilon)


def _cmd_epsilon(args: argparse.Namespace) -> int:
    from dpmi.privacy.accounting import epsilon_table

    if not (math.isfinite(args.sigma) and args.sigma > 0):
        raise ValueError(f"--sigma must be > 0, got {args.sigma}")
    _check_delta(args.delta)
    options = _accountant_options(args)
    q, steps = _schedule(args)
    table = epsilon_table(args.sigma, q, steps, args.delta, args.accountant, options)
    if args.json:
        print(
            json.dumps(
                {
                    "sigma": args.sigma,
                    "sample_rate": q,
                    "steps": steps,
                    "delta": args.delta,
                    "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
                    "order": {name: r.order for name, r in table.items() if r.order is not None},
                    "note": {name: r.note for name, r in table.items() if r.note},
                }
            )
        )
    else:
        print(f"sigma {args.sigma:g}, q {q:.6g}, {steps} steps, delta {args.delta:g}:")
        for name, r in table.items():
            order = f" (order {r.order:g})" if r.order is not None else ""
            note = f"  [{_flag_note(r.note)}]" if r.note else ""
            print(f"  epsilon ({name.upper()}) = {r.epsilon:.6g}{order}{note}")
    return 0


def _flag_note(note: str) -> str:
    """A library note in the CLI's words: the PLD grid is set by --pld-interval."""
    if "PLD grid" in note or "value_discretization_interval" in note:
        return note.replace("value_discretization_interval", "--pld-interval") + " (--pld-interval sets the grid)"
    return note


def _add_sigma(sub) -> None:
    p = sub.add_parser(
        "sigma",
        help=_HEAVY_COMMANDS["sigma"],
        description="The smallest DP-SGD noise multiplier whose epsilon at delta is <= the target.",
    )
    p.add_argument("--epsilon", type=float, required=True, help="target epsilon, > 0")
    _add_schedule(p)
    p.set_defaults(handler=_cmd_sigma)


def _cmd_sigma(args: argparse.Namespace) -> int:
    from dpmi.privacy.accounting import sigma_table

    if not (math.isfinite(args.epsilon) and args.epsilon > 0):
        raise ValueError(f"--epsilon must be > 0, got {args.epsilon}")
    _check_delta(args.delta)
    options = _accountant_options(args)
    q, steps = _schedule(args)
    table = sigma_table(args.epsilon, args.delta, q, steps, args.accountant, options=options)
    if args.json:
        print(
            json.dumps(
                {
                    "target_epsilon": args.epsilon,
                    "sample_rate": q,
                    "steps": steps,
                    "delta": args.delta,
                    "sigma": {name: r.noise_multiplier for name, r in table.items()},
                    "epsilon": {name: _finite_or_none(r.epsilon) for name, r in table.items()},
                    "note": {name: r.note for name, r in table.items() if r.note},
                }
            )
        )
    else:
        print(f"target epsilon {args.epsilon:g}, q {q:.6g}, {steps} steps, delta {args.delta:g}:")
        for name, r in table.items():
            note = f"  [{_flag_note(r.note)}]" if r.note else ""
            print(f"  sigma ({name.upper()}) = {r.noise_multiplier:.6g}  (epsilon {r.epsilon:.6g}){note}")
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
    return size


def _add_data(sub) -> None:
    p = sub.add_parser(
        "data",
        help="get, check or describe face data (the AT&T faces or your own folder)",
        description="Get the AT&T faces (fetch), check a copy or any identity folder (verify), "
        "describe a folder (info). An identity folder is DIR/<identity>/<image>: one "
        "sub-folder per person, any image format Pillow reads; hidden files and files "
        "directly in DIR are ignored, any other non-image is refused.",
    )
    data_sub = p.add_subparsers(dest="data_command", metavar="{fetch,verify,info}", parser_class=_Parser)
    data_sub.required = True
    fetch = data_sub.add_parser(
        "fetch",
        help="download, verify and install the AT&T faces",
        description="Download the AT&T faces archive, check every image against the SHA-256 list shipped with "
        "dpmi, and install the directory only if all match. A valid copy already at the destination "
        "is verified and kept (nothing is downloaded).",
    )
    fetch.add_argument("--url", help="archive address (default: the AT&T Laboratories Cambridge archive)")
    fetch.add_argument("--dest", metavar="DIR", help="install here (default $DPMI_DATA, else the cache)")
    fetch.add_argument(
        "--force",
        action="store_true",
        help="replace an existing directory at the destination that is not a valid copy (it is deleted)",
    )
    fetch.set_defaults(handler=_cmd_fetch)
    verify = data_sub.add_parser(
        "verify",
        help="check the AT&T faces against their SHA-256 list, or that every image of a folder loads",
        description="A directory holding AT&T images is checked image by image against the published SHA-256 "
        "list; any other directory is read as an identity folder and every image decoded.",
    )
    verify.add_argument("root", nargs="?", metavar="DIR", help="faces directory (default $DPMI_DATA, else the cache)")
    verify.add_argument(
        "--image-size",
        type=_image_size,
        metavar="HxW",
        help="check the folder resized to height x width (default: none; all images one size)",
    )
    verify.set_defaults(handler=_cmd_verify)
    info = data_sub.add_parser(
        "info",
        help="identities, images, sizes and channels of a face folder",
        description="Describe DIR/<identity>/<image> from the image headers: identities and their names, images "
        "per identity, sizes, channels, and a fingerprint (SHA-256 of paths and contents).",
    )
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


# --------------------------------------------------------------------------------------------- dpmi audit
AUDIT_EPILOG = """\
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


def _add_audit(sub) -> None:
    p = sub.add_parser(
        "audit",
        help=_HEAVY_COMMANDS["audit"],
        description="Audit one privacy level: the accountant's epsilon beside what a black-box "
        "(LiRA) and a white-box (one-run canary) attacker demonstrably achieve, and the "
        "identity-level epsilon.",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        default="softmax",
        help="softmax (default), mlp or cnn; or a model file saved by `dpmi train` (its recipe is used)",
    )
    privacy = p.add_mutually_exclusive_group()
    privacy.add_argument("--epsilon", type=float, help="DP-SGD target epsilon (sigma calibrated); neither: non-private")
    privacy.add_argument("--sigma", type=float, help="DP-SGD noise multiplier; neither: non-private")
    p.add_argument("--shadows", type=int, default=64, metavar="K", help="shadow models, >= 2 (default 64)")
    p.add_argument(
        "--canaries",
        type=int,
        default=1000,
        metavar="M",
        help="white-box gradient canaries (default 1000; 0: skip the white-box audit)",
    )
    p.add_argument(
        "--fpr",
        type=_numbers,
        default=(0.001, 0.01),
        metavar="LIST",
        help="FPRs in (0, 1) to report the TPR at (default 0.001,0.01)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the target (as in the study) and of the audit")
    p.add_argument("--data", metavar="DIR", help="AT&T faces directory (default $DPMI_DATA, else the cache)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    p.add_argument("--batch-size", type=int, default=40, metavar="B", help="(expected) batch size (default 40)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--clip", type=float, default=1.0, metavar="C", help="per-example clip norm (default 1)")
    p.add_argument("--delta", type=float, default=1e-5, help="DP delta (default 1e-5)")
    p.add_argument("--accountant", choices=("rdp", "pld"), default="rdp", help="calibrates --epsilon (default rdp)")
    p.add_argument("--train-per-class", type=int, default=7, metavar="K", help="training images per person")
    p.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of the train/test split")
    p.add_argument("--out", metavar="DIR", help="write audit.json and roc.png here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    from dpmi.audit.api import audit_level, check_audit_settings
    from dpmi.privacy.dpsgd import TrainConfig

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: choose a directory path")
    if not (isinstance(args.seed, int) and args.seed >= 0):
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    target = None
    model_path = Path(args.model)
    if model_path.suffix in (".pt", ".pth") or model_path.is_file():
        from dpmi.audit.saved_model import load_saved_target

        if args.epsilon is not None or args.sigma is not None:
            raise ValueError("--epsilon/--sigma do not apply to a saved model: its recipe comes from its sidecar")
        saved = load_saved_target(model_path, args.data)
        target, model_name, recipe = saved.model, saved.model_name, saved.recipe
        members, heldout = saved.members, saved.heldout
    else:
        from dpmi.data import load_att_faces, split_identities
        from dpmi.models import MODELS

        if args.model not in MODELS:
            raise ValueError(
                f"unknown model {args.model!r}: choose one of {', '.join(sorted(MODELS))} or give a "
                "model file saved by `dpmi train`"
            )
        model_name = args.model
        recipe = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            noise_multiplier=args.sigma,
            target_epsilon=args.epsilon,
            delta=args.delta,
            max_grad_norm=args.clip,
            accountant=args.accountant,
            seed=args.seed,
        )
        check_audit_settings(args.shadows, args.canaries, args.fpr, (1,), False)
        faces = load_att_faces(args.data)
        members, heldout = split_identities(faces).private.split(
            train_per_class=args.train_per_class, seed=args.split_seed
        )
    check_audit_settings(args.shadows, args.canaries, args.fpr, members.input_shape, recipe.private)
    recipe.validate(len(members))
    x_members, y_members = members.to_tensors()
    x_heldout, y_heldout = heldout.to_tensors()
    _log(
        f"auditing {model_name} with {args.shadows} shadow models"
        + (f" and {args.canaries} canaries" if recipe.private and args.canaries else "")
        + " ..."
    )
    record = audit_level(
        x_members,
        y_members,
        x_heldout,
        y_heldout,
        recipe,
        model=model_name,
        num_classes=members.num_classes,
        target_seed=recipe.seed,
        shadows=args.shadows,
        canaries=args.canaries if recipe.private else 0,
        seed=args.seed,
        fpr_targets=tuple(args.fpr),
        target=target,
    )
    result = record.to_dict()
    if out is not None:
        from dpmi.atomic_files import atomic_write_json
        from dpmi.audit.figures import write_roc_figure

        out.mkdir(parents=True, exist_ok=True)
        if record.black_box is not None:
            write_roc_figure(
                out / "roc.png",
                {"LiRA online": record.black_box.roc, "LiRA offline": record.black_box.roc_offline},
                title=f"{model_name}, "
                + ("non-private" if record.epsilon is None else f"sigma {record.noise_multiplier:.3g}"),
            )
        atomic_write_json(out / "audit.json", result)
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False, default=_json_default))
        return 0
    bounds = result["epsilon_lower_bound"]
    if record.epsilon is None:
        print(f"{model_name}, non-private: accountant epsilon inf")
    else:
        print(
            f"{model_name}, sigma {record.noise_multiplier:.4g}: accountant epsilon {record.epsilon['rdp']:.3g} "
            f"(RDP) / {record.epsilon['pld']:.3g} (PLD) at delta {record.delta:g}"
        )
    print(
        f"  black-box eps_lb (LiRA)        {_fmt(bounds['black_box'])}   AUC {_fmt(result['auc'])}   "
        + "   ".join(f"TPR@{k} {v:.3f}" for k, v in (result["tpr_at_fpr"] or {}).items())
    )
    print(f"  white-box eps_lb (one run)     {_fmt(bounds['white_box'])}")
    print(f"  identity epsilon ({record.records_per_identity} images)  {_fmt(result['identity_epsilon'])}")
    if out is not None:
        print(f"wrote {out / 'audit.json'}" + (f" and {out / 'roc.png'}" if record.black_box is not None else ""))
    return 0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def _json_default(value: Any) -> Any:
    return None


# ------------------------------------------------------------------------------------------------- main
def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the `command` about to run, the other commands whose options need torch
    (train, attack: their defaults come from TrainConfig and the attack registry) are listed without options."""
    parser = _Parser(
        prog="dpmi",
        description="Model inversion (MI-FACE) vs differential privacy (DP-SGD) on "
        "face classifiers: train, account, attack, measure, report.",
    )
    parser.add_argument("--version", action="version", version=f"dpmi {dpmi.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (
        _add_run,
        _add_train,
        _add_attack,
        _add_report,
        _add_compare,
        _add_epsilon,
        _add_sigma,
        _add_data,
        _add_audit,
    ):
        name = add.__name__.removeprefix("_add_")
        if command is not None and name in _HEAVY_COMMANDS and name != command:
            sub.add_parser(name, help=_HEAVY_COMMANDS[name])
        else:
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
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
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
