"""Test accuracy of targets trained under each defense on the AT&T faces (the table in docs/results/defenses.md):

    python -m dpmi.defenses.measure --data ../shared/datasets/att_faces --out docs/results/defenses.md

Private people 0-19 (7 train / 3 test images each, split seed 0), public people 20-39 for tl-dmi's
pre-training; the recipe is `TrainConfig()` (30 epochs, batch 40, lr 0.01, momentum 0.9, clip 1) for every
row but the lr 0.001 early stops, seeds 0..S-1 (model initialisation and training). Accuracy only: the leakage of each defense is the
study's to measure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from dpmi.data import load_att_faces, split_identities
from dpmi.defenses.training import train_with_defense
from dpmi.models import build_model
from dpmi.models.accuracy import accuracy
from dpmi.privacy.dpsgd.train import TrainConfig

# (label, defense, strength, target epsilon or None, lr or None for the recipe's 0.01)
ROWS: list[tuple[str, str, float | None, float | None, float | None]] = [
    ("none", "none", None, None, None),
    ("label-smoothing alpha=-0.05", "label-smoothing", -0.05, None, None),
    ("label-smoothing alpha=-0.1", "label-smoothing", -0.1, None, None),
    ("label-smoothing alpha=+0.1", "label-smoothing", 0.1, None, None),
    ("mid beta=0.01", "mid", 0.01, None, None),
    ("mid beta=0.03", "mid", 0.03, None, None),
    ("mid beta=0.1", "mid", 0.1, None, None),
    ("bido lambda_y=0.5", "bido", 0.5, None, None),
    ("bido lambda_y=2", "bido", 2.0, None, None),
    ("tl-dmi layers=1", "tl-dmi", 1, None, None),
    ("early-stop 1 epoch", "early-stop", 1, None, None),
    ("early-stop 2 epochs", "early-stop", 2, None, None),
    ("early-stop 3 epochs", "early-stop", 3, None, None),
    ("early-stop 5 epochs", "early-stop", 5, None, None),
    ("early-stop 10 epochs", "early-stop", 10, None, None),
    ("early-stop 2 epochs, lr 0.001", "early-stop", 2, None, 0.001),
    ("early-stop 3 epochs, lr 0.001", "early-stop", 3, None, 0.001),
    ("early-stop 5 epochs, lr 0.001", "early-stop", 5, None, 0.001),
    ("dp-sgd eps=8", "dp-sgd", 8.0, None, None),
    ("label-smoothing -0.05 + dp-sgd eps=8", "label-smoothing", -0.05, 8.0, None),
    ("mid beta=0.01 + dp-sgd eps=8", "mid", 0.01, 8.0, None),
    ("tl-dmi + dp-sgd eps=8", "tl-dmi", 1, 8.0, None),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/att_faces")
    parser.add_argument("--models", nargs="+", default=["softmax", "mlp", "cnn"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--out",
        default=None,
        help="markdown file: the table replaces the one between its markers (default: print only)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    people = split_identities(load_att_faces(args.data), private=range(20), public=range(20, 40))
    train_set, test_set = people.private.split(train_per_class=7, seed=0)
    x, y = train_set.to_tensors()
    xt, yt = test_set.to_tensors()
    results: dict[tuple[str, str], tuple[list[float], int, int, float]] = {}
    started = time.time()
    for model_name in args.models:
        for label, defense, strength, epsilon, lr in ROWS:
            accs, seconds, counts = [], 0.0, (0, 0)
            for seed in range(args.seeds):
                model = build_model(model_name, num_classes=20, input_shape=train_set.input_shape, seed=seed)
                config = replace(TrainConfig(seed=seed), target_epsilon=epsilon, lr=lr or TrainConfig.lr)
                t0 = time.time()
                try:
                    done = train_with_defense(model, x, y, config, defense, strength, public=people.public)
                except ValueError as error:
                    print(f"{model_name:8s} {label:40s} refused: {error}", flush=True)
                    break
                seconds += time.time() - t0
                accs.append(accuracy(done.model, xt, yt))
                counts = (done.trained_parameters, done.frozen_parameters)
            if accs:
                results[(model_name, label)] = (accs, *counts, seconds / len(accs))
                print(
                    f"{model_name:8s} {label:40s} {100 * statistics.mean(accs):5.1f} "
                    f"{[round(100 * a, 1) for a in accs]} trained {counts[0]} frozen {counts[1]} "
                    f"{seconds / len(accs):.1f} s",
                    flush=True,
                )
    print(f"total {time.time() - started:.0f} s")
    if args.out:
        write_table(Path(args.out), render(results, args.models, args.seeds))


BEGIN, END = "<!-- dpmi-defenses-table:begin -->", "<!-- dpmi-defenses-table:end -->"


def write_table(path: Path, table: str) -> None:
    """Put `table` between the BEGIN / END markers of `path` (the page's prose stays), or write it alone."""
    block = f"{BEGIN}\n{table}{END}\n"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + (tail[1:] if tail.startswith("\n") else tail)
    else:
        text = block
    path.write_text(text)


def render(results: dict[tuple[str, str], tuple[list[float], int, int, float]], models: list[str], seeds: int) -> str:
    head = "| defense | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n"
    lines = []
    for label, *_ in ROWS:
        cells = []
        for model_name in models:
            entry = results.get((model_name, label))
            if entry is None:
                cells.append("refused")
                continue
            accs = entry[0]
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            cells.append(f"{100 * statistics.mean(accs):.1f} ± {100 * spread:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    params = []
    for model_name in models:
        for label in ("none", "mid beta=0.01", "tl-dmi layers=1"):
            entry = results.get((model_name, label))
            if entry is not None:
                params.append(f"{model_name} {label}: {entry[1]:,} trained / {entry[2]:,} frozen")
    return (
        f"Test accuracy (%) on the 60 held-out faces of the 20 private people, mean ± std over {seeds} seeds.\n\n"
        + head
        + "\n".join(lines)
        + "\n\nParameters: "
        + "; ".join(params)
        + ".\n"
    )


if __name__ == "__main__":
    main()
