"""`dpmi run`: the whole study, from the faces to report.html.

Order matters for "bad input never leaves a half-written run directory": validate the config, load the
data and split its people, choose the recipes and calibrate the privacy levels (an unreachable epsilon fails
here), and only then create the run directory. After that every write is atomic, every finished cell is
saved as it arrives, and re-running into the same directory skips finished cells.

Phases timed (seconds; `dpmi run` and benchmarks/study.py print them): data, recipe search, accounting,
evaluator (the judges, trained once per study and cached), prior (building each prior attack once: trains
or loads its face prior), training, attacks, metrics (summed over cells: cell-seconds when jobs > 1), audit
(the privacy audit of each level's first-seed target, `audit_phase`, run as tasks beside the cells: summed
task-seconds too), report, and total (wall clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dpmi.atomic_files import atomic_save_npy
from dpmi.data import (
    FaceDataset,
    IdentitySplit,
    load_faces,
    load_public_faces,
)
from dpmi.study.audit_phase import (
    AuditTask,
    attach_cell_accuracies,
    audit_seconds,
    check_audit_config,
    pending_audits,
    save_audit,
)
from dpmi.study.cell import CellTask, init_worker
from dpmi.study.config import (
    StudyConfig,
    attacked_identities,
    grid_identities,
    validate_against_data,
)
from dpmi.study.early_stop_match import match_early_stops
from dpmi.study.evaluator_cache import ensure_judges
from dpmi.study.executor import Executor, make_executor
from dpmi.study.levels import PrivacyLevel, plan_levels, resolve_levels
from dpmi.study.model_check import check_model
from dpmi.study.people import split_people
from dpmi.study.provenance import data_provenance
from dpmi.study.recipe import RecipeChoice, choose_recipe
from dpmi.study.records import CellRecord
from dpmi.study.results import MEAN_FACES, StudyResults, record_timings, write_outputs
from dpmi.study.store import RunStore
from dpmi.study.summary import LevelSummary
from dpmi.study.worker_tasks import run_task

PHASES = (
    "data",
    "recipe search",
    "accounting",
    "evaluator",
    "prior",
    "training",
    "attacks",
    "metrics",
    "audit",
    "report",
)


@dataclass
class StudyResult:
    """What `run_study` did: where, which levels, the aggregated numbers, and the time per phase."""

    run_dir: Path
    levels: list[PrivacyLevel]
    summaries: list[LevelSummary]
    timings: dict[str, float] = field(default_factory=dict)
    cells_run: int = 0
    cells_skipped: int = 0
    recipes: dict[str, RecipeChoice] = field(default_factory=dict)


def timestamp_name() -> str:
    """Default run name: UTC time to the second, e.g. 20261125-174512."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def resolve_out(config: StudyConfig) -> Path:
    """The run directory: --out, else runs/<name>, else runs/<timestamp>. Must not be an existing file."""
    out = Path(config.run.out) if config.run.out else Path("runs") / (config.run.name or timestamp_name())
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: choose a directory path")
    return out


def study_executor(config: StudyConfig) -> Executor:
    """The executor `--executor` / `--jobs` / `--ray-address` ask for (a Ray address that does not answer is a
    ValueError here, before the run directory exists)."""
    return make_executor(
        config.run.jobs,
        config.run.threads,
        kind=config.run.executor,
        ray_address=config.run.ray_address,
        gpus_per_cell=1 if config.run.device.startswith("cuda") else 0,
    )


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
        ValueError: an --out that is a file or holds a different run, an unreachable target epsilon, people
            or lot sizes the data cannot give.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.run.threads)  # this process's share; workers get theirs from the executor
    try:
        return _run(config, executor, progress, log)
    finally:
        torch.set_num_threads(threads)


def _warm_priors(config: StudyConfig, split: IdentitySplit, private_train: FaceDataset, log) -> None:
    """Build every prior attack once here, so its face prior is trained (or loaded) and cached before any cell
    (and any worker) needs it: workers then load it instead of training it in parallel."""
    from dpmi.attacks.registry import attack_spec, make_attack
    from dpmi.models import resolve_model

    for name in config.attack.names:
        if not attack_spec(name).needs_public:
            continue
        log(f"preparing the {name} prior from the {split.public.num_classes} public people ...")
        model = (
            resolve_model(
                config.train.model,
                num_classes=private_train.num_classes,
                input_shape=private_train.input_shape,
                seed=config.run.seed,
            )
            .to(config.run.device)
            .eval()
        )
        make_attack(
            name,
            model,
            public=split.public,
            input_shape=private_train.input_shape,
            device=config.run.device,
            **config.options_for(name),
        )


def _run(config: StudyConfig, executor: Executor | None, progress: bool, log: Callable[[str], None]) -> StudyResult:
    from tqdm.auto import tqdm

    timings: dict[str, float] = {phase: 0.0 for phase in PHASES}
    wall = time.perf_counter()

    start = time.perf_counter()
    faces = load_faces(config.data.root, format=config.data.format, image_size=config.data.image_size)
    # A second folder's people are the attacker's (refused if it holds a private image), in the private size.
    public = None if config.data.public_root is None else load_public_faces(config.data.public_root, like=faces)
    provenance = data_provenance(config, faces, public)
    split = split_people(config, faces, public)
    train, test = split.private.split(train_per_class=config.data.train_per_class, seed=config.data.split_seed)
    public_train, public_val = split.public.split(
        train_per_class=config.data.train_per_class, seed=config.data.split_seed
    )
    validate_against_data(config, private_people=split.private.num_classes, train_size=len(train))
    check_model(config, split, train.input_shape)
    executor = executor or study_executor(config)
    people = attacked_identities(config, split.private.num_classes)
    out = resolve_out(config)
    RunStore(out).check_not_in_use()  # a second run into a directory in use stops here, before any work
    timings["data"] = time.perf_counter() - start

    start = time.perf_counter()
    planned = plan_levels(config)
    recipes: dict[str, RecipeChoice] = {}
    for level in planned:  # in order: an early-stop level matches a DP-SGD level chosen before it
        recipes[level.key] = choose_recipe(level, config, public_train, public_val, len(train), log=log, chosen=recipes)
    timings["recipe search"] = time.perf_counter() - start

    start = time.perf_counter()
    levels = resolve_levels(planned, config, len(train), {k: c.recipe for k, c in recipes.items()})
    timings["accounting"] = time.perf_counter() - start
    start = time.perf_counter()  # early-stop's per-seed match on the held-out accuracy (cached; may refuse)
    recipes = match_early_stops(levels, recipes, config, train, test, split.public, log=log)
    timings["recipe search"] += time.perf_counter() - start
    check_audit_config(config, levels, train.input_shape)  # bad audit settings stop here, before the disk

    # Everything above can fail on bad input; only now does anything touch the disk.
    store = RunStore(out)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fingerprint = config.cell_fingerprint()
    if provenance["format"] != "att":  # another folder's pixels decide the cells (AT&T: checked by its manifest)
        fingerprint["images_sha256"] = provenance["images_sha256"]
    if public is not None:
        fingerprint["public_images_sha256"] = provenance["public_images_sha256"]
    store.prepare(fingerprint, {"created": created, "config": config.to_dict()})
    log(f"run directory: {out} (it holds faces derived from private data: keep it private)")
    atomic_save_npy(store.root / MEAN_FACES, (train.class_means() / 127.5 - 1.0).astype(np.float32))

    start = time.perf_counter()
    evaluator = ensure_judges(
        store.evaluator_path, train, test, seed=config.run.seed, device=config.run.device, log=log, public=split.public
    )
    timings["evaluator"] = time.perf_counter() - start

    all_cells = [(level, seed) for level in levels for seed in config.cell_seeds()]
    # Seed-major order: an interrupted run has every level for its first seeds, not every seed of a few levels.
    todo = [
        CellTask(config, level, recipes[level.key].recipe_for(seed), seed, people)
        for seed in config.cell_seeds()
        for level in levels
        if not store.finished(level.key, seed)
    ]
    skipped = len(all_cells) - len(todo)
    if skipped:
        log(f"resuming: {skipped} of {len(all_cells)} cells already finished")

    start = time.perf_counter()
    if todo:
        _warm_priors(config, split, train, log)
    timings["prior"] = time.perf_counter() - start

    audits_todo = pending_audits(config, store.root, levels, {k: c.recipe for k, c in recipes.items()})
    # Longest first, so the pool does not end on one long task while the other workers idle: the audits of
    # private levels (DP shadow models and canaries), then the cells (seed-major, as a resumed run expects),
    # then the non-private audits (no noise to draw: the shortest).
    tasks: list[CellTask | AuditTask] = [
        *(a for a in audits_todo if a.level.private),
        *todo,
        *(a for a in audits_todo if not a.level.private),
    ]
    # One bar for every task the workers run (cells and audits, honest totals); on a terminal only (tqdm's
    # disable=None): a log gets one line when the phase starts and one when it ends.
    log(f"running {len(todo)} cells and {len(audits_todo)} audits on {config.run.jobs} worker(s) ...")
    with tqdm(
        total=len(all_cells) + len(audits_todo),
        initial=skipped,
        desc="cells and audits",
        unit="task",
        disable=None if progress else True,
        dynamic_ncols=True,
    ) as bar:
        for task, result in executor.map_unordered(
            run_task, tasks, init_worker, (train, test, split.public, str(store.evaluator_path), config.run.device)
        ):
            if isinstance(task, AuditTask):
                timings["audit"] += audit_seconds(save_audit(store.root, result, log))
                log(f"audited {task.level.label} (seed {task.seed}, {config.audit.shadows} shadows)")
                bar.update()
                continue
            record, images = result
            store.save_cell(record, images)
            timings["training"] += record["timings"]["train"]
            timings["attacks"] += record["timings"]["attack"]
            timings["metrics"] += record["timings"]["metrics"]
            bar.set_postfix_str(f"{task.level.key} seed {task.seed}: acc {record['test_accuracy']:.2f}")
            bar.update()
    log(f"finished {len(todo)} cells and {len(audits_todo)} audits")
    audits = attach_cell_accuracies(
        store.root, lambda key, seed: (store.load_cell(key, seed) or {}).get("test_accuracy")
    )

    start = time.perf_counter()
    records = [store.load_cell(level.key, seed) for level, seed in all_cells]
    results = StudyResults(
        created=created,
        config=config.to_dict(),
        levels=levels,
        cells=[CellRecord.from_dict(r) for r in records if r is not None],
        recipes=list(recipes.values()),
        evaluator=evaluator,
        timings=timings,
        data=provenance,
        attack_settings={name: config.options_for(name) for name in config.attack.names},
        split={
            "private": list(split.private_ids),
            "public": list(split.public_ids),
            "private_train_images": len(train),
            "private_test_images": len(test),
            "public_images": len(split.public),
            "people_attacked": people,
            "grid_people": grid_identities(config, people),
            "private_names": None if split.private.names is None else list(split.private.names),
            "public_names": None if split.public.names is None else list(split.public.names),
        },
        audits=audits,
    )
    summaries = write_outputs(store, results)
    timings["report"] = time.perf_counter() - start
    timings["total"] = time.perf_counter() - wall
    record_timings(store, timings)
    store.release_lock()  # the run is complete: another run may use the directory
    return StudyResult(out, levels, summaries, timings, cells_run=len(todo), cells_skipped=skipped, recipes=recipes)
