"""The `dpmi` command line: run the study, train, attack, rebuild a report, account for privacy, get the data.

It only parses, calls a `dpmi.workflows` function and prints what that returns (lines, or JSON with --json).
The commands are listed in `dpmi.cli.commands`; their flags come from their options dataclasses (`dpmi.flags`).
Plugins (`--plugin pkg.module`, repeatable, and the `dpmi.plugins` entry points) load before the parser is
built, so their attacks, models and accountants are among the choices.

Every command turns bad input (ValueError, FileNotFoundError and other OS errors, argparse errors) into ONE
line on stderr, `dpmi: error: ...`, and exit code 2; Ctrl-C exits with 130. `main(argv)` returns the exit
code, so tests call it in-process and the console script does `sys.exit(main())`.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import dpmi
from dpmi.cli.commands import COMMANDS, GROUPS, Command

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PLUGIN_HELP = "import this module first, so its attacks, models, judges... are among the choices (repeatable; default: none, besides the installed dpmi.plugins entry points)"


class UsageError(ValueError):
    """A command-line mistake argparse found (unknown flag, missing value, bad number...)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so main() reports one line."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve(reference: str) -> Any:
    """'module:name' -> that attribute of dpmi.workflows.module (imported now)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(f"dpmi.workflows.{module}"), name)


def _width() -> int:
    return min(100, shutil.get_terminal_size().columns - 2)  # argparse's width, for the description


def _add_command(sub: Any, command: Command) -> None:
    from dpmi.flags import add_arguments

    epilog = resolve(command.epilog) if command.epilog else None
    found = resolve(command.options)
    options = found if isinstance(found, type) else found()
    p = sub.add_parser(
        command.name.split()[-1],
        help=command.help,
        description=textwrap.fill(
            " ".join((options.__doc__ or command.help).split()), _width(), break_on_hyphens=False
        ),
        epilog=epilog() if callable(epilog) else epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p, options)
    if command.study:
        from dpmi.study.flags import add_study_arguments

        add_study_arguments(p, skip=[f.name for f in fields(options)])
    p.add_argument("--plugin", action="append", metavar="PKG.MODULE", help=PLUGIN_HELP)
    p.set_defaults(dpmi_command=command, dpmi_options=options)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the `command` about to run, the other commands whose options need torch (or
    a registry: see `Command.heavy`) are listed without options."""
    parser = _Parser(
        prog="dpmi",
        description="Model inversion (MI-FACE) vs differential privacy (DP-SGD) on "
        "face classifiers: train, account, attack, measure, report.",
    )
    parser.add_argument("--version", action="version", version=f"dpmi {dpmi.__version__}")
    parser.add_argument("--plugin", action="append", metavar="PKG.MODULE", help=PLUGIN_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    groups: dict[str, Any] = {}
    for c in COMMANDS:
        head, _, name = c.name.rpartition(" ")
        where = sub
        if head:
            if head not in groups:
                names = ",".join(o.name.split()[-1] for o in COMMANDS if o.name.startswith(head + " "))
                p = sub.add_parser(head, help=resolve(GROUPS[head][0]), description=resolve(GROUPS[head][1]))
                groups[head] = p.add_subparsers(dest=f"{head}_command", metavar=f"{{{names}}}", parser_class=_Parser)
                groups[head].required = True
            where = groups[head]
        if c.heavy and command is not None and c.name != command:
            where.add_parser(name, help=c.help)
        else:
            _add_command(where, c)
    return parser


def _plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the --plugin modules, the other arguments in order): plugins load before the parser is built."""
    modules, rest, args = [], [], iter(argv)
    for arg in args:
        if arg == "--plugin":
            modules.append(next(args, ""))
        elif arg.startswith("--plugin="):
            modules.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    return modules, rest


def _run(args: argparse.Namespace) -> int:
    from dpmi.flags import from_args

    command: Command = args.dpmi_command
    options = from_args(args.dpmi_options, args)
    extra = {}
    if command.study:
        from dpmi.study.flags import study_overrides

        extra["overrides"] = study_overrides(args)
    out = resolve(command.workflow)(options, log=_log, **extra)
    if getattr(options, "json", False) and out.data is not None:
        print(out.json())
    else:
        for line in out.lines:
            print(line)
    return 0


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `dpmi` command line with `argv` (default sys.argv[1:]); return the exit code."""
    from dpmi.registry import load_entry_point_plugins, load_plugins

    try:
        plugins, rest = _plugins(list(sys.argv[1:] if argv is None else argv))
        load_entry_point_plugins()
        load_plugins(plugins)
        command = next((a for a in rest if not a.startswith("-")), "")
        return _run(build_parser(command).parse_args(rest))
    except SystemExit as exit_:  # --help and --version print, then exit 0
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("dpmi: interrupted; finished work is saved (re-run with the same --out to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # FileNotFoundError and FileExistsError are OSErrors
        print(f"dpmi: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "main"]
