"""Per-example gradient norms and clip-weighted gradient sums of one layer, from what the forward and
backward passes already hold: the layer's input activations `a` and the loss's gradient with respect to
its output `d` ("backprops").

A linear layer's per-example weight gradient is the outer product d_i a_i^T, so its squared norm is
||a_i||^2 ||d_i||^2 and the clip-weighted sum sum_i c_i d_i a_i^T is a single matmul: the per-example
gradients never exist (Goodfellow 2015, "Efficient per-example gradient computations"; the "ghost norm"
of Li et al. 2022). Layers where materialising the per-example gradients is cheaper (a small convolution
kernel seen at many positions, normalisation layers with one weight per channel) build them; any other
layer falls back to `torch.func` (vmap of a vector-Jacobian product over the batch).

Every rule returns a `LayerGradients`: `norm_sq` [n] (the squared L2 norm of each example's gradient over
the layer's trainable parameters) and `weighted_sum(w)` -> sum_i w_i g_i for each trainable parameter.

Rules are registered per layer type with one call each, as Opacus's `register_grad_sampler`:

    @register_grad_rule(nn.Linear)
    def linear_rule(module, a, d, out): ...

A rule gets the layer, its (single, positional) input `a`, the gradient `d` with respect to its output and the
output itself (None when it was modified in place since); it may return None to hand the layer to the torch.func
fallback. The rule of the nearest registered base class applies to subclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import nn


class LayerGradients(Protocol):
    """Per-example gradient information of one layer for a batch of n examples."""

    norm_sq: torch.Tensor  # [n], squared L2 norm of each example's gradient over this layer's parameters

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """sum_i weights[i] * g_i, one tensor per trainable parameter (in `trainable_parameters` order)."""
        ...


def trainable_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The module's own (not its children's) parameters that require gradients, in registration order."""
    return [(name, p) for name, p in module.named_parameters(recurse=False) if p.requires_grad]


class MaterialisedGradients:
    """Per-example gradients held explicitly: [n, *param.shape] per parameter."""

    def __init__(self, per_example: list[torch.Tensor]) -> None:
        self.per_example = per_example
        n = per_example[0].shape[0]
        norm_sq = torch.zeros(n, dtype=per_example[0].dtype, device=per_example[0].device)
        for g in per_example:
            norm_sq = norm_sq + torch.linalg.vector_norm(g.reshape(n, -1), dim=1).square()
        self.norm_sq = norm_sq

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        return [torch.tensordot(weights.to(g.dtype), g, dims=1) for g in self.per_example]


class LinearGradients:
    """nn.Linear on [n, in] inputs: ||g_i||^2 = ||a_i||^2 ||d_i||^2 (+ ||d_i||^2 for the bias)."""

    def __init__(self, module: nn.Linear, a: torch.Tensor, d: torch.Tensor) -> None:
        self.module, self.a, self.d = module, a, d
        d_sq = torch.linalg.vector_norm(d, dim=1).square()
        norm_sq = torch.zeros_like(d_sq)
        if module.weight.requires_grad:  # vector_norm reads `a` once without a squared temporary
            norm_sq = norm_sq + torch.linalg.vector_norm(a, dim=1).square() * d_sq
        if module.bias is not None and module.bias.requires_grad:
            norm_sq = norm_sq + d_sq
        self.norm_sq = norm_sq

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        wd = self.d * weights.to(self.d.dtype).unsqueeze(1)  # [n, out]
        sums = []
        if self.module.weight.requires_grad:
            sums.append(wd.t().mm(self.a))  # sum_i w_i d_i a_i^T, one matmul
        if self.module.bias is not None and self.module.bias.requires_grad:
            sums.append(wd.sum(dim=0))
        return sums

    def add_weighted_sum_(self, weights: torch.Tensor, outs: list[torch.Tensor]) -> None:
        """outs[k] += weighted_sum(weights)[k], the weight's in the matmul itself (no temporary)."""
        wd = self.d * weights.to(self.d.dtype).unsqueeze(1)
        k = 0
        if self.module.weight.requires_grad:
            outs[k].addmm_(wd.t(), self.a)
            k += 1
        if self.module.bias is not None and self.module.bias.requires_grad:
            outs[k].add_(wd.sum(dim=0))


class SequenceGhostGradients:
    """A layer whose per-example weight gradient is sum_t d_t a_t^T over T positions (Linear on
    [n, ..., in], Conv2d after unfolding). ||g_i||^2 = sum_{t,s} (a_t . a_s)(d_t . d_s) (Li et al. 2022,
    ghost norm with Gram matrices), cheaper than materialising when T^2 < out * in."""

    def __init__(
        self,
        a: torch.Tensor,  # [n, T, in]
        d: torch.Tensor,  # [n, T, out]
        has_weight: bool,
        has_bias: bool,
        weight_sum: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        self.d, self.has_weight, self.has_bias, self.weight_sum = d, has_weight, has_bias, weight_sum
        norm_sq = torch.zeros(d.shape[0], dtype=d.dtype, device=d.device)
        if has_weight:
            gram_a = torch.bmm(a, a.transpose(1, 2))
            gram_d = torch.bmm(d, d.transpose(1, 2))
            norm_sq = norm_sq + (gram_a * gram_d).sum(dim=(1, 2))
        if has_bias:
            norm_sq = norm_sq + d.sum(dim=1).pow(2).sum(dim=1)
        self.norm_sq = norm_sq

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        w = weights.to(self.d.dtype)
        sums = []
        if self.has_weight:
            sums.append(self.weight_sum(w))
        if self.has_bias:
            sums.append(torch.tensordot(w, self.d.sum(dim=1), dims=1))
        return sums


def linear_gradients(module: nn.Linear, a: torch.Tensor, d: torch.Tensor) -> LayerGradients:
    if a.dim() == 2:
        return LinearGradients(module, a, d)
    n = a.shape[0]
    a3 = a.reshape(n, -1, a.shape[-1])
    d3 = d.reshape(n, -1, d.shape[-1])
    positions = a3.shape[1]
    has_weight = module.weight.requires_grad
    has_bias = module.bias is not None and module.bias.requires_grad
    if positions * positions < module.in_features * module.out_features:
        return SequenceGhostGradients(
            a3,
            d3,
            has_weight,
            has_bias,
            lambda w: torch.einsum("n,nto,nti->oi", w, d3, a3),
        )
    per_example = []
    if has_weight:
        per_example.append(torch.bmm(d3.transpose(1, 2), a3))
    if has_bias:
        per_example.append(d3.sum(dim=1))
    return MaterialisedGradients(per_example)


# Examples folded into one backward call in `conv_per_example_grads`, bounded so the folded input stays
# under about 16 MiB of float32: measured on the faces CNN at batch 256, second conv layer, one thread:
# 38 ms in chunks of 16..64 examples against 61 ms for all 256 at once (and 55 ms for the batch's
# ordinary, summed weight gradient).
CONV_CHUNK_ELEMENTS = 1 << 22


ConvLayer = nn.Conv1d | nn.Conv2d | nn.Conv3d


def conv_per_example_grads(
    module: ConvLayer, a: torch.Tensor, d: torch.Tensor, weight: bool, bias: bool
) -> list[torch.Tensor]:
    """Per-example kernel [n, *weight.shape] and bias [n, out] gradients from native backward calls:
    k examples are folded into the channels of a single example and the convolution run with k times as
    many groups, so group j of the folded convolution is example j's convolution and its weight and bias
    gradients are example j's (Rochette et al. 2019, "Efficient per-example gradient computations in
    convolutional neural networks")."""
    n = a.shape[0]
    shape = module.weight.shape
    per_example_input = max(1, a[0].numel())
    chunk = max(1, min(n, CONV_CHUNK_ELEMENTS // per_example_input))
    folded_weight = module.weight.new_empty((chunk * shape[0], *shape[1:]))
    grad_weight = a.new_empty((n, *shape)) if weight else None
    grad_bias = a.new_empty((n, shape[0])) if bias else None
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        folded_input = a[start : start + k].reshape(1, k * a.shape[1], *a.shape[2:])
        folded_grad = d[start : start + k].reshape(1, k * d.shape[1], *d.shape[2:])
        _, gw, gb = torch.ops.aten.convolution_backward(
            folded_grad,
            folded_input,
            folded_weight[: k * shape[0]],
            [k * shape[0]] if bias else None,
            module.stride,
            module.padding,
            module.dilation,
            False,
            [0] * len(module.stride),
            k * module.groups,
            (False, weight, bias),
        )
        if grad_weight is not None:
            grad_weight[start : start + k] = gw.reshape(k, *shape)
        if grad_bias is not None:
            grad_bias[start : start + k] = gb.reshape(k, shape[0])
    return [g for g in (grad_weight, grad_bias) if g is not None]


def conv_gradients(module: ConvLayer, a: torch.Tensor, d: torch.Tensor) -> LayerGradients:
    """Conv1d/2d/3d (zero padding). A small kernel seen at many positions L has fewer weights than the
    L^2 Gram entries of the ghost norm, so the per-example kernels are materialised (measured faster on
    the faces CNN); 2-D layers with L^2 < kernel size use the Gram-matrix ghost norm through unfold."""
    n = a.shape[0]
    has_weight = module.weight.requires_grad
    has_bias = module.bias is not None and module.bias.requires_grad
    d_flat = d.reshape(n, d.shape[1], -1)  # [n, out, L]
    positions = d_flat.shape[2]
    if isinstance(module, nn.Conv2d) and module.groups == 1 and module.weight.numel() > positions * positions:
        padding = module.padding
        assert not isinstance(padding, str)  # "same"/"valid" padding goes to torch.func (see _conv_rule)
        a_unf = F.unfold(
            a, module.kernel_size, dilation=module.dilation, padding=padding, stride=module.stride
        )  # [n, in*kh*kw, L]
        shape = module.weight.shape
        return SequenceGhostGradients(
            a_unf.transpose(1, 2),
            d_flat.transpose(1, 2),
            has_weight,
            has_bias,
            lambda w: torch.einsum("n,nol,nkl->ok", w, d_flat, a_unf).reshape(shape),
        )
    return MaterialisedGradients(conv_per_example_grads(module, a, d, has_weight, has_bias))


# Rows of the product u * v formed at a time in `per_channel_dot`: about 1 MiB of float32, so the
# temporary stays in cache and is reused; one full-size temporary costs more in page faults than the maths.
DOT_CHUNK_ELEMENTS = 1 << 18


def per_channel_dot(u: torch.Tensor, v: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([n, channels], [n, channels]): sums over positions of u * v and of u, within each example and
    channel, in one cache-sized pass over u."""
    n = u.shape[0]
    u2 = u.reshape(n * channels, -1)
    v2 = v.reshape(n * channels, -1)
    rows = max(1, DOT_CHUNK_ELEMENTS // max(1, u2.shape[1]))
    dtype = torch.result_type(u2, v2)
    dot = torch.empty(u2.shape[0], dtype=dtype, device=u2.device)
    total = torch.empty(u2.shape[0], dtype=u2.dtype, device=u2.device)
    buffer = torch.empty((min(rows, u2.shape[0]), u2.shape[1]), dtype=dtype, device=u2.device)
    for start in range(0, u2.shape[0], rows):
        stop = min(start + rows, u2.shape[0])
        chunk = buffer[: stop - start]
        torch.mul(u2[start:stop], v2[start:stop], out=chunk)
        torch.sum(chunk, dim=1, out=dot[start:stop])
        torch.sum(u2[start:stop], dim=1, out=total[start:stop])
    return dot.reshape(n, channels), total.reshape(n, channels)


def group_norm_gradients(
    module: nn.GroupNorm, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None = None
) -> LayerGradients:
    """GroupNorm normalises within one example, so per-example gradients are sums over positions:
    dL/dgamma_c = sum_pos d * x_hat, dL/dbeta_c = sum_pos d (n x channels numbers: materialised).
    With the layer's output y = gamma x_hat + beta at hand (unmodified), sum d x_hat =
    (sum d y - beta_c sum d) / gamma_c avoids normalising the input again; a (near) zero gamma recomputes."""
    n, channels = a.shape[0], module.num_channels
    has_weight = module.weight is not None and module.weight.requires_grad
    has_bias = module.bias is not None and module.bias.requires_grad
    per_example = []
    if has_weight:
        gamma = module.weight.detach()
        beta = module.bias.detach() if module.bias is not None else None
        # dividing by a gamma much smaller than beta would amplify rounding: normalise again then
        if out is not None and beta is not None and bool((gamma.abs() >= 1e-2 * (1 + beta.abs())).all()):
            dot_dy, d_sum = per_channel_dot(d, out, channels)
            per_example.append((dot_dy - beta * d_sum) / gamma)
        else:
            dot_dx, d_sum = per_channel_dot(d, F.group_norm(a, module.num_groups, eps=module.eps), channels)
            per_example.append(dot_dx)
    else:
        d_sum = d.reshape(n, channels, -1).sum(dim=2)
    if has_bias:
        per_example.append(d_sum)
    return MaterialisedGradients(per_example)


def layer_norm_gradients(module: nn.LayerNorm, a: torch.Tensor, d: torch.Tensor) -> LayerGradients:
    """LayerNorm over the trailing `normalized_shape` dims; sum d * x_hat over the other non-batch dims."""
    n = a.shape[0]
    shape = tuple(module.normalized_shape)
    x_hat = F.layer_norm(a, shape, eps=module.eps)
    per_example = []
    if module.weight is not None and module.weight.requires_grad:
        per_example.append((d * x_hat).reshape(n, -1, *shape).sum(dim=1))
    if module.bias is not None and module.bias.requires_grad:
        per_example.append(d.reshape(n, -1, *shape).sum(dim=1))
    return MaterialisedGradients(per_example)


class EmbeddingGradients:
    """nn.Embedding: g_i = sum_t onehot(idx_t) d_t^T, so ||g_i||^2 = sum_{t,s: idx_t = idx_s} d_t . d_s,
    and the weighted sum is a scatter-add of w_i d_t into the looked-up rows."""

    def __init__(self, module: nn.Embedding, idx: torch.Tensor, d: torch.Tensor) -> None:
        n = idx.shape[0]
        self.module = module
        self.idx = idx.reshape(n, -1)
        d = d.reshape(n, -1, module.embedding_dim)
        if module.padding_idx is not None:  # torch gives the padding row no gradient
            d = d * (self.idx != module.padding_idx).unsqueeze(2).to(d.dtype)
        self.d = d
        same_row = (self.idx.unsqueeze(2) == self.idx.unsqueeze(1)).to(d.dtype)
        self.norm_sq = (same_row * torch.bmm(d, d.transpose(1, 2))).sum(dim=(1, 2))

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        wd = self.d * weights.to(self.d.dtype).view(-1, 1, 1)
        total = torch.zeros_like(self.module.weight)
        total.index_add_(0, self.idx.reshape(-1), wd.reshape(-1, self.module.embedding_dim))
        return [total]


def functorch_gradients(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], d: torch.Tensor
) -> LayerGradients:
    """Any other layer: per-example gradients of <module(a_i), d_i> with torch.func (vmap over the batch
    of a vector-Jacobian product). Assumes the module treats examples independently (no BatchNorm)."""
    from torch.func import functional_call, grad, vmap

    names = [name for name, _ in trainable_parameters(module)]
    params = {name: p.detach() for name, p in trainable_parameters(module)}
    batched = [isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == d.shape[0] for x in args]

    def example_objective(p: dict[str, torch.Tensor], d_i: torch.Tensor, *example_args: Any) -> torch.Tensor:
        call_args = tuple(x.unsqueeze(0) if b else x for x, b in zip(example_args, batched))
        out = functional_call(module, p, call_args, kwargs)
        return (out * d_i.unsqueeze(0)).sum()

    in_dims = (None, 0, *[0 if b else None for b in batched])
    per_example = vmap(grad(example_objective), in_dims=in_dims)(params, d, *args)
    return MaterialisedGradients([per_example[name] for name in names])


GradRule = Callable[[Any, torch.Tensor, torch.Tensor, "torch.Tensor | None"], "LayerGradients | None"]
R = TypeVar("R", bound=GradRule)

_GRAD_RULES: dict[type[nn.Module], GradRule] = {}


def register_grad_rule(*layer_types: type[nn.Module]) -> Callable[[R], R]:
    """Decorator: `rule(module, a, d, out) -> LayerGradients | None` computes per-example gradient norms and
    weighted sums for layers of these types (and their subclasses, unless a subclass has its own rule).
    Registering a type again replaces its rule (so a user can swap in a faster one)."""
    if not layer_types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in layer_types):
        raise ValueError(f"register_grad_rule needs one or more nn.Module subclasses, got {layer_types!r}")

    def decorate(rule: R) -> R:
        for layer_type in layer_types:
            _GRAD_RULES[layer_type] = rule
        return rule

    return decorate


def grad_rule_for(module: nn.Module) -> GradRule | None:
    """The registered rule of the nearest class in the module's MRO, or None (torch.func fallback)."""
    for cls in type(module).__mro__:
        if cls in _GRAD_RULES:
            return _GRAD_RULES[cls]
    return None


@register_grad_rule(nn.Linear)
def _linear_rule(module: nn.Linear, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None) -> LayerGradients:
    return linear_gradients(module, a, d)


@register_grad_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _conv_rule(module: ConvLayer, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None) -> LayerGradients | None:
    if isinstance(module.padding, str) or module.padding_mode != "zeros":
        return None  # "same"/"valid" or non-zero padding modes: the folded native backward does not apply
    return conv_gradients(module, a, d)


@register_grad_rule(nn.GroupNorm)
def _group_norm_rule(
    module: nn.GroupNorm, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None
) -> LayerGradients:
    return group_norm_gradients(module, a, d, out)


@register_grad_rule(nn.LayerNorm)
def _layer_norm_rule(
    module: nn.LayerNorm, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None
) -> LayerGradients:
    return layer_norm_gradients(module, a, d)


@register_grad_rule(nn.Embedding)
def _embedding_rule(module: nn.Embedding, a: torch.Tensor, d: torch.Tensor, out: torch.Tensor | None) -> LayerGradients:
    if module.sparse or module.max_norm is not None:
        raise ValueError(
            "nn.Embedding with sparse=True or max_norm is not supported by DP-SGD here: "
            "use a dense embedding without max_norm"
        )
    return EmbeddingGradients(module, a, d)


def uses_functorch(module: nn.Module) -> bool:
    """Whether `module` has no registered rule that applies and goes through the torch.func fallback."""
    rule = grad_rule_for(module)
    if rule is None:
        return True
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return isinstance(module.padding, str) or module.padding_mode != "zeros"
    return False


def layer_gradients(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], d: torch.Tensor, out: Any = None
) -> LayerGradients:
    """The registered rule for this layer type, else torch.func; `args`/`kwargs` are its forward inputs and `out`
    its output (None if modified in place since; used only where it saves work)."""
    rule = grad_rule_for(module)
    if rule is not None and not kwargs and len(args) == 1 and isinstance(args[0], torch.Tensor):
        result = rule(module, args[0], d, out)
        if result is not None:
            return result
    return functorch_gradients(module, args, kwargs, d)
