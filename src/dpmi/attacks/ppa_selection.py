"""PPA's two selection steps (Struppek et al., "Plug & Play Attacks", ICML 2022, Sec. 4.2-4.3), batched:

- initial selection: decode many random latents, keep for each identity the `restarts` latents the target
  is most confident about (PPA: top-k of the target's confidence over a large random batch);
- result selection: after optimisation, keep for each identity the candidate whose confidence survives
  small changes of the image (PPA averages the confidence over random crops/flips/rotations; here a fixed
  set of a mirror and shifts by a few pixels, so the choice is deterministic).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpmi.attacks.image_shifts import apply_transform, selection_transforms

ConfidenceOf = Callable[[torch.Tensor], torch.Tensor]  # images [B, C, H, W] -> probabilities [B, classes]


def initial_selection(candidate_probabilities: torch.Tensor, labels: torch.Tensor, restarts: int) -> torch.Tensor:
    """Indices [K, restarts] of the candidates with the highest probability of each label.

    Args:
        candidate_probabilities: [N, classes] target probabilities of N decoded random latents.
        labels: [K] identities to invert.
        restarts: candidates kept per identity, 1..N (a candidate may start several identities).
    """
    count = int(candidate_probabilities.shape[0])
    if not 1 <= restarts <= count:
        raise ValueError(f"restarts must be in 1..{count} (the candidates sampled), got {restarts}")
    per_label = candidate_probabilities[:, labels].T  # [K, N]
    return per_label.topk(restarts, dim=1).indices


def robust_confidence(
    images: torch.Tensor, labels: torch.Tensor, probabilities_of: ConfidenceOf, max_shift: int
) -> torch.Tensor:
    """Mean target probability of `labels[b]` over the selection transforms of `images[b]` ([B]): the image,
    its mirror, and shifts by `max_shift` pixels each way (one forward pass per transform, whole batch)."""
    total = torch.zeros(images.shape[0], device=images.device)
    transforms = selection_transforms(max_shift)
    for transform in transforms:
        probabilities = probabilities_of(apply_transform(images, transform))
        total += probabilities.gather(1, labels.view(-1, 1)).squeeze(1)
    return total / len(transforms)


def result_selection(robust: torch.Tensor) -> torch.Tensor:
    """For robust confidences [K, R] (identity k, restart r): index [K] of each identity's best restart."""
    return robust.argmax(dim=1)
