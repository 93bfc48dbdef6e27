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
# ## Overfitting, weight decay and dropout
#
# With only 100 training images a 64→128→10 network memorises them perfectly, and the gap
# to the test accuracy is the overfitting. Two classic regularisers:
#
# * **L2 weight decay** adds $\frac{\lambda}{2}\|w\|^2$ to the loss, i.e. $\lambda w$ to each
#   gradient (`optim.Adam(..., weight_decay=λ)`): it keeps the weights small.
# * **Dropout** zeroes a random half of the hidden units at every training step (and
#   rescales the rest), so the network cannot rely on any single unit; it is off in `eval()`.

# %%
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
# Weight decay roughly halves the size of the weights; on this small problem both
# regularisers narrow the train/test gap only a little (the exact numbers move with the
# random seed), which is typical: they help most when the model is much larger than the
# data. The robust, repeatable effect is on the weights themselves:

# %%
assert runs["weight decay 3e-3"]["weight_norm"] < 0.8 * runs["plain"]["weight_norm"]
assert runs["plain"]["train"] == 1.0                     # 100 images memorised: overfitting
assert runs["plain"]["train"] - runs["plain"]["test"] > 0.05

# %% [markdown]
# **Takeaways.** A training loop is forward, loss, `zero_grad`, `backward`, `step`. Looking
# at per-layer gradient sizes shows whether every layer is learning (sigmoid stacks starve
# their first layers); weight decay and dropout trade a little training fit for weights
# that generalise. Next: the same CNN written Keras-style (`06_keras_style.ipynb`).
