"""Epoch times of the command line's training loop on data of the real datasets' sizes.

    python benchmarks/epoch_times.py [--model lenet|vgg|both] [--batches N] [--batch-size B]

Synthetic images of the real sizes (MNIST: 60,000 train / 10,000 test × 1×28×28; CIFAR-10: 50,000 /
10,000 × 3×32×32): time does not depend on the pixel values. ``--batches N`` times N training steps
(after 10 warm-up steps) exactly as ``train.train`` runs them -- forward, cross-entropy, backward,
momentum SGD step, loss and accuracy bookkeeping -- plus the evaluation pass on the test set (timed on
a tenth of it), and extrapolates to a full epoch; ``--batches 0`` runs the whole epoch. It also
reports the process's CPU time (all its threads): on a busy machine wall time grows with the load,
CPU time much less.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_cnn.functional as F  # noqa: E402
from tinygrad_cnn import Tensor, optim  # noqa: E402
from tinygrad_cnn.data import DataLoader  # noqa: E402
from tinygrad_cnn.models import build_model  # noqa: E402
from tinygrad_cnn.train import evaluate  # noqa: E402

WARM_UP = 10  # steps not timed: the first ones fill the allocator's pools and are several times slower
SIZES = {"lenet": ("MNIST", 60_000, 10_000, (1, 28, 28)), "vgg": ("CIFAR-10", 50_000, 10_000, (3, 32, 32))}


def time_epoch(name: str, batches: int, batch_size: int) -> str:
    dataset, n_train, n_test, shape = SIZES[name]
    rng = np.random.default_rng(0)
    x = rng.random((n_train, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n_train)
    model = build_model(name, generator=np.random.default_rng(0))
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)  # the command line's default
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=0)
    total = len(loader)
    steps, cpu = [], []
    for index, (xb, yb) in enumerate(loader):
        began, cpu_began = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        logits = model(Tensor(xb))
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        optimizer.step()
        loss.item(), int((logits.data.argmax(axis=1) == yb).sum())
        steps.append(time.perf_counter() - began)
        cpu.append(time.process_time() - cpu_began)
        if batches and index + 1 >= batches + WARM_UP:
            break
    timed = steps[WARM_UP:] if batches else steps
    timed_cpu = cpu[WARM_UP:] if batches else cpu
    test_part = n_test // 10 if batches else n_test
    x_test, y_test = x[:test_part], y[:test_part]
    if batches:
        evaluate(model, x_test[:512], y_test[:512])  # warm-up: the first pass at the evaluation batch size
    began, cpu_began = time.perf_counter(), time.process_time()
    evaluate(model, x_test, y_test)
    evaluation = (time.perf_counter() - began) * (n_test / test_part)
    evaluation_cpu = (time.process_time() - cpu_began) * (n_test / test_part)
    train_time = float(np.mean(timed)) * total if batches else float(np.sum(timed))
    train_cpu = float(np.mean(timed_cpu)) * total if batches else float(np.sum(timed_cpu))
    how = (f"{len(timed)} of {total} batches timed, extrapolated" if batches else f"all {total} batches")
    return (f"{name} on {dataset}-sized data ({n_train:,} × {'×'.join(map(str, shape))}), batch {batch_size}: "
            f"{train_time + evaluation:.0f} s per epoch = {train_time:.0f} s training "
            f"({np.median(timed) * 1e3:.0f} ms median per batch) + {evaluation:.0f} s evaluating "
            f"{n_test:,} test images; CPU time of the process {train_cpu + evaluation_cpu:.0f} s [{how}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("lenet", "vgg", "both"), default="both")
    parser.add_argument("--batches", type=int, default=100, help="training steps to time (0: the whole epoch)")
    parser.add_argument("--batch-size", type=int, default=32, help="the command line's default is 32")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start", flush=True)
    for name in (("lenet", "vgg") if args.model == "both" else (args.model,)):
        print(time_epoch(name, args.batches, args.batch_size), flush=True)


if __name__ == "__main__":
    main()
