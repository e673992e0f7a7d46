"""The likelihood-ratio attack, LiRA (Carlini, Chien, Nasr, Song, Terzis & Tramer, S&P 2022), online and offline.

For each candidate (x, y) the target's confidence is taken on the logit scale, phi = log(p_y / (1 - p_y))
(their Sec. IV.B: the scaled confidence is close to Gaussian across training runs, unlike p_y), computed
stably as z_y - logsumexp_{j != y} z_j. Shadow models trained with (IN) and without (OUT) the candidate give
per-candidate Gaussian fits N(mu_in, s_in^2), N(mu_out, s_out^2) (Alg. 1). Scores, larger = more likely member:

    online:  log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2)      (their Eq. 4, the Neyman-Pearson test)
    offline: log Phi((phi - mu_out) / s_out)                              (their Sec. VI.A, one-sided, OUT only)

With few shadows per side the per-candidate variance is noisy; `fixed_variance=True` uses one variance per
side shared by all candidates (their "global variance" variant), and candidates with fewer than two IN (OUT)
shadows fall back to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

STD_FLOOR = 1e-4  # logit-scale units; guards a zero variance when all shadows agree


def scaled_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """phi = log(p_y / (1 - p_y)) from logits [..., N, classes] and labels [N]: [..., N] (float64)."""
    z = logits.double()
    index = labels.reshape(*([1] * (z.dim() - 2)), -1, 1).expand(*z.shape[:-1], 1)
    true = z.gather(-1, index).squeeze(-1)
    others = z.scatter(-1, index, float("-inf"))
    return true - torch.logsumexp(others, dim=-1)


@dataclass(frozen=True)
class LiraScores:
    """Per-candidate scores [N] (larger = more likely a member) and the fits behind them [N]."""

    online: np.ndarray
    offline: np.ndarray
    mu_in: np.ndarray
    mu_out: np.ndarray
    std_in: np.ndarray
    std_out: np.ndarray


def _fit(values: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    count = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros(values.shape[1]), where=count > 0)
    dev = np.where(mask, values - mean, 0.0)
    var = np.divide((dev**2).sum(axis=0), count - 1, out=np.full(values.shape[1], np.nan), where=count > 1)
    pooled = float(np.nanmedian(var)) if np.any(np.isfinite(var)) else 1.0
    if fixed_variance:
        var = np.full_like(var, pooled)
    var = np.where(np.isfinite(var), var, pooled)
    return mean, np.maximum(np.sqrt(var), STD_FLOOR)


def lira_scores(
    target_phi: np.ndarray, shadow_phi: np.ndarray, shadow_in: np.ndarray, fixed_variance: bool = False
) -> LiraScores:
    """Online and offline LiRA scores of the target's phi [N] given the shadows' phi [K, N] and membership
    [K, N] (True: candidate n was in shadow k's training set). Every candidate needs >= 1 OUT shadow; the
    online score of a candidate with no IN shadow falls back to its offline score."""
    target_phi = np.asarray(target_phi, dtype=np.float64)
    shadow_phi = np.asarray(shadow_phi, dtype=np.float64)
    shadow_in = np.asarray(shadow_in, dtype=bool)
    if shadow_phi.shape != shadow_in.shape or shadow_phi.shape[1:] != target_phi.shape:
        raise ValueError(
            f"shapes differ: target {target_phi.shape}, shadows {shadow_phi.shape}, membership {shadow_in.shape}"
        )
    if np.any((~shadow_in).sum(axis=0) == 0):
        raise ValueError("every candidate needs at least one shadow model trained without it: add shadows")
    mu_in, std_in = _fit(shadow_phi, shadow_in, fixed_variance)
    mu_out, std_out = _fit(shadow_phi, ~shadow_in, fixed_variance)
    offline = stats.norm.logcdf((target_phi - mu_out) / std_out)
    online = stats.norm.logpdf(target_phi, mu_in, std_in) - stats.norm.logpdf(target_phi, mu_out, std_out)
    online = np.where(shadow_in.sum(axis=0) > 0, online, offline)
    return LiraScores(online, offline, mu_in, mu_out, std_in, std_out)
