"""What the engine promises: anomaly detection names the op and the user's line; saved tensors
changed in place are caught; the graph is freed after backward; long runs do not grow memory."""
import gc
import os
import weakref

import numpy as np
import pytest

import tinygrad_cnn.functional as F
from tinygrad_cnn import Tensor, detect_anomaly, no_grad, optim
from tinygrad_cnn.autograd import AnomalyError
from tinygrad_cnn.data import load_digits
from tinygrad_cnn.models import digits_cnn


def test_anomaly_mode_names_the_op_and_the_users_line_in_forward():
    x = Tensor([1.0, -1.0], requires_grad=True)
    with detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(AnomalyError, match=r"log: forward produced NaN; the op was built at .*test_hardening.py:\d+"):
            x.log()


def test_anomaly_mode_catches_nan_born_in_backward():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt().sum()           # fine forward; d sqrt/dx at 0 is infinite
        with pytest.raises(AnomalyError, match=r"sqrt: backward produced Inf; the op was built at .*test_hardening"):
            y.backward()


def test_without_anomaly_mode_nan_passes_silently_as_in_pytorch():
    x = Tensor([-1.0])
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().item())


def test_graph_and_saved_values_are_released_after_backward():
    x = Tensor(np.ones((4, 4)), requires_grad=True)
    hidden = (x * 2).relu()
    hidden_ref = weakref.ref(hidden)
    loss = hidden.sum()
    del hidden
    loss.backward()
    assert loss.grad_fn.released
    del loss
    gc.collect()
    assert hidden_ref() is None  # nothing (no cycle) keeps the intermediate alive


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc (Linux)")
def test_a_thousand_training_steps_do_not_grow_memory():
    images, labels = load_digits()
    model = digits_cnn(generator=np.random.default_rng(0))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)

    def steps(n):
        for _ in range(n):
            batch = rng.integers(0, len(images), 32)
            opt.zero_grad()
            loss = F.cross_entropy(model(Tensor(images[batch])), labels[batch])
            loss.backward()
            opt.step()
    steps(100)  # warm up numpy's allocator and the optimizer state
    gc.collect()
    before = _rss_mib()
    steps(1000)
    gc.collect()
    grown = _rss_mib() - before
    assert grown < 8, f"RSS grew by {grown:.1f} MiB over 1000 steps"


def test_no_grad_inference_builds_no_graph():
    model = digits_cnn(generator=np.random.default_rng(0))
    with no_grad():
        out = model(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32)))
    assert out.grad_fn is None and not out.requires_grad
