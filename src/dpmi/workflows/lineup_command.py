"""`dpmi lineup`: blind lineups of a run's reconstructions for people to judge (`dpmi.lineup.serve`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dpmi.flags import option
from dpmi.workflows.command_output import CommandOutput


@dataclass
class LineupOptions:
    """Serve RUN_DIR's blind lineups on a local web page: each saved reconstruction beside K real faces of
    the private people (the true person and K-1 others; level and attack hidden), asking which person it is.
    Every answer is saved to RUN_DIR/lineups/<rater>.json. Ctrl-C stops."""

    run_dir: str = option("", "RUN_DIR", "a directory written by `dpmi run`")
    host: str = option("127.0.0.1", "--host", "loopback address to serve on")
    port: int = option(0, "--port", "port to serve on (0: a free one)", kind="int")
    k: int = option(
        5, "--k", "real faces beside each reconstruction: the true person and K-1 others", kind="int", metavar="K"
    )
    seed: int = option(0, "--seed", "seed of who stands in each lineup, and where", kind="int", metavar="S")
    data: str | None = option(
        None,
        "--data",
        "the faces the run used, for its real mean faces where the run did "
        "not save them (default: the directory it records)",
        metavar="DIR",
    )


def lineup_command(options: LineupOptions, log: Callable[[str], None] = print) -> CommandOutput:
    from dpmi.lineup import serve

    serve(options.run_dir, host=options.host, port=options.port, k=options.k, seed=options.seed, data=options.data)
    return CommandOutput()
