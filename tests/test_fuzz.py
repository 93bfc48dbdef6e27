"""Fuzzing the engine: random small graphs of random ops on random broadcastable shapes, every
gradient checked against finite differences. Shapes that once failed stay below as regular tests.

CI runs 200 examples; a longer run by hand: ``HYPOTHESIS_PROFILE=long make test`` (or pytest
tests/test_fuzz.py with that variable), see conftest.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_cnn import Tensor
from tinygrad_cnn.gradcheck import gradcheck

UNARY = {
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "exp_bounded": lambda x: x.tanh().exp(),
    "log_positive": lambda x: (x * x + 1).log(),
    "sqrt_positive": lambda x: (x * x + 0.5).sqrt(),
    "square": lambda x: x ** 2,
    "neg": lambda x: -x,
    "softmax_last": lambda x: x.softmax(-1) if x.ndim else x,
    "log_softmax_first": lambda x: x.log_softmax(0) if x.ndim else x,
    "sum_last_keep": lambda x: x.sum(axis=-1, keepdims=True) if x.ndim else x,
    "max_first": lambda x: x.max(axis=0) if x.ndim else x,
    "mean_all": lambda x: x.mean(),
    "transpose": lambda x: x.T,
    "flatten": lambda x: x.flatten(),
    "reverse_first": lambda x: x[::-1] if x.ndim else x,
    "pad_first": lambda x: x.pad(((1, 0),) + ((0, 0),) * (x.ndim - 1)) if x.ndim else x,
    "unsqueeze": lambda x: x.unsqueeze(0),
    "matmul_transpose": lambda x: x @ x.transpose(-1, -2) if x.ndim >= 2 else (x @ x if x.ndim else x),
    "gather_repeated": lambda x: x[np.array([0, 0, -1])] if x.ndim else x,
    "windows_sum": lambda x: x.windows((min(2, x.shape[-2]), min(2, x.shape[-1]))).sum(axis=(-2, -1))
                             if x.ndim >= 2 else x,
    "cat_self": lambda x: Tensor.cat([x, x * 2], axis=0) if x.ndim else x,
    "stack_self": lambda x: Tensor.stack([x, x.tanh()], axis=-1),
    "var_last": lambda x: x.var(axis=-1) if x.ndim and x.shape[-1] > 1 else x,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: a.maximum(b),
    "where": lambda a, b: Tensor.if_else(a.data > 0, a, b),
}


def build(program, leaves):
    """Apply ``program`` (a list of (op, operand index)) to the leaves, keeping every value alive."""
    values = list(leaves)
    for name, other in program:
        if name in UNARY:
            values.append(UNARY[name](values[-1]))
        else:
            a, b = values[-1], values[other % len(values)]
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                b = b.sum()  # keep the program valid: fall back to a scalar operand
            values.append(BINARY[name](a, b))
    return values[-1]


programs = st.lists(st.tuples(st.sampled_from(sorted(UNARY) + sorted(BINARY)), st.integers(0, 8)),
                    min_size=1, max_size=6)
leaf_shapes = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3)


def check(program, shapes, seed):
    rng = np.random.default_rng(seed)
    leaves = [Tensor(rng.uniform(-1.5, 1.5, s) + 0.05, requires_grad=True, dtype=np.float64) for s in shapes]
    assert gradcheck(lambda *xs: build(program, xs), leaves, atol=1e-5, rtol=1e-4)


@settings(deadline=None)
@given(program=programs, shapes=leaf_shapes, seed=st.integers(0, 10_000))
def test_random_graphs_match_finite_differences(program, shapes, seed):
    check(program, shapes.input_shapes, seed)


# the corpus: programs and shapes that once failed, kept as regular tests
CORPUS = [
    ([("add", 0), ("add", 0)], [(), (), ()]),                       # a leaf used twice by one op
    ([("mul", 1), ("sum_last_keep", 0), ("mul", 3)], [(2, 3), (3,), (1, 1)]),
    ([("max_first", 0), ("maximum", 0)], [(3, 1), (1, 2), (2,)]),
    ([("transpose", 0), ("flatten", 0), ("pad_first", 0), ("softmax_last", 0)], [(2, 3), (), (3,)]),
    ([("where", 1), ("reverse_first", 0), ("div_safe", 2)], [(3,), (2, 3), (1,)]),
]


@pytest.mark.parametrize("program,shapes", CORPUS)
def test_corpus(program, shapes):
    check(program, shapes, seed=0)
