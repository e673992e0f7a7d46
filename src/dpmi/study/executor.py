"""Where cells run: a small executor interface, in this process, in a pool of worker processes, or on Ray.

The study only calls `map_unordered(fn, tasks, initializer, initargs)` and consumes (task, result) pairs as
they finish, so each backend is one class with that method and the study code (and its resume-by-saved-cell
semantics) does not change. `fn` and `initializer` must be importable top-level functions and
tasks/results picklable.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from dpmi.registry import Registry
from dpmi.remote_tasks import pack_initargs, ray_task

Task = TypeVar("Task")
Result = TypeVar("Result")

ExecutorFactory = Callable[..., "Executor"]  # (*, jobs, threads, ray_address, gpus_per_cell) -> Executor


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


def _init_worker(threads: int, initializer: Callable[..., None] | None, initargs_file: str | None) -> None:
    import signal

    import torch

    # Ctrl-C is the parent's to handle (it saves what finished and stops the pool); a worker that took it
    # too would print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    if initializer is not None:
        initargs: tuple[Any, ...] = ()
        if initargs_file is not None:
            with open(initargs_file, "rb") as handle:
                initargs = pickle.load(handle)  # written by this study's parent process, see ProcessExecutor
        initializer(*initargs)


class ProcessExecutor:
    """Runs tasks in `jobs` worker processes (spawned, so no torch/OpenMP state is forked mid-flight).

    Each worker runs torch with `threads` threads. On an exception or Ctrl-C the pending tasks are
    cancelled and the workers terminated (and reaped) before the exception propagates; results already
    yielded are the caller's to keep.

    The initializer's arguments (the study's faces: megabytes) reach the workers through a file in a private
    temporary directory, not the spawn pipe: a pipe that large blocks the parent until each child has
    imported torch, so workers started one after another (measured: 2.2 s each on this machine).
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
        with tempfile.TemporaryDirectory(prefix="dpmi-workers-") as scratch:
            initargs_file = None
            if initializer is not None and initargs:
                initargs_file = os.path.join(scratch, "initargs.pickle")
                with open(initargs_file, "wb") as handle:
                    pickle.dump(tuple(initargs), handle, protocol=pickle.HIGHEST_PROTOCOL)
            yield from self._map(fn, tasks, initializer, initargs_file)

    def _map(self, fn, tasks, initializer, initargs_file):
        # Children that exist before the pool are not ours to stop.
        before = {p.pid for p in multiprocessing.active_children()}
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(tasks)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads, initializer, initargs_file),
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
            _stop_pool(pool, before)
            raise
        pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor, before: set[int | None]) -> None:
    """Cancel what has not started and terminate the workers, with public APIs only."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # public from Python 3.14
    if callable(terminate):
        terminate()
    workers = [p for p in multiprocessing.active_children() if p.pid not in before]
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


# --------------------------------------------------------------------------------------------------- Ray
def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ValueError("the Ray executor needs Ray: pip install 'dpmi[ray]' (or pip install ray)") from exc
    return ray


def _check_address_answers(address: str, timeout_s: float) -> None:
    """Fail fast, in one line, when a host:port Ray address does not accept connections."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray-address must be host:port, ray://host:port, 'auto' or 'local', got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ValueError(
            f"the Ray cluster at {address} does not answer ({exc.strerror or exc}); start it with "
            "`ray start --head` there, or leave out --ray-address to run a local Ray"
        ) from exc


class RayExecutor:
    """Runs each task as a Ray task with `num_cpus` CPUs and `num_gpus` GPUs, on a local Ray or a cluster.

    The initializer's arguments are put in Ray's object store once (ray.put) and fetched by each worker the
    first time it runs a task of this map; arguments that name files on this machine (e.g. a saved
    evaluator) travel by content and are re-created in the worker's scratch directory, so workers need no
    shared filesystem. Results are yielded as tasks finish. A task whose worker process dies is re-run up
    to `max_retries` times (Ray's retries); an exception raised by a task is raised here as itself. On an
    exception or Ctrl-C the tasks still pending are cancelled (their workers killed) before it propagates.

    Args:
        address: None starts a local Ray on this machine (stopped again at the end of the map); "auto",
            "host:port" or "ray://host:port" joins a running cluster. An address that does not answer is a
            ValueError.
        num_cpus: CPUs per task (>= 1; also torch's threads in the task). num_gpus: GPUs per task (>= 0).
        max_retries: re-runs of a task whose worker died (>= 0).
        local_cpus: CPUs a local Ray may use (None: all).
        connect_timeout_s: how long to wait for a cluster address to answer.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int = 1,
        num_gpus: float = 0,
        max_retries: int = 3,
        local_cpus: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if num_cpus < 1 or num_gpus < 0 or max_retries < 0:
            raise ValueError(
                f"num_cpus must be >= 1, num_gpus >= 0 and max_retries >= 0, got {num_cpus}, {num_gpus}, {max_retries}"
            )
        if address is not None:
            _check_address_answers(address, connect_timeout_s)  # before any work starts
        self.address = address
        self.num_cpus = int(num_cpus)
        self.num_gpus = num_gpus
        self.max_retries = int(max_retries)
        self.local_cpus = local_cpus
        self.connect_timeout_s = connect_timeout_s

    def _connect(self, ray) -> bool:
        """Make sure this process is connected to Ray; True if this call started (and so owns) it."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {
            "ignore_reinit_error": True,
            "include_dashboard": False,
            "logging_level": "WARNING",
            "log_to_driver": True,
        }
        if self.address is None and self.local_cpus is not None:
            options["num_cpus"] = self.local_cpus
        try:
            ray.init(address=self.address, **options)
        except Exception as exc:  # ConnectionError, RuntimeError, ...: one line for the CLI
            raise ValueError(
                f"could not start or join Ray at {self.address or 'a new local instance'}: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from exc
        return True

    def map_unordered(self, fn, tasks, initializer=None, initargs=()):
        tasks = list(tasks)
        if not tasks:
            return
        ray = _import_ray()
        owned = self._connect(ray)
        pending: dict[Any, Any] = {}
        try:
            shipped = ray.put(pack_initargs(tuple(initargs)))
            key = shipped.hex()
            remote = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries)(ray_task)
            # The reference travels inside a list so that Ray does not fetch it for every task; a worker
            # fetches it once, when it first initialises for this map.
            pending = {remote.remote(fn, initializer, [shipped], key, self.num_cpus, task): task for task in tasks}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:
                        cause = getattr(err, "cause", None)
                        raise (cause if isinstance(cause, BaseException) else err) from None
                    yield task, result
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or its worker already gone
                    pass
            raise
        finally:
            if owned:
                ray.shutdown()


def _serial(*, jobs: int, threads: int, ray_address: str | None, gpus_per_cell: float) -> Executor:
    _no_address(ray_address, "serial")
    return SerialExecutor()


def _process(*, jobs: int, threads: int, ray_address: str | None, gpus_per_cell: float) -> Executor:
    _no_address(ray_address, "process")
    return ProcessExecutor(jobs, threads)


def _local(*, jobs: int, threads: int, ray_address: str | None, gpus_per_cell: float) -> Executor:
    _no_address(ray_address, "local")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs, threads)


def _ray(*, jobs: int, threads: int, ray_address: str | None, gpus_per_cell: float) -> Executor:
    _import_ray()
    return RayExecutor(address=ray_address, num_cpus=threads, num_gpus=gpus_per_cell)


def _no_address(ray_address: str | None, kind: str) -> None:
    if ray_address is not None:
        raise ValueError("--ray-address needs --executor ray")


def _register_builtins() -> None:
    """The built-in executors, one line each ("local" is what the study means by default)."""
    EXECUTORS.register("local", _local, summary="this machine: in this process for --jobs 1, else a process pool")
    EXECUTORS.register("ray", _ray, summary="Ray tasks on a local Ray or, with --ray-address, a cluster")
    EXECUTORS.register("serial", _serial, summary="in this process, one task after another")
    EXECUTORS.register("process", _process, summary="a pool of --jobs worker processes on this machine")


EXECUTORS: Registry[ExecutorFactory] = Registry("executor", loader=_register_builtins)


def make_executor(
    jobs: int,
    threads: int = 1,
    kind: str | None = None,
    ray_address: str | None = None,
    gpus_per_cell: float = 0,
) -> Executor:
    """The executor for `--jobs`, `--threads`, `--executor` and `--ray-address`: a registered one
    (`EXECUTORS`: "local", "ray", "serial", "process", or a plugin's).

    kind None (or "local") picks SerialExecutor for jobs == 1 (it uses the caller's torch threads), else
    ProcessExecutor; "serial" / "process" force one; "ray" gives a RayExecutor with `threads` CPUs and
    `gpus_per_cell` GPUs per cell at `ray_address` (None: a local Ray), running as many cells at once as the
    cluster has room for.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if kind is not None and kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS.names())}, got {kind!r}")
    factory = EXECUTORS.get(kind or "local")
    return factory(jobs=jobs, threads=threads, ray_address=ray_address, gpus_per_cell=gpus_per_cell)


__all__ = ["EXECUTORS", "Executor", "ProcessExecutor", "RayExecutor", "SerialExecutor", "make_executor"]
