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
# product**, and its gradients come out of those ops' backward rules. This notebook steps
# through that backward and derives what the gradients are:
#
# * the **weight gradient** is a sum over every position the kernel visited (weight sharing);
# * the **input gradient** is a cross-correlation of the zero-padded output gradient with the
#   kernel **rotated by 180°** (for stride 1; with stride $s$ the output gradient is first
#   dilated, $s - 1$ zeros between its entries);
# * padding and stride change how many windows see each pixel, which shows in the gradient maps;
# * max pooling sends each window's gradient to its maximum only.
#
# At the end: a `conv_backward` as blog posts write it, its bugs, and a corrected version
# checked against autograd and PyTorch.

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %%
import tinygrad_cnn.functional as F
from tinygrad_cnn.autograd import topological_order
from tinygrad_cnn.viz import draw_graph

rng = np.random.default_rng(0)

def t64(array, requires_grad=False):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)

def correlate_valid(image, kernel):
    """Plain loops: out[r, s] = sum of image[r:r+kh, s:s+kw] * kernel (no library convolution)."""
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    return np.array([[np.sum(image[r:r + kh, s:s + kw] * kernel) for s in range(ow)] for r in range(oh)])

# %% [markdown]
# ## The graph of `F.conv2d`
#
# One image (1 channel, 5×5), one 3×3 kernel, padding 1. The graph shows the primitives: `pad`,
# the `windows` view (every 3×3 patch), movement ops (`permute`, `reshape`) that lay the patches
# out as the columns of a matrix ("im2col"), the `matmul` with the kernel, movement ops back to the
# image layout, and the bias `add`. Only `pad`, `windows` and `matmul` compute anything; the
# movement ops only rearrange numbers, and their backward rearranges the gradient back.

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
ops = [t.grad_fn.name for t in topological_order(loss) if t.grad_fn]   # the primitives, inputs first
assert {"pad", "windows", "matmul"} <= set(ops) and ops.index("pad") < ops.index("windows") < ops.index("matmul")
draw_graph(loss, params={"weight": w, "bias": bias})

# %% [markdown]
# ## im2col: the patches become a matrix
#
# A 5×5 image padded by 1 has 25 positions for a 3×3 window. Each window's 9 pixels become one
# column of a 9×25 matrix; the convolution is then one matrix product: the kernel as a row of 9
# numbers times that matrix gives all 25 outputs. Below, the pixels are numbered 1–25, and three
# windows and their columns are coloured alike.

# %%
image = np.arange(1.0, 26.0).reshape(1, 1, 5, 5)
patches = t64(image).pad(((0, 0), (0, 0), (1, 1), (1, 1))).windows((3, 3))   # (1, 1, 5, 5, 3, 3)
matrix = patches.numpy().reshape(25, 9).T                                        # 9 x 25: one column per window
by_loops = np.zeros((9, 25))
padded = np.pad(image[0, 0], 1)
for p in range(5):
    for q in range(5):
        by_loops[:, 5 * p + q] = padded[p:p + 3, q:q + 3].reshape(9)
assert np.array_equal(matrix, by_loops)

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 3.2]})
left.imshow(np.zeros((7, 7)), cmap="Greys", vmin=0, vmax=1)
for (r, c), v in np.ndenumerate(padded):
    left.text(c, r, int(v) if v else "0", ha="center", va="center", fontsize=9, color="k" if v else "#999")
right.imshow(np.zeros_like(matrix), cmap="Greys", vmin=0, vmax=1, aspect="auto")
for (r, c), v in np.ndenumerate(matrix):
    right.text(c, r, int(v), ha="center", va="center", fontsize=7, color="k" if v else "#999")
for (p, q), colour in zip([(0, 0), (2, 2), (4, 3)], ["tab:red", "tab:blue", "tab:green"]):
    left.add_patch(plt.Rectangle((q - 0.5, p - 0.5), 3, 3, fill=False, edgecolor=colour, linewidth=2.5))
    right.add_patch(plt.Rectangle((5 * p + q - 0.5, -0.5), 1, 9, facecolor=colour, alpha=0.25, edgecolor=colour))
left.set_title("5×5 image, padded: three 3×3 windows"); right.set_title("the 9×25 patch matrix: one column per window")
for ax in (left, right):
    ax.set_xticks([]); ax.set_yticks([])
plt.show()

# %% [markdown]
# ## Convolution from the window view, checked against plain loops
#
# `x.windows((3, 3))` turns (N, C, H, W) into (N, C, OH, OW, 3, 3): for every output position,
# the 3×3 patch it sees (a strided view, no copy). Multiplying by the kernel and summing the last
# two axes *is* the convolution (a cross-correlation, like PyTorch's). `F.conv2d` is built on the
# same windows, so comparing the two would prove little; we compare both with plain loops.

# %%
x0 = rng.standard_normal((6, 6))
k0 = rng.standard_normal((3, 3))
by_windows = (t64(x0[None, None]).windows((3, 3)) * t64(k0)).sum(axis=(-2, -1)).numpy()[0, 0]
by_conv = F.conv2d(t64(x0[None, None]), t64(k0[None, None])).numpy()[0, 0]
loops = correlate_valid(x0, k0)
assert np.allclose(by_windows, loops) and np.allclose(by_conv, loops)
print("windows * kernel, summed == F.conv2d == plain loops:", loops.shape)

# %% [markdown]
# ## Step through the convolution's backward
#
# A 4×4 image, a 3×3 kernel, padding 1, $L = \sum(\text{out} \cdot G)$. Each step below is one
# node: its op, its rule, the shape of the gradient arriving and the shapes it sends on. Follow
# the image's path: the gradient reaches `matmul`, which sends one part to the kernel and one to
# the patch matrix; movement ops turn the patch matrix's gradient back into one gradient per
# window; `windows` **adds** the gradients of overlapping windows back onto the pixels they
# share (its backward is `fold_windows`); `pad` then **drops** the gradient that landed on the
# padding.

# %%
xs = t64(rng.standard_normal((1, 1, 4, 4)), requires_grad=True)
ws = t64(rng.standard_normal((1, 1, 3, 3)), requires_grad=True)
xs.name = "x"
out_s = F.conv2d(xs, ws, padding=1)
Gs = rng.standard_normal(out_s.shape)
loss_s = (out_s * t64(Gs)).sum()
conv_steps = list(loss_s.backward_steps())
for step in conv_steps:
    sent = ", ".join("-" if g is None else str(g.shape) for g in step.input_grads)
    print(f"{step.index + 1:2d}. {step.op:8s} grad in {str(step.grad.shape):20s} sends [{sent}]")
    print(f"    {step.rule}")

# %% [markdown]
# Check the two steps that matter with plain loops. By hand, every window at position $(p, q)$
# adds $G_{pq}\, w_{ij}$ to padded pixel $(p + i, q + j)$: that sum is what `windows` must send.
# Its border is not zero — the kernel did touch the padding — and `pad` must drop exactly that
# border and pass on the 4×4 middle.

# %%
by_hand = np.zeros((6, 6))
for p in range(4):
    for q in range(4):
        by_hand[p:p + 3, q:q + 3] += Gs[0, 0, p, q] * ws.numpy()[0, 0]
windows_step = next(s for s in conv_steps if s.op == "windows")
pad_step = next(s for s in conv_steps if s.op == "pad")
folded = windows_step.input_grads[0].numpy().reshape(6, 6)    # N = C = 1: any layout reshapes to 6 x 6
assert np.allclose(folded, by_hand)                            # overlapping windows' gradients add up
assert np.allclose(pad_step.grad.numpy().reshape(6, 6), by_hand)
assert np.abs(by_hand[0]).max() > 0                            # the padding did receive gradient...
assert np.allclose(pad_step.input_grads[0].numpy().reshape(4, 4), by_hand[1:-1, 1:-1])   # ...pad drops it
assert np.allclose(xs.grad.numpy()[0, 0], by_hand[1:-1, 1:-1])
print("gradient on the padded image (the border is dropped by pad):\n", by_hand)

# %% [markdown]
# Three frames of that walk: the `matmul` step, the `windows` step (fold) and the `pad` step. The
# node being processed is orange, the nodes done green, those still waiting white. Below them,
# the player holds every step of the same backward (on a fresh graph): step through it and watch
# the gradient reach `windows` and `pad`. The gallery's
# [`viz/lenet_player.html`](../viz/lenet_player.html) does the same for a whole LeNet.

# %%
from IPython.display import display

for op in ("matmul", "windows", "pad"):
    step = next(s for s in conv_steps if s.op == op)
    display(draw_graph(loss_s, params={"weight": ws}, step=step, compact=True))

# %%
from tinygrad_cnn.viz import player

x_fresh = t64(xs.numpy(), requires_grad=True)
x_fresh.name = "x"
w_fresh = t64(ws.numpy(), requires_grad=True)
player((F.conv2d(x_fresh, w_fresh, padding=1) * t64(Gs)).sum(), params={"weight": w_fresh},
       title="conv2d backward, step by step")

# %% [markdown]
# ## The weight gradient: a sum over every position (weight sharing)
#
# With output gradient $G = \partial L/\partial\,\text{out}$ (shape OH×OW) and
# $\text{out}_{pq} = \sum_{ij} x_{p+i,\,q+j}\, w_{ij}$,
#
# $$\frac{\partial L}{\partial w_{ij}} = \sum_{p,q} G_{pq}\; x_{p+i,\,q+j}.$$
#
# The same weight is used at every position $(p, q)$, so its gradient collects a contribution
# from each: the kernel's gradient is the input **cross-correlated with the output gradient**.
# Here with explicit loops:

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
assert np.allclose(dw, correlate_valid(xi, G))   # the same sum: x cross-correlated with G

# %% [markdown]
# ## The input gradient: cross-correlation with the kernel rotated 180°
#
# Each input pixel $x_{rs}$ was used by every output position whose window covered it, with
# weight $w_{r-p,\,s-q}$: $\partial L/\partial x_{rs} = \sum_{p,q} G_{pq}\, w_{r-p,\,s-q}$.
# Re-indexing shows this is a cross-correlation of $G$, zero-padded by $k-1$ on every side (so
# it grows back to the input size), with the kernel **rotated by 180°** (flipped in both axes).
# That holds for **stride 1**.

# %%
G_padded = np.pad(G, k - 1)             # (OH + 2(k-1)) x (OW + 2(k-1)) = 8 x 8
rotated = wk[::-1, ::-1]                # rotate the kernel by 180 degrees
dx = correlate_valid(G_padded, rotated)
print("input gradient shape", dx.shape, "== input shape", xi.shape)
assert np.allclose(dx, x.grad.numpy()[0, 0])

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
for ax, (title, picture) in zip(axes, [("kernel w", wk), ("kernel rotated 180°", rotated),
                                       ("output gradient G", G), ("input gradient dL/dx", dx)]):
    im = ax.imshow(picture, cmap="RdBu_r", vmin=-np.abs(picture).max(), vmax=np.abs(picture).max())
    ax.set_title(title); ax.set_xticks([]); ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.show()

# %% [markdown]
# **With stride $s$** the outputs sit $s$ pixels apart, so before the same recipe works, $G$
# must be **dilated**: $s - 1$ zeros inserted between its entries, putting each output gradient
# back at the position its window started. Then pad by $k - 1$ and cross-correlate with the
# rotated kernel as before (and if the last input rows were never reached by a window, their
# gradient is 0). Here stride 2 on a 7×7 image:

# %%
s = 2
x7 = rng.standard_normal((7, 7))
x_s = t64(x7[None, None], requires_grad=True)
out7 = F.conv2d(x_s, t64(wk[None, None]), stride=s)
G7 = rng.standard_normal(out7.shape[2:])               # 3 x 3
(out7 * t64(G7[None, None])).sum().backward()

dilated = np.zeros(((G7.shape[0] - 1) * s + 1, (G7.shape[1] - 1) * s + 1))   # 5 x 5
dilated[::s, ::s] = G7
dx7 = correlate_valid(np.pad(dilated, k - 1), rotated)
print("dilated G:\n", dilated)
assert dx7.shape == x7.shape and np.allclose(dx7, x_s.grad.numpy()[0, 0])
assert not np.allclose(correlate_valid(np.pad(G7, k - 1), rotated)[:3, :3], x_s.grad.numpy()[0, 0, :3, :3])

# %% [markdown]
# In the library this all happens inside the `windows` op's backward: it adds the gradient of
# every patch back onto the pixels that patch covered (`fold_windows`), whatever the stride.
#
# ## Edges, padding and stride
#
# To see *how many* gradient contributions each pixel receives, use an all-ones kernel and
# $L = \sum \text{out}$: then $\partial L/\partial x_{rs}$ counts the windows that covered pixel
# $(r, s)$.

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
    for (r, c), v in np.ndenumerate(counts):
        ax.text(c, r, int(v), ha="center", va="center", color="w" if v < 5 else "k", fontsize=8)
    ax.set_title(name); ax.set_xticks([]); ax.set_yticks([])
plt.show()

# %% [markdown]
# * **No padding**: a corner pixel is seen by one window, the centre by nine. A border pixel's
#   value reaches fewer outputs, so it receives fewer gradient contributions and passes less
#   gradient on to the layer before. (Pixels have no parameters of their own; the kernel weights
#   are what learn, and they see the border less often than the middle.)
# * **Padding 1**: the border pixels are now covered by 4 (corners) or 6 windows; the padding
#   zeros also receive gradient, which `pad`'s backward drops.
# * **Stride 2**: windows overlap unevenly, so the gradient map is a checkerboard of counts; the
#   last row and column are never visited (8 − 3 is odd) and get **no gradient at all**.
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
# ## Max pooling: the gradient goes to the maximum
#
# `F.max_pool2d(x, 2)` is `windows` (2×2, stride 2) followed by `max` over each window. The max's
# local derivative is 1 for the element that won and 0 for the others, so each window's gradient
# goes to its maximum only; `windows` then puts it back at that pixel. When two values **tie**
# for the maximum, `tinygrad_cnn` shares the gradient evenly between them (as `torch.amax`
# does); PyTorch's `max_pool2d` gives all of it to one of them. Both are valid subgradients:
# the sum over the window is the same.

# %%
xp = t64([[[[1.0, 5.0, 2.0, 2.0],
             [3.0, 0.0, 2.0, 2.0],
             [7.0, 1.0, 0.5, 4.0],
             [0.0, 6.0, 4.0, 3.0]]]], requires_grad=True)    # top right: four tied; bottom right: two
xp.name = "x"
pooled = F.max_pool2d(xp, 2)
pool_loss = (pooled * t64([[[[1.0, 2.0], [3.0, 4.0]]]])).sum()
pool_loss.backward()
grad = xp.grad.numpy()[0, 0]
print("pooled:\n", pooled.numpy()[0, 0], "\ngradient:\n", grad)
assert grad[0, 1] == 1.0 and grad[2, 0] == 3.0                # the single maxima get everything
assert np.allclose(grad[:2, 2:], 0.5) and grad[3, 2] == 2.0 and grad[2, 3] == 2.0   # ties share evenly
assert np.isclose(grad.sum(), 1 + 2 + 3 + 4)                  # nothing lost, nothing created

fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
for ax, (title, picture) in zip(axes, [("input (2×2 windows)", xp.numpy()[0, 0]), ("its gradient", grad)]):
    ax.imshow(picture, cmap="Blues")
    for (r, c), v in np.ndenumerate(picture):
        ax.text(c, r, f"{v:g}", ha="center", va="center")
    ax.axhline(1.5, color="k"); ax.axvline(1.5, color="k")
    ax.set_title(title); ax.set_xticks([]); ax.set_yticks([])
plt.show()

# %%
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: skipping the comparison")
if torch is not None:
    xt = torch.tensor(xp.numpy(), requires_grad=True)
    (torch.nn.functional.max_pool2d(xt, 2) * torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)).sum().backward()
    theirs = xt.grad.numpy()[0, 0]
    print("PyTorch's gradient:\n", theirs)
    assert np.allclose(theirs[:, :2], grad[:, :2])               # no ties: identical
    windows_sum = lambda g: g.reshape(2, 2, 2, 2).sum(axis=(1, 3))
    assert np.allclose(windows_sum(theirs), windows_sum(grad))   # ties: same total per window

# %%
draw_graph(pool_loss, rankdir="LR")

# %% [markdown]
# ## A `conv_backward` as blog posts write it, and its bugs
#
# The article this project started from gives a numpy `conv_backward(dout, x, w, stride, padding)`
# with three bugs, each a classic:
#
# 1. **The padding is stripped from the wrong array.** It crops the *output* gradient `dout` by
#    `padding` on each side, and returns the input gradient with the padding still on. The
#    output gradient has no padding; the input gradient does (it was computed on the padded image)
#    and is the one to crop.
# 2. **A typo in a slice**, `x_padded[..., i:i + k, j:i + k]`: the column range starts at `j` but
#    ends at `i + k`, so any window off the diagonal gets the wrong width (numpy silently shortens
#    or lengthens the slice; it only fails when the shapes no longer broadcast).
# 3. **Truncation**: the input gradient is made with `np.zeros_like(x_padded)`, which inherits the
#    image's dtype, so for an integer image (pixel values 0–255) every sum stored into it is
#    silently truncated to an integer (numpy refuses `+=` here, but `a[s] = a[s] + v` casts).
#
# Below, one function with a switch per bug, checked against autograd with every bug off and
# with each bug on alone.

# %%
def conv_backward(dout, x, w, stride=1, padding=0, bugs=()):
    """dL/dx, dL/dw of out = conv2d(x, w) (N, C, H, W / O, C, k, k), given dL/dout; loops only."""
    n, c, h, width = x.shape
    o, _, k, _ = w.shape
    if "crop dout" in bugs:
        dout = dout[:, :, padding:dout.shape[2] - padding, padding:dout.shape[3] - padding]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp) if "zeros_like" in bugs else np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            r, q = i * stride, j * stride
            cols = slice(q, r + k) if "j:i+k" in bugs else slice(q, q + k)
            patch = xp[:, :, r:r + k, cols]                                 # (N, C, k, k)
            g = dout[:, :, i, j]                                            # (N, O)
            dw += np.einsum("no,nckl->ockl", g, patch)                      # weight sharing
            dxp[:, :, r:r + k, cols] = dxp[:, :, r:r + k, cols] + np.einsum("no,ockl->nckl", g, w)  # scatter back
    if "crop dout" in bugs:
        return dxp, dw                                                      # bug 1: padding left on dx
    return dxp[:, :, padding:padding + h, padding:padding + width], dw

x_int = rng.integers(0, 256, size=(2, 3, 8, 8))                 # an 8-bit image, as integers
w_conv = rng.standard_normal((4, 3, 3, 3)) * 0.01
xt_, wt_ = t64(x_int, True), t64(w_conv, True)
out_c = F.conv2d(xt_, wt_, stride=1, padding=1)
dout = rng.standard_normal(out_c.shape)
out_c.backward(t64(dout))

def verdict(bugs):
    try:
        dx, dw = conv_backward(dout, x_int, w_conv, stride=1, padding=1, bugs=bugs)
    except (ValueError, IndexError) as error:
        return f"crashes: {str(error)[:70]}"
    ok_x = dx.shape == xt_.grad.shape and np.allclose(dx, xt_.grad.numpy())
    ok_w = np.allclose(dw, wt_.grad.numpy())
    return "correct" if ok_x and ok_w else f"wrong (dx {'ok' if ok_x else 'wrong'}, dw {'ok' if ok_w else 'wrong'})"

results = {bugs: verdict(bugs) for bugs in [(), ("crop dout",), ("j:i+k",), ("zeros_like",)]}
for bugs, result in results.items():
    print(f"{', '.join(bugs) or 'no bug':12s} -> {result}")
assert results[()] == "correct"
assert all(result != "correct" for bugs, result in results.items() if bugs)

# %% [markdown]
# ## The corrected version, with stride, against autograd and PyTorch
#
# With every bug off, the same function is a complete convolution backward: any batch, any
# number of channels, stride and padding. Here stride 2, padding 1, float images; then the bias
# (its gradient is the output gradient summed over batch and positions).

# %%
xn = rng.standard_normal((2, 3, 7, 7))
wn = rng.standard_normal((4, 3, 3, 3))
bn = rng.standard_normal(4)
x, w, b = t64(xn, True), t64(wn, True), t64(bn, True)
out = F.conv2d(x, w, b, stride=2, padding=1)
grad_out = rng.standard_normal(out.shape)
out.backward(t64(grad_out))

dx, dw = conv_backward(grad_out, xn, wn, stride=2, padding=1)
db = grad_out.sum(axis=(0, 2, 3))
assert np.allclose(dx, x.grad.numpy()) and np.allclose(dw, w.grad.numpy()) and np.allclose(db, b.grad.numpy())
print("corrected numpy backward == autograd  (out", out.shape, ")")

# %% [markdown]
# PyTorch is not a dependency of `tinygrad_cnn`; if it is installed, this cell compares the
# forward and all three gradients with `torch.nn.functional.conv2d`.

# %%
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
# ## Your turn
#
# A 5×5 image `xe`, a 2×2 kernel `we`, stride 1, no padding, and the output gradient `Ge`
# (4×4). Compute the kernel's gradient `dW` (a 2×2 array) and the image's gradient `dX` (5×5)
# in numpy, replacing the `...`. Use loops or `correlate_valid`. Solutions are at the end.

# %%
from tinygrad_cnn.gradcheck import check_answer as check   # compares with autograd, prints a verdict

xe = rng.standard_normal((5, 5))
we = rng.standard_normal((2, 2))
xe_t, we_t = t64(xe[None, None], True), t64(we[None, None], True)
out_e = F.conv2d(xe_t, we_t)
Ge = rng.standard_normal(out_e.shape[2:])
(out_e * t64(Ge[None, None])).sum().backward()

# %%
dW = ...   # your formula: the 2 x 2 kernel gradient
dX = ...   # your formula: the 5 x 5 image gradient
check("dW", dW, we_t.grad.numpy()[0, 0])
check("dX", dX, xe_t.grad.numpy()[0, 0])

# %% [markdown]
# **Takeaways.** A convolution's weight gradient sums (output gradient × input patch) over every
# position — weight sharing; its input gradient spreads each output gradient back over the patch
# it came from: a cross-correlation of the zero-padded (and, for stride > 1, dilated) output
# gradient with the kernel rotated 180°. Padding and stride decide which pixels get how much of
# it; max pooling routes each window's gradient to its maximum. Next: training a whole CNN
# (`05_train_a_cnn.ipynb`).
#
# ## Solutions
#
# $\partial L/\partial W = $ the image cross-correlated with $G$; $\partial L/\partial X = $ $G$
# zero-padded by $k - 1 = 1$, cross-correlated with the kernel rotated 180°.

# %%
dW = correlate_valid(xe, Ge)
dX = correlate_valid(np.pad(Ge, 1), we[::-1, ::-1])
assert check("dW", dW, we_t.grad.numpy()[0, 0])
assert check("dX", dX, xe_t.grad.numpy()[0, 0])
assert not check("dX", correlate_valid(np.pad(Ge, 1), we), xe_t.grad.numpy()[0, 0])   # forgetting the rotation
