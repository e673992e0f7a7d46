"""`dpmi run`: the whole study, from the faces to report.html.

Order matters for "bad input never leaves a half-written run directory": validate the config, load the
data, calibrate the privacy levels (an unreachable epsilon fails here), and only then create the run
directory. After that every write is atomic, every finished cell is saved as it arrives, and re-running
into the same directory skips finished cells.

Phases timed (seconds; the benchmark prints them): data, accounting, evaluator (training the evaluation
classifier once per study), training, attack, metrics (summed over cells: cell-seconds when jobs > 1),
report, and total (wall clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dpmi.data import load_att_faces
from dpmi.study.cell import CellTask, init_worker, run_cell_task
from dpmi.study.config import StudyConfig
from dpmi.study.evaluator_cache import ensure_evaluator
from dpmi.study.executor import Executor, make_executor
from dpmi.study.levels import PrivacyLevel, plan_levels, resolve_levels
from dpmi.study.results import MEAN_FACES, record_timings, write_outputs
from dpmi.atomic_files import atomic_save_npy
from dpmi.study.store import RunStore
from dpmi.study.summary import LevelSummary


@dataclass
class StudyResult:
    """What `run_study` did: where, which levels, the aggregated numbers, and the time per phase."""

    run_dir: Path
    levels: list[PrivacyLevel]
    summaries: list[LevelSummary]
    timings: dict[str, float] = field(default_factory=dict)
    cells_run: int = 0
    cells_skipped: int = 0


def timestamp_name() -> str:
    """Default run name: UTC time to the second, e.g. 20261125-174512."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def resolve_out(config: StudyConfig) -> Path:
    """The run directory: --out, else runs/<name>, else runs/<timestamp>. Must not be an existing file."""
    out = Path(config.out) if config.out else Path("runs") / (config.name or timestamp_name())
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: choose a directory path")
    return out


def run_study(
    config: StudyConfig,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> StudyResult:
    """Run (or resume) the study described by `config`; return where it went and its aggregated numbers.

    Raises:
        FileNotFoundError: no faces at config.data / $DPMI_DATA / the cache.
        ValueError: an --out that is a file or holds a different run, an unreachable target epsilon.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)  # this process's share; workers get theirs from the executor
    try:
        return _run(config, executor, progress, log)
    finally:
        torch.set_num_threads(threads)


def _run(config: StudyConfig, executor: Executor | None, progress: bool, log: Callable[[str], None]) -> StudyResult:
    from tqdm.auto import tqdm

    timings: dict[str, float] = {}
    wall = time.perf_counter()

    start = time.perf_counter()
    faces = load_att_faces(config.data)
    train, test = faces.split(train_per_class=config.train_per_class, seed=config.split_seed)
    out = resolve_out(config)
    timings["data"] = time.perf_counter() - start

    start = time.perf_counter()
    levels = resolve_levels(plan_levels(config), config, len(train))
    timings["accounting"] = time.perf_counter() - start

    # Everything above can fail on bad input; only now does anything touch the disk.
    store = RunStore(out)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.prepare(config.cell_fingerprint(), {"created": created, "config": config.to_dict()})
    log(f"run directory: {out}")
    atomic_save_npy(store.root / MEAN_FACES, (train.class_means() / 127.5 - 1.0).astype(np.float32))

    start = time.perf_counter()
    evaluator = ensure_evaluator(store.evaluator_path, train, test, seed=config.seed, device=config.device, log=log)
    timings["evaluator"] = time.perf_counter() - start

    all_cells = [(level, seed) for level in levels for seed in config.cell_seeds()]
    todo = [CellTask(config, level, seed) for level, seed in all_cells if not store.finished(level.key, seed)]
    skipped = len(all_cells) - len(todo)
    if skipped:
        log(f"resuming: {skipped} of {len(all_cells)} cells already finished")
    executor = executor or make_executor(config.jobs, config.threads)
    for phase in ("training", "attack", "metrics"):
        timings[phase] = 0.0
    with tqdm(total=len(all_cells), initial=skipped, desc="cells", unit="cell", disable=not progress,
              dynamic_ncols=True) as bar:
        for task, (record, images) in executor.map_unordered(
            run_cell_task, todo, init_worker, (train, test, str(store.evaluator_path), config.device)
        ):
            store.save_cell(record, images)
            timings["training"] += record["timings"]["train"]
            timings["attack"] += record["timings"]["attack"]
            timings["metrics"] += record["timings"]["metrics"]
            bar.set_postfix_str(f"{task.level.key} seed {task.seed}: acc {record['test_accuracy']:.2f}")
            bar.update()

    start = time.perf_counter()
    records = [store.load_cell(level.key, seed) for level, seed in all_cells]
    summaries = write_outputs(store, config=config.to_dict(), levels=levels,
                              records=[r for r in records if r is not None], timings=timings, created=created,
                              evaluator=evaluator)
    timings["report"] = time.perf_counter() - start
    timings["total"] = time.perf_counter() - wall
    record_timings(store, timings)
    return StudyResult(out, levels, summaries, timings, cells_run=len(todo), cells_skipped=skipped)
