"""Label-only model inversion: boundary repulsion in a face prior's latent (`brep-mi`), after BREP-MI (Kahla,
Chen, Jin & Jia, "Label-Only Model Inversion Attacks via Boundary Repulsion", CVPR 2022).

The attacker sees only the target's top class for the images it sends (`dpmi.attacks.access.LabelsOnly`).
For identities y_1..y_K, all rows run together, one batched query per step:

1. start: draw rounds of `init_batch` random latents from the prior (one query per round) until every
   identity has a latent the target labels as it (BREP-MI's initial point), at most `init_rounds` rounds;
   an identity never found starts from the first latent drawn and is reported in "start_found";
2. repulsion: around the current point z of each row, N points on the sphere of radius R, z + R u_n
   (u_n uniform on the unit sphere), are queried together with the proposed next point. BREP-MI's estimate
   of the direction away from the decision boundary is M = -(1/N) sum_n [label(z + R u_n) != y] u_n; the
   next proposal is z + alpha * R * M / |M|. A proposal the target labels as y is accepted (the sphere was
   drawn around it); one it does not is rejected and halved back towards z. When every sphere point is
   labelled y the radius grows by `radius_growth` (BREP-MI's gamma), up to `max_radius`: the point then lies
   at least R from the boundary in every direction sampled;
3. the result is each row's last accepted point, decoded.

Departures from BREP-MI, and why: the proposal is checked in the same query as the next sphere (one query
per step, so every step costs exactly N + 1 queries per identity); proposals are projected into the ball of
radius `latent_radius` * sqrt(d) (the prior's typical set: BREP-MI's generator is trained on N(0, I) too, and
far outside it decodes no face); the step is relative to R (alpha * R) instead of a fixed size.

Queries (images), exactly: init_batch x (rounds used) + K x steps x (N + 1). "queries_per_identity" is the
total over K. The sphere points of a row are seeded by (seed, label) and the start pool by seed alone, so
a batched run equals one identity at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dpmi.attacks.access import LabelsOnly, QueryBudgetError
from dpmi.attacks.black_box_latent import decode_latents
from dpmi.attacks.latent_search import LatentPrior


@dataclass(frozen=True)
class BoundaryRepulsionSettings:
    """See the module docstring. steps >= 0; points (N) >= 1; radius (R at the start) > 0; radius_growth
    > 1; max_radius >= radius; alpha > 0; latent_radius > 0; init_batch >= 1; init_rounds >= 1;
    query_budget: the most queries per identity (None: no cap); seed >= 0."""

    steps: int = 500
    points: int = 32
    radius: float = 2.0
    radius_growth: float = 1.3
    max_radius: float = 8.0
    alpha: float = 0.3
    latent_radius: float = 1.5
    init_batch: int = 500
    init_rounds: int = 20
    query_budget: int | None = 20_000
    seed: int = 0

    def validate(self) -> None:
        def integer(value: object, low: int) -> bool:
            return isinstance(value, int | np.integer) and int(value) >= low

        def positive(value: float) -> bool:
            return math.isfinite(value) and value > 0

        checks = [
            (integer(self.steps, 0), "steps must be an integer >= 0"),
            (integer(self.points, 1), "points must be an integer >= 1"),
            (positive(self.radius), "radius must be a finite number > 0"),
            (math.isfinite(self.radius_growth) and self.radius_growth > 1, "radius_growth must be > 1"),
            (math.isfinite(self.max_radius) and self.max_radius >= self.radius, "max_radius must be >= radius"),
            (positive(self.alpha), "alpha must be a finite number > 0"),
            (positive(self.latent_radius), "latent_radius must be a finite number > 0"),
            (integer(self.init_batch, 1), "init_batch must be an integer >= 1"),
            (integer(self.init_rounds, 1), "init_rounds must be an integer >= 1"),
            (
                self.query_budget is None or integer(self.query_budget, 1),
                "query_budget must be an integer >= 1 or None",
            ),
            (integer(self.seed, 0), "seed must be an integer >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"brep-mi: {message}, got {self}")

    def step_queries(self, identities: int) -> int:
        """Images queried by one repulsion step for `identities` labels."""
        return identities * (int(self.points) + 1)


@dataclass(frozen=True)
class LabelOnlyResult:
    """The outcome of the label-only attack for K labels (row k reconstructs `labels[k]`).

    images: [K, C, H, W] in [-1, 1], each row's last accepted point. labels: int64 [K].
    confidence: float numpy [K], 1.0 where the target labels the image as the row's identity (the only
        confidence a label-only attacker sees), else 0.0.
    start_found: bool numpy [K], whether a start labelled as the identity was found.
    radius: float numpy [K], the final sphere radius (larger = deeper inside the identity's region).
    accepted: int numpy [K], accepted moves. steps: repulsion steps run (planned_steps: asked for).
    queries: images queried by this call; start_queries: those of the start search.
    """

    images: torch.Tensor
    labels: torch.Tensor
    label_agreement: np.ndarray
    start_found: np.ndarray
    radius: np.ndarray
    accepted: np.ndarray
    steps: int
    planned_steps: int
    queries: int
    start_queries: int
    access: str = "labels"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        return np.asarray(self.label_agreement, dtype=np.float64)

    @property
    def no_reconstruction(self) -> np.ndarray:
        """bool numpy [K]: True where the image is flat (one value) or not finite."""
        flat = self.images.detach().flatten(1)
        finite = torch.isfinite(flat).all(dim=1)
        spread = flat.nan_to_num().amax(dim=1) - flat.nan_to_num().amin(dim=1)
        return (~finite | (spread <= 1e-6)).cpu().numpy()

    @property
    def moved(self) -> np.ndarray:
        return ~self.no_reconstruction

    @property
    def iterations(self) -> np.ndarray:
        return np.full(len(self), self.steps, dtype=np.int64)

    @property
    def best_cost(self) -> np.ndarray:
        return 1.0 - self.confidence

    def summary(self) -> dict[str, float]:
        """Means over rows of the label agreement, start found, final radius and accepted moves; steps;
        "queries" (all images queried), "start_queries" and "queries_per_identity"."""
        return {
            "no_reconstruction": float(np.mean(self.no_reconstruction)),
            "label_confidence": float(np.mean(self.confidence)),
            "start_found": float(np.mean(self.start_found)),
            "final_radius": float(np.mean(self.radius)),
            "accepted_moves": float(np.mean(self.accepted)),
            "iterations": float(self.steps),
            "queries": float(self.queries),
            "start_queries": float(self.start_queries),
            "queries_per_identity": float(self.queries) / max(len(self), 1),
        }


def _row_generator(seed: int, label: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed), int(label), 7]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class BoundaryRepulsion:
    """Run `BoundaryRepulsionSettings` against a label-only `target` under `prior` (module docstring)."""

    def __init__(
        self,
        target: LabelsOnly,
        prior: LatentPrior,
        settings: BoundaryRepulsionSettings,
        device: torch.device,
        *,
        decode_batch: int = 4096,
    ) -> None:
        settings.validate()
        if not isinstance(target, LabelsOnly):
            raise ValueError(f"boundary repulsion needs a LabelsOnly target, got {type(target).__name__}")
        self.target = target
        self.prior = prior
        self.settings = settings
        self.device = device
        self.decode_batch = int(decode_batch)
        self._workspace: dict[str, torch.Tensor] = {}  # the queried images' buffer, reused (`decode_latents`)

    def _decode(self, z: torch.Tensor, reuse: bool = False) -> torch.Tensor:
        if len(z) <= self.decode_batch:
            return decode_latents(self.prior, z, self._workspace if reuse else None)
        return torch.cat(
            [decode_latents(self.prior, z[i : i + self.decode_batch]) for i in range(0, len(z), self.decode_batch)]
        )

    def _limit(self, identities: int) -> int | None:
        limits = []
        if self.settings.query_budget is not None:
            limits.append(int(self.settings.query_budget) * identities)
        if self.target.remaining is not None:
            limits.append(int(self.target.remaining))
        return min(limits) if limits else None

    def invert(self, labels: int | Sequence[int] | np.ndarray | torch.Tensor) -> LabelOnlyResult:
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
        count = int(labels_t.shape[0])
        per_step = s.step_queries(count)
        limit = self._limit(count)
        minimum = int(s.init_batch) + (per_step if s.steps > 0 else 0)
        if limit is not None and limit < minimum:
            raise QueryBudgetError(
                f"the query budget ({limit} queries for {count} identities) is below what one step of brep-mi "
                f"needs: {minimum} = one start round of {s.init_batch} + {count} identities x ({s.points} sphere "
                "points + 1 proposal)"
            )
        start_queries = self.target.queries

        # 1. Starts: the first latent of the seeded pool that the target labels as each identity.
        pool_generator = torch.Generator(device=self.device).manual_seed(int(s.seed))
        z = torch.empty(count, self.prior.latent_dim, device=self.device)
        found = torch.zeros(count, dtype=torch.bool, device=self.device)
        first_latent: torch.Tensor | None = None
        for _ in range(int(s.init_rounds)):
            used = self.target.queries - start_queries
            if limit is not None and used + int(s.init_batch) + (per_step if s.steps > 0 else 0) > limit:
                break
            pool = self.prior.sample(int(s.init_batch), pool_generator)
            if first_latent is None:
                first_latent = pool[0]
            predicted = self.target(self._decode(pool, reuse=True))
            hits = predicted.view(1, -1) == labels_t.view(-1, 1)  # [K, B]
            new = hits.any(dim=1) & ~found
            if bool(new.any()):
                z[new] = pool[hits[new].float().argmax(dim=1)]
                found |= new
            if bool(found.all()):
                break
        assert first_latent is not None
        z[~found] = first_latent
        init_queries = self.target.queries - start_queries

        # 2. Repulsion: one query per step of every row's sphere and its proposal.
        steps = int(s.steps)
        if limit is not None:
            steps = min(steps, (limit - init_queries) // per_step)
        generators = [_row_generator(int(s.seed), label) for label in labels_t.tolist()]
        dim = int(z.shape[1])
        bound = float(s.latent_radius) * math.sqrt(dim)
        radius = torch.full((count,), float(s.radius), device=self.device)
        proposal = z.clone()
        accepted = torch.zeros(count, dtype=torch.int64, device=self.device)
        agreement = found.clone()
        points = int(s.points)
        for _ in range(steps):
            directions = torch.stack([torch.randn(points, dim, generator=g) for g in generators]).to(z)
            directions = directions / directions.norm(dim=2, keepdim=True).clamp_min(1e-12)  # [K, N, d]
            sphere = proposal.unsqueeze(1) + radius.view(-1, 1, 1) * directions
            batch = torch.cat([proposal.unsqueeze(1), sphere], dim=1).reshape(count * (points + 1), dim)
            predicted = self.target(self._decode(batch, reuse=True)).view(count, points + 1)
            inside = predicted == labels_t.view(-1, 1)
            ok = inside[:, 0]
            # Accepted proposals become the current point; rejected ones are halved back towards it.
            z = torch.where(ok.view(-1, 1), proposal, z)
            accepted += ok.long()
            agreement = torch.where(ok, torch.ones_like(agreement), agreement)
            outside = (~inside[:, 1:]).float()  # [K, N]
            repulsion = -(outside.unsqueeze(2) * directions).mean(dim=1)  # BREP-MI's M
            norm = repulsion.norm(dim=1, keepdim=True)
            all_inside = ok & (outside.sum(dim=1) == 0)
            radius = torch.where(all_inside, (radius * float(s.radius_growth)).clamp_max(float(s.max_radius)), radius)
            move = torch.where(norm > 0, repulsion / norm.clamp_min(1e-12), torch.zeros_like(repulsion))
            forward = z + float(s.alpha) * radius.view(-1, 1) * move
            backward = z + 0.5 * (proposal - z)
            proposal = torch.where(ok.view(-1, 1), forward, backward)
            proposal = proposal * (bound / proposal.norm(dim=1, keepdim=True).clamp_min(bound))

        images = self._decode(z)
        return LabelOnlyResult(
            images=images,
            labels=labels_t,
            label_agreement=agreement.cpu().numpy().astype(np.float64),
            start_found=found.cpu().numpy(),
            radius=radius.cpu().numpy().astype(np.float64),
            accepted=accepted.cpu().numpy(),
            steps=steps,
            planned_steps=int(s.steps),
            queries=int(self.target.queries - start_queries),
            start_queries=int(init_queries),
        )
