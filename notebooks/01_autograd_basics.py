# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Autograd basics: the chain rule, one node at a time
#
# Backpropagation is the chain rule applied to a graph of small operations. Every `Tensor`
# made by an op remembers the op and its inputs; `loss.backward()` walks that graph from
# the loss back to the inputs, and each op turns *the gradient of its output* into
# *gradients of its inputs* using its own small derivative rule.
#
# This notebook builds a tiny expression of scalars (the classic one from Andrej Karpathy's
# micrograd), draws its graph, and steps through backward node by node, checking every
# local derivative with finite differences.

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %% [markdown]
# ## An expression and its graph
#
# $e = a \cdot b$, $d = e + c$, $L = d \cdot f$. We use float64 so that the finite
# differences further down are accurate.

# %%
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

# %% [markdown]
# Each box is an op (`mul`, `add`) or a leaf (`a`, `b`, ...). No gradient exists yet, so
# every edge is grey. Check the forward value by hand: $(2 \cdot (-3) + 10) \cdot (-2) = -8$.

# %%
assert L.item() == (2.0 * -3.0 + 10.0) * -2.0 == -8.0

# %% [markdown]
# ## Backward, one step at a time
#
# `L.backward_steps()` is `L.backward()` cut into steps: one per node, in reverse
# topological order (the loss first, the leaves last). Each step shows
#
# * the op and its derivative **rule**,
# * the gradient **arriving** at the node: $\partial L / \partial(\text{node})$,
# * the gradients it **sends** to each input: arriving gradient × local derivative.

# %%
steps = list(L.backward_steps())
for step in steps:
    name = step.tensor.name
    sent = ", ".join("-" if g is None else f"{g.item():+.1f}" for g in step.input_grads)
    print(f"{step.index + 1}/{step.total}  {name:4s} op={step.op:4s} arriving={step.grad.item():+.1f}  "
          f"sends=[{sent}]   rule: {step.rule}")

# %% [markdown]
# Read the steps with the chain rule in mind:
#
# * $L = d \cdot f$: the mul sends $\partial L/\partial d = f = -2$ and $\partial L/\partial f = d = 4$.
# * $d = e + c$: addition **routes** the arriving gradient unchanged to both inputs: $-2$ each.
# * $e = a \cdot b$: the mul sends $-2 \cdot b = 6$ to $a$ and $-2 \cdot a = -4$ to $b$.
#
# The same walk drawn: after backward every edge carries the gradient that flowed along it
# (colour and thickness encode its size; the label is its value).

# %%
print({t.name: t.grad.item() for t in (a, b, c, f)})
assert (a.grad.item(), b.grad.item(), c.grad.item(), f.grad.item()) == (6.0, -4.0, -2.0, 4.0)
draw_graph(L, rankdir="LR")

# %% [markdown]
# A single step can be drawn too: the node being processed is orange, the nodes already
# done are green, and those still waiting for their gradient are white. Here is the step
# that processes $e = a \cdot b$:

# %%
from tinygrad_cnn.viz import describe_step

mul_e = next(s for s in steps if s.tensor is e)
print(describe_step(mul_e))
draw_graph(L, step=mul_e, rankdir="LR")

# %% [markdown]
# In a live notebook, `tinygrad_cnn.viz.step_through(L)` puts all the steps behind a slider
# (it needs `ipywidgets`), and `viz.step_frames(L)` returns the list of pictures, one per
# step, for saving or for an animation:
#
# ```python
# from tinygrad_cnn.viz import step_through
# step_through(L)          # a fresh L: it runs backward itself, one step per slider position
# ```

# %% [markdown]
# ## Checking every local derivative with finite differences
#
# Each op only needs its **local** derivative: how its output moves when one input moves.
# Nudge one input by $\pm h$ and watch the output:
# $\dfrac{\partial\,\text{out}}{\partial\,\text{in}} \approx \dfrac{\text{op}(\text{in}+h) - \text{op}(\text{in}-h)}{2h}$.
# The chain rule says the gradient a step sends to an input is *arriving gradient × local
# derivative*; we check that for every step.

# %%
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


# %% [markdown]
# And the end-to-end check: nudging a leaf changes $L$ by exactly its `.grad` (to first
# order). `tinygrad_cnn.gradcheck` does this for whole tensors.

# %%
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

# %% [markdown]
# ## A neuron: the same walk through a non-linearity
#
# $o = \tanh(w_1 x_1 + w_2 x_2 + b)$. The `tanh` step's rule is
# $\partial o/\partial n = 1 - o^2$.

# %%
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

# %% [markdown]
# ## The accumulation pitfall: `b = a + a`
#
# When a tensor feeds **several** ops (or the same op twice), its gradient is the **sum**
# of what each use sends back: $b = a + a = 2a$, so $\partial b/\partial a = 2$. An engine
# that *overwrote* the gradient instead of adding would report 1. Watch the steps: the `add`
# sends 1 to each of its two inputs, and the leaf step receives their sum.

# %%
a = leaf(3.0, "a")
b = a + a
for step in b.backward_steps(retain_graph=True):
    print(step.op, "arriving", step.grad.item(), "sends", [g.item() for g in step.input_grads])
print("a.grad =", a.grad.item())
assert a.grad.item() == 2.0
draw_graph(b, rankdir="LR")

# %% [markdown]
# The same rule has a second face: **`.grad` accumulates across backward calls too**.
# Calling backward again adds another 2 — which is why training loops call `zero_grad()`
# before each backward.

# %%
b.backward(retain_graph=True)
print("after a second backward: a.grad =", a.grad.item())
assert a.grad.item() == 4.0
a.zero_grad()
b.backward()
print("after zero_grad + backward: a.grad =", a.grad.item())
assert a.grad.item() == 2.0

# %% [markdown]
# A slightly bigger case of the same thing: $y = a \cdot b + a$ uses `a` twice through
# different ops, so $\partial y/\partial a = b + 1$.

# %%
a, b = leaf(3.0, "a"), leaf(-2.0, "b")
y = a * b + a
y.backward()
print("dy/da =", a.grad.item(), "= b + 1 =", b.item() + 1)
assert a.grad.item() == b.item() + 1

# %% [markdown]
# **Takeaways.** Backward visits nodes from the loss to the leaves; each op multiplies the
# arriving gradient by its local derivative; gradients that meet at a tensor are added.
# Next: using these gradients to descend a loss surface (`02_gradient_descent.ipynb`).
