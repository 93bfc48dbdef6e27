"""The backward pass: topological sort, the chain-rule walk, and the switches that steer it.

This is the only place that runs backward. Each op (see ``ops.py``) knows its local derivative;
this file visits the graph in reverse topological order and hands each op the gradient of its
output, collecting the gradients it returns for its inputs.
"""
from __future__ import annotations

import contextlib
import gc
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


def topological_order(root: "Tensor") -> List["Tensor"]:
    """Every tensor that ``root`` depends on and that requires grad, inputs before outputs.

    Iterative depth-first search with an explicit stack, so a chain of 100,000 ops is fine.
    """
    order: List["Tensor"] = []
    visited = set()
    stack: List[Tuple["Tensor", bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for parent in ctx.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _seed_gradient(root: "Tensor", grad: Any) -> "Tensor":
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


def _run_hooks(tensor: "Tensor", grad: "Tensor") -> "Tensor":
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
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "create a leaf with requires_grad=True and compute from it")
    seed = _seed_gradient(root, grad)
    order = topological_order(root)
    for node in order:
        ctx = node._ctx
        if ctx is not None and ctx.released:
            raise GraphReleasedError(
                f"backward: trying to backward through the graph a second time (the {ctx.name} op's "
                "saved values were freed by the first backward); call backward(retain_graph=True) "
                "the first time if you need to")
    total = len(order)
    grads = {id(root): seed}
    # memory already handed out as a leaf's .grad (or the caller's seed): a second leaf gets a copy,
    # so an in-place change of one gradient (clip_grad_norm_, zero_grad) never reaches another
    claimed = {id(_memory_of(seed.data))}
    with GradModeContext(create_graph):
        for index, node in enumerate(reversed(order)):
            g = grads.pop(id(node), None)
            if g is None:  # a branch that the root's value does not depend on
                continue
            if node._hooks:
                g = _run_hooks(node, g)
            ctx = node._ctx
            if ctx is None:  # a leaf: accumulate into .grad, as PyTorch does
                if not create_graph:
                    g = g.detach()
                if node.grad is None:
                    memory = _memory_of(g.data)
                    if create_graph:
                        node.grad = g
                    elif not g.data.flags.writeable or id(memory) in claimed:  # a broadcast view, or shared
                        node.grad = Tensor._make(g.data.copy(), False)
                    else:
                        claimed.add(id(memory))
                        node.grad = g
                else:
                    node.grad = node.grad + g if create_graph else Tensor._make(node.grad.data + g.data, False)
                if make_steps:
                    yield Step(index, total, node, "leaf", "leaf: .grad += g", g, ())
                else:
                    yield None
                continue
            if ctx.inplace_changes_seen != state.inplace_changes:
                ctx.check_versions(node)
            if state.anomaly:  # check the op's results below, not each op its formula uses
                state.anomaly = False
                try:
                    input_grads = ctx.backward(g, node)
                finally:
                    state.anomaly = True
            else:
                input_grads = ctx.backward(g, node)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            sent = []
            for parent, gi in zip(ctx.parents, input_grads):
                if gi is None or not parent.requires_grad:
                    sent.append(None)
                    continue
                if gi.data.shape != parent.data.shape or gi.data.dtype != parent.data.dtype:
                    gi = ctx.reduce_to_input(gi, parent)
                if state.anomaly:
                    check_finite(gi.data, "backward", ctx)
                sent.append(gi)
                key = id(parent)
                previous = grads.get(key)
                grads[key] = gi if previous is None else previous + gi
            ctx.out_grad = g
            ctx.input_grads = input_grads = tuple(sent)
            if not retain_graph:
                ctx.release()
            if make_steps:
                yield Step(index, total, node, ctx.name, ctx.rule, g, input_grads)
            else:
                yield None


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

