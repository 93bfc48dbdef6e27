"""The benchmarked workloads, each built twice: with tinygrad_cnn and with PyTorch, same shapes.

``build(name, engine)`` returns a zero-argument callable that runs one training step (forward +
backward + SGD update), or one whole scalar chain.

Most networks are written once as a list of layer specs (``SPECS``) that both engines build from,
so the two sides cannot drift apart. The CIFAR ``vgg`` workload uses ``tinygrad_cnn.models``'
``vgg`` when the library has one (its PyTorch twin is built layer by layer and checked to compute
the same logits), and otherwise the same-style network defined here.
"""
from __future__ import annotations

from typing import Any, Callable, List, Tuple

import numpy as np

WORKLOADS = {
    "lenet": {"title": "LeNet-5, batch 64, 1×28×28", "unit": "ms", "target": "≤ 1.5× PyTorch (then ≤ 1.0×)",
              "limit": 1.5},
    "keras": {"title": "Conv 32@3×3 → pool → dense 10, batch 32, 3×64×64", "unit": "ms", "target": "≤ 1.3× PyTorch",
              "limit": 1.3},
    "mlp": {"title": "MLP 784-512-256-10, batch 128", "unit": "ms", "target": "≤ 1.0× PyTorch", "limit": 1.0},
    "vgg_block": {"title": "VGG block: conv 32@3×3 pad 1 → conv 64@3×3 pad 1 → pool → dense, batch 64, 3×32×32",
                  "unit": "ms", "target": "≤ 1.5× PyTorch", "limit": 1.5, "steps": 20},
    "vgg": {"title": "Small CIFAR VGG: (conv 3×3 → batchnorm → relu) 32, 32, pool, 64, 64, pool, 128, pool, dense 128, 10; batch 64, 3×32×32",
            "unit": "ms", "target": "≤ 1.5× PyTorch", "limit": 1.5, "steps": 10, "warmup": 2},
    "strided": {"title": "Strided conv 64@3×3 stride 2 pad 1 on 64×32×32×32 (input grad too)", "unit": "ms",
                "target": "≤ 1.5× PyTorch", "limit": 1.5, "steps": 30},
    "conv1x1": {"title": "1×1 conv 64→128 on 64×64×16×16 (input grad too)", "unit": "ms",
                "target": "≤ 1.5× PyTorch", "limit": 1.5, "steps": 30},
    "depthwise": {"title": "Depthwise conv 3×3 pad 1, groups 64, on 64×64×32×32 (input grad too)", "unit": "ms",
                  "target": "≤ 1.5× PyTorch", "limit": 1.5, "steps": 30},
    "chain": {"title": "10,000-op scalar chain, per op (fwd + bwd)", "unit": "us", "target": "≤ 6 µs",
              "per": 10_000, "steps": 10, "warmup": 2, "no_memory": True},
}

# A layer spec: ("conv", in, out, kernel, stride, padding, groups) | ("relu",) | ("maxpool", k) |
# ("avgpool", k) | ("bn", channels) | ("flatten",) | ("linear", in, out). Each workload: (specs, input shape, input needs grad).
Spec = Tuple[Any, ...]


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1, groups: int = 1) -> Spec:
    return ("conv", cin, cout, k, stride, padding, groups)


def _vgg_stack(layers=(32, 32, "M", 64, 64, "M", 128, "M"), channels=3, side=32, hidden=128) -> List[Spec]:
    """The small CIFAR VGG of ``tinygrad_cnn.models.vgg``: conv 3×3 pad 1 -> batchnorm -> relu per
    entry, a 2×2 max pool per "M", then linear -> relu -> linear 10."""
    specs: List[Spec] = []
    for entry in layers:
        if entry == "M":
            specs.append(("maxpool", 2))
            side //= 2
        else:
            specs += [_conv(channels, entry), ("bn", entry), ("relu",)]
            channels = entry
    return specs + [("flatten",), ("linear", channels * side * side, hidden), ("relu",), ("linear", hidden, 10)]


VGG_CIFAR = _vgg_stack()

SPECS = {
    "keras": ([_conv(3, 32, padding=0), ("relu",), ("maxpool", 2), ("flatten",), ("linear", 32 * 31 * 31, 10)],
              (32, 3, 64, 64), False),
    "vgg_block": ([_conv(3, 32), ("relu",), _conv(32, 64), ("relu",), ("maxpool", 2), ("flatten",),
                   ("linear", 64 * 16 * 16, 10)], (64, 3, 32, 32), False),
    "vgg": (VGG_CIFAR, (64, 3, 32, 32), False),
    "strided": ([_conv(32, 64, stride=2), ("relu",), ("avgpool", 16), ("flatten",), ("linear", 64, 10)],
                (64, 32, 32, 32), True),
    "conv1x1": ([_conv(64, 128, k=1, padding=0), ("relu",), ("avgpool", 16), ("flatten",), ("linear", 128, 10)],
                (64, 64, 16, 16), True),
    "depthwise": ([_conv(64, 64, groups=64), ("relu",), ("avgpool", 32), ("flatten",), ("linear", 64, 10)],
                  (64, 64, 32, 32), True),
}


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0])


def _build(specs: List[Spec], nn):
    """The network ``specs`` describe, from ``nn`` (``tinygrad_cnn.nn`` or ``torch.nn``: same names)."""
    layers = []
    for kind, *args in specs:
        if kind == "conv":
            cin, cout, k, stride, padding, groups = args
            layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups))
        else:
            layers.append({"relu": nn.ReLU, "maxpool": nn.MaxPool2d, "avgpool": nn.AvgPool2d, "bn": nn.BatchNorm2d,
                           "flatten": nn.Flatten, "linear": nn.Linear}[kind](*args))
    return nn.Sequential(*layers)


def _build_ours(specs: List[Spec]):
    from tinygrad_cnn import nn
    return _build(specs, nn)


def _build_torch(specs: List[Spec]):
    import torch.nn as tnn
    return _build(specs, tnn)


def library_vgg():
    """``tinygrad_cnn.models``' CIFAR ``vgg`` when the library has one, else None."""
    from tinygrad_cnn import models
    factory = getattr(models, "MODELS", {}).get("vgg")
    return factory() if factory is not None else None


def torch_twin(model, shape):
    """A PyTorch copy of ``model`` (its leaf layers in order, its weights), or None when the copy
    does not compute the same logits (a model whose forward is not its layers in sequence)."""
    import torch
    import torch.nn as tnn
    from tinygrad_cnn import Tensor, nn
    layers = []
    for module in model.modules():
        if list(module.children()):
            continue  # a container: its leaves come next
        if isinstance(module, nn.Conv2d):
            layers.append(tnn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                                     module.padding, module.dilation, module.groups, module.bias is not None))
        elif isinstance(module, nn.Linear):
            out_features, in_features = module.weight.shape
            if not any(isinstance(layer, (tnn.Flatten, tnn.Linear)) for layer in layers):
                layers.append(tnn.Flatten())   # the model's forward flattens before its first linear
            layers.append(tnn.Linear(in_features, out_features, module.bias is not None))
        elif isinstance(module, nn.BatchNorm2d):
            layers.append(tnn.BatchNorm2d(module.weight.shape[0], eps=module.eps, momentum=module.momentum))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            pool = tnn.MaxPool2d if isinstance(module, nn.MaxPool2d) else tnn.AvgPool2d
            layers.append(pool(module.kernel_size, module.stride, module.padding))
        elif isinstance(module, (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)):
            layers.append({nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten, nn.Identity: tnn.Identity,
                           nn.Dropout: lambda: tnn.Dropout(module.p)}[type(module)]())
        else:
            return None
    twin = tnn.Sequential(*layers)
    ours = [a for a in model.state_dict().values()]
    theirs = list(twin.state_dict().values())
    if len(ours) != len(theirs) or any(a.shape != tuple(b.shape) for a, b in zip(ours, theirs)):
        return None
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.copy_(torch.from_numpy(np.array(a)).to(b.dtype))
    x, _ = _batch((2,) + tuple(shape[1:]), 10, seed=1)
    model.eval(), twin.eval()
    try:
        same = np.allclose(model(Tensor(x)).data, twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-3, atol=1e-4)
    except RuntimeError:  # the layers in sequence do not even fit together
        same = False
    model.train(), twin.train()
    return twin if same else None


def _ours_model(name):
    from tinygrad_cnn.models import lenet5, mlp
    if name == "lenet":
        return lenet5(), (64, 1, 28, 28), False
    if name == "mlp":
        return mlp(784, (512, 256), 10), (128, 784), False
    specs, shape, input_grad = SPECS[name]
    if name == "vgg":
        model = library_vgg()
        if model is not None and torch_twin(model, shape) is not None:
            return model, shape, input_grad
    return _build_ours(specs), shape, input_grad


def _torch_model(name):
    import torch.nn as tnn
    if name == "lenet":
        return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                              tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                              tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10)), (64, 1, 28, 28), False
    if name == "mlp":
        return tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(),
                              tnn.Linear(256, 10)), (128, 784), False
    specs, shape, input_grad = SPECS[name]
    if name == "vgg":
        model = library_vgg()
        twin = torch_twin(model, shape) if model is not None else None
        if twin is not None:
            return twin, shape, input_grad
    return _build_torch(specs), shape, input_grad


def vgg_source() -> str:
    """Which network the ``vgg`` workload runs (for the results table)."""
    model = library_vgg()
    if model is not None and torch_twin(model, SPECS["vgg"][1]) is not None:
        return "tinygrad_cnn.models.vgg"
    return "benchmarks/workloads.py VGG_CIFAR"


def _chain(engine: str) -> Callable[[], None]:
    if engine == "ours":
        from tinygrad_cnn import Tensor as T
        make = lambda: T(1.0, requires_grad=True)
    else:
        import torch
        make = lambda: torch.tensor(1.0, requires_grad=True)

    def step() -> None:
        y = make()
        for i in range(10_000):
            y = y * 1.0001 if i % 2 else y + 0.5
        y.backward()
    return step


def build(name: str, engine: str) -> Callable[[], None]:
    """One step of workload ``name`` for ``engine`` ('ours' or 'torch')."""
    if name == "chain":
        return _chain(engine)
    if engine == "ours":
        import tinygrad_cnn.functional as F
        from tinygrad_cnn import Tensor, optim
        model, shape, input_grad = _ours_model(name)
        x, y = _batch(shape, 10)
        xt, opt = Tensor(x, requires_grad=input_grad), optim.SGD(model.parameters(), lr=0.01)

        def step() -> None:
            opt.zero_grad()
            xt.grad = None
            F.cross_entropy(model(xt), y).backward()
            opt.step()
        return step
    import torch
    model, shape, input_grad = _torch_model(name)
    x, y = _batch(shape, 10)
    xt, yt = torch.from_numpy(x).requires_grad_(input_grad), torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def torch_step() -> None:
        opt.zero_grad()
        xt.grad = None
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return torch_step
