"""nn names PyTorch scripts use that graphgrad lacked: cosine_embedding_loss, multilabel_margin_loss, lp_pool1d/2d/3d,
in-place activations (F.relu_, ...), *_with_indices pools, dropout3d, InstanceNorm3d, the 3-D padding modules,
adaptive 3-D pooling, LazyLinear and nn.Buffer. Values against NumPy references written here, gradients against
finite differences (eager and compiled), PyTorch 2.13's errors and reprs."""
import itertools

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F


def _t(a, grad=False):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64, requires_grad=grad)


# -- cosine_embedding_loss -----------------------------------------------------------------------------------------
def _cosine_embedding(a, b, y, margin):
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0), 0.0)


@pytest.mark.parametrize("compiled", [False, True])
def test_cosine_embedding_loss_values(compiled, rng):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    y = np.array([1, -1, 1, -1, 0])  # a target of 0 adds nothing, as PyTorch's
    for reduction, reduce in (("none", lambda v: v), ("mean", np.mean), ("sum", np.sum)):
        fn = lambda a, b: F.cosine_embedding_loss(a, b, gg.tensor(y), margin=0.2, reduction=reduction)  # noqa: E731
        got = (gg.compile(fn) if compiled else fn)(_t(a), _t(b))
        np.testing.assert_allclose(got.numpy(), reduce(_cosine_embedding(a, b, y, 0.2)), rtol=1e-12)
    got = F.cosine_embedding_loss(_t(a[0]), _t(b[0]), gg.tensor(-1))
    np.testing.assert_allclose(got.numpy(), _cosine_embedding(a[0], b[0], -1, 0.0), rtol=1e-12)
    module = nn.CosineEmbeddingLoss(margin=0.2, reduction="sum")
    np.testing.assert_allclose(module(_t(a), _t(b), gg.tensor(y)).numpy(), _cosine_embedding(a, b, y, 0.2).sum(),
                               rtol=1e-12)


def test_cosine_embedding_loss_gradients(check_gradients, rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    y = gg.tensor([1, -1, 1, -1])
    check_gradients(lambda a, b: F.cosine_embedding_loss(a, b, y, margin=-0.5), [a, b])


def test_cosine_embedding_loss_errors():
    a = gg.ones(3, 4)
    for args, message in [((a, a, gg.ones(1, 3)), "0D or 1D target tensor expected, multi-target not supported"),
                          ((a[0], a[0], gg.tensor([1, 1, 1])), "1D target tensor expects 2D input tensors, but found "
                           "inputs with sizes [4] and [4]."),
                          ((a, a, gg.tensor(1)), "0D target tensor expects 1D input tensors, but found inputs with "
                           "sizes [3, 4] and [3, 4].")]:
        with pytest.raises(RuntimeError) as info:
            F.cosine_embedding_loss(*args)
        assert str(info.value) == message
    with pytest.raises(ValueError, match="^x is not a valid value for reduction$"):
        F.cosine_embedding_loss(a, a, gg.tensor([1, 1, 1]), reduction="x")


# -- multilabel_margin_loss ----------------------------------------------------------------------------------------
def _multilabel(x, y):
    """PyTorch's definition, row by row."""
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    out = []
    for row, labels in zip(x, y):
        listed = list(itertools.takewhile(lambda v: v >= 0, labels))
        others = [i for i in range(len(row)) if i not in listed]
        out.append(sum(max(0.0, 1 - (row[j] - row[i])) for j in listed for i in others) / len(row))
    return np.array(out)


@pytest.mark.parametrize("compiled", [False, True])
def test_multilabel_margin_loss_values(compiled, rng):
    x = rng.standard_normal((3, 5))
    y = np.array([[1, 2, -1, 0, 0], [4, -1, 3, 3, 3], [0, 1, 2, 3, 4]])  # after the first -1 nothing counts
    for reduction, reduce in (("none", lambda v: v), ("mean", np.mean), ("sum", np.sum)):
        fn = lambda x: F.multilabel_margin_loss(x, gg.tensor(y), reduction=reduction)  # noqa: E731
        got = (gg.compile(fn) if compiled else fn)(_t(x))
        np.testing.assert_allclose(got.numpy(), reduce(_multilabel(x, y)), rtol=1e-12)
    one = F.multilabel_margin_loss(_t([0.1, 0.2, 0.4, 0.8]), gg.tensor([3, 0, -1, 1]), reduction="none")
    assert one.shape == () and abs(one.item() - 0.85) < 1e-12
    twice = F.multilabel_margin_loss(_t([[0.1, 0.2, 0.4, 0.8]]), gg.tensor([[1, 1, -1, 1]]))
    assert abs(twice.item() - 1.85) < 1e-12  # a class listed twice counts twice, as PyTorch's
    assert one.grad_fn is None and F.multilabel_margin_loss(
        _t(x, True), gg.tensor(y)).grad_fn.name() == "MultilabelMarginLossBackward0"
    np.testing.assert_allclose(nn.MultiLabelMarginLoss(reduction="sum")(_t(x), gg.tensor(y)).numpy(),
                               _multilabel(x, y).sum(), rtol=1e-12)


def test_multilabel_margin_loss_gradients(check_gradients, rng):
    x = rng.standard_normal((3, 4)) * 0.3  # inside the margins: every hinge term active
    y = gg.tensor([[1, 2, -1, 0], [3, -1, 0, 0], [0, 1, 2, 3]])
    check_gradients(lambda x: F.multilabel_margin_loss(x, y), [x])


def test_multilabel_margin_loss_errors():
    x = gg.tensor([[0.1, 0.2, 0.4, 0.8]])
    for target, message in [(gg.tensor([[4, 0, -1, 1]]), "argument #2 'target' is out of range"),
                            (gg.tensor([[-2, 0, -1, 1]]), "argument #2 'target' is out of range"),
                            (gg.tensor([[0, 1, 2]]), "inconsistent target size: [1, 3] for input of size: [1, 4]"),
                            (gg.tensor([[0.0, 1.0, 2.0, 3.0]]), "expected scalar type Long but found Float")]:
        with pytest.raises(RuntimeError) as info:
            F.multilabel_margin_loss(x, target)
        assert str(info.value) == message
    with pytest.raises(RuntimeError, match=r"out of range"):  # compiled: the check is a line of generated code
        gg.compile(lambda x: F.multilabel_margin_loss(x, gg.tensor([[4, 0, -1, 1]])))(x)
    with pytest.raises(RuntimeError, match=r"^Expected non-empty vector or matrix with optional 0-dim batch size, "
                                           r"but got: \[1, 1, 4\]$"):
        F.multilabel_margin_loss(x.unsqueeze(0), gg.tensor([[[3, 0, -1, 1]]]))


# -- power-average pooling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compiled", [False, True])
def test_lp_pools_are_window_norms(compiled, rng):
    x = rng.uniform(0.5, 2.0, (2, 3, 6))
    fn = (lambda t: F.lp_pool1d(t, 3.0, 2))
    fn = gg.compile(fn) if compiled else fn
    windows = x.reshape(2, 3, 3, 2)
    np.testing.assert_allclose(fn(_t(x)).numpy(), (windows ** 3).sum(-1) ** (1 / 3), rtol=1e-12)
    np.testing.assert_allclose(F.lp_pool1d(_t(x), 2, 3, stride=1).numpy(),
                               np.sqrt((np.lib.stride_tricks.sliding_window_view(x, 3, axis=2) ** 2).sum(-1)),
                               rtol=1e-12)
    image = rng.uniform(0.5, 2.0, (1, 2, 4, 4))
    blocks = image.reshape(1, 2, 2, 2, 2, 2)
    np.testing.assert_allclose(F.lp_pool2d(_t(image), 2, 2).numpy(), np.sqrt((blocks ** 2).sum((3, 5))), rtol=1e-12)
    np.testing.assert_allclose(F.lp_pool2d(_t(-image), float("inf"), 2).numpy(), blocks.max((3, 5)), rtol=1e-12)
    volume = rng.uniform(0.5, 2.0, (1, 2, 2, 2))
    np.testing.assert_allclose(F.lp_pool3d(_t(volume), 1.5, 2).numpy(),
                               ((volume ** 1.5).sum((1, 2, 3)) ** (1 / 1.5)).reshape(1, 1, 1, 1), rtol=1e-12)


def test_lp_pool_gradients_and_modules(check_gradients, rng):
    x = rng.uniform(0.5, 2.0, (1, 2, 4, 4))
    check_gradients(lambda t: F.lp_pool2d(t, 3.0, 2).sum(), [x])
    check_gradients(lambda t: F.lp_pool1d(t, 2.0, 2, 1).sum(), [x[0]])
    assert repr(nn.LPPool2d(2, 3)) == "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    assert repr(nn.LPPool1d(1.5, 3, 2, True)) == "LPPool1d(norm_type=1.5, kernel_size=3, stride=2, ceil_mode=True)"
    np.testing.assert_allclose(nn.LPPool2d(2, 2)(_t(x)).numpy(), F.lp_pool2d(_t(x), 2.0, 2).numpy(), rtol=1e-15)
    # (C, D, H, W) = (1, 2, 4, 4): one depth window, 2 x 2 windows in the plane
    np.testing.assert_allclose(nn.LPPool3d(1, 2)(_t(x)).numpy(), x.reshape(1, 1, 2, 2, 2, 2, 2).sum((2, 4, 6)),
                               rtol=1e-12)


# -- in-place activations ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,args,reference", [
    ("relu", (), lambda x: np.maximum(x, 0)),
    ("elu", (0.5,), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("leaky_relu", (0.2,), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("hardtanh", (-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("selu", (), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    ("celu", (2.0,), lambda x: np.where(x > 0, x, 2 * np.expm1(x / 2))),
    ("threshold", (0.3, -7.0), lambda x: np.where(x > 0.3, x, -7.0)),
    ("rrelu", (0.1, 0.3), lambda x: np.where(x >= 0, x, 0.2 * x)),  # eval mode: the mean slope
])
def test_in_place_activations(name, args, reference, rng):
    a = rng.standard_normal(6)
    x = _t(a)
    out = getattr(F, name + "_")(x, *args)
    assert out is x and x._version == 1
    np.testing.assert_allclose(x.numpy(), reference(a), rtol=1e-12)
    leaf = _t(a, grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place "
                                           "operation."):
        getattr(F, name + "_")(leaf, *args)
    y = leaf * 1.0  # through a non-leaf: the in-place result's gradient is the activation's
    getattr(F, name + "_")(y, *args).sum().backward()
    eps = 1e-6
    numeric = (reference(a + eps) - reference(a - eps)) / (2 * eps)
    np.testing.assert_allclose(leaf.grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


# -- pools returning indices ---------------------------------------------------------------------------------------
def test_with_indices_pools_return_the_maxima_and_their_places(rng):
    line = rng.standard_normal((2, 3, 8))
    values, indices = F.max_pool1d_with_indices(_t(line), 2)
    np.testing.assert_array_equal(values.numpy(), line.reshape(2, 3, 4, 2).max(-1))
    np.testing.assert_array_equal(indices.numpy(), line.reshape(2, 3, 4, 2).argmax(-1) + 2 * np.arange(4))
    image = rng.standard_normal((1, 2, 4, 4))
    values, indices = F.max_pool2d_with_indices(_t(image), 2)
    flat = image.reshape(1, 2, 16)
    np.testing.assert_array_equal(np.take_along_axis(flat, indices.numpy().reshape(1, 2, 4), 2).reshape(1, 2, 2, 2),
                                  values.numpy())
    np.testing.assert_array_equal(values.numpy(), image.reshape(1, 2, 2, 2, 2, 2).max((3, 5)))
    values, indices = F.adaptive_max_pool1d_with_indices(_t(line), 3)
    for j, (lo, hi) in enumerate([(0, 3), (2, 6), (5, 8)]):  # PyTorch's windows floor(j L/n) to ceil((j+1) L/n)
        np.testing.assert_array_equal(values.numpy()[..., j], line[..., lo:hi].max(-1))
        np.testing.assert_array_equal(indices.numpy()[..., j], lo + line[..., lo:hi].argmax(-1))
    values, indices = F.adaptive_max_pool2d_with_indices(_t(image), 1)
    np.testing.assert_array_equal(values.numpy().ravel(), flat.max(-1).ravel())
    np.testing.assert_array_equal(indices.numpy().ravel(), flat.argmax(-1).ravel())


# -- dropout3d, InstanceNorm3d -------------------------------------------------------------------------------------
def test_dropout3d_zeroes_whole_channels():
    gg.manual_seed(3)
    out = F.dropout3d(gg.ones(4, 16, 2, 2, 2), 0.25).numpy()
    per_channel = out.reshape(4, 16, 8)
    assert (per_channel == per_channel[..., :1]).all() and set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert 0 < (per_channel[..., 0] == 0).sum() < 64
    unbatched = F.dropout3d(gg.ones(16, 2, 2, 2), 0.5).numpy().reshape(16, 8)
    assert (unbatched == unbatched[:, :1]).all()
    np.testing.assert_array_equal(F.dropout3d(gg.ones(2, 3, 2, 2, 2), 0.5, training=False).numpy(), 1.0)
    with pytest.warns(UserWarning, match="dropout3d: Received a 3-D input to dropout3d, which is deprecated"):
        F.dropout3d(gg.ones(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="^dropout probability has to be between 0 and 1, but got 1.5$"):
        F.dropout3d(gg.ones(2, 3, 4, 5, 6), 1.5)
    assert repr(nn.Dropout3d(0.2)) == "Dropout3d(p=0.2, inplace=False)"
    np.testing.assert_array_equal(nn.Dropout3d().eval()(gg.ones(1, 2, 1, 1, 1)).numpy(), 1.0)


def test_instance_norm3d(rng):
    x = rng.standard_normal((2, 3, 2, 3, 4))
    flat = x.reshape(2, 3, -1)
    expected = ((flat - flat.mean(-1, keepdims=True)) / np.sqrt(flat.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(nn.InstanceNorm3d(3)(_t(x)).numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(nn.InstanceNorm3d(3)(_t(x[0])).numpy(), expected[0], rtol=1e-10)
    assert repr(nn.InstanceNorm3d(3)) == ("InstanceNorm3d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
                                         "track_running_stats=False)")
    with pytest.raises(ValueError, match=r"^expected 4D or 5D input \(got 3D input\)$"):
        nn.InstanceNorm3d(3)(gg.ones(3, 2, 2))


# -- 3-D padding modules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module,np_mode", [(nn.ReflectionPad3d, "reflect"), (nn.ReplicationPad3d, "edge"),
                                            (nn.CircularPad3d, "wrap")])
def test_mode_pads_3d(module, np_mode, rng):
    x = rng.standard_normal((1, 2, 3, 4, 5))
    pad = (1, 2, 2, 1, 0, 2)  # (left, right, top, bottom, front, back)
    widths = [(0, 0), (0, 0), (pad[4], pad[5]), (pad[2], pad[3]), (pad[0], pad[1])]
    np.testing.assert_array_equal(module(pad)(_t(x)).numpy(), np.pad(x, widths, mode=np_mode))
    np.testing.assert_array_equal(gg.compile(module(pad))(_t(x[0])).numpy(), np.pad(x[0], widths[1:], mode=np_mode))
    assert repr(module(1)) == f"{module.__name__}((1, 1, 1, 1, 1, 1))"


def test_constant_pads_3d(rng):
    x = rng.standard_normal((2, 1, 2, 3))
    widths = [(0, 0), (5, 6), (3, 4), (1, 2)]
    np.testing.assert_array_equal(nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 2.5)(_t(x)).numpy(),
                                  np.pad(x, widths, constant_values=2.5))
    np.testing.assert_array_equal(nn.ZeroPad3d((1, 2, 3, 4, 5, 6))(_t(x)).numpy(), np.pad(x, widths))
    assert repr(nn.ZeroPad3d(1)) == "ZeroPad3d((1, 1, 1, 1, 1, 1))"
    assert repr(nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 2.0)) == "ConstantPad3d(padding=(1, 2, 3, 4, 5, 6), value=2.0)"
    with pytest.raises(ValueError, match=r"^expected 4D or 5D input \(got 3D input\)$"):
        nn.CircularPad3d(1)(gg.ones(2, 3, 4))


# -- adaptive 3-D pooling ------------------------------------------------------------------------------------------
def _windows(size, count):
    return [(i * size // count, -(-(i + 1) * size // count)) for i in range(count)]


def _adaptive3d(x, out, reduce):
    d, h, w = x.shape[-3:]
    result = np.empty(x.shape[:-3] + tuple(out))
    for (i, (d0, d1)), (j, (h0, h1)), (k, (w0, w1)) in itertools.product(
            enumerate(_windows(d, out[0])), enumerate(_windows(h, out[1])), enumerate(_windows(w, out[2]))):
        result[..., i, j, k] = reduce(x[..., d0:d1, h0:h1, w0:w1].reshape(*x.shape[:-3], -1))
    return result


@pytest.mark.parametrize("out", [(2, 3, 2), (1, 1, 1), (5, 6, 7), (3, 4, 5)])
def test_adaptive_avg_pool3d(out, rng):
    x = rng.standard_normal((2, 2, 5, 6, 7))
    expected = _adaptive3d(x, out, lambda v: v.mean(-1))
    np.testing.assert_allclose(F.adaptive_avg_pool3d(_t(x), out).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(gg.compile(nn.AdaptiveAvgPool3d(out))(_t(x[0])).numpy(), expected[0], rtol=1e-12)
    keep = F.adaptive_avg_pool3d(_t(x), (out[0], None, out[2]))
    assert keep.shape == (2, 2, out[0], 6, out[2])


@pytest.mark.parametrize("out", [(2, 3, 2), (1, 1, 1), (3, 4, 5)])
def test_adaptive_max_pool3d(out, rng):
    x = rng.standard_normal((2, 2, 5, 6, 7))
    values, indices = F.adaptive_max_pool3d(_t(x), out, return_indices=True)
    np.testing.assert_array_equal(values.numpy(), _adaptive3d(x, out, lambda v: v.max(-1)))
    flat = x.reshape(2, 2, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, indices.numpy().reshape(2, 2, -1), 2),
                                  values.numpy().reshape(2, 2, -1))
    np.testing.assert_array_equal(nn.AdaptiveMaxPool3d(out)(_t(x[0])).numpy(), values.numpy()[0])
    np.testing.assert_array_equal(F.adaptive_max_pool3d_with_indices(_t(x), out)[1].numpy(), indices.numpy())


def test_adaptive_pool3d_gradients(check_gradients, rng):
    x = rng.standard_normal((1, 5, 4, 3))
    check_gradients(lambda t: (F.adaptive_avg_pool3d(t, (2, 3, 2)) ** 2).sum(), [x])
    check_gradients(lambda t: (F.adaptive_max_pool3d(t, (2, 3, 2)) ** 2).sum(), [x])


def test_adaptive_pool3d_errors():
    x = gg.ones(1, 2, 5, 6, 7)
    for fn, args, message in [
            (F.adaptive_avg_pool3d, (x[0, 0], 2), "adaptive_avg_pool3d(): Expected 4D or 5D tensor, but got [5, 6, 7]"),
            (F.adaptive_max_pool3d, (x[0, 0], 2), "adaptive_max_pool3d(): Expected 4D or 5D tensor, but got: "
             "[5, 6, 7]"),
            (F.adaptive_avg_pool3d, (x, (2, 2)), "adaptive_avg_pool3d: output_size must be 3"),
            (F.adaptive_max_pool3d, (x, (2, 2)), "adaptive_max_pool3d(): internal error: output_size.size() must "
             "be 3"),
            (F.adaptive_avg_pool3d, (x, (2, -1, 2)), "adaptive_avg_pool3d: elements of output_size must be greater "
             "than or equal to 0 but received {2, -1,2}"),
            (F.adaptive_avg_pool3d, (gg.ones(1, 2, 0, 3, 3), 2), "adaptive_avg_pool3d(): Expected input to have "
             "non-zero size for non-batch dimensions, but input has sizes [1, 2, 0, 3, 3] with dimension 2 being "
             "empty")]:
        with pytest.raises(RuntimeError) as info:
            fn(*args)
        assert str(info.value) == message
    assert repr(nn.AdaptiveAvgPool3d((2, None, 1))) == "AdaptiveAvgPool3d(output_size=(2, None, 1))"
    assert F.adaptive_avg_pool3d(x, 2).grad_fn is None
    assert F.adaptive_avg_pool3d(_t(np.ones((1, 2, 2, 2)), True), 1).grad_fn.name() == "AdaptiveAvgPool3DBackward0"


# -- LazyLinear, UninitializedParameter, Buffer ----------------------------------------------------------------------
def test_lazy_linear_infers_in_features_and_becomes_linear():
    layer = nn.LazyLinear(3)
    assert repr(layer) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert isinstance(layer, nn.Linear) and isinstance(layer.weight, nn.UninitializedParameter)
    assert repr(layer.weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="^Can't access the shape of an uninitialized parameter or buffer"):
        layer.weight.shape
    with pytest.raises(ValueError, match=r"^Attempted to use an uninitialized parameter in <method 'numel' of "):
        layer.weight.numel()
    assert list(layer.state_dict()) == ["weight", "bias"]
    optimizer = gg.optim.SGD(layer.parameters(), lr=0.5)  # made before the first call: holds the same objects
    gg.manual_seed(0)
    x = gg.ones(2, 4)
    out = layer(x)
    assert type(layer) is nn.Linear and repr(layer) == "Linear(in_features=4, out_features=3, bias=True)"
    assert type(layer.weight) is nn.Parameter and layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    bound = 1 / np.sqrt(4)  # Linear's initialisation for in_features 4
    assert np.abs(layer.weight.detach().numpy()).max() <= bound and np.abs(layer.bias.detach().numpy()).max() <= bound
    np.testing.assert_allclose(out.detach().numpy(), x.numpy() @ layer.weight.detach().numpy().T
                               + layer.bias.detach().numpy(), rtol=1e-6)
    before = layer.weight.detach().numpy().copy()
    out.sum().backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.detach().numpy(), before - 0.5 * 2.0, rtol=1e-6)  # d(sum)/dW = 2 each
    assert optimizer.param_groups[0]["params"][0] is layer.weight


def test_lazy_linear_options_and_loading():
    layer = nn.LazyLinear(2, bias=False, dtype=gg.float64)
    assert layer.bias is None and repr(layer) == "LazyLinear(in_features=0, out_features=2, bias=False)"
    assert layer(gg.ones(5, dtype=gg.float64)).shape == (2,) and layer.weight.dtype == gg.float64
    loaded = nn.LazyLinear(3)
    loaded.load_state_dict({"weight": gg.ones(3, 5), "bias": gg.zeros(3)})  # takes the checkpoint's shapes
    assert loaded.weight.shape == (3, 5)
    np.testing.assert_array_equal(loaded(gg.ones(1, 5)).detach().numpy(), [[5.0, 5.0, 5.0]])
    assert repr(loaded) == "Linear(in_features=5, out_features=3, bias=True)"
    lazy = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match="must run eagerly: call the module once on a dummy batch"):
        gg.compile(lambda x: lazy(x))(gg.ones(2, 4))
    warmed = nn.LazyLinear(3)
    warmed(gg.ones(1, 4))
    np.testing.assert_allclose(gg.compile(lambda x: warmed(x))(gg.ones(2, 4)).detach().numpy(),
                               warmed(gg.ones(2, 4)).detach().numpy(), rtol=1e-6)


def test_buffer_assignment_registers_a_buffer():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Buffer(gg.tensor([2.0]))
            self.cache = nn.Buffer(gg.zeros(3), persistent=False)
            self.plain = gg.ones(1)  # a plain tensor is no buffer

    m = Scaled()
    assert [name for name, _ in m.named_buffers()] == ["scale", "cache"]
    assert list(m.state_dict()) == ["scale"]
    assert isinstance(m.scale, nn.Buffer) and not isinstance(m.plain, nn.Buffer) and issubclass(nn.Buffer, gg.Tensor)
    source = gg.tensor([1.0], requires_grad=True)
    marked = nn.Buffer(source)
    assert marked.requires_grad and marked.grad_fn is None and marked.data_ptr() == source.data_ptr()
    m.scale = nn.Buffer(gg.tensor([3.0]), persistent=False)  # assigned again: its persistence changes
    assert list(m.state_dict()) == [] and m.scale.item() == 3.0
    assert nn.Buffer().shape == (0,)


@pytest.mark.parametrize("pool, x, size, message", [
    (F.adaptive_avg_pool2d, (1, 2, 3, 4), (1, 2, 3), "adaptive_avg_pool2d: output_size must be 2"),
    (F.adaptive_max_pool2d, (1, 2, 3, 4), (1, 2, 3),
     "adaptive_max_pool2d(): internal error: output_size.size() must be 2"),
    (F.adaptive_avg_pool3d, (1, 2, 3, 4, 5), (1, 2), "adaptive_avg_pool3d: output_size must be 3"),
    (F.adaptive_avg_pool2d, (1, 2, 3, 4), (1, -2),
     "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {1, -2}"),
    (F.adaptive_avg_pool3d, (1, 2, 3, 4, 5), (1, 2, -3), "adaptive_avg_pool3d: elements of output_size must be greater "
                                                         "than or equal to 0 but received {1, 2,-3}"),
])
def test_adaptive_pools_check_the_output_size_in_pytorch_s_words(pool, x, size, message):
    # (PyTorch 2.13's texts; its 2-D avg kernel's "must be 2" was the max kernel's "internal error" one here)
    with pytest.raises(RuntimeError) as caught:
        pool(gg.ones(*x), size)
    assert str(caught.value) == message
