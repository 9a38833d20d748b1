"""torch.X names PyTorch scripts call that graphgrad lacked: nn functions at the top level with ATen's signatures
(torch.embedding(weight, input), torch.batch_norm's order, torch.dropout(input, p, train), torch.max_pool2d's
empty stride), shape helpers (hsplit, split_with_sizes, broadcast_shapes, diagflat), dtype questions (can_cast,
is_complex), torch.poisson, and Tensor.positive/hardshrink/get_device/data_ptr/H/mH. Values against closed forms or
NumPy, eager and compiled; errors are PyTorch 2.13's texts."""
import numpy as np
import pytest

import graphgrad as torch
import graphgrad.nn.functional as F


def _t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _both(fn, *args):
    """fn's value eagerly and compiled, which must agree."""
    eager = fn(*args)
    compiled = torch.compile(fn)(*args)
    np.testing.assert_allclose(compiled.detach().numpy(), eager.detach().numpy(), rtol=1e-12, atol=1e-15)
    return eager.detach().numpy()


def test_direct_aliases_are_nn_functions():
    for name in ("cosine_similarity", "pairwise_distance", "pdist", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "avg_pool1d", "prelu", "pixel_shuffle", "pixel_unshuffle",
                 "channel_shuffle", "rms_norm"):
        assert getattr(torch, name) is getattr(F, name), name
    assert torch.selu is F.selu and torch.celu is F.celu and torch.hardshrink is F.hardshrink


def test_conv1d_and_cosine_similarity_values(rng):
    x, w = rng.standard_normal((1, 1, 6)), rng.standard_normal((1, 1, 3))
    expected = np.correlate(x[0, 0], w[0, 0], mode="valid")
    np.testing.assert_allclose(_both(lambda x, w: torch.conv1d(x, w), _t(x), _t(w))[0, 0], expected, rtol=1e-12)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(_both(lambda a, b: torch.cosine_similarity(a, b), _t(a), _t(b)), cos, rtol=1e-12)
    np.testing.assert_allclose(torch.pairwise_distance(_t(a), _t(b)).numpy(),
                               np.linalg.norm(a - b + 1e-6, axis=1), rtol=1e-12)


def test_threshold_selu_celu_hardshrink_values():
    x = np.array([-1.0, 0.25, 0.5, 2.0])
    np.testing.assert_array_equal(torch.threshold(_t(x), 0.5, -3.0).numpy(), [-3.0, -3.0, -3.0, 2.0])
    scale, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    np.testing.assert_allclose(torch.selu(_t(x)).numpy(), scale * np.where(x > 0, x, alpha * np.expm1(x)), rtol=1e-12)
    np.testing.assert_allclose(torch.celu(_t(x), 2.0).numpy(), np.where(x > 0, x, 2 * np.expm1(x / 2)), rtol=1e-12)
    np.testing.assert_array_equal(_t(x).hardshrink(0.4).numpy(), [-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(torch.hardshrink(_t(x)).numpy(), [-1.0, 0.0, 0.0, 2.0])


def test_dropout_takes_train_positionally():
    x = torch.ones(1000, dtype=torch.float64)
    np.testing.assert_array_equal(torch.dropout(x, 0.5, False).numpy(), np.ones(1000))
    kept = torch.dropout(x, 0.25, True).numpy()
    assert set(np.unique(kept)) <= {0.0, 1 / 0.75} and 0.6 < (kept > 0).mean() < 0.9
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'train'"):
        torch.dropout(x, 0.5)


def test_norms_with_atens_argument_order(rng):
    x = rng.standard_normal((6, 3))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    normed = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    running_mean, running_var = _t(np.zeros(3)), _t(np.ones(3))
    got = torch.batch_norm(_t(x), _t(w), _t(b), running_mean, running_var, True, 0.5, 1e-5, True)
    np.testing.assert_allclose(got.numpy(), normed * w + b, rtol=1e-10)
    np.testing.assert_allclose(running_mean.numpy(), 0.5 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(running_var.numpy(), 0.5 + 0.5 * x.var(0, ddof=1), rtol=1e-12)
    rows = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(_both(lambda x, w, b: torch.layer_norm(x, [3], w, b), _t(x), _t(w), _t(b)),
                               rows * w + b, rtol=1e-10)
    images = rng.standard_normal((2, 4, 5))
    per_channel = (images - images.mean(2, keepdims=True)) / np.sqrt(images.var(2, keepdims=True) + 1e-5)
    got = torch.instance_norm(_t(images), _t(np.full(4, 2.0)), None, None, None, True, 0.1, 1e-5, False)
    np.testing.assert_allclose(got.numpy(), 2 * per_channel, rtol=1e-10)
    groups = images.reshape(2, 2, 10)
    grouped = ((groups - groups.mean(2, keepdims=True)) / np.sqrt(groups.var(2, keepdims=True) + 1e-5))
    np.testing.assert_allclose(torch.group_norm(_t(images), 2).numpy(), grouped.reshape(2, 4, 5), rtol=1e-10)


def test_batch_norm_gradients(check_gradients, rng):
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    check_gradients(lambda x, w, b: torch.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, True).pow(3).sum(),
                    [x, w, b])


def test_max_pools_default_stride_is_the_kernel(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    expected = x.reshape(1, 1, 2, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(_both(lambda x: torch.max_pool2d(x, 2), _t(x)), expected)
    np.testing.assert_array_equal(torch.max_pool2d(_t(x), [2, 2], []).numpy(), expected)
    line = rng.standard_normal((1, 1, 6))
    np.testing.assert_array_equal(torch.max_pool1d(_t(line), 3).numpy(), line.reshape(1, 1, 2, 3).max(-1))
    np.testing.assert_array_equal(torch.max_pool1d(_t(line), 3, 1).numpy(),
                                  np.lib.stride_tricks.sliding_window_view(line, 3, axis=2).max(-1))
    cube = rng.standard_normal((1, 1, 2, 2, 2))
    np.testing.assert_array_equal(torch.max_pool3d(_t(cube), 2).numpy(), cube.max(axis=(2, 3, 4), keepdims=True))


def test_embedding_takes_the_weight_first(rng):
    w = rng.standard_normal((4, 2))
    idx = torch.tensor([0, 1, 1, 3])
    np.testing.assert_array_equal(_both(lambda w: torch.embedding(w, idx), _t(w)), w[[0, 1, 1, 3]])
    weight = _t(w, grad=True)
    torch.embedding(weight, idx, 1).sum().backward()  # padding_idx=1: no gradient for row 1
    np.testing.assert_array_equal(weight.grad.numpy(), [[1, 1], [0, 0], [0, 0], [1, 1]])
    weight.grad = None
    torch.embedding(weight, idx, -1, True).sum().backward()  # -1: no padding; counts scale each row's gradient
    np.testing.assert_array_equal(weight.grad.numpy(), [[1, 1], [1, 1], [0, 0], [1, 1]])
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        torch.embedding(weight, torch.tensor([0.0]))
    with pytest.raises(NotImplementedError, match="no sparse tensors"):
        torch.embedding(weight, idx, sparse=True)


def test_positive_is_its_input():
    x = torch.tensor([1.0, -2.0])
    assert torch.positive(x) is x and x.positive() is x
    np.testing.assert_array_equal(torch.compile(lambda x: torch.positive(x) * 2)(x).numpy(), [2.0, -4.0])
    with pytest.raises(RuntimeError, match=r"^The `\+` operator, on a bool tensor is not supported\.$"):
        torch.positive(torch.tensor([True]))


def test_vdot(check_gradients, rng):
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(_both(torch.vdot, _t(a), _t(b)), a @ b, rtol=1e-12)
    check_gradients(lambda a, b: torch.vdot(a, b) ** 2, [a, b])
    for x, y, message in [(torch.ones(2, 2), torch.ones(2, 2), "1D tensors expected, but got 2D and 2D tensors"),
                          (torch.ones(3), torch.ones(4), "inconsistent tensor size, expected tensor [3] and src [4] to "
                           "have the same number of elements, but got 3 and 4 elements respectively"),
                          (torch.ones(3), torch.ones(3, dtype=torch.float64),
                           "dot : expected both vectors to have same dtype, but found Float and Double")]:
        with pytest.raises(RuntimeError) as info:
            torch.vdot(x, y)
        assert str(info.value) == message
    with pytest.raises(TypeError, match=r"^vdot\(\): argument 'other' \(position 2\) must be Tensor, not int$"):
        torch.vdot(torch.ones(3), 2)


def test_diagflat(check_gradients, rng):
    x = rng.standard_normal((2, 2))
    for offset in (-1, 0, 2):
        np.testing.assert_array_equal(_both(lambda x: torch.diagflat(x, offset), _t(x)), np.diagflat(x, offset))
    np.testing.assert_array_equal(_t(x).diagflat().numpy(), np.diagflat(x))
    np.testing.assert_array_equal(torch.diagflat(torch.tensor(3.0)).numpy(), [[3.0]])
    check_gradients(lambda x: (torch.diagflat(x, 1) ** 2).sum(), [x])


def test_broadcast_shapes():
    assert torch.broadcast_shapes((2,), (3, 1), (1, 1, 1)) == torch.Size([1, 3, 2])
    assert torch.broadcast_shapes((2, 1), 3) == (2, 3) and torch.broadcast_shapes() == torch.Size([])
    assert torch.broadcast_shapes((0,), (1,)) == (0,) and isinstance(torch.broadcast_shapes((1,)), torch.Size)
    with pytest.raises(RuntimeError) as info:
        torch.broadcast_shapes((2, 1), (3,), (4,))
    assert str(info.value) == ("Attempting to broadcast a dimension of length 4 at -1! Mismatching argument at index 2 "
                               "had (4,); but expected shape should be broadcastable to [2, 3]")
    with pytest.raises(ValueError, match="^Attempting to broadcast a dimension with negative length!$"):
        torch.broadcast_shapes((1,), (-1,))


def test_hsplit_vsplit_dsplit(rng):
    x = rng.standard_normal((2, 3, 4))
    pieces = torch.hsplit(_t(x), 3)
    assert isinstance(pieces, tuple) and [p.shape for p in pieces] == [(2, 1, 4)] * 3
    for name, cut, axis in (("hsplit", [1, 5], 1), ("vsplit", [1], 0), ("dsplit", 2, 2)):
        got = getattr(torch, name)(_t(x), cut)
        want = np.split(x, cut if isinstance(cut, int) else [min(c, x.shape[axis]) for c in cut], axis=axis)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    assert [p.shape for p in torch.hsplit(torch.arange(6.0), 2)] == [(3,), (3,)]
    assert [p.shape for p in _t(x).dsplit([1])] == [(2, 3, 1), (2, 3, 3)]
    for fn, arg, message in [
            (lambda: torch.hsplit(_t(x), 2), None, "torch.hsplit attempted to split along dimension 1, but the size of "
             "the dimension 3 is not divisible by the split_size 2!"),
            (lambda: torch.vsplit(torch.arange(6.0), 2), None, "torch.vsplit requires a tensor with at least 2 "
             "dimension, but got a tensor with 1 dimensions!"),
            (lambda: torch.dsplit(_t(x), 3), None, "torch.dsplit attempted to split along dimension 2, but the size "
             "of the dimension 4 is not divisible by the split_size 3!"),
            (lambda: torch.hsplit(torch.tensor(1.0), 1), None, "torch.hsplit requires a tensor with at least 1 "
             "dimension, but got a tensor with 0 dimensions!")]:
        with pytest.raises(RuntimeError) as info:
            fn()
        assert str(info.value) == message
    with pytest.raises(TypeError, match=r"^hsplit\(\) received an invalid combination of arguments - got "
                                        r"\(Tensor, float\)"):
        torch.hsplit(_t(x), 1.5)


def test_split_with_sizes(rng):
    x = rng.standard_normal((2, 3, 4))
    got = torch.split_with_sizes(_t(x), [1, 3], dim=2)
    assert isinstance(got, tuple)
    np.testing.assert_array_equal(got[0].numpy(), x[:, :, :1])
    np.testing.assert_array_equal(got[1].numpy(), x[:, :, 1:])
    assert [p.shape for p in _t(x).split_with_sizes([2, 1], 1)] == [(2, 2, 4), (2, 1, 4)]
    with pytest.raises(RuntimeError) as info:
        torch.split_with_sizes(_t(x), [1, 2], dim=2)
    assert str(info.value) == ("split_with_sizes expects split_sizes to sum exactly to 4 (input tensor's size at "
                               "dimension 2), but got split_sizes=[1, 2]")
    with pytest.raises(RuntimeError, match=r"^split_with_sizes expects split_sizes have only non-negative entries, "
                                           r"but got split_sizes=\[1, -1, 4\]$"):
        torch.split_with_sizes(_t(x), [1, -1, 4], dim=2)
    with pytest.raises(TypeError, match=r"^split_with_sizes\(\): argument 'split_sizes' \(position 2\) must be tuple "
                                        r"of ints, not int$"):
        torch.split_with_sizes(_t(x), 2)


def test_can_cast_follows_pytorchs_categories():
    table = {(torch.float32, torch.int64): False, (torch.int64, torch.float32): True,
             (torch.float64, torch.float32): True, (torch.int64, torch.bool): False,
             (torch.bool, torch.int64): True, (torch.float32, torch.bool): False, (torch.bool, torch.bool): True,
             (torch.int64, torch.int64): True, (torch.bool, torch.float64): True}
    for (a, b), expected in table.items():
        assert torch.can_cast(a, b) is expected, (a, b)
    with pytest.raises(TypeError, match=r"^can_cast\(\): argument 'from_' \(position 1\) must be torch.dtype, not "
                                        r"int$"):
        torch.can_cast(1, torch.float32)


def test_detach_and_is_complex():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = torch.detach(x)
    assert not d.requires_grad and d.data_ptr() == x.data_ptr()
    assert torch.is_complex(x) is False and x.is_complex() is False
    with pytest.raises(TypeError, match=r"^detach\(\): argument 'input' \(position 1\) must be Tensor, not list$"):
        torch.detach([1])
    with pytest.raises(TypeError, match=r"^is_complex\(\): argument 'input' \(position 1\) must be Tensor, not "
                                        r"list$"):
        torch.is_complex([1])


def test_get_device_and_data_ptr():
    x = torch.zeros(2, 3)
    assert x.get_device() == -1
    assert x.data_ptr() == x.numpy().__array_interface__["data"][0]
    assert x[1].data_ptr() - x.data_ptr() == 3 * 4 and x[:, 1].data_ptr() - x.data_ptr() == 4
    assert torch.zeros(0).data_ptr() == 0
    with pytest.raises(RuntimeError, match="data_ptr.. inside a compiled function"):
        torch.compile(lambda t: t * t.data_ptr())(x)


def test_H_and_mH_are_transposes_of_real_tensors(rng):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(_t(x[0]).H.numpy(), x[0].T)
    np.testing.assert_array_equal(_both(lambda t: t.mH * 1.0, _t(x)), np.swapaxes(x, -1, -2))
    for fn, message in [(lambda: _t(x).H, "tensor.H is only supported on matrices (2-D tensors). Got 3-D tensor. "
                         "For batches of matrices, consider using tensor.mH"),
                        (lambda: torch.ones(3).H, "tensor.H is only supported on matrices (2-D tensors). Got 1-D "
                         "tensor."),
                        (lambda: torch.ones(3).mH, "tensor.mH is only supported on matrices or batches of matrices. "
                         "Got 1-D tensor."),
                        (lambda: torch.ones(3).mT, "tensor.mT is only supported on matrices or batches of matrices. "
                         "Got 1-D tensor.")]:
        with pytest.raises(RuntimeError) as info:
            fn()
        assert str(info.value) == message
    with pytest.warns(UserWarning, match="Tensor.mT is deprecated on 0-D tensors"):
        assert torch.tensor(2.0).mT.item() == 2.0
    with pytest.warns(UserWarning, match="Tensor.H is deprecated on 0-D tensors"):
        assert torch.tensor(2.0).H.item() == 2.0


def test_poisson_samples_are_seeded_and_have_the_rates_mean():
    rates = torch.tensor([0.0, 0.5, 3.0, 40.0], dtype=torch.float64)
    torch.manual_seed(5)
    first = torch.poisson(rates)
    torch.manual_seed(5)
    np.testing.assert_array_equal(torch.poisson(rates).numpy(), first.numpy())
    assert first.dtype == torch.float64 and first[0].item() == 0.0
    compiled = torch.compile(lambda r: torch.poisson(r))
    torch.manual_seed(5)
    np.testing.assert_array_equal(compiled(rates).numpy(), first.numpy())  # the same draws compiled
    assert not np.array_equal(compiled(rates).numpy(), compiled(rates).numpy())  # fresh on each call
    many = torch.poisson(torch.full((20000,), 3.0)).numpy()
    assert abs(many.mean() - 3.0) < 0.06 and abs(many.var() - 3.0) < 0.15 and (many == np.round(many)).all()
    g = torch.Generator().manual_seed(1)
    again = torch.poisson(rates, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(torch.poisson(rates, g).numpy(), again.numpy())


def test_poisson_gradient_is_zero_as_pytorchs():
    rates = torch.tensor([1.0, 2.0], requires_grad=True)
    out = torch.poisson(rates)
    assert out.grad_fn.name() == "PoissonBackward0"
    out.sum().backward()
    np.testing.assert_array_equal(rates.grad.numpy(), [0.0, 0.0])
    rates.grad = None
    torch.compile(lambda r: (torch.poisson(r) * r).sum())(rates).backward()
    assert rates.grad.shape == (2,)


@pytest.mark.parametrize("rates,error,message", [
    (torch.tensor([1, 2]), NotImplementedError, "\"poisson_cpu\" not implemented for 'Long'"),
    (torch.tensor([-1.0]), RuntimeError, "invalid Poisson rate, expected rate to be non-negative"),
    (torch.tensor([float("nan")]), RuntimeError, "invalid Poisson rate, expected rate to be non-negative"),
])
def test_poisson_errors(rates, error, message):
    with pytest.raises(error) as info:
        torch.poisson(rates)
    assert str(info.value) == message
    with pytest.raises(TypeError, match=r"^poisson\(\): argument 'generator' \(position 2\) must be torch.Generator, "
                                        r"not int$"):
        torch.poisson(torch.ones(2), 1)


def test_functional_embedding_max_norm_renormalizes_the_named_rows():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    weight = _t(w)
    out = F.embedding(torch.tensor([0, 1]), weight, max_norm=1.0)
    scaled = w[0] / (5.0 + 1e-7)
    np.testing.assert_allclose(weight.numpy(), [scaled, w[1], w[2]], rtol=1e-12)  # row 2 not named: unchanged
    np.testing.assert_allclose(out.numpy(), [scaled, w[1]], rtol=1e-12)
