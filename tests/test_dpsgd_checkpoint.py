"""A DP-SGD run killed mid-training and resumed from its checkpoint ends with the same weights (to 1e-6) and exactly
the same epsilon as the run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.privacy.dpsgd import make_private
from dpmi.privacy.dpsgd.checkpoint import load_checkpoint, save_checkpoint

STEPS, SAVE_EVERY, KILL_AFTER = 12, 3, 8  # killed after step 8: the last checkpoint holds 6 steps


class InjectedFailure(RuntimeError):
    pass


def _run(checkpoint: Path | None, kill_after: int | None = None, accountant: str = "rdp", crash: bool = True):
    """Train a small classifier with DP-SGD (momentum, so the optimizer has state), saving every SAVE_EVERY steps
    and resuming from `checkpoint` when it exists. Returns (weights, epsilon, steps_taken)."""
    torch.set_num_threads(1)
    data = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 12, generator=data), torch.randint(0, 3, (60,), generator=data)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.GroupNorm(2, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    private = make_private(model, optimizer, (x, y), noise_multiplier=1.1, max_grad_norm=1.0,
                           expected_batch_size=10, steps=STEPS, accountant=accountant, seed=7)
    if checkpoint is not None and checkpoint.exists():
        load_checkpoint(checkpoint, private)
    while private.steps_taken < private.steps:
        for xb, yb in private.batches(1):
            private.step(F.cross_entropy(model(xb), yb, reduction="none"))
        if checkpoint is not None and private.steps_taken % SAVE_EVERY == 0:
            save_checkpoint(checkpoint, private)
        if kill_after is not None and private.steps_taken >= kill_after:
            if crash:
                os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no flush: as a crash or `kill -9`
            raise InjectedFailure(f"failure injected after step {private.steps_taken}")
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return weights, private.epsilon(), private.steps_taken


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    accountant = "pld"  # the accountant whose state is the richer one; RDP is covered in-process below
    reference, reference_eps, _ = _run(None, accountant=accountant)
    checkpoint = tmp_path / "run.ckpt"
    killed = subprocess.run(
        [sys.executable, "-c", ("import sys; sys.path.insert(0, sys.argv[1]); import test_dpsgd_checkpoint as t; "
                                "from pathlib import Path; t._run(Path(sys.argv[2]), t.KILL_AFTER, sys.argv[3])"),
         str(Path(__file__).parent), str(checkpoint), accountant],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["private"]["steps_taken"] == 6  # the kill came after step 8; the last save was at 6
    weights, eps, steps = _run(checkpoint, accountant=accountant)
    assert steps == STEPS
    assert torch.allclose(weights, reference, atol=1e-6, rtol=0)
    assert eps == reference_eps


def test_run_stopped_by_an_exception_resumes_to_the_uninterrupted_result(tmp_path):
    reference, reference_eps, _ = _run(None)
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(InjectedFailure):
        _run(checkpoint, kill_after=KILL_AFTER, crash=False)
    weights, eps, steps = _run(checkpoint)
    assert steps == STEPS and eps == reference_eps
    assert torch.allclose(weights, reference, atol=1e-6, rtol=0)


def test_resuming_with_other_settings_is_refused(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    _run(checkpoint)
    model = nn.Sequential(nn.Linear(12, 8), nn.GroupNorm(2, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    other = make_private(model, optimizer, (torch.randn(60, 12), torch.zeros(60, dtype=torch.long)),
                         noise_multiplier=2.0, max_grad_norm=1.0, expected_batch_size=10, steps=STEPS, seed=7)
    with pytest.raises(ValueError, match="noise_multiplier"):
        load_checkpoint(checkpoint, other)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable dpmi DP-SGD checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt", other)
