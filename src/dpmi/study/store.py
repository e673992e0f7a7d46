"""A run directory on disk: atomic writes, one JSON (+ reconstructions) per finished cell, and resume.

Layout of `runs/<name>/`:
    study.json              the settings (by flat name) and the fingerprint the cells were computed with (checked
                            on resume)
    evaluator.pt            the judges every cell scores with (`dpmi.metrics.Judges`: the evaluation CNN, the LBP
                            judge, the face recognizer's enrolment and their calibration), fitted once per study
    cells/<level>__seed<k>.json   one finished cell (written last: its presence means the cell is done)
    cells/<level>__seed<k>.npy    its reconstructions, float32 [attacks, people, channels, height, width] in the
                            model input range [-1, 1], attacks in the cell record's order
    audit/<level>__seed<k>.json   one finished privacy audit (`dpmi.study.audit_phase`)
    mean_faces.npy          each private person's mean training face, float32 [people, height, width] (grey)
    lineups/<rater>.json    the blind lineups a person rated (`dpmi lineup`)
    results.json, results.csv, figures/*.png, report.html   rebuilt from the cells and audits

Every file is written to a temporary name in the same directory and moved into place with os.replace, so
an interrupted run leaves either the old file or the new one, never half of one. One run at a time: `prepare`
takes the directory's lock (`.dpmi-run.lock`, see `run_lock`), so a second run into it stops at once, naming
the process that holds it; `release_lock()` (or leaving `with store.lock():`, or the process ending) frees it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.atomic_files import atomic_save_npy, atomic_write_json
from dpmi.run_lock import RunLock

CELLS_DIR = "cells"
STUDY_FILE = "study.json"
EVALUATOR_FILE = "evaluator.pt"
MEAN_FACES = "mean_faces.npy"


def json_safe(value: Any) -> Any:
    """numpy/torch scalars and arrays -> JSON values (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "detach"):  # a torch tensor (not imported here: the store is numpy-only)
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub":
            return json_safe(value.tolist())
        return [str(v) for v in value.tolist()] if value.ndim else str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value if value is None or isinstance(value, str) else str(value)


def cell_stem(level_key: str, seed: int) -> str:
    return f"{level_key}__seed{seed}"


class RunStore:
    """The files of one run directory (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def cells_dir(self) -> Path:
        return self.root / CELLS_DIR

    @property
    def evaluator_path(self) -> Path:
        return self.root / EVALUATOR_FILE

    def cell_json(self, level_key: str, seed: int) -> Path:
        return self.cells_dir / f"{cell_stem(level_key, seed)}.json"

    def cell_npy(self, level_key: str, seed: int) -> Path:
        return self.cells_dir / f"{cell_stem(level_key, seed)}.npy"

    def lock(self) -> RunLock:
        """This directory's run lock: `with store.lock():` holds it for the block (re-entrant in one process)."""
        return RunLock(self.root)

    def check_not_in_use(self) -> None:
        """Raise RunLockedError (a ValueError) at once if another live run holds this directory; changes nothing."""
        if self.root.is_dir():
            self.lock().check_free()

    def release_lock(self) -> None:
        """Free the lock `prepare` took (a no-op if this process does not hold it)."""
        self.lock().release()

    def prepare(self, fingerprint: dict[str, Any], study: dict[str, Any]) -> None:
        """Take the directory's run lock, then create the run directory, or check that an existing one was
        computed with the same settings.

        Raises:
            RunLockedError (a ValueError): another live process is running into this directory.
            ValueError: the path is a file, or holds a run made with different cell settings.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"--out {self.root} is a file, not a directory: choose a directory path")
        lock = self.lock()
        held_before = lock.held_here()
        lock.claim()
        try:
            self._check_and_record(fingerprint, study)
        except BaseException:
            if not held_before:
                lock.release()
            raise

    def _check_and_record(self, fingerprint: dict[str, Any], study: dict[str, Any]) -> None:
        from dpmi.study.changed_settings import changed_settings

        existing = self.read_study()
        # A setting newer than the run is absent from its fingerprint: at its default (None), it changed nothing.
        changed = [] if existing is None else changed_settings(existing.get("fingerprint") or {}, fingerprint)
        if changed:
            raise ValueError(
                f"--out {self.root} holds a run made with different settings: {'; '.join(changed)}. "
                "Resume it with the same settings, or choose another --out"
            )
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.root / STUDY_FILE, {**study, "fingerprint": fingerprint})

    def read_study(self) -> dict[str, Any] | None:
        path = self.root / STUDY_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable dpmi study file ({exc}); choose another --out") from exc

    def finished(self, level_key: str, seed: int) -> bool:
        """True if this cell's JSON is complete and its reconstructions exist."""
        return self.load_cell(level_key, seed) is not None and self.cell_npy(level_key, seed).is_file()

    def load_cell(self, level_key: str, seed: int) -> dict[str, Any] | None:
        path = self.cell_json(level_key, seed)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # unreadable: treat as not done, it is recomputed and replaced

    def save_cell(self, record: dict[str, Any], reconstructions: np.ndarray) -> None:
        """Reconstructions first, JSON last: the JSON marks the cell finished."""
        level, seed = record["level"]["key"], int(record["seed"])
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(self.cell_npy(level, seed), np.asarray(reconstructions, dtype=np.float32))
        atomic_write_json(self.cell_json(level, seed), record)

    def load_reconstructions(self, level_key: str, seed: int) -> np.ndarray | None:
        path = self.cell_npy(level_key, seed)
        if not path.is_file():
            return None
        return np.load(path, allow_pickle=False)
