"""Modules: objects that own parameters and compute with them, with PyTorch's names and semantics.

A ``Module`` keeps three ordered registries, filled by plain attribute assignment::

    self.conv1 = Conv2d(1, 6, 5)          # a child module      -> named_children(), 'conv1.*' keys
    self.weight = Parameter(array)        # a trainable tensor  -> parameters(), optimizers update it
    self.register_buffer("running_mean", Tensor(...))   # state, not trained -> state_dict()

``state_dict()`` walks them (own parameters, own buffers, then each child with its name as a
prefix), so its keys and array layouts are PyTorch's (``conv1.weight`` in OIHW, ``fc1.weight``
out×in, ``bn.num_batches_tracked``): a checkpoint moves between the two libraries as an ``.npz``.

Layers hold no derivative code: their ``forward`` is a call into ``functional`` (Tensor ops), and
the chain rule over the primitives in ``ops.py`` does the rest.
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections import OrderedDict
from typing import (Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Set,
                    Tuple, Union)

import numpy as np

from . import functional as F
from . import tensor as _tensor
from .autograd import no_grad, state as _autograd_state
from .errors import CheckpointError, ShapeError
from .fileio import save_npz
from .tensor import Tensor

__all__ = ["Parameter", "Module", "Sequential", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
           "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax",
           "Dropout", "BatchNorm1d", "BatchNorm2d", "Identity",
           "IncompatibleKeys", "read_npz"]

PathLike = Union[str, "os.PathLike[str]"]
IntPair = Union[int, Tuple[int, int]]


# ================================ Parameter ======================================================

class Parameter(Tensor):
    """A Tensor that is a module's trainable weight: it requires grad, and assigning it to a
    ``Module`` attribute registers it (so ``parameters()`` and ``state_dict()`` see it).

    >>> p = Parameter(np.zeros((2, 3)))
    >>> p.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
            # as torch.nn.Parameter(tensor): the parameter shares the tensor's memory (no copy)
            if requires_grad and data.dtype.kind != "f":
                raise TypeError(f"Parameter: only floating-point tensors can require grad, got dtype {data.dtype}")
            self.data, self.grad, self.requires_grad, self.grad_fn = data.data, None, bool(requires_grad), None
            self._hooks, self._version_counter, self.name = None, data._shared_version_counter(), None
            return
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# ================================ Module =========================================================

class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped: keys the model has that the state lacked,
    and keys the state has that the model lacks (as PyTorch returns them)."""

    missing_keys: List[str]
    unexpected_keys: List[str]


def _pair(value: IntPair, what: str, owner: str) -> Tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 2)`` stays; anything else is a clear error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{owner}: {what} must be an int or a pair of ints, got {value!r}")


class Module:
    """Base class of every layer and model (PyTorch's ``nn.Module``).

    Subclass it, call ``super().__init__()`` first, assign layers and ``Parameter``s as attributes,
    and define ``forward``; call the module (``model(x)``) rather than ``forward`` directly, so
    that the ops it builds remember which module made them (``grad_fn.module_path``, drawn as
    clusters by ``viz.draw_graph``).

    >>> class TwoLayer(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1, self.fc2 = Linear(4, 8), Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> [name for name, _ in TwoLayer().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ reads these registries, so they must exist first
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        # the attribute name this module has in its parent ("conv1", or "0" in a Sequential);
        # None for a root model. Pushed onto autograd's module path while forward runs.
        object.__setattr__(self, "_name", None)

    # ---------------------------------------------------------------- registration
    def _registries(self, name: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() "
                                 "has run; call super().__init__() first in your __init__") from None

    def __setattr__(self, name: str, value: Any) -> None:
        params, buffers, modules = self._registries(name)
        # Registered values also live in __dict__, so reading self.weight in forward is a plain
        # attribute lookup (no __getattr__ fallback on the hot path).
        if isinstance(value, Parameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
            object.__setattr__(value, "_name", name)
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} as parameter "
                                f"{name!r} (a Parameter or None expected); wrap it: Parameter(value)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} as buffer "
                                f"{name!r} (a Tensor or None expected)")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} as child "
                                f"module {name!r} (a Module or None expected)")
            modules[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self.__dict__.get("_parameters", {}), self.__dict__.get("_buffers", {}),
                         self.__dict__.get("_modules", {})):
            registry.pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Register ``param`` (or None: a declared but absent parameter, like ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._registries(name)[0][name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Register state that is saved in ``state_dict`` but not trained (e.g. BatchNorm running stats)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        params, buffers, modules = self._registries(name)
        params.pop(name, None)
        modules.pop(name, None)
        buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        """Register a child module under ``name`` (what ``self.name = module`` does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module: module name must be a non-empty string without '.', got {name!r}")
        params, buffers, modules = self._registries(name)
        params.pop(name, None)
        buffers.pop(name, None)
        modules[name] = module
        if module is not None:
            object.__setattr__(module, "_name", name)
        object.__setattr__(self, name, module)

    # ---------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it. Call the module, not this, to record module paths."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in your subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The same as running forward inside autograd.with_module_path(self._name), written inline
        # because this runs once per layer per step and a generator-based context manager costs more.
        name = self._name
        if name is None:
            return self.forward(*args, **kwargs)
        previous = _autograd_state.module_path
        _autograd_state.module_path = previous + (name,)
        try:
            return self.forward(*args, **kwargs)
        finally:
            _autograd_state.module_path = previous

    # ---------------------------------------------------------------- walking the tree
    def named_modules(self, memo: Optional[Set[int]] = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[Tuple[str, "Module"]]:
        """This module and every module below it, with dotted names ('' for this one)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """This module and every module below it."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        """The direct sub-modules, with their attribute names."""
        seen: Set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        """The direct sub-modules."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[Tuple[str, Tensor]]:
        seen: Set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """Every parameter with its dotted name (``conv1.weight``, ``features.0.bias``), as PyTorch names them.

        A parameter shared by two modules is listed once (under its first name).
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[return-value]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (what an optimizer should update)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[Tuple[str, Tensor]]:
        """Every buffer (non-trained state such as running statistics) with its dotted name."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self) -> int:
        """How many trainable numbers the model has."""
        return sum(p.size for p in self.parameters())

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every sub-module (children first) and then on this module; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---------------------------------------------------------------- modes and grads
    def train(self, mode: bool = True) -> "Module":
        """Training mode (Dropout drops, BatchNorm uses batch statistics), recursively; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (gradients accumulate across backward calls)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = Tensor._make(np.zeros_like(param.grad.data), False)

    # ---------------------------------------------------------------- dtype
    def to(self, dtype: Any) -> "Module":
        """Cast every floating-point parameter and buffer to ``dtype`` in place (the same Parameter
        objects, so an optimizer built earlier keeps working); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating-point dtypes are allowed, got {dtype}")
        for module in self.modules():
            for tensors in (module._parameters, module._buffers):
                for t in tensors.values():
                    if t is None or t.dtype.kind != "f" or t.dtype == dtype:
                        continue
                    t.data = t.data.astype(dtype)
                    if t.grad is not None:
                        t.grad = Tensor._make(t.grad.data.astype(dtype), False)
                    t._version += 1
        return self

    def double(self) -> "Module":
        """Cast parameters and buffers to float64 (e.g. for gradcheck); returns self."""
        return self.to(np.float64)

    def float(self) -> "Module":
        """Cast parameters and buffers to float32; returns self."""
        return self.to(np.float32)

    # ---------------------------------------------------------------- state_dict
    def state_dict(self, prefix: str = "") -> "OrderedDict[str, np.ndarray]":
        """Every parameter and persistent buffer as ``name -> numpy array`` (copies), ordered and
        laid out exactly as PyTorch's ``state_dict`` (OIHW conv weights, out×in linear weights)."""
        destination: "OrderedDict[str, np.ndarray]" = OrderedDict()
        for module_prefix, module in self.named_modules(prefix=prefix):
            dotted = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    destination[dotted + name] = param.data.copy()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    destination[dotted + name] = buffer.data.copy()
        return destination

    def _state_tensors(self) -> "OrderedDict[str, Tensor]":
        """Like ``state_dict`` but the live tensors themselves (to load into)."""
        tensors: "OrderedDict[str, Tensor]" = OrderedDict()
        for module_prefix, module in self.named_modules():
            dotted = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    tensors[dotted + name] = param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    tensors[dotted + name] = buffer
        return tensors

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` (name -> array, e.g. PyTorch's, or ``np.load`` of a
        checkpoint) into this model's parameters and buffers, in place.

        Checks everything before changing anything: with ``strict`` (the default) the keys must match
        exactly (one ``CheckpointError`` lists every missing and unexpected key); shapes must always
        match (the error names the key and both shapes). Values are cast to the model's dtypes.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of name -> array, got {type(state_dict).__name__}")
        own = self._state_tensors()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems: List[str] = []
        if strict and (missing or unexpected):
            if missing:
                problems.append("missing key(s) in state_dict: " + ", ".join(repr(k) for k in missing))
            if unexpected:
                problems.append("unexpected key(s) in state_dict: " + ", ".join(repr(k) for k in unexpected))
        arrays: Dict[str, np.ndarray] = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                array = np.asarray(value.data if isinstance(value, Tensor) else value)
            except Exception as err:  # e.g. a torch tensor that requires grad: say which key it was
                problems.append(f"{key!r}: cannot convert a {type(value).__name__} to an array ({err})")
                continue
            if array.dtype.kind not in "biuf":
                problems.append(f"{key!r}: expected numbers, got an array of dtype {array.dtype}")
            elif array.shape != target.shape:
                problems.append(f"size mismatch for {key!r}: the checkpoint has shape {tuple(array.shape)}, "
                                f"the model has shape {tuple(target.shape)}")
            else:
                arrays[key] = array
        if problems:
            raise CheckpointError(f"load_state_dict: error(s) loading into {type(self).__name__}:\n  "
                                  + "\n  ".join(problems))
        with no_grad():  # loading is not part of any computation: no graph, no leaf in-place error
            for key, array in arrays.items():
                own[key].assign(array.astype(own[key].dtype, copy=False))
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: PathLike) -> None:
        """Write ``state_dict()`` to ``path`` as an uncompressed ``.npz`` (exactly that path; no
        suffix added), atomically: a temporary file in the same directory, then ``os.replace``, so a
        crash never leaves a half-written checkpoint where the old one was."""
        save_npz(path, self.state_dict())

    def load(self, path: PathLike, strict: bool = True) -> IncompatibleKeys:
        """Load a checkpoint written by ``save`` (or ``np.savez`` of a PyTorch state_dict).

        Read with ``allow_pickle=False``, so a file can hold arrays only, never code. A file that is
        not a readable ``.npz`` of numeric arrays raises ``CheckpointError`` naming the path.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"load: no checkpoint at {path!r}")
        state = read_npz(path)
        try:
            return self.load_state_dict(state, strict=strict)
        except CheckpointError as err:
            raise CheckpointError(f"{path!r}: {err}") from None

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The part inside the parentheses for a layer with no children (e.g. ``in_features=4, ...``)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


def read_npz(path: PathLike) -> "OrderedDict[str, np.ndarray]":
    """Every array in the ``.npz`` at ``path``, read without pickle; ``CheckpointError`` naming the
    path for a corrupted file, a file of another type, or an array of Python objects."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        signature = f.read(6)
    if not signature.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):  # zip, empty zip, .npy
        raise CheckpointError(f"load: {path!r} is not an .npz checkpoint: it does not start with the zip "
                              f"signature (it starts with {signature!r})")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"load: {path!r} is not a readable .npz checkpoint ({err})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
        raise CheckpointError(f"load: {path!r} holds a single .npy array, not an .npz checkpoint of named "
                              "arrays (write one with Module.save or np.savez)")
    state: "OrderedDict[str, np.ndarray]" = OrderedDict()
    key = None
    try:
        with loaded:
            for key in loaded.files:
                value = loaded[key]
                if not isinstance(value, np.ndarray):  # a zip member that is not an .npy file
                    raise CheckpointError(f"load: {path!r} is not an .npz checkpoint: member {key!r} is not "
                                          "a numpy array")
                state[key] = value
    except CheckpointError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise CheckpointError(f"load: {path!r} holds an array of Python objects ({key!r}); checkpoints "
                                  "are read without pickle, so they may hold numeric arrays only") from None
        raise CheckpointError(f"load: {path!r} is corrupted: array {key!r} cannot be read ({err})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise CheckpointError(f"load: {path!r} is corrupted ({type(err).__name__}: {err})") from None
    return state


# ================================ containers =====================================================

class Sequential(Module):
    """Modules applied one after another; children are named '0', '1', ... (or by an OrderedDict).

    >>> net = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: argument {index} is a {type(module).__name__}, not a Module")
                self.add_module(str(index), module)

    def forward(self, x: Any) -> Any:
        """Feed ``x`` through every module in order."""
        for module in self._modules.values():
            x = module(x)
        return x

    def _key(self, index: int) -> str:
        keys = list(self._modules)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"Sequential: index {index} is out of range for {len(keys)} modules")
        return keys[index % len(keys)]

    def __getitem__(self, index: Union[int, slice]) -> Module:
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._key(index), module)

    def __delitem__(self, index: int) -> None:
        delattr(self, self._key(index))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        """Add ``module`` at the end (named by its position); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self


# ================================ layers with parameters =========================================

def _uniform_parameter(shape: Tuple[int, ...], bound: float, dtype: Any,
                       generator: Optional[np.random.Generator]) -> Parameter:
    rng = _tensor._rng(None, generator)  # the library's generator (manual_seed) unless one is given
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype), dtype=dtype)


def _float_dtype(dtype: Any, owner: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating-point type, got {dtype}")
    return dtype


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    Initialised as PyTorch does: weight and bias uniform in ±1/sqrt(in_features) (Kaiming-uniform
    with a=sqrt(5)), drawn from ``generator`` or the library's generator (``manual_seed``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32,
                 generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: sizes must be non-negative, got in_features={in_features}, "
                             f"out_features={out_features}")
        dtype = _float_dtype(dtype, "Linear")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = _uniform_parameter((out_features, in_features), bound, dtype, generator)
        if bias:
            self.bias = _uniform_parameter((out_features,), bound, dtype, generator)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map to the last axis of ``x``."""
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear: input has shape {tuple(x.shape)}, but the layer expects "
                             f"{self.in_features} features in the last dimension (in_features={self.in_features})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution (cross-correlation, as PyTorch) of an NCHW input with an OIHW ``weight``.

    ``weight`` has shape (out_channels, in_channels // groups, kH, kW); initialised uniform in
    ±1/sqrt(fan_in) with fan_in = in_channels // groups * kH * kW, as PyTorch does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 dtype: Any = np.float32, generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"Conv2d: channels must be positive, got in_channels={in_channels}, "
                             f"out_channels={out_channels}")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels={in_channels} and out_channels={out_channels} must both "
                             f"be divisible by groups={groups}")
        dtype = _float_dtype(dtype, "Conv2d")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.padding = _pair(padding, "padding", "Conv2d")
        self.dilation = _pair(dilation, "dilation", "Conv2d")
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0 or min(self.dilation) <= 0 or min(self.padding) < 0:
            raise ValueError(f"Conv2d: kernel_size={self.kernel_size}, stride={self.stride} and "
                             f"dilation={self.dilation} must be positive and padding={self.padding} non-negative")
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = _uniform_parameter((out_channels, in_channels // groups, *self.kernel_size), bound,
                                         dtype, generator)
        if bias:
            self.bias = _uniform_parameter((out_channels,), bound, dtype, generator)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve ``x`` of shape (N, in_channels, H, W) -> (N, out_channels, OH, OW)."""
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: normalise each channel by batch statistics while training (and
    update running averages), by the running averages in eval mode; then scale (``affine``) and
    shift (``affine`` and ``bias``, a keyword as in PyTorch 2.13)."""

    _expected_dims: Tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = np.float32, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        dtype = _float_dtype(dtype, type(self).__name__)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype), dtype=dtype)
            if bias:
                self.bias = Parameter(np.zeros(num_features, dtype=dtype), dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype), dtype=dtype))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype), dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` (N, C) / (N, C, L) / (N, C, H, W) per channel C."""
        name = type(self).__name__
        if x.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ShapeError(f"{name}: expected {dims} input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}: input has {x.shape[1]} channels (shape {tuple(x.shape)}), "
                             f"but num_features={self.num_features}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # a cumulative (equal-weight) average, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        # In eval mode without running stats, batch statistics are used and nothing is updated.
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per feature C (PyTorch's semantics)."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C (PyTorch's semantics)."""

    _expected_dims = (4,)


# ================================ layers without parameters ======================================

class _Pool2d(Module):
    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        _pair(kernel_size, "kernel_size", owner), _pair(self.stride, "stride", owner), _pair(padding, "padding", owner)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The largest value in each window (stride defaults to kernel_size)."""

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x`` (N, C, H, W) -> (N, C, OH, OW)."""
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean of each window (stride defaults to kernel_size; padding counts as zeros)."""

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x`` (N, C, H, W) -> (N, C, OH, OW)."""
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    """Merge dimensions ``start_dim``..``end_dim`` into one (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        """Reshape ``x``; e.g. (N, C, H, W) -> (N, C*H*W)."""
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x: Any) -> Any:
        """``x``."""
        return x


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply ReLU."""
        return x.relu()


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply the logistic sigmoid."""
        return x.sigmoid()


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply tanh."""
        return x.tanh()


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope``·x."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        """Apply leaky ReLU."""
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x where x > 0, else ``alpha``·(exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        """Apply ELU."""
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """x·Φ(x) (exact, with erf), or its tanh approximation with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        """Apply GELU."""
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x·sigmoid(x)."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply SiLU."""
        return F.silu(x)


class Softplus(Module):
    """log(1 + exp(beta·x)) / beta, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        """Apply softplus."""
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """softmax along ``dim``."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """Apply softmax."""
        return F.softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along ``dim``."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply log_softmax."""
        return F.log_softmax(x, dim=self.dim)


class Dropout(Module):
    """While training, zero each element with probability ``p`` and scale the rest by 1/(1-p);
    in eval mode, the identity. Masks come from ``generator`` or the library's generator."""

    def __init__(self, p: float = 0.5, generator: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be between 0 and 1, got {p}")
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        """Drop (training) or pass through (eval)."""
        return F.dropout(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
