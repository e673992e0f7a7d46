"""MI-FACE speed: all 40 identities x 100 iterations on the tutorial's softmax model, in one run.

Compares dpmi's batched `MIFace` with (1) a loop over one label at a time written the tutorial's way
(AIJack's MI_FACE loop with the gradient zeroed each step) and (2) the bare cost of 100 forward+backward
passes of the model on a batch of 40 inputs, which no attack of this shape can beat. Times are the best of
`--repeats` interleaved rounds (the machine may be shared: compare the ratios, which come from this one run).

Floors (exit status 1 if missed): batched >= 8x faster than the per-label loop, and within 1.5x of the bare
forward+backward cost.

    python benchmarks/miface.py [--data DIR] [--repeats 5] [--threads N] [--paper]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dpmi.attacks import MIFace
from dpmi.data import load_att_faces
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train

ITERATIONS = 100
STEP_SIZE = 0.03
LABELS = 40
SPEEDUP_FLOOR = 8.0
OVERHEAD_CEILING = 1.5


class TutorialNet(torch.nn.Module):
    """The tutorial's Net: softmax regression that outputs probabilities."""

    def __init__(self, logits_model: torch.nn.Module) -> None:
        super().__init__()
        self.logits_model = logits_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_model(x).softmax(dim=1)


def per_label_loop(model: torch.nn.Module, labels: range) -> list[torch.Tensor]:
    """One label at a time, 100 steps each, the way the tutorial's MI_FACE does it (gradient zeroed)."""
    results = []
    for label in labels:
        x = torch.zeros(1, 1, 112, 92, requires_grad=True)
        for _ in range(ITERATIONS):
            cost = 1 - model(x)[:, label]
            cost.backward()
            with torch.no_grad():
                x -= STEP_SIZE * x.grad
                x.grad.zero_()
        results.append(x.detach())
    return results


def bare_forward_backward(model: torch.nn.Module) -> None:
    """100 forward+backward passes (input gradient) on a batch of 40: the floor for the batched attack."""
    x = torch.zeros(LABELS, 1, 112, 92)
    labels = torch.arange(LABELS)
    for _ in range(ITERATIONS):
        x.requires_grad_(True)
        cost = 1 - model(x).gather(1, labels[:, None]).squeeze(1)
        (gradient,) = torch.autograd.grad(cost.sum(), x)
        x = (x - STEP_SIZE * gradient).detach()


def best_times(functions: dict, repeats: int) -> dict[str, float]:
    """Best wall time of each function over `repeats` rounds; rounds interleave the functions so that a
    change in the machine's load hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="AT&T faces directory (default: $DPMI_DATA)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--paper", action="store_true", help="also time MIFace.paper on all 40 identities")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    faces = load_att_faces(args.data)
    train_set, _ = faces.split()
    x, y = train_set.to_tensors()
    logits_model = build_model("softmax", seed=0)
    train(logits_model, x, y, TrainConfig())
    logits_model.eval()
    net = TutorialNet(logits_model).eval()
    attack = MIFace.tutorial(net, clamp=None)

    attack.invert(np.arange(LABELS))  # warm-up (allocator, kernels)
    best = best_times(
        {
            "batched": lambda: attack.invert(np.arange(LABELS)),
            "loop": lambda: per_label_loop(net, range(LABELS)),
            "bare": lambda: bare_forward_backward(net),
        },
        args.repeats,
    )
    batched, loop, bare = best["batched"], best["loop"], best["bare"]

    print(
        f"MI-FACE, {LABELS} identities x {ITERATIONS} iterations, tutorial softmax model "
        f"(torch threads: {torch.get_num_threads()}, best of {args.repeats})"
    )
    print(f"{'variant':<44}{'seconds':>10}{'vs batched':>12}")
    for name, seconds in [
        ("dpmi MIFace.invert (batched)", batched),
        ("per-label loop, tutorial style", loop),
        ("bare 100 fwd+bwd on batch of 40 (floor)", bare),
    ]:
        print(f"{name:<44}{seconds:>10.3f}{seconds / batched:>11.2f}x")
    speedup = loop / batched
    overhead = batched / bare
    print(f"speed-up over per-label loop: {speedup:.1f}x (floor {SPEEDUP_FLOOR}x)")
    print(f"batched / bare fwd+bwd: {overhead:.2f}x (ceiling {OVERHEAD_CEILING}x)")

    if args.paper:
        paper = MIFace.paper(logits_model)
        start = time.perf_counter()
        result = paper.invert(np.arange(LABELS))
        seconds = time.perf_counter() - start
        print(
            f"MIFace.paper on {LABELS} identities: {seconds:.2f} s, mean steps "
            f"{result.iterations.mean():.0f}, stop reasons "
            f"{dict(zip(*np.unique(result.stop_reason, return_counts=True)))}"
        )

    ok = speedup >= SPEEDUP_FLOOR and overhead <= OVERHEAD_CEILING
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
