"""Where the time of a workload's training step goes, for tinygrad_cnn.

    python benchmarks/profile_step.py vgg_block [--steps 5] [--top 25]

Prints, after two warm-up steps: cProfile's functions with the most time of their own (tottime)
over ``steps`` steps, then the time of every primitive op call (forward of the op, which for
backward's ops is the gradient formula's own products, folds and copies), grouped by op name and
the shapes and layouts of its arrays (C: row-major, F: column-major, S: strided view).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import workloads  # noqa: E402


def _describe(array) -> str:
    flags = array.flags
    return f"{tuple(array.shape)}{'C' if flags.c_contiguous else 'F' if flags.f_contiguous else 'S'}"


def time_per_op(step, steps: int) -> collections.Counter:
    """Seconds per step spent in each (op, array shapes) by ``Function.apply``."""
    from tinygrad_cnn import ops
    spent: collections.Counter = collections.Counter()
    plain_apply = ops.Function.apply.__func__

    def timed_apply(cls, *parents, **params):
        start = time.perf_counter()
        out = plain_apply(cls, *parents, **params)
        key = f"{cls.name:<13} {' '.join(_describe(p.data) for p in parents)} -> {_describe(out.data)}"
        spent[key] += (time.perf_counter() - start) / steps
        return out

    ops.Function.apply = classmethod(timed_apply)
    try:
        for _ in range(steps):
            step()
    finally:
        ops.Function.apply = classmethod(plain_apply)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(name for name in workloads.WORKLOADS if name != "chain"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    step = workloads.build(args.workload, "ours")
    step(), step()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    print(f"{args.workload}: {(time.perf_counter() - start) / args.steps * 1e3:.1f} ms per step under cProfile\n")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    spent = time_per_op(step, args.steps)
    print(f"time per op call, per step (total {sum(spent.values()) * 1e3:.1f} ms):")
    for key, seconds in spent.most_common(args.top):
        print(f"  {seconds * 1e3:8.2f} ms  {key}")


if __name__ == "__main__":
    main()
