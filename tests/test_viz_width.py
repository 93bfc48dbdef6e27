"""Pictures that read at notebook width: a loss drawn as one node when collapsed, op nodes named
after their results, the legend only where colour says something, narrow gradient ranges on their
own colour scale, and a zero gradient that comes from a zero input not flagged as vanishing."""
import numpy as np

import tinygrad_cnn.functional as F
from tinygrad_cnn import Tensor, viz
from test_viz import attr, drawn_nodes, edge_attrs, node_attrs, two_branches


def has_legend(source):
    return "\tlegend [" in source


def name_of(graph, tensor):
    """The DOT name of the node that draws ``tensor`` in ``graph``."""
    try:
        return viz.node_id(graph, tensor)   # names that follow graph order live with the graph
    except TypeError:
        return viz.node_id(tensor)


def test_collapse_draws_a_loss_as_one_node():
    w = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    loss = F.cross_entropy(Tensor(np.ones((2, 3))) @ w, [1, 3])
    loss.backward()
    source = viz.draw_graph(loss, {"w": w}, collapse=True).source
    assert "m_cross_entropy" in drawn_nodes(source)
    assert len(drawn_nodes(source)) == 4   # the input, w, matmul and the loss
    assert source.count("<B>cross_entropy</B>") == 1 and "9 ops" in source


def test_op_nodes_show_the_names_given_to_their_results():
    a, b = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True)
    e = a * b
    e.name = "e"
    loss = e + 1.0
    graph = viz.draw_graph(loss)
    assert "<B>e</B> = mul" in node_attrs(graph.source, name_of(graph, e))


def test_legend_only_where_colour_carries_information():
    a, b = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True)
    loss = a * b
    loss.backward(retain_graph=True)
    assert not has_legend(viz.draw_graph(loss).source)            # values printed on the nodes
    wide = two_branches(small=1e-9, big=1.0)[0]
    assert has_legend(viz.draw_graph(wide).source)                # a vanishing edge needs the key
    x = Tensor(np.arange(1.0, 7.0), requires_grad=True)
    spread = (x * x).sum() + x.sum()
    spread.backward()
    assert has_legend(viz.draw_graph(spread, show_data=False).source)   # sizes differ, not printed
    step = next(iter((a * b).backward_steps()))
    assert has_legend(viz.draw_graph(step.tensor, step=step).source)    # explains the fill colours


def test_narrow_gradient_range_is_coloured_on_its_own_scale():
    loss, a, b = two_branches(small=0.5, big=5.0)
    graph = viz.draw_graph(loss, show_data=False)
    source = graph.source
    (small,) = edge_attrs(source, name_of(graph, a), name_of(graph, loss.grad_fn.parents[0]))
    (big,) = edge_attrs(source, name_of(graph, b), name_of(graph, loss.grad_fn.parents[1]))
    assert float(attr(small, "penwidth")) == viz.PENWIDTH_RANGE[0] and float(attr(big, "penwidth")) == viz.PENWIDTH_RANGE[1]
    assert "this graph's own range" in node_attrs(source, "legend")
    wide = viz.draw_graph(two_branches(small=1e-6, big=1e3)[0]).source
    assert "own range" not in wide and "1e-8" in node_attrs(wide, "legend")  # wide: the shared scale


def test_a_zero_gradient_from_a_zero_input_is_not_an_alarm():
    x, w = Tensor(0.0, requires_grad=True), Tensor(3.0, requires_grad=True)
    loss = (x * w).tanh()
    loss.backward()
    graph = viz.draw_graph(loss)
    source = graph.source
    (edge,) = edge_attrs(source, name_of(graph, w), name_of(graph, loss.grad_fn.parents[0]))
    assert "dashed" not in edge and "▼" not in edge
    label = node_attrs(source, name_of(graph, w))
    assert "▼" not in label and "met a value of 0" in label
    dead = Tensor([-1.0, -2.0], requires_grad=True)      # a dead ReLU's zero is still flagged
    out = dead.relu().sum()
    out.backward()
    graph = viz.draw_graph(out)
    assert "▼ zero gradient" in node_attrs(graph.source, name_of(graph, dead))


def test_collapse_keeps_a_modules_scalars_inside_it_and_its_input_outside():
    from tinygrad_cnn import nn

    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    loss = F.cross_entropy(net(Tensor(np.ones((2, 1, 8, 8), dtype=np.float32))), [1, 2])
    loss.backward()
    source = viz.draw_graph(loss, net, collapse=True).source
    assert "<B>const</B>" not in source           # batch norm's eps and its count are inside its node
    assert "<B>1 · BatchNorm2d</B>" in source
    assert "<B>input (2, 1, 8, 8) unfolded</B>" in source   # the image a conv unfolds stays outside
