"""Write (and execute) the teaching notebooks in this folder from the cell lists below.

Every notebook is a list of markdown and code cells kept here, in one place, so the lessons can be
reviewed as plain Python and cannot drift from the committed ``.ipynb`` files (the test suite
regenerates the cell sources and compares them with the committed notebooks).

    python notebooks/build_notebooks.py                 # write and execute every notebook
    python notebooks/build_notebooks.py 03 04           # only the notebooks whose names contain 03 or 04
    python notebooks/build_notebooks.py --no-execute    # write the cells without outputs

Executing runs each notebook top to bottom in a fresh ``python3`` kernel (nbclient) with the
notebook folder as working directory, and stores the outputs so the notebooks read well on
GitHub. Files are written atomically (a temporary file beside the target, then ``os.replace``).
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import tempfile
import textwrap
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import nbformat

NOTEBOOK_DIR = os.path.dirname(os.path.abspath(__file__))
CELL_TIMEOUT_S = 300

Cell = Tuple[str, str]  # ("markdown" | "code", source)


def md(text: str) -> Cell:
    """A markdown cell (indentation common to all lines removed)."""
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    """A code cell (indentation common to all lines removed)."""
    return ("code", textwrap.dedent(text).strip("\n"))


SETUP = code("""
    %matplotlib inline
    import numpy as np
    import matplotlib.pyplot as plt

    from tinygrad_cnn import Tensor, manual_seed
    np.set_printoptions(precision=4, suppress=True)
    manual_seed(0)  # every random draw below is repeatable
""")

# ================================ 01: the chain rule on scalars =================================

AUTOGRAD_BASICS: List[Cell] = [
    md("""
        # 1. Autograd basics: the chain rule, one node at a time

        Backpropagation is the chain rule applied to a graph of small operations. Every `Tensor`
        made by an op remembers the op and its inputs; `loss.backward()` walks that graph from
        the loss back to the inputs, and each op turns *the gradient of its output* into
        *gradients of its inputs* using its own small derivative rule.

        This notebook builds a tiny expression of scalars (the classic one from Andrej Karpathy's
        micrograd), draws its graph, and steps through backward node by node, checking every
        local derivative with finite differences.
    """),
    SETUP,
    md("""
        ## An expression and its graph

        $e = a \\cdot b$, $d = e + c$, $L = d \\cdot f$. We use float64 so that the finite
        differences further down are accurate.
    """),
    code("""
        from tinygrad_cnn.viz import draw_graph

        def leaf(value, name):
            t = Tensor(value, requires_grad=True, dtype=np.float64)
            t.name = name  # draw_graph labels leaves by name
            return t

        a, b, c, f = leaf(2.0, "a"), leaf(-3.0, "b"), leaf(10.0, "c"), leaf(-2.0, "f")
        e = a * b
        d = e + c
        L = d * f
        e.name, d.name, L.name = "e", "d", "L"  # names for the printouts below
        print("L =", L.item())
        draw_graph(L, rankdir="LR")
    """),
    md("""
        Each box is an op (`mul`, `add`) or a leaf (`a`, `b`, ...). No gradient exists yet, so
        every edge is grey. Check the forward value by hand: $(2 \\cdot (-3) + 10) \\cdot (-2) = -8$.
    """),
    code("""
        assert L.item() == (2.0 * -3.0 + 10.0) * -2.0 == -8.0
    """),
    md("""
        ## Backward, one step at a time

        `L.backward_steps()` is `L.backward()` cut into steps: one per node, in PyTorch's order
        (the loss first; a node once every op that used it has sent its share, the most recent
        first; a leaf as soon as its gradient is complete). Each step shows

        * the op and its derivative **rule**,
        * the gradient **arriving** at the node: $\\partial L / \\partial(\\text{node})$,
        * the gradients it **sends** to each input: arriving gradient × local derivative.
    """),
    code("""
        steps = list(L.backward_steps())
        for step in steps:
            name = step.tensor.name
            sent = ", ".join("-" if g is None else f"{g.item():+.1f}" for g in step.input_grads)
            print(f"{step.index + 1}/{step.total}  {name:4s} op={step.op:4s} arriving={step.grad.item():+.1f}  "
                  f"sends=[{sent}]   rule: {step.rule}")
    """),
    md("""
        Read the steps with the chain rule in mind:

        * $L = d \\cdot f$: the mul sends $\\partial L/\\partial d = f = -2$ and $\\partial L/\\partial f = d = 4$.
        * $d = e + c$: addition **routes** the arriving gradient unchanged to both inputs: $-2$ each.
        * $e = a \\cdot b$: the mul sends $-2 \\cdot b = 6$ to $a$ and $-2 \\cdot a = -4$ to $b$.

        The same walk drawn: after backward every edge carries the gradient that flowed along it
        (colour and thickness encode its size; the label is its value).
    """),
    code("""
        print({t.name: t.grad.item() for t in (a, b, c, f)})
        assert (a.grad.item(), b.grad.item(), c.grad.item(), f.grad.item()) == (6.0, -4.0, -2.0, 4.0)
        draw_graph(L, rankdir="LR")
    """),
    md("""
        A single step can be drawn too: the node being processed is orange, the nodes already
        done are green, and those still waiting for their gradient are white. Here is the step
        that processes $e = a \\cdot b$:
    """),
    code("""
        from tinygrad_cnn.viz import describe_step

        mul_e = next(s for s in steps if s.tensor is e)
        print(describe_step(mul_e))
        draw_graph(L, step=mul_e, rankdir="LR")
    """),
    md("""
        In a live notebook, `tinygrad_cnn.viz.step_through(L)` puts all the steps behind a slider
        (it needs `ipywidgets`), and `viz.step_frames(L)` returns the list of pictures, one per
        step, for saving or for an animation:

        ```python
        from tinygrad_cnn.viz import step_through
        step_through(L)          # a fresh L: it runs backward itself, one step per slider position
        ```
    """),
    md("""
        ## Checking every local derivative with finite differences

        Each op only needs its **local** derivative: how its output moves when one input moves.
        Nudge one input by $\\pm h$ and watch the output:
        $\\dfrac{\\partial\\,\\text{out}}{\\partial\\,\\text{in}} \\approx \\dfrac{\\text{op}(\\text{in}+h) - \\text{op}(\\text{in}-h)}{2h}$.
        The chain rule says the gradient a step sends to an input is *arriving gradient × local
        derivative*; we check that for every step.
    """),
    code("""
        local_ops = {"e": lambda a, b: a * b, "d": lambda e, c: e + c, "L": lambda d, f: d * f}
        values = {t.name: t.item() for t in (a, b, c, f, e, d)}
        h = 1e-6

        for step in steps:
            if step.op == "leaf":
                continue
            node = step.tensor
            op = local_ops[node.name]
            inputs = [p.name for p in node.grad_fn.parents]  # the tensors the op read
            for i, (name, sent) in enumerate(zip(inputs, step.input_grads)):
                up = [values[n] + (h if k == i else 0.0) for k, n in enumerate(inputs)]
                down = [values[n] - (h if k == i else 0.0) for k, n in enumerate(inputs)]
                local = (op(*up) - op(*down)) / (2 * h)
                expected = step.grad.item() * local
                print(f"d{node.name}/d{name} = {local:+.4f}   "
                      f"sent {sent.item():+.4f} = {step.grad.item():+.1f} x {local:+.4f}")
                assert np.isclose(sent.item(), expected, atol=1e-6)
    """),
    md("""
        And the end-to-end check: nudging a leaf changes $L$ by exactly its `.grad` (to first
        order). `tinygrad_cnn.gradcheck` does this for whole tensors.
    """),
    code("""
        def L_of(a, b, c, f):
            return (a * b + c) * f

        base = dict(a=2.0, b=-3.0, c=10.0, f=-2.0)
        for t in (a, b, c, f):
            up, down = dict(base), dict(base)
            up[t.name] += h
            down[t.name] -= h
            numeric = (L_of(**up) - L_of(**down)) / (2 * h)
            print(f"dL/d{t.name}: autograd {t.grad.item():+.4f}   finite differences {numeric:+.4f}")
            assert np.isclose(t.grad.item(), numeric, atol=1e-6)
    """),
    md("""
        ## A neuron: the same walk through a non-linearity

        $o = \\tanh(w_1 x_1 + w_2 x_2 + b)$. The `tanh` step's rule is
        $\\partial o/\\partial n = 1 - o^2$.
    """),
    code("""
        x1, x2, w1, w2 = leaf(2.0, "x1"), leaf(0.0, "x2"), leaf(-3.0, "w1"), leaf(1.0, "w2")
        bias = leaf(6.8813735870195432, "b")
        n = x1 * w1 + x2 * w2 + bias
        o = n.tanh()
        o.backward()
        print("o =", round(o.item(), 4), " do/dn =", round(1 - o.item() ** 2, 4))
        print({t.name: round(t.grad.item(), 4) for t in (x1, x2, w1, w2, bias)})
        assert np.isclose(bias.grad.item(), 1 - o.item() ** 2)        # tanh' routed through the adds
        assert np.isclose(w1.grad.item(), (1 - o.item() ** 2) * x1.item())
        draw_graph(o, rankdir="LR")
    """),
    md("""
        ## The accumulation pitfall: `b = a + a`

        When a tensor feeds **several** ops (or the same op twice), its gradient is the **sum**
        of what each use sends back: $b = a + a = 2a$, so $\\partial b/\\partial a = 2$. An engine
        that *overwrote* the gradient instead of adding would report 1. Watch the steps: the `add`
        sends 1 to each of its two inputs, and the leaf step receives their sum.
    """),
    code("""
        a = leaf(3.0, "a")
        b = a + a
        for step in b.backward_steps(retain_graph=True):
            print(step.op, "arriving", step.grad.item(), "sends", [g.item() for g in step.input_grads])
        print("a.grad =", a.grad.item())
        assert a.grad.item() == 2.0
        draw_graph(b, rankdir="LR")
    """),
    md("""
        The same rule has a second face: **`.grad` accumulates across backward calls too**.
        Calling backward again adds another 2 — which is why training loops call `zero_grad()`
        before each backward.
    """),
    code("""
        b.backward(retain_graph=True)
        print("after a second backward: a.grad =", a.grad.item())
        assert a.grad.item() == 4.0
        a.zero_grad()
        b.backward()
        print("after zero_grad + backward: a.grad =", a.grad.item())
        assert a.grad.item() == 2.0
    """),
    md("""
        A slightly bigger case of the same thing: $y = a \\cdot b + a$ uses `a` twice through
        different ops, so $\\partial y/\\partial a = b + 1$.
    """),
    code("""
        a, b = leaf(3.0, "a"), leaf(-2.0, "b")
        y = a * b + a
        y.backward()
        print("dy/da =", a.grad.item(), "= b + 1 =", b.item() + 1)
        assert a.grad.item() == b.item() + 1
    """),
    md("""
        **Takeaways.** Backward visits nodes from the loss to the leaves; each op multiplies the
        arriving gradient by its local derivative; gradients that meet at a tensor are added.
        Next: using these gradients to descend a loss surface (`02_gradient_descent.ipynb`).
    """),
]

# ================================ 02: gradient descent and optimizers ===========================

GRADIENT_DESCENT: List[Cell] = [
    md("""
        # 2. Gradient descent and its refinements

        Training moves the parameters against the gradient: $w \\leftarrow w - \\eta\\,\\nabla L(w)$.
        This notebook does that by hand with our `Tensor`, then compares the optimizers in
        `tinygrad_cnn.optim` — momentum, Adagrad, RMSprop and Adam — on the Rosenbrock function,
        a curved, narrow valley with its minimum at $(1, 1)$:
        $f(x, y) = (1 - x)^2 + 100\\,(y - x^2)^2$.
    """),
    SETUP,
    code("""
        from tinygrad_cnn import no_grad, optim

        def rosenbrock(x, y):
            return (1 - x) ** 2 + 100 * (y - x * x) ** 2

        START = (-1.5, 2.0)
        xs, ys = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
        surface = rosenbrock(xs, ys)  # plain numpy: the same formula works on arrays

        def draw_surface(ax):
            ax.contour(xs, ys, np.log10(surface + 1e-3), levels=18, cmap="Greys", linewidths=0.6)
            ax.plot(1, 1, "k*", markersize=14, label="minimum (1, 1)")
            ax.plot(*START, "ko", label="start")
            ax.set_xlabel("x"); ax.set_ylabel("y")

        print(f"f(-1.5, 2) = {rosenbrock(*START)},  f(1, 1) = {rosenbrock(1, 1)}")
        assert rosenbrock(1, 1) == 0 and surface.min() >= 0
    """),
    md("""
        ## Plain gradient descent, by hand

        One parameter tensor `p = (x, y)`. Each step: forward, `backward()`, then update the data
        under `no_grad()` (the update itself must not become part of the graph), then clear the
        gradient so the next backward does not add to it.
    """),
    code("""
        p = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
        lr = 1e-3
        for step in range(3):
            loss = rosenbrock(p[0], p[1])
            loss.backward()
            print(f"step {step}: loss {loss.item():8.3f}  grad {p.grad.numpy()}  p {p.numpy()}")
            with no_grad():
                p.sub_(p.grad, alpha=lr)       # w := w - lr * dL/dw
            p.zero_grad()
    """),
    md("""
        Check the gradient the engine computed against the derivative by hand:
        $\\partial f/\\partial x = -2(1-x) - 400\\,x\\,(y - x^2)$, $\\partial f/\\partial y = 200\\,(y - x^2)$.
    """),
    code("""
        q = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
        rosenbrock(q[0], q[1]).backward()
        x, y = START
        by_hand = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        print("autograd", q.grad.numpy(), " by hand", by_hand)
        assert np.allclose(q.grad.numpy(), by_hand)
    """),
    md("""
        ## Five optimizers on the same valley

        The same loop with an optimizer object: `opt.zero_grad(); loss.backward(); opt.step()`.
        Each optimizer gets a learning rate that suits it (Adam's and Adagrad's steps are scaled
        per coordinate, so their learning rate is a step *length*, not a multiplier of the
        gradient).

        * **SGD**: $w \\leftarrow w - \\eta g$.
        * **Momentum**: $v \\leftarrow \\mu v + g$, $w \\leftarrow w - \\eta v$ — a heavy ball that
          keeps rolling along the valley floor.
        * **Adagrad**: divides by $\\sqrt{\\sum g^2}$ — big early gradients shrink every later step.
        * **RMSprop**: divides by a running RMS of $g$ instead, so steps do not die out.
        * **Adam**: momentum on $g$ plus RMSprop's scaling, with bias correction.
    """),
    code("""
        def descend(make_optimizer, steps=1000):
            p = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
            opt = make_optimizer([p])
            path = [p.numpy().copy()]
            for _ in range(steps):
                opt.zero_grad()
                rosenbrock(p[0], p[1]).backward()
                opt.step()
                path.append(p.numpy().copy())
            return np.array(path)

        optimizers = {
            "SGD (lr 1e-3)": lambda ps: optim.SGD(ps, lr=1e-3),
            "momentum 0.9 (lr 1e-3)": lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9),
            "Adagrad (lr 0.5)": lambda ps: optim.Adagrad(ps, lr=0.5),
            "RMSprop (lr 3e-3)": lambda ps: optim.RMSprop(ps, lr=3e-3),
            "Adam (lr 0.1)": lambda ps: optim.Adam(ps, lr=0.1),
        }
        paths = {name: descend(make) for name, make in optimizers.items()}
        for name, path in paths.items():
            print(f"{name:24s} ends at {path[-1]}   distance to (1, 1): {np.linalg.norm(path[-1] - 1):.4f}")
    """),
    code("""
        fig, ax = plt.subplots(figsize=(7, 6))
        draw_surface(ax)
        for name, path in paths.items():
            wide = name.startswith("SGD")  # drawn first and wide, so the others do not hide it
            line, = ax.plot(path[:, 0], path[:, 1], "-", linewidth=4 if wide else 1.5, alpha=0.5 if wide else 1,
                            label=name)
            ax.plot(*path[-1], "o", color=line.get_color(), markersize=8, markeredgecolor="k")  # where it ended
        ax.set_xlim(-2, 2); ax.set_ylim(-1, 3)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("1000 steps from (-1.5, 2)")
        plt.show()
    """),
    md("""
        Plain SGD crawls: the valley walls are steep (the curvature across the valley,
        $\\partial^2 f/\\partial y^2 = 200$, is hundreds of times that along its floor), so a learning
        rate small enough not to bounce between the walls makes tiny steps along the floor.
        Momentum accumulates speed along the floor; Adam rescales each coordinate. Both reach the
        minimum; plain SGD does not in the same number of steps. Adagrad's very first step has
        length `lr` in every coordinate (the gradient divided by its own size — the green jump),
        after which its accumulated sum only grows and its steps die out along the floor;
        RMSprop, which forgets old gradients, keeps moving but with this small rate has not
        arrived yet. The dots mark where each one stopped.
    """),
    code("""
        distance = {name: np.linalg.norm(path[-1] - 1) for name, path in paths.items()}
        assert distance["Adam (lr 0.1)"] < 0.05 < distance["SGD (lr 1e-3)"]
        assert distance["momentum 0.9 (lr 1e-3)"] < distance["SGD (lr 1e-3)"]
        assert all(np.isfinite(path).all() for path in paths.values())
    """),
    code("""
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, path in paths.items():
            ax.semilogy([rosenbrock(*w) + 1e-12 for w in path], label=name)
        ax.set_xlabel("step"); ax.set_ylabel("loss (log scale)"); ax.legend(fontsize=8)
        plt.show()
    """),
    md("""
        ## The learning rate: too small, good, too large

        On a simple elongated bowl $f(x, y) = x^2 + 10 y^2$ plain gradient descent multiplies $y$
        by $(1 - 20\\eta)$ every step. With $\\eta < 0.1$ that factor is smaller than 1 in size and
        $y$ shrinks; with $\\eta > 0.1$ it is below $-1$: every step overshoots further and the
        iterates **diverge**.
    """),
    code("""
        def bowl(x, y):
            return x ** 2 + 10 * y ** 2

        def descend_bowl(lr, steps=30):
            p = Tensor(np.array([-4.0, 1.5]), requires_grad=True, dtype=np.float64)
            path = [p.numpy().copy()]
            for _ in range(steps):
                bowl(p[0], p[1]).backward()
                with no_grad():
                    p.sub_(p.grad, alpha=lr)
                p.zero_grad()
                path.append(p.numpy().copy())
            return np.array(path)

        rates = {"too small (0.005)": 0.005, "good (0.05)": 0.05, "too large (0.105)": 0.105}
        bowl_paths = {name: descend_bowl(lr) for name, lr in rates.items()}
        bx, by = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-4, 4, 200))
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
        for ax, (name, path) in zip(axes, bowl_paths.items()):
            ax.contour(bx, by, bowl(bx, by), levels=15, cmap="Greys", linewidths=0.6)
            ax.plot(path[:, 0], path[:, 1], "o-", markersize=3, color="tab:red")
            ax.set_xlim(-5, 5); ax.set_ylim(-4, 4)
            ax.set_title(f"{name}: loss {bowl(*path[-1]):.3g}")
        plt.show()
    """),
    code("""
        final_loss = {name: bowl(*path[-1]) for name, path in bowl_paths.items()}
        start_loss = bowl(-4.0, 1.5)
        print({name: f"{value:.3g}" for name, value in final_loss.items()}, " start:", start_loss)
        assert final_loss["good (0.05)"] < 1e-2 * start_loss          # converges
        assert final_loss["too small (0.005)"] > 10 * final_loss["good (0.05)"]  # still far away
        assert final_loss["too large (0.105)"] > start_loss               # diverges: worse than the start
    """),
    md("""
        **Takeaways.** The gradient gives a direction; the learning rate and the optimizer decide
        how far to go. Too large a rate diverges, too small wastes steps, and adaptive methods
        (Adam, RMSprop) or momentum cope with valleys that defeat plain SGD.
    """),
]

# ================================ 03: matrix gradients ==========================================

MATRIX_GRADIENTS: List[Cell] = [
    md("""
        # 3. Gradients of a fully connected layer

        A fully connected layer computes $y = W x + b$ for one sample, or in batch form
        $Y = X W^\\top + b$ with $X$ of shape (N, in), $W$ of shape (out, in), $b$ of shape (out,).
        Given the gradient of the loss with respect to the output, $G = \\partial L/\\partial Y$
        (shape (N, out)), the chain rule gives

        | gradient | formula | shape |
        | --- | --- | --- |
        | $\\partial L/\\partial W$ | $G^\\top X$ | (out, in) |
        | $\\partial L/\\partial b$ | $\\sum_n G_n$ (sum over the batch) | (out,) |
        | $\\partial L/\\partial X$ | $G\\,W$ | (N, in) |

        One way to remember them: each formula is the only product of the available matrices
        with the right shape. Below we derive them element by element, compute them in numpy and
        check them against autograd.
    """),
    SETUP,
    code("""
        import tinygrad_cnn.functional as F
        from tinygrad_cnn.viz import draw_graph

        rng = np.random.default_rng(0)
        N, n_in, n_out = 4, 3, 2
        X = Tensor(rng.standard_normal((N, n_in)), dtype=np.float64, requires_grad=True)
        W = Tensor(rng.standard_normal((n_out, n_in)), dtype=np.float64, requires_grad=True)
        b = Tensor(rng.standard_normal(n_out), dtype=np.float64, requires_grad=True)
        X.name, W.name, b.name = "X", "W", "b"

        Y = X @ W.T + b
        # a loss whose gradient with respect to Y is a known matrix G: L = sum(G * Y)
        G = rng.standard_normal((N, n_out))
        L = (Y * Tensor(G, dtype=np.float64)).sum()
        L.backward()
        print("Y shape", Y.shape, " L =", round(L.item(), 4))
    """),
    md("""
        ## The graph

        The layer is three primitives: a transpose (a movement op), a matrix product and a
        broadcasting add. The add's backward **sums the gradient over the batch axis** to get
        back to $b$'s shape — that is where $\\sum_n G_n$ comes from.
    """),
    code("""
        draw_graph(L, params={"W": W, "b": b})
    """),
    md("""
        ## Deriving $\\partial L/\\partial W$ element by element

        $Y_{nj} = \\sum_i X_{ni} W_{ji} + b_j$, so $\\partial Y_{nj}/\\partial W_{ji} = X_{ni}$ and

        $$\\frac{\\partial L}{\\partial W_{ji}} = \\sum_n \\frac{\\partial L}{\\partial Y_{nj}} X_{ni} = \\sum_n G_{nj} X_{ni} = (G^\\top X)_{ji}.$$

        First with explicit loops (the definition), then as one matrix product:
    """),
    code("""
        Xn, Wn = X.numpy(), W.numpy()
        dW_loops = np.zeros_like(Wn)
        for j in range(n_out):
            for i in range(n_in):
                dW_loops[j, i] = sum(G[n, j] * Xn[n, i] for n in range(N))
        dW = G.T @ Xn
        print(dW)
        assert np.allclose(dW_loops, dW)
        assert np.allclose(dW, W.grad.numpy())
    """),
    md("""
        ## $\\partial L/\\partial b$ and $\\partial L/\\partial X$

        $\\partial Y_{nj}/\\partial b_j = 1$ for every sample $n$: the bias is shared by the whole
        batch, so its gradient is the **sum** over the batch.
        $\\partial Y_{nj}/\\partial X_{ni} = W_{ji}$, so
        $\\partial L/\\partial X_{ni} = \\sum_j G_{nj} W_{ji} = (G W)_{ni}$.
    """),
    code("""
        db = G.sum(axis=0)
        dX = G @ Wn
        print("db", db)
        print("dX\\n", dX)
        assert np.allclose(db, b.grad.numpy())
        assert np.allclose(dX, X.grad.numpy())
    """),
    md("""
        ## One sample: the outer product

        For a single column vector $x$, $y = W x + b$ and $g = \\partial L/\\partial y$:
        $\\partial L/\\partial W = g\\,x^\\top$ — an **outer product**: every weight $W_{ji}$
        gets (gradient at output $j$) × (input $i$). The batch formula $G^\\top X$ is the sum of
        these outer products over the samples.
    """),
    code("""
        outer_sum = sum(np.outer(G[n], Xn[n]) for n in range(N))
        assert np.allclose(outer_sum, W.grad.numpy())

        x1 = Tensor(Xn[0], dtype=np.float64)
        W1 = Tensor(Wn, dtype=np.float64, requires_grad=True)
        b1 = Tensor(b.numpy(), dtype=np.float64, requires_grad=True)
        y1 = W1 @ x1 + b1
        (y1 * Tensor(G[0], dtype=np.float64)).sum().backward()
        print("g x^T =\\n", np.outer(G[0], Xn[0]))
        assert np.allclose(W1.grad.numpy(), np.outer(G[0], Xn[0]))
        assert np.allclose(b1.grad.numpy(), G[0])
    """),
    md("""
        ## The same with `F.linear` and `nn.Linear`

        The library's layer is exactly this expression (`F.linear(x, W, b) = x @ W.T + b`), so it
        gets exactly these gradients.
    """),
    code("""
        from tinygrad_cnn import nn

        layer = nn.Linear(n_in, n_out, dtype=np.float64)
        X2 = Tensor(Xn, dtype=np.float64, requires_grad=True)
        out = layer(X2)
        out.backward(Tensor(G, dtype=np.float64))   # backward from Y with dL/dY = G
        assert np.allclose(layer.weight.grad.numpy(), G.T @ Xn)
        assert np.allclose(layer.bias.grad.numpy(), G.sum(axis=0))
        assert np.allclose(X2.grad.numpy(), G @ layer.weight.numpy())
        print("nn.Linear gradients match G^T X, sum(G), G W")
    """),
    md("""
        ## A two-layer network, by hand

        Stack two layers with a ReLU between them and a mean-squared-error loss. The backward pass
        is the three formulas applied layer by layer, from the loss back — plus the ReLU, which
        passes the gradient where its input was positive and blocks it elsewhere.
    """),
    code("""
        H = 5
        X3 = rng.standard_normal((N, n_in))
        T = rng.standard_normal((N, n_out))
        W1n, b1n = rng.standard_normal((H, n_in)), rng.standard_normal(H)
        W2n, b2n = rng.standard_normal((n_out, H)), rng.standard_normal(n_out)

        # forward in numpy, keeping what backward needs
        Z1 = X3 @ W1n.T + b1n
        A1 = np.maximum(Z1, 0)
        Y3 = A1 @ W2n.T + b2n
        loss = ((Y3 - T) ** 2).mean()
        # backward by hand
        gY = 2 * (Y3 - T) / Y3.size
        gW2, gb2, gA1 = gY.T @ A1, gY.sum(0), gY @ W2n
        gZ1 = gA1 * (Z1 > 0)
        gW1, gb1 = gZ1.T @ X3, gZ1.sum(0)

        # the same with autograd
        params = {k: Tensor(v, dtype=np.float64, requires_grad=True)
                  for k, v in dict(W1=W1n, b1=b1n, W2=W2n, b2=b2n).items()}
        out = F.linear(F.linear(Tensor(X3, dtype=np.float64), params["W1"], params["b1"]).relu(),
                       params["W2"], params["b2"])
        auto_loss = F.mse_loss(out, Tensor(T, dtype=np.float64))
        auto_loss.backward()
        assert np.isclose(auto_loss.item(), loss)
        for name, by_hand in dict(W1=gW1, b1=gb1, W2=gW2, b2=gb2).items():
            assert np.allclose(params[name].grad.numpy(), by_hand), name
        print("every gradient of the two-layer network matches the hand derivation")
        draw_graph(auto_loss, params=params)
    """),
    md("""
        **Takeaways.** $\\partial L/\\partial W = G^\\top X$ (outer products summed over the
        batch), $\\partial L/\\partial b = \\sum_n G_n$, $\\partial L/\\partial X = G W$ — the last
        one is what flows on to the previous layer. Next: the same ideas for a convolution, where
        one small kernel is reused at every position (`04_conv_backprop.ipynb`).
    """),
]

# ================================ 04: convolution backward ======================================

CONV_BACKPROP: List[Cell] = [
    md("""
        # 4. Backpropagation through a convolution

        A convolution slides one small kernel over the image. In `tinygrad_cnn` it is not a
        primitive with a hand-written backward: `F.conv2d` is **pad → window view → matrix
        product**, and its gradients come out of those three ops' backward rules. This notebook
        looks at what those gradients are:

        * the **weight gradient** is a sum over every position the kernel visited (weight sharing);
        * the **input gradient** is a *full* convolution of the output gradient with the
          **flipped** kernel;
        * padding and stride change how many times each pixel is used, which shows in the
          gradient maps.
    """),
    SETUP,
    code("""
        import tinygrad_cnn.functional as F
        from tinygrad_cnn.viz import draw_graph

        rng = np.random.default_rng(0)

        def t64(array, requires_grad=False):
            return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)
    """),
    md("""
        ## The graph of `F.conv2d`

        One image (1 channel, 5×5), one 3×3 kernel, padding 1. The graph shows the primitives:
        `pad`, the `windows` view (every 3×3 patch), a `permute`/`reshape` into a patch matrix
        ("im2col"), the `matmul` with the kernel, the `reshape`/`permute` back to (N, C, H, W), and
        the bias `add` — the same steps for every image size and batch size.
    """),
    code("""
        x = t64(rng.standard_normal((1, 1, 5, 5)), requires_grad=True)
        w = t64(rng.standard_normal((1, 1, 3, 3)), requires_grad=True)
        bias = t64(rng.standard_normal(1), requires_grad=True)
        x.name = "x"
        out = F.conv2d(x, w, bias, padding=1)
        G = t64(rng.standard_normal(out.shape))
        G.name = "G"  # L = sum(out * G), so dL/dout = G
        loss = (out * G).sum()
        loss.backward()
        draw_graph(loss, params={"weight": w, "bias": bias})
    """),
    md("""
        ## Convolution from the window view

        `x.windows((3, 3))` turns (N, C, H, W) into (N, C, OH, OW, 3, 3): for every output
        position, the 3×3 patch it sees (a strided view, no copy). Multiplying by the kernel and
        summing the last two axes *is* the convolution (a cross-correlation, like PyTorch's).
    """),
    code("""
        x0 = t64(rng.standard_normal((1, 1, 6, 6)), requires_grad=True)
        k0 = t64(rng.standard_normal((3, 3)), requires_grad=True)
        patches = x0.windows((3, 3))
        print("window view:", patches.shape)
        by_windows = (patches * k0).sum(axis=(-2, -1))
        by_conv = F.conv2d(x0, k0.reshape(1, 1, 3, 3))
        assert np.allclose(by_windows.numpy(), by_conv.numpy())
        print("windows * kernel, summed == F.conv2d:", by_conv.shape)
    """),
    md("""
        ## The weight gradient: a sum over every position (weight sharing)

        With output gradient $G = \\partial L/\\partial\\,\\text{out}$ (shape OH×OW), output
        $\\text{out}_{pq} = \\sum_{ij} x_{p+i,\\,q+j}\\, w_{ij}$, so

        $$\\frac{\\partial L}{\\partial w_{ij}} = \\sum_{p,q} G_{pq}\\; x_{p+i,\\,q+j}.$$

        The same weight is used at every position $(p, q)$, so its gradient collects a
        contribution from each: the kernel's gradient is the input **correlated with the output
        gradient**. Here with explicit loops:
    """),
    code("""
        H = W_ = 6
        k = 3
        xi = rng.standard_normal((H, W_))
        wk = rng.standard_normal((k, k))
        x = t64(xi[None, None], requires_grad=True)
        w = t64(wk[None, None], requires_grad=True)
        out = F.conv2d(x, w)
        G = rng.standard_normal(out.shape[2:])
        (out * t64(G[None, None])).sum().backward()

        OH, OW = G.shape
        dw = np.zeros((k, k))
        for p in range(OH):               # every position the kernel visited ...
            for q in range(OW):
                dw += G[p, q] * xi[p:p + k, q:q + k]   # ... adds (its output gradient) x (the patch it saw)
        print("by hand:\\n", dw)
        assert np.allclose(dw, w.grad.numpy()[0, 0])
    """),
    md("""
        ## The input gradient: a full convolution with the flipped kernel

        Each input pixel $x_{rs}$ was used by every output position whose window covered it, with
        weight $w_{r-p,\\,s-q}$:
        $\\partial L/\\partial x_{rs} = \\sum_{p,q} G_{pq}\\, w_{r-p,\\,s-q}$.
        Re-indexing shows this is a **full** correlation of $G$ (zero-padded by $k-1$ on every
        side, so it grows back to the input size) with the kernel **rotated by 180°**.
    """),
    code("""
        def correlate_valid(image, kernel):
            kh, kw = kernel.shape
            oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
            return np.array([[np.sum(image[r:r + kh, s:s + kw] * kernel) for s in range(ow)] for r in range(oh)])

        G_padded = np.pad(G, k - 1)             # (OH + 2(k-1)) x (OW + 2(k-1)) = 8 x 8
        flipped = wk[::-1, ::-1]                # rotate the kernel by 180 degrees
        dx = correlate_valid(G_padded, flipped)
        print("input gradient shape", dx.shape, "== input shape", xi.shape)
        assert np.allclose(dx, x.grad.numpy()[0, 0])
    """),
    code("""
        fig, axes = plt.subplots(1, 4, figsize=(13, 3))
        for ax, (title, image) in zip(axes, [("kernel w", wk), ("flipped kernel", flipped),
                                             ("output gradient G", G), ("input gradient dL/dx", dx)]):
            im = ax.imshow(image, cmap="RdBu_r", vmin=-np.abs(image).max(), vmax=np.abs(image).max())
            ax.set_title(title); ax.set_xticks([]); ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046)
        plt.show()
    """),
    md("""
        In the library this happens inside the `windows` op's backward: it adds the gradient of
        every patch back onto the pixels that patch covered (`FoldWindows`). Overlapping patches
        add up — exactly the sum above.

        ## Edges, padding and stride

        To see *how many* gradient contributions each pixel receives, use an all-ones kernel and
        $L = \\sum \\text{out}$: then $\\partial L/\\partial x_{rs}$ counts the windows that
        covered pixel $(r, s)$.
    """),
    code("""
        def coverage(size=8, kernel=3, stride=1, padding=0):
            x = t64(np.ones((1, 1, size, size)), requires_grad=True)
            F.conv2d(x, t64(np.ones((1, 1, kernel, kernel))), stride=stride, padding=padding).sum().backward()
            return x.grad.numpy()[0, 0]

        cases = {"3x3, no padding": dict(kernel=3), "3x3, padding 1": dict(kernel=3, padding=1),
                 "3x3, stride 2": dict(kernel=3, stride=2), "2x2, stride 3": dict(kernel=2, stride=3)}
        maps = {name: coverage(**kw) for name, kw in cases.items()}
        fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
        for ax, (name, counts) in zip(axes, maps.items()):
            ax.imshow(counts, cmap="viridis", vmin=0, vmax=9)
            for (r, s), v in np.ndenumerate(counts):
                ax.text(s, r, int(v), ha="center", va="center", color="w" if v < 5 else "k", fontsize=8)
            ax.set_title(name); ax.set_xticks([]); ax.set_yticks([])
        plt.show()
    """),
    md("""
        * **No padding**: a corner pixel is seen by one window, the centre by nine — the edges of
          the image learn from (and pass back) far less gradient.
        * **Padding 1**: the border pixels are now covered by 4 (corners) or 6 windows; the
          padding zeros also receive gradient, which `pad`'s backward simply drops.
        * **Stride 2**: windows overlap unevenly, so the gradient map is a checkerboard of counts;
          the last row and column are never visited (8 − 3 is odd) and get **no gradient at all**.
        * **2×2 kernel, stride 3**: windows do not even touch — whole rows and columns are gaps.
    """),
    code("""
        m = maps["3x3, no padding"]
        assert m[0, 0] == 1 and m[0, 1] == 2 and m[4, 4] == 9
        m = maps["3x3, padding 1"]
        assert m[0, 0] == 4 and m[0, 3] == 6 and m[3, 3] == 9
        m = maps["3x3, stride 2"]
        assert (m[-1, :] == 0).all() and (m[:, -1] == 0).all() and m[2, 2] == 4
        m = maps["2x2, stride 3"]
        assert (m[2, :] == 0).all() and (m[:, 5] == 0).all() and m.max() == 1
    """),
    md("""
        ## A complete convolution backward in numpy

        Now the general case: a batch, several input and output channels, stride and padding. The
        backward below loops over output positions; at each one the patch of the (padded) input
        and the output gradient there give one contribution to $\\partial L/\\partial W$
        and one to $\\partial L/\\partial x$ — the loops of the last two sections, with channels.
    """),
    code("""
        def conv2d_backward_numpy(x, w, grad_out, stride=1, padding=0):
            \"\"\"dL/dx, dL/dw, dL/db of out = conv2d(x, w, b, stride, padding) given dL/dout.\"\"\"
            n, c, h, width = x.shape
            o, _, kh, kw = w.shape
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            dxp = np.zeros_like(xp)
            dw = np.zeros_like(w)
            _, _, oh, ow = grad_out.shape
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    patch = xp[:, :, rows, cols]                 # (N, C, kh, kw)
                    g = grad_out[:, :, i, j]                     # (N, O)
                    dw += np.einsum("no,nckl->ockl", g, patch)   # weight sharing: sum over positions
                    dxp[:, :, rows, cols] += np.einsum("no,ockl->nckl", g, w)  # scatter back
            dx = dxp[:, :, padding:padding + h, padding:padding + width]  # drop the padding's gradient
            db = grad_out.sum(axis=(0, 2, 3))
            return dx, dw, db

        xn = rng.standard_normal((2, 3, 7, 7))
        wn = rng.standard_normal((4, 3, 3, 3))
        bn = rng.standard_normal(4)
        x, w, b = t64(xn, True), t64(wn, True), t64(bn, True)
        out = F.conv2d(x, w, b, stride=2, padding=1)
        grad_out = rng.standard_normal(out.shape)
        out.backward(t64(grad_out))

        dx, dw, db = conv2d_backward_numpy(xn, wn, grad_out, stride=2, padding=1)
        assert np.allclose(dx, x.grad.numpy()) and np.allclose(dw, w.grad.numpy()) and np.allclose(db, b.grad.numpy())
        print("hand-written numpy backward == autograd  (out", out.shape, ")")
    """),
    md("""
        ## And against PyTorch

        PyTorch is not a dependency of `tinygrad_cnn`; if it is installed, this cell compares the
        forward and all three gradients with `torch.nn.functional.conv2d`.
    """),
    code("""
        try:
            import torch
        except ImportError:
            torch = None
            print("PyTorch is not installed: skipping the comparison (pip install torch to run it)")

        if torch is not None:
            xt = torch.tensor(xn, requires_grad=True)
            wt = torch.tensor(wn, requires_grad=True)
            bt = torch.tensor(bn, requires_grad=True)
            out_t = torch.nn.functional.conv2d(xt, wt, bt, stride=2, padding=1)
            out_t.backward(torch.tensor(grad_out))
            assert np.allclose(out_t.detach().numpy(), out.numpy())
            for name, ours, theirs in [("x", dx, xt), ("weight", dw, wt), ("bias", db, bt)]:
                assert np.allclose(ours, theirs.grad.numpy()), name
            print(f"PyTorch {torch.__version__}: forward and the gradients of x, weight and bias match")
    """),
    md("""
        **Takeaways.** A convolution's weight gradient sums (output gradient × input patch) over
        every position — weight sharing; its input gradient spreads each output gradient back
        over the patch it came from, which is a full convolution with the flipped kernel; padding
        and stride decide which pixels get how much of it. Next: training a whole CNN
        (`05_train_a_cnn.ipynb`).
    """),
]

# ================================ 05: training a CNN ============================================

TRAIN_A_CNN: List[Cell] = [
    md("""
        # 5. Training a CNN on handwritten digits

        The bundled dataset has 1,797 images of 8×8 handwritten digits. We train the small CNN
        from `tinygrad_cnn.models` on it, plot the learning curves, look at how the gradient
        flows through the layers, and then use two small experiments to look at two classic
        problems: vanishing gradients, and overfitting with its cures (weight decay, dropout).
    """),
    SETUP,
    code("""
        from tqdm.auto import tqdm

        from tinygrad_cnn import nn, no_grad, optim
        import tinygrad_cnn.functional as F
        from tinygrad_cnn.data import DataLoader, load_digits, train_test_split
        from tinygrad_cnn.models import digits_cnn
        from tinygrad_cnn.viz import draw_graph, plot_grad_flow

        images, labels = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(images, labels, test_fraction=0.2, seed=0)
        print("train", x_train.shape, " test", x_test.shape)
        fig, axes = plt.subplots(1, 10, figsize=(12, 1.6))
        for ax, image, label in zip(axes, x_train, y_train):
            ax.imshow(image[0], cmap="gray_r"); ax.set_title(str(label)); ax.axis("off")
        plt.show()
    """),
    md("""
        ## The model

        Two blocks of conv 3×3 → batch norm → ReLU → max pool 2, then two linear layers
        (16 and 32 channels here, half the default, to keep this notebook quick).
    """),
    code("""
        manual_seed(0)
        model = digits_cnn(channels=(16, 32))  # half the default width: trains in seconds on any CPU
        print(model)
        print("parameters:", sum(p.size for p in model.parameters()))
    """),
    md("""
        ## The training loop

        Every step: forward, loss, `zero_grad`, `backward`, `step`. Evaluation runs in `eval()`
        mode (batch norm uses its running statistics) under `no_grad()`.
    """),
    code("""
        def accuracy(model, x, y):
            model.eval()
            with no_grad():
                predictions = model(Tensor(x)).numpy().argmax(axis=1)
            model.train()
            return float((predictions == y).mean())

        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        loader = DataLoader(x_train, y_train, batch_size=32, shuffle=True, seed=0)
        EPOCHS = 3
        history = {"loss": [], "train_acc": [], "test_acc": []}
        model.train()
        for epoch in range(EPOCHS):
            for xb, yb in tqdm(loader, desc=f"epoch {epoch + 1}/{EPOCHS}", mininterval=1.0):
                loss = F.cross_entropy(model(Tensor(xb)), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                history["loss"].append(loss.item())
            history["train_acc"].append(accuracy(model, x_train, y_train))
            history["test_acc"].append(accuracy(model, x_test, y_test))
            print(f"epoch {epoch + 1}: train accuracy {history['train_acc'][-1]:.3f}, "
                  f"test accuracy {history['test_acc'][-1]:.3f}")
    """),
    code("""
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
        steps_per_epoch = len(loader)
        left.plot(history["loss"], alpha=0.4, label="per batch")
        smooth = np.convolve(history["loss"], np.ones(10) / 10, mode="valid")
        left.plot(np.arange(9, 9 + len(smooth)), smooth, label="moving average (10)")
        left.set_yscale("log"); left.set_xlabel("step"); left.set_ylabel("cross-entropy"); left.legend()
        epochs = np.arange(1, EPOCHS + 1)
        right.plot(epochs, history["train_acc"], "o-", label="train")
        right.plot(epochs, history["test_acc"], "o-", label="test")
        right.set_xlabel("epoch"); right.set_ylabel("accuracy"); right.set_xticks(epochs); right.legend()
        plt.show()
        assert history["test_acc"][-1] > 0.9
    """),
    md("""
        ## How the gradient flows through the layers

        One more backward on a batch, then two pictures: the mean and max |gradient| of every
        parameter (`plot_grad_flow`), and the whole graph with each module collapsed into one
        node, its edges coloured by the size of the gradient that flowed along them.
    """),
    code("""
        xb, yb = x_train[:64], y_train[:64]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        loss.backward()
        plot_grad_flow(model)
    """),
    md("""
        Every layer gets a gradient of a healthy size — except the two **conv biases**, whose
        gradients are millions of times smaller than their weights'. That is no bug: batch
        norm subtracts the batch mean right after the convolution, so adding a constant bias
        changes nothing downstream and its true gradient is exactly zero (what is left is float32
        rounding). This is why a convolution followed by batch norm is usually built with
        `bias=False`.
    """),
    code("""
        named = dict(model.named_parameters())
        norm = {name: float(np.linalg.norm(p.grad.numpy())) for name, p in named.items()}
        print({name: f"{value:.1e}" for name, value in norm.items()})
        assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())
        assert norm["conv1.bias"] < 1e-4 * norm["conv1.weight"] and norm["conv2.bias"] < 1e-4 * norm["conv2.weight"]
        assert min(v for name, v in norm.items() if not name.startswith("conv") or name.endswith("weight")) > 1e-4
    """),
    code("""
        draw_graph(loss, params=model, collapse=True)
    """),
    md("""
        ## Vanishing gradients: sigmoid vs ReLU

        Backward multiplies the gradient by every layer's local derivative. The sigmoid's
        derivative is at most 1/4, so through ten sigmoid layers the gradient shrinks by a factor
        of roughly $(1/4 \\cdot \\|W\\|)^{10}$ before it reaches the first layer, which then hardly
        learns. ReLU's derivative is 1 wherever the unit is active.

        Two identical ten-layer MLPs (64 units wide, same initialisation), one with sigmoid and
        one with ReLU; one backward on the same batch; the gradient norm of each layer's weight:
    """),
    code("""
        def deep_mlp(activation, depth=10, width=64):
            layers, features = [nn.Flatten()], 64
            for _ in range(depth):
                layers += [nn.Linear(features, width), activation()]
                features = width
            layers.append(nn.Linear(features, 10))
            return nn.Sequential(*layers)

        grad_norms = {}
        for activation in (nn.Sigmoid, nn.ReLU):
            manual_seed(0)
            net = deep_mlp(activation)
            F.cross_entropy(net(Tensor(x_train[:256])), y_train[:256]).backward()
            grad_norms[activation.__name__] = [float(np.linalg.norm(p.grad.numpy()))
                                               for name, p in net.named_parameters() if name.endswith("weight")]

        fig, ax = plt.subplots(figsize=(7, 3.5))
        for name, norms in grad_norms.items():
            ax.semilogy(np.arange(1, len(norms) + 1), norms, "o-", label=name)
        ax.set_xlabel("layer (1 = next to the input)"); ax.set_ylabel("‖dL/dW‖ (log scale)")
        ax.set_title("gradient norm per layer, one backward pass"); ax.legend()
        plt.show()
        for name, norms in grad_norms.items():
            print(f"{name:8s} first layer {norms[0]:.1e}   last layer {norms[-1]:.1e}")
    """),
    code("""
        sigmoid, relu = grad_norms["Sigmoid"], grad_norms["ReLU"]
        assert sigmoid[0] < 1e-3 * relu[0]          # orders of magnitude smaller at the first layer
        assert sigmoid[0] < 1e-4 * sigmoid[-1]      # and it shrinks layer after layer
    """),
    md("""
        ## Overfitting, weight decay and dropout

        With only 100 training images a 64→128→10 network memorises them perfectly, and the gap
        to the test accuracy is the overfitting. Two classic regularisers:

        * **L2 weight decay** adds $\\frac{\\lambda}{2}\\|w\\|^2$ to the loss, i.e. $\\lambda w$ to each
          gradient (`optim.Adam(..., weight_decay=λ)`): it keeps the weights small.
        * **Dropout** zeroes a random half of the hidden units at every training step (and
          rescales the rest), so the network cannot rely on any single unit; it is off in `eval()`.
    """),
    code("""
        x_small, y_small = x_train[:100], y_train[:100]

        def fit_small(weight_decay=0.0, dropout=0.0, steps=150):
            manual_seed(0)
            layers = [nn.Flatten(), nn.Linear(64, 128), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            net = nn.Sequential(*layers, nn.Linear(128, 10))
            opt = optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
            net.train()
            for _ in range(steps):
                loss = F.cross_entropy(net(Tensor(x_small)), y_small)
                opt.zero_grad(); loss.backward(); opt.step()
            weight_norm = float(np.sqrt(sum((p.numpy().astype(np.float64) ** 2).sum()
                                            for name, p in net.named_parameters() if name.endswith("weight"))))
            return dict(train=accuracy(net, x_small, y_small), test=accuracy(net, x_test, y_test),
                        weight_norm=weight_norm, net=net)

        runs = {"plain": fit_small(), "weight decay 3e-3": fit_small(weight_decay=3e-3),
                "dropout 0.5": fit_small(dropout=0.5)}
        for name, r in runs.items():
            print(f"{name:18s} train {r['train']:.3f}  test {r['test']:.3f}  gap {r['train'] - r['test']:.3f}"
                  f"  ‖W‖ {r['weight_norm']:.1f}")
    """),
    code("""
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
        names = list(runs)
        positions = np.arange(len(names))
        left.bar(positions - 0.2, [runs[n]["train"] for n in names], 0.4, label="train")
        left.bar(positions + 0.2, [runs[n]["test"] for n in names], 0.4, label="test")
        left.set_xticks(positions, names); left.set_ylim(0.5, 1.02); left.set_ylabel("accuracy"); left.legend()
        right.bar(positions, [runs[n]["weight_norm"] for n in names], 0.5, color="tab:gray")
        right.set_xticks(positions, names); right.set_ylabel("‖W‖ (all weight matrices)")
        plt.show()
    """),
    md("""
        Weight decay roughly halves the size of the weights; on this small problem both
        regularisers narrow the train/test gap only a little (the exact numbers move with the
        random seed), which is typical: they help most when the model is much larger than the
        data. The robust, repeatable effect is on the weights themselves:
    """),
    code("""
        assert runs["weight decay 3e-3"]["weight_norm"] < 0.8 * runs["plain"]["weight_norm"]
        assert runs["plain"]["train"] == 1.0                     # 100 images memorised: overfitting
        assert runs["plain"]["train"] - runs["plain"]["test"] > 0.05
    """),
    md("""
        **Takeaways.** A training loop is forward, loss, `zero_grad`, `backward`, `step`. Looking
        at per-layer gradient sizes shows whether every layer is learning (sigmoid stacks starve
        their first layers); weight decay and dropout trade a little training fit for weights
        that generalise. Next: the same CNN written Keras-style (`06_keras_style.ipynb`).
    """),
]

# ================================ 06: Keras-style front end =====================================

KERAS_STYLE: List[Cell] = [
    md("""
        # 6. The Keras way: `Sequential().add(...)`

        Many people first meet CNNs through a few lines of Keras. `tinygrad_cnn.keras` runs that
        classic snippet unchanged but for its import — and underneath, every Keras layer is one of
        our `nn.Module`s built from the same tensor ops as the previous notebooks, so the graph,
        the gradients and the step-through still work. This notebook runs the snippet, trains a
        small variant on the bundled digits, and then rewrites the same model with plain tensor
        ops and `nn` layers to show that they compute exactly the same thing.
    """),
    SETUP,
    md("""
        ## The classic snippet

        The cats-vs-dogs CNN from countless tutorials: 64×64 colour images, **channels last**
        (N, H, W, C) as Keras expects, one sigmoid output.
    """),
    code("""
        from tinygrad_cnn.keras import Conv2D, Dense, Flatten, MaxPooling2D, Sequential

        classifier = Sequential()
        classifier.add(Conv2D(32, (3, 3), input_shape=(64, 64, 3), activation="relu"))
        classifier.add(MaxPooling2D(pool_size=(2, 2)))
        classifier.add(Conv2D(32, (3, 3), activation="relu"))
        classifier.add(MaxPooling2D(pool_size=(2, 2)))
        classifier.add(Flatten())
        classifier.add(Dense(units=128, activation="relu"))
        classifier.add(Dense(units=1, activation="sigmoid"))
        classifier.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        classifier.summary()
    """),
    md("""
        Check the parameter counts by hand: a 3×3 convolution from $C$ to $F$ channels has
        $3 \\cdot 3 \\cdot C \\cdot F$ weights plus $F$ biases; a valid 3×3 convolution shrinks
        each side by 2 and pooling halves it (rounding down): 64 → 62 → 31 → 29 → 14.
    """),
    code("""
        conv1 = 3 * 3 * 3 * 32 + 32
        conv2 = 3 * 3 * 32 * 32 + 32
        dense1 = (14 * 14 * 32) * 128 + 128
        dense2 = 128 * 1 + 1
        print(conv1, conv2, dense1, dense2, "total", conv1 + conv2 + dense1 + dense2)
        assert classifier.count_params() == conv1 + conv2 + dense1 + dense2
        assert classifier.output_shape == (None, 1)
    """),
    md("""
        ## A small variant, trained on the digits

        The bundled digits are 8×8 grey images stored channels-first (N, 1, 8, 8) for `nn.Conv2d`;
        Keras layers take channels-last, so we move the channel axis to the end: (N, 8, 8, 1).
        The model is the snippet scaled down to 8×8 inputs and ten classes.
    """),
    code("""
        from tinygrad_cnn.data import load_digits, train_test_split

        images, labels = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(images, labels, test_fraction=0.2, seed=0)
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)   # NCHW -> NHWC
        print("x_train", x_train.shape, " x_test", x_test.shape)

        model = Sequential(seed=0)
        model.add(Conv2D(16, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Flatten())
        model.add(Dense(32, activation="relu"))
        model.add(Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.summary()
    """),
    code("""
        # verbose=2: one line per epoch (verbose=1 draws a tqdm progress bar per epoch instead)
        history = model.fit(x_train, y_train, epochs=15, batch_size=32, validation_split=0.1, verbose=2)
    """),
    code("""
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
        epochs = np.arange(1, len(history.history["loss"]) + 1)
        for key in ("loss", "val_loss"):
            left.plot(epochs, history.history[key], "o-", label=key)
        for key in ("accuracy", "val_accuracy"):
            right.plot(epochs, history.history[key], "o-", label=key)
        left.set_xlabel("epoch"); left.set_ylabel("cross-entropy"); left.legend()
        right.set_xlabel("epoch"); right.set_ylabel("accuracy"); right.legend()
        plt.show()

        test_loss, test_accuracy = model.evaluate(x_test, y_test)
        print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.3f}")
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert test_accuracy > 0.9
    """),
    md("""
        ## Under the hood: the same model in tensor ops

        `model.module` is an ordinary `nn.Sequential` of the Keras layers. Their parameters are
        stored as everywhere else in the library — convolution weight (out, in, kh, kw), dense
        weight (out, in) — while `get_weights()` returns Keras's layouts (kernel (kh, kw, in, out),
        dense kernel (in, out)).
    """),
    code("""
        params = dict(model.module.named_parameters())
        for name, p in params.items():
            print(f"{name:16s} {str(p.shape):16s}")
        print("Keras layouts:", [w.shape for w in model.get_weights()])
        assert model.get_weights()[0].shape == (3, 3, 1, 16) and params["conv2d.weight"].shape == (16, 1, 3, 3)
    """),
    md("""
        Written out with `functional` and tensor ops, using the trained parameters. Two details
        matter: the convolution runs on channels-first data, and Keras's `Flatten` flattens in
        (H, W, C) order — so we move the channels back to the end before flattening. The outputs
        agree to float32 rounding (about 1e-7..1e-6: `predict` works in batches of 32, and matrix
        products of a different size may add in a different order).
    """),
    code("""
        import tinygrad_cnn.functional as F
        from tinygrad_cnn import no_grad

        W1, b1 = params["conv2d.weight"], params["conv2d.bias"]
        W2, b2 = params["dense.weight"], params["dense.bias"]
        W3, b3 = params["dense_1.weight"], params["dense_1.bias"]

        def forward_with_tensor_ops(x_nhwc):
            x = Tensor(x_nhwc).permute(0, 3, 1, 2)                    # NHWC -> NCHW
            x = F.max_pool2d(F.relu(F.conv2d(x, W1, b1, padding=1)), 2)
            x = x.permute(0, 2, 3, 1).flatten(1)                      # flatten in Keras's (H, W, C) order
            x = F.relu(F.linear(x, W2, b2))
            return F.softmax(F.linear(x, W3, b3), axis=1)

        with no_grad():
            ours = forward_with_tensor_ops(x_test).numpy()
        keras_out = model.predict(x_test)
        print("largest difference:", np.abs(ours - keras_out).max())
        assert np.allclose(ours, keras_out, atol=1e-5)
        assert (ours.argmax(1) == keras_out.argmax(1)).all()
    """),
    md("""
        And with `nn` layers, the PyTorch way (channels-first input). The only change to the
        weights: `nn.Flatten` flattens (C, H, W), so the first dense layer's input columns are
        reordered from (H, W, C) to (C, H, W).
    """),
    code("""
        from tinygrad_cnn import nn

        torch_style = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                    nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))
        dense_hwc = W2.numpy().reshape(32, 4, 4, 16)                      # (out, H, W, C)
        torch_style.load_state_dict({
            "0.weight": W1.numpy(), "0.bias": b1.numpy(),
            "4.weight": dense_hwc.transpose(0, 3, 1, 2).reshape(32, -1),  # -> (out, C*H*W)
            "4.bias": b2.numpy(), "6.weight": W3.numpy(), "6.bias": b3.numpy()})
        torch_style.eval()
        with no_grad():
            logits = torch_style(Tensor(x_test.transpose(0, 3, 1, 2)))   # NHWC -> NCHW
            probabilities = F.softmax(logits, axis=1).numpy()
        assert np.allclose(probabilities, keras_out, atol=1e-5)
        assert (probabilities.argmax(1) == keras_out.argmax(1)).all()
        print("nn.Sequential gives the same predictions on all", len(x_test), "test images")
    """),
    md("""
        ## The graph is still there

        `model.compute_loss(x, y)` returns the loss as a `Tensor` with its whole graph, so
        everything from the earlier notebooks applies: backward, the gradient-flow picture, and
        stepping through backprop. Each Keras layer is collapsed into one node here.
    """),
    code("""
        from tinygrad_cnn.viz import draw_graph

        model.module.zero_grad()
        loss = model.compute_loss(x_train[:32], y_train[:32])
        loss.backward()
        assert all(p.grad is not None for p in model.module.parameters())
        draw_graph(loss, params=model.module, collapse=True)
    """),
    md("""
        **Takeaways.** The Keras API is a thin layer: `Sequential` is an `nn.Sequential`, `fit`
        is the training loop of notebook 5, and the layers are the convolution, pooling and
        linear ops whose gradients notebooks 3 and 4 derived by hand. The differences that trip
        people up are layouts: channels-last images, and the order in which `Flatten` lays out
        the features.
    """),
]

NOTEBOOKS: Dict[str, List[Cell]] = {
    "01_autograd_basics.ipynb": AUTOGRAD_BASICS,
    "02_gradient_descent.ipynb": GRADIENT_DESCENT,
    "03_matrix_gradients.ipynb": MATRIX_GRADIENTS,
    "04_conv_backprop.ipynb": CONV_BACKPROP,
    "05_train_a_cnn.ipynb": TRAIN_A_CNN,
    "06_keras_style.ipynb": KERAS_STYLE,
}


# ================================ building and executing ========================================

def build(cells: Sequence[Cell]) -> nbformat.NotebookNode:
    """A notebook (nbformat v4, python3 kernel) holding ``cells``, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        elif kind == "code":
            cell = nbformat.v4.new_code_cell(source)
        else:
            raise ValueError(f"build: cell {index} has unknown kind {kind!r} (expected 'markdown' or 'code')")
        cell["id"] = f"cell-{index:02d}"  # stable ids: regenerating does not churn the files
        nb.cells.append(cell)
    return nb


def kernel_manager() -> "Any":
    """A manager for a ``python3`` kernel that runs on this very interpreter (``sys.executable``).

    The installed ``python3`` kernelspec may point at another Python (a user-wide one, say); the
    notebooks must run against the environment that has this checkout's ``tinygrad_cnn``.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              name="python3", display_name="Python 3 (ipykernel)", language="python")

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def execute(nb: nbformat.NotebookNode, cwd: str = NOTEBOOK_DIR, timeout: int = CELL_TIMEOUT_S) -> float:
    """Run ``nb`` top to bottom in a fresh python3 kernel on this interpreter, with ``cwd`` as the
    working directory and at most ``timeout`` seconds per cell; outputs are stored in ``nb``.

    Returns the wall time in seconds. Raises ``nbclient.exceptions.CellExecutionError`` (naming the
    cell and the exception) if a cell fails.
    """
    from nbclient import NotebookClient

    client = NotebookClient(nb, km=kernel_manager(), timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": cwd}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def _freeze_progress_bars(nb: nbformat.NotebookNode) -> None:
    """Give each tqdm widget output the final text of its bar as ``text/plain``.

    A tqdm bar in a notebook is a widget; its stored plain-text fallback (what GitHub shows) is the
    bar as first displayed, "0%". The widget's final state is saved in the notebook metadata, so
    the finished bar can be written out as text.
    """
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})

    def model(ref: str) -> dict:
        return state.get(ref.replace("IPY_MODEL_", ""), {}).get("state", {})

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if output.get("output_type") != "display_data" or not view:
                continue
            children = [model(ref) for ref in model(view["model_id"]).get("children", [])]
            if len(children) != 3 or "max" not in children[1]:
                continue
            left, bar, right = children
            done = bar.get("value", 0) / bar["max"] if bar["max"] else 1.0
            filled = int(round(10 * min(max(done, 0.0), 1.0)))
            text = f"{left.get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{right.get('value', '')}"
            output["data"]["text/plain"] = html.unescape(text).replace("\u2007", " ")


def write_atomic(nb: nbformat.NotebookNode, path: str) -> None:
    """Write ``nb`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                    prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes the file private; a notebook is for everyone to read
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: write (and by default execute) the notebooks; prints each one's run time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="build only notebooks whose file name contains one of these")
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    args = parser.parse_args(argv)
    selected = {name: cells for name, cells in NOTEBOOKS.items()
                if not args.only or any(part in name for part in args.only)}
    if not selected:
        print(f"no notebook name contains any of {args.only}; names: {', '.join(NOTEBOOKS)}", file=sys.stderr)
        return 2
    for name, cells in selected.items():
        nb = build(cells)
        if args.no_execute:
            write_atomic(nb, os.path.join(NOTEBOOK_DIR, name))
            print(f"{name}: written (not executed)")
            continue
        seconds = execute(nb)
        _freeze_progress_bars(nb)
        write_atomic(nb, os.path.join(NOTEBOOK_DIR, name))
        print(f"{name}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
