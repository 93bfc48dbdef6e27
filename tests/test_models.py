"""models: LeNet-5 with PyTorch's weights gives PyTorch's logits, loss and every gradient; names
equal PyTorch's; the small VGG matches PyTorch in train and eval mode; the digits CNN trains to >= 97% held-out accuracy in seconds; the registry."""
from __future__ import annotations

import time

import numpy as np
import pytest

import tinygrad_cnn.functional as F
from helpers import HAVE_TORCH, requires_torch, torch
from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.data import load_digits, train_test_split
from tinygrad_cnn.models import MODELS, DigitsCNN, LeNet5, SmallVGG, build_model, digits_cnn, lenet5, mlp, vgg

if HAVE_TORCH:
    import torch.nn as tnn
    import torch.nn.functional as TF

    class TorchLeNet5(tnn.Module):
        """The same LeNet-5, written as PyTorch code usually writes it."""

        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.fc1 = tnn.Linear(400, 120)
            self.fc2 = tnn.Linear(120, 84)
            self.fc3 = tnn.Linear(84, 10)

        def forward(self, x):
            x = TF.max_pool2d(TF.relu(self.conv1(x)), 2)
            x = TF.max_pool2d(TF.relu(self.conv2(x)), 2)
            x = TF.relu(self.fc1(x.flatten(1)))
            return self.fc3(TF.relu(self.fc2(x)))

    class TorchDigitsCNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(1, 32, 3, padding=1), tnn.BatchNorm2d(32)
            self.conv2, self.bn2 = tnn.Conv2d(32, 64, 3, padding=1), tnn.BatchNorm2d(64)
            self.fc1, self.fc2 = tnn.Linear(256, 64), tnn.Linear(64, 10)

        def forward(self, x):
            x = TF.max_pool2d(TF.relu(self.bn1(self.conv1(x))), 2)
            x = TF.max_pool2d(TF.relu(self.bn2(self.conv2(x))), 2)
            return self.fc2(TF.relu(self.fc1(x.flatten(1))))

    def torch_mlp():
        return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(),
                              tnn.Linear(256, 10))

    class TorchSmallVGG(tnn.Module):
        """The small VGG as torchvision writes VGG: ``features`` and ``classifier`` Sequentials."""

        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for entry in (32, 32, "M", 64, 64, "M", 128, "M"):
                if entry == "M":
                    layers.append(tnn.MaxPool2d(2))
                else:
                    layers += [tnn.Conv2d(channels, entry, 3, padding=1), tnn.BatchNorm2d(entry), tnn.ReLU()]
                    channels = entry
            self.features = tnn.Sequential(*layers)
            self.classifier = tnn.Sequential(tnn.Linear(128 * 4 * 4, 128), tnn.ReLU(), tnn.Linear(128, 10))

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))

    TORCH_TWINS = {"lenet": TorchLeNet5, "cnn": TorchDigitsCNN, "mlp": torch_mlp, "vgg": TorchSmallVGG}


def copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


# ================================ the same network as PyTorch's ================================

@requires_torch
@pytest.mark.parametrize("name", ["lenet", "cnn", "mlp", "vgg"])
def test_state_dict_keys_and_shapes_equal_torch(name):
    ours, theirs = build_model(name), TORCH_TWINS[name]()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


@requires_torch
@pytest.mark.parametrize("dtype,atol,rtol", [(np.float64, 1e-11, 1e-9), (np.float32, 2e-5, 1e-4)])
def test_lenet5_with_torch_weights_gives_torch_logits_loss_and_gradients(dtype, atol, rtol):
    torch.manual_seed(0)
    theirs = TorchLeNet5().to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = lenet5(dtype=dtype)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 28, 28)).astype(dtype)
    target = rng.integers(0, 10, 4)

    logits = ours(Tensor(x, dtype=dtype))
    loss = F.cross_entropy(logits, target)
    loss.backward()
    expected_logits = theirs(torch.tensor(x))
    expected_loss = TF.cross_entropy(expected_logits, torch.tensor(target))
    expected_loss.backward()

    assert logits.dtype == dtype and loss.dtype == dtype
    np.testing.assert_allclose(logits.data, expected_logits.detach().numpy(), atol=atol, rtol=rtol)
    np.testing.assert_allclose(loss.item(), expected_loss.item(), atol=atol, rtol=rtol)
    grads = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad.data, grads[name].grad.numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of {name}")


@requires_torch
def test_digits_cnn_with_torch_weights_matches_torch_in_train_and_eval_mode():
    torch.manual_seed(0)
    theirs = TorchDigitsCNN().double()
    ours = digits_cnn(dtype=np.float64)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    x, target = rng.uniform(0, 1, (8, 1, 8, 8)), rng.integers(0, 10, 8)
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        ours.zero_grad(), theirs.zero_grad()
        loss = F.cross_entropy(ours(Tensor(x, dtype=np.float64)), target)
        loss.backward()
        expected = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(target))
        expected.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10, err_msg=mode)
        grads = dict(theirs.named_parameters())
        for name, param in ours.named_parameters():
            np.testing.assert_allclose(param.grad.data, grads[name].grad.numpy(), atol=1e-10, rtol=1e-8,
                                       err_msg=f"{mode}: gradient of {name}")
        for key, value in theirs.state_dict().items():  # running statistics moved the same way
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10, err_msg=key)


@requires_torch
def test_small_vgg_with_torch_weights_matches_torch_in_train_and_eval_mode():
    torch.manual_seed(0)
    theirs = TorchSmallVGG().double()
    ours = vgg(dtype=np.float64)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(1)
    x, target = rng.uniform(0, 1, (4, 3, 32, 32)), rng.integers(0, 10, 4)
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        ours.zero_grad(), theirs.zero_grad()
        logits = ours(Tensor(x, dtype=np.float64))
        loss = F.cross_entropy(logits, target)
        loss.backward()
        expected_logits = theirs(torch.tensor(x))
        expected = TF.cross_entropy(expected_logits, torch.tensor(target))
        expected.backward()
        np.testing.assert_allclose(logits.data, expected_logits.detach().numpy(), atol=1e-10, rtol=1e-8,
                                   err_msg=mode)
        grads = dict(theirs.named_parameters())
        for name, param in ours.named_parameters():
            np.testing.assert_allclose(param.grad.data, grads[name].grad.numpy(), atol=1e-10, rtol=1e-8,
                                       err_msg=f"{mode}: gradient of {name}")
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10, err_msg=key)


# ================================ shapes, module paths ==========================================

@pytest.mark.parametrize("make,shape,out", [
    (lambda: lenet5(), (2, 1, 28, 28), (2, 10)),
    (lambda: lenet5(num_classes=5, in_channels=3), (2, 3, 28, 28), (2, 5)),
    (lambda: digits_cnn(), (3, 1, 8, 8), (3, 10)),
    (lambda: vgg(), (2, 3, 32, 32), (2, 10)),
    (lambda: vgg(num_classes=4, in_channels=1, layers=(8, "M", 16, "M")), (2, 1, 32, 32), (2, 4)),
    (lambda: mlp(), (2, 1, 28, 28), (2, 10)),
    (lambda: mlp(64, hidden=(32,), classes=10), (5, 64), (5, 10)),
    (lambda: mlp(64, hidden=(), classes=3), (5, 1, 8, 8), (5, 3)),
])
def test_output_shapes(make, shape, out):
    assert make()(Tensor(np.zeros(shape))).shape == out


def test_lenet_ops_carry_their_module_path():
    model = lenet5()
    logits = model(Tensor(np.ones((1, 1, 28, 28)), requires_grad=True))
    assert logits.grad_fn.module_path == ("fc3",)
    paths = set()
    stack, seen = [logits], set()
    while stack:  # every op node in the graph
        node = stack.pop()
        if id(node) in seen or node.grad_fn is None:
            continue
        seen.add(id(node))
        paths.add(node.grad_fn.module_path)
        stack.extend(node.grad_fn.parents)
    assert {("conv1",), ("conv2",), ("fc1",), ("fc2",), ("fc3",), ()} == paths


def test_mlp_is_a_sequential_with_pytorch_keys():
    assert list(mlp(64, hidden=(32, 16)).state_dict()) == \
        ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]


def test_models_are_float32_by_default_and_float64_on_request():
    assert all(p.dtype == np.float32 for p in lenet5().parameters())
    assert all(p.dtype == np.float64 for p in lenet5(dtype=np.float64).parameters())
    assert all(b.dtype == np.float64 for k, b in digits_cnn(dtype=np.float64).named_buffers()
               if not k.endswith("num_batches_tracked"))


def test_same_generator_seed_same_model():
    a = lenet5(generator=np.random.default_rng(5)).state_dict()
    b = lenet5(generator=np.random.default_rng(5)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ================================ registry ======================================================

def test_registry_builds_each_model_with_kwargs():
    assert set(MODELS) == {"lenet", "cnn", "mlp", "vgg"}
    assert isinstance(build_model("lenet"), LeNet5)
    assert isinstance(build_model("vgg"), SmallVGG) and build_model("vgg").num_parameters() == 403_626
    assert isinstance(build_model("cnn", num_classes=4), DigitsCNN)
    assert build_model("mlp", in_features=64, hidden=(8,)).num_parameters() == 64 * 8 + 8 + 8 * 10 + 10


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'resnet'; valid names are 'lenet', 'cnn', 'mlp'"):
        build_model("resnet")


def test_bad_kwarg_names_it():
    with pytest.raises(TypeError, match="hidden_size"):
        build_model("mlp", hidden_size=3)


# ================================ it learns =====================================================

@pytest.fixture
def one_blas_thread():
    """Small matrices: BLAS threads only add contention on a busy CI machine (seen: 3 s -> 20 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_digits_cnn_reaches_97_percent_held_out_accuracy_in_seconds(one_blas_thread):
    images, labels = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_fraction=0.2, seed=0)
    model = digits_cnn(generator=np.random.default_rng(0))
    epochs, batch_size = 6, 32
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    order_rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = order_rng.permutation(len(x_train))
        for first in range(0, len(x_train), batch_size):
            batch = order[first:first + batch_size]
            loss = F.cross_entropy(model(Tensor(x_train[batch])), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    accuracy = float((model(Tensor(x_test)).data.argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.97, f"held-out accuracy {accuracy:.3f} after {epochs} epochs"
    assert seconds < 60, f"training took {seconds:.1f}s"  # ~2-3 s on one laptop core; generous for CI
