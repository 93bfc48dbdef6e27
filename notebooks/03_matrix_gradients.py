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
# # 3. Gradients of a fully connected layer
#
# A fully connected layer computes $y = W x + b$ for one sample, or in batch form
# $Y = X W^\top + b$ with $X$ of shape (N, in), $W$ of shape (out, in), $b$ of shape (out,).
# Given the gradient of the loss with respect to the output, $G = \partial L/\partial Y$
# (shape (N, out)), the chain rule gives
#
# | gradient | formula | shape |
# | --- | --- | --- |
# | $\partial L/\partial W$ | $G^\top X$ | (out, in) |
# | $\partial L/\partial b$ | $\sum_n G_n$ (sum over the batch) | (out,) |
# | $\partial L/\partial X$ | $G\,W$ | (N, in) |
#
# One way to remember them: each formula is the only product of the available matrices
# with the right shape. Below we derive them element by element, compute them in numpy and
# check them against autograd.

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %%
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

# %% [markdown]
# ## The graph
#
# The layer is three primitives: a transpose (a movement op), a matrix product and a
# broadcasting add. The add's backward **sums the gradient over the batch axis** to get
# back to $b$'s shape — that is where $\sum_n G_n$ comes from.

# %%
draw_graph(L, params={"W": W, "b": b})

# %% [markdown]
# ## Deriving $\partial L/\partial W$ element by element
#
# $Y_{nj} = \sum_i X_{ni} W_{ji} + b_j$, so $\partial Y_{nj}/\partial W_{ji} = X_{ni}$ and
#
# $$\frac{\partial L}{\partial W_{ji}} = \sum_n \frac{\partial L}{\partial Y_{nj}} X_{ni} = \sum_n G_{nj} X_{ni} = (G^\top X)_{ji}.$$
#
# First with explicit loops (the definition), then as one matrix product:

# %%
Xn, Wn = X.numpy(), W.numpy()
dW_loops = np.zeros_like(Wn)
for j in range(n_out):
    for i in range(n_in):
        dW_loops[j, i] = sum(G[n, j] * Xn[n, i] for n in range(N))
dW = G.T @ Xn
print(dW)
assert np.allclose(dW_loops, dW)
assert np.allclose(dW, W.grad.numpy())

# %% [markdown]
# ## $\partial L/\partial b$ and $\partial L/\partial X$
#
# $\partial Y_{nj}/\partial b_j = 1$ for every sample $n$: the bias is shared by the whole
# batch, so its gradient is the **sum** over the batch.
# $\partial Y_{nj}/\partial X_{ni} = W_{ji}$, so
# $\partial L/\partial X_{ni} = \sum_j G_{nj} W_{ji} = (G W)_{ni}$.

# %%
db = G.sum(axis=0)
dX = G @ Wn
print("db", db)
print("dX\n", dX)
assert np.allclose(db, b.grad.numpy())
assert np.allclose(dX, X.grad.numpy())

# %% [markdown]
# ## One sample: the outer product
#
# For a single column vector $x$, $y = W x + b$ and $g = \partial L/\partial y$:
# $\partial L/\partial W = g\,x^\top$ — an **outer product**: every weight $W_{ji}$
# gets (gradient at output $j$) × (input $i$). The batch formula $G^\top X$ is the sum of
# these outer products over the samples.

# %%
outer_sum = sum(np.outer(G[n], Xn[n]) for n in range(N))
assert np.allclose(outer_sum, W.grad.numpy())

x1 = Tensor(Xn[0], dtype=np.float64)
W1 = Tensor(Wn, dtype=np.float64, requires_grad=True)
b1 = Tensor(b.numpy(), dtype=np.float64, requires_grad=True)
y1 = W1 @ x1 + b1
(y1 * Tensor(G[0], dtype=np.float64)).sum().backward()
print("g x^T =\n", np.outer(G[0], Xn[0]))
assert np.allclose(W1.grad.numpy(), np.outer(G[0], Xn[0]))
assert np.allclose(b1.grad.numpy(), G[0])

# %% [markdown]
# ## The same with `F.linear` and `nn.Linear`
#
# The library's layer is exactly this expression (`F.linear(x, W, b) = x @ W.T + b`), so it
# gets exactly these gradients.

# %%
from tinygrad_cnn import nn

layer = nn.Linear(n_in, n_out, dtype=np.float64)
X2 = Tensor(Xn, dtype=np.float64, requires_grad=True)
out = layer(X2)
out.backward(Tensor(G, dtype=np.float64))   # backward from Y with dL/dY = G
assert np.allclose(layer.weight.grad.numpy(), G.T @ Xn)
assert np.allclose(layer.bias.grad.numpy(), G.sum(axis=0))
assert np.allclose(X2.grad.numpy(), G @ layer.weight.numpy())
print("nn.Linear gradients match G^T X, sum(G), G W")

# %% [markdown]
# ## A two-layer network, by hand
#
# Stack two layers with a ReLU between them and a mean-squared-error loss. The backward pass
# is the three formulas applied layer by layer, from the loss back — plus the ReLU, which
# passes the gradient where its input was positive and blocks it elsewhere.

# %%
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

# %% [markdown]
# ## Your turn
#
# A layer without bias, $Y = X W^\top$, and the loss $L = \tfrac12 \sum Y^2$ (so
# $G = \partial L/\partial Y = Y$). Write $\partial L/\partial W$ and $\partial L/\partial X$ in numpy
# using `Xe`, `We` and `Ye` (numpy arrays), replacing the `...`; `check` compares with autograd.
# Solutions are at the end.

# %%
from tinygrad_cnn.gradcheck import check_answer as check   # compares with autograd, prints a verdict

Xe = rng.standard_normal((5, 3))
We = rng.standard_normal((4, 3))
X_t, W_t = Tensor(Xe, dtype=np.float64, requires_grad=True), Tensor(We, dtype=np.float64, requires_grad=True)
Y_t = X_t @ W_t.T
(0.5 * (Y_t * Y_t).sum()).backward()
Ye = Y_t.numpy()

# %%
dW = ...   # your formula, shape (4, 3)
dX = ...   # your formula, shape (5, 3)
check("dW", dW, W_t.grad)
check("dX", dX, X_t.grad)

# %% [markdown]
# **Takeaways.** $\partial L/\partial W = G^\top X$ (outer products summed over the
# batch), $\partial L/\partial b = \sum_n G_n$, $\partial L/\partial X = G W$ — the last
# one is what flows on to the previous layer. Next: the same ideas for a convolution, where
# one small kernel is reused at every position (`04_conv_backprop.ipynb`).
#
# ## Solutions
#
# $G = Y$, so $\partial L/\partial W = G^\top X = Y^\top X$ and $\partial L/\partial X = G W = Y W$.

# %%
dW = Ye.T @ Xe
dX = Ye @ We
assert check("dW", dW, W_t.grad)
assert check("dX", dX, X_t.grad)
assert not check("dW", Xe.T @ Ye, W_t.grad)   # the transposed product has the wrong shape: caught
