"""Model-inversion attacks behind one registry: MI-FACE (Fredrikson, Jha & Ristenpart, CCS 2015, Alg. 1),
batched over labels, with its Process and AuxTerm building blocks; and the prior attacks `pca-prior`
(eigenface prior) and `gmi` (GAN prior, Zhang et al. CVPR 2020), both with PPA's selection (Struppek et
al., ICML 2022). Build any of them with `make_attack(name, model, public=...)`."""

from dpmi.attacks.denoise_sharpen import DenoiseSharpen, estimate_noise_sigma
from dpmi.attacks.mi_face import MIFace, outputs_probabilities
from dpmi.attacks.registry import (
    Attack,
    AttackResult,
    AttackSpec,
    attack_spec,
    available_attacks,
    make_attack,
    register_attack,
    resolve_options,
)
from dpmi.attacks.result import InversionResult, PriorInversionResult
from dpmi.attacks.total_variation import TotalVariation

__all__ = [
    "Attack",
    "AttackResult",
    "AttackSpec",
    "DenoiseSharpen",
    "InversionResult",
    "MIFace",
    "PriorInversionResult",
    "TotalVariation",
    "attack_spec",
    "available_attacks",
    "estimate_noise_sigma",
    "make_attack",
    "outputs_probabilities",
    "register_attack",
    "resolve_options",
]
