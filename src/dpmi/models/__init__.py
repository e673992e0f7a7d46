"""Target models (all output logits) and a by-name builder."""

from dpmi.models.mlp import MLP
from dpmi.models.registry import MODELS, build_model
from dpmi.models.small_cnn import SmallCNN
from dpmi.models.softmax_regression import SoftmaxRegression

__all__ = ["MLP", "MODELS", "SmallCNN", "SoftmaxRegression", "build_model"]
