"""The walker: ordering, accumulation, graph lifetime, hooks, grad modes and the classic pitfalls."""
import numpy as np
import pytest

from tinygrad_cnn import DTypeError, ShapeError, Tensor, enable_grad, no_grad
from tinygrad_cnn.autograd import GraphReleasedError, topological_order
from tinygrad_cnn.ops import rule_table


def test_reused_leaf_accumulates():  # the micrograd bug: b = a + a must give da = 2
    a = Tensor(3.0, requires_grad=True)
    b = a + a
    b.backward()
    assert a.grad.item() == 2.0


def test_reused_non_leaf_accumulates():  # a = 1; b = a + a; c = b + b  ->  dc/da = 4
    a = Tensor(1.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_diamond_graph():
    x = Tensor(2.0, requires_grad=True)
    y = x * x
    z = y * x + y      # z = x^3 + x^2 -> 3x^2 + 2x = 16
    z.backward()
    assert x.grad.item() == 16.0


def test_hundred_thousand_op_chain_needs_no_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert len(topological_order(y)) == 100_001


def test_gradients_accumulate_across_backward_calls_until_zero_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.zero_grad()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_second_backward_without_retain_graph_is_refused_clearly():
    x = Tensor(2.0, requires_grad=True)
    y = x * x
    y.backward()
    with pytest.raises(GraphReleasedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = Tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


def test_backward_on_non_scalar_needs_a_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2,\)"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 10.0], dtype=np.float32))
    assert x.grad.tolist() == [2.0, 20.0]


def test_backward_gradient_of_wrong_shape_is_refused():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_graph_is_refused():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_enable_grad_reenables():
    x = Tensor(1.0, requires_grad=True)
    with no_grad():
        y = x * 2
        with enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn.name == "mul"


def test_no_grad_as_decorator():
    @no_grad()
    def f(t):
        return t * 2
    assert not f(Tensor(1.0, requires_grad=True)).requires_grad


def test_detach_stops_the_gradient():
    x = Tensor(3.0, requires_grad=True)
    y = x * x.detach()
    y.backward()
    assert x.grad.item() == 3.0


def test_branch_not_reaching_root_gets_no_grad():
    x = Tensor(1.0, requires_grad=True)
    w = Tensor(1.0, requires_grad=True)
    _unused = w * 2
    (x * 2).backward()
    assert w.grad is None and x.grad.item() == 2.0


def test_hook_sees_and_replaces_the_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0]]
    assert x.grad.tolist() == [20.0, 20.0]
    handle.remove()
    x.zero_grad()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_hook_on_tensor_without_grad_is_refused():
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        Tensor([1.0]).register_hook(print)


def test_create_graph_gives_differentiable_gradients():
    x = Tensor(3.0, requires_grad=True, dtype=np.float64)
    y = x ** 3
    y.backward(create_graph=True)
    dydx = x.grad                           # 3x^2 = 27
    x.grad = None
    dydx.backward()                          # 6x = 18
    assert dydx.item() == 27.0 and x.grad.item() == 18.0


def test_backward_steps_equal_backward_bit_for_bit():
    rng = np.random.default_rng(0)
    def build():
        a = Tensor(rng_a, requires_grad=True)
        b = Tensor(rng_b, requires_grad=True)
        out = ((a @ b).relu().softmax(-1) * a[:, :1]).sum() + (b.tanh() ** 2).mean()
        return a, b, out
    rng_a, rng_b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 4)).astype(np.float32)
    a1, b1, out1 = build()
    out1.backward()
    a2, b2, out2 = build()
    steps = list(out2.backward_steps())
    assert np.array_equal(a1.grad.data, a2.grad.data) and np.array_equal(b1.grad.data, b2.grad.data)
    assert steps[0].tensor is out2 and steps[0].index == 0 and steps[-1].total == len(steps)
    assert {s.op for s in steps} >= {"add", "matmul", "relu", "leaf", "getitem"}
    assert all(s.rule for s in steps)


def test_backward_steps_accumulate_as_they_go():
    x = Tensor(2.0, requires_grad=True)
    steps = (x * x).backward_steps()
    first = next(steps)
    assert first.op == "mul" and x.grad is None
    for _ in steps:
        pass
    assert x.grad.item() == 4.0


def test_grad_fn_exposes_parents_rule_and_saved_values():
    a, b = Tensor(2.0, requires_grad=True), Tensor(5.0, requires_grad=True)
    c = a * b
    assert c.grad_fn.parents == (a, b)
    assert c.grad_fn.rule == "mul: da = g·b, db = g·a"
    assert set(c.grad_fn.saved_arrays()) == {"input0", "input1"}
    assert "matmul: da = g @ bᵀ, db = aᵀ @ g" in rule_table().splitlines()


def test_after_backward_each_node_records_the_gradients_that_flowed():
    a = Tensor([1.0, 2.0], requires_grad=True)
    y = (a * 3).sum()
    y.backward()
    mul = y.grad_fn.parents[0].grad_fn
    assert mul.out_grad.tolist() == [1.0, 1.0] and mul.input_grads[0].tolist() == [3.0, 3.0]


def test_inplace_change_of_a_saved_input_is_detected():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0])
    y = (a * b).sum()
    b.add_(1.0)
    with pytest.raises(RuntimeError, match=r"mul: input 1 \(shape \(2,\)\) was modified in place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_is_refused_outside_no_grad():
    w = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="sub_: a leaf tensor that requires grad"):
        w.sub_(0.1)
    with no_grad():
        w.sub_(0.5)
    assert w.tolist() == [0.5]


def test_shape_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ShapeError, match=r"mul: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        Tensor.ones(2, 3) * Tensor.ones(4)
    with pytest.raises(ShapeError, match=r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
        Tensor.ones(2, 3) @ Tensor.ones(4, 5)
    with pytest.raises(ShapeError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        Tensor.ones(2, 3).reshape(4, 2)
    with pytest.raises(ShapeError, match=r"sum: axis 2 is out of range for a tensor with 2 dimensions"):
        Tensor.ones(2, 3).sum(axis=2)
    with pytest.raises(ShapeError, match=r"cat: tensor 1 has shape \(2, 4\)"):
        Tensor.cat([Tensor.ones(2, 3), Tensor.ones(2, 4)], axis=0)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(DTypeError, match="int64"):
        Tensor(np.array([1, 2]), requires_grad=True, dtype=np.int64)


def test_dtypes_float32_default_float64_kept():
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert (Tensor(np.zeros(2, dtype=np.float32)) * 2.5).dtype == np.float32
    assert np.asarray(Tensor([1.0, 2.0])).tolist() == [1.0, 2.0]


def test_seeded_factories_are_reproducible():
    assert np.array_equal(Tensor.randn(3, 4, seed=1).data, Tensor.randn((3, 4), seed=1).data)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(Tensor.uniform(5, generator=g1).data, Tensor.uniform(5, generator=g2).data)
    assert Tensor.eye(3).tolist()[1] == [0.0, 1.0, 0.0] and Tensor.arange(3).tolist() == [0.0, 1.0, 2.0]


def test_repr_shows_values_dtype_and_grad_fn():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "Tensor([1. 2.], dtype=float32, requires_grad=True)"
    assert "grad_fn=mul" in repr(x * 2)


def test_views_share_the_version_counter_of_their_base():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((4, 3)), requires_grad=True)
    out = x @ w.T                      # matmul saves the view w.T, not w
    with no_grad():
        w.assign(np.full((4, 3), 5.0))  # changes w.T's memory too
    with pytest.raises(RuntimeError, match=r"matmul: input 1 \(shape \(3, 4\)\) was modified in place"):
        out.sum().backward()


def test_inplace_change_of_a_saved_output_is_detected():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()                        # exp's backward reuses its output: g * exp(x)
    with no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"exp: its output \(shape \(2,\)\) was modified in place"):
        y.sum().backward()


def test_leaves_never_share_gradient_memory():
    # add's backward hands the same gradient to both inputs; an in-place change of one leaf's
    # .grad (as clip_grad_norm_ does) must not change the other's
    a, b = Tensor([3.0, 1.0], requires_grad=True), Tensor([4.0, 2.0], requires_grad=True)
    seed = np.ones(2, dtype=np.float32)
    (a + b).backward(seed)
    a.grad.mul_(0.5)
    assert a.grad.tolist() == [0.5, 0.5] and b.grad.tolist() == [1.0, 1.0] and seed.tolist() == [1.0, 1.0]
    from tinygrad_cnn.optim import clip_grad_norm_
    c, d = Tensor([3.0], requires_grad=True), Tensor([4.0], requires_grad=True)
    (c * 1 + d).sum().backward()
    clip_grad_norm_([c, d], 0.1)
    np.testing.assert_allclose([c.grad.item(), d.grad.item()], [0.1 / np.sqrt(2)] * 2, rtol=1e-4)


def test_numbers_next_to_bool_and_integer_tensors_keep_their_value():
    mask = Tensor([1.0, -1.0]) > 0
    assert (mask * 2).tolist() == [2.0, 0.0] and (mask + 0.5).tolist() == [1.5, 0.5]
    counts = Tensor(np.array([1, 2]), dtype=np.int64)
    assert (counts * 1.5).tolist() == [1.5, 3.0] and (counts + 1).tolist() == [2, 3]


# ================================ the order of the walk (PyTorch's engine order) =================

def _old_depth_first_order(root):
    """The walk order before the ready queue: reversed post-order of an iterative DFS (kept here
    to prove the new order changes no gradient bit)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node.grad_fn is not None:
            for parent in node.grad_fn.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order[::-1]


def _lenet_style(seed=0):
    from tinygrad_cnn import nn

    rng = np.random.default_rng(seed)
    layers = [nn.Conv2d(1, 4, 3, padding=1, generator=rng), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(4, 6, 3, generator=rng), nn.ReLU(), nn.Flatten(),
              nn.Linear(6 * 2 * 2, 12, generator=rng), nn.ReLU(), nn.Linear(12, 3, generator=rng)]
    return nn.Sequential(*layers)


def _lenet_loss(model, seed=1):
    import tinygrad_cnn.functional as F

    x = Tensor(np.random.default_rng(seed).standard_normal((5, 1, 8, 8)).astype(np.float32))
    activations = [x]
    for layer in model:
        activations.append(layer(activations[-1]))
    return F.cross_entropy(activations[-1], np.array([0, 1, 2, 1, 0])), activations


def test_lenet_parameters_get_gradients_in_reverse_layer_order():
    model = _lenet_style()
    loss, activations = _lenet_loss(model)
    steps = list(loss.backward_steps())
    position = {id(step.tensor): step.index for step in steps}
    names = {id(p): n for n, p in model.named_parameters()}
    done = [names[id(s.tensor)] for s in steps if s.op == "leaf" and id(s.tensor) in names]
    assert done == ["8.bias", "8.weight", "6.bias", "6.weight", "3.bias", "3.weight", "0.bias", "0.weight"]
    # each layer's parameters are done before the walk passes the activation below that layer
    for i, layer in enumerate(model):
        below = activations[i]   # the layer's input
        for p in layer.parameters():
            if below.requires_grad:
                assert position[id(p)] < position[id(below)], (i, names[id(p)])
        above = activations[i + 1]   # ... and after the walk reached the layer's output
        for p in layer.parameters():
            assert position[id(above)] < position[id(p)]


def test_ready_ops_run_most_recent_first_and_leaves_as_soon_as_complete():
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    first = a * 2          # created first
    second = b * 3         # created second: runs first, and b is done before `first` runs
    total = first + second
    walk = [(s.op, s.tensor) for s in total.backward_steps()]
    assert [op for op, _ in walk] == ["add", "mul", "leaf", "mul", "leaf"]
    assert walk[1][1] is second and walk[2][1] is b and walk[3][1] is first and walk[4][1] is a


def test_a_node_runs_only_when_every_consumer_has_sent_its_share():
    x = Tensor(1.5, requires_grad=True)
    h = x.exp()                  # used early and late: must wait for both
    late = (h * 2).tanh()
    out = late + h.log()
    order = [s.tensor for s in out.backward_steps()]
    assert order.index(h) > max(order.index(t) for t in order if t is not h and t is not x)
    assert order[-1] is x


def test_topological_order_is_the_walk_reversed():
    loss, _ = _lenet_loss(_lenet_style())
    walked = [s.tensor for s in loss.backward_steps(retain_graph=True)]
    assert [id(t) for t in topological_order(loss)] == [id(t) for t in reversed(walked)]


def _gradients(build, order_fn, monkeypatch):
    from tinygrad_cnn import autograd

    with monkeypatch.context() as m:
        if order_fn is not None:
            m.setattr(autograd, "backward_order", order_fn)
        leaves, root = build()
        root.backward()
    return [leaf.grad.data.copy() for leaf in leaves]


def _fan_out_graph():
    """Every tensor feeds two inputs of ops at most (a residual block, x·x, a shared weight)."""
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True, dtype=np.float32)
    w = Tensor(rng.standard_normal((5, 5)), requires_grad=True, dtype=np.float32)
    h = (x @ w).tanh()
    r = (h @ w).relu() + h            # w used twice, h used twice (a residual connection)
    y = (r * r).sum(axis=1) * x[:, 0]  # r·r: two contributions from one op; x used twice
    return [x, w], y.sum()


def _wide_fan_out_graph():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True, dtype=np.float32)
    w = Tensor(rng.standard_normal((5, 5)), requires_grad=True, dtype=np.float32)
    h = (x @ w).tanh()
    a, b, c = h * 3.0, h.exp(), (h * h).sum(axis=1, keepdims=True)   # h feeds five inputs of ops
    y = (a + b) * c + h[:, :1] - (w * w).sum()                       # and w feeds three
    return [x, w], y.sum()


def _batch_norm_net():
    from tinygrad_cnn import nn
    import tinygrad_cnn.functional as F

    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, generator=rng), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 4, generator=rng))
    x = Tensor(rng.standard_normal((6, 2, 6, 6)).astype(np.float32), requires_grad=True)
    return [x] + list(model.parameters()), F.cross_entropy(model(x), np.arange(6) % 4)


@pytest.mark.parametrize("build", [lambda: (list(_lenet_style().parameters()), _lenet_loss(_lenet_style())[0]),
                                   _fan_out_graph, _batch_norm_net], ids=["lenet", "fan-out", "batch-norm"])
def test_new_order_gives_bit_identical_gradients_to_the_old_depth_first_order(build, monkeypatch):
    def lenet():
        model = _lenet_style()
        return list(model.parameters()), _lenet_loss(model)[0]

    build = lenet if build.__name__ == "<lambda>" else build
    new = _gradients(build, None, monkeypatch)
    old = _gradients(build, _old_depth_first_order, monkeypatch)
    for n, o in zip(new, old):
        assert np.array_equal(n, o)


def test_wide_fan_out_sums_in_walk_order_and_agrees_with_the_old_order_to_rounding(monkeypatch):
    # three or more gradients reaching one tensor are added in the order the walk meets their ops
    # (most recent first, as PyTorch): float addition is not associative, so the last bit may
    # differ from the old depth-first order; commutative pairs (two consumers) never do
    new = _gradients(_wide_fan_out_graph, None, monkeypatch)
    old = _gradients(_wide_fan_out_graph, _old_depth_first_order, monkeypatch)
    for n, o in zip(new, old):
        np.testing.assert_allclose(n, o, rtol=1e-6, atol=1e-6)


def test_every_op_node_has_a_creation_sequence_number():
    x = Tensor(1.0, requires_grad=True)
    y = x * 2
    z = y + 1
    assert z.grad_fn.sequence_nr > y.grad_fn.sequence_nr >= 0
    assert x.grad_fn is None and (Tensor(1.0) * 2).grad_fn is None   # leaves and constants: no node


def test_check_answer_gives_the_learner_a_verdict(capsys):
    from tinygrad_cnn.gradcheck import check_answer

    expected = Tensor([[1.0, 2.0]], requires_grad=True)
    assert check_answer("dW", np.array([[1.0, 2.0]]), expected)
    assert not check_answer("dW", ..., expected)
    assert not check_answer("dW", np.array([1.0, 2.0]), expected)
    assert not check_answer("dW", np.array([[1.0, 2.5]]), expected)
    said = capsys.readouterr().out.splitlines()
    assert said == ["dW: correct!", "dW: not answered yet - replace the ... with your formula",
                    "dW: your answer has shape (2,), autograd's has shape (1, 2)",
                    "dW: not quite - the largest difference from autograd is 0.5"]
