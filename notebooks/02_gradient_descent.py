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
# ## The update rules in full
#
# Every optimizer below sees the same gradient $g_t = \nabla L(w_t)$ at step $t = 1, 2, \dots$ and
# has a learning rate $\eta$. Written out exactly as `tinygrad_cnn.optim` (and PyTorch) computes them:
#
# | optimizer | state update | parameter update |
# | --- | --- | --- |
# | SGD | — | $w_{t+1} = w_t - \eta\, g_t$ |
# | momentum $\mu$ | $v_t = \mu\, v_{t-1} + g_t$, $v_1 = g_1$ | $w_{t+1} = w_t - \eta\, v_t$ |
# | Adagrad | $s_t = s_{t-1} + g_t^2$, $s_0 = 0$ | $w_{t+1} = w_t - \eta\, g_t / (\sqrt{s_t} + \varepsilon)$, $\varepsilon = 10^{-10}$ |
# | RMSprop $\alpha$ | $s_t = \alpha\, s_{t-1} + (1-\alpha)\, g_t^2$, $\alpha = 0.99$ | $w_{t+1} = w_t - \eta\, g_t / (\sqrt{s_t} + \varepsilon)$, $\varepsilon = 10^{-8}$ |
# | Adam $\beta_1, \beta_2$ | $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$ | $w_{t+1} = w_t - \eta\, \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$ |
#
# Squares and square roots act on each coordinate. Adam's $m$ and $v$ start at 0, so early on
# they are too small; the **bias correction** $\hat m_t = m_t / (1 - \beta_1^t)$,
# $\hat v_t = v_t / (1 - \beta_2^t)$ undoes that ($\beta_1 = 0.9$, $\beta_2 = 0.999$, $\varepsilon = 10^{-8}$).
#
# Check the first step of each against these formulas, computed by hand in numpy. Note what the
# first step *is*: Adagrad and Adam move every coordinate by $\eta$ (the gradient divided by its
# own size), RMSprop by $\eta / \sqrt{1 - \alpha} = 10\,\eta$ — the size of the gradient is gone.

# %%
def first_step(make_optimizer):
    p = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
    opt = make_optimizer([p])
    rosenbrock(p[0], p[1]).backward()
    opt.step()
    return p.numpy()

w0 = np.array(START)
g = by_hand                                  # the gradient at START, derived above
lr, mu, alpha, b1, b2 = 1e-3, 0.9, 0.99, 0.9, 0.999
expected = {
    "SGD": w0 - lr * g,
    "momentum": w0 - lr * g,                                     # v_1 = g_1
    "Adagrad": w0 - lr * g / (np.sqrt(g ** 2) + 1e-10),
    "RMSprop": w0 - lr * g / (np.sqrt((1 - alpha) * g ** 2) + 1e-8),
    "Adam": w0 - lr * ((1 - b1) * g / (1 - b1)) / (np.sqrt((1 - b2) * g ** 2 / (1 - b2)) + 1e-8),
}
made = {
    "SGD": lambda ps: optim.SGD(ps, lr=lr),
    "momentum": lambda ps: optim.SGD(ps, lr=lr, momentum=mu),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=lr),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=lr, alpha=alpha),
    "Adam": lambda ps: optim.Adam(ps, lr=lr, betas=(b1, b2)),
}
for name in expected:
    ours = first_step(made[name])
    print(f"{name:9s} first step {ours - w0}   by hand {expected[name] - w0}")
    assert np.allclose(ours, expected[name], rtol=1e-10, atol=1e-12), name
assert np.allclose(np.abs(expected["Adam"] - w0), lr) and np.allclose(np.abs(expected["RMSprop"] - w0), 10 * lr)

# %% [markdown]
# ### Two ways to write momentum
#
# Many texts write momentum as $v_t = \gamma\, v_{t-1} + \eta\, \nabla L$, $w_{t+1} = w_t - v_t$:
# the learning rate is *inside* the velocity. PyTorch (and this library) keep it outside:
# $v_t = \mu\, v_{t-1} + g_t$, $w_{t+1} = w_t - \eta\, v_t$. Multiply the second form's $v$ by
# $\eta$ and you get the first, with $\gamma = \mu$ — **as long as $\eta$ never changes**. With a
# learning-rate schedule they differ: the first form remembers each past step's own $\eta$, the
# second applies today's $\eta$ to the whole remembered history, so a drop in $\eta$ takes effect at once.

# %%
def momentum_paths(schedule_every=None, steps=20):
    p = Tensor(np.array(START), requires_grad=True, dtype=np.float64)
    opt = optim.SGD([p], lr=1e-3, momentum=0.9)
    scheduler = optim.StepLR(opt, step_size=schedule_every, gamma=0.1) if schedule_every else None
    w, v = np.array(START), np.zeros(2)                 # the lr-inside form, by hand
    ours, theirs = [], []
    for _ in range(steps):
        eta = opt.param_groups[0]["lr"]
        x, y = w
        grad = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        v = 0.9 * v + eta * grad
        w = w - v
        opt.zero_grad(); rosenbrock(p[0], p[1]).backward(); opt.step()
        if scheduler:
            scheduler.step()
        ours.append(p.numpy().copy()); theirs.append(w.copy())
    return np.array(ours), np.array(theirs)

ours, theirs = momentum_paths()
print("constant lr: largest difference between the two forms", np.abs(ours - theirs).max())
assert np.allclose(ours, theirs)
ours, theirs = momentum_paths(schedule_every=5)
print("lr divided by 10 every 5 steps: largest difference", np.abs(ours - theirs).max())
assert np.abs(ours - theirs).max() > 1e-3

# %% [markdown]
# ## Five optimizers on the same valley, each with its best learning rate
#
# The same loop with an optimizer object: `opt.zero_grad(); loss.backward(); opt.step()`. A fair
# comparison gives each optimizer the learning rate that suits it best, so each one tries a small
# grid of rates for 1000 steps and keeps the one that ends closest to the minimum (a run that blows
# up counts as infinitely far). Adam's, Adagrad's and RMSprop's steps are scaled per coordinate, so
# their rate is a step *length*, not a multiple of the gradient, and their grids sit much higher.

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
        if not np.isfinite(path[-1]).all() or np.abs(path[-1]).max() > 1e3:
            break  # diverged
    return np.array(path)

def distance(path):
    end = path[-1]
    return float(np.linalg.norm(end - 1)) if np.isfinite(end).all() and np.abs(end).max() <= 1e3 else np.inf

grids = {
    "SGD": (lambda lr: (lambda ps: optim.SGD(ps, lr=lr)), [1e-4, 1e-3, 2e-3, 3e-3]),
    "momentum 0.9": (lambda lr: (lambda ps: optim.SGD(ps, lr=lr, momentum=0.9)), [3e-5, 1e-4, 3e-4, 1e-3]),
    "Adagrad": (lambda lr: (lambda ps: optim.Adagrad(ps, lr=lr)), [0.1, 0.3, 1.0, 3.0]),
    "RMSprop": (lambda lr: (lambda ps: optim.RMSprop(ps, lr=lr)), [1e-3, 3e-3, 1e-2, 3e-2]),
    "Adam": (lambda lr: (lambda ps: optim.Adam(ps, lr=lr)), [0.01, 0.03, 0.1, 0.3]),
}
best, paths, tried = {}, {}, {}
for name, (make, rates) in grids.items():
    runs = {lr: descend(make(lr)) for lr in rates}
    tried[name] = {lr: distance(path) for lr, path in runs.items()}
    best[name] = min(rates, key=lambda lr: tried[name][lr])
    paths[name] = runs[best[name]]
    print(f"{name:13s} " + "  ".join(f"lr {lr:g}: {d:.3g}" for lr, d in tried[name].items())
          + f"   -> best lr {best[name]:g}")

# %%
fig, ax = plt.subplots(figsize=(7, 6))
draw_surface(ax)
for name, path in paths.items():
    wide = name == "SGD"  # drawn first and wide, so the others do not hide it
    line, = ax.plot(path[:, 0], path[:, 1], "-", linewidth=4 if wide else 1.5, alpha=0.5 if wide else 1,
                    label=f"{name} (lr {best[name]:g})")
    ax.plot(*path[-1], "o", color=line.get_color(), markersize=8, markeredgecolor="k")  # where it ended
ax.set_xlim(-2, 2); ax.set_ylim(-1, 3)
ax.legend(loc="lower right", fontsize=8)
ax.set_title("1000 steps from (-1.5, 2), each with its best learning rate")
plt.show()

# %% [markdown]
# What limits plain SGD? The valley is steep across and flat along its floor. The curvature is
# the Hessian (the matrix of second derivatives); we get it from autograd by differentiating the
# gradient once more (`create_graph=True`). At the minimum $(1, 1)$ its eigenvalues are about
# $1002$ (across the valley) and $0.4$ (along the floor), a ratio of about 2,500. Gradient descent
# is stable only for $\eta < 2/\lambda_{\max} \approx 0.002$, and with such an $\eta$ a step along
# the floor moves by a factor $\eta \lambda_{\min} \approx 0.0008$ of the distance left: thousands
# of steps. Momentum builds up speed along the floor; the adaptive methods rescale each coordinate.

# %%
p = Tensor(np.array([1.0, 1.0]), requires_grad=True, dtype=np.float64)
rosenbrock(p[0], p[1]).backward(create_graph=True)
gradient = p.grad
hessian = []
for i in range(2):
    p.grad = None
    gradient[i].backward(retain_graph=True)      # d(dL/dw_i)/dw: one row of the Hessian
    hessian.append(p.grad.numpy().copy())
hessian = np.array(hessian)
eigenvalues = np.linalg.eigvalsh(hessian)
print("Hessian at (1, 1):\n", hessian, "\neigenvalues", eigenvalues)
assert np.allclose(hessian, [[802, -400], [-400, 200]])
assert abs(eigenvalues[1] - 1001.6) < 0.1 and abs(eigenvalues[0] - 0.3994) < 1e-3

# %% [markdown]
# With its best rate, where does each one end? Adam and momentum reach the minimum. Plain SGD's
# best rate sits right at the stability limit (one grid step higher, 0.003, it blows up), and gets
# close but not as close. RMSprop, tuned, reaches the valley floor quickly, but its step stays
# about $\eta$ long in each coordinate however small the gradient, so it rattles along the floor
# instead of settling (a decaying learning rate would fix that). Adagrad's accumulated sum $s_t$
# only grows, so its steps die out before it gets there. Tuning matters: at the rate the first
# edition of this notebook used (3e-3), RMSprop looked three times worse than it is.

# %%
final = {name: distance(path) for name, path in paths.items()}
print({name: f"{d:.2g}" for name, d in final.items()})
assert final["Adam"] < 0.01 and final["momentum 0.9"] < 0.05           # both reach the minimum
assert final["Adam"] < final["SGD"] and final["momentum 0.9"] < final["SGD"]
assert tried["SGD"][3e-3] == np.inf and best["SGD"] == 2e-3            # SGD's best rate is at the edge
assert final["Adagrad"] > 1.0 > final["RMSprop"]                       # Adagrad stalls; RMSprop gets near
assert tried["RMSprop"][best["RMSprop"]] < 0.5 * tried["RMSprop"][3e-3]  # tuning RMSprop matters

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, path in paths.items():
    ax.semilogy([rosenbrock(*w) + 1e-12 for w in path], label=f"{name} (lr {best[name]:g})")
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
# how far to go. Too large a rate diverges, too small wastes steps. In a narrow valley plain
# SGD's rate is capped by the steepest direction ($\eta < 2/\lambda_{\max}$), so it is slow along
# the flat one; momentum and Adam cover that distance in far fewer steps. Compare optimizers
# only after giving each its own best learning rate. Next: the gradients of a whole layer
# (`03_matrix_gradients.ipynb`).
