"""The evaluation classifier: an independent judge of whether a reconstruction shows its target.

GMI (Zhang et al. 2020), KEDMI (Chen et al. 2021) and PLG-MI (Yuan et al. 2023) score model inversion by the
accuracy of a second classifier, of a different architecture from the target and trained non-privately on
the private images, on the reconstructions. Ours is a small three-block CNN (the targets are softmax
regression, an MLP and a two-conv GroupNorm CNN), trained on per-image contrast-normalised faces with
small random shifts and horizontal flips, and its penultimate layer is the feature space of the KNN
distance.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.atomic_files import atomic_write_bytes
from dpmi.data import FaceDataset

_EPS = 1e-6


def contrast_normalize(x: torch.Tensor) -> torch.Tensor:
    """Per-image zero mean, unit standard deviation over its pixels; [B, C, H, W] -> same shape."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1).view(-1, *([1] * (x.ndim - 1)))
    std = flat.std(dim=1, unbiased=False).view(-1, *([1] * (x.ndim - 1)))
    return (x - mean) / (std + _EPS)


class EvaluatorNet(nn.Module):
    """Contrast normalisation -> 2x average pooling -> three (3x3 conv, GroupNorm, ReLU, pool) blocks of
    width w, 2w, 4w -> adaptive average pool to 4x3 -> Linear to `embedding_dim` + ReLU (the embedding) ->
    Linear to logits."""

    def __init__(self, num_classes: int = 40, width: int = 16, embedding_dim: int = 128,
                 in_channels: int = 1) -> None:
        super().__init__()
        self.config = dict(num_classes=num_classes, width=width, embedding_dim=embedding_dim,
                           in_channels=in_channels)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.ReLU()]

        self.features = nn.Sequential(
            nn.AvgPool2d(2),
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d((4, 3)),
            nn.Flatten(),
            nn.Linear(4 * width * 12, embedding_dim), nn.ReLU(),
        )
        self.head = nn.Linear(embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] images in any range -> [B, embedding_dim] features."""
        return self.features(contrast_normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def augment(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Light augmentation: a random integer shift of up to `max_shift` pixels each way (edges repeated)
    and a horizontal flip with probability 1/2, drawn per image from `generator` (on x's device)."""
    batch, _, height, width = x.shape
    if max_shift > 0:
        shifts = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator, device=x.device)
        theta = torch.zeros(batch, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = 1
        theta[:, 1, 1] = 1
        # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
        theta[:, 0, 2] = shifts[:, 0].to(x.dtype) * 2 / width
        theta[:, 1, 2] = shifts[:, 1].to(x.dtype) * 2 / height
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)
    flip = torch.rand(batch, generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


@dataclass
class Evaluator:
    """A trained evaluation classifier. Inputs are images [B, 1, H, W] in the target model's input range
    (any range works: every image is contrast-normalised first).

    Attributes:
        net: the network (eval mode).
        train_accuracy: top-1 accuracy on its training images, 0..1.
        test_accuracy: top-1 accuracy on the held-out images given to `train_evaluator`, or NaN.
    """

    net: EvaluatorNet
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def _batches(self, images: torch.Tensor | np.ndarray, batch_size: int = 256):
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size].to(self.device)

    @torch.no_grad()
    def logits(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """[N, 1, H, W] (or [N, H, W]) images -> [N, classes] logits, on the evaluator's device."""
        self.net.eval()
        return torch.cat([self.net(batch) for batch in self._batches(images)])

    @torch.no_grad()
    def embed(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """[N, 1, H, W] (or [N, H, W]) images -> [N, embedding_dim] features, on the evaluator's device."""
        self.net.eval()
        return torch.cat([self.net.embed(batch) for batch in self._batches(images)])

    def predict(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Predicted identity of every image, int64 [N]."""
        return self.logits(images).argmax(dim=1).cpu().numpy()

    def topk_hits(self, images: torch.Tensor | np.ndarray, labels: np.ndarray | torch.Tensor,
                  k: int = 1) -> np.ndarray:
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
        return {"config": dict(self.net.config), "weights": self.net.state_dict(),
                "train_accuracy": self.train_accuracy, "test_accuracy": self.test_accuracy}

    @classmethod
    def from_state_dict(cls, state: dict, device: str | torch.device = "cpu") -> "Evaluator":
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
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> "Evaluator":
        """Read an evaluator written by `save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved evaluator at {path}: train one with train_evaluator() and save()")
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=True), device)


def train_evaluator(
    train: FaceDataset,
    seed: int = 0,
    *,
    test: FaceDataset | None = None,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    max_shift: int = 3,
    width: int = 16,
    embedding_dim: int = 128,
    device: str | torch.device = "cpu",
    num_threads: int | None = 1,
) -> Evaluator:
    """Train the evaluation classifier non-privately on `train` (the private images).

    Args:
        train: the private training faces.
        seed: seeds the initial weights, the batch order and the augmentation (same seed, same weights on
            CPU).
        test: optional held-out faces; their accuracy is stored as `test_accuracy`.
        epochs: passes over `train` (>= 1). batch_size: images per step (>= 1). lr: Adam learning rate
            (> 0), decayed by a cosine schedule to 0. weight_decay: Adam L2 (>= 0). max_shift: pixels of
            random shift each way (>= 0). width, embedding_dim: network size (>= 4, >= 1).
        device: where to train.
        num_threads: torch CPU threads while training (restored after); 1 by default because this net's
            small convolutions gain little from more threads and slow down many-fold when the cores are
            shared (measured here: 12 s with 1 thread vs 75 s with 2 on a busy 2-core machine). None leaves
            torch's setting alone. Ignored off the CPU.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if not lr > 0 or weight_decay < 0 or max_shift < 0:
        raise ValueError(f"need lr > 0, weight_decay >= 0, max_shift >= 0; got {lr}, {weight_decay}, {max_shift}")
    if width < 4 or width % 4 or embedding_dim < 1:
        raise ValueError(f"width must be a multiple of 4 (GroupNorm groups), embedding_dim >= 1; got "
                         f"{width}, {embedding_dim}")
    if len(train) == 0:
        raise ValueError("train is empty: pass the private training faces")
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    device = torch.device(device)
    previous_threads = torch.get_num_threads()
    if num_threads is not None and device.type == "cpu":
        torch.set_num_threads(num_threads)
    try:
        return _train(train, seed, test, epochs, batch_size, lr, weight_decay, max_shift, width, embedding_dim,
                      device)
    finally:
        torch.set_num_threads(previous_threads)


def _train(train: FaceDataset, seed: int, test: FaceDataset | None, epochs: int, batch_size: int, lr: float,
           weight_decay: float, max_shift: int, width: int, embedding_dim: int,
           device: torch.device) -> Evaluator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = EvaluatorNet(train.num_classes, width=width, embedding_dim=embedding_dim).to(device)
    x, y = train.to_tensors(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator, device=device)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            batch = augment(x[index], max_shift, generator)
            loss = F.cross_entropy(net(batch), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    evaluator = Evaluator(net)
    evaluator.train_accuracy = evaluator.accuracy(train)
    if test is not None and len(test):
        evaluator.test_accuracy = evaluator.accuracy(test)
    return evaluator
