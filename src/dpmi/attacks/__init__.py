"""Model-inversion attacks: MI-FACE (Fredrikson, Jha & Ristenpart, CCS 2015, Alg. 1), batched over labels,
with its Process and AuxTerm building blocks."""

from dpmi.attacks.denoise_sharpen import DenoiseSharpen, estimate_noise_sigma
from dpmi.attacks.mi_face import MIFace, outputs_probabilities
from dpmi.attacks.result import InversionResult
from dpmi.attacks.total_variation import TotalVariation

__all__ = ["DenoiseSharpen", "InversionResult", "MIFace", "TotalVariation", "estimate_noise_sigma",
           "outputs_probabilities"]
