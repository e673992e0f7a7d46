"""Attack success: does a reconstruction identify its target? The judges by registry (`JUDGES`: a pretrained
face recognizer, an evaluation CNN, an LBP nearest-neighbour face matcher; fitted together as `Judges`), nearest
class-mean identification, KNN and Frechet distances in
the evaluator's features, PSNR/SSIM, and the stated test behind "above chance"."""

from collections.abc import Callable

from dpmi.metrics.evaluate import (
    LabelledImages,
    evaluate_inversion,
    identification,
    per_label_keys,
    summary_descriptions,
    summary_keys,
)
from dpmi.metrics.evaluator import (
    Evaluator,
    EvaluatorNet,
    EvaluatorRecipe,
    augment_similarity,
    contrast_normalize,
    train_evaluator,
)
from dpmi.metrics.frechet import (
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_fit,
)
from dpmi.metrics.image_quality import match_to_reference, psnr, ssim
from dpmi.metrics.judge_registry import JUDGES, JudgeSpec, available_judges, judge_keys
from dpmi.metrics.judges import (
    Judges,
    calibrate_judges,
    calibration_cases,
    load_or_train_evaluator,
    load_or_train_judges,
)
from dpmi.metrics.lbp_judge import LBPJudge, fit_lbp_judge, lbp_histograms
from dpmi.metrics.nearest_mean import nearest_mean_topk, target_rank
from dpmi.metrics.significance import (
    ChanceVerdict,
    above_chance,
    above_chance_pvalue,
    chance_verdict,
    rate_interval,
)
from dpmi.metrics.standardize import correlation_matrix, standardize

__all__ = [
    "JUDGES",
    "PER_LABEL_KEYS",
    "SUMMARY_DESCRIPTIONS",
    "SUMMARY_KEYS",
    "JudgeSpec",
    "available_judges",
    "judge_keys",
    "per_label_keys",
    "summary_descriptions",
    "summary_keys",
    "ChanceVerdict",
    "Evaluator",
    "EvaluatorNet",
    "EvaluatorRecipe",
    "Judges",
    "LBPJudge",
    "LabelledImages",
    "above_chance",
    "above_chance_pvalue",
    "augment_similarity",
    "calibrate_judges",
    "calibration_cases",
    "chance_verdict",
    "contrast_normalize",
    "correlation_matrix",
    "evaluate_inversion",
    "fit_lbp_judge",
    "frechet_distance",
    "frechet_distance_gaussians",
    "gaussian_fit",
    "identification",
    "lbp_histograms",
    "load_or_train_evaluator",
    "load_or_train_judges",
    "match_to_reference",
    "nearest_mean_topk",
    "psnr",
    "rate_interval",
    "ssim",
    "standardize",
    "target_rank",
    "train_evaluator",
]


def __getattr__(name: str) -> object:
    """SUMMARY_KEYS, SUMMARY_DESCRIPTIONS, PER_LABEL_KEYS: built from the judge registry when first read, so
    a judge registered by a plugin appears in them (PEP 562)."""
    builders: dict[str, Callable[[], object]] = {
        "SUMMARY_KEYS": summary_keys,
        "SUMMARY_DESCRIPTIONS": summary_descriptions,
        "PER_LABEL_KEYS": per_label_keys,
    }
    if name in builders:
        return builders[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
