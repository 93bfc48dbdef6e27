"""``Tensor``: a numpy array that remembers the op that made it, so gradients can flow back.

Thin by design: every method is one call into a primitive op (``ops.py``) or a composite
(``functional.py``). The graph lives in ``Tensor.grad_fn`` (the op node) and the op's ``parents``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import autograd
from .errors import DTypeError, ShapeError

Shape = Tuple[int, ...]
_default_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator that the random factories and layer initialisers use by default."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def _rng(seed: Optional[int], generator: Optional[np.random.Generator]) -> np.random.Generator:
    if generator is not None:
        return generator
    return np.random.default_rng(seed) if seed is not None else _default_rng


def _shape_arg(shape: Sequence[Any]) -> Shape:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``, as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: Dict[int, Callable], key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        """Unregister the hook (a no-op if already removed)."""
        self._hooks.pop(self._key, None)


class Tensor:
    """An n-dimensional array with autograd. float32 by default; float64 is kept.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2. 4. 6.], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_hooks", "_version_counter", "name", "__weakref__")
    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            array = np.asarray(data, dtype=dtype)
        else:
            array = np.asarray(data)
            keep = isinstance(data, (np.ndarray, np.generic)) and array.dtype in (np.float64, np.bool_)
            if not keep and array.dtype != np.float32:
                array = array.astype(np.float32)
        if requires_grad and array.dtype.kind != "f":
            raise DTypeError(f"Tensor: only floating-point tensors can require grad, got dtype {array.dtype}")
        self.data: np.ndarray = array
        self.grad: Optional[Tensor] = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn: Any = None  # the op node that produced this tensor (None for leaves)
        self._hooks: Optional[Dict[int, Callable]] = None  # made by register_hook
        # [count of in-place changes], shared with views of this tensor (ops.Function.is_view);
        # None until first needed, which reads as 0: most tensors are never changed in place
        self._version_counter: Optional[List[int]] = None
        self.name: Optional[str] = None

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool) -> "Tensor":
        """Wrap an array an op produced, skipping __init__'s conversions (the hot path)."""
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad, t.grad_fn, t._hooks, t._version_counter, t.name = \
            data, None, requires_grad, None, None, None, None
        return t

    # ---------------------------------------------------------------- array facts
    @property
    def shape(self) -> Shape:
        """The dimensions, as a tuple."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype (float32 unless you asked otherwise)."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def T(self) -> "Tensor":
        """The tensor with its axes reversed (a transpose for 2-D)."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def is_leaf(self) -> bool:
        """True for tensors no recorded op produced (inputs, parameters)."""
        return self.grad_fn is None

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def item(self) -> Union[float, int, bool]:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item: only one-element tensors can be converted to a number, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The data as nested Python lists."""
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    __hash__ = object.__hash__  # identity, so tensors can key dicts although == is elementwise

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=50, edgeitems=3, separator=" ",
                               prefix="Tensor(")
        extra = [f"dtype={self.dtype}"]
        if self.size > 50 or self.ndim > 1:
            extra.insert(0, f"shape={self.shape}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn={self.grad_fn.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extra)})"

    # ---------------------------------------------------------------- autograd
    def backward(self, grad: Any = None, retain_graph: Optional[bool] = None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf this tensor depends on (accumulating, as in PyTorch).

        ``grad`` is the gradient of some final value with respect to this tensor (needed unless this
        tensor is a scalar); ``retain_graph`` keeps the graph for another backward; ``create_graph``
        records the backward pass itself so gradients can be differentiated again.
        """
        autograd.backward(self, grad, retain_graph, create_graph)

    def backward_steps(self, grad: Any = None, retain_graph: Optional[bool] = None,
                       create_graph: bool = False) -> Iterator["autograd.Step"]:
        """Backward one node at a time: yields an ``autograd.Step`` per node; exhausting it == backward()."""
        return autograd.backward_steps(self, grad, retain_graph, create_graph)

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph (no grad flows through)."""
        return Tensor._make(self.data, False)

    def clone(self) -> "Tensor":
        """A copy with its own memory that stays in the graph."""
        return self * 1

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Start (or stop) tracking gradients for this leaf, in place."""
        if requires_grad and self.dtype.kind != "f":
            raise DTypeError(f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None)."""
        self.grad = None

    def register_hook(self, hook: Callable[["Tensor"], Optional["Tensor"]]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require grad")
        if self._hooks is None:
            self._hooks = {}
        key = max(self._hooks, default=-1) + 1
        self._hooks[key] = hook
        return RemovableHandle(self._hooks, key)

    # ---------------------------------------------------------------- in place (no graph)
    @property
    def _version(self) -> int:
        """How many times this tensor's memory was changed in place (shared by a tensor and its views,
        so a change through either is seen by every op that saved the other)."""
        counter = self._version_counter
        return counter[0] if counter else 0

    @_version.setter
    def _version(self, value: int) -> None:
        self._shared_version_counter()[0] = value
        autograd.state.inplace_changes += 1

    def _shared_version_counter(self) -> List[int]:
        """The version counter, created on first use, for a view to share."""
        if self._version_counter is None:
            self._version_counter = [0]
        return self._version_counter

    def _modified(self) -> "Tensor":
        self._shared_version_counter()[0] += 1
        autograd.state.inplace_changes += 1
        return self

    def _check_inplace(self, op: str) -> None:
        if self.requires_grad and self.grad_fn is None and autograd.state.grad_enabled:
            raise RuntimeError(f"{op}: a leaf tensor that requires grad is being modified in place; "
                               "wrap the update in `with no_grad():`")

    def assign(self, value: Any) -> "Tensor":
        """Replace the values in place (same shape), e.g. to load weights; bumps the version counter."""
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.shape:
            raise ShapeError(f"assign: value has shape {value.shape}, tensor has shape {self.shape}")
        self._check_inplace("assign")
        self.data[...] = value
        return self._modified()

    copy_ = assign

    def zero_(self) -> "Tensor":
        """Set every element to zero in place."""
        self._check_inplace("zero_")
        self.data[...] = 0
        return self._modified()

    def add_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        """``self += alpha * other`` in place (used by optimizers)."""
        self._check_inplace("add_")
        other = other.data if isinstance(other, Tensor) else other
        self.data += other if alpha == 1.0 else alpha * other
        return self._modified()

    def sub_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        """``self -= alpha * other`` in place."""
        self._check_inplace("sub_")
        other = other.data if isinstance(other, Tensor) else other
        self.data -= other if alpha == 1.0 else alpha * other
        return self._modified()

    def mul_(self, other: Any) -> "Tensor":
        """``self *= other`` in place."""
        self._check_inplace("mul_")
        self.data *= other.data if isinstance(other, Tensor) else other
        return self._modified()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("setitem")
        self.data[_index_arg(index)] = value.data if isinstance(value, Tensor) else value
        self._modified()

    # ---------------------------------------------------------------- factories
    @staticmethod
    def zeros(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """A tensor of zeros."""
        return Tensor(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad, dtype)

    @staticmethod
    def ones(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """A tensor of ones."""
        return Tensor(np.ones(_shape_arg(shape), dtype=dtype), requires_grad, dtype)

    @staticmethod
    def full(shape: Any, value: float, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """A tensor filled with ``value``."""
        return Tensor(np.full(_shape_arg((shape,)), value, dtype=dtype), requires_grad, dtype)

    @staticmethod
    def zeros_like(t: "Tensor", requires_grad: bool = False) -> "Tensor":
        """Zeros with ``t``'s shape and dtype."""
        return Tensor(np.zeros_like(t.data), requires_grad, t.dtype)

    @staticmethod
    def ones_like(t: "Tensor", requires_grad: bool = False) -> "Tensor":
        """Ones with ``t``'s shape and dtype."""
        return Tensor(np.ones_like(t.data), requires_grad, t.dtype)

    @staticmethod
    def randn(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32, seed: Optional[int] = None,
              generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Standard normal samples (seeded by ``seed``, a ``generator``, or ``manual_seed``)."""
        data = _rng(seed, generator).standard_normal(_shape_arg(shape)).astype(dtype)
        return Tensor(data, requires_grad, dtype)

    @staticmethod
    def rand(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32, seed: Optional[int] = None,
             generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Uniform samples in [0, 1)."""
        data = _rng(seed, generator).random(_shape_arg(shape)).astype(dtype)
        return Tensor(data, requires_grad, dtype)

    @staticmethod
    def uniform(*shape: Any, low: float = -1.0, high: float = 1.0, requires_grad: bool = False,
                dtype: Any = np.float32, seed: Optional[int] = None,
                generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Uniform samples in [low, high)."""
        data = _rng(seed, generator).uniform(low, high, _shape_arg(shape)).astype(dtype)
        return Tensor(data, requires_grad, dtype)

    @staticmethod
    def arange(start: float, stop: Optional[float] = None, step: float = 1, requires_grad: bool = False,
               dtype: Any = np.float32) -> "Tensor":
        """Evenly spaced values, as ``np.arange``."""
        data = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)
        return Tensor(data, requires_grad, dtype)

    @staticmethod
    def eye(n: int, m: Optional[int] = None, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """The identity matrix."""
        return Tensor(np.eye(n, m, dtype=dtype), requires_grad, dtype)

    @staticmethod
    def cat(tensors: Sequence["Tensor"], axis: int = 0) -> "Tensor":
        """Join tensors along an existing axis."""
        if not tensors:
            raise ShapeError("cat: expected a non-empty list of tensors")
        return ops.Cat.apply(*[_lift(t) for t in tensors], axis=axis)

    @staticmethod
    def stack(tensors: Sequence["Tensor"], axis: int = 0) -> "Tensor":
        """Join equal-shaped tensors along a new axis."""
        if not tensors:
            raise ShapeError("stack: expected a non-empty list of tensors")
        return ops.Stack.apply(*[_lift(t) for t in tensors], axis=axis)

    # ---------------------------------------------------------------- elementwise
    def __add__(self, other: Any) -> "Tensor": return ops.Add.apply(self, _lift(other, self))
    def __radd__(self, other: Any) -> "Tensor": return ops.Add.apply(_lift(other, self), self)
    def __sub__(self, other: Any) -> "Tensor": return ops.Sub.apply(self, _lift(other, self))
    def __rsub__(self, other: Any) -> "Tensor": return ops.Sub.apply(_lift(other, self), self)
    def __mul__(self, other: Any) -> "Tensor": return ops.Mul.apply(self, _lift(other, self))
    def __rmul__(self, other: Any) -> "Tensor": return ops.Mul.apply(_lift(other, self), self)
    def __truediv__(self, other: Any) -> "Tensor": return ops.Div.apply(self, _lift(other, self))
    def __rtruediv__(self, other: Any) -> "Tensor": return ops.Div.apply(_lift(other, self), self)
    def __pow__(self, other: Any) -> "Tensor": return ops.Pow.apply(self, _lift(other, self))
    def __rpow__(self, other: Any) -> "Tensor": return ops.Pow.apply(_lift(other, self), self)
    def __matmul__(self, other: Any) -> "Tensor": return ops.matmul(self, _lift(other, self))
    def __rmatmul__(self, other: Any) -> "Tensor": return ops.matmul(_lift(other, self), self)
    def __neg__(self) -> "Tensor": return ops.Neg.apply(self)

    add = __add__
    sub = __sub__
    mul = __mul__
    div = __truediv__
    pow = __pow__

    def matmul(self, other: Any) -> "Tensor":
        """Matrix product with numpy's rules (batched, broadcast batch dims, vectors)."""
        return ops.matmul(self, _lift(other, self))

    def exp(self) -> "Tensor":
        """e to the power of each element."""
        return ops.Exp.apply(self)

    def log(self) -> "Tensor":
        """Natural logarithm."""
        return ops.Log.apply(self)

    def sqrt(self) -> "Tensor":
        """Square root."""
        return ops.Sqrt.apply(self)

    def abs(self) -> "Tensor":
        """Absolute value."""
        return ops.Abs.apply(self)

    def relu(self) -> "Tensor":
        """max(x, 0)."""
        return ops.ReLU.apply(self)

    def sigmoid(self) -> "Tensor":
        """1 / (1 + exp(-x)), computed without overflow."""
        return ops.Sigmoid.apply(self)

    def tanh(self) -> "Tensor":
        """Hyperbolic tangent."""
        return ops.Tanh.apply(self)

    def clip(self, lo: Optional[float] = None, hi: Optional[float] = None) -> "Tensor":
        """Limit values to [lo, hi] (gradient 1 inside, 0 outside)."""
        return ops.Clip.apply(self, lo=lo, hi=hi)

    clamp = clip

    def maximum(self, other: Any) -> "Tensor":
        """Elementwise maximum of two tensors."""
        return ops.Maximum.apply(self, _lift(other, self))

    def minimum(self, other: Any) -> "Tensor":
        """Elementwise minimum of two tensors."""
        return ops.Minimum.apply(self, _lift(other, self))

    def where(self, condition: Any, other: Any) -> "Tensor":
        """``self`` where ``condition`` holds, else ``other`` (as ``torch.Tensor.where``)."""
        return Tensor.select(condition, self, other)

    @staticmethod
    def select(condition: Any, a: Any, b: Any) -> "Tensor":
        """``a`` where ``condition`` holds, else ``b`` (as ``torch.where(cond, a, b)``)."""
        like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
        cond = condition if isinstance(condition, Tensor) else Tensor(np.asarray(condition, dtype=bool), dtype=bool)
        return ops.Where.apply(cond, _lift(a, like), _lift(b, like))

    def cast(self, dtype: Any) -> "Tensor":
        """The same values as another dtype (differentiable)."""
        return self if np.dtype(dtype) == self.dtype else ops.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> "Tensor":
        """Cast to float32."""
        return self.cast(np.float32)

    def double(self) -> "Tensor":
        """Cast to float64."""
        return self.cast(np.float64)

    # comparisons are not differentiable: they return bool tensors outside the graph
    def _compare(self, other: Any, fn: Callable) -> "Tensor":
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._make(np.asarray(fn(self.data, other)), False)

    def __eq__(self, other: Any) -> "Tensor": return self._compare(other, np.equal)  # type: ignore[override]
    def __ne__(self, other: Any) -> "Tensor": return self._compare(other, np.not_equal)  # type: ignore[override]
    def __lt__(self, other: Any) -> "Tensor": return self._compare(other, np.less)
    def __le__(self, other: Any) -> "Tensor": return self._compare(other, np.less_equal)
    def __gt__(self, other: Any) -> "Tensor": return self._compare(other, np.greater)
    def __ge__(self, other: Any) -> "Tensor": return self._compare(other, np.greater_equal)

    def any(self) -> bool:
        """True if any element is non-zero."""
        return bool(self.data.any())

    def all(self) -> bool:
        """True if every element is non-zero."""
        return bool(self.data.all())

    # ---------------------------------------------------------------- reductions
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Sum over ``axis`` (None: all; an int or tuple; negatives count from the end)."""
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Largest value over ``axis`` (ties share the gradient evenly, as ``torch.amax``)."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Smallest value over ``axis``."""
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Average over ``axis``."""
        return F.mean(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, correction: int = 1) -> "Tensor":
        """Variance over ``axis``; ``correction=1`` is the unbiased estimate, as PyTorch's default."""
        return F.var(self, axis, keepdims, correction)

    def std(self, axis: Any = None, keepdims: bool = False, correction: int = 1) -> "Tensor":
        """Standard deviation over ``axis``."""
        return F.std(self, axis, keepdims, correction)

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False) -> "Tensor":
        """Index of the largest value (not differentiable)."""
        return Tensor._make(np.asarray(np.argmax(self.data, axis=axis, keepdims=keepdims)), False)

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False) -> "Tensor":
        """Index of the smallest value (not differentiable)."""
        return Tensor._make(np.asarray(np.argmin(self.data, axis=axis, keepdims=keepdims)), False)

    def softmax(self, axis: int = -1) -> "Tensor":
        """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
        return F.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        """log(softmax(x)) along ``axis``, computed stably."""
        return F.log_softmax(self, axis)

    # ---------------------------------------------------------------- movement
    def reshape(self, *shape: Any) -> "Tensor":
        """The same elements in a new shape (one dimension may be -1)."""
        shape = _shape_arg(shape)
        return self if shape == self.shape else ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start: int = 0, end: int = -1) -> "Tensor":
        """Merge dimensions ``start``..``end`` into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start % self.ndim, end % self.ndim
        return self.reshape(*self.shape[:start], -1, *self.shape[end + 1:])

    def permute(self, *axes: Any) -> "Tensor":
        """Reorder the dimensions."""
        return ops.Permute.apply(self, axes=_shape_arg(axes))

    def transpose(self, a: int = 0, b: int = 1) -> "Tensor":
        """Swap two dimensions."""
        if self.ndim < 2:
            return self
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.permute(*axes)

    def expand(self, *shape: Any) -> "Tensor":
        """Broadcast to a larger shape without copying (as ``np.broadcast_to``)."""
        shape = _shape_arg(shape)
        return self if shape == self.shape else ops.Expand.apply(self, shape=shape)

    def squeeze(self, axis: Optional[int] = None) -> "Tensor":
        """Drop size-1 dimensions (all, or just ``axis``)."""
        if axis is None:
            return self.reshape(*[s for s in self.shape if s != 1])
        axis = axis % self.ndim
        if self.shape[axis] != 1:
            return self
        return self.reshape(*self.shape[:axis], *self.shape[axis + 1:])

    def unsqueeze(self, axis: int) -> "Tensor":
        """Insert a size-1 dimension at ``axis``."""
        axis = axis % (self.ndim + 1)
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def contiguous(self) -> "Tensor":
        """The same values stored row-major in memory (copied only if they were not)."""
        return self if self.data.flags.c_contiguous else ops.Contiguous.apply(self)

    def pad(self, pad_width: Sequence[Tuple[int, int]], value: float = 0.0) -> "Tensor":
        """Pad with ``value``: one (before, after) pair per dimension, as ``np.pad``."""
        pad_width = tuple((int(a), int(b)) for a, b in pad_width)
        return ops.Pad.apply(self, pad_width=pad_width, value=value)

    def __getitem__(self, index: Any) -> "Tensor":
        return ops.GetItem.apply(self, index=_index_arg(index))

    def windows(self, kernel: Tuple[int, int], stride: Tuple[int, int] = (1, 1),
                dilation: Tuple[int, int] = (1, 1), axes: Tuple[int, int] = (-2, -1)) -> "Tensor":
        """Every window over two axes (the last two by default), a strided view:
        (..., H, W) -> (..., OH, OW, KH, KW); with ``axes=(1, 2)``, (C, H, W, N) -> (C, OH, OW, N, KH, KW)."""
        return ops.Windows.apply(self, kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
                                 axes=tuple(axes))


def _index_arg(index: Any) -> Any:
    """Turn tensors and lists inside an index into numpy arrays numpy understands."""
    def one(i: Any) -> Any:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype.kind == "f":
            i = i.astype(np.int64)
        return i
    return tuple(one(i) for i in index) if isinstance(index, tuple) else (one(index),)


_constants: Dict[Tuple[Any, Any], "Tensor"] = {}


def _lift(value: Any, like: Optional[Tensor] = None) -> Tensor:
    """A Tensor for ``value``: tensors pass through, Python numbers take ``like``'s float dtype
    (next to a bool or integer tensor they stay float32, so ``mask * 2`` is 2, not True).

    Number constants (the 2 in ``x * 2``) are made once per value and dtype and shared, read-only:
    a training loop would otherwise build the same little tensors millions of times.
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and type(value) in (int, float, bool) and like.data.dtype.kind == "f":
        key = (value, like.data.dtype)
        constant = _constants.get(key)
        if constant is None:
            if len(_constants) >= 4096:  # many distinct constants (e.g. a schedule): start over
                _constants.clear()
            array = np.asarray(value, dtype=like.data.dtype)
            array.flags.writeable = False
            constant = _constants[key] = Tensor._make(array, False)
        return constant
    return Tensor(value)


from . import functional as F  # noqa: E402  (composites import Tensor)
from . import ops  # noqa: E402  (ops import Tensor)
