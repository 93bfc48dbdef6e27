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
# # 6. The Keras way: `Sequential().add(...)`
#
# Many people first meet CNNs through a few lines of Keras. `tinygrad_cnn.keras` runs such code
# unchanged but for its import — and underneath, every Keras layer is one of our `nn.Module`s
# built from the same tensor ops as the previous notebooks, so the graph, the gradients and the
# step-through still work. This notebook runs the article's own model, trains a small variant on
# the bundled digits, and then rewrites that model with plain tensor ops and `nn` layers to show
# that they compute exactly the same thing.

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from tinygrad_cnn import Tensor, manual_seed
np.set_printoptions(precision=4, suppress=True)
manual_seed(0)  # every random draw below is repeatable

# %% [markdown]
# ## The article's model
#
# The article this project grew from ends with this Keras model: one convolution of 32 filters
# (3×3, ReLU) on 64×64 colour images, **channels last** (N, H, W, C) as Keras expects, one 2×2 max
# pooling, a flatten, and a dense softmax layer over 10 classes.

# %%
from tinygrad_cnn.keras import Conv2D, Dense, Flatten, MaxPooling2D, Sequential

classifier = Sequential(seed=0)
classifier.add(Conv2D(32, (3, 3), activation="relu", input_shape=(64, 64, 3)))
classifier.add(MaxPooling2D(pool_size=(2, 2)))
classifier.add(Flatten())
classifier.add(Dense(10, activation="softmax"))
classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
classifier.summary()

# %% [markdown]
# Check the parameter count by hand: a 3×3 convolution from $C = 3$ to $F = 32$ channels has
# $3 \cdot 3 \cdot 3 \cdot 32$ weights plus 32 biases; the valid convolution shrinks each side
# from 64 to 62 and pooling halves it to 31, so the dense layer sees $31 \cdot 31 \cdot 32 = 30{,}752$
# inputs, times 10 outputs, plus 10 biases.

# %%
conv = 3 * 3 * 3 * 32 + 32
dense = (31 * 31 * 32) * 10 + 10
print(f"{conv:,} + {dense:,} = {conv + dense:,}")
assert (conv, dense, conv + dense) == (896, 307_530, 308_426)
assert classifier.count_params() == 308_426 and classifier.output_shape == (None, 10)

# %% [markdown]
# The article gives no data to go with it, so here it learns a made-up task: 10 classes, each a
# noisy 64×64 colour image with a bright square at the class's own place. Four epochs, then the
# accuracy on fresh images of the same kind.

# %%
def squares(count, seed):
    g = np.random.default_rng(seed)
    labels = g.integers(0, 10, count)
    pictures = g.uniform(0, 0.3, (count, 64, 64, 3)).astype(np.float32)
    for picture, label in zip(pictures, labels):
        top, left = 12 * (label // 5) + 8, 12 * (label % 5) + 2
        picture[top:top + 10, left:left + 10, label % 3] += 0.7
    return pictures, labels

x_sq, y_sq = squares(192, seed=1)
x_new, y_new = squares(100, seed=2)
history_sq = classifier.fit(x_sq, y_sq, epochs=4, batch_size=32, verbose=0)   # verbose=1: a progress bar
for epoch, (loss_e, acc_e) in enumerate(zip(history_sq.history["loss"], history_sq.history["accuracy"]), 1):
    print(f"epoch {epoch}: loss {loss_e:.4f}, accuracy {acc_e:.3f}")
loss_new, accuracy_new = classifier.evaluate(x_new, y_new)
print(f"fresh images: loss {loss_new:.3f}, accuracy {accuracy_new:.2f}")
assert history_sq.history["loss"][-1] < history_sq.history["loss"][0]
assert accuracy_new > 0.5          # chance is 0.1

# %% [markdown]
# ## A small variant, trained on the digits
#
# The bundled digits are 8×8 grey images stored channels-first (N, 1, 8, 8) for `nn.Conv2d`;
# Keras layers take channels-last, so we move the channel axis to the end: (N, 8, 8, 1).
# The model is the article's, scaled down to 8×8 grey inputs, with padding and one more dense layer.

# %%
from tinygrad_cnn.data import load_digits, train_test_split

images, labels = load_digits()
x_train, x_test, y_train, y_test = train_test_split(images, labels, test_fraction=0.2, seed=0)
x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)   # NCHW -> NHWC
print("x_train", x_train.shape, " x_test", x_test.shape)

model = Sequential(seed=0)
model.add(Conv2D(16, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(32, activation="relu"))
model.add(Dense(10, activation="softmax"))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()

# %%
# verbose=2 prints one line per epoch with its time (verbose=1: a progress bar); here we print the history
history = model.fit(x_train, y_train, epochs=15, batch_size=32, validation_split=0.1, verbose=0)
for epoch in range(0, 15, 3):
    print(f"epoch {epoch + 1:2d}: " + ", ".join(f"{key} {values[epoch]:.4f}" for key, values in history.history.items()))

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
epochs = np.arange(1, len(history.history["loss"]) + 1)
for key in ("loss", "val_loss"):
    left.plot(epochs, history.history[key], "o-", label=key)
for key in ("accuracy", "val_accuracy"):
    right.plot(epochs, history.history[key], "o-", label=key)
left.set_xlabel("epoch"); left.set_ylabel("cross-entropy"); left.legend()
right.set_xlabel("epoch"); right.set_ylabel("accuracy"); right.legend()
plt.show()

test_loss, test_accuracy = model.evaluate(x_test, y_test)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.3f}")
assert history.history["loss"][-1] < history.history["loss"][0]
assert test_accuracy > 0.9

# %% [markdown]
# ## Under the hood: the same model in tensor ops
#
# `model.module` is an ordinary `nn.Sequential` of the Keras layers. Their parameters are
# stored as everywhere else in the library — convolution weight (out, in, kh, kw), dense
# weight (out, in) — while `get_weights()` returns Keras's layouts (kernel (kh, kw, in, out),
# dense kernel (in, out)).

# %%
params = dict(model.module.named_parameters())
for name, p in params.items():
    print(f"{name:16s} {str(p.shape):16s}")
print("Keras layouts:", [w.shape for w in model.get_weights()])
assert model.get_weights()[0].shape == (3, 3, 1, 16) and params["conv2d.weight"].shape == (16, 1, 3, 3)

# %% [markdown]
# Written out with `functional` and tensor ops, using the trained parameters. Two details
# matter: the convolution runs on channels-first data, and Keras's `Flatten` flattens in
# (H, W, C) order — so we move the channels back to the end before flattening. The outputs
# agree to float32 rounding (about 1e-7..1e-6: `predict` works in batches of 32, and matrix
# products of a different size may add in a different order).

# %%
import tinygrad_cnn.functional as F
from tinygrad_cnn import no_grad

W1, b1 = params["conv2d.weight"], params["conv2d.bias"]
W2, b2 = params["dense.weight"], params["dense.bias"]
W3, b3 = params["dense_1.weight"], params["dense_1.bias"]

def forward_with_tensor_ops(x_nhwc):
    x = Tensor(x_nhwc).permute(0, 3, 1, 2)                    # NHWC -> NCHW
    x = F.max_pool2d(F.relu(F.conv2d(x, W1, b1, padding=1)), 2)
    x = x.permute(0, 2, 3, 1).flatten(1)                      # flatten in Keras's (H, W, C) order
    x = F.relu(F.linear(x, W2, b2))
    return F.softmax(F.linear(x, W3, b3), axis=1)

with no_grad():
    ours = forward_with_tensor_ops(x_test).numpy()
keras_out = model.predict(x_test)
print("largest difference:", np.abs(ours - keras_out).max())
assert np.allclose(ours, keras_out, atol=1e-5)
assert (ours.argmax(1) == keras_out.argmax(1)).all()

# %% [markdown]
# And with `nn` layers, the PyTorch way (channels-first input). The only change to the
# weights: `nn.Flatten` flattens (C, H, W), so the first dense layer's input columns are
# reordered from (H, W, C) to (C, H, W).

# %%
from tinygrad_cnn import nn

torch_style = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))
dense_hwc = W2.numpy().reshape(32, 4, 4, 16)                      # (out, H, W, C)
torch_style.load_state_dict({
    "0.weight": W1.numpy(), "0.bias": b1.numpy(),
    "4.weight": dense_hwc.transpose(0, 3, 1, 2).reshape(32, -1),  # -> (out, C*H*W)
    "4.bias": b2.numpy(), "6.weight": W3.numpy(), "6.bias": b3.numpy()})
torch_style.eval()
with no_grad():
    logits = torch_style(Tensor(x_test.transpose(0, 3, 1, 2)))   # NHWC -> NCHW
    probabilities = F.softmax(logits, axis=1).numpy()
assert np.allclose(probabilities, keras_out, atol=1e-5)
assert (probabilities.argmax(1) == keras_out.argmax(1)).all()
print("nn.Sequential gives the same predictions on all", len(x_test), "test images")

# %% [markdown]
# ## The graph is still there
#
# `model.compute_loss(x, y)` returns the loss as a `Tensor` with its whole graph, so
# everything from the earlier notebooks applies: backward, the gradient-flow picture, and
# stepping through backprop. Each Keras layer is collapsed into one node here.

# %%
from tinygrad_cnn.viz import draw_graph

model.module.zero_grad()
loss = model.compute_loss(x_train[:32], y_train[:32])
loss.backward()
assert all(p.grad is not None for p in model.module.parameters())
draw_graph(loss, params=model.module, collapse=True)

# %% [markdown]
# **Takeaways.** The Keras API is a thin layer: `Sequential` is an `nn.Sequential`, `fit`
# is the training loop of notebook 5, and the layers are the convolution, pooling and
# linear ops whose gradients notebooks 3 and 4 derived by hand. The differences that trip
# people up are layouts: channels-last images, and the order in which `Flatten` lays out
# the features.
