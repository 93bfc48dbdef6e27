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
# # 4. Backpropagation through a convolution
#
# A convolution slides one small kernel over the image. In `tinygrad_cnn` it is not a
# primitive with a hand-written backward: `F.conv2d` is **pad → window view → matrix
# product**, and its gradients come out of those three ops' backward rules. This notebook
# looks at what those gradients are:
#
# * the **weight gradient** is a sum over every position the kernel visited (weight sharing);
# * the **input gradient** is a *full* convolution of the output gradient with the
#   **flipped** kernel;
# * padding and stride change how many times each pixel is used, which shows in the
#   gradient maps.

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

def t64(array, requires_grad=False):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)


# %% [markdown]
# ## The graph of `F.conv2d`
#
# One image (1 channel, 5×5), one 3×3 kernel, padding 1. The graph shows the primitives:
# `pad`, the `windows` view (every 3×3 patch), a `permute`/`reshape` into a patch matrix
# ("im2col"), the `matmul` with the kernel, and the bias `add`. (For small images whose
# input gradient is needed, `conv2d` also moves the batch axis innermost first — the first
# `permute` — and stores the result back in the usual layout — `contiguous`. That changes
# only the memory layout, for speed; the values and gradients are the same.)

# %%
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

# %% [markdown]
# ## Convolution from the window view
#
# `x.windows((3, 3))` turns (N, C, H, W) into (N, C, OH, OW, 3, 3): for every output
# position, the 3×3 patch it sees (a strided view, no copy). Multiplying by the kernel and
# summing the last two axes *is* the convolution (a cross-correlation, like PyTorch's).

# %%
x0 = t64(rng.standard_normal((1, 1, 6, 6)), requires_grad=True)
k0 = t64(rng.standard_normal((3, 3)), requires_grad=True)
patches = x0.windows((3, 3))
print("window view:", patches.shape)
by_windows = (patches * k0).sum(axis=(-2, -1))
by_conv = F.conv2d(x0, k0.reshape(1, 1, 3, 3))
assert np.allclose(by_windows.numpy(), by_conv.numpy())
print("windows * kernel, summed == F.conv2d:", by_conv.shape)

# %% [markdown]
# ## The weight gradient: a sum over every position (weight sharing)
#
# With output gradient $G = \partial L/\partial\,\text{out}$ (shape OH×OW), output
# $\text{out}_{pq} = \sum_{ij} x_{p+i,\,q+j}\, w_{ij}$, so
#
# $$\frac{\partial L}{\partial w_{ij}} = \sum_{p,q} G_{pq}\; x_{p+i,\,q+j}.$$
#
# The same weight is used at every position $(p, q)$, so its gradient collects a
# contribution from each: the kernel's gradient is the input **correlated with the output
# gradient**. Here with explicit loops:

# %%
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
print("by hand:\n", dw)
assert np.allclose(dw, w.grad.numpy()[0, 0])


# %% [markdown]
# ## The input gradient: a full convolution with the flipped kernel
#
# Each input pixel $x_{rs}$ was used by every output position whose window covered it, with
# weight $w_{r-p,\,s-q}$:
# $\partial L/\partial x_{rs} = \sum_{p,q} G_{pq}\, w_{r-p,\,s-q}$.
# Re-indexing shows this is a **full** correlation of $G$ (zero-padded by $k-1$ on every
# side, so it grows back to the input size) with the kernel **rotated by 180°**.

# %%
def correlate_valid(image, kernel):
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    return np.array([[np.sum(image[r:r + kh, s:s + kw] * kernel) for s in range(ow)] for r in range(oh)])

G_padded = np.pad(G, k - 1)             # (OH + 2(k-1)) x (OW + 2(k-1)) = 8 x 8
flipped = wk[::-1, ::-1]                # rotate the kernel by 180 degrees
dx = correlate_valid(G_padded, flipped)
print("input gradient shape", dx.shape, "== input shape", xi.shape)
assert np.allclose(dx, x.grad.numpy()[0, 0])

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
for ax, (title, image) in zip(axes, [("kernel w", wk), ("flipped kernel", flipped),
                                     ("output gradient G", G), ("input gradient dL/dx", dx)]):
    im = ax.imshow(image, cmap="RdBu_r", vmin=-np.abs(image).max(), vmax=np.abs(image).max())
    ax.set_title(title); ax.set_xticks([]); ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.show()


# %% [markdown]
# In the library this happens inside the `windows` op's backward: it adds the gradient of
# every patch back onto the pixels that patch covered (`FoldWindows`). Overlapping patches
# add up — exactly the sum above.
#
# ## Edges, padding and stride
#
# To see *how many* gradient contributions each pixel receives, use an all-ones kernel and
# $L = \sum \text{out}$: then $\partial L/\partial x_{rs}$ counts the windows that
# covered pixel $(r, s)$.

# %%
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

# %% [markdown]
# * **No padding**: a corner pixel is seen by one window, the centre by nine — the edges of
#   the image learn from (and pass back) far less gradient.
# * **Padding 1**: the border pixels are now covered by 4 (corners) or 6 windows; the
#   padding zeros also receive gradient, which `pad`'s backward simply drops.
# * **Stride 2**: windows overlap unevenly, so the gradient map is a checkerboard of counts;
#   the last row and column are never visited (8 − 3 is odd) and get **no gradient at all**.
# * **2×2 kernel, stride 3**: windows do not even touch — whole rows and columns are gaps.

# %%
m = maps["3x3, no padding"]
assert m[0, 0] == 1 and m[0, 1] == 2 and m[4, 4] == 9
m = maps["3x3, padding 1"]
assert m[0, 0] == 4 and m[0, 3] == 6 and m[3, 3] == 9
m = maps["3x3, stride 2"]
assert (m[-1, :] == 0).all() and (m[:, -1] == 0).all() and m[2, 2] == 4
m = maps["2x2, stride 3"]
assert (m[2, :] == 0).all() and (m[:, 5] == 0).all() and m.max() == 1


# %% [markdown]
# ## A complete convolution backward in numpy
#
# Now the general case: a batch, several input and output channels, stride and padding. The
# backward below loops over output positions; at each one the patch of the (padded) input
# and the output gradient there give one contribution to $\partial L/\partial W$
# and one to $\partial L/\partial x$ — the loops of the last two sections, with channels.

# %%
def conv2d_backward_numpy(x, w, grad_out, stride=1, padding=0):
    """dL/dx, dL/dw, dL/db of out = conv2d(x, w, b, stride, padding) given dL/dout."""
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

# %% [markdown]
# ## And against PyTorch
#
# PyTorch is not a dependency of `tinygrad_cnn`; if it is installed, this cell compares the
# forward and all three gradients with `torch.nn.functional.conv2d`.

# %%
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

# %% [markdown]
# **Takeaways.** A convolution's weight gradient sums (output gradient × input patch) over
# every position — weight sharing; its input gradient spreads each output gradient back
# over the patch it came from, which is a full convolution with the flipped kernel; padding
# and stride decide which pixels get how much of it. Next: training a whole CNN
# (`05_train_a_cnn.ipynb`).
