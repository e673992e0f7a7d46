"""How fine a PLD grid fits in memory: every grid is sized BEFORE it is allocated, and one that would exceed the
atom budget raises `SupportTooLargeError` carrying the interval that would fit, so the accountant can coarsen."""

from __future__ import annotations

import math

# Atoms in one PMF (128 MiB of float64, a few times that for the FFT's temporaries); beyond it the interval must be
# coarser. A request for more is refused before any allocation.
MAX_SUPPORT = 1 << 24
# Headroom when proposing a coarser interval: the grid's end atoms move by up to one interval when it changes.
_HEADROOM = 1.02


class SupportTooLargeError(ValueError):
    """A PLD grid would need more atoms than the budget at this discretisation interval.

    `width` (nats) is the grid's extent, the same at any interval; `needed_interval` (nats) is an interval at
    which it fits in the budget that was exceeded.
    """

    def __init__(self, message: str, needed_interval: float, width: float = math.nan) -> None:
        super().__init__(message)
        self.needed_interval = needed_interval
        self.width = width


def interval_for(width: float, max_atoms: int) -> float:
    """The interval (nats) at which a grid `width` nats wide fits in `max_atoms` atoms, with headroom."""
    return width * _HEADROOM / (max_atoms - 2)


def check_support(atoms: int, interval: float, what: str, max_atoms: int = MAX_SUPPORT) -> None:
    """Raise SupportTooLargeError if a grid of `atoms` atoms at `interval` nats exceeds `max_atoms`."""
    if atoms > max_atoms:
        width = atoms * interval  # nats, the same whatever the interval
        needed = interval_for(width, max_atoms)
        raise SupportTooLargeError(
            f"{what} needs {atoms} grid atoms (> {max_atoms}) at interval {interval:g} nats; an interval of "
            f"{needed:.3g} nats or more fits",
            needed,
            width,
        )


def atoms_between(loss_lo: float, loss_hi: float, interval: float) -> int:
    """Number of grid atoms k * interval covering [loss_lo, loss_hi] (nats, finite)."""
    return math.ceil(loss_hi / interval) - math.floor(loss_lo / interval) + 1
