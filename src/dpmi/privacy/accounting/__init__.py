"""Privacy accounting for DP-SGD (Poisson-subsampled Gaussian, add/remove-one): RDP and PLD accountants, noise
calibration. Pure numpy/scipy; importing it does not import torch."""

from .base import Accountant, MechanismStep
from .calibration import (
    SIGMA_RTOL,
    EpsilonResult,
    SigmaResult,
    compute_epsilon,
    epsilon_table,
    get_noise_multiplier,
    sampling_from_batches,
    sigma_table,
)
from .factory import (
    ACCOUNTANTS,
    accountant_from_state,
    accountant_summary,
    available_accountants,
    make_accountant,
    register_accountant,
)
from .orders import DEFAULT_ORDERS, OPACUS_ORDERS
from .pld_accountant import PLDAccountant  # registers "pld" (after "rdp", which calibration imports)
from .pld_grid_budget import SupportTooLargeError
from .rdp_accountant import RDPAccountant, RDPGuarantee
from .rdp_sampled_gaussian import compute_rdp
from .steps import dpsgd_steps

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_ORDERS",
    "OPACUS_ORDERS",
    "SIGMA_RTOL",
    "Accountant",
    "EpsilonResult",
    "MechanismStep",
    "PLDAccountant",
    "RDPAccountant",
    "RDPGuarantee",
    "SigmaResult",
    "SupportTooLargeError",
    "accountant_from_state",
    "accountant_summary",
    "available_accountants",
    "compute_epsilon",
    "compute_rdp",
    "dpsgd_steps",
    "epsilon_table",
    "get_noise_multiplier",
    "make_accountant",
    "register_accountant",
    "sampling_from_batches",
    "sigma_table",
]
