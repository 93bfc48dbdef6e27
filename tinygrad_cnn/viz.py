"""Pictures of the graph and of the gradient flowing back through it; stepping through backprop.

``draw_graph(loss, model)`` returns a ``graphviz.Digraph``: one node per op and per leaf tensor,
edges in the forward direction (inputs on top, loss at the bottom), each edge coloured and
thickened by the size of the gradient that backward sent along it. Blue, thin, dashed edges are
gradients that vanish; red, bold ones explode. In Jupyter the returned object draws itself;
``render(graph, "graph.svg")`` writes a file. Drawing only reads the graph, never changes it.
Rendering uses Graphviz's ``dot`` program when it is on PATH and otherwise the real Graphviz
inside the pygraphviz wheel that pip installs with this package (``graphviz_backend.py``), under a
time limit; a graph over the node/edge budget (``max_nodes``, ``max_edges``) is refused before any
renderer sees it.

``step_frames(loss)`` / ``step_through(loss)`` run backward one node at a time
(``loss.backward_steps()``) and draw each step: the node being processed, the nodes done and
the nodes still waiting for their gradient. ``plot_grad_flow(model)`` is the classic bar chart
of mean and max |grad| per parameter (log scale) for diagnosing vanishing gradients.

DOT node names follow graph order (``n0``, ``n1``, ... in the order ``_collect`` lists the
tensors; ``m_<module>`` for a collapsed module), never ``id()``, so drawing the same graph twice
gives the same DOT text and the same SVG. ``graph.tensor_nodes`` maps ``id(tensor)`` to its node
name (``node_id(graph, tensor)``). A one-element constant (a Python number in ``y * 1.0001``) is
drawn once per op that uses it: one shared node wired to thousands of ops makes Graphviz's layout
take minutes and gigabytes.
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import graphviz
import numpy as np

from .autograd import Step, topological_order
from .fileio import write_bytes
from .graphviz_backend import (RENDER_TIMEOUT_S, GraphDrawing, GraphvizNotFoundError, RenderTimeoutError,
                               render_source)
from .ops import find_op
from .tensor import Tensor

__all__ = ["draw_graph", "render", "step_frames", "step_through", "describe_step", "plot_grad_flow",
           "node_id", "GraphDrawing", "GraphvizNotFoundError", "RenderTimeoutError", "VANISHING_RELATIVE",
           "VANISHING_ABSOLUTE", "EXPLODING_ABSOLUTE"]

# A gradient whose L2 norm is below VANISHING_RELATIVE x the largest in the graph (or below
# VANISHING_ABSOLUTE) is flagged as vanishing; above EXPLODING_ABSOLUTE (or inf/nan) as exploding.
VANISHING_RELATIVE = 1e-7
VANISHING_ABSOLUTE = 1e-10
EXPLODING_ABSOLUTE = 1e3

# The colour/width scale spans at least these norms (log scale), so pictures from different
# training steps are comparable: a healthy network's gradients (1e-3..1e1) sit in the green middle.
DEFAULT_GRAD_RANGE = (1e-8, 1e4)
# When a graph's gradient norms span less than this ratio they would all get nearly one colour on
# the default scale, so the colours span the graph's own range instead (and the legend says so).
NARROW_RATIO = 1e3
PENWIDTH_RANGE = (0.6, 6.0)
# (position on the scale, colour): blue (vanishing) -> green (healthy) -> red (exploding); on the
# default 1e-8..1e4 scale the stops sit at 1e-8, 1e-5, 1e-3, 1e-1, 1, 10, 1e3, 1e4. No pale yellow:
# it is unreadable on white.
_COLOUR_STOPS = [(0.0, "#313695"), (3 / 12, "#4575b4"), (5 / 12, "#1b8fa6"), (7 / 12, "#1a9850"),
                 (8 / 12, "#6aa318"), (9 / 12, "#d08a00"), (11 / 12, "#e0440e"), (1.0, "#a50026")]
NO_GRAD_COLOUR = "#b8b8b8"        # an edge whose gradient has not been computed (yet)
CONSTANT_EDGE_COLOUR = "#999999"  # dotted: the input needs no gradient at all
NONFINITE_COLOUR = "#d4006a"

_FILL = {"elementwise": "#fff6d9", "reduce": "#ece3f6", "movement": "#efefef", "matmul": "#ffe0c2",
         "param": "#d5e6f7", "input": "#e2e2e2", "const": "#ffffff", "module": "#d9ecd9"}
_STEP_FILL = {"current": "#ff9f43", "done": "#b5e3a6", "partial": "#e1f3da", "pending": "#ffffff"}
_FONT = "Helvetica"

ParamsLike = Union[None, Mapping[str, Tensor], Iterable[Tuple[str, Tensor]], Any]


def node_id(graph: GraphDrawing, tensor: Tensor) -> str:
    """The DOT node name that draws ``tensor`` in ``graph`` (a ``draw_graph`` result).

    Names follow graph order (``n0``, ``n1``, ...; ``m_conv1`` for a collapsed module), so they
    exist only with the graph: this is ``graph.tensor_nodes[id(tensor)]``.
    """
    if not isinstance(graph, GraphDrawing) or not isinstance(tensor, Tensor):
        raise TypeError("node_id(graph, tensor): pass the graph draw_graph returned and a tensor of it "
                        "(node names follow graph order, so they exist only with the graph)")
    try:
        return graph.tensor_nodes[id(tensor)]
    except KeyError:
        raise KeyError(f"node_id: the tensor {_shape(tensor.shape)} is not drawn in this graph") from None


# ================================ reading the graph ==============================================

def _named_params(params: ParamsLike, what: str = "draw_graph") -> List[Tuple[str, Tensor]]:
    """(name, tensor) pairs from a Module (named_parameters()), a mapping, or an iterable of pairs."""
    if params is None:
        return []
    if hasattr(params, "named_parameters"):
        return [(str(n), t) for n, t in params.named_parameters()]
    if isinstance(params, Mapping):
        pairs = list(params.items())
    else:
        try:
            pairs = list(params)
        except TypeError:
            raise TypeError(f"{what}: params must be a Module (with named_parameters()), a mapping "
                            f"name -> Tensor, or (name, Tensor) pairs; got {type(params).__name__}") from None
    for entry in pairs:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Tensor)):
            raise TypeError(f"{what}: params must map names to Tensors; got the entry {entry!r:.80}")
    return [(str(n), t) for n, t in pairs]


def _module_kinds(params: ParamsLike) -> Dict[Tuple[str, ...], str]:
    """Module path -> class name ('Conv2d'), when params is a Module with named_modules()."""
    if params is None or not hasattr(params, "named_modules"):
        return {}
    kinds = {}
    for name, module in params.named_modules():
        kinds[tuple(name.split(".")) if name else ()] = type(module).__name__
    return kinds


def _collect(root: Tensor) -> List[Tensor]:
    """Every tensor to draw: the graph's tensors (inputs before outputs), constants first."""
    order = topological_order(root) if root.requires_grad else [root]
    seen = {id(t) for t in order}
    constants = []
    for t in order:
        if t.grad_fn is not None:
            for p in t.grad_fn.parents:
                if id(p) not in seen:  # an input that needs no gradient: drawn, never walked
                    seen.add(id(p))
                    constants.append(p)
    return constants + order


def _grad_norm(grad: Optional[Tensor]) -> Optional[float]:
    """L2 norm in float64 (inf/nan if the gradient holds them), or None for no gradient."""
    if grad is None:
        return None
    data = np.asarray(grad.data)
    if data.size == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(np.square(data, dtype=np.float64))))


def _classify(norm: Optional[float], largest: float, zero_explained: bool = False) -> str:
    """'none', 'nonfinite', 'exploding', 'zero', 'zero_input', 'vanishing' or 'ok'.

    'zero_input' is a gradient that is exactly zero because the value it was multiplied by is 0
    (``x * w`` with ``x = 0`` sends ``w`` nothing): correct, so not drawn as an alarm."""
    if norm is None:
        return "none"
    if not math.isfinite(norm):
        return "nonfinite"
    if norm > EXPLODING_ABSOLUTE:
        return "exploding"
    if norm == 0.0:
        return "zero_input" if zero_explained else "zero"
    if norm < max(VANISHING_RELATIVE * largest, VANISHING_ABSOLUTE):
        return "vanishing"
    return "ok"


class _Scale:
    """Maps a gradient norm to an edge colour and width on a log scale."""

    def __init__(self, norms: Iterable[Optional[float]], grad_range: Any, fit_narrow: bool = True) -> None:
        seen = [n for n in norms if n is not None and math.isfinite(n) and n > 0]
        narrow = bool(seen) and max(seen) / min(seen) < NARROW_RATIO
        self.own_range = grad_range == "auto" or (grad_range is None and fit_narrow and narrow)
        if self.own_range:
            lo, hi = (min(seen), max(seen)) if seen else DEFAULT_GRAD_RANGE
            if hi / lo < 10:  # at least one decade, so equal gradients do not all look extreme
                mid = math.sqrt(lo * hi)
                lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
        elif grad_range is None:
            lo, hi = DEFAULT_GRAD_RANGE
            if seen:
                lo, hi = min(lo, min(seen)), max(hi, max(seen))
        else:
            lo, hi = float(grad_range[0]), float(grad_range[1])
            if not 0 < lo < hi:
                raise ValueError(f"draw_graph: grad_range must be (low, high) with 0 < low < high, got {grad_range}")
        self.lo, self.hi = lo, hi
        self.log_lo, self.log_hi = math.log10(lo), math.log10(hi)

    def position(self, norm: float) -> float:
        """0 at the low end of the scale, 1 at the high end."""
        if norm <= 0:
            return 0.0
        t = (math.log10(norm) - self.log_lo) / (self.log_hi - self.log_lo)
        return min(max(t, 0.0), 1.0)

    def colour(self, norm: float) -> str:
        """Hex colour for ``norm`` (blue: tiny, green: middle, red: huge)."""
        if not math.isfinite(norm):
            return NONFINITE_COLOUR
        return _interpolate(_COLOUR_STOPS, self.position(norm))

    def penwidth(self, norm: float) -> float:
        """Edge width for ``norm`` (thicker = larger gradient)."""
        if not math.isfinite(norm):
            return PENWIDTH_RANGE[1]
        low, high = PENWIDTH_RANGE
        return round(low + (high - low) * self.position(norm), 2)

    def ticks(self) -> List[float]:
        """Five round powers of ten spread across the scale, for the legend."""
        first, last = math.ceil(self.log_lo - 1e-9), math.floor(self.log_hi + 1e-9)
        if last - first < 2:  # a narrow scale: its ends and middle
            return [self.lo, math.sqrt(self.lo * self.hi), self.hi]
        count = min(5, last - first + 1)
        exps = sorted({round(first + (last - first) * k / (count - 1)) for k in range(count)})
        return [10.0 ** e for e in exps]


def _interpolate(stops: Sequence[Tuple[float, str]], t: float) -> str:
    """The colour at ``t`` in [0, 1], mixed linearly (in RGB) between the two nearest stops."""
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            break
    f = 0.0 if t1 == t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    rgb0 = [int(c0[i:i + 2], 16) for i in (1, 3, 5)]
    rgb1 = [int(c1[i:i + 2], 16) for i in (1, 3, 5)]
    return "#%02x%02x%02x" % tuple(round(a + (b - a) * f) for a, b in zip(rgb0, rgb1))


# ================================ formatting =====================================================

def _num(x: float) -> str:
    """A short number: 3 significant digits, exponent form when very small or large."""
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _tick(x: float) -> str:
    """A power of ten for the legend: 1e-08 -> '1e-8', 0.01 -> '0.01', 1000 -> '1000'."""
    exponent = math.log10(x)
    if abs(exponent - round(exponent)) < 1e-9 and not -2 <= round(exponent) <= 3:
        return f"1e{round(exponent)}"
    return f"{x:g}" if abs(exponent - round(exponent)) < 1e-9 else f"{x:.2g}"


def _shape(shape: Tuple[int, ...]) -> str:
    return "scalar" if shape == () else "(" + ", ".join(str(s) for s in shape) + ")"


def _bytes(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _values(data: np.ndarray) -> str:
    """Up to four values, 4 significant digits (micrograd style)."""
    flat = np.asarray(data).reshape(-1)
    if flat.size == 1:
        return f"{float(flat[0]):.4g}"
    return "[" + ", ".join(f"{float(v):.4g}" for v in flat[:4]) + (", …" if flat.size > 4 else "") + "]"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _op_family(name: str) -> str:
    """The op's ``group`` (elementwise, reduce, movement, matmul), as ops.py declares it."""
    op = find_op(name)
    return op.group if op is not None else "elementwise"


# ================================ the picture ====================================================

@dataclass
class _Node:
    name: str
    kind: str                       # 'op', 'param', 'input', 'const', 'module'
    title: str
    shape: Tuple[int, ...]
    dtype: Any
    cluster: Tuple[str, ...]        # module path whose cluster holds it ('' when not grouped)
    grad: Optional[Tensor] = None   # the gradient arriving here (hidden while pending)
    data: Optional[np.ndarray] = None
    status: Optional[str] = None    # step mode: 'current', 'done', 'partial', 'pending', None
    module: str = ""                # dotted module name, shown when not grouped
    extra: List[str] = field(default_factory=list)  # more label lines (saved memory, params)
    is_root: bool = False
    norm: Optional[float] = None
    label: Optional[str] = None     # an op's result named by the user (``e.name = "e"``): shown as "e = mul"
    zero_explained: bool = False    # its gradient is 0 only because every value it met was 0


@dataclass
class _Edge:
    src: str
    dst: str
    norm: Optional[float]   # size of the gradient sent back along this edge (None: none yet)
    constant: bool          # the input needs no gradient at all
    current: bool = False   # step mode: a gradient the current step just sent
    backbone: bool = False  # from an op's output (not a leaf): kept straight in the layout
    value: Optional[float] = None  # the gradient itself, when it is a single number
    zero_explained: bool = False   # 0 because the other factor of a product is 0 (not an alarm)


def draw_graph(root: Tensor, params: ParamsLike = None, *, show_data: Optional[bool] = None,
               show_stats: bool = False, show_saved: bool = False, group_modules: bool = False,
               collapse: Union[bool, int] = False, max_nodes: int = 500,
               max_edges: Optional[int] = None, rankdir: str = "TB",
               compact: bool = False, step: Union[Step, int, None] = None,
               steps: Optional[Sequence[Step]] = None, title: Optional[str] = None,
               grad_range: Any = None, legend: bool = True,
               render_timeout: float = RENDER_TIMEOUT_S) -> GraphDrawing:
    """Draw the graph that produced ``root``, with the gradient flow once backward has run.

    Args:
        root: the output tensor (usually the loss).
        params: a Module (its ``named_parameters()`` name the leaves, e.g. ``conv1.weight``), or a
            mapping / pairs name -> Tensor. Other leaves are called by their ``.name``, else
            ``input`` (or ``const`` for a one-element tensor that needs no gradient).
        show_data: print values and gradients in full (micrograd style); default: on when every
            tensor has at most 4 elements.
        show_stats: add mean, std and the share of exact zeros of each gradient (dead ReLUs).
        show_saved: add what each op keeps alive for backward and its size in bytes.
        group_modules: draw each module's ops in a cluster ``cluster_<dotted.path>``, nested.
        collapse: draw each module as one node: True groups by the deepest module path (conv1,
            fc1, features.0); an int n groups by the first n names of the path.
        max_nodes: refuse (ValueError) to draw more nodes than this: layout time grows fast with
            size, so a huge graph is refused here rather than handed to Graphviz.
        max_edges: refuse (ValueError) to draw more edges than this; default ``2 * max_nodes``.
        rankdir: Graphviz layout direction: 'TB' (loss at the bottom), 'LR', 'BT', 'RL'.
        compact: small font and short labels (no stats, no module names).
        step: a ``Step`` from ``root.backward_steps()`` (or an index into ``steps``): the node being
            processed is orange, the nodes done green, the nodes waiting white; gradients are
            shown only where they exist at that step.
        steps: the list of steps, when ``step`` is an index.
        title: a caption above the graph.
        grad_range: (low, high) norms the colour scale spans; default spans at least 1e-8..1e4
            (comparable across pictures), except that a graph whose norms span less than
            ``NARROW_RATIO`` (and that is not a step) is coloured on its own range, so its
            differences show; 'auto' always spans exactly the norms in this graph.
        legend: add the legend node where colour carries information: in step mode, with
            ``show_saved``, when some gradient vanishes or explodes, or when the edges carry
            gradients of different sizes that the labels do not print.
        render_timeout: seconds rendering may take before it stops with ``RenderTimeoutError``.

    Returns:
        a ``GraphDrawing``, a ``graphviz.Digraph`` (``.source`` is the DOT text; ``pipe()``,
        ``render()`` and Jupyter's inline display use the system's ``dot`` or the bundled
        Graphviz). ``.tensor_nodes`` maps ``id(tensor)`` to the DOT node name drawing it.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw_graph: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if max_edges is None:
        max_edges = 2 * max_nodes
    tensors = _collect(root)
    names = {id(t): n for n, t in _named_params(params)}
    node_names = {id(t): f"n{i}" for i, t in enumerate(tensors)}   # graph order: the same every time
    if not collapse:  # fail fast on a huge graph, before building any label
        _check_size(len(tensors) + _constant_copies(tensors, names), max_nodes, "nodes")
    current_step = _resolve_step(root, step, steps)
    status = _step_status(root, current_step) if current_step is not None else {}

    def visible(t: Tensor) -> bool:
        # in step mode a gradient exists only once its node has been processed
        return current_step is None or status.get(id(t)) in ("done", "current")

    kinds = _module_kinds(params)
    if show_data is None:
        show_data = all(t.size <= 4 for t in tensors)
    if compact:
        show_stats = False

    # ---- one node per tensor
    op_paths = {t.grad_fn.module_path for t in tensors if t.grad_fn is not None and t.grad_fn.module_path}
    known_paths = {p[:k] for p in op_paths for k in range(1, len(p) + 1)}
    nodes: Dict[int, _Node] = {}
    for t in tensors:
        ctx = t.grad_fn
        if ctx is not None:
            path = tuple(ctx.module_path)
            node = _Node(node_names[id(t)], "op", ctx.name, t.shape, t.dtype, path,
                         module=".".join(path), grad=ctx.out_grad if visible(t) else None)
            if show_saved:
                node.extra.append(_saved_line(ctx))
        else:
            name = names.get(id(t)) or t.name
            kind = _leaf_kind(t, names)
            path = tuple(name.split(".")[:-1]) if (kind == "param" and name) else ()
            if path not in known_paths:
                path = ()
            node = _Node(node_names[id(t)], kind, name or kind, t.shape, t.dtype, path,
                         grad=t.grad if (t.requires_grad and visible(t)) else None)
        node.data = t.data
        node.status = status.get(id(t)) if current_step is not None else None
        node.is_root = t is root
        node.label = t.name if t.grad_fn is not None else None
        nodes[id(t)] = node

    if group_modules and not collapse:
        # an input used only inside one module (conv's unfolded image) is drawn inside its cluster
        consumer_paths: Dict[int, set] = {}
        for t in tensors:
            if t.grad_fn is not None:
                for p in t.grad_fn.parents:
                    consumer_paths.setdefault(id(p), set()).add(tuple(t.grad_fn.module_path))
        for t in tensors:
            node = nodes[id(t)]
            if node.kind in ("input", "const") and len(consumer_paths.get(id(t), ())) == 1:
                node.cluster = next(iter(consumer_paths[id(t)]))

    # ---- one edge per (input, op) pair, carrying the gradient sent back to that input
    edges: List[Tuple[Tensor, Tensor, Optional[Tensor]]] = []
    for t in tensors:
        ctx = t.grad_fn
        if ctx is None:
            continue
        sent = ctx.input_grads if visible(t) else None
        for i, p in enumerate(ctx.parents):
            edges.append((p, t, None if sent is None else sent[i]))

    # ---- collapse modules into single nodes
    group_of: Dict[int, str] = {}
    if collapse:
        nodes, group_of = _collapse(tensors, nodes, root, collapse, kinds, status if current_step else None,
                                    show_saved, list(names))

    explained = _zeros_from_zero_factors(edges)
    # ---- a constant is drawn once per drawn op (or module) using it, never as one shared hub
    copies: Dict[Tuple[int, str], str] = {}          # (id(constant), consumer's node) -> node name
    copies_of: Dict[int, List[_Node]] = {}
    for t in tensors:
        if t.grad_fn is None:
            continue
        consumer = group_of.get(id(t), node_names[id(t)])
        for p in t.grad_fn.parents:
            node = nodes.get(id(p))
            if node is None or node.kind != "const" or id(p) in group_of or (id(p), consumer) in copies:
                continue
            made = copies_of.setdefault(id(p), [])
            copy = node if not made else replace(node, name=f"{node.name}u{len(made)}", extra=list(node.extra))
            if group_modules and not collapse and t.grad_fn.module_path:
                copy.cluster = tuple(t.grad_fn.module_path)
            made.append(copy)
            copies[(id(p), consumer)] = copy.name
    drawn: List[str] = []
    for t in tensors:
        if id(t) in copies_of:
            drawn.extend(c.name for c in copies_of[id(t)])
        else:
            drawn.append(group_of.get(id(t), node_names[id(t)]))
    drawn = list(dict.fromkeys(drawn))
    _check_size(len(drawn), max_nodes, "nodes")

    merged = _merge_edges(edges, group_of, node_names, copies, current_step)
    _check_size(len(merged), max_edges, "edges")
    for node in nodes.values():
        node.norm = _grad_norm(node.grad)
    _mark_explained_zeros(merged, nodes.values(), {(node_names[id(p)], node_names[id(t)]) for p, t in explained})
    norms = [e.norm for e in merged] + [n.norm for n in nodes.values()]
    largest = max((n for n in norms if n is not None and math.isfinite(n)), default=0.0)
    scale = _Scale(norms, grad_range, fit_narrow=current_step is None)

    # ---- emit DOT
    font_size = "8" if compact else "11"
    graph = GraphDrawing(name="tinygrad_cnn", format="svg")
    graph.attr(rankdir=rankdir, fontname=_FONT, fontsize=font_size, newrank="true",
               nodesep="0.15" if compact else "0.3", ranksep="0.2" if compact else "0.35")
    graph.attr("node", fontname=_FONT, fontsize=font_size, margin="0.06,0.03" if compact else "0.1,0.05")
    graph.attr("edge", fontname=_FONT, fontsize="7" if compact else "9", arrowsize="0.6")
    if title is None and current_step is not None:
        title = describe_step(current_step, params, short=True)
    if title:
        graph.attr(label=_esc(title), labelloc="t", fontsize="10" if compact else "14")

    by_name = {n.name: n for n in nodes.values()}
    by_name.update((c.name, c) for made in copies_of.values() for c in made)
    members: Dict[Tuple[str, ...], List[_Node]] = {}
    for name in drawn:
        node = by_name[name]
        members.setdefault(node.cluster if group_modules else (), []).append(node)
    _emit_clusters(graph, members, kinds, lambda n: _node_attrs(n, show_data, show_stats, compact,
                                                              group_modules, largest, root.dtype))
    for edge in merged:
        attrs = _edge_attrs(edge, scale, largest, compact)
        if edge.backbone:
            attrs["weight"] = "4"  # keep the activation path straight; parameters hang off it
        graph.edge(edge.src, edge.dst, **attrs)

    if legend and (current_step is not None or show_saved or _colour_informative(merged, largest, show_data)):
        total = _saved_total(tensors) if show_saved else None
        graph.node("legend", label=_legend_label(scale, current_step is not None, compact, total, root.dtype),
                   shape="plaintext", margin="0")
    graph.tensor_nodes = {id(t): group_of.get(id(t), node_names[id(t)]) for t in tensors}
    graph.node_count, graph.edge_count = len(drawn), len(merged)
    graph.render_timeout = render_timeout
    return graph


def _leaf_kind(t: Tensor, names: Dict[int, str]) -> str:
    """'param' (named by params), 'input' (needs grad or has several elements) or 'const'."""
    if id(t) in names:
        return "param"
    return "input" if (t.requires_grad or t.size > 1) else "const"


def _constant_copies(tensors: List[Tensor], names: Dict[int, str]) -> int:
    """How many extra nodes drawing each constant once per op that uses it adds."""
    consumers: Dict[int, set] = {}
    for t in tensors:
        if t.grad_fn is not None:
            for p in t.grad_fn.parents:
                if p.grad_fn is None and _leaf_kind(p, names) == "const":
                    consumers.setdefault(id(p), set()).add(id(t))
    return sum(len(c) - 1 for c in consumers.values())


def _check_size(count: int, limit: int, what: str) -> None:
    """Refuse a graph too large to lay out, before any renderer sees it."""
    if count > limit:
        option = "max_nodes" if what == "nodes" else "max_edges"
        raise ValueError(
            f"draw_graph: the graph has {count} {what}, more than {option}={limit}; pass "
            f"collapse=True to draw one node per module, or a larger {option} (e.g. {option}={count}; "
            "layout time grows quickly with size)")


def _resolve_step(root: Tensor, step: Union[Step, int, None], steps: Optional[Sequence[Step]]) -> Optional[Step]:
    if step is None:
        return None
    if isinstance(step, Step):
        return step
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        if steps is None:
            raise ValueError("draw_graph: step is an index, so pass the steps too: "
                             "steps = list(loss.backward_steps()); draw_graph(loss, step=3, steps=steps)")
        if not -len(steps) <= step < len(steps):
            raise ValueError(f"draw_graph: step index {step} is out of range for {len(steps)} steps")
        return steps[step]
    raise TypeError(f"draw_graph: step must be an autograd.Step or an int index, got {type(step).__name__}")


def _step_status(root: Tensor, step: Step) -> Dict[int, str]:
    """'done' / 'current' / 'pending' for each tensor the backward walk visits."""
    walk = list(reversed(topological_order(root))) if root.requires_grad else []
    if not 0 <= step.index < len(walk) or walk[step.index] is not step.tensor:
        raise ValueError(f"draw_graph: step {step.index + 1}/{step.total} ({step.op}) does not belong to "
                         "this graph; take the steps from this root's backward_steps()")
    return {id(t): ("done" if k < step.index else "current" if k == step.index else "pending")
            for k, t in enumerate(walk)}


def _collapse(tensors: List[Tensor], nodes: Dict[int, _Node], root: Tensor, collapse: Union[bool, int],
              kinds: Dict[Tuple[str, ...], str], status: Optional[Dict[int, str]],
              show_saved: bool, param_order: List[int]) -> Tuple[Dict[int, _Node], Dict[int, str]]:
    """Replace the nodes of each module by one node; returns the new nodes and tensor -> group name."""
    depth = None if collapse is True else int(collapse)
    if depth is not None and depth < 1:
        raise ValueError(f"draw_graph: collapse must be True or a depth >= 1, got {collapse}")

    def key(path: Tuple[str, ...]) -> Tuple[str, ...]:
        return path if depth is None else path[:depth]

    op_keys = {key(n.cluster) for n in nodes.values() if n.kind == "op" and n.cluster}
    groups: Dict[Tuple[str, ...], List[Tensor]] = {}
    for t in tensors:
        node = nodes[id(t)]
        if node.kind in ("op", "param") and node.cluster and key(node.cluster) in op_keys:
            groups.setdefault(key(node.cluster), []).append(t)
    consumers: Dict[int, set] = {}
    for t in tensors:
        if t.grad_fn is not None:
            for p in t.grad_fn.parents:
                consumers.setdefault(id(p), set()).add(id(t))

    # a collapsed node takes in the constants only it reads, so it is one node, not several: a
    # module its scalars (batch norm's eps), a function drawn as one node (a loss: no Module of
    # that name) also its arrays (the detached max of log_softmax); a module's input arrays (the
    # image a conv unfolds) stay visible
    member_of = {id(t): path for path, group in groups.items() for t in group}
    for t in tensors:
        if nodes[id(t)].kind in ("input", "const") and not t.requires_grad:
            paths = {member_of.get(c) for c in consumers.get(id(t), ())}
            if len(paths) != 1 or None in paths:
                continue
            path = next(iter(paths))
            if nodes[id(t)].kind == "const" or kinds.get(path) is None:
                groups[path].append(t)

    param_rank = {id(t): k for k, t in enumerate(tensors)}
    param_rank.update({i: -len(param_order) + k for k, i in enumerate(param_order)})
    group_of: Dict[int, str] = {}
    new_nodes = {i: n for i, n in nodes.items()}
    for path, group in groups.items():
        name = "m_" + ".".join(path)
        ids = {id(t) for t in group}
        for t in group:
            group_of[id(t)] = name
            new_nodes.pop(id(t))
        ops = [t for t in group if t.grad_fn is not None]
        outputs = [t for t in ops if t is root or consumers.get(id(t), set()) - ids]
        out = outputs[-1] if outputs else ops[-1]
        kind = kinds.get(path)
        title = ".".join(path) + (f" · {kind}" if kind else "")
        node = _Node(name, "module", title, out.shape, out.dtype, path[:-1], grad=nodes[id(out)].grad)
        node.extra.append(f"{len(ops)} op{'s' if len(ops) != 1 else ''}")
        for t in sorted(group, key=lambda t: param_rank.get(id(t), 0)):
            if t.grad_fn is None and t.requires_grad:  # its parameters (absorbed constants are not listed)
                leaf = nodes[id(t)]
                norm = _grad_norm(leaf.grad)
                node.extra.append(f"{leaf.title.split('.')[-1]} {_shape(t.shape)}"
                                  + ("" if norm is None else f"  ‖g‖ {_num(norm)}"))
        if show_saved:
            kept = _distinct_saved([t.grad_fn for t in ops])
            node.extra.append(f"keeps {_bytes(kept)} for backward")
        if status is not None:
            states = {status.get(id(t)) for t in group}
            node.status = ("current" if "current" in states else "done" if states == {"done"}
                           else "partial" if "done" in states else "pending")
        node.is_root = any(t is root for t in group)
        new_nodes[id(out)] = node  # keyed by its output tensor, which no other node uses now
    return new_nodes, group_of


def _merge_edges(edges: List[Tuple[Tensor, Tensor, Optional[Tensor]]], group_of: Dict[int, str],
                 node_names: Dict[int, str], copies: Dict[Tuple[int, str], str],
                 step: Optional[Step]) -> List[_Edge]:
    """One edge per drawn (source, destination) pair; gradients into the same tensor are summed,
    gradients into different tensors combine as one long vector (root of the sum of squares)."""
    singles: List[Dict[str, Any]] = []
    merged: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for parent, child, grad in edges:
        dst = group_of.get(id(child), node_names[id(child)])
        src = group_of.get(id(parent)) or copies.get((id(parent), dst)) or node_names[id(parent)]
        if src == dst:
            continue
        current = step is not None and child is step.tensor
        if id(parent) not in group_of and id(child) not in group_of:
            # outside collapsed modules every (input, op) pair is its own edge, even x * x (two)
            singles.append({"sums": {} if grad is None else {id(parent): grad},
                            "constant": not parent.requires_grad, "current": current, "src": src, "dst": dst,
                            "backbone": parent.grad_fn is not None})
            continue
        entry = merged.setdefault((src, dst), {"sums": {}, "constant": True, "current": False,
                                               "src": src, "dst": dst, "backbone": False})
        entry["backbone"] |= parent.grad_fn is not None
        entry["constant"] &= not parent.requires_grad
        entry["current"] |= current
        if grad is not None:
            previous = entry["sums"].get(id(parent))
            entry["sums"][id(parent)] = grad if previous is None else Tensor._make(previous.data + grad.data, False)
    result = []
    for entry in singles + list(merged.values()):
        sums = entry["sums"]
        norm = None
        if sums:
            norm = math.sqrt(sum(_grad_norm(g) ** 2 for g in sums.values()))
        value = None
        if len(sums) == 1:
            (only,) = sums.values()
            value = float(only.data.reshape(-1)[0]) if only.data.size == 1 else None
        result.append(_Edge(entry["src"], entry["dst"], norm, entry["constant"], entry["current"],
                            entry["backbone"], value))
    return result


def _zeros_from_zero_factors(edges: List[Tuple[Tensor, Tensor, Optional[Tensor]]]) -> List[Tuple[Tensor, Tensor]]:
    """(input, op) pairs whose gradient is exactly 0 because the other factor of the product is all 0."""
    found = []
    for parent, child, grad in edges:
        ctx = child.grad_fn
        if grad is None or ctx.name not in ("mul", "matmul") or len(ctx.parents) != 2 or np.any(grad.data):
            continue
        other = ctx.parents[1] if ctx.parents[0] is parent else ctx.parents[0]
        if not np.any(other.data):
            found.append((parent, child))
    return found


def _mark_explained_zeros(edges: List[_Edge], nodes: Iterable[_Node], explained: set) -> None:
    """Flag edges in ``explained`` and nodes whose zero gradient came only along such edges."""
    outgoing: Dict[str, List[bool]] = {}
    for edge in edges:
        edge.zero_explained = (edge.src, edge.dst) in explained
        if edge.norm is not None:
            outgoing.setdefault(edge.src, []).append(edge.zero_explained)
    for node in nodes:
        sent = outgoing.get(node.name)
        node.zero_explained = node.norm == 0.0 and bool(sent) and all(sent)


def _colour_informative(edges: List[_Edge], largest: float, values_shown: bool) -> bool:
    """Whether the edge colours say something the labels do not, so the legend is worth its room:
    the edges carry different gradient sizes and the values are not printed on the nodes, or
    some gradient vanishes or explodes (the marks need explaining)."""
    sizes = {float(f"{e.norm:.2g}") for e in edges if e.norm is not None and math.isfinite(e.norm) and e.norm > 0}
    alarming = any(_classify(e.norm, largest, e.zero_explained) in ("vanishing", "zero", "exploding", "nonfinite")
                   for e in edges if not e.constant)
    return alarming or (len(sizes) > 1 and not values_shown)


def _saved_line(ctx: Any) -> str:
    kept = ctx.saved_arrays()
    if not kept:
        return "keeps nothing"
    parts = [f"{name} {_shape(np.shape(a))}" for name, a in kept.items()]
    total = sum(np.asarray(a).nbytes for a in kept.values())
    return "keeps " + ", ".join(parts) + f": {_bytes(total)}"


def _distinct_saved(ctxs: Iterable[Any]) -> int:
    """Bytes kept for backward by these ops, counting an array saved by several ops once."""
    seen: Dict[int, int] = {}
    for ctx in ctxs:
        for array in ctx.saved_arrays().values():
            seen[id(array)] = np.asarray(array).nbytes
    return sum(seen.values())


def _saved_total(tensors: List[Tensor]) -> int:
    return _distinct_saved(t.grad_fn for t in tensors if t.grad_fn is not None)


def _emit_clusters(graph: graphviz.Digraph, members: Dict[Tuple[str, ...], List[_Node]],
                   kinds: Dict[Tuple[str, ...], str], attrs: Any) -> None:
    """Nodes at top level, module nodes inside nested ``cluster_<dotted.path>`` subgraphs."""
    paths = set(members)
    for path in list(paths):
        for k in range(1, len(path)):
            paths.add(path[:k])
    children: Dict[Tuple[str, ...], List[Tuple[str, ...]]] = {}
    for path in sorted(paths):
        if path:
            children.setdefault(path[:-1], []).append(path)

    def emit(g: graphviz.Digraph, path: Tuple[str, ...]) -> None:
        for node in members.get(path, []):
            g.node(node.name, **attrs(node))
        for child in children.get(path, []):
            with g.subgraph(name="cluster_" + ".".join(child)) as sub:
                kind = kinds.get(child)
                label = ".".join(child) + (f" · {kind}" if kind else "")
                depth_shade = ["#f5f9fd", "#eaf2fa", "#dfeaf6"][min(len(child) - 1, 2)]
                sub.attr(label=_esc(label), style="rounded,filled", fillcolor=depth_shade,
                         color="#7d9cc0", fontcolor="#2f4f74", labeljust="l")
                emit(sub, child)

    emit(graph, ())


def _node_attrs(node: _Node, show_data: bool, show_stats: bool, compact: bool, grouped: bool,
                largest: float, root_dtype: Any) -> Dict[str, str]:
    """Shape, fill and HTML label of one node."""
    kind = node.kind
    family = _op_family(node.title) if kind == "op" else kind
    fill = _FILL.get(family, "#ffffff")
    font_colour = "#000000"
    if node.status is not None and kind != "const":
        fill = _STEP_FILL[node.status]
        if node.status == "pending":
            font_colour = "#8a8a8a"
    if kind == "const" and node.status is not None:
        font_colour = "#8a8a8a"
    grad_class = _classify(node.norm, largest, node.zero_explained)
    border = {"vanishing": "#2c5fa8", "zero": "#2c5fa8", "exploding": "#b2182b",
              "nonfinite": NONFINITE_COLOUR}.get(grad_class, "#555555")
    alarming = grad_class in ("vanishing", "zero", "exploding", "nonfinite")
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": border,
             "fontcolor": font_colour, "penwidth": "2" if alarming else "1"}
    if kind == "param":
        attrs["shape"] = "box"
        attrs["style"] = "filled"
    elif kind in ("input", "const"):
        attrs["shape"] = "box"
        attrs["style"] = "filled,dashed" if kind == "const" else "filled"
    elif kind == "module":
        attrs["style"] = "rounded,filled,bold"
    if node.is_root:
        attrs["peripheries"] = "2"
    small = "7" if compact else "9"
    rows = [f"<B>{_esc(node.title)}</B>" if not node.label else f"<B>{_esc(node.label)}</B> = {_esc(node.title)}"]
    sub = _shape(node.shape)
    if np.dtype(node.dtype) != np.dtype(root_dtype):
        sub += f" {np.dtype(node.dtype).name}"
    if kind == "op" and node.module and not grouped and not compact:
        sub += f" · {node.module}"
    rows.append(f'<FONT POINT-SIZE="{small}">{_esc(sub)}</FONT>')
    if show_data and node.data is not None and kind != "module":
        rows.append(f"data {_esc(_values(node.data))}")
    if node.grad is not None:
        if show_data and kind != "module":
            rows.append(f"grad {_esc(_values(node.grad.data))}")
        else:
            rows.append(f"‖g‖ {_esc(_num(node.norm))}")
        if show_stats:
            rows.append(f'<FONT POINT-SIZE="{small}">{_esc(_grad_stats(node.grad))}</FONT>')
    if not compact:
        for line in node.extra:
            rows.append(f'<FONT POINT-SIZE="{small}">{_esc(line)}</FONT>')
    marker = {"vanishing": ("▼ vanishing", "#2c5fa8"), "zero": ("▼ zero gradient", "#2c5fa8"),
              "exploding": ("▲ exploding", "#b2182b"), "nonfinite": ("▲ inf/nan", NONFINITE_COLOUR)}.get(grad_class)
    if marker and kind != "const":
        rows.append(f'<FONT COLOR="{marker[1]}"><B>{marker[0]}</B></FONT>')
    elif grad_class == "zero_input" and kind != "const":
        rows.append(f'<FONT POINT-SIZE="{small}" COLOR="#6b6b6b">0: it met a value of 0</FONT>')
    body = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
    attrs["label"] = f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{body}</TABLE>>'
    return attrs


def _grad_stats(grad: Tensor) -> str:
    data = np.asarray(grad.data, dtype=np.float64)
    if data.size == 0:
        return "empty"
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(data.mean()), float(data.std())
    zeros = float(np.mean(data == 0))
    return f"mean {_num(mean)}  std {_num(std)}  zeros {zeros:.0%}"


def _edge_attrs(edge: _Edge, scale: _Scale, largest: float, compact: bool) -> Dict[str, str]:
    if edge.constant:
        return {"color": CONSTANT_EDGE_COLOUR, "penwidth": "0.8", "style": "dotted", "arrowhead": "none"}
    if edge.norm is None:
        return {"color": NO_GRAD_COLOUR, "penwidth": "0.8"}
    grad_class = _classify(edge.norm, largest, edge.zero_explained)
    if grad_class == "zero_input":  # correct and expected: thin, neutral, labelled with its value
        return {"color": NO_GRAD_COLOUR, "penwidth": str(PENWIDTH_RANGE[0]), "label": "0", "fontcolor": "#6b6b6b"}
    attrs = {"color": scale.colour(edge.norm), "penwidth": str(scale.penwidth(edge.norm))}
    if grad_class in ("vanishing", "zero"):
        attrs["style"] = "dashed"
        attrs["label"] = f"▼ {_num(edge.norm)}"
        attrs["fontcolor"] = "#2c5fa8"
    elif grad_class in ("exploding", "nonfinite"):
        attrs["style"] = "bold"
        attrs["label"] = f"▲ {_num(edge.norm)}"
        attrs["fontcolor"] = "#b2182b"
    elif edge.current:
        attrs["label"] = f"‖g‖ {_num(edge.norm)}" if edge.value is None else f"g {_num(edge.value)}"
    if edge.current:
        attrs["fontcolor"] = attrs.get("fontcolor", "#c0580a")
    return attrs


def _legend_label(scale: _Scale, stepping: bool, compact: bool, saved_total: Optional[int],
                  dtype: Any) -> str:
    small = "7" if compact else "9"
    ticks = scale.ticks()
    head = (f'<TR><TD COLSPAN="{len(ticks)}"><B>‖gradient‖ sent back along each edge</B></TD></TR>')
    bars = "".join(
        f'<TD WIDTH="46" HEIGHT="{max(1, round(scale.penwidth(t)))}" FIXEDSIZE="TRUE" CELLPADDING="0" '
        f'BGCOLOR="{scale.colour(t)}"></TD>' for t in ticks)
    labels = "".join(f'<TD><FONT POINT-SIZE="{small}">{_tick(t)}</FONT></TD>' for t in ticks)
    notes = [
        "thicker and redder = larger (log scale)" + (": this graph's own range" if scale.own_range else ""),
        f"dashed blue ▼ vanishing (&lt; {VANISHING_RELATIVE:g}·max or 0)",
        f"bold red ▲ exploding (&gt; {EXPLODING_ABSOLUTE:g}, inf, nan)",
        "thin grey: no gradient (yet);  dotted: input needs none",
    ]
    if compact:
        notes = ["▼ vanishing  ▲ exploding  grey: none yet"]
    if stepping:
        notes.append('fill: <FONT COLOR="#e07b00"><B>current</B></FONT> · '
                     '<FONT COLOR="#3d8b2f"><B>done</B></FONT> · pending (white)')
    if saved_total is not None:
        notes.append(f"saved for backward in all: {_bytes(saved_total)}")
    if not compact:
        notes.append(f"tensors are {np.dtype(dtype).name} unless marked")
    rows = head + f'<TR>{bars}</TR><TR>{labels}</TR>' + "".join(
        f'<TR><TD COLSPAN="{len(ticks)}" ALIGN="LEFT"><FONT POINT-SIZE="{small}">{n}</FONT></TD></TR>' for n in notes)
    return (f'<<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1" '
            f'BGCOLOR="#ffffff">{rows}</TABLE>>')


# ================================ stepping through backward ======================================

def describe_step(step: Step, params: ParamsLike = None, short: bool = False) -> str:
    """What one backward step did, in words: the op, its rule, the gradient in and out."""
    names = {id(t): n for n, t in _named_params(params, "describe_step")}
    tensor = step.tensor

    def name_of(t: Tensor) -> str:
        if id(t) in names:
            return names[id(t)]
        if t.name:
            return t.name
        return t.grad_fn.name if t.grad_fn is not None else ("input" if t.requires_grad or t.size > 1 else "const")

    where = ""
    if tensor.grad_fn is not None and tensor.grad_fn.module_path:
        where = " in " + ".".join(tensor.grad_fn.module_path)
    head = f"step {step.index + 1}/{step.total}: {name_of(tensor)} {_shape(tensor.shape)}{where}"
    if short:
        return f"{head}  —  {step.rule}  (‖g‖ = {_num(_grad_norm(step.grad))})"
    lines = [head, f"rule: {step.rule}",
             f"arriving gradient g: shape {_shape(step.grad.shape)}, ‖g‖ = {_num(_grad_norm(step.grad))}"]
    if tensor.grad_fn is None:
        total = tensor.grad
        lines.append(f"leaf: .grad is now {_shape(tensor.shape)}, ‖.grad‖ = {_num(_grad_norm(total))}")
        return "\n".join(lines)
    lines.append("sends to:")
    for i, (parent, grad) in enumerate(zip(tensor.grad_fn.parents, step.input_grads)):
        label = f"  input {i} ({name_of(parent)} {_shape(parent.shape)}): "
        if grad is None:
            lines.append(label + ("nothing (needs no gradient)" if not parent.requires_grad else "nothing"))
        else:
            lines.append(label + f"‖·‖ = {_num(_grad_norm(grad))}")
    return "\n".join(lines)


def step_frames(loss: Tensor, params: ParamsLike = None, *, retain_graph: bool = False,
                **draw_kwargs: Any) -> List[graphviz.Digraph]:
    """Run backward one node at a time and draw every step (a list of Digraphs, no widgets needed).

    This runs ``loss.backward_steps(retain_graph=retain_graph)`` to the end, so afterwards the
    leaves hold their ``.grad`` exactly as after ``loss.backward()`` (accumulated, as always: call
    ``zero_grad()`` first when stepping through the same graph again with ``retain_graph=True``).
    """
    steps = list(loss.backward_steps(retain_graph=retain_graph))
    return [draw_graph(loss, params, step=s, **draw_kwargs) for s in steps]


def step_through(loss: Tensor, params: ParamsLike = None, *, retain_graph: bool = False,
                 **draw_kwargs: Any) -> Any:
    """A notebook widget: a slider over the backward steps, the graph at that step, and the step in words.

    Runs ``loss.backward_steps(retain_graph=retain_graph)`` to the end first (the leaves get their
    ``.grad``). Needs ipywidgets (``pip install ipywidgets``); the pictures render as everywhere
    (the system's ``dot``, else the bundled Graphviz).
    """
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        raise ImportError("step_through needs ipywidgets (and IPython): pip install ipywidgets; "
                          "without it, use viz.step_frames(loss) for a list of pictures") from None
    steps = list(loss.backward_steps(retain_graph=retain_graph))
    if not steps:
        raise ValueError("step_through: backward made no steps (does the loss require grad?)")
    slider = widgets.IntSlider(value=0, min=0, max=len(steps) - 1, description="step",
                               continuous_update=False)
    picture = widgets.Output()
    text = widgets.HTML()

    def show(change: Any = None) -> None:
        step = steps[slider.value]
        text.value = f"<pre>{_esc(describe_step(step, params))}</pre>"
        picture.clear_output(wait=True)
        with picture:
            display(draw_graph(loss, params, step=step, **draw_kwargs))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, text, picture])


# ================================ gradient flow per layer ========================================

def plot_grad_flow(model_or_named_params: ParamsLike, ax: Any = None) -> Any:
    """Bars of mean and max |grad| per parameter on a log scale; returns the matplotlib Figure.

    Layers whose bars sink towards the bottom learn slowly (vanishing gradients); a missing bar
    marked 'no grad' means backward never reached that parameter.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_grad_flow needs matplotlib: pip install matplotlib") from None
    named = _named_params(model_or_named_params, "plot_grad_flow")
    if not named:
        raise ValueError("plot_grad_flow: no parameters to plot")
    if ax is None:
        fig = Figure(figsize=(max(6.0, 0.55 * len(named) + 2), 4.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    floor = 1e-12  # log axes cannot show 0: zeros are drawn at this floor and labelled
    names, means, maxes, missing = [], [], [], []
    for i, (name, tensor) in enumerate(named):
        names.append(name)
        if tensor.grad is None:
            means.append(np.nan)
            maxes.append(np.nan)
            missing.append(i)
            continue
        magnitude = np.abs(np.asarray(tensor.grad.data, dtype=np.float64))
        means.append(max(float(magnitude.mean()), floor) if magnitude.size else floor)
        maxes.append(max(float(magnitude.max()), floor) if magnitude.size else floor)
    x = np.arange(len(named))
    ax.bar(x, maxes, width=0.7, color="#9ecae1", label="max |grad|", zorder=2)
    ax.bar(x, means, width=0.4, color="#08519c", label="mean |grad|", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    for i in missing:
        ax.annotate("no grad", (i, 0.02), xycoords=("data", "axes fraction"), ha="center",
                    rotation=90, fontsize=8, color="#b2182b")
    ax.set_ylabel("|gradient| (log scale)")
    ax.set_title("gradient flow per parameter")
    ax.grid(axis="y", which="major", alpha=0.3, zorder=0)
    ax.legend(loc="best", fontsize=8)
    return fig


# ================================ writing files ==================================================

PICTURE_FORMATS = ("svg", "png", "pdf")


def render(digraph: Any, path: Union[str, "os.PathLike[str]"], format: Optional[str] = None) -> str:
    """Write ``digraph`` to ``path`` (svg, png or pdf from the extension, or ``format``); returns the path.

    The picture is drawn by Graphviz's ``dot`` when it is on PATH, otherwise by the Graphviz that
    pip installed (pygraphviz's wheel; see ``graphviz_backend``), under the drawing's time limit, and
    the file appears atomically. A ``.dot``/``.gv`` path writes the DOT text and needs nothing
    else. When no Graphviz can draw the format, the DOT text is written next to ``path`` (same
    name, ``.dot``) and ``GraphvizNotFoundError`` (a RuntimeError) says what to install.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    fmt = (format or extension).lower()
    if fmt not in PICTURE_FORMATS + ("dot", "gv"):
        raise ValueError(f"render: cannot write {path!r}: pictures are .svg, .png or .pdf (or .dot for the "
                         "DOT text); pass one of those paths, or format='svg' / 'png' / 'pdf'")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"render: the folder {directory!r} for {path!r} does not exist")
    source = digraph.source
    if fmt in ("dot", "gv"):
        write_bytes(path, source.encode("utf-8"))
        return path
    size = ""
    if isinstance(digraph, GraphDrawing) and digraph.node_count:
        size = f"{digraph.node_count} nodes, {digraph.edge_count} edges"
    try:
        picture = render_source(source, fmt, timeout=getattr(digraph, "render_timeout", None), size=size)
    except GraphvizNotFoundError as missing:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_bytes(dot_path, source.encode("utf-8"))
        raise GraphvizNotFoundError(
            f"{missing} The graph's DOT source was written to {dot_path!r} (with dot: "
            f"`dot -T{fmt} {dot_path} -o {path}`).") from None
    write_bytes(path, picture)
    return path


from .player import player, save_player  # noqa: E402  (the HTML player, player.py, is built on the drawing above)
__all__ += ["save_player", "player"]
