"""Every `dpmi` command: its name and one-line help, its options dataclass (whose docstring is the command's
description and whose fields are its flags, `dpmi.flags`), and its workflow, a function
`(options, log=...) -> CommandOutput`. References are "module:name" in `dpmi.workflows`, imported only when
the command is built or run, so `dpmi epsilon` and `dpmi --help` never import torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """name: "run", or "GROUP NAME" ("data fetch"). options: the options dataclass, or a function returning
    one. epilog: text or a function giving it. heavy: its options need torch or a registry, so it is built
    only when it runs. study: it also takes every `StudyConfig` flag, passed to the workflow as `overrides`."""

    name: str
    help: str
    options: str
    workflow: str
    epilog: str = ""
    heavy: bool = False
    study: bool = False


GROUPS = {"data": ("face_data:DATA_HELP", "face_data:DATA_DESCRIPTION")}
COMMANDS = (
    Command(
        "run",
        "the study: privacy levels x seeds x attacks -> train, account, attack, measure, report",
        "run_study:RunOptions",
        "run_study:run_command",
        "run_study:run_epilog",
        heavy=True,
        study=True,
    ),
    Command(
        "train",
        "train one target model on the private identities; save weights + sidecar",
        "train_command:TrainOptions",
        "train_command:train_command",
        "train_command:EPILOG",
        heavy=True,
    ),
    Command(
        "attack",
        "invert a model saved by `dpmi train` with any registered attack; write the results beside it",
        "attack_command:attack_options_class",
        "attack_command:attack_command",
        "attack_command:epilog",
        heavy=True,
    ),
    Command(
        "report",
        "rebuild figures and report.html of a run from its results.json",
        "rebuild_report:ReportOptions",
        "rebuild_report:rebuild_report",
    ),
    Command(
        "compare",
        "the differences of two runs, level by level and attack by attack",
        "compare_runs:CompareOptions",
        "compare_runs:compare_command",
    ),
    Command(
        "epsilon",
        "epsilon of DP-SGD (Poisson-subsampled Gaussian) by RDP and/or PLD",
        "account:EpsilonOptions",
        "account:epsilon_report",
        heavy=True,
    ),
    Command(
        "sigma",
        "smallest noise multiplier meeting a target epsilon",
        "account:SigmaOptions",
        "account:sigma_report",
        heavy=True,
    ),
    Command(
        "data fetch", "download, verify and install the AT&T faces", "face_data:FetchOptions", "face_data:fetch_faces"
    ),
    Command(
        "data verify",
        "check the AT&T faces against their SHA-256 list, or that every image of a folder loads",
        "face_data:VerifyOptions",
        "face_data:verify_faces",
    ),
    Command(
        "data info",
        "identities, images, sizes and channels of a face folder",
        "face_data:InfoOptions",
        "face_data:describe_faces",
    ),
    Command(
        "audit",
        "privacy audit of one level: accountant vs membership inference vs canaries",
        "audit_level:AuditOptions",
        "audit_level:audit_command",
        "audit_level:EPILOG",
        heavy=True,
    ),
    Command(
        "lineup",
        "blind lineups: which private person does each reconstruction show, by a person's eyes",
        "lineup_command:LineupOptions",
        "lineup_command:lineup_command",
    ),
)
