"""F.conv3d, F.conv_transpose3d, F.max_pool3d, F.avg_pool3d, their modules and nn.BatchNorm3d, eager and
compiled: values against direct NumPy references written from the definitions, gradients by finite differences
(first and second order), PyTorch's tie rule for max pooling's gradient (the first maximum in depth, row, column
order)."""
import itertools

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from _gradcheck import check_gradients

EAGER_AND_COMPILED = pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)],
                                             ids=["eager", "compiled"])


def conv3d_reference(x, w, stride, padding, dilation, groups):
    """Cross-correlation by its definition: a sum over kernel offsets of strided input slices times weights."""
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    n, c, *size = x.shape
    oc, cg, *kernel = w.shape
    out_size = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(size, kernel, stride, dilation)]
    out = np.zeros((n, oc, *out_size))
    per_group = oc // groups
    for o in range(oc):
        g = o // per_group
        for offset in itertools.product(*(range(k) for k in kernel)):
            cut = tuple(slice(i * d, i * d + (m - 1) * st + 1, st)
                        for i, d, m, st in zip(offset, dilation, out_size, stride))
            patch = x[(slice(None), slice(g * cg, (g + 1) * cg)) + cut]  # (n, cg, *out)
            out[:, o] += np.einsum("nc...,c->n...", patch, w[(o, slice(None)) + offset])
    return out


def pool3d_reference(x, kernel, stride, padding, reduce):
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], constant_values=-np.inf if reduce == "max" else 0)
    out_size = [(s - k) // st + 1 for s, k, st in zip(x.shape[2:], kernel, stride)]
    out = np.empty(x.shape[:2] + tuple(out_size))
    for index in itertools.product(*(range(m) for m in out_size)):
        window = x[(slice(None), slice(None)) + tuple(slice(i * st, i * st + k)
                                                    for i, st, k in zip(index, stride, kernel))]
        out[(slice(None), slice(None)) + index] = window.max((2, 3, 4)) if reduce == "max" else window.mean((2, 3, 4))
    return out


@EAGER_AND_COMPILED
@pytest.mark.parametrize("stride, padding, dilation, groups", [((1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
                                                               ((2, 1, 3), (1, 0, 2), (1, 1, 1), 1),
                                                               ((1, 2, 1), (0, 1, 0), (2, 1, 2), 2)])
def test_conv3d_is_the_cross_correlation(run, stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 5, 6, 7)), rng.standard_normal((6, 4 // groups, 2, 3, 2))
    b = rng.standard_normal(6)
    got = run(lambda x, w, b: F.conv3d(x, w, b, stride, padding, dilation, groups), *map(gg.tensor, (x, w, b)))
    want = conv3d_reference(x, w, stride, padding, dilation, groups) + b.reshape(1, -1, 1, 1, 1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_conv3d_same_padding_unbatched_and_the_module():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((2, 3, 2, 3, 4))
    got = F.conv3d(gg.tensor(x), gg.tensor(w), padding="same")
    assert got.shape == (2, 4, 5, 6)
    # "same" with an even kernel: the odd padding after, as PyTorch's
    padded = np.pad(x, [(0, 0), (0, 1), (1, 1), (1, 2)])
    np.testing.assert_allclose(got.numpy(), conv3d_reference(padded[None], w, (1,) * 3, (0,) * 3, (1,) * 3, 1)[0],
                               atol=1e-12)
    conv = nn.Conv3d(3, 2, (2, 3, 4), padding=1, padding_mode="circular").double()
    wrapped = np.pad(x, [(0, 0)] + [(1, 1)] * 3, mode="wrap")
    want = conv3d_reference(wrapped[None], conv.weight.detach().numpy(), (1,) * 3, (0,) * 3, (1,) * 3, 1)[0]
    np.testing.assert_allclose(conv(gg.tensor(x)).detach().numpy(),
                               want + conv.bias.detach().numpy().reshape(-1, 1, 1, 1), atol=1e-12)
    assert conv.weight.shape == (2, 3, 2, 3, 4)
    with pytest.raises(RuntimeError) as caught:
        F.conv3d(gg.ones(2, 3, 4), gg.ones(1, 2, 1, 1, 1))
    assert str(caught.value) == ("Expected 4D (unbatched) or 5D (batched) input to conv3d, but got input of size: "
                                 "[2, 3, 4]")


def test_conv3d_gradients():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((1, 2, 2, 2, 3))
    check_gradients(lambda x, w: (F.conv3d(x, w, stride=(1, 2, 1), padding=(0, 1, 0)) * gg.tensor(v)).sum(),
                    [rng.standard_normal((1, 2, 3, 3, 4)), rng.standard_normal((2, 2, 2, 2, 2))])


@EAGER_AND_COMPILED
@pytest.mark.parametrize("reduce", ["max", "avg"])
def test_pooling_is_the_window_maximum_or_mean(run, reduce):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6, 7))
    pool = F.max_pool3d if reduce == "max" else F.avg_pool3d
    for kernel, stride, padding in (((2, 2, 2), (2, 2, 2), (0, 0, 0)), ((3, 2, 3), (2, 1, 2), (1, 1, 1))):
        got = run(lambda x: pool(x, kernel, stride, padding), gg.tensor(x))
        np.testing.assert_allclose(got.numpy(), pool3d_reference(x, kernel, stride, padding, reduce), atol=1e-12)
    counted = F.avg_pool3d(gg.ones(1, 1, 3, 3, 3, dtype=gg.float64), 3, 2, 1, count_include_pad=False)
    np.testing.assert_allclose(counted.numpy(), 1.0)  # the padding left out of the divisor
    assert nn.MaxPool3d(2)(gg.ones(2, 4, 4, 4)).shape == (2, 2, 2, 2)
    assert nn.AvgPool3d(2, ceil_mode=True)(gg.ones(1, 3, 3, 3)).shape == (1, 2, 2, 2)


def test_max_pool3d_gives_ties_gradient_to_the_first_maximum_in_depth_row_column_order():
    x = gg.zeros(1, 1, 2, 2, 2, dtype=gg.float64, requires_grad=True)  # every element ties
    F.max_pool3d(x, 2).sum().backward()
    assert x.grad.numpy().ravel().tolist() == [1.0] + [0.0] * 7
    y = gg.tensor([[[[[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]]]], dtype=gg.float64, requires_grad=True)
    F.max_pool3d(y, 2).sum().backward()  # maxima at (0, 0, 1), (1, 0, 0), (1, 1, 1): the first, in depth order
    assert y.grad.numpy().ravel().tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("pool", [lambda x: F.max_pool3d(x, 2, 1), lambda x: F.avg_pool3d(x, (2, 3, 2), 1, (1, 1, 0))])
def test_pooling_gradients(pool):
    rng = np.random.default_rng(4)
    x = rng.permutation(60).reshape(1, 1, 3, 4, 5) / 7.0  # distinct values: no ties where max is differentiated
    v = rng.standard_normal(pool(gg.tensor(x)).shape)
    check_gradients(lambda x: (pool(x) * gg.tensor(v)).sum(), [x])


def test_batch_norm3d_normalizes_each_channel_over_batch_and_volume():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 2, 3, 4)) * 4 + 1
    bn = nn.BatchNorm3d(2).double()
    out = bn(gg.tensor(x)).detach().numpy()
    mean, var = x.mean((0, 2, 3, 4), keepdims=True), x.var((0, 2, 3, 4), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean.ravel(), atol=1e-12)
    with pytest.raises(ValueError, match=r"^expected 5D input \(got 4D input\)$"):
        bn(gg.ones(2, 2, 3, 3))


@EAGER_AND_COMPILED
def test_conv_transpose3d_is_conv3d_s_input_gradient(run):
    # <conv_transpose3d(y, w), x> = <y, conv3d(x, w)> for every x, y: the adjoint, taken through conv3d's reference
    rng = np.random.default_rng(6)
    for stride, padding, dilation, groups in (((1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
                                              ((2, 1, 3), (1, 0, 1), (1, 2, 1), 2)):
        # the transposed convolution's (C_in, C_out / groups, K...) weight is the convolution's (C_out, C_in / groups)
        w = rng.standard_normal((4, 6 // groups, 2, 3, 2))
        x = rng.standard_normal((1, 6, 5, 7, 6))
        forward = conv3d_reference(x, w, stride, padding, dilation, groups)
        y = rng.standard_normal(forward.shape)
        output_padding = tuple(s - (o - 1) * st + 2 * p - d * (k - 1) - 1 for s, o, st, p, d, k in
                               zip(x.shape[2:], y.shape[2:], stride, padding, dilation, (2, 3, 2)))
        back = run(lambda y, w: F.conv_transpose3d(y, w, None, stride, padding, output_padding, groups, dilation),
                   gg.tensor(y), gg.tensor(w)).numpy()
        assert back.shape == x.shape
        np.testing.assert_allclose((back * x).sum(), (y * forward).sum(), rtol=1e-10)
    layer = nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1)
    assert layer(gg.ones(1, 4, 3, 4, 5), output_size=(6, 8, 10)).shape == (1, 2, 6, 8, 10)


def test_conv_transpose3d_gradients():
    rng = np.random.default_rng(7)
    v = rng.standard_normal((1, 2, 4, 3, 5))
    check_gradients(lambda y, w: (F.conv_transpose3d(y, w, stride=(2, 1, 2), padding=(0, 1, 0)) * gg.tensor(v)).sum(),
                    [rng.standard_normal((1, 2, 2, 3, 2)), rng.standard_normal((2, 2, 2, 3, 3))])
