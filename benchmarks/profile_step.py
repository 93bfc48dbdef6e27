"""Where the time of a workload's training step goes: cProfile of tinygrad_cnn's steps, by op.

    python benchmarks/profile_step.py vgg_block [--steps 5] [--top 25]

Prints the functions with the most time of their own (tottime) over ``steps`` steps, after two
warm-up steps, and the same time grouped by primitive op (forward and backward of each op class).
"""
from __future__ import annotations

import argparse
import cProfile
import collections
import os
import pstats
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import workloads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(workloads.WORKLOADS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    step = workloads.build(args.workload, "ours")
    step(), step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())
    print(f"{args.workload}: {total / args.steps * 1e3:.1f} ms per step (own time of all functions)\n")
    stats.sort_stats("tottime").print_stats(args.top)

    print("cumulative time per primitive op (its numpy calls included), per step:")
    from tinygrad_cnn import ops
    names = {}
    for op in ops.PRIMITIVES:
        for method in ("forward", "backward"):
            code = getattr(op, method).__code__
            names[(code.co_filename, code.co_firstlineno, method)] = f"{op.name}.{method}"
    per_op = collections.Counter()
    for key, (_, _, _, cumtime, _) in stats.stats.items():
        if key in names:
            per_op[names[key]] += cumtime
    for name, seconds in per_op.most_common(args.top):
        print(f"  {name:<28} {seconds / args.steps * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
