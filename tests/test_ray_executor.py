"""The Ray executor on a local Ray with 2 CPUs (one ray.init for the module): the same results as the serial
executor, the initializer's data shipped through the object store (files by content), a killed worker's
task re-run, a task's exception raised as itself, Ctrl-C cancelling (killing) the running tasks, and an
address that does not answer refused in one line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from _ray_tasks import STATE, add_in_place, die_once, init_array, init_state, pid_then_sleep, square

from dpmi.study.executor import RayExecutor, SerialExecutor, make_executor

pytestmark = pytest.mark.slow  # starting Ray takes ~10-20 s on 2 shared cores


@pytest.fixture(scope="module")
def local_ray():
    started = time.perf_counter()
    # Ray's workers import the task functions (tests/_ray_tasks.py, which imports nothing heavy) by module
    # name, as they would dpmi's: put this test directory on their path (the workers of the local Ray
    # started here inherit this environment).
    here = str(Path(__file__).resolve().parent)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([here] + ([saved] if saved else []))
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    print(f"ray.init: {time.perf_counter() - started:.1f} s")
    yield
    ray.shutdown()


def test_same_results_as_serial_with_the_initializer_data_shipped(local_ray, tmp_path):
    secret = tmp_path / "evaluator.pt"
    secret.write_text("weights bytes")
    tasks = list(range(8))
    start = time.perf_counter()
    serial = dict(SerialExecutor().map_unordered(square, tasks, init_state, (100, str(secret))))
    serial_s = time.perf_counter() - start
    STATE.clear()  # what the workers see must come from their own initializer run
    start = time.perf_counter()
    on_ray = dict(RayExecutor(num_cpus=1).map_unordered(square, tasks, init_state, (100, str(secret))))
    ray_s = time.perf_counter() - start
    print(f"8 tasks: serial {serial_s:.3f} s, ray {ray_s:.3f} s")
    assert {t: r[0] for t, r in on_ray.items()} == {t: r[0] for t, r in serial.items()} == {
        t: t * t + 100 for t in tasks}
    assert all(r[1] != os.getpid() for r in on_ray.values())  # ran in Ray workers
    assert all(r[2] == "weights bytes" for r in on_ray.values())  # the file's content arrived...
    assert all(r[3] != str(secret) for r in on_ray.values())  # ...as the worker's own copy, not our path


def test_a_killed_workers_task_is_re_run(local_ray, tmp_path):
    marker = tmp_path / "died"
    results = list(RayExecutor(max_retries=2).map_unordered(die_once, [str(marker)]))
    assert marker.read_text() == "died here once"
    assert results[0][1][0] == "re-run"


def test_a_failing_task_raises_itself_in_one_line(local_ray, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("x")
    with pytest.raises(ValueError, match="^negative task -1$"):
        list(RayExecutor().map_unordered(square, [1, -1], init_state, (0, str(secret))))


def test_ctrl_c_cancels_the_running_tasks(local_ray, tmp_path):
    tasks = [(str(tmp_path), 0, 0.0), (str(tmp_path), 1, 60.0), (str(tmp_path), 2, 60.0)]
    results = RayExecutor().map_unordered(pid_then_sleep, tasks)
    next(results)
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("*.pid"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeping = {int(tmp_path.joinpath(f"{k}.pid").read_text()) for k in (1, 2)}
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)
    deadline = time.monotonic() + 15
    while not all(_gone(pid) for pid in sleeping) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in sleeping), "the cancelled tasks' workers still run"
    assert time.monotonic() - start < 15


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (killed, not yet reaped by the raylet) is gone too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_an_address_that_does_not_answer_is_one_value_error():
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"the Ray cluster at 127\.0\.0\.1:1 does not answer") as info:
        make_executor(1, kind="ray", ray_address="127.0.0.1:1")
    assert "\n" not in str(info.value) and time.monotonic() - start < 10
    with pytest.raises(ValueError, match="--ray-address must be host:port"):
        RayExecutor(address="nonsense")


def test_resume_after_an_interruption_runs_only_what_did_not_finish(local_ray, tmp_path):
    """The study's resume pattern: keep each (task, result) as it arrives, stop, re-run the rest."""
    secret = tmp_path / "s"
    secret.write_text("x")
    tasks = list(range(6))
    saved: dict[int, int] = {}
    results = RayExecutor().map_unordered(square, tasks, init_state, (7, str(secret)))
    for task, result in results:
        saved[task] = result[0]
        if len(saved) == 2:
            with pytest.raises(KeyboardInterrupt):
                results.throw(KeyboardInterrupt)
            break
    todo = [t for t in tasks if t not in saved]
    assert len(todo) == 4
    for task, result in RayExecutor().map_unordered(square, todo, init_state, (7, str(secret))):
        saved[task] = result[0]
    assert saved == {t: t * t + 7 for t in tasks}


def test_workers_get_writable_copies_of_the_initializer_arrays(local_ray):
    import numpy as np

    values = np.zeros(200_000, dtype=np.int64)  # 1.6 MB: Ray keeps it in shared memory, zero-copy, read-only
    results = dict(RayExecutor().map_unordered(add_in_place, [1], init_array, (values,)))
    assert results == {1: 200_000} and values.sum() == 0  # the driver's array is untouched
