"""functional: activations, linear, dropout, batch_norm and the losses, each against PyTorch and finite
differences, plus the error messages. (conv2d and pooling live in test_conv.py.)"""
import numpy as np
import pytest

import tinygrad_cnn.functional as F
from tinygrad_cnn import DTypeError, ShapeError, Tensor, manual_seed
from helpers import TF, both, check_gradients, compare_with_torch, torch


REDUCTIONS = ["mean", "sum", "none"]


def _indices(shape, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, shape)


# --------------------------------------------------------------------------- statistics, activations
@pytest.mark.parametrize("shape,axis", [((4, 5), 1), ((3, 4, 5), 0), ((6,), -1)])
def test_softmax(shape, axis):
    both([shape], lambda x: F.softmax(x, axis), lambda x: torch.softmax(x, axis))


@pytest.mark.parametrize("shape,axis", [((4, 5), 1), ((3, 4, 5), 0), ((6,), -1)])
def test_log_softmax(shape, axis):
    both([shape], lambda x: F.log_softmax(x, axis), lambda x: torch.log_softmax(x, axis))


def test_log_softmax_is_stable_for_huge_logits():
    out = F.log_softmax(Tensor(np.array([[1000.0, 0.0, -1000.0]])), 1)
    np.testing.assert_allclose(out.data, [[0.0, -1000.0, -2000.0]])


@pytest.mark.parametrize("ours,theirs", [(F.relu, lambda x: torch.relu(x)), (F.sigmoid, lambda x: torch.sigmoid(x)),
                                         (F.tanh, lambda x: torch.tanh(x))], ids=["relu", "sigmoid", "tanh"])
def test_activations(ours, theirs):
    both([(3, 7)], ours, theirs)


def test_mean_var_std():
    both([(4, 5)], lambda x: F.mean(x, 1), lambda x: x.mean(1))
    both([(4, 5)], lambda x: F.var(x, 0), lambda x: x.var(0))
    both([(4, 5)], lambda x: F.std(x, (0, 1), correction=0), lambda x: x.std((0, 1), correction=0))


def test_flatten():
    both([(2, 3, 4, 5)], lambda x: F.flatten(x), lambda x: torch.flatten(x, 1))
    both([(2, 3, 4, 5)], lambda x: F.flatten(x, 0, 2), lambda x: torch.flatten(x, 0, 2))


@pytest.mark.parametrize("padding,torch_pad", [(1, (1, 1, 1, 1)), ((2, 0), (0, 0, 2, 2)), ((1, 2, 0, 3), (1, 2, 0, 3))])
def test_pad2d(padding, torch_pad):
    both([(2, 3, 4)], lambda x: F.pad2d(x, padding), lambda x: TF.pad(x, torch_pad))


def test_pad2d_negative_padding():
    with pytest.raises(ValueError, match=r"pad2d: padding must be non-negative ints, got \(1, -1, 0, 0\)"):
        F.pad2d(Tensor.zeros(2, 2), (1, -1, 0, 0))


# --------------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear(x_shape):
    both([x_shape, (4, 3), (4,)], F.linear, lambda *args: TF.linear(*args))   # torch used only in the body


def test_linear_without_bias():
    both([(5, 3), (4, 3)], F.linear, lambda *args: TF.linear(*args))


def test_linear_wrong_features_names_both_shapes():
    with pytest.raises(ShapeError, match=r"linear: input shape \(5, 3\) has 3 features .* weight shape \(4, 2\) "
                                         r"expects 2"):
        F.linear(Tensor.zeros(5, 3), Tensor.zeros(4, 2))


def test_linear_weight_must_be_2d():
    with pytest.raises(ShapeError, match=r"linear: weight must be 2-D .*got shape \(4,\)"):
        F.linear(Tensor.zeros(5, 4), Tensor.zeros(4))


def test_linear_bias_shape():
    with pytest.raises(ShapeError, match=r"linear: bias shape \(3,\) must be \(4,\)"):
        F.linear(Tensor.zeros(5, 2), Tensor.zeros(4, 2), Tensor.zeros(3))


# --------------------------------------------------------------------------- dropout
def test_dropout_statistics():
    x = Tensor.ones(200, 500)
    out = F.dropout(x, 0.3, generator=np.random.default_rng(0)).data
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)   # inverted dropout: survivors scaled up
    assert abs(out.mean() - 1.0) < 0.02                          # so the expectation is unchanged


def test_dropout_gradient_is_the_mask_scaled():
    x = Tensor.randn(50, 40, requires_grad=True, seed=1)
    out = F.dropout(x, 0.5, generator=np.random.default_rng(3))
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, (out.data != 0) * 2.0)


def test_dropout_eval_and_p0_are_identity():
    x = Tensor.randn(4, 5, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_p1_zeroes_everything():
    x = Tensor.randn(4, 5, requires_grad=True)
    out = F.dropout(x, 1.0)
    assert not out.data.any()
    out.sum().backward()
    assert not x.grad.data.any()


def test_dropout_reproducible_with_generator_and_manual_seed():
    x = Tensor.ones(8, 8)
    a = F.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    b = F.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    manual_seed(11)
    c = F.dropout(x, 0.5).data
    manual_seed(11)
    np.testing.assert_array_equal(c, F.dropout(x, 0.5).data)


def test_dropout_keeps_dtype():
    assert F.dropout(Tensor.ones(3, 3, dtype=np.float64), 0.5).dtype == np.float64
    assert F.dropout(Tensor.ones(3, 3), 0.5).dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5"])
def test_dropout_validates_p(p):
    with pytest.raises(ValueError, match=r"dropout: probability p must be between 0 and 1, got"):
        F.dropout(Tensor.ones(2, 2), p)


# --------------------------------------------------------------------------- batch_norm
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 6)])
def test_batch_norm_training_matches_torch(shape):
    channels = shape[1]
    ours_stats = [np.linspace(-1, 1, channels), np.linspace(0.5, 2, channels)]
    theirs_stats = [torch.tensor(s.copy()) for s in ours_stats]
    compare_with_torch([shape, (channels,), (channels,)],
                       lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=True, momentum=0.2),
                       lambda x, w, b: TF.batch_norm(x, *theirs_stats, w, b, training=True, momentum=0.2))
    for ours, theirs in zip(ours_stats, theirs_stats):   # running stats updated as torch (unbiased var)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)])
def test_batch_norm_eval_matches_torch(shape):
    channels = shape[1]
    stats = [np.linspace(-1, 1, channels), np.linspace(0.5, 2, channels)]
    compare_with_torch([shape, (channels,), (channels,)],
                       lambda x, w, b: F.batch_norm(x, *stats, w, b, training=False),
                       lambda x, w, b: TF.batch_norm(x, *[torch.tensor(s) for s in stats], w, b, training=False))


@pytest.mark.parametrize("shape", [(5, 2), (3, 2, 3, 2)])
def test_batch_norm_training_gradcheck(shape):
    check_gradients([shape, (shape[1],), (shape[1],)],
                    lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True))


def test_batch_norm_eval_gradcheck():
    stats = [np.array([0.1, -0.2]), np.array([1.5, 0.7])]
    check_gradients([(3, 2, 3, 2), (2,), (2,)], lambda x, w, b: F.batch_norm(x, *stats, w, b))


def test_batch_norm_without_affine_and_with_tensor_stats():
    running_mean, running_var = Tensor.zeros(3, dtype=np.float64), Tensor.ones(3, dtype=np.float64)
    theirs = [torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]
    compare_with_torch([(6, 3, 2, 2)], lambda x: F.batch_norm(x, running_mean, running_var, training=True),
                       lambda x: TF.batch_norm(x, *theirs, training=True))
    np.testing.assert_allclose(running_mean.data, theirs[0].numpy())
    np.testing.assert_allclose(running_var.data, theirs[1].numpy())
    assert running_mean._version == 1   # recorded as an in-place change


def test_batch_norm_shape_errors_name_the_culprit():
    with pytest.raises(ShapeError, match=r"batch_norm: running_var shape \(4,\) must be \(3,\) for input shape "
                                         r"\(2, 3, 4, 4\)"):
        F.batch_norm(Tensor.zeros(2, 3, 4, 4), np.zeros(3), np.ones(4), training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: weight shape \(2,\) must be \(3,\)"):
        F.batch_norm(Tensor.zeros(2, 3), None, None, Tensor.ones(2), training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: input must be \(N, C, ...\).*got shape \(3,\)"):
        F.batch_norm(Tensor.zeros(3), None, None, training=True)


def test_batch_norm_single_value_per_channel_in_training():
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, got "
                                         r"input shape \(1, 3\)"):
        F.batch_norm(Tensor.zeros(1, 3), None, None, training=True)


def test_batch_norm_eval_needs_running_stats():
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are needed when training=False"):
        F.batch_norm(Tensor.zeros(4, 3), None, None, training=False)


# --------------------------------------------------------------------------- cross_entropy, nll_loss
CE_CASES = [((6, 5), (6,)), ((3, 4, 2, 3), (3, 2, 3)), ((5,), ())]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape,target_shape", CE_CASES, ids=str)
def test_cross_entropy_matches_torch(shape, target_shape, smoothing, reduction):
    target = _indices(target_shape, shape[0 if len(shape) == 1 else 1])
    both([shape], lambda x: F.cross_entropy(x, target, reduction, label_smoothing=smoothing),
         lambda x: TF.cross_entropy(x, torch.tensor(target), reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_probability_targets(reduction, smoothing):
    probs = np.random.default_rng(2).dirichlet(np.ones(5), size=4)
    both([(4, 5)], lambda x: F.cross_entropy(x, probs, reduction, label_smoothing=smoothing),
         lambda x: TF.cross_entropy(x, torch.tensor(probs), reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_ignore_index(reduction, smoothing):
    target = np.array([1, -100, 3, 0, -100, 2])
    both([(6, 4)], lambda x: F.cross_entropy(x, target, reduction, label_smoothing=smoothing),
         lambda x: TF.cross_entropy(x, torch.tensor(target), reduction=reduction, label_smoothing=smoothing))


def test_cross_entropy_accepts_a_float_tensor_of_indices():
    # Tensor(labels) turns ints into float32; whole-number floats still work as indices
    logits, target = Tensor.randn(4, 3, seed=0), np.array([0, 2, 1, 2])
    np.testing.assert_allclose(F.cross_entropy(logits, Tensor(target)).data, F.cross_entropy(logits, target).data)


def test_cross_entropy_float32():
    target = _indices((16,), 10)
    compare_with_torch([(16, 10)], lambda x: F.cross_entropy(x, target),
                       lambda x: TF.cross_entropy(x, torch.tensor(target)), dtype=np.float32, atol=1e-5)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = F.cross_entropy(Tensor([[1000.0, -1000.0]]), np.array([1]))
    assert np.isfinite(loss.item()) and abs(loss.item() - 2000.0) < 1e-2


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,target_shape", CE_CASES, ids=str)
def test_nll_loss_matches_torch(shape, target_shape, reduction):
    target = _indices(target_shape, shape[0 if len(shape) == 1 else 1])
    both([shape], lambda x: F.nll_loss(x, target, reduction),
         lambda x: TF.nll_loss(x, torch.tensor(target), reduction=reduction))


def test_nll_loss_ignore_index():
    target = np.array([1, 7, 0])
    both([(3, 2)], lambda x: F.nll_loss(x, target, ignore_index=7),
         lambda x: TF.nll_loss(x, torch.tensor(target), ignore_index=7))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_index_out_of_range(loss):
    with pytest.raises(IndexError, match=rf"{loss.__name__}: target holds class index 5, but the input "
                                         r"\(shape \(3, 5\)\) has 5 classes; valid indices are 0..4"):
        loss(Tensor.zeros(3, 5), np.array([0, 5, 1]))
    with pytest.raises(IndexError, match=rf"{loss.__name__}: target holds class index -1"):
        loss(Tensor.zeros(3, 5), np.array([0, -1, 1]))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_target_shape_mismatch(loss):
    with pytest.raises(ShapeError, match=rf"{loss.__name__}: target shape \(4,\) does not fit input shape \(3, 5\); "
                                         r"class indices need shape \(3,\)"):
        loss(Tensor.zeros(3, 5), np.array([0, 1, 2, 3]))


def test_cross_entropy_non_integer_targets():
    with pytest.raises(DTypeError, match=r"cross_entropy: target of dtype float64 holds non-integer class indices"):
        F.cross_entropy(Tensor.zeros(2, 3), np.array([0.5, 1.0]))
    with pytest.raises(DTypeError, match=r"cross_entropy: target must hold integer class indices, got dtype <U1"):
        F.cross_entropy(Tensor.zeros(2, 3), np.array(["a", "b"]))


def test_cross_entropy_bad_label_smoothing():
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be between 0 and 1, got 1.5"):
        F.cross_entropy(Tensor.zeros(2, 3), np.array([0, 1]), label_smoothing=1.5)


@pytest.mark.parametrize("loss,target", [(F.cross_entropy, np.array([0, 1])), (F.nll_loss, np.array([0, 1])),
                                         (F.mse_loss, np.zeros((2, 3))), (F.binary_cross_entropy, np.zeros((2, 3))),
                                         (F.binary_cross_entropy_with_logits, np.zeros((2, 3)))],
                         ids=lambda v: getattr(v, "__name__", "target"))
def test_bad_reduction(loss, target):
    with pytest.raises(ValueError, match=rf"{loss.__name__}: reduction must be one of \('mean', 'sum', 'none'\), "
                                         r"got 'avg'"):
        loss(Tensor.full((2, 3), 0.5), target, "avg")


# --------------------------------------------------------------------------- regression and binary losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    both([(4, 3), (4, 3)], lambda a, b: F.mse_loss(a, b, reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction))


def test_mse_loss_numpy_target():
    target = np.arange(6.0).reshape(2, 3)
    both([(2, 3)], lambda a: F.mse_loss(a, target), lambda a: TF.mse_loss(a, torch.tensor(target)))


@pytest.mark.parametrize("loss", [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits])
def test_elementwise_losses_need_equal_shapes(loss):
    with pytest.raises(ShapeError, match=rf"{loss.__name__}: input shape \(4, 1\) and target shape \(4,\) must be equal"):
        loss(Tensor.full((4, 1), 0.5), np.zeros(4))


def _probabilities(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    target = np.random.default_rng(1).uniform(0, 1, (4, 3))   # soft targets are allowed
    arrays = [_probabilities((4, 3))]
    check_gradients([(4, 3)], lambda p: F.binary_cross_entropy(p, target, reduction), arrays=arrays)
    compare_with_torch([(4, 3)], lambda p: F.binary_cross_entropy(p, target, reduction),
                       lambda p: TF.binary_cross_entropy(p, torch.tensor(target), reduction=reduction), arrays=arrays)


def test_binary_cross_entropy_weight():
    target, weight = np.array([[1.0, 0.0, 1.0]]), np.array([[0.5, 2.0, 1.0]])
    compare_with_torch([(1, 3)], lambda p: F.binary_cross_entropy(p, target, weight=weight),
                       lambda p: TF.binary_cross_entropy(p, torch.tensor(target), weight=torch.tensor(weight)),
                       arrays=[_probabilities((1, 3))])


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True, dtype=np.float64)
    target = np.array([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, target, "none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.data))
    expected = TF.binary_cross_entropy(torch.tensor(p.data), torch.tensor(target), reduction="none")
    np.testing.assert_allclose(loss.data, expected.numpy())   # the same clamp as PyTorch


def test_binary_cross_entropy_checks_the_range():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input \(shape \(2,\)\) must hold probabilities in "
                                         r"\[0, 1\], found values in \[-0.5, 0.5\]"):
        F.binary_cross_entropy(Tensor([-0.5, 0.5]), np.array([0.0, 1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    target = np.random.default_rng(1).uniform(0, 1, (4, 3))
    both([(4, 3)], lambda x: F.binary_cross_entropy_with_logits(x, target, reduction),
         lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(target), reduction=reduction))


def test_binary_cross_entropy_with_logits_extreme_and_zero_logits():
    logits = np.array([-80.0, -20.0, 0.0, 0.0, 20.0, 80.0])
    target = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    weight = np.linspace(0.5, 1.5, 6)
    compare_with_torch([(6,)], lambda x: F.binary_cross_entropy_with_logits(x, target, "none", weight=weight),
                       lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(target), reduction="none",
                                                                     weight=torch.tensor(weight)),
                       arrays=[logits])
