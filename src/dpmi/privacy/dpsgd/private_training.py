"""DP-SGD (Abadi et al. 2016, Alg. 1) around a model and a torch optimizer, Opacus-style:

    private = make_private(model, optimizer, (x, y), noise_multiplier=1.0, max_grad_norm=1.0,
                           expected_batch_size=40, epochs=30, seed=0)
    for xb, yb in private.batches():
        private.step(F.cross_entropy(model(xb), yb, reduction="none"))
    private.epsilon(1e-5)

Each step: a Poisson-sampled batch (rate q), per-example gradients clipped to C and summed (`clipping`),
N(0, (sigma C)^2) noise added once per coordinate, the result divided by the EXPECTED batch size q N (the
noisy sum's sensitivity is C whatever the realised size; the realised size depends on who is in the batch,
so dividing by it would need accounting of its own), and the optimizer's own update applied. Every step actually taken, empty batches included, is recorded in the
accountant.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from dpmi.privacy.accounting.base import Accountant
from dpmi.privacy.accounting.steps import dpsgd_steps
from dpmi.privacy.dpsgd.clipping import ClippedGradients, GradientCapture
from dpmi.privacy.dpsgd.dataset_batches import DatasetBatches, is_map_dataset
from dpmi.privacy.dpsgd.noise import (
    SecureGaussianNoise,
    SecureUniformSource,
    derive_seeds,
    fill_gaussian_noise_,
    make_generator,
)
from dpmi.privacy.dpsgd.poisson_sampling import PoissonSampler


class PrivateTraining:
    """A model, its optimizer and its data bound into DP-SGD steps. Build it with `make_private`.

    Attributes:
        noise_multiplier: sigma >= 0 (noise std is sigma * max_grad_norm per coordinate of the sum).
        max_grad_norm: clipping bound C > 0 (L2, over all trainable parameters together).
        sample_rate: Poisson inclusion probability q in (0, 1].
        expected_batch_size: q * N, the divisor of the noisy sum.
        steps: number of steps planned (what a target epsilon was calibrated for).
        steps_taken: steps performed so far (each one is recorded in `accountant`, unless sigma is 0:
            then there is no finite epsilon and `epsilon()` returns inf).
        accountant: the privacy accountant holding every step taken.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        tensors: tuple[torch.Tensor, ...] | DatasetBatches,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        sample_rate: float,
        steps: int,
        accountant: Accountant,
        delta: float,
        seed: int | None,
        secure_mode: bool = False,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        # A map-style Dataset is loaded batch by batch through a DataLoader (`dataset_batches`).
        self.dataset_batches = tensors if isinstance(tensors, DatasetBatches) else None
        self.tensors: tuple[torch.Tensor, ...] = () if isinstance(tensors, DatasetBatches) else tensors
        self.num_examples = len(tensors) if isinstance(tensors, DatasetBatches) else int(tensors[0].shape[0])
        self.noise_multiplier = float(noise_multiplier)
        self.max_grad_norm = float(max_grad_norm)
        self.sample_rate = float(sample_rate)
        self.expected_batch_size = self.sample_rate * self.num_examples
        self.steps = int(steps)
        self.delta = float(delta)
        self.accountant = accountant
        self.steps_taken = 0
        self.capture = GradientCapture(model)
        if not self.capture.parameters:
            raise ValueError("the model has no parameters with requires_grad=True: nothing to train")
        device = self.capture.parameters[0].device
        sampler_seed, noise_seed = derive_seeds(seed, 2)
        self.sampler = PoissonSampler(self.num_examples, self.sample_rate, seed=sampler_seed)
        # secure_mode: noise and batches from the OS CSPRNG, never from `seed` (noise.SecureGaussianNoise).
        self.secure_mode = bool(secure_mode)
        self.noise_generator = None if self.secure_mode else make_generator(noise_seed, device)
        self.secure_noise = SecureGaussianNoise() if self.secure_mode else None
        if self.secure_mode:
            self.sampler.rng = SecureUniformSource()

    def batches(self, num_steps: int | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield Poisson-sampled batches (tuples of the data tensors) for `num_steps` steps (default: the
        steps still planned). Call `step` once per yielded batch. A batch that comes out empty is not
        yielded: its step (noise only) is taken here, because Poisson sampling's guarantee counts it.
        """
        if num_steps is None:
            num_steps = max(0, self.steps - self.steps_taken)
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        if self.dataset_batches is not None:
            yield from self.dataset_batches.batches(
                self.sampler,
                num_steps,
                max(0, self.steps - self.steps_taken),
                self.capture.parameters[0].device,
                lambda: self.step(None),
            )
            return
        for _ in range(num_steps):
            index = self.sampler.sample()
            if index.size == 0:
                self.step(None)
                continue
            index_t = torch.from_numpy(index).to(self.tensors[0].device)
            yield tuple(t.index_select(0, index_t) for t in self.tensors)

    def step(self, per_example_loss: torch.Tensor | None) -> ClippedGradients | None:
        """One private step from the per-example losses [n] of the last forward pass (reduction="none").

        `None` (or an empty tensor) takes the step of an empty batch: noise only. Returns the clipping
        result (per-example norms, clip factors), or None for an empty batch.
        """
        params = self.capture.parameters
        scale = 1.0 / self.expected_batch_size  # applied to the clip factors and the noise std
        # The noise is drawn straight into the gradient buffers and the clipped sum added onto it, so no
        # parameter-sized temporary is made (p.grad is reused, as autograd's accumulation would).
        grads = [p.grad if p.grad is not None and p.grad.shape == p.shape else torch.empty_like(p) for p in params]
        std = self.noise_multiplier * self.max_grad_norm * scale
        if self.secure_noise is not None:
            self.secure_noise.fill_(grads, std)
        else:
            fill_gaussian_noise_(grads, std, self.noise_generator)
        if per_example_loss is None or per_example_loss.numel() == 0:
            self.capture.clear()
            clipped = None
        else:
            clipped = self.capture.clipped_gradient_sum(per_example_loss, self.max_grad_norm, scale=scale, out=grads)
        for p, g in zip(params, grads):
            p.grad = g
        self.optimizer.step()
        if self.noise_multiplier > 0:  # sigma = 0 has no finite epsilon: nothing for the accountant to add
            self.accountant.step(self.noise_multiplier, self.sample_rate, 1)
        self.steps_taken += 1
        return clipped

    def epsilon(self, delta: float | None = None) -> float:
        """Epsilon of all steps taken so far at `delta` (default: the delta given to make_private);
        infinite when the noise multiplier is 0 and a step was taken."""
        if self.noise_multiplier == 0 and self.steps_taken:
            return math.inf
        return float(self.accountant.get_epsilon(self.delta if delta is None else delta))

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs besides the model's and optimizer's own state dicts: steps taken, the sampler's and
        the noise generator's positions, the accountant's history (secure mode keeps no random state: a resumed
        secure run continues with fresh OS randomness). Tensors, numbers and strings only (weights_only-safe)."""
        return {
            "steps_taken": self.steps_taken,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "max_grad_norm": self.max_grad_norm,
            "steps": self.steps,
            "secure_mode": self.secure_mode,
            "sampler": (
                self.dataset_batches.sampler_state(self.sampler)
                if self.dataset_batches is not None
                else self.sampler.state_dict()
            ),
            "noise_generator": None if self.noise_generator is None else self.noise_generator.get_state(),
            "accountant": self.accountant.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a run saved by `state_dict()`; the settings (sigma, q, C, steps) must be the same."""
        for key in ("noise_multiplier", "sample_rate", "max_grad_norm", "steps", "secure_mode"):
            if state.get(key) != getattr(self, key):
                raise ValueError(
                    f"checkpoint {key} is {state.get(key)!r} but this run has {getattr(self, key)!r}: "
                    "resume with the settings the checkpoint was made with"
                )
        if self.dataset_batches is not None:
            self.dataset_batches.close()  # batches drawn ahead came from the position being replaced
        self.sampler.load_state_dict(state["sampler"])
        if self.noise_generator is not None and state["noise_generator"] is not None:
            self.noise_generator.set_state(state["noise_generator"])
        self.accountant.load_state_dict(state["accountant"])
        self.steps_taken = int(state["steps_taken"])

    def detach(self) -> None:
        """Remove the forward hooks from the model (the model is then an ordinary module again)."""
        self.capture.remove()


def _as_tensors(data: object) -> tuple[torch.Tensor, ...]:
    tensors = getattr(data, "tensors", data)  # torch.utils.data.TensorDataset keeps them in .tensors
    if isinstance(tensors, torch.Tensor):
        tensors = (tensors,)
    if not isinstance(tensors, Sequence) or not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("data must be a tuple of tensors (e.g. (x, y)), a TensorDataset or a map-style torch Dataset")
    n = tensors[0].shape[0] if tensors[0].dim() else 0
    if n < 1 or any(t.dim() == 0 or t.shape[0] != n for t in tensors):
        raise ValueError(
            f"data tensors must share a first (example) dimension of size >= 1, got shapes "
            f"{[tuple(t.shape) for t in tensors]}"
        )
    return tuple(tensors)


def make_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: object,
    *,
    max_grad_norm: float,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float = 1e-5,
    expected_batch_size: float | None = None,
    sample_rate: float | None = None,
    epochs: float | None = None,
    steps: int | None = None,
    accountant: str | Accountant = "rdp",
    seed: int | None = None,
    secure_mode: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> PrivateTraining:
    """Bind `model`, `optimizer` (built on the model's parameters) and `data` into DP-SGD.

    Args:
        data: (x, y, ...) tensors sharing their first dimension N, or a TensorDataset; or any map-style
            torch Dataset (N = len(data), `data[i]` a tuple such as (image, label)), whose Poisson batches are
            loaded through a DataLoader (`dataset_batches`): the same batches as tensors holding the same
            examples, for the same seed.
        num_workers, pin_memory: the DataLoader's, for a map-style Dataset (ignored for tensors).
        max_grad_norm: per-example clipping bound C > 0.
        noise_multiplier: sigma >= 0; or give `target_epsilon` > 0 instead (exactly one of the two) and
            sigma is the smallest the accountant finds meeting it for the planned steps at `delta`.
        delta: target delta in (0, 1).
        expected_batch_size: q * N in (0, N]; or `sample_rate` q in (0, 1] (exactly one).
        epochs: planned passes over the data (> 0; steps = ceil(epochs / q), `dpsgd_steps`); or `steps` >= 1
            (exactly one).
        accountant: "rdp", "pld", or an object with the Accountant protocol.
        seed: >= 0 seeds the batch sampler and (separately) the noise generator; None draws fresh entropy.
        secure_mode: True for a model to release: the noise (and the Poisson batches) come from the operating
            system's CSPRNG, never from `seed`, through a sampler guarded against floating-point attacks
            (`noise.SecureGaussianNoise`); the run is then not reproducible. False (default): seeded.
    """
    tensors: tuple[torch.Tensor, ...] | DatasetBatches
    if is_map_dataset(data):
        tensors = DatasetBatches(data, num_workers=num_workers, pin_memory=pin_memory)  # type: ignore[arg-type]
    else:
        tensors = _as_tensors(data)
    n = len(tensors) if isinstance(tensors, DatasetBatches) else int(tensors[0].shape[0])
    if not (max_grad_norm > 0 and math.isfinite(max_grad_norm)):
        raise ValueError(f"max_grad_norm must be a finite number > 0, got {max_grad_norm}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if (expected_batch_size is None) == (sample_rate is None):
        raise ValueError("give exactly one of expected_batch_size (in (0, N]) and sample_rate (in (0, 1])")
    if expected_batch_size is not None:
        if not 0 < expected_batch_size <= n:
            raise ValueError(f"expected_batch_size must be in (0, {n}] (the dataset size), got {expected_batch_size}")
        sample_rate = expected_batch_size / n
    assert sample_rate is not None
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs (> 0) and steps (>= 1)")
    if epochs is not None:
        steps = dpsgd_steps(epochs, sample_rate)
    assert steps is not None
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError("give exactly one of noise_multiplier (>= 0) and target_epsilon (> 0)")
    if isinstance(accountant, str):
        from dpmi.privacy.accounting import make_accountant

        accountant_name = accountant
        accountant_obj: Accountant = make_accountant(accountant)
    else:
        accountant_name = None
        accountant_obj = accountant
    if target_epsilon is not None:
        if not target_epsilon > 0:
            raise ValueError(f"target_epsilon must be > 0, got {target_epsilon}")
        if accountant_name is None:
            raise ValueError("target_epsilon needs accountant given by name ('rdp' or 'pld') to calibrate sigma")
        from dpmi.privacy.accounting import get_noise_multiplier

        noise_multiplier = get_noise_multiplier(target_epsilon, delta, sample_rate, steps, accountant=accountant_name)
    assert noise_multiplier is not None
    if not (noise_multiplier >= 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"noise_multiplier must be a finite number >= 0, got {noise_multiplier}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0 or None, got {seed}")
    return PrivateTraining(
        model,
        optimizer,
        tensors,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        sample_rate=sample_rate,
        steps=steps,
        accountant=accountant_obj,
        delta=delta,
        seed=seed,
        secure_mode=secure_mode,
    )
