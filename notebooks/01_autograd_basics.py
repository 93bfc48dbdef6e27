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
e.name, d.name, L.name = "e", "d", "L"  # names for the picture and the printouts below
print("L =", L.item())
draw_graph(L, rankdir="LR")

# %% [markdown]
# Each box is a leaf (`a`, `b`, ...) or an op, labelled with the name of its result and the op
# that made it (`e = mul`), and each shows its value (`data`). No gradient exists yet, so every
# edge is grey. Check the forward value by hand: $(2 \cdot (-3) + 10) \cdot (-2) = -8$.

# %%
assert L.item() == (2.0 * -3.0 + 10.0) * -2.0 == -8.0

# %% [markdown]
# ## Backward, one step at a time
#
# `L.backward_steps()` is `L.backward()` cut into steps: one per node, in PyTorch's order: the
# loss first; a node once every op that used it has sent its share (of several such nodes, the
# most recently created first); a leaf as soon as its gradient is complete. Each step shows
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
# The same graph after backward: every node now also shows its gradient (`grad`), and each
# edge's colour and thickness encode the size of the gradient that flowed back along it (here
# the numbers are printed on the nodes, so the picture needs no colour key).

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
# `viz.step_frames(loss)` runs backward one step at a time and returns one picture per step.
# Here is the walk as a strip of frames (every other step), on a fresh copy of the expression
# (the frames run backward themselves). After it, `viz.player(loss)` puts every step in one
# page that plays here and in any browser: step forward and back, with each step's rule and
# numbers beside the picture (`.save("walk.html")` writes it as a file; the gallery's
# [`viz/lenet_player.html`](../viz/lenet_player.html) does the same for a whole LeNet).

# %%
from IPython.display import display
from tinygrad_cnn.viz import step_frames

a2, b2, c2, f2 = leaf(2.0, "a"), leaf(-3.0, "b"), leaf(10.0, "c"), leaf(-2.0, "f")
e2 = a2 * b2
d2 = e2 + c2
L2 = d2 * f2
e2.name, d2.name, L2.name = "e", "d", "L"
frames = step_frames(L2, rankdir="LR", compact=True)
print(len(frames), "frames; after the last one the leaves hold their gradients:",
      {t.name: t.grad.item() for t in (a2, b2, c2, f2)})
assert len(frames) == len(steps) and (a2.grad.item(), b2.grad.item()) == (6.0, -4.0)
for frame in frames[1::2]:   # every other step, to keep the strip short
    display(frame)

# %%
from tinygrad_cnn.viz import player

a3, b3, c3, f3 = leaf(2.0, "a"), leaf(-3.0, "b"), leaf(10.0, "c"), leaf(-2.0, "f")
e3 = a3 * b3
d3 = e3 + c3
L3 = d3 * f3
e3.name, d3.name, L3.name = "e", "d", "L"
walk = player(L3)
assert L3.grad_fn is not None and a3.grad is None     # the player leaves the graph and .grad as they were
walk

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
assert w2.grad.item() == 0.0                                   # x2 is 0: nudging w2 changes nothing
n.name, o.name = "n", "o"
draw_graph(o, rankdir="LR")

# %% [markdown]
# `w2` gets a gradient of exactly 0, and that is right: it is multiplied by `x2 = 0`, so nudging
# it changes nothing. The picture marks that zero as "it met a value of 0", not as a vanishing
# gradient (a zero that comes out of a dead ReLU, by contrast, is flagged ▼).

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
# ## Your turn
#
# Work out the gradients by hand with the chain rule, then let `check` compare your answer with
# autograd's. Replace each `...` with a formula in `a_value`, `b_value` (plain floats; `np.tanh`
# is allowed). Solutions are at the end of the notebook.
#
# $y = \tanh(a \cdot b) + a$ at $a = 0.5$, $b = -1.5$. Hint: `a` is used twice.

# %%
from tinygrad_cnn.gradcheck import check_answer as check   # compares with autograd, prints a verdict

a_value, b_value = 0.5, -1.5
a, b = leaf(a_value, "a"), leaf(b_value, "b")
y = (a * b).tanh() + a
y.backward()

# %%
dy_da = ...   # your formula
dy_db = ...   # your formula
check("dy_da", dy_da, a.grad)
check("dy_db", dy_db, b.grad)

# %% [markdown]
# **Takeaways.** Backward starts at the loss and reaches every node once all of its gradient
# has arrived; each op multiplies the arriving gradient by its local derivative; gradients that
# meet at a tensor are added. Next: using these gradients to descend a loss surface
# (`02_gradient_descent.ipynb`).
#
# ## Solutions
#
# $\partial y/\partial a = (1 - \tanh^2(ab))\, b + 1$: the tanh path, plus 1 from the direct use
# of `a` (the two uses add up). $\partial y/\partial b = (1 - \tanh^2(ab))\, a$.

# %%
dy_da = (1 - np.tanh(a_value * b_value) ** 2) * b_value + 1
dy_db = (1 - np.tanh(a_value * b_value) ** 2) * a_value
assert check("dy_da", dy_da, a.grad)
assert check("dy_db", dy_db, b.grad)
assert not check("dy_da", dy_da - 1, a.grad)   # forgetting the direct use of a is caught
