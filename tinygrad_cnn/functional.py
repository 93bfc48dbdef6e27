"""Composites: built from Tensor ops only, so their graphs show the primitives and no derivative
code lives here (the chain rule over the primitives in ``ops.py`` does all the work).

Names, arguments and semantics follow ``torch.nn.functional``. Groups, top to bottom: statistics,
activations, convolution and pooling, normalisation and dropout, losses.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np

from .autograd import with_module_path
from .errors import DTypeError, ShapeError
from .tensor import Tensor

IntPair = Union[int, Tuple[int, int]]
Array = Union[Tensor, np.ndarray]


# ================================ statistics =====================================================
# Tensor methods (compositions of Tensor ops, in tensor.py), here under their functional names.
# Each takes numpy's axis=/keepdims= or PyTorch's dim=/keepdim=.

def mean(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: Optional[bool] = None) -> Tensor:
    """Average over ``axis``: sum / count."""
    return x.mean(axis, keepdims, dim=dim, keepdim=keepdim)


def var(x: Tensor, axis: Any = None, keepdims: bool = False, correction: Optional[int] = None, *,
        dim: Any = None, keepdim: Optional[bool] = None, unbiased: Optional[bool] = None) -> Tensor:
    """Variance: the summed squared deviation divided by (count - correction); correction 1 by default."""
    return x.var(axis, keepdims, correction, dim=dim, keepdim=keepdim, unbiased=unbiased)


def std(x: Tensor, axis: Any = None, keepdims: bool = False, correction: Optional[int] = None, *,
        dim: Any = None, keepdim: Optional[bool] = None, unbiased: Optional[bool] = None) -> Tensor:
    """Standard deviation: the square root of ``var`` (gradient 0 where all values are equal, as PyTorch)."""
    return x.std(axis, keepdims, correction, dim=dim, keepdim=keepdim, unbiased=unbiased)


# ================================ activations ====================================================
# Each is built from primitives (no derivative code here); where a formula has a branch, the
# branch is a `where` on a constant mask, chosen so the slope at the kink is PyTorch's.

def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return x.tanh()


def softmax(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (``dim``; default the last): subtracting the
    max keeps exp from overflowing."""
    return x.softmax(axis, dim=dim)


def log_softmax(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """x - max - log(sum(exp(x - max))): log of softmax without ever taking log of a tiny number."""
    return x.log_softmax(axis, dim=dim)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope·x (the slope at 0 is ``negative_slope``, as PyTorch)."""
    return Tensor.if_else(x > 0, x, x * negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha·(exp(x) - 1).

    exp only ever sees x ≤ 0 (where x > 0 it sees 0): an unused exp(1000) = inf would otherwise
    send 0·inf = NaN back through the branch ``where`` did not pick.
    """
    positive = x > 0
    negative_part = Tensor.if_else(positive, 0.0, x)
    return Tensor.if_else(positive, x, (negative_part.exp() - 1) * alpha)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x), Φ the standard normal CDF: ``x/2·(1 + erf(x/√2))``, as PyTorch.

    ``approximate="tanh"``: ``x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``.
    """
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (inner.tanh() + 1)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * 0.5 * ((x * (1.0 / math.sqrt(2.0))).erf() + 1)


def silu(x: Tensor) -> Tensor:
    """x·sigmoid(x) (also called swish)."""
    return x * x.sigmoid()


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold, as PyTorch.

    Above the threshold the two agree to float precision; exp never sees those x (it would overflow,
    and the unused inf would turn into NaN in backward).
    """
    linear_part = x * beta > threshold
    inside = Tensor.if_else(linear_part, 0.0, x)
    return Tensor.if_else(linear_part, x, ((inside * beta).exp() + 1).log() / beta)


# ================================ shape helpers ==================================================

def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim``..``end_dim`` into one (default: keep the batch axis)."""
    return x.flatten(start_dim, end_dim)


def _pair(op: str, name: str, value: Any, minimum: int) -> Tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``, as a pair (or a clear error)."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def pad2d(x: Tensor, padding: Any, value: float = 0.0) -> Tensor:
    """Pad the last two axes (H, W) with ``value``.

    ``padding`` is an int (all four sides), a pair (ph, pw) (top/bottom, left/right), or four ints
    (left, right, top, bottom) in ``torch.nn.functional.pad``'s order.
    """
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if not all(isinstance(p, numbers.Integral) and p >= 0 for p in padding):
            raise ValueError(f"pad2d: padding must be non-negative ints, got {padding!r}")
        left, right, top, bottom = (int(p) for p in padding)
    else:
        ph, pw = _pair("pad2d", "padding", padding, 0)
        left, right, top, bottom = pw, pw, ph, ph
    if x.ndim < 2:
        raise ShapeError(f"pad2d: input needs at least 2 dimensions (H, W), got shape {tuple(x.shape)}")
    if not (left or right or top or bottom):
        return x
    return x.pad(((0, 0),) * (x.ndim - 2) + ((top, bottom), (left, right)), value=value)


def _check_kernel_fits(op: str, x_shape: Tuple[int, ...], padded: Tuple[int, int], kernel: Tuple[int, int],
                       dilation: Tuple[int, int], padding: Any) -> None:
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ShapeError(f"{op}: kernel {kernel} with dilation {dilation} spans {span[0]}x{span[1]}, larger than "
                         f"the padded input {padded[0]}x{padded[1]} (input shape {tuple(x_shape)}, "
                         f"padding {padding})")


# ================================ convolution and pooling ========================================

def conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntPair = 1,
           padding: Union[IntPair, str] = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) of an NCHW input with an OIHW weight.

    Built from three primitives, so the graph shows how a convolution learns:

    1. ``pad`` the input with zeros;
    2. ``windows``: every kernel-sized patch as a strided view (N, G, C/G, OH, OW, KH, KW) - no copy;
       its backward adds the gradients of overlapping patches back onto the pixels they share;
    3. one matrix product per group: the weight (G, O/G, C/G·KH·KW) times the patch matrix
       ("im2col", (G, C/G·KH·KW, N·OH·OW)). The weight's gradient is the sum over every position
       the kernel visited - weight sharing in one line.

    The same steps for every image size, batch size and ``requires_grad``: the graph (and the
    backward steps) a learner sees never depends on the shapes. How fast each step runs is the
    business of ``kernels.py`` (the fold, for instance, picks its own memory layout).

    ``stride``/``dilation``: int or (h, w), >= 1. ``padding``: int, (h, w), 'valid' (no padding) or
    'same' (output size = input size; stride 1 only; odd extra padding goes bottom/right, as PyTorch).
    ``groups`` splits the channels into independent convolutions (``groups == C``: depthwise).
    """
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"conv2d: input and weight must be Tensors, got {type(x).__name__} and "
                        f"{type(weight).__name__}")
    if x.ndim != 4:
        raise ShapeError(f"conv2d: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape "
                         f"{tuple(weight.shape)}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    n, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    if channels % groups:
        raise ShapeError(f"conv2d: input channels {channels} (input shape {tuple(x.shape)}) are not divisible "
                         f"by groups={groups}")
    if out_channels % groups:
        raise ShapeError(f"conv2d: out_channels {out_channels} (weight shape {tuple(weight.shape)}) are not "
                         f"divisible by groups={groups}")
    if channels != group_channels * groups:
        raise ShapeError(f"conv2d: input shape {tuple(x.shape)} has {channels} channels, but weight shape "
                         f"{tuple(weight.shape)} with groups={groups} expects {group_channels * groups} "
                         f"(weight.shape[1] * groups)")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ShapeError(f"conv2d: bias shape {tuple(bias.shape)} must be ({out_channels},) for weight shape "
                         f"{tuple(weight.shape)}")
    stride = _pair("conv2d", "stride", stride, 1)
    dilation = _pair("conv2d", "dilation", dilation, 1)
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride}")
            total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
            pads = ((total[0] // 2, total[0] - total[0] // 2), (total[1] // 2, total[1] - total[1] // 2))
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    else:
        ph, pw = _pair("conv2d", "padding", padding, 0)
        pads = ((ph, ph), (pw, pw))
    padded = (height + sum(pads[0]), width + sum(pads[1]))
    _check_kernel_fits("conv2d", x.shape, padded, (kh, kw), dilation, padding)

    image = x
    if any(p for side in pads for p in side):
        x = x.pad(((0, 0), (0, 0)) + pads)
    patch_size = group_channels * kh * kw
    if groups == 1:  # the common case: one plain 2-D matrix product (faster in BLAS than a batch of 1)
        windows = x.windows((kh, kw), stride, dilation)                     # (N, C, OH, OW, KH, KW)
        oh, ow = windows.shape[2], windows.shape[3]
        # (N, C, OH, OW, KH, KW) -> (C, KH, KW, N, OH, OW): the only copy of the input (im2col)
        columns = windows.permute(1, 4, 5, 0, 2, 3).reshape(patch_size, n * oh * ow)
        out = weight.reshape(out_channels, patch_size) @ columns               # (O, N·OH·OW)
    else:
        windows = x.reshape(n, groups, group_channels, *padded).windows((kh, kw), stride, dilation)
        oh, ow = windows.shape[3], windows.shape[4]
        # (N, G, Cg, OH, OW, KH, KW) -> (G, Cg, KH, KW, N, OH, OW)
        columns = windows.permute(1, 2, 5, 6, 0, 3, 4).reshape(groups, patch_size, n * oh * ow)
        out = weight.reshape(groups, out_channels // groups, patch_size) @ columns  # (G, O/G, N·OH·OW)
    if not columns.requires_grad:  # a constant in the picture: name it after the image it unfolds
        columns.name = f"input ({', '.join(map(str, image.shape))}) unfolded"
    out = out.reshape(out_channels, n, oh, ow).permute(1, 0, 2, 3)
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1, 1)
    return out


def _pool_args(op: str, x: Tensor, kernel_size: IntPair, stride: Optional[IntPair], padding: IntPair,
               dilation: IntPair = 1) -> Tuple[Tuple[int, int], ...]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape {tuple(x.shape)}")
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    padded = (x.shape[-2] + 2 * padding[0], x.shape[-1] + 2 * padding[1])
    _check_kernel_fits(op, x.shape, padded, kernel, dilation, padding)
    return kernel, stride, padding, dilation


def _window_stack(x: Tensor, kernel: Tuple[int, int], stride: Tuple[int, int],
                  dilation: Tuple[int, int]) -> Tensor:
    """The windows of the last two axes as (..., KH·KW, OH, OW): one (OH, OW) slab per kernel tap.

    Reducing over the taps then combines whole contiguous slabs (fast), where reducing the
    ``windows`` view's last two tiny axes directly is ~10x slower in numpy, forward and backward.
    """
    windows = x.windows(kernel, stride, dilation)            # (..., OH, OW, KH, KW), a view
    lead = x.ndim - 2
    *outer, oh, ow, kh, kw = windows.shape
    taps_first = tuple(range(lead)) + (lead + 2, lead + 3, lead, lead + 1)
    return windows.permute(*taps_first).reshape(*outer, kh * kw, oh, ow)


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1) -> Tensor:
    """The largest value of each window (PyTorch's semantics; ``stride`` defaults to ``kernel_size``).

    Padding is with -inf, so a padded pixel never wins. Built as pad -> ``windows`` view -> ``max``
    over each window: the gradient goes to the window's maximum, and overlapping windows add up.
    One difference from PyTorch: when several values in a window tie for the maximum, our ``max``
    shares the gradient evenly among them, while PyTorch gives it all to one (the first) of them.
    """
    kernel, stride, padding, dilation = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    return pad2d(x, padding, value=-np.inf).windows(kernel, stride, dilation).max(axis=(-2, -1))


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    """The mean of each window (PyTorch's semantics; ``stride`` defaults to ``kernel_size``).

    Zero padding counts towards the mean (``count_include_pad=True``, PyTorch's default) unless you
    pass ``count_include_pad=False``; ``divisor_override`` replaces the divisor. Built as pad ->
    ``windows`` view -> ``sum`` over each window -> divide.
    """
    kernel, stride, padding, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    height, width = x.shape[-2:]
    summed = _window_stack(pad2d(x, padding), kernel, stride, (1, 1)).sum(axis=-3)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or divisor_override <= 0:
            raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
        return summed / float(divisor_override)
    if count_include_pad or padding == (0, 0):
        return summed / float(kernel[0] * kernel[1])
    # how many real (unpadded) pixels each window covers: a constant, computed once in numpy
    inside = np.pad(np.ones((height, width)), ((padding[0], padding[0]), (padding[1], padding[1])))
    counts = Tensor(inside, dtype=x.dtype).windows(kernel, stride).sum(axis=(-2, -1)).data
    return summed / Tensor(counts, dtype=x.dtype)


# ================================ linear, normalisation, dropout =================================

def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features), as PyTorch."""
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} features "
                         f"in its last axis, but weight shape {tuple(weight.shape)} expects {weight.shape[1]}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"linear: bias shape {tuple(bias.shape)} must be ({weight.shape[0]},) for weight shape "
                         f"{tuple(weight.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: Optional[np.random.Generator] = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) ("inverted" dropout,
    so nothing changes at eval time). Identity when ``training`` is False or ``p`` is 0.

    The random mask is a constant in the graph: the gradient flows through the kept elements, scaled.
    ``generator`` (a numpy Generator) makes it reproducible; otherwise ``manual_seed`` governs.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be between 0 and 1, got {p!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    from .tensor import _rng

    keep = _rng(None, generator).random(x.shape) >= p
    return x * Tensor._make((keep * (1.0 / (1.0 - p))).astype(x.dtype, copy=False), False)  # a new array: no copy


def _stat_array(value: Array) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else value


def batch_norm(x: Tensor, running_mean: Optional[Array], running_var: Optional[Array],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of (N, C), (N, C, L) or (N, C, H, W) input, as PyTorch.

    Training: use the batch's mean and biased variance, and update ``running_mean`` /
    ``running_var`` (numpy arrays or Tensors, changed in place) as
    ``running = (1 - momentum)·running + momentum·batch``, with the *unbiased* variance.
    Eval (``training=False``): use the running statistics (constants: no gradient flows to them).
    Then ``y = x_hat·weight + bias``.
    """
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C, ...) with at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    channels = x.shape[1]
    named = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    for name, value in named.items():
        if value is not None and tuple(np.shape(_stat_array(value))) != (channels,):
            raise ShapeError(f"batch_norm: {name} shape {tuple(np.shape(_stat_array(value)))} must be "
                             f"({channels},) for input shape {tuple(x.shape)} (channels on axis 1)")
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // channels
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"shape {tuple(x.shape)}")
        batch_mean = x.mean(axis=axes, keepdims=True)
        centered = x - batch_mean
        batch_var = (centered * centered).mean(axis=axes, keepdims=True)   # biased: normalises
        inv_std = 1.0 / (batch_var + eps).sqrt()   # per channel: small, so the full-size op is a multiply
        if running_mean is not None or running_var is not None:
            unbiased = batch_var.data.reshape(channels) * (count / (count - 1))
            for stat, new in ((running_mean, batch_mean.data.reshape(channels)), (running_var, unbiased)):
                if stat is None:
                    continue
                updated = (1.0 - momentum) * _stat_array(stat) + momentum * new
                if isinstance(stat, Tensor):
                    stat.assign(updated)   # in place, and recorded as such (version counter)
                else:
                    stat[...] = updated
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        mean_ = np.asarray(_stat_array(running_mean), dtype=x.dtype).reshape(stat_shape)
        centered = x - Tensor(mean_, dtype=x.dtype)
        inv_std = Tensor((1.0 / np.sqrt(np.asarray(_stat_array(running_var), dtype=x.dtype).reshape(stat_shape)
                                        + eps)).astype(x.dtype), dtype=x.dtype)
    # y = (x - mean)·(weight / std) + bias: the weight joins the per-channel scale, so the whole
    # (N, C, H, W) tensor is multiplied once and its gradient needs two full-size products, not six
    scale = inv_std * weight.reshape(stat_shape) if weight is not None else inv_std
    y = centered * scale
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y


# ================================ losses =========================================================

_REDUCTIONS = ("mean", "sum", "none")


def _one_node(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The ops a loss builds remember its name as their module path, so a drawing with
    ``collapse=True`` shows ``F.cross_entropy`` as one node (and a step names the loss it is in)."""
    @functools.wraps(fn)
    def named(*args: Any, **kwargs: Any) -> Tensor:
        with with_module_path(fn.__name__):
            return fn(*args, **kwargs)
    return named


def _reduce(op: str, loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _as_tensor(value: Array, like: Tensor) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=like.dtype), dtype=like.dtype)


def _class_indices(op: str, scores: Tensor, target: Array) -> np.ndarray:
    """The target class indices as an int array, checked against the scores' shape and classes."""
    indices = np.asarray(_stat_array(target))
    class_axis = 0 if scores.ndim == 1 else 1
    expected = scores.shape[:class_axis] + scores.shape[class_axis + 1:]
    if indices.shape != expected:
        raise ShapeError(f"{op}: target shape {indices.shape} does not fit input shape {tuple(scores.shape)}; "
                         f"class indices need shape {expected} (the input's shape without the class axis "
                         f"{class_axis})")
    if indices.dtype.kind == "f":
        if not np.all(np.isfinite(indices)) or np.any(indices != np.floor(indices)):
            raise DTypeError(f"{op}: target of dtype {indices.dtype} holds non-integer class indices; pass "
                             "integer class indices (or probabilities of the input's shape)")
        indices = indices.astype(np.int64)
    elif indices.dtype.kind not in "iu":
        raise DTypeError(f"{op}: target must hold integer class indices, got dtype {indices.dtype}")
    return indices


def _pick_class(op: str, scores: Tensor, indices: np.ndarray, ignore_index: int) -> Tuple[Tensor, np.ndarray]:
    """scores[..., target, ...] along the class axis (a gather by integer indexing), and the mask of
    entries that count (target != ignore_index). Out-of-range targets raise naming the culprit."""
    valid = indices != ignore_index
    classes = scores.shape[0 if scores.ndim == 1 else 1]
    bad = valid & ((indices < 0) | (indices >= classes))
    if np.any(bad):
        culprit = int(indices[bad].flat[0])
        raise IndexError(f"{op}: target holds class index {culprit}, but the input (shape {tuple(scores.shape)}) "
                         f"has {classes} classes; valid indices are 0..{classes - 1}")
    safe = np.where(valid, indices, 0)
    if scores.ndim == 1:
        return scores[int(safe)], valid
    # one integer array per axis, broadcast to the target's shape: (arange(N), target, arange(d1), ...)
    grids = [np.arange(s).reshape((-1,) + (1,) * (safe.ndim - 1 - k)) for k, s in enumerate(safe.shape)]
    return scores[(grids[0], safe, *grids[1:])], valid


def _masked_reduce(op: str, loss: Tensor, valid: np.ndarray, reduction: str) -> Tensor:
    """Reduce a per-sample loss where ignored samples count neither in the sum nor the mean."""
    if valid.all():
        return _reduce(op, loss, reduction)
    loss = loss * Tensor(valid, dtype=loss.dtype)
    if reduction == "mean":
        return loss.sum() / float(valid.sum())   # 0/0 = nan when everything is ignored, as PyTorch
    return _reduce(op, loss, reduction)


@_one_node
def nll_loss(log_probs: Tensor, target: Array, reduction: str = "mean", *, ignore_index: int = -100) -> Tensor:
    """Negative log likelihood: ``-log_probs[n, target[n]]``, reduced.

    ``log_probs``: (N, C), (C,) or (N, C, d1, ...); ``target``: class indices of the input's shape
    without the class axis (a Tensor or numpy array). Targets equal to ``ignore_index`` are skipped.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    indices = _class_indices("nll_loss", log_probs, target)
    picked, valid = _pick_class("nll_loss", log_probs, indices, ignore_index)
    return _masked_reduce("nll_loss", -picked, valid, reduction)


@_one_node
def cross_entropy(logits: Tensor, target: Array, reduction: str = "mean", *, label_smoothing: float = 0.0,
                  ignore_index: int = -100) -> Tensor:
    """``nll_loss(log_softmax(logits))``, as ``torch.nn.functional.cross_entropy``.

    ``logits``: (N, C), (C,) or (N, C, d1, ...). ``target``: class indices (the input's shape without
    the class axis; ints, or floats holding whole numbers) or class probabilities (the input's shape).
    ``label_smoothing`` ε mixes the target with the uniform distribution:
    ``loss = (1-ε)·nll + ε·mean_c(-log_softmax)``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or \
            not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0 and 1, got {label_smoothing!r}")
    if logits.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class axis, got a 0-d tensor")
    class_axis = 0 if logits.ndim == 1 else 1
    classes = logits.shape[class_axis]
    log_probs = log_softmax(logits, axis=class_axis)
    if tuple(np.shape(_stat_array(target))) == tuple(logits.shape) and logits.ndim > 0:
        probs = _stat_array(target)   # class probabilities: -sum_c p_c log q_c
        probs = np.asarray(probs, dtype=logits.dtype)
        if label_smoothing:
            probs = probs * (1.0 - label_smoothing) + label_smoothing / classes
        loss = -(log_probs * Tensor(probs, dtype=logits.dtype)).sum(axis=class_axis)
        return _reduce("cross_entropy", loss, reduction)
    indices = _class_indices("cross_entropy", logits, target)
    picked, valid = _pick_class("cross_entropy", log_probs, indices, ignore_index)
    loss = -picked if not label_smoothing else \
        -picked * (1.0 - label_smoothing) - log_probs.mean(axis=class_axis) * label_smoothing
    return _masked_reduce("cross_entropy", loss, valid, reduction)


def _same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ShapeError(f"{op}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} must be "
                         "equal (reshape one of them; broadcasting here is almost always a bug)")


@_one_node
def mse_loss(input: Tensor, target: Array, reduction: str = "mean") -> Tensor:
    """Mean squared error: ``(input - target)²``, reduced."""
    target = _as_tensor(target, input)
    _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce("mse_loss", diff * diff, reduction)


@_one_node
def binary_cross_entropy(probs: Tensor, target: Array, reduction: str = "mean", *,
                         weight: Optional[Array] = None) -> Tensor:
    """``-(y·log p + (1-y)·log(1-p))``, each log clamped at -100 as PyTorch (so p = 0 or 1 stays finite).

    ``probs`` must lie in [0, 1] (apply ``sigmoid`` first, or better use
    ``binary_cross_entropy_with_logits``). ``weight`` rescales each element's loss.
    """
    target = _as_tensor(target, probs)
    _same_shape("binary_cross_entropy", probs, target)
    if probs.size and (np.min(probs.data) < 0 or np.max(probs.data) > 1 or np.any(np.isnan(probs.data))):
        raise ValueError(f"binary_cross_entropy: input (shape {tuple(probs.shape)}) must hold probabilities in "
                         f"[0, 1], found values in [{np.nanmin(probs.data):.4g}, {np.nanmax(probs.data):.4g}]")
    loss = -(target * _clamped_log(probs) + (1 - target) * _clamped_log(1 - probs))
    if weight is not None:
        loss = loss * _as_tensor(weight, probs)
    return _reduce("binary_cross_entropy", loss, reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100) whose gradient stays finite at p = 0: where log p would go below -100 the
    value is the constant -100 and log only ever sees 1 (no 0·inf = nan in backward)."""
    tiny = p.data > np.exp(-100.0)
    mask = Tensor(tiny, dtype=bool)
    return Tensor.if_else(mask, Tensor.if_else(mask, p, 1.0).log(), -100.0)


@_one_node
def binary_cross_entropy_with_logits(logits: Tensor, target: Array, reduction: str = "mean", *,
                                     weight: Optional[Array] = None) -> Tensor:
    """``binary_cross_entropy(sigmoid(x), y)`` computed stably from the logits x:
    ``max(x, 0) - x·y + log(1 + exp(-|x|))`` (exp never sees a positive number)."""
    target = _as_tensor(target, logits)
    _same_shape("binary_cross_entropy_with_logits", logits, target)
    # max(x, 0) and -|x| both take the x >= 0 branch at x = 0, so their slopes at 0 (1 and -1)
    # add up to the true derivative sigmoid(0) - y = 0.5 - y (kinks chosen independently would not)
    positive = Tensor(logits.data >= 0, dtype=bool)
    relu_x = Tensor.if_else(positive, logits, 0.0)
    minus_abs_x = Tensor.if_else(positive, -logits, logits)
    loss = relu_x - logits * target + (minus_abs_x.exp() + 1).log()
    if weight is not None:
        loss = loss * _as_tensor(weight, logits)
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)
