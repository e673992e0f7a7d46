"""What the `dpmi train` and `dpmi attack` commands do, as library calls (the CLI only parses, calls, prints).

from dpmi.workflows import attack_saved_model, train_model
from dpmi.privacy.dpsgd import TrainConfig

trained = train_model("model.pt", config=TrainConfig(target_epsilon=3.0))   # weights + sidecar
report = attack_saved_model("model.pt", attack="mi-face")                    # files in model-mi-face/
"""

from dpmi.workflows.attack_model import (
    AttackReport,
    attack_saved_model,
    default_attack_dir,
)
from dpmi.workflows.saved_model_faces import (
    SavedModelFaces,
    load_saved_model_faces,
    sidecar_identities,
)
from dpmi.workflows.train_model import TrainedModel, train_model

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
