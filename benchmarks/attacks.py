"""Prior-attack speed: each prior attack (`pca-prior`, `gmi`) on all private identities, in one run.

For each attack, with its registered defaults (K identities x R restarts = K*R rows, S steps):
- batched: `make_attack(...).invert(range(K))`, everything included (initial selection over the candidate
  pool, S Adam steps on the K*R rows, result selection);
- bare: S forward+backward passes through prior decoder + target on a batch of K*R latents plus the Adam
  update (what any batched attack of this shape must pay);
- loop: the same attack run one identity at a time (`invert([k])` for k in 0..K-1).
Times are the best of `--repeats` rounds (the machine may be shared: compare the ratios, which come from
this one run). Goals (exit status 1 if missed): batched within 1.5x of bare, and >= 8x faster than the loop.

Why the loop goal is missed here (measured 2-3x): one identity's 5 restarts are already a batch, and on
the CPU a step's cost grows with the rows (the eigenface decode is a [rows, d] x [d, H*W] product, the
GAN's convolutions scale with rows), so batching 20 identities saves only the per-call overhead and the
20 repeated initial selections, not the arithmetic. The 8x of MI-FACE's benchmark compares against a
one-row, one-step-per-call loop.

    python benchmarks/attacks.py [--data DIR] [--repeats 2] [--threads 1] [--steps S]
"""

from __future__ import annotations

import argparse
import time

import torch

from dpmi.attacks import attack_spec, make_attack
from dpmi.data import load_att_faces, resolve_data_root, split_identities
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train

BARE_RATIO_GOAL = 1.5
LOOP_SPEEDUP_GOAL = 8.0


def bare_passes(attack, rows: int, steps: int) -> None:
    """`steps` forward+backward passes of decoder + target on `rows` latents, with the Adam update."""
    prior, model = attack.prior, attack.search.model
    z = prior.sample(rows, torch.Generator().manual_seed(0)).requires_grad_(True)
    labels = torch.arange(rows) % model(prior.decode(z[:1])).shape[1]
    optimizer = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(prior.decode(z)), labels, reduction="sum")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def best_time(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="AT&T faces directory (default: $DPMI_DATA)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="override every attack's steps (default: theirs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faces = load_att_faces(resolve_data_root(args.data))
    split = split_identities(faces)
    train_set, _ = split.private.split(train_per_class=7, seed=0)
    model = build_model("softmax", num_classes=train_set.num_classes, input_shape=train_set.input_shape, seed=0)
    train(model, *train_set.to_tensors(), TrainConfig())
    model.eval()
    labels = range(train_set.num_classes)
    failed = False
    print(f"{len(labels)} private identities, softmax target, {args.threads} thread(s), best of {args.repeats}")
    for name in ("pca-prior", "gmi"):
        options = {} if args.steps is None else {"steps": args.steps}
        resolved = {**attack_spec(name).defaults, **options}
        attack = make_attack(name, model, public=split.public, **options)  # trains/loads the prior once
        rows, steps = len(labels) * resolved["restarts"], resolved["steps"]
        # Default arguments bind this iteration's attack (the lambdas run before the loop moves on anyway).
        batched = best_time(lambda a=attack: a.invert(labels), args.repeats)
        bare = best_time(lambda a=attack, r=rows, s=steps: bare_passes(a, r, s), args.repeats)
        loop = best_time(lambda a=attack: [a.invert([k]) for k in labels], 1)
        ratio, speedup = batched / bare, loop / batched
        ok = ratio <= BARE_RATIO_GOAL and speedup >= LOOP_SPEEDUP_GOAL
        failed |= not ok
        print(
            f"{name:10s} rows {rows:4d} steps {steps:4d} | batched {batched:7.2f} s | bare {bare:7.2f} s "
            f"(x{ratio:.2f}, goal <= {BARE_RATIO_GOAL}) | loop {loop:7.2f} s (x{speedup:.1f} faster, goal "
            f">= {LOOP_SPEEDUP_GOAL}) {'ok' if ok else 'MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
