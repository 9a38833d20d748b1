"""Convolution and pooling against direct NumPy loops; a small CNN trains, eagerly and compiled."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def _conv_reference(x, w, b, stride, padding, dilation):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                       j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w) + b
    return out


def test_conv2d_matches_a_direct_loop(rng):
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    for stride, padding, dilation in ((1, 0, 1), (2, 1, 1), (1, 2, 2)):
        got = F.conv2d(gg.tensor(x), gg.tensor(w), gg.tensor(b), stride, padding, dilation)
        np.testing.assert_allclose(got.numpy(), _conv_reference(x, w, b, stride, padding, dilation), rtol=1e-10)


@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((2, 4), 1), ((3, 2), 2), ((2, 2), 1)])
def test_conv2d_same_and_valid_padding_and_unbatched_input(kernel, dilation, check_gradients, rng):
    # PyTorch: padding="same" pads dilation * (k - 1) in all, half before, the odd one after (bottom/right), so
    # the output is as large as the input; "valid" is no padding; a (C, H, W) input is one unbatched image
    x, w, b = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3) + kernel), rng.standard_normal(4)
    th, tw = (dilation * (k - 1) for k in kernel)
    padded = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    same = _conv_reference(padded, w, b, 1, 0, dilation)
    assert same.shape == (2, 4, 6, 7)
    valid = _conv_reference(x, w, b, 1, 0, dilation)
    conv = nn.Conv2d(3, 4, kernel, padding="same", dilation=dilation).double()
    assert conv.padding == "same" and "padding=same" in repr(conv)
    with gg.no_grad():
        conv.weight.copy_(gg.tensor(w))
        conv.bias.copy_(gg.tensor(b))
    for fn in (conv, gg.compile(lambda x: conv(x))):
        np.testing.assert_allclose(fn(gg.tensor(x)).detach().numpy(), same, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fn(gg.tensor(x[1])).detach().numpy(), same[1], rtol=1e-10, atol=1e-12)
    got = F.conv2d(gg.tensor(x), gg.tensor(w), gg.tensor(b), padding="valid", dilation=dilation)
    np.testing.assert_allclose(got.numpy(), valid, rtol=1e-10, atol=1e-12)
    bias = gg.tensor(b)
    check_gradients(lambda x, w: (F.conv2d(x, w, bias, padding="same", dilation=dilation) ** 2).sum(),
                    [x[0], w], second_order=False)


def test_conv2d_padding_strings_and_input_dims_errors_are_pytorchs():
    x, w = gg.ones(1, 2, 5, 5), gg.ones(1, 2, 3, 3)
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(2, 1, 3, padding="same", stride=2)
    with pytest.raises(RuntimeError, match="Invalid padding string: 'foo'"):
        F.conv2d(x, w, padding="foo")
    with pytest.raises(ValueError, match="Invalid padding string 'foo', should be one of"):
        nn.Conv2d(2, 1, 3, padding="foo")
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got "
                                           r"input of size: \[2, 5\]"):
        F.conv2d(gg.ones(2, 5), w)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 3, 5, 5\] to have 2 channels, but got 3 channels"):
        F.conv2d(gg.ones(3, 5, 5), w)


def test_pooling_matches_numpy(rng):
    x = rng.standard_normal((2, 3, 6, 4))
    windows = x.reshape(2, 3, 3, 2, 2, 2)
    np.testing.assert_allclose(F.max_pool2d(gg.tensor(x), 2).numpy(), windows.max(axis=(3, 5)))
    np.testing.assert_allclose(F.avg_pool2d(gg.tensor(x), 2).numpy(), windows.mean(axis=(3, 5)), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(gg.tensor(x), 1).numpy(), x.mean(axis=(2, 3), keepdims=True),
                               rtol=1e-12)


def test_a_small_cnn_gives_the_same_gradients_compiled_and_trains(assert_compiled_matches_eager):
    gg.manual_seed(0)
    x = gg.randn(16, 1, 8, 8, dtype=gg.float64)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).double()
    step = assert_compiled_matches_eager(model, lambda x, y: F.cross_entropy(model(x), y), x, y)
    opt = gg.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for i in range(20):
        opt.zero_grad()
        loss = step(x, y) if i % 2 else F.cross_entropy(model(x), y)  # both modes update the same model
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0]
    source = step.source(x, y)
    assert "as_strided" in source and "import numpy as np" in source


def test_batch_norm_trains_under_compile_updating_its_running_statistics():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).double()
    twin = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).double()
    twin.load_state_dict(model.state_dict())
    compiled = gg.compile(lambda x: (model(x) ** 2).sum())
    for _ in range(3):
        x = gg.randn(4, 1, 5, 5, dtype=gg.float64)
        model.zero_grad()
        twin.zero_grad()
        out, expected = compiled(x), (twin(x) ** 2).sum()
        out.backward()
        expected.backward()
        np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)
        for (name, a), b in zip(model.named_parameters(), twin.parameters()):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    for key, value in twin.state_dict().items():  # running statistics and the batch count, written back
        np.testing.assert_allclose(model.state_dict()[key].numpy(), value.numpy(), rtol=1e-12, err_msg=key)
    assert model[1].num_batches_tracked.item() == 3
    with pytest.raises(NotImplementedError, match="updates module buffers"):
        gg.grad(lambda x: model(x).sum())(np.ones((2, 1, 5, 5)))
    model.eval()
    x = gg.randn(4, 1, 5, 5, dtype=gg.float64)
    np.testing.assert_allclose(compiled(x).item(), (twin.eval()(x) ** 2).sum().item(), rtol=1e-12)


def test_max_pool_gives_a_tied_window_s_gradient_to_its_first_maximum_as_pytorch():
    x = gg.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 3.0], [3.0, 2.0]]]], requires_grad=True)
    out = F.max_pool2d(x, 2)
    assert out.flatten().tolist() == [0.0, 3.0]
    out.sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]]]


def test_lenet_gradients_agree_compiled_eager_and_hand_written_numpy_in_float64(rng):
    """The benchmark's cnn workload in float64: compiled and eager graphgrad, and the hand-written NumPy
    backward of ``benchmarks/workloads.py`` (its own im2col, pooling masks and slice-adds)."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    try:
        import workloads
    finally:
        sys.path.pop(0)
    shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (10, 120), (10,)]
    arrays = [rng.standard_normal(s) / np.sqrt(np.prod(s[1:]) if len(s) > 1 else 10.0) for s in shapes]
    x, y = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    hand = workloads.HandLeNet(arrays, x, y)
    expected = hand.step()
    for fn in (workloads.lenet_loss, gg.compile(workloads.lenet_loss)):
        params = [gg.tensor(a, requires_grad=True) for a in arrays]
        loss = fn(*params, gg.tensor(x), gg.tensor(y))
        loss.backward()
        np.testing.assert_allclose(loss.item(), hand.loss, rtol=1e-12)
        for name, p, e in zip(("c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b"), params, expected):
            assert p.grad.dtype == gg.float64
            np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-10, atol=1e-13, err_msg=name)


def test_compiled_stride_1_conv2d_copies_whole_image_rows_and_slice_adds_them_back():
    f = gg.compile(lambda x, w: F.conv2d(x, w, padding=(1, 0)).relu().sum())
    source = f.source(gg.tensor(np.ones((2, 3, 6, 6)), requires_grad=True), gg.tensor(np.ones((4, 3, 3, 3))))
    forward, backward = source.split("def backward")
    # per image a (C*KH*KW, OH*W) matrix of runs of OH * W = 6 * 6 pixels; the columns past OW = 4 dropped
    assert ".reshape((2, 27, 36))" in forward and "[:, :, :, :4]" in forward
    assert "transpose((0, 3, 1, 2))" not in forward and "sliding_window_view" not in forward
    # the input gradient: one slice-add of a whole run per kernel offset (offset 1 * 6 + 2 = 8 for (1, 2))
    assert backward.count("] += ") == 9 and "[:, :, 8:44] += " in backward


def test_strided_conv2d_keeps_the_per_image_im2col(rng):
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    f = gg.compile(lambda x, w: F.conv2d(x, w, stride=2).sum())
    source = f.source(gg.tensor(x, requires_grad=True), gg.tensor(w, requires_grad=True))
    assert ".reshape((2, 18, 9))" in source.split("def backward")[0]  # (C*KH*KW, OH*OW) per image


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (1, (2, 1), 1), (1, 1, (2, 3)), (2, 1, 1)])
def test_conv2d_under_vmap_matches_a_loop(stride, padding, dilation, rng):
    x, w = rng.standard_normal((3, 2, 2, 7, 6)), rng.standard_normal((4, 2, 3, 2))

    def loss(x, w):
        return (F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation) ** 2).sum()

    gx, gw = gg.vmap(gg.grad(loss, argnums=(0, 1)), in_axes=(0, None))(x, w)
    for k in range(3):
        xt, wt = gg.tensor(x[k], requires_grad=True), gg.tensor(w, requires_grad=True)
        loss(xt, wt).backward()
        np.testing.assert_allclose(np.asarray(gx)[k], xt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(gw)[k], wt.grad.numpy(), rtol=1e-12)


def _im2col(x, k, d, p, s):
    """PyTorch's unfold, by loops: column c * KH * KW + i * KW + j, block oh * OW + ow."""
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = k, d, p, s
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = xp.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, oh * ow))
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for a in range(oh):
                    for b in range(ow):
                        out[:, ci * kh * kw + i * kw + j, a * ow + b] = xp[:, ci, a * sh + i * dh, b * sw + j * dw]
    return out


@pytest.mark.parametrize("k, d, p, s", [((3, 3), (1, 1), (0, 0), (1, 1)), ((2, 3), (2, 1), (1, 0), (2, 1)),
                                        ((2, 2), (1, 1), (1, 1), (2, 2))])
def test_unfold_and_fold_are_pytorch_s_im2col_and_its_adjoint(k, d, p, s):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = F.unfold(gg.tensor(x), k, d, p, s)
    np.testing.assert_array_equal(cols.numpy(), _im2col(x, k, d, p, s))
    np.testing.assert_array_equal(F.unfold(gg.tensor(x[0]), k, d, p, s).numpy(), _im2col(x[:1], k, d, p, s)[0])
    y = rng.standard_normal(cols.shape)
    image = F.fold(gg.tensor(y), (7, 6), k, d, p, s)
    assert image.shape == (2, 3, 7, 6)
    np.testing.assert_allclose(np.vdot(cols.numpy(), y), np.vdot(x, image.numpy()))  # <unfold x, y> = <x, fold y>
    small_x = gg.tensor(x[:1, :2], dtype=gg.float64, requires_grad=True)
    small_y = gg.tensor(y[:1, :2 * k[0] * k[1]], dtype=gg.float64, requires_grad=True)
    for fn, t in ((lambda t: F.unfold(t, k, d, p, s).sin(), small_x),
                  (lambda t: F.fold(t, (7, 6), k, d, p, s).sin(), small_y)):
        assert gradcheck(fn, [t]) and gradgradcheck(fn, [t])
        np.testing.assert_allclose(gg.compile(fn)(t).detach().numpy(), fn(t).detach().numpy(), rtol=1e-12)
    assert isinstance(gg.nn.Unfold(k, d, p, s)(gg.tensor(x)), gg.Tensor)
    np.testing.assert_array_equal(gg.nn.Fold((7, 6), k, d, p, s)(gg.tensor(y)).numpy(), image.numpy())


def test_fold_names_the_mismatched_sizes():
    with pytest.raises(RuntimeError, match=r"divisible by the product of kernel_size, but got input.size\(1\)=5"):
        F.fold(gg.ones(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match=r"sliding blocks 2 \* 2 = 4, but got input.size\(2\)=5"):
        F.fold(gg.ones(1, 4, 5), (3, 3), 2)
