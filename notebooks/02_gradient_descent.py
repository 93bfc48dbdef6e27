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
# # 2. Gradient descent and its refinements
#
# Training moves the parameters against the gradient: $w \leftarrow w - \eta\,\nabla L(w)$.
# This notebook does that by hand with our `Tensor`, then compares the optimizers in
# `tinygrad_cnn.optim` — momentum, Adagrad, RMSprop and Adam — on the Rosenbrock function,
# a curved, narrow valley with its minimum at $(1, 1)$:
# $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$.

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %%
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

# %% [markdown]
# ## Plain gradient descent, by hand
#
# One parameter tensor `p = (x, y)`. Each step: forward, `backward()`, then update the data
# under `no_grad()` (the update itself must not become part of the graph), then clear the
# gradient so the next backward does not add to it.

# %%
p = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
lr = 1e-3
for step in range(3):
    loss = rosenbrock(p[0], p[1])
    loss.backward()
    print(f"step {step}: loss {loss.item():8.3f}  grad {p.grad.numpy()}  p {p.numpy()}")
    with no_grad():
        p.sub_(p.grad, alpha=lr)       # w := w - lr * dL/dw
    p.zero_grad()

# %% [markdown]
# Check the gradient the engine computed against the derivative by hand:
# $\partial f/\partial x = -2(1-x) - 400\,x\,(y - x^2)$, $\partial f/\partial y = 200\,(y - x^2)$.

# %%
q = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
rosenbrock(q[0], q[1]).backward()
x, y = START
by_hand = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
print("autograd", q.grad.numpy(), " by hand", by_hand)
assert np.allclose(q.grad.numpy(), by_hand)


# %% [markdown]
# ## Five optimizers on the same valley
#
# The same loop with an optimizer object: `opt.zero_grad(); loss.backward(); opt.step()`.
# Each optimizer gets a learning rate that suits it (Adam's and Adagrad's steps are scaled
# per coordinate, so their learning rate is a step *length*, not a multiplier of the
# gradient).
#
# * **SGD**: $w \leftarrow w - \eta g$.
# * **Momentum**: $v \leftarrow \mu v + g$, $w \leftarrow w - \eta v$ — a heavy ball that
#   keeps rolling along the valley floor.
# * **Adagrad**: divides by $\sqrt{\sum g^2}$ — big early gradients shrink every later step.
# * **RMSprop**: divides by a running RMS of $g$ instead, so steps do not die out.
# * **Adam**: momentum on $g$ plus RMSprop's scaling, with bias correction.

# %%
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

# %%
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

# %% [markdown]
# Plain SGD crawls: the valley walls are steep (the curvature across the valley,
# $\partial^2 f/\partial y^2 = 200$, is hundreds of times that along its floor), so a learning
# rate small enough not to bounce between the walls makes tiny steps along the floor.
# Momentum accumulates speed along the floor; Adam rescales each coordinate. Both reach the
# minimum; plain SGD does not in the same number of steps. Adagrad's very first step has
# length `lr` in every coordinate (the gradient divided by its own size — the green jump),
# after which its accumulated sum only grows and its steps die out along the floor;
# RMSprop, which forgets old gradients, keeps moving but with this small rate has not
# arrived yet. The dots mark where each one stopped.

# %%
distance = {name: np.linalg.norm(path[-1] - 1) for name, path in paths.items()}
assert distance["Adam (lr 0.1)"] < 0.05 < distance["SGD (lr 1e-3)"]
assert distance["momentum 0.9 (lr 1e-3)"] < distance["SGD (lr 1e-3)"]
assert all(np.isfinite(path).all() for path in paths.values())

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, path in paths.items():
    ax.semilogy([rosenbrock(*w) + 1e-12 for w in path], label=name)
ax.set_xlabel("step"); ax.set_ylabel("loss (log scale)"); ax.legend(fontsize=8)
plt.show()


# %% [markdown]
# ## The learning rate: too small, good, too large
#
# On a simple elongated bowl $f(x, y) = x^2 + 10 y^2$ plain gradient descent multiplies $y$
# by $(1 - 20\eta)$ every step. With $\eta < 0.1$ that factor is smaller than 1 in size and
# $y$ shrinks; with $\eta > 0.1$ it is below $-1$: every step overshoots further and the
# iterates **diverge**.

# %%
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

# %%
final_loss = {name: bowl(*path[-1]) for name, path in bowl_paths.items()}
start_loss = bowl(-4.0, 1.5)
print({name: f"{value:.3g}" for name, value in final_loss.items()}, " start:", start_loss)
assert final_loss["good (0.05)"] < 1e-2 * start_loss          # converges
assert final_loss["too small (0.005)"] > 10 * final_loss["good (0.05)"]  # still far away
assert final_loss["too large (0.105)"] > start_loss               # diverges: worse than the start

# %% [markdown]
# **Takeaways.** The gradient gives a direction; the learning rate and the optimizer decide
# how far to go. Too large a rate diverges, too small wastes steps, and adaptive methods
# (Adam, RMSprop) or momentum cope with valleys that defeat plain SGD.
