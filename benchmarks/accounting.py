"""Accounting speed: dpmi vs Opacus and dp_accounting on the tutorial config, timed in one run.

Usage: python benchmarks/accounting.py   (needs the dev extra: opacus, dp-accounting). Each row is the median of
several fresh runs (new accountant each time, so no cache helps); ratios compare rows measured in this same run.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Callable

SIGMA, RATE, STEPS, DELTA = 0.5, 0.1, 100, 1e-5


def _median_seconds(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    value = fn()  # warm-up: imports, caches of the library itself
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # dp_accounting logs every fractional order it gives up on
    import dp_accounting as dpa
    from dp_accounting import pld as dpa_pld
    from dp_accounting.rdp import RdpAccountant
    from opacus.accountants import RDPAccountant as OpacusRDP
    from opacus.accountants.utils import get_noise_multiplier as opacus_sigma

    from dpmi.compat.moment_accountant import GeneralMomentAccountant
    from dpmi.privacy.accounting import PLDAccountant, RDPAccountant, get_noise_multiplier

    event = dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(RATE, dpa.GaussianDpEvent(SIGMA)), STEPS)

    def dpmi_rdp() -> float:
        acc = RDPAccountant()
        acc.step(SIGMA, RATE, STEPS)
        return acc.get_epsilon(DELTA)

    def opacus_rdp() -> float:
        acc = OpacusRDP()
        acc.history = [(SIGMA, RATE, STEPS)]
        return acc.get_epsilon(DELTA)

    def dpa_rdp() -> float:
        acc = RdpAccountant()
        acc.compose(event)
        return acc.get_epsilon(DELTA)

    def dpmi_aijack() -> float:
        acc = GeneralMomentAccountant(
            noise_type="Gaussian",
            search="ternary",
            precision=0.001,
            order_max=1,
            order_min=72,
            max_iterations=1000,
            backend="python",
        )
        acc.add_step_info({"sigma": SIGMA}, RATE, STEPS)
        return acc.get_epsilon(DELTA)

    def dpmi_pld() -> float:
        acc = PLDAccountant(value_discretization_interval=1e-4)
        acc.step(SIGMA, RATE, STEPS)
        return acc.get_epsilon(DELTA)

    def dpa_pld_eps() -> float:
        acc = dpa_pld.PLDAccountant(value_discretization_interval=1e-4)
        acc.compose(event)
        return acc.get_epsilon(DELTA)

    def dpmi_sigma() -> float:
        return get_noise_multiplier(8.0, 1e-5, 0.04, 2250)

    def opacus_sigma_cal() -> float:
        return opacus_sigma(
            target_epsilon=8.0,
            target_delta=1e-5,
            sample_rate=0.04,
            steps=2250,
            accountant="rdp",
            epsilon_tolerance=0.001,
        )

    rows = {
        "dpmi RDP epsilon": _median_seconds(dpmi_rdp, 15),
        "Opacus RDP epsilon": _median_seconds(opacus_rdp, 5),
        "dp_accounting RDP epsilon": _median_seconds(dpa_rdp, 5),
        "dpmi AIJack-compat epsilon (ternary)": _median_seconds(dpmi_aijack, 5),
        "dpmi PLD epsilon (interval 1e-4)": _median_seconds(dpmi_pld, 3),
        "dp_accounting PLD epsilon (interval 1e-4)": _median_seconds(dpa_pld_eps, 3),
        "dpmi sigma for eps=8 (RDP, q=0.04, 2250 steps)": _median_seconds(dpmi_sigma, 3),
        "Opacus sigma for eps=8 (RDP, same)": _median_seconds(opacus_sigma_cal, 1),
    }
    print(f"tutorial config: sigma={SIGMA} q={RATE} steps={STEPS} delta={DELTA}")
    print(f"{'what':50s} {'median ms':>10s} {'value':>14s}")
    for name, (seconds, value) in rows.items():
        print(f"{name:50s} {seconds * 1e3:10.2f} {value:14.6f}")

    def ratio(a: str, b: str) -> float:
        return rows[a][0] / rows[b][0]

    print()
    print(f"dpmi/Opacus RDP time ratio:        {ratio('dpmi RDP epsilon', 'Opacus RDP epsilon'):.3f}")
    print(f"dpmi/dp_accounting RDP time ratio: {ratio('dpmi RDP epsilon', 'dp_accounting RDP epsilon'):.3f}")
    print(
        f"dpmi/dp_accounting PLD time ratio: "
        f"{ratio('dpmi PLD epsilon (interval 1e-4)', 'dp_accounting PLD epsilon (interval 1e-4)'):.3f}"
    )
    print(
        f"dpmi/Opacus sigma calibration time ratio: "
        f"{ratio('dpmi sigma for eps=8 (RDP, q=0.04, 2250 steps)', 'Opacus sigma for eps=8 (RDP, same)'):.3f}"
    )
    rdp_ms = rows["dpmi RDP epsilon"][0] * 1e3
    print(f"goal RDP epsilon <= 10 ms: {'met' if rdp_ms <= 10 else 'NOT met'} ({rdp_ms:.2f} ms on a shared CPU)")
    pld_ok = rows["dpmi PLD epsilon (interval 1e-4)"][0] <= rows["dp_accounting PLD epsilon (interval 1e-4)"][0]
    print(f"goal PLD no slower than dp_accounting: {'met' if pld_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
