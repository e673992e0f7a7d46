"""Scores-only model inversion: a gradient-free search in a face prior's latent (`pca-prior-bb`, `gmi-bb`).

The attacker sees only the target's score vector for the images it sends (`dpmi.attacks.access.ScoresOnly`),
never a gradient. For identities y_1..y_K and R restarts each, all K*R rows run together:

1. initial selection (PPA, Struppek et al. ICML 2022, Sec. 4.2): `candidates` random latents, one query,
   the R the target scores highest for each identity start its rows;
2. search: natural evolution strategies (Wierstra et al. JMLR 2014; antithetic sampling and standardised
   fitness as in Salimans et al. 2017 and the black-box attack of Ilyas et al. ICML 2018) on the latent z of
   each row, minimising the white-box attacks' objective L_id(scores(G(z)), y) + w * L_prior(z, G(z)):
   every step draws P/2 directions eps per row, queries G(z +- sigma eps) for every row and sample in ONE
   batched query (K*R*P images), estimates the gradient sum_i u_i eps_i / (P sigma) from the standardised
   fitnesses u, and takes an Adam step (lr) on z. The prior term is the attacker's own (the eigenface
   Gaussian, or the GAN's discriminator), so it costs no query;
3. result selection (PPA Sec. 4.3): one query of every row's final latent under the mirror and shifts
   (`dpmi.attacks.image_shifts.selection_transforms`); each identity keeps the row with the highest mean
   probability of its label.

Queries (images), exactly: candidates + K * R * (steps * P + T), T the selection transforms (6 with the
default shift of 2). With a query budget (the attack's per-identity `query_budget` times K, and the target's
own remaining budget) the steps are cut to what fits; a budget below one step is a `QueryBudgetError` before
any query. The noise of a row is seeded by (seed, label, restart), so a batched run equals one identity at a
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from dpmi.attacks.access import QueryBudgetError, ScoresOnly
from dpmi.attacks.image_shifts import apply_transform, selection_transforms
from dpmi.attacks.latent_search import IDENTITY_LOSSES, LatentPrior
from dpmi.attacks.ppa_selection import initial_selection, result_selection
from dpmi.attacks.priors.pca_prior import PCAPrior
from dpmi.attacks.result import PriorInversionResult


@dataclass(frozen=True)
class ESSettings:
    """How the evolution-strategies search runs (see the module docstring; defaults in the registry).

    steps: NES steps (>= 0). population: P images queried per row and step, even (antithetic pairs), >= 2.
    sigma: > 0, the sampling radius in latent units. lr: > 0, Adam's learning rate on z. restarts: R rows per
    identity (>= 1). candidates: random latents of the initial selection (>= restarts). prior_weight: w >= 0.
    identity_loss: "ce" (-log p_y) or "margin" (max_{j != y} log p_j - log p_y, clipped at -margin_cap).
    selection_shift: pixels of the result selection's shifts (>= 0). query_budget: the most queries per
    identity (images; None: no cap). seed: seeds the candidates and every row's noise.
    """

    steps: int
    population: int
    sigma: float
    lr: float
    restarts: int
    candidates: int
    prior_weight: float
    identity_loss: str = "margin"
    margin_cap: float = 10.0
    selection_shift: int = 2
    query_budget: int | None = 20_000
    seed: int = 0

    def validate(self) -> None:
        def integer(value: object, low: int) -> bool:
            return isinstance(value, int | np.integer) and int(value) >= low

        checks = [
            (integer(self.steps, 0), f"steps must be an integer >= 0, got {self.steps}"),
            (
                integer(self.population, 2) and int(self.population) % 2 == 0,
                f"population must be an even integer >= 2 (antithetic pairs), got {self.population}",
            ),
            (np.isfinite(self.sigma) and self.sigma > 0, f"sigma must be a finite number > 0, got {self.sigma}"),
            (np.isfinite(self.lr) and self.lr > 0, f"lr must be a finite number > 0, got {self.lr}"),
            (integer(self.restarts, 1), f"restarts must be an integer >= 1, got {self.restarts}"),
            (
                integer(self.candidates, 1) and int(self.candidates) >= int(self.restarts),
                f"candidates must be an integer >= restarts ({self.restarts}), got {self.candidates}",
            ),
            (
                np.isfinite(self.prior_weight) and self.prior_weight >= 0,
                f"prior_weight must be a finite number >= 0, got {self.prior_weight}",
            ),
            (
                self.identity_loss in IDENTITY_LOSSES,
                f"identity_loss must be one of {', '.join(IDENTITY_LOSSES)}, got {self.identity_loss!r}",
            ),
            (
                np.isfinite(self.margin_cap) and self.margin_cap > 0,
                f"margin_cap must be a finite number > 0, got {self.margin_cap}",
            ),
            (integer(self.selection_shift, 0), f"selection_shift must be an integer >= 0, got {self.selection_shift}"),
            (
                self.query_budget is None or integer(self.query_budget, 1),
                f"query_budget must be an integer >= 1 (queries per identity) or None, got {self.query_budget}",
            ),
            (integer(self.seed, 0), f"seed must be an integer >= 0, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def transforms(self) -> int:
        """T: images per row in the result selection."""
        return len(selection_transforms(int(self.selection_shift)))

    def queries(self, identities: int, steps: int | None = None) -> int:
        """Images queried for `identities` labels with `steps` steps (default: `self.steps`)."""
        steps = int(self.steps if steps is None else steps)
        return int(self.candidates) + identities * int(self.restarts) * (
            steps * int(self.population) + self.transforms()
        )


@dataclass(frozen=True)
class QueryInversionResult(PriorInversionResult):
    """A black-box prior attack's result: `PriorInversionResult` plus the queries it made.

    queries: images sent to the target by this `invert` call. access: the access it used ("scores").
    planned_steps: the steps asked for (`steps` is what ran: fewer when a budget cut them).
    """

    queries: int = 0
    access: str = "scores"
    planned_steps: int = field(default=0)

    def summary(self) -> dict[str, float]:
        """`PriorInversionResult.summary()` plus "queries" (all images queried) and "queries_per_identity"."""
        out = dict(super().summary())
        out["queries"] = float(self.queries)
        out["queries_per_identity"] = float(self.queries) / max(len(self), 1)
        return out


def decode_latents(
    prior: LatentPrior, z: torch.Tensor, workspace: dict[str, torch.Tensor] | None = None
) -> torch.Tensor:
    """`prior.decode(z)` without autograd; for the eigenface prior one fused multiply-add and an in-place clamp
    (the same images up to float rounding, in half the time of `PCAPrior.decode` on big batches). workspace: as
    in `decode_pairs`, the eigenface images are written into a buffer reused while the batch size stays the same
    (valid until the next call with that workspace)."""
    with torch.no_grad():
        if not isinstance(prior, PCAPrior):
            return prior.decode(z)
        kept = None if workspace is None else workspace.get("decoded")
        if workspace is None:
            flat = torch.addmm(prior.mean, z * prior.scale, prior.basis)
        else:
            if kept is None or kept.shape[0] != len(z):
                kept = workspace["decoded"] = torch.empty(len(z), prior.basis.shape[1], dtype=z.dtype, device=z.device)
            flat = torch.addmm(prior.mean, z * prior.scale, prior.basis, out=kept)
        return flat.clamp_(-1.0, 1.0).view(-1, *prior.input_shape)


def decode_pairs(
    prior: LatentPrior,
    z: torch.Tensor,
    half: torch.Tensor,
    sigma: float,
    workspace: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The images of every antithetic pair z_r +- sigma eps_{r,i}, [rows * P, C, H, W] with row r's P = 2 * half
    samples in the order (+eps_1 .. +eps_{P/2}, -eps_1 .. -eps_{P/2}), for z [rows, d] and half = eps [rows, P/2, d].

    For the eigenface prior the decoder is affine, G(z +- s e) = G(z) +- s e W (before the clamp), so a pair costs
    one [d x H*W] product instead of two (the same images up to float rounding); any other prior decodes each.
    workspace: a dict kept by the caller between steps; the eigenface images are then written into the same
    buffers every step (no fresh 100 MB allocation per step: the page faults cost more than the arithmetic), so
    the returned images are valid until the next call with that workspace.
    """
    rows, pairs, dim = half.shape
    with torch.no_grad():
        if not isinstance(prior, PCAPrior):
            noise = torch.cat([half, -half], dim=1)
            return prior.decode((z.unsqueeze(1) + float(sigma) * noise).reshape(rows * 2 * pairs, dim))
        pixels = int(prior.basis.shape[1])
        space = workspace if workspace is not None else {}
        delta, images = space.get("delta"), space.get("images")
        if delta is None or images is None or tuple(images.shape) != (rows, 2, pairs, pixels):
            delta = torch.empty(rows * pairs, pixels, dtype=z.dtype, device=z.device)
            images = torch.empty(rows, 2, pairs, pixels, dtype=z.dtype, device=z.device)
            space.update(delta=delta, images=images)
        base = torch.addmm(prior.mean, z * prior.scale, prior.basis).unsqueeze(1)  # [rows, 1, H*W]
        torch.mm((float(sigma) * prior.scale) * half.reshape(rows * pairs, dim), prior.basis, out=delta)
        torch.add(base, delta.view(rows, pairs, pixels), out=images[:, 0])
        torch.sub(base, delta.view(rows, pairs, pixels), out=images[:, 1])
        return images.clamp_(-1.0, 1.0).view(rows * 2 * pairs, *prior.input_shape)


def row_generators(seed: int, labels: torch.Tensor, restarts: int) -> list[torch.Generator]:
    """One CPU generator per row (label k, restart r), seeded by (seed, label, r) only: a row's noise does
    not depend on which other identities share the batch."""
    out = []
    for label in labels.tolist():
        for r in range(restarts):
            state = np.random.SeedSequence([int(seed), int(label), int(r)]).generate_state(2, dtype=np.uint32)
            out.append(torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1])))
    return out


def identity_loss(log_p: torch.Tensor, labels: torch.Tensor, kind: str, margin_cap: float) -> torch.Tensor:
    """The identity loss [B] from log-probabilities [B, classes] (as `dpmi.attacks.latent_search`: "ce" is
    -log p_y; "margin" max_{j != y} log p_j - log p_y, the same as on logits, clipped at -margin_cap)."""
    own = log_p.gather(1, labels.view(-1, 1)).squeeze(1)
    if kind == "ce":
        return -own
    others = log_p.scatter(1, labels.view(-1, 1), float("-inf")).max(dim=1).values
    return (others - own).clamp_min(-float(margin_cap))


class BlackBoxLatentSearch:
    """Run `ESSettings` against a scores-only `target` under `prior` (see the module docstring).

    decode_batch: latents decoded at once on the attacker's side (memory only; the target still gets one
    query per step).
    """

    def __init__(
        self,
        target: ScoresOnly,
        prior: LatentPrior,
        settings: ESSettings,
        device: torch.device,
        *,
        decode_batch: int = 4096,
    ) -> None:
        settings.validate()
        if not isinstance(target, ScoresOnly):
            raise ValueError(f"the black-box search needs a ScoresOnly target, got {type(target).__name__}")
        self.target = target
        self.prior = prior
        self.settings = settings
        self.device = device
        self.decode_batch = int(decode_batch)
        self._workspace: dict[str, torch.Tensor] = {}  # the step's image buffers, reused (`decode_pairs`)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        if len(z) <= self.decode_batch:
            return decode_latents(self.prior, z)
        return torch.cat(
            [decode_latents(self.prior, z[i : i + self.decode_batch]) for i in range(0, len(z), self.decode_batch)]
        )

    def _decode_pairs(self, z: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        """`decode_pairs` in chunks of rows of at most `decode_batch` images."""
        per_row = 2 * int(half.shape[1])
        chunk = max(1, self.decode_batch // per_row)
        sigma = float(self.settings.sigma)
        if len(z) <= chunk:
            return decode_pairs(self.prior, z, half, sigma, self._workspace)
        return torch.cat(
            [decode_pairs(self.prior, z[i : i + chunk], half[i : i + chunk], sigma) for i in range(0, len(z), chunk)]
        )

    def _realism(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if len(z) <= self.decode_batch:
                return self.prior.realism_loss(z, images)
            return torch.cat(
                [
                    self.prior.realism_loss(z[i : i + self.decode_batch], images[i : i + self.decode_batch])
                    for i in range(0, len(z), self.decode_batch)
                ]
            )

    def plan(self, identities: int) -> int:
        """The steps that fit the budgets for `identities` labels; QueryBudgetError when not even one does
        (or, with steps = 0, when the selections alone do not fit)."""
        s = self.settings
        limits = []
        if s.query_budget is not None:
            limits.append(("the attack's query_budget", int(s.query_budget) * identities))
        if self.target.remaining is not None:
            limits.append(("the target's remaining query budget", int(self.target.remaining)))
        steps = int(s.steps)
        minimum = s.queries(identities, min(steps, 1))
        for what, limit in limits:
            if limit < minimum:
                raise QueryBudgetError(
                    f"{what} ({limit} queries for {identities} identities) is below what one step of the attack "
                    f"needs: {minimum} = {s.candidates} candidates + {identities} identities x {s.restarts} "
                    f"restarts x ({min(steps, 1)} step x population {s.population} + {s.transforms()} "
                    "selection transforms)"
                )
            per_step = identities * int(s.restarts) * int(s.population)
            steps = min(steps, (limit - s.queries(identities, 0)) // per_step)
        return steps

    def invert(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> QueryInversionResult:
        s = self.settings
        labels_t = torch.as_tensor(labels, dtype=torch.int64).reshape(-1).to(self.device)
        if labels_t.numel() == 0:
            raise ValueError("labels is empty: pass at least one class index to invert")
        classes = self.target.num_classes
        if int(labels_t.min()) < 0 or int(labels_t.max()) >= classes:
            raise ValueError(
                f"labels must be in 0..{classes - 1} (the target has {classes} classes), got "
                f"{labels_t.min().item()}..{labels_t.max().item()}"
            )
        count, restarts, population = int(labels_t.shape[0]), int(s.restarts), int(s.population)
        steps = self.plan(count)
        start_queries = self.target.queries

        # 1. Initial selection: one query of the shared candidate pool.
        pool_generator = torch.Generator(device=self.device).manual_seed(int(s.seed))
        pool = self.prior.sample(int(s.candidates), pool_generator)
        pool_log_p = self.target.log_probabilities(self._decode(pool))
        chosen = initial_selection(pool_log_p, labels_t, restarts)  # [K, R]
        row_labels = labels_t.repeat_interleave(restarts)  # row = k * R + r
        start_confidence = pool_log_p[chosen.reshape(-1), row_labels].exp()
        z = pool[chosen.reshape(-1)].clone()
        rows, dim = int(z.shape[0]), int(z.shape[1])

        # 2. NES with antithetic pairs and Adam, one query per step for every row and sample.
        generators = row_generators(int(s.seed), labels_t.cpu(), restarts)
        first, second = torch.zeros_like(z), torch.zeros_like(z)
        beta1, beta2, eps_adam = 0.9, 0.999, 1e-8
        sample_labels = row_labels.repeat_interleave(population)
        for step in range(1, steps + 1):
            half = torch.stack([torch.randn(population // 2, dim, generator=g) for g in generators]).to(z)
            noise = torch.cat([half, -half], dim=1)  # [rows, P, d]
            samples = (z.unsqueeze(1) + float(s.sigma) * noise).reshape(rows * population, dim)
            images = self._decode_pairs(z, half)
            log_p = self.target.log_probabilities(images)
            fitness = identity_loss(log_p, sample_labels, s.identity_loss, s.margin_cap)
            if s.prior_weight:
                fitness = fitness + float(s.prior_weight) * self._realism(samples, images)
            fitness = fitness.view(rows, population)
            spread = fitness.std(dim=1, keepdim=True)
            utility = torch.where(
                spread > 0, (fitness - fitness.mean(dim=1, keepdim=True)) / spread.clamp_min(1e-12), 0.0
            )
            gradient = (utility.unsqueeze(2) * noise).sum(dim=1) / (population * float(s.sigma))
            first = beta1 * first + (1 - beta1) * gradient
            second = beta2 * second + (1 - beta2) * gradient.square()
            step_size = float(s.lr) * (1 - beta2**step) ** 0.5 / (1 - beta1**step)
            z = z - step_size * first / (second.sqrt() + eps_adam)

        # 3. Result selection: one query of every row under the mirror and shifts.
        final = self._decode(z)
        transforms = selection_transforms(int(s.selection_shift))
        moved = torch.cat([apply_transform(final, t) for t in transforms])
        log_p_all = self.target.log_probabilities(moved).view(len(transforms), rows, classes)
        probability = log_p_all.gather(2, row_labels.view(1, -1, 1).expand(len(transforms), -1, 1)).squeeze(2).exp()
        robust = probability.mean(dim=0).view(count, restarts)
        best = result_selection(robust)
        kept = torch.arange(count, device=self.device) * restarts + best
        log_p = log_p_all[0]  # transform 0 is the image itself
        identity = identity_loss(log_p, row_labels, s.identity_loss, s.margin_cap)
        realism = self._realism(z, final)
        used = self.target.queries - start_queries

        def pick(values: torch.Tensor) -> np.ndarray:
            return values[kept].cpu().numpy().astype(np.float64)

        return QueryInversionResult(
            images=final[kept],
            labels=labels_t,
            measured_confidence=pick(log_p.gather(1, row_labels.view(-1, 1)).squeeze(1).exp()),
            final_loss=pick(identity + float(s.prior_weight) * realism),
            identity_loss=pick(identity),
            realism_loss=pick(realism),
            robust_confidence=robust.gather(1, best.view(-1, 1)).squeeze(1).cpu().numpy().astype(np.float64),
            start_confidence=start_confidence.view(count, restarts)
            .gather(1, best.view(-1, 1))
            .squeeze(1)
            .cpu()
            .numpy()
            .astype(np.float64),
            restarts=restarts,
            steps=steps,
            queries=int(used),
            access="scores",
            planned_steps=int(s.steps),
        )
