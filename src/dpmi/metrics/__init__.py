"""Attack success: does a reconstruction identify its target? Nearest class-mean identification, an
independent evaluation classifier (Acc@1/Acc@5, KNN distance), and PSNR/SSIM, all on standardised images."""

from dpmi.metrics.evaluate import SUMMARY_KEYS, evaluate_inversion
from dpmi.metrics.evaluator import Evaluator, EvaluatorNet, contrast_normalize, train_evaluator
from dpmi.metrics.image_quality import match_to_reference, psnr, ssim
from dpmi.metrics.nearest_mean import nearest_mean_topk, target_rank
from dpmi.metrics.standardize import correlation_matrix, standardize

__all__ = [
    "SUMMARY_KEYS", "Evaluator", "EvaluatorNet", "contrast_normalize", "correlation_matrix",
    "evaluate_inversion", "match_to_reference", "nearest_mean_topk", "psnr", "ssim", "standardize",
    "target_rank", "train_evaluator",
]
