"""Optimizers, learning-rate schedules and gradient clipping, with PyTorch's names and semantics.

An optimizer holds the parameters (grouped into ``param_groups``, each group with its own
hyper-parameters) and a per-parameter ``state`` (momentum buffers, running averages, step counts).
``step()`` reads each parameter's ``.grad`` and moves the parameter; each update rule below is
written to read like its formula, in plain numpy on ``p.data`` and ``p.grad.data``, and writes the
result back through ``Tensor``'s in-place API so the tensor's version counter moves.

The symbols used in the comments:  θ a parameter, g its gradient, γ the learning rate,
λ the weight decay, μ the momentum, τ the dampening, t the step count (from 1), ε the
small constant that keeps divisions finite.

``state_dict()`` holds only numpy arrays, numbers and strings, so it can be saved without pickle;
``flatten_state`` / ``unflatten_state`` turn it into (and back from) the flat ``{name: array}``
mapping that ``np.savez`` stores::

    np.savez(path, **flatten_state(optimizer.state_dict(), prefix="optimizer."))
    optimizer.load_state_dict(unflatten_state(np.load(path, allow_pickle=False), prefix="optimizer."))
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

from .autograd import enable_grad, no_grad
from .errors import CheckpointError, DTypeError, ShapeError
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
           "LRScheduler", "StepLR", "CosineAnnealingLR",
           "clip_grad_norm_", "clip_grad_value_", "flatten_state", "unflatten_state"]

ParamsLike = Union[Iterable[Tensor], Iterable[Dict[str, Any]]]


# ==================================================================================== base class
class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step``, state dicts.

    ``params`` is an iterable of Tensors, or of dicts ``{"params": [...], "lr": ..., ...}`` (param
    groups) whose options override the optimizer's defaults for that group, as in PyTorch::

        SGD([{"params": model.features.parameters()},
             {"params": model.classifier.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

    Subclasses provide ``_validate(group)`` (check the hyper-parameters) and
    ``_update(p, grad, state, group)`` (the update rule for one parameter).
    """

    def __init__(self, params: ParamsLike, defaults: Dict[str, Any]) -> None:
        self.defaults: Dict[str, Any] = dict(defaults)
        self.state: Dict[Tensor, Dict[str, Any]] = {}
        self.param_groups: List[Dict[str, Any]] = []
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or of dicts, "
                            f"got a single {type(params).__name__}; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters (a dict with ``"params"`` and optional per-group options)."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{self._name}: a param group must be a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} of group "
                                f"{len(self.param_groups)} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (parameter {i}, "
                                 f"shape {p.shape}, made by {p.grad_fn.name}); use .detach().requires_grad_()")
            if p.dtype.kind != "f":
                raise DTypeError(f"{self._name}: parameter {i} has dtype {p.dtype}; only floating-point "
                                 "tensors can be optimized")
            if id(p) in seen:
                raise ValueError(f"{self._name}: parameter {i} (shape {p.shape}) appears more than once "
                                 "in the parameter groups")
            seen.add(id(p))
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    # ------------------------------------------------------------------------------ the loop
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (PyTorch's default), or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()  # shares memory; cuts a create_graph gradient off its graph
                    with no_grad():
                        p.grad.zero_()

    @no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Update every parameter that has a gradient (those whose ``.grad`` is None are skipped).

        ``closure``, if given, re-evaluates the model and returns the loss (with grad mode on);
        its result is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise ShapeError(f"{self._name}.step: a parameter of shape {p.shape} has a gradient "
                                     f"of shape {p.grad.shape}")
                self._update(p, p.grad.data, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ validation
    def _validate(self, group: Dict[str, Any]) -> None:
        """Check the hyper-parameters of ``group``; subclasses list their own."""
        self._check(group, "lr", low=0.0)

    def _check(self, group: Dict[str, Any], key: str, low: float = 0.0, high: Optional[float] = None,
               high_open: bool = False, index: Optional[int] = None) -> None:
        """Raise if ``group[key]`` (or ``group[key][index]``) is not a number in [low, high] / [low, high)."""
        value = group[key] if index is None else group[key][index]
        label = key if index is None else f"{key}[{index}]"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self._name}: {label} must be a number, got {value!r}")
        if high is None:
            ok, rule = value >= low, f">= {low:g}"
        elif high_open:
            ok, rule = low <= value < high, f"in [{low:g}, {high:g})"
        else:
            ok, rule = low <= value <= high, f"in [{low:g}, {high:g}]"
        if not ok:
            raise ValueError(f"{self._name}: invalid {label}={value!r} (must be {rule})")

    def _check_betas(self, group: Dict[str, Any]) -> None:
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{self._name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        for i in (0, 1):
            self._check(group, "betas", 0.0, 1.0, high_open=True, index=i)

    # ------------------------------------------------------------------------------ state dicts
    def state_dict(self) -> Dict[str, Any]:
        """The optimizer's state, as PyTorch lays it out, holding only arrays, numbers and strings.

        ``{"state": {index: {name: array or number}}, "param_groups": [{option: value, ...,
        "params": [index, ...]}]}`` where parameters are numbered 0, 1, ... across the groups in order.
        Arrays are copies: later steps do not change a state dict already taken.
        """
        index: Dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {name: value.copy() if isinstance(value, np.ndarray) else value
                                           for name, value in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state taken by ``state_dict()`` (or rebuilt by ``unflatten_state``).

        The optimizer must have the same parameter groups with the same number of parameters, of
        the same shapes. Hyper-parameters come from the state dict (e.g. a learning rate a schedule
        changed). Raises ``CheckpointError`` naming what does not fit; nothing changes on error.
        """
        where = f"{self._name}.load_state_dict"
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise CheckpointError(f"{where}: the state dict has no {key!r} entry "
                                      f"(its keys: {sorted(state_dict)})")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(f"{where}: the state dict has {len(saved_groups)} parameter groups, "
                                  f"the optimizer has {len(self.param_groups)}")
        by_index: Dict[int, Tensor] = {}
        new_groups = []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            saved_params = list(saved.get("params", []))
            if len(saved_params) != len(group["params"]):
                raise CheckpointError(f"{where}: parameter group {g} has {len(saved_params)} parameters in "
                                      f"the state dict, {len(group['params'])} in the optimizer")
            for i, p in zip(saved_params, group["params"]):
                by_index[int(i)] = p
            new_group = dict(group)
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, (list, tuple, np.ndarray)):
                    value = tuple(np.asarray(value).tolist())  # betas come back from .npz as a list
                new_group[key] = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
            self._validate(new_group)
            new_groups.append(new_group)

        new_state: Dict[Tensor, Dict[str, Any]] = {}
        for i, entry in state_dict["state"].items():
            if int(i) not in by_index:
                raise CheckpointError(f"{where}: the state dict has state for parameter {i}, but the "
                                      f"optimizer has only {len(by_index)} parameters")
            p = by_index[int(i)]
            new_state[p] = {}
            for name, value in entry.items():
                value = np.asarray(value)
                if name == "step":  # a count, not a buffer
                    new_state[p][name] = int(value)
                    continue
                if value.dtype.kind not in "fiu":
                    raise CheckpointError(f"{where}: state[{i}][{name!r}] has dtype {value.dtype}; expected numbers")
                if value.shape != p.shape:
                    raise CheckpointError(f"{where}: state[{i}][{name!r}] has shape {value.shape}, but "
                                          f"parameter {i} has shape {p.shape}")
                new_state[p][name] = value.astype(p.dtype, copy=True)
        self.param_groups, self.state = new_groups, new_state

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for g, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {g}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


# ==================================================================================== optimizers
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (heavy-ball or Nesterov) and L2 decay.

    Per step, for each parameter θ with gradient g:
        g ← g + λθ                                  (weight_decay: L2 penalty λ/2·‖θ‖²)
        b ← g on the first step, else μb + (1 − τ)g  (momentum buffer)
        g ← g + μb  (Nesterov)   or   g ← b
        θ ← θ − γg
    """

    def __init__(self, params: ParamsLike, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _validate(self, group: Dict[str, Any]) -> None:
        self._check(group, "lr")
        self._check(group, "momentum")
        self._check(group, "dampening", 0.0, 1.0)
        self._check(group, "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def _update(self, p: Tensor, grad: np.ndarray, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        g = grad
        if wd != 0:
            g = g + wd * p.data                          # g + λθ
        if mu != 0:
            if "momentum_buffer" not in state:
                b = g.copy()                             # b₁ = g₁ (no dampening on the first step)
            else:
                b = mu * state["momentum_buffer"] + (1 - tau) * g   # b = μb + (1 − τ)g
            state["momentum_buffer"] = b
            g = g + mu * b if group["nesterov"] else b   # look ahead along b, or follow b
        p.sub_(g, alpha=lr)                              # θ ← θ − γg


class Adagrad(Optimizer):
    """Adagrad: each coordinate's step shrinks with the sum of its squared gradients so far.

        g ← g + λθ                      (weight_decay)
        γ_t = γ / (1 + (t − 1)·lr_decay)
        s ← s + g²                      (s starts at initial_accumulator_value)
        θ ← θ − γ_t · g / (√s + ε)
    """

    def __init__(self, params: ParamsLike, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _validate(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check(group, key)

    def _update(self, p: Tensor, grad: np.ndarray, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
        state["step"] += 1
        t, wd, eps = state["step"], group["weight_decay"], group["eps"]
        g = grad
        if wd != 0:
            g = g + wd * p.data                                  # g + λθ
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])   # γ_t, the decayed learning rate
        state["sum"] = s = state["sum"] + g * g                  # s ← s + g²
        p.sub_(g / (np.sqrt(s) + eps), alpha=lr_t)               # θ ← θ − γ_t g / (√s + ε)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

        g ← g + λθ                          (weight_decay)
        v ← αv + (1 − α)g²                  (running mean of g²)
        centered:  ḡ ← αḡ + (1 − α)g,  d = √(v − ḡ²) + ε   (variance instead of raw second moment)
        otherwise: d = √v + ε
        momentum μ > 0:  b ← μb + g/d,  θ ← θ − γb
        otherwise:       θ ← θ − γ g/d
    """

    def __init__(self, params: ParamsLike, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay", "momentum"):
            self._check(group, key)
        self._check(group, "alpha", 0.0, 1.0)

    def _update(self, p: Tensor, grad: np.ndarray, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        alpha, eps, wd, mu = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if mu > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        g = grad
        if wd != 0:
            g = g + wd * p.data                                              # g + λθ
        state["square_avg"] = v = alpha * state["square_avg"] + (1 - alpha) * g * g   # v ← αv + (1−α)g²
        if group["centered"]:
            state["grad_avg"] = g_mean = alpha * state["grad_avg"] + (1 - alpha) * g  # ḡ ← αḡ + (1−α)g
            d = np.sqrt(v - g_mean * g_mean) + eps                           # d = √(v − ḡ²) + ε
        else:
            d = np.sqrt(v) + eps                                             # d = √v + ε
        if mu > 0:
            state["momentum_buffer"] = b = mu * state["momentum_buffer"] + g / d  # b ← μb + g/d
            p.sub_(b, alpha=group["lr"])                                     # θ ← θ − γb
        else:
            p.sub_(g / d, alpha=group["lr"])                                 # θ ← θ − γ g/d


class Adam(Optimizer):
    """Adam: momentum on the gradient (m) and per-coordinate scaling by its RMS (v), bias-corrected.

        g ← g + λθ                         (weight_decay, as L2 — see AdamW for the decoupled form)
        m ← β₁m + (1 − β₁)g                (first moment)
        v ← β₂v + (1 − β₂)g²               (second moment)
        amsgrad: v̂ ← max(v̂, v), use v̂ in place of v
        θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    _decoupled_weight_decay = False

    def __init__(self, params: ParamsLike, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                                      eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _validate(self, group: Dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            self._check(group, key)
        self._check_betas(group)

    def _update(self, p: Tensor, grad: np.ndarray, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        g = grad
        if wd != 0:
            if self._decoupled_weight_decay:
                p.mul_(1 - lr * wd)                      # AdamW: θ ← θ(1 − γλ), outside the moments
            else:
                g = g + wd * p.data                      # Adam: g + λθ enters the moments
        state["exp_avg"] = m = beta1 * state["exp_avg"] + (1 - beta1) * g           # m ← β₁m + (1−β₁)g
        state["exp_avg_sq"] = v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g  # v ← β₂v + (1−β₂)g²
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = v = np.maximum(state["max_exp_avg_sq"], v)    # v̂ ← max(v̂, v)
        bias_correction1 = 1 - beta1 ** t                # 1 − β₁ᵗ: m starts at 0, so it is too small early
        bias_correction2 = 1 - beta2 ** t                # 1 − β₂ᵗ: likewise for v
        denominator = np.sqrt(v) / math.sqrt(bias_correction2) + eps
        p.sub_(m / denominator, alpha=lr / bias_correction1)   # θ ← θ − γ m̂ / (√v̂ + ε)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ(1 − γλ) before the Adam step,
    instead of adding λθ to the gradient (where Adam's scaling would weaken the decay)."""

    _decoupled_weight_decay = True

    def __init__(self, params: ParamsLike, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


# ==================================================================================== LR schedules
class LRScheduler:
    """Base class: sets each param group's ``lr`` from its initial lr and the epoch count.

    Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``. Construction performs the
    first step (epoch 0), as PyTorch does. Subclasses give the closed form in ``get_lr()``.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for g, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: param_groups[{g}] has no 'initial_lr'; it is needed "
                               f"to resume at last_epoch={last_epoch}")
        self.base_lrs: List[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: List[float] = []
        self.step()

    def get_lr(self) -> List[float]:
        """The learning rate of each group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer's groups."""
        self.last_epoch += 1
        self._last_lr = [float(lr) for lr in self.get_lr()]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> List[float]:
        """The learning rates the last ``step()`` set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        """Everything but the optimizer: epoch count, base lrs, hyper-parameters (numbers and lists)."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state taken by ``state_dict()`` (or rebuilt by ``unflatten_state``)."""
        where = f"{type(self).__name__}.load_state_dict"
        missing = sorted(set(self.state_dict()) - set(state_dict))
        if missing:
            raise CheckpointError(f"{where}: the state dict lacks {missing}")
        unexpected = sorted(set(state_dict) - set(self.state_dict()))
        if unexpected:
            raise CheckpointError(f"{where}: unexpected keys {unexpected}")
        for key in ("base_lrs", "_last_lr"):
            if len(state_dict[key]) != len(self.optimizer.param_groups):
                raise CheckpointError(f"{where}: {key} has {len(state_dict[key])} entries, the optimizer has "
                                      f"{len(self.optimizer.param_groups)} param groups")
        for key, value in state_dict.items():
            if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
                value = value.item()
            elif isinstance(value, (list, tuple, np.ndarray)):
                value = [float(v) for v in np.asarray(value).ravel()]
            setattr(self, key, value)
        self.last_epoch = int(self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs: γ_e = γ₀ · gamma^⌊e / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or gamma < 0:
            raise ValueError(f"StepLR: gamma must be a number >= 0, got {gamma!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> List[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from the initial lr down to ``eta_min`` over ``T_max`` epochs (then back up, periodically):

        γ_e = η_min + (γ₀ − η_min) · (1 + cos(π e / T_max)) / 2
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Integral) or T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real) or eta_min < 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be a number >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> List[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


# ==================================================================================== clipping
def _parameter_list(parameters: Union[Tensor, Iterable[Tensor]]) -> List[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated into one vector (``inf``: the largest
    absolute entry). If it exceeds ``max_norm``, every gradient is multiplied in place by
    ``max_norm / (total_norm + 1e-6)``. Returns the total norm before clipping, as a 0-d Tensor.
    Parameters without a gradient are skipped.
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm!r}")
    norm_type = float(norm_type)
    grads = [p.grad for p in _parameter_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    # the norm of the per-tensor norms equals the norm of everything concatenated (for every p-norm)
    per_tensor = [np.linalg.norm(g.data.ravel(), ord=norm_type) for g in grads]
    dtype = np.result_type(*[g.dtype for g in grads])
    total_norm = np.asarray(np.linalg.norm(np.asarray(per_tensor, dtype=dtype), ord=norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total_norm)}, so they cannot be clipped; pass error_if_nonfinite=False "
                           "to scale them anyway")
    clip_coef = min(max_norm / (float(total_norm) + 1e-6), 1.0)  # only ever shrink
    with no_grad():
        for g in grads:
            g.mul_(clip_coef)
    return Tensor(total_norm)


def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real) or clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a number >= 0, got {clip_value!r}")
    with no_grad():
        for p in _parameter_list(parameters):
            if p.grad is not None:
                p.grad.assign(np.clip(p.grad.data, -clip_value, clip_value))


# ==================================================================================== flat form
def _leaf_array(key: str, value: Any) -> np.ndarray:
    """``value`` as an array that ``np.savez`` stores without pickle, or a TypeError naming ``key``."""
    if isinstance(value, (bool, numbers.Number, str, np.generic, np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biufU":
            return array.copy() if isinstance(value, np.ndarray) else array
    raise TypeError(f"flatten_state: {key!r} holds {type(value).__name__} {value!r:.60}, which cannot be stored "
                    "without pickle (only arrays, numbers, strings and lists of numbers can)")


def flatten_state(state_dict: Mapping[str, Any], prefix: str = "") -> Dict[str, np.ndarray]:
    """A flat ``{name: array}`` form of an optimizer's (or scheduler's) state dict, for ``np.savez``.

    Names: ``state.<index>.<name>``, ``param_groups.<g>.<option>``, and ``<key>`` for other top-level
    entries (a scheduler's ``last_epoch``, ``base_lrs``, ...), each preceded by ``prefix``.
    """
    flat: Dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        if key == "state":
            for index, entry in value.items():
                for name, item in entry.items():
                    flat[f"{prefix}state.{int(index)}.{name}"] = _leaf_array(f"state.{index}.{name}", item)
        elif key == "param_groups":
            for g, group in enumerate(value):
                for option, item in group.items():
                    flat[f"{prefix}param_groups.{g}.{option}"] = _leaf_array(f"param_groups.{g}.{option}", item)
        else:
            flat[f"{prefix}{key}"] = _leaf_array(key, value)
    return flat


def _python_value(array: np.ndarray) -> Any:
    """A 0-d array as a Python number/str; anything else as a list."""
    return array.item() if array.ndim == 0 else array.tolist()


def unflatten_state(flat: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Rebuild the nested state dict from ``flatten_state``'s output (e.g. an ``np.load``-ed .npz).

    Keys not starting with ``prefix`` are ignored, so one file can hold a model and its optimizer.
    Per-parameter buffers stay arrays; step counts, options and scheduler entries become Python
    numbers, strings and lists (``load_state_dict`` turns lists back into tuples where needed).
    """
    keys = [k for k in flat if k.startswith(prefix)]
    if not keys:
        raise CheckpointError(f"unflatten_state: no key starts with {prefix!r} (keys: {sorted(flat)[:10]})")
    state: Dict[int, Dict[str, Any]] = {}
    groups: Dict[int, Dict[str, Any]] = {}
    out: Dict[str, Any] = {}
    for full_key in keys:
        key, array = full_key[len(prefix):], np.asarray(flat[full_key])
        if array.dtype.kind not in "biufU":
            raise CheckpointError(f"unflatten_state: {full_key!r} has dtype {array.dtype}; expected numbers or text")
        head, _, rest = key.partition(".")
        if head in ("state", "param_groups") and rest:
            index, _, name = rest.partition(".")
            if not index.isdigit() or not name:
                raise CheckpointError(f"unflatten_state: {full_key!r} is not '{head}.<index>.<name>'")
            if head == "state":
                # step counts are 0-d integers; every other entry is a per-element buffer
                count = array.ndim == 0 and array.dtype.kind in "iu"
                state.setdefault(int(index), {})[name] = int(array) if count else array.copy()
            else:
                value = _python_value(array)
                groups.setdefault(int(index), {})[name] = [int(v) for v in value] if name == "params" else value
        else:
            out[key] = _python_value(array)
    if groups:
        if sorted(groups) != list(range(len(groups))):
            raise CheckpointError(f"unflatten_state: param group indices {sorted(groups)} are not 0..{len(groups) - 1}")
        out["param_groups"] = [groups[g] for g in range(len(groups))]
    if state or groups:
        out["state"] = state
    return out
