"""Property-based tests: random broadcastable shapes for the binary ops and reductions (hypothesis)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import HAVE_TORCH, compare_with_torch, torch
from tinygrad_cnn import Tensor
from tinygrad_cnn.gradcheck import gradcheck

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: a.maximum(b),
    "matmul_free_mix": lambda a, b: (a * b).tanh() + a.sigmoid() * b,
}

shape_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)


@settings(max_examples=60, deadline=None)
@given(shapes=shape_pairs, op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_on_random_broadcast_shapes(shapes, op, seed):
    fn = BINARY[op]
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    inputs = [Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)]
    assert gradcheck(fn, inputs)
    assert inputs[0].grad.shape == sa and inputs[1].grad.shape == sb
    if HAVE_TORCH:
        compare_with_torch(None, fn, arrays=[a, b])


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_reductions_over_random_axes(shape, data):
    ndim = len(shape)
    axes = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                              unique_by=lambda ax: ax % ndim))
    keepdims = data.draw(st.booleans())
    x0 = np.random.default_rng(len(shape)).standard_normal(shape)
    for reduce in ("sum", "max", "mean"):
        fn = lambda x: getattr(x, reduce)(axis=tuple(axes), keepdims=keepdims)
        assert gradcheck(fn, [Tensor(x0, requires_grad=True)])
        if HAVE_TORCH:
            tfn = {"sum": lambda x: x.sum(dim=tuple(axes), keepdim=keepdims),
                   "max": lambda x: x.amax(dim=tuple(axes), keepdim=keepdims),
                   "mean": lambda x: x.mean(dim=tuple(axes), keepdim=keepdims)}[reduce]
            compare_with_torch(None, fn, tfn, arrays=[x0])


@pytest.mark.parametrize("bad", [((2, 3), (3, 2)), ((4,), (5,))])
def test_incompatible_shapes_always_name_both(bad):
    sa, sb = bad
    with pytest.raises(ValueError, match=rf"add: shapes \({sa[0]}.*and \({sb[0]}"):
        Tensor.ones(*sa) + Tensor.ones(*sb)
