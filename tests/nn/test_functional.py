"""Losses and layers: closed forms computed with NumPy, float64 gradchecks (first and second order),
eager against compiled, and PyTorch's errors."""
import re
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils import gradcheck, gradgradcheck


def _t(array, grad=True):
    return gg.tensor(np.asarray(array, dtype=np.float64), requires_grad=grad)


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@pytest.fixture
def logits(rng):
    return rng.standard_normal((5, 4))


TARGET = np.array([0, 3, 1, 3, 2])


def test_cross_entropy_matches_the_closed_form(logits):
    expected = -_log_softmax(logits, 1)[np.arange(5), TARGET]
    for reduction, value in (("mean", expected.mean()), ("sum", expected.sum()), ("none", expected)):
        got = F.cross_entropy(_t(logits), gg.tensor(TARGET), reduction=reduction)
        np.testing.assert_allclose(got.detach().numpy(), value, rtol=1e-12)


def test_cross_entropy_weight_and_ignore_index_follow_pytorch(logits):
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    target = np.array([0, 3, -100, 3, 2])
    keep = target != -100
    picked = -_log_softmax(logits, 1)[np.arange(5)[keep], target[keep]]
    w = weight[target[keep]]
    got = F.cross_entropy(_t(logits), gg.tensor(target), weight=gg.tensor(weight))
    np.testing.assert_allclose(got.item(), (w * picked).sum() / w.sum(), rtol=1e-12)
    got = nn.CrossEntropyLoss(ignore_index=3)(_t(logits), gg.tensor(TARGET))
    np.testing.assert_allclose(got.item(), -_log_softmax(logits, 1)[[0, 2, 4], [0, 1, 2]].mean(), rtol=1e-12)


def test_cross_entropy_with_probabilities_and_spatial_dims(rng, logits):
    probs = rng.dirichlet(np.ones(4), size=5)
    got = F.cross_entropy(_t(logits), _t(probs, False))
    np.testing.assert_allclose(got.item(), -(probs * _log_softmax(logits, 1)).sum(1).mean(), rtol=1e-12)
    images = rng.standard_normal((2, 3, 4, 5))
    target = rng.integers(0, 3, (2, 4, 5))
    got = F.cross_entropy(_t(images), gg.tensor(target), reduction="none")
    logp = _log_softmax(images, 1)
    expected = -np.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name, fn, shapes", [
    ("cross_entropy", lambda x: F.cross_entropy(x, gg.tensor(TARGET)), [(5, 4)]),
    ("cross_entropy_weighted", lambda x, w: F.cross_entropy(x, gg.tensor(TARGET), weight=w.exp()), [(5, 4), (4,)]),
    ("nll_sum", lambda x: F.nll_loss(x.log_softmax(1), gg.tensor(TARGET), reduction="sum"), [(5, 4)]),
    ("mse", lambda x, y: F.mse_loss(x, y), [(3, 2), (3, 2)]),
    ("mse_none", lambda x, y: nn.MSELoss(reduction="none")(x, y), [(4,), (4,)]),
    ("linear", lambda x, w, b: F.linear(x, w, b).tanh(), [(3, 4), (2, 4), (2,)]),
    ("linear_vector", lambda x, w: F.linear(x, w), [(4,), (2, 4)]),
    ("softmax", lambda x: F.softmax(x, -1) * F.log_softmax(x, 0), [(3, 4)]),
])
def test_gradients_match_finite_differences(name, fn, shapes, rng):
    inputs = [_t(rng.standard_normal(s)) for s in shapes]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_l1_loss_gradient_away_from_kinks(rng):
    x, y = _t(rng.standard_normal(6)), _t(rng.standard_normal(6) + 5.0, False)
    assert gradcheck(lambda x: F.l1_loss(x, y), [x])
    np.testing.assert_allclose(F.l1_loss(x, y).item(), np.abs(x.detach().numpy() - y.numpy()).mean())


def test_compiled_cross_entropy_matches_eager(logits):
    def loss(x, w, target):
        return F.cross_entropy(x @ w, target)

    w = np.random.default_rng(3).standard_normal((4, 4))
    eager_x, eager_w = _t(logits), _t(w)
    loss(eager_x, eager_w, gg.tensor(TARGET)).backward()
    compiled = gg.compile(loss)
    x, w_c = _t(logits), _t(w)
    out = compiled(x, w_c, gg.tensor(TARGET))
    out.backward()
    np.testing.assert_allclose(out.item(), loss(eager_x, eager_w, gg.tensor(TARGET)).item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), eager_x.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w_c.grad.numpy(), eager_w.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_loss_errors_are_pytorch_s(logits):
    with pytest.raises(ValueError, match=re.escape("Expected input batch_size (5) to match target batch_size (2).")):
        F.cross_entropy(_t(logits), gg.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds."):
        F.cross_entropy(_t(logits), gg.tensor([0, 1, 2, 3, 7]))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(RuntimeError, match=re.escape("mat1 and mat2 shapes cannot be multiplied (5x4 and 3x2)")):
        F.linear(_t(logits), gg.ones(2, 3, dtype=gg.float64))
    with pytest.warns(UserWarning, match=re.escape("Using a target size (torch.Size([3])) that is different to the "
                                                   "input size (torch.Size([3, 1]))")):
        F.mse_loss(gg.ones(3, 1), gg.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(gg.ones(3), gg.ones(3))


def test_one_hot_and_dropout():
    assert F.one_hot(gg.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    x = gg.ones(1000, dtype=gg.float64, requires_grad=True)
    y = F.dropout(x, 0.25, generator=gg.Generator().manual_seed(0))
    y.sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))
    assert 0.7 < kept.mean() < 0.8
    assert F.dropout(x, 0.25, training=False) is x


def test_results_print_pytorch_s_grad_fn_names():
    layer = nn.Linear(2, 3)
    x = gg.ones(4, 2)
    out = layer(x)
    assert out.grad_fn.name() == "AddmmBackward0"
    assert F.mse_loss(out, gg.zeros(4, 3)).grad_fn.name() == "MseLossBackward0"
    loss = F.cross_entropy(out, gg.tensor([0, 1, 2, 0]))
    assert repr(loss).endswith("grad_fn=<NllLossBackward0>)")
    loss.backward()  # the name is cosmetic: the recorded composite ops still differentiate
    assert layer.weight.grad.shape == (3, 2) and x.grad is None


def test_binary_cross_entropy_matches_the_closed_form_and_is_stable(rng):
    x = rng.standard_normal(6) * 3
    x[0], x[1] = -40.0, 40.0  # where sigmoid saturates: the logits form must stay exact
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    # log(1 + e^x) - x t, written per sign of x so that the reference itself does not cancel
    expected = np.where(x >= 0, np.log1p(np.exp(-x)) + (1 - t) * x, np.log1p(np.exp(x)) - t * x)
    got = F.binary_cross_entropy_with_logits(_t(x), _t(t, False), reduction="none")
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12, atol=1e-300)
    pw = np.array([2.0] * 6)
    weighted = F.binary_cross_entropy_with_logits(_t(x), _t(t, False), pos_weight=_t(pw, False), reduction="sum")
    np.testing.assert_allclose(weighted.item(), ((1 - t) * x + (1 + t) * np.logaddexp(0, -x)).sum(), rtol=1e-12)
    p = 1 / (1 + np.exp(-x[2:]))
    got = nn.BCELoss()(_t(p), _t(t[2:], False))
    np.testing.assert_allclose(got.item(), -(t[2:] * np.log(p) + (1 - t[2:]) * np.log(1 - p)).mean(), rtol=1e-12)
    assert F.binary_cross_entropy(_t([0.0, 1.0]), _t([1.0, 0.0], False)).item() == 100.0  # logs clamped at -100
    assert repr(nn.BCEWithLogitsLoss()(_t(x), _t(t, False))).endswith("grad_fn=<BinaryCrossEntropyWithLogitsBackward0>)")


def test_binary_cross_entropy_with_logits_gradients_are_pytorchs_closed_forms_from_one_op():
    # one primitive, as PyTorch's kernel: the logits' gradient is (sigmoid(x) - y) g and the target's -x g, and the
    # compiled backward computes those (differentiating the composite, through relu, abs, exp and log1p, took 15
    # array operations: logistic regression's backward was 2.5x the hand-written one's besides its product)
    x = np.array([-40.0, -3.0, -0.5, 0.0, 0.7, 2.5, 40.0])
    y = np.array([0.0, 1.0, 0.25, 1.0, 0.0, 0.6, 1.0])
    s = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    f = lambda x, y: F.binary_cross_entropy_with_logits(x, y)  # noqa: E731
    compiled = gg.compile(f)
    for fn in (f, compiled):
        xt, yt = _t(x), _t(y)
        fn(xt, yt).backward()
        np.testing.assert_allclose(xt.grad.numpy(), (s - y) / len(x), rtol=1e-14, atol=0)
        np.testing.assert_allclose(yt.grad.numpy(), -x / len(x), rtol=1e-15, atol=0)
    backward = {n.op for n in compiled.graph(_t(x), _t(y), stage="backward").nodes}
    assert "sigmoid" in backward and not backward & {"abs", "sign", "relu", "log1p", "exp"}, sorted(backward)


def test_binary_cross_entropy_with_logits_refuses_integer_logits_and_targets_with_pytorchs_errors():
    f = F.binary_cross_entropy_with_logits
    for fn in (f, gg.compile(f)):
        with pytest.raises(RuntimeError, match="\"log_sigmoid_cpu\" not implemented for 'Long'"):
            fn(gg.tensor([1, 2]), gg.tensor([1.0, 0.0]))
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            fn(gg.tensor([1.0, 2.0]), gg.tensor([1, 0]))


def test_binary_cross_entropy_input_gradient_is_pytorchs_at_saturated_probabilities():
    # PyTorch's backward: grad * w * (p - y) / max(p (1 - p), 1e-12): finite at p = 0 and 1, where the derivative
    # of the clamped logs is 0 * inf = NaN
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-13, 0.3])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.25, 0.6])
    w = np.array([1.0, 2.0, 3.0, 0.5, 1.0, 2.0, 1.5])
    want = w * (p - y) / np.maximum(p * (1 - p), 1e-12) / len(p)
    f = lambda p, y, w: F.binary_cross_entropy(p, y, weight=w)  # noqa: E731
    for fn in (f, gg.compile(f)):
        pt = _t(p)
        loss = fn(pt, _t(y, False), _t(w, False))
        loss.backward()
        np.testing.assert_allclose(pt.grad.numpy(), want, rtol=1e-12, atol=0)
        # the value keeps PyTorch's clamp of each log at -100 (and log1p(-p) for log(1 - p))
        with np.errstate(divide="ignore"):
            log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)
        np.testing.assert_allclose(loss.item(), (-w * (y * log_p + (1 - y) * log_q)).mean(), rtol=1e-12)
    # a float32 sigmoid saturates to exactly 1 (and 0): PyTorch's logit gradient is 0 there, not NaN
    for fn in (F.binary_cross_entropy, gg.compile(F.binary_cross_entropy)):
        x = gg.tensor([20.0, -120.0], requires_grad=True)
        fn(x.sigmoid(), gg.tensor([1.0, 0.0])).backward()
        assert x.grad.numpy().tolist() == [0.0, 0.0]
    # log(1 - p) is log1p(-p), as PyTorch's: not 0 for a float32 p of 1e-10
    got = F.binary_cross_entropy(gg.tensor([1e-10]), gg.tensor([0.0])).item()
    assert got == pytest.approx(1e-10, rel=1e-6)


def test_binary_cross_entropy_gradcheck_in_input_target_and_weight(check_gradients):
    r = np.random.default_rng(40)
    p, y, w = r.uniform(0.1, 0.9, (2, 3)), r.uniform(0, 1, (2, 3)), r.uniform(0.5, 2, (2, 3))
    check_gradients(lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction="sum"), [p, y, w])


@pytest.mark.parametrize("fn", [
    lambda x: F.binary_cross_entropy_with_logits(x, gg.tensor([0.0, 1.0, 1.0], dtype=gg.float64)),
    lambda x: F.binary_cross_entropy(x.sigmoid(), gg.tensor([0.0, 1.0, 0.5], dtype=gg.float64)),
    lambda x: x.log1p().sum(),
])
def test_binary_losses_gradcheck(fn, rng):
    x = _t(np.abs(rng.standard_normal(3)) + 0.1)
    assert gradcheck(fn, [x]) and gradgradcheck(fn, [x])


@pytest.mark.parametrize("fn, shape, value", [
    (lambda x: F.softmax(x, 0), (0, 3), []), (lambda x: F.log_softmax(x, 1), (0, 3), []),
    (lambda x: gg.logsumexp(x, 0), (3,), [float("-inf")] * 3), (lambda x: gg.logsumexp(x, 1), (0,), []),
    (lambda x: gg.logsumexp(x, (0, 1)), (), float("-inf")),
    (lambda x: gg.logsumexp(x, 0, keepdim=True), (1, 3), [[float("-inf")] * 3]),
], ids=["softmax", "log_softmax", "logsumexp over the empty dim", "logsumexp over the other", "all", "keepdim"])
def test_softmax_and_logsumexp_of_an_empty_tensor(fn, shape, value):
    # NumPy's max over an empty dim raised "zero-size array to reduction operation maximum"; PyTorch 2.13's values
    x = gg.zeros(0, 3, requires_grad=True)
    for run in (fn, gg.compile(fn)):
        out = run(x)
        assert tuple(out.shape) == shape and out.tolist() == value
        out.sum().backward()
        assert tuple(x.grad.shape) == (0, 3)
        x.grad = None
