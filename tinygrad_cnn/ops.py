"""Every primitive op: forward and its local derivative side by side.

This is the only file with derivative formulas. Each op is a small class: ``forward`` computes
with numpy arrays, ``backward`` turns the gradient ``g`` of the output into gradients of the
inputs, written with Tensor ops so that a gradient can itself be differentiated
(``create_graph=True``). Each class states its rule in one line (``rule``), so the table can be
printed: ``print(rule_table())``.

Broadcasting is numpy's everywhere; the walker in ``autograd.py`` sums each input gradient back
to its input's shape (``reduce_to_input``), so no backward below has to think about it.

Groups, top to bottom: elementwise, reduce, movement, matmul.
"""
from __future__ import annotations

import operator
from typing import Any, List, Optional, Tuple

import numpy as np
from . import kernels
from .autograd import check_finite, next_sequence_nr, state, user_frame
from .errors import ShapeError
from .kernels import erf
from .tensor import Tensor


GROUPS = ("elementwise", "reduce", "movement", "matmul")
_array_of = operator.attrgetter("data")   # tensor -> its numpy array
PRIMITIVES: List[type] = []   # every primitive, in the order defined below (filled by registration)


class Function:
    """A node of the graph: the op that made a tensor, its inputs (``parents``) and what it saved.

    Subclasses define ``forward(*arrays, **params) -> array`` and ``backward(g, out) -> grads``,
    where ``g`` is the gradient arriving at the output tensor ``out`` and the result has one entry
    (a Tensor or None) per parent. Each states, as class attributes:
    """

    name = "function"      # what pictures and steps call it
    rule = ""              # its derivative rule in one line
    group = ""             # one of GROUPS: how it is drawn and where it is listed
    saves_inputs = True    # backward reads the inputs' values (checked against in-place changes)
    saves_output = False   # backward reads the output's value
    is_view = False        # the output is a numpy view of the first input: they share a version counter

    parents: Tuple[Tensor, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register every primitive in ``PRIMITIVES`` as it is defined."""
        super().__init_subclass__(**kwargs)
        if cls.group not in GROUPS:
            raise TypeError(f"primitive {cls.__name__}: group must be one of {GROUPS}, got {cls.group!r}")
        if cls.__doc__ is None:  # help(ops.Mul) shows the op's rule, stated once in ``rule``
            cls.__doc__ = f"The primitive '{cls.name}'. Its derivative rule, g being the output's gradient: {cls.rule}"
        PRIMITIVES.append(cls)

    # class-level defaults, so the hot path sets only what differs from them
    sequence_nr = -1       # creation order among the graph's nodes (the backward walk runs later ones first)
    released = False       # set by release() after a backward without retain_graph
    out_grad = None        # after backward: the gradient that arrived at the output
    input_grads = None     # after backward: the gradient sent to each input
    module_path: Tuple[str, ...] = ()  # the Module whose forward built this op (viz clusters)
    versions = None        # the inputs' version counters when saved; None means all were 0
    created_at = None      # where the user built the op (anomaly mode only)
    inplace_changes_seen = 0  # autograd.state.inplace_changes when the op was built
    saved = None           # an extra array backward needs (freed by release)

    @classmethod
    def apply(cls, *parents: Tensor, **params: Any) -> Tensor:
        """Run forward on the parents' arrays; the result joins the graph if any parent requires grad."""
        fn = cls.__new__(cls)
        fn.parents = parents
        data = fn.forward(*map(_array_of, parents), **params)
        if type(data) is not np.ndarray:  # ufuncs on 0-d arrays return numpy scalars
            data = np.asarray(data)
        out = Tensor._make(data, False)
        if fn.is_view:
            out._version_counter = parents[0]._shared_version_counter()
        if state.grad_enabled:
            for p in parents:
                if p.requires_grad:   # one parent that needs a gradient is enough
                    fn.join_graph(out)
                    break
        if state.anomaly:
            fn.check_forward(data)
        return out

    def join_graph(self, out: Tensor) -> None:
        """Become ``out.grad_fn`` (so ``out`` requires grad): take the next sequence number, and
        remember the module building this op and, for saved inputs changed in place before, their
        versions."""
        out.requires_grad, out.grad_fn = True, self
        self.sequence_nr = next_sequence_nr()
        if state.module_path:
            self.module_path = state.module_path
        if state.inplace_changes:
            self.inplace_changes_seen = state.inplace_changes
            if self.saves_inputs:
                self.versions = saved_versions(self.parents)

    def check_forward(self, data: np.ndarray) -> None:
        """Anomaly mode: remember where the user built this op, and refuse a NaN/Inf result."""
        self.created_at = user_frame()
        check_finite(data, "forward", self)

    def forward(self, *arrays: np.ndarray, **params: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def backward(self, g: Tensor, out: Tensor) -> Any:  # pragma: no cover
        raise NotImplementedError

    # -- used by the walker in autograd.py ------------------------------------------------------
    def reduce_to_input(self, grad: Tensor, parent: Tensor) -> Tensor:
        """Sum a broadcast gradient back to ``parent``'s shape and dtype."""
        if grad.shape != parent.shape:
            grad = unbroadcast(grad, parent.shape)
        if grad.dtype != parent.dtype:
            grad = grad.cast(parent.dtype)
        return grad

    def release(self) -> None:
        """Free what backward needed (after a backward without ``retain_graph``)."""
        self.released = True
        if self.saved is not None:
            self.saved = None

    def check_versions(self, out: Tensor) -> None:
        """Refuse to backward if a tensor this op saved was changed in place since forward."""
        if self.saves_output and out._version:
            raise RuntimeError(f"{self.name}: its output (shape {tuple(out.shape)}) was modified in place "
                               "after the op saved it for backward; the gradient would be wrong. Use an "
                               "out-of-place op, or .clone() before modifying")
        if self.saves_inputs:
            expected = self.versions or (0,) * len(self.parents)
            for i, (p, v) in enumerate(zip(self.parents, expected)):
                if p._version != v:
                    raise RuntimeError(
                        f"{self.name}: input {i} (shape {tuple(p.shape)}) was modified in place after "
                        f"the op saved it for backward (version {v} -> {p._version}); the gradient "
                        "would be wrong. Use an out-of-place op, or .clone() before modifying")

    def saved_arrays(self) -> dict:
        """What this node keeps alive for backward (drawn by ``draw_graph(show_saved=True)``)."""
        kept = {}
        if self.saves_inputs:
            for i, p in enumerate(self.parents):
                kept[f"input{i}"] = p.data
        if isinstance(self.saved, np.ndarray):
            kept["saved"] = self.saved
        return kept

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(p.shape)) for p in self.parents)
        return f"<{self.name}({shapes})>"


def saved_versions(parents: Tuple[Tensor, ...]) -> Optional[Tuple[int, ...]]:
    """The parents' version counters if any was changed in place already, else None (all 0)."""
    for p in parents:
        if p._version_counter and p._version_counter[0]:
            return tuple(q._version for q in parents)
    return None


def const(array: Any, dtype: Any = None) -> Tensor:
    """A tensor outside the graph (a mask, a count) used inside a backward formula."""
    return Tensor._make(np.asarray(array, dtype=dtype), False)


def unbroadcast(grad: Tensor, shape: Tuple[int, ...]) -> Tensor:
    """Sum ``grad`` over the axes that broadcasting stretched, so it has ``shape`` again."""
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != tuple(shape):
        grad = grad.reshape(shape)
    return grad


def broadcast_shapes(op: str, *shapes: Tuple[int, ...]) -> Tuple[int, ...]:
    """numpy's broadcast result, or a ShapeError naming the op and every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(
            f"{op}: shapes {listed} cannot be broadcast together (trailing dimensions must be "
            "equal or 1)") from None


def _binary_forward(op: str, a: np.ndarray, b: np.ndarray, ufunc: Any) -> np.ndarray:
    try:
        return ufunc(a, b)
    except ValueError:  # only a broadcasting failure can raise here: say which op and shapes
        broadcast_shapes(op, a.shape, b.shape)
        raise


# ================================ elementwise ====================================================

class Add(Function):
    group = "elementwise"
    name, rule, saves_inputs = "add", "add: da = g, db = g", False
    def forward(self, a, b): return _binary_forward("add", a, b, np.add)
    def backward(self, g, out): return g, g


class Sub(Function):
    group = "elementwise"
    name, rule, saves_inputs = "sub", "sub: da = g, db = -g", False
    def forward(self, a, b): return _binary_forward("sub", a, b, np.subtract)
    def backward(self, g, out): return g, -g


class Mul(Function):
    group = "elementwise"
    name, rule = "mul", "mul: da = g·b, db = g·a"
    def forward(self, a, b): return _binary_forward("mul", a, b, np.multiply)
    def backward(self, g, out):
        a, b = self.parents
        return (g * b if a.requires_grad else None), (g * a if b.requires_grad else None)


class Div(Function):
    group = "elementwise"
    name, rule = "div", "div: da = g / b, db = -g·a / b²"
    def forward(self, a, b): return _binary_forward("div", a, b, np.divide)
    def backward(self, g, out):
        a, b = self.parents
        return (g / b if a.requires_grad else None), (-g * a / (b * b) if b.requires_grad else None)


class Pow(Function):
    group = "elementwise"
    name, rule = "pow", "pow: da = g·b·a^(b-1), db = g·a^b·log(a)"
    def forward(self, a, b): return _binary_forward("pow", a, b, np.power)
    def backward(self, g, out):
        a, b = self.parents
        da = g * b * a ** (b - 1) if a.requires_grad else None
        db = g * out * a.log() if b.requires_grad else None
        return da, db


class Maximum(Function):
    group = "elementwise"
    name, rule = "maximum", "maximum: da = g·[a>b], db = g·[b>a] (ties split g in half)"
    def forward(self, a, b): return _binary_forward("maximum", a, b, np.maximum)
    def backward(self, g, out):
        a, b = self.parents
        share_a = const((a.data > b.data) + 0.5 * (a.data == b.data), g.dtype)
        return g * share_a, g * (1 - share_a)


class Minimum(Function):
    group = "elementwise"
    name, rule = "minimum", "minimum: da = g·[a<b], db = g·[b<a] (ties split g in half)"
    def forward(self, a, b): return _binary_forward("minimum", a, b, np.minimum)
    def backward(self, g, out):
        a, b = self.parents
        share_a = const((a.data < b.data) + 0.5 * (a.data == b.data), g.dtype)
        return g * share_a, g * (1 - share_a)


class Neg(Function):
    group = "elementwise"
    name, rule, saves_inputs = "neg", "neg: dx = -g", False
    def forward(self, x): return np.negative(x)
    def backward(self, g, out): return -g


class Exp(Function):
    group = "elementwise"
    name, rule, saves_inputs, saves_output = "exp", "exp: dx = g·exp(x)", False, True
    def forward(self, x): return np.exp(x)
    def backward(self, g, out): return g * out


class Log(Function):
    group = "elementwise"
    name, rule = "log", "log: dx = g / x"
    def forward(self, x): return np.log(x)
    def backward(self, g, out): return g / self.parents[0]


class Sqrt(Function):
    group = "elementwise"
    name, rule, saves_inputs, saves_output = "sqrt", "sqrt: dx = g / (2·sqrt(x))", False, True
    def forward(self, x): return np.sqrt(x)
    def backward(self, g, out): return g / (out * 2)


class Abs(Function):
    group = "elementwise"
    name, rule = "abs", "abs: dx = g·sign(x)"
    def forward(self, x): return np.abs(x)
    def backward(self, g, out): return g * const(np.sign(self.parents[0].data), g.dtype)


class ReLU(Function):
    group = "elementwise"
    name, rule = "relu", "relu: dx = g·[x > 0]"
    def forward(self, x): return np.maximum(x, 0)
    def backward(self, g, out): return g * const(self.parents[0].data > 0)  # bool mask, no float copy


class Sigmoid(Function):
    group = "elementwise"
    name, rule, saves_inputs, saves_output = "sigmoid", "sigmoid: dx = g·s·(1 - s), s = sigmoid(x)", False, True
    # 0.5·(1 + tanh(x/2)) is sigmoid without overflow for large |x|
    def forward(self, x): return 0.5 * (1 + np.tanh(0.5 * x))
    def backward(self, g, out): return g * out * (1 - out)


class Tanh(Function):
    group = "elementwise"
    name, rule, saves_inputs, saves_output = "tanh", "tanh: dx = g·(1 - tanh(x)²)", False, True
    def forward(self, x): return np.tanh(x)
    def backward(self, g, out): return g * (1 - out * out)


class Erf(Function):
    group = "elementwise"
    name, rule = "erf", "erf: dx = g·(2/√π)·exp(-x²)"
    def forward(self, x): return erf(x)
    def backward(self, g, out):
        x = self.parents[0]
        return g * (-(x * x)).exp() * 1.1283791670955126   # 2/√π


class Clip(Function):
    group = "elementwise"
    name, rule = "clip", "clip: dx = g·[lo ≤ x ≤ hi]"
    def forward(self, x, lo=None, hi=None):
        self.lo, self.hi = lo, hi
        return np.clip(x, lo, hi)
    def backward(self, g, out):
        x = self.parents[0].data
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return g * const(inside, g.dtype)


class Where(Function):
    group = "elementwise"
    name, rule = "where", "where: da = g·[cond], db = g·[not cond]"
    def forward(self, cond, a, b):
        broadcast_shapes("where", cond.shape, a.shape, b.shape)
        return np.where(cond, a, b)
    def backward(self, g, out):
        cond = self.parents[0]
        zero = const(0, g.dtype)
        return None, Where.apply(cond, g, zero), Where.apply(cond, zero, g)


class Cast(Function):
    group = "elementwise"
    name, rule, saves_inputs = "cast", "cast: dx = g cast back to x's dtype", False
    def forward(self, x, dtype): return x.astype(dtype)
    def backward(self, g, out): return g.cast(self.parents[0].dtype)


# ================================ reduce =========================================================

def normalize_axes(op: str, axis: Any, ndim: int) -> Tuple[int, ...]:
    """``axis`` (None, int or sequence, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions "
                             f"(valid: {-ndim}..{ndim - 1})")
        out.append(int(ax) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: axis {axis} repeats an axis")
    return tuple(sorted(out))


def _keepdims_shape(shape: Tuple[int, ...], axes: Tuple[int, ...]) -> Tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    group = "reduce"
    name, rule, saves_inputs = "sum", "sum: dx = g expanded back over the summed axes", False
    def forward(self, x, axis=None, keepdims=False):
        self.axes = normalize_axes("sum", axis, x.ndim)
        self.input_shape = x.shape
        return x.sum(axis=self.axes, keepdims=keepdims)
    def backward(self, g, out):
        return g.reshape(_keepdims_shape(self.input_shape, self.axes)).expand(*self.input_shape)


class Max(Function):
    group = "reduce"
    name, rule = "max", "max: dx = g where x is the max (shared evenly among ties), else 0"
    combine = np.maximum
    def forward(self, x, axis=None, keepdims=False):
        if x.size == 0:
            raise ShapeError(f"{self.name}: cannot reduce an empty tensor of shape {x.shape}")
        self.axes = normalize_axes(self.name, axis, x.ndim)
        self.input_shape = x.shape
        best = kernels.reduce_taps(x, self.axes, self.combine)
        self.saved = best
        return best if keepdims else best.reshape([s for i, s in enumerate(x.shape) if i not in self.axes])
    def backward(self, g, out):
        is_best = kernels.equal_mask(self.parents[0].data, self.saved, self.axes)
        ties = is_best.sum(axis=self.axes, keepdims=True, dtype=g.dtype)   # small: the reduced shape
        share = g.reshape(_keepdims_shape(self.input_shape, self.axes)) / const(ties)
        return share * const(is_best)   # a bool mask: numpy multiplies it without a float copy


class Min(Max):
    name, rule = "min", "min: dx = g where x is the min (shared evenly among ties), else 0"
    combine = np.minimum


# ================================ movement =======================================================

class Reshape(Function):
    group = "movement"
    is_view = True
    name, rule, saves_inputs = "reshape", "reshape: dx = g reshaped to x's shape", False
    def forward(self, x, shape):
        self.input_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {tuple(shape)}") from None
    def backward(self, g, out): return g.reshape(self.input_shape)


class Permute(Function):
    group = "movement"
    is_view = True
    name, rule, saves_inputs = "permute", "permute: dx = g permuted by the inverse order", False
    def forward(self, x, axes):
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ShapeError(f"permute: axes {tuple(axes)} are not a permutation of the {x.ndim} "
                             f"dimensions of a tensor of shape {x.shape}")
        self.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)
    def backward(self, g, out): return g.permute(*np.argsort(self.axes))


class Expand(Function):
    group = "movement"
    is_view = True
    name, rule, saves_inputs = "expand", "expand: dx = g summed over the broadcast axes", False
    def forward(self, x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ShapeError(f"expand: cannot expand shape {x.shape} to {tuple(shape)} (only size-1 "
                             "dimensions can grow, new dimensions go in front)") from None
    def backward(self, g, out): return unbroadcast(g, self.parents[0].shape)


class Contiguous(Function):
    """The same values laid out row-major (C order) in memory: a copy if they were not. Values and
    gradient pass through unchanged; only speed depends on layout."""
    group = "movement"
    name, rule, saves_inputs = "contiguous", "contiguous: dx = g (a copy changes the layout, not the values)", False
    def forward(self, x): return np.ascontiguousarray(x)
    def backward(self, g, out): return g


class Pad(Function):
    group = "movement"
    name, rule, saves_inputs = "pad", "pad: dx = g with the padding sliced off", False
    def forward(self, x, pad_width, value=0.0):
        if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
            raise ShapeError(f"pad: pad_width {pad_width} must hold one non-negative (before, after) "
                             f"pair per dimension of a tensor of shape {x.shape}")
        self.crop = tuple(slice(before, before + size) for (before, _), size in zip(pad_width, x.shape))
        out = np.full([s + a + b for s, (a, b) in zip(x.shape, pad_width)], value, dtype=x.dtype)
        out[self.crop] = x
        return out
    def backward(self, g, out): return g[self.crop]


def _has_advanced(index: Tuple[Any, ...]) -> bool:
    return any(isinstance(i, np.ndarray) for i in index)


def _has_integer_array(index: Tuple[Any, ...]) -> bool:
    return any(isinstance(i, np.ndarray) and i.dtype != bool for i in index)


class GetItem(Function):
    group = "movement"
    name, rule, saves_inputs = "getitem", "getitem: dx = zeros with g added at the indexed places", False
    def forward(self, x, index):
        self.index, self.input_shape = index, x.shape
        self.is_view = not _has_advanced(index)  # basic indexing returns a numpy view
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {x.shape}: {e}") from None
    def backward(self, g, out): return ScatterAdd.apply(g, shape=self.input_shape, index=self.index)


class ScatterAdd(Function):
    group = "movement"
    name, rule, saves_inputs = "scatter_add", "scatter_add: dg = dout[index] (the adjoint of getitem)", False
    def forward(self, g, shape, index):
        self.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _has_integer_array(index):
            np.add.at(out, index, g)   # an integer array may repeat an index: add, don't overwrite
        else:
            out[index] = g
        return out
    def backward(self, gg, out): return gg[self.index]


class Cat(Function):
    group = "movement"
    name, rule, saves_inputs = "cat", "cat: each input gets its own slice of g", False
    def forward(self, *xs, axis=0):
        first = xs[0]
        self.axis = normalize_axes("cat", axis, first.ndim)[0]
        for i, x in enumerate(xs):
            if x.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(x.shape, first.shape)) if k != self.axis):
                raise ShapeError(f"cat: tensor {i} has shape {x.shape} but tensor 0 has shape {first.shape}; "
                                 f"all dimensions except axis {self.axis} must match")
        self.bounds = np.cumsum([0] + [x.shape[self.axis] for x in xs])
        return np.concatenate(xs, axis=self.axis)
    def backward(self, g, out):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(self.bounds[:-1], self.bounds[1:]))


class Stack(Function):
    group = "movement"
    name, rule, saves_inputs = "stack", "stack: input i gets g[..., i, ...] along the new axis", False
    def forward(self, *xs, axis=0):
        for i, x in enumerate(xs):
            if x.shape != xs[0].shape:
                raise ShapeError(f"stack: tensor {i} has shape {x.shape} but tensor 0 has shape {xs[0].shape}; "
                                 "all must be equal")
        self.axis = normalize_axes("stack", axis, xs[0].ndim + 1)[0]
        return np.stack(xs, axis=self.axis)
    def backward(self, g, out):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (i,)] for i in range(len(self.parents)))


def window_geometry(op: str, height: int, width: int, kernel: Tuple[int, int], stride: Tuple[int, int],
                    dilation: Tuple[int, int]) -> Tuple[int, int]:
    """Output height and width of a sliding window, or a ShapeError when the kernel does not fit."""
    span_h, span_w = dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1
    if span_h > height or span_w > width:
        raise ShapeError(f"{op}: kernel {kernel} with dilation {dilation} spans {span_h}x{span_w}, larger "
                         f"than the (padded) input {height}x{width}")
    return (height - span_h) // stride[0] + 1, (width - span_w) // stride[1] + 1


def _window_axes(op: str, ndim: int, axes: Tuple[int, int]) -> Tuple[int, int]:
    ah, aw = (int(a) % ndim for a in axes) if ndim >= 2 else (0, 0)
    if ndim < 2 or not ah < aw:
        raise ShapeError(f"{op}: axes {tuple(axes)} must name two different axes, in order, of a tensor "
                         f"with {ndim} dimensions")
    return ah, aw


class Windows(Function):
    """Every kernel-sized window over two axes (the last two by default), as a strided view (no
    copy): the heart of conv and pooling. The two axes become (OH, OW) and the window's (KH, KW)
    are appended. Overlapping windows share input pixels; backward adds their gradients."""
    group = "movement"
    is_view = True
    name, rule, saves_inputs = "windows", "windows: dx = sum of g over every window that saw x (fold)", False
    def forward(self, x, kernel, stride=(1, 1), dilation=(1, 1), axes=(-2, -1)):
        ah, aw = _window_axes("windows", x.ndim, axes)
        window_geometry("windows", x.shape[ah], x.shape[aw], kernel, stride, dilation)  # raises if it does not fit
        self.input_shape, self.kernel, self.stride, self.dilation, self.axes = x.shape, kernel, stride, dilation, (ah, aw)
        return kernels.window_view(x, kernel, stride, dilation, (ah, aw))
    def backward(self, g, out):
        return FoldWindows.apply(g, shape=self.input_shape, kernel=self.kernel, stride=self.stride,
                                 dilation=self.dilation, axes=self.axes)


class FoldWindows(Function):
    """The adjoint of ``Windows``: add each window's values back at the pixels it covers."""
    group = "movement"
    name, rule, saves_inputs = "fold_windows", "fold_windows: dg = windows(dout) (the adjoint of windows)", False
    def forward(self, g, shape, kernel, stride=(1, 1), dilation=(1, 1), axes=(-2, -1)):
        ah, aw = _window_axes("fold_windows", len(shape), axes)
        self.kernel, self.stride, self.dilation, self.axes = kernel, stride, dilation, (ah, aw)
        return kernels.fold_windows(g, shape, kernel, stride, dilation, (ah, aw))
    def backward(self, gg, out):
        return Windows.apply(gg, kernel=self.kernel, stride=self.stride, dilation=self.dilation, axes=self.axes)


# ================================ matmul =========================================================

class MatMul(Function):
    group = "matmul"
    name, rule = "matmul", "matmul: da = g @ bᵀ, db = aᵀ @ g"
    def forward(self, a, b, order="C"):
        if a.shape[-1] != b.shape[-2]:
            raise ShapeError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                             f"({a.shape[-1]} != {b.shape[-2]})")
        broadcast_shapes("matmul (batch dimensions)", a.shape[:-2], b.shape[:-2])
        return kernels.matmul(a, b, order)
    def backward(self, g, out):
        a, b = self.parents
        da = g @ b.transpose(-1, -2) if a.requires_grad else None
        # db is laid out like b (b = weight.T gives the weight a contiguous gradient)
        db = MatMul.apply(a.transpose(-1, -2), g, order=kernels.layout(b.data)) if b.requires_grad else None
        return da, db


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with numpy's rules for vectors: a 1-D operand becomes a row/column, then is dropped."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dimension, got {a.shape} @ {b.shape}")
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
    out = MatMul.apply(a2, b2)
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if a.ndim == 1:
        return out.reshape(*out.shape[:-2], out.shape[-1])
    if b.ndim == 1:
        return out.reshape(*out.shape[:-1])
    return out


def rule_table() -> str:
    """Every primitive's derivative rule, one line each (g is the gradient of the output)."""
    return "\n".join(op.rule for op in PRIMITIVES)


def find_op(name: str) -> Optional[type]:
    """The primitive class called ``name`` (e.g. 'mul'), or None."""
    return next((op for op in PRIMITIVES if op.name == name), None)


