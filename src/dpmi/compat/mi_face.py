"""AIJack's `MI_FACE` (aijack.attack.MI_FACE) under the same name and arguments, backed by
`dpmi.attacks.MIFace` (Fredrikson et al. 2015, Alg. 1).

Differences from AIJack, on purpose:
- `attack` returns the lowest-cost iterate, not the last one;
- the input gradient is computed afresh every iteration (AIJack's `x.grad` is never zeroed, so its steps
  follow the running sum of all past gradients);
- `apply_softmax=True` applies softmax over the classes before taking the target's probability (AIJack
  applies it to the one selected column, which always gives 1 and a zero gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dpmi.attacks.mi_face import MIFace


class MI_FACE:  # noqa: N801 - AIJack's name, kept for drop-in use
    """Model inversion of one label, AIJack-style.

    Args:
        target_model: the victim classifier.
        input_shape: the input's full shape including the batch, e.g. (1, 1, 112, 92); every batch row
            inverts `target_label`.
        target_label: the class to reconstruct.
        lam: the step size lambda (> 0).
        num_itr: gradient steps (alpha, >= 0); all are taken unless `patience` / `threshold` stop early.
        auxterm_func: AuxTerm(x), added to the cost; default 0.
        process_func: Process(x), applied after each step; default identity.
        apply_softmax: False (default, AIJack's) when the model already outputs probabilities, True when it
            outputs logits.
        round_decimal: AIJack rounds gradients to this many decimals; not supported (must be None).
        device: where the attack runs ("cpu", "cuda", ...).
        log_interval: print the cost every this many iterations; 0 = silent (AIJack's default is 1).
        patience, threshold: Alg. 1's beta and gamma (see `MIFace`); None (default) = fixed `num_itr`.
        clamp: (low, high) to clip every iterate to; None (default, as AIJack) = no clipping.
    """

    def __init__(
        self,
        target_model: nn.Module,
        input_shape: tuple[int, ...] = (1, 1, 64, 64),
        target_label: int = 0,
        lam: float = 0.01,
        num_itr: int = 100,
        auxterm_func: Callable[[torch.Tensor], torch.Tensor | float] = lambda x: 0,
        process_func: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
        apply_softmax: bool = False,
        round_decimal: int | None = None,
        device: str = "cpu",
        log_interval: int = 1,
        *,
        patience: int | None = None,
        threshold: float | None = None,
        clamp: tuple[float, float] | None = None,
    ) -> None:
        if round_decimal is not None:
            raise ValueError(
                f"round_decimal={round_decimal} is not supported: pass round_decimal=None (gradients are used "
                "at full precision)"
            )
        if len(input_shape) < 2 or input_shape[0] < 1:
            raise ValueError(f"input_shape must be (batch, C, H, W) with batch >= 1, got {input_shape}")
        if log_interval < 0:
            raise ValueError(f"log_interval must be >= 0 (0 = silent), got {log_interval}")
        self.target_model = target_model
        self.input_shape = tuple(int(s) for s in input_shape)
        self.target_label = int(target_label)
        self.lam = lam
        self.num_itr = num_itr
        self.auxterm_func = auxterm_func
        self.process_func = process_func
        self.apply_softmax = bool(apply_softmax)
        self.round_decimal = round_decimal
        self.device = device
        self.log_interval = int(log_interval)
        self.attacker = MIFace(
            target_model,
            max_iter=num_itr,
            patience=patience,
            threshold=threshold,
            step_size=lam,
            aux_term=self._aux_per_row,
            process=process_func,
            clamp=clamp,
            apply_softmax=self.apply_softmax,
            input_shape=(int(self.input_shape[1]), int(self.input_shape[2]), int(self.input_shape[3])),
            device=device,
        )

    def _aux_per_row(self, x: torch.Tensor) -> torch.Tensor:
        value = self.auxterm_func(x)
        value = torch.as_tensor(value, dtype=x.dtype, device=x.device) if not torch.is_tensor(value) else value
        return value.reshape(-1).expand(x.shape[0]) if value.numel() == 1 else value.reshape(x.shape[0])

    def attack(self, init_x: torch.Tensor | None = None) -> tuple[torch.Tensor, list[float]]:
        """Run the inversion from `init_x` (default zeros, shape `input_shape`).

        Returns:
            (best_img, log): best_img, a detached CPU float tensor of shape `input_shape`, the lowest-cost
            iterate; log, the costs c(x_0), ..., c(x_T) of row 0 as floats (T = steps taken).
        """
        batch = self.input_shape[0]
        result = self.attacker.invert([self.target_label] * batch, init=init_x)
        log = [float(c) for c in result.history(0)]
        if self.log_interval:
            for i in range(0, len(log), self.log_interval):
                print(f"epoch {i}: {log[i]}")
        return result.images.detach().cpu(), log
