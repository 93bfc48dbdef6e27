"""The benchmark suite (`make bench`): each workload for us and for PyTorch CPU in the same process.

Prints a table of medians, min–max and the ratio to PyTorch, and writes it to
``benchmarks/results.md`` (quoted by the README between the ``bench`` markers). Speed targets live
here as ratios against PyTorch measured side by side, never as timed unit tests.

    python benchmarks/run.py [--steps 50] [--only lenet,mlp] [--no-readme]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import workloads  # noqa: E402
from tinygrad_cnn.allocator import tune_allocator  # noqa: E402

tune_allocator()  # as the `train` command does: freed array memory is reused, not page-faulted back

try:
    import torch
    torch.set_num_threads(2)
except ImportError:  # the PyTorch column is skipped with a note
    torch = None


def time_steps(step: Callable[[], None], steps: int, warmup: int) -> List[float]:
    """Seconds per call of ``step``: ``warmup`` untimed calls, then ``steps`` timed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def machine_header() -> str:
    """Machine, numpy BLAS build and thread count, torch version: they change results by up to 2x."""
    lines = [f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
             f"Python {platform.python_version()}, numpy {np.__version__}"]
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():  # numpy's BLAS, and torch's OpenMP pool when torch is loaded
            lines.append(f"- {pool.get('user_api')}: {pool.get('prefix')} ({pool.get('internal_api')} "
                         f"{pool.get('version') or ''} {pool.get('architecture') or ''}), {pool.get('num_threads')} threads")
    except ImportError:
        lines.append("- BLAS: (install threadpoolctl to report it)")
    lines.append(f"- PyTorch: {torch.__version__ + ', ' + str(torch.get_num_threads()) + ' threads' if torch else 'not installed: PyTorch column skipped'}")
    lines.append(f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    return "\n".join(lines)


def peak_memory(name: str, engine: str, steps: int = 3) -> Optional[float]:
    """Peak memory (MiB) of ``steps`` training steps of workload ``name`` with ``engine`` alone, in a
    fresh process: the peak resident set during the steps minus the resident set just before them
    (libraries, model and batch loaded), so PyTorch's ~300 MiB of libraries do not count."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec; writing 5 to
    # clear_refs resets VmHWM to the current resident set, so the peak is the steps' own
    return _child_mib(f"step = workloads.build({name!r}, {engine!r})\n"
                      "open('/proc/self/clear_refs', 'w').write('5'); before = kib('VmRSS')\n"
                      f"[step() for _ in range({steps})]\n"
                      "print((kib('VmHWM') - before) / 1024)", f"{name}, {engine}")


def process_peak(engine: str, steps: int) -> Optional[float]:
    """Peak RSS (MiB) of a fresh process running ``steps`` LeNet training steps with ``engine`` alone."""
    return _child_mib(f"step = workloads.build('lenet', {engine!r}); [step() for _ in range({steps})]\n"
                      "print(kib('VmHWM') / 1024)", engine)


def _child_mib(body: str, what: str) -> Optional[float]:
    """Run ``body`` in a fresh Python process set up as the timed runs are (workloads importable,
    malloc tuned, ``kib(key)`` reading /proc/self/status) and return the MiB it prints last."""
    code = (f"import sys; sys.path.insert(0, {HERE!r}); sys.path.insert(0, {ROOT!r}); import workloads\n"
            "from tinygrad_cnn.allocator import tune_allocator; tune_allocator()\n"
            "kib = lambda key: [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key)][0]\n"
            + body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  memory ({what}) failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return float(done.stdout.strip().splitlines()[-1])


def fmt_time(seconds: float, unit: str) -> str:
    return f"{seconds * 1e6:.2f} µs" if unit == "us" else f"{seconds * 1e3:.2f} ms"


def fmt_mib(mib: Optional[float]) -> str:
    return "n/a" if mib is None else f"{mib:.0f} MiB"


def run(steps: int, only: Optional[List[str]]) -> str:
    rows = []
    for name, meta in workloads.WORKLOADS.items():
        if only and name not in only:
            continue
        per = meta.get("per", 1)
        engines = ["ours"] + (["torch"] if torch is not None else [])
        # one block per engine, each right after its own warm-up: alternating the two in rounds
        # measured both slower (each engine's thread pool and caches disturb the other's)
        samples: Dict[str, List[float]] = {}
        for engine in engines:
            step = workloads.build(name, engine)
            samples[engine] = [t / per for t in time_steps(step, meta.get("steps", steps), meta.get("warmup", 5))]
            del step
        results: Dict[str, Tuple[float, float, float]] = {}
        for engine, times in samples.items():
            results[engine] = (statistics.median(times), min(times), max(times))
            print(f"{name:>10} {engine:>5}: median {fmt_time(results[engine][0], meta['unit'])}", flush=True)
        ours = results["ours"]
        theirs = results.get("torch")
        ratio = ours[0] / theirs[0] if theirs else None
        verdict = "" if ratio is None or "limit" not in meta else (" ✓" if ratio <= meta["limit"] else " ✗")
        memory = ["", ""]
        if not meta.get("no_memory"):
            ours_mib = peak_memory(name, "ours")
            torch_mib = peak_memory(name, "torch") if torch else None
            mark = "" if ours_mib is None or torch_mib is None else (" ✓" if ours_mib <= torch_mib else " ✗")
            memory = [fmt_mib(ours_mib) + mark, fmt_mib(torch_mib)]
            print(f"{name:>10} memory: ours {memory[0]}, torch {memory[1]}", flush=True)
        title = meta["title"] + (f" ({workloads.vgg_source()})" if name == "vgg" else "")
        rows.append((title, fmt_time(ours[0], meta["unit"]),
                     f"{fmt_time(ours[1], meta['unit'])} – {fmt_time(ours[2], meta['unit'])}",
                     fmt_time(theirs[0], meta["unit"]) if theirs else "n/a",
                     f"{ratio:.2f}x{verdict}" if ratio is not None else "n/a", meta["target"], *memory))
    if not only or "memory" in only:
        ours_mib, torch_mib = process_peak("ours", 50), process_peak("torch", 50) if torch else None
        if ours_mib is not None:
            rows.append(("peak memory, 50 LeNet steps in one process", f"{ours_mib:.0f} MiB", "",
                         f"{torch_mib:.0f} MiB" if torch_mib else "n/a",
                         f"{ours_mib / torch_mib:.2f}x" if torch_mib else "n/a", "≤ 80 MiB", "", ""))
    table = ["| workload | tinygrad_cnn (median) | min – max | PyTorch CPU (median) | ratio | target "
             "| step memory, ours | step memory, PyTorch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(table)


def write_results(table: str, update_readme: bool) -> None:
    """Write benchmarks/results.md atomically and refresh the README's table between the markers."""
    stamp = time.strftime("%Y-%m-%d")
    body = f"# Benchmark results ({stamp})\n\nTraining step = forward + backward + SGD update; " \
           f"median of the timed steps after warm-up, both engines in one process. Step memory = peak " \
           f"resident memory during 3 training steps minus the resident memory just before them, each " \
           f"workload and engine in a fresh process (target: ours ≤ PyTorch's).\n\n" \
           f"{machine_header()}\n\n{table}\n"
    path = os.path.join(HERE, "results.md")
    with open(path + ".tmp", "w") as f:
        f.write(body)
    os.replace(path + ".tmp", path)
    readme = os.path.join(ROOT, "README.md")
    if update_readme and os.path.exists(readme):
        text = open(readme).read()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        if start in text and end in text:
            before, rest = text.split(start, 1)
            after = rest.split(end, 1)[1]
            with open(readme + ".tmp", "w") as f:
                f.write(f"{before}{start}\n{machine_header()}\n\n{table}\n{end}{after}")
            os.replace(readme + ".tmp", readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated workload names (and/or 'memory')")
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] or None
    print(machine_header())
    table = run(args.steps, only)
    print(table)
    if not only:
        write_results(table, not args.no_readme)


if __name__ == "__main__":
    main()
