"""Per-example clipping of a whole model's gradient without materialising per-example gradients where the
layers allow (see `layer_gradients`).

`GradientCapture` hooks every layer that owns trainable parameters and records its inputs and output on
each forward pass with autograd on. `clipped_gradient_sum(per_example_loss)` then runs ONE backward pass
that stops at the layer outputs (`torch.autograd.grad` with respect to them, so autograd never forms the
unclipped parameter gradients), computes every example's gradient norm over all parameters,
||g_i||^2 = sum over layers of the layer's ||g_i||^2, the clip factors c_i = min(1, C / ||g_i||)
(Abadi et al. 2016, Alg. 1), and builds sum_i c_i g_i layer by layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dpmi.privacy.dpsgd.layer_gradients import layer_gradients, trainable_parameters

# Guards the division in C / ||g_i||; an example with a zero gradient gets factor 1 either way.
NORM_FLOOR = 1e-6


def clip_factors(norms: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
    """c_i = min(1, C / ||g_i||): scales each example's gradient to norm at most C."""
    return (max_grad_norm / (norms + NORM_FLOOR)).clamp(max=1.0)


# Every public batch-norm layer torch has (the lazy ones do not derive from the others).
BATCH_NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
)


def reject_batch_norm(model: nn.Module) -> None:
    """BatchNorm mixes the examples of a batch, so one example's gradient depends on the others and
    per-example clipping no longer bounds its influence: refuse it."""
    for name, module in model.named_modules():
        if isinstance(module, BATCH_NORM_LAYERS):
            raise ValueError(
                f"layer {name or type(module).__name__!r} is {type(module).__name__}, which mixes examples "
                "in a batch and breaks per-example differential privacy: replace it with nn.GroupNorm "
                "(e.g. nn.GroupNorm(num_groups, num_channels)) or nn.LayerNorm"
            )


@dataclass
class ClippedGradients:
    """Result of one clipping pass over a batch of n examples.

    Attributes:
        grads: scale * sum_i c_i g_i per trainable parameter (order of `GradientCapture.parameters`).
        norms: [n] per-example gradient L2 norms before clipping.
        factors: [n] clip factors c_i in (0, 1].
    """

    grads: list[torch.Tensor]
    norms: torch.Tensor
    factors: torch.Tensor


class GradientCapture:
    """Records each trainable layer's forward inputs and output so per-example gradients can be formed.

    Only the last forward pass of `model` before `clipped_gradient_sum` is used.

    Args:
        model: the network; every module that directly owns a parameter with requires_grad is hooked.
            BatchNorm raises ValueError.
    """

    def __init__(self, model: nn.Module) -> None:
        reject_batch_norm(model)
        self.model = model
        self.layers: list[nn.Module] = [m for m in model.modules() if trainable_parameters(m)]
        self.parameters: list[nn.Parameter] = [p for m in self.layers for _, p in trainable_parameters(m)]
        self._records: dict[nn.Module, list[tuple[tuple[Any, ...], dict[str, Any], Any]]] = {}
        self._paused = False
        self._handles = [m.register_forward_hook(self._record, with_kwargs=True) for m in self.layers]
        # Each forward pass of the whole model starts a fresh record: only the LAST forward before
        # `clipped_gradient_sum` counts (an evaluation or a naive check in between does no harm).
        self._handles.append(model.register_forward_pre_hook(self._start_forward))

    def _start_forward(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self._paused:
            self._records.clear()

    def _record(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if self._paused or not torch.is_grad_enabled():
            return
        if not isinstance(output, torch.Tensor):
            raise ValueError(
                f"layer {type(module).__name__} returned {type(output).__name__}; per-example clipping needs "
                "every layer that owns trainable parameters to return one tensor with the batch first"
            )
        if not output.requires_grad:
            return
        detached = tuple(x.detach() if isinstance(x, torch.Tensor) else x for x in args)
        # The gradient edge pins the output's place in the graph even if a later in-place op (ReLU(inplace))
        # rebases the tensor; that rebase replaces the output's grad_fn, which tells that its values changed.
        # (In-place edits autograd does not see, under torch.no_grad or through .data, are not detected.)
        edge = torch.autograd.graph.get_gradient_edge(output)
        self._records.setdefault(module, []).append((detached, dict(kwargs), (output, output.grad_fn, edge)))

    def clear(self) -> None:
        """Forget recorded forward passes (call before a forward whose gradients you do not want)."""
        self._records.clear()

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._records.clear()

    def clipped_gradient_sum(
        self,
        per_example_loss: torch.Tensor,
        max_grad_norm: float,
        scale: float = 1.0,
        out: list[torch.Tensor] | None = None,
    ) -> ClippedGradients:
        """Clip each example's gradient of `per_example_loss[i]` to L2 norm `max_grad_norm` and sum.

        Args:
            per_example_loss: [n] losses of the last forward pass (reduction="none"), n >= 1.
            max_grad_norm: clipping bound C > 0.
            scale: multiplies the sum (folded into the clip factors, saving a pass over the parameters).
            out: if given, one tensor per parameter that the scaled sum is ADDED to in place (e.g. the
                noise), and `grads` is this list.

        Consumes the recorded forward pass.
        """
        if per_example_loss.dim() != 1 or per_example_loss.numel() == 0:
            raise ValueError(
                f"per_example_loss must be a non-empty 1-D tensor of per-example losses (use "
                f"reduction='none'), got shape {tuple(per_example_loss.shape)}"
            )
        n = per_example_loss.shape[0]
        records = self._records
        self._records = {}
        used = []
        for module in self.layers:
            calls = records.get(module, [])
            if len(calls) > 1:
                raise ValueError(
                    f"layer {type(module).__name__} ran {len(calls)} times in one forward pass; per-example "
                    "clipping here supports each parameterised layer once per step (no weight sharing)"
                )
            if calls:
                used.append((module, calls[0]))
        if not used:
            raise ValueError(
                "no forward pass of the model was recorded since the last step: compute per_example_loss "
                "from model(x) with autograd enabled (not under torch.no_grad) before stepping"
            )
        outputs = [edge for _, (_, _, (_, _, edge)) in used]
        backprops: list[torch.Tensor | None] = list(
            torch.autograd.grad(per_example_loss.sum(), outputs, allow_unused=True)
        )

        norm_sq = torch.zeros(n, dtype=per_example_loss.dtype, device=per_example_loss.device)
        layer_grads = {}
        self._paused = True  # the torch.func fallback re-runs layers; do not record those calls
        try:
            for k, (module, (args, kwargs, (output, grad_fn, _))) in enumerate(used):
                d, backprops[k] = backprops[k], None  # let each layer's output gradient go once used
                if d is None:
                    continue
                if d.shape[0] != n:
                    raise ValueError(
                        f"layer {type(module).__name__} output has batch size {d.shape[0]} but the loss has "
                        f"{n} examples: the batch dimension must come first"
                    )
                unmodified = output.detach() if output.grad_fn is grad_fn else None
                grads = layer_gradients(module, args, kwargs, d.detach(), unmodified)
                layer_grads[module] = grads
                norm_sq = norm_sq + grads.norm_sq.to(norm_sq.dtype)
        finally:
            self._paused = False
        norms = norm_sq.clamp(min=0).sqrt()
        factors = clip_factors(norms, max_grad_norm)
        weights = factors * scale
        sums: list[torch.Tensor] = []
        for module in self.layers:
            count = len(trainable_parameters(module))
            layer = layer_grads.get(module)
            if out is None:
                if layer is None:  # the layer did not take part in this loss: its gradient is zero
                    sums.extend(torch.zeros_like(p) for _, p in trainable_parameters(module))
                else:
                    sums.extend(layer.weighted_sum(weights))
                continue
            targets = out[len(sums) : len(sums) + count]
            sums.extend(targets)
            if layer is None:
                continue
            if hasattr(layer, "add_weighted_sum_"):
                layer.add_weighted_sum_(weights, targets)
            else:
                for target, total in zip(targets, layer.weighted_sum(weights)):
                    target.add_(total)
        return ClippedGradients(grads=sums, norms=norms.detach(), factors=factors.detach())
