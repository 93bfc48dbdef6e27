"""nn: Module bookkeeping (names equal PyTorch's), state_dict and checkpoints, every layer against its
PyTorch counterpart with identical weights (forward and gradients), train/eval behaviour, init."""
from __future__ import annotations

import math
import os
import re
import zipfile

import numpy as np
import pytest

from helpers import HAVE_TORCH, requires_torch, torch
from tinygrad_cnn import CheckpointError, ShapeError, Tensor, manual_seed, nn, no_grad
from tinygrad_cnn.gradcheck import gradcheck

if HAVE_TORCH:
    import torch.nn as tnn


# ================================ a model both libraries can build =============================

def build_net(m):
    """The same architecture from our ``nn`` or ``torch.nn`` (``m``): nested Sequential, BatchNorm,
    a parameter-free layer between, a bias-less conv, direct attributes."""
    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.features = m.Sequential(m.Conv2d(2, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(),
                                         m.Conv2d(4, 4, 3, bias=False, groups=2), m.MaxPool2d(2))
            self.flatten = m.Flatten()
            self.fc = m.Linear(16, 5)
            self.bn = m.BatchNorm1d(5)
            self.head = m.Sequential(m.Tanh(), m.Linear(5, 3))

        def forward(self, x):
            return self.head(self.bn(self.fc(self.flatten(self.features(x)))))
    return Net()


def copy_torch_weights(ours: nn.Module, theirs) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


# ================================ names, registries, modes ======================================

@requires_torch
def test_named_parameters_equal_torch():
    ours, theirs = build_net(nn), build_net(tnn)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]


@requires_torch
def test_named_buffers_equal_torch():
    ours, theirs = build_net(nn), build_net(tnn)
    assert [(n, b.shape) for n, b in ours.named_buffers()] == \
        [(n, tuple(b.shape)) for n, b in theirs.named_buffers()]


@requires_torch
def test_state_dict_keys_shapes_dtypes_equal_torch():
    ours, theirs = build_net(nn), build_net(tnn)
    want = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in theirs.state_dict().items()}
    got = {k: (v.shape, str(v.dtype)) for k, v in ours.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert got == want


@requires_torch
def test_named_modules_and_children_equal_torch():
    ours, theirs = build_net(nn), build_net(tnn)
    assert [(n, type(m).__name__) for n, m in ours.named_modules()] == \
        [(n, type(m).__name__) for n, m in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.children())) == 5 and len(list(ours.modules())) == len(list(theirs.modules()))


@requires_torch
def test_repr_equals_torch():
    ours, theirs = build_net(nn), build_net(tnn)
    expected = repr(theirs).replace(", dilation=1, ceil_mode=False", "")  # options we do not have
    assert repr(ours) == expected


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:\nTensor(")


def test_parameters_follow_registration_order_and_reassignment():
    layer = nn.Linear(3, 2)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert "bias" not in layer.state_dict()


def test_assigning_a_plain_tensor_to_a_parameter_slot_names_it():
    layer = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="'weight'.*Parameter"):
        layer.weight = Tensor(np.zeros((2, 3)))


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="'fc'.*super\\(\\).__init__\\(\\)"):
        Broken()


def test_shared_parameter_is_listed_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]


def test_delattr_unregisters():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    del net[1]
    assert len(net) == 1 and [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]


def test_sequential_indexing_len_iteration_append():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    net = nn.Sequential(a, b)
    assert net.append(c) is net
    assert len(net) == 3 and net[0] is a and net[-1] is c and list(net) == [a, b, c]
    assert list(net[1:]) == [b, c] and [n for n, _ in net[1:].named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        net[3]
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(a, 3)


def test_train_eval_recursive():
    net = build_net(nn)
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_clears_every_parameter():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    net(Tensor(np.ones((4, 3)))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_default_dtype_float32_and_dtype_option():
    assert all(p.dtype == np.float32 for p in build_net(nn).parameters())
    layer = nn.Conv2d(1, 2, 3, dtype=np.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


def test_to_double_casts_in_place_keeping_parameter_identity():
    net = build_net(nn)
    params = list(net.parameters())
    assert net.double() is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.features[1].running_var.dtype == np.float64
    assert net.features[1].num_batches_tracked.dtype == np.int64
    assert all(p.dtype == np.float32 for p in net.float().parameters())


def test_num_parameters():
    assert nn.Linear(4, 3).num_parameters() == 15


# ================================ module paths (for graph clusters) =============================

def test_ops_inside_a_child_module_record_its_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3)
            self.features = nn.Sequential(nn.Linear(8, 4), nn.Sequential(nn.ReLU()))

        def forward(self, x):
            self.conv_out = self.conv1(x)
            self.lin_out = self.features[0](self.conv_out.flatten(1))
            self.inner_out = self.features(self.conv_out.flatten(1))
            return self.inner_out * 2

    net = Net()
    out = net(Tensor(np.ones((1, 1, 4, 4))))
    assert net.conv_out.grad_fn.module_path == ("conv1",)
    assert net.lin_out.grad_fn.module_path == ("0",)  # paths follow calls: called from the root directly
    assert net.inner_out.grad_fn.module_path == ("features", "1", "0")
    assert out.grad_fn.module_path == ()  # the root model pushes nothing


def test_module_path_restored_when_forward_raises():
    from tinygrad_cnn.autograd import state

    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ShapeError):
        net(Tensor(np.ones((2, 5))))
    assert state.module_path == ()


# ================================ state_dict, load_state_dict ===================================

def test_state_dict_holds_copies_in_pytorch_layout():
    layer = nn.Conv2d(3, 8, (5, 3))
    state = layer.state_dict()
    assert state["weight"].shape == (8, 3, 5, 3) and isinstance(state["weight"], np.ndarray)
    state["weight"][...] = 7
    assert not np.any(layer.weight.data == 7)


def test_load_state_dict_round_trip():
    a, b = build_net(nn), build_net(nn)
    a.features[1].running_mean.data[...] = 0.5
    assert b.load_state_dict(a.state_dict()) == ([], [])
    for (key, want), got in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_load_state_dict_casts_to_model_dtype():
    layer = nn.Linear(2, 2, dtype=np.float64)
    layer.load_state_dict({"weight": np.ones((2, 2), np.float32), "bias": np.zeros(2, np.float32)})
    assert layer.weight.dtype == np.float64 and layer.weight.data.sum() == 4


def test_load_state_dict_missing_key_names_it():
    state = build_net(nn).state_dict()
    del state["fc.bias"]
    with pytest.raises(CheckpointError, match="missing key.*'fc.bias'"):
        build_net(nn).load_state_dict(state)


def test_load_state_dict_unexpected_key_names_it():
    state = build_net(nn).state_dict()
    state["fc.extra"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="unexpected key.*'fc.extra'"):
        build_net(nn).load_state_dict(state)


def test_load_state_dict_lists_missing_and_unexpected_in_one_message():
    state = build_net(nn).state_dict()
    state["head.2.weight"] = state.pop("head.1.weight")
    with pytest.raises(CheckpointError) as info:
        build_net(nn).load_state_dict(state)
    assert "missing key(s) in state_dict: 'head.1.weight'" in str(info.value)
    assert "unexpected key(s) in state_dict: 'head.2.weight'" in str(info.value)


def test_load_state_dict_wrong_shape_names_key_and_both_shapes():
    state = build_net(nn).state_dict()
    state["fc.weight"] = np.zeros((5, 17))
    with pytest.raises(CheckpointError, match=r"'fc.weight'.*\(5, 17\).*\(5, 16\)"):
        build_net(nn).load_state_dict(state, strict=False)  # shapes are checked even when not strict


def test_load_state_dict_non_numeric_array_names_key():
    state = nn.Linear(2, 1).state_dict()
    state["bias"] = np.array(["x"])
    with pytest.raises(CheckpointError, match="'bias'.*dtype <U1"):
        nn.Linear(2, 1).load_state_dict(state)


def test_failed_load_changes_nothing():
    net = build_net(nn)
    before = net.state_dict()
    state = build_net(nn).state_dict()
    state["fc.weight"] = np.zeros((1, 1))
    with pytest.raises(CheckpointError):
        net.load_state_dict(state)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_non_strict_load_reports_skipped_keys():
    state = nn.Linear(2, 1).state_dict()
    del state["bias"]
    state["other"] = np.zeros(1)
    target = nn.Linear(2, 1)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(target.weight.data, state["weight"])


def test_load_state_dict_bumps_version_so_stale_graphs_are_caught():
    layer = nn.Linear(2, 1)
    out = layer(Tensor(np.ones((1, 2))))
    layer.load_state_dict(nn.Linear(2, 1).state_dict())
    with pytest.raises(RuntimeError, match="modified in place"):
        out.sum().backward()


# ================================ checkpoints on disk ===========================================

def test_save_load_round_trip(tmp_path):
    path = tmp_path / "net.npz"
    a, b = build_net(nn), build_net(nn)
    a.save(path)
    b.load(path)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 2, 6, 6)))
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]  # no temp file left behind


def test_save_writes_plain_npz_readable_by_numpy(tmp_path):
    path = tmp_path / "layer.ckpt"  # exactly the path given: no suffix appended
    nn.Linear(3, 2).save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["bias", "weight"] and archive["weight"].shape == (2, 3)


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "net.npz"
    nn.Linear(3, 2).save(path)
    newer = nn.Linear(3, 2)
    newer.save(path)
    with np.load(path) as archive:
        np.testing.assert_array_equal(archive["weight"], newer.weight.data)


def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    old = nn.Linear(3, 2)
    old.save(path)
    original = path.read_bytes()

    def exploding_savez(file, **arrays):
        file.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        nn.Linear(3, 2).save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_load_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.npz"))):
        nn.Linear(2, 2).load(tmp_path / "nope.npz")


def test_load_truncated_checkpoint_names_path(tmp_path):
    path = tmp_path / "net.npz"
    build_net(nn).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        build_net(nn).load(path)


def test_load_checkpoint_with_corrupted_bytes_names_path(tmp_path):
    path = tmp_path / "net.npz"
    nn.Linear(30, 20).save(path)
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60  # inside the first array's bytes: CRC check fails
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        nn.Linear(30, 20).load(path)


def test_load_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.array([{"payload": 1}], dtype=object), bias=np.zeros(2))
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*objects"):
        nn.Linear(2, 2).load(path)


def test_load_text_file_names_path(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*not an .npz checkpoint.*b'these"):
        nn.Linear(2, 2).load(path)


def test_load_empty_file_names_path(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*not an .npz checkpoint"):
        nn.Linear(2, 2).load(path)


def test_load_plain_npy_names_path(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((2, 2)))
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*single .npy array"):
        nn.Linear(2, 2).load(path)


def test_load_zip_that_is_not_npz_names_path(tmp_path):
    path = tmp_path / "archive.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weight.npy", b"not an npy header")
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        nn.Linear(2, 2).load(path)


def test_load_zip_with_a_non_array_member_names_path_and_member(tmp_path):
    path = tmp_path / "archive.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", b"hello")
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*'readme.txt' is not a numpy array"):
        nn.Linear(2, 2).load(path)


def test_load_checkpoint_of_another_model_names_path_and_keys(tmp_path):
    path = tmp_path / "linear.npz"
    nn.Linear(2, 2).save(path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + "(.|\n)*missing key.*'fc.weight'"):
        build_net(nn).load(path)


@requires_torch
def test_load_npz_written_from_a_torch_state_dict(tmp_path):
    theirs = build_net(tnn)
    path = tmp_path / "torch.npz"
    np.savez(path, **{k: v.numpy() for k, v in theirs.state_dict().items()})
    ours = build_net(nn)
    ours.load(path)
    np.testing.assert_array_equal(ours.features[0].weight.data, theirs.features[0].weight.detach().numpy())


# ================================ each layer vs PyTorch =========================================

LAYERS = [
    ("Linear(5, 3)", (4, 5)),
    ("Linear(5, 3)", (2, 3, 5)),
    ("Linear(5, 3, bias=False)", (4, 5)),
    ("Conv2d(3, 4, 3)", (2, 3, 7, 6)),
    ("Conv2d(3, 4, (3, 2), stride=2, padding=1)", (2, 3, 7, 6)),
    ("Conv2d(2, 3, 3, padding=2, dilation=2, bias=False)", (1, 2, 6, 6)),
    ("Conv2d(4, 6, 3, stride=(1, 2), padding=(1, 0), groups=2)", (2, 4, 5, 7)),
    ("MaxPool2d(2)", (2, 3, 6, 6)),
    ("MaxPool2d(3, stride=2, padding=1)", (2, 3, 7, 7)),
    ("AvgPool2d(2)", (2, 3, 6, 6)),
    ("AvgPool2d(3, stride=2, padding=1)", (2, 3, 7, 7)),
    ("Flatten()", (2, 3, 4, 4)),
    ("Flatten(0, 2)", (2, 3, 4, 4)),
    ("ReLU()", (3, 4)),
    ("Sigmoid()", (3, 4)),
    ("Tanh()", (3, 4)),
    ("BatchNorm1d(4)", (6, 4)),
    ("BatchNorm1d(4)", (6, 4, 3)),
    ("BatchNorm1d(4, affine=False)", (6, 4)),
    ("BatchNorm1d(4, bias=False)", (6, 4)),
    ("BatchNorm2d(3)", (4, 3, 5, 5)),
    ("BatchNorm2d(3, momentum=None)", (4, 3, 5, 5)),
    ("BatchNorm2d(3, track_running_stats=False)", (4, 3, 5, 5)),
    ("Sequential(Linear(4, 6), Tanh(), Linear(6, 2))", (3, 4)),
]


def run_both(ours, theirs, x: np.ndarray, steps: int = 1):
    """Forward ``x`` (float64) through both modules ``steps`` times, backward a random upstream
    gradient each time; return the (ours, theirs) outputs and input tensors of the last step."""
    for step in range(steps):
        xo = Tensor(x, requires_grad=True, dtype=np.float64)
        xt = torch.tensor(x, requires_grad=True)
        out, expected = ours(xo), theirs(xt)
        upstream = np.random.default_rng(step + 10).standard_normal(tuple(expected.shape))
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))
    return out, expected, xo, xt


def assert_same_module_state(ours, theirs, atol=1e-10):
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert p.grad is not None, f"{name}: no gradient"
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), atol=atol, rtol=1e-7, err_msg=f"grad of {name}")
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), atol=atol, rtol=1e-7, err_msg=key)


def layer_pair(spec: str):
    """``spec`` built from our nn and from torch.nn, torch's weights copied into ours, both float64."""
    ours = eval(spec, {**vars(nn)})
    theirs = eval(spec, {**vars(tnn)}).double()
    ours.double()
    copy_torch_weights(ours, theirs)
    return ours, theirs


@requires_torch
@pytest.mark.parametrize("spec,shape", LAYERS)
def test_layer_matches_torch_in_training_mode(spec, shape):
    ours, theirs = layer_pair(spec)
    x = np.random.default_rng(0).uniform(-2, 2, shape)
    out, expected, xo, xt = run_both(ours, theirs, x, steps=2)  # twice: running stats move twice
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-10, rtol=1e-7, err_msg="forward")
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), atol=1e-10, rtol=1e-7, err_msg="input grad")
    assert_same_module_state(ours, theirs)


@requires_torch
@pytest.mark.parametrize("spec,shape", [s for s in LAYERS if s[0].startswith("BatchNorm")])
def test_batchnorm_matches_torch_in_eval_mode(spec, shape):
    ours, theirs = layer_pair(spec)
    x = np.random.default_rng(0).uniform(-2, 2, shape)
    run_both(ours, theirs, x * 3 + 1)  # move the running statistics away from (0, 1) first
    ours.eval(), theirs.eval()
    out, expected, xo, xt = run_both(ours, theirs, x)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-10, rtol=1e-7, err_msg="forward")
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), atol=1e-10, rtol=1e-7, err_msg="input grad")
    assert_same_module_state(ours, theirs)


@requires_torch
@pytest.mark.parametrize("spec,shape", [("Linear(5, 3)", (4, 5)), ("Conv2d(3, 4, 3, padding=1)", (2, 3, 5, 5))])
def test_float32_layer_matches_torch(spec, shape):
    ours = eval(spec, {**vars(nn)})
    theirs = eval(spec, {**vars(tnn)})
    copy_torch_weights(ours, theirs)
    x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
    out, expected = ours(Tensor(x)), theirs(torch.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-5, rtol=1e-5)


def test_small_network_passes_gradcheck_for_input_and_every_parameter():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), nn.BatchNorm2d(3, dtype=np.float64),
                        nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 2, dtype=np.float64))
    x = Tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 4)), requires_grad=True, dtype=np.float64)
    net.eval()  # fixed statistics: forward is then a pure function of the perturbed inputs
    assert gradcheck(lambda x, *params: net(x), [x, *net.parameters()])


# ================================ train/eval: Dropout and BatchNorm =============================

def test_dropout_training_drops_and_rescales():
    layer = nn.Dropout(0.25, generator=np.random.default_rng(0))
    out = layer(Tensor(np.ones((200, 200)))).data
    kept = out != 0
    assert abs(1 - kept.mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)


def test_dropout_eval_is_identity():
    layer = nn.Dropout(0.5).eval()
    x = Tensor(np.random.default_rng(0).standard_normal((4, 5)))
    np.testing.assert_array_equal(layer(x).data, x.data)


def test_dropout_gradient_flows_only_through_kept_elements():
    layer = nn.Dropout(0.5, generator=np.random.default_rng(1))
    x = Tensor(np.ones((10, 10)), requires_grad=True)
    out = layer(x)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, out.data)  # 2 where kept, 0 where dropped


def test_dropout_masks_reproducible_from_seed():
    a = nn.Dropout(0.5, generator=np.random.default_rng(3))(Tensor(np.ones(50))).data
    b = nn.Dropout(0.5, generator=np.random.default_rng(3))(Tensor(np.ones(50))).data
    np.testing.assert_array_equal(a, b)


def test_dropout_probability_out_of_range_names_it():
    with pytest.raises(ValueError, match="Dropout.*1.5"):
        nn.Dropout(1.5)


def test_batchnorm_training_updates_running_stats_eval_uses_them():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3))
    bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * x.mean(0))
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * x.var(0, ddof=1))
    assert int(bn.num_batches_tracked.data) == 1
    bn.eval()
    before = bn.running_mean.data.copy()
    out = bn(Tensor(x)).data
    np.testing.assert_allclose(out, (x - before) / np.sqrt(bn.running_var.data + bn.eps))
    np.testing.assert_array_equal(bn.running_mean.data, before)  # eval never updates
    assert int(bn.num_batches_tracked.data) == 1


def test_batchnorm_in_no_grad_training_still_updates_stats():
    bn = nn.BatchNorm2d(2)
    with no_grad():
        bn(Tensor(np.random.default_rng(0).normal(3.0, 1.0, (4, 2, 3, 3))))
    assert np.all(bn.running_mean.data > 0.1) and int(bn.num_batches_tracked.data) == 1


def test_batchnorm_wrong_rank_names_layer_and_shape():
    with pytest.raises(ShapeError, match=r"BatchNorm2d: expected 4D input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3))))


def test_batchnorm_wrong_channels_names_both():
    with pytest.raises(ShapeError, match=r"BatchNorm1d: input has 5 channels \(shape \(2, 5\)\).*num_features=3"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 5))))


def test_linear_wrong_features_names_layer_and_shape():
    with pytest.raises(ShapeError, match=r"Linear: input has shape \(2, 4\).*in_features=3"):
        nn.Linear(3, 2)(Tensor(np.ones((2, 4))))


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "divisible by groups=2"),
    (dict(in_channels=3, out_channels=4, kernel_size=0), "kernel_size=\\(0, 0\\)"),
    (dict(in_channels=3, out_channels=4, kernel_size=(3, 3, 3)), "kernel_size must be an int or a pair"),
    (dict(in_channels=0, out_channels=4, kernel_size=3), "in_channels=0"),
])
def test_conv2d_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nn.Conv2d(**kwargs)


def test_integer_dtype_is_refused():
    with pytest.raises(TypeError, match="Linear: dtype must be a floating-point type, got int32"):
        nn.Linear(2, 2, dtype=np.int32)


# ================================ initialisation ================================================

@pytest.mark.parametrize("make,fan_in", [
    (lambda g: nn.Linear(400, 120, generator=g), 400),
    (lambda g: nn.Conv2d(6, 16, 5, generator=g), 150),
    (lambda g: nn.Conv2d(32, 64, 3, groups=4, generator=g), 72),
])
def test_init_is_uniform_within_pytorch_bounds(make, fan_in):
    layer = make(np.random.default_rng(0))
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.data.astype(np.float64), layer.bias.data
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.97 * bound  # the whole range is used, not a narrower one
    # U(-b, b) has mean 0 and variance b²/3; allow 4 standard errors of the sample statistics
    assert abs(w.mean()) < 4 * bound / math.sqrt(3 * w.size)
    np.testing.assert_allclose(w.var(), bound ** 2 / 3, rtol=4 * math.sqrt(0.8 / w.size))


@requires_torch
def test_init_statistics_match_torch():
    torch.manual_seed(0)
    theirs = tnn.Conv2d(16, 32, 3).weight.detach().numpy()
    ours = nn.Conv2d(16, 32, 3, generator=np.random.default_rng(0)).weight.data
    assert abs(np.abs(ours).max() - np.abs(theirs).max()) < 0.01 / 12
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.05)


def test_init_reproducible_from_manual_seed():
    manual_seed(7)
    a = nn.Conv2d(2, 3, 3).weight.data.copy()
    manual_seed(7)
    b = nn.Conv2d(2, 3, 3).weight.data
    c = nn.Conv2d(2, 3, 3).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_init_reproducible_from_generator():
    a = nn.Linear(5, 5, generator=np.random.default_rng(1)).weight.data
    b = nn.Linear(5, 5, generator=np.random.default_rng(1)).weight.data
    np.testing.assert_array_equal(a, b)


def test_batchnorm_init_is_identity_transform():
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.bias.data, 0)
    np.testing.assert_array_equal(bn.running_var.data, 1)
