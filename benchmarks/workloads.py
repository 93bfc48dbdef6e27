"""The benchmarked workloads, each built twice: with tinygrad_cnn and with PyTorch, same shapes.

``build(name, engine)`` returns a zero-argument callable that runs one training step (forward +
backward + SGD update), or one whole scalar chain.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

WORKLOADS = {
    "lenet": {"title": "LeNet-5, batch 64, 1×28×28", "unit": "ms", "target": "≤ 1.5× PyTorch"},
    "keras": {"title": "Conv 32@3×3 → pool → dense 10, batch 32, 3×64×64", "unit": "ms", "target": "≤ 1.3× PyTorch"},
    "mlp": {"title": "MLP 784-512-256-10, batch 128", "unit": "ms", "target": "≤ 1.0× PyTorch"},
    "chain": {"title": "10,000-op scalar chain, per op (fwd + bwd)", "unit": "us", "target": "≤ 6 µs",
              "per": 10_000, "steps": 10, "warmup": 2},
}


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0])


def _ours_model(name):
    from tinygrad_cnn import nn
    from tinygrad_cnn.models import lenet5, mlp
    if name == "lenet":
        return lenet5(), (64, 1, 28, 28)
    if name == "mlp":
        return mlp(784, (512, 256), 10), (128, 784)
    return nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 31 * 31, 10)), (32, 3, 64, 64)


def _torch_model(name):
    import torch.nn as tnn
    if name == "lenet":
        return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                              tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                              tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10)), (64, 1, 28, 28)
    if name == "mlp":
        return tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(),
                              tnn.Linear(256, 10)), (128, 784)
    return tnn.Sequential(tnn.Conv2d(3, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                          tnn.Linear(32 * 31 * 31, 10)), (32, 3, 64, 64)


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
        model, shape = _ours_model(name)
        x, y = _batch(shape, 10)
        xt, opt = Tensor(x), optim.SGD(model.parameters(), lr=0.01)

        def step() -> None:
            opt.zero_grad()
            F.cross_entropy(model(xt), y).backward()
            opt.step()
        return step
    import torch
    model, shape = _torch_model(name)
    x, y = _batch(shape, 10)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def torch_step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return torch_step
