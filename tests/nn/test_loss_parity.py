"""Losses against PyTorch 2.13: binary_cross_entropy's value checks (eager, and compiled: a check in the generated
code), the weights that would broadcast a loss to a larger shape, cross_entropy's choice between class indices and
class probabilities and its refusals, kl_div's gradient in the target. Texts and numbers are PyTorch's, read off
PyTorch 2.13."""
import math
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F

NAN = float("nan")


def _eager_and_compiled(fn):
    return [fn, gg.compile(fn)]


# -- binary_cross_entropy: input and target in [0, 1] --------------------------------------------------------------
@pytest.mark.parametrize("p, y, which", [
    ([0.2, 0.7], [0.5, 1.5], "target"),
    ([0.2, 0.7], [-0.1, 1.0], "target"),
    ([0.2, 0.7], [NAN, 1.0], "target"),
    ([1.2, 0.5], [0.2, 1.0], "input"),
    ([NAN, 0.5], [0.2, 1.0], "input"),
    # element by element, the input first: the first failing element names its tensor
    ([1.2, 0.5], [2.0, 1.0], "input"),
    ([0.5, 1.2], [2.0, 1.0], "target"),
    ([1.5, 0.2], [0.3, NAN], "input"),
], ids=str)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_binary_cross_entropy_refuses_values_outside_0_1_eager_and_compiled(p, y, which, compiled):
    fn = gg.compile(F.binary_cross_entropy) if compiled else F.binary_cross_entropy
    with pytest.raises(RuntimeError, match=f"^all elements of {which} should be between 0 and 1"):
        fn(gg.tensor(p), gg.tensor(y))
    with pytest.raises(RuntimeError, match=f"^all elements of {which} should be between 0 and 1"):
        fn(gg.tensor(p, dtype=gg.float64, requires_grad=True), gg.tensor(y, dtype=gg.float64), reduction="none")


def test_binary_cross_entropy_checks_targets_through_the_module_0d_and_under_grad():
    with pytest.raises(RuntimeError, match="^all elements of target should be between 0 and 1$"):
        nn.BCELoss()(gg.tensor([0.2, 0.7]), gg.tensor([0.5, 1.5]))
    with pytest.raises(RuntimeError, match="^all elements of target should be between 0 and 1$"):
        F.binary_cross_entropy(gg.tensor(0.5), gg.tensor(2.0))
    with pytest.raises(RuntimeError, match="^all elements of target should be between 0 and 1$"):
        F.binary_cross_entropy(gg.tensor([0.5, 0.5]), gg.tensor([0.5, 1.5], requires_grad=True))
    # the bounds themselves pass, and an empty pair (PyTorch: nan, the mean of nothing)
    for fn in _eager_and_compiled(F.binary_cross_entropy):
        assert fn(gg.tensor([0.0, 1.0]), gg.tensor([1.0, 0.0])).item() == 100.0
        assert math.isnan(fn(gg.zeros(0), gg.zeros(0)).item())


def test_binary_cross_entropy_compiled_checks_every_call_and_keeps_its_gradient():
    f = gg.compile(lambda p, y: F.binary_cross_entropy(p, y, reduction="sum"))
    p = gg.tensor([0.5, 0.2], dtype=gg.float64, requires_grad=True)
    f(p, gg.tensor([0.3, 1.0], dtype=gg.float64)).backward()
    np.testing.assert_allclose(p.grad.numpy(), [(0.5 - 0.3) / 0.25, (0.2 - 1.0) / 0.16], rtol=1e-12)
    with pytest.raises(RuntimeError, match="^all elements of target should be between 0 and 1"):
        f(p, gg.tensor([0.3, 1.5], dtype=gg.float64))  # the same signature: the same code, checking again


# -- weights that broadcast the loss to a larger shape -------------------------------------------------------------
_P, _Y = [0.2, 0.7], [0.5, 1.0]


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.binary_cross_entropy(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(2, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(2, 2), reduction="none"),
     RuntimeError, "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(3, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [3, 2]"),
    (lambda: F.binary_cross_entropy(gg.rand(2, 3), gg.rand(2, 3), weight=gg.ones(4, 2, 3)), RuntimeError,
     "output with shape [2, 3] doesn't match the broadcast shape [4, 2, 3]"),
    (lambda: F.binary_cross_entropy(gg.tensor(0.3), gg.tensor(1.0), weight=gg.ones(2)), RuntimeError,
     "output with shape [] doesn't match the broadcast shape [2]"),
    (lambda: nn.BCELoss(weight=gg.ones(2, 2))(gg.tensor([0.5, 0.5]), gg.tensor(_Y)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    # torch.broadcast_shapes(target.size(), weight.size()), before anything else
    (lambda: F.binary_cross_entropy(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(3)), RuntimeError,
     "Attempting to broadcast a dimension of length 3 at -1! Mismatching argument at index 1 had torch.Size([3]); "
     "but expected shape should be broadcastable to [2]"),
    (lambda: F.binary_cross_entropy(gg.tensor([0.5, 1.5]), gg.tensor(_Y), weight=gg.ones(3)), RuntimeError,
     "Attempting to broadcast a dimension of length 3 at -1!"),
    (lambda: F.binary_cross_entropy(gg.rand(2, 3), gg.rand(2, 3), weight=gg.ones(2, 3, 1)), RuntimeError,
     "Attempting to broadcast a dimension of length 3 at -2! Mismatching argument at index 1 had "
     "torch.Size([2, 3, 1]); but expected shape should be broadcastable to [1, 2, 3]"),
    # the values are checked before the loss is multiplied by the weight
    (lambda: F.binary_cross_entropy(gg.tensor([0.5, 1.5]), gg.tensor(_Y), weight=gg.ones(2, 2)), RuntimeError,
     "all elements of input should be between 0 and 1"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(2, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(2, 2),
                                                reduction="none"), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), pos_weight=gg.ones(2, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), pos_weight=gg.ones(1, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [1, 2]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.rand(2, 3), gg.rand(2, 3), pos_weight=gg.ones(4, 2, 3)),
     RuntimeError, "output with shape [2, 3] doesn't match the broadcast shape [4, 2, 3]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(0.3), gg.tensor(1.0), weight=gg.ones(2)), RuntimeError,
     "output with shape [] doesn't match the broadcast shape [2]"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=gg.ones(2, 2))(gg.tensor(_P), gg.tensor(_Y)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    # pos_weight first (PyTorch weighs log_sigmoid(x) by it before the loss is multiplied by the weight)
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(3),
                                                pos_weight=gg.ones(2, 2)), RuntimeError,
     "output with shape [2] doesn't match the broadcast shape [2, 2]"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(2, 2),
                                                pos_weight=gg.ones(3)), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"),
    (lambda: F.binary_cross_entropy_with_logits(gg.tensor(_P), gg.tensor(_Y), weight=gg.ones(3)), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_weight_that_would_broadcast_the_loss_gets_pytorchs_error(call, error, message):
    with pytest.raises(error, match="^" + re.escape(message)) as caught:
        call()
    assert type(caught.value) is error  # (not graphgrad's ShapeError)


def test_weights_that_broadcast_within_the_loss_weigh_it_eager_and_compiled():
    p = np.array([[0.5, 0.2, 0.1], [0.3, 0.9, 1.0]])
    y = np.array([[0.5, 1.0, 0.0], [1.0, 0.0, 0.25]])
    w = np.array([[2.0], [3.0]])
    for fn in _eager_and_compiled(lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction="sum")):
        got = fn(gg.tensor(p), gg.tensor(y), gg.tensor(w)).item()
        assert got == pytest.approx(240.3355649092637, rel=1e-12)  # PyTorch 2.13
    bce_logits = lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w, reduction="none", pos_weight=pw)  # noqa: E731
    for fn in _eager_and_compiled(bce_logits):
        got = fn(gg.tensor([[0.5, 1.5]]), gg.tensor([[0.5, 1.0]]), gg.tensor([[1.0]]), gg.tensor([2.0, 3.0]))
        np.testing.assert_allclose(got.numpy(), [[0.9611154794692993, 0.6042398810386658]], rtol=1e-6)
    with pytest.raises(RuntimeError, match=re.escape("output with shape [2] doesn't match the broadcast shape [2, 2]")):
        gg.compile(lambda p, y, w: F.binary_cross_entropy(p, y, weight=w))(gg.tensor(_P), gg.tensor(_Y), gg.ones(2, 2))


# -- cross_entropy: class probabilities where the target has the input's shape ----------------------------------
_X = [[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]]
_PROBS = [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("kwargs", [dict(ignore_index=0), dict(ignore_index=1), dict(ignore_index=0, reduction="none"),
                                    dict(ignore_index=0, label_smoothing=0.1), dict(ignore_index=0, weight=gg.ones(2)),
                                    dict(ignore_index=0, label_smoothing=1.5)], ids=str)
def test_cross_entropy_refuses_ignore_index_with_class_probabilities(kwargs):
    for fn in _eager_and_compiled(lambda x, t: F.cross_entropy(x, t, **kwargs)):
        with pytest.raises(RuntimeError, match="^ignore_index is not supported for floating point target$"):
            fn(gg.tensor(_X), gg.tensor(_PROBS))
    with pytest.raises(RuntimeError, match="^ignore_index is not supported for floating point target$"):
        nn.CrossEntropyLoss(ignore_index=3)(gg.tensor(_X), gg.tensor(_PROBS))
    with pytest.raises(RuntimeError, match="^ignore_index is not supported for floating point target$"):
        F.cross_entropy(gg.zeros(2, 3, 4), gg.zeros(2, 3, 4), ignore_index=1)


def test_cross_entropy_takes_a_negative_ignore_index_with_class_probabilities():
    for ignore in (-100, -1):
        for fn in _eager_and_compiled(lambda x, t: F.cross_entropy(x, t, ignore_index=ignore)):
            assert fn(gg.tensor(_X), gg.tensor(_PROBS)).item() == pytest.approx(1.30815589427948, rel=1e-6)  # PyTorch 2.13


@pytest.mark.parametrize("call, error, message", [
    # a target of the input's shape is class probabilities, whatever its dtype
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, 3).long()), RuntimeError,
     "Expected floating point type for target with class probabilities, got Long"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, 3).long(), ignore_index=0), RuntimeError,
     "Expected floating point type for target with class probabilities, got Long"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, 3), weight=gg.ones(2)), RuntimeError,
     "cross_entropy: weight tensor should be defined either for all 3 classes or no classes but got weight tensor "
     "of shape: [2]"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, 3), weight=gg.ones(1, 3)), RuntimeError,
     "cross_entropy: weight tensor should be defined either for all 3 classes or no classes but got weight tensor "
     "of shape: [1, 3]"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, 3), label_smoothing=2.0), RuntimeError,
     "label_smoothing must be between 0.0 and 1.0. Got: 2"),
    # any other is class indices, whatever its dtype
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2)), RuntimeError,
     "expected target dtype to be Long or Byte, but got Float"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2, dtype=gg.float64), ignore_index=0), RuntimeError,
     "expected target dtype to be Long or Byte, but got Double"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(2), label_smoothing=1.5), RuntimeError,
     "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.zeros(1, 3), ignore_index=0), ValueError,
     "Expected input batch_size (2) to match target batch_size (1)."),
    (lambda: F.cross_entropy(gg.zeros(2, 3, 4), gg.zeros(2, 4)), RuntimeError,
     "expected target dtype to be Long or Byte, but got Float"),
    (lambda: F.cross_entropy(gg.zeros(2, 3), gg.tensor([True, False])), RuntimeError,
     "expected target dtype to be Long or Byte, but got Bool"),
    (lambda: F.nll_loss(gg.zeros(2, 3), gg.zeros(2)), RuntimeError,
     "expected target dtype to be Long or Byte, but got Float"),
    # the shapes are checked before the dtype
    (lambda: F.nll_loss(gg.zeros(2, 3), gg.zeros(3)), ValueError,
     "Expected input batch_size (2) to match target batch_size (3)."),
    (lambda: F.nll_loss(gg.zeros(2, 3, 4), gg.zeros(2, 5)), RuntimeError, "Expected target size [2, 4], got [2, 5]"),
    (lambda: F.nll_loss(gg.zeros(2, 3), gg.zeros(2, 1).long()), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
    (lambda: F.nll_loss(gg.zeros(2, 3), gg.zeros(2, 1)), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_cross_entropy_and_nll_loss_refuse_targets_as_pytorch(call, error, message):
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        call()


def test_cross_entropy_of_class_probabilities_of_a_single_sample():
    # (C,) logits and (C,) probabilities: the same shape, so probabilities
    for fn in _eager_and_compiled(lambda x, t: F.cross_entropy(x, t)):
        assert fn(gg.tensor(_X[0]), gg.tensor([0.0, 1.0, 0.0])).item() == pytest.approx(0.4643688, rel=1e-6)
    with pytest.raises(RuntimeError, match="^ignore_index is not supported for floating point target$"):
        F.cross_entropy(gg.tensor(_X[0]), gg.tensor([0.0, 1.0, 0.0]), ignore_index=1)


# -- kl_div: the gradient in the target ----------------------------------------------------------------------------
def test_kl_div_target_gradient_is_pytorchs_nan_at_a_zero_target_eager_and_compiled():
    # PyTorch 2.13: xlogy(t, t) - t x, d/dt = log t + 1 - x, nan at t = 0 (xlogy's other-gradient t / t); a negative
    # target's loss and gradient are nan
    x = np.array([[-1.0, -2.0, -0.5, -1.0]])
    t = np.array([[0.0, 0.5, 0.0, -0.5]])
    expected = [[NAN, math.log(0.5) + 1 + 2.0, NAN, NAN]]

    def loss(x, t):
        return F.kl_div(x, t, reduction="sum")

    xt, tt = gg.tensor(x, requires_grad=True), gg.tensor(t, requires_grad=True)
    loss(xt, tt).backward()
    np.testing.assert_allclose(tt.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(xt.grad.numpy(), -t)
    xt, tt = gg.tensor(x, requires_grad=True), gg.tensor(t, requires_grad=True)
    gg.compile(loss)(xt, tt).backward()
    np.testing.assert_allclose(tt.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gg.compile(gg.grad(loss, argnums=1))(gg.tensor(x), gg.tensor(t))), expected,
                               rtol=1e-12)
    # second order in the target: 1 / t, nan at 0 (PyTorch's)
    tt = gg.tensor([[0.0, 0.5]], dtype=gg.float64, requires_grad=True)
    (g,) = gg.autograd.grad(loss(gg.tensor([[-1.0, -2.0]]), tt), tt, create_graph=True)
    (h,) = gg.autograd.grad(g.sum(), tt)
    np.testing.assert_array_equal(h.numpy(), [[NAN, 2.0]])


def test_kl_div_target_gradient_matches_finite_differences_away_from_zero():
    from graphgrad.utils.gradcheck import gradcheck

    x = gg.tensor([[-1.0, -2.0, -0.5]], dtype=gg.float64, requires_grad=True)
    t = gg.tensor([[0.3, 0.5, 0.2]], dtype=gg.float64, requires_grad=True)
    for log_target in (False, True):
        assert gradcheck(lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=log_target), [x, t])


def test_kl_div_with_log_targets_has_a_finite_gradient_at_a_zero_log_target():
    # PyTorch 2.13: exp(t) (t - x) has gradient exp(t) (t - x + 1) in t: 2 at (x, t) = (-1, 0)
    x = gg.tensor([[-1.0, -0.5]], dtype=gg.float64, requires_grad=True)
    t = gg.tensor([[0.0, -0.5]], dtype=gg.float64, requires_grad=True)
    for fn in _eager_and_compiled(lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True)):
        t.grad = None
        fn(x, t).backward()
        np.testing.assert_allclose(t.grad.numpy(), [[2.0, math.exp(-0.5)]], rtol=1e-12)
