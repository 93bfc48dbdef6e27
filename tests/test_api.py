"""The surface users type, in PyTorch's words: dim=/keepdim=, max(dim=) -> (values, indices),
amax/amin, clamp, select, the activations, memory ownership (Tensor() copies, from_numpy shares,
read-only numpy() under grad), std at zero spread. Each against PyTorch (forward and gradients) and,
for the differentiable ones, finite differences. One line of shapes per test."""
import ast
import math
import pathlib

import numpy as np
import pytest

import tinygrad_cnn
import tinygrad_cnn.functional as F
from helpers import HAVE_TORCH, both, check_gradients, compare_with_torch, requires_torch, torch
from tinygrad_cnn import DTypeError, ShapeError, Tensor, from_numpy, nn
from tinygrad_cnn.kernels import erf

ROOT = pathlib.Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- dim= / keepdim=
DIMS = [((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False), ((2, 3, 4), (-1, -2), True),
        ((5,), 0, True)]

@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_sum_dim(shape, dim, keepdim): both([shape], lambda x: x.sum(dim=dim, keepdim=keepdim))
@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_mean_dim(shape, dim, keepdim): both([shape], lambda x: x.mean(dim=dim, keepdim=keepdim))
@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_var_dim(shape, dim, keepdim): both([shape], lambda x: x.var(dim=dim, keepdim=keepdim))
@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_std_dim_unbiased_false(shape, dim, keepdim):
    both([shape], lambda x: x.std(dim=dim, keepdim=keepdim, unbiased=False))
@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_amax_dim(shape, dim, keepdim): both([shape], lambda x: x.amax(dim=dim, keepdim=keepdim))
@pytest.mark.parametrize("shape,dim,keepdim", DIMS)
def test_amin_dim(shape, dim, keepdim): both([shape], lambda x: x.amin(dim=dim, keepdim=keepdim))
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((3, 4, 5), 0), ((6,), -1)])
def test_softmax_dim(shape, dim): both([shape], lambda x: x.softmax(dim=dim))
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((3, 4, 5), 0), ((6,), -1)])
def test_log_softmax_dim(shape, dim): both([shape], lambda x: x.log_softmax(dim=dim))
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((3, 4, 5), 0)])
def test_functional_softmax_dim(shape, dim):
    both([shape], lambda x: F.softmax(x, dim=dim) + F.log_softmax(x, dim=dim),
         lambda x: torch.softmax(x, dim=dim) + torch.log_softmax(x, dim=dim))
def test_functional_mean_var_std_dim():
    both([(4, 5)], lambda x: F.mean(x, dim=1) + F.var(x, dim=1, keepdim=False) + F.std(x, dim=1, correction=0),
         lambda x: x.mean(dim=1) + x.var(dim=1) + x.std(dim=1, correction=0))
def test_dim_empty_tuple_reduces_everything_as_torch():
    both([(2, 3)], lambda x: x.sum(dim=()) + x.mean(dim=()) + x.amax(dim=()))

@pytest.mark.parametrize("sa,sb,dim", [((2, 3), (2, 4), 1), ((3, 2), (1, 2), 0), ((2, 3, 1), (2, 3, 2), -1)])
def test_cat_dim(sa, sb, dim):
    both([sa, sb], lambda a, b: Tensor.cat([a, b], dim=dim), lambda a, b: torch.cat([a, b], dim=dim))
@pytest.mark.parametrize("shape,dim", [((2, 3), 0), ((2, 3), 2), ((4,), -1)])
def test_stack_dim(shape, dim):
    both([shape, shape], lambda a, b: Tensor.stack([a, b], dim=dim), lambda a, b: torch.stack([a, b], dim=dim))
@pytest.mark.parametrize("shape,start,end", [((2, 3, 4, 5), 1, -1), ((2, 3, 4), 0, 1), ((2, 3, 4), -2, -1)])
def test_flatten_start_dim_end_dim(shape, start, end):
    both([shape], lambda x: x.flatten(start_dim=start, end_dim=end))
@pytest.mark.parametrize("shape,dim", [((2, 1, 3, 1), 1), ((2, 1, 3, 1), (1, 3)), ((2, 3), 0), ((1,), 0)])
def test_squeeze_dim(shape, dim): both([shape], lambda x: x.squeeze(dim=dim))
@pytest.mark.parametrize("shape,dim", [((2, 3), 0), ((2, 3), -1), ((2, 3), 2), ((), 0)])
def test_unsqueeze_dim(shape, dim): both([shape], lambda x: x.unsqueeze(dim=dim))
def test_transpose_dim0_dim1(): both([(2, 3, 4)], lambda x: x.transpose(dim0=0, dim1=2))
def test_permute_dims(): both([(2, 3, 4)], lambda x: x.permute(dims=(2, 0, 1)) + x.permute(2, 0, 1))
@pytest.mark.parametrize("shape,dim,index", [((3, 4), 1, 2), ((3, 4, 2), 0, -1), ((5,), 0, 3)])
def test_select_dim_index(shape, dim, index): both([shape], lambda x: x.select(dim, index))

@requires_torch
@pytest.mark.parametrize("shape,dim,keepdim", [((3, 4), 1, False), ((3, 4), 0, True), ((2, 3, 4), -1, False)])
def test_argmax_argmin_dim(shape, dim, keepdim):
    a = np.random.default_rng(0).standard_normal(shape)
    x, t = Tensor(a), torch.tensor(a)
    assert np.array_equal(x.argmax(dim=dim, keepdim=keepdim).data, t.argmax(dim=dim, keepdim=keepdim).numpy())
    assert np.array_equal(x.argmin(dim=dim, keepdim=keepdim).data, t.argmin(dim=dim, keepdim=keepdim).numpy())


def test_axis_and_dim_together_is_a_clear_error():
    x = Tensor(np.ones((2, 3)))
    for call in (lambda: x.sum(axis=0, dim=1), lambda: x.mean(axis=0, dim=0), lambda: x.max(axis=0, dim=1),
                 lambda: x.softmax(axis=0, dim=1), lambda: Tensor.cat([x, x], axis=0, dim=1),
                 lambda: x.amax(dim=0, axis=1), lambda: x.sum(keepdims=True, keepdim=True)):
        with pytest.raises(TypeError, match="both"):
            call()


def test_numpy_keywords_keep_their_meaning():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert isinstance(x.max(axis=1), Tensor) and isinstance(x.max(1), Tensor) and isinstance(x.max(), Tensor)
    assert np.array_equal(x.sum(axis=()).data, x.data)   # numpy: axis=() reduces nothing


# --------------------------------------------------------------------------- max(dim=) / min(dim=)
MAX_DIM = [((3, 4), 1, False), ((3, 4), 0, True), ((2, 3, 4), -1, False), ((2, 3, 4), 1, True), ((5,), 0, False)]

@pytest.mark.parametrize("shape,dim,keepdim", MAX_DIM)
def test_max_dim_values_and_indices(shape, dim, keepdim):
    both([shape], lambda x: x.max(dim=dim, keepdim=keepdim).values)
    _compare_indices("max", shape, dim, keepdim)

@pytest.mark.parametrize("shape,dim,keepdim", MAX_DIM)
def test_min_dim_values_and_indices(shape, dim, keepdim):
    both([shape], lambda x: x.min(dim=dim, keepdim=keepdim).values)
    _compare_indices("min", shape, dim, keepdim)

def _compare_indices(op, shape, dim, keepdim):
    if not HAVE_TORCH:
        pytest.skip("PyTorch (the parity oracle) is not installed")
    a = np.random.default_rng(0).uniform(-2, 2, shape)
    ours, theirs = getattr(Tensor(a), op)(dim=dim, keepdim=keepdim), getattr(torch.tensor(a), op)(dim=dim, keepdim=keepdim)
    assert ours.indices.dtype == np.int64 and np.array_equal(ours.indices.data, theirs.indices.numpy())
    assert np.array_equal(ours[0].data, theirs[0].numpy()) and ours._fields == ("values", "indices")

@requires_torch
def test_max_min_dim_ties_send_the_gradient_to_one_element_as_torch():
    # relu'd rows are full of tied zeros: torch.max(x, dim) gives the gradient to the first, amax shares it
    tied = [np.array([[0.0, 0.0, 0.0], [1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])]
    for dim in (0, 1):
        compare_with_torch(None, lambda x: x.max(dim=dim).values, arrays=tied)
        compare_with_torch(None, lambda x: x.min(dim=dim, keepdim=True).values, arrays=tied)
        compare_with_torch(None, lambda x: x.max(dim=dim).indices * 1.0, arrays=tied, grad_inputs=[])
    compare_with_torch(None, lambda x: x.amax(dim=1) + x.amin(dim=(0, 1)), arrays=tied)

def test_max_dim_of_a_0d_tensor_and_bad_dims():
    values, indices = Tensor(5.0).max(dim=0)
    assert values.item() == 5.0 and indices.item() == 0
    with pytest.raises(TypeError, match="amax"):
        Tensor(np.ones((2, 3))).max(dim=(0, 1))
    with pytest.raises(ShapeError, match="out of range"):
        Tensor(np.ones((2, 3))).min(dim=2)

def test_max_of_a_tensor_is_maximum(): both([(3, 4), (4,)], lambda a, b: a.max(b) + a.min(b),
                                            lambda a, b: torch.max(a, b) + torch.min(a, b))


# --------------------------------------------------------------------------- clamp / clip
CLAMP_SHAPES = [(), (5,), (3, 4)]

@pytest.mark.parametrize("shape", CLAMP_SHAPES)
def test_clamp_min_max(shape): both([shape], lambda x: x.clamp(min=-0.5, max=0.7))
@pytest.mark.parametrize("shape", CLAMP_SHAPES)
def test_clamp_positional_and_one_sided(shape):
    both([shape], lambda x: x.clamp(-0.5) + x.clamp(max=0.3) + x.clip(min=-1.0, max=1.0),
         lambda x: x.clamp(-0.5) + x.clamp(max=0.3) + x.clip(min=-1.0, max=1.0))
@pytest.mark.parametrize("sx,slo,shi", [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ()), ((3, 4), (3, 1), (1,))])
def test_clamp_tensor_bounds_broadcast(sx, slo, shi):
    arrays = [np.random.default_rng(1).uniform(-2, 2, s) for s in (sx, slo, shi)]
    arrays[2] = np.abs(arrays[2]) + 2.5   # hi > lo everywhere, as torch's gradient assumes
    compare_with_torch(None, lambda x, lo, hi: x.clamp(min=lo, max=hi), arrays=arrays)

@requires_torch
def test_clamp_gradient_exactly_at_the_bounds_matches_torch():
    at_bounds = [np.array([-0.5, -0.5000001, 0.0, 0.7, 0.7000001, 2.0, -2.0])]
    compare_with_torch(None, lambda x: x.clamp(-0.5, 0.7), arrays=at_bounds)
    compare_with_torch(None, lambda x: x.clip(-0.5, 0.7), lambda x: x.clip(-0.5, 0.7), arrays=at_bounds)
    compare_with_torch(None, lambda x: x.clamp(min=-0.5), arrays=at_bounds)
    compare_with_torch(None, lambda x: x.clamp(max=0.7), arrays=at_bounds)
    compare_with_torch(None, lambda x: x.clamp(min=0.7, max=-0.5), arrays=at_bounds)  # min > max: all max
    lo = np.array([-0.5, 0.0, 0.7])
    compare_with_torch(None, lambda x, b: x.clamp(min=b), arrays=[np.array([-0.5, 0.0, 1.0]), lo])
    compare_with_torch(None, lambda x, b: x.clamp(max=b), arrays=[np.array([-0.5, 0.0, 1.0]), lo])

def test_clip_bound_given_twice_is_an_error():
    with pytest.raises(TypeError, match="once"):
        Tensor([1.0]).clip(0.0, min=0.0)


# --------------------------------------------------------------------------- where / if_else
@pytest.mark.parametrize("sc,sa,sb", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ())])
def test_if_else_and_where_are_torch_where(sc, sa, sb):
    cond = np.random.default_rng(3).random(sc) > 0.5
    both([sa, sb], lambda a, b: Tensor.if_else(cond, a, b) + tinygrad_cnn.where(cond, a, b) + a.where(cond, b),
         lambda a, b: 3 * torch.where(torch.tensor(cond), a, b))


# --------------------------------------------------------------------------- activations
ACT_SHAPES = [(), (7,), (3, 5)]
ACTIVATIONS = {
    "leaky_relu": lambda f: lambda x: f.leaky_relu(x),
    "leaky_relu_0.2": lambda f: lambda x: f.leaky_relu(x, negative_slope=0.2),
    "elu": lambda f: lambda x: f.elu(x),
    "elu_alpha": lambda f: lambda x: f.elu(x, alpha=0.7),
    "gelu": lambda f: lambda x: f.gelu(x),
    "gelu_tanh": lambda f: lambda x: f.gelu(x, approximate="tanh"),
    "silu": lambda f: lambda x: f.silu(x),
    "softplus": lambda f: lambda x: f.softplus(x),
    "softplus_beta": lambda f: lambda x: f.softplus(x, beta=2.0, threshold=3.0),
}

def _torch_f(name):
    import torch.nn.functional as TF
    return ACTIVATIONS[name](TF)

@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", ACT_SHAPES)
def test_activation_float64(name, shape):
    both([shape], ACTIVATIONS[name](F), (lambda x: _torch_f(name)(x)), atol=1e-12, rtol=1e-10)

@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", ACT_SHAPES)
def test_activation_float32(name, shape):
    compare_with_torch([shape], ACTIVATIONS[name](F), lambda x: _torch_f(name)(x), dtype=np.float32,
                       atol=1e-6, rtol=1e-5)

EDGES = np.array([-1000.0, -30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 1.5, 2.0, 5.0, 10.0, 25.0, 1000.0])

@requires_torch
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_at_kinks_thresholds_and_extremes(name, dtype):
    # 0 is every kink, 1.5 = softplus_beta's threshold 3/beta, ±1000 would overflow a naive exp
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-10)
    compare_with_torch(None, ACTIVATIONS[name](F), _torch_f(name), arrays=[EDGES], dtype=dtype, **tol)

@requires_torch
@pytest.mark.parametrize("module,args", [("LeakyReLU", (0.1,)), ("ELU", (0.5,)), ("GELU", ()), ("GELU", ("tanh",)),
                                         ("SiLU", ()), ("Softplus", (2.0, 5.0)), ("Softmax", (1,)),
                                         ("LogSoftmax", (0,))])
def test_activation_modules_match_torch(module, args):
    ours, theirs = getattr(nn, module)(*args), getattr(torch.nn, module)(*args)
    both([(4, 5)], ours, theirs)
    assert ours.extra_repr() == theirs.extra_repr() or module in ("Softplus", "ELU", "LeakyReLU")

def test_activation_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(Tensor([1.0]), approximate="fast")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")

def test_activations_are_composites_of_primitives():
    x = Tensor(np.linspace(-2, 2, 5), requires_grad=True)
    for fn in (F.leaky_relu, F.elu, F.gelu, F.silu, F.softplus):
        assert fn(x).grad_fn.name in ("where", "mul", "div")   # built by ops, nothing hand-written


# --------------------------------------------------------------------------- erf (the one new primitive)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_erf(shape): both([shape], lambda x: x.erf(), atol=1e-12, rtol=1e-10)

def test_erf_kernel_equals_its_reference():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-7, 7, 20000), rng.standard_normal(2000) * 1e-6, np.linspace(-30, 30, 601),
                        [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-300, -5e-324, 26.6, 1e10]])
    reference = np.vectorize(math.erf)(x)
    got = erf(x)
    np.testing.assert_allclose(got, reference, rtol=2e-15, atol=0)
    assert np.signbit(erf(np.array(-0.0))) and erf(np.array(np.inf)) == 1.0 and erf(np.array(-np.inf)) == -1.0
    assert np.isnan(erf(np.array(np.nan)))
    x32 = x.astype(np.float32)
    assert erf(x32).dtype == np.float32
    np.testing.assert_allclose(erf(x32), np.vectorize(math.erf)(x32.astype(np.float64)).astype(np.float32),
                               rtol=1e-7, atol=0)


# --------------------------------------------------------------------------- std at zero spread
@requires_torch
def test_std_gradient_is_zero_where_all_values_are_equal_as_torch():
    compare_with_torch(None, lambda x: x.std(), arrays=[np.array([2.0, 2.0, 2.0])])
    x = Tensor([2.0, 2.0, 2.0], requires_grad=True)
    x.std().backward()
    assert np.array_equal(x.grad.data, [0.0, 0.0, 0.0])
    rows = [np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])]   # one constant row, one spread row
    compare_with_torch(None, lambda x: x.std(dim=1), arrays=rows)
    compare_with_torch(None, lambda x: x.std(dim=1, keepdim=True, correction=0), arrays=rows, dtype=np.float32)
    compare_with_torch(None, lambda x: F.std(x, 0), lambda x: x.std(0), arrays=[np.ones((3, 2))])
    # one element with correction 1: 0/0, NaN as in torch (not hidden by the zero-spread rule)
    with np.errstate(invalid="ignore"), pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isnan(Tensor([3.0]).std().item()) and torch.tensor([3.0]).std().isnan()

def test_std_at_zero_spread_passes_gradcheck_elsewhere():
    check_gradients([(3, 4)], lambda x: x.std(dim=1) + x.std())


# --------------------------------------------------------------------------- memory ownership
@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_copies_as_torch_tensor(dtype):
    a = np.arange(4, dtype=dtype)
    ours, theirs = Tensor(a), torch.tensor(a)
    a[0] = 100
    assert ours.data[0] == theirs[0].item() == 0
    ours.data[1] = -1
    assert a[1] == 1
    again = Tensor(ours)    # from a Tensor: a copy too (torch.tensor(t) copies)
    ours.data[2] = 7
    assert again.data[2] == 2

@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_shares_as_torch_from_numpy(dtype):
    a = np.ones(4, dtype=dtype)
    ours, theirs = from_numpy(a), torch.from_numpy(a)
    assert ours.dtype == a.dtype and str(theirs.dtype).endswith(np.dtype(dtype).name.replace("bool", "bool"))
    a[0] = 0
    assert ours.data[0] == theirs[0].item() == 0
    ours.data[1] = 0
    assert a[1] == 0 and np.shares_memory(ours.numpy(), a)
    assert tinygrad_cnn.from_numpy is from_numpy and "from_numpy" in tinygrad_cnn.__all__

def test_from_numpy_refuses_non_arrays():
    with pytest.raises(TypeError, match="numpy.ndarray"):
        from_numpy([1.0, 2.0])
    with pytest.raises(DTypeError, match="object"):
        from_numpy(np.array([None]))

@requires_torch
def test_numpy_of_a_tensor_that_requires_grad_is_read_only():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    view = w.numpy()
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 100.0   # would otherwise silently change what backward reads
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(w)[0] = 100.0
    (w * w).sum().backward()
    assert np.array_equal(w.grad.data, [2.0, 4.0, 6.0])
    assert np.shares_memory(view, w.data)          # a view, no copy, that follows the tensor
    free = w.detach().numpy()                      # as torch: detach().numpy() is writable and shared
    free[0] = 5.0
    assert w.data[0] == 5.0 and torch.tensor([1.0], requires_grad=True).detach().numpy().flags.writeable
    plain = Tensor([1.0, 2.0])                     # no grad: the array itself, writable, as torch
    plain.numpy()[0] = 9.0
    assert plain.data[0] == 9.0
    assert (w * 2).numpy().flags.writeable is False   # a result that requires grad too

@pytest.mark.parametrize("bad,error,named", [(None, DTypeError, "None"), ("abc", DTypeError, "str 'abc'"),
                                             ([[1, 2], [3]], ShapeError, "[[1, 2], [3]]"),
                                             (np.array([object()]), DTypeError, "dtype object"),
                                             ([1.0, None], DTypeError, "None"), (1 + 2j, DTypeError, "complex")])
def test_tensor_of_something_that_is_not_numbers_names_it(bad, error, named):
    with pytest.raises(error, match="Tensor: cannot make a tensor from") as info:
        Tensor(bad)
    assert named in str(info.value)

def test_internal_constructors_do_not_copy():
    a = np.ones(3, dtype=np.float32)
    assert Tensor._make(a, False).data is a and from_numpy(a).data is a   # the ops' hot path stays copy-free
    assert (Tensor(a) * 2).data.base is None


def test_parameter_of_a_tensor_shares_its_memory_as_torch():
    t = Tensor.randn(2, 3, seed=0)
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and isinstance(p, nn.Parameter)
    assert nn.Parameter(np.ones(2)).data is not None and Tensor.zeros(2).data.flags.writeable


# --------------------------------------------------------------------------- layering
def test_tensor_does_not_import_functional():
    tree = ast.parse((ROOT / "tinygrad_cnn" / "tensor.py").read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "functional" not in imported and not any(m and "functional" in m for m in modules)
    assert F.mean(Tensor([1.0, 3.0])).item() == 2.0   # functional re-exports the Tensor methods


# --------------------------------------------------------------------------- Module registration
@requires_torch
def test_assigning_a_new_parameter_to_an_existing_attribute_replaces_it_everywhere():
    lin, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    old = lin.weight
    new = nn.Parameter(np.full((2, 3), 7.0, dtype=np.float32))
    lin.weight = new
    theirs.weight = torch.nn.Parameter(torch.full((2, 3), 7.0))
    assert lin.weight is new
    assert any(p is new for p in lin.parameters()) and not any(p is old for p in lin.parameters())
    assert dict(lin.named_parameters())["weight"] is new
    assert [n for n, _ in lin.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    state = lin.state_dict()
    assert list(state) == list(theirs.state_dict()) and np.array_equal(state["weight"], np.full((2, 3), 7.0))
    out = lin(Tensor(np.ones((1, 3), dtype=np.float32)))
    out.sum().backward()
    assert new.grad is not None and old.grad is None

@requires_torch
def test_a_non_persistent_buffer_stays_out_of_state_dict_as_torch():
    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("kept", Tensor(np.zeros(2)))
            self.register_buffer("scratch", Tensor(np.ones(2)), persistent=False)

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)
            self.register_buffer("kept", torch.zeros(2))
            self.register_buffer("scratch", torch.ones(2), persistent=False)

    ours, theirs = Ours(), Theirs()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["kept", "fc.weight", "fc.bias"]
    assert "scratch" in dict(ours.named_buffers()) and "scratch" in dict(theirs.named_buffers())
    ours.load_state_dict(ours.state_dict())   # and loading what it saved does not ask for the buffer


def test_readme_pytorch_names_block_runs():
    import re
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```py\n(.*?)```", readme, flags=re.S) if "x.max(dim=1)" in b)
    rng = np.random.default_rng(0)
    namespace = {"tinygrad_cnn": tinygrad_cnn, "x": Tensor(rng.random((3, 4)), requires_grad=True),
                 "cond": rng.random((3, 4)) > 0.5, "a": Tensor(rng.random(4)), "b": Tensor(0.0)}
    exec(compile(block, "README.md (PyTorch names)", "exec"), namespace)
    assert namespace["indices"].shape == (3,)
