"""What runs on a Ray worker for `dpmi.study.executor.RayExecutor`: ship the initializer's arguments (files
by content), initialise once per worker and map, then run the task.

Kept outside `dpmi.study` so that a worker imports only this and what its task needs (importing the study
package pulls in torch, matplotlib and the report), which keeps Ray workers quick to start.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileContents:
    """An initializer argument that named a file on the driver: its bytes, re-created on the worker."""

    name: str
    data: bytes


_INIT_KEY: str | None = None  # which map's initializer last ran in this worker process
_FILES_DIR: Path | None = None


def pack_initargs(initargs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Replace initargs that name existing files by their contents (Ray workers share no filesystem)."""
    packed: list[Any] = []
    for arg in initargs:
        if isinstance(arg, (str, os.PathLike)) and len(os.fspath(arg)) < 4096 and Path(arg).is_file():
            packed.append(FileContents(Path(arg).name, Path(arg).read_bytes()))
        else:
            packed.append(arg)
    return tuple(packed)


def unpack_initargs(packed: tuple[Any, ...]) -> tuple[Any, ...]:
    """Write shipped files into this worker's scratch directory (removed at exit); return local paths."""
    global _FILES_DIR
    out: list[Any] = []
    for arg in packed:
        if isinstance(arg, FileContents):
            if _FILES_DIR is None:
                _FILES_DIR = Path(tempfile.mkdtemp(prefix="dpmi-ray-"))
                atexit.register(shutil.rmtree, _FILES_DIR, True)
            path = Path(tempfile.mkdtemp(dir=_FILES_DIR)) / arg.name
            path.write_bytes(arg.data)
            out.append(str(path))
        else:
            out.append(arg)
    return tuple(out)


def set_threads(threads: int) -> None:
    """torch's intra-op threads in this worker; before torch is imported, through OMP_NUM_THREADS."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def ray_task(fn: Callable, initializer: Callable | None, shipped: list, key: str, threads: int, task: Any) -> Any:
    """One task on a Ray worker: run the initializer first if this worker has not yet run it for this map
    (`key`), fetching its arguments from the object store (`shipped[0]`, a reference kept in a list so Ray
    does not fetch it for every task)."""
    global _INIT_KEY
    if _INIT_KEY != key:
        import ray

        set_threads(threads)
        if initializer is not None:
            # Arrays that come out of the object store are read-only views of shared memory; the worker gets
            # its own writable copy, as a process-pool worker would.
            initializer(*unpack_initargs(copy.deepcopy(ray.get(shipped[0]))))
        _INIT_KEY = key
    return fn(task)
