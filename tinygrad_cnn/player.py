"""The backprop player: one self-contained HTML page that replays ``loss.backward_steps()``.

``save_player(loss, "player.html", params=model)`` writes the page; ``player(loss, model)`` shows
the same page inline in a notebook. The page holds the graph ``draw_graph`` draws (parameter names,
module clusters, edges coloured by the gradient that flowed along them), buttons ``#first``
``#prev`` ``#next`` ``#last``, a slider and the ← / → keys to move through the steps, and beside
the graph each step's op, its derivative rule, the shape and norm of the gradient arriving there,
and — for tensors of at most 16 elements — the values and gradients as numbers. The layout is
computed once: stepping only changes CSS classes (``current``, ``done``), so the picture never
jumps. Everything is inline (no network, no server, no kernel), so the file works offline, from
a course website or attached to an e-mail.

The player leaves the graph as it found it. It walks backward with ``retain_graph=True`` and then
puts back every ``.grad`` and what the ops remembered of an earlier backward, so
``loss.backward()`` afterwards works and gives exactly the gradients it would have given
without the player. (Hooks registered with ``register_hook`` do run during the walk, as in any
backward.) A graph that an earlier ``backward()`` already freed cannot be replayed: build the loss
again, or run that backward with ``retain_graph=True``.
"""
from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .autograd import GraphReleasedError, Step, topological_order
from .errors import TinygradError
from .fileio import write_bytes
from .tensor import Tensor

__all__ = ["save_player", "player", "player_html", "PlayerView", "PlayerError", "model_player", "player_models",
           "MAX_NUMBERS"]

# Tensors with at most this many elements are shown as numbers (values and gradients) beside the graph.
MAX_NUMBERS = 16
DEFAULT_MAX_NODES = 2000

PathLike = Union[str, "os.PathLike[str]"]


class PlayerError(TinygradError, ValueError):
    """A player that cannot be made: a graph too large, or a model without a batch that fits it."""


# ================================ public functions ===============================================

def save_player(root: Tensor, path: PathLike, params: Any = None, title: Optional[str] = None, *,
                max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """Write the player for ``root``'s backward pass to ``path`` (one HTML file); returns the path.

    Args:
        root: a scalar tensor with a graph (usually the loss), before or after a
            ``backward(retain_graph=True)``; the player leaves its graph and every ``.grad`` as they were.
        path: the ``.html`` file to write (atomically); its folder must exist.
        params: a Module (or a mapping / pairs name -> Tensor) naming the parameters, as in ``draw_graph``.
        title: the page's heading (default: "Backprop, step by step").
        max_nodes: refuse a graph with more nodes than this (the player draws every op).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_player: the folder {directory!r} for {path!r} does not exist")
    page = player_html(root, params, title, max_nodes=max_nodes, what="save_player")
    write_bytes(path, page.encode("utf-8"))
    return path


def player(root: Tensor, params: Any = None, title: Optional[str] = None, *, height: Optional[int] = None,
           max_nodes: int = DEFAULT_MAX_NODES) -> "PlayerView":
    """The player for ``root``'s backward pass, displayed inline by Jupyter (see ``save_player``).

    The notebook output is an HTML ``<iframe>`` holding the whole page, so it also plays in viewers
    of saved notebooks that run scripts (nbviewer, VS Code, a trusted JupyterLab notebook) and
    several players in one notebook do not interfere. ``height`` is the frame's height in pixels
    (default: the graph's, between 440 and 720). ``.save(path)`` writes the page as a file.
    """
    page = player_html(root, params, title, max_nodes=max_nodes, what="player")
    if height is None:
        drawn = re.search(r'<svg width="[\d.]+pt" height="([\d.]+)pt"', page)
        graph_px = float(drawn.group(1)) * 4 / 3 if drawn else 720.0  # 1pt = 4/3 px
        height = int(min(max(graph_px + 110, 440), 720))  # 110 px: the heading and the controls
    return PlayerView(page, height)


class PlayerView:
    """A player page that Jupyter shows inline; ``.html`` is the page, ``.save(path)`` writes it."""

    def __init__(self, page: str, height: int = 720) -> None:
        self.html = page
        self.height = int(height)

    def _repr_html_(self) -> str:
        # srcdoc keeps the page's ids, styles and script apart from the notebook's own page;
        # sandbox allows scripts and nothing else (no navigation, no access to the notebook)
        return (f'<iframe class="tinygrad-cnn-player" title="backprop player" sandbox="allow-scripts" '
                f'style="width:100%;height:{self.height}px;border:1px solid #ccc;border-radius:4px" '
                f'srcdoc="{html.escape(self.html, quote=True)}"></iframe>')

    def save(self, path: PathLike) -> str:
        """Write the page to ``path`` (atomically); returns the path."""
        write_bytes(path, self.html.encode("utf-8"))
        return os.fspath(path)

    def __repr__(self) -> str:
        return f"PlayerView({len(self.html):,} characters of HTML; display it in a notebook or .save(path))"


def player_html(root: Tensor, params: Any = None, title: Optional[str] = None, *,
                max_nodes: int = DEFAULT_MAX_NODES, what: str = "player_html") -> str:
    """The player page for ``root``'s backward pass, as one HTML string (see ``save_player``).

    ``what`` is the function name that error messages start with.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"{what}: root must be a Tensor (the loss), got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(f"{what}: this tensor does not require grad, so backward has no steps to "
                         "show; compute it from parameters or inputs created with requires_grad=True")
    if root.size != 1:
        raise ValueError(f"{what}: root must be a single number (the loss) to step through its backward, "
                         f"but it has shape {tuple(root.shape)}; reduce it first, e.g. out.sum()")
    order = topological_order(root)
    _check_replayable(order, what)
    drawn = viz._collect(root)   # the tensors draw_graph draws, counted before anything is drawn
    if len(drawn) > max_nodes:
        raise PlayerError(f"{what}: the graph has {len(drawn)} nodes, more than max_nodes={max_nodes}; the "
                         f"player draws every op (one node per step), so pass max_nodes={len(drawn)} to "
                         "draw it anyway, or step through a smaller model")
    names = {id(t): n for n, t in viz._named_params(params, what)}
    with _graph_left_as_found(order):
        steps = list(root.backward_steps(retain_graph=True))
        # drawn while the walk's gradients are in place: every edge has its final colour, and
        # the page greys out the ones a step has not reached yet
        graph = viz.draw_graph(root, params, group_modules=True, max_nodes=max_nodes)
        node_names = svg_node_names(graph)
        svg = _render_svg(graph, what)
        records = [_step_record(s, names, node_names) for s in steps]
    svg = _prepare_svg(svg)
    return _page(title or "Backprop, step by step", svg, records)


# ================================ the graph, as the page sees it =================================

def svg_node_names(graph: Any) -> Dict[int, str]:
    """id(tensor) -> the DOT name of its node in ``graph`` (the ``<title>`` of its SVG ``<g class="node">``),
    as ``draw_graph`` records it in ``graph.tensor_nodes``."""
    return {i: str(name) for i, name in graph.tensor_nodes.items()}


def _render_svg(graph: Any, what: str) -> str:
    import graphviz

    try:
        svg = graph.pipe(format="svg")
    except graphviz.ExecutableNotFound as err:
        raise viz.GraphvizNotFoundError(f"{what}: Graphviz's `dot` program was not found, so the graph "
                                        f"could not be drawn. To draw pictures, {viz._INSTALL_HINT}.") from err
    return svg.decode("utf-8") if isinstance(svg, bytes) else str(svg)


_NODE_OR_EDGE = re.compile(r'<g id="(?:node|edge)\d+" class="(node|edge)">\s*<title>(.*?)</title>', re.S)
_TEXT = re.compile(r"<text\b([^>]*)>([^<]*)</text>")
# label rows that state a gradient: hidden while the node is still waiting for its gradient
_GRADIENT_ROWS = ("‖g‖", "grad ", "mean ", "▼", "▲")


def _prepare_svg(svg: str) -> str:
    """Graphviz's SVG made fit for the page: no prolog or comments, data attributes, gradient rows marked."""
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG lives inside HTML
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)  # graphviz's comments repeat the names
    def annotate(match: "re.Match[str]") -> str:
        kind, title = match.group(1), html.unescape(match.group(2))
        head = match.group(0)
        if kind == "node":
            extra = f' data-node="{html.escape(title, quote=True)}"'
        else:
            src, _, dst = title.partition("->")
            extra = (f' data-from="{html.escape(src.split(":")[0], quote=True)}"'
                     f' data-to="{html.escape(dst.split(":")[0], quote=True)}"')
        return head.replace(f'class="{kind}"', f'class="{kind}"{extra}', 1)

    svg = _NODE_OR_EDGE.sub(annotate, svg)

    def mark(match: "re.Match[str]") -> str:
        attrs, text = match.group(1), match.group(2)
        if html.unescape(text).startswith(_GRADIENT_ROWS):
            return f'<text class="grad"{attrs}>{text}</text>'
        return match.group(0)

    return _TEXT.sub(mark, svg)


# ================================ the steps ======================================================

@contextlib.contextmanager
def _graph_left_as_found(order: List[Tensor]) -> Iterator[None]:
    """Let a backward walk run, then put back every ``.grad`` and what each op remembered of one."""
    grads = [(t, t.grad) for t in order]
    remembered = [(t.grad_fn, t.grad_fn.out_grad, t.grad_fn.input_grads) for t in order if t.grad_fn is not None]
    for t in order:  # the picture shows this backward's gradients only, not earlier accumulations
        t.grad = None
    try:
        yield
    finally:
        for t, grad in grads:
            t.grad = grad
        for ctx, out_grad, input_grads in remembered:
            ctx.out_grad, ctx.input_grads = out_grad, input_grads


def _check_replayable(order: List[Tensor], what: str) -> None:
    for t in order:
        if t.grad_fn is not None and t.grad_fn.released:
            raise GraphReleasedError(
                f"{what}: the graph below this tensor was freed by an earlier backward() (the "
                f"{t.grad_fn.name} op's saved values are gone), so its steps cannot be replayed; build the "
                "loss again and call the player before backward, or use backward(retain_graph=True)")


def _step_record(step: Step, names: Dict[int, str], node_names: Dict[int, str]) -> Dict[str, Any]:
    """What the page shows for one step: plain strings, formatted here once."""
    tensor = step.tensor
    ctx = tensor.grad_fn
    record: Dict[str, Any] = {
        "node": node_names.get(id(tensor)),
        "op": step.op,
        "rule": step.rule,
        "name": _name_of(tensor, names),
        "shape": _shape(tensor.shape),
        "where": ".".join(ctx.module_path) if ctx is not None and ctx.module_path else "",
        "grad": _gradient(step.grad),
        "value": _numbers(tensor.data),
        "inputs": [],
    }
    if ctx is None:
        record["total"] = _gradient(tensor.grad)
    else:
        for parent, sent in zip(ctx.parents, step.input_grads):
            record["inputs"].append({"name": _name_of(parent, names), "shape": _shape(parent.shape),
                                     "needs": bool(parent.requires_grad), "value": _numbers(parent.data),
                                     "grad": None if sent is None else _gradient(sent)})
    return record


def _name_of(t: Tensor, names: Dict[int, str]) -> str:
    if id(t) in names:
        return names[id(t)]
    if t.name:
        return str(t.name)
    if t.grad_fn is not None:
        return t.grad_fn.name
    return "input" if t.requires_grad or t.size > 1 else "const"


def _gradient(grad: Optional[Tensor]) -> Optional[Dict[str, Any]]:
    if grad is None:
        return None
    data = np.asarray(grad.data)
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.sqrt(np.sum(np.square(data, dtype=np.float64)))) if data.size else 0.0
    return {"shape": _shape(data.shape), "norm": _short(norm), "numbers": _numbers(data)}


def _numbers(data: Any) -> Optional[str]:
    """The values of a small array (at most MAX_NUMBERS), 4 significant digits; None when larger."""
    array = np.asarray(data)
    if array.size > MAX_NUMBERS:
        return None
    if array.dtype.kind in "fc":
        return np.array2string(array.astype(np.float64), separator=", ",
                               formatter={"float_kind": lambda v: f"{v:.4g}"})
    return np.array2string(array, separator=", ")


def _short(x: float) -> str:
    """A norm in 3 significant digits (exponent form when very small or large), as the picture prints it."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _shape(shape: Tuple[int, ...]) -> str:
    return "scalar" if tuple(shape) == () else "(" + ", ".join(str(s) for s in shape) + ")"


# ================================ the page =======================================================

def _page(title: str, svg: str, steps: List[Dict[str, Any]]) -> str:
    fills = viz._STEP_FILL
    data = json.dumps({"steps": steps}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = data.replace("<", "\\u003c")  # nothing inside the JSON can close the <script> element
    style = (_STYLE.replace("{{CURRENT}}", fills["current"]).replace("{{DONE}}", fills["done"])
             .replace("{{PENDING}}", fills["pending"]))
    total = len(steps)
    return (_TEMPLATE.replace("{{STYLE}}", style).replace("{{TITLE}}", html.escape(title))
            .replace("{{N}}", str(total)).replace("{{SVG}}", svg).replace("{{DATA}}", data)
            .replace("{{SCRIPT}}", _SCRIPT))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tinygrad_cnn backprop player">
<title>{{TITLE}}</title>
<style>{{STYLE}}</style>
</head>
<body>
<header>
<h1>{{TITLE}}</h1>
<nav aria-label="steps">
<button id="first" type="button" title="before the first step (Home)">&#xAB; first</button>
<button id="prev" type="button" title="previous step (&#x2190;)">&#x25C0; prev</button>
<input id="slider" type="range" min="0" max="{{N}}" step="1" value="0" aria-label="step">
<button id="next" type="button" title="next step (&#x2192;)">next &#x25B6;</button>
<button id="last" type="button" title="last step (End)">last &#xBB;</button>
<span id="counter" aria-live="polite">0 / {{N}}</span>
<span class="zoom"><button id="zoom-out" type="button" title="smaller">&#x2212;</button><button id="zoom-fit" type="button" title="fit the width">fit</button><button id="zoom-in" type="button" title="larger">+</button></span>
</nav>
</header>
<main>
<div id="graph">{{SVG}}</div>
<aside id="panel">
<p id="where"></p>
<h2>op</h2><p id="op"></p>
<h2>rule</h2><p id="rule"></p>
<h2>gradient arriving here</h2><p id="grad"></p>
<div id="numbers"></div>
<div id="sends"></div>
<p class="key"><span class="swatch current"></span>current <span class="swatch done"></span>done <span class="swatch pending"></span>waiting for its gradient.
Grey edges: no gradient has flowed along them yet; coloured edges carry the gradient that has (colour and width: its size, see the legend).</p>
</aside>
</main>
<script type="application/json" id="player-data">{{DATA}}</script>
<script>{{SCRIPT}}</script>
</body>
</html>
"""

_STYLE = """
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1d;display:flex;flex-direction:column}
header{padding:8px 12px;border-bottom:1px solid #ddd;background:#fafafa}
h1{font-size:17px;margin:0 0 6px}
nav{display:flex;align-items:center;gap:6px;flex-wrap:wrap}
nav button{font:inherit;padding:3px 10px;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer}
nav button:disabled{opacity:.45;cursor:default}
#slider{flex:1;min-width:160px}
#counter{font-variant-numeric:tabular-nums;min-width:6em;text-align:right;font-weight:600}
.zoom button{padding:3px 7px}
main{flex:1;display:flex;min-height:0}
#graph{flex:1;overflow:auto;padding:8px;background:#fff}
#graph svg{display:block;height:auto}
#panel{width:400px;max-width:45%;overflow:auto;padding:10px 14px;border-left:1px solid #ddd;background:#fcfcfc}
#panel h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#777;margin:12px 0 2px}
#panel p{margin:2px 0}
#where{font-weight:600}
#op{font:600 16px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
#rule:empty{display:none}
#rule{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#fff6e8;border-left:3px solid {{CURRENT}};padding:4px 6px}
pre{margin:2px 0 6px;padding:4px 6px;background:#f3f3f3;border-radius:3px;font-size:12px;white-space:pre-wrap}
.input{margin:6px 0;padding-left:8px;border-left:2px solid #ddd}
.muted{color:#888}
.key{margin-top:16px;font-size:12px;color:#555}
.swatch{display:inline-block;width:11px;height:11px;border:1px solid #888;vertical-align:-1px;margin:0 2px 0 6px}
.swatch.current{background:{{CURRENT}}}.swatch.done{background:{{DONE}}}.swatch.pending{background:{{PENDING}}}
g.node.step:not(.done):not(.current)>path:not([fill="none"]),g.node.step:not(.done):not(.current)>polygon:not([fill="none"]){fill:{{PENDING}}}
g.node.step:not(.done):not(.current) text{fill:#8a8a8a}
g.node.step:not(.done):not(.current) text.grad{visibility:hidden}
g.node.done>path:not([fill="none"]),g.node.done>polygon:not([fill="none"]){fill:{{DONE}}}
g.node.current>path:not([fill="none"]),g.node.current>polygon:not([fill="none"]){fill:{{CURRENT}}}
g.node.current>path,g.node.current>polygon{stroke:#c0580a;stroke-width:3px}
g.edge.waiting path,g.edge.waiting polygon{stroke:#d2d2d2;stroke-width:.8px;stroke-dasharray:none}
g.edge.waiting polygon{fill:#d2d2d2}
g.edge.waiting text{visibility:hidden}
g.edge.sending path{filter:drop-shadow(0 0 2px {{CURRENT}})}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var steps = JSON.parse(document.getElementById("player-data").textContent).steps;
  var N = steps.length, k = 0, zoom = null;
  var $ = function (id) { return document.getElementById(id); };
  var slider = $("slider"), pane = $("graph"), svg = pane.querySelector("svg");
  var nodes = {}, stepOf = {};
  pane.querySelectorAll("g.node[data-node]").forEach(function (g) { nodes[g.getAttribute("data-node")] = g; });
  steps.forEach(function (s, i) {
    if (s.node !== null && nodes[s.node]) { stepOf[s.node] = i; nodes[s.node].classList.add("step"); }
  });
  // an edge carries a gradient once the step of the op it feeds has run (constants never do)
  var edges = [];
  pane.querySelectorAll("g.edge[data-to]").forEach(function (g) {
    var from = g.getAttribute("data-from"), to = g.getAttribute("data-to");
    if (from in stepOf && to in stepOf) { edges.push([g, stepOf[to]]); }
  });

  function text(id, value) { $(id).textContent = value; }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (content !== undefined) { e.textContent = content; }
    return e;
  }
  function gradText(g) { return g.shape + ", \u2016g\u2016 = " + g.norm; }

  function panel() {
    var numbers = $("numbers"), sends = $("sends");
    numbers.textContent = ""; sends.textContent = "";
    if (k === 0) {
      text("where", "Before backward: nothing has a gradient yet.");
      text("op", ""); text("rule", "");
      text("grad", "Press next (or \u2192) for step 1: the loss's own gradient, 1.");
      return;
    }
    var s = steps[k - 1];
    text("where", "step " + k + " of " + N + ": " + s.name + " " + s.shape + (s.where ? " in " + s.where : ""));
    text("op", s.op);
    text("rule", s.rule);
    text("grad", gradText(s.grad));
    if (s.value !== null) { numbers.appendChild(el("h2", null, "value")); numbers.appendChild(el("pre", null, s.value)); }
    if (s.grad.numbers !== null) { numbers.appendChild(el("h2", null, "g")); numbers.appendChild(el("pre", null, s.grad.numbers)); }
    if (s.total !== undefined) {
      sends.appendChild(el("h2", null, "a leaf"));
      sends.appendChild(el("p", null, s.total ? ".grad is now " + gradText(s.total) : ".grad is empty"));
      return;
    }
    sends.appendChild(el("h2", null, "sends to its inputs"));
    s.inputs.forEach(function (input, i) {
      var box = el("div", "input");
      box.appendChild(el("p", null, "input " + i + ": " + input.name + " " + input.shape));
      if (input.grad === null) {
        box.appendChild(el("p", "muted", input.needs ? "no gradient" : "nothing (it needs no gradient)"));
      } else {
        box.appendChild(el("p", null, gradText(input.grad)));
      }
      if (input.value !== null) { box.appendChild(el("pre", null, "value " + input.value)); }
      if (input.grad !== null && input.grad.numbers !== null) { box.appendChild(el("pre", null, "grad  " + input.grad.numbers)); }
      sends.appendChild(box);
    });
  }

  function reveal(g) {
    var r = g.getBoundingClientRect(), p = pane.getBoundingClientRect();
    if (r.top < p.top || r.bottom > p.bottom) { pane.scrollTop += r.top - p.top - (p.height - r.height) / 2; }
    if (r.left < p.left || r.right > p.right) { pane.scrollLeft += r.left - p.left - (p.width - r.width) / 2; }
  }

  function show(target) {
    k = Math.max(0, Math.min(N, target | 0));
    var cur = k - 1;
    slider.value = String(k);
    text("counter", k + " / " + N);
    Object.keys(stepOf).forEach(function (name) {
      var i = stepOf[name], cl = nodes[name].classList;
      cl.toggle("done", i < cur);
      cl.toggle("current", i === cur);
    });
    edges.forEach(function (e) {
      e[0].classList.toggle("waiting", e[1] > cur);
      e[0].classList.toggle("sending", e[1] === cur);
    });
    $("first").disabled = $("prev").disabled = k === 0;
    $("next").disabled = $("last").disabled = k === N;
    panel();
    if (cur >= 0 && steps[cur].node !== null && nodes[steps[cur].node]) { reveal(nodes[steps[cur].node]); }
  }

  function setZoom(z) {
    if (!svg) { return; }
    zoom = z;
    var natural = svg.viewBox && svg.viewBox.baseVal ? svg.viewBox.baseVal.width * 4 / 3 : svg.getBBox().width;
    if (z === null) { svg.style.width = ""; svg.style.maxWidth = "100%"; }
    else { svg.style.maxWidth = "none"; svg.style.width = Math.round(natural * z) + "px"; }
  }
  function currentZoom() {
    var natural = svg.viewBox.baseVal.width * 4 / 3;
    return zoom === null ? svg.getBoundingClientRect().width / natural : zoom;
  }

  $("first").addEventListener("click", function () { show(0); });
  $("prev").addEventListener("click", function () { show(k - 1); });
  $("next").addEventListener("click", function () { show(k + 1); });
  $("last").addEventListener("click", function () { show(N); });
  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
  $("zoom-in").addEventListener("click", function () { setZoom(currentZoom() * 1.25); });
  $("zoom-out").addEventListener("click", function () { setZoom(currentZoom() / 1.25); });
  $("zoom-fit").addEventListener("click", function () { setZoom(null); });
  document.addEventListener("keydown", function (e) {
    if (e.target === slider || e.altKey || e.ctrlKey || e.metaKey) { return; }  // the slider moves itself
    var to = {ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: N}[e.key];
    if (to !== undefined) { e.preventDefault(); show(to); }
  });
  setZoom(null);
  show(0);
})();
"""


# ================================ ready-made models (the command line) ===========================

def player_models() -> List[str]:
    """The model names ``python -m tinygrad_cnn player --model`` accepts: every registered model and 'keras'."""
    from . import models, train

    return list(dict.fromkeys(list(models.MODELS) + list(train.MODELS) + ["keras"]))


def model_player(name: str, path: PathLike, seed: int = 0) -> str:
    """Forward one batch through the ready-made model ``name`` and write its player to ``path``.

    Creates the folder. The batch is the one ``python -m tinygrad_cnn graph`` draws.
    """
    from . import functional as F

    model, images, labels = _model_and_batch(name, seed)
    loss = F.cross_entropy(model(Tensor(images)), labels)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return save_player(loss, path, params=model,
                       title=f"{name}: backprop, step by step (one batch of {len(images)})")


def _model_and_batch(name: str, seed: int) -> Tuple[Any, np.ndarray, np.ndarray]:
    from . import gallery

    if name not in player_models():
        raise PlayerError(f"player: unknown model {name!r}; choose one of {', '.join(player_models())}")
    try:
        return gallery.model_and_batch(name, seed)
    except ValueError:  # a model registered after the gallery learnt its batch: find a size that fits
        pass
    return _probe_batch(name, seed)


def _probe_batch(name: str, seed: int) -> Tuple[Any, np.ndarray, np.ndarray]:
    """A registered model with a random batch of the first image size it accepts."""
    from . import train
    from .autograd import no_grad
    from .models import build_model

    try:
        model = build_model(name, generator=np.random.default_rng(seed))
    except TypeError:  # a factory that draws its own weights
        model = build_model(name)
    channels = next((m.in_channels for m in model.modules() if hasattr(m, "in_channels")), 1)
    classes = [m.out_features for m in model.modules() if hasattr(m, "out_features")]
    size = tuple(getattr(train, "MODEL_IMAGE_SIZE", {}).get(name) or ())
    sizes = [size[-2:]] if len(size) >= 2 else [(8, 8), (28, 28), (32, 32), (64, 64)]
    rng = np.random.default_rng(seed)
    for height, width in sizes:
        images = rng.random((4, channels, height, width), dtype=np.float32)
        try:
            with no_grad():
                model(Tensor(images[:2]))
        except (TinygradError, ValueError):
            continue
        return model, images, rng.integers(0, classes[-1] if classes else 10, len(images))
    raise PlayerError(f"player: model {name!r} accepts none of the {channels}-channel image sizes {sizes}")


# viz imports this module (viz.save_player, viz.player), so viz comes last, as ops does in tensor.py
from . import viz  # noqa: E402
