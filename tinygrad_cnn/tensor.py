"""``Tensor``: a numpy array that remembers the op that made it, so gradients can flow back.

Thin by design: every method is one call into a primitive op (``ops.py``) or a short composition
of Tensor methods (mean, var, std, softmax: ``functional.py`` re-exports them, so ``tensor.py``
never imports ``functional.py``). The graph lives in ``Tensor.grad_fn`` (the op node) and the op's
``parents``.

Names: numpy's ``axis=``/``keepdims=`` and PyTorch's ``dim=``/``keepdim=`` are both accepted. Where
PyTorch's meaning differs, its keyword gets PyTorch's meaning: ``x.max(dim=1)`` returns
``(values, indices)`` while ``x.max(axis=1)`` (or ``x.max(1)``) returns the values, as numpy.
"""
from __future__ import annotations

import numbers
import reprlib
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

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


def _torch_names(op: str, axis: Any, dim: Any, keepdims: bool = False,
                 keepdim: Optional[bool] = None) -> Tuple[Any, bool]:
    """``axis``/``keepdims`` (numpy's names) or ``dim``/``keepdim`` (PyTorch's), never both.

    ``dim=()`` (or ``[]``) means every axis, as in PyTorch; numpy's ``axis=()`` means none.
    """
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one (axis is numpy's name, "
                            "dim is PyTorch's)")
        axis = None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{op}: got both keepdims and keepdim; pass one (keepdims is numpy's name, "
                            "keepdim is PyTorch's)")
        keepdims = bool(keepdim)
    return axis, keepdims


def _reduce_all_names(op: str, dim: Any, keepdim: bool, axis: Any, keepdims: Optional[bool]) -> Dict[str, Any]:
    """amax/amin's arguments: PyTorch's ``dim``/``keepdim`` first (``dim`` None or () means every
    axis), numpy's ``axis``/``keepdims`` also accepted."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; pass one")
        dim = axis
    if keepdims is not None:
        if keepdim:
            raise TypeError(f"{op}: got both keepdim and keepdims; pass one")
        keepdim = keepdims
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    return {"axis": dim, "keepdims": bool(keepdim)}


class ValuesIndices(NamedTuple):
    """What ``x.max(dim=...)`` and ``x.min(dim=...)`` return, as ``torch.return_types.max``:
    ``values`` (differentiable) and ``indices`` (int64, not differentiable)."""

    values: "Tensor"
    indices: "Tensor"


def _describe(data: Any) -> str:
    """A short description of what the user passed, for error messages."""
    if isinstance(data, np.ndarray):
        return f"a numpy array of dtype {data.dtype} and shape {data.shape}"
    if data is None:
        return "None"
    return f"{type(data).__name__} {reprlib.repr(data)}"


def _ragged(data: Any) -> ShapeError:
    return ShapeError(f"Tensor: cannot make a tensor from {_describe(data)}: nested lists must be "
                      "rectangular (every row the same length)")


# np.asarray always builds a new array from these; anything else (an ndarray, an object with
# __array__ such as a torch tensor) may hand back the caller's memory, so Tensor() copies it
_BUILT_FRESH = (list, tuple, numbers.Number, np.generic)


def _new_array(data: Any, dtype: Any) -> np.ndarray:
    """``data`` as a numeric array with memory of its own (``Tensor()`` copies, as ``torch.tensor``).

    The dtype is ``dtype`` if given, else float32, except that float64 and bool numpy arrays keep
    theirs. None, strings, ragged lists and object arrays raise an error naming what was passed.
    """
    source = data.data if isinstance(data, Tensor) else data
    try:
        array = np.asarray(source)
    except ValueError:   # numpy >= 1.24 refuses ragged nested lists
        raise _ragged(data) from None
    if array.dtype.kind == "O" and isinstance(source, (list, tuple)) and \
            any(isinstance(v, (list, tuple, np.ndarray)) for v in array.flat):
        raise _ragged(data)   # older numpy made an object array of the rows instead
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"Tensor: cannot make a tensor from {_describe(data)}; pass a number, a (nested) "
                         "list of numbers, a numeric numpy array or a Tensor")
    if dtype is not None:
        target = np.dtype(dtype)
    elif isinstance(source, (np.ndarray, np.generic)) and array.dtype in (np.float64, np.bool_):
        target = array.dtype
    else:
        target = np.dtype(np.float32)
    if array.dtype != target:
        return array.astype(target)    # a new array already
    if not isinstance(source, _BUILT_FRESH):
        return array.copy()
    return array


def from_numpy(array: np.ndarray) -> "Tensor":
    """A tensor that shares ``array``'s memory, as ``torch.from_numpy``: a change to one shows in the other.

    The dtype is the array's own (no float32 conversion, which would need a copy). Use
    ``Tensor(array)`` for a tensor with its own memory.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {_describe(array)}")
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"from_numpy: cannot share {_describe(array)}; only bool, integer and float arrays "
                         "make tensors")
    return Tensor._make(array, False)


def _fresh(array: np.ndarray, requires_grad: bool, op: str) -> "Tensor":
    """Wrap an array a factory just made (nobody else holds it, so no copy is needed)."""
    if requires_grad and array.dtype.kind != "f":
        raise DTypeError(f"{op}: only floating-point tensors can require grad, got dtype {array.dtype}")
    return Tensor._make(array, bool(requires_grad))


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
        """Copy ``data`` (a number, nested list, numpy array or Tensor) into a new tensor, as
        ``torch.tensor``; ``tinygrad_cnn.from_numpy`` shares an array's memory instead."""
        array = _new_array(data, dtype)
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
        """The data as a numpy array, sharing memory with the tensor.

        For a tensor that requires grad the array is a read-only view: writing through it would
        change values that backward reads, giving a silently wrong gradient. Use
        ``x.detach().numpy()`` for a writable one (as PyTorch asks).
        """
        if not self.requires_grad:
            return self.data
        view = self.data.view()
        view.flags.writeable = False
        return view

    def item(self) -> Union[float, int, bool]:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item: only one-element tensors can be converted to a number, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The data as nested Python lists."""
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.numpy()

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
        return _fresh(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad, "zeros")

    @staticmethod
    def ones(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """A tensor of ones."""
        return _fresh(np.ones(_shape_arg(shape), dtype=dtype), requires_grad, "ones")

    @staticmethod
    def full(shape: Any, value: float, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """A tensor filled with ``value``."""
        return _fresh(np.full(_shape_arg((shape,)), value, dtype=dtype), requires_grad, "full")

    @staticmethod
    def zeros_like(t: "Tensor", requires_grad: bool = False) -> "Tensor":
        """Zeros with ``t``'s shape and dtype."""
        return _fresh(np.zeros_like(t.data), requires_grad, "zeros_like")

    @staticmethod
    def ones_like(t: "Tensor", requires_grad: bool = False) -> "Tensor":
        """Ones with ``t``'s shape and dtype."""
        return _fresh(np.ones_like(t.data), requires_grad, "ones_like")

    @staticmethod
    def randn(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32, seed: Optional[int] = None,
              generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Standard normal samples (seeded by ``seed``, a ``generator``, or ``manual_seed``)."""
        data = _rng(seed, generator).standard_normal(_shape_arg(shape)).astype(dtype, copy=False)
        return _fresh(data, requires_grad, "randn")

    @staticmethod
    def rand(*shape: Any, requires_grad: bool = False, dtype: Any = np.float32, seed: Optional[int] = None,
             generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Uniform samples in [0, 1)."""
        data = _rng(seed, generator).random(_shape_arg(shape)).astype(dtype, copy=False)
        return _fresh(data, requires_grad, "rand")

    @staticmethod
    def uniform(*shape: Any, low: float = -1.0, high: float = 1.0, requires_grad: bool = False,
                dtype: Any = np.float32, seed: Optional[int] = None,
                generator: Optional[np.random.Generator] = None) -> "Tensor":
        """Uniform samples in [low, high)."""
        data = _rng(seed, generator).uniform(low, high, _shape_arg(shape)).astype(dtype, copy=False)
        return _fresh(data, requires_grad, "uniform")

    @staticmethod
    def arange(start: float, stop: Optional[float] = None, step: float = 1, requires_grad: bool = False,
               dtype: Any = np.float32) -> "Tensor":
        """Evenly spaced values, as ``np.arange``."""
        data = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)
        return _fresh(data, requires_grad, "arange")

    @staticmethod
    def eye(n: int, m: Optional[int] = None, requires_grad: bool = False, dtype: Any = np.float32) -> "Tensor":
        """The identity matrix."""
        return _fresh(np.eye(n, m, dtype=dtype), requires_grad, "eye")

    @staticmethod
    def cat(tensors: Sequence["Tensor"], axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """Join tensors along an existing axis (default 0; ``dim`` is PyTorch's name for ``axis``)."""
        if not tensors:
            raise ShapeError("cat: expected a non-empty list of tensors")
        axis = _torch_names("cat", axis, dim)[0]
        return ops.Cat.apply(*[_lift(t) for t in tensors], axis=0 if axis is None else axis)

    @staticmethod
    def stack(tensors: Sequence["Tensor"], axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """Join equal-shaped tensors along a new axis (default 0; ``dim`` is PyTorch's name for ``axis``)."""
        if not tensors:
            raise ShapeError("stack: expected a non-empty list of tensors")
        axis = _torch_names("stack", axis, dim)[0]
        return ops.Stack.apply(*[_lift(t) for t in tensors], axis=0 if axis is None else axis)

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

    def erf(self) -> "Tensor":
        """The error function 2/√π ∫₀ˣ exp(-t²) dt (exact GELU is built on it)."""
        return ops.Erf.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002 (PyTorch's names)
        """Limit values to [min, max], as ``torch.clamp``: the gradient is 1 where min ≤ x ≤ max (the
        bounds included) and 0 outside. Bounds are numbers or tensors (broadcast); a tensor bound
        receives the gradient where it is the result (x < min, or x > max)."""
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = Tensor.if_else(self >= min, out, min)
            if max is not None:
                out = Tensor.if_else(self <= max, out, max)
            return out
        return ops.Clip.apply(self, lo=min, hi=max)

    def clip(self, lo: Any = None, hi: Any = None, *, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        """``clamp`` under numpy's name: ``x.clip(lo, hi)``; ``min=``/``max=`` as ``torch.clip``."""
        if (lo is not None and min is not None) or (hi is not None and max is not None):
            raise TypeError("clip: pass each bound once (lo or min, hi or max)")
        return self.clamp(lo if min is None else min, hi if max is None else max)

    def maximum(self, other: Any) -> "Tensor":
        """Elementwise maximum of two tensors."""
        return ops.Maximum.apply(self, _lift(other, self))

    def minimum(self, other: Any) -> "Tensor":
        """Elementwise minimum of two tensors."""
        return ops.Minimum.apply(self, _lift(other, self))

    def where(self, condition: Any, other: Any) -> "Tensor":
        """``self`` where ``condition`` holds, else ``other`` (as ``torch.Tensor.where``)."""
        return Tensor.if_else(condition, self, other)

    @staticmethod
    def if_else(condition: Any, a: Any, b: Any) -> "Tensor":
        """``a`` where ``condition`` holds, else ``b``: ``torch.where(cond, a, b)``, also
        ``tinygrad_cnn.where``. Differentiable in ``a`` and ``b``; ``condition`` is a constant."""
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
    # Each takes numpy's axis=/keepdims= or PyTorch's dim=/keepdim= (see _torch_names).
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: Optional[bool] = None) -> "Tensor":
        """Sum over ``axis`` (None: all; an int or tuple; negatives count from the end)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _torch_names("sum", axis, dim, keepdims, keepdim)
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Optional[int] = None,
            keepdim: Optional[bool] = None) -> Union["Tensor", ValuesIndices]:
        """Largest value over ``axis`` (ties share the gradient evenly, as ``torch.amax``).

        With PyTorch's ``dim=`` it is ``torch.max(x, dim)``: a pair ``(values, indices)``, the
        gradient going to the (first) largest element only. ``x.max(other_tensor)`` is
        ``maximum``.
        """
        if isinstance(axis, Tensor):
            return self.maximum(axis)
        if dim is not None:
            return self._pick_along("max", np.argmax, axis, dim, keepdims, keepdim)
        if keepdim is not None:
            keepdims = _torch_names("max", axis, None, keepdims, keepdim)[1]
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: Optional[int] = None,
            keepdim: Optional[bool] = None) -> Union["Tensor", ValuesIndices]:
        """Smallest value over ``axis``; with ``dim=``, ``(values, indices)`` as ``torch.min(x, dim)``."""
        if isinstance(axis, Tensor):
            return self.minimum(axis)
        if dim is not None:
            return self._pick_along("min", np.argmin, axis, dim, keepdims, keepdim)
        if keepdim is not None:
            keepdims = _torch_names("min", axis, None, keepdims, keepdim)[1]
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def _pick_along(self, op: str, arg: Callable, axis: Any, dim: Any, keepdims: bool,
                    keepdim: Optional[bool]) -> ValuesIndices:
        """PyTorch's ``max``/``min`` over one ``dim``: the values are the input indexed at the
        arg-extremum (a getitem, so the gradient goes to that one element, as PyTorch's)."""
        dim, keepdims = _torch_names(op, axis, dim, keepdims, keepdim)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"{op}: dim must be one int, got {dim!r}; for several axes use "
                            f"a{op}(dim=...) (values only)")
        if self.ndim == 0:
            ops.normalize_axes(op, dim, 0)   # only 0 or -1 is valid
            return ValuesIndices(self.reshape(()), Tensor._make(np.array(0, dtype=np.int64), False))
        axis = ops.normalize_axes(op, dim, self.ndim)[0]
        if self.shape[axis] == 0:
            raise ShapeError(f"{op}: cannot reduce the empty dimension {axis} of a tensor of shape {self.shape}")
        indices = arg(self.data, axis=axis).astype(np.int64)
        grid = list(np.indices(indices.shape, sparse=True))
        grid.insert(axis, indices)
        values = ops.GetItem.apply(self, index=tuple(grid))
        if keepdims:
            values, indices = values.unsqueeze(axis), np.expand_dims(indices, axis)
        return ValuesIndices(values, Tensor._make(np.asarray(indices), False))

    def amax(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: Optional[bool] = None) -> "Tensor":
        """Largest value over ``dim`` (an int or tuple; None or () for all), as ``torch.amax``:
        ties share the gradient evenly."""
        return ops.Max.apply(self, **_reduce_all_names("amax", dim, keepdim, axis, keepdims))

    def amin(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: Optional[bool] = None) -> "Tensor":
        """Smallest value over ``dim``, as ``torch.amin`` (ties share the gradient evenly)."""
        return ops.Min.apply(self, **_reduce_all_names("amin", dim, keepdim, axis, keepdims))

    def _count(self, axis: Any) -> int:
        """How many elements a reduction over ``axis`` combines."""
        n = 1
        for ax in ops.normalize_axes("mean", axis, self.ndim):
            n *= self.shape[ax]
        return n

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: Optional[bool] = None) -> "Tensor":
        """Average over ``axis``: sum / count."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _torch_names("mean", axis, dim, keepdims, keepdim)
        return self.sum(axis=axis, keepdims=keepdims) / self._count(axis)

    def var(self, axis: Any = None, keepdims: bool = False, correction: Optional[int] = None, *,
            dim: Any = None, keepdim: Optional[bool] = None, unbiased: Optional[bool] = None) -> "Tensor":
        """Variance over ``axis``: the summed squared deviation divided by (count - correction).
        ``correction=1`` (the default, or ``unbiased=True``) is the unbiased estimate, as PyTorch."""
        axis, keepdims = _torch_names("var", axis, dim, keepdims, keepdim)
        if unbiased is not None:
            if correction is not None:
                raise TypeError("var: pass correction or unbiased, not both")
            correction = int(unbiased)
        correction = 1 if correction is None else correction
        deviation = self - self.mean(axis=axis, keepdims=True)
        return (deviation * deviation).sum(axis=axis, keepdims=keepdims) / max(self._count(axis) - correction, 0)

    def std(self, axis: Any = None, keepdims: bool = False, correction: Optional[int] = None, *,
            dim: Any = None, keepdim: Optional[bool] = None, unbiased: Optional[bool] = None) -> "Tensor":
        """Standard deviation: the square root of ``var``.

        Where all values are equal the result is 0 and, as in PyTorch, so is its gradient (the
        slope of sqrt at 0 is infinite, and 0·∞ would give NaN): the square root is taken only
        where the variance is non-zero, the constant 0 elsewhere.
        """
        variance = self.var(axis, keepdims, correction, dim=dim, keepdim=keepdim, unbiased=unbiased)
        spread = variance != 0
        return Tensor.if_else(spread, Tensor.if_else(spread, variance, 1.0).sqrt(), 0.0)

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
               keepdim: Optional[bool] = None) -> "Tensor":
        """Index of the (first) largest value; over the flattened tensor if no axis (not differentiable)."""
        axis, keepdims = _torch_names("argmax", axis, dim, keepdims, keepdim)
        return Tensor._make(np.asarray(np.argmax(self.data, axis=axis, keepdims=keepdims)), False)

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
               keepdim: Optional[bool] = None) -> "Tensor":
        """Index of the (first) smallest value (not differentiable)."""
        axis, keepdims = _torch_names("argmin", axis, dim, keepdims, keepdim)
        return Tensor._make(np.asarray(np.argmin(self.data, axis=axis, keepdims=keepdims)), False)

    def softmax(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """exp(x - max) / sum(exp(x - max)) along ``axis`` (default the last): subtracting the max
        keeps exp from overflowing."""
        axis = _torch_names("softmax", axis, dim)[0]
        axis = -1 if axis is None else axis
        shifted = self - self.max(axis=axis, keepdims=True).detach()
        e = shifted.exp()
        return e / e.sum(axis=axis, keepdims=True)

    def log_softmax(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """x - max - log(sum(exp(x - max))) along ``axis`` (default the last): log of softmax without
        ever taking the log of a tiny number."""
        axis = _torch_names("log_softmax", axis, dim)[0]
        axis = -1 if axis is None else axis
        shifted = self - self.max(axis=axis, keepdims=True).detach()
        return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()

    # ---------------------------------------------------------------- movement
    def reshape(self, *shape: Any) -> "Tensor":
        """The same elements in a new shape (one dimension may be -1)."""
        shape = _shape_arg(shape)
        return self if shape == self.shape else ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge dimensions ``start_dim``..``end_dim`` into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        return self.reshape(*self.shape[:start], -1, *self.shape[end + 1:])

    def permute(self, *axes: Any, dims: Optional[Sequence[int]] = None) -> "Tensor":
        """Reorder the dimensions: ``x.permute(2, 0, 1)``, ``x.permute((2, 0, 1))`` or ``x.permute(dims=...)``."""
        if dims is not None:
            if axes:
                raise TypeError("permute: pass the order once (positionally or as dims=)")
            axes = (tuple(dims),)
        return ops.Permute.apply(self, axes=_shape_arg(axes))

    def transpose(self, dim0: int = 0, dim1: int = 1) -> "Tensor":
        """Swap two dimensions."""
        if self.ndim < 2:
            return self
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    def expand(self, *shape: Any) -> "Tensor":
        """Broadcast to a larger shape without copying (as ``np.broadcast_to``)."""
        shape = _shape_arg(shape)
        return self if shape == self.shape else ops.Expand.apply(self, shape=shape)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        """Drop size-1 dimensions: all, or those of ``axis``/``dim`` (an int or tuple) that have size 1."""
        axis = _torch_names("squeeze", axis, dim)[0]
        if axis is None:
            return self.reshape(*[s for s in self.shape if s != 1])
        if self.ndim == 0:
            ops.normalize_axes("squeeze", axis, 0)
            return self
        drop = {ax for ax in ops.normalize_axes("squeeze", axis, self.ndim) if self.shape[ax] == 1}
        if not drop:
            return self
        return self.reshape(*[s for i, s in enumerate(self.shape) if i not in drop])

    def unsqueeze(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """Insert a size-1 dimension at ``axis`` (``dim``)."""
        axis = _torch_names("unsqueeze", axis, dim)[0]
        if axis is None:
            raise TypeError("unsqueeze: missing the position of the new dimension (axis or dim)")
        if not -self.ndim - 1 <= axis <= self.ndim:
            raise ShapeError(f"unsqueeze: dim {axis} is out of range for a tensor with {self.ndim} dimensions "
                             f"(valid: {-self.ndim - 1}..{self.ndim})")
        axis = axis % (self.ndim + 1)
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def select(self, dim: int, index: int) -> "Tensor":
        """The slice at ``index`` along ``dim``, that dimension removed (as ``torch.select``):
        ``x.select(1, 2)`` is ``x[:, 2]``."""
        if self.ndim == 0:
            raise ShapeError("select: cannot select from a 0-d tensor")
        dim = ops.normalize_axes("select", dim, self.ndim)[0]
        return self[(slice(None),) * dim + (index,)]

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


from . import ops  # noqa: E402  (ops import Tensor: the one import cycle, see DESIGN.md)
