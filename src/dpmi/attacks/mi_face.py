"""MI-FACE: model inversion by gradient descent on the target's confidence (Fredrikson, Jha & Ristenpart,
"Model Inversion Attacks that Exploit Confidence Information", CCS 2015, Algorithm 1), batched over labels.

Algorithm 1, for one label:

    c(x) = 1 - f_label(x) + AuxTerm(x)         (cost="one-minus-p"; cost="log-p": -log f_label(x) + AuxTerm(x))
    x_0 = 0
    for i = 1 .. alpha:
        x_i = Process(x_{i-1} - lambda * grad c(x_{i-1}))
        if c(x_i) >= max(c(x_{i-1}), ..., c(x_{i-beta})): break      # no progress in a window of beta
        if c(x_i) <= gamma: break                                       # good enough
    return argmin_i c(x_i), min_i c(x_i)

`MIFace.invert` runs this for K labels at once: one forward and one backward pass per iteration over the
rows still running; every row keeps its own best iterate and stops on its own rule. Where Alg. 1 leaves
details open: both rules look at x_i for i >= 1; the window rule applies once beta earlier costs exist
(i >= beta, counting c(x_0)); the argmin ranges over x_0 .. x_T. Rows are independent because the model is
run in eval mode (BatchNorm uses its running statistics, dropout is off).

The cost 1 - p has gradient p * grad log p, which vanishes where the target's probability p of the label is ~0
at the start (a model whose logit for the blank image is far below its top one): such rows never leave x_0.
cost="log-p" (the negative log-probability, computed from log-softmax) has the gradient grad log p there
too; without an AuxTerm it orders iterates exactly as 1 - p does (so the argmin and the window rule see the
same iterates), only the steps differ. Every result flags the rows that never left x_0 or are flat
(`InversionResult.no_reconstruction`, `dpmi.attacks.no_reconstruction.no_reconstruction_mask`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dpmi.attacks.no_reconstruction import HALF_GREY_LEVEL, no_reconstruction_mask
from dpmi.attacks.result import InversionResult

AuxTerm = Callable[[torch.Tensor], torch.Tensor]
Process = Callable[[torch.Tensor], torch.Tensor]

# A model "outputs probabilities" when every output is in [0, 1] and every row sums to 1 within this.
_PROBABILITY_SUM_TOLERANCE = 1e-3

# The costs MIFace can descend: Fredrikson et al.'s 1 - p (Alg. 1, the AIJack tutorial's) and -log p.
COSTS = ("one-minus-p", "log-p")


def cost_threshold(gamma: float, cost: str) -> float:
    """Alg. 1's gamma on c for a rule read as "stop once 1 - p <= gamma" (p the target's confidence), for
    `cost`: gamma itself for "one-minus-p", -log(1 - gamma) for "log-p" (c <= that iff p >= 1 - gamma, without
    an AuxTerm). gamma in (0, 1)."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    if not 0 < gamma < 1:
        raise ValueError(f"gamma read as 1 - confidence must be in (0, 1), got {gamma}")
    return float(gamma) if cost == "one-minus-p" else float(-np.log1p(-gamma))


def outputs_probabilities(outputs: torch.Tensor) -> bool:
    """True when `outputs` [B, classes] look like softmax probabilities: all in [0, 1] and each row summing
    to 1 (within 1e-3). MIFace uses this to decide `apply_softmax` when it is left as None."""
    if outputs.ndim != 2:
        return False
    in_unit = bool(((outputs >= 0) & (outputs <= 1)).all())
    sums_to_one = bool(((outputs.sum(dim=1) - 1).abs() <= _PROBABILITY_SUM_TOLERANCE).all())
    return in_unit and sums_to_one


class MIFace:
    """Batched MI-FACE (Fredrikson et al. 2015, Alg. 1) against a classifier.

    Args:
        model: the target classifier, mapping [B, C, H, W] to [B, classes] logits or probabilities. It is
            put in eval mode during `invert` (its train/eval mode is restored after) and its parameters'
            `.grad` are never touched: only the input gradient is computed, afresh every iteration.
        max_iter: alpha, the most gradient steps per row, >= 0.
        patience: beta, the window of the no-progress rule: row stops at step i >= beta when
            c(x_i) >= max(c(x_{i-1}), ..., c(x_{i-beta})). None turns the rule off. >= 1.
        threshold: gamma, a row stops at step i >= 1 once c(x_i) <= gamma (on c: with cost="log-p" use
            `cost_threshold` to turn "1 - confidence <= gamma" into c units). None turns the rule off.
            Note what gamma means here: without an AuxTerm, c = 1 - confidence, so gamma = 0.01 means "stop
            at 99% confidence". A 40-class model starts near confidence 1/40 (c ~ 0.975), so the paper's
            literal gamma = 0.99 (c <= 0.99, i.e. confidence >= 1%) would stop a 40-identity attack after
            its first step; `MIFace.paper` therefore reads the paper's 0.99 as a confidence and uses
            gamma = 1 - 0.99 = 0.01.
        step_size: lambda, the gradient step, > 0 (in input units per unit of cost gradient).
        aux_term: AuxTerm(x) added to the cost; a callable mapping [B, C, H, W] to a [B] tensor (or a
            scalar, broadcast), differentiable. E.g. `dpmi.attacks.TotalVariation(weight)`. None = 0.
        process: Process(x) applied after every step; a callable mapping [B, C, H, W] to the same shape
            (no gradient flows through it). E.g. `dpmi.attacks.DenoiseSharpen()`. None = identity.
        process_every: apply Process after every n-th step only (n >= 1; 1 = Alg. 1). DenoiseSharpen runs
            per image on the CPU (~1.3 s for 40 faces here), so e.g. 10 keeps a 300-step attack practical.
        clamp: (low, high) the model's input range; every iterate is clipped to it after Process. The
            faces are normalised to [-1, 1] (`dpmi.data.normalize_images`). None = no clipping.
        apply_softmax: True when the model outputs logits (softmax is applied over classes before taking
            f_label), False when it already outputs probabilities (the tutorial's `Net`). None (default)
            decides from the model's outputs at the start point x_0 of each `invert`: probabilities if all
            are in [0, 1] and every row sums to 1 (within 1e-3), else logits.
        input_shape: (C, H, W) of one input, used for the default start x_0 = 0. Default: the faces.
        device: where the attack runs; default the device of the model's first parameter (else CPU).
        cost: "one-minus-p" (default: c = 1 - p + AuxTerm, Alg. 1 and the AIJack tutorial) or "log-p"
            (c = -log p + AuxTerm: gradient also where p is ~0 at the start; see the module docstring).
        no_reconstruction_tol: a row is flagged as no reconstruction when its returned image is within this
            fraction of the `clamp` range (else of [-1, 1]) of the start everywhere, or flat
            (`no_reconstruction_mask`); default half an 8-bit grey level.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        max_iter: int = 100,
        patience: int | None = None,
        threshold: float | None = None,
        step_size: float = 0.03,
        aux_term: AuxTerm | None = None,
        process: Process | None = None,
        process_every: int = 1,
        clamp: tuple[float, float] | None = (-1.0, 1.0),
        apply_softmax: bool | None = None,
        input_shape: tuple[int, int, int] = (1, 112, 92),
        device: str | torch.device | None = None,
        cost: str = "one-minus-p",
        no_reconstruction_tol: float = HALF_GREY_LEVEL,
    ) -> None:
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
        if not (np.isfinite(no_reconstruction_tol) and no_reconstruction_tol >= 0):
            raise ValueError(f"no_reconstruction_tol must be a finite number >= 0, got {no_reconstruction_tol}")
        if int(max_iter) != max_iter or max_iter < 0:
            raise ValueError(f"max_iter (alpha) must be an integer >= 0, got {max_iter}")
        if patience is not None and (int(patience) != patience or patience < 1):
            raise ValueError(f"patience (beta) must be an integer >= 1 or None, got {patience}")
        if not (np.isfinite(step_size) and step_size > 0):
            raise ValueError(f"step_size (lambda) must be a finite number > 0, got {step_size}")
        if threshold is not None and not np.isfinite(threshold):
            raise ValueError(f"threshold (gamma) must be a finite number or None, got {threshold}")
        if clamp is not None:
            low, high = clamp
            if not low < high:
                raise ValueError(f"clamp must be (low, high) with low < high, got {clamp}")
        if int(process_every) != process_every or process_every < 1:
            raise ValueError(f"process_every must be an integer >= 1, got {process_every}")
        if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
            raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {input_shape}")
        self.model = model
        self.max_iter = int(max_iter)
        self.patience = None if patience is None else int(patience)
        self.threshold = None if threshold is None else float(threshold)
        self.step_size = float(step_size)
        self.aux_term = aux_term
        self.process = process
        self.process_every = int(process_every)
        self.clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        self.apply_softmax = apply_softmax
        self.input_shape = tuple(int(s) for s in input_shape)
        self.cost = cost
        self.no_reconstruction_tol = float(no_reconstruction_tol)
        if device is None:
            first = next(iter(model.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        self.device = torch.device(device)

    @classmethod
    def tutorial(cls, model: nn.Module, **overrides) -> MIFace:
        """The AIJack tutorial's settings: 100 steps of lambda = 0.03, no early stopping (but the lowest-cost
        iterate is returned, not the last)."""
        settings: dict[str, Any] = dict(max_iter=100, patience=None, threshold=None, step_size=0.03)
        settings.update(overrides)
        return cls(model, **settings)

    @classmethod
    def paper(cls, model: nn.Module, **overrides) -> MIFace:
        """Fredrikson et al. (2015) settings for faces: alpha = 5000, beta = 100, lambda = 0.1 and the
        paper's gamma = 0.99 read as a confidence, i.e. stop at c <= 0.01 (see the class docstring)."""
        settings: dict[str, Any] = dict(max_iter=5000, patience=100, threshold=0.01, step_size=0.1)
        settings.update(overrides)
        return cls(model, **settings)

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.model(x)
        if outputs.ndim != 2:
            raise ValueError(f"the model must output [batch, classes], got shape {tuple(outputs.shape)}")
        return outputs

    def _target_confidence(self, x: torch.Tensor, labels: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        outputs = self._outputs(x)
        probabilities = outputs.softmax(dim=1) if apply_softmax else outputs
        return probabilities.gather(1, labels.unsqueeze(1)).squeeze(1)

    def _target_log_confidence(self, x: torch.Tensor, labels: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        outputs = self._outputs(x)
        if apply_softmax:
            log_probabilities = outputs.log_softmax(dim=1)
        else:  # a model that outputs probabilities: a p that underflowed to 0 has no gradient to give
            log_probabilities = outputs.clamp_min(torch.finfo(outputs.dtype).tiny).log()
        return log_probabilities.gather(1, labels.unsqueeze(1)).squeeze(1)

    def _cost(self, x: torch.Tensor, labels: torch.Tensor, apply_softmax: bool) -> torch.Tensor:
        if self.cost == "log-p":
            cost = -self._target_log_confidence(x, labels, apply_softmax)
        else:
            cost = 1.0 - self._target_confidence(x, labels, apply_softmax)
        if self.aux_term is not None:
            cost = cost + torch.as_tensor(self.aux_term(x), dtype=cost.dtype, device=cost.device)
        return cost

    def _start(self, count: int, init: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        shape = (count, *self.input_shape)
        if init is None:
            return torch.zeros(shape, device=self.device)
        start = torch.as_tensor(init, dtype=torch.float32).to(self.device)
        if start.shape == self.input_shape:
            start = start.unsqueeze(0)
        if start.shape[1:] != self.input_shape or start.shape[0] not in (1, count):
            raise ValueError(
                f"init must have shape {self.input_shape}, (1, *{self.input_shape}) or ({count}, "
                f"*{self.input_shape}), got {tuple(start.shape)}"
            )
        start = start.expand(shape).clone()
        return start if self.clamp is None else start.clamp(*self.clamp)

    def _labels(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        label_tensor = torch.as_tensor(labels, dtype=torch.int64).reshape(-1).to(self.device)
        if label_tensor.numel() == 0:
            raise ValueError("labels is empty: pass at least one class index to invert")
        return label_tensor

    def invert(
        self,
        labels: int | Sequence[int] | np.ndarray | torch.Tensor,
        init: torch.Tensor | np.ndarray | None = None,
    ) -> InversionResult:
        """Invert every label in `labels` in one batch (row k reconstructs class `labels[k]`).

        Args:
            labels: class indices, 0..classes-1 (repeats allowed).
            init: start x_0: (C, H, W) or [1 or K, C, H, W] in the model's input range; default zeros.

        Returns:
            An `InversionResult` with the lowest-cost iterate of every row. Deterministic given `init`.
        """
        label_tensor = self._labels(labels)
        count = int(label_tensor.shape[0])
        was_training = self.model.training
        self.model.eval()
        try:
            return self._run(label_tensor, self._start(count, init))
        finally:
            self.model.train(was_training)

    def _run(self, labels: torch.Tensor, start: torch.Tensor) -> InversionResult:
        count = int(labels.shape[0])
        with torch.no_grad():
            start_outputs = self.model(start[:1])
        classes = int(start_outputs.shape[-1])
        if int(labels.min()) < 0 or int(labels.max()) >= classes:
            raise ValueError(
                f"labels must be in 0..{classes - 1} (the model has {classes} classes), got "
                f"{labels.min().item()}..{labels.max().item()}"
            )
        apply_softmax = self.apply_softmax
        if apply_softmax is None:
            apply_softmax = not outputs_probabilities(start_outputs)

        history = torch.full((count, self.max_iter + 1), float("nan"), device=self.device)
        iterations = torch.zeros(count, dtype=torch.int64, device=self.device)
        reasons = np.full(count, "max_iter", dtype=object)
        best_images = torch.empty_like(start)
        best_costs = torch.empty(count, device=self.device)

        # State of the rows still running, compacted: `rows` maps them back to the output. The best iterate
        # is copied out only when a row's cost stops improving (until then it is the current or previous
        # iterate), which keeps the hot loop at one forward/backward plus one update per iteration.
        rows = torch.arange(count, device=self.device)
        x = start
        previous_x = start
        row_labels = labels
        saved_best_x = start.clone()
        row_best_cost = torch.full((count,), float("inf"), device=self.device)
        row_best_step = torch.full((count,), -1, dtype=torch.int64, device=self.device)

        for step in range(self.max_iter + 1):
            last = step == self.max_iter
            with torch.set_grad_enabled(not last):
                x = x.detach().requires_grad_(not last)
                cost = self._cost(x, row_labels, apply_softmax)
                # The gradient of the sum is every row's own gradient (rows do not interact in eval mode),
                # and autograd.grad returns it fresh: nothing accumulates across iterations.
                gradient = None if last else torch.autograd.grad(cost.sum(), x)[0]
            cost = cost.detach()
            x = x.detach()
            history[rows, step] = cost
            improved = cost < row_best_cost
            lost = ~improved & (row_best_step == step - 1)
            if step >= 1 and bool(lost.any()):
                saved_best_x = torch.where(lost.view(-1, *([1] * (x.ndim - 1))), previous_x, saved_best_x)
            row_best_cost = torch.where(improved, cost, row_best_cost)
            row_best_step = torch.where(improved, torch.full_like(row_best_step, step), row_best_step)

            # Stopping rules of Alg. 1, checked on x_i for i >= 1 (the window one once beta costs exist).
            never = torch.zeros_like(improved)
            reached = cost <= self.threshold if (self.threshold is not None and step >= 1) else never
            stalled = never
            if self.patience is not None and step >= self.patience:
                window = history[rows, step - self.patience : step]
                stalled = cost >= window.max(dim=1).values
            stop = torch.ones_like(improved) if last else reached | stalled

            if bool(stop.any()):
                done = rows[stop]
                iterations[done] = step
                current_is_best = (row_best_step[stop] == step).view(-1, *([1] * (x.ndim - 1)))
                best_images[done] = torch.where(current_is_best, x[stop], saved_best_x[stop])
                best_costs[done] = row_best_cost[stop]
                reasons[rows[stop & stalled].cpu().numpy()] = "patience"
                reasons[rows[stop & reached].cpu().numpy()] = "threshold"
                keep = ~stop
                if not bool(keep.any()):
                    break
                # Only the last step has no gradient, and there every row stops (the break above).
                assert gradient is not None
                rows, x, gradient, row_labels = rows[keep], x[keep], gradient[keep], row_labels[keep]
                saved_best_x, row_best_cost, row_best_step = (
                    saved_best_x[keep],
                    row_best_cost[keep],
                    row_best_step[keep],
                )

            assert gradient is not None  # as above: the last step never gets here
            previous_x = x
            x = torch.add(x, gradient, alpha=-self.step_size)
            if self.process is not None and (step + 1) % self.process_every == 0:
                x = self.process(x)
            if self.clamp is not None:
                x = x.clamp(*self.clamp)

        measured = None
        if self.aux_term is not None or self.cost != "one-minus-p":
            # c includes the AuxTerm (or is -log p), so 1 - c is not the confidence: measure it at the images.
            with torch.no_grad():
                measured = self._target_confidence(best_images, labels, apply_softmax).cpu().numpy().astype(np.float64)
        return InversionResult(
            images=best_images,
            labels=labels,
            best_cost=best_costs.cpu().numpy().astype(np.float64),
            iterations=iterations.cpu().numpy(),
            cost_history=history.cpu().numpy().astype(np.float64),
            stop_reason=reasons.astype(str),
            measured_confidence=measured,
            no_reconstruction=no_reconstruction_mask(
                best_images,
                start,
                tol=self.no_reconstruction_tol,
                input_range=self.clamp if self.clamp is not None else (-1.0, 1.0),
            ),
            cost=self.cost,
        )
