"""An eigenface prior (Turk & Pentland, J. Cogn. Neurosci. 1991) fitted on the attacker's public faces.

Images are x = mean + sum_i z_i * s_i * v_i with v_i the top principal directions of the public images
(and their mirror images: a face's mirror is a face), s_i the standard deviation of the public faces along
v_i (singular value / sqrt(n - 1)), and standardised coefficients z ~ N(0, I) under the Gaussian model of
probabilistic PCA (Tipping & Bishop, JRSS-B 1999, restricted to the principal subspace). The attack
optimises z; 0.5 * ||z||^2 / d is the prior's negative log density per coefficient (up to a constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dpmi.data import FaceDataset


@dataclass(frozen=True)
class PCAPrior:
    """An eigenface basis.

    Attributes:
        mean: [C*H*W] mean public face, in [-1, 1] units.
        basis: [d, C*H*W] orthonormal principal directions, largest variance first.
        scale: [d] standard deviation of the public faces along each direction (> 0).
        input_shape: (C, H, W) of a decoded image.
    """

    mean: torch.Tensor
    basis: torch.Tensor
    scale: torch.Tensor
    input_shape: tuple[int, int, int]

    @property
    def latent_dim(self) -> int:
        return int(self.basis.shape[0])

    def to(self, device: str | torch.device) -> PCAPrior:
        return PCAPrior(self.mean.to(device), self.basis.to(device), self.scale.to(device), self.input_shape)

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """`count` standardised coefficient vectors z ~ N(0, I), [count, d]."""
        return torch.randn(count, self.latent_dim, generator=generator, device=self.basis.device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [-1, 1] for coefficients z [B, d] (clipped to the pixel range)."""
        flat = self.mean + (z * self.scale) @ self.basis
        return flat.clamp(-1.0, 1.0).view(-1, *self.input_shape)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised coefficients [B, d] of images [B, C, H, W] (their projection on the basis)."""
        flat = images.reshape(images.shape[0], -1).to(self.basis) - self.mean
        return (flat @ self.basis.T) / self.scale

    def prior_loss(self, z: torch.Tensor) -> torch.Tensor:
        """0.5 * ||z||^2 / d per row [B]: the Gaussian prior's negative log density per coefficient."""
        return 0.5 * z.pow(2).mean(dim=1)

    def realism_loss(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The latent search's prior term: `prior_loss(z)` (the image adds nothing beyond z)."""
        return self.prior_loss(z)


def fit_pca_prior(public: FaceDataset, components: int, *, flips: bool = True) -> PCAPrior:
    """Fit `components` eigenfaces on the public images only (plus their mirror images when `flips`).

    Args:
        public: the attacker's public faces (identities the target never saw).
        components: d, the number of principal directions kept, 1 .. (number of images used) - 1.
        flips: add every image's left-right mirror (doubles the data; PCA then spans symmetric faces).

    Deterministic: an SVD in float64 with each direction's sign fixed (largest |entry| positive).
    """
    x, _ = public.to_tensors("cpu")
    if flips:
        x = torch.cat([x, x.flip(-1)])
    count = int(x.shape[0])
    if not 1 <= components <= count - 1:
        raise ValueError(f"components must be in 1..{count - 1} (images used minus one), got {components}")
    flat = x.reshape(count, -1).double()
    mean = flat.mean(dim=0)
    _, singular, vt = torch.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[:components]
    signs = basis.gather(1, basis.abs().argmax(dim=1, keepdim=True)).sign()
    basis = basis * signs
    scale = singular[:components] / (count - 1) ** 0.5
    return PCAPrior(mean.float(), basis.float(), scale.float(), public.input_shape)


CACHE_KIND = "eigenface-prior"


def load_pca_prior(public: FaceDataset, components: int, *, flips: bool = True) -> tuple[PCAPrior, bool]:
    """`fit_pca_prior`, cached by content (the public images and labels, `components`, `flips`): the SVD of the
    public faces takes about a second on a CPU core and every cell of a study needs the same one. Returns
    (prior, cache_hit)."""
    from dpmi.cache import cached, fingerprint_array

    parts = {
        "prior": "eigenfaces",
        "public_images": fingerprint_array(public.images),
        "public_labels": fingerprint_array(public.labels),
        "components": int(components),
        "flips": bool(flips),
    }

    def build() -> dict:
        prior = fit_pca_prior(public, components, flips=flips)
        return {"mean": prior.mean, "basis": prior.basis, "scale": prior.scale, "input_shape": list(prior.input_shape)}

    def fits(payload: dict) -> bool:  # readable but not what this key promises: rebuild rather than trust it
        basis = payload.get("basis")
        shape = tuple(int(v) for v in payload.get("input_shape", ()))
        return shape == tuple(public.input_shape) and basis is not None and tuple(basis.shape)[0] == components

    payload, hit = cached(CACHE_KIND, parts, build, valid=fits)
    return PCAPrior(payload["mean"], payload["basis"], payload["scale"], public.input_shape), hit
