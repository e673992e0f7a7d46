"""`dpmi run`: does DP-SGD stop model inversion? Privacy levels x seeds, every registered attack on every cell,
targets trained with recipes searched on public people, resumable, with a report.

    from dpmi.study import make_config, run_study
    result = run_study(make_config(quick=True, out="runs/smoke"))
    print(result.run_dir / "report.html")
"""

from dpmi.study.config import StudyConfig, load_config_file, make_config, validate
from dpmi.study.executor import Executor, ProcessExecutor, SerialExecutor, make_executor
from dpmi.study.levels import PrivacyLevel, plan_levels, resolve_levels
from dpmi.study.recipe import Recipe, RecipeChoice, choose_recipe
from dpmi.study.records import AttackRecord, CellRecord, TrainRecord
from dpmi.study.results import StudyResults, load_results, render_outputs
from dpmi.study.runner import StudyResult, run_study
from dpmi.study.store import RunStore
from dpmi.study.summary import LevelSummary, above_chance, aggregate, summary_table

__all__ = [
    "AttackRecord",
    "CellRecord",
    "Executor",
    "LevelSummary",
    "PrivacyLevel",
    "ProcessExecutor",
    "Recipe",
    "RecipeChoice",
    "RunStore",
    "SerialExecutor",
    "StudyConfig",
    "StudyResult",
    "StudyResults",
    "TrainRecord",
    "above_chance",
    "aggregate",
    "choose_recipe",
    "load_config_file",
    "load_results",
    "make_config",
    "make_executor",
    "plan_levels",
    "render_outputs",
    "resolve_levels",
    "run_study",
    "summary_table",
    "validate",
]
