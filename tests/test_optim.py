"""Optimizers, LR schedules, gradient clipping and optimizer state dicts, against PyTorch."""
import math

import numpy as np
import pytest

from helpers import HAVE_TORCH, requires_torch, torch
from tinygrad_cnn import CheckpointError, DTypeError, Tensor
from tinygrad_cnn import optim
from tinygrad_cnn.optim import flatten_state, unflatten_state

# ------------------------------------------------------------------ a small problem for trajectories
# A two-layer tanh network on a new regression batch every step, so each gradient depends on the
# weights the optimizer produced. The same function runs on our Tensors and on torch tensors.
SHAPES = [(4, 3), (3,), (3, 2)]
FROZEN_SHAPE = (2, 2)  # a parameter outside the loss: its .grad stays None and it must not move


def initial_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, s) for s in SHAPES] + [rng.uniform(-1, 1, FROZEN_SHAPE)]


def batches(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((5, 4)), rng.standard_normal((5, 2))) for _ in range(steps)]


def loss_fn(params, x, y):
    w1, b1, w2 = params[:3]
    return (((x @ w1 + b1).tanh() @ w2 - y) ** 2).mean()


def run_ours(name, kwargs, arrays, data, dtype=np.float64, optimizer=None, params=None):
    params = params or [Tensor(a.astype(dtype), requires_grad=True, dtype=dtype) for a in arrays]
    optimizer = optimizer or getattr(optim, name)(params, **kwargs)
    for x, y in data:
        optimizer.zero_grad()
        loss_fn(params, Tensor(x.astype(dtype), dtype=dtype), Tensor(y.astype(dtype), dtype=dtype)).backward()
        optimizer.step()
    return params, optimizer


def run_torch(name, kwargs, arrays, data, dtype=np.float64):
    params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    optimizer = getattr(torch.optim, name)(params, **kwargs)
    for x, y in data:
        optimizer.zero_grad()
        loss_fn(params, torch.tensor(x.astype(dtype)), torch.tensor(y.astype(dtype))).backward()
        optimizer.step()
    return params, optimizer


def assert_trajectory_matches_torch(name, kwargs, steps=10, dtype=np.float64, atol=1e-6, rtol=1e-6):
    """10 steps of ours and torch's optimizer from the same weights on the same batches agree."""
    if not HAVE_TORCH:
        pytest.skip("PyTorch (the parity oracle) is not installed")
    arrays, data = initial_arrays(), batches(steps)
    ours, _ = run_ours(name, kwargs, arrays, data, dtype)
    theirs, _ = run_torch(name, kwargs, arrays, data, dtype)
    for i, (p, q) in enumerate(zip(ours, theirs)):
        assert p.dtype == dtype, f"parameter {i} changed dtype to {p.dtype}"
        np.testing.assert_allclose(p.data, q.detach().numpy(), atol=atol, rtol=rtol, err_msg=f"parameter {i}")
    for i in range(len(SHAPES)):
        assert not np.allclose(ours[i].data, arrays[i]), f"parameter {i} did not move"
    np.testing.assert_array_equal(ours[-1].data, arrays[-1].astype(dtype), err_msg="a parameter without grad moved")


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.5)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.3)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-2)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, eps=1e-3)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-3)),
    ("Adam", dict(lr=0.05, betas=(0.9, 0.5), amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.9, 0.5), amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5)),
    ("AdamW", dict(lr=0.05, betas=(0.9, 0.5), amsgrad=True, weight_decay=0.2)),
]
CONFIG_IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


@requires_torch
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_trajectory_matches_torch(name, kwargs): assert_trajectory_matches_torch(name, kwargs)


@requires_torch
@pytest.mark.parametrize("name,kwargs", [CONFIGS[1], CONFIGS[15], CONFIGS[19], CONFIGS[24], CONFIGS[7]],
                         ids=[CONFIG_IDS[i] for i in (1, 15, 19, 24, 7)])
def test_trajectory_matches_torch_float32(name, kwargs):
    assert_trajectory_matches_torch(name, kwargs, dtype=np.float32, atol=1e-5, rtol=1e-4)


@requires_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_match_torch(name):
    """Per-group options override the defaults, as in PyTorch."""
    arrays, data = initial_arrays(), batches(10)
    ours = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    group_options = dict(lr=0.01, momentum=0.5) if name != "Adam" else dict(lr=0.01, betas=(0.5, 0.9))
    make = lambda lib, ps: getattr(lib, name)([{"params": ps[:2]}, {"params": ps[2:], **group_options}], lr=0.1)
    run_ours(name, {}, arrays, data, optimizer=make(optim, ours), params=ours)
    opt = make(torch.optim, theirs)
    for x, y in data:
        opt.zero_grad()
        loss_fn(theirs, torch.tensor(x), torch.tensor(y)).backward()
        opt.step()
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, q.detach().numpy(), atol=1e-6, rtol=1e-6, err_msg=f"parameter {i}")


@requires_torch
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_state_matches_torch_layout(name, kwargs):
    """Our per-parameter state has PyTorch's names and values (so the layouts interoperate)."""
    arrays, data = initial_arrays(), batches(3)
    ours, opt = run_ours(name, kwargs, arrays, data)
    theirs, topt = run_torch(name, kwargs, arrays, data)
    for i, (p, q) in enumerate(zip(ours[:3], theirs[:3])):
        want = {k: v for k, v in topt.state[q].items() if v is not None}
        got = opt.state[p]
        assert set(got) == set(want), f"parameter {i}: state names {sorted(got)} != torch {sorted(want)}"
        for key, value in want.items():
            np.testing.assert_allclose(np.asarray(got[key]), value.numpy(), atol=1e-6, rtol=1e-6,
                                       err_msg=f"state[{i}][{key!r}]")
    assert ours[-1] not in opt.state, "a parameter without grad got state"


# ------------------------------------------------------------------ the step itself
def test_step_bumps_version_and_skips_missing_grads():
    w, frozen = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True)
    opt = optim.SGD([w, frozen], lr=0.5)
    (w * w).sum().backward()
    before = w._version
    opt.step()
    assert w._version > before
    np.testing.assert_allclose(w.data, [0.0, 0.0])
    assert frozen._version == 0 and frozen.grad is None and frozen not in opt.state


def test_zero_grad_sets_none_or_zeros():
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.data, [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None


def test_step_with_closure_returns_loss():
    w = Tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    np.testing.assert_allclose(w.data, [1.5])


def test_params_from_a_generator():
    ws = [Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)]
    opt = optim.Adam(w for w in ws)
    assert opt.param_groups[0]["params"] == ws and opt.param_groups[0]["betas"] == (0.9, 0.999)


# ------------------------------------------------------------------ state dicts
def assert_resume_matches(name, kwargs, tmp_path):
    """A runs 5 steps; its weights and state go through flatten -> .npz -> unflatten into a fresh B;
    both run 5 more steps on the same batches and end bit-for-bit equal."""
    arrays, data = initial_arrays(), batches(10)
    params_a, opt_a = run_ours(name, kwargs, arrays, data[:5])
    path = tmp_path / "checkpoint.npz"
    weights = {f"model.{i}": p.data for i, p in enumerate(params_a)}
    np.savez(path, **weights, **flatten_state(opt_a.state_dict(), prefix="optimizer."))
    with np.load(path, allow_pickle=False) as npz:
        params_b = [Tensor(npz[f"model.{i}"], requires_grad=True, dtype=np.float64) for i in range(len(arrays))]
        opt_b = getattr(optim, name)(params_b, **{**kwargs, "lr": 123.0})  # lr must come from the checkpoint
        opt_b.load_state_dict(unflatten_state(npz, prefix="optimizer."))
    run_ours(name, kwargs, arrays, data[5:], optimizer=opt_a, params=params_a)
    run_ours(name, kwargs, arrays, data[5:], optimizer=opt_b, params=params_b)
    for i, (p, q) in enumerate(zip(params_a, params_b)):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"parameter {i}")
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_through_npz(name, kwargs, tmp_path): assert_resume_matches(name, kwargs, tmp_path)


def test_state_dict_is_a_snapshot():
    params, opt = run_ours("Adam", {}, initial_arrays(), batches(2))
    sd = opt.state_dict()
    saved = sd["state"][0]["exp_avg"].copy()
    run_ours("Adam", {}, initial_arrays(), batches(2, seed=5), optimizer=opt, params=params)
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], saved)
    assert sd["state"][0]["step"] == 2 and sd["param_groups"][0]["params"] == [0, 1, 2, 3]


def test_unflatten_inverts_flatten():
    _, opt = run_ours("RMSprop", dict(momentum=0.9, centered=True), initial_arrays(), batches(2))
    sd = opt.state_dict()
    back = unflatten_state(flatten_state(sd))
    assert back["param_groups"][0] == {**sd["param_groups"][0]}
    for index, entry in sd["state"].items():
        assert set(back["state"][index]) == set(entry)
        for name, value in entry.items():
            np.testing.assert_array_equal(back["state"][index][name], value)
            assert type(back["state"][index][name]) is type(value)


def test_float32_state_stays_float32_after_load():
    params, opt = run_ours("Adam", {}, initial_arrays(), batches(2), dtype=np.float32)
    fresh = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    opt_b = optim.Adam(fresh)
    opt_b.load_state_dict(unflatten_state(flatten_state(opt.state_dict())))
    assert opt_b.state[fresh[0]]["exp_avg"].dtype == np.float32


def _adam_after_one_step():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    return opt


def _fresh_adam(*shapes, groups=1):
    params = [Tensor(np.ones(s), requires_grad=True) for s in shapes]
    return optim.Adam([{"params": [p]} for p in params] if groups > 1 else params)


@pytest.mark.parametrize("target,match", [
    (lambda: _fresh_adam((2, 3), (4,)), r"parameter group 0 has 1 parameters in the state dict, 2 in the optimizer"),
    (lambda: _fresh_adam((2, 3), (4,), groups=2), r"the state dict has 1 parameter groups, the optimizer has 2"),
    (lambda: _fresh_adam((3, 2)), r"state\[0\]\['exp_avg'\] has shape \(2, 3\), but parameter 0 has shape \(3, 2\)"),
])
def test_load_state_dict_rejects_mismatches(target, match):
    with pytest.raises(CheckpointError, match=match):
        target().load_state_dict(_adam_after_one_step().state_dict())


def test_load_state_dict_needs_state_and_groups():
    with pytest.raises(CheckpointError, match=r"no 'state' entry"):
        _fresh_adam((2, 3)).load_state_dict({"param_groups": []})


def test_load_state_dict_rejects_bad_hyperparameters_and_changes_nothing():
    sd = _adam_after_one_step().state_dict()
    sd["param_groups"][0]["lr"] = -1.0
    opt = _fresh_adam((2, 3))
    with pytest.raises(ValueError, match=r"Adam: invalid lr=-1.0"):
        opt.load_state_dict(sd)
    assert opt.state == {} and opt.param_groups[0]["lr"] == 1e-3


def test_flatten_rejects_what_needs_pickle():
    sd = _adam_after_one_step().state_dict()
    sd["param_groups"][0]["callback"] = print
    with pytest.raises(TypeError, match=r"'param_groups.0.callback' holds builtin_function_or_method"):
        flatten_state(sd)


def test_unflatten_needs_the_prefix():
    with pytest.raises(CheckpointError, match=r"no key starts with 'optimizer.'"):
        unflatten_state({"model.weight": np.zeros(2)}, prefix="optimizer.")


# ------------------------------------------------------------------ bad arguments
def _w():
    return Tensor(np.ones(3), requires_grad=True)


@pytest.mark.parametrize("name,kwargs,error,match", [
    ("SGD", dict(lr=-0.1), ValueError, r"SGD: invalid lr=-0.1 \(must be >= 0\)"),
    ("SGD", dict(lr=0.1, momentum=-0.5), ValueError, r"SGD: invalid momentum=-0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4), ValueError, r"SGD: invalid weight_decay=-0.0001"),
    ("SGD", dict(lr=0.1, dampening=1.5), ValueError, r"SGD: invalid dampening=1.5"),
    ("SGD", dict(lr=0.1, nesterov=True), ValueError, r"SGD: Nesterov momentum requires momentum > 0 .* momentum=0.0"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, r"dampening=0.1"),
    ("SGD", dict(lr="fast"), TypeError, r"SGD: lr must be a number, got 'fast'"),
    ("Adagrad", dict(lr_decay=-1.0), ValueError, r"Adagrad: invalid lr_decay=-1.0"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), ValueError, r"Adagrad: invalid initial_accumulator_value=-0.1"),
    ("Adagrad", dict(eps=-1e-10), ValueError, r"Adagrad: invalid eps=-1e-10"),
    ("RMSprop", dict(alpha=1.5), ValueError, r"RMSprop: invalid alpha=1.5 \(must be in \[0, 1\]\)"),
    ("RMSprop", dict(momentum=-0.9), ValueError, r"RMSprop: invalid momentum=-0.9"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, r"Adam: invalid betas\[0\]=1.0 \(must be in \[0, 1\)\)"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"Adam: invalid betas\[1\]=-0.1"),
    ("Adam", dict(betas=0.9), TypeError, r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    ("Adam", dict(eps=-1.0), ValueError, r"Adam: invalid eps=-1.0"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, r"AdamW: invalid weight_decay=-0.01"),
    ("AdamW", dict(lr=-1e-3), ValueError, r"AdamW: invalid lr=-0.001"),
])
def test_bad_hyperparameters(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optim, name)([_w()], **kwargs)


@pytest.mark.parametrize("params,error,match", [
    (lambda: _w(), TypeError, r"SGD: params should be an iterable .* got a single Tensor"),
    (lambda: [], ValueError, r"SGD: got an empty parameter list"),
    (lambda: [np.ones(3)], TypeError, r"can only optimize Tensors, but parameter 0 of group 0 is a ndarray"),
    (lambda: [_w() * 2], ValueError, r"can't optimize a non-leaf Tensor \(parameter 0, shape \(3,\)"),
    (lambda: [Tensor(np.arange(3), dtype=np.int64)], DTypeError, r"parameter 0 has dtype int64"),
    (lambda: (lambda w: [w, w])(_w()), ValueError, r"parameter 1 \(shape \(3,\)\) appears more than once"),
    (lambda: [{"params": [_w()], "lr": -2.0}], ValueError, r"SGD: invalid lr=-2.0"),
    (lambda: [{"weights": [_w()]}], TypeError, r"a param group must be a dict with a 'params' entry"),
])
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        optim.SGD(params(), lr=0.1)


def test_step_rejects_grad_of_wrong_shape():
    w = _w()
    w.grad = Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"SGD.step: a parameter of shape \(3,\) has a gradient of shape \(4,\)"):
        optim.SGD([w], lr=0.1).step()


# ------------------------------------------------------------------ LR schedules
def assert_schedule_matches_torch(name, kwargs, epochs=30):
    """Our schedule sets the same learning rates as torch's, for every epoch and param group."""
    if not HAVE_TORCH:
        pytest.skip("PyTorch (the parity oracle) is not installed")
    ours_opt = optim.SGD([{"params": [_w()]}, {"params": [_w()], "lr": 0.01}], lr=0.1)
    theirs_opt = torch.optim.SGD([{"params": [torch.ones(3, requires_grad=True)]},
                                  {"params": [torch.ones(3, requires_grad=True)], "lr": 0.01}], lr=0.1)
    ours = getattr(optim, name)(ours_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs)
    for epoch in range(epochs + 1):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-10, atol=1e-15,
                                   err_msg=f"epoch {epoch}")
        assert [g["lr"] for g in ours_opt.param_groups] == ours.get_last_lr()
        theirs_opt.step()
        ours.step()
        theirs.step()


@requires_torch
@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=30)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=1e-3)),
    ("CosineAnnealingLR", dict(T_max=7)),
])
def test_schedule_matches_torch(name, kwargs): assert_schedule_matches_torch(name, kwargs)


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=4, gamma=0.5)),
                                         ("CosineAnnealingLR", dict(T_max=10, eta_min=1e-3))])
def test_schedule_resumes_from_npz(name, kwargs, tmp_path):
    """Stop at epoch 12, save optimizer + scheduler to .npz, resume in fresh objects: same lrs to 30."""
    opt = optim.SGD([_w()], lr=0.1, momentum=0.9)
    sched = getattr(optim, name)(opt, **kwargs)
    for _ in range(12):
        sched.step()
    path = tmp_path / "ckpt.npz"
    np.savez(path, **flatten_state(opt.state_dict(), "optimizer."), **flatten_state(sched.state_dict(), "scheduler."))
    opt_b = optim.SGD([_w()], lr=5.0, momentum=0.9)
    sched_b = getattr(optim, name)(opt_b, **kwargs)
    with np.load(path, allow_pickle=False) as npz:
        opt_b.load_state_dict(unflatten_state(npz, "optimizer."))
        sched_b.load_state_dict(unflatten_state(npz, "scheduler."))
    assert sched_b.last_epoch == 12 and sched_b.get_last_lr() == sched.get_last_lr()
    for _ in range(18):
        sched.step()
        sched_b.step()
        assert opt_b.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


@pytest.mark.parametrize("make,error,match", [
    (lambda o: optim.StepLR(o, step_size=0), ValueError, r"StepLR: step_size must be a positive integer, got 0"),
    (lambda o: optim.StepLR(o, step_size=2, gamma=-0.1), ValueError, r"StepLR: gamma must be a number >= 0, got -0.1"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=-5), ValueError, r"CosineAnnealingLR: T_max must be .* got -5"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=-1.0), ValueError, r"eta_min must be .* got -1.0"),
    (lambda o: optim.StepLR("sgd", step_size=2), TypeError, r"StepLR: expected an Optimizer, got str"),
    (lambda o: optim.StepLR(o, step_size=2, last_epoch=4), KeyError, r"param_groups\[0\] has no 'initial_lr'"),
    (lambda o: optim.StepLR(o, 2).load_state_dict({"last_epoch": 3}), CheckpointError, r"the state dict lacks \["),
])
def test_bad_schedule_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(optim.SGD([_w()], lr=0.1))


# ------------------------------------------------------------------ gradient clipping
GRAD_SHAPES = [(3, 4), (4,), (2, 2, 2)]


def assert_clip_matches_torch(clip, torch_clip, **kwargs):
    """Clip the same gradients (plus a parameter with none) with ours and torch's; compare all."""
    if not HAVE_TORCH:
        pytest.skip("PyTorch (the parity oracle) is not installed")
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) for s in GRAD_SHAPES]
    ours = [Tensor(np.zeros(s), requires_grad=True) for s in GRAD_SHAPES + [(2,)]]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in GRAD_SHAPES + [(2,)]]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = Tensor(g.copy()), torch.tensor(g.copy())
    got, want = clip(ours, **kwargs), torch_clip(theirs, **kwargs)
    if want is not None:
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg="total norm")
    for i, (p, q) in enumerate(zip(ours[:-1], theirs)):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=f"grad {i}")
    assert ours[-1].grad is None


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    assert_clip_matches_torch(optim.clip_grad_norm_, torch.nn.utils.clip_grad_norm_, max_norm=max_norm,
                              norm_type=norm_type)


@requires_torch
@pytest.mark.parametrize("clip_value", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    assert_clip_matches_torch(optim.clip_grad_value_, torch.nn.utils.clip_grad_value_, clip_value=clip_value)


def test_clip_grad_norm_single_tensor_and_no_grads():
    w = Tensor([3.0, 4.0], requires_grad=True)
    assert optim.clip_grad_norm_(w, 1.0).item() == 0.0
    w.grad = Tensor([3.0, 4.0])
    assert optim.clip_grad_norm_(w, 1.0).item() == 5.0
    np.testing.assert_allclose(w.grad.data, [0.6, 0.8], rtol=1e-6)


@pytest.mark.parametrize("call,error,match", [
    (lambda w: optim.clip_grad_norm_([w], -1.0), ValueError, r"clip_grad_norm_: max_norm must be .* got -1.0"),
    (lambda w: optim.clip_grad_value_([w], -0.5), ValueError, r"clip_grad_value_: clip_value must be .* got -0.5"),
    (lambda w: optim.clip_grad_norm_([w], 1.0, error_if_nonfinite=True), RuntimeError, r"order 2.0 .* is inf"),
])
def test_bad_clip_arguments(call, error, match):
    w = _w()
    w.grad = Tensor(np.array([1.0, np.inf, 0.0]))
    with pytest.raises(error, match=match):
        call(w)
