"""Privacy accounting for DP-SGD (Poisson-subsampled Gaussian, add/remove-one): RDP and PLD accountants, noise
calibration. Pure numpy/scipy; importing it does not import torch."""

from .base import Accountant, MechanismStep
from .factory import (
    ACCOUNTANTS,
    accountant_from_state,
    accountant_summary,
    available_accountants,
    make_accountant,
    register_accountant,
)
from .rdp_accountant import RDPAccountant, RDPGuarantee  # registers "rdp" first
from .pld_accountant import PLDAccountant  # registers "pld"
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
from .orders import DEFAULT_ORDERS, OPACUS_ORDERS
from .pld_grid_budget import SupportTooLargeError
from .rdp_sampled_gaussian import compute_rdp
from .steps import dpsgd_steps

__all__ = [
    "ACCOUNTANTS",
    "Accountant",
    "DEFAULT_ORDERS",
    "EpsilonResult",
    "MechanismStep",
    "OPACUS_ORDERS",
    "PLDAccountant",
    "RDPAccountant",
    "RDPGuarantee",
    "SIGMA_RTOL",
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
