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
# # 7. Batch normalisation's backward, by hand
#
# Batch norm is the one common layer whose gradient is not obvious: every output depends on
# every input of the batch, through the batch's mean and variance. This notebook derives its
# backward, writes it in numpy, and checks it against autograd (which gets it from the
# primitives `F.batch_norm` is built of) and against PyTorch.
#
# In training mode, for each feature (each channel) over a batch of $N$ values $x_1 \dots x_N$:
#
# $$\mu = \frac1N \sum_n x_n, \qquad \sigma^2 = \frac1N \sum_n (x_n - \mu)^2, \qquad
#   \hat x_n = \frac{x_n - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad y_n = \gamma\, \hat x_n + \beta.$$

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
import tinygrad_cnn.functional as F
from tinygrad_cnn.viz import draw_graph
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable
rng = np.random.default_rng(0)

# %% [markdown]
# ## The graph
#
# `F.batch_norm` is composed of primitives (mean as sum and divide, subtract, multiply, square
# root, one over it, times $\gamma$, multiply, add), so autograd differentiates it with no
# batch-norm code of its own. One feature, a batch of four, drawn with its values:

# %%
xs = Tensor(np.array([[1.0], [2.0], [4.0], [7.0]]), requires_grad=True, dtype=np.float64)
gamma_s = Tensor(np.array([1.5]), requires_grad=True, dtype=np.float64)
beta_s = Tensor(np.array([0.5]), requires_grad=True, dtype=np.float64)
xs.name = "x"
ys = F.batch_norm(xs, None, None, gamma_s, beta_s, training=True)
loss_s = (ys * Tensor(np.array([[1.0], [-1.0], [0.5], [2.0]]), dtype=np.float64)).sum()
loss_s.backward()
draw_graph(loss_s, params={"gamma": gamma_s, "beta": beta_s}, rankdir="LR", compact=True)

# %% [markdown]
# ## Deriving the backward
#
# Let $g_n = \partial L/\partial y_n$ arrive. The two parameters are the easy part:
#
# $$\frac{\partial L}{\partial \beta} = \sum_n g_n, \qquad \frac{\partial L}{\partial \gamma} = \sum_n g_n \hat x_n,
#   \qquad \frac{\partial L}{\partial \hat x_n} = \gamma\, g_n =: d_n.$$
#
# Each $x_n$ reaches the loss along **three** paths: directly through $\hat x_n$, through the mean
# $\mu$ (which every $\hat x_m$ uses) and through the variance $\sigma^2$. With
# $s = \sqrt{\sigma^2 + \varepsilon}$:
#
# * $\partial L/\partial \sigma^2 = \sum_m d_m (x_m - \mu) \cdot (-\tfrac12) s^{-3}$, and
#   $\partial \sigma^2/\partial x_n = \tfrac2N (x_n - \mu)$ (the $\mu$ term vanishes, as $\sum_m (x_m - \mu) = 0$);
# * $\partial L/\partial \mu = -\sum_m d_m / s$ (again the variance's share is 0), and $\partial \mu / \partial x_n = \tfrac1N$;
# * directly, $\partial \hat x_n / \partial x_n = 1/s$.
#
# Adding the three and writing $x_n - \mu = s\, \hat x_n$:
#
# $$\frac{\partial L}{\partial x_n} = \frac{1}{N s} \Big( N d_n - \sum_m d_m - \hat x_n \sum_m d_m \hat x_m \Big).$$
#
# Read it as: take the incoming gradient, remove its mean, remove its component along $\hat x$,
# and scale by $1/s$. So the input gradient of every feature **sums to zero over the batch** and
# is orthogonal to $\hat x$: adding a constant to the batch, or scaling it, cannot change the
# output, so the gradient has no component in those directions.

# %%
def batchnorm_backward(g, x, gamma, eps=1e-5):
    """dL/dx, dL/dgamma, dL/dbeta of y = batch_norm(x) (training mode), for x of shape (N, D)."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    s = np.sqrt(x.var(axis=0) + eps)            # the biased variance, as the forward uses
    x_hat = (x - mu) / s
    d = g * gamma
    dx = (n * d - d.sum(axis=0) - x_hat * (d * x_hat).sum(axis=0)) / (n * s)
    return dx, (g * x_hat).sum(axis=0), g.sum(axis=0)

# %% [markdown]
# ## Checked against autograd
#
# A batch of 16 samples with 5 features, random $\gamma$, $\beta$ and incoming gradient:

# %%
N, D = 16, 5
xn = rng.standard_normal((N, D)) * 3 + 1
gn, bn, G = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal((N, D))
x = Tensor(xn, requires_grad=True, dtype=np.float64)
gamma = Tensor(gn, requires_grad=True, dtype=np.float64)
beta = Tensor(bn, requires_grad=True, dtype=np.float64)
y = F.batch_norm(x, None, None, gamma, beta, training=True)
y.backward(Tensor(G, dtype=np.float64))

dx, dgamma, dbeta = batchnorm_backward(G, xn, gn)
for name, ours, auto in [("x", dx, x), ("gamma", dgamma, gamma), ("beta", dbeta, beta)]:
    print(f"d{name}: largest difference from autograd {np.abs(ours - auto.grad.numpy()).max():.2e}")
    assert np.allclose(ours, auto.grad.numpy(), atol=1e-10), name
x_hat = (xn - xn.mean(0)) / np.sqrt(xn.var(0) + 1e-5)
assert np.allclose(dx.sum(axis=0), 0, atol=1e-10)               # sums to zero over the batch
assert np.allclose((dx * x_hat).sum(axis=0), 0, atol=1e-4)      # orthogonal to x_hat (exactly, if eps = 0)

# %% [markdown]
# Forgetting a path is a classic mistake; each omission gives a different wrong answer:

# %%
s_ = np.sqrt(xn.var(0) + 1e-5)
d_ = G * gn
only_direct = d_ / s_
without_variance = (N * d_ - d_.sum(0)) / (N * s_)
for name, attempt in [("only the direct path", only_direct), ("forgetting the variance", without_variance)]:
    print(f"{name:24s}: largest error {np.abs(attempt - x.grad.numpy()).max():.3f}")
    assert not np.allclose(attempt, x.grad.numpy(), atol=1e-3)

# %% [markdown]
# ## Images: `BatchNorm2d`
#
# For (N, C, H, W) input the statistics are per channel over the batch *and* every position,
# $M = N \cdot H \cdot W$ values each. The same formula applies once each channel's values are laid
# out as one column: move the channel axis last and flatten the rest.

# %%
from tinygrad_cnn import nn

images = rng.standard_normal((4, 3, 5, 5))
G4 = rng.standard_normal(images.shape)
layer = nn.BatchNorm2d(3, dtype=np.float64)
layer.train()
with_grad = Tensor(images, requires_grad=True, dtype=np.float64)
layer(with_grad).backward(Tensor(G4, dtype=np.float64))

as_columns = lambda a: a.transpose(0, 2, 3, 1).reshape(-1, 3)            # (N*H*W, C)
dx4, dgamma4, dbeta4 = batchnorm_backward(as_columns(G4), as_columns(images), layer.weight.numpy())
dx4 = dx4.reshape(4, 5, 5, 3).transpose(0, 3, 1, 2)
assert np.allclose(dx4, with_grad.grad.numpy(), atol=1e-10)
assert np.allclose(dgamma4, layer.weight.grad.numpy()) and np.allclose(dbeta4, layer.bias.grad.numpy())
print("BatchNorm2d: the same formula, over", 4 * 5 * 5, "values per channel, matches autograd")

# %% [markdown]
# This is also why, in notebook 5, the convolution biases in front of batch norm got a gradient
# of (almost) exactly zero: a bias adds the same constant to every value of its channel, and the
# gradient batch norm sends back sums to zero over exactly those values.

# %%
bias_grad = dx4.sum(axis=(0, 2, 3))    # what a conv bias in front of this layer would receive
print("gradient a preceding bias would get:", bias_grad)
assert np.allclose(bias_grad, 0, atol=1e-10)

# %% [markdown]
# ## And against PyTorch
#
# If PyTorch is installed, the same batch through `torch.nn.functional.batch_norm` in training mode.

# %%
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: skipping the comparison (pip install torch to run it)")

if torch is not None:
    xt = torch.tensor(xn, requires_grad=True)
    gt = torch.tensor(gn, requires_grad=True)
    bt = torch.tensor(bn, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    yt.backward(torch.tensor(G))
    assert np.allclose(yt.detach().numpy(), y.numpy())
    for name, ours, theirs in [("x", dx, xt), ("gamma", dgamma, gt), ("beta", dbeta, bt)]:
        assert np.allclose(ours, theirs.grad.numpy(), atol=1e-10), name
    print(f"PyTorch {torch.__version__}: the forward and the gradients of x, gamma and beta match")

# %% [markdown]
# **Takeaways.** Batch norm's input gradient is the incoming gradient (times $\gamma$) with its
# batch mean and its component along $\hat x$ removed, divided by the batch's standard deviation.
# Three paths — direct, through the mean, through the variance — and forgetting any one of them
# gives a wrong answer that autograd, built from the same primitives as the forward, never does.
