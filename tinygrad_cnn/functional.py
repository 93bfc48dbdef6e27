"""Composites: built from Tensor ops only, so their graphs show the primitives and no derivative
code lives here (the chain rule over the primitives in ``ops.py`` does all the work)."""
from __future__ import annotations

from typing import Any

from .tensor import Tensor


# ================================ statistics =====================================================

def _count(x: Tensor, axis: Any) -> int:
    from .ops import normalize_axes

    n = 1
    for ax in normalize_axes("mean", axis, x.ndim):
        n *= x.shape[ax]
    return n


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over ``axis``: sum / count."""
    return x.sum(axis=axis, keepdims=keepdims) / _count(x, axis)


def var(x: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance: mean squared deviation, divided by (count - correction)."""
    deviation = x - x.mean(axis=axis, keepdims=True)
    return (deviation * deviation).sum(axis=axis, keepdims=keepdims) / max(_count(x, axis) - correction, 0)


def std(x: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Standard deviation: the square root of ``var``."""
    return var(x, axis, keepdims, correction).sqrt()


# ================================ activations ====================================================

def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return x.relu()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x - max) / sum(exp(x - max)): subtracting the max keeps exp from overflowing."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    e = shifted.exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - max - log(sum(exp(x - max))): log of softmax without ever taking log of a tiny number."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()
