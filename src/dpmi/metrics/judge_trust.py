"""Which judges to believe: read off the calibration, never declared.

A judge is *trusted* when, on images whose answer a person knows, it answers as a person would:
1. it names the held-out real private faces (acc@1 >= `MIN_HELD_OUT`);
2. it names Gaussian noise no more than chance (one-sided exact binomial test, 5 %);
3. it names the MI-FACE probes (images optimised against a *second* classifier trained on the private
   faces, which a person calls noise) no more than chance. A judge that names them above chance rewards
   the attack's own features, which transfer between classifiers trained on the same images: it is
   "fooled by optimised images" (Ho et al. 2025, "Uncovering the limitations of model inversion evaluation").
The eigenface-prior probe is reported beside these but does not decide trust: a prior draws a real face, so
whether that face is the person is what the study measures, not something a person knows in advance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dpmi.metrics.significance import above_chance

MIN_HELD_OUT = 0.8  # a judge that misses a fifth of real faces cannot say who a reconstruction is
PROBE_CASE = "optimised_miface"
NOISE_CASE = "noise"
HELD_OUT_CASE = "held_out_faces"


@dataclass(frozen=True)
class JudgeTrust:
    """The calibration's verdict on one judge.

    Attributes:
        name: the judge's registry name. trusted: all three checks passed.
        held_out: acc@1 on held-out real private faces (NaN if not measured).
        noise, probe: acc@1 on noise and on the MI-FACE probes (NaN if not measured).
        fooled: named the MI-FACE probes above chance. reasons: one phrase per failed or missing check.
    """

    name: str
    trusted: bool
    held_out: float
    noise: float
    probe: float
    fooled: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def words(self) -> str:
        """'trusted' or 'not trusted: <reasons>'."""
        return "trusted" if self.trusted else "not trusted: " + "; ".join(self.reasons)


def _rate(calibration: Mapping[str, Mapping[str, float]], case: str, key: str) -> tuple[float, int]:
    row = calibration.get(case) or {}
    value = row.get(key)
    n = int(row.get("n") or 0)
    return (float(value) if value is not None else math.nan), n


def judge_trust(calibration: Mapping[str, Mapping[str, float]], name: str) -> JudgeTrust:
    """The verdict on judge `name` from a study's calibration (`dpmi.metrics.calibrate_judges`)."""
    key = f"{name}_acc1"
    held_out, _ = _rate(calibration, HELD_OUT_CASE, key)
    reasons: list[str] = []
    if not math.isfinite(held_out):
        reasons.append("not measured on held-out real faces")
    elif held_out < MIN_HELD_OUT:
        reasons.append(f"names only {100 * held_out:.0f} % of held-out real faces")
    verdicts: dict[str, float] = {}
    fooled = False
    for case, what in ((NOISE_CASE, "noise"), (PROBE_CASE, "images optimised against another classifier")):
        rate, n = _rate(calibration, case, key)
        verdicts[case] = rate
        chance = float((calibration.get(case) or {}).get("chance_top1") or math.nan)
        if not math.isfinite(rate) or n < 1 or not 0 < chance < 1:
            reasons.append(f"not checked on {what}")
            continue
        if above_chance(round(rate * n), n, chance):
            reasons.append(f"names {what} above chance ({100 * rate:.0f} %, chance {100 * chance:.0f} %)")
            fooled = fooled or case == PROBE_CASE
    return JudgeTrust(name, not reasons, held_out, verdicts[NOISE_CASE], verdicts[PROBE_CASE], fooled, tuple(reasons))


def trusted_judges(calibration: Mapping[str, Mapping[str, float]], names: Iterable[str]) -> list[str]:
    """The names among `names` (registry order) that the calibration trusts."""
    return [name for name in names if judge_trust(calibration, name).trusted]
