"""viz: the DOT structure of draw_graph, gradient-flow styling, step marking, rendering with and
without Graphviz's `dot`, step-through frames and widgets, and the per-layer gradient-flow plot."""
from __future__ import annotations

import os
import re
import shutil
import sys

import numpy as np
import pytest

from tinygrad_cnn import Tensor
from tinygrad_cnn import viz
from tinygrad_cnn.autograd import Step, topological_order, with_module_path

has_dot = shutil.which("dot") is not None
requires_dot = pytest.mark.skipif(not has_dot, reason="Graphviz's dot program is not installed")


# ================================ graphs to draw =================================================

def mixed_graph(dtype=np.float64, seed=0):
    """A small graph of mixed ops (matmul, broadcasting add, relu, exp, sum, getitem, pow, div)."""
    rng = np.random.default_rng(seed)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True, dtype=dtype)
    b = Tensor(rng.standard_normal(4), requires_grad=True, dtype=dtype)
    x = Tensor(rng.standard_normal((2, 3)), dtype=dtype)
    x.name = "x"
    h = (x @ w + b).relu()
    y = (h.exp() / (h * h + 1)).sum(axis=1)
    loss = y[0] * 2 + (y ** 2).mean()
    return loss, {"layer.weight": w, "layer.bias": b}


def micrograd_graph():
    """Karpathy's micrograd example: L = (a*b + c) * f."""
    a, b, c, f = (Tensor(v, requires_grad=True) for v in (2.0, -3.0, 10.0, -2.0))
    for t, n in zip((a, b, c, f), "abcf"):
        t.name = n
    return (a * b + c) * f, (a, b, c, f)


def module_graph():
    """Ops recorded inside nested module paths: features.0, features.1, and head."""
    rng = np.random.default_rng(1)
    params = {"features.0.weight": Tensor(rng.standard_normal((3, 3)), requires_grad=True),
              "head.weight": Tensor(rng.standard_normal((3, 2)), requires_grad=True)}
    x = Tensor(rng.standard_normal((4, 3)))
    with with_module_path("features"):
        with with_module_path("0"):
            h = x @ params["features.0.weight"]
        with with_module_path("1"):
            h = h.relu()
    with with_module_path("head"):
        out = h @ params["head.weight"]
    loss = (out * out).mean()
    return loss, params


class DuckModule:
    """Anything with named_parameters() names the leaves."""

    def __init__(self, params):
        self.params = params

    def named_parameters(self):
        return iter(self.params.items())


# ================================ reading the DOT text ===========================================

def node_attrs(source, name):
    """The attribute text of node ``name``'s statement."""
    match = re.search(rf"^\s*{re.escape(name)} \[(.*?)\]$", source, re.M | re.S)
    assert match, f"node {name} not in the DOT source"
    return match.group(1)


def edge_attrs(source, src, dst):
    """Attribute texts of every edge src -> dst."""
    return re.findall(rf"^\s*{re.escape(src)} -> {re.escape(dst)} \[(.*?)\]$", source, re.M)


def attr(text, key):
    match = re.search(rf'\b{key}="?([^" \]]+)"?', text)
    return match.group(1) if match else None


def drawn_nodes(source):
    return {n.strip('"') for n in re.findall(r"^\s*(t\d+|m_[^ ]+|\"m_[^\"]+\") \[", source, re.M)}


def graph_tensors(root):
    order = topological_order(root)
    ids = {id(t) for t in order}
    constants = {id(p): p for t in order if t.grad_fn is not None for p in t.grad_fn.parents if id(p) not in ids}
    return order, list(constants.values())


# ================================ structure ======================================================

def test_one_node_per_op_and_leaf():
    loss, params = mixed_graph()
    loss.backward()
    source = viz.draw_graph(loss, params).source
    order, constants = graph_tensors(loss)
    assert drawn_nodes(source) == {viz.node_id(t) for t in order + constants}


def test_one_edge_per_input_of_each_op():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()   # x feeds mul twice: two edges
    source = viz.draw_graph(y).source
    mul = y.grad_fn.parents[0]
    assert len(edge_attrs(source, viz.node_id(x), viz.node_id(mul))) == 2


@pytest.mark.parametrize("make_params", [dict, DuckModule, lambda p: list(p.items())])
def test_parameter_names_in_labels(make_params):
    loss, params = mixed_graph()
    source = viz.draw_graph(loss, make_params(params)).source
    assert "layer.weight" in source and "layer.bias" in source and "<B>x</B>" in source


def test_unnamed_leaves_are_input_or_const():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    source = viz.draw_graph((x * 3).sum()).source
    assert "<B>input</B>" in node_attrs(source, viz.node_id(x)) and "<B>const</B>" in source


def test_bad_params_are_refused_naming_the_entry():
    loss, _ = mixed_graph()
    with pytest.raises(TypeError, match="params must map names to Tensors"):
        viz.draw_graph(loss, [("w", 3.0)])
    with pytest.raises(TypeError, match="got int"):
        viz.draw_graph(loss, 5)


def test_root_must_be_a_tensor():
    with pytest.raises(TypeError, match="root must be a Tensor, got list"):
        viz.draw_graph([1.0])


def test_labels_show_op_shape_and_grad_norm_after_backward():
    loss, params = mixed_graph()
    before = viz.draw_graph(loss, params, show_data=False).source
    assert "‖g‖" not in before and "legend" not in before
    loss.backward()
    source = viz.draw_graph(loss, params, show_data=False).source
    w = params["layer.weight"]
    label = node_attrs(source, viz.node_id(w))
    assert "(3, 4)" in label and f"‖g‖ {viz._num(float(np.linalg.norm(w.grad.data)))}" in label
    assert "<B>matmul</B>" in source


def test_legend_explains_the_scale():
    loss, params = mixed_graph()
    loss.backward()
    legend = node_attrs(viz.draw_graph(loss, params).source, "legend")
    assert "‖gradient‖" in legend and "vanishing" in legend and "exploding" in legend and "1e-8" in legend
    assert "legend" not in viz.draw_graph(loss, params, legend=False).source


# ================================ gradient flow ==================================================

def two_branches(small=1e-6, big=1e3, backward=True):
    a, b = Tensor(1.0, requires_grad=True), Tensor(1.0, requires_grad=True)
    loss = a * small + b * big
    if backward:
        loss.backward()
    return loss, a, b


def test_edge_width_and_colour_grow_with_gradient_size():
    loss, a, b = two_branches()
    source = viz.draw_graph(loss).source
    (small,) = edge_attrs(source, viz.node_id(a), viz.node_id(loss.grad_fn.parents[0]))
    (big,) = edge_attrs(source, viz.node_id(b), viz.node_id(loss.grad_fn.parents[1]))
    assert float(attr(small, "penwidth")) < float(attr(big, "penwidth"))
    assert attr(small, "color") != attr(big, "color")
    assert attr(small, "style") == "dashed" and "▼" in small       # 1e-6 vs 1e3: vanishing
    assert "▼ vanishing" in node_attrs(source, viz.node_id(a))


@pytest.mark.parametrize("big", [1e5, np.inf])
def test_exploding_gradients_are_bold_and_marked(big):
    loss, a, b = two_branches(small=1.0, big=big)
    source = viz.draw_graph(loss).source
    (edge,) = edge_attrs(source, viz.node_id(b), viz.node_id(loss.grad_fn.parents[1]))
    assert attr(edge, "style") == "bold" and "▲" in edge
    assert "▲" in node_attrs(source, viz.node_id(b))


def test_edges_without_gradient_are_grey_and_thin():
    loss, params = mixed_graph()
    source = viz.draw_graph(loss, params).source
    for line in re.findall(r"-> t\d+ \[(.*?)\]$", source, re.M):
        assert attr(line, "color") in (viz.NO_GRAD_COLOUR, viz.CONSTANT_EDGE_COLOUR)
        assert float(attr(line, "penwidth")) <= 0.8


def test_scale_colours_run_from_blue_to_red():
    scale = viz._Scale([], None)
    assert scale.colour(1e-8) == "#313695" and scale.colour(1e4) == "#a50026"
    assert scale.penwidth(1e-8) == viz.PENWIDTH_RANGE[0] and scale.penwidth(1e4) == viz.PENWIDTH_RANGE[1]
    with pytest.raises(ValueError, match="grad_range"):
        viz.draw_graph(two_branches()[0], grad_range=(1.0, 0.5))


def test_auto_scale_spans_this_graph():
    loss, a, b = two_branches(small=1e-2, big=1.0)
    source = viz.draw_graph(loss, grad_range="auto").source
    (small,) = edge_attrs(source, viz.node_id(a), viz.node_id(loss.grad_fn.parents[0]))
    (big,) = edge_attrs(source, viz.node_id(b), viz.node_id(loss.grad_fn.parents[1]))
    assert float(attr(small, "penwidth")) == viz.PENWIDTH_RANGE[0]
    assert float(attr(big, "penwidth")) == viz.PENWIDTH_RANGE[1]


def test_show_stats_reports_dead_relu_share():
    x = Tensor([-1.0, -2.0, 3.0, 4.0], requires_grad=True)
    y = x.relu().sum()
    y.backward()
    source = viz.draw_graph(y, show_stats=True).source
    assert "zeros 50%" in node_attrs(source, viz.node_id(x))


def test_show_saved_reports_memory_kept_for_backward():
    x = Tensor(np.ones((4, 8), dtype=np.float32), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    source = viz.draw_graph(y, show_saved=True).source
    mul = node_attrs(source, viz.node_id(y.grad_fn.parents[0]))
    assert "keeps input0 (4, 8), input1 (4, 8): 256 B" in mul
    assert "saved for backward in all: 128 B" in source   # the same array kept twice counts once


# ================================ modules ========================================================

def test_group_modules_draws_nested_clusters():
    loss, params = module_graph()
    source = viz.draw_graph(loss, params, group_modules=True).source
    for path in ("features", "features.0", "features.1", "head"):
        assert f'subgraph "cluster_{path}"' in source or f"subgraph cluster_{path} " in source
        assert f"label={path}" in source or f'label="{path}"' in source
    depth, depths = 0, {}
    for line in source.splitlines():
        match = re.search(r'subgraph "?(cluster_[\w.]+)', line)
        if match:
            depths[match.group(1)] = depth
        depth += line.count("{") - line.count("}")
    assert depths["cluster_features.0"] == depths["cluster_features"] + 1
    features0 = source[source.index("cluster_features.0"):]
    assert viz.node_id(params["features.0.weight"]) in features0.split("}")[0]


def test_ops_show_their_module_without_clusters():
    loss, params = module_graph()
    source = viz.draw_graph(loss, params).source
    assert "cluster" not in source and "· features.0" in source


def test_collapse_draws_one_node_per_module():
    loss, params = module_graph()
    loss.backward()
    full = drawn_nodes(viz.draw_graph(loss, params).source)
    source = viz.draw_graph(loss, params, collapse=True).source
    collapsed = drawn_nodes(source)
    assert len(collapsed) < len(full)
    assert {"m_features.0", "m_features.1", "m_head"} <= collapsed
    assert "weight (3, 3)" in source and "‖g‖" in source
    by_depth = drawn_nodes(viz.draw_graph(loss, params, collapse=1).source)
    assert "m_features" in by_depth and len(by_depth) < len(collapsed)


def test_max_nodes_guard_suggests_collapse():
    loss, params = mixed_graph()
    count = len(drawn_nodes(viz.draw_graph(loss, params).source))
    with pytest.raises(ValueError, match=rf"has {count} nodes, more than max_nodes=5.*collapse=True"):
        viz.draw_graph(loss, params, max_nodes=5)


# ================================ layout and labels ==============================================

def test_micrograd_labels_on_a_scalar_graph():
    loss, (a, b, c, f) = micrograd_graph()
    loss.backward()
    source = viz.draw_graph(loss).source
    assert "data 2" in node_attrs(source, viz.node_id(a)) and "grad 6" in node_attrs(source, viz.node_id(a))
    assert "data -3" in node_attrs(source, viz.node_id(b)) and "grad -4" in node_attrs(source, viz.node_id(b))
    assert "data -8" in node_attrs(source, viz.node_id(loss)) and "grad 1" in node_attrs(source, viz.node_id(loss))


def test_big_tensors_show_norms_not_values():
    loss, params = mixed_graph()
    loss.backward()
    source = viz.draw_graph(loss, params).source
    assert "data [" not in source and "‖g‖" in source


def test_rankdir_and_compact():
    loss, params = mixed_graph()
    source = viz.draw_graph(loss, params, rankdir="LR", compact=True, show_stats=True).source
    assert "rankdir=LR" in source and "fontsize=8" in source and "mean" not in source
    with pytest.raises(ValueError, match="rankdir must be"):
        viz.draw_graph(loss, rankdir="UP")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_draws_float32_and_float64(dtype):
    loss, params = mixed_graph(dtype)
    loss.backward()
    source = viz.draw_graph(loss, params, title="a title").source
    assert np.dtype(dtype).name in source and "a title" in source


# ================================ stepping through backward ======================================

def status_fill(source, tensor):
    return attr(node_attrs(source, viz.node_id(tensor)), "fillcolor")


def test_step_marks_current_done_and_pending():
    loss, params = mixed_graph()
    walk = list(reversed(topological_order(loss)))
    steps = list(loss.backward_steps())
    k = len(steps) // 2
    source = viz.draw_graph(loss, params, step=steps[k]).source
    current = [id(t) for t in walk].index(id(steps[k].tensor))
    for position, t in enumerate(walk):
        expected = "current" if position == current else "done" if position < current else "pending"
        assert status_fill(source, t) == viz._STEP_FILL[expected], (position, expected)
    assert f"step {steps[k].index + 1}/{steps[k].total}" in source   # default title


def test_step_index_with_the_list_of_steps():
    loss, params = mixed_graph()
    steps = list(loss.backward_steps())
    source = viz.draw_graph(loss, params, step=0, steps=steps).source
    assert status_fill(source, loss) == viz._STEP_FILL["current"]
    with pytest.raises(ValueError, match="pass the steps too"):
        viz.draw_graph(loss, params, step=0)
    with pytest.raises(ValueError, match="out of range for"):
        viz.draw_graph(loss, params, step=len(steps), steps=steps)


def test_step_hides_gradients_not_computed_yet():
    loss, a, b = two_branches(backward=False)
    steps = list(loss.backward_steps())
    first = viz.draw_graph(loss, step=steps[0]).source
    leaf = node_attrs(first, viz.node_id(a))
    assert "grad" not in leaf and "‖g‖" not in leaf


def test_step_from_another_graph_is_refused():
    loss, _ = mixed_graph()
    other, _ = mixed_graph()
    steps = list(other.backward_steps())
    with pytest.raises(ValueError, match="does not belong to this graph"):
        viz.draw_graph(loss, step=steps[1])


def test_backward_steps_give_bit_identical_gradients():
    loss1, params1 = mixed_graph(seed=3)
    loss2, params2 = mixed_graph(seed=3)
    loss1.backward()
    steps = list(loss2.backward_steps())
    assert all(isinstance(s, Step) for s in steps)
    for name in params1:
        assert np.array_equal(params1[name].grad.data, params2[name].grad.data), name


def test_step_frames_draw_every_step():
    loss, params = mixed_graph()
    frames = viz.step_frames(loss, params, compact=True)
    assert len(frames) == len(topological_order(loss))
    assert params["layer.weight"].grad is not None
    assert "step 1/" in frames[0].source and f"step {len(frames)}/" in frames[-1].source


def test_describe_step_names_rule_and_inputs():
    loss, params = mixed_graph()
    steps = list(loss.backward_steps())
    matmul = next(s for s in steps if s.op == "matmul")
    text = viz.describe_step(matmul, params)
    assert "matmul: da = g @ bᵀ" in text and "input 0 (x (2, 3)): nothing (needs no gradient)" in text
    assert "input 1 (layer.weight (3, 4)): ‖·‖ =" in text
    leaf = next(s for s in steps if s.op == "leaf")
    assert ".grad" in viz.describe_step(leaf, params)


def test_step_through_builds_a_slider():
    pytest.importorskip("ipywidgets")
    loss, params = mixed_graph()
    box = viz.step_through(loss, params)
    slider = box.children[0]
    assert slider.max == len(topological_order(loss)) - 1
    assert "rule:" in box.children[1].value
    slider.value = 3
    assert "step 4/" in box.children[1].value


def test_step_through_without_ipywidgets_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    loss, _ = mixed_graph()
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        viz.step_through(loss)


# ================================ gradient flow per layer ========================================

def test_plot_grad_flow_bars_per_parameter():
    pytest.importorskip("matplotlib")
    loss, params = mixed_graph()
    loss.backward()
    params["unused"] = Tensor(np.ones(2), requires_grad=True)
    fig = viz.plot_grad_flow(DuckModule(params))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(params)
    assert len(ax.patches) == 2 * len(params)
    assert any("no grad" in t.get_text() for t in ax.texts)


def test_plot_grad_flow_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        viz.plot_grad_flow({"w": Tensor(1.0, requires_grad=True)})


# ================================ rendering ======================================================

@requires_dot
@pytest.mark.parametrize("extension", ["svg", "png", "pdf"])
def test_render_writes_the_picture(tmp_path, extension):
    loss, params = mixed_graph()
    loss.backward()
    path = tmp_path / f"graph.{extension}"
    assert viz.render(viz.draw_graph(loss, params, show_stats=True), path) == str(path)
    data = path.read_bytes()
    if extension == "svg":
        assert data.startswith(b"<?xml") or b"<svg" in data
    else:
        assert data.startswith(b"\x89PNG" if extension == "png" else b"%PDF")
    assert sorted(os.listdir(tmp_path)) == [f"graph.{extension}"]   # no temporary files left


def test_render_dot_source_needs_no_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    loss, _ = micrograd_graph()
    path = viz.render(viz.draw_graph(loss), tmp_path / "graph.dot")
    assert open(path, encoding="utf-8").read().startswith("digraph")


def test_render_without_dot_writes_source_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    loss, _ = micrograd_graph()
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz.*brew install graphviz") as info:
        viz.render(viz.draw_graph(loss), tmp_path / "graph.svg")
    assert isinstance(info.value, RuntimeError)
    dot_file = tmp_path / "graph.dot"
    assert str(dot_file) in str(info.value) and dot_file.read_text(encoding="utf-8").startswith("digraph")
    assert not (tmp_path / "graph.svg").exists()


def test_render_when_graphviz_cannot_run_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(viz.shutil, "which", lambda name: "/pretend/dot")
    loss, _ = micrograd_graph()
    with pytest.raises(RuntimeError, match="conda install graphviz"):
        viz.render(viz.draw_graph(loss), tmp_path / "graph.png")
    assert (tmp_path / "graph.dot").exists()


def test_render_refuses_unknown_formats_and_missing_folders(tmp_path):
    loss, _ = micrograd_graph()
    graph = viz.draw_graph(loss)
    with pytest.raises(ValueError, match="cannot tell the format of"):
        viz.render(graph, tmp_path / "graph.jpeg2000")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.render(graph, tmp_path / "missing" / "graph.svg")


# ================================ a real CNN =====================================================

@pytest.fixture(scope="module")
def lenet_loss():
    models = pytest.importorskip("tinygrad_cnn.models")
    import tinygrad_cnn.functional as F

    model = models.lenet5(generator=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32))
    loss = F.cross_entropy(model(x), np.array([3, 7]))
    loss.backward(retain_graph=True)
    return model, loss


def test_lenet_graph_names_every_parameter(lenet_loss):
    model, loss = lenet_loss
    source = viz.draw_graph(loss, model).source
    for name, _ in model.named_parameters():
        assert f"<B>{name}</B>" in source
    order, constants = graph_tensors(loss)
    assert len(drawn_nodes(source)) == len(order) + len(constants)


def test_lenet_collapsed_and_grouped(lenet_loss):
    model, loss = lenet_loss
    collapsed = viz.draw_graph(loss, model, collapse=True).source
    assert "conv1 · Conv2d" in collapsed and "fc3 · Linear" in collapsed
    order, constants = graph_tensors(loss)
    param_ids = {id(p) for p in model.parameters()}
    in_modules = [t for t in order if id(t) in param_ids or (t.grad_fn is not None and t.grad_fn.module_path)]
    expected = len(order) + len(constants) - len(in_modules) + 5   # conv1, conv2, fc1, fc2, fc3
    assert len(drawn_nodes(collapsed)) == expected
    grouped = viz.draw_graph(loss, model, group_modules=True).source
    assert "cluster_conv2" in grouped and "cluster_fc1" in grouped


def test_lenet_backward_steps_match_backward_bit_for_bit():
    models = pytest.importorskip("tinygrad_cnn.models")
    import tinygrad_cnn.functional as F

    grads = []
    for walk in ("backward", "steps"):
        model = models.lenet5(generator=np.random.default_rng(0))
        x = Tensor(np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32))
        loss = F.cross_entropy(model(x), np.array([3, 7]))
        if walk == "backward":
            loss.backward()
        else:
            steps = list(loss.backward_steps())
            assert len(steps) == len(topological_order(loss))
        grads.append({n: p.grad.data.copy() for n, p in model.named_parameters()})
    for name in grads[0]:
        assert np.array_equal(grads[0][name], grads[1][name]), name


@requires_dot
def test_lenet_renders(tmp_path, lenet_loss):
    model, loss = lenet_loss
    path = viz.render(viz.draw_graph(loss, model, collapse=True), tmp_path / "lenet.svg")
    assert b"<svg" in open(path, "rb").read()


def test_a_tensor_without_graph_is_one_node():
    t = Tensor([1.0, 2.0])
    source = viz.draw_graph(t).source
    assert drawn_nodes(source) == {viz.node_id(t)} and "->" not in source


def test_collapsed_module_is_marked_during_its_step():
    loss, params = module_graph()
    steps = list(loss.backward_steps())
    in_head = next(s for s in steps if s.tensor.grad_fn is not None and s.tensor.grad_fn.module_path == ("head",))
    source = viz.draw_graph(loss, params, collapse=True, step=in_head).source
    assert attr(node_attrs(source, "m_head"), "fillcolor") == viz._STEP_FILL["current"]
    assert attr(node_attrs(source, '"m_features.0"'), "fillcolor") == viz._STEP_FILL["pending"]


def test_current_step_labels_the_gradients_it_sends():
    loss, (a, b, c, f) = micrograd_graph()
    steps = list(loss.backward_steps())
    step = next(s for s in steps if s.op == "mul" and s.tensor.grad_fn.parents[0] is a)
    source = viz.draw_graph(loss, step=step).source
    (to_a,) = edge_attrs(source, viz.node_id(a), viz.node_id(step.tensor))
    (to_b,) = edge_attrs(source, viz.node_id(b), viz.node_id(step.tensor))
    assert "g 6" in to_a and "g -4" in to_b


def test_step_frames_can_keep_the_graph():
    loss, params = mixed_graph()
    first = viz.step_frames(loss, params, retain_graph=True)
    for p in params.values():
        p.zero_grad()
    again = viz.step_frames(loss, params)
    assert len(first) == len(again)


def test_lenet_too_big_unless_collapsed(lenet_loss):
    model, loss = lenet_loss
    with pytest.raises(ValueError, match="collapse=True"):
        viz.draw_graph(loss, model, max_nodes=40)
    assert "conv1 · Conv2d" in viz.draw_graph(loss, model, max_nodes=40, collapse=True).source


@pytest.mark.parametrize("input_grad", [True, False])
def test_a_drawn_conv_input_shows_the_image_shape(input_grad):
    import tinygrad_cnn.functional as F

    x = Tensor(np.ones((2, 1, 8, 8), dtype=np.float32), requires_grad=input_grad)
    w = Tensor(np.ones((3, 1, 3, 3), dtype=np.float32), requires_grad=True)
    source = viz.draw_graph(F.conv2d(x, w).sum(), {"conv.weight": w}).source
    labels = re.findall(r"<B>([^<]*)</B></TD></TR><TR><TD><FONT[^>]*>([^<]*)</FONT>", source)
    if input_grad:   # the image itself is a node of the graph
        assert ("input", "(2, 1, 8, 8)") in labels
    else:            # the patch matrix is a constant, named after the image it unfolds
        assert ("input (2, 1, 8, 8) unfolded", "(9, 72)") in labels
