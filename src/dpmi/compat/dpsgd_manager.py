"""AIJack's `DPSGDManager`: DP-SGD in "lots" (Poisson-sampled, expected size `lot_size`) split into
micro-batches of `batch_size`, each micro-batch's gradient clipped as a whole (Abadi et al. 2016, Alg. 1
with micro-batches). The tutorial's loop runs unchanged:

    dp_optimizer_cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=sigma)
    optimizer = dp_optimizer_cls(net.parameters(), lr=0.05, momentum=0.9)
    for X_lot, y_lot in lot_loader(optimizer):
        for X_batch, y_batch in batch_loader(TensorDataset(X_lot, y_lot)):
            optimizer.zero_grad(); criterion(net(X_batch), y_batch).backward(); optimizer.step()

`optimizer.step()` clips the micro-batch gradient to `l2_norm_clip` and adds it to the lot's sum; after
the lot, the loader adds N(0, (sigma C)^2) noise per coordinate, scales by batch_size / lot_size, applies
the wrapped optimizer's real update and records one step at rate lot_size / N in the accountant.

Unlike AIJack, a lot that comes out empty is not skipped: its noise-only step is taken and recorded,
because the Poisson-subsampling analysis counts it (skipping would reveal that the lot was empty).
Clipping and noise share `dpmi.privacy.dpsgd`'s code. One step per lot is recorded, so after
`iterations` lots per loader call, `accountant.get_epsilon` equals the estimate for that many steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dpmi.privacy.dpsgd.clipping import clip_factors
from dpmi.privacy.dpsgd.noise import add_gaussian_noise_, derive_seeds, make_generator
from dpmi.privacy.dpsgd.poisson_sampling import PoissonSampler


def attach_dp_optimizer(
    optimizer_cls: type[torch.optim.Optimizer],
    accountant: Any,
    l2_norm_clip: float,
    noise_multiplier: float,
    lot_size: int,
    batch_size: int,
    dataset_size: int,
    noise_seed: int | None,
) -> type[torch.optim.Optimizer]:
    """A subclass of `optimizer_cls` whose `step` clips and accumulates a micro-batch gradient and whose
    `step_for_lot` privatises the lot's sum and applies the real update."""

    class DPOptimizer(optimizer_cls):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.accountant = accountant
            self.l2_norm_clip = float(l2_norm_clip)
            self.noise_multiplier = float(noise_multiplier)
            self.lot_size = lot_size
            self.batch_size = batch_size
            self._dp_params = [p for group in self.param_groups for p in group["params"] if p.requires_grad]
            self.accum_grads = [torch.zeros_like(p) for p in self._dp_params]
            self._noise_generator = (
                None
                if noise_seed is None or not self._dp_params
                else make_generator(noise_seed, self._dp_params[0].device)
            )

        def zero_grad_keep_accum_grads(self) -> None:
            super().zero_grad()

        def accumulate_grad(self) -> None:
            """Clip this micro-batch's gradient (L2 over all parameters) to l2_norm_clip; add it to the sum."""
            grads = [p.grad for p in self._dp_params]
            present = [g for g in grads if g is not None]
            if not present:
                return
            norm = torch.sqrt(sum(g.pow(2).sum() for g in present))
            factor = clip_factors(norm, self.l2_norm_clip)
            for acc, g in zip(self.accum_grads, grads):
                if g is not None:
                    acc.add_(g * factor)

        def step(self, closure: Callable[[], float] | None = None) -> None:
            if closure is not None:
                with torch.enable_grad():
                    closure()
            self.accumulate_grad()

        def zero_grad_for_lot(self) -> None:
            for acc in self.accum_grads:
                acc.zero_()

        def step_for_lot(self) -> None:
            """Noise the lot's clipped sum, scale by batch_size / lot_size, update, record one step."""
            noisy = [acc.clone() for acc in self.accum_grads]
            add_gaussian_noise_(noisy, self.noise_multiplier * self.l2_norm_clip, self._noise_generator)
            for p, g in zip(self._dp_params, noisy):
                p.grad = g.mul_(self.batch_size / self.lot_size)
            super().step()
            self.accountant.add_step_info({"sigma": self.noise_multiplier}, self.lot_size / dataset_size, 1)

    DPOptimizer.__name__ = f"DP{optimizer_cls.__name__}"
    DPOptimizer.__qualname__ = DPOptimizer.__name__
    return DPOptimizer


class DPSGDManager:
    """AIJack-compatible DP-SGD set-up.

    Args:
        accountant: records steps through `add_step_info({"sigma": s}, sampling_rate, num_steps)`
            (e.g. `dpmi.compat.GeneralMomentAccountant`).
        optimizer_cls: a torch optimizer class (e.g. torch.optim.SGD) to wrap.
        l2_norm_clip: clipping bound C > 0 for each micro-batch's gradient.
        dataset: indexable; `dataset[i]` -> (x, y) with x a tensor (or array) and y a label.
        lot_size: expected lot size, in 1..len(dataset) (Poisson rate lot_size / N).
        batch_size: micro-batch size, in 1..lot_size (AIJack drops a lot's last partial micro-batch).
        iterations: lots drawn per `lot_loader(...)` call, >= 1.
        seed: None (AIJack's behaviour) draws lots and noise from torch's global RNG, so runs repeat only if
            `torch.manual_seed` is set first; an int >= 0 seeds a lot sampler and a noise generator of their own.
    """

    def __init__(
        self,
        accountant: Any,
        optimizer_cls: type[torch.optim.Optimizer],
        l2_norm_clip: float,
        dataset: Dataset,
        lot_size: int,
        batch_size: int,
        iterations: int,
        seed: int | None = None,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if not (l2_norm_clip > 0 and math.isfinite(l2_norm_clip)):
            raise ValueError(f"l2_norm_clip must be a finite number > 0, got {l2_norm_clip}")
        if not 1 <= lot_size <= n:
            raise ValueError(f"lot_size must be in 1..{n} (the dataset size), got {lot_size}")
        if not 1 <= batch_size <= lot_size:
            raise ValueError(f"batch_size must be in 1..lot_size={lot_size}, got {batch_size}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0 or None, got {seed}")
        self.accountant = accountant
        self.optimizer_cls = optimizer_cls
        self.l2_norm_clip = l2_norm_clip
        self.dataset = dataset
        self.lot_size = lot_size
        self.batch_size = batch_size
        self.iterations = iterations
        self.seed = seed

    def privatize(
        self, noise_multiplier: float
    ) -> tuple[
        type[torch.optim.Optimizer],
        Callable[[torch.optim.Optimizer], Iterator[tuple[torch.Tensor, torch.Tensor]]],
        Callable[[Dataset], Iterator[tuple[torch.Tensor, ...]]],
    ]:
        """(dp_optimizer_cls, lot_loader, batch_loader) for noise multiplier sigma > 0."""
        if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
            raise ValueError(f"noise_multiplier must be a finite number > 0, got {noise_multiplier}")
        n = len(self.dataset)  # type: ignore[arg-type]
        rate = self.lot_size / n
        sampler_seed, noise_seed = derive_seeds(self.seed, 2) if self.seed is not None else (None, None)
        dp_optimizer_cls = attach_dp_optimizer(
            self.optimizer_cls,
            self.accountant,
            self.l2_norm_clip,
            noise_multiplier,
            self.lot_size,
            self.batch_size,
            n,
            noise_seed,
        )
        sampler = PoissonSampler(n, rate, seed=sampler_seed) if sampler_seed is not None else None
        dataset, iterations, batch_size = self.dataset, self.iterations, self.batch_size

        def sample_lot() -> np.ndarray:
            if sampler is not None:
                return sampler.sample()
            return torch.nonzero(torch.rand(n) < rate).flatten().numpy()  # global RNG, as AIJack

        def lot_loader(optimizer: torch.optim.Optimizer) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for _ in range(iterations):
                index = sample_lot()
                optimizer.zero_grad_for_lot()  # type: ignore[attr-defined]
                if index.size:
                    yield collate_lot(dataset, index)
                optimizer.step_for_lot()  # type: ignore[attr-defined]

        def batch_loader(lot: Dataset) -> Iterator[tuple[torch.Tensor, ...]]:
            if isinstance(lot, TensorDataset):
                tensors = lot.tensors
                for start in range(0, len(tensors[0]) - batch_size + 1, batch_size):
                    yield tuple(t[start : start + batch_size] for t in tensors)
            else:
                yield from DataLoader(lot, batch_size=batch_size, drop_last=True)

        return dp_optimizer_cls, lot_loader, batch_loader


def collate_lot(dataset: Dataset, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack dataset[i] = (x, y) for i in index into (X [k, ...] float, y [k])."""
    items = [dataset[int(i)] for i in index]
    xs = torch.stack([torch.as_tensor(x) for x, _ in items])
    if not xs.is_floating_point():
        xs = xs.float()
    ys = torch.as_tensor(np.asarray([np.asarray(y) for _, y in items]))
    return xs, ys
