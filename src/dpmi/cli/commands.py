"""Every `dpmi` command: its name, one-line help, description, options dataclass and workflow function.

A command's flags come from its options dataclass (`dpmi.flags`); its workflow takes the options and a log
function and returns a `dpmi.workflows.command_output.CommandOutput`. References are "module:name", imported
only when the command is built or run, so `dpmi epsilon` and `dpmi --help` never import torch."""

from __future__ import annotations

from dataclasses import dataclass

W = "dpmi.workflows."


@dataclass(frozen=True)
class Command:
    """name: "run", or "GROUP NAME" for a subcommand ("data fetch"). options: the options dataclass, or a
    function returning one. workflow: `function(options, log=...) -> CommandOutput`. epilog: text or a
    function giving it. heavy: its options need torch, so it is built only when it runs. study: it also takes
    every `StudyConfig` flag, passed to the workflow as `overrides`."""

    name: str
    help: str
    options: str
    workflow: str
    description: str = ""
    epilog: str = ""
    heavy: bool = False
    study: bool = False


GROUPS = {
    "data": (
        "get, check or describe face data (the AT&T faces or your own folder)",
        "Get the AT&T faces (fetch), check a copy or any identity folder (verify), describe a folder (info). An "
        "identity folder is DIR/<identity>/<image>: one sub-folder per person, any image format Pillow reads; "
        "hidden files and files directly in DIR are ignored, any other non-image is refused.",
    )
}
COMMANDS = (
    Command(
        "run",
        "the study: privacy levels x seeds x attacks -> train, account, attack, measure, report",
        W + "run_study:RunOptions",
        W + "run_study:run_command",
        "Run (or resume) the study: does DP-SGD stop model inversion, and at what epsilon? Writes results and a "
        "report. The outputs contain personal data (faces of private people) and are private by default.",
        W + "run_study:run_epilog",
        heavy=True,
        study=True,
    ),
    Command(
        "train",
        "train one target model on the private identities; save weights + sidecar",
        W + "train_command:TrainOptions",
        W + "train_command:train_command",
        "Train one target model on the private identities' training images, non-privately or with DP-SGD; "
        "save the weights and a JSON sidecar.",
        W + "train_command:EPILOG",
        heavy=True,
    ),
    Command(
        "attack",
        "invert a model saved by `dpmi train` with any registered attack; write the results beside it",
        W + "attack_command:attack_options_class",
        W + "attack_command:attack_command",
        "Invert a model saved by `dpmi train`, score the reconstructions against its private training faces, "
        "and write them, their scores and a figure.",
        W + "attack_command:epilog",
        heavy=True,
    ),
    Command(
        "report",
        "rebuild figures and report.html of a run from its results.json",
        W + "rebuild_report:ReportOptions",
        W + "rebuild_report:rebuild_report",
        "Redraw the figures and report.html of RUN_DIR from results.json and the saved reconstructions (no "
        "data, no training). The report contains personal data; --shareable also writes report_shareable.html "
        "without the real faces.",
    ),
    Command(
        "compare",
        "the differences of two runs, level by level and attack by attack",
        W + "compare_runs:CompareOptions",
        W + "compare_runs:compare_command",
        "Print and plot the differences of two studies (privacy levels, accuracies, attack success by each "
        "judge). Refuses runs on different faces or different private people, or with no level or attack in "
        "common.",
    ),
    Command(
        "epsilon",
        "epsilon of DP-SGD (Poisson-subsampled Gaussian) by RDP and/or PLD",
        W + "account:EpsilonOptions",
        W + "account:epsilon_report",
        "Epsilon spent by DP-SGD with noise multiplier sigma, at delta.",
        heavy=True,
    ),
    Command(
        "sigma",
        "smallest noise multiplier meeting a target epsilon",
        W + "account:SigmaOptions",
        W + "account:sigma_report",
        "The smallest DP-SGD noise multiplier whose epsilon at delta is <= the target.",
        heavy=True,
    ),
    Command(
        "data fetch",
        "download, verify and install the AT&T faces",
        W + "face_data:FetchOptions",
        W + "face_data:fetch_faces",
        "Download the AT&T faces archive, check every image against the SHA-256 list shipped with dpmi, and "
        "install the directory only if all match. A valid copy already at the destination is verified and kept "
        "(nothing is downloaded).",
    ),
    Command(
        "data verify",
        "check the AT&T faces against their SHA-256 list, or that every image of a folder loads",
        W + "face_data:VerifyOptions",
        W + "face_data:verify_faces",
        "A directory holding AT&T images is checked image by image against the published SHA-256 list; any "
        "other directory is read as an identity folder and every image decoded.",
    ),
    Command(
        "data info",
        "identities, images, sizes and channels of a face folder",
        W + "face_data:InfoOptions",
        W + "face_data:describe_faces",
        "Describe DIR/<identity>/<image> from the image headers: identities and their names, images per "
        "identity, sizes, channels, and a fingerprint (SHA-256 of paths and contents).",
    ),
    Command(
        "audit",
        "privacy audit of one level: accountant vs membership inference vs canaries",
        W + "audit_level:AuditOptions",
        W + "audit_level:audit_command",
        "Audit one privacy level: the accountant's epsilon beside what a black-box (LiRA) and a white-box "
        "(one-run canary) attacker demonstrably achieve, and the identity-level epsilon.",
        W + "audit_level:EPILOG",
        heavy=True,
    ),
    Command(
        "lineup",
        "blind lineups: which private person does each reconstruction show, by a person's eyes",
        W + "lineup_command:LineupOptions",
        W + "lineup_command:lineup_command",
        "Serve RUN_DIR's blind lineups on a local web page: each saved reconstruction beside K real faces of "
        "the private people (the true person and K-1 others; level and attack hidden), asking which person it "
        "is. Every answer is saved to RUN_DIR/lineups/<rater>.json. Ctrl-C stops.",
    ),
)
