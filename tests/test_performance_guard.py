"""Regression guards for speed, without timing anything: a LeNet training step's graph size and
the memory its arrays take are counted, so a change that doubles either fails here."""
import collections
import resource
import sys
import tracemalloc

import numpy as np
import pytest

import tinygrad_cnn.functional as F
from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.allocator import tune_allocator
from tinygrad_cnn.autograd import topological_order
from tinygrad_cnn.models import lenet5

# measured on the canonical conv graph (forward + backward + SGD, batch 64): 42 ops, 24.4 MiB;
# 25% / 50% headroom
LENET_OPS = 42
LENET_PEAK_MIB = 24.5


def lenet_step():
    model = lenet5(generator=np.random.default_rng(0))
    images = Tensor(np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32))
    labels = np.arange(64) % 10
    opt = optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        ops = collections.Counter(t.grad_fn.name for t in topological_order(loss) if t.grad_fn)
        loss.backward()
        opt.step()
        return ops
    return step


def test_lenet_step_graph_size_does_not_grow():
    ops = lenet_step()()
    assert sum(ops.values()) <= LENET_OPS * 1.25, ops
    assert ops["matmul"] == 5 and ops["windows"] == 3   # 2 convs + 3 linears; pool, conv2, pool
    assert "contiguous" not in ops   # layout choices live inside kernels.py, never as nodes


def test_lenet_step_array_memory_does_not_grow():
    step = lenet_step()
    step()  # first step: optimizer state, caches
    tracemalloc.start()
    try:
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 2 ** 20 <= LENET_PEAK_MIB * 1.5, f"peak {peak / 2 ** 20:.1f} MiB"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_freed_arrays_are_reused_without_page_faults():
    assert tune_allocator()
    np.ones(4 << 20, dtype=np.float32)  # warm the heap once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(4 << 20, dtype=np.float32)  # 16 MiB allocated and freed each time
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 500, f"{faults} page faults: freed memory went back to the OS"
