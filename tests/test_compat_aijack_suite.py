"""Every argument combination AIJack's own accountant tests pass to `GeneralMomentAccountant` is accepted, and gives
AIJack's expected numbers (epsilon 7.329 for sigma 1.5, q 0.04, 2250 steps at delta 1e-5; sigma 1.425 for epsilon 8
over 90 epochs), checked here against dp_accounting too, so the drop-in claim rests on more than AIJack's printout."""

from __future__ import annotations

import pytest

from dpmi.compat.moment_accountant import GeneralMomentAccountant

dpa = pytest.importorskip("dp_accounting")
from dp_accounting.rdp import RdpAccountant as DpaRdpAccountant  # noqa: E402

AIJACK_EPSILON = 7.32911117143  # AIJack's expected value, both bound types (its tests allow 1 %)
AIJACK_SIGMA = 1.425307617  # its expected calibrated sigma (1 %)
SIGMA, RATE, STEPS = 1.5, 0.04, int(90 / 0.04)

# The two constructor argument sets in AIJack's accountant tests (the DP-SGD test's set is the tutorial's, covered in
# test_compat_accountant.py): a ternary search whose order range ends at 0 (orders <= 1 have no bound), and a greedy
# search over explicit integer orders with the tight (Zhu & Wang) bound.
ARGUMENT_SETS = {
    "ternary-closed-form": dict(noise_type="Gaussian", search="ternary", precision=0.001, order_max=0, order_min=72,
                                max_iterations=100, bound_type="rdp_upperbound_closedformula"),
    "greedy-tight": dict(noise_type="Gaussian", search="greedy", orders=list(range(2, 73)), max_iterations=100,
                         bound_type="rdp_tight_upperbound"),
}


def _dpa_epsilon(sigma: float, orders) -> float:
    acc = DpaRdpAccountant(orders=[float(a) for a in orders])
    acc.compose(dpa.PoissonSampledDpEvent(RATE, dpa.GaussianDpEvent(sigma)), STEPS)
    return acc.get_epsilon(1e-5)


@pytest.mark.parametrize("name", list(ARGUMENT_SETS))
def test_aijacks_argument_sets_give_its_epsilon_and_sigma(name):
    acc = GeneralMomentAccountant(**ARGUMENT_SETS[name])
    acc.reset_step_info()
    acc.add_step_info({"sigma": SIGMA}, RATE, STEPS)
    epsilon = acc.get_epsilon(delta=1e-5)
    assert epsilon == pytest.approx(AIJACK_EPSILON, rel=1e-2)
    # Independent: not below the optimum over a 0.05-step order grid (the exact sampled-Gaussian RDP, which the
    # tight bound equals at integer orders) by more than the grid's spacing allows a continuous order to gain,
    # and within 1 % of the best integer order.
    fine = [2 + k / 20 for k in range(20 * 70 + 1)]
    assert _dpa_epsilon(SIGMA, fine) * (1 - 1e-4) <= epsilon <= _dpa_epsilon(SIGMA, range(2, 73)) * 1.01
    sigma = acc.get_noise_multiplier("sigma", 8, 1e-5, RATE, 90, noise_multiplier_min=0, noise_multiplier_max=10,
                                     noise_multiplier_precision=0.0001)
    assert sigma == pytest.approx(AIJACK_SIGMA, rel=1e-2)
    assert _dpa_epsilon(sigma, fine) <= 8 * (1 + 1e-4) < _dpa_epsilon(sigma * 0.99, fine)
    assert acc.steps_info == [({"sigma": SIGMA}, RATE, float(STEPS))]  # calibration left the record alone


def test_an_order_range_ending_below_one_searches_only_valid_orders():
    # order_max=0: the orders in (0, 1] have no bound; the search must find the same optimum as over [1, 72].
    ends_at_zero = GeneralMomentAccountant(**ARGUMENT_SETS["ternary-closed-form"])
    ends_at_one = GeneralMomentAccountant(**dict(ARGUMENT_SETS["ternary-closed-form"], order_max=1))
    for acc in (ends_at_zero, ends_at_one):
        acc.add_step_info({"sigma": SIGMA}, RATE, STEPS)
    assert ends_at_zero.get_epsilon(1e-5) == pytest.approx(ends_at_one.get_epsilon(1e-5), rel=1e-4)
    delta = ends_at_zero.get_delta(ends_at_zero.get_epsilon(1e-5))
    assert delta == pytest.approx(1e-5, rel=1e-2)


def test_a_range_with_no_order_above_one_is_refused():
    with pytest.raises(ValueError, match="order_min and order_max"):
        GeneralMomentAccountant(order_min=0, order_max=1)
    with pytest.raises(ValueError, match="order_min and order_max"):
        GeneralMomentAccountant(order_min=-1, order_max=10)


def test_the_accountants_stay_pure_numpy_and_accounting_does_not_reach_into_compat():
    import subprocess
    import sys

    code = ("import sys, dpmi.privacy.accounting, dpmi.compat.moment_accountant as m; "
            "print('torch' in sys.modules, any(k.startswith('dpmi.compat.aijack') for k in sys.modules)); "
            "import importlib; sys.modules.pop('dpmi.compat.aijack_bounds'); "
            "[sys.modules.pop(k) for k in list(sys.modules) if k.startswith('dpmi.privacy.accounting')]; "
            "importlib.import_module('dpmi.privacy.accounting'); "
            "print('dpmi.compat.aijack_bounds' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"]
