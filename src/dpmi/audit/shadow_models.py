"""K models of one recipe trained at once: the shadow models of a membership-inference audit.

`train_together` trains K copies of a dpmi model, copy k on its own subset of a candidate pool with its own
seed, exactly as K calls of `dpmi.privacy.dpsgd.train` would (same initial weights from `build_model(seed=s)`,
same shuffles or Poisson batches, same Gaussian noise, same SGD-with-momentum update), but with the K
models' parameters stacked along a leading axis so every step is ONE batched forward and backward pass:

* plain SGD: per model, the `numpy.random.default_rng(seed)` permutation of each epoch, minibatches of
  `batch_size`; the summed per-model mean cross-entropies are differentiated once for all K models, and the
  first layer lives in the span of the pool's images (W1 = W1(0) + A X, outputs through the pool's Gram
  matrix), so a step costs O(pool size), not O(pixels), per example and weight row.
* DP-SGD (Abadi et al. 2016, Alg. 1): per model, `derive_seeds(seed, 2)` -> its own `PoissonSampler` and its
  own noise `torch.Generator`, consumed in the same order as `PrivateTraining` (one sample and one noise
  fill of every parameter per step, empty batches included). Ragged Poisson batches are padded and masked.
  Per-example clipping is batched across the models: ONE autograd pass gives every layer's output gradient
  d for all K x B examples, and the linear layers' ghost norms ||g_i||^2 = sum_l ||a_il||^2 ||d_il||^2 +
  ||d_il||^2 (Goodfellow 2015) and clip-weighted sums sum_i c_i d_il a_il^T (one `baddbmm` per layer) are
  formed for all models together.

Batched: models built only from Flatten, Linear and ReLU modules (dpmi's "softmax" and "mlp"). Any other
model (the "cnn") is trained by K sequential `train` calls: slower, same result.

Speed (benchmarks/audit.py, K = 32 softmax shadows, one run on a shared 2-core machine): non-private 13-33x
faster than 32 `train` calls; DP-SGD only ~1.2x. A DP step cannot use the pool-span trick (the noise is
full-dimensional), so its arithmetic is the sequential one's (a gather, a forward and a clip-weighted sum over
the pixels per example), and the seeded noise, drawn per model from its own generator because that is what
makes every shadow equal its sequential twin, alone caps the speed-up at ~5x.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train
from dpmi.privacy.dpsgd.clipping import NORM_FLOOR
from dpmi.privacy.dpsgd.noise import derive_seeds, make_generator
from dpmi.privacy.dpsgd.poisson_sampling import PoissonSampler

_BATCHABLE = (nn.Flatten, nn.Linear, nn.ReLU)


@dataclass
class StackedModels:
    """K trained models of one architecture, parameters stacked along dim 0.

    Attributes:
        model_name: dpmi model name ("softmax", "mlp", "cnn").
        num_classes, input_shape: what `build_model` was given.
        params: one tensor [K, *shape] per parameter, in `model.parameters()` order.
        seeds: each model's seed (initial weights, sampling, noise).
        noise_multiplier: sigma used (None when not private).
        sample_rate, steps: DP-SGD's Poisson rate and steps (None when not private).
        batched: True when trained together; False when the architecture fell back to sequential training.
    """

    model_name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    params: list[torch.Tensor]
    seeds: list[int]
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int | None = None
    batched: bool = True

    @property
    def count(self) -> int:
        return int(self.params[0].shape[0])

    def module(self, k: int) -> nn.Module:
        """Model k as an ordinary nn.Module (a copy of its parameters)."""
        model = build_model(self.model_name, num_classes=self.num_classes, input_shape=self.input_shape, seed=0)
        with torch.no_grad():
            for p, stacked in zip(model.parameters(), self.params):
                p.copy_(stacked[k])
        return model.eval()

    @torch.no_grad()
    def logits(self, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """Every model's logits on `x` [N, C, H, W]: [K, N, classes] (eval mode)."""
        template = build_model(self.model_name, num_classes=self.num_classes, input_shape=self.input_shape, seed=0)
        template = template.to(self.params[0].device).eval()
        names = [name for name, _ in template.named_parameters()]
        layers = _batchable_layers(template)

        def one(params: tuple[torch.Tensor, ...], xb: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(template, dict(zip(names, params)), (xb,))

        outs = []
        for start in range(0, int(x.shape[0]), chunk):
            xb = x[start : start + chunk]
            if layers is not None:
                outs.append(_forward(layers, self.params, xb.reshape(1, xb.shape[0], -1).expand(self.count, -1, -1)))
            else:
                outs.append(torch.func.vmap(one, in_dims=(0, None))(tuple(self.params), xb))
        return torch.cat(outs, dim=1)


def _batchable_layers(model: nn.Module) -> list[nn.Module] | None:
    """The model's leaf modules in order if it is a chain of Flatten/Linear/ReLU (starting with Flatten and
    with a bias on every Linear), else None."""
    leaves = [m for m in model.modules() if not list(m.children())]
    if not leaves or not isinstance(leaves[0], nn.Flatten):
        return None
    if not all(isinstance(m, _BATCHABLE) for m in leaves):
        return None
    if any(isinstance(m, nn.Linear) and m.bias is None for m in leaves):
        return None
    # Registration order must be the forward order: check on a probe (a custom forward could differ).
    with torch.no_grad():
        probe = torch.linspace(-1, 1, int(np.prod(_input_shape_of(model)))).reshape(1, *_input_shape_of(model))
        params = [p.detach().unsqueeze(0) for p in model.parameters()]
        if not torch.allclose(_forward(leaves, params, probe.reshape(1, 1, -1)), model(probe).unsqueeze(0), atol=1e-5):
            return None
    return leaves


def _input_shape_of(model: nn.Module) -> tuple[int, ...]:
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    return (first.in_features,)


def _forward(
    layers: Sequence[nn.Module],
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    outputs: list[torch.Tensor] | None = None,
    inputs: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Batched forward of a Flatten/Linear/ReLU chain: x [K, B, features] -> logits [K, B, classes].

    With `outputs`/`inputs` lists, each Linear's output is made a leaf that requires grad (so one autograd
    pass yields every layer's output gradient) and its (detached) input is recorded."""
    h = x
    k = 0
    for layer in layers:
        if isinstance(layer, nn.Flatten):
            continue
        if isinstance(layer, nn.ReLU):
            h = torch.relu(h)
            continue
        weight, bias = params[k], params[k + 1]
        k += 2
        if outputs is not None and inputs is not None:
            inputs.append(h.detach())
        z = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        if outputs is not None:
            if not z.requires_grad:
                z.requires_grad_(True)
            outputs.append(z)
        h = z
    return h


def train_together(
    model_name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    subsets: Sequence[Sequence[int]] | np.ndarray,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    num_classes: int,
    advance: Callable[[int], None] | None = None,
) -> StackedModels:
    """Train K models of `model_name`, model k on x[subsets[k]], y[subsets[k]] with `config` and seed seeds[k].

    Model k equals `train(build_model(model_name, num_classes=.., input_shape=.., seed=seeds[k]),
    x[subsets[k]], y[subsets[k]], replace(config, seed=seeds[k]))` (to float rounding).

    Args:
        x: the candidate pool's images [P, C, H, W]; y: labels [P] in 0..num_classes-1.
        subsets: K index arrays into the pool, all of one length n (the training-set size), no repeats.
        seeds: K seeds >= 0.
        config: the recipe (epochs, batch size, lr, momentum, DP-SGD settings); its `seed` is ignored.
        advance: called with 1 after every step of the models trained together (with a model's steps after
            each model trained sequentially): `stack_steps` steps in all.
    """
    subsets_np = np.asarray(subsets, dtype=np.int64)
    if subsets_np.ndim != 2 or subsets_np.shape[0] != len(seeds) or subsets_np.shape[0] < 1:
        raise ValueError(
            f"subsets must be K index arrays of one length with K = len(seeds) >= 1, got shape "
            f"{subsets_np.shape} and {len(seeds)} seeds"
        )
    pool = int(x.shape[0])
    if subsets_np.min() < 0 or subsets_np.max() >= pool:
        raise ValueError(f"subset indices must be in 0..{pool - 1} (the pool size)")
    if config.secure_mode:
        raise ValueError("shadow models reproduce seeded training; train them with secure_mode=False")
    n = int(subsets_np.shape[1])
    config.validate(n)
    input_shape = cast(tuple[int, int, int], tuple(int(s) for s in x.shape[1:]))  # x is [P, C, H, W]
    device = torch.device(config.device)
    x, y = x.to(device), y.to(device)
    models = [build_model(model_name, num_classes=num_classes, input_shape=input_shape, seed=int(s)) for s in seeds]
    layers = _batchable_layers(models[0])
    if layers is None:
        return _train_sequentially(
            model_name, models, x, y, subsets_np, seeds, config, num_classes, input_shape, advance
        )
    params = [torch.stack([p.detach() for p in ps]).to(device) for ps in zip(*(m.parameters() for m in models))]
    stacked = StackedModels(model_name, num_classes, input_shape, params, [int(s) for s in seeds])
    members = torch.from_numpy(subsets_np).to(device)
    x_flat = x.reshape(pool, -1)
    if config.private:
        _train_private(stacked, layers, x_flat, y, members, config, advance)
    else:
        _train_plain(stacked, layers, x_flat, y, members, config, advance)
    return stacked


def trains_together(model_name: str, num_classes: int, input_shape: tuple[int, int, int]) -> bool:
    """True when `train_together` batches `model_name` (else it trains the models one after another)."""
    return (
        _batchable_layers(build_model(model_name, num_classes=num_classes, input_shape=input_shape, seed=0)) is not None
    )


def model_steps(config: TrainConfig, n: int) -> int:
    """The optimizer steps of one model trained with `config` on n examples (`dpmi.privacy.dpsgd.train`'s):
    epochs x ceil(n / batch size) plain, DP-SGD's planned steps at rate batch size / n when private."""
    if config.private:
        from dpmi.privacy.accounting import dpsgd_steps

        return int(dpsgd_steps(config.epochs, config.batch_size / n))
    return int(config.epochs) * -(-int(n) // int(config.batch_size))


def stack_steps(
    model_name: str, count: int, n: int, config: TrainConfig, num_classes: int, input_shape: tuple[int, int, int]
) -> int:
    """What `train_together` advances by for `count` models on n examples each: one model's steps when they
    train together, `count` times that when they train one after another."""
    steps = model_steps(config, n)
    return steps if trains_together(model_name, num_classes, input_shape) else count * steps


def _sgd_momentum_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    buffers: list[torch.Tensor | None],
    lr: float,
    momentum: float,
) -> None:
    """torch.optim.SGD's update (dampening 0, no Nesterov, no weight decay), applied to the stacked tensors."""
    for i, (p, g) in enumerate(zip(params, grads)):
        if momentum != 0:
            buffer = buffers[i]
            if buffer is None:
                buffer = g.detach().clone()
                buffers[i] = buffer
            else:
                buffer.mul_(momentum).add_(g)
            g = buffer
        p.add_(g, alpha=-lr)


def _train_plain(
    stacked: StackedModels,
    layers: list[nn.Module],
    x_flat: torch.Tensor,
    y: torch.Tensor,
    members: torch.Tensor,
    config: TrainConfig,
    advance: Callable[[int], None] | None = None,
) -> None:
    """Plain SGD in the pool's span. Every gradient of the first Linear is sum_i d_i x_i^T over pool images,
    so (momentum being linear) W1(t) = W1(0) + A(t) X with coefficients A [K, out, P] over the P pool images X.
    Its outputs on a batch are then W1(0) x_i (computed once per model) + A G[:, i] with the Gram matrix
    G = X X^T [P, P] (once): a step costs O(out x P) per example instead of O(out x features) (P = 200 vs
    10304 for the faces), and the gradient's update is a scatter of d_i into A's column i. W1 = W1(0) + A X is
    formed once at the end. The same SGD, so the same models (to float rounding)."""
    k_models, n = members.shape
    first = next(i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear))
    rest = layers[first + 1 :]
    w1_start, b1 = stacked.params[0], stacked.params[1].clone()
    others = [q.clone() for q in stacked.params[2:]]
    out_features, pool = w1_start.shape[1], x_flat.shape[0]
    gram = x_flat @ x_flat.t()  # [P, P]
    start_outputs = torch.matmul(x_flat, w1_start.transpose(1, 2))  # [K, P, out]: W1(0) x_i
    coeff = torch.zeros(k_models, out_features, pool, dtype=x_flat.dtype, device=x_flat.device)
    state = [coeff, b1, *others]
    buffers: list[torch.Tensor | None] = [None] * len(state)
    rngs = [np.random.default_rng(seed) for seed in stacked.seeds]
    for _ in range(config.epochs):
        orders = torch.from_numpy(np.stack([rng.permutation(n) for rng in rngs])).to(members.device)
        for begin in range(0, n, config.batch_size):
            index = members.gather(1, orders[:, begin : begin + config.batch_size])  # [K, b] pool indices
            b = index.shape[1]
            gram_columns = gram[:, index].permute(1, 0, 2)  # [K, P, b]: G[:, i] for the batch
            z1 = start_outputs.gather(1, index.unsqueeze(2).expand(-1, -1, out_features))
            z1 = (z1 + torch.bmm(coeff, gram_columns).transpose(1, 2) + b1.unsqueeze(1)).requires_grad_(True)
            params = [q.requires_grad_(True) for q in others]
            h, k = z1, 0
            for layer in rest:
                if isinstance(layer, nn.ReLU):
                    h = torch.relu(h)
                elif isinstance(layer, nn.Linear):
                    h = torch.baddbmm(params[k + 1].unsqueeze(1), h, params[k].transpose(1, 2))
                    k += 2
            losses = F.cross_entropy(h.reshape(k_models * b, -1), y[index].reshape(-1), reduction="none")
            total = losses.reshape(k_models, b).mean(dim=1).sum()  # each model's own mean loss
            d1, *grads = torch.autograd.grad(total, [z1, *params])
            with torch.no_grad():
                for q in params:
                    q.requires_grad_(False)
                g_coeff = torch.zeros_like(coeff).scatter_add_(
                    2, index.unsqueeze(1).expand(-1, out_features, -1), d1.transpose(1, 2)
                )
                _sgd_momentum_(state, [g_coeff, d1.sum(dim=1), *grads], buffers, config.lr, config.momentum)
            if advance is not None:
                advance(1)
    with torch.no_grad():
        stacked.params[0] = w1_start + torch.matmul(coeff, x_flat)
        stacked.params[1] = b1
        stacked.params[2:] = others


def _train_private(
    stacked: StackedModels,
    layers: list[nn.Module],
    x_flat: torch.Tensor,
    y: torch.Tensor,
    members: torch.Tensor,
    config: TrainConfig,
    advance: Callable[[int], None] | None = None,
) -> None:
    from dpmi.privacy.accounting import dpsgd_steps, get_noise_multiplier

    k_models, n = members.shape
    sample_rate = config.batch_size / n  # make_private(expected_batch_size=...)'s rule
    steps = dpsgd_steps(config.epochs, sample_rate)
    sigma = config.noise_multiplier
    if sigma is None:
        assert config.target_epsilon is not None  # a private config sets noise_multiplier or target_epsilon
        sigma = float(
            get_noise_multiplier(config.target_epsilon, config.delta, sample_rate, steps, accountant=config.accountant)
        )
    stacked.noise_multiplier, stacked.sample_rate, stacked.steps = float(sigma), float(sample_rate), int(steps)
    samplers, generators = [], []
    for seed in stacked.seeds:
        sampler_seed, noise_seed = derive_seeds(seed, 2)  # PrivateTraining's order
        samplers.append(PoissonSampler(n, sample_rate, seed=sampler_seed))
        generators.append(make_generator(noise_seed, x_flat.device))
    clip = float(config.max_grad_norm)
    scale = 1.0 / (sample_rate * n)
    std = float(sigma) * clip * scale
    grads = [torch.empty_like(p) for p in stacked.params]
    buffers: list[torch.Tensor | None] = [None] * len(stacked.params)
    gather_buffer = torch.empty(0, x_flat.shape[1], dtype=x_flat.dtype, device=x_flat.device)
    for _ in range(steps):
        batches = [sampler.sample() for sampler in samplers]
        for k in range(k_models):  # each model's noise from its own generator, parameters in order
            for g in grads:
                if std == 0:
                    g[k].zero_()
                else:
                    g[k].normal_(0.0, std, generator=generators[k])
        width = max(len(b) for b in batches)
        if width:
            local = np.zeros((k_models, width), dtype=np.int64)
            mask_np = np.zeros((k_models, width), dtype=np.float32)
            for k, b in enumerate(batches):
                local[k, : len(b)] = b
                mask_np[k, : len(b)] = 1.0
            index = members.gather(1, torch.from_numpy(local).to(members.device))
            mask = torch.from_numpy(mask_np).to(x_flat.device, x_flat.dtype)
            # Gather into a reused buffer: a fresh [K, B, features] tensor per step costs more in page faults
            # than the copy itself.
            if gather_buffer.shape[0] < k_models * width:
                gather_buffer = torch.empty(k_models * width, x_flat.shape[1], dtype=x_flat.dtype, device=x_flat.device)
            xb = torch.index_select(x_flat, 0, index.reshape(-1), out=gather_buffer[: k_models * width])
            _add_clipped_sums_(layers, stacked.params, xb.view(k_models, width, -1), y[index], mask, clip, scale, grads)
        with torch.no_grad():
            _sgd_momentum_(stacked.params, grads, buffers, config.lr, config.momentum)  # grads refilled next step
        if advance is not None:
            advance(1)


def _add_clipped_sums_(
    layers: list[nn.Module],
    params: list[torch.Tensor],
    xb: torch.Tensor,
    yb: torch.Tensor,
    mask: torch.Tensor,
    clip: float,
    scale: float,
    out: list[torch.Tensor],
) -> None:
    """out += scale * sum_i c_i g_i per model (masked examples contribute nothing), c_i = min(1, C/||g_i||)."""
    k_models, width = mask.shape
    outputs: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []
    with torch.enable_grad():
        logits = _forward(layers, [p.detach() for p in params], xb, outputs, inputs)
        losses = F.cross_entropy(logits.reshape(k_models * width, -1), yb.reshape(-1), reduction="none")
        backprops = torch.autograd.grad((losses.reshape(k_models, width) * mask).sum(), outputs)
    norm_sq = torch.zeros_like(mask)
    for a, d in zip(inputs, backprops):
        d_sq = torch.linalg.vector_norm(d, dim=2).square()
        norm_sq = norm_sq + torch.linalg.vector_norm(a, dim=2).square() * d_sq
        norm_sq = norm_sq + d_sq
    norms = norm_sq.clamp(min=0).sqrt()
    weights = (clip / (norms + NORM_FLOOR)).clamp(max=1.0) * scale * mask
    for layer_index, (a, d) in enumerate(zip(inputs, backprops)):
        wd = d * weights.unsqueeze(2)  # [K, B, out]
        out[2 * layer_index].baddbmm_(wd.transpose(1, 2), a)
        out[2 * layer_index + 1].add_(wd.sum(dim=1))


def _train_sequentially(
    model_name: str,
    models: list[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    subsets: np.ndarray,
    seeds: Sequence[int],
    config: TrainConfig,
    num_classes: int,
    input_shape: tuple[int, int, int],
    advance: Callable[[int], None] | None = None,
) -> StackedModels:
    history = None
    for model, subset, seed in zip(models, subsets, seeds):
        index = torch.from_numpy(subset).to(x.device)
        history = train(model, x[index], y[index], replace(config, seed=int(seed)))
        if advance is not None:
            advance(history.steps)
    params = [torch.stack([p.detach() for p in ps]) for ps in zip(*(m.parameters() for m in models))]
    assert history is not None
    return StackedModels(
        model_name,
        num_classes,
        input_shape,
        params,
        [int(s) for s in seeds],
        history.noise_multiplier,
        history.sample_rate,
        history.steps if config.private else None,
        batched=False,
    )
