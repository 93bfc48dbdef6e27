"""Ready-made models: LeNet-5, a small CNN for the bundled 8×8 digits, a small VGG for CIFAR-10, and an MLP.

Attribute names follow the usual PyTorch code for the same networks, so ``state_dict`` keys
(``conv1.weight``, ``fc1.bias``, ...) match a PyTorch model written the same way and weights move
between the two as ``.npz`` files. ``build_model(name, **kwargs)`` picks one by name (the command
line's ``--model``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from . import functional as F
from .nn import BatchNorm2d, Conv2d, Flatten, Identity, Linear, MaxPool2d, Module, ReLU, Sequential
from .tensor import Tensor

__all__ = ["LeNet5", "DigitsCNN", "SmallVGG", "lenet5", "digits_cnn", "vgg", "mlp", "MODELS", "build_model"]


class LeNet5(Module):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for 1×28×28 images (MNIST).

    conv 6@5×5 (padding 2) -> relu -> maxpool 2 -> conv 16@5×5 -> relu -> maxpool 2 -> flatten
    -> linear 400→120 -> relu -> linear 120→84 -> relu -> linear 84→num_classes (logits).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dtype: Any = np.float32,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        self.conv1 = Conv2d(in_channels, 6, 5, padding=2, dtype=dtype, generator=generator)
        self.conv2 = Conv2d(6, 16, 5, dtype=dtype, generator=generator)
        self.fc1 = Linear(16 * 5 * 5, 120, dtype=dtype, generator=generator)
        self.fc2 = Linear(120, 84, dtype=dtype, generator=generator)
        self.fc3 = Linear(84, num_classes, dtype=dtype, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for images (N, in_channels, 28, 28)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # (N, 6, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # (N, 16, 5, 5)
        x = x.flatten(1)                              # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class DigitsCNN(Module):
    """A small CNN for the bundled 8×8 handwritten digits (1×8×8 input): trains to ~98% held-out
    accuracy in a few seconds on a CPU (6 epochs of Adam, lr 3e-3, batch 32, cosine schedule).

    conv 32@3×3 (padding 1) -> batchnorm -> relu -> maxpool 2 -> conv 64@3×3 (padding 1) -> batchnorm
    -> relu -> maxpool 2 -> flatten -> linear 256→64 -> relu -> linear 64→num_classes (logits).

    Batch normalisation is what makes it converge in a few epochs (without it the same network
    plateaus near 95% after 6 epochs); ``batch_norm=False`` drops it, to see the difference.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, channels: Sequence[int] = (32, 64),
                 hidden: int = 64, batch_norm: bool = True, dtype: Any = np.float32,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = Conv2d(in_channels, c1, 3, padding=1, dtype=dtype, generator=generator)
        self.bn1 = BatchNorm2d(c1, dtype=dtype) if batch_norm else Identity()
        self.conv2 = Conv2d(c1, c2, 3, padding=1, dtype=dtype, generator=generator)
        self.bn2 = BatchNorm2d(c2, dtype=dtype) if batch_norm else Identity()
        self.fc1 = Linear(c2 * 2 * 2, hidden, dtype=dtype, generator=generator)
        self.fc2 = Linear(hidden, num_classes, dtype=dtype, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for images (N, in_channels, 8, 8)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # (N, c1, 4, 4)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)   # (N, c2, 2, 2)
        x = x.flatten(1)                                        # (N, 4 * c2)
        return self.fc2(F.relu(self.fc1(x)))


VGG_LAYERS = (32, 32, "M", 64, 64, "M", 128, "M")  # channels of each 3×3 conv; "M": a 2×2 max pool


class SmallVGG(Module):
    """A small VGG-style network (Simonyan & Zisserman, 2014) for 3×32×32 images (CIFAR-10).

    VGG's idea: only 3×3 convolutions (padding 1, so the size is kept), stacked two at a time before
    each 2×2 max pool, so two layers see a 5×5 window with fewer weights and one more ReLU. With
    the default ``layers`` (32, 32, M, 64, 64, M, 128, M): conv -> batchnorm -> relu per entry, the
    image going 32 -> 16 -> 8 -> 4, then flatten 128·4·4 = 2,048 -> linear 128 -> relu -> linear
    num_classes (logits): 403,626 parameters.

    As torchvision's VGG, the layers live in ``features`` and ``classifier`` (``Sequential``), so the
    ``state_dict`` keys (``features.0.weight``, ``features.1.running_mean``, ``classifier.0.weight``,
    ...) match the same network written with ``torch.nn.Sequential``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, layers: Sequence[Any] = VGG_LAYERS,
                 hidden: int = 128, image_size: int = 32, dtype: Any = np.float32,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        modules: list = []
        channels, side = in_channels, image_size
        for entry in layers:
            if entry == "M":
                modules.append(MaxPool2d(2))
                side //= 2
            else:
                modules += [Conv2d(channels, int(entry), 3, padding=1, dtype=dtype, generator=generator),
                            BatchNorm2d(int(entry), dtype=dtype), ReLU()]
                channels = int(entry)
        self.features = Sequential(*modules)
        self.classifier = Sequential(Linear(channels * side * side, hidden, dtype=dtype, generator=generator),
                                     ReLU(), Linear(hidden, num_classes, dtype=dtype, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for images (N, in_channels, 32, 32)."""
        return self.classifier(self.features(x).flatten(1))


def lenet5(num_classes: int = 10, in_channels: int = 1, dtype: Any = np.float32,
           generator: Optional[np.random.Generator] = None) -> LeNet5:
    """LeNet-5 for 1×28×28 images (see ``LeNet5``)."""
    return LeNet5(num_classes, in_channels, dtype=dtype, generator=generator)


def digits_cnn(num_classes: int = 10, in_channels: int = 1, channels: Sequence[int] = (32, 64), hidden: int = 64,
               batch_norm: bool = True, dtype: Any = np.float32,
               generator: Optional[np.random.Generator] = None) -> DigitsCNN:
    """The small CNN for the bundled 8×8 digits (see ``DigitsCNN``)."""
    return DigitsCNN(num_classes, in_channels, channels, hidden, batch_norm, dtype=dtype, generator=generator)


def vgg(num_classes: int = 10, in_channels: int = 3, layers: Sequence[Any] = VGG_LAYERS, hidden: int = 128,
        dtype: Any = np.float32, generator: Optional[np.random.Generator] = None) -> SmallVGG:
    """The small VGG for 3×32×32 images (see ``SmallVGG``)."""
    return SmallVGG(num_classes, in_channels, layers, hidden, dtype=dtype, generator=generator)


def mlp(in_features: int = 784, hidden: Sequence[int] = (512, 256), classes: int = 10, dtype: Any = np.float32,
        generator: Optional[np.random.Generator] = None) -> Sequential:
    """A multilayer perceptron: Flatten -> (Linear -> ReLU) per hidden size -> Linear to ``classes``.

    Images of any shape whose pixels number ``in_features`` are flattened first, so the same model
    takes (N, 784) and (N, 1, 28, 28). As a ``Sequential`` its keys are ``1.weight``, ``3.weight``, ...
    """
    layers: list = [Flatten()]
    width = in_features
    for size in hidden:
        layers += [Linear(width, size, dtype=dtype, generator=generator), ReLU()]
        width = size
    layers.append(Linear(width, classes, dtype=dtype, generator=generator))
    return Sequential(*layers)


MODELS: Dict[str, Callable[..., Module]] = {"lenet": lenet5, "cnn": digits_cnn, "mlp": mlp, "vgg": vgg}


def build_model(name: str, **kwargs: Any) -> Module:
    """The model registered as ``name`` in ``MODELS`` ('lenet', 'cnn', 'mlp', 'vgg'), built with ``kwargs``."""
    try:
        factory = MODELS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in MODELS)
        raise ValueError(f"build_model: unknown model {name!r}; valid names are {valid}") from None
    return factory(**kwargs)
