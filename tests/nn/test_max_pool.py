"""max_pool2d, the primitive: values and gradients against a direct NumPy loop that picks each window's first
maximum in row-major order (PyTorch's rule), ties included, eagerly and compiled; the code it generates."""
import itertools

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def _pool_reference(x, v, kernel, stride, padding, dilation, ceil_mode):
    """The pooled values of (N, C, H, W) ``x`` and the gradient of ``sum(pooled * v)``: one window at a time, the
    first strictly larger entry in row-major order wins."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, h, w = x.shape

    def count(size, k, s, p, d):
        span = d * (k - 1) + 1
        if not ceil_mode:
            return (size + 2 * p - span) // s + 1
        out = -(-(size + 2 * p - span) // s) + 1
        return out - 1 if (out - 1) * s >= size + p else out
    oh, ow = count(h, kh, sh, ph, dh), count(w, kw, sw, pw, dw)
    out, grad = np.zeros((n, c, oh, ow)), np.zeros_like(x)
    for b, ch, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        best, where = -np.inf, None
        for a, e in itertools.product(range(kh), range(kw)):
            r, q = i * sh - ph + a * dh, j * sw - pw + e * dw
            if 0 <= r < h and 0 <= q < w and (where is None or x[b, ch, r, q] > best):
                best, where = x[b, ch, r, q], (r, q)
        out[b, ch, i, j] = best
        grad[(b, ch) + where] += v[b, ch, i, j]
    return out, grad


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


CONFIGS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), stride=(1, 2)),
           dict(kernel_size=2, dilation=2), dict(kernel_size=3, stride=2, ceil_mode=True),
           dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), dict(kernel_size=1, stride=2),
           dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), dict(kernel_size=3, stride=1)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool2d_matches_a_direct_loop_eager_and_compiled(cfg, ties, rng):
    x = rng.standard_normal((2, 3, 7, 6))
    if ties:  # rounded: most windows hold several equal maxima, and whole windows of zeros
        x = np.round(x)
    kernel = _pair(cfg["kernel_size"])
    args = (kernel, _pair(cfg.get("stride", kernel)), _pair(cfg.get("padding", 0)), _pair(cfg.get("dilation", 1)),
            cfg.get("ceil_mode", False))
    out_shape = _pool_reference(x, np.zeros((2, 3, 9, 9)), *args)[0].shape
    v = rng.standard_normal(out_shape)
    expected, expected_grad = _pool_reference(x, v, *args)

    def loss(t):
        return (F.max_pool2d(t, **cfg) * gg.tensor(v)).sum()

    for fn in (loss, gg.compile(loss)):
        t = gg.tensor(x, requires_grad=True)
        fn(t).backward()
        np.testing.assert_allclose(t.grad.numpy(), expected_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(F.max_pool2d(gg.tensor(x), **cfg).numpy(), expected)
    compiled = gg.compile(lambda t: F.max_pool2d(t, **cfg))
    np.testing.assert_array_equal(compiled(gg.tensor(x)).numpy(), expected)


def test_a_tie_goes_to_the_first_maximum_in_row_major_order_in_overlapping_windows_too():
    # stride 1: the 3 at (0, 1) is the first maximum of both windows of the first row, the 3 at (1, 0) of none
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]]]])
    for fn in (lambda t: F.max_pool2d(t, 2, stride=1).sum(), gg.compile(lambda t: F.max_pool2d(t, 2, stride=1).sum())):
        t = gg.tensor(x, requires_grad=True)
        fn(t).backward()
        assert t.grad.tolist() == [[[[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]]]


def test_a_window_of_zeros_after_relu_passes_its_gradient_to_its_first_entry_compiled():
    x = gg.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 3.0], [3.0, 2.0]]]], requires_grad=True)
    gg.compile(lambda t: (F.max_pool2d(t, 2) * gg.tensor([2.0, 5.0]).reshape(1, 2, 1, 1)).sum())(x).backward()
    assert x.grad.tolist() == [[[[2.0, 0.0], [0.0, 0.0]], [[0.0, 5.0], [0.0, 0.0]]]]


@pytest.mark.parametrize("cfg", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                 dict(kernel_size=2, stride=1, dilation=2)], ids=str)
def test_max_pool2d_gradients_first_and_second_order_eager_and_compiled(cfg, rng):
    x = rng.permutation(np.linspace(-2.0, 2.0, 2 * 2 * 5 * 6)).reshape(2, 2, 5, 6)  # distinct: no kinks nearby

    def f(t):
        return F.max_pool2d(t, **cfg) ** 2

    assert gradcheck(f, [gg.tensor(x, requires_grad=True)])
    assert gradgradcheck(f, [gg.tensor(x, requires_grad=True)])
    v = rng.standard_normal(f(gg.tensor(x)).shape)

    def loss(t):
        return (f(t) * gg.tensor(v)).sum()

    grad_fn = gg.grad(loss)
    hvp_compiled = gg.compile(lambda t, u: (grad_fn(t) * u).sum())  # second order, traced
    u = rng.standard_normal(x.shape)
    t = gg.tensor(x, requires_grad=True)
    hvp_compiled(t, gg.tensor(u)).backward()
    # the Hessian of sum(v * pool(x)^2) is diagonal: 2 v at each window's maximum
    eager = gg.tensor(x, requires_grad=True)
    (g,) = gg.autograd.grad(loss(eager), eager, create_graph=True)
    (h,) = gg.autograd.grad((g * gg.tensor(u)).sum(), eager)
    np.testing.assert_allclose(t.grad.numpy(), h.numpy(), rtol=1e-12, atol=1e-12)
    _, first = _pool_reference(x, v, _pair(cfg["kernel_size"]), _pair(cfg.get("stride", cfg["kernel_size"])),
                               _pair(cfg.get("padding", 0)), _pair(cfg.get("dilation", 1)), cfg.get("ceil_mode", False))
    _, picked = _pool_reference(x, np.ones_like(v), _pair(cfg["kernel_size"]),
                                _pair(cfg.get("stride", cfg["kernel_size"])), _pair(cfg.get("padding", 0)),
                                _pair(cfg.get("dilation", 1)), cfg.get("ceil_mode", False))
    assert np.all((first != 0) <= (picked != 0))
    np.testing.assert_allclose(h.numpy(), 2 * first * u, rtol=1e-12, atol=1e-12)


def test_max_pool2d_under_vmap_matches_a_loop(rng):
    x = rng.standard_normal((3, 2, 2, 6, 6))
    grad = gg.vmap(gg.grad(lambda t: (F.max_pool2d(t, 3, stride=2, padding=1) ** 2).sum()))(x)
    tiled = gg.vmap(gg.grad(lambda t: (F.max_pool2d(t, 2) ** 2).sum()))(x)
    for k in range(3):
        for out, kwargs in ((grad, dict(kernel_size=3, stride=2, padding=1)), (tiled, dict(kernel_size=2))):
            t = gg.tensor(x[k], requires_grad=True)
            (F.max_pool2d(t, **kwargs) ** 2).sum().backward()
            np.testing.assert_allclose(np.asarray(out)[k], t.grad.numpy(), rtol=1e-12)


def test_max_pool2d_takes_an_unbatched_image_and_keeps_float32(rng):
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    out = F.max_pool2d(gg.tensor(x), 2)
    assert out.shape == (3, 3, 2) and out.dtype == gg.float32
    np.testing.assert_array_equal(out.numpy(), x[:, :6, :4].reshape(3, 3, 2, 2, 2).max(axis=(2, 4)))
    assert nn.MaxPool2d(3, 2, ceil_mode=True)(gg.tensor(x)).shape == (3, 3, 2)
    assert "ceil_mode=True" in repr(nn.MaxPool2d(3, 2, ceil_mode=True))
    # a window that starts inside the input and runs past its end: ceil_mode keeps it
    assert F.max_pool2d(gg.tensor(x[:, :1, :2]), 2, ceil_mode=True).tolist() == [[[v]] for v in x[:, 0, :2].max(1)]
    assert F.max_pool2d(gg.zeros(0, 2, 4, 4), 2).shape == (0, 2, 2, 2)


def test_compiled_max_pooling_is_elementwise_maxima_of_strided_slices_and_masked_writes():
    f = gg.compile(lambda t: (F.max_pool2d(t.relu(), 2) ** 2).sum())
    source = f.source(gg.tensor(np.ones((2, 3, 8, 8), np.float32), requires_grad=True))
    forward, backward = source.split("def backward")
    assert "np.maximum(t" in forward and "out=" in forward
    assert "argmax" not in source and "np.where" not in source and "sliding_window_view" not in source
    # per kernel offset, one comparison with the maximum and the gradient copied where it holds; the windows
    # whose maximum is nan are looked at only where there is one
    assert backward.count("np.equal(") == 4 and backward.count("np.copyto(") == 8
    assert backward.count("where=grad_t1_hit)") == 4 and "if grad_t1_nanfree.any():" in backward


NAN, INF = float("nan"), float("inf")
# nan, -inf and ties: PyTorch's kernels pick the first in-bounds entry equal to the window's maximum, or where the
# window holds a nan (its maximum is nan) its last nan (``val > maxval || isnan(val)``); never the padding
NAN_IMAGE = [[[[NAN, 1.0, NAN, 0.0], [-INF, -INF, 5.0, NAN], [NAN, 1.0, -1.0, 2.0], [-INF, -INF, 3.0, 3.0]]]]
# cfg -> (pooled, gradient of sum(pooled * (1, 2, ...)), the second-order gradient: of sum(dx * u) in the
# cotangent, u = 10 ** (0, 1, ..., 15): the u of each window's pick), from PyTorch 2.13
NAN_EXPECTED = {
    "k2s1": (dict(kernel_size=2, stride=1),
             [NAN, NAN, NAN, NAN, 5.0, NAN, NAN, 3.0, 3.0],
             [1, 0, 2, 0, 0, 0, 5, 9, 11, 0, 0, 0, 0, 0, 17, 0],
             [1, 1e2, 1e7, 1e8, 1e6, 1e7, 1e8, 1e14, 1e14]),
    "k3s2p1": (dict(kernel_size=3, stride=2, padding=1),
               [NAN, NAN, NAN, NAN], [1, 0, 0, 0, 0, 0, 0, 6, 3, 0, 0, 0, 0, 0, 0, 0], [1, 1e7, 1e8, 1e7]),
    "k2": (dict(kernel_size=2), [NAN, NAN, NAN, 3.0], [1, 0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 4, 0],
           [1, 1e7, 1e8, 1e14]),
}


@pytest.mark.parametrize("case", list(NAN_EXPECTED))
def test_a_nan_in_a_window_is_its_maximum_and_takes_its_gradient_first_and_second_order(case):
    cfg, pooled, grad, second = NAN_EXPECTED[case]
    u = gg.tensor(10.0 ** np.arange(16).reshape(1, 1, 4, 4))

    def pooled_dot(x, v):
        return (F.max_pool2d(x, **cfg) * v).sum()

    np.testing.assert_array_equal(F.max_pool2d(gg.tensor(NAN_IMAGE), **cfg).numpy().ravel(), pooled)
    np.testing.assert_array_equal(gg.compile(lambda x: F.max_pool2d(x, **cfg))(gg.tensor(NAN_IMAGE)).numpy().ravel(),
                                  pooled)
    v_values = np.arange(1.0, 1 + len(pooled)).reshape(F.max_pool2d(gg.tensor(NAN_IMAGE), **cfg).shape)
    # eager: autograd.grad twice; compiled: grad transforms, traced
    x = gg.tensor(NAN_IMAGE, dtype=gg.float64, requires_grad=True)
    v = gg.tensor(v_values, requires_grad=True)
    (g,) = gg.autograd.grad(pooled_dot(x, v), x, create_graph=True)
    (h,) = gg.autograd.grad((g * u).sum(), v)
    np.testing.assert_array_equal(g.detach().numpy().ravel(), grad)
    np.testing.assert_array_equal(h.numpy().ravel(), second)
    first = gg.grad(pooled_dot)
    x, v = gg.tensor(NAN_IMAGE, dtype=gg.float64), gg.tensor(v_values)
    np.testing.assert_array_equal(np.asarray(gg.compile(first)(x, v)).ravel(), grad)
    np.testing.assert_array_equal(
        np.asarray(gg.compile(gg.grad(lambda x, v: (first(x, v) * u).sum(), argnums=1))(x, v)).ravel(), second)
    for fn in (lambda x: (F.max_pool2d(x, **cfg) * gg.tensor(v_values)).sum(),):  # backward(), eager and compiled
        for f in (fn, gg.compile(fn)):
            x = gg.tensor(NAN_IMAGE, dtype=gg.float64, requires_grad=True)
            f(x).backward()
            np.testing.assert_array_equal(x.grad.numpy().ravel(), grad)


def test_max_pool1d_and_the_modules_send_a_nan_windows_gradient_to_its_last_nan():
    # PyTorch 2.13: max_pool1d(3, 1, padding=1) of [nan, 1, nan, 5, nan], gradient of sum(pooled * (1..5))
    x = [[NAN, 1.0, NAN, 5.0, NAN]]
    for module in (lambda t: F.max_pool1d(t, 3, 1, padding=1), nn.MaxPool1d(3, 1, padding=1)):
        for f in (lambda t: (module(t) * gg.arange(1.0, 6.0)).sum(),
                  gg.compile(lambda t: (module(t) * gg.arange(1.0, 6.0)).sum())):
            t = gg.tensor(x, requires_grad=True)
            f(t).backward()
            assert t.grad.tolist() == [[1.0, 0.0, 5.0, 0.0, 9.0]]
    t = gg.tensor([[[[1.0, NAN], [3.0, 2.0]]]], requires_grad=True)
    nn.MaxPool2d(2)(t).sum().backward()
    assert t.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


def test_a_window_of_minus_inf_passes_its_gradient_to_its_first_entry_not_the_padding():
    # PyTorch 2.13: the window [padding, -inf] takes the -inf (its gradient was dropped in the padding)
    for f in (lambda t: (F.max_pool1d(t, 2, 1, padding=1) * gg.arange(1.0, 5.0)).sum(),
              gg.compile(lambda t: (F.max_pool1d(t, 2, 1, padding=1) * gg.arange(1.0, 5.0)).sum())):
        t = gg.tensor([[-INF, -INF, 2.0]], requires_grad=True)
        f(t).backward()
        assert t.grad.tolist() == [[3.0, 0.0, 7.0]]


@pytest.mark.parametrize("cfg", [dict(kernel_size=2), dict(kernel_size=2, stride=1)], ids=str)
def test_a_nan_or_inf_gradient_reaches_only_the_windows_pick(cfg):
    # PyTorch 2.13: the gradient is scattered to the picks (it was multiplied by a mask: nan * 0 spread nan over
    # the whole window)
    expected = {2: [[[[0.0, 0.0, 0.0], [NAN, 0.0, 0.0]]]], 1: [[[[0.0, 0.0, 1.0], [INF, 0.0, 0.0]]]]}
    g = [[[[NAN]]]] if cfg.get("stride", 2) == 2 else [[[[INF, 1.0]]]]
    for f in (lambda t: F.max_pool2d(t, **cfg), gg.compile(lambda t: F.max_pool2d(t, **cfg))):
        t = gg.tensor([[[[1.0, 2.0, 5.0], [3.0, 0.0, 1.0]]]], requires_grad=True)
        f(t).backward(gg.tensor(g))
        np.testing.assert_array_equal(t.grad.numpy(), expected[cfg.get("stride", 2)])


def test_nan_windows_on_the_device_as_on_the_cpu(cupy_device):
    for cfg in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        def loss(t):
            return (F.max_pool2d(t, **cfg) * gg.arange(1.0, 5.0, device=t.device).reshape(1, 1, 2, 2)).sum()
        grads = []
        for device, f in (("cpu", loss), ("cuda", loss), ("cuda", gg.compile(loss)),
                          ("cuda", gg.compile(loss, fuse=False))):
            t = gg.tensor(NAN_IMAGE, dtype=gg.float64, device=device, requires_grad=True)
            f(t).backward()
            grads.append(t.grad.cpu().numpy())
        for g in grads[1:]:
            np.testing.assert_array_equal(g, grads[0])
        assert np.isfinite(grads[0]).all() and grads[0].any()


@pytest.mark.parametrize("call, message", [
    (lambda: F.max_pool2d(gg.ones(1, 1, 1, 2), 2),
     r"Given input size: \(1x1x2\). Calculated output size: \(1x0x1\). Output size is too small"),
    (lambda: F.max_pool2d(gg.ones(4, 4), 2), "non-empty 3D or 4D \\(batch mode\\) tensor expected for input"),
    (lambda: F.max_pool2d(gg.ones(1, 0, 4, 4), 2),
     r"Expected 3D or 4D \(batch mode\) tensor with optional 0 dim batch size for input, but got:\[1, 0, 4, 4\]"),
    (lambda: F.max_pool2d(gg.ones(1, 1, 4, 4), 2, stride=0), "stride should not be zero"),
    (lambda: F.max_pool2d(gg.ones(1, 1, 4, 4), 2, dilation=0),
     "dilation should be greater than zero, but got dilationH: 0 dilationW: 0"),
    (lambda: F.max_pool2d(gg.ones(1, 1, 4, 4), 3, padding=2),
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"),
])
def test_bad_pooling_arguments_get_pytorchs_message(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_the_pooled_result_may_be_changed_in_place_before_backward_as_in_pytorch():
    # PyTorch's max_pool2d backward keeps its indices, not its result: `nn.MaxPool2d(2), nn.ReLU(True)` (the
    # spatial transformer tutorial's localization net) backpropagates; the gradient is the pooling's as it was
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 3, 6, 6))
    results = []
    for in_place in (False, True):
        x = gg.tensor(data, requires_grad=True)
        pooled = F.max_pool2d(x, 2)
        out = pooled.relu_() if in_place else pooled.relu()
        (out * gg.tensor(np.arange(out.numel()).reshape(out.shape), dtype=gg.float64)).sum().backward()
        results.append(x.grad.numpy())
    np.testing.assert_array_equal(results[1], results[0])
    x = gg.tensor(data, requires_grad=True)
    pooled = F.max_pool2d(x, 2)
    pooled.mul_(3)  # the rule reads the result: computed again from x, not the tripled values
    pooled.sum().backward()
    assert x.grad.sum().item() == 3 * pooled.numel() and set(np.unique(x.grad.numpy())) == {0.0, 3.0}
    y = gg.tensor(data, requires_grad=True)
    activated = y.exp()  # PyTorch's exp keeps its result: changing it is still the error
    activated.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        activated.sum().backward()
