"""Executors: serial and process pool return the same results; the initializer runs in every worker before
its tasks; a failing task surfaces in the caller."""

from __future__ import annotations

import os

import pytest

from dpmi.study.executor import ProcessExecutor, SerialExecutor, make_executor

_OFFSET = None


def _set_offset(offset: int) -> None:
    global _OFFSET
    _OFFSET = offset


def _task(value: int) -> tuple[int, int]:
    if value < 0:
        raise ValueError(f"negative task {value}")
    return value * value + _OFFSET, os.getpid()


@pytest.mark.slow  # spawning two workers imports torch twice (~5 s on 2 shared cores)
def test_serial_and_process_pool_agree():
    tasks = list(range(6))
    serial = dict(SerialExecutor().map_unordered(_task, tasks, _set_offset, (100,)))
    pooled = dict(ProcessExecutor(2).map_unordered(_task, tasks, _set_offset, (100,)))
    assert {t: r[0] for t, r in serial.items()} == {t: t * t + 100 for t in tasks}
    assert {t: r[0] for t, r in pooled.items()} == {t: r[0] for t, r in serial.items()}
    assert all(r[1] != os.getpid() for r in pooled.values())  # really ran elsewhere


def test_a_failing_task_raises_in_the_caller():
    with pytest.raises(ValueError, match="negative task -1"):
        list(SerialExecutor().map_unordered(_task, [1, -1], _set_offset, (0,)))


def test_make_executor():
    assert isinstance(make_executor(1), SerialExecutor)
    assert isinstance(make_executor(3), ProcessExecutor)
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        make_executor(0)


@pytest.mark.slow  # one more pool of spawned workers
def test_a_failing_task_in_a_worker_raises_in_the_caller_and_stops_the_pool():
    executor = ProcessExecutor(2)
    with pytest.raises(ValueError, match="negative task -1"):
        list(executor.map_unordered(_task, [-1, 1, 2, 3], _set_offset, (0,)))


def _pid_then_sleep(task: tuple[str, int, float]) -> int:
    folder, value, seconds = task
    # Written whole, then renamed: the test polls for *.pid and must never read a half-written file.
    with open(os.path.join(folder, f"{value}.tmp"), "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(os.path.join(folder, f"{value}.tmp"), os.path.join(folder, f"{value}.pid"))
    import time

    time.sleep(seconds)
    return os.getpid()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow  # one more pool of spawned workers
def test_ctrl_c_stops_the_pool_workers(tmp_path):
    import time

    tasks = [(str(tmp_path), 0, 0.0), (str(tmp_path), 1, 60.0), (str(tmp_path), 2, 60.0)]
    results = ProcessExecutor(2).map_unordered(_pid_then_sleep, tasks)
    first_task, first_pid = next(results)
    assert first_task[1] == 0
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("*.pid"))) < 3 and time.monotonic() < deadline:  # both 60 s tasks started
        time.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)
    assert time.monotonic() - started < 15  # did not wait for the 60 s tasks
    pids = {int(p.read_text()) for p in tmp_path.glob("*.pid")} | {first_pid}
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)  # both workers terminated and reaped


def test_make_executor_kinds():
    assert isinstance(make_executor(4, kind="serial"), SerialExecutor)
    assert isinstance(make_executor(1, kind="process"), ProcessExecutor)
    with pytest.raises(ValueError, match="executor must be one of local, ray, serial, process"):
        make_executor(1, kind="slurm")
    with pytest.raises(ValueError, match="--ray-address needs --executor ray"):
        make_executor(1, ray_address="127.0.0.1:6379")
