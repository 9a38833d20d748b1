"""Softmax cross-entropy of class indices is one op (``softmax_cross_entropy``, ops/nn.py) with its gradient
``softmax - onehot`` computed into one array: values and gradients against the closed form in float64, eager and
compiled alike, under weights, ignored targets, reductions and more dimensions; its batching rule; and the memory
a step takes (a language model's logits are large)."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F


def _closed_form(z, y, weight=None, ignore_index=-100, reduction="mean"):
    """Loss and gradient of the logits, written out (classes on axis 1)."""
    z = np.moveaxis(z, 1, -1).reshape(-1, z.shape[1]) if z.ndim > 2 else np.atleast_2d(z)
    y = np.asarray(y).reshape(-1)
    kept = y != ignore_index
    classes = np.where(kept, y, 0)
    rows = np.arange(len(y))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    w = (np.ones(z.shape[1]) if weight is None else weight)[classes] * kept
    losses = -np.log(p[rows, classes]) * w
    scale = w / w.sum() if reduction == "mean" else w
    grad = p * scale[:, None]
    grad[rows, classes] -= scale
    loss = losses.sum() / w.sum() if reduction == "mean" else losses.sum()
    return loss, grad


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("case", ["plain", "weighted", "ignored", "sum", "one row of 1-d logits"])
def test_loss_and_gradient_equal_the_closed_form(mode, case):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((6, 5)) * 3
    y = rng.integers(0, 5, 6)
    kwargs: dict = {}
    if case == "weighted":
        kwargs["weight"] = rng.uniform(0.5, 2.0, 5)
    if case == "ignored":
        y[[1, 4]] = -100
    if case == "sum":
        kwargs["reduction"] = "sum"
    if case == "one row of 1-d logits":
        z, y = z[0], y[0]
    want_loss, want_grad = _closed_form(z, y, **kwargs)
    fn = lambda z, y: F.cross_entropy(z, y, **{k: gg.tensor(v) if k == "weight" else v for k, v in kwargs.items()})  # noqa: E731
    logits = gg.tensor(z, requires_grad=True)
    loss = (gg.compile(fn) if mode == "compiled" else fn)(logits, gg.tensor(y))
    loss.backward()
    np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-13)
    np.testing.assert_allclose(logits.grad.numpy(), want_grad.reshape(z.shape), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_classes_on_axis_1_of_more_dimensions(mode):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, 4, 3, 2))  # (N, C, H, W): a segmentation's logits
    y = rng.integers(0, 4, (2, 3, 2))
    fn = gg.compile(F.cross_entropy) if mode == "compiled" else F.cross_entropy
    logits = gg.tensor(z, requires_grad=True)
    loss = fn(logits, gg.tensor(y))
    loss.backward()
    want_loss, want_grad = _closed_form(z, y)
    np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-13)
    np.testing.assert_allclose(logits.grad.numpy(), np.moveaxis(want_grad.reshape(2, 3, 2, 4), -1, 1),
                               rtol=1e-12, atol=1e-15)


def test_one_op_each_way_and_one_array_of_the_logits_size_in_the_backward():
    logits = gg.tensor(np.zeros((8, 50)), requires_grad=True)
    target = gg.tensor(np.arange(8))
    fn = gg.compile(lambda z, t: F.cross_entropy(z, t))
    forward, backward = (fn.graph(logits, target, stage=s) for s in ("forward", "backward"))
    assert "softmax_cross_entropy" in {n.op for n in forward.nodes} and \
        "log_softmax" not in {n.op for n in forward.nodes}
    large = [n.op for n in backward.nodes if getattr(n.output.type, "shape", ()) == (8, 50)]
    assert large == ["softmax_cross_entropy_grad"], large


def test_a_step_holds_one_array_of_the_logits_size_compiled_and_two_eagerly(numpy_memory):
    """The forward's exp(z - max) is gone before the backward's softmax - onehot is made; compiled, that array
    is the gradient (a hand-written step's figure: 1x); eagerly .grad copies it (2x). log_softmax, the one-hot
    mask and the chain rule held 2x compiled and 4x eagerly (PyTorch: 3x)."""
    z = np.random.default_rng(5).standard_normal((512, 300))
    logits, target = gg.tensor(z, requires_grad=True), gg.tensor(np.arange(512) % 300)
    compiled = gg.compile(lambda z, t: F.cross_entropy(z, t))
    for fn, most in ((compiled, 1.05), (F.cross_entropy, 2.05)):
        def step():
            logits.grad = None
            fn(logits, target).backward()
        assert numpy_memory.peak_array_bytes(step) <= most * z.nbytes


def test_vmap_of_the_loss_and_its_gradient_equal_a_loop():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((3, 4, 5))
    y = rng.integers(0, 5, (3, 4))
    losses = gg.vmap(lambda z, y: F.cross_entropy(z, y, reduction="none"))(gg.tensor(z), gg.tensor(y))
    grads = gg.vmap(gg.grad(lambda z, y: F.cross_entropy(z, y)))(gg.tensor(z), gg.tensor(y))
    for b in range(3):
        np.testing.assert_allclose(losses.numpy()[b], -np.log(_softmax(z[b])[np.arange(4), y[b]]), rtol=1e-13)
        np.testing.assert_allclose(grads.numpy()[b], _closed_form(z[b], y[b])[1], rtol=1e-12, atol=1e-15)
    shared = gg.vmap(lambda z: F.cross_entropy(z, gg.tensor(y[0])))(gg.tensor(z))  # the classes unbatched
    np.testing.assert_allclose(shared.numpy(), [_closed_form(z[b], y[0])[0] for b in range(3)], rtol=1e-13)


def _softmax(z):
    p = np.exp(z - z.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def test_second_order_equals_the_closed_form_hessian_vector_product():
    """d/dz of <grad, v> is p * (v - <p, v>) per row over N: the Hessian of the mean cross-entropy."""
    rng = np.random.default_rng(7)
    z, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y = gg.tensor(rng.integers(0, 4, 3))
    p = _softmax(z)
    want = p * (v - (p * v).sum(1, keepdims=True)) / 3
    logits = gg.tensor(z, requires_grad=True)  # eagerly: the gradient's graph, differentiated again
    (grad,) = gg.autograd.grad(F.cross_entropy(logits, y), logits, create_graph=True)
    (hvp,) = gg.autograd.grad((grad * gg.tensor(v)).sum(), logits)
    np.testing.assert_allclose(hvp.numpy(), want, rtol=1e-12, atol=1e-15)
    inner = gg.grad(lambda a: F.cross_entropy(a, y))  # compiled: a transform of a transform
    hvp = gg.grad(lambda a: (inner(a) * gg.tensor(v)).sum())(z)
    np.testing.assert_allclose(np.asarray(hvp), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_equals_the_closed_form(mode, weighted):
    """The target mixed with the uniform distribution: each kept target's loss is (1 - e) its own plus e/C the
    (weighted) sum over all classes; the gradient (1 - e) w_y (p - onehot) + e/C (sum(w) p - w), over the total
    weight of the kept targets."""
    rng = np.random.default_rng(9)
    z, y, e = rng.standard_normal((5, 4)) * 2, np.array([0, 3, -100, 1, 3]), 0.2
    w = rng.uniform(0.5, 2.0, 4) if weighted else np.ones(4)
    kept = y != -100
    c = np.where(kept, y, 0)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    p = np.exp(logp)
    per = ((1 - e) * -logp[np.arange(5), c] * w[c] + e / 4 * -(logp * w).sum(1)) * kept
    total = (w[c] * kept).sum()
    grad = ((1 - e) * w[c][:, None] * (p - np.eye(4)[c]) + e / 4 * (w.sum() * p - w)) * kept[:, None] / total
    fn = lambda z, y: F.cross_entropy(z, y, weight=gg.tensor(w) if weighted else None, label_smoothing=e)  # noqa: E731
    logits = gg.tensor(z, requires_grad=True)
    loss = (gg.compile(fn) if mode == "compiled" else fn)(logits, gg.tensor(y))
    loss.backward()
    np.testing.assert_allclose(loss.item(), per.sum() / total, rtol=1e-13)
    np.testing.assert_allclose(logits.grad.numpy(), grad, rtol=1e-12, atol=1e-15)
    module = gg.nn.CrossEntropyLoss(weight=gg.tensor(w) if weighted else None, label_smoothing=e)
    np.testing.assert_allclose(module(gg.tensor(z), gg.tensor(y)).item(), per.sum() / total, rtol=1e-13)


def test_label_smoothing_of_probabilities_and_its_bounds():
    z, probs = np.zeros((1, 4)), np.array([[1.0, 0.0, 0.0, 0.0]])
    got = F.cross_entropy(gg.tensor(z), gg.tensor(probs), label_smoothing=0.4)
    np.testing.assert_allclose(got.item(), np.log(4), rtol=1e-15)  # uniform logits: log C whatever the target
    with pytest.raises(RuntimeError, match=r"^label_smoothing must be between 0.0 and 1.0. Got: 1.5$"):
        F.cross_entropy(gg.tensor(z), gg.tensor([0]), label_smoothing=1.5)
    # PyTorch's: a negative one smooths nothing
    assert F.cross_entropy(gg.tensor(z + np.eye(4)[:1]), gg.tensor([0]), label_smoothing=-0.5).item() == \
        F.cross_entropy(gg.tensor(z + np.eye(4)[:1]), gg.tensor([0])).item()


def test_size_average_and_reduce_keep_pytorchs_places_and_meaning():
    x, t = gg.tensor([[0.0, 1.0], [2.0, 0.0]]), gg.tensor([1, 1])
    with pytest.warns(UserWarning, match=r"size_average and reduce args will be deprecated, please use "
                                         r"reduction='none' instead\."):
        per = F.cross_entropy(x, t, None, None, -100, False)  # weight, size_average, ignore_index, reduce
    assert per.shape == (2,)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        total = gg.nn.NLLLoss(None, False)(x, t)  # weight, size_average
    assert total.item() == -1.0
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert F.mse_loss(x, gg.zeros(2, 2), False).item() == 5.0  # size_average
    assert np.isnan(F.cross_entropy(x, t, None, None, 1).item())  # ignore_index fifth, as in PyTorch: all ignored, 0/0
