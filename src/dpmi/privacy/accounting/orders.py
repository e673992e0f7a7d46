"""The Renyi orders the RDP accountant minimises over by default."""

from __future__ import annotations

import numpy as np

# Opacus's default grid (1.1..10.9 step 0.1, then 12..63) so results agree with it on the same orders, plus a sparse
# tail up to 1024 for very private regimes (large sigma, few steps) where the optimum sits above 63.
OPACUS_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)])
LARGE_ORDERS: tuple[float, ...] = (
    64.0,
    80.0,
    96.0,
    128.0,
    160.0,
    192.0,
    256.0,
    320.0,
    384.0,
    512.0,
    640.0,
    768.0,
    1024.0,
)
DEFAULT_ORDERS: np.ndarray = np.array(OPACUS_ORDERS + LARGE_ORDERS, dtype=np.float64)
DEFAULT_ORDERS.setflags(write=False)


def check_orders(orders: object) -> np.ndarray:
    """A 1-D float array of Renyi orders, each in (1, inf); raises ValueError otherwise."""
    arr = np.atleast_1d(np.asarray(orders, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("orders must be a non-empty 1-D sequence of Renyi orders in (1, inf)")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 1.0):
        raise ValueError(f"every order must be finite and in (1, inf), got {arr[(arr <= 1.0) | ~np.isfinite(arr)]}")
    return arr
