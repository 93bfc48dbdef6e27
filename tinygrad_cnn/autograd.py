"""The backward pass: the order of the walk, the chain rule, and the switches that steer it.

This is the only place that runs backward. Each op (see ``ops.py``) knows its local derivative;
this file visits the graph from the output down and hands each op the gradient of its output,
collecting the gradients it returns for its inputs (``walk_backward``, one screen).

The order is PyTorch's engine's: a node runs once its gradient is complete (every op that used it
has sent its share), and of the nodes ready to run, the most recently created goes first (each op
node gets a creation sequence number, ``grad_fn.sequence_nr``). A leaf (a parameter, an input)
receives its ``.grad`` as soon as its gradient is complete. So stepping through a network goes
layer by layer from the loss down: the last layer's weight and bias are done before the walk
passes the activation below them, and the first layer's come last (``backward_order``).
"""
from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .ops import Function
    from .tensor import Tensor


class _State:
    """Process-wide switches read by every op; a plain object so the lookup stays cheap."""

    __slots__ = ("grad_enabled", "anomaly", "module_path", "inplace_changes")

    def __init__(self) -> None:
        self.grad_enabled = True   # record ops into the graph?
        self.anomaly = False       # check every result for NaN/Inf and remember where ops were built
        self.module_path: Tuple[str, ...] = ()  # the Module whose forward is running (for viz)
        self.inplace_changes = 0   # in-place changes so far: backward skips the version checks of
                                   # ops built after the last one (the usual case)


state = _State()

# every op node that joins a graph takes the next number: later ops have larger numbers
next_sequence_nr = itertools.count().__next__


class GradModeContext(contextlib.ContextDecorator):
    """Sets whether ops are recorded, restoring the old setting on exit; usable as a decorator."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: List[bool] = []

    def __enter__(self) -> "GradModeContext":
        self._prev.append(state.grad_enabled)
        state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc: Any) -> None:
        state.grad_enabled = self._prev.pop()


def no_grad() -> GradModeContext:
    """Context manager / decorator: ops run without building a graph (inference, optimizer steps)."""
    return GradModeContext(False)


def enable_grad() -> GradModeContext:
    """Context manager / decorator: turn graph recording back on inside a ``no_grad`` block."""
    return GradModeContext(True)


def is_grad_enabled() -> bool:
    """True while ops are being recorded into the graph."""
    return state.grad_enabled


class AnomalyError(FloatingPointError):
    """A forward or backward result held NaN or Inf while anomaly detection was on."""


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every forward and backward result for NaN/Inf, naming the op and where it was built."""
    prev = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = prev


def user_frame() -> str:
    """The innermost stack frame outside this package, as 'file:line in function' (anomaly mode)."""
    import os

    package_dir = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(frame.filename).startswith(package_dir):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def check_finite(array: np.ndarray, what: str, fn: "Function") -> None:
    """Raise AnomalyError if ``array`` holds NaN or Inf (only called in anomaly mode)."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "Inf"
        where = getattr(fn, "created_at", None) or "<unknown>"
        raise AnomalyError(f"{type(fn).__name__.lower()}: {what} produced {bad}; the op was built at {where}")


class GraphReleasedError(RuntimeError):
    """backward ran through a graph whose saved values were already freed by an earlier backward."""


@dataclass
class Step:
    """One node of the backward walk, as ``Tensor.backward_steps()`` yields it.

    ``tensor`` is the node; ``op`` its op name ('leaf' for tensors no op produced); ``rule`` the op's
    derivative rule in words; ``grad`` the gradient arriving at the node (the sum over all its
    consumers); ``input_grads`` what the op sends to each of its inputs (None where an input needs
    no gradient); ``index`` counts from 0 and ``total`` is the number of steps in the walk.
    """

    index: int
    total: int
    tensor: "Tensor"
    op: str
    rule: str
    grad: "Tensor"
    input_grads: Tuple[Optional["Tensor"], ...]

    def __repr__(self) -> str:
        shapes = ", ".join("-" if g is None else str(g.shape) for g in self.input_grads)
        return (f"Step({self.index + 1}/{self.total} {self.op}{tuple(self.tensor.shape)}: "
                f"grad {tuple(self.grad.shape)} -> inputs [{shapes}])")


def consumer_counts(root: "Tensor") -> dict:
    """For every tensor below ``root`` that requires grad: how many inputs of ops take it.

    Iterative depth-first search with an explicit stack, so a chain of 100,000 ops is fine.
    (Tensors key these dicts by identity: ``Tensor.__hash__`` is ``object.__hash__``.)"""
    counts: dict = {}
    stack = [root]
    while stack:
        fn = stack.pop().grad_fn
        if fn is None:
            continue
        for parent in fn.parents:
            if parent.requires_grad:
                if parent in counts:
                    counts[parent] += 1
                else:
                    counts[parent] = 1
                    stack.append(parent)
    return counts


def backward_order(root: "Tensor") -> List["Tensor"]:
    """Every tensor below ``root`` that requires grad, in the order backward visits them.

    Kahn's algorithm with a ready queue, as PyTorch's engine: a node is ready once every op that
    used it has run; of the ready ops the most recently created runs first; a leaf comes right
    after the op that completes its gradient."""
    if root.grad_fn is None:
        return [root]
    waiting = consumer_counts(root)
    order: List["Tensor"] = []
    ready = [(-root.grad_fn.sequence_nr, root)]
    while ready:
        node = heapq.heappop(ready)[1]
        order.append(node)
        for parent in node.grad_fn.parents:
            if parent.requires_grad:
                left = waiting[parent] = waiting[parent] - 1
                if not left:
                    if parent.grad_fn is None:
                        order.append(parent)   # a leaf: its gradient is complete, accumulate it now
                    else:
                        heapq.heappush(ready, (-parent.grad_fn.sequence_nr, parent))
    return order


def topological_order(root: "Tensor") -> List["Tensor"]:
    """Every tensor that ``root`` depends on and that requires grad, inputs before outputs: the
    backward order reversed (so ``reversed(topological_order(root))`` is the walk)."""
    return backward_order(root)[::-1]


def seed_gradient(root: "Tensor", grad: Any) -> "Tensor":
    """The gradient backward starts from: ones for a scalar, else the ``grad`` the caller passed."""
    from .tensor import Tensor

    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, but the output "
                f"has shape {tuple(root.shape)}; pass backward(grad=...) with that shape (e.g. ones)")
        return Tensor._make(np.ones_like(root.data), False)
    grad = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"backward: grad has shape {tuple(grad.shape)} but the output has shape "
                         f"{tuple(root.shape)}; they must match")
    return grad


def run_hooks(tensor: "Tensor", grad: "Tensor") -> "Tensor":
    """Call the tensor's ``register_hook`` hooks in order; a hook returning a tensor replaces grad."""
    for hook in list(tensor._hooks.values()):
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad


def _memory_of(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (itself, or the base it is a view of)."""
    return array if array.base is None else array.base


def walk_backward(root: "Tensor", grad: Any = None, retain_graph: bool = False,
                  create_graph: bool = False, make_steps: bool = False) -> Iterator[Optional[Step]]:
    """The chain rule over the graph below ``root``; yields a ``Step`` per node if ``make_steps``.

    ``Tensor.backward`` exhausts this with ``make_steps=False``; ``Tensor.backward_steps`` yields
    the steps, so the two give bit-identical gradients by construction.
    """
    order = start_walk(root)
    grads = {root: seed_gradient(root, grad)}   # the gradient collected so far, per tensor
    leaves = LeafGradients(grads[root])
    with GradModeContext(create_graph):
        for index, node in enumerate(order):
            g = grads.pop(node, None)
            if g is None:                      # a branch the root's value does not depend on
                continue
            if node._hooks:
                g = run_hooks(node, g)
            fn = node.grad_fn
            if fn is None:                     # a leaf: its gradient is complete
                leaves.accumulate(node, g, create_graph)
                yield Step(index, len(order), node, "leaf", LEAF_RULE, g, ()) if make_steps else None
                continue
            sent = []                          # the op's rule turns g into one gradient per input
            for parent, parent_grad in zip(fn.parents, local_gradients(fn, g, node)):
                if parent_grad is None or not parent.requires_grad:
                    sent.append(None)
                    continue
                if parent_grad.data.shape != parent.data.shape or parent_grad.data.dtype != parent.data.dtype:
                    parent_grad = fn.reduce_to_input(parent_grad, parent)   # undo broadcasting
                sent.append(parent_grad)       # a tensor used by several ops collects the sum:
                grads[parent] = grads[parent] + parent_grad if parent in grads else parent_grad
            input_grads = finish_node(fn, g, sent, retain_graph)
            yield Step(index, len(order), node, fn.name, fn.rule, g, input_grads) if make_steps else None


LEAF_RULE = "leaf: .grad += g"


def start_walk(root: "Tensor") -> List["Tensor"]:
    """The backward order below ``root``, after refusing what cannot be walked."""
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create a leaf with requires_grad=True and compute from it")
    order = backward_order(root)
    for node in order:
        fn = node.grad_fn
        if fn is not None and fn.released:
            raise GraphReleasedError(
                f"backward: trying to backward through the graph a second time (the {fn.name} op's "
                "saved values were freed by the first backward); call backward(retain_graph=True) "
                "the first time if you need to")
    return order


def local_gradients(fn: "Function", g: "Tensor", out: "Tensor") -> Tuple[Optional["Tensor"], ...]:
    """``fn``'s backward: the gradient ``g`` of its output ``out`` turned into one per input.

    Refuses to run if an input it saved was changed in place since forward; in anomaly mode,
    checks each result for NaN/Inf (``checked_local_gradients``)."""
    if fn.inplace_changes_seen != state.inplace_changes:
        fn.check_versions(out)
    if state.anomaly:
        return checked_local_gradients(fn, g, out)
    grads = fn.backward(g, out)
    return grads if type(grads) is tuple else (grads,)


def checked_local_gradients(fn: "Function", g: "Tensor", out: "Tensor") -> Tuple[Optional["Tensor"], ...]:
    """``local_gradients`` in anomaly mode: the op's results are checked for NaN/Inf, not each op
    its formula uses internally."""
    state.anomaly = False
    try:
        grads = fn.backward(g, out)
    finally:
        state.anomaly = True
    grads = grads if type(grads) is tuple else (grads,)
    for grad in grads:
        if grad is not None:
            check_finite(grad.data, "backward", fn)
    return grads


def finish_node(fn: "Function", g: "Tensor", sent: List[Optional["Tensor"]], retain_graph: bool) -> Tuple[Optional["Tensor"], ...]:
    """Remember what flowed through ``fn`` (viz draws ``out_grad`` and ``input_grads``), then free
    its saved values unless the graph is kept for another backward."""
    fn.out_grad = g
    fn.input_grads = input_grads = tuple(sent)
    if not retain_graph:   # fn.release(), without a second call per node
        fn.released = True
        if fn.saved is not None:
            fn.saved = None
    return input_grads


class LeafGradients:
    """Accumulates into leaves' ``.grad``, as PyTorch does, never letting two leaves share memory:
    an in-place change of one gradient (clip_grad_norm_, zero_grad) must never reach another."""

    def __init__(self, seed: "Tensor") -> None:
        self.claimed = {id(_memory_of(seed.data))}   # memory already handed out (or the caller's seed)

    def accumulate(self, leaf: "Tensor", g: "Tensor", create_graph: bool) -> None:
        """``leaf.grad += g`` (or ``= g`` for the first gradient)."""
        from .tensor import Tensor

        if create_graph:   # the gradient stays in the graph, to be differentiated again
            leaf.grad = g if leaf.grad is None else leaf.grad + g
            return
        g = g.detach()
        if leaf.grad is not None:
            leaf.grad = Tensor._make(leaf.grad.data + g.data, False)
            return
        memory = _memory_of(g.data)
        if not g.data.flags.writeable or id(memory) in self.claimed:  # a broadcast view, or shared
            leaf.grad = Tensor._make(g.data.copy(), False)
        else:
            self.claimed.add(id(memory))
            leaf.grad = g


def backward(root: "Tensor", grad: Any = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False) -> None:
    """Run the whole backward pass from ``root`` (see ``Tensor.backward``)."""
    if retain_graph is None:
        retain_graph = create_graph
    # The walk makes many short-lived objects and no reference cycles (refcounting frees them all),
    # so Python's cycle collector would only re-scan the whole graph again and again: pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in walk_backward(root, grad, retain_graph, create_graph, make_steps=False):
            pass
    finally:
        if collecting:
            gc.enable()


def backward_steps(root: "Tensor", grad: Any = None, retain_graph: Optional[bool] = None,
                   create_graph: bool = False) -> Iterator[Step]:
    """Yield one ``Step`` per node in backward order; exhausting it equals ``backward()``."""
    if retain_graph is None:
        retain_graph = create_graph
    return walk_backward(root, grad, retain_graph, create_graph, make_steps=True)  # type: ignore[return-value]


def with_module_path(name: str) -> "contextlib.AbstractContextManager[None]":
    """Ops built inside this block remember ``name`` as their module path (drawn as clusters)."""

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        prev = state.module_path
        state.module_path = prev + (name,)
        try:
            yield
        finally:
            state.module_path = prev

    return scope()

