"""DP-SGD batches from a map-style `torch.utils.data.Dataset`: the training data never has to be one tensor.

The Poisson batches are drawn by the SAME `PoissonSampler` as the tensor path, in the main process, and
handed to a `DataLoader` as a batch sampler (one index list per step); the loader's workers read and
collate the examples (and pin them for a GPU). An empty draw comes through as `None` and still takes its
noise-only step, as Poisson sampling's accounting requires (Mironov, Talwar & Zhang 2019). Because the
draws happen in the same order from the same seeded generator, a dataset holding the same examples as the
tensors gives the same batches, hence the same model and the same epsilon, as the tensor path.

One loader iterator serves every `batches()` call until the planned steps are used up (workers start once,
not once per epoch); the loader may draw a few batches ahead (prefetch), which does not change which
examples each step sees. For checkpoints, `sampler_state` gives the sampler's position before the first
draw not yet consumed, so a resumed run draws exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, TensorDataset, default_collate

from dpmi.privacy.dpsgd.poisson_sampling import PoissonSampler


def is_map_dataset(data: object) -> bool:
    """True for a map-style Dataset that is not a TensorDataset (those keep the in-memory tensor path)."""
    return isinstance(data, Dataset) and not isinstance(data, (IterableDataset, TensorDataset))


class PoissonBatchSampler(Sampler[list[int]]):
    """`num_steps` index lists, each one Poisson draw of `sampler` (possibly empty), for a DataLoader.

    `before_draw(state)`, if given, receives the sampler's state_dict() just before each draw.
    """

    def __init__(
        self, sampler: PoissonSampler, num_steps: int, before_draw: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.sampler = sampler
        self.num_steps = int(num_steps)
        self.before_draw = before_draw

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.num_steps):
            if self.before_draw is not None:
                self.before_draw(self.sampler.state_dict())
            yield self.sampler.sample().tolist()

    def __len__(self) -> int:
        return self.num_steps


def collate_or_none(examples: list[Any]) -> Any:
    """default_collate, except that an empty batch becomes None (default_collate cannot stack nothing)."""
    return None if len(examples) == 0 else default_collate(examples)


class DatasetBatches:
    """Loads Poisson batches of a map-style dataset through a DataLoader.

    Args:
        dataset: map-style; `dataset[i]` is a tuple of tensors (or numbers), e.g. (image [C, H, W], label).
        num_workers: DataLoader worker processes (0: load in this process).
        pin_memory: pin batches in page-locked memory (for a CUDA model; copies are then asynchronous).
        prefetch_factor: batches each worker loads ahead (only with workers).
    """

    def __init__(
        self, dataset: Dataset, *, num_workers: int = 0, pin_memory: bool = False, prefetch_factor: int = 2
    ) -> None:
        if not hasattr(dataset, "__len__"):
            raise ValueError("data must be a map-style Dataset with __len__ (the number of examples)")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be >= 1, got {prefetch_factor}")
        self.dataset = dataset
        self.num_examples = len(dataset)
        if self.num_examples < 1:
            raise ValueError("the dataset is empty: DP-SGD needs at least one example")
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.prefetch_factor = int(prefetch_factor)
        self._stream: Iterator[Any] | None = None
        self._stream_left = 0
        self._unconsumed: deque[dict[str, Any]] = deque()  # sampler states before draws not yet consumed

    def __len__(self) -> int:
        return self.num_examples

    def _open_stream(self, sampler: PoissonSampler, count: int) -> None:
        options: dict[str, Any] = {}
        if self.num_workers > 0:
            options["prefetch_factor"] = self.prefetch_factor
        loader = DataLoader(
            self.dataset,
            batch_sampler=PoissonBatchSampler(sampler, count, self._unconsumed.append),
            collate_fn=collate_or_none,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            **options,
        )
        self._stream = iter(loader)
        self._stream_left = count

    def close(self) -> None:
        """Stop the loader's workers and forget draws made ahead (also happens once the planned steps are
        used up); the next `batches` call draws afresh from the sampler's current position."""
        self._stream = None
        self._stream_left = 0
        self._unconsumed.clear()

    def sampler_state(self, sampler: PoissonSampler) -> dict[str, Any]:
        """`sampler.state_dict()` as of the batches consumed so far (the loader may have drawn ahead)."""
        return self._unconsumed[0] if self._unconsumed else sampler.state_dict()

    def batches(
        self,
        sampler: PoissonSampler,
        num_steps: int,
        planned_left: int,
        device: torch.device,
        empty_step: Callable[[], object],
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield `num_steps` non-empty batches' tensors on `device`; call `empty_step()` for each empty draw.

        `planned_left` (steps still planned) sizes a new loader so its workers serve the following calls too.
        """
        produced = 0
        while produced < num_steps:
            if self._stream is None or self._stream_left == 0:
                self._open_stream(sampler, max(num_steps - produced, planned_left - produced))
            assert self._stream is not None
            batch = next(self._stream)
            self._unconsumed.popleft()
            self._stream_left -= 1
            produced += 1
            if self._stream_left == 0:
                self._stream = None  # all drawn: let the workers go now rather than at garbage collection
            if batch is None:
                empty_step()
                continue
            parts = batch if isinstance(batch, (list, tuple)) else (batch,)
            yield tuple(p.to(device, non_blocking=self.pin_memory) if isinstance(p, torch.Tensor) else p for p in parts)
