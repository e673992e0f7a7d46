"""A progress bar driven by a model's forward passes: training steps and attack iterations, without hooks
into the training loop or the attack.

Training runs one forward pass of the target per optimizer step, and the gradient attacks one per
iteration (batched over identities), so counting the target's forward calls tracks either without any
change to `dpmi.privacy.dpsgd.train` or to the registered attacks, and without changing their numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def forward_progress(model: nn.Module, *, total: int | None, desc: str, unit: str, enabled: bool) -> Iterator[None]:
    """Show a tqdm bar on stderr counting `model`'s forward calls while the block runs.

    Args:
        model: the module whose forward calls are counted (a forward hook, removed on exit).
        total: the expected count (None: unknown, the bar shows the count and the rate).
        desc: the bar's label. unit: what one forward call is ("step", "iter").
        enabled: False shows nothing (and installs no hook).

    On a normal exit the bar is closed at the count reached (an attack whose rows all stop early ends the
    bar there, rather than leaving it at a fraction of the planned total).
    """
    if not enabled:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True, disable=None)

    def count(module: nn.Module, inputs: object, output: object) -> None:
        bar.update(1)  # returns None: a forward hook's non-None return value would replace the output

    handle = model.register_forward_hook(count)
    try:
        yield
        if bar.total is None or bar.n != bar.total:
            bar.total = bar.n
            bar.refresh()
    finally:
        handle.remove()
        bar.close()
