"""Cheap, picklable task functions for tests/test_ray_executor.py, in a module Ray's workers import quickly
(nothing from dpmi, no torch)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

STATE: dict[str, object] = {}


def init_state(offset: int, secret_file: str) -> None:
    STATE["offset"] = offset
    STATE["secret_path"] = secret_file
    STATE["secret"] = Path(secret_file).read_text()


def square(value: int) -> tuple[int, int, str, str]:
    if value < 0:
        raise ValueError(f"negative task {value}")
    return value * value + int(STATE["offset"]), os.getpid(), str(STATE["secret"]), str(STATE["secret_path"])


def die_once(marker: str) -> tuple[str, int]:
    if not os.path.exists(marker):
        Path(marker).write_text("died here once")
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-task, as an OOM kill would
    return "re-run", os.getpid()


def pid_then_sleep(task: tuple[str, int, float]) -> int:
    folder, value, seconds = task
    # Written under another name, then renamed: the test waits for *.pid files and must never read an empty one.
    partial = Path(folder, f"{value}.partial")
    partial.write_text(str(os.getpid()))
    partial.replace(Path(folder, f"{value}.pid"))
    time.sleep(seconds)
    return os.getpid()


def init_array(values) -> None:
    STATE["array"] = values


def add_in_place(value: int) -> int:
    array = STATE["array"]
    array += value  # the worker's own copy must be writable (object-store arrays are read-only)
    return int(array.sum())
