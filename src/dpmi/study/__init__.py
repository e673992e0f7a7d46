"""`dpmi run`: the study of MI-FACE against DP-SGD across privacy levels and seeds, resumable, with a report.

    from dpmi.study import make_config, run_study
    result = run_study(make_config(quick=True, out="runs/smoke"))
    print(result.run_dir / "report.html")
"""

from dpmi.models.model_file import load_model, save_model
from dpmi.study.config import StudyConfig, load_config_file, make_config, validate
from dpmi.study.executor import Executor, ProcessExecutor, SerialExecutor, make_executor
from dpmi.study.levels import PrivacyLevel, plan_levels, resolve_levels
from dpmi.study.results import load_results, render_outputs
from dpmi.study.runner import StudyResult, run_study
from dpmi.study.store import RunStore
from dpmi.study.summary import LevelSummary, aggregate, summary_table

__all__ = [
    "Executor", "LevelSummary", "PrivacyLevel", "ProcessExecutor", "RunStore", "SerialExecutor", "StudyConfig",
    "StudyResult", "aggregate", "load_config_file", "load_model", "load_results", "make_config", "make_executor",
    "plan_levels", "render_outputs", "resolve_levels", "run_study", "save_model", "summary_table", "validate",
]
