"""The convolution family around conv2d: conv1d, grouped convolutions, transposed convolutions, 1-D and adaptive
pooling, padding modules. Values against direct NumPy loops (PyTorch's definitions, written out), gradients of
input, weight and bias against float64 finite differences (first and second order, eager and compiled), compiled
against eager, PyTorch's initialisation, argument checks and texts."""
import itertools
import math
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F


# -- NumPy references: one output element (or one scattered input element) at a time -------------------------------
def conv1d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    n, c, length = x.shape
    oc, per_group, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    out_len = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, oc, out_len))
    for o, i, ci, j in itertools.product(range(oc), range(out_len), range(per_group), range(k)):
        channel = o // (oc // groups) * per_group + ci
        out[:, o, i] += w[o, ci, j] * xp[:, channel, i * stride + j * dilation]
    return out if b is None else out + b[None, :, None]


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    oc, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, oc, oh, ow))
    for o, i, j, ci, a, e in itertools.product(range(oc), range(oh), range(ow), range(per_group), range(kh),
                                               range(kw)):
        channel = o // (oc // groups) * per_group + ci
        out[:, o, i, j] += w[o, ci, a, e] * xp[:, channel, i * sh + a * dh, j * sw + e * dw]
    return out if b is None else out + b[None, :, None, None]


def conv_transpose1d_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Each input element adds its filter-weighted copy into the output at ``i * stride + j * dilation``; the
    output is then cropped by ``padding`` on both sides (``output_padding`` extends it at the end)."""
    n, c_in, length = x.shape
    _, per_group, k = w.shape
    full = (length - 1) * stride + dilation * (k - 1) + 1 + output_padding
    out = np.zeros((n, per_group * groups, full))
    for ci, co, i, j in itertools.product(range(c_in), range(per_group), range(length), range(k)):
        out[:, ci // (c_in // groups) * per_group + co, i * stride + j * dilation] += x[:, ci, i] * w[ci, co, j]
    out = out[:, :, padding:full - padding]
    return out if b is None else out + b[None, :, None]


def conv_transpose2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                         dilation=(1, 1)):
    n, c_in, h, wd = x.shape
    _, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    fh, fw = (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    out = np.zeros((n, per_group * groups, fh, fw))
    for ci, co, i, j, a, e in itertools.product(range(c_in), range(per_group), range(h), range(wd), range(kh),
                                                range(kw)):
        out[:, ci // (c_in // groups) * per_group + co, i * sh + a * dh, j * sw + e * dw] += x[:, ci, i, j] * w[ci, co,
                                                                                                               a, e]
    out = out[:, :, ph:fh - ph, pw:fw - pw]
    return out if b is None else out + b[None, :, None, None]


def pool_count(size, k, s, p, d, ceil_mode):
    """PyTorch's number of windows: with ceil_mode, also a last one starting inside the input or left padding."""
    span = d * (k - 1) + 1
    if not ceil_mode:
        return (size + 2 * p - span) // s + 1
    count = -(-(size + 2 * p - span) // s) + 1
    return count - 1 if (count - 1) * s >= size + p else count


def max_pool1d_ref(x, k, s, p, d, ceil_mode):
    length = x.shape[-1]
    count = pool_count(length, k, s, p, d, ceil_mode)
    out = np.full(x.shape[:-1] + (count,), -np.inf)
    for i, j in itertools.product(range(count), range(k)):
        at = i * s - p + j * d
        if 0 <= at < length:
            out[..., i] = np.maximum(out[..., i], x[..., at])
    return out


def avg_pool1d_ref(x, k, s, p, ceil_mode, count_include_pad):
    """Each window's sum over the input, divided by its part inside the padded input (all of it unless
    ceil_mode's last window runs past), or by its part inside the input when ``count_include_pad=False``."""
    length = x.shape[-1]
    count = pool_count(length, k, s, p, 1, ceil_mode)
    out = np.zeros(x.shape[:-1] + (count,))
    for i in range(count):
        start, end = i * s - p, min(i * s - p + k, length + p)
        inside = x[..., max(start, 0):min(end, length)]
        out[..., i] = inside.sum(-1) / (end - start if count_include_pad else inside.shape[-1])
    return out


def adaptive_ref(x, size, reduce):
    """PyTorch's adaptive windows along the last axis: ``[floor(i * L / size), ceil((i + 1) * L / size))``."""
    length = x.shape[-1]
    return np.stack([reduce(x[..., math.floor(i * length / size):math.ceil((i + 1) * length / size)], -1)
                     for i in range(size)], -1)


def adaptive2d_ref(x, size, reduce):
    rows = adaptive_ref(np.swapaxes(x, -1, -2), size[0], reduce)
    return adaptive_ref(np.swapaxes(rows, -1, -2), size[1], reduce)


def t(a, grad=False):
    return gg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(got, expected, tol=1e-12):
    np.testing.assert_allclose(got.detach().numpy() if hasattr(got, "detach") else got, expected, rtol=tol,
                               atol=tol)


# -- conv1d and grouped conv2d ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2),
                                                               (3, 1, 2, 4), (1, 0, 1, 4)])
def test_conv1d_matches_a_direct_loop_eager_and_compiled(stride, padding, dilation, groups, rng):
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((8, 4 // groups, 3)), rng.standard_normal(8)
    expected = conv1d_ref(x, w, b, stride, padding, dilation, groups)
    for fn in (F.conv1d, gg.compile(F.conv1d)):
        close(fn(t(x), t(w), t(b), stride, padding, dilation, groups), expected)
    close(F.conv1d(t(x[1]), t(w), t(b), (stride,), [padding], dilation, groups), expected[1])  # unbatched


@pytest.mark.parametrize("stride, padding, dilation, groups", [((1, 1), (1, 0), (1, 1), 2), ((2, 1), (0, 2), (1, 2), 3),
                                                               ((1, 2), (1, 1), (2, 1), 6)])
def test_grouped_conv2d_matches_a_direct_loop_eager_and_compiled(stride, padding, dilation, groups, rng):
    x, w, b = rng.standard_normal((2, 6, 7, 6)), rng.standard_normal((6, 6 // groups, 3, 2)), rng.standard_normal(6)
    expected = conv2d_ref(x, w, b, stride, padding, dilation, groups)
    for fn in (F.conv2d, gg.compile(F.conv2d)):
        close(fn(t(x), t(w), t(b), stride, padding, dilation, groups), expected)


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (4, 3), (2, 2)])
def test_conv1d_same_pads_the_odd_one_after_and_valid_pads_nothing(kernel, dilation, rng):
    x, w = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, kernel))
    total = dilation * (kernel - 1)
    padded = np.pad(x, ((0, 0), (0, 0), (total // 2, total - total // 2)))
    same = F.conv1d(t(x), t(w), padding="same", dilation=dilation, groups=2)
    assert same.shape == (2, 6, 11)
    close(same, conv1d_ref(padded, w, dilation=dilation, groups=2))
    close(F.conv1d(t(x), t(w), padding="valid", dilation=dilation, groups=2),
          conv1d_ref(x, w, dilation=dilation, groups=2))


def test_conv1d_and_grouped_conv2d_gradients_of_input_weight_and_bias(check_gradients, rng):
    x, w, b = rng.standard_normal((2, 4, 7)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    check_gradients(lambda x, w, b: (F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2) ** 2).sum(),
                    [x, w, b])
    check_gradients(lambda x, w, b: F.conv1d(x, w, b, padding="same", groups=2).tanh().sum(), [x, w, b],
                    second_order=False)
    x, w = rng.standard_normal((1, 4, 4, 5)), rng.standard_normal((4, 1, 2, 3))
    check_gradients(lambda x, w, b: (F.conv2d(x, w, b[:4], padding=(1, 0), groups=4) ** 2).sum(), [x, w, b])
    check_gradients(lambda x, w: (F.conv2d(x, w, stride=2, padding=1, groups=2) ** 2).sum(),
                    [x, rng.standard_normal((2, 2, 2, 2))])


def test_conv1d_module_with_each_padding_mode_is_f_pad_then_an_unpadded_convolution(rng):
    x = rng.standard_normal((2, 4, 9))
    modes = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    for mode, numpy_mode in modes.items():
        conv = nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode=mode).double()
        assert conv._reversed_padding_repeated_twice == (2, 2)
        w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
        expected = conv1d_ref(np.pad(x, ((0, 0), (0, 0), (2, 2)), mode=numpy_mode), w, b, dilation=2, groups=2)
        close(conv(t(x)), expected)
        close(gg.compile(lambda x: conv(x))(t(x)), expected)
    conv = nn.Conv2d(4, 2, (3, 2), padding="same", padding_mode="reflect").double()
    assert conv._reversed_padding_repeated_twice == [0, 1, 1, 1]  # (left, right, top, bottom): the odd one after
    x = rng.standard_normal((2, 4, 5, 6))
    expected = conv2d_ref(np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 1)), mode="reflect"), conv.weight.detach().numpy(),
                          conv.bias.detach().numpy())
    close(conv(t(x)), expected)


# -- transposed convolutions ------------------------------------------------------------------------------------------
TRANSPOSED_1D = [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1), dict(stride=3, padding=2,
                 output_padding=2, groups=2), dict(dilation=3, output_padding=2), dict(stride=2, dilation=3,
                 output_padding=2, padding=1), dict(padding=2, groups=4), dict(stride=3, dilation=2, groups=2)]


@pytest.mark.parametrize("cfg", TRANSPOSED_1D, ids=str)
def test_conv_transpose1d_matches_a_scatter_loop_eager_and_compiled(cfg, rng):
    groups = cfg.get("groups", 1)
    x, w, b = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 8 // groups, 3)), rng.standard_normal(8)
    expected = conv_transpose1d_ref(x, w, b, **cfg)
    for fn in (F.conv_transpose1d, gg.compile(F.conv_transpose1d)):
        close(fn(t(x), t(w), t(b), **cfg), expected)
    close(F.conv_transpose1d(t(x[0]), t(w), None, **cfg), expected[0] - b[:, None])  # unbatched, no bias


TRANSPOSED_2D = [dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=(2, 3), padding=(0, 1),
                 output_padding=(1, 2), groups=2), dict(dilation=(2, 1), output_padding=(1, 0), padding=(2, 1)),
                 dict(stride=(1, 2), dilation=(3, 2), output_padding=(2, 1), groups=4)]


@pytest.mark.parametrize("cfg", TRANSPOSED_2D, ids=str)
def test_conv_transpose2d_matches_a_scatter_loop_eager_and_compiled(cfg, rng):
    groups = cfg.get("groups", 1)
    x, w, b = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 8 // groups, 3, 2)), rng.standard_normal(8)
    pairs = {k: (v, v) if isinstance(v, int) else v for k, v in cfg.items() if k != "groups"}
    expected = conv_transpose2d_ref(x, w, b, groups=groups, **pairs)
    for fn in (F.conv_transpose2d, gg.compile(F.conv_transpose2d)):
        close(fn(t(x), t(w), t(b), **cfg), expected)
    close(F.conv_transpose2d(t(x[1]), t(w), t(b), **cfg), expected[1])


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 2), (3, 2, 2, 1),
                                                               (1, 1, 2, 4)])
def test_a_transposed_convolution_is_the_adjoint_of_the_convolution_in_its_input(stride, padding, dilation, groups,
                                                                                 rng):
    # <conv(y, w), x> = <y, conv_transpose(x, w)>, y of the size conv_transpose makes
    w = rng.standard_normal((8, 4 // groups, 3, 2))
    x = rng.standard_normal((2, 8, 4, 3))
    out = F.conv_transpose2d(t(x), t(w), stride=stride, padding=padding, groups=groups, dilation=dilation).numpy()
    y = rng.standard_normal(out.shape)
    convolved = F.conv2d(t(y), t(w), stride=stride, padding=padding, groups=groups, dilation=dilation).numpy()
    assert convolved.shape == x.shape
    np.testing.assert_allclose(np.vdot(convolved, x), np.vdot(y, out), rtol=1e-12)
    # and conv1d's
    w1, x1 = w[:, :, 0], x[:, :, 0]
    out = F.conv_transpose1d(t(x1), t(w1), stride=stride, padding=padding, groups=groups, dilation=dilation).numpy()
    y = rng.standard_normal(out.shape)
    convolved = F.conv1d(t(y), t(w1), stride=stride, padding=padding, groups=groups, dilation=dilation).numpy()
    np.testing.assert_allclose(np.vdot(convolved, x1), np.vdot(y, out), rtol=1e-12)


def test_transposed_convolution_gradients_of_input_weight_and_bias(check_gradients, rng):
    x, w, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((4, 3, 3)), rng.standard_normal(6)
    check_gradients(lambda x, w, b: (F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
                                     ** 2).sum(), [x, w, b])
    check_gradients(lambda x, w, b: F.conv_transpose1d(x, w, b[:3], dilation=2, output_padding=1).tanh().sum(),
                    [x, w, b], second_order=False)
    x, w = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 2, 2, 3))
    check_gradients(lambda x, w, b: (F.conv_transpose2d(x, w, b[:2], stride=(2, 1), padding=(0, 1),
                                                         output_padding=(1, 0)) ** 2).sum(), [x, w, b])
    check_gradients(lambda x, w: (F.conv_transpose2d(x, w, groups=2, padding=1) ** 2).sum(),
                    [x, w[:, :1]])


def test_conv_transpose_module_output_size_picks_the_output_padding(rng):
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1).double()
    x = rng.standard_normal((1, 4, 5, 5))
    assert up(t(x)).shape == (1, 6, 9, 9)
    for size in [(10, 10), (9, 10), [1, 6, 10, 9], gg.Size([10, 10])]:
        out = up(t(x), output_size=size)
        assert tuple(out.shape[2:]) == tuple(size)[-2:]
        oph, opw = out.shape[2] - 9, out.shape[3] - 9
        close(out, conv_transpose2d_ref(x, up.weight.detach().numpy(), up.bias.detach().numpy(), (2, 2), (1, 1),
                                        (oph, opw)))
    assert up(t(x[0]), output_size=(4, 10, 10)).shape == (6, 10, 10)
    with pytest.raises(ValueError, match=re.escape("requested an output size of (8, 8), but valid sizes range from "
                                                   "[9, 9] to [10, 10] (for an input of torch.Size([5, 5]))")):
        up(t(x), output_size=(8, 8))
    with pytest.raises(ValueError, match=re.escape("ConvTranspose2D: for 4D input, output_size must have 2 or 4 "
                                                   "elements (got 3)")):
        up(t(x), output_size=(1, 10, 10))
    down = nn.ConvTranspose1d(4, 2, 3, stride=3, padding=1).double()
    assert [down(t(x[:, :, 0]), output_size=[n]).shape[-1] for n in (13, 14, 15)] == [13, 14, 15]


# -- the modules: parameters, initialisation, repr ------------------------------------------------------------------
@pytest.mark.parametrize("cls, args, weight_shape, fan_in", [
    (nn.Conv1d, (8, 6, 5, 1, 0, 1, 2), (6, 4, 5), 4 * 5),
    (nn.Conv2d, (8, 6, 3, 1, 0, 1, 2), (6, 4, 3, 3), 4 * 9),
    # transposed: the weight is (in, out / groups, K...), and fan_in PyTorch's of it: out / groups * K
    (nn.ConvTranspose1d, (8, 6, 5, 1, 0, 0, 2), (8, 3, 5), 3 * 5),
    (nn.ConvTranspose2d, (16, 64, 4, 1, 0, 0, 4), (16, 16, 4, 4), 16 * 16)])
def test_initialisation_is_pytorchs_kaiming_uniform_and_bias_bound(cls, args, weight_shape, fan_in):
    gg.manual_seed(0)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)): sqrt(6 / ((1 + 5) fan_in)); the bias's the same
    widest = []
    for _ in range(20):
        module = cls(*args)
        assert tuple(module.weight.shape) == weight_shape and tuple(module.bias.shape) == (args[1],)
        for p in (module.weight, module.bias):
            widest.append(np.abs(p.detach().numpy()).max() / bound)
    assert max(widest) <= 1 and min(widest[::2]) > 0.9 and max(widest[1::2]) > 0.9
    assert module.weight.dtype == gg.float32
    assert nn.Conv1d(2, 2, 3, bias=False, dtype=gg.float64).weight.dtype == gg.float64
    assert nn.Conv1d(2, 2, 3, bias=False).bias is None


def test_module_reprs_and_attributes_are_pytorchs():
    conv = nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect")
    assert repr(conv) == ("Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), groups=2, "
                          "bias=False, padding_mode=reflect)")
    assert (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.output_padding, conv.transposed) == \
        ((3,), (2,), (1,), (2,), (0,), False)
    assert repr(nn.Conv1d(4, 6, 4, padding="same")) == "Conv1d(4, 6, kernel_size=(4,), stride=(1,), padding=same)"
    assert repr(nn.Conv2d(2, 3, 3)) == "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1))"
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert repr(up) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                        "output_padding=(1, 1), groups=2)")
    assert up.transposed and up.output_padding == (1, 1)
    assert repr(nn.ConvTranspose1d(4, 6, 3)) == "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(1,))"
    assert repr(nn.MaxPool1d(3)) == "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool1d(3)) == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"
    assert repr(nn.AdaptiveMaxPool2d((3, None))) == "AdaptiveMaxPool2d(output_size=(3, None))"
    assert repr(nn.AdaptiveAvgPool1d(3)) == "AdaptiveAvgPool1d(output_size=3)"
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nn.ZeroPad1d(2)) == "ZeroPad1d((2, 2))"
    assert repr(nn.ConstantPad1d((1, 2), 3.5)) == "ConstantPad1d(padding=(1, 2), value=3.5)"
    assert repr(nn.ReflectionPad2d((1, 0, 2, 1))) == "ReflectionPad2d((1, 0, 2, 1))"
    assert repr(nn.CircularPad1d(1)) == "CircularPad1d((1, 1))"


# -- pooling -----------------------------------------------------------------------------------------------------------
POOL_1D = [(2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 3, 1, 2, True), (4, 1, 2, 1, False),
           (3, 3, 0, 2, True), (1, 2, 0, 1, False)]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", POOL_1D)
def test_max_pool1d_matches_a_direct_loop_and_its_gradients(k, s, p, d, ceil_mode, check_gradients, rng):
    x = rng.standard_normal((2, 3, 10))
    expected = max_pool1d_ref(x, k, s or k, p, d, ceil_mode)
    for fn in (F.max_pool1d, gg.compile(F.max_pool1d)):
        close(fn(t(x), k, s, p, d, ceil_mode), expected)
    module = nn.MaxPool1d(k, s, p, d, ceil_mode=ceil_mode)
    close(module(t(x[0])), expected[0])
    check_gradients(lambda x: (F.max_pool1d(x, k, s, p, d, ceil_mode) ** 2).sum(), [x[:1, :2]])


def test_max_pool1d_gives_a_tied_window_s_gradient_to_its_first_maximum():
    x = t([[1.0, 1.0, 1.0, 1.0, 2.0, 2.0]], grad=True)
    F.max_pool1d(x, 3, 1).sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 0.0, 0.0, 2.0, 0.0]]


@pytest.mark.parametrize("k, s, p, ceil_mode", [(2, None, 0, False), (3, 2, 1, False), (3, 2, 1, True),
                                                (2, 3, 1, True), (4, 1, 2, False), (5, 2, 2, True)])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool1d_matches_a_direct_loop_and_its_gradients(k, s, p, ceil_mode, count_include_pad, check_gradients,
                                                            rng):
    x = rng.standard_normal((2, 3, 10))
    expected = avg_pool1d_ref(x, k, s or k, p, ceil_mode, count_include_pad)
    for fn in (F.avg_pool1d, gg.compile(F.avg_pool1d)):
        close(fn(t(x), k, s, p, ceil_mode, count_include_pad), expected)
    close(nn.AvgPool1d(k, s, p, ceil_mode, count_include_pad)(t(x[1])), expected[1])
    check_gradients(lambda x: (F.avg_pool1d(x, k, s, p, ceil_mode, count_include_pad) ** 2).sum(), [x[:1, :2]],
                    second_order=False)


def test_avg_pool_closed_forms():
    x = t([[1.0, 2.0, 3.0, 4.0, 5.0]])
    close(F.avg_pool1d(x, 2, ceil_mode=True), [[1.5, 3.5, 5.0]])  # the last window is [5]: divided by 1
    close(F.avg_pool1d(x, 2, padding=1), [[0.5, 2.5, 4.5]])  # the padding counts
    close(F.avg_pool1d(x, 2, padding=1, count_include_pad=False), [[1.0, 2.5, 4.5]])
    image = t(np.arange(16.0).reshape(1, 4, 4))
    close(F.avg_pool2d(image, 2, divisor_override=1), [[[10.0, 18.0], [42.0, 50.0]]])  # sums
    close(F.avg_pool2d(image, 3, stride=2, padding=1, count_include_pad=False)[0, 0], [2.5, 4.0])
    close(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=None)(image)[0, 1],
          [8.5, 10.0, 11.0])


@pytest.mark.parametrize("length, size", [(7, 3), (6, 4), (3, 5), (10, 10), (8, 4), (5, 1), (1, 3)])
def test_adaptive_pooling_1d_uses_pytorchs_windows_and_gradients(length, size, check_gradients, rng):
    x = rng.standard_normal((2, 3, length))
    for fn, reduce in ((F.adaptive_avg_pool1d, np.mean), (F.adaptive_max_pool1d, np.max)):
        expected = adaptive_ref(x, size, reduce)
        close(fn(t(x), size), expected)
        close(gg.compile(lambda x: fn(x, size))(t(x)), expected)
        close(fn(t(x[0]), (size,)), expected[0])
        check_gradients(lambda x: (fn(x, size) ** 2).sum(), [x[:1, :2]], second_order=False)
    close(nn.AdaptiveAvgPool1d(size)(t(x)), adaptive_ref(x, size, np.mean))
    values, indices = nn.AdaptiveMaxPool1d(size, return_indices=True)(t(x))
    positions = [np.argmax(x[..., math.floor(i * length / size):math.ceil((i + 1) * length / size)], -1)
                 + math.floor(i * length / size) for i in range(size)]
    assert indices.dtype == gg.int64 and indices.tolist() == np.stack(positions, -1).tolist()
    close(values, adaptive_ref(x, size, np.max))


@pytest.mark.parametrize("size", [(2, 3), (3, None), (None, 2), 4, (1, 1), (5, 7)])
def test_adaptive_pooling_2d_any_size(size, check_gradients, rng):
    x = rng.standard_normal((2, 3, 5, 6))
    full = tuple(x.shape[2 + k] if s is None else s for k, s in enumerate((size, size) if isinstance(size, int)
                                                                         else size))
    for fn, reduce in ((F.adaptive_avg_pool2d, np.mean), (F.adaptive_max_pool2d, np.max)):
        expected = adaptive2d_ref(x, full, reduce)
        close(fn(t(x), size), expected)
        close(gg.compile(lambda x: fn(x, size))(t(x)), expected)
        close(fn(t(x[1]), size), expected[1])
        check_gradients(lambda x: (fn(x, size) ** 2).sum(), [x[:1, :1]], second_order=False)
    close(nn.AdaptiveMaxPool2d(size)(t(x)), adaptive2d_ref(x, full, np.max))
    _, indices = F.adaptive_max_pool2d(t(x), size, return_indices=True)
    flat = x.reshape(2, 3, -1)
    close(np.take_along_axis(flat, indices.numpy().reshape(2, 3, -1), -1).reshape(indices.shape),
          adaptive2d_ref(x, full, np.max))


def test_adaptive_max_pool_gives_a_tie_to_the_first_maximum_and_an_empty_size_is_empty():
    x = t([[1.0, 1.0, 1.0, 1.0, 2.0, 2.0]], grad=True)
    F.adaptive_max_pool1d(x, 4).sum().backward()  # windows [0, 2), [1, 3), [3, 5), [4, 6)
    assert x.grad.tolist() == [[1.0, 1.0, 0.0, 0.0, 2.0, 0.0]]
    assert F.adaptive_max_pool1d(t(np.ones((2, 3, 5))), 0).shape == (2, 3, 0)
    assert F.adaptive_avg_pool2d(t(np.ones((2, 3, 5, 4))), (0, 2)).shape == (2, 3, 0, 2)


# -- padding modules ---------------------------------------------------------------------------------------------------
PADS = [(nn.ZeroPad1d, (2,), "constant", {}), (nn.ZeroPad2d, ((1, 2, 0, 3),), "constant", {}),
        (nn.ConstantPad1d, ((1, 2), 3.5), "constant", {"constant_values": 3.5}),
        (nn.ConstantPad2d, (1, -2.0), "constant", {"constant_values": -2.0}),
        (nn.ReflectionPad1d, ((3, 1),), "reflect", {}), (nn.ReflectionPad2d, ((1, 0, 2, 1),), "reflect", {}),
        (nn.ReplicationPad1d, ((3, 1),), "edge", {}), (nn.ReplicationPad2d, (2,), "edge", {}),
        (nn.CircularPad1d, ((3, 1),), "wrap", {}), (nn.CircularPad2d, ((1, 2, 2, 0),), "wrap", {})]


@pytest.mark.parametrize("cls, args, numpy_mode, kwargs", PADS, ids=lambda v: getattr(v, "__name__", None))
def test_padding_modules_are_numpys_pad_modes_with_gradients(cls, args, numpy_mode, kwargs, check_gradients, rng):
    module = cls(*args)
    dims = 2 if cls.__name__.endswith("2d") else 1
    amounts = module.padding  # (left, right[, top, bottom])
    widths = [(amounts[2 * k], amounts[2 * k + 1]) for k in range(dims)][::-1]
    for shape in ((2, 3, 4, 5)[-dims - 2:], (3, 4, 5)[-dims - 1:]):
        x = rng.standard_normal(shape)
        expected = np.pad(x, [(0, 0)] * (x.ndim - dims) + widths, mode=numpy_mode, **kwargs)
        close(module(t(x)), expected)
        close(gg.compile(lambda x: module(x))(t(x)), expected)
    check_gradients(lambda x: (module(x) ** 2).sum(), [x], second_order=False)


def test_mode_padding_refuses_what_pytorch_refuses():
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor"):
        nn.ReflectionPad1d(1)(gg.ones(5))
    with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D input tensor"):
        nn.ReplicationPad2d(1)(gg.ones(2, 5))
    with pytest.raises(ValueError, match=re.escape("expected 3D or 4D input (got 2D input)")):
        nn.CircularPad2d(1)(gg.ones(2, 5))
    with pytest.raises(RuntimeError, match=re.escape("Expected 2D or 3D (batch mode) tensor with possibly 0 batch "
                                                     "size and other non-zero dimensions for input, but got: [1, 2, 0]")):
        nn.ReplicationPad1d(1)(gg.ones(1, 2, 0))
    with pytest.raises(RuntimeError, match="Padding mode \"reflect\" doesn't take in value argument"):
        F.pad(gg.ones(1, 2, 3), (1, 1), mode="reflect", value=2.0)
    assert nn.ZeroPad1d(1)(gg.ones(5)).shape == (7,)  # constant padding takes any rank
    assert nn.ReflectionPad1d((-1, 2))(gg.arange(4.0).reshape(1, 4)).tolist() == [[1.0, 2.0, 3.0, 2.0, 1.0]]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_mode_padding_takes_the_ranks_pytorch_takes_and_words_the_rest_as_it(mode):
    # PyTorch 2.13: 2 amounts for a 2D or 3D input, 4 for 3D or 4D, 6 for 4D or 5D; more amounts than dimensions
    # allow is refused first
    for ndim in range(0, 7):
        x = gg.arange(float(math.prod(range(2, 2 + ndim)) if ndim else 1)).reshape(tuple(range(2, 2 + ndim)))
        for count in (2, 4, 6, 8):
            call = lambda: F.pad(x, (1,) * count, mode=mode)  # noqa: E731
            if count // 2 > ndim:
                with pytest.raises(RuntimeError, match=re.escape(
                        f"Padding length should be less than or equal to two times the input dimension but got "
                        f"padding length {count} and input of dimension {ndim}")):
                    call()
            elif count <= 6 and ndim in (count // 2 + 1, count // 2 + 2):
                out = call()
                assert out.shape == x.shape[:ndim - count // 2] + tuple(n + 2 for n in x.shape[ndim - count // 2:])
            else:
                with pytest.raises(NotImplementedError, match=re.escape(
                        f"Padding size {count} is not supported for {ndim}D input tensor.")):
                    call()


def test_mode_padding_takes_a_zero_value_and_refuses_bool_and_unknown_modes_as_pytorch():
    x = gg.arange(12.0).reshape(1, 3, 4)
    for mode in ("reflect", "replicate", "circular"):
        for zero in (0, 0.0, -0.0, False):  # PyTorch's: a value of 0 is no value
            assert F.pad(x, (1, 2), mode=mode, value=zero).tolist() == F.pad(x, (1, 2), mode=mode).tolist()
        for value in (1e-30, float("nan")):
            with pytest.raises(RuntimeError, match=f"^Padding mode \"{mode}\" doesn't take in value argument$"):
                F.pad(x, (1, 2), mode=mode, value=value)
    for kernel, mode in (("reflection", "reflect"), ("replication", "replicate")):
        for count in (2, 4, 6):
            with pytest.raises(NotImplementedError, match=f"^\"{kernel}_pad{count // 2}d\" not implemented for 'Bool'$"):
                F.pad(gg.ones((1,) * (count // 2 + 1)) > 0, (0,) * count, mode=mode)
    assert F.pad(gg.tensor([[True, False]]), (1, 1), mode="circular").tolist() == [[False, True, False, True]]
    assert F.pad(gg.arange(3).reshape(1, 3), (1, 1), mode="reflect").tolist() == [[1, 0, 1, 2, 1]]
    for pad in ((1, 1), (1, 1, 1)):  # the mode is checked first
        with pytest.raises(NotImplementedError, match="^Unrecognised padding mode foo$"):
            F.pad(x, pad, mode="foo", value=3.0)
    with pytest.raises(RuntimeError, match="^Padding length must be divisible by 2$"):
        F.pad(x, (1, 1, 1), mode="reflect", value=3.0)


# -- PyTorch's refusals, with its texts ------------------------------------------------------------------------------
ERRORS = [
    (lambda: F.conv1d(gg.ones(5), gg.ones(2, 1, 3)), RuntimeError,
     "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [5]"),
    (lambda: F.conv1d(gg.ones(3, 5), gg.ones(2, 2, 3)), RuntimeError,
     "Given groups=1, weight of size [2, 2, 3], expected input[1, 3, 5] to have 2 channels, but got 3 channels "
     "instead"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(3, 2, 3), groups=2), RuntimeError,
     "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [[3, 2, 3]] "
     "instead"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 3, 3), groups=2), RuntimeError,
     "Given groups=2, weight of size [4, 3, 3], expected input[1, 4, 5] to have 6 channels, but got 4 channels "
     "instead"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 2, 3), groups=0), RuntimeError,
     "non-positive groups is not supported"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 2, 3), groups=2, bias=gg.ones(3)), RuntimeError,
     "Given weight of size [4, 2, 3], expected bias to be 1-dimensional with 4 elements, but got bias of size [3] "
     "instead"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 2, 3, 3), groups=2), RuntimeError,
     "Expected 4-dimensional input for 4-dimensional weight [4, 2, 3, 3], but got 3-dimensional input of size "
     "[1, 4, 5] instead"),
    (lambda: F.conv1d(gg.ones(1, 4, 2), gg.ones(4, 4, 3)), RuntimeError,
     "Calculated padded input size per channel: (2). Kernel size: (3). Kernel size can't be greater than actual "
     "input size"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 4, 3), stride=0), RuntimeError,
     "non-positive stride is not supported"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 4, 3), padding=-1), RuntimeError,
     "negative padding is not supported"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 4, 3), dilation=0), RuntimeError,
     "dilation should be greater than zero, but got [1, 0]"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 4, 3), padding="same", stride=2), RuntimeError,
     "padding='same' is not supported for strided convolutions"),
    (lambda: F.conv1d(gg.ones(1, 4, 5), gg.ones(4, 4, 3), stride=(1, 2)), RuntimeError,
     "expected stride to be a single integer value or a list of 1 values to match the convolution dimensions, but "
     "got stride=[1, 2]"),
    (lambda: F.conv2d(gg.ones(1, 4, 5, 5), gg.ones(4, 4, 6, 3)), RuntimeError,
     "Calculated padded input size per channel: (5 x 5). Kernel size: (6 x 3). Kernel size can't be greater than "
     "actual input size"),
    (lambda: F.conv2d(gg.ones(1, 4, 5, 5), gg.ones(4, 4, 4, 3), stride=2, dilation=2), RuntimeError,
     "Calculated padded input size per channel: (5 x 5). Kernel size: (7 x 5)."),
    (lambda: F.conv_transpose1d(gg.ones(5), gg.ones(2, 1, 3)), RuntimeError,
     "Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of size: [5]"),
    (lambda: F.conv_transpose1d(gg.ones(3, 5), gg.ones(2, 1, 3)), RuntimeError,
     "Given transposed=1, weight of size [2, 1, 3], expected input[1, 3, 5] to have 2 channels, but got 3 channels "
     "instead"),
    (lambda: F.conv_transpose1d(gg.ones(1, 4, 5), gg.ones(4, 1, 3), stride=2, output_padding=2), RuntimeError,
     "output padding must be smaller than either stride or dilation, but got output_padding_height: 0 "
     "output_padding_width: 2 stride_height: 1 stride_width: 2 dilation_height: 1 dilation_width: 1"),
    (lambda: F.conv_transpose1d(gg.ones(1, 4, 2), gg.ones(4, 1, 3), padding=3), RuntimeError,
     "Given input size per channel: (1 x 2). Calculated output size per channel: (1 x -2). Output size is too small"),
    (lambda: F.conv_transpose1d(gg.ones(1, 4, 2), gg.ones(4, 1, 3), padding="same"), TypeError,
     "conv_transpose1d(): argument 'padding' must be tuple of ints, not str"),
    (lambda: F.conv_transpose2d(gg.ones(1, 4, 2, 2), gg.ones(4, 1, 3, 3), bias=gg.ones(2)), RuntimeError,
     "Given transposed=1, weight of size [4, 1, 3, 3], expected bias to be 1-dimensional with 1 elements, but got "
     "bias of size [2] instead"),
    (lambda: F.conv_transpose2d(gg.ones(1, 4, 2, 2), gg.ones(4, 1, 3, 3), output_padding=-1), RuntimeError,
     "negative output_padding is not supported"),
    (lambda: F.conv_transpose2d(gg.ones(1, 4, 5, 5), gg.ones(4, 4, 3, 3), dilation=(1, 0)), RuntimeError,
     "dilation should be greater than zero, but got dilation_height: 1, dilation_width: 0"),
    (lambda: F.conv_transpose2d(gg.ones(2, 2), gg.ones(4, 1, 3, 3)), RuntimeError,
     "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [2, 2]"),
    (lambda: nn.Conv1d(4, 6, 3, groups=3), ValueError, "in_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "out_channels must be divisible by groups"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=0), ValueError, "groups must be a positive integer"),
    (lambda: nn.Conv1d(4, 6, 3, padding_mode="foo"), ValueError, "padding_mode must be one of"),
    (lambda: nn.ConvTranspose1d(4, 6, 3, padding_mode="reflect"), ValueError,
     'Only "zeros" padding mode is supported for ConvTranspose1d'),
    (lambda: nn.Conv1d(4, 6, 3, padding="same", stride=2), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda: F.max_pool1d(gg.ones(5), 2), RuntimeError,
     "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:[5]"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), 0), RuntimeError,
     "max_pool1d() kernel_size must be greater than zero, but got 0"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), 2, stride=0), RuntimeError,
     "max_pool1d() stride must be greater than zero, but got 0"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), 3, padding=-1), RuntimeError,
     "max_pool1d() padding must be non-negative, but got -1"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), 2, padding=2), RuntimeError,
     "max_pool1d() padding should be at most half of kernel size, but got padding=2 and kernel_size=2"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), 2, dilation=0), RuntimeError,
     "max_pool1d() dilation must be greater than zero, but got 0"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 1), 3), RuntimeError, "max_pool1d() Invalid computed output size: 0"),
    (lambda: F.max_pool1d(gg.ones(1, 2, 5), (2, 2)), RuntimeError,
     "max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size 2"),
    (lambda: F.avg_pool1d(gg.ones(5), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking arguments for "
     "avg_pool1d)"),
    (lambda: F.avg_pool1d(gg.ones(1, 2, 5), 2, padding=2), RuntimeError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1"),
    (lambda: F.avg_pool1d(gg.ones(1, 2, 5), 0), RuntimeError, "stride should not be zero"),
    (lambda: F.avg_pool1d(gg.ones(1, 2, 1), 3), RuntimeError,
     "Given input size: (2x1x1). Calculated output size: (2x1x0). Output size is too small"),
    (lambda: F.avg_pool1d(gg.ones(1, 2, 5), (2, 2)), RuntimeError,
     "avg_pool1d() argument 'kernel_size' should contain one int (got 2)"),
    (lambda: F.avg_pool2d(gg.ones(1, 1, 5, 5), 2, divisor_override=0), RuntimeError, "divisor must be not zero"),
    (lambda: F.avg_pool2d(gg.ones(1, 1, 5, 5), 0, stride=1), RuntimeError,
     "kernel size should be greater than zero, but got kH: 0 kW: 0"),
    (lambda: F.adaptive_avg_pool1d(gg.ones(1, 1, 1, 5), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while checking arguments for "
     "adaptive_avg_pool1d)"),
    (lambda: F.adaptive_max_pool1d(gg.ones(1, 2, 5), (2, 2)), RuntimeError,
     "adaptive_max_pool1d() argument 'output_size' should contain one int (got 2)"),
    (lambda: F.adaptive_avg_pool1d(gg.ones(1, 2, 5), -1), RuntimeError,
     "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {1, -1}"),
    (lambda: F.adaptive_max_pool2d(gg.ones(5), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [5]"),
    (lambda: F.adaptive_max_pool2d(gg.ones(1, 2, 0, 5), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
     "[1, 2, 0, 5] with dimension 2 being empty"),
]


@pytest.mark.parametrize("call, error, text", ERRORS, ids=[text[:50] for _, _, text in ERRORS])
def test_bad_arguments_get_pytorchs_error_and_text(call, error, text):
    with pytest.raises(error, match=re.escape(text)):
        call()


# -- in models: eager and compiled agree, compiled convolutions chunk their patches -----------------------------------
def test_a_dcgan_generator_and_a_1d_cnn_give_the_same_gradients_compiled_and_train(assert_compiled_matches_eager):
    gg.manual_seed(0)
    generator = nn.Sequential(
        nn.ConvTranspose2d(8, 6, 4, 1, 0, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        nn.ConvTranspose2d(6, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 4, 2, 1, bias=False), nn.Tanh()).double()
    z = gg.randn(4, 8, 1, 1, dtype=gg.float64)
    target = gg.rand(4, 1, 16, 16, dtype=gg.float64) * 2 - 1
    step = assert_compiled_matches_eager(generator, lambda z, y: F.mse_loss(generator(z), y), z, target)
    assert generator(z).shape == (4, 1, 16, 16)
    opt = gg.optim.Adam(generator.parameters(), lr=0.01)
    losses = []
    for i in range(15):
        opt.zero_grad()
        loss = step(z, target) if i % 2 else F.mse_loss(generator(z), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]

    signal = nn.Sequential(
        nn.ReflectionPad1d(1), nn.Conv1d(2, 4, 3, groups=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(4, 4, 3, padding="same", padding_mode="circular"), nn.ConstantPad1d((0, 1), 0.5),
        nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), nn.ConvTranspose1d(4, 3, 3, stride=2),
        nn.AdaptiveMaxPool1d(5), nn.AdaptiveAvgPool1d(3), nn.Flatten(), nn.Linear(9, 2)).double()
    x, y = gg.randn(6, 2, 13, dtype=gg.float64), gg.tensor([0, 1, 1, 0, 1, 0])
    assert_compiled_matches_eager(signal, lambda x, y: F.cross_entropy(signal(x), y), x, y)


def test_compiled_transposed_convolutions_fold_a_chunk_of_images_at_a_time(monkeypatch, rng):
    import graphgrad.passes.patch_chunking as patch_chunking

    monkeypatch.setattr(patch_chunking, "PATCH_CHUNK_BYTES", 2000)
    x, w = rng.standard_normal((7, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    for stride, fold in ((1, "fold2d_rows"), (2, "fold2d")):
        def loss(x, w):
            return (F.conv_transpose2d(x, w, stride=stride, padding=1).tanh() ** 2).sum()
        leaves, eager = [t(x, True), t(w, True)], [t(x, True), t(w, True)]
        compiled = gg.compile(loss)
        graph = compiled.graph(*leaves, stage="batched")
        assert [n.op for n in graph.nodes].count(fold) > 1  # the forward's fold, per chunk
        compiled(*leaves).backward()
        loss(*eager).backward()
        for a, b in zip(leaves, eager):
            close(a.grad, b.grad.numpy(), 1e-10)


def test_transposed_and_grouped_convolutions_under_vmap_match_a_loop(rng):
    x, w = rng.standard_normal((3, 2, 4, 4, 3)), rng.standard_normal((4, 2, 2, 3))

    def loss(x, w):
        return (F.conv_transpose2d(x, w, stride=2, groups=2) ** 2).sum() + F.conv2d(x, w, groups=2).tanh().sum()

    gx, gw = gg.vmap(gg.grad(loss, argnums=(0, 1)), in_axes=(0, None))(x, w)
    for k in range(3):
        xt, wt = t(x[k], True), t(w, True)
        loss(xt, wt).backward()
        close(np.asarray(gx)[k], xt.grad.numpy())
        close(np.asarray(gw)[k], wt.grad.numpy())


def test_the_family_on_the_cupy_device_equals_the_cpu(cupy_device, rng):
    def fn(x, w, wt, y):
        return (F.conv1d(x, w, padding=1, groups=2).tanh().sum() + F.conv_transpose1d(x, wt, stride=2).pow(2).mean()
                + F.conv_transpose2d(y, wt.unsqueeze(2), stride=(1, 2), output_padding=(0, 1)).sin().sum()
                + F.max_pool1d(x, 3, 2, 1, ceil_mode=True).sum() + F.avg_pool1d(x, 3, 2, 1, True, False).pow(2).sum()
                + F.adaptive_avg_pool1d(x, 3).pow(2).sum() + F.adaptive_max_pool1d(x, 3).pow(2).sum()
                + F.adaptive_max_pool2d(y, (2, 3)).sum() + F.adaptive_avg_pool2d(y, (2, 3)).pow(2).sum()
                + F.pad(x, (2, 1), mode="reflect").pow(2).sum())

    arrays = [rng.standard_normal(s) for s in [(2, 4, 7), (6, 2, 3), (4, 3, 3), (2, 4, 3, 5)]]

    def run(device, mode):
        leaves = [gg.tensor(a, device=device, requires_grad=True) for a in arrays]
        loss = (fn if mode == "eager" else gg.compile(fn, fuse=mode == "fused"))(*leaves)
        loss.backward()
        return loss.item(), [leaf.grad.cpu().numpy() for leaf in leaves]

    value, grads = run("cpu", "eager")
    for mode in ("eager", "fused", "unfused"):
        got_value, got = run("cuda", mode)
        np.testing.assert_allclose(got_value, value, rtol=1e-10)
        for g, e in zip(got, grads):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=mode)
