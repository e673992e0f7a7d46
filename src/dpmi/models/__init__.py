"""Target models (all output logits) and a by-name builder."""

from dpmi.models.build import build_model
from dpmi.models.mlp import MLP
from dpmi.models.registry import MODEL_REGISTRY, MODELS, available_models, model_summary, register_model
from dpmi.models.small_cnn import SmallCNN
from dpmi.models.softmax_regression import SoftmaxRegression
from dpmi.models.user_models import check_dp_trainable, load_user_model, resolve_model

__all__ = [
    "MLP",
    "MODELS",
    "MODEL_REGISTRY",
    "SmallCNN",
    "SoftmaxRegression",
    "available_models",
    "build_model",
    "check_dp_trainable",
    "load_user_model",
    "model_summary",
    "register_model",
    "resolve_model",
]
