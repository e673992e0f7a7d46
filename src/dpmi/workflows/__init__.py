"""What the `dpmi` commands do, as library calls (the CLI only parses, calls, prints).

from dpmi.workflows import attack_saved_model, train_model
from dpmi.privacy.dpsgd import TrainConfig

trained = train_model("model.pt", config=TrainConfig(target_epsilon=3.0))   # weights + sidecar
report = attack_saved_model("model.pt", attack="mi-face")                    # files in model-mi-face/

The names below are imported when first used, so that `dpmi.workflows.account` (`dpmi epsilon`) and the other
light workflows never pull in torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpmi.workflows.attack_model import AttackReport, attack_saved_model, default_attack_dir
    from dpmi.workflows.saved_model_faces import SavedModelFaces, load_saved_model_faces, sidecar_identities
    from dpmi.workflows.train_model import TrainedModel, train_model

_WHERE = {
    "AttackReport": "attack_model",
    "attack_saved_model": "attack_model",
    "default_attack_dir": "attack_model",
    "SavedModelFaces": "saved_model_faces",
    "load_saved_model_faces": "saved_model_faces",
    "sidecar_identities": "saved_model_faces",
    "TrainedModel": "train_model",
    "train_model": "train_model",
}

__all__ = [
    "AttackReport",
    "SavedModelFaces",
    "TrainedModel",
    "attack_saved_model",
    "default_attack_dir",
    "load_saved_model_faces",
    "sidecar_identities",
    "train_model",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


class _Package(types.ModuleType):
    """`dpmi.workflows.train_model` is the function, as when this package imported it eagerly: importing the
    submodule of the same name does not replace it with the module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}" and name in _WHERE:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
