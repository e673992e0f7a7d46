"""A small GAN face prior trained on the attacker's public faces only: GMI's generative prior (Zhang et al.,
"The Secret Revealer", CVPR 2020, Sec. 4.1) cut down to fit two CPU cores in minutes.

Departures from GMI, and why:
- Resolution: the generator draws at a reduced working size (`scale` of the data's H x W, rounded to a
  multiple of 2^upsamplings) and the image is upsampled bilinearly to the data's (H, W); the networks are a
  few thousand times smaller than GMI's. A 200-image public set cannot train more.
- Loss: non-saturating GAN loss (Goodfellow et al. 2014) with spectral normalisation in the discriminator
  (Miyato et al., ICLR 2018) instead of GMI's WGAN-GP: no second-order gradients, so a step costs half.
- Augmentation: DiffAugment (Zhao et al., NeurIPS 2020): the same kind of random flip and shift is applied
  to real and generated images before the discriminator, the standard remedy for GANs on few images.
- No contextual (inpainting) input: GMI's generator also sees a corrupted private image; our attacker has
  no private image at all, so the generator maps noise only (GMI's "no auxiliary knowledge" variant).
- PixelNorm (Karras et al., ICLR 2018) instead of BatchNorm in the generator: a decoded row does not
  depend on the other rows of the batch, so the batched attack equals the one-identity-at-a-time one.

`load_face_gan` trains once and caches the weights under `dpmi.cache.cached("face-prior", ...)` keyed by the
public images' fingerprint, the settings and the seed; later studies and tests reuse the entry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from dpmi.attacks.image_resize import SeparableResize
from dpmi.attacks.image_shifts import random_flip_shift
from dpmi.cache import cached, fingerprint_array
from dpmi.data import FaceDataset

CACHE_KIND = "face-prior"
PRIOR_FORMAT = 1  # bump when the networks or the payload change: old entries then miss


@dataclass(frozen=True)
class GANSettings:
    """How the GAN prior is built and trained.

    latent_dim: size of z ~ N(0, I) (>= 1). scale: working resolution as a fraction of the data's H and W,
    in (0, 1]. upsamplings: generator x2 upsampling stages (>= 1); the working size is rounded up to a
    multiple of 2^upsamplings. width: channels of the widest layer (>= 4). steps: optimiser steps of each
    network (>= 1). batch_size: images per step (>= 1). lr: Adam learning rate of both networks (> 0,
    betas 0.5/0.999 as DCGAN). max_shift: DiffAugment shift in working-size pixels (>= 0).
    seed: seeds weights, batches, noise and augmentation (>= 0).
    """

    latent_dim: int = 64
    scale: float = 0.25
    upsamplings: int = 2
    width: int = 32
    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-4
    max_shift: int = 2
    seed: int = 0

    def validate(self) -> None:
        checks = [
            (self.latent_dim >= 1, "latent_dim must be >= 1"),
            (0 < self.scale <= 1, "scale must be in (0, 1]"),
            (self.upsamplings >= 1, "upsamplings must be >= 1"),
            (self.width >= 4 and self.width % 4 == 0, "width must be a multiple of 4, >= 4"),
            (self.steps >= 1, "steps must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (math.isfinite(self.lr) and self.lr > 0, "lr must be a finite number > 0"),
            (self.max_shift >= 0, "max_shift must be >= 0"),
            (self.seed >= 0, "seed must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"GAN prior: {message}, got {asdict(self)}")


def working_size(image_shape: tuple[int, int], settings: GANSettings) -> tuple[int, int]:
    """The generator's output size: `scale` x (H, W), rounded up to a multiple of 2^upsamplings."""
    unit = 2**settings.upsamplings
    return tuple(unit * max(1, math.ceil(side * settings.scale / unit)) for side in image_shape)


class PixelNorm(nn.Module):
    """Scale each pixel's feature vector to unit RMS over channels (Karras et al. 2018, Eq. 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class Generator(nn.Module):
    """z [B, latent_dim] -> images [B, C, h, w] in [-1, 1] at the working size (h, w)."""

    def __init__(self, latent_dim: int, channels: int, size: tuple[int, int], width: int, upsamplings: int):
        super().__init__()
        unit = 2**upsamplings
        self.base = (size[0] // unit, size[1] // unit)
        widths = [max(4, width // 2**i) for i in range(upsamplings + 1)]
        self.widths = widths
        self.project = nn.Linear(latent_dim, widths[0] * self.base[0] * self.base[1])
        layers: list[nn.Module] = []
        for i in range(upsamplings):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1),
                PixelNorm(),
                nn.LeakyReLU(0.2),
            ]
        layers += [nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.project(z), 0.2).view(-1, self.widths[0], *self.base)
        return self.body(x)


class Discriminator(nn.Module):
    """images [B, C, h, w] -> realism logits [B] (higher = more like a public face); spectral norm on
    every layer (Miyato et al. 2018)."""

    def __init__(self, channels: int, size: tuple[int, int], width: int, downsamplings: int):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        widths = [max(4, width // 2 ** (downsamplings - 1 - i)) for i in range(downsamplings)]
        layers: list[nn.Module] = []
        previous = channels
        for w in widths:
            layers += [sn(nn.Conv2d(previous, w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            previous = w
        self.body = nn.Sequential(*layers)
        unit = 2**downsamplings
        self.head = sn(nn.Linear(previous * (size[0] // unit) * (size[1] // unit), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1)).squeeze(1)


class FaceGAN:
    """A trained GAN prior as the latent search uses it (`dpmi.attacks.latent_search.LatentPrior`).

    decode(z): generator output upsampled bilinearly to the data's (H, W), in [-1, 1].
    realism_loss(z, images): softplus(-D(images at working size)), the non-saturating generator loss
    (GMI's prior loss, Eq. 4, with our GAN's loss), plus `latent_weight` * 0.5 ||z||^2 / d when > 0.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        input_shape: tuple[int, int, int],
        size: tuple[int, int],
        latent_dim: int,
        *,
        latent_weight: float = 0.0,
        train_seconds: float = float("nan"),
    ) -> None:
        # Channels-last convolution weights: 18 % less time per search step on the CPU (interleaved A/B, 8 rounds
        # of 25 steps each, medians 40.8 vs 48.9 ms).
        self.generator = _channels_last(generator.eval())
        self.discriminator = _channels_last(_freeze_spectral_norm(discriminator.eval()))
        for p in [*generator.parameters(), *discriminator.parameters()]:
            p.requires_grad_(False)
        self.input_shape = input_shape
        self.size = size
        # Bilinear resizes as matrix products (the same operator as `F.interpolate`, far cheaper to
        # differentiate on the CPU; `dpmi.attacks.image_resize`).
        self._upsample = SeparableResize(size, input_shape[1:])
        self._downsample = SeparableResize(input_shape[1:], size, antialias=True)
        self._latent_dim = latent_dim
        self.latent_weight = float(latent_weight)
        self.train_seconds = train_seconds

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> FaceGAN:
        self.generator.to(device)
        self.discriminator.to(device)
        self._upsample.to(device)
        self._downsample.to(device)
        return self

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(count, self._latent_dim, generator=generator, device=self.device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._upsample(self.generator(z))

    def realism_loss(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        small = self._downsample(images)
        loss = F.softplus(-self.discriminator(small))
        if self.latent_weight > 0:
            loss = loss + self.latent_weight * 0.5 * z.pow(2).mean(dim=1)
        return loss


def _channels_last(module: nn.Module) -> nn.Module:
    """Store the convolutions' 4-D weights channels-last (what `Module.to(memory_format=...)` does, spelled so
    that the type checker knows it)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            layer.weight.data = layer.weight.data.contiguous(memory_format=torch.channels_last)
    return module


def _freeze_spectral_norm(discriminator: Discriminator) -> Discriminator:
    """Replace each spectrally normalised weight by its current value W / sigma(W) (eval mode: no power
    iteration, so the value is fixed): the same network without recomputing sigma on every call."""
    from torch.nn.utils import parametrize

    for module in discriminator.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return discriminator


def _networks(
    input_shape: tuple[int, int, int], settings: GANSettings
) -> tuple[Generator, Discriminator, tuple[int, int]]:
    size = working_size(input_shape[1:], settings)
    generator = Generator(settings.latent_dim, input_shape[0], size, settings.width, settings.upsamplings)
    discriminator = Discriminator(input_shape[0], size, settings.width, settings.upsamplings)
    return generator, discriminator, size


def public_images_at(public: FaceDataset, size: tuple[int, int]) -> torch.Tensor:
    """The public images [N, C, h, w] in [-1, 1] resized (area-averaged) to the working size."""
    x, _ = public.to_tensors("cpu")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def train_face_gan(
    public: FaceDataset, settings: GANSettings, *, progress: bool = True, num_threads: int | None = 1
) -> dict:
    """Train the GAN on the public images (flips and shifts as DiffAugment); returns the cache payload
    (state dicts, settings, shapes, seconds). Deterministic on the CPU for a given seed.

    num_threads: torch CPU threads while training (restored after). 1 by default: these small convolutions
    gain little from a second thread, and on a shared 2-core machine two threads ran several times slower
    (measured here, as for the evaluation classifier). None leaves torch's setting alone.
    """
    settings.validate()
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _train_face_gan(public, settings, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train_face_gan(public: FaceDataset, settings: GANSettings, progress: bool) -> dict:
    input_shape = public.input_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        generator, discriminator, size = _networks(input_shape, settings)
    real = public_images_at(public, size)
    rng = torch.Generator().manual_seed(settings.seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    from tqdm.auto import tqdm

    start = time.perf_counter()
    generator.train()
    discriminator.train()
    for _ in tqdm(
        range(settings.steps), desc="face prior (GAN)", unit="step", disable=None if progress else True, leave=False
    ):
        batch = real[torch.randint(0, len(real), (settings.batch_size,), generator=rng)]
        z = torch.randn(settings.batch_size, settings.latent_dim, generator=rng)
        fake = generator(z)
        # Discriminator step: real -> 1, fake -> 0, both augmented (DiffAugment).
        d_real = discriminator(random_flip_shift(batch, settings.max_shift, rng))
        d_fake = discriminator(random_flip_shift(fake.detach(), settings.max_shift, rng))
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # Generator step: non-saturating loss through the augmentation.
        loss_g = F.softplus(-discriminator(random_flip_shift(fake, settings.max_shift, rng))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    seconds = time.perf_counter() - start
    return {
        "generator": {k: v.detach().clone() for k, v in generator.state_dict().items()},
        "discriminator": {k: v.detach().clone() for k, v in discriminator.state_dict().items()},
        "settings": asdict(settings),
        "input_shape": list(input_shape),
        "size": list(size),
        "train_seconds": float(seconds),
        "prior_format": PRIOR_FORMAT,
    }


def face_gan_key_parts(public: FaceDataset, settings: GANSettings) -> dict:
    """What the cached prior depends on: the public images and labels (by fingerprint), settings, seed."""
    return {
        "prior": "gan",
        "prior_format": PRIOR_FORMAT,
        "public_images": fingerprint_array(public.images),
        "public_labels": fingerprint_array(public.labels),
        "settings": asdict(settings),
    }


def face_gan_from_payload(payload: dict, *, latent_weight: float = 0.0) -> FaceGAN:
    """Rebuild the networks from a cache payload; ValueError when it does not fit them."""
    settings = GANSettings(**payload["settings"])
    # (C, H, W): the payload was written by `train_face_gan` from a FaceDataset's input_shape.
    input_shape = cast(tuple[int, int, int], tuple(int(s) for s in payload["input_shape"]))
    generator, discriminator, size = _networks(input_shape, settings)
    generator.load_state_dict(payload["generator"])
    discriminator.load_state_dict(payload["discriminator"])
    return FaceGAN(
        generator,
        discriminator,
        input_shape,
        size,
        settings.latent_dim,
        latent_weight=latent_weight,
        train_seconds=float(payload.get("train_seconds", float("nan"))),
    )


def load_face_gan(
    public: FaceDataset,
    settings: GANSettings | None = None,
    *,
    progress: bool = True,
    latent_weight: float = 0.0,
    log: Callable[[str], None] | None = None,
) -> tuple[FaceGAN, bool]:
    """The GAN prior for `public` and `settings`: from the cache when a valid entry exists, else trained
    (with a progress bar) and stored. Returns (prior, cache_hit). A cached entry that does not rebuild the
    networks is retrained and overwritten."""
    settings = settings or GANSettings()
    settings.validate()
    parts = face_gan_key_parts(public, settings)

    def build() -> dict:
        return train_face_gan(public, settings, progress=progress)

    def rebuilds(payload: dict) -> bool:  # readable but not ours (another layout): rebuild rather than trust it
        try:
            face_gan_from_payload(payload)
        except (KeyError, TypeError, ValueError, RuntimeError):
            return False
        return True

    payload, hit = cached(CACHE_KIND, parts, build, log=log, valid=rebuilds)
    return face_gan_from_payload(payload, latent_weight=latent_weight), hit
