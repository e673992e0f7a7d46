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

Black-box attacks (`pca-prior-bb`, `gmi-bb`, `brep-mi`), for the same goal of batching: the whole attack,
against the bare cost of its batched queries, i.e. the target's forward alone on batches of the same sizes as
the attack sent (recorded by a counting target, replayed on real face images). A ratio near 1 means the
attacker's own work (decoding latents, the NES update, the selections) is small next to its queries. Goal: every
black-box attack within 1.5x (exit status 1 if missed). On the softmax target a query is one [10304 x 20]
product per image, as cheap as decoding an eigenface latent ([40 x 10304]) or less, so the eigenface attacks
decode each antithetic pair with one product (`dpmi.attacks.black_box_latent.decode_pairs`); the GAN attack's
generator costs far more than a softmax query: see the ratios printed, and `--model cnn`, where the queries
dominate.

    python benchmarks/attacks.py [--data DIR] [--repeats 2] [--threads 1] [--steps S] [--model softmax]
        [--query-budget 5000] [--only-black-box]
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


BLACK_BOX = ("pca-prior-bb", "brep-mi", "gmi-bb")


def black_box_ratio(name: str, model, public, labels, budget: int, repeats: int, faces) -> tuple[float, float, int]:
    """(attack seconds, bare query seconds, queries) for black-box attack `name` (best of `repeats` each)."""
    from dpmi.attacks.access import from_module

    access = attack_spec(name).access
    sizes: list[int] = []

    def attack_once(record: bool):
        target = from_module(model, access, input_shape=faces.shape[1:], budget=None)
        if record:
            inner = target.predict

            def counted(images, inner=inner):
                sizes.append(int(images.shape[0]))
                return inner(images)

            target.predict = counted
        make_attack(name, target, public=public, query_budget=budget).invert(labels)
        return target.queries

    queries = attack_once(record=True)  # also trains/loads the prior, so the timed runs do not
    attack = best_time(lambda: attack_once(record=False), repeats)
    pool = faces.repeat((max(sizes) + len(faces) - 1) // len(faces), 1, 1, 1)

    def replay():
        with torch.no_grad():
            for size in sizes:
                out = model(pool[:size])
                if access == "labels":
                    out.argmax(dim=1)

    return attack, best_time(replay, repeats), queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="AT&T faces directory (default: $DPMI_DATA)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="override every attack's steps (default: theirs)")
    parser.add_argument("--model", default="softmax", help="target model (default softmax; e.g. cnn)")
    parser.add_argument("--query-budget", type=int, default=5000, help="black-box queries per identity (5000)")
    parser.add_argument("--only-black-box", action="store_true", help="skip the white-box prior attacks")
    parser.add_argument("--black-box", default=",".join(BLACK_BOX), help="black-box attacks to time (all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faces = load_att_faces(resolve_data_root(args.data))
    split = split_identities(faces)
    train_set, _ = split.private.split(train_per_class=7, seed=0)
    model = build_model(args.model, num_classes=train_set.num_classes, input_shape=train_set.input_shape, seed=0)
    train(model, *train_set.to_tensors(), TrainConfig(lr=0.1 if args.model == "cnn" else 0.01))
    model.eval()
    labels = range(train_set.num_classes)
    failed = False
    print(f"{len(labels)} private identities, {args.model} target, {args.threads} thread(s), best of {args.repeats}")
    faces_x, _ = train_set.to_tensors()
    for name in args.black_box.split(","):
        attack_s, bare_s, queries = black_box_ratio(
            name, model, split.public, labels, args.query_budget, args.repeats, faces_x
        )
        ratio = attack_s / bare_s
        ok = ratio <= BARE_RATIO_GOAL
        failed |= not ok
        print(
            f"{name:12s} {attack_spec(name).access:6s} queries {queries:7d} ({queries / len(labels):,.0f} per "
            f"identity) | attack {attack_s:7.2f} s | bare queries {bare_s:7.2f} s (x{ratio:.2f}, goal <= "
            f"{BARE_RATIO_GOAL}) {'ok' if ok else 'MISSED'}"
        )
    for name in () if args.only_black_box else ("pca-prior", "gmi"):
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
