"""keras: the classic Keras CNN snippet runs unchanged but for the import; summary counts as Keras;
training learns; the model equals the same network written with ``nn`` (weights mapped, Flatten order
included); fused softmax + cross-entropy is stable; each user mistake gets an error naming the culprit."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from helpers import check_gradients, requires_torch, torch
from tinygrad_cnn import ShapeError, Tensor, nn, optim
from tinygrad_cnn import functional as F
from tinygrad_cnn.data import load_digits
from tinygrad_cnn.keras import (Activation, Adam, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Input,
                                MaxPooling2D, Sequential, to_categorical)


def classic_snippet() -> Sequential:
    """The snippet from the issue, verbatim."""
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(64, 64, 3)))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(10, activation='softmax'))
    return model


def small_cnn(seed: int = 0, dtype: str = "float32", input_shape=(8, 8, 1), filters: int = 4,
              classes: int = 10) -> Sequential:
    model = Sequential(seed=seed, dtype=dtype)
    model.add(Conv2D(filters, (3, 3), activation="relu", input_shape=input_shape))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(classes, activation="softmax"))
    return model


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits()
    return images.transpose(0, 2, 3, 1)[:600], labels[:600]   # channels last: (N, 8, 8, 1)


# ================================ the snippet and summary ========================================

def test_snippet_summary_counts_as_keras(capsys):
    model = classic_snippet()
    model.summary()
    text = capsys.readouterr().out
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            re.finditer(r"^ (\w+ \(\w+\))\s+(\(None[^)]*\))\s+([\d,]+)$", text, flags=re.M)}
    assert rows == {"conv2d (Conv2D)": ("(None, 62, 62, 32)", "896"),
                    "max_pooling2d (MaxPooling2D)": ("(None, 31, 31, 32)", "0"),
                    "flatten (Flatten)": ("(None, 30752)", "0"),
                    "dense (Dense)": ("(None, 10)", "307,530")}
    assert 'Model: "sequential"' in text and "Layer (type)" in text and "Output Shape" in text
    assert "Total params: 308,426 (1.18 MB)" in text
    assert "Trainable params: 308,426" in text and "Non-trainable params: 0" in text
    assert model.count_params() == 308_426
    assert [layer.count_params() for layer in model.layers] == [896, 0, 0, 307_530]


def test_repeated_layers_get_keras_suffixes():
    model = Sequential([Input(shape=(6, 6, 2)), Conv2D(3, 3, padding="same"), Conv2D(3, 3), Flatten(),
                        Dense(4), Dense(2)])
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "flatten", "dense", "dense_1"]
    assert [name for name, _ in model.module.named_children()] == ["conv2d", "conv2d_1", "flatten", "dense", "dense_1"]
    assert model.output_shape == (None, 2) and model.layers[1].output_shape == (None, 4, 4, 3)


def test_keras_weight_layouts_and_round_trip():
    model = classic_snippet()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 3, 32), (32,), (30752, 10), (10,)]     # HWIO kernel, in x out kernel
    assert model.layers[0].weight.shape == (32, 3, 3, 3)              # stored OIHW, as nn.Conv2d
    rng = np.random.default_rng(0)
    new = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.layers[0].weight.data[5, 2, 1, 0], new[0][1, 0, 2, 5])


def test_glorot_uniform_init_zero_bias_and_seed():
    a, b = small_cnn(seed=3), small_cnn(seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    kernel, bias = a.layers[0].get_weights()
    limit = math.sqrt(6 / (3 * 3 * 1 + 3 * 3 * 4))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.7 * limit and not bias.any()
    assert not np.array_equal(small_cnn(seed=4).get_weights()[0], kernel)


# ================================ training ========================================================

def test_fit_learns_digits_with_history(digits):
    x, y = digits
    model = small_cnn(seed=0, filters=8)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=0)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"} and all(len(v) == 4 for v in h.values())
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8
    # validation_split holds out the *last* 20%, and val_* is evaluate() on them after the epoch
    loss, accuracy = model.evaluate(x[480:], y[480:])
    assert loss == pytest.approx(h["val_loss"][-1], rel=1e-5) and accuracy == pytest.approx(h["val_accuracy"][-1])


def test_validation_data_and_verbose_two_prints_one_line_per_epoch(digits, capsys):
    x, y = digits
    model = small_cnn(seed=1)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:200], to_categorical(y[:200], 10), epochs=2, batch_size=50, verbose=2,
                        validation_data=(x[200:300], to_categorical(y[200:300], 10)))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2 and "val_accuracy" in lines[1]
    assert len(history.history["val_loss"]) == 2 and model.history is history
    assert model.evaluate(x[200:300], to_categorical(y[200:300], 10))[0] == \
        pytest.approx(history.history["val_loss"][-1], rel=1e-5)


def test_verbose_zero_is_silent_and_evaluate_without_metrics_returns_the_loss(digits, capsys):
    x, y = digits
    model = small_cnn(seed=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x[:64], y[:64], epochs=1, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    pytest.importorskip("tqdm")
    model.fit(x[:64], y[:64], epochs=1, verbose=1)            # a tqdm bar per epoch, left on screen
    assert "Epoch 1/1" in capsys.readouterr().err
    assert isinstance(model.evaluate(x[:64], y[:64]), float)


@pytest.mark.parametrize("name,cls,lr", [("sgd", optim.SGD, 0.01), ("adam", optim.Adam, 0.001),
                                          ("rmsprop", optim.RMSprop, 0.001), ("adagrad", optim.Adagrad, 0.001)])
def test_optimizer_names_use_keras_default_learning_rates(name, cls, lr, digits):
    x, y = digits
    model = small_cnn()
    model.compile(optimizer=name.upper() if name == "adam" else name, loss="sparse_categorical_crossentropy")
    model.train_on_batch(x[:8], y[:8])
    assert type(model.optimizer) is cls and model.optimizer.param_groups[0]["lr"] == lr


def test_library_optimizer_object_is_used_and_a_foreign_one_rejected(digits):
    x, y = digits
    model = small_cnn()
    opt = optim.SGD(model.module.parameters(), lr=0.1)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    before = model.layers[0].weight.data.copy()
    model.train_on_batch(x[:16], y[:16])
    assert model.optimizer is opt and not np.array_equal(before, model.layers[0].weight.data)
    with pytest.raises(ValueError, match=r"does not hold exactly this model's parameters.*model\.module\.parameters"):
        model.compile(optimizer=optim.SGD(small_cnn().module.parameters(), lr=0.1), loss="mse")


def test_binary_crossentropy_and_mse_train(digits):
    x, y = digits
    target = (y == 0).astype(np.float32)                      # (N,) labels for a (N, 1) sigmoid output
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="tanh"), Dense(1, activation="sigmoid")],
                       seed=0)
    model.compile(optimizer=Adam(learning_rate=0.02), loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, target, epochs=3, verbose=0).history
    assert h["loss"][-1] < h["loss"][0] and h["accuracy"][-1] > 0.95
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    loss, mae = model.evaluate(x, target)
    p = model.predict(x)[:, 0]
    assert loss == pytest.approx(np.mean((p - target) ** 2), rel=1e-5) and mae == pytest.approx(np.mean(np.abs(p - target)), rel=1e-5)


def test_dropout_only_while_training(digits):
    x, _ = digits
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dropout(0.5, seed=0), Dense(3)], seed=0)
    np.testing.assert_array_equal(model.predict(x[:5]), model.predict(x[:5]))
    assert not np.allclose(model(x[:5], training=True).data, model.predict(x[:5]))


# ================================ equal to the same network in nn ================================

def test_matches_the_nn_sequential_with_mapped_weights():
    """Keras model on NHWC vs nn.Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Linear) on NCHW: the same
    outputs and gradients once the weights are mapped, including Flatten's (H, W, C) vs (C, H, W) order."""
    model = small_cnn(seed=0, dtype="float64", input_shape=(9, 9, 3), filters=4, classes=5)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 5, dtype=np.float64))
    kernel, conv_bias, dense_kernel, dense_bias = model.get_weights()
    # Keras's dense rows run over (h, w, c); nn.Linear's columns over (c, h, w)
    linear_weight = dense_kernel.reshape(3, 3, 4, 5).transpose(3, 2, 0, 1).reshape(5, 36)
    net.load_state_dict({"0.weight": kernel.transpose(3, 2, 0, 1), "0.bias": conv_bias,
                         "4.weight": linear_weight, "4.bias": dense_bias})
    x = np.random.default_rng(0).standard_normal((6, 9, 9, 3))
    ours = model(x, training=True)
    theirs = F.softmax(net(Tensor(x.transpose(0, 3, 1, 2), dtype=np.float64)), axis=-1)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12, atol=1e-14)
    upstream = np.random.default_rng(1).standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(upstream)
    conv, dense = model.layers[0], model.layers[3]
    np.testing.assert_allclose(conv.weight.grad.data, net[0].weight.grad.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.bias.grad.data, net[0].bias.grad.data, rtol=1e-10, atol=1e-12)
    mapped = dense.weight.grad.data.reshape(5, 3, 3, 4).transpose(0, 3, 1, 2).reshape(5, 36)
    np.testing.assert_allclose(mapped, net[4].weight.grad.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.bias.grad.data, net[4].bias.grad.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("padding,strides", [("valid", (1, 1)), ("same", (1, 1)), ("same", (2, 2)), ("valid", (2, 1))])
def test_whole_model_gradcheck(padding, strides):
    model = Sequential([Input(shape=(7, 6, 2)), Conv2D(3, (3, 2), strides=strides, padding=padding, activation="tanh"),
                        AveragePooling2D((2, 2), padding="same"), MaxPooling2D((2, 2), strides=1, padding="same"),
                        Flatten(), Dense(4, activation="softmax")], seed=0, dtype="float64")
    check_gradients([(2, 7, 6, 2)], lambda x: model(x))


def test_average_pooling_same_counts_only_real_pixels():
    x = np.arange(1, 26, dtype=np.float64).reshape(1, 5, 5, 1)
    pooled = Sequential([AveragePooling2D((2, 2), padding="same", input_shape=(5, 5, 1))]).predict(x)[0, :, :, 0]
    image = x[0, :, :, 0]
    expected = np.array([[image[r:r + 2, c:c + 2].mean() for c in range(0, 5, 2)] for r in range(0, 5, 2)])
    np.testing.assert_allclose(pooled, expected, rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("padding,strides", [("valid", (1, 1)), ("same", (1, 1)), ("same", (2, 2))])
def test_conv_and_dense_match_pytorch_with_the_same_weights(padding, strides):
    model = Sequential([Input(shape=(8, 7, 3)), Conv2D(4, (3, 3), strides=strides, padding=padding),
                        Flatten(), Dense(5)], seed=0, dtype="float64")
    kernel, bias, dense_kernel, dense_bias = model.get_weights()
    x = np.random.default_rng(0).standard_normal((2, 8, 7, 3))
    tx = torch.tensor(x.transpose(0, 3, 1, 2))
    pads = []
    for size, stride in zip((8, 7), strides):              # TensorFlow's 'same': the odd pixel bottom/right
        total = max((math.ceil(size / stride) - 1) * stride + 3 - size, 0) if padding == "same" else 0
        pads += [total // 2, total - total // 2]
    (top, bottom), (left, right) = pads[:2], pads[2:]
    tconv = torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (left, right, top, bottom)),
                                       torch.tensor(kernel.transpose(3, 2, 0, 1)), torch.tensor(bias), strides)
    flat = tconv.permute(0, 2, 3, 1).reshape(2, -1)           # Keras flattens (H, W, C)
    expected = flat @ torch.tensor(dense_kernel) + torch.tensor(dense_bias)
    np.testing.assert_allclose(model.predict(x), expected.numpy(), rtol=1e-10, atol=1e-12)
    assert model.layers[0].output_shape[1:3] == ((8 - 2, 7 - 2) if padding == "valid" else
                                                 (math.ceil(8 / strides[0]), math.ceil(7 / strides[1])))


# ================================ losses ==========================================================

def test_sparse_and_categorical_losses_agree():
    model = small_cnn(seed=0, dtype="float64")
    x = np.random.default_rng(0).random((12, 8, 8, 1))
    y = np.random.default_rng(1).integers(0, 10, 12)
    losses, grads = [], []
    for loss_name, labels in (("sparse_categorical_crossentropy", y),
                              ("categorical_crossentropy", to_categorical(y, 10)),
                              ("sparse_categorical_crossentropy", y[:, None])):
        model.compile(optimizer="sgd", loss=loss_name)
        model.module.zero_grad()
        loss = model.compute_loss(x, labels)
        loss.backward()
        losses.append(loss.item())
        grads.append(model.layers[0].weight.grad.data.copy())
    probs = model.predict(x)
    assert losses[0] == pytest.approx(-np.mean(np.log(probs[np.arange(12), y])), rel=1e-10)
    assert losses[0] == pytest.approx(losses[1], rel=1e-12) == losses[2]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_fused_softmax_crossentropy_is_stable_for_huge_logits():
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], dtype="float32")
    model.set_weights([np.array([[1e4, -1e4, 0.0], [0.0, 1e4, -1e4]], dtype=np.float32), np.zeros(3, np.float32)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    loss = model.compute_loss(x, np.array([1, 2]))          # the wrong classes, by 1e4 and 2e4 in logits
    loss.backward()
    assert loss.item() == pytest.approx((2e4 + 2e4) / 2, rel=1e-6)   # log of a softmax would give inf
    assert np.isfinite(model.layers[0].weight.grad.data).all()
    probs = model.predict(x)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_predict_rows_sum_to_one(digits):
    x, _ = digits
    probs = small_cnn().predict(x[:50], batch_size=16)
    assert probs.shape == (50, 10) and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# ================================ looking inside ==================================================

def test_module_is_an_nn_module_for_graphs_and_stepping():
    pytest.importorskip("graphviz")
    from tinygrad_cnn.viz import draw_graph

    model = small_cnn(seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    assert isinstance(model.module, nn.Module)
    assert [n for n, _ in model.module.named_parameters()] == ["conv2d.weight", "conv2d.bias", "dense.weight", "dense.bias"]
    loss = model.compute_loss(x, y)
    steps = list(loss.backward_steps(retain_graph=True))
    assert len(steps) > 5
    stepped = model.layers[0].weight.grad.data.copy()
    source = draw_graph(loss, params=model.module).source
    assert "conv2d.weight" in source and "dense.bias" in source
    model.module.zero_grad()
    model.compute_loss(x, y).backward()
    np.testing.assert_allclose(stepped, model.layers[0].weight.grad.data, rtol=1e-6)


# ================================ errors name the culprit =======================================

def test_first_layer_without_input_shape_cannot_be_summarised():
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu"))
    model.add(Flatten())
    assert not model.built
    with pytest.raises(ValueError, match=r"not been built.*first layer 'conv2d' \(Conv2D\) has no input_shape"):
        model.summary()
    with pytest.raises(ValueError, match="count_params.*input_shape"):
        model.count_params()
    model.build((None, 8, 8, 1))                               # as Keras: build() or data builds it
    assert model.count_params() == 3 * 3 * 32 + 32
    unbuilt = Sequential([Dense(3)])
    assert unbuilt.predict(np.ones((2, 5))).shape == (2, 3) and unbuilt.count_params() == 18


def test_categorical_loss_with_integer_labels_names_both_shapes(digits):
    x, y = digits
    model = small_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ShapeError, match=r"one-hot.*output \(None, 10\).*labels of shape \(100,\).*sparse_categorical"):
        model.fit(x[:100], y[:100], verbose=0)


def test_sparse_loss_with_one_hot_labels_names_both_shapes(digits):
    x, y = digits
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match=r"output \(None, 10\).*labels of shape \(100, 10\).*look one-hot"):
        model.fit(x[:100], to_categorical(y[:100], 10), verbose=0)


def test_sparse_label_out_of_range_is_named(digits):
    x, _ = digits
    model = small_cnn(classes=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"label 7 is out of range.*3 output classes"):
        model.evaluate(x[:4], np.array([0, 1, 7, 2]))


@pytest.mark.parametrize("make,match", [
    (lambda: Dense(3, activation="relux"), r"unknown activation 'relux'.*'relu'.*'softmax'"),
    (lambda: Activation("swishy"), r"unknown activation 'swishy'.*'sigmoid'"),
    (lambda: Conv2D(3, 3, padding="full"), r"padding must be 'valid' or 'same', got 'full'"),
])
def test_bad_layer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizer="adamw2", loss="mse"), r"unknown optimizer 'adamw2'.*'adagrad', 'adam', 'rmsprop', 'sgd'"),
    (dict(optimizer="adam", loss="crossentropy"), r"unknown loss 'crossentropy'.*'categorical_crossentropy'"),
    (dict(optimizer="adam", loss="mse", metrics=["precision"]), r"unknown metric 'precision'.*'accuracy'"),
])
def test_bad_compile_names_list_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_cnn().compile(**kwargs)


def test_fit_before_compile(digits):
    x, y = digits
    with pytest.raises(RuntimeError, match=r"fit: you must call compile\(.*\) before fit"):
        small_cnn().fit(x[:8], y[:8])


def test_wrong_input_shape_names_expected_and_got(digits):
    x, y = digits
    model = small_cnn()
    with pytest.raises(ShapeError, match=r"expected input of shape \(None, 8, 8, 1\), got \(5, 1, 8, 8\).*channels-first"):
        model.predict(x[:5].transpose(0, 3, 1, 2))
    with pytest.raises(ShapeError, match=r"expected input of shape \(None, 8, 8, 1\), got \(5, 8, 8\).*x\[\.\.\., None\]"):
        model.predict(x[:5, :, :, 0])


def test_layer_that_does_not_fit_is_rejected_at_add():
    model = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Flatten()])
    with pytest.raises(ShapeError, match=r"Conv2D layer 'conv2d_1'.*4-D.*\(None, 72\)"):
        model.add(Conv2D(2, 3))
    with pytest.raises(ShapeError, match=r"Conv2D layer 'conv2d'.*kernel \(5, 5\).*\(None, 4, 4, 1\)"):
        Sequential([Conv2D(2, 5, input_shape=(4, 4, 1))])
    with pytest.raises(ShapeError, match=r"input shape \(None, 8, 8\).*add a channel axis: input_shape=\(8, 8, 1\)"):
        Sequential([Conv2D(2, 3, input_shape=(8, 8))])
    assert len(model.layers) == 2                              # the rejected layer was not added


def test_set_weights_with_the_wrong_shape_names_layer_and_shapes():
    model = small_cnn()
    weights = model.get_weights()
    weights[0] = weights[0].transpose(3, 2, 0, 1)             # OIHW instead of Keras's HWIO
    with pytest.raises(ShapeError, match=r"Conv2D layer 'conv2d'.*array 0 \(weight\) has shape \(4, 1, 3, 3\), "
                                         r"expected \(3, 3, 1, 4\)"):
        model.set_weights(weights)
    with pytest.raises(ValueError, match=r"has 4 weight arrays, got 3"):
        model.set_weights(weights[:3])


def test_per_pixel_softmax_loss_and_custom_loss():
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(5, 5, 2)),
                        Conv2D(3, 1, activation="softmax")], seed=0, dtype="float64")
    x = np.random.default_rng(0).random((4, 5, 5, 2))
    y = np.random.default_rng(1).integers(0, 3, (4, 5, 5))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    loss, accuracy = model.evaluate(x, y)
    probs = model.predict(x)
    picked = np.take_along_axis(probs, y[..., None], axis=-1)
    assert loss == pytest.approx(-np.log(picked).mean(), rel=1e-10)
    assert accuracy == pytest.approx(np.mean(probs.argmax(-1) == y))
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ((y_pred - y_true) ** 2).sum(axis=-1))
    onehot = to_categorical(y, 3)
    assert model.evaluate(x, onehot) == pytest.approx(((probs - onehot) ** 2).sum(-1).mean(), rel=1e-10)


def test_fit_stops_on_a_nan_loss_with_the_train_commands_advice(digits):
    x, y = digits
    x = np.full_like(x[:64], np.nan)
    model = small_cnn(seed=0)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"epoch 1: the loss became nan; lower the learning rate \(now 0.01\)"):
        model.fit(x, y[:64], epochs=3, batch_size=32, verbose=0)


@pytest.mark.parametrize("name", ["elu", "gelu", "silu", "swish", "softplus", "leaky_relu"])
def test_dense_accepts_the_new_activation_names(name):
    from tinygrad_cnn.keras import ACTIVATIONS
    model = Sequential([Input(shape=(3,)), Dense(4, activation=name), Dense(2)], seed=0)
    out = model.predict(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3))
    assert out.shape == (2, 2) and np.all(np.isfinite(out))
    x = Tensor(np.array([-1.0, 0.5]))
    expected = {"elu": [np.expm1(-1.0), 0.5], "gelu": [-0.15865525, 0.34573123], "silu": [-0.26894142, 0.31122967],
                "swish": [-0.26894142, 0.31122967], "softplus": [0.31326169, 0.97407698],
                "leaky_relu": [-0.2, 0.5]}[name]   # Keras's values (leaky_relu's slope 0.2)
    np.testing.assert_allclose(ACTIVATIONS[name](x).data, expected, rtol=1e-6)
