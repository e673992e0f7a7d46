"""Judges and metrics per person as the private people grow (Issue 19): the cost of fitting every registered judge
and of scoring one reconstruction per private person, for P and 4P private people, in one run.

Synthetic 64x64 identity folders (`dpmi.data.make_synthetic_faces`, 7 training + 3 held-out images per person);
the "reconstructions" are the held-out images (what matters is the judges' work per image and per person).
Printed: seconds per person for fitting (evaluator training included, calibration excluded) and for scoring,
and their ratio between 4P and P people. Goal: <= 1.3x per person (exit status 1 if missed).

    python benchmarks/judges.py [--people 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

from dpmi.data import make_synthetic_faces
from dpmi.metrics import JUDGES, LabelledImages, evaluate_inversion
from dpmi.metrics.judges import Judges

GOAL = 1.3


def measure(people: int, seed: int = 0) -> dict[str, float]:
    faces = make_synthetic_faces(num_identities=people, per_identity=10, image_shape=(64, 64), seed=seed)
    train, test = faces.split(7, seed=0)
    start = time.perf_counter()
    members = {}
    for name, spec in JUDGES.items():
        if spec.available()[0]:
            members[name] = spec.fit(train, test, seed=0, device="cpu", recipe={"epochs": 5})
    fit = time.perf_counter() - start
    judges = Judges(members)
    x, y = test.to_tensors()
    one = torch.stack([x[y == k][0] for k in range(people)])
    start = time.perf_counter()
    evaluate_inversion(LabelledImages(one, torch.arange(people)), train, judges)
    score = time.perf_counter() - start
    return {"fit": fit / people, "score": score / people, "judges": len(members)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DPMI_CACHE"] = cache  # fresh: every fit is measured, none loaded
        small = measure(args.people)
        large = measure(4 * args.people)
    print(f"judges: {', '.join(JUDGES.names())} ({small['judges']:.0f} available here)")
    for phase in ("fit", "score"):
        ratio = large[phase] / small[phase]
        print(
            f"{phase}: {1000 * small[phase]:.1f} ms/person at {args.people} people, {1000 * large[phase]:.1f} "
            f"ms/person at {4 * args.people}: {ratio:.2f}x per person (goal <= {GOAL}x)"
        )
    worst = max(large[p] / small[p] for p in ("fit", "score"))
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
