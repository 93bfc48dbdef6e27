"""One helper compares an op with PyTorch, forward and backward; another with finite differences."""
from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pytest

from tinygrad_cnn import Tensor
from tinygrad_cnn.gradcheck import gradcheck

# PyTorch is the parity oracle, a test-only dependency (`make parity` installs it). Without it the
# suite still runs everything else: parity tests skip, and conftest.py prints how many did.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
SKIP_REASON = "PyTorch (the parity oracle) is not installed"
if not HAVE_TORCH and os.environ.get("TINYGRAD_CNN_REQUIRE_TORCH"):  # CI: parity tests must run
    raise ImportError("TINYGRAD_CNN_REQUIRE_TORCH is set but PyTorch is not installed: pip install torch==2.13.0")


class LazyModule:
    """A module imported on first use. Without PyTorch, the first use inside a test skips that test.

    So torch objects are built only inside a test body: never in parametrize arguments or at module
    level, where a missing torch would break collection of every test in the file.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if not HAVE_TORCH:
            pytest.skip(SKIP_REASON)
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"


torch: Any = LazyModule("torch")
TF: Any = LazyModule("torch.nn.functional")
tnn: Any = LazyModule("torch.nn")
requires_torch = pytest.mark.skipif(not HAVE_TORCH, reason=SKIP_REASON)


def random_inputs(shapes: Sequence[tuple], seed: int = 0, low: float = -2.0, high: float = 2.0,
                  positive: bool = False) -> list:
    """Float64 arrays for ``shapes`` (bounded away from 0 when ``positive``)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in shapes:
        a = rng.uniform(low, high, shape)
        arrays.append(np.abs(a) + 0.5 if positive else a)
    return arrays


def compare_with_torch(shapes: Sequence[tuple], ours: Callable, theirs: Optional[Callable] = None,
                       arrays: Optional[list] = None, atol: float = 1e-6, rtol: float = 1e-5,
                       dtype=np.float64, positive: bool = False, grad_inputs: Optional[Sequence[int]] = None,
                       seed: int = 0) -> None:
    """Run ``ours`` on Tensors and ``theirs`` (default: the same function) on torch tensors built from
    the same arrays; compare outputs and the gradient of every input (for a random upstream grad)."""
    if not HAVE_TORCH:
        pytest.skip(SKIP_REASON)
    theirs = theirs or ours
    arrays = arrays if arrays is not None else random_inputs(shapes, seed=seed, positive=positive)
    grad_inputs = range(len(arrays)) if grad_inputs is None else grad_inputs
    ours_in = [Tensor(a.astype(dtype), requires_grad=i in grad_inputs, dtype=dtype) for i, a in enumerate(arrays)]
    theirs_in = [torch.tensor(a.astype(dtype), requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    out, expected = ours(*ours_in), theirs(*theirs_in)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=atol, rtol=rtol, err_msg="forward")
    assert out.shape == tuple(expected.shape), f"shape {out.shape} != torch {tuple(expected.shape)}"
    upstream = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(dtype)
    if not out.requires_grad:
        return
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i in grad_inputs:
        want = theirs_in[i].grad
        got = ours_in[i].grad
        if want is None:
            assert got is None or not np.any(got.data), f"input {i}: torch has no grad, we do"
            continue
        assert got is not None, f"input {i}: torch has a grad, we have none"
        assert got.shape == tuple(want.shape), f"input {i}: grad shape {got.shape} != torch {tuple(want.shape)}"
        np.testing.assert_allclose(got.data, want.numpy(), atol=atol, rtol=rtol, err_msg=f"grad of input {i}")


def check_gradients(shapes: Sequence[tuple], fn: Callable, positive: bool = False, seed: int = 0,
                    arrays: Optional[list] = None, **tolerances) -> None:
    """``gradcheck`` of ``fn`` on float64 inputs of ``shapes``."""
    arrays = arrays if arrays is not None else random_inputs(shapes, seed=seed, positive=positive)
    inputs = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    assert gradcheck(fn, inputs, **tolerances)


def both(shapes: Sequence[tuple], ours: Callable, theirs: Optional[Callable] = None, positive: bool = False,
         **kwargs) -> None:
    """The two checks every differentiable op gets: finite differences, then PyTorch parity."""
    check_gradients(shapes, ours, positive=positive)
    compare_with_torch(shapes, ours, theirs, positive=positive, **kwargs)
