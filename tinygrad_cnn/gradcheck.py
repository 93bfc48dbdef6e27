"""Finite-difference gradient checking: the independent witness for every backward formula."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the input and worst element."""


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], index: int, weights: np.ndarray,
                   eps: float) -> np.ndarray:
    """Central differences of sum(fn(*inputs) * weights) with respect to ``inputs[index]``."""
    x = inputs[index].data
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writes go into the input
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float(np.sum(fn(*inputs).data * weights))
        flat[i] = old - eps
        minus = float(np.sum(fn(*inputs).data * weights))
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, seed: int = 0) -> bool:
    """Compare autograd's gradients of ``fn`` with central finite differences, in float64.

    ``inputs`` must be float64 tensors; those with ``requires_grad`` are checked. The output is
    reduced with random weights (so a wrong gradient cannot hide behind a symmetric sum). Returns
    True, or raises ``GradcheckError`` naming the input, the worst element and both values.
    """
    for i, t in enumerate(inputs):
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {t.dtype}; finite differences need float64 "
                            "(create it with dtype=np.float64)")
    out = fn(*inputs)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape)
    for t in inputs:
        t.grad = None
    (out * Tensor(weights, dtype=out.dtype)).sum().backward()
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.data.astype(np.float64)
        numeric = numerical_grad(fn, inputs, i, weights, eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {tuple(t.shape)}) gradient mismatch at element {worst}: "
                f"autograd {analytic[worst]:.8g}, finite differences {numeric[worst]:.8g} "
                f"(atol={atol}, rtol={rtol})")
    return True


def check_answer(name: str, yours: Any, expected: Any, atol: float = 1e-6) -> bool:
    """A learner's answer (numpy array, Tensor or number; ``...`` while unanswered) against autograd's:
    prints a friendly verdict and returns True when they agree (the notebooks' exercises use it)."""
    expected = np.asarray(expected.numpy() if hasattr(expected, "numpy") else expected, dtype=np.float64)
    if yours is ...:
        print(f"{name}: not answered yet - replace the ... with your formula")
        return False
    yours = np.asarray(yours.numpy() if hasattr(yours, "numpy") else yours, dtype=np.float64)
    if yours.shape != expected.shape:
        print(f"{name}: your answer has shape {yours.shape}, autograd's has shape {expected.shape}")
        return False
    if np.allclose(yours, expected, atol=atol, rtol=1e-5):
        print(f"{name}: correct!")
        return True
    print(f"{name}: not quite - the largest difference from autograd is {np.abs(yours - expected).max():.3g}")
    return False
