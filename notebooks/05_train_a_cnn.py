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
# # 5. Training a CNN on handwritten digits
#
# The bundled dataset has 1,797 images of 8×8 handwritten digits. We train the small CNN
# from `tinygrad_cnn.models` on it, plot the learning curves, look at how the gradient
# flows through the layers, and then use two small experiments to look at two classic
# problems: vanishing gradients, and overfitting with its cures (weight decay, dropout).

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %%
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

# %% [markdown]
# ## The model
#
# Two blocks of conv 3×3 → batch norm → ReLU → max pool 2, then two linear layers
# (16 and 32 channels here, half the default, to keep this notebook quick).

# %%
manual_seed(0)
model = digits_cnn(channels=(16, 32))  # half the default width: trains in seconds on any CPU
print(model)
print("parameters:", sum(p.size for p in model.parameters()))


# %% [markdown]
# ## The training loop
#
# Every step: forward, loss, `zero_grad`, `backward`, `step`. Evaluation runs in `eval()`
# mode (batch norm uses its running statistics) under `no_grad()`.

# %%
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

# %%
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

# %% [markdown]
# ## How the gradient flows through the layers
#
# One more backward on a batch, then two pictures: the mean and max |gradient| of every
# parameter (`plot_grad_flow`), and the whole graph with each module collapsed into one
# node, its edges coloured by the size of the gradient that flowed along them.

# %%
xb, yb = x_train[:64], y_train[:64]
optimizer.zero_grad()
loss = F.cross_entropy(model(Tensor(xb)), yb)
loss.backward()
plot_grad_flow(model)

# %% [markdown]
# Every layer gets a gradient of a healthy size — except the two **conv biases**, whose
# gradients are millions of times smaller than their weights'. That is no bug: batch
# norm subtracts the batch mean right after the convolution, so adding a constant bias
# changes nothing downstream and its true gradient is exactly zero (what is left is float32
# rounding). This is why a convolution followed by batch norm is usually built with
# `bias=False`.

# %%
named = dict(model.named_parameters())
norm = {name: float(np.linalg.norm(p.grad.numpy())) for name, p in named.items()}
print({name: f"{value:.1e}" for name, value in norm.items()})
assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())
assert norm["conv1.bias"] < 1e-4 * norm["conv1.weight"] and norm["conv2.bias"] < 1e-4 * norm["conv2.weight"]
assert min(v for name, v in norm.items() if not name.startswith("conv") or name.endswith("weight")) > 1e-4

# %%
draw_graph(loss, params=model, collapse=True)


# %% [markdown]
# With `collapse=True` each layer is one node, and so is the loss: `F.cross_entropy` is nine
# primitives (log-softmax, then picking each sample's class, then the mean), drawn as one.
#
# ## What the network learned: filters and feature maps
#
# The first convolution's 16 kernels, each 3×3, and one test digit on its way through the two
# convolution blocks: each map is one channel after conv → batch norm → ReLU (the second block
# has 32 channels; the first 16 are shown). We rebuild the forward pass by hand from the model's
# own layers, and check that it gives the model's logits.

# %%
model.eval()
digit = x_test[:1]
with no_grad():
    block1 = F.relu(model.bn1(model.conv1(Tensor(digit))))                 # (1, 16, 8, 8)
    block2 = F.relu(model.bn2(model.conv2(F.max_pool2d(block1, 2))))       # (1, 32, 4, 4)
    logits = model.fc2(F.relu(model.fc1(F.max_pool2d(block2, 2).flatten(1))))
    assert np.allclose(logits.numpy(), model(Tensor(digit)).numpy(), atol=1e-5)
model.train()
filters = model.conv1.weight.numpy()[:, 0]                                   # (16, 3, 3)
print("block 1", block1.shape, " block 2", block2.shape, " predicted", int(logits.numpy().argmax()),
      " label", int(y_test[0]))

fig, axes = plt.subplots(3, 17, figsize=(14, 2.9))
for ax in axes.ravel():
    ax.axis("off")
axes[1, 0].imshow(digit[0, 0], cmap="gray_r"); axes[1, 0].set_title("digit", fontsize=8)
for i in range(16):
    limit = np.abs(filters[i]).max()
    axes[0, i + 1].imshow(filters[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[1, i + 1].imshow(block1.numpy()[0, i], cmap="viridis")
    axes[2, i + 1].imshow(block2.numpy()[0, i], cmap="viridis")
axes[0, 1].set_title("conv1 filters (red +, blue −) · block 1 maps (8×8) · block 2 maps (4×4)", fontsize=9, loc="left")
plt.show()

# %% [markdown]
# ## Softmax and cross-entropy: the gradient by hand
#
# For one sample with logits $z$ and class $y$, softmax gives $p_k = e^{z_k} / \sum_j e^{z_j}$ and
# the loss is
#
# $$L = -\log p_y = -z_y + \log \sum_j e^{z_j}.$$
#
# Differentiating: $\partial(-z_y)/\partial z_k = -[k = y]$ and
# $\partial \log\sum_j e^{z_j} / \partial z_k = e^{z_k} / \sum_j e^{z_j} = p_k$, so
#
# $$\frac{\partial L}{\partial z} = \operatorname{softmax}(z) - \operatorname{onehot}(y),$$
#
# divided by $N$ for the mean over a batch. Every wrong class is pushed down by its probability,
# the right one pulled up by $1 - p_y$. Check it against autograd on the trained model's logits:

# %%
z = Tensor(model(Tensor(xb)).numpy(), requires_grad=True)    # the logits, as a leaf
F.cross_entropy(z, yb).backward()
zn = z.numpy().astype(np.float64)
p = np.exp(zn - zn.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
onehot = np.eye(10)[yb]
by_hand = (p - onehot) / len(yb)
print("largest difference from autograd:", np.abs(by_hand - z.grad.numpy()).max())
assert np.allclose(by_hand, z.grad.numpy(), atol=1e-6)
assert np.allclose(z.grad.numpy().sum(axis=1), 0, atol=1e-6)   # each row of p - onehot sums to 0

# %% [markdown]
# **Why the two are fused.** Written separately — `softmax`, then `log`, then pick the class — it
# breaks for confident logits: $e^{1000}$ overflows to `inf` (softmax becomes `nan`), and with
# the usual max subtraction a probability of $e^{-2000}$ rounds to 0 and its log is $-\infty$.
# Backward fares no better: the `log` step sends $1/p$, which is huge or infinite, to be
# multiplied by softmax's tiny derivative. `F.cross_entropy` instead computes
# $\log p = z - \max z - \log \sum_j e^{z_j - \max z}$ (log-softmax: every term finite) and its
# gradient through these primitives comes out as the simple $p - \text{onehot}$.

# %%
confident = np.array([[1000.0, 0.0, -1000.0]])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive_p = np.exp(confident) / np.exp(confident).sum()          # inf / inf for the top class
    shifted = np.exp(confident - confident.max())
    naive_loss = -np.log((shifted / shifted.sum())[0, 2])          # p_2 = e^-2000 rounds to 0
zc = Tensor(confident, requires_grad=True, dtype=np.float64)
fused = F.cross_entropy(zc, [2])
fused.backward()
print(f"naive softmax: {naive_p[0]}, naive loss with the max subtracted: {naive_loss}, fused: {fused.item()}")
print("fused gradient:", zc.grad.numpy())
assert np.isnan(naive_p[0, 0]) and np.isinf(naive_loss) and fused.item() == 2000.0
assert np.allclose(zc.grad.numpy(), [[1.0, 0.0, -1.0]])        # p - onehot: p = (1, 0, 0), y = 2

# %% [markdown]
# ## Vanishing gradients: sigmoid vs ReLU
#
# Backward multiplies the gradient by every layer's local derivative. The sigmoid's
# derivative is at most 1/4, so through ten sigmoid layers the gradient shrinks by a factor
# of roughly $(1/4 \cdot \|W\|)^{10}$ before it reaches the first layer, which then hardly
# learns. ReLU's derivative is 1 wherever the unit is active.
#
# Two identical ten-layer MLPs (64 units wide, same initialisation), one with sigmoid and
# one with ReLU; one backward on the same batch; the gradient norm of each layer's weight:

# %%
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

# %%
sigmoid, relu = grad_norms["Sigmoid"], grad_norms["ReLU"]
assert sigmoid[0] < 1e-3 * relu[0]          # orders of magnitude smaller at the first layer
assert sigmoid[0] < 1e-4 * sigmoid[-1]      # and it shrinks layer after layer

# %% [markdown]
# The ReLU network loses gradient with depth too, only less: its first layer's gradient is
# about 400 times smaller than its last layer's. That is the **initialisation**. `nn.Linear`
# draws weights uniformly from $\pm 1/\sqrt{n_\text{in}}$ (PyTorch's default), a variance of
# $1/(3 n_\text{in})$. A ReLU zeroes half of its inputs, so each layer multiplies the variance of
# the signal (forward) and of the gradient (backward) by about $n \cdot \operatorname{Var}(w) / 2
# = 1/6$: ten layers shrink it by orders of magnitude. **He initialisation** draws
# $w \sim \mathcal N(0,\ 2/n_\text{in})$, so that factor is 1 and the gradient keeps its size:

# %%
def he_init(net, seed=0):
    """Every Linear weight redrawn from N(0, 2 / fan_in), biases zero."""
    rng_he = np.random.default_rng(seed)
    state = {}
    for name, value in net.state_dict().items():
        if name.endswith("weight"):
            state[name] = (rng_he.standard_normal(value.shape) * np.sqrt(2.0 / value.shape[1])).astype(value.dtype)
        else:
            state[name] = np.zeros_like(value)
    net.load_state_dict(state)

manual_seed(0)
net = deep_mlp(nn.ReLU)
he_init(net)
F.cross_entropy(net(Tensor(x_train[:256])), y_train[:256]).backward()
grad_norms["ReLU, He init"] = [float(np.linalg.norm(p.grad.numpy()))
                               for name, p in net.named_parameters() if name.endswith("weight")]
for name, norms in grad_norms.items():
    print(f"{name:14s} last layer / first layer: {norms[-1] / norms[0]:10.3g}")
default_ratio = grad_norms["ReLU"][-1] / grad_norms["ReLU"][0]
he_ratio = grad_norms["ReLU, He init"][-1] / grad_norms["ReLU, He init"][0]
assert default_ratio > 100 and he_ratio < 10

# %% [markdown]
# ## Overfitting, weight decay and dropout
#
# With only 100 training images a 64→128→10 network memorises them perfectly, and the gap
# to the test accuracy is the overfitting. Two classic regularisers:
#
# * **L2 weight decay** adds $\frac{\lambda}{2}\|w\|^2$ to the loss, i.e. $\lambda w$ to each
#   gradient (`optim.Adam(..., weight_decay=λ)`): it keeps the weights small. `optim.AdamW`
#   decays the weights directly instead (see below why that differs inside Adam).
# * **Dropout** zeroes a random half of the hidden units at every training step (and
#   rescales the rest), so the network cannot rely on any single unit; it is off in `eval()`.

# %%
x_small, y_small = x_train[:100], y_train[:100]

def fit_small(weight_decay=0.0, dropout=0.0, steps=150, decoupled=False):
    manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(64, 128), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    net = nn.Sequential(*layers, nn.Linear(128, 10))
    opt = (optim.AdamW if decoupled else optim.Adam)(net.parameters(), lr=1e-2, weight_decay=weight_decay)
    net.train()
    for _ in range(steps):
        loss = F.cross_entropy(net(Tensor(x_small)), y_small)
        opt.zero_grad(); loss.backward(); opt.step()
    weight_norm = float(np.sqrt(sum((p.numpy().astype(np.float64) ** 2).sum()
                                    for name, p in net.named_parameters() if name.endswith("weight"))))
    return dict(train=accuracy(net, x_small, y_small), test=accuracy(net, x_test, y_test),
                weight_norm=weight_norm, net=net)

runs = {"plain": fit_small(), "weight decay 3e-3": fit_small(weight_decay=3e-3),
        "AdamW 0.3": fit_small(weight_decay=0.3, decoupled=True), "dropout 0.5": fit_small(dropout=0.5)}
for name, r in runs.items():
    print(f"{name:18s} train {r['train']:.3f}  test {r['test']:.3f}  gap {r['train'] - r['test']:.3f}"
          f"  ‖W‖ {r['weight_norm']:.1f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
names = list(runs)
positions = np.arange(len(names))
left.bar(positions - 0.2, [runs[n]["train"] for n in names], 0.4, label="train")
left.bar(positions + 0.2, [runs[n]["test"] for n in names], 0.4, label="test")
left.set_xticks(positions, names); left.set_ylim(0.5, 1.02); left.set_ylabel("accuracy"); left.legend()
right.bar(positions, [runs[n]["weight_norm"] for n in names], 0.5, color="tab:gray")
right.set_xticks(positions, names); right.set_ylabel("‖W‖ (all weight matrices)")
plt.show()

# %% [markdown]
# On this small problem every run still fits the 100 training images perfectly, and the
# regularisers move the test accuracy by less than three points (see the printout above).
# Differences that small move with the random seed, so this run does not show
# that either regulariser generalises better here; they earn their keep on models much larger
# than their data. What the output does show, reliably, is their effect on the weights: weight
# decay halves the weights' norm, AdamW's decay shrinks it by a fifth, dropout leaves it as it is.

# %%
tests = [r["test"] for r in runs.values()]
assert all(r["train"] == 1.0 for r in runs.values())             # 100 images memorised, every run
assert runs["plain"]["train"] - runs["plain"]["test"] > 0.05     # overfitting
assert max(tests) - min(tests) < 0.03                              # the regularisers change little here
assert runs["weight decay 3e-3"]["weight_norm"] < 0.6 * runs["plain"]["weight_norm"]
assert runs["AdamW 0.3"]["weight_norm"] < 0.9 * runs["plain"]["weight_norm"]
assert abs(runs["dropout 0.5"]["weight_norm"] / runs["plain"]["weight_norm"] - 1) < 0.1

# %% [markdown]
# ### Weight decay inside Adam, and AdamW
#
# `optim.Adam(..., weight_decay=λ)` adds $\lambda w$ to the gradient *before* Adam's scaling, so
# the decay is divided by $\sqrt{\hat v}$ like everything else: a weight whose gradients are large
# is hardly decayed, one whose gradients are tiny is decayed enormously. **AdamW** decouples the
# two: $w \leftarrow w - \eta\lambda w$, then the Adam step on the gradient alone, so every weight
# shrinks by the same factor $1 - \eta\lambda$ per step. Two weights, both starting at 1, one with
# large noisy gradients (standard deviation 100) and one with tiny ones (0.01), 300 steps, the
# same gradients for every optimizer; the "decay part" is where a run ends minus where Adam
# without decay ends:

# %%
def noisy_run(make, steps=300):
    w = Tensor(np.array([1.0, 1.0]), requires_grad=True, dtype=np.float64)
    opt = make([w])
    noise = np.random.default_rng(0)
    for _ in range(steps):
        w.grad = Tensor(noise.standard_normal(2) * np.array([100.0, 0.01]), dtype=np.float64)
        opt.step()
    return w.numpy()

lr, lam = 1e-3, 0.5
no_decay = noisy_run(lambda ps: optim.Adam(ps, lr=lr))
decay_in_adam = noisy_run(lambda ps: optim.Adam(ps, lr=lr, weight_decay=lam)) - no_decay
decay_in_adamw = noisy_run(lambda ps: optim.AdamW(ps, lr=lr, weight_decay=lam)) - no_decay
print("decay part, Adam(weight_decay): large-gradient weight %+.4f, tiny-gradient weight %+.4f" % tuple(decay_in_adam))
print("decay part, AdamW:              large-gradient weight %+.4f, tiny-gradient weight %+.4f" % tuple(decay_in_adamw))
assert abs(decay_in_adam[0]) < 0.05 * abs(decay_in_adam[1])        # Adam: decay only where gradients are tiny
assert 0.5 < decay_in_adamw[0] / decay_in_adamw[1] < 2             # AdamW: about the same for both
assert np.allclose(decay_in_adamw, -(1 - (1 - lr * lam) ** 300), rtol=0.2)   # w shrinks by (1 - ηλ) a step

# %% [markdown]
# ### Dropout, checked
#
# In training mode `nn.Dropout(p)` zeroes each element with probability $p$ and multiplies the
# survivors by $1/(1-p)$, so the expected value of every element is unchanged; in `eval()` mode it
# is the identity. The gradient flows only through the survivors, scaled the same way.

# %%
drop = nn.Dropout(0.3)
ones = Tensor(np.ones((200, 500)), requires_grad=True)
drop.train()
dropped = drop(ones)
dropped.sum().backward()
kept = dropped.numpy() != 0
print(f"kept fraction {kept.mean():.4f} (expected 0.7), survivors = {np.unique(dropped.numpy()[kept])}")
assert abs(kept.mean() - 0.7) < 0.01                                 # 100,000 draws: within 0.01
assert np.allclose(dropped.numpy()[kept], 1 / 0.7)
assert np.array_equal(ones.grad.numpy() != 0, kept) and np.allclose(ones.grad.numpy()[kept], 1 / 0.7)
drop.eval()
assert np.array_equal(drop(ones).numpy(), ones.numpy())             # eval: the identity

# %% [markdown]
# ## Your turn
#
# The binary version of the fused loss: a logit $z$ per sample, a label $y \in \{0, 1\}$,
# $p = \sigma(z)$ and $L = -\frac1N \sum_n [y_n \log p_n + (1 - y_n) \log(1 - p_n)]$
# (`F.binary_cross_entropy_with_logits`). Derive $\partial L/\partial z$ and write it in numpy
# with `zb` and `yb01`, replacing the `...`. Solution at the end.

# %%
from tinygrad_cnn.gradcheck import check_answer as check   # compares with autograd, prints a verdict

zb = np.random.default_rng(1).standard_normal(8)
yb01 = (np.arange(8) % 2).astype(np.float64)
z_t = Tensor(zb, requires_grad=True, dtype=np.float64)
F.binary_cross_entropy_with_logits(z_t, Tensor(yb01, dtype=np.float64)).backward()

# %%
dz = ...   # your formula, shape (8,)
check("dz", dz, z_t.grad)

# %% [markdown]
# **Takeaways.** A training loop is forward, loss, `zero_grad`, `backward`, `step`. The gradient
# of softmax + cross-entropy is $p - \text{onehot}(y)$, and computing the two fused keeps it
# finite. Per-layer gradient sizes show whether every layer is learning: sigmoid stacks starve
# their first layers, and even ReLU stacks do unless the weights are initialised for them (He).
# Weight decay and dropout are tools against overfitting whose benefit has to be measured; on
# 100 images they changed the weights much more than the test accuracy. Inside Adam, use AdamW
# for weight decay. Next: batch normalisation's backward by hand (`07_batchnorm_by_hand.ipynb`)
# and the same CNN written Keras-style (`06_keras_style.ipynb`).
#
# ## Solutions
#
# As for softmax: $\partial L_n/\partial z_n = \sigma(z_n) - y_n$ (the sigmoid's derivative
# $p(1-p)$ cancels against the log's $1/p$ and $1/(1-p)$), divided by $N$ for the mean.

# %%
dz = (1 / (1 + np.exp(-zb)) - yb01) / len(zb)
assert check("dz", dz, z_t.grad)
assert not check("dz", dz * len(zb), z_t.grad)   # forgetting the mean's 1/N is caught
