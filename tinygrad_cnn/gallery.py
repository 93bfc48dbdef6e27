"""The committed picture gallery (``viz/``) and the ``graph`` command: real models, one batch each,
drawn after backward so the gradient flow shows. ``make gallery`` regenerates every picture."""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Tuple

import numpy as np

from . import functional as F
from .data import load_digits
from .models import digits_cnn, lenet5, mlp, vgg
from .nn import Linear, Module, Sigmoid, Sequential
from .tensor import Tensor
from .player import model_player
from .viz import draw_graph, render


def _keras_model(seed: int) -> Tuple[Module, np.ndarray]:
    """The classic Keras snippet's model (Conv 32@3×3 → pool → dense 10 on 64×64×3), as its nn.Module."""
    from .keras import Conv2D, Dense, Flatten, MaxPooling2D, Sequential as KerasSequential

    model = KerasSequential(seed=seed)
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(64, 64, 3)))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    images = np.random.default_rng(seed).random((4, 64, 64, 3)).astype(np.float32)
    return model.module, images


def _digits_batch(n: int) -> Tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits()
    return images[:n], labels[:n]


def model_and_batch(name: str, seed: int = 0) -> Tuple[Module, np.ndarray, np.ndarray]:
    """A model named as the command line names it, with one batch of inputs and labels."""
    rng = np.random.default_rng(seed)
    if name == "lenet":
        return lenet5(generator=rng), rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    if name == "cnn":
        images, labels = _digits_batch(16)
        return digits_cnn(generator=rng), images, labels
    if name == "mlp":
        images, labels = _digits_batch(16)
        return mlp(64, (32, 16), 10, generator=rng), images, labels
    if name == "vgg":
        return vgg(generator=rng), rng.random((4, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 4)
    if name == "keras":
        model, images = _keras_model(seed)
        return model, images, rng.integers(0, 10, len(images))
    raise ValueError(f"graph: unknown model {name!r}; choose lenet, cnn, mlp, vgg or keras")


def draw_model(name: str, path: str, collapse: bool = True, seed: int = 0) -> str:
    """Forward and backward one batch through model ``name`` and render its graph to ``path``."""
    model, images, labels = model_and_batch(name, seed)
    loss = F.cross_entropy(model(Tensor(images)), labels)
    loss.backward()
    title = f"{name}: gradient flow of one batch (edge width and colour = ‖gradient‖)"
    graph = draw_graph(loss, params=model, collapse=collapse, group_modules=not collapse, title=title,
                       max_nodes=2000)
    return render(graph, path)


def _scalar_expression() -> Tensor:
    """micrograd's classic neuron: o = tanh(x1·w1 + x2·w2 + b)."""
    x1, x2 = Tensor(2.0, requires_grad=True), Tensor(0.0, requires_grad=True)
    w1, w2 = Tensor(-3.0, requires_grad=True), Tensor(1.0, requires_grad=True)
    b = Tensor(6.8813735870195432, requires_grad=True)
    for t, name in ((x1, "x1"), (x2, "x2"), (w1, "w1"), (w2, "w2"), (b, "b")):
        t.name = name
    return (x1 * w1 + x2 * w2 + b).tanh()


def _vanishing(seed: int) -> Tuple[Module, Tensor]:
    """A deep sigmoid MLP: the gradient shrinks layer by layer on the way back."""
    rng = np.random.default_rng(seed)
    layers: List[Module] = []
    for _ in range(6):
        layers += [Linear(16, 16, generator=rng), Sigmoid()]
    model = Sequential(*layers, Linear(16, 10, generator=rng))
    images, labels = _digits_batch(32)
    loss = F.cross_entropy(model(Tensor(images.reshape(32, 64)[:, :16])), labels)
    loss.backward()
    return model, loss


def make_gallery(out: str = "viz", seed: int = 0) -> List[str]:
    """Render every gallery picture into ``out``; returns the paths written."""
    os.makedirs(out, exist_ok=True)
    written = []

    expression = _scalar_expression()
    expression.backward()
    written.append(render(draw_graph(expression, title="o = tanh(x1·w1 + x2·w2 + b) after backward",
                                     rankdir="LR"), os.path.join(out, "scalar_expression.svg")))

    stepping = _scalar_expression()
    steps = list(stepping.backward_steps())
    middle = steps[len(steps) // 2]
    written.append(render(draw_graph(stepping, step=middle, rankdir="LR"), os.path.join(out, "scalar_step.svg")))

    pictures: Dict[str, Callable[[], str]] = {
        "lenet.svg": lambda: draw_model("lenet", os.path.join(out, "lenet.svg"), collapse=True, seed=seed),
        "lenet_ops.svg": lambda: draw_model("lenet", os.path.join(out, "lenet_ops.svg"), collapse=False, seed=seed),
        "digits_cnn.svg": lambda: draw_model("cnn", os.path.join(out, "digits_cnn.svg"), collapse=True, seed=seed),
        "keras.svg": lambda: draw_model("keras", os.path.join(out, "keras.svg"), collapse=True, seed=seed),
        "lenet_player.html": lambda: model_player("lenet", os.path.join(out, "lenet_player.html"), seed=seed),
    }
    for name, make in pictures.items():
        try:
            written.append(make())
        except ImportError as err:  # e.g. the Keras front end in a trimmed install
            print(f"gallery: skipped {name} ({err})")

    model, loss = _vanishing(seed)
    written.append(render(draw_graph(loss, params=model, collapse=True,
                                     title="6 sigmoid layers: the gradient vanishes on the way back"),
                          os.path.join(out, "vanishing_sigmoid.svg")))
    return written
