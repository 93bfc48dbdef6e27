"""Every primitive against finite differences (float64) and PyTorch (forward + every input gradient).

One line of shapes per test, like tinygrad's test_ops.py.
"""
import numpy as np
import pytest

from helpers import both, check_gradients, compare_with_torch, requires_torch, torch
from tinygrad_cnn import Tensor

BROADCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5, 1), ()), ((1,), (4, 1))]


# ------------------------------------------------------------------ elementwise binary
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_add(sa, sb): both([sa, sb], lambda a, b: a + b)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_sub(sa, sb): both([sa, sb], lambda a, b: a - b)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_mul(sa, sb): both([sa, sb], lambda a, b: a * b)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_div(sa, sb): both([sa, sb], lambda a, b: a / b, positive=True)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_pow(sa, sb): both([sa, sb], lambda a, b: a ** b, positive=True)
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_maximum(sa, sb): both([sa, sb], lambda a, b: a.maximum(b))
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_minimum(sa, sb): both([sa, sb], lambda a, b: a.minimum(b))

def test_pow_scalar_exponent(): both([(3, 4)], lambda a: a ** 3)
def test_pow_fractional_exponent(): both([(3, 4)], lambda a: a ** 0.5, positive=True)
def test_rsub_rdiv_radd_rmul(): both([(2, 3)], lambda a: (2 - a) * (1 / (a * a + 1)) + 3 * a)

@requires_torch
def test_maximum_ties_split_the_gradient_like_torch():
    arrays = [np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])]
    compare_with_torch(None, lambda a, b: a.maximum(b), arrays=arrays)
    compare_with_torch(None, lambda a, b: a.minimum(b), arrays=arrays)


# ------------------------------------------------------------------ elementwise unary
UNARY_SHAPES = [(), (5,), (3, 4), (2, 3, 4)]

@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_neg(shape): both([shape], lambda x: -x)
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_exp(shape): both([shape], lambda x: x.exp())
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_log(shape): both([shape], lambda x: x.log(), positive=True)
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_sqrt(shape): both([shape], lambda x: x.sqrt(), positive=True)
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_abs(shape): both([shape], lambda x: x.abs())
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_relu(shape): both([shape], lambda x: x.relu())
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_sigmoid(shape): both([shape], lambda x: x.sigmoid())
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_tanh(shape): both([shape], lambda x: x.tanh())
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_clip(shape): both([shape], lambda x: x.clip(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7))
def test_clip_one_sided(): both([(3, 4)], lambda x: x.clip(lo=-0.5), lambda x: x.clamp(min=-0.5))

@requires_torch
def test_sigmoid_does_not_overflow():
    compare_with_torch(None, lambda x: x.sigmoid(), arrays=[np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])])

@requires_torch
def test_relu_and_abs_at_zero_match_torch():
    compare_with_torch(None, lambda x: x.relu() + x.abs(), arrays=[np.array([-1.0, 0.0, 1.0])])


@pytest.mark.parametrize("sc,sa,sb", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((4,), (3, 4), (3, 1))])
def test_where(sc, sa, sb):
    cond = np.random.default_rng(3).random(sc) > 0.5
    both([sa, sb], lambda a, b: Tensor.select(cond, a, b),
         lambda a, b: torch.where(torch.tensor(cond), a, b) if torch is not None else None)


def test_cast_float32_to_float64_and_back():
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == np.float32 and np.all(x.grad.data == 3)


# ------------------------------------------------------------------ reductions
REDUCE = [((3, 4), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False),
          ((2, 3, 4), (-1, -2), True), ((5,), 0, True), ((), None, False)]

@pytest.mark.parametrize("shape,axis,keepdims", REDUCE)
def test_sum(shape, axis, keepdims):
    both([shape], lambda x: x.sum(axis=axis, keepdims=keepdims),
         lambda x: x.sum(dim=axis, keepdim=keepdims) if axis is not None else x.sum())

@pytest.mark.parametrize("shape,axis,keepdims", REDUCE)
def test_max(shape, axis, keepdims):
    both([shape], lambda x: x.max(axis=axis, keepdims=keepdims),
         lambda x: x.amax(dim=axis if axis is not None else tuple(range(x.ndim)), keepdim=keepdims))

@pytest.mark.parametrize("shape,axis,keepdims", REDUCE)
def test_min(shape, axis, keepdims):
    both([shape], lambda x: x.min(axis=axis, keepdims=keepdims),
         lambda x: x.amin(dim=axis if axis is not None else tuple(range(x.ndim)), keepdim=keepdims))

@pytest.mark.parametrize("shape,axis,keepdims", REDUCE[:-1])
def test_mean(shape, axis, keepdims):
    both([shape], lambda x: x.mean(axis=axis, keepdims=keepdims),
         lambda x: x.mean(dim=axis, keepdim=keepdims) if axis is not None else x.mean())

@pytest.mark.parametrize("shape,axis", [((3, 4), None), ((3, 4), 0), ((2, 3, 4), (1, 2))])
def test_var_std(shape, axis):
    both([shape], lambda x: x.var(axis=axis), lambda x: x.var(dim=axis) if axis is not None else x.var())
    both([shape], lambda x: x.std(axis=axis), lambda x: x.std(dim=axis) if axis is not None else x.std())

@requires_torch
def test_max_ties_share_the_gradient_like_amax():
    compare_with_torch(None, lambda x: x.max(axis=1), lambda x: x.amax(dim=1),
                       arrays=[np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])])

@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 3, 4), 1), ((4,), 0)])
def test_softmax(shape, axis):
    both([shape], lambda x: x.softmax(axis), lambda x: x.softmax(dim=axis))
    both([shape], lambda x: x.log_softmax(axis), lambda x: x.log_softmax(dim=axis))

@requires_torch
def test_log_softmax_is_stable_for_huge_logits():
    compare_with_torch(None, lambda x: x.log_softmax(-1), lambda x: x.log_softmax(dim=-1),
                       arrays=[np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 0.0]])])


# ------------------------------------------------------------------ movement
@pytest.mark.parametrize("shape,new", [((3, 4), (12,)), ((3, 4), (2, -1)), ((2, 3, 4), (4, 6)), ((), (1, 1))])
def test_reshape(shape, new): both([shape], lambda x: x.reshape(*new))

@pytest.mark.parametrize("shape,axes", [((3, 4), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4, 5), (0, 2, 3, 1))])
def test_permute(shape, axes): both([shape], lambda x: x.permute(*axes))

def test_transpose(): both([(2, 3, 4)], lambda x: x.transpose(0, 2))
def test_T(): both([(3, 4)], lambda x: x.T, lambda x: x.T)

@pytest.mark.parametrize("shape,new", [((3, 1), (3, 4)), ((4,), (2, 3, 4)), ((1, 1), (2, 5)), ((), (3,))])
def test_expand(shape, new): both([shape], lambda x: x.expand(*new))

@pytest.mark.parametrize("shape,axis", [((3, 1, 4), 1), ((1, 3), None), ((3, 4), -1)])
def test_squeeze(shape, axis):
    both([shape], lambda x: x.squeeze(axis), lambda x: x.squeeze(axis) if axis is not None else x.squeeze())

@pytest.mark.parametrize("shape,axis", [((3, 4), 0), ((3, 4), -1), ((), 0)])
def test_unsqueeze(shape, axis): both([shape], lambda x: x.unsqueeze(axis))

def test_flatten(): both([(2, 3, 4)], lambda x: x.flatten(1), lambda x: x.flatten(1))

@pytest.mark.parametrize("shape,width", [((3, 4), ((1, 2), (0, 1))), ((1, 2, 3, 3), ((0, 0), (0, 0), (1, 1), (2, 0)))])
def test_pad(shape, width):
    torch_pad = [p for pair in reversed(width) for p in pair]
    both([shape], lambda x: x.pad(width),
         lambda x: torch.nn.functional.pad(x, torch_pad) if torch is not None else None)

INDEXES = [1, -1, slice(1, 3), slice(None, None, 2), slice(None, None, -1), (slice(None), 2), (Ellipsis, -1),
           (1, slice(0, 2)), np.array([0, 2, 2]), (np.array([0, 1]), np.array([3, 0])), (slice(None), None, 1)]

@pytest.mark.parametrize("index", INDEXES, ids=[repr(i) for i in INDEXES])
def test_getitem(index):
    if isinstance(index, slice) and index.step == -1:  # torch has no negative steps: use flip
        both([(4, 5)], lambda x: x[index], lambda x: x.flip(0))
        return
    torch_index = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index) \
        if isinstance(index, tuple) else (torch.tensor(index) if isinstance(index, np.ndarray) else index)
    both([(4, 5)], lambda x: x[index], lambda x: x[torch_index] if torch is not None else None)

def test_getitem_repeated_integer_indices_accumulate():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 1, 3])].sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]

def test_getitem_boolean_mask():
    mask = np.array([[True, False, True], [False, False, True]])
    both([(2, 3)], lambda x: x[mask], lambda x: x[torch.tensor(mask)] if torch is not None else None)

def test_getitem_with_tensor_index():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x[Tensor(np.array([1, 0]), dtype=np.int64)].sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]

@pytest.mark.parametrize("shapes,axis", [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], -1), ([(3,), (2,)], 0)])
def test_cat(shapes, axis):
    both(shapes, lambda *xs: Tensor.cat(xs, axis=axis), lambda *xs: torch.cat(xs, dim=axis) if torch is not None else None)

@pytest.mark.parametrize("shapes,axis", [([(2, 3), (2, 3)], 0), ([(2, 3)] * 3, -1), ([(4,), (4,)], 1)])
def test_stack(shapes, axis):
    both(shapes, lambda *xs: Tensor.stack(xs, axis=axis), lambda *xs: torch.stack(xs, dim=axis) if torch is not None else None)

WINDOWS = [((1, 1, 5, 5), (3, 3), (1, 1), (1, 1)), ((2, 3, 7, 6), (2, 3), (2, 1), (1, 1)),
           ((1, 2, 9, 8), (3, 2), (2, 3), (2, 2)), ((4, 4), (2, 2), (2, 2), (1, 1)),
           ((1, 1, 7, 8), (2, 2), (3, 3), (1, 1)), ((2, 1, 6, 6), (3, 3), (3, 3), (1, 1)),
           ((1, 1, 7, 7), (2, 2), (2, 2), (1, 1))]  # gaps between windows; exact tiling; a leftover edge

@pytest.mark.parametrize("shape,kernel,stride,dilation", WINDOWS)
def test_windows(shape, kernel, stride, dilation):
    def theirs(x):  # torch's unfold gives the same windows, one axis at a time
        h = x.unfold(-2, dilation[0] * (kernel[0] - 1) + 1, stride[0])[..., ::dilation[0]]
        return h.unfold(-2, dilation[1] * (kernel[1] - 1) + 1, stride[1])[..., ::dilation[1]]
    both([shape], lambda x: x.windows(kernel, stride, dilation), theirs)

@pytest.mark.parametrize("shape,kernel,stride,dilation", WINDOWS)
def test_fold_windows_is_the_adjoint_of_windows(shape, kernel, stride, dilation):
    from tinygrad_cnn.ops import FoldWindows
    windows_shape = Tensor.zeros(*shape).windows(kernel, stride, dilation).shape
    check_gradients([windows_shape], lambda g: FoldWindows.apply(g, shape=shape, kernel=kernel, stride=stride,
                                                                  dilation=dilation))


# ------------------------------------------------------------------ matmul
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 5))])
def test_matmul(sa, sb): both([sa, sb], lambda a, b: a @ b)


# ------------------------------------------------------------------ compositions (second order too)
def test_chain_of_many_ops(): both([(3, 4), (4,)], lambda a, b: ((a * b).tanh() @ b).exp().sum() / (a.abs() + 1).sum())

@requires_torch
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_hessian_vector_product_matches_torch(shape):
    x0, v0 = np.random.default_rng(0).standard_normal((2, *shape))
    def f(x, lib):
        return (x.sigmoid() * x.tanh() + (x * x).exp() / (1 + x * x) + x.softmax(-1) * x).sum()
    x = Tensor(x0, requires_grad=True)
    (g,) = [None]
    out = f(x, None)
    out.backward(create_graph=True)
    g = x.grad
    x.grad = None
    (g * Tensor(v0)).sum().backward()
    xt = torch.tensor(x0, requires_grad=True)
    (gt,) = torch.autograd.grad(f(xt, torch), xt, create_graph=True)
    (hvp,) = torch.autograd.grad((gt * torch.tensor(v0)).sum(), xt)
    np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.data, hvp.numpy(), rtol=1e-9, atol=1e-12)

@requires_torch
def test_second_derivative_through_matmul_max_and_windows_matches_torch():
    a0 = np.random.default_rng(1).standard_normal((1, 1, 5, 5))
    w0 = np.random.default_rng(2).standard_normal((3, 3))
    def f(a, w):
        return ((a.windows((3, 3)) * w).sum(axis=(-1, -2)).tanh() ** 2).sum()
    def ft(a, w):
        win = a.unfold(-2, 3, 1).unfold(-2, 3, 1)
        return ((win * w).sum(dim=(-1, -2)).tanh() ** 2).sum()
    a, w = Tensor(a0, requires_grad=True), Tensor(w0, requires_grad=True)
    f(a, w).backward(create_graph=True)
    (a.grad ** 2).sum().backward()  # accumulates d/dw of |dL/da|^2 into w.grad (plus the first-order part)
    at, wt = torch.tensor(a0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    ga, gw = torch.autograd.grad(ft(at, wt), (at, wt), create_graph=True)
    (second_w,) = torch.autograd.grad((ga ** 2).sum(), wt)
    np.testing.assert_allclose(w.grad.data, (gw + second_w).detach().numpy(), rtol=1e-9)


@requires_torch
def test_matmul_with_a_long_inner_dimension_matches_torch():  # summed in cache-sized slices
    compare_with_torch([(6, 9000), (9000, 5)], lambda a, b: a @ b, atol=1e-9, rtol=1e-9)
    compare_with_torch([(3, 20000), (20000, 4)], lambda a, b: a @ b, dtype=np.float32, atol=1e-3, rtol=1e-4)


@requires_torch
@pytest.mark.parametrize("axes", [(-1,), (-2, -1), (2, 3)])
def test_max_min_over_small_trailing_axes_of_a_large_tensor(axes):  # the per-tap loop used by pooling
    x = np.random.default_rng(0).integers(-3, 3, (40, 30, 2, 3)).astype(np.float64)  # many ties
    compare_with_torch(None, lambda t: t.max(axis=axes), lambda t: t.amax(dim=axes), arrays=[x])
    compare_with_torch(None, lambda t: t.min(axis=axes, keepdims=True),
                       lambda t: t.amin(dim=axes, keepdim=True), arrays=[x])
    check_gradients(None, lambda t: t.max(axis=axes), arrays=[np.random.default_rng(1).standard_normal((40, 30, 2, 3))])


def test_windows_over_middle_axes():  # (C, H, W, N) -> (C, OH, OW, N, KH, KW), the layout conv2d uses
    def theirs(x):
        h = x.unfold(1, 3, 2)                  # (C, OH, W, N, KH)
        return h.unfold(2, 2, 1)               # (C, OH, OW, N, KH, KW)
    both([(2, 7, 5, 3)], lambda x: x.windows((3, 2), (2, 1), axes=(1, 2)), theirs)


def test_windows_axes_must_be_two_ordered_axes():
    with pytest.raises(ValueError, match=r"windows: axes \(2, 1\) must name two different axes, in order"):
        Tensor.ones(2, 3, 4).windows((2, 2), axes=(2, 1))


def test_contiguous_copies_a_permuted_view_and_passes_the_gradient():
    both([(2, 3, 4)], lambda x: x.permute(2, 0, 1).contiguous() * 2,
         lambda x: x.permute(2, 0, 1).contiguous() * 2)
    x = Tensor(np.ones((2, 3)))
    assert x.contiguous() is x and x.T.contiguous().data.flags.c_contiguous


def test_primitives_are_registered_with_their_metadata():
    import inspect

    from tinygrad_cnn import ops

    defined = [c for _, c in inspect.getmembers(ops, inspect.isclass)
               if issubclass(c, ops.Function) and c is not ops.Function and c.__module__ == ops.__name__]
    assert sorted(c.__name__ for c in ops.PRIMITIVES) == sorted(c.__name__ for c in defined)
    assert len({op.name for op in ops.PRIMITIVES}) == len(ops.PRIMITIVES)   # names are unique
    for op in ops.PRIMITIVES:
        assert op.group in ops.GROUPS and op.rule.startswith(op.name + ":"), op
        assert isinstance(op.saves_inputs, bool) and isinstance(op.saves_output, bool)
        assert ops.find_op(op.name) is op
    groups = {op.name: op.group for op in ops.PRIMITIVES}
    assert groups["mul"] == "elementwise" and groups["max"] == "reduce" and groups["matmul"] == "matmul"
    assert groups["windows"] == groups["fold_windows"] == groups["reshape"] == "movement"


def test_a_new_primitive_registers_itself_and_must_name_its_group():
    from tinygrad_cnn import ops

    before = list(ops.PRIMITIVES)
    try:
        class Square(ops.Function):
            name, rule, group = "square", "square: dx = 2·x·g", "elementwise"
            def forward(self, x): return x * x
            def backward(self, g, out): return g * self.parents[0] * 2

        assert ops.PRIMITIVES[-1] is Square and ops.find_op("square") is Square
        x = Tensor([3.0], requires_grad=True)
        Square.apply(x).sum().backward()
        assert x.grad.tolist() == [6.0]
        with pytest.raises(TypeError, match="group must be one of"):
            class Nameless(ops.Function):  # noqa: F841
                name, rule = "nameless", "nameless: ?"
    finally:
        ops.PRIMITIVES[:] = before


def test_viz_colours_ops_by_their_group():
    from tinygrad_cnn import ops, viz

    for op in ops.PRIMITIVES:
        assert viz._op_family(op.name) == op.group
