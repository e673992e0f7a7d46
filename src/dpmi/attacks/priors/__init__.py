"""Face priors learned from the attacker's public identities only: an eigenface basis (`PCAPrior`) and a
small GAN (`dpmi.attacks.priors.face_generator`), both decoding latents to [B, C, H, W] images in [-1, 1]."""

from dpmi.attacks.priors.pca_prior import PCAPrior, fit_pca_prior

__all__ = ["PCAPrior", "fit_pca_prior"]
