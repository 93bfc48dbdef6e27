"""tinygrad_cnn: a small, readable numpy autograd engine for learning backprop in CNNs."""
from typing import Any

from .allocator import tune_allocator

tune_allocator()  # reuse freed array memory instead of paying page faults for it (see allocator.py)

from .autograd import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .errors import CheckpointError, DTypeError, ShapeError, TinygradError
from .tensor import Tensor, from_numpy, manual_seed


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (as ``torch.where(cond, a, b)``); differentiable in a and b."""
    return Tensor.if_else(condition, a, b)


from . import functional, nn, optim  # noqa: E402  (built on Tensor)

__all__ = ["Tensor", "from_numpy", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "manual_seed", "where",
           "nn", "optim", "functional", "TinygradError", "ShapeError", "DTypeError", "CheckpointError"]
__version__ = "0.1.0"
