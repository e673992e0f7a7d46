"""`dpmi attack`: its options (the attack, its --option KEY=VALUE pairs, MI-FACE's options as flags, built
from the attack registry), the listing of every registered attack, and what the attack says afterwards."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from typing import Any

from dpmi.attacks.access import ACCESS_LEVELS, SCORE_OUTPUTS
from dpmi.attacks.registry import attack_spec, available_attacks
from dpmi.flags import option, typed_like
from dpmi.workflows.attack_model import (
    attack_saved_model,
    choose_attack,
    count_people,
    identity_ranges,
    people_list,
    score_lines,
)
from dpmi.workflows.command_output import CommandOutput

_CALL = {name: p.default for name, p in inspect.signature(attack_saved_model).parameters.items()}
MI_FACE_GROUP = "MI-FACE's options as flags (Fredrikson et al. 2015, Alg. 1; same as --option KEY=VALUE)"
NOTES = (
    "MI-FACE's terms: Process is an image operation applied after each gradient step (denoise: NL-means "
    "denoising + unsharp mask); AuxTerm is a term added to the cost (tv: total variation).",
    "identities are numbered from 0 as in the model's sidecar (AT&T: folder s1 is identity 0); only the "
    "private ones, which the model learned, can be attacked. The figure and the lines name the people as "
    "the study's grid does: by their folder names (AT&T: identity 0 is s1).",
    "outputs (default: a directory beside the model, MODEL-stem-ATTACK/, e.g. model-mi-face/): "
    "reconstructions.npy (float32 [K, C, H, W] in [-1, 1]), attack.json (settings, scores, per-identity "
    "scores), reconstructions.png. They hold reconstructions of private faces, i.e. personal data: the "
    "files are created readable by their owner only (0600).",
)


def attack_listing() -> list[str]:
    """Every registered attack with its options, defaults and meaning (--list-attacks and --help)."""
    lines = []
    for name in available_attacks():
        spec = attack_spec(name)
        prior = "; learns a prior from the public identities" if spec.needs_public else ""
        lines.append(f"  {name}: {spec.summary} ({spec.reference}{prior})")
        lines += [f"      {f'{key}={default}':<22} {spec.help.get(key, '')}" for key, default in spec.defaults.items()]
    return lines


def epilog() -> str:
    head = "attacks (--attack NAME; options: --option KEY=VALUE, repeatable):"
    return "\n".join([head, *attack_listing(), "", "\n\n".join(textwrap.fill(text, 100) for text in NOTES)]) + "\n"


@dataclass
class AttackBase:
    """Invert a model saved by `dpmi train`, score the reconstructions against its private training faces,
    and write them, their scores and a figure."""

    model: str | None = option(
        None, "MODEL", "weights file written by `dpmi train` (with its .json sidecar)", optional=True
    )
    attack: str | None = option(
        None,
        "--attack",
        "the attack (default: the access level's: white-box mi-face, scores pca-prior-bb, labels brep-mi)",
        choices=available_attacks,
    )
    access: str | None = option(
        None,
        "--access",
        "what the attacker gets of the model: white-box (its gradients), scores (a score vector per query), "
        "labels (the top class per query) (default: what the attack needs)",
        choices=lambda: ACCESS_LEVELS,
    )
    query_budget: int | None = option(
        None,
        "--query-budget",
        "the most queries (images) per attacked identity, scores and labels access (default: the attack's own)",
        kind="int",
        metavar="N",
    )
    target: str | None = option(
        None,
        "--target",
        "attack your own model behind a Python callable instead of the weights: images [B, C, H, W] in [-1, 1] "
        "-> scores [B, classes] (or labels [B] with --access labels); MODEL's sidecar, else --data split "
        "as `dpmi train` splits it, says who the classes are (default: none, the weights are attacked)",
        metavar="PKG.MODULE:FUNCTION",
    )
    target_outputs: str = option(
        "probabilities",
        "--target-outputs",
        "what the --target callable's scores are (default probabilities)",
        choices=lambda: SCORE_OUTPUTS,
    )
    option_pairs: dict[str, Any] | None = option(
        None,
        "--option",
        "an option of the attack, repeatable (default: the attack's defaults, listed below)",
        kind="options",
        metavar="KEY=VALUE",
    )
    list_attacks: bool = option(False, "--list-attacks", "list the attacks, their options and defaults; exit")
    identities: tuple[int, ...] | None = option(
        _CALL["identities"],
        "--identities",
        "identities to attack: 'all' or e.g. 0,11,19 or 0-7 (default: all private identities)",
        kind="labels",
        metavar="LIST",
        aliases=("--labels",),
    )
    data: str | None = option(
        None,
        "--data",
        "the faces the model was trained on (default: the directory its "
        "sidecar records, else $DPMI_DATA, else the cache)",
        metavar="DIR",
    )
    no_metrics: bool = option(
        False, "--no-metrics", "skip the scores: no evaluation classifier is trained (default: score)"
    )
    out: str | None = option(
        _CALL["out"],
        "--out",
        "results directory, checked writable before the attack (default: MODEL-stem-ATTACK/ beside the model)",
        metavar="DIR",
    )
    device: str = option(_CALL["device"], "--device", "torch device")
    json: bool = option(False, "--json", "print the result as JSON on stdout (default: text)")
    no_progress: bool = option(False, "--no-progress", "no progress bar (default: a bar on stderr)")


def attack_options_class() -> type:
    """AttackBase plus one flag per MI-FACE option (--max-iter, ...), from the registry's defaults and help."""
    extra = []
    for key, default in attack_spec("mi-face").defaults.items():
        meaning = attack_spec("mi-face").help.get(key, "")
        symbol = meaning.split(":", 1)[0] if ":" in meaning else key
        number = isinstance(default, (int, float)) and not isinstance(default, bool)
        kind = ("float" if isinstance(default, float) else "int") if number else "str"
        metavar = symbol.split("/")[0].upper().replace(" ", "_")
        flag = option(
            None,
            f"--{key.replace('_', '-')}",
            f"{meaning} (default {default})",
            kind=kind,
            metavar=metavar,
            group=MI_FACE_GROUP,
        )
        extra.append((f"mi_face_{key}", Any, flag))
    options = make_dataclass("AttackOptions", extra, bases=(AttackBase,))
    options.__doc__ = AttackBase.__doc__
    return options


def chosen_options(options: Any) -> dict[str, Any]:
    """MI-FACE's flags, then the --option pairs, typed like the attack's defaults."""
    defaults = attack_spec(options.attack or "mi-face").defaults
    chosen = {k.removeprefix("mi_face_"): v for k, v in vars(options).items() if k.startswith("mi_face_")}
    chosen = {k: v for k, v in chosen.items() if v is not None}
    for key, value in (options.option_pairs or {}).items():
        try:
            chosen[key] = typed_like(defaults[key], value) if key in defaults else value
        except ValueError as exc:
            raise ValueError(f"--option {key}: {exc}") from exc
    return chosen


def replace_attack(options: Any, attack: str) -> Any:
    """`options` with its attack set (the access level's default attack when none was named)."""
    import copy

    chosen = copy.copy(options)
    chosen.attack = attack
    return chosen


def attack_command(options: Any, log: Callable[[str], None] = print) -> CommandOutput:
    """Attack the saved model (or list the attacks) and say what came out."""
    if options.list_attacks:
        return CommandOutput(attack_listing())
    if options.model is None and options.target is None:
        raise ValueError("the following arguments are required: MODEL (see `dpmi attack --help`)")
    attack, _ = choose_attack(options.attack, options.access, target=options.target, query_budget=options.query_budget)
    report = attack_saved_model(
        options.model,
        attack,
        access=options.access,
        query_budget=options.query_budget,
        target=options.target,
        target_outputs=options.target_outputs,
        options=chosen_options(replace_attack(options, attack)),
        identities=options.identities,
        out=options.out,
        data=options.data,
        metrics=not options.no_metrics,
        device=options.device,
        progress=not options.no_progress,
        log=log,
    )
    ids = identity_ranges(report.identities) if report.identities else "none"
    who = f"{people_list(report.people)}; identities {ids}" if report.people else f"identities {ids}"
    lines = [
        f"{report.attack} on {count_people(len(report.identities))} ({who}) of {report.model_path}: mean target "
        f"confidence {float(report.confidence.mean()):.3f}"
    ]
    if report.queries is not None:
        per = report.queries / max(len(report.identities), 1)
        budget = f" (budget {report.query_budget:,} per person)" if report.query_budget is not None else ""
        lines.append(f"  {report.access} access: {report.queries:,} queries, {per:,.0f} per person{budget}")
    if report.diagnostics and not report.scores:  # scored: the diagnostics are among the scores
        lines.append("  attack: " + ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in report.diagnostics.items()))
    lines += [f"  {meaning}: {value}" for meaning, value in score_lines(report.scores)]
    if report.out_dir is not None:
        lines.append(
            f"wrote {', '.join(report.files)} to {report.out_dir}/ (reconstructions of private faces: personal "
            f"data, readable by you only)"
        )
    return CommandOutput(lines, report.to_dict())
