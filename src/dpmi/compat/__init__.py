"""AIJack's names, as the tutorial "MI-FACE vs DPSGD" uses them, backed by dpmi's own engines.

Also re-exported as `dpmi.attack` (MI_FACE), `dpmi.defense` (GeneralMomentAccountant, DPSGDManager) and
`dpmi.utils` (NumpyDataset), so the tutorial runs with only its import lines changed. Names load lazily, so
importing one piece (say the accountant, pure numpy) does not pull in the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DPSGDManager": "dpmi.compat.dpsgd_manager",
    "GeneralMomentAccountant": "dpmi.compat.moment_accountant",
    "MI_FACE": "dpmi.compat.mi_face",
    "NumpyDataset": "dpmi.compat.numpy_dataset",
    "transforms": "dpmi.compat.transforms",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'dpmi.compat' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    return module if name == "transforms" else getattr(module, name)
