"""conv2d, max_pool2d, avg_pool2d: PyTorch parity (forward and every gradient) over a grid of settings,
finite differences on small float64 cases, and the error messages."""
import collections
import itertools
import random

import numpy as np
import pytest

import tinygrad_cnn.functional as F
from tinygrad_cnn import ShapeError, Tensor
from helpers import check_gradients, compare_with_torch, torch
from tinygrad_cnn.autograd import topological_order

if torch is not None:
    import torch.nn.functional as TF


def _fits(size, kernel, padding, dilation):
    return all(d * (k - 1) + 1 <= s + 2 * p for s, k, p, d in zip(size, kernel, padding, dilation))


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


# --------------------------------------------------------------------------- conv2d grid
# Every combination of the values below is 5*4*4*3*3 = 720 cases; a fixed random sample of those
# that fit keeps each value present several times while the whole grid runs in seconds.
KERNELS = [1, 3, 5, (3, 2), (1, 3)]
STRIDES = [1, 2, 3, (2, 1)]
PADDINGS = [0, 1, 2, (1, 0)]
DILATIONS = [1, 2, (2, 1)]
GROUPS = [1, 2, "depthwise"]
INPUT_HW = (9, 7)   # non-square on purpose
CONV_GRID = [case for case in random.Random(0).sample(list(itertools.product(KERNELS, STRIDES, PADDINGS, DILATIONS,
                                                                             GROUPS)), 90)
             if _fits(INPUT_HW, _pair(case[0]), _pair(case[2]), _pair(case[3]))][:40]


def _conv_shapes(kernel, groups, channels=4, out_channels=6, batch=2, hw=INPUT_HW):
    groups = channels if groups == "depthwise" else groups
    out_channels = channels * 2 if groups == channels else out_channels
    kh, kw = _pair(kernel)
    return [(batch, channels, *hw), (out_channels, channels // groups, kh, kw), (out_channels,)], groups


def test_conv_grid_covers_every_setting():
    for position, values in enumerate([KERNELS, STRIDES, PADDINGS, DILATIONS, GROUPS]):
        for value in values:
            assert sum(case[position] == value for case in CONV_GRID) >= 3, (position, value)


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups", CONV_GRID, ids=str)
def test_conv2d_matches_torch(kernel, stride, padding, dilation, groups):
    shapes, groups = _conv_shapes(kernel, groups)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare_with_torch(shapes, lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw))


GRADCHECK_GRID = [  # small float64 cases: finite differences cost two forwards per input element
    (3, 1, 1, 1, 1), (3, 2, 0, 1, 1), ((3, 2), (2, 1), (1, 0), 1, 2), (1, 1, 0, 1, 1),
    (3, 1, 2, 2, "depthwise"), ((1, 3), 3, 1, (2, 1), 2), (5, 2, 2, 1, 1),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups", GRADCHECK_GRID, ids=str)
def test_conv2d_gradcheck(kernel, stride, padding, dilation, groups):
    shapes, groups = _conv_shapes(kernel, groups, channels=2, out_channels=2, batch=2, hw=(6, 5))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_gradients(shapes, lambda x, w, b: F.conv2d(x, w, b, **kw))


def test_conv2d_without_bias():
    compare_with_torch([(2, 3, 8, 6), (5, 3, 3, 3)], lambda x, w: F.conv2d(x, w, padding=1),
                       lambda x, w: TF.conv2d(x, w, padding=1))


def test_conv2d_input_without_grad():
    # a first layer: only the weight and bias need gradients (the patch-matrix gradient is skipped)
    compare_with_torch([(2, 3, 7, 7), (4, 3, 3, 3), (4,)], lambda x, w, b: F.conv2d(x, w, b, stride=2),
                       lambda x, w, b: TF.conv2d(x, w, b, stride=2), grad_inputs=[1, 2])


def test_conv2d_float32():
    compare_with_torch([(4, 3, 12, 10), (8, 3, 3, 3), (8,)], lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                       lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1), dtype=np.float32, atol=1e-4, rtol=1e-4)


def test_conv2d_lenet_shapes():
    compare_with_torch([(3, 1, 28, 28), (6, 1, 5, 5), (6,)], lambda x, w, b: F.conv2d(x, w, b, padding=2),
                       lambda x, w, b: TF.conv2d(x, w, b, padding=2))


@pytest.mark.filterwarnings("ignore:Using padding='same'")   # torch's note about its own speed
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), ((2, 5), (2, 1)), (1, 3)])
def test_conv2d_same_padding(kernel, dilation):
    shapes, _ = _conv_shapes(kernel, 1)
    kw = dict(padding="same", dilation=dilation)
    compare_with_torch(shapes, lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw))


def test_conv2d_valid_padding():
    compare_with_torch([(1, 2, 6, 5), (3, 2, 3, 3)], lambda x, w: F.conv2d(x, w, padding="valid"),
                       lambda x, w: TF.conv2d(x, w, padding="valid"))


def test_conv2d_is_a_composite_of_windows_and_matmul():
    x, w = Tensor.randn(1, 2, 5, 5, requires_grad=True), Tensor.randn(3, 2, 3, 3, requires_grad=True)
    seen, stack = set(), [F.conv2d(x, w, padding=1)]
    while stack:
        node = stack.pop().grad_fn
        if node is not None:
            seen.add(node.name)
            stack.extend(node.parents)
    assert {"pad", "windows", "matmul"} <= seen


def test_conv2d_weight_gradient_is_a_sum_over_positions():
    # a 1x1 kernel on an all-ones image: each weight's gradient counts the positions it was used at
    x, w = Tensor.ones(2, 1, 4, 3), Tensor.ones(1, 1, 1, 1, requires_grad=True)
    F.conv2d(x, w).sum().backward()
    assert w.grad.item() == 2 * 4 * 3


# --------------------------------------------------------------------------- conv2d errors
def _conv_error(x_shape, w_shape, **kw):
    F.conv2d(Tensor.zeros(*x_shape), Tensor.zeros(*w_shape), **kw)


def test_conv2d_wrong_channel_count_names_both_shapes_and_groups():
    with pytest.raises(ShapeError, match=r"conv2d: input shape \(2, 3, 8, 8\) has 3 channels, but weight shape "
                                         r"\(4, 2, 3, 3\) with groups=1 expects 2"):
        _conv_error((2, 3, 8, 8), (4, 2, 3, 3))


def test_conv2d_channels_not_divisible_by_groups():
    with pytest.raises(ShapeError, match=r"conv2d: input channels 3 .*\(2, 3, 8, 8\).* not divisible by groups=2"):
        _conv_error((2, 3, 8, 8), (4, 1, 3, 3), groups=2)


def test_conv2d_out_channels_not_divisible_by_groups():
    with pytest.raises(ShapeError, match=r"conv2d: out_channels 5 \(weight shape \(5, 2, 3, 3\)\).*groups=2"):
        _conv_error((2, 4, 8, 8), (5, 2, 3, 3), groups=2)


def test_conv2d_kernel_larger_than_padded_input():
    with pytest.raises(ShapeError, match=r"conv2d: kernel \(7, 7\).* larger than the padded input 6x6 "
                                         r"\(input shape \(1, 1, 4, 4\), padding 1\)"):
        _conv_error((1, 1, 4, 4), (1, 1, 7, 7), padding=1)


def test_conv2d_dilated_kernel_larger_than_input():
    with pytest.raises(ShapeError, match=r"kernel \(3, 3\) with dilation \(3, 3\) spans 7x7"):
        _conv_error((1, 1, 6, 6), (1, 1, 3, 3), dilation=3)


@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 1, 1, 8, 8), (8,)])
def test_conv2d_input_must_be_4d(shape):
    with pytest.raises(ShapeError, match=rf"conv2d: input must be 4-D \(N, C, H, W\), got shape {re_shape(shape)}"):
        _conv_error(shape, (1, 3, 3, 3))


def test_conv2d_weight_must_be_4d():
    with pytest.raises(ShapeError, match=r"conv2d: weight must be 4-D .*got shape \(3, 3\)"):
        _conv_error((1, 1, 5, 5), (3, 3))


@pytest.mark.parametrize("kw,error,message", [
    (dict(stride=0), ValueError, r"conv2d: stride must be >= 1, got 0"),
    (dict(stride=(1, -2)), ValueError, r"conv2d: stride must be >= 1, got \(1, -2\)"),
    (dict(stride=1.5), TypeError, r"conv2d: stride must be an int or a pair of ints, got 1.5"),
    (dict(stride=(1, 2, 3)), TypeError, r"conv2d: stride must be an int or a pair"),
    (dict(padding=-1), ValueError, r"conv2d: padding must be >= 0, got -1"),
    (dict(padding="full"), ValueError, r"conv2d: padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    (dict(padding="same", stride=2), ValueError, r"conv2d: padding='same' needs stride 1"),
    (dict(dilation=0), ValueError, r"conv2d: dilation must be >= 1, got 0"),
    (dict(groups=0), ValueError, r"conv2d: groups must be a positive int, got 0"),
])
def test_conv2d_bad_hyperparameters(kw, error, message):
    with pytest.raises(error, match=message):
        _conv_error((1, 2, 8, 8), (2, 2, 3, 3), **kw)


def test_conv2d_bias_shape():
    with pytest.raises(ShapeError, match=r"conv2d: bias shape \(3,\) must be \(2,\)"):
        F.conv2d(Tensor.zeros(1, 2, 5, 5), Tensor.zeros(2, 2, 3, 3), Tensor.zeros(3))


def re_shape(shape):
    import re
    return re.escape(str(tuple(shape)))


# --------------------------------------------------------------------------- pooling
POOL_GRID = [(k, s, p) for k, s, p in itertools.product([1, 2, 3, (3, 2), (2, 4)], [None, 1, 2, (2, 1)],
                                                        [0, 1, (1, 0)])
             if all(pp <= kk // 2 for pp, kk in zip(_pair(p), _pair(k)))]


@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID, ids=str)
def test_max_pool2d_matches_torch(kernel, stride, padding):
    # random floats: no ties inside a window (on ties we share the gradient, PyTorch picks one)
    compare_with_torch([(2, 3, 9, 7)], lambda x: F.max_pool2d(x, kernel, stride, padding),
                       lambda x: TF.max_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("kernel,stride,padding", POOL_GRID, ids=str)
def test_avg_pool2d_matches_torch(kernel, stride, padding):
    compare_with_torch([(2, 3, 9, 7)], lambda x: F.avg_pool2d(x, kernel, stride, padding),
                       lambda x: TF.avg_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("kernel,stride,padding,dilation", [(3, 1, 1, 2), ((2, 3), 2, (1, 1), (2, 1))])
def test_max_pool2d_dilation_matches_torch(kernel, stride, padding, dilation):
    compare_with_torch([(2, 2, 9, 8)], lambda x: F.max_pool2d(x, kernel, stride, padding, dilation),
                       lambda x: TF.max_pool2d(x, kernel, stride, padding, dilation))


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), ((3, 2), 1, (1, 1)), (2, None, 1)])
def test_avg_pool2d_count_include_pad_false(kernel, stride, padding):
    compare_with_torch([(2, 2, 7, 6)], lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False),
                       lambda x: TF.avg_pool2d(x, kernel, stride, padding, count_include_pad=False))


def test_avg_pool2d_divisor_override():
    compare_with_torch([(1, 2, 6, 6)], lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=4),
                       lambda x: TF.avg_pool2d(x, 3, 2, 1, divisor_override=4))


def test_pooling_unbatched_3d_input():
    compare_with_torch([(3, 8, 6)], lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2))
    compare_with_torch([(3, 8, 6)], lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2))


def test_pooling_float32():
    compare_with_torch([(4, 6, 28, 28)], lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2),
                       dtype=np.float32, atol=1e-6)


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (3, 1, 0)])
def test_max_pool2d_gradcheck(kernel, stride, padding):
    check_gradients([(2, 2, 6, 5)], lambda x: F.max_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (3, 1, 0)])
def test_avg_pool2d_gradcheck(kernel, stride, padding):
    check_gradients([(2, 2, 6, 5)], lambda x: F.avg_pool2d(x, kernel, stride, padding))


def test_max_pool2d_ties_share_the_gradient():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full((1, 1, 2, 2), 0.25))


def test_max_pool2d_padding_never_wins():
    x = Tensor(-np.ones((1, 1, 2, 2)) * 5)
    assert np.all(F.max_pool2d(x, 3, 1, 1).data == -5)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_padding_more_than_half_the_kernel(pool):
    with pytest.raises(ValueError, match=rf"{pool.__name__}: padding \(2, 2\) must be at most half of kernel_size "
                                         r"\(3, 3\)"):
        pool(Tensor.zeros(1, 1, 8, 8), 3, padding=2)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_input_must_be_3d_or_4d(pool):
    with pytest.raises(ShapeError, match=rf"{pool.__name__}: input must be 4-D .* got shape \(8, 8\)"):
        pool(Tensor.zeros(8, 8), 2)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_kernel_larger_than_input(pool):
    with pytest.raises(ShapeError, match=rf"{pool.__name__}: kernel \(7, 7\).*larger than the padded input 6x6 "
                                         r"\(input shape \(1, 1, 4, 4\)"):
        pool(Tensor.zeros(1, 1, 4, 4), 7, padding=1)


@pytest.mark.parametrize("kw,error,message", [
    (dict(kernel_size=0), ValueError, r"kernel_size must be >= 1, got 0"),
    (dict(kernel_size=2, stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(kernel_size=2.0), TypeError, r"kernel_size must be an int or a pair of ints, got 2.0"),
    (dict(kernel_size=2, padding=-1), ValueError, r"padding must be >= 0, got -1"),
])
def test_pooling_bad_hyperparameters(kw, error, message):
    with pytest.raises(error, match="max_pool2d: " + message):
        F.max_pool2d(Tensor.zeros(1, 1, 6, 6), **kw)


def test_avg_pool2d_bad_divisor():
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a positive int, got 0"):
        F.avg_pool2d(Tensor.zeros(1, 1, 4, 4), 2, divisor_override=0)


@pytest.mark.parametrize("width", [6, 9, 40])
@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, 1), (2, 2, (2, 0))])
def test_conv2d_narrow_and_wide_images_match_torch(width, stride, dilation, padding):
    # narrow images take the batch-innermost fold inside kernels.py, wide ones the slab fold
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    compare_with_torch([(3, 4, 11, width), (5, 4, 3, 3), (5,)], lambda x, w, b: F.conv2d(x, w, b, **kw),
                       lambda x, w, b: TF.conv2d(x, w, b, **kw))


def _conv_step_names(width, batch, input_grad, padding=1):
    x = Tensor(np.ones((batch, 3, width, width)), requires_grad=input_grad)
    w, b = Tensor(np.ones((4, 3, 3, 3)), requires_grad=True), Tensor(np.ones(4), requires_grad=True)
    out = F.conv2d(x, w, b, padding=padding)
    return [step.op for step in out.sum().backward_steps()]


@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("input_grad", [True, False])
def test_conv2d_backward_steps_are_the_same_for_every_image_and_batch_size(input_grad, padding):
    reference = _conv_step_names(6, 1, input_grad, padding)
    for width in (6, 12, 20, 40):
        for batch in (1, 5):
            assert _conv_step_names(width, batch, input_grad, padding) == reference, (width, batch)
    # bias, then weight, then (if it needs one) down to the image: the canonical chain
    head = ["sum", "add", "reshape", "leaf", "permute", "reshape", "matmul", "reshape", "leaf"]
    if input_grad:
        assert reference == head + ["reshape", "permute", "windows"] + (["pad"] if padding else []) + ["leaf"]
    else:
        assert reference == head


def test_conv2d_backward_steps_without_input_grad_are_the_steps_with_it_minus_the_image_branch():
    with_x = _conv_step_names(12, 5, True)
    without_x = _conv_step_names(12, 5, False)
    # the column matrix's reshape and permute, windows, pad, and the image leaf
    extra = collections.Counter(with_x) - collections.Counter(without_x)
    assert extra == collections.Counter(["reshape", "permute", "windows", "pad", "leaf"])
    steps = iter(with_x)
    assert all(op in steps for op in without_x)   # in the same order: a subsequence


def test_conv2d_graph_has_one_shape_of_each_primitive_per_image_size():
    counts = []
    for width in (6, 40):
        x = Tensor(np.ones((2, 3, width, width)), requires_grad=True)
        graph = topological_order(F.conv2d(x, Tensor(np.ones((5, 3, 3, 3)), requires_grad=True), padding=1))
        counts.append(sorted(t.grad_fn.name for t in graph if t.grad_fn))
    assert counts[0] == counts[1]
