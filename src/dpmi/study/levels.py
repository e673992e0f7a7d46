"""Privacy levels: what each row of the study trains with, and the epsilon it buys.

A level is non-private, DP-SGD at a fixed noise multiplier, or DP-SGD calibrated to a target epsilon. A
calibrated level's sigma is found once per study (every seed then trains with the same sigma), and every DP
level's epsilon is reported by both accountants: RDP (Mironov 2017; Mironov, Talwar & Zhang 2019) and PLD
(Koskela et al. 2020; Meiser & Mohammadi 2018), for the Poisson-subsampled Gaussian under add/remove-one.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Any

from dpmi.study.config import StudyConfig


@dataclass(frozen=True)
class PrivacyLevel:
    """One privacy level, resolved.

    Attributes:
        key: file-safe identifier ("nonprivate", "sigma0.5", "eps8"), used in cell file names.
        label: what a reader sees ("non-private", "DP-SGD σ=0.5", "DP-SGD ε=8").
        noise_multiplier: sigma (noise std / clipping norm) the model trains with; None when non-private.
        target_epsilon: the epsilon sigma was calibrated to; None for fixed-sigma and non-private levels.
        sample_rate: Poisson sampling rate q = batch_size / training set size; None when non-private.
        steps: DP-SGD steps (ceil(epochs / q), `dpmi.privacy.accounting.dpsgd_steps`); None when non-private.
        epsilon_rdp: epsilon at the study's delta by the RDP accountant; None (infinite) when non-private.
        epsilon_pld: the same by the PLD accountant (tighter); None when non-private.
        defense: the model-inversion defense the target trains with (`dpmi.defenses`; "none" for the
            privacy levels, "dp-sgd" is what noise_multiplier says).
        defense_strength: its strength (None: none, or early-stop's searched epochs).
        matched_to: early-stop only: the key of the DP-SGD level whose accuracy it matches.
    """

    key: str
    label: str
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    sample_rate: float | None = None
    steps: int | None = None
    epsilon_rdp: float | None = None
    epsilon_pld: float | None = None
    defense: str = "none"
    defense_strength: float | None = None
    matched_to: str | None = None

    @property
    def private(self) -> bool:
        return self.noise_multiplier is not None

    @property
    def defended(self) -> bool:
        """A defense level (the frontier), not one of the privacy levels."""
        return self.defense != "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyLevel:
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls) if f.name in data}
        return cls(**values)


def _number(value: float) -> str:
    """8.0 -> "8", 0.5 -> "0.5" (for keys and labels)."""
    return f"{value:g}"


def plan_levels(config: StudyConfig) -> list[PrivacyLevel]:
    """The study's levels, least private first, before any accounting (sigma unknown for targets)."""
    levels: list[PrivacyLevel] = []
    if config.privacy.nonprivate:
        levels.append(PrivacyLevel("nonprivate", "non-private"))
    for sigma in config.privacy.noise_multipliers:
        levels.append(PrivacyLevel(f"sigma{_number(sigma)}", f"DP-SGD σ={_number(sigma)}", noise_multiplier=sigma))
    for epsilon in sorted(config.privacy.target_epsilons, reverse=True):
        levels.append(PrivacyLevel(f"eps{_number(epsilon)}", f"DP-SGD ε={_number(epsilon)}", target_epsilon=epsilon))
    return levels + defense_levels(
        config, [lv for lv in levels if lv.noise_multiplier is not None or lv.target_epsilon is not None]
    )


def defense_levels(config: StudyConfig, private_levels: list[PrivacyLevel]) -> list[PrivacyLevel]:
    """The frontier's levels (`[defense] names`): early-stop once per DP-SGD level (its epochs searched to match
    that level's accuracy), every other defense at its strength, all non-private."""
    from dpmi.defenses import DEFENSES
    from dpmi.study.config import defense_choices

    out: list[PrivacyLevel] = []
    if config.run.quick:  # a smoke run shows the frontier's shape: one accuracy-matched baseline
        private_levels = private_levels[:1]
    for name, strength in defense_choices(config):
        if name == "early-stop":
            out += [
                PrivacyLevel(
                    f"earlystop-{level.key}",
                    f"early-stop (accuracy of {level.label})",
                    defense=name,
                    matched_to=level.key,
                )
                for level in private_levels
            ]
            continue
        knob = DEFENSES.get(name).strength
        value = _number(float(strength or 0))
        out.append(
            PrivacyLevel(
                f"{name}{value}",
                f"{name} {knob.name if knob is not None else 'strength'}={value}",
                defense=name,
                defense_strength=strength,
            )
        )
    return out


@functools.cache
def accounting_source_fingerprint() -> str:
    """SHA-256 of the source of `dpmi.privacy.accounting` (every module, by name): part of cache keys of numbers
    the accountants computed, so editing an accountant never leaves a stale epsilon in a cache."""
    import hashlib
    from importlib import resources

    digest = hashlib.sha256()
    package = resources.files("dpmi.privacy.accounting")
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def resolve_levels(
    levels: list[PrivacyLevel], config: StudyConfig, train_size: int, recipes: dict[str, Any] | None = None
) -> list[PrivacyLevel]:
    """Calibrate sigma for target-epsilon levels and compute every DP level's epsilon (RDP and PLD).

    Each level's lot size and epochs are its recipe's (`recipes[level.key]`, a `dpmi.study.recipe.Recipe`;
    default: the config's base recipe), on the private training set of `train_size` images.

    Raises:
        ValueError: a target epsilon that no sigma reaches with these steps (the accountant says why).
    """
    # make_private's rule too; each cell checks that its training took exactly these steps.
    from dpmi.cache import cached
    from dpmi.privacy.accounting import (
        compute_epsilon,
        dpsgd_steps,
        get_noise_multiplier,
    )

    resolved = []
    for level in levels:
        if level.noise_multiplier is None and level.target_epsilon is None:
            resolved.append(level)
            continue
        recipe = (recipes or {}).get(level.key)
        batch_size = config.train.batch_size if recipe is None else recipe.batch_size
        epochs = config.train.epochs if recipe is None else recipe.epochs
        sample_rate = batch_size / train_size
        steps = dpsgd_steps(epochs, sample_rate)

        def account(level: PrivacyLevel = level, sample_rate: float = sample_rate, steps: int = steps) -> dict:
            sigma = level.noise_multiplier
            if sigma is None:
                assert level.target_epsilon is not None  # a private level has one or the other
                sigma = float(
                    get_noise_multiplier(
                        level.target_epsilon,
                        config.privacy.delta,
                        sample_rate,
                        steps,
                        accountant=config.privacy.accountant,
                    )
                )
            return {
                "sigma": float(sigma),
                **{
                    name: float(compute_epsilon(sigma, sample_rate, steps, config.privacy.delta, accountant=name))
                    for name in ("rdp", "pld")
                },
            }

        # Cached by content like the recipes (a second or two of every study otherwise); the key holds the
        # accountants' source, so a change to them recomputes.
        parts = {
            "noise_multiplier": level.noise_multiplier,
            "target_epsilon": level.target_epsilon,
            "delta": config.privacy.delta,
            "sample_rate": sample_rate,
            "steps": steps,
            "calibrated_by": config.privacy.accountant,
            "accounting_source": accounting_source_fingerprint(),
        }
        numbers, _ = cached("privacy-level", parts, account)
        sigma = float(numbers["sigma"])
        epsilons = {name: float(numbers[name]) for name in ("rdp", "pld")}
        resolved.append(
            PrivacyLevel(
                level.key,
                level.label,
                noise_multiplier=sigma,
                target_epsilon=level.target_epsilon,
                sample_rate=sample_rate,
                steps=steps,
                epsilon_rdp=epsilons["rdp"],
                epsilon_pld=epsilons["pld"],
            )
        )
    return resolved
