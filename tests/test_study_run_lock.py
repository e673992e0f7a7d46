"""One `dpmi run` per directory: a second run into a directory in use stops at once with one line naming the holder
(pid, host, start time); a lock left by a killed run (its pid gone, or reused) is taken over; a finished run frees
the directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpmi.cli import main
from dpmi.run_lock import LOCK_NAME, LockHolder, RunLock, RunLockedError, _process_start
from dpmi.study.store import RunStore

RUN_LOCK_FILE = Path(__file__).resolve().parents[1] / "src" / "dpmi" / "run_lock.py"

# The holder loads run_lock.py alone (stdlib only), so the subprocess starts in well under a second.
HOLDER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("run_lock", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["run_lock"] = module
spec.loader.exec_module(module)
module.RunLock(sys.argv[2]).acquire()
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def live_holder(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(RUN_LOCK_FILE), str(run_dir)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield run_dir, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_second_run_into_a_directory_in_use_fails_at_once_naming_the_holder(capsys, live_holder, faces_root):
    run_dir, pid = live_holder
    started = time.perf_counter()
    code = main(["run", "--quick", "--data", str(faces_root), "--out", str(run_dir)])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("dpmi: error: ")
    assert f"process {pid} on {socket.gethostname()}, started 20" in err and "in use by another dpmi run" in err
    assert not (run_dir / "study.json").exists()  # nothing was computed or written
    assert elapsed < 60  # stops before the study's work (recipes, evaluator, cells)
    with pytest.raises(RunLockedError) as info:
        RunLock(run_dir).acquire()
    assert info.value.holder is not None and info.value.holder.pid == pid


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(run_dir: Path, holder: LockHolder) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps(holder.__dict__))


@pytest.mark.parametrize("case", ["dead pid", "reused pid"])
def test_stale_lock_is_taken_over(tmp_path, case):
    run_dir = tmp_path / "run"
    if case == "dead pid":
        stale = LockHolder(_dead_pid(), socket.gethostname(), "2026-01-01T00:00:00+00:00", None, "old")
    else:  # our own pid, but a different kernel start time: a killed run's pid now names another process
        if _process_start(os.getpid()) is None:
            pytest.skip("no /proc start times here")
        stale = LockHolder(os.getpid(), socket.gethostname(), "2026-01-01T00:00:00+00:00", "1", "old")
    _write_lock(run_dir, stale)
    lock = RunLock(run_dir)
    with lock:
        holder = lock.read_holder()
        assert holder is not None and holder.pid == os.getpid() and holder.token != "old"
        assert not list(run_dir.glob(f"{LOCK_NAME}.stale.*"))  # the stale file was moved aside and deleted
    assert not (run_dir / LOCK_NAME).exists()


def test_a_lock_from_another_host_counts_as_live(tmp_path):
    run_dir = tmp_path / "run"
    _write_lock(run_dir, LockHolder(1, "elsewhere.invalid", "2026-01-01T00:00:00+00:00", None, "other"))
    with pytest.raises(RunLockedError, match="process 1 on elsewhere.invalid"):
        RunLock(run_dir).acquire()


def test_prepare_takes_the_lock_and_a_finished_run_frees_it(tmp_path):
    store = RunStore(tmp_path / "run")
    store.prepare({"a": 1}, {"config": {}})
    assert RunLock(store.root).held_here()
    store.prepare({"a": 1}, {"config": {}})  # a resume in the same process takes it again
    store.release_lock()
    assert not (store.root / LOCK_NAME).exists()
    with pytest.raises(ValueError, match="different settings"):
        store.prepare({"a": 2}, {"config": {}})
    assert not (store.root / LOCK_NAME).exists()  # a refused prepare leaves no lock behind


CONTENDER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("run_lock", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["run_lock"] = module
spec.loader.exec_module(module)
while time.time() < float(sys.argv[3]):  # start together
    pass
from pathlib import Path
done = Path(sys.argv[2]).parent
try:
    module.RunLock(sys.argv[2]).acquire()
    outcome = "won"
except module.RunLockedError:
    outcome = "locked"
print(outcome, flush=True)
(done / f"done.{outcome}.{time.monotonic_ns()}").touch()
while outcome == "won" and len(list(done.glob("done.*"))) < int(sys.argv[4]):  # hold it until all have tried
    time.sleep(0.05)
"""


def test_contenders_for_a_stale_lock_let_exactly_one_take_it(tmp_path):
    run_dir = tmp_path / "run"
    _write_lock(run_dir, LockHolder(_dead_pid(), socket.gethostname(), "2026-01-01T00:00:00+00:00", None, "old"))
    start_at = str(time.time() + 1.0)
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(RUN_LOCK_FILE), str(run_dir), start_at, "4"],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["locked", "locked", "locked", "won"]
