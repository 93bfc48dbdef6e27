"""tinygrad_cnn: a small, readable numpy autograd engine for learning backprop in CNNs."""
from typing import Any

# No process-wide side effects on import: the malloc tuning (allocator.py) is opt-in, turned on
# by the `train` command and the benchmarks, or by you: tinygrad_cnn.allocator.tune_allocator().
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
