"""A run's outputs, rebuilt from its finished cells: results.json, results.csv, the figures and report.html
(and report_shareable.html, without the real faces, when asked).

`write_outputs` is called at the end of `dpmi run`; `dpmi report RUN_DIR` (`load_results` + `render_outputs`)
redraws the figures and the page from results.json and the saved reconstructions, without the data or any
training. results.json of an older format is upgraded first (`dpmi.study.migrate`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.atomic_files import atomic_write_bytes, atomic_write_json, atomic_write_text
from dpmi.study.audit_record import SavedAudit
from dpmi.study.levels import PrivacyLevel
from dpmi.study.migrate import RESULTS_VERSION, upgrade_results
from dpmi.study.recipe import RecipeChoice
from dpmi.study.records import CellRecord
from dpmi.study.store import MEAN_FACES, RunStore, json_safe
from dpmi.study.summary import LevelSummary, aggregate, target_numbers

RESULTS_FORMAT = "dpmi-study-results"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_HTML = "report.html"
SHAREABLE_HTML = "report_shareable.html"
FIGURES_DIR = "figures"
TRADEOFF_PNG = "privacy_utility_leakage.png"
GRID_PNG = "reconstructions.png"
GRID_SHAREABLE_PNG = "reconstructions_shareable.png"
QUESTION = "Does DP-SGD stop model inversion of a face classifier, and at what epsilon?"


def versions() -> dict[str, str]:
    """Versions of what produced the numbers (for results.json and the report)."""
    import matplotlib
    import scipy
    import torch

    import dpmi

    return {
        "dpmi": dpmi.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(terse=True),
    }


@dataclass
class StudyResults:
    """Everything results.json holds (format 2).

    created: ISO time. config: StudyConfig.to_dict(). levels: resolved, least private first. cells: every
    finished cell. recipes: each level's recipe choice (with the search's trials). evaluator: the judges'
    held-out accuracies. timings: seconds per phase. data: provenance (directory read, manifest SHA-256,
    pixel fingerprint). split: the private/public people (0-based original labels) and image counts.
    attack_settings: every attack's resolved options (its registered defaults at run time, updated by the
    config), so a reader knows exactly which attack produced the numbers.
    """

    created: str
    config: dict[str, Any]
    levels: list[PrivacyLevel]
    cells: list[CellRecord]
    recipes: list[RecipeChoice] = field(default_factory=list)
    evaluator: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    attack_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    migrated_from: int | None = None
    audits: dict[str, SavedAudit] = field(default_factory=dict)  # level key -> saved audit (audit_phase)

    @property
    def attacks(self) -> list[str]:
        names: list[str] = []
        for cell in self.cells:
            names += [n for n in cell.attack_names if n not in names]
        return names

    @property
    def private_people(self) -> int:
        """Classes of the target (the private people): chance for a judge is 1 / this."""
        private = self.split.get("private")
        if private:
            return len(private)
        for cell in self.cells:  # format 1: the metrics recorded chance = 1 / people
            for attack in cell.attacks.values():
                chance = attack.metrics.get("chance_top1")
                if chance is not None and chance > 0:
                    return round(1.0 / chance)
        return int(self.config.get("identities") or 1)

    @property
    def quick(self) -> bool:
        return bool(self.config.get("quick"))

    def sorted_cells(self) -> list[CellRecord]:
        order = {level.key: i for i, level in enumerate(self.levels)}
        return sorted(self.cells, key=lambda c: (order.get(c.level.key, len(order)), c.seed))

    def summaries(self) -> list[LevelSummary]:
        return aggregate(self.levels, self.cells)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "format": RESULTS_FORMAT,
                "format_version": RESULTS_VERSION,
                "question": QUESTION,
                "created": self.created,
                "config": self.config,
                "versions": self.versions or versions(),
                "data": self.data,
                "split": self.split,
                "levels": [level.to_dict() for level in self.levels],
                "recipes": [r.to_dict() for r in self.recipes],
                "summary": [s.to_dict() for s in self.summaries()],
                "evaluator": self.evaluator,
                "timings": self.timings,
                "attack_settings": self.attack_settings,
                "cells": [c.to_dict() for c in self.sorted_cells()],
                "audits": [self.audits[level.key].to_json() for level in self.levels if level.key in self.audits],
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyResults:
        """Read results.json, upgrading an older format first (`dpmi.study.migrate.upgrade_results`)."""
        data, migrated_from = upgrade_results(data)
        return cls(
            str(data.get("created", "")),
            dict(data["config"]),
            [PrivacyLevel.from_dict(level) for level in data["levels"]],
            [CellRecord.from_dict(c) for c in data["cells"]],
            [RecipeChoice.from_dict(r) for r in data.get("recipes", [])],
            dict(data.get("evaluator") or {}),
            {k: float(v) for k, v in (data.get("timings") or {}).items() if v is not None},
            dict(data.get("data") or {}),
            dict(data.get("split") or {}),
            dict(data.get("versions") or {}),
            {k: dict(v) for k, v in (data.get("attack_settings") or {}).items()},
            migrated_from=migrated_from,
            audits={audit.level.key: audit for audit in map(SavedAudit.from_json, data.get("audits") or [])},
        )


def csv_rows(results: StudyResults) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per (level, seed, attack): the level's privacy, the recipe, the target's and the attack's numbers."""
    level_fields = [
        "level",
        "label",
        "seed",
        "attack",
        "access",
        "noise_multiplier",
        "target_epsilon",
        "sample_rate",
        "steps",
        "epsilon_rdp",
        "epsilon_pld",
        "lr",
        "epochs",
        "batch_size",
        "max_grad_norm",
    ]
    rows, number_keys = [], []
    for cell in results.sorted_cells():
        level = cell.level.to_dict()
        for name, attack in cell.attacks.items():
            numbers = {**target_numbers(cell), **attack.numbers()}
            number_keys += [k for k in numbers if k not in number_keys]
            row = {"level": cell.level.key, "label": cell.level.label, "seed": cell.seed, "attack": name}
            row["access"] = attack.access
            row.update({k: level.get(k) for k in level_fields[5:11]})
            row.update(cell.recipe.to_dict())
            row.update(numbers)
            rows.append(row)
    return level_fields + number_keys, rows


def _csv_text(fields: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}
        )
    return buffer.getvalue()


def write_outputs(store: RunStore, results: StudyResults) -> list[LevelSummary]:
    """Write results.json and results.csv, then the figures and report.html (+ the shareable page if asked)."""
    results.versions = results.versions or versions()
    atomic_write_json(store.root / RESULTS_JSON, results.to_dict())
    fields, rows = csv_rows(results)
    atomic_write_text(store.root / RESULTS_CSV, _csv_text(fields, rows))
    render_outputs(store, results, shareable=bool(results.config.get("shareable")))
    return results.summaries()


def record_timings(store: RunStore, timings: dict[str, float]) -> None:
    """Put the final per-phase timings (report and total are known only after the report) into results.json."""
    path = store.root / RESULTS_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    data["timings"] = {k: round(float(v), 4) for k, v in timings.items()}
    atomic_write_json(path, data)


def load_results(run_dir: str | os.PathLike[str]) -> StudyResults:
    """Read a run's results.json (format 2, or format 1 migrated).

    Raises:
        FileNotFoundError: RUN_DIR or its results.json does not exist.
        ValueError: results.json is not a dpmi results file, or one this dpmi cannot read.
    """
    path = Path(run_dir) / RESULTS_JSON
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist (pass the --out of a `dpmi run`)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a finished dpmi run directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"config", "levels", "cells"} <= set(data):
            raise ValueError("missing config/levels/cells")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a dpmi results file ({exc})") from exc
    try:
        results = StudyResults.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} cannot be read by this dpmi ({exc}); re-run the study with `dpmi run --out "
            f"{run_dir}-new` to get a current results file"
        ) from exc
    if not results.audits:  # the audit records saved in the run directory (none in runs without an audit)
        from dpmi.study.audit_phase import load_audits

        results.audits = load_audits(run_dir)
    if not results.attack_settings:  # written before results recorded them: the run's study.json has them
        study = RunStore(run_dir).read_study() or {}
        options = (study.get("fingerprint") or {}).get("attack_options") or {}
        results.attack_settings = {k: dict(v) for k, v in options.items() if k in results.attacks}
    return results


def render_outputs(store: RunStore, results: StudyResults, *, shareable: bool = False) -> dict[str, Path]:
    """Draw the figures and write report.html (and, if `shareable`, report_shareable.html without the real
    faces) from the results and the saved arrays; return the paths written."""
    from dpmi.study.audit_phase import AUDIT_ROC_PNG, roc_png
    from dpmi.study.figures import reconstruction_grid, tradeoff_figure
    from dpmi.study.report import render_report

    figures_dir = store.root / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    from dpmi.study.trusted import judge_panel

    summaries = results.summaries()
    panel = judge_panel(results)
    lineups, lineup_lines = _lineup_html(store.root)
    paths: dict[str, Path] = {}
    tradeoff = None
    if summaries:
        tradeoff = tradeoff_figure(
            [s for s in summaries if not s.level.defended],  # the defenses have their own figure (the frontier)
            num_classes=results.private_people,
            delta=float(results.config.get("delta", 1e-5)),
            trusted=panel.trusted_keys()
            if panel.verdicts and any(v.trusted for v in panel.verdicts.values())
            else None,
        )
        atomic_write_bytes(figures_dir / TRADEOFF_PNG, tradeoff)
        paths["tradeoff"] = figures_dir / TRADEOFF_PNG
    roc = roc_png(results.audits, results.levels) if results.audits else None
    if roc is not None:
        atomic_write_bytes(figures_dir / AUDIT_ROC_PNG, roc)
        paths["audit_roc"] = figures_dir / AUDIT_ROC_PNG
    variants = [(False, REPORT_HTML, GRID_PNG)] + ([(True, SHAREABLE_HTML, GRID_SHAREABLE_PNG)] if shareable else [])
    for without_faces, page_name, grid_name in variants:
        grid_rows, mean_faces, columns = grid_inputs(store, results, panel.answer)
        grid = None
        if grid_rows:
            judge = grid_rows[0].judge if grid_rows else "the evaluation classifier"
            grid = reconstruction_grid(
                None if without_faces else mean_faces,
                [(f"{row.level.label}\n{row.attack}", row.images, row.hits) for row in grid_rows],
                columns,
                judge=f"the {judge}",
                names=results.split.get("private_names"),
                title=f"Reconstructions, one row per privacy level and attack (seed {grid_rows[0].seed})",
            )
            atomic_write_bytes(figures_dir / grid_name, grid)
            paths["grid" + ("_shareable" if without_faces else "")] = figures_dir / grid_name
        page = render_report(
            results,
            summaries,
            tradeoff_png=tradeoff,
            grid_png=grid,
            grid_rows=grid_rows,
            columns=columns,
            shareable=without_faces,
            run_name=store.root.name,
            panel=panel,
            lineups=lineups,
            lineup_lines=lineup_lines,
        )
        atomic_write_text(store.root / page_name, page)
        paths["report" + ("_shareable" if without_faces else "")] = store.root / page_name
    return paths


def _lineup_html(run_dir: Path) -> tuple[str, list[str]]:
    """The blind lineups' numbers as an HTML fragment and one line per level (("", []) when nobody has rated)."""
    try:
        from dpmi.lineup import lineup_answer_lines, lineup_report_html
    except ImportError:
        return "", []
    return lineup_report_html(run_dir), lineup_answer_lines(run_dir)


@dataclass
class GridRow:
    """One row of the reconstruction grid: a (level, attack) of the first finished seed.

    images: [people, H, W] (greyscale) or [people, H, W, C] (colour) in the model input range. hits: per person, did the
    answering judge (else the nearest-mean test) name the right person; None when neither was recorded.
    judge: which judge `hits` is.
    """

    level: PrivacyLevel
    attack: str
    seed: int
    images: np.ndarray
    hits: list[bool] | None
    judge: str


def grid_inputs(
    store: RunStore, results: StudyResults, judge: str | None = None
) -> tuple[list[GridRow], np.ndarray | None, list[int]]:
    """The grid's rows (levels in order, attacks in order within each), the real mean faces and the columns.
    Frames: `judge`'s verdicts (the answering judge, a `dpmi.metrics.judge_registry.JUDGES` name), else the
    nearest-mean test's, said in the caption."""
    from dpmi.metrics.judge_registry import JUDGES
    from dpmi.study.access_levels import grid_attacks, grid_label

    judge_key = f"{judge}_top1" if judge else None
    judge_label = JUDGES.get(judge).label if judge and judge in JUDGES else ""
    mean_path = store.root / MEAN_FACES
    mean_faces = np.load(mean_path, allow_pickle=False) if mean_path.is_file() else None
    rows: list[GridRow] = []
    for level in results.levels:
        if level.defended:  # the grid shows the privacy levels; the frontier section shows the defenses
            continue
        mine = sorted((c for c in results.cells if c.level.key == level.key), key=lambda c: c.seed)
        if not mine:
            continue
        cell = mine[0]
        stacked = store.load_reconstructions(level.key, cell.seed)
        if stacked is None:
            continue
        if stacked.ndim == 3:  # format 1: MI-FACE only, [people, H, W]
            stacked = stacked[None, :, None]
        drawn = grid_attacks(mine, f"{judge}_acc1" if judge else None)
        for index, (name, attack) in enumerate(cell.attacks.items()):
            if index >= stacked.shape[0]:
                break
            if name not in drawn:  # per black-box access level only its best attack (dpmi.study.access_levels)
                continue
            hits, by = (attack.hits(judge_key), judge_label) if judge_key else (None, "")
            if (
                hits is None
                or not attack.per_label.get(judge_key or "")
                or all(v is None for v in attack.per_label.get(judge_key or "", []))
            ):
                hits, by = attack.hits("nearest_mean_top1"), "nearest-mean-face test (not identification)"
            images = stacked[index]  # [people, C, H, W]: grey as [people, H, W], colour as [people, H, W, C]
            images = images[:, 0] if images.shape[1] == 1 else np.moveaxis(images, 1, -1)
            blank = attack.per_label.get("no_reconstruction") or []
            if any(blank):  # shown flat grey: the display stretch would turn a 2e-6 change into a pattern
                images = images.copy()
                images[np.asarray([bool(v) for v in blank][: len(images)] + [False] * (len(images) - len(blank)))] = 0.0
            rows.append(GridRow(level, grid_label(name, attack.access), cell.seed, images, hits, by))
    people = min((len(r.images) for r in rows), default=0)
    wanted = int(results.split.get("grid_people") or results.config.get("grid_identities") or 8)
    return rows, mean_faces, list(range(min(people, wanted)))
