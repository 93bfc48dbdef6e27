"""tinygrad_cnn: a small, readable numpy autograd engine for learning backprop in CNNs."""
from .autograd import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .errors import CheckpointError, DTypeError, ShapeError, TinygradError
from .tensor import Tensor, manual_seed

__all__ = ["Tensor", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "manual_seed",
           "TinygradError", "ShapeError", "DTypeError", "CheckpointError"]
__version__ = "0.1.0"
