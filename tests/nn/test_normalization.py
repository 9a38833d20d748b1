"""LayerNorm, BatchNorm1d and Embedding against NumPy closed forms, with gradchecks and PyTorch's running
statistics."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils import gradcheck, gradgradcheck


def _t(a, grad=True):
    return gg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_layer_norm_matches_numpy_and_gradchecks(rng):
    x = rng.standard_normal((4, 2, 3))
    w, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * w + b
    got = F.layer_norm(_t(x), (2, 3), _t(w), _t(b))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10)
    assert got.grad_fn.name() == "NativeLayerNormBackward0"
    fn = lambda x, w, b: F.layer_norm(x, (2, 3), w, b).pow(3).sum()  # noqa: E731
    assert gradcheck(fn, [_t(x), _t(w), _t(b)]) and gradgradcheck(fn, [_t(x), _t(w), _t(b)])


def test_batch_norm_trains_with_batch_statistics_and_evaluates_with_running_ones(rng):
    bn = nn.BatchNorm1d(3).double()
    x = rng.standard_normal((8, 3)) * 2 + 1
    out = bn(_t(x, False))
    np.testing.assert_allclose(out.detach().numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    expected = (x - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(bn(_t(x, False)).detach().numpy(), expected, rtol=1e-10)
    assert bn.num_batches_tracked.item() == 1  # eval does not count
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn.train()(_t(np.ones((1, 3)), False))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm2d, (4, 3, 2, 2))])
def test_batch_norm_momentum_none_keeps_a_cumulative_average(cls, shape, compiled, rng):
    # PyTorch: momentum=None updates with factor 1 / num_batches_tracked, so after n batches the running stats
    # are the plain averages of the n batch means and unbiased variances (running_var's initial 1 drops out)
    bn = cls(3, momentum=None).double()
    step = gg.compile(lambda x: bn(x)) if compiled else bn
    dims = (0,) + tuple(range(2, len(shape)))
    xs = [rng.standard_normal(shape) * (k + 1) + k for k in range(4)]
    for n, x in enumerate(xs, 1):
        out = step(_t(x, False)).detach().numpy()
        np.testing.assert_allclose(out, (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + 1e-5),
                                   rtol=1e-10, atol=1e-12)
        assert bn.num_batches_tracked.item() == n
        np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(dims) for x in xs[:n]], 0),
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.var(dims, ddof=1) for x in xs[:n]], 0),
                                   rtol=1e-12)
    assert "momentum=None" in repr(bn)


def test_batch_norm_gradients(rng):
    x, w, b = _t(rng.standard_normal((5, 2, 3))), _t(rng.standard_normal(2)), _t(rng.standard_normal(2))
    fn = lambda x, w, b: (F.batch_norm(x, None, None, w, b, training=True) ** 3).sum()  # noqa: E731
    assert gradcheck(fn, [x, w, b]) and gradgradcheck(fn, [x, w, b])


def test_embedding_picks_rows_and_skips_the_padding_row():
    gg.manual_seed(0)
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert not emb.weight[0].detach().numpy().any()
    idx = gg.tensor([[0, 2], [4, 2]])
    out = emb(idx)
    np.testing.assert_array_equal(out.detach().numpy(), emb.weight.detach().numpy()[[[0, 2], [4, 2]]])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [0.0, 0.0, 2.0, 0.0, 1.0])
    with gg.no_grad():
        emb.weight[0] = gg.ones(3)  # a padding row the user set keeps its values, still without gradient
    emb.weight.grad = None
    out = emb(gg.tensor([0, 1]))
    assert out[0].tolist() == [1.0, 1.0, 1.0]
    out.sum().backward()
    assert emb.weight.grad[0].tolist() == [0.0, 0.0, 0.0] and emb.weight.grad[1].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have one of the following"):
        emb(gg.tensor([1.0]))
