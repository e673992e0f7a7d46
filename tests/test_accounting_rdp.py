"""RDP accountant against Opacus, dp_accounting, numerical integration and closed forms."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate

from dpmi.privacy.accounting import (
    DEFAULT_ORDERS,
    OPACUS_ORDERS,
    PLDAccountant,
    RDPAccountant,
    compute_rdp,
    make_accountant,
)

opacus_rdp = pytest.importorskip("opacus.accountants.analysis.rdp")
dpa = pytest.importorskip("dp_accounting")
from dp_accounting.rdp import RdpAccountant as DpaRdpAccountant  # noqa: E402

# sigma in [0.4, 20], q in [1e-4, 1], steps in [1, 1e5]; corners plus interior points. Configs where Opacus's own
# fractional series needs > 1e4 terms per order (q ~ 0.5 with sigma ~ 20) are kept to one to stay in budget.
GRID = [
    (0.4, 1e-4, 1), (0.4, 0.01, 100), (0.4, 1.0, 1), (0.5, 0.1, 100), (0.7, 0.05, 100_000), (1.0, 0.004, 10_000),
    (1.1, 0.3, 50), (2.0, 0.02, 2_000), (4.0, 1.0, 1_000), (8.0, 0.2, 100_000), (20.0, 1e-4, 1), (20.0, 0.5, 30),
    (20.0, 1.0, 100_000), (3.0, 1e-4, 100_000),
]
INTEGER_ORDERS = [float(a) for a in range(2, 64)] + [64.0, 128.0, 256.0]


def _opacus_epsilon(sigma: float, q: float, steps: int, delta: float, orders) -> float:
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(orders))
    return opacus_rdp.get_privacy_spent(orders=list(orders), rdp=rdp, delta=delta)[0]


def _dpa_epsilon(sigma: float, q: float, steps: int, delta: float, orders) -> float:
    acc = DpaRdpAccountant(orders=list(orders))
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
    return acc.get_epsilon(delta)


@pytest.mark.slow
@pytest.mark.parametrize("sigma,q,steps", GRID)
def test_epsilon_equals_opacus_on_its_orders(sigma, q, steps):
    acc = RDPAccountant(orders=OPACUS_ORDERS)
    acc.step(sigma, q, steps)
    ours = acc.get_epsilon(1e-5)
    if 1e-5**2 + math.expm1(-acc.get_rdp()[0]) > 0:
        # KL so small that delta >= sqrt(1 - exp(-KL)) already: epsilon 0 (dp_accounting applies this bound;
        # Opacus does not and reports a positive epsilon).
        assert ours == 0.0 == _dpa_epsilon(sigma, q, steps, 1e-5, OPACUS_ORDERS)
    else:
        assert ours == pytest.approx(_opacus_epsilon(sigma, q, steps, 1e-5, OPACUS_ORDERS), rel=1e-6)


@pytest.mark.parametrize("sigma,q,steps", GRID)
@pytest.mark.parametrize("delta", [1e-5, 1e-9])
def test_epsilon_equals_dp_accounting_on_integer_orders(sigma, q, steps, delta):
    # dp_accounting 0.6 sums |terms| of the fractional series (a looser bound) and drops orders that need more
    # than 1000 terms, so exact agreement is only expected where both compute the same quantity: integer orders.
    acc = RDPAccountant(orders=INTEGER_ORDERS)
    acc.step(sigma, q, steps)
    assert acc.get_epsilon(delta) == pytest.approx(_dpa_epsilon(sigma, q, steps, delta, INTEGER_ORDERS), rel=1e-6)


def test_fractional_orders_never_above_dp_accounting():
    acc = RDPAccountant(orders=OPACUS_ORDERS)
    acc.step(0.8, 0.05, 1000)
    assert acc.get_epsilon(1e-5) <= _dpa_epsilon(0.8, 0.05, 1000, 1e-5, OPACUS_ORDERS) * (1 + 1e-9)


def _rdp_by_quadrature(sigma: float, q: float, alpha: float) -> float:
    """log E_{z~N(0,s^2)}[(1 - q + q e^((2z-1)/2s^2))^alpha] / (alpha - 1), integrating (.)^alpha - 1 directly."""

    def integrand(z: float) -> float:
        w = q * math.expm1((2 * z - 1) / (2 * sigma**2))
        log_density = -z * z / (2 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi))
        log_power = alpha * math.log1p(w)
        # ((.)^alpha - 1) * density, kept in one exponent so neither factor overflows on its own.
        return math.copysign(math.exp(log_density + log_power + math.log(abs(-math.expm1(-log_power)))), log_power) \
            if log_power != 0 else 0.0

    cuts = sorted({-14 * sigma, 0.0, 0.5, alpha, alpha + 14 * sigma})
    total = sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
                for lo, hi in zip(cuts[:-1], cuts[1:]))
    return math.log1p(total) / (alpha - 1)


@pytest.mark.parametrize("sigma,q,alpha", [(0.5, 0.1, 1.6), (0.5, 0.1, 1.1), (2.0, 0.3, 3.7), (1.0, 0.01, 7.25),
                                           (0.4, 0.02, 9.9), (5.0, 0.9, 2.5), (1.3, 0.05, 12.0), (0.9, 0.2, 31.0)])
def test_rdp_matches_numerical_integration(sigma, q, alpha):
    assert compute_rdp(sigma, q, [alpha])[0] == pytest.approx(_rdp_by_quadrature(sigma, q, alpha), rel=1e-8)


def test_full_batch_is_the_gaussian_mechanism():
    # q = 1: RDP of the Gaussian mechanism is alpha / (2 sigma^2) (Mironov 2017, Prop. 7), at every order.
    orders = np.array([1.5, 2.0, 7.3, 64.0])
    np.testing.assert_allclose(compute_rdp(1.7, 1.0, orders), orders / (2 * 1.7**2), rtol=1e-15)


def test_rdp_grows_with_order_and_is_additive_over_steps():
    rdp = compute_rdp(0.9, 0.05, DEFAULT_ORDERS)
    assert np.all(np.diff(rdp) >= 0)  # Renyi divergence is non-decreasing in the order
    acc = RDPAccountant()
    acc.step(0.9, 0.05, 7)
    np.testing.assert_allclose(acc.get_rdp(), 7 * rdp, rtol=1e-14)


def test_heterogeneous_phases_match_opacus_history():
    from opacus.accountants import RDPAccountant as OpacusRDP

    theirs = OpacusRDP()
    theirs.history = [(1.0, 0.02, 500), (0.6, 0.05, 200), (1.0, 0.02, 300)]
    ours = RDPAccountant(orders=OPACUS_ORDERS)
    for sigma, q, n in theirs.history:
        ours.step(sigma, q, n)
    assert ours.get_epsilon(1e-6) == pytest.approx(theirs.get_epsilon(1e-6), rel=1e-6)
    assert len(ours.history) == 3


def test_repeated_single_steps_merge_and_equal_one_bulk_step():
    one_by_one, bulk = RDPAccountant(), RDPAccountant()
    for _ in range(250):
        one_by_one.step(1.2, 0.04)
    bulk.step(1.2, 0.04, 250)
    assert one_by_one.history == bulk.history
    assert one_by_one.get_epsilon(1e-5) == bulk.get_epsilon(1e-5)


def test_get_delta_inverts_get_epsilon():
    acc = RDPAccountant()
    acc.step(1.0, 0.01, 3000)
    for delta in (1e-3, 1e-5, 1e-10):
        eps = acc.get_epsilon(delta)
        assert acc.get_delta(eps) == pytest.approx(delta, rel=1e-6)
        assert acc.get_delta(eps * 1.01) < delta < acc.get_delta(eps * 0.99)


def test_delta_matches_dp_accounting():
    acc = RDPAccountant(orders=INTEGER_ORDERS)
    acc.step(1.1, 0.02, 1000)
    theirs = DpaRdpAccountant(orders=INTEGER_ORDERS)
    theirs.compose(dpa.PoissonSampledDpEvent(0.02, dpa.GaussianDpEvent(1.1)), 1000)
    for eps in (0.5, 2.0, 8.0):
        assert acc.get_delta(eps) == pytest.approx(theirs.get_delta(eps), rel=1e-6)


def test_optimal_order_is_reported_and_boundary_is_flagged():
    acc = RDPAccountant()
    acc.step(0.5, 0.1, 100)
    spent = acc.get_privacy_spent(1e-5)
    assert spent.order == acc.get_optimal_order(1e-5) and 1.1 < spent.order < 1024
    assert not spent.order_at_boundary and spent.note == ""
    narrow = RDPAccountant(orders=[2.0, 3.0])
    narrow.step(5.0, 0.01, 10)  # very private: the best order is far above 3
    flagged = narrow.get_privacy_spent(1e-5)
    assert flagged.order == 3.0 and flagged.order_at_boundary and "largest" in flagged.note


def test_no_steps_is_zero_epsilon():
    assert RDPAccountant().get_epsilon(1e-5) == 0.0
    assert RDPAccountant().get_delta(0.0) == 0.0


def test_tutorial_config_prints_rdp_and_pld():
    rdp, pld = make_accountant("rdp"), make_accountant("pld")
    for acc in (rdp, pld):
        acc.step(0.5, 0.1, 100)
    eps_rdp, eps_pld = rdp.get_epsilon(1e-5), pld.get_epsilon(1e-5)
    print(f"tutorial sigma=0.5 q=0.1 steps=100 delta=1e-5: RDP eps={eps_rdp:.4f}  PLD eps={eps_pld:.4f}")
    assert eps_rdp == pytest.approx(_opacus_epsilon(0.5, 0.1, 100, 1e-5, OPACUS_ORDERS), rel=1e-6)
    assert round(eps_rdp, 1) == 35.2
    assert isinstance(pld, PLDAccountant)
    # The oracle: dp_accounting's PLD accountant at the same discretisation (as in test_accounting_pld.py).
    oracle = dpa.pld.PLDAccountant(value_discretization_interval=pld.value_discretization_interval)
    oracle.compose(dpa.PoissonSampledDpEvent(0.1, dpa.GaussianDpEvent(0.5)), 100)
    theirs = oracle.get_epsilon(1e-5)
    assert eps_pld == pytest.approx(theirs, rel=5e-3)
    assert eps_pld >= theirs - 100 * pld.value_discretization_interval  # both pessimistic: only the grid separates them
    assert eps_pld < eps_rdp


@pytest.mark.parametrize("kwargs,match", [
    (dict(noise_multiplier=0.0, sample_rate=0.1, num_steps=1), "noise_multiplier must be in"),
    (dict(noise_multiplier=-1.0, sample_rate=0.1, num_steps=1), "noise_multiplier must be in"),
    (dict(noise_multiplier=float("nan"), sample_rate=0.1, num_steps=1), "noise_multiplier must not be NaN"),
    (dict(noise_multiplier=1.0, sample_rate=0.0, num_steps=1), r"sample_rate must be in \(0, 1\]"),
    (dict(noise_multiplier=1.0, sample_rate=1.5, num_steps=1), r"sample_rate must be in \(0, 1\]"),
    (dict(noise_multiplier=1.0, sample_rate=float("nan"), num_steps=1), "sample_rate must not be NaN"),
    (dict(noise_multiplier=1.0, sample_rate=0.1, num_steps=-1), "num_steps must be a whole number >= 0"),
    (dict(noise_multiplier=1.0, sample_rate=0.1, num_steps=2.5), "num_steps must be a whole number >= 0"),
])
@pytest.mark.parametrize("name", ["rdp", "pld"])
def test_bad_step_arguments_raise_value_error_naming_them(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_accountant(name).step(**kwargs)


@pytest.mark.parametrize("delta", [0.0, 1.0, -1e-5, float("nan")])
@pytest.mark.parametrize("name", ["rdp", "pld"])
def test_bad_delta_raises(name, delta):
    acc = make_accountant(name)
    acc.step(1.0, 0.1, 1)
    with pytest.raises(ValueError, match="delta"):
        acc.get_epsilon(delta)


def test_bad_orders_and_names_raise():
    with pytest.raises(ValueError, match="order"):
        RDPAccountant(orders=[0.5, 2.0])
    with pytest.raises(ValueError, match="accountant must be one of"):
        make_accountant("moments")


def test_importing_accounting_does_not_import_torch():
    code = ("import sys, dpmi.privacy.accounting as a; a.compute_epsilon(1.0, 0.1, 10, 1e-5); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("sigma,q,alpha", [(100.0, 1e-6, 1.1), (100.0, 1e-6, 2.0), (20.0, 1e-4, 7.5), (3.0, 1e-5, 32.0),
                                           (0.4, 1e-4, 1.1)])
def test_tiny_rdp_keeps_relative_precision(sigma, q, alpha):
    # A - 1 is far below double precision here (down to ~1e-17): a 40-digit integral is the oracle.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    s, qq, a = mpmath.mpf(sigma), mpmath.mpf(q), mpmath.mpf(alpha)

    def integrand(z):
        return ((1 - qq + qq * mpmath.exp((2 * z - 1) / (2 * s**2))) ** a - 1) * mpmath.npdf(z, 0, s)

    a_minus_1 = mpmath.quad(integrand, [-20 * s, 0, 0.5, a, a + 20 * s])
    expected = float(mpmath.log1p(a_minus_1) / (a - 1))
    assert compute_rdp(sigma, q, [alpha])[0] == pytest.approx(expected, rel=1e-8)


def test_tiny_per_step_rdp_does_not_collapse_to_zero_epsilon():
    # 1e6 steps of a very private mechanism: KL ~ 6e-11 > delta^2, so epsilon must stay positive.
    acc = RDPAccountant()
    acc.step(100.0, 1e-6, 1_000_000)
    spent = acc.get_privacy_spent(1e-12)
    assert spent.epsilon > 0.01 and spent.order_at_boundary and "largest" in spent.note
