"""DP-SGD from a map-style Dataset (DataLoader, Poisson batch sampler) against the in-memory tensor path.

1. Throughput on the AT&T faces (7/3 split, 280 training images, softmax regression, expected batch 40,
   sigma 1, a whole 30-epoch training = 210 steps per round): samples/s of the tensor path, of an in-memory
   map-style Dataset, and of `ImageFolderDataset` reading the PGM files on every step (0 and 1 loader
   workers) or keeping them after the first read (cache=True; the first round decodes them). Rounds are interleaved and each mode's median is reported; the goal is the Dataset path
   within 1.15x of the tensor path's samples/s. Each round includes building the PrivateTraining (and
   starting the loader's workers).
2. Memory: a generated identity folder (`make_synthetic_faces`, 100 identities, 64x64 RGB PNGs) of 2,000
   and of 20,000 images, each trained for the same 60 DP-SGD steps at expected batch 64 from
   `ImageFolderDataset` in a fresh process; its peak RSS (the kernel's VmHWM, reset when the process
   starts: getrusage's ru_maxrss of a child begins at what the parent held when it forked, and is printed
   too), RSS after imports and the tracemalloc peak of Python/numpy allocations are printed, next to what
   the tensor path would hold. The goal: peak RSS that does not grow with the number of images beyond the
   index (paths and labels).

The CPU is shared, so absolute numbers drift; the ratios within one run are the result.

Usage: python benchmarks/dataset_dpsgd.py [--rounds 5] [--data DIR] [--images 2000,20000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Run as a script, this folder is on sys.path: the step-only accountant is the DP-SGD benchmark's.
from dpsgd import NullAccountant
from torch.utils.data import Dataset

from dpmi.data import (
    ImageFolderDataset,
    load_att_faces,
    make_synthetic_faces,
    resolve_data_root,
    write_image_folder,
)
from dpmi.models import resolve_model
from dpmi.privacy.dpsgd import make_private

SIGMA, CLIP, LR, STEPS = 1.0, 1.0, 0.01, 210


class InMemoryItems(Dataset):
    """Map-style view of tensors already in memory (isolates the DataLoader machinery's cost)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def train_steps(data, input_shape, classes, num_workers=0, steps=STEPS, batch=40.0, seed=0) -> tuple[float, int]:
    """Seconds and samples of `steps` DP-SGD steps on `data` (tensors or a Dataset), from make_private on."""
    model = resolve_model("softmax", classes, input_shape, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    start = time.perf_counter()
    private = make_private(
        model,
        optimizer,
        data,
        max_grad_norm=CLIP,
        noise_multiplier=SIGMA,
        expected_batch_size=batch,
        steps=steps,
        accountant=NullAccountant(),
        seed=seed,
        num_workers=num_workers,
    )
    samples = 0
    for xb, yb in private.batches():
        private.step(F.cross_entropy(model(xb), yb, reduction="none"))
        samples += int(yb.shape[0])
    seconds = time.perf_counter() - start
    private.detach()
    return seconds, samples


def throughput(data_dir: Path, rounds: int) -> None:
    faces = load_att_faces(data_dir)
    train, _ = faces.split(7, seed=0)
    x, y = train.to_tensors()
    rows = [
        i
        for i, key in enumerate(zip(faces.labels.tolist(), faces.image_ids.tolist()))
        if key in set(zip(train.labels.tolist(), train.image_ids.tolist()))
    ]
    folder = ImageFolderDataset(data_dir, indices=rows)
    cached = ImageFolderDataset(data_dir, indices=rows, cache=True)
    assert folder.names == faces.names and len(folder) == len(train)
    modes = {
        "tensors (in memory)": lambda: train_steps((x, y), train.input_shape, train.num_classes),
        "Dataset, in-memory items, 0 workers": lambda: train_steps(
            InMemoryItems(x, y), train.input_shape, train.num_classes
        ),
        "Dataset, PGM files, 0 workers": lambda: train_steps(folder, train.input_shape, train.num_classes),
        "Dataset, PGM files, 1 worker": lambda: train_steps(
            folder, train.input_shape, train.num_classes, num_workers=1
        ),
        "Dataset, PGM files, cache=True, 0 workers": lambda: train_steps(cached, train.input_shape, train.num_classes),
    }
    rates: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(rounds):
        for name, run in modes.items():
            seconds, samples = run()
            rates[name].append(samples / seconds)
    base = statistics.median(rates["tensors (in memory)"])
    print(
        f"\nDP-SGD throughput on the AT&T faces ({len(train)} train images, softmax, expected batch 40, "
        f"{STEPS} steps per round, median of {rounds} interleaved rounds)"
    )
    print(f"{'mode':<42} {'samples/s':>10} {'tensor / this':>14}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<42} {rate:>10.0f} {base / rate:>13.2f}x")


CHILD = r"""
import json, resource, sys, time, tracemalloc
import torch
torch.set_num_threads(1)
import torch.nn.functional as F
from dpmi.data import ImageFolderDataset
from dpmi.models import resolve_model
from dpmi.privacy.dpsgd import make_private
sys.path.insert(0, sys.argv[2])
from dataset_dpsgd import NullAccountant
def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1
# ru_maxrss of a child starts at what its parent held when it forked; reset the kernel's peak (VmHWM) so
# the peak below is this process's own, from here on.
try:
    open("/proc/self/clear_refs", "w").write("5")
    reset = True
except OSError:
    reset = False
baseline = rss_kb()
tracemalloc.start()
start = time.perf_counter()
dataset = ImageFolderDataset(sys.argv[1])
index_s = time.perf_counter() - start
index_peak = tracemalloc.get_traced_memory()[1]
model = resolve_model("softmax", dataset.num_classes, dataset.input_shape, seed=0)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
private = make_private(model, opt, dataset, max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=64,
                       steps=60, accountant=NullAccountant(), seed=0)
start = time.perf_counter()
samples = 0
for xb, yb in private.batches():
    private.step(F.cross_entropy(model(xb), yb, reduction="none"))
    samples += int(yb.shape[0])
train_s = time.perf_counter() - start
print(json.dumps({"images": len(dataset), "baseline_rss_kb": baseline, "peak_rss_kb": hwm_kb(),
                  "hwm_reset": reset, "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tracemalloc_peak_b": tracemalloc.get_traced_memory()[1], "index_peak_b": index_peak,
                  "index_s": index_s, "train_samples_per_s": samples / train_s}))
"""


def memory(counts: list[int]) -> None:
    identities, shape = 100, (64, 64)
    largest = max(counts)
    print(
        f"\nPeak memory of DP-SGD from an ImageFolderDataset (generated folder, {identities} identities, "
        f"{shape[1]}x{shape[0]} RGB PNG, 60 steps at expected batch 64, 0 workers, fresh process each)"
    )
    with tempfile.TemporaryDirectory(prefix="dpmi-bench-") as scratch:
        start = time.perf_counter()
        faces = make_synthetic_faces(identities, largest // identities, shape, channels=3, seed=0)
        roots = {}
        for count in sorted(counts):
            subset = faces.subset(np.flatnonzero(faces.image_ids <= count // identities))
            roots[count] = write_image_folder(subset, Path(scratch) / f"faces_{count}")
        del faces, subset
        print(f"generated and wrote {sum(counts)} images in {time.perf_counter() - start:.1f} s")
        results = []
        for root in roots.values():
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(root), str(Path(__file__).parent)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    tensor_bytes = lambda n: n * 3 * shape[0] * shape[1] * 4
    print(
        f"{'images':>7} {'RSS after imports':>18} {'peak RSS':>10} {'growth':>9} {'tracemalloc peak':>17} "
        f"{'ru_maxrss':>10} {'index build':>12} {'samples/s':>10} {'tensor path would hold':>23}"
    )
    for r in results:
        print(
            f"{r['images']:>7} {r['baseline_rss_kb'] / 1024:>15.0f} MB {r['peak_rss_kb'] / 1024:>7.0f} MB "
            f"{(r['peak_rss_kb'] - r['baseline_rss_kb']) / 1024:>6.0f} MB {r['tracemalloc_peak_b'] / 2**20:>14.1f} MB "
            f"{r['ru_maxrss_kb'] / 1024:>7.0f} MB {r['index_s']:>10.1f} s {r['train_samples_per_s']:>10.0f} "
            f"{tensor_bytes(r['images']) / 2**20:>20.0f} MB"
        )
    if not all(r["hwm_reset"] for r in results):
        print("note: /proc/self/clear_refs was not writable: peak RSS includes what the parent held at fork")
    small, big = results[0], results[-1]
    ratio_images = big["images"] / small["images"]
    print(
        f"{ratio_images:.0f}x the images: peak RSS x{big['peak_rss_kb'] / small['peak_rss_kb']:.2f}, growth "
        f"{(big['peak_rss_kb'] - small['peak_rss_kb']) / 1024:.1f} MB (the index: "
        f"{(big['index_peak_b'] - small['index_peak_b']) / 2**20:.1f} MB more traced while building it); "
        f"the tensors alone would grow by {(tensor_bytes(big['images']) - tensor_bytes(small['images'])) / 2**20:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", help="AT&T faces directory (default $DPMI_DATA, else the cache)")
    parser.add_argument("--images", default="2000,20000", help="folder sizes for the memory part")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_throughput:
        throughput(resolve_data_root(args.data), args.rounds)
    if not args.skip_memory:
        memory([int(n) for n in args.images.split(",")])


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
