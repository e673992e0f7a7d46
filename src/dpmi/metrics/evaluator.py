"""The evaluation classifier: an independent judge of whether a reconstruction shows its target.

GMI (Zhang et al. 2020), KEDMI (Chen et al. 2021) and PLG-MI (Yuan et al. 2023) score model inversion by the
accuracy of a second classifier, of a different architecture from the target and trained non-privately on
the private images, on the reconstructions. Ours is a three-block BatchNorm CNN with max pooling and a
pooled-grid embedding (the targets are softmax regression, an MLP and a two-conv strided GroupNorm CNN),
trained on per-image contrast-normalised faces with random similarity transforms (shift, zoom, rotation),
horizontal flips and Gaussian blur (so that, like a person, it still names a blurred or mean face); its
penultimate layer is the feature space of the KNN and Frechet distances. Classes, channels and image size
come from the data. Departure from GMI/KEDMI: they use a large pretrained face
network (FaceNet, IR-152); none can be downloaded here, so the judge is trained from scratch on the
private training images only, and `dpmi.metrics.lbp_judge` is a second judge of another family.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.atomic_files import atomic_write_bytes
from dpmi.data import FaceDataset
from dpmi.metrics.judge_spec import JudgeSpec

_EPS = 1e-6


def contrast_normalize(x: torch.Tensor) -> torch.Tensor:
    """Per-image zero mean, unit standard deviation over its pixels; [B, C, H, W] -> same shape."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1).view(-1, *([1] * (x.ndim - 1)))
    std = flat.std(dim=1, unbiased=False).view(-1, *([1] * (x.ndim - 1)))
    return (x - mean) / (std + _EPS)


MIN_SIDE = 16
POOL_ROWS = 4


def pool_grid(rows: int, cols: int) -> tuple[int, int]:
    """Output grid of the adaptive pool for a [rows, cols] feature map: min(4, rows) rows and the columns
    that keep the aspect ratio (4 x 3 for 112 x 92 faces), at least 1 and at most `cols`."""
    out_rows = min(POOL_ROWS, rows)
    return out_rows, max(1, min(cols, round(out_rows * cols / rows)))


class EvaluatorNet(nn.Module):
    """Contrast normalisation -> 2x average pooling -> three (3x3 conv, BatchNorm, ReLU, pool) blocks of
    width w, 2w, 4w -> adaptive average pool to a grid of about 4 rows (columns by the aspect ratio) ->
    Linear to `embedding_dim` + ReLU (the embedding) -> dropout -> Linear to logits.

    Args:
        num_classes: identities to name (>= 2), from the data.
        input_shape: (C, H, W) of one image, from the data (`FaceDataset.input_shape`); H, W >= 16 pixels.
        width: channels of the first block (>= 4).
        embedding_dim: size of the feature space (KNN and Frechet distances are measured in it).
        dropout: probability of dropping an embedding unit while training, in [0, 1).
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, int, int],
        width: int = 16,
        embedding_dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, height, width_px = (int(s) for s in input_shape)
        if num_classes < 2 or channels < 1 or min(height, width_px) < MIN_SIDE:
            raise ValueError(
                f"need num_classes >= 2 and images of >= 1 channel and >= {MIN_SIDE} pixels a side; "
                f"got {num_classes} classes, input shape {tuple(input_shape)}"
            )
        if width < 4 or embedding_dim < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"width must be >= 4, embedding_dim >= 1, dropout in [0, 1); got {width}, {embedding_dim}, {dropout}"
            )
        self.config = {
            "num_classes": int(num_classes),
            "input_shape": [channels, height, width_px],
            "width": width,
            "embedding_dim": embedding_dim,
            "dropout": dropout,
        }

        # BatchNorm, not the targets' GroupNorm: the judge is trained without DP, so mixing the examples of a
        # batch is harmless, and on 20 identities x 7 images it generalises far better (measured, seeds 0-2:
        # held-out 0.98-1.00 vs 0.87-0.98 with GroupNorm, the same recipe otherwise).
        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        trunk = nn.Sequential(
            nn.AvgPool2d(2),
            *block(channels, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
        )
        with torch.no_grad():
            _, _, rows, cols = trunk(torch.zeros(1, channels, height, width_px)).shape
        grid = pool_grid(rows, cols)
        self.features = nn.Sequential(
            trunk,
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(4 * width * grid[0] * grid[1], embedding_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] images in any range -> [B, embedding_dim] features."""
        return self.features(contrast_normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@dataclass
class Evaluator:
    """A trained evaluation classifier. Inputs are images [B, C, H, W] in the target model's input range
    (any range works: every image is contrast-normalised first).

    Attributes:
        net: the network (eval mode).
        train_accuracy: top-1 accuracy on its training images, 0..1.
        test_accuracy: top-1 accuracy on the held-out images given to `train_evaluator`, or NaN.
    """

    net: EvaluatorNet
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    # Features of reference sets (the private images every reconstruction is compared with), by content: the
    # study scores each attack of each cell against the same images. The net is fixed once trained.
    _reference_features: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def reference_features(self, dataset: FaceDataset) -> torch.Tensor:
        """`embed` of a dataset's images, remembered by its pixels' content (a reference set embedded again and
        again); the tensors are made only when the set is new."""
        from dpmi.cache import fingerprint_array

        key = f"{fingerprint_array(dataset.images)}|{self.device}"
        if key not in self._reference_features:
            self._reference_features[key] = self.embed(dataset.to_tensors()[0])
        return self._reference_features[key]

    @torch.no_grad()
    def logits_and_features(self, images: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """([N, classes] logits, [N, embedding_dim] features) from one pass of the network."""
        self.net.eval()
        features = self.embed(images)
        return self.net.head(features), features

    def _batches(self, images: torch.Tensor | np.ndarray, batch_size: int = 256):
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size].to(self.device)

    @torch.no_grad()
    def logits(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """[N, C, H, W] (or [N, H, W] grey) images -> [N, classes] logits, on the evaluator's device."""
        self.net.eval()
        return torch.cat([self.net(batch) for batch in self._batches(images)])

    @torch.no_grad()
    def embed(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """[N, C, H, W] (or [N, H, W] grey) images -> [N, embedding_dim] features, on the evaluator's device."""
        self.net.eval()
        return torch.cat([self.net.embed(batch) for batch in self._batches(images)])

    def predict(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Predicted identity of every image, int64 [N]."""
        return self.logits(images).argmax(dim=1).cpu().numpy()

    def scores(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """The judge interface: float64 [N, classes] logits (higher = more like that person)."""
        return self.logits(images).double().cpu().numpy()

    def topk_hits(self, images: torch.Tensor | np.ndarray, labels: np.ndarray | torch.Tensor, k: int = 1) -> np.ndarray:
        """Per image, True when `labels` is among the evaluator's k most likely identities."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        logits = self.logits(images)
        labels_t = torch.as_tensor(labels, dtype=torch.int64).reshape(-1).to(logits.device)
        top = logits.topk(min(k, logits.shape[1]), dim=1).indices
        return (top == labels_t[:, None]).any(dim=1).cpu().numpy()

    def accuracy(self, dataset: FaceDataset) -> float:
        """Top-1 accuracy on a FaceDataset (images normalised as the target models see them)."""
        x, y = dataset.to_tensors()
        return float(self.topk_hits(x, y, k=1).mean())

    def state_dict(self) -> dict:
        """Everything needed to rebuild it: network config and weights, and the accuracies."""
        return {
            "config": dict(self.net.config),
            "weights": self.net.state_dict(),
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
        }

    @classmethod
    def from_state_dict(cls, state: dict, device: str | torch.device = "cpu") -> Evaluator:
        """Rebuild from `state_dict()`; ValueError for a state written by an older dpmi (no input shape)."""
        if "input_shape" not in state.get("config", {}):
            raise ValueError(
                "this evaluator was saved by an older dpmi (no input shape in its config): delete the "
                "file and train it again (dpmi.metrics.load_or_train_judges)"
            )
        net = EvaluatorNet(**state["config"])
        net.load_state_dict(state["weights"])
        net.to(device).eval()
        return cls(net, float(state["train_accuracy"]), float(state["test_accuracy"]))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `state_dict()` to `path` atomically (temp file in the same directory, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()
        state["weights"] = {k: v.detach().cpu() for k, v in state["weights"].items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Evaluator:
        """Read an evaluator written by `save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved evaluator at {path}: train one with train_evaluator() and save()")
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=True), device)


def augment_similarity(
    x: torch.Tensor, max_shift: int, max_scale: float, max_rotation: float, generator: torch.Generator
) -> torch.Tensor:
    """Augmentation for training the evaluator: per image, a random similarity transform (scale by
    1 + U(-max_scale, max_scale), rotate by U(-max_rotation, max_rotation) degrees, shift by an integer
    in -max_shift..max_shift pixels each way; bilinear, edges repeated) and a horizontal flip with
    probability 1/2, all drawn from `generator` (on x's device). Faces in a small collection vary by about
    this much in pose and framing, so the classifier learns the person rather than the framing."""
    batch, _, height, width = x.shape
    device, dtype = x.device, x.dtype
    scale = 1 + (torch.rand(batch, generator=generator, device=device) * 2 - 1).to(dtype) * max_scale
    angle = (torch.rand(batch, generator=generator, device=device) * 2 - 1).to(dtype) * max_rotation * math.pi / 180
    shifts = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator, device=device).to(dtype)
    theta = torch.zeros(batch, 2, 3, device=device, dtype=dtype)
    # affine_grid maps output to input coordinates: the inverse scale zooms in by `scale`.
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, 0, 2] = shifts[:, 0] * 2 / width  # one pixel is 2 / size in [-1, 1] coordinates
    theta[:, 1, 2] = shifts[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    flip = torch.rand(batch, generator=generator, device=device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def random_blur(x: torch.Tensor, max_sigma: float, probability: float, generator: torch.Generator) -> torch.Tensor:
    """With probability `probability` per image, a Gaussian blur of standard deviation U(0, max_sigma) pixels
    (separable, edges repeated), drawn from `generator` (on x's device); the other images are unchanged.

    Why: a person recognises a blurred face, a mean face or a smooth reconstruction from a face prior; a CNN
    trained on sharp images only does not (measured: 0.45 held-out accuracy at sigma 2 without this)."""
    if max_sigma <= 0 or probability <= 0:
        return x
    batch, channels, height, width = x.shape
    device, dtype = x.device, x.dtype
    sigma = torch.rand(batch, generator=generator, device=device).to(dtype) * max_sigma
    apply = torch.rand(batch, generator=generator, device=device) < probability
    sigma = torch.where(apply, sigma, torch.zeros_like(sigma))
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma.clamp_min(1e-3)[:, None]) ** 2)  # sigma 0: a delta
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    kernel = kernel.repeat_interleave(channels, dim=0)  # [B * C, taps], one kernel per image and channel
    planes = x.reshape(1, batch * channels, height, width)
    planes = F.pad(planes, (radius, radius, 0, 0), mode="replicate")
    planes = F.conv2d(planes, kernel[:, None, None, :], groups=batch * channels)
    planes = F.pad(planes, (0, 0, radius, radius), mode="replicate")
    planes = F.conv2d(planes, kernel[:, None, :, None], groups=batch * channels)
    return planes.reshape(batch, channels, height, width)


@dataclass(frozen=True)
class EvaluatorRecipe:
    """How the evaluation classifier is trained (the defaults are the measured recipe: held-out accuracy
    >= 0.90 on 20 private AT&T identities x 7 training images, seeds 0-2).

    Attributes:
        epochs: passes over the training images (>= 1). batch_size: images per step (>= 1).
        lr: Adam learning rate (> 0), cosine-decayed to 0. weight_decay: Adam L2 (>= 0).
        max_shift: pixels of random shift each way (>= 0). max_scale: relative random zoom (0 <= s < 1).
        max_rotation: degrees of random rotation each way (>= 0).
        blur_probability: share of training images blurred (0..1); max_blur_sigma: their blur's largest
            standard deviation in pixels (>= 0). See `random_blur`.
        width, embedding_dim, dropout: network size (`EvaluatorNet`).
    """

    epochs: int = 120
    batch_size: int = 32
    lr: float = 1e-2
    weight_decay: float = 1e-4
    max_shift: int = 3
    max_scale: float = 0.1
    max_rotation: float = 10.0
    blur_probability: float = 0.5
    max_blur_sigma: float = 4.0
    width: int = 16
    embedding_dim: int = 128
    dropout: float = 0.0

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0 or self.weight_decay < 0 or self.max_shift < 0:
            raise ValueError(
                f"need lr > 0, weight_decay >= 0, max_shift >= 0; got {self.lr}, {self.weight_decay}, {self.max_shift}"
            )
        if not 0 <= self.blur_probability <= 1 or self.max_blur_sigma < 0:
            raise ValueError(
                f"need 0 <= blur_probability <= 1 and max_blur_sigma >= 0; got {self.blur_probability}, "
                f"{self.max_blur_sigma}"
            )
        if not 0 <= self.max_scale < 1 or self.max_rotation < 0:
            raise ValueError(
                f"need 0 <= max_scale < 1 and max_rotation >= 0; got {self.max_scale}, {self.max_rotation}"
            )
        if self.width < 4 or self.embedding_dim < 1 or not 0 <= self.dropout < 1:
            raise ValueError(
                f"width must be >= 4, embedding_dim >= 1, dropout in "
                f"[0, 1); got {self.width}, {self.embedding_dim}, {self.dropout}"
            )

    def as_dict(self) -> dict:
        return asdict(self)


def train_evaluator(
    train: FaceDataset,
    seed: int = 0,
    *,
    test: FaceDataset | None = None,
    device: str | torch.device = "cpu",
    num_threads: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
    **recipe: Any,
) -> Evaluator:
    """Train the evaluation classifier non-privately on `train` (the private training images).

    Args:
        train: the private training faces (any number of identities, channels and image size >= 16 px).
        seed: seeds the initial weights, the batch order and the augmentation (same seed, same weights on
            CPU).
        test: optional held-out faces; their accuracy is stored as `test_accuracy`.
        device: where to train.
        num_threads: torch CPU threads while training (restored after); 1 by default because this net's
            small convolutions gain little from more threads and slow down many-fold when the cores are
            shared (measured here: 12 s with 1 thread vs 75 s with 2 on a busy 2-core machine). None leaves
            torch's setting alone. Ignored off the CPU.
        progress: called as progress(epochs_done, epochs) after every epoch (e.g. a progress bar).
        recipe: fields of `EvaluatorRecipe` overriding its defaults (epochs, lr, max_shift, ...).
    """
    known = [f.name for f in fields(EvaluatorRecipe)]
    unknown = sorted(set(recipe) - set(known))
    if unknown:
        raise ValueError(f"train_evaluator takes no option {unknown}; recipe options are {', '.join(known)}")
    settings = EvaluatorRecipe(**recipe)
    settings.check()
    if len(train) == 0:
        raise ValueError("train is empty: pass the private training faces")
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    device = torch.device(device)
    previous_threads = torch.get_num_threads()
    if num_threads is not None and device.type == "cpu":
        torch.set_num_threads(num_threads)
    try:
        return _train(train, seed, test, settings, device, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    train: FaceDataset,
    seed: int,
    test: FaceDataset | None,
    recipe: EvaluatorRecipe,
    device: torch.device,
    progress: Callable[[int, int], None] | None,
) -> Evaluator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = EvaluatorNet(
            train.num_classes,
            train.input_shape,
            width=recipe.width,
            embedding_dim=recipe.embedding_dim,
            dropout=recipe.dropout,
        ).to(device)
    x, y = train.to_tensors(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = -(-len(x) // recipe.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs * steps_per_epoch)
    net.train()
    # Dropout draws from the global generator: fork it so training neither depends on nor moves it.
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(seed)
        for epoch in range(recipe.epochs):
            order = torch.randperm(len(x), generator=generator, device=device)
            for start in range(0, len(x), recipe.batch_size):
                index = order[start : start + recipe.batch_size]
                batch = augment_similarity(x[index], recipe.max_shift, recipe.max_scale, recipe.max_rotation, generator)
                batch = random_blur(batch, recipe.max_blur_sigma, recipe.blur_probability, generator)
                loss = F.cross_entropy(net(batch), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            if progress is not None:
                progress(epoch + 1, recipe.epochs)
    net.eval()
    evaluator = Evaluator(net)
    evaluator.train_accuracy = evaluator.accuracy(train)
    if test is not None and len(test):
        evaluator.test_accuracy = evaluator.accuracy(test)
    return evaluator


EVALUATOR_CACHE_KIND = "evaluator"
EVALUATOR_VERSION = 1  # bump when training would give another classifier for the same inputs


def load_or_train_evaluator(
    train: FaceDataset,
    test: FaceDataset | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    **recipe: Any,
) -> Evaluator:
    """The evaluation classifier, from dpmi's content cache (kind "evaluator") or trained on `train` and cached.
    Its own entry, so a change to another judge or the calibration does not retrain it. `test`: held-out private
    faces (its test accuracy); `recipe`: `EvaluatorRecipe` fields (part of the key); `log` is called before a
    (re)build, `progress(epochs_done, epochs)` while it trains."""
    from dpmi.cache import cached

    settings = EvaluatorRecipe(**recipe)
    settings.check()
    parts: dict[str, Any] = {
        "train_images": train.images,
        "train_labels": train.labels,
        "num_classes": int(train.num_classes),
        "seed": int(seed),
        "recipe": settings.as_dict(),
        "version": EVALUATOR_VERSION,
    }
    if test is not None:
        parts.update(test_images=test.images, test_labels=test.labels)

    def build() -> dict[str, Any]:
        if log is not None:
            log(
                f"training the evaluation classifier on {len(train)} private images of {train.num_classes} "
                "identities (once; cached for later runs) ..."
            )
        evaluator = train_evaluator(train, seed, test=test, device=device, progress=progress, **settings.as_dict())
        state = evaluator.state_dict()
        state["weights"] = {k: v.detach().cpu() for k, v in state["weights"].items()}
        return state

    payload, _ = cached(EVALUATOR_CACHE_KIND, parts, build, log=log)
    return Evaluator.from_state_dict(payload, device)


def _fit_judge(
    train: FaceDataset,
    test: FaceDataset | None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    recipe: dict | None = None,
) -> Evaluator:
    """The evaluation classifier as a judge: trained (or loaded from the content cache) on `train`; `progress`
    is called per epoch, `recipe` overrides `EvaluatorRecipe` fields."""
    return load_or_train_evaluator(train, test, seed, device, log, progress=progress, **(recipe or {}))


def _load_judge(state: dict, device: str | torch.device = "cpu") -> Evaluator:
    return Evaluator.from_state_dict(state, device)


JUDGE = JudgeSpec(
    label="evaluation classifier",
    family="a CNN trained on the same private images as the target (the field's usual evaluation model)",
    colour="#CC79A7",
    marker="o",
    fit=_fit_judge,
    load=_load_judge,
    test_key="evaluator_test_acc",
    reference="the evaluation model of GMI (Zhang et al. CVPR 2020) and PPA (Struppek et al. ICML 2022)",
)
