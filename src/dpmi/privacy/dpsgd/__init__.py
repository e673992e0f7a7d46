"""Fast DP-SGD: per-example clipping from per-layer norms (no per-example gradients where the layer
allows), Poisson sampling, seeded Gaussian noise, accounting of every step; plus the `train` helper."""

from dpmi.privacy.dpsgd.clipping import ClippedGradients, GradientCapture, clip_factors, reject_batch_norm
from dpmi.privacy.dpsgd.dataset_batches import DatasetBatches, PoissonBatchSampler
from dpmi.privacy.dpsgd.noise import add_gaussian_noise_, derive_seeds, fill_gaussian_noise_, make_generator
from dpmi.privacy.dpsgd.poisson_sampling import PoissonSampler
from dpmi.privacy.dpsgd.private_training import PrivateTraining, make_private
from dpmi.privacy.dpsgd.train import Objective, TrainConfig, TrainHistory, train, train_on_dataset

__all__ = [
    "ClippedGradients",
    "DatasetBatches",
    "GradientCapture",
    "Objective",
    "PoissonBatchSampler",
    "PoissonSampler",
    "PrivateTraining",
    "TrainConfig",
    "TrainHistory",
    "add_gaussian_noise_",
    "clip_factors",
    "derive_seeds",
    "fill_gaussian_noise_",
    "make_generator",
    "make_private",
    "reject_batch_norm",
    "train",
    "train_on_dataset",
]
