"""What DP-SGD's guarantee says about RECOVERING a training record: the reconstruction-robustness bound.

A mechanism whose pair of output distributions (without the target record, with it) has trade-off curve f
(the smallest type-II error of any test at type-I error alpha; Dong, Roth & Su 2022) bounds the success of ANY
reconstruction attack on a record drawn from a prior pi by

    P[attack recovers the record]  <=  1 - f(kappa),

where kappa is the baseline: the best success an attacker reaches without the model, sup_z' P_{z ~ pi}[z' is
a correct reconstruction of z] (e.g. kappa = 1 / people for "which of the people is this"). (Hayes,
Mahloujifar & Balle, NeurIPS 2023, "Bounding training data reconstruction in DP-SGD"; Kaissis, Hayes, Ziller &
Rueckert 2023.) Proof sketch: the event "the attack's output matches z" has probability <= kappa under the
model trained without z (that model does not depend on z), so by the Neyman-Pearson bound and the convexity of f
its probability under the model trained with z is <= 1 - f(kappa). For mu-GDP, f(a) = Phi(Phi^-1(1 - a) - mu),
so the bound is Phi(Phi^-1(kappa) + mu).

**From the PLD.** dpmi's grid PLD stores, per side, the P-mass p_k at loss l_k = log dP/dQ and the P-mass at
+inf; the Q-mass of atom k is p_k e^(-l_k), and whatever Q-mass is left is at loss -inf (P-mass 0). The
Neyman-Pearson tests are the thresholds on the loss, so the trade-off curve is the piecewise-linear curve through
the cumulative masses, for either order of the pair:

    T(Q, P): reject Q for the highest losses (alpha = Q-mass rejected, beta = P-mass kept);
    T(P, Q): reject P for the lowest losses.

The accountant's discretisation is pessimistic in the Blackwell sense (connect-the-dots splits keep both masses,
tails are split off to +-inf): the grid pair is easier to tell apart than the true one, so its trade-off curve
lies BELOW the true one and 1 - f(kappa) stays an upper bound; P-mass lost to round-off or the composition's tail
window is put at +inf, which only lowers f further.

**Both adjacency directions.** "remove": P = with the record, Q = without; "add": the reverse pair. The bound
for an attacker on a model trained WITH the record uses T(without, with), the other direction T(with, without);
each is computed from both sides' composed PLDs (both are valid discretisations; the lower curve is kept) and the
bound reported is the larger of the two directions.

**Identity level.** A person with k records is, step by step, dominated by one record of a Poisson-subsampled
Gaussian at rate q_k = 1 - (1 - q)^k and noise sigma / k (dpmi.audit.group_privacy), so the same PLD code at
(sigma / k, q_k) gives the trade-off curve, hence the bound, for recovering anything about the person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .pld_accountant import DEFAULT_INTERVAL, PLDAccountant
from .pld_sampled_gaussian import NEIGHBOURING_SIDES, GridPLD

__all__ = [
    "DIRECTIONS",
    "ReconstructionBound",
    "check_kappa",
    "dpsgd_plds",
    "dpsgd_reconstruction_bound",
    "gaussian_reconstruction_bound",
    "reconstruction_bound",
    "trade_off",
    "trade_off_vertices",
]

# "with": an attacker on the model trained WITH the record, f = T(without, with); "without": the reverse order.
DIRECTIONS = ("with", "without")
# (side of the PLD, order of its pair) that gives T(without, with) / T(with, without). remove: P with, Q without.
_CURVES = {
    "with": (("remove", "QP"), ("add", "PQ")),
    "without": (("remove", "PQ"), ("add", "QP")),
}


def check_kappa(kappa: object) -> float:
    """The baseline success kappa: a number in (0, 1) (ValueError otherwise)."""
    try:
        value = float(kappa)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"kappa (the baseline reconstruction success) must be a number in (0, 1), got {kappa!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"kappa (the baseline reconstruction success) must be in (0, 1), got {kappa!r}")
    return value


def _masses(pld: GridPLD) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(losses, P-masses, Q-masses) of the finite atoms, P-mass at +inf, Q-mass at -inf (all pessimistic)."""
    losses = pld.losses
    p = np.maximum(np.asarray(pld.pmf, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        q = np.where(p > 0, np.exp(np.minimum(np.log(np.where(p > 0, p, 1.0)) - losses, 700.0)), 0.0)
    q_total = float(q.sum())
    if q_total > 1.0:  # round-off only (the grid keeps the Q-mass): scale back onto the simplex
        q = q / q_total
        q_total = 1.0
    p_inf = min(1.0, float(pld.infinity_mass) + max(0.0, 1.0 - float(pld.infinity_mass) - float(p.sum())))
    return losses, p, q, p_inf, max(0.0, 1.0 - q_total)


def trade_off_vertices(pld: GridPLD, order: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (alpha, beta), alpha non-decreasing from 0 to 1, of the trade-off curve of the PLD's pair:
    order "QP" is T(Q, P) (null Q), "PQ" is T(P, Q) (null P)."""
    _, p, q, p_inf, q_minus_inf = _masses(pld)
    if order == "QP":  # reject Q on +inf first (Q-mass 0), then the atoms from the highest loss down
        alpha = np.concatenate([[0.0], np.cumsum(q[::-1]), [1.0]])
        power = np.concatenate([[p_inf], p_inf + np.cumsum(p[::-1]), [1.0]])
    elif order == "PQ":  # reject P on -inf first (P-mass 0), then the atoms from the lowest loss up
        alpha = np.concatenate([[0.0], np.cumsum(p), [1.0]])
        power = np.concatenate([[q_minus_inf], q_minus_inf + np.cumsum(q), [1.0]])
    else:
        raise ValueError(f"order must be 'QP' or 'PQ', got {order!r}")
    alpha = np.minimum(np.maximum.accumulate(alpha), 1.0)
    beta = np.clip(1.0 - power, 0.0, 1.0)
    return alpha, beta


def trade_off(pld: GridPLD, alpha: float | np.ndarray, order: str) -> np.ndarray:
    """The trade-off curve (see `trade_off_vertices`) at type-I error(s) alpha in [0, 1]: the smallest type-II
    error of any test, by linear interpolation between the vertices (randomised tests)."""
    a, b = trade_off_vertices(pld, order)
    x = np.clip(np.asarray(alpha, dtype=np.float64), 0.0, 1.0)
    # The last vertex with alpha <= x (ties: the lowest beta, i.e. the last), then interpolate to the next one.
    i = np.clip(np.searchsorted(a, x, side="right") - 1, 0, a.size - 2)
    width = a[i + 1] - a[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(width > 0, (x - a[i]) / np.where(width > 0, width, 1.0), 0.0)
    return np.clip(b[i] + np.clip(t, 0.0, 1.0) * (b[i + 1] - b[i]), 0.0, 1.0)


@dataclass(frozen=True)
class ReconstructionBound:
    """Upper bound on any reconstruction attack's success at baseline kappa.

    Attributes:
        kappa: the baseline success (the best guess without the model).
        bound: max over the two directions of 1 - f(kappa), in [kappa, 1].
        by_direction: {"with": .., "without": ..}: 1 - T(without, with)(kappa) (an attacker on the model trained
            with the record) and 1 - T(with, without)(kappa).
        records: k, records of the person (1: record level).
        noise_multiplier, sample_rate, steps: the record-level mechanism; interval: the PLD grid used (nats).
    """

    kappa: float
    bound: float
    by_direction: dict[str, float] = field(default_factory=dict)
    records: int = 1
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int | None = None
    interval: float | None = None

    @property
    def vacuous(self) -> bool:
        """True when the bound promises (almost) nothing: the attack may succeed with probability ~1."""
        return self.bound >= 0.99

    def to_dict(self) -> dict[str, object]:
        return {
            "kappa": self.kappa,
            "bound": self.bound,
            "by_direction": dict(self.by_direction),
            "records": self.records,
            "interval": self.interval,
            "vacuous": self.vacuous,
        }


def reconstruction_bound(plds: dict[str, GridPLD | None], kappa: float) -> ReconstructionBound:
    """1 - f(kappa) from composed PLDs {"remove": .., "add": ..} (see the module docstring); kappa in (0, 1).
    A missing side (None) is skipped; with no PLD at all (nothing trained) the bound is kappa itself."""
    kappa = check_kappa(kappa)
    by_direction: dict[str, float] = {}
    for direction, curves in _CURVES.items():
        values = [float(trade_off(pld, kappa, order)) for side, order in curves if (pld := plds.get(side)) is not None]
        f = min(values) if values else 1.0 - kappa
        by_direction[direction] = float(min(1.0, max(kappa, 1.0 - f)))
    return ReconstructionBound(kappa, max(by_direction.values()), by_direction)


def _group(noise_multiplier: float, sample_rate: float, records: int) -> tuple[float, float]:
    """(sigma / k, 1 - (1 - q)^k): the one-record mechanism that dominates a group of k (group_privacy)."""
    if not (isinstance(records, int) and records >= 1):
        raise ValueError(f"records must be an integer >= 1, got {records!r}")
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    q_k = -math.expm1(records * math.log1p(-sample_rate)) if sample_rate < 1.0 else 1.0
    return noise_multiplier / records, q_k


def dpsgd_plds(
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    records: int = 1,
    interval: float = DEFAULT_INTERVAL,
) -> tuple[dict[str, GridPLD | None], float]:
    """The composed PLDs (both sides) of `steps` DP-SGD steps for a person with `records` images, and the grid
    interval actually used (the accountant coarsens it when the finer grid does not fit in memory)."""
    if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
        raise ValueError(f"noise_multiplier must be > 0 and finite for a bound, got {noise_multiplier}")
    sigma, q = _group(noise_multiplier, sample_rate, records)
    accountant = PLDAccountant(value_discretization_interval=interval)
    accountant.step(sigma, q, int(steps))
    plds = accountant.composed_pld()
    return {side: plds.get(side) for side in NEIGHBOURING_SIDES}, accountant.interval_used


def dpsgd_reconstruction_bound(
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    kappa: float,
    records: int = 1,
    interval: float = DEFAULT_INTERVAL,
) -> ReconstructionBound:
    """Upper bound on any reconstruction attack's success against DP-SGD (sigma, q, T) at baseline kappa, for a
    record (records = 1) or a person with `records` images (identity level)."""
    kappa = check_kappa(kappa)
    plds, used = dpsgd_plds(noise_multiplier, sample_rate, steps, records, interval)
    result = reconstruction_bound(plds, kappa)
    return ReconstructionBound(
        result.kappa,
        result.bound,
        result.by_direction,
        int(records),
        float(noise_multiplier),
        float(sample_rate),
        int(steps),
        float(used),
    )


def gaussian_reconstruction_bound(mu: float, kappa: float) -> float:
    """Closed form for mu-GDP (the Gaussian mechanism with sensitivity / noise = mu): Phi(Phi^-1(kappa) + mu)."""
    kappa = check_kappa(kappa)
    if not mu >= 0:
        raise ValueError(f"mu must be >= 0, got {mu}")
    return float(special.ndtr(special.ndtri(kappa) + mu))
