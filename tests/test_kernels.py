"""Every routine in kernels.py equals the plain numpy reference its docstring names.

The references are written out here independently (sliding_window_view, ufunc.reduce, a loop of
np.add.at, ``@``), on random shapes including the edge cases: size-1 axes, stride larger than the
kernel, dilation, non-contiguous inputs, float32 and float64, and shapes with a single window.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from tinygrad_cnn import kernels

DTYPES = [np.float32, np.float64]


def reference_windows(x, kernel, stride, dilation, axes):
    ah, aw = axes
    spans = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    view = sliding_window_view(x, spans, axis=(ah, aw))
    index = [slice(None)] * view.ndim
    index[ah], index[aw] = slice(None, None, stride[0]), slice(None, None, stride[1])
    index[-2], index[-1] = slice(None, None, dilation[0]), slice(None, None, dilation[1])
    return view[tuple(index)]


def reference_fold(g, shape, kernel, stride, dilation, axes):
    """Add every window value back at its pixel, one value at a time."""
    out = np.zeros(shape, dtype=np.float64)
    ah, aw = axes
    for index in np.ndindex(*g.shape):
        *lead, i, j = index
        pixel = list(lead)
        pixel[ah] = lead[ah] * stride[0] + i * dilation[0]
        pixel[aw] = lead[aw] * stride[1] + j * dilation[1]
        out[tuple(pixel)] += g[index]
    return out


# (shape, kernel, stride, dilation, axes)
WINDOW_CASES = [
    ((2, 3, 7, 7), (3, 3), (1, 1), (1, 1), (2, 3)),    # a conv
    ((2, 3, 8, 8), (2, 2), (2, 2), (1, 1), (2, 3)),    # 2x2 pooling: tiles exactly
    ((1, 1, 9, 7), (2, 3), (4, 3), (1, 1), (2, 3)),    # stride > kernel: gaps
    ((2, 2, 9, 9), (3, 2), (1, 2), (2, 3), (2, 3)),    # dilation
    ((1, 1, 1, 5), (1, 2), (1, 1), (1, 1), (2, 3)),    # size-1 axes
    ((3, 4, 4, 1), (3, 3), (1, 1), (1, 1), (0, 1)),    # windows over leading axes
    ((2, 5, 5), (5, 5), (1, 1), (1, 1), (1, 2)),       # one window only
    ((64, 6, 14, 14), (5, 5), (1, 1), (1, 1), (2, 3)),  # LeNet's second conv (fast paths)
    ((64, 16, 10, 10), (2, 2), (2, 2), (1, 1), (2, 3)),  # LeNet's second pool
    ((32, 8, 12, 12), (3, 3), (2, 2), (1, 1), (2, 3)),  # overlapping pooling
    ((8, 4, 32, 32), (32, 32), (32, 32), (1, 1), (2, 3)),  # global pooling: many taps, one copy
    ((3, 2, 13, 11), (4, 3), (5, 4), (1, 1), (2, 3)),   # gaps, few windows: one copy, zeros kept
    ((6, 3, 11, 12), (3, 2), (2, 1), (2, 3), (2, 3)),   # narrow conv, batch-innermost fold, stride + dilation
    ((1, 4, 9, 9), (3, 3), (1, 1), (1, 1), (2, 3)),     # batch 1
    ((4, 2, 12, 13), (3, 2), (1, 2), (2, 3), (2, 3)),   # stride 1 along H: rows, then columns
    ((3, 2, 9, 40), (2, 3), (1, 1), (1, 1), (2, 3)),    # ... wide enough for the slab fold
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,dilation,axes", WINDOW_CASES)
def test_window_view_equals_sliding_window_view(shape, kernel, stride, dilation, axes, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    for source in (x, np.asfortranarray(x)):  # contiguous and not
        view = kernels.window_view(source, kernel, stride, dilation, axes)
        np.testing.assert_array_equal(view, reference_windows(source, kernel, stride, dilation, axes))
        assert not view.flags.writeable


def _g_layouts(g):
    """g as given, and the same values stored in other orders (as backward hands them over)."""
    yield g
    yield np.asfortranarray(g)
    k = g.ndim
    taps_first = np.ascontiguousarray(g.transpose(k - 2, k - 1, *range(k - 2)))
    yield taps_first.transpose(*range(2, k), 0, 1)
    if k == 6:  # the conv's im2col layout, (C, KH, KW, N, OH, OW)
        im2col = np.ascontiguousarray(g.transpose(1, 4, 5, 0, 2, 3))
        yield im2col.transpose(3, 0, 4, 5, 1, 2)


# the big cases are compared through the adjoint identity instead of the slow loop (next test)
SMALL_WINDOW_CASES = [case for case in WINDOW_CASES if np.prod(case[0]) <= 20000]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,dilation,axes", SMALL_WINDOW_CASES)
def test_fold_windows_equals_adding_every_window_back(shape, kernel, stride, dilation, axes, dtype):
    windows_shape = reference_windows(np.zeros(shape), kernel, stride, dilation, axes).shape
    g = np.random.default_rng(1).standard_normal(windows_shape).astype(dtype)
    expected = reference_fold(g, shape, kernel, stride, dilation, axes)
    for layout in _g_layouts(g):
        out = kernels.fold_windows(layout, shape, kernel, stride, dilation, axes)
        assert out.shape == tuple(shape) and out.dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,dilation,axes", WINDOW_CASES)
def test_fold_windows_is_the_adjoint_of_window_view(shape, kernel, stride, dilation, axes, dtype):
    """<windows(x), g> == <x, fold(g)> for every x and g: fold is exactly windows' transpose."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    windows = kernels.window_view(x, kernel, stride, dilation, axes)
    g = rng.standard_normal(windows.shape).astype(dtype)
    for layout in _g_layouts(g):
        folded = kernels.fold_windows(layout, shape, kernel, stride, dilation, axes).astype(np.float64)
        np.testing.assert_allclose((windows * g).sum(), (x * folded).sum(), rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_fold_windows_without_overlap_is_exact():
    g = np.random.default_rng(3).standard_normal((4, 3, 5, 5, 2, 2)).astype(np.float32)
    out = kernels.fold_windows(g, (4, 3, 10, 10), (2, 2), (2, 2), (1, 1), (2, 3))
    np.testing.assert_array_equal(out, reference_fold(g, (4, 3, 10, 10), (2, 2), (2, 2), (1, 1), (2, 3)))
    gaps = kernels.fold_windows(g, (4, 3, 11, 12), (2, 2), (2, 2), (1, 1), (2, 3))  # untouched pixels stay 0
    assert (gaps[..., 10, :] == 0).all() and (gaps[..., 10:] == 0).all()


REDUCE_SHAPES = [
    ((64, 6, 14, 14, 2, 2), (4, 5)),     # pooling windows: the tap loop
    ((2, 3, 4, 4, 2, 2), (4, 5)),        # too few windows: numpy directly
    ((8, 3, 9), (2,)),
    ((5, 7), (0,)),                       # a leading axis
    ((5, 7), (0, 1)),                     # everything
    ((300, 10, 1), (2,)),                 # a size-1 tap axis
    ((4, 300, 9, 9), (2, 3)),             # more taps than the loop takes
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("combine", [np.maximum, np.minimum])
@pytest.mark.parametrize("shape,axes", REDUCE_SHAPES)
def test_reduce_taps_equals_ufunc_reduce(shape, axes, combine, dtype):
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, shape).astype(dtype)   # small integers: many ties
    for source in (x, np.asfortranarray(x), x[..., ::-1]):
        np.testing.assert_array_equal(kernels.reduce_taps(source, axes, combine),
                                      combine.reduce(source, axis=axes, keepdims=True))


def test_reduce_taps_of_a_window_view():
    x = np.random.default_rng(5).standard_normal((64, 6, 28, 28)).astype(np.float32)
    view = kernels.window_view(x, (3, 3), (2, 2), (1, 1), (2, 3))
    np.testing.assert_array_equal(kernels.reduce_taps(view, (4, 5), np.maximum),
                                  np.max(view, axis=(4, 5), keepdims=True))


@pytest.mark.parametrize("shape,axes", REDUCE_SHAPES)
def test_equal_mask_equals_comparison(shape, axes):
    x = np.random.default_rng(6).integers(-2, 3, shape).astype(np.float32)
    best = np.max(x, axis=axes, keepdims=True)
    mask = kernels.equal_mask(x, best, axes)
    assert mask.shape == x.shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, x == best)


MATMUL_SHAPES = [((3, 4), (4, 5)), ((1, 1), (1, 1)), ((6, 9000), (9000, 16)), ((2, 3, 4), (4, 2)),
                 ((16, 20000), (20000, 6)), ((5, 1), (1, 7)),
                 ((64, 5000), (5000, 80)),                  # long inner, large result: asked transposed
                 ((8, 1, 9), (8, 9, 300)),                  # depthwise conv forward: numpy's loops
                 ((8, 9, 1), (8, 1, 300)),                  # its input gradient: outer products
                 ((8, 1, 300), (8, 300, 9)),                # its weight gradient
                 ((3, 20, 16), (3, 16, 40)),                # grouped conv with a short side
                 ((2, 1, 4, 3), (5, 3, 6)),                 # broadcast batch dimensions
                 ((4, 20, 30), (4, 30, 25))]                # an ordinary stack: BLAS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_shape,b_shape", MATMUL_SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_matmul_equals_at(a_shape, b_shape, order, dtype):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    out = kernels.matmul(a, b, order)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol * np.sqrt(a_shape[-1]))
    assert out.dtype == dtype
    assert out.shape == (a @ b).shape
    if order == "F" and out.ndim == 2:
        assert out.flags.f_contiguous
    if order == "C" or out.ndim > 2:
        assert out.flags.c_contiguous


def test_layout_names_transposed_matrices():
    a = np.zeros((3, 4))
    assert kernels.layout(a) == "C" and kernels.layout(a.T) == "F"
    assert kernels.layout(np.zeros((1, 4)).T) == "C"   # both contiguous: nothing to gain
    assert kernels.layout(np.zeros((2, 3, 4)).transpose(2, 1, 0)) == "C"   # only 2-D results


def test_kernels_import_nothing_of_ours():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(kernels))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert all(not m.startswith(("tinygrad_cnn", ".")) and m for m in imported), imported
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))


def test_every_kernel_states_its_reference():
    public = [getattr(kernels, n) for n in dir(kernels) if not n.startswith("_") and callable(getattr(kernels, n))
              and getattr(getattr(kernels, n), "__module__", "") == kernels.__name__]
    assert len(public) >= 6
    for fn in public:
        first = (fn.__doc__ or "").strip().splitlines()[0]
        assert first.startswith("Reference:") or fn is kernels.layout, fn.__name__


def test_ops_py_holds_no_speed_code():
    import inspect
    import re

    from tinygrad_cnn import ops

    source = inspect.getsource(ops)
    assert not re.search(r"_cache_chunks|_trailing_taps|_long_inner|tiles_exactly|cache-sized|as_strided", source)


def test_fold_of_an_im2col_gradient_is_stored_like_it():
    """A gradient stored (C, KH, KW, N, OH, OW) folds into an array stored (C, N, H, W): same values
    as the reference, the leading axes in g's memory order, the image rows still contiguous."""
    rng = np.random.default_rng(8)
    stored = rng.standard_normal((3, 3, 3, 2, 32, 32)).astype(np.float32)  # (C, KH, KW, N, OH, OW)
    g = stored.transpose(3, 0, 4, 5, 1, 2)                                 # (N, C, OH, OW, KH, KW)
    out = kernels.fold_windows(g, (2, 3, 34, 34), (3, 3), (1, 1), (1, 1), (2, 3))  # wide: not folded by rows
    np.testing.assert_allclose(out, reference_fold(g, (2, 3, 34, 34), (3, 3), (1, 1), (1, 1), (2, 3)), rtol=1e-5, atol=1e-5)
    assert out.strides[1] > out.strides[0] > out.strides[2] > out.strides[3] == 4
    plain = kernels.fold_windows(np.ascontiguousarray(g), (2, 3, 34, 34), (3, 3), (1, 1), (1, 1), (2, 3))
    assert plain.flags.c_contiguous   # a row-major gradient folds into a row-major array
