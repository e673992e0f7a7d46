"""AIJack-compatible `dpmi.defense` (as `aijack.defense`): GeneralMomentAccountant, DPSGDManager."""

from dpmi.compat.dpsgd_manager import DPSGDManager
from dpmi.compat.moment_accountant import GeneralMomentAccountant

__all__ = ["DPSGDManager", "GeneralMomentAccountant"]
