"""Registers the built-in attacks (imported once by `dpmi.attacks.registry`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from dpmi.attacks.registry import register_attack

MI_FACE_PROCESSES = ("none", "denoise", "tv")


@register_attack(
    "mi-face",
    defaults={"max_iter": 300, "patience": 100, "threshold": 0.01, "step_size": 0.1, "process": "none"},
    needs_public=False,
    summary="gradient descent on the target's confidence from a blank image, no prior",
    reference="Fredrikson, Jha & Ristenpart, CCS 2015, Algorithm 1",
    help={
        "max_iter": "alpha: the most gradient steps per identity",
        "patience": "beta: stop when the cost has not improved for this many steps",
        "threshold": "gamma: stop once 1 - confidence <= gamma (0.01 = 99% confident); 0 turns it off",
        "step_size": "lambda: the gradient step, in input units",
        "process": "Process/AuxTerm: none, denoise (NL-means + unsharp mask) or tv (total variation)",
    },
)
def _mi_face(model: nn.Module, *, public: Any, input_shape: tuple[int, int, int] | None, device: Any,
             max_iter: int, patience: int, threshold: float, step_size: float, process: str):
    """MI-FACE with the study's alpha 300 (paper: 5000; the metrics at 300 equal those at 200 on the softmax
    target), beta 100, lambda 0.1, gamma read as a confidence (see `MIFace.paper`)."""
    from dpmi.attacks.denoise_sharpen import DenoiseSharpen
    from dpmi.attacks.mi_face import MIFace
    from dpmi.attacks.total_variation import TotalVariation

    if process not in MI_FACE_PROCESSES:
        raise ValueError(f"mi-face process must be one of {', '.join(MI_FACE_PROCESSES)}, got {process!r}")
    if input_shape is None:
        raise ValueError("mi-face needs the model's input shape: pass input_shape=(C, H, W)")
    return MIFace(
        model, max_iter=max_iter, patience=patience,
        threshold=threshold if threshold > 0 else None,  # 0 = rule off
        step_size=step_size,
        aux_term=TotalVariation() if process == "tv" else None,
        process=DenoiseSharpen() if process == "denoise" else None,
        input_shape=input_shape, device=device,
    )
