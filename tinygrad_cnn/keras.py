"""A Keras-style front end: ``Sequential().add(...)``, ``compile``, ``fit``, ``evaluate``, ``predict``,
``summary`` -- a thin layer over ``nn`` and ``optim``, so the classic Keras CNN snippet runs unchanged
but for its import::

    from tinygrad_cnn.keras import Sequential, Conv2D, MaxPooling2D, Flatten, Dense

    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(64, 64, 3)))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(10, activation='softmax'))
    model.summary()
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x_train, y_train, epochs=5, validation_split=0.1)

How it maps onto the library (nothing here computes a derivative):

* Every Keras layer **is** an ``nn.Module``; ``model.module`` is an ``nn.Sequential`` of them, named as
  Keras names them (``conv2d``, ``max_pooling2d``, ``dense_1`` ...). So ``model.module.parameters()``,
  ``state_dict()``, ``draw_graph(loss, params=model.module)`` and ``loss.backward_steps()`` all work:
  ``model.compute_loss(x, y)`` hands you the loss Tensor with its whole graph.
* Inputs are channels-last (N, H, W, C), as Keras expects. ``Conv2D`` and the pooling layers transpose
  to NCHW for ``functional.conv2d``/``max_pool2d`` and back (numpy views: no copy), so every layer also
  works on its own, and ``Flatten`` flattens in Keras's (H, W, C) order.
* Parameters are stored as PyTorch lays them out (conv ``weight`` OIHW, dense ``weight`` out x in), like
  every other module here; ``get_weights``/``set_weights`` speak Keras's layouts (conv kernel HWIO,
  dense kernel in x out), so weights move to and from real Keras.
* Kernels start glorot-uniform and biases at zero (Keras's defaults), drawn from ``Sequential(seed=...)``
  or the library generator (``set_random_seed`` / ``tinygrad_cnn.manual_seed``).
* A softmax (or sigmoid) output trained with a cross-entropy loss is never trained through log(softmax):
  the loss is computed from the pre-activation logits with ``log_softmax`` (or the stable logits form
  of binary cross-entropy), so huge logits give finite losses and gradients.

One deliberate difference: layer and model names are unique per model (a fresh model is always
``conv2d``, ``dense``, ``dense_1`` ...), not per Python session as in Keras.
"""
from __future__ import annotations

import math
import numbers
import re
import time
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import functional as F
from . import nn, optim
from . import tensor as _tensor
from .autograd import no_grad
from .data import DataLoader
from .errors import ShapeError
from .tensor import Tensor

__all__ = ["Sequential", "Layer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense", "Dropout",
           "Activation", "Input", "InputLayer", "History", "to_categorical", "set_random_seed",
           "KerasOptimizer", "SGD", "Adam", "RMSprop", "Adagrad", "optimizers",
           "ACTIVATIONS", "LOSSES", "OPTIMIZERS", "METRICS"]

Shape = Tuple[Optional[int], ...]
ShapeLike = Union[int, Sequence[int]]
ArrayLike = Any

_EPSILON = 1e-7   # Keras's backend.epsilon(): keeps log() of clipped probabilities finite


def set_random_seed(seed: int) -> None:
    """Seed the library generator that unseeded models use for initialisation, dropout and shuffling
    (as ``keras.utils.set_random_seed``)."""
    _tensor.manual_seed(seed)


def to_categorical(y: ArrayLike, num_classes: Optional[int] = None, dtype: Any = "float32") -> np.ndarray:
    """Integer class labels (N,) -> one-hot rows (N, num_classes), as ``keras.utils.to_categorical``."""
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and (labels.dtype.kind not in "iuf" or np.any(labels != np.floor(labels)) or labels.min() < 0):
        raise ValueError(f"to_categorical: labels must be non-negative whole numbers, got dtype {labels.dtype} "
                         f"with values in [{labels.min()}, {labels.max()}]")
    labels = labels.astype(np.int64)
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= classes:
        raise ValueError(f"to_categorical: label {int(labels.max())} does not fit num_classes={classes}")
    return np.eye(classes, dtype=dtype)[labels]


# ================================ activations ====================================================

def _linear(x: Tensor) -> Tensor:
    return x


ACTIVATIONS: Dict[str, Callable[[Tensor], Tensor]] = {
    "linear": _linear,
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "softmax": lambda x: F.softmax(x, axis=-1),   # over the last (channels/classes) axis, as Keras
    "elu": F.elu,
    "gelu": F.gelu,                                # Keras's default is the exact (erf) form too
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),  # Keras's default negative_slope is 0.2
}


def _activation(owner: str, identifier: Any) -> Tuple[str, Callable[[Tensor], Tensor]]:
    """(name, function) for ``identifier``: None (linear), one of ACTIVATIONS, or a Tensor -> Tensor callable."""
    if identifier is None:
        return "linear", _linear
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in ACTIVATIONS:
            raise ValueError(f"{owner}: unknown activation {identifier!r}; valid names are "
                             f"{sorted(ACTIVATIONS)} (or None, or a function of a Tensor)")
        return key, ACTIVATIONS[key]
    if callable(identifier):
        return getattr(identifier, "__name__", type(identifier).__name__), identifier
    raise TypeError(f"{owner}: activation must be a name {sorted(ACTIVATIONS)}, None or a callable, "
                    f"got {type(identifier).__name__}")


# ================================ small helpers ==================================================

def _to_snake_case(name: str) -> str:
    """Keras's layer naming: 'Conv2D' -> 'conv2d', 'MaxPooling2D' -> 'max_pooling2d'."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def _int_tuple(owner: str, what: str, value: Any, length: int = 2, minimum: int = 1) -> Tuple[int, ...]:
    """An int or a tuple of ``length`` ints (each >= minimum) as a tuple; otherwise a clear error."""
    values = (value,) * length if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or len(values) != length or \
            not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{owner}: {what} must be an int or a tuple of {length} ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{owner}: {what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _shape_tuple(owner: str, what: str, value: Any) -> Tuple[int, ...]:
    """A per-sample shape such as (64, 64, 3) (no batch axis); an int n means (n,)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value or \
            not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{owner}: {what} must be a tuple of positive ints without the batch axis, e.g. "
                         f"(64, 64, 3), got {value!r}")
    return tuple(int(v) for v in value)


def _padding_mode(owner: str, padding: Any) -> str:
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _window_geometry(size: int, kernel: int, stride: int, mode: str) -> Tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis, as TensorFlow computes 'same':
    the output has ceil(size / stride) positions and an odd total padding puts the extra row/column
    at the end (bottom/right)."""
    if mode == "valid":
        return (size - kernel) // stride + 1 if size >= kernel else 0, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _readable_bytes(size: float) -> str:
    """Keras's memory format: 1233704 -> '1.18 MB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_INITIALIZERS = ("glorot_uniform", "he_uniform", "lecun_uniform", "zeros", "ones")


def _check_initializer(owner: str, what: str, name: Any) -> str:
    if not isinstance(name, str) or name.lower() not in _INITIALIZERS:
        raise ValueError(f"{owner}: unknown {what} {name!r}; valid names are {list(_INITIALIZERS)}")
    return name.lower()


def _initial_values(name: str, shape: Tuple[int, ...], fan_in: int, fan_out: int, dtype: np.dtype,
                    generator: Optional[np.random.Generator]) -> np.ndarray:
    """Keras initialisers, drawn in Keras's layout: glorot_uniform is U(±sqrt(6 / (fan_in + fan_out)))."""
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    if name == "ones":
        return np.ones(shape, dtype=dtype)
    limit = {"glorot_uniform": math.sqrt(6.0 / max(fan_in + fan_out, 1)),
             "he_uniform": math.sqrt(6.0 / max(fan_in, 1)),
             "lecun_uniform": math.sqrt(3.0 / max(fan_in, 1))}[name]
    return _tensor._rng(None, generator).uniform(-limit, limit, shape).astype(dtype)


# ================================ layers =========================================================

class Layer(nn.Module):
    """Base of the Keras layers: an ``nn.Module`` that builds its parameters once its input shape is known.

    ``build(input_shape)`` (with the batch axis, e.g. ``(None, 64, 64, 3)``) creates the parameters and
    sets ``input_shape``/``output_shape``; a ``Sequential`` calls it as soon as the shape is known, and
    calling an unbuilt layer on a Tensor builds it from that Tensor. ``forward(x, return_logits=False)``
    applies the layer and then its activation (skipped with ``return_logits``, which the model uses to
    fuse softmax into the cross-entropy).
    """

    def __init__(self, *, activation: Any = None, input_shape: Optional[ShapeLike] = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__()
        owner = type(self).__name__
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise ValueError(f"{owner}: name must be a non-empty string without '.', got {name!r}")
        self.name: Optional[str] = name
        self.declared_input_shape = None if input_shape is None else _shape_tuple(owner, "input_shape", input_shape)
        self.activation, self._activation_fn = _activation(owner, activation)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.generator: Optional[np.random.Generator] = None
        self.built = False
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None

    # ---------------------------------------------------------------- building
    def _where(self) -> str:
        return f"{type(self).__name__} layer {self.name!r}" if self.name else f"{type(self).__name__} layer"

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis first, e.g. (None, 64, 64, 3))."""
        shape = tuple(input_shape)
        if len(shape) < 2 or not all(isinstance(d, numbers.Integral) and d > 0 for d in shape[1:]):
            raise ShapeError(f"{self._where()}: cannot build for input shape {shape}; expected (batch, ...) "
                             "with positive sizes after the batch axis")
        shape = (None,) + tuple(int(d) for d in shape[1:])
        if self.built:
            if shape != self.input_shape:
                raise ShapeError(f"{self._where()} was built for input shape {self.input_shape}, "
                                 f"cannot use it with {shape}")
            return
        if self.dtype is None:
            self.dtype = np.dtype(np.float32)
        self.output_shape = self._build(shape)
        self.input_shape = shape
        self.built = True

    def _build(self, input_shape: Shape) -> Shape:
        """Create parameters for ``input_shape``; return the output shape. Layers without parameters
        only compute the shape."""
        return input_shape

    def compute_output_shape(self, input_shape: Sequence[Optional[int]]) -> Shape:
        """The output shape for ``input_shape`` (batch axis included); builds the layer if needed."""
        self.build(input_shape)
        return self.output_shape  # type: ignore[return-value]

    # ---------------------------------------------------------------- calling
    def forward(self, x: Tensor, return_logits: bool = False) -> Tensor:
        """Apply the layer to ``x`` (channels last), then its activation unless ``return_logits``."""
        if not isinstance(x, Tensor):
            x = Tensor(np.asarray(x, dtype=self.dtype or np.float32))
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        if tuple(x.shape[1:]) != self.input_shape[1:]:   # type: ignore[index]
            raise ShapeError(f"{self._where()}: expected input of shape {self.input_shape}, "
                             f"got {tuple(x.shape)}")
        y = self.call(x)
        return y if return_logits else self._activation_fn(y)

    def call(self, x: Tensor) -> Tensor:
        """The layer's computation before its activation (Keras's ``call``)."""
        return x

    # ---------------------------------------------------------------- weights in Keras layouts
    def _keras_layouts(self) -> List[Tuple[str, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]]:
        """(parameter name, ours -> Keras, Keras -> ours) for each weight, in Keras's order."""
        return []

    def _weight_entries(self) -> List[Tuple[str, nn.Parameter, Callable, Callable]]:
        return [(name, getattr(self, name), to_keras, from_keras)
                for name, to_keras, from_keras in self._keras_layouts() if getattr(self, name, None) is not None]

    def get_weights(self) -> List[np.ndarray]:
        """The weights as Keras lays them out (conv kernel HWIO, dense kernel in x out, then the bias)."""
        self._require_built("get_weights")
        return [np.ascontiguousarray(to_keras(param.data)) for _, param, to_keras, _ in self._weight_entries()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Load weights given in Keras's layouts (what ``get_weights`` returns, or a real Keras layer's)."""
        self._require_built("set_weights")
        entries = self._weight_entries()
        weights = list(weights)
        if len(weights) != len(entries):
            raise ValueError(f"{self._where()}.set_weights: expected {len(entries)} arrays "
                             f"({', '.join(n for n, *_ in entries) or 'none'}), got {len(weights)}")
        converted = []
        for index, ((pname, param, to_keras, from_keras), value) in enumerate(zip(entries, weights)):
            array = np.asarray(value)
            expected = to_keras(param.data).shape
            if array.shape != expected:
                raise ShapeError(f"{self._where()}.set_weights: array {index} ({pname}) has shape {array.shape}, "
                                 f"expected {expected} (Keras layout)")
            converted.append((param, np.ascontiguousarray(from_keras(array)).astype(param.dtype)))
        with no_grad():
            for param, array in converted:
                param.assign(array)

    def count_params(self) -> int:
        """How many numbers the layer's weights hold."""
        self._require_built("count_params")
        return sum(p.size for p in self.parameters())

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{self._where()}.{what}: the layer is not built yet; its input shape is unknown "
                             "(give the model's first layer input_shape=..., or call build())")

    def extra_repr(self) -> str:
        text = f"name={self.name!r}"
        if self.activation != "linear":
            text += f", activation={self.activation!r}"
        return text


class InputLayer:
    """The input's per-sample shape, as ``keras.Input(shape=...)``: add it first to a ``Sequential``
    instead of giving the first layer ``input_shape``. It has no weights and is not listed in summaries."""

    def __init__(self, shape: Optional[ShapeLike] = None, *, input_shape: Optional[ShapeLike] = None,
                 name: Optional[str] = None) -> None:
        given = shape if shape is not None else input_shape
        if given is None:
            raise ValueError("InputLayer: give the per-sample shape, e.g. Input(shape=(64, 64, 3))")
        self.shape = _shape_tuple("InputLayer", "shape", given)
        self.name = name

    def __repr__(self) -> str:
        return f"InputLayer(shape={self.shape})"


def Input(shape: ShapeLike, name: Optional[str] = None) -> InputLayer:  # noqa: N802 (Keras's name)
    """``keras.Input(shape=(64, 64, 3))``: the input's shape without the batch axis."""
    return InputLayer(shape, name=name)


class Conv2D(Layer):
    """2-D convolution over channels-last images (N, H, W, C) -> (N, OH, OW, filters), then ``activation``.

    ``padding='valid'`` uses no padding; ``'same'`` pads so that OH = ceil(H / stride), the odd pixel at
    the bottom/right, as TensorFlow. Parameters: ``weight`` (filters, C, kh, kw) -- OIHW, as ``nn.Conv2d`` --
    and ``bias`` (filters,); ``get_weights()`` returns Keras's kernel (kh, kw, C, filters) and bias.
    """

    def __init__(self, filters: int, kernel_size: ShapeLike, strides: ShapeLike = (1, 1), padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: ShapeLike = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", *, input_shape: Optional[ShapeLike] = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(activation=activation, input_shape=input_shape, name=name, dtype=dtype)
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive int, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Conv2D: only data_format='channels_last' (N, H, W, C) is supported, got {data_format!r}")
        self.filters = int(filters)
        self.kernel_size = _int_tuple("Conv2D", "kernel_size", kernel_size)
        self.strides = _int_tuple("Conv2D", "strides", strides)
        self.dilation_rate = _int_tuple("Conv2D", "dilation_rate", dilation_rate)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Conv2D: strides={self.strides} > 1 cannot be combined with "
                             f"dilation_rate={self.dilation_rate} > 1 (as in Keras)")
        self.padding = _padding_mode("Conv2D", padding)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _check_initializer("Conv2D", "kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("Conv2D", "bias_initializer", bias_initializer)
        self._pads = (0, 0, 0, 0)

    def _build(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            hint = (f"; for single-channel images add a channel axis: input_shape={input_shape[1:] + (1,)}"
                    if len(input_shape) == 3 else "")
            raise ShapeError(f"{self._where()}: expects 4-D input (batch, height, width, channels), got input "
                             f"shape {input_shape}{hint}")
        _, height, width, channels = input_shape
        span = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
        oh, top, bottom = _window_geometry(height, span[0], self.strides[0], self.padding)     # type: ignore[arg-type]
        ow, left, right = _window_geometry(width, span[1], self.strides[1], self.padding)      # type: ignore[arg-type]
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self._where()}: kernel {self.kernel_size} (dilation {self.dilation_rate}) does not "
                             f"fit the input shape {input_shape} with padding={self.padding!r}")
        self._pads = (left, right, top, bottom)    # functional.pad2d's order
        kh, kw = self.kernel_size
        kernel = _initial_values(self.kernel_initializer, (kh, kw, channels, self.filters),
                                 kh * kw * channels, kh * kw * self.filters, self.dtype, self.generator)
        self.weight = nn.Parameter(kernel.transpose(3, 2, 0, 1).copy(), dtype=self.dtype)   # HWIO -> OIHW
        if self.use_bias:
            self.bias = nn.Parameter(_initial_values(self.bias_initializer, (self.filters,), channels, self.filters,
                                                     self.dtype, self.generator), dtype=self.dtype)
        else:
            self.register_parameter("bias", None)
        return (None, oh, ow, self.filters)

    def call(self, x: Tensor) -> Tensor:
        """NHWC -> NCHW (a view), pad, ``functional.conv2d``, back to NHWC (a view)."""
        x = x.permute(0, 3, 1, 2)
        if any(self._pads):
            x = F.pad2d(x, self._pads)
        y = F.conv2d(x, self.weight, self.bias, self.strides, 0, self.dilation_rate)
        return y.permute(0, 2, 3, 1)

    def _keras_layouts(self):  # type: ignore[no-untyped-def]
        return [("weight", lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1)),
                ("bias", lambda b: b, lambda b: b)]

    def extra_repr(self) -> str:
        return (f"{self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}, " + super().extra_repr())


class _Pooling2D(Layer):
    """Shared by MaxPooling2D / AveragePooling2D: NHWC -> NCHW view, pool, back."""

    def __init__(self, pool_size: ShapeLike = (2, 2), strides: Optional[ShapeLike] = None, padding: str = "valid",
                 data_format: Optional[str] = None, *, input_shape: Optional[ShapeLike] = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(input_shape=input_shape, name=name, dtype=dtype)
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' (N, H, W, C) is supported, got {data_format!r}")
        self.pool_size = _int_tuple(owner, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _int_tuple(owner, "strides", strides)
        self.padding = _padding_mode(owner, padding)
        self._pads = (0, 0, 0, 0)

    def _build(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            raise ShapeError(f"{self._where()}: expects 4-D input (batch, height, width, channels), got input "
                             f"shape {input_shape}")
        _, height, width, channels = input_shape
        oh, top, bottom = _window_geometry(height, self.pool_size[0], self.strides[0], self.padding)  # type: ignore
        ow, left, right = _window_geometry(width, self.pool_size[1], self.strides[1], self.padding)   # type: ignore
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self._where()}: pool_size {self.pool_size} does not fit the input shape "
                             f"{input_shape} with padding={self.padding!r}")
        self._pads = (left, right, top, bottom)
        self._after_build(height, width)   # type: ignore[arg-type]
        return (None, oh, ow, channels)

    def _after_build(self, height: int, width: int) -> None:
        pass

    def call(self, x: Tensor) -> Tensor:
        return self._pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def _pool(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}, name={self.name!r}"


class MaxPooling2D(_Pooling2D):
    """The largest value of each ``pool_size`` window (``strides`` defaults to ``pool_size``), channels last.
    'same' padding pads with -inf, so a padded pixel never wins."""

    def _pool(self, x: Tensor) -> Tensor:
        if any(self._pads):
            x = F.pad2d(x, self._pads, value=-np.inf)
        return F.max_pool2d(x, self.pool_size, self.strides)


class AveragePooling2D(_Pooling2D):
    """The mean of each ``pool_size`` window, channels last. With 'same' padding the padded pixels do
    not count: each window's sum is divided by the number of real pixels in it, as Keras does."""

    def _after_build(self, height: int, width: int) -> None:
        self._scale: Optional[np.ndarray] = None
        if any(self._pads):
            left, right, top, bottom = self._pads
            inside = np.pad(np.ones((height, width)), ((top, bottom), (left, right)))
            windows = np.lib.stride_tricks.sliding_window_view(inside, self.pool_size)
            counts = windows[::self.strides[0], ::self.strides[1]].sum(axis=(-2, -1))
            # avg_pool2d divides by the full window; rescale to divide by the real pixels instead
            self._scale = (self.pool_size[0] * self.pool_size[1] / counts).astype(self.dtype)

    def _pool(self, x: Tensor) -> Tensor:
        if not any(self._pads):
            return F.avg_pool2d(x, self.pool_size, self.strides)
        pooled = F.avg_pool2d(F.pad2d(x, self._pads), self.pool_size, self.strides)
        return pooled * Tensor(self._scale, dtype=x.dtype)


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C) in Keras's channels-last order (so a Dense kernel after it lines up
    with a real Keras model's, row for row)."""

    def _build(self, input_shape: Shape) -> Shape:
        return (None, int(np.prod(input_shape[1:])))

    def call(self, x: Tensor) -> Tensor:
        return x.flatten(1)


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis. Parameters: ``weight`` (units, in) -- out x in, as
    ``nn.Linear`` -- and ``bias``; ``get_weights()`` returns Keras's kernel (in, units) and bias."""

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros", *,
                 input_shape: Optional[ShapeLike] = None, input_dim: Optional[int] = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(activation=activation, input_shape=input_shape, name=name, dtype=dtype)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _check_initializer("Dense", "kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("Dense", "bias_initializer", bias_initializer)

    def _build(self, input_shape: Shape) -> Shape:
        features = input_shape[-1]
        kernel = _initial_values(self.kernel_initializer, (features, self.units), features, self.units,  # type: ignore
                                 self.dtype, self.generator)
        self.weight = nn.Parameter(kernel.T.copy(), dtype=self.dtype)   # (in, units) -> (units, in)
        if self.use_bias:
            self.bias = nn.Parameter(_initial_values(self.bias_initializer, (self.units,), features, self.units,  # type: ignore
                                                     self.dtype, self.generator), dtype=self.dtype)
        else:
            self.register_parameter("bias", None)
        return input_shape[:-1] + (self.units,)

    def call(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def _keras_layouts(self):  # type: ignore[no-untyped-def]
        return [("weight", lambda w: w.T, lambda k: k.T), ("bias", lambda b: b, lambda b: b)]

    def extra_repr(self) -> str:
        return f"{self.units}, " + super().extra_repr()


class Dropout(Layer):
    """While training (inside ``fit``), zero each value with probability ``rate`` and scale the rest by
    1/(1-rate); the identity in ``evaluate``/``predict``. ``seed`` makes the masks reproducible."""

    def __init__(self, rate: float, noise_shape: Any = None, seed: Optional[int] = None, *,
                 input_shape: Optional[ShapeLike] = None, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(input_shape=input_shape, name=name, dtype=dtype)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported")
        self.rate = float(rate)
        if seed is not None:
            self.generator = np.random.default_rng(seed)

    def call(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.rate, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"rate={self.rate}, name={self.name!r}"


class Activation(Layer):
    """Apply an activation by name ('relu', 'sigmoid', 'tanh', 'softmax', 'linear') or function."""

    def __init__(self, activation: Any, *, input_shape: Optional[ShapeLike] = None, name: Optional[str] = None,
                 dtype: Any = None) -> None:
        super().__init__(activation=activation, input_shape=input_shape, name=name, dtype=dtype)


# ================================ optimizers with Keras's names and defaults =====================

class KerasOptimizer:
    """Hyper-parameters with Keras's names and defaults; ``build(params)`` makes one of our ``optim``
    optimizers for them (the update rules are PyTorch's, the same as Keras's up to where the tiny
    epsilon is added)."""

    def __init__(self, learning_rate: float) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or learning_rate < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a non-negative number, "
                             f"got {learning_rate!r}")
        self.learning_rate = float(learning_rate)

    def build(self, params: List[Tensor]) -> optim.Optimizer:
        """The library optimizer over ``params``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


class SGD(KerasOptimizer):
    """Keras's SGD (learning_rate 0.01) -> ``optim.SGD``; Keras's velocity form of momentum is the same
    update as PyTorch's for a fixed learning rate."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum, self.nesterov = momentum, nesterov

    def build(self, params: List[Tensor]) -> optim.Optimizer:
        return optim.SGD(params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov)


class Adam(KerasOptimizer):
    """Keras's Adam (learning_rate 0.001, epsilon 1e-7) -> ``optim.Adam``."""

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def build(self, params: List[Tensor]) -> optim.Optimizer:
        return optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad)


class RMSprop(KerasOptimizer):
    """Keras's RMSprop (learning_rate 0.001, rho 0.9, epsilon 1e-7) -> ``optim.RMSprop`` (rho is alpha)."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False) -> None:
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def build(self, params: List[Tensor]) -> optim.Optimizer:
        return optim.RMSprop(params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)


class Adagrad(KerasOptimizer):
    """Keras's Adagrad (learning_rate 0.001, initial accumulator 0.1, epsilon 1e-7) -> ``optim.Adagrad``."""

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def build(self, params: List[Tensor]) -> optim.Optimizer:
        return optim.Adagrad(params, lr=self.learning_rate,
                             initial_accumulator_value=self.initial_accumulator_value, eps=self.epsilon)


OPTIMIZERS: Dict[str, Callable[[], KerasOptimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}

#: ``from tinygrad_cnn.keras import optimizers; optimizers.Adam(learning_rate=1e-3)``, as in Keras
optimizers = types.SimpleNamespace(SGD=SGD, Adam=Adam, RMSprop=RMSprop, Adagrad=Adagrad)


# ================================ losses and metrics =============================================

LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
          "mean_squared_error", "mean_absolute_error")
_LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
METRICS = ("accuracy", "acc", "mse", "mae")


def _classes_to_axis1(logits: Tensor, target: np.ndarray, one_hot: bool) -> Tuple[Tensor, np.ndarray]:
    """Move Keras's last (class) axis to axis 1, where ``functional.cross_entropy`` expects it."""
    if logits.ndim <= 2:
        return logits, target
    axes = (0, logits.ndim - 1) + tuple(range(1, logits.ndim - 1))
    return logits.permute(*axes), (np.moveaxis(target, -1, 1) if one_hot else target)


def _crossentropy_of_probabilities(probs: Tensor, one_hot: np.ndarray) -> Tensor:
    """Keras's categorical cross-entropy of outputs that are not a softmax: renormalise, clip to
    [eps, 1 - eps] (so log stays finite), -sum(y log p) over the classes, mean over the rest."""
    probs = probs / probs.sum(axis=-1, keepdims=True)
    return -(Tensor(one_hot, dtype=probs.dtype) * probs.clip(_EPSILON, 1 - _EPSILON).log()).sum(axis=-1).mean()


def _compute_loss(name: Any, out: Tensor, y: np.ndarray, fused: bool) -> Tensor:
    """The scalar loss. ``out`` holds logits when ``fused`` (softmax/sigmoid not applied), else outputs."""
    if callable(name):
        loss = name(Tensor(y, dtype=out.dtype), out)
        return loss if loss.ndim == 0 else loss.mean()
    if name == "categorical_crossentropy":
        if fused:   # -sum(y * log_softmax(logits)): never log of a softmax
            return F.cross_entropy(*_classes_to_axis1(out, y.astype(out.dtype), one_hot=True))
        return _crossentropy_of_probabilities(out, y.astype(out.dtype))
    if name == "sparse_categorical_crossentropy":
        if fused:
            return F.cross_entropy(*_classes_to_axis1(out, y, one_hot=False))
        return _crossentropy_of_probabilities(out, np.eye(out.shape[-1], dtype=out.dtype)[y])
    if name == "binary_crossentropy":
        target = y.astype(out.dtype)
        if fused:
            return F.binary_cross_entropy_with_logits(out, target)
        p = out.clip(_EPSILON, 1 - _EPSILON)
        t = Tensor(target, dtype=out.dtype)
        return -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    if name == "mean_squared_error":
        return F.mse_loss(out, y.astype(out.dtype))
    if name == "mean_absolute_error":
        return (out - Tensor(y.astype(out.dtype), dtype=out.dtype)).abs().mean()
    raise AssertionError(f"unhandled loss {name!r}")


def _numpy_activation(name: str, logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits outside the graph (metrics and reporting only)."""
    if name == "softmax":
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * logits))   # the overflow-free form of 1 / (1 + exp(-x))
    return logits


def _metric_values(metric: str, probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The per-sample metric for one batch."""
    n = len(probs)
    if metric == "binary_accuracy":
        return ((probs > 0.5) == (y > 0.5)).reshape(n, -1).mean(axis=1)
    if metric == "sparse_categorical_accuracy":
        return (probs.argmax(axis=-1) == y).reshape(n, -1).mean(axis=1)
    if metric == "categorical_accuracy":
        return (probs.argmax(axis=-1) == y.argmax(axis=-1)).reshape(n, -1).mean(axis=1)
    diff = probs - y.reshape(probs.shape)
    return (diff * diff if metric == "mse" else np.abs(diff)).reshape(n, -1).mean(axis=1)


class History:
    """What ``fit`` returns: ``history`` maps 'loss', 'accuracy', 'val_loss', 'val_accuracy' ... to one
    value per epoch; ``epoch`` lists the epoch indices; ``params`` the fit settings."""

    def __init__(self) -> None:
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        self.params: Dict[str, Any] = {}
        self.model: Optional["Sequential"] = None

    def _record(self, epoch: int, logs: Dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# ================================ the model ======================================================

class Sequential:
    """A linear stack of Keras layers, built as they are added once the input shape is known.

    ``Sequential(layers=None, name=None, *, seed=None, dtype='float32')``: ``seed`` makes initialisation,
    dropout and shuffling reproducible (otherwise the library generator, see ``set_random_seed``);
    ``dtype='float64'`` gives a double-precision model (for gradient checks).

    ``model.module`` is the ``nn.Sequential`` of the layers (each an ``nn.Module``): the library's view of
    the same model, for ``draw_graph``, ``state_dict`` and stepping through backward.
    """

    def __init__(self, layers: Optional[Sequence[Any]] = None, name: Optional[str] = None, *,
                 seed: Optional[int] = None, dtype: Any = "float32") -> None:
        self.name = name or "sequential"
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"Sequential: dtype must be a floating-point type, got {self.dtype}")
        self.generator: Optional[np.random.Generator] = None if seed is None else np.random.default_rng(seed)
        self.module = nn.Sequential()
        self.layers: List[Layer] = []
        self._input_shape: Optional[Tuple[int, ...]] = None   # per sample, from Input() or the first layer
        self._compiled = False
        self._optimizer_spec: Any = None
        self._optimizer: Optional[optim.Optimizer] = None
        self.loss: Any = None
        self.metrics: List[str] = []
        self.history: Optional[History] = None
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- building
    def add(self, layer: Union[Layer, InputLayer]) -> None:
        """Append ``layer``; it is built at once when its input shape is known."""
        if isinstance(layer, InputLayer):
            if self.layers or self._input_shape is not None:
                raise ValueError(f"Sequential.add: an Input/InputLayer must come first, before any layer "
                                 f"(the model already has {len(self.layers)} layer(s))")
            self._input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Keras layer (Conv2D, Dense, ...), got "
                            f"{type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in this model")
        name = layer.name or self._unique_name(_to_snake_case(type(layer).__name__))
        if name in self.module._modules:
            raise ValueError(f"Sequential.add: all layers need unique names; {name!r} is already the name of "
                             "a layer in this model")
        if layer.dtype is None:
            layer.dtype = self.dtype
        if layer.generator is None:
            layer.generator = self.generator
        declared = layer.declared_input_shape
        if not self.layers and declared is not None:
            if self._input_shape is not None and self._input_shape != declared:
                raise ShapeError(f"Sequential.add: layer {name!r} declares input_shape={declared}, but the "
                                 f"model's Input has shape {self._input_shape}")
            self._input_shape = declared
        incoming = self._incoming_shape()
        if self.layers and declared is not None and incoming is not None and incoming[1:] != declared:
            raise ShapeError(f"Sequential.add: layer {name!r} declares input_shape={declared}, but the previous "
                             f"layer {self.layers[-1].name!r} outputs {incoming}")
        layer.name = name
        if incoming is not None:
            layer.build(incoming)       # shape errors surface here, before the layer joins the model
        self.module.add_module(name, layer)
        self.layers.append(layer)

    def _unique_name(self, base: str) -> str:
        taken = set(self.module._modules)
        if base not in taken:
            return base
        index = 1
        while f"{base}_{index}" in taken:
            index += 1
        return f"{base}_{index}"

    def _incoming_shape(self) -> Optional[Shape]:
        """The shape the next added layer will see, when known."""
        if not self.layers:
            return None if self._input_shape is None else (None,) + self._input_shape
        return self.layers[-1].output_shape if self.layers[-1].built else None

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        layer = self.layers.pop()
        delattr(self.module, layer.name)   # type: ignore[arg-type]
        self._optimizer = None
        return layer

    def build(self, input_shape: Optional[Sequence[Optional[int]]] = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first, e.g. (None, 64, 64, 3))."""
        if input_shape is not None:
            shape = tuple(input_shape)
            per_sample = _shape_tuple("Sequential.build", "input_shape (after the batch axis)", shape[1:])
            if self._input_shape is not None and self._input_shape != per_sample:
                raise ShapeError(f"Sequential.build: the model was declared for input shape "
                                 f"{(None,) + self._input_shape}, got {shape}")
            self._input_shape = per_sample
        if self._input_shape is None:
            raise ValueError("Sequential.build: the input shape is unknown; call build((None, H, W, C)) or give "
                             "the first layer input_shape=(H, W, C)")
        shape_now: Shape = (None,) + self._input_shape
        for layer in self.layers:
            layer.build(shape_now)
            shape_now = layer.output_shape   # type: ignore[assignment]

    @property
    def built(self) -> bool:
        """Whether every layer has its parameters (the input shape is known)."""
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def _require_built(self, what: str) -> None:
        if not self.layers:
            raise ValueError(f"Sequential.{what}: the model has no layers; add some with model.add(...)")
        if not self.built:
            first = self.layers[0]
            raise ValueError(f"Sequential.{what}: the model has not been built yet: its first layer "
                             f"{first.name!r} ({type(first).__name__}) has no input_shape. Give the first layer "
                             "input_shape=(height, width, channels) (e.g. Conv2D(32, (3, 3), "
                             "input_shape=(64, 64, 3))), add Input(shape=...) first, or call "
                             "model.build((None, height, width, channels)) or fit/predict once")

    @property
    def input_shape(self) -> Optional[Shape]:
        """(None, ...) of the inputs, once known."""
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self) -> Optional[Shape]:
        """(None, ...) of the outputs, once built."""
        return self.layers[-1].output_shape if self.built else None

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """A layer by name or by position."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Sequential.get_layer: no layer named {name!r}; the layers are "
                         f"{[layer.name for layer in self.layers]}")

    # ---------------------------------------------------------------- weights
    def count_params(self) -> int:
        """How many numbers the model's weights hold (Keras's count)."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> List[np.ndarray]:
        """Every layer's weights in Keras's layouts and order (kernel, bias, kernel, bias, ...)."""
        self._require_built("get_weights")
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Load weights in Keras's layouts and order (e.g. from a real Keras model's ``get_weights()``)."""
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer._weight_entries()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Sequential.set_weights: the model has {expected} weight arrays, got {len(weights)}")
        start = 0
        for layer in self.layers:
            count = len(layer._weight_entries())
            layer.set_weights(weights[start:start + count])
            start += count

    def save_weights(self, path: str) -> None:
        """Write the parameters (``model.module.state_dict()``, PyTorch layouts) to an ``.npz``, atomically."""
        self._require_built("save_weights")
        self.module.save(path)

    def load_weights(self, path: str) -> None:
        """Load parameters written by ``save_weights``."""
        self._require_built("load_weights")
        self.module.load(path)

    # ---------------------------------------------------------------- summary
    def summary(self, line_length: Optional[int] = None, print_fn: Optional[Callable[[str], Any]] = None) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals, as Keras does."""
        self._require_built("summary")
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        # Keras's positions (0.45, 0.85, 1.0) of 65 columns, widened rather than truncating a long entry
        width = max(line_length or 65, 65)
        first = max(int(width * 0.45), max(len(r[0]) for r in rows) + 2)
        second = max(int(width * 0.40), max(len(r[1]) for r in rows) + 2)
        third = max(width - first - second, max(len(r[2]) for r in rows) + 1, len("Param #") + 1)
        width = first + second + third

        def line(cells: Tuple[str, str, str]) -> str:
            return (" " + cells[0]).ljust(first) + cells[1].ljust(second) + cells[2]

        total = self.count_params()
        itemsize = self.dtype.itemsize
        lines = [f'Model: "{self.name}"', "_" * width, line(("Layer (type)", "Output Shape", "Param #")),
                 "=" * width]
        for index, row in enumerate(rows):
            lines.append(line(row))
            lines.append("=" * width if index == len(rows) - 1 else "_" * width)
        lines += [f"Total params: {total:,} ({_readable_bytes(total * itemsize)})",
                  f"Trainable params: {total:,} ({_readable_bytes(total * itemsize)})",
                  f"Non-trainable params: 0 ({_readable_bytes(0)})", "_" * width]
        text = "\n".join(row.rstrip() for row in lines)
        (print_fn or print)(text)

    # ---------------------------------------------------------------- calling
    def _forward(self, x: Tensor, logits: bool = False) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential: the model has no layers; add some with model.add(...)")
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1](x, return_logits=logits)

    def __call__(self, x: ArrayLike, training: bool = False) -> Tensor:
        """The model's output for ``x`` as a Tensor (with its graph, so you can backpropagate through it)."""
        self.module.train(bool(training))
        return self._forward(Tensor(self._prepare_x(x, "call"), dtype=self.dtype)
                             if not isinstance(x, Tensor) else self._check_tensor(x))

    def _check_tensor(self, x: Tensor) -> Tensor:
        self._prepare_x(np.empty((0,) + tuple(x.shape[1:]), dtype=self.dtype), "call")
        return x

    def _prepare_x(self, x: ArrayLike, what: str) -> np.ndarray:
        """``x`` as an array of the model's dtype with the model's input shape (building the model from
        it if no input shape was given)."""
        if x is None:
            raise ValueError(f"Sequential.{what}: x is required")
        array = np.asarray(x.data if isinstance(x, Tensor) else x)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"Sequential.{what}: x must hold numbers, got an array of dtype {array.dtype}")
        if array.ndim < 2:
            raise ShapeError(f"Sequential.{what}: x must be a batch (N, ...), got shape {array.shape}")
        if not self.built:
            if not self.layers:
                raise ValueError(f"Sequential.{what}: the model has no layers; add some with model.add(...)")
            self.build((None,) + array.shape[1:])
        expected = self.input_shape
        if array.shape[1:] != expected[1:]:   # type: ignore[index]
            hint = ""
            if len(expected) == 4 and array.ndim == 4 and array.shape[1:] == (expected[3], expected[1], expected[2]):
                hint = ("; x looks channels-first (N, C, H, W) -- Keras layers take channels-last "
                        "(N, H, W, C): use x.transpose(0, 2, 3, 1)")
            elif array.ndim == len(expected) - 1 and array.shape[1:] == expected[1:-1] and expected[-1] == 1:
                hint = "; add the channel axis: x[..., None]"
            raise ShapeError(f"Sequential.{what}: expected input of shape {expected}, got {array.shape}{hint}")
        return array.astype(self.dtype, copy=False)

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Optional[Sequence[str]] = None) -> None:
        """Choose the optimizer ('sgd', 'adam', 'rmsprop', 'adagrad', a Keras-style optimizer such as
        ``Adam(learning_rate=...)``, or one of our ``optim`` optimizers over ``model.module.parameters()``),
        the loss ('categorical_crossentropy', 'sparse_categorical_crossentropy', 'binary_crossentropy',
        'mse', 'mae', or a function ``loss(y_true, y_pred) -> Tensor``) and the metrics (['accuracy'])."""
        if isinstance(optimizer, str):
            key = optimizer.lower()
            if key not in OPTIMIZERS:
                raise ValueError(f"compile: unknown optimizer {optimizer!r}; valid names are {sorted(OPTIMIZERS)} "
                                 "(or an optimizer object)")
            spec: Any = OPTIMIZERS[key]()
        elif isinstance(optimizer, (KerasOptimizer, optim.Optimizer)):
            spec = optimizer
        else:
            raise TypeError(f"compile: optimizer must be a name {sorted(OPTIMIZERS)}, a Keras-style optimizer "
                            f"(e.g. Adam(learning_rate=1e-3)) or a tinygrad_cnn.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        if loss is None:
            raise ValueError(f"compile: a loss is required; valid names are {list(LOSSES)} (or 'mse', 'mae', "
                             "or a function loss(y_true, y_pred))")
        if isinstance(loss, str):
            key = _LOSS_ALIASES.get(loss.lower(), loss.lower())
            if key not in LOSSES:
                raise ValueError(f"compile: unknown loss {loss!r}; valid names are {list(LOSSES)} "
                                 "(and the aliases 'mse', 'mae')")
            loss = key
        elif not callable(loss):
            raise TypeError(f"compile: loss must be a name {list(LOSSES)} or a function, got {type(loss).__name__}")
        if metrics is None:
            metrics = []
        elif isinstance(metrics, str):
            raise TypeError(f"compile: metrics must be a list, e.g. metrics=[{metrics!r}]")
        metrics = list(metrics)
        for metric in metrics:
            if not isinstance(metric, str) or metric.lower() not in METRICS:
                raise ValueError(f"compile: unknown metric {metric!r}; valid names are {list(METRICS)}")
        self._optimizer_spec = spec
        self._optimizer = None
        self.loss = loss
        self.metrics = [m.lower() for m in metrics]
        self._compiled = True
        if isinstance(spec, optim.Optimizer) and self.built:
            self._check_optimizer(spec)

    def _check_optimizer(self, opt: optim.Optimizer) -> None:
        ours = {id(p) for p in self.module.parameters()}
        theirs = {id(p) for group in opt.param_groups for p in group["params"]}
        if ours != theirs:
            raise ValueError(f"compile: the optimizer {type(opt).__name__} does not hold exactly this model's "
                             f"parameters ({len(theirs)} given, the model has {len(ours)}); create it with "
                             "model.module.parameters()")

    @property
    def optimizer(self) -> Any:
        """The library optimizer once training started (``optim.Adam`` ...), else what ``compile`` was given."""
        return self._optimizer if self._optimizer is not None else self._optimizer_spec

    def _training_optimizer(self) -> optim.Optimizer:
        if self._optimizer is None:
            spec = self._optimizer_spec
            if isinstance(spec, optim.Optimizer):
                self._check_optimizer(spec)
                self._optimizer = spec
            else:
                self._optimizer = spec.build(list(self.module.parameters()))
        return self._optimizer

    def _require_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"Sequential.{what}: you must call compile(optimizer=..., loss=...) before {what}()")

    # ---------------------------------------------------------------- labels, loss and metrics
    def _fused(self) -> bool:
        """Whether the loss is computed from the last layer's logits (softmax/sigmoid folded into it)."""
        last = self.layers[-1].activation
        return (last == "softmax" and self.loss in ("categorical_crossentropy", "sparse_categorical_crossentropy")) \
            or (last == "sigmoid" and self.loss == "binary_crossentropy")

    def _prepare_y(self, y: ArrayLike, count: int, what: str) -> np.ndarray:
        """Check the labels against the loss and the model's output shape; return them as the loss wants."""
        if y is None:
            raise ValueError(f"Sequential.{what}: y (the labels) is required")
        labels = np.asarray(y.data if isinstance(y, Tensor) else y)
        if labels.dtype.kind not in "biuf":
            raise TypeError(f"Sequential.{what}: y must hold numbers, got an array of dtype {labels.dtype}")
        if labels.ndim == 0 or len(labels) != count:
            raise ShapeError(f"Sequential.{what}: x has {count} samples but y has shape {labels.shape}")
        out = self.output_shape
        per_sample = out[1:]   # type: ignore[index]
        loss = self.loss
        loss_name = loss if isinstance(loss, str) else None
        if loss_name == "categorical_crossentropy":
            if labels.shape[1:] != per_sample:
                hint = ""
                if labels.shape[1:] in (per_sample[:-1], per_sample[:-1] + (1,)):
                    hint = (" -- these look like integer class labels: use "
                            "loss='sparse_categorical_crossentropy', or one-hot encode them with "
                            f"to_categorical(y, {per_sample[-1]})")
                raise ShapeError(f"Sequential.{what}: loss='categorical_crossentropy' needs one-hot labels of shape "
                                 f"(N,) + {per_sample} to match the model's output {out}, got labels of shape "
                                 f"{labels.shape}{hint}")
            return labels
        if loss_name == "sparse_categorical_crossentropy":
            if labels.shape[1:] == per_sample[:-1] + (1,) and per_sample[-1] != 1:
                labels = labels.reshape(labels.shape[:-1])
            if labels.shape[1:] != per_sample[:-1]:
                hint = (" -- these look one-hot: use loss='categorical_crossentropy', or pass y.argmax(axis=-1)"
                        if labels.shape[1:] == per_sample else "")
                raise ShapeError(f"Sequential.{what}: loss='sparse_categorical_crossentropy' needs integer class "
                                 f"labels of shape (N,) + {per_sample[:-1]} for the model's output {out}, got labels "
                                 f"of shape {labels.shape}{hint}")
            if labels.dtype.kind == "f" and np.any(labels != np.floor(labels)):
                raise ValueError(f"Sequential.{what}: sparse_categorical_crossentropy needs whole-number class "
                                 "labels, got fractional values")
            labels = labels.astype(np.int64)
            classes = per_sample[-1]
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                bad = labels.min() if labels.min() < 0 else labels.max()
                raise ValueError(f"Sequential.{what}: label {int(bad)} is out of range for the model's {classes} "
                                 f"output classes (valid labels are 0..{classes - 1})")
            return labels
        if loss_name is not None:   # binary cross-entropy, mse, mae: one target per output
            if labels.shape[1:] != per_sample and labels.size == count * int(np.prod(per_sample)) \
                    and per_sample[-1] == 1 and labels.shape[1:] == per_sample[:-1]:
                labels = labels.reshape((count,) + per_sample)   # (N,) labels for an (N, 1) output
            if labels.shape[1:] != per_sample:
                raise ShapeError(f"Sequential.{what}: loss={loss_name!r} needs targets of the model's output shape "
                                 f"{out}, got targets of shape {labels.shape}")
            if loss_name == "binary_crossentropy" and labels.size and (labels.min() < 0 or labels.max() > 1):
                raise ValueError(f"Sequential.{what}: binary_crossentropy needs targets in [0, 1], got values in "
                                 f"[{labels.min()}, {labels.max()}]")
        return labels

    def _metric_kinds(self, labels: np.ndarray) -> List[Tuple[str, str]]:
        """(log name, metric) pairs; 'accuracy' becomes the kind Keras picks for this loss and these shapes."""
        kinds = []
        out = self.output_shape
        for name in self.metrics:
            if name in ("accuracy", "acc"):
                if self.loss == "sparse_categorical_crossentropy":
                    kind = "sparse_categorical_accuracy"
                elif self.loss == "categorical_crossentropy":
                    kind = "categorical_accuracy"
                elif self.loss == "binary_crossentropy" or out[-1] == 1:   # type: ignore[index]
                    kind = "binary_accuracy"
                elif labels.ndim < len(out):   # type: ignore[arg-type]
                    kind = "sparse_categorical_accuracy"
                else:
                    kind = "categorical_accuracy"
            else:
                kind = name
            kinds.append((name, kind))
        return kinds

    def _batch_loss(self, xb: np.ndarray, yb: np.ndarray) -> Tuple[Tensor, np.ndarray]:
        """(loss Tensor, output probabilities as numpy) for one batch."""
        fused = self._fused()
        out = self._forward(_tensor.from_numpy(np.asarray(xb, dtype=self.dtype)), logits=fused)  # read only: no copy
        loss = _compute_loss(self.loss, out, yb, fused)
        probs = _numpy_activation(self.layers[-1].activation, out.data) if fused else out.data
        return loss, probs

    def compute_loss(self, x: ArrayLike, y: ArrayLike, training: bool = True) -> Tensor:
        """The compiled loss on (x, y) as a Tensor with its graph: ``draw_graph(loss, params=model.module)``,
        ``loss.backward_steps()`` or ``loss.backward()`` from here."""
        self._require_compiled("compute_loss")
        x = self._prepare_x(x, "compute_loss")
        y = self._prepare_y(y, len(x), "compute_loss")
        self.module.train(training)
        return self._batch_loss(x, y)[0]

    # ---------------------------------------------------------------- training
    def train_on_batch(self, x: ArrayLike, y: ArrayLike) -> Union[float, List[float]]:
        """One optimizer step on (x, y); returns the loss (and metrics) of that batch before the step."""
        self._require_compiled("train_on_batch")
        x = self._prepare_x(x, "train_on_batch")
        y = self._prepare_y(y, len(x), "train_on_batch")
        logs = self._train_step(x, y, self._metric_kinds(y))
        return self._as_keras_result(logs)

    def _train_step(self, xb: np.ndarray, yb: np.ndarray, kinds: List[Tuple[str, str]]) -> Dict[str, float]:
        opt = self._training_optimizer()
        self.module.train()
        opt.zero_grad()
        loss, probs = self._batch_loss(xb, yb)
        loss.backward()
        opt.step()
        logs = {"loss": float(loss.item())}
        for name, kind in kinds:
            logs[name] = float(_metric_values(kind, probs, yb).mean())
        return logs

    def _as_keras_result(self, logs: Dict[str, float]) -> Union[float, List[float]]:
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    @staticmethod
    def _check_verbose(verbose: Any, what: str) -> int:
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"Sequential.{what}: verbose must be 0 (silent), 1 (progress bar), 2 (one line per "
                             f"epoch) or 'auto', got {verbose!r}")
        return int(verbose)

    def _batch_size(self, batch_size: Optional[int], what: str) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"Sequential.{what}: batch_size must be a positive int, got {batch_size!r}")
        return int(batch_size)

    def fit(self, x: ArrayLike = None, y: ArrayLike = None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Optional[Tuple[ArrayLike, ArrayLike]] = None, shuffle: bool = True) -> History:
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a ``History`` whose ``history``
        holds 'loss' (and each metric, e.g. 'accuracy') per epoch, plus 'val_loss'/'val_accuracy' with
        ``validation_data=(x_val, y_val)`` or ``validation_split`` (the last fraction of x, y, as Keras).

        ``verbose``: 1 (or 'auto') a tqdm progress bar per epoch, 2 one line per epoch, 0 silent.
        """
        self._require_compiled("fit")
        verbose = self._check_verbose(verbose, "fit")
        batch_size = self._batch_size(batch_size, "fit")
        if callbacks:
            raise NotImplementedError("Sequential.fit: callbacks are not supported; loop over fit(epochs=1) instead")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
            raise ValueError(f"Sequential.fit: epochs must be a non-negative int, got {epochs!r}")
        x = self._prepare_x(x, "fit")
        y = self._prepare_y(y, len(x), "fit")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
                not 0.0 <= validation_split < 1.0:
            raise ValueError(f"Sequential.fit: validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("Sequential.fit: give validation_data or validation_split, not both")
        val: Optional[Tuple[np.ndarray, np.ndarray]] = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("Sequential.fit: validation_data must be a pair (x_val, y_val)")
            x_val = self._prepare_x(validation_data[0], "fit (validation_data)")
            val = (x_val, self._prepare_y(validation_data[1], len(x_val), "fit (validation_data)"))
        elif validation_split:
            split_at = int(math.ceil(len(x) * (1.0 - validation_split)))   # Keras: the *last* samples validate
            if split_at == len(x) or split_at == 0:
                raise ValueError(f"Sequential.fit: validation_split={validation_split} of {len(x)} samples leaves "
                                 f"{len(x) - split_at} for validation and {split_at} for training; both need some")
            x, val = x[:split_at], (x[split_at:], y[split_at:])
            y = y[:split_at]
        kinds = self._metric_kinds(y)
        self._training_optimizer()
        seed = int(_tensor._rng(None, self.generator).integers(2 ** 63))
        loader = DataLoader(x, y, batch_size=batch_size, shuffle=bool(shuffle), seed=seed)
        history = History()
        history.model = self
        history.params = {"epochs": int(epochs), "steps": len(loader), "verbose": verbose}
        for epoch in range(int(epochs)):
            started = time.perf_counter()
            bar = self._progress_bar(len(loader), epoch, int(epochs)) if verbose == 1 else None
            totals: Dict[str, float] = {}
            seen = 0
            for xb, yb in loader:
                logs = self._train_step(xb, yb, kinds)
                if not math.isfinite(logs["loss"]):   # the same advice as the `train` command's
                    if bar is not None:
                        bar.close()
                    lr = self._training_optimizer().param_groups[0]["lr"]
                    raise ValueError(f"Sequential.fit: epoch {epoch + 1}: the loss became {logs['loss']}; lower "
                                     f"the learning rate (now {lr:g})")
                seen += len(xb)
                for key, value in logs.items():   # sample-weighted means over the epoch, as Keras
                    totals[key] = totals.get(key, 0.0) + value * len(xb)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v / seen:.4f}" for k, v in totals.items()}, refresh=False)
            epoch_logs = {key: value / max(seen, 1) for key, value in totals.items()}
            if val is not None:
                for key, value in self._evaluate_arrays(val[0], val[1], batch_size).items():
                    epoch_logs["val_" + key] = value
            history._record(epoch, epoch_logs)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in epoch_logs.items()})
                bar.close()
            elif verbose == 2 or (verbose == 1 and bar is None):
                parts = " - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - started:.1f}s - {parts}")
        self.history = history
        return history

    @staticmethod
    def _progress_bar(total: int, epoch: int, epochs: int) -> Any:
        """A tqdm bar for one epoch, or None without tqdm (then fit prints one line per epoch)."""
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True, dynamic_ncols=True)

    # ---------------------------------------------------------------- evaluation and prediction
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> Dict[str, float]:
        kinds = self._metric_kinds(y)
        totals: Dict[str, float] = {}
        self.module.eval()
        with no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                loss, probs = self._batch_loss(xb, yb)
                totals["loss"] = totals.get("loss", 0.0) + float(loss.item()) * len(xb)
                for name, kind in kinds:
                    totals[name] = totals.get(name, 0.0) + float(_metric_values(kind, probs, yb).sum())
        return {key: value / max(len(x), 1) for key, value in totals.items()}

    def evaluate(self, x: ArrayLike = None, y: ArrayLike = None, batch_size: Optional[int] = None, verbose: Any = 0,
                 return_dict: bool = False) -> Union[float, List[float], Dict[str, float]]:
        """The loss (and metrics) on (x, y) in eval mode (no dropout): ``[loss, accuracy]``, or the loss
        alone when compiled without metrics, or a dict with ``return_dict``."""
        self._require_compiled("evaluate")
        verbose = self._check_verbose(verbose, "evaluate")
        batch_size = self._batch_size(batch_size, "evaluate")
        x = self._prepare_x(x, "evaluate")
        y = self._prepare_y(y, len(x), "evaluate")
        logs = self._evaluate_arrays(x, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return dict(logs) if return_dict else self._as_keras_result(logs)

    def test_on_batch(self, x: ArrayLike, y: ArrayLike) -> Union[float, List[float]]:
        """The loss (and metrics) of one batch in eval mode."""
        self._require_compiled("test_on_batch")
        x = self._prepare_x(x, "test_on_batch")
        y = self._prepare_y(y, len(x), "test_on_batch")
        return self._as_keras_result(self._evaluate_arrays(x, y, max(len(x), 1)))

    def predict(self, x: ArrayLike, batch_size: Optional[int] = None, verbose: Any = 0) -> np.ndarray:
        """The outputs for ``x`` as a numpy array, final activation applied (softmax rows sum to 1), in
        eval mode (no dropout) and without building a graph."""
        self._check_verbose(verbose, "predict")
        batch_size = self._batch_size(batch_size, "predict")
        x = self._prepare_x(x, "predict")
        self.module.eval()
        outputs = []
        with no_grad():
            for start in range(0, len(x), batch_size):
                batch = _tensor.from_numpy(np.asarray(x[start:start + batch_size], dtype=self.dtype))
                outputs.append(self._forward(batch).data)
        if not outputs:
            return np.zeros((0,) + self.output_shape[1:], dtype=self.dtype)   # type: ignore[index]
        return np.concatenate(outputs)

    def predict_on_batch(self, x: ArrayLike) -> np.ndarray:
        """``predict`` of one batch."""
        return self.predict(x, batch_size=max(len(np.asarray(x)), 1))

    def __repr__(self) -> str:
        return f"<Sequential {self.name!r}: {len(self.layers)} layers, built={self.built}>\n{self.module!r}"
