"""The library's own exceptions: each message names the op and the shapes, dtypes or keys at fault."""


class TinygradError(Exception):
    """Base class of every error this library raises on purpose."""


class ShapeError(TinygradError, ValueError):
    """Shapes that do not fit an op (broadcasting, matmul inner dimensions, conv channels, ...)."""


class DTypeError(TinygradError, TypeError):
    """A dtype an op cannot use (e.g. requires_grad on an integer tensor)."""


class CheckpointError(TinygradError, ValueError):
    """A checkpoint or state_dict that does not fit: missing or unexpected keys, wrong shapes, bad file."""
