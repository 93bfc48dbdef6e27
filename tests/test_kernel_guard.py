"""Regression guards for the kernels of every kind of conv, without timing anything.

For a 3×3 conv with padding, a strided conv, a 1×1 conv and a depthwise conv, one training step
is counted: the graph's nodes (the same primitives for every shape, so no speed trick shows in a
picture), the ops whose result is a fresh array rather than a view (copies), and the peak memory
the step's arrays take. A change that adds a node, a copy or a large temporary fails here.
"""
import collections
import tracemalloc

import numpy as np
import pytest

import tinygrad_cnn.functional as F
from tinygrad_cnn import Tensor, kernels, ops
from tinygrad_cnn.autograd import topological_order

CASES = {
    "3x3 pad 1": dict(c=8, o=16, k=3, stride=1, padding=1, groups=1),
    "strided": dict(c=8, o=16, k=3, stride=2, padding=1, groups=1),
    "1x1": dict(c=8, o=16, k=1, stride=1, padding=0, groups=1),
    "depthwise": dict(c=8, o=8, k=3, stride=1, padding=1, groups=8),
}

# the conv's graph (loss = sum(y * y)): pad (when padded) -> windows -> permute -> reshape (im2col)
# -> matmul -> reshape -> permute -> add bias; the weight and bias reshapes; groups split the input
CONV_NODES = {"reshape": 4, "pad": 1, "windows": 1, "permute": 2, "matmul": 1, "add": 1, "mul": 1, "sum": 1}
# fresh arrays, forward + backward, measured when the guard was written: the im2col copy is the
# only reshape that copies, the fold makes the input's gradient, three products
CONV_COPIES = {"pad": 1, "reshape": 1, "matmul": 3, "add": 2, "mul": 3, "sum": 2, "fold_windows": 1}


def conv_step(case, batch=4, size=12, count=True):
    p = CASES[case]
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((batch, p["c"], size, size)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((p["o"], p["c"] // p["groups"], p["k"], p["k"])).astype(np.float32),
               requires_grad=True)
    b = Tensor(np.zeros(p["o"], np.float32), requires_grad=True)
    copies = collections.Counter()
    plain_apply = ops.Function.apply.__func__

    def counting_apply(cls, *parents, **params):
        out = plain_apply(cls, *parents, **params)
        if not any(np.shares_memory(out.data, q.data) for q in parents):
            copies[cls.name] += 1
        return out

    if count:
        ops.Function.apply = classmethod(counting_apply)
    try:
        y = F.conv2d(x, w, b, stride=p["stride"], padding=p["padding"], groups=p["groups"])
        loss = (y * y).sum()
        nodes = collections.Counter(t.grad_fn.name for t in topological_order(loss) if t.grad_fn)
        loss.backward()
    finally:
        ops.Function.apply = classmethod(plain_apply)
    return nodes, copies


@pytest.mark.parametrize("case", list(CASES))
def test_conv_graph_is_the_canonical_one_for_every_kind(case):
    nodes, _ = conv_step(case)
    expected = dict(CONV_NODES)
    if CASES[case]["padding"] == 0:
        del expected["pad"]
    if CASES[case]["groups"] > 1:
        expected["reshape"] += 1   # (N, C, H, W) -> (N, G, C/G, H, W)
    assert dict(nodes) == expected


@pytest.mark.parametrize("case", list(CASES))
def test_conv_step_makes_no_more_copies(case):
    _, copies = conv_step(case)
    expected = dict(CONV_COPIES)
    if CASES[case]["padding"] == 0:
        del expected["pad"]
    assert dict(copies) == expected


def test_the_counts_do_not_depend_on_the_batch_or_image_size():
    for case in CASES:
        assert conv_step(case, batch=4, size=12) == conv_step(case, batch=16, size=20), case


# peak traced memory of one conv step at batch 16, 32x32, measured when the guard was written
# (MiB); 50% headroom. The step's own arrays (input, padded input, im2col, output, their
# gradients) are most of it: a kernel that adds a full-size temporary goes over.
PEAK_MIB = {"3x3 pad 1": 16.8, "strided": 5.5, "1x1": 8.0, "depthwise": 13.8}


@pytest.mark.parametrize("case", list(CASES))
def test_conv_step_peak_memory_does_not_grow(case):
    conv_step(case, batch=16, size=32, count=False)   # warm: imports, caches
    tracemalloc.start()
    try:
        conv_step(case, batch=16, size=32, count=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 2 ** 20 <= PEAK_MIB[case] * 1.5, f"{case}: peak {peak / 2 ** 20:.2f} MiB"


def test_small_products_leave_blas_threads_as_they_were():
    blas = kernels._numpy_blas()
    if blas is None:
        pytest.skip("threadpoolctl is not installed: BLAS threads are never changed")
    before = blas.get_num_threads()
    a, b = np.ones((6, 5000), np.float32), np.ones((5000, 25), np.float32)
    np.testing.assert_allclose(kernels.matmul(a, b), a @ b)
    assert blas.get_num_threads() == before


def test_products_run_on_one_blas_thread_when_small_or_the_machine_is_busy(monkeypatch):
    blas = kernels._numpy_blas()
    if blas is None:
        pytest.skip("threadpoolctl is not installed: BLAS threads are never changed")
    before = blas.get_num_threads()
    if before < 2:
        pytest.skip("BLAS runs on one thread already")
    seen = []
    plain_matmul = np.matmul

    def watching_matmul(a, b):
        seen.append(blas.get_num_threads())
        return plain_matmul(a, b)

    big = np.ones((300, 300), np.float32), np.ones((300, 300), np.float32)   # 27M multiply-adds
    small = np.ones((6, 500), np.float32), np.ones((500, 25), np.float32)
    monkeypatch.setattr(kernels.np, "matmul", watching_matmul)
    for load, expected in ((0.0, [1, before]), (1000.0, [1, 1])):
        monkeypatch.setattr(kernels.os, "getloadavg", lambda: (load, load, load))
        monkeypatch.setattr(kernels, "_load_seen", [0.0, False])   # read the load again
        seen.clear()
        np.testing.assert_allclose(kernels.matmul(*small), plain_matmul(*small))
        np.testing.assert_allclose(kernels.matmul(*big), plain_matmul(*big))
        assert seen == expected, (load, seen)
        assert blas.get_num_threads() == before
