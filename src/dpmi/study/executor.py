"""Where cells run: a small executor interface, in this process or in a pool of worker processes.

The study only calls `map_unordered(fn, tasks, initializer, initargs)` and consumes (task, result) pairs as
they finish, so a cluster backend (Slurm, Ray, ...) is one more class with that method, and the study code
does not change. `fn` and `initializer` must be importable top-level functions and tasks/results picklable.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs `fn(task)` for every task after `initializer(*initargs)` has run once in each worker."""

    def map_unordered(
        self,
        fn: Callable[[Task], Result],
        tasks: Iterable[Task],
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> Iterator[tuple[Task, Result]]:
        """Yield (task, fn(task)) in completion order; an exception in a task is raised here."""
        ...


class SerialExecutor:
    """Runs every task in this process, in order (the default, and the easiest to debug)."""

    def map_unordered(self, fn, tasks, initializer=None, initargs=()):
        tasks = list(tasks)
        if not tasks:
            return
        if initializer is not None:
            initializer(*initargs)
        for task in tasks:
            yield task, fn(task)


def _init_worker(threads: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    import signal

    import torch

    # Ctrl-C is the parent's to handle (it saves what finished and stops the pool); a worker that took it
    # too would print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    if initializer is not None:
        initializer(*initargs)


class ProcessExecutor:
    """Runs tasks in `jobs` worker processes (spawned, so no torch/OpenMP state is forked mid-flight).

    Each worker runs torch with `threads` threads. On an exception or Ctrl-C the pending tasks are
    cancelled and the workers stopped; results already yielded are the caller's to keep.
    """

    def __init__(self, jobs: int, threads: int = 1) -> None:
        if jobs < 1 or threads < 1:
            raise ValueError(f"jobs and threads must be >= 1, got {jobs} and {threads}")
        self.jobs = jobs
        self.threads = threads

    def map_unordered(self, fn, tasks, initializer=None, initargs=()):
        tasks = list(tasks)
        if not tasks:
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(tasks)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads, initializer, initargs),
        )
        try:
            pending: dict[Future, Any] = {pool.submit(fn, task): task for task in tasks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    yield task, future.result()
        except BaseException:
            # Interrupted or a task failed: stop now rather than wait for the cells still running.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def make_executor(jobs: int, threads: int = 1) -> Executor:
    """SerialExecutor for jobs == 1 (it uses the caller's torch threads), else ProcessExecutor(jobs, threads)."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs, threads)
