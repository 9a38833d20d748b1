"""PyTorch's ``diff``, ``repeat_interleave``, ``take_along_dim``, ``tensor_split``, ``searchsorted``,
``bucketize``, ``histc`` and ``logspace``: values against NumPy, PyTorch's special cases and error texts.
Finite-difference gradients: tests/properties/test_op_grid.py."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer.tracer import TracerError


def t(a, **kw):
    return gg.tensor(np.asarray(a), **kw)


def test_torch_diff_dim_bool_and_errors():
    x = t([[1.0, 4.0, 2.0], [7.0, 3.0, 9.0]])
    np.testing.assert_array_equal(x.diff().numpy(), np.diff(x.numpy()))
    np.testing.assert_array_equal(gg.diff(x, dim=0).numpy(), np.diff(x.numpy(), axis=0))
    np.testing.assert_array_equal(gg.diff(x, 2, prepend=gg.zeros(2, 1, dtype=gg.float64)).numpy(),
                                  np.diff(x.numpy(), 2, prepend=0))
    assert t([True, False, False]).diff().tolist() == [True, False]
    np.testing.assert_array_equal(x.diff(0, prepend=x).numpy(), x.numpy())  # n = 0: the input
    with pytest.raises(RuntimeError, match="diff expects prepend or append to be the same dimension as input"):
        gg.diff(x, prepend=t(1.0))
    with pytest.raises(RuntimeError, match="diff expects input to be at least one-dimensional"):
        t(1.0).diff()


def test_repeat_interleave_int_and_tensor_repeats():
    x = t([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(x.repeat_interleave(2).numpy(), np.repeat(x.numpy(), 2))
    np.testing.assert_array_equal(gg.repeat_interleave(x, 3, dim=1).numpy(), np.repeat(x.numpy(), 3, axis=1))
    np.testing.assert_array_equal(x.repeat_interleave(t([0, 2]), 0).numpy(), np.repeat(x.numpy(), [0, 2], axis=0))
    assert gg.repeat_interleave(t([2, 0, 1])).tolist() == [0, 0, 2]
    with pytest.raises(RuntimeError, match=r"repeats must have the same size as input along dim, but got "
                                           r"repeats.size\(0\) = 3 and input.size\(0\) = 2"):
        x.repeat_interleave(t([1, 2, 3]), 0)
    with pytest.raises(RuntimeError, match="allocated size does not match required size"):
        x.repeat_interleave(t([1, 2]), 0, output_size=4)
    y = t([1.0, 2.0], requires_grad=True)
    (y.repeat_interleave(t([3, 1])) ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, 4.0])
    with pytest.raises(TracerError, match="repeat_interleave inside a compiled function: the result's shape would "
                                          "depend on the values"):
        gg.compile(lambda a, r: a.repeat_interleave(r, 0))(x, t([1, 2]))


def test_take_along_dim_broadcasts_and_flattens():
    x = t([[1.0, 5.0, 2.0], [4.0, 2.0, 8.0]])
    np.testing.assert_array_equal(x.take_along_dim(t([[2], [0]]), 1).numpy(), [[2.0], [4.0]])
    np.testing.assert_array_equal(gg.take_along_dim(x, t([5, 0])).numpy(), [8.0, 1.0])
    np.testing.assert_array_equal(gg.take_along_dim(x[:1], t([[0], [2]]), 1).numpy(), [[1.0], [2.0]])
    with pytest.raises(RuntimeError, match="dtype of indices should be Long but got Float"):
        x.take_along_dim(gg.tensor([[1.0]]), 0)


def test_tensor_split_sections_and_indices():
    x = gg.arange(7)
    assert [p.tolist() for p in x.tensor_split(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [p.tolist() for p in gg.tensor_split(x, [5, 2])] == [[0, 1, 2, 3, 4], [], [2, 3, 4, 5, 6]]
    assert [p.tolist() for p in x.tensor_split(t([1, 9]))] == [[0], [1, 2, 3, 4, 5, 6], []]
    assert [p.tolist() for p in x.tensor_split(t(2))] == [[0, 1, 2, 3], [4, 5, 6]]
    with pytest.raises(RuntimeError, match="number of sections must be larger than 0, got 0"):
        x.tensor_split(0)


def test_searchsorted_matches_numpy_nan_sorter_and_batched_sequences():
    seq = np.array([1.0, 3.0, 3.0, 5.0, 7.0])
    values = np.array([[0.0, 3.0, 4.0], [7.0, 8.0, np.nan]])
    for side in ("left", "right"):
        got = gg.searchsorted(t(seq), t(values), side=side)
        assert got.dtype == gg.int64
        np.testing.assert_array_equal(got.numpy(), np.searchsorted(seq, values, side=side))  # nan goes last
        assert gg.searchsorted(t(seq), 3, right=side == "right").item() == np.searchsorted(seq, 3, side)
    unsorted = np.array([5.0, 1.0, 3.0])
    order = np.argsort(unsorted)
    np.testing.assert_array_equal(gg.searchsorted(t(unsorted), t([2.0, 4.0]), sorter=t(order)).numpy(),
                                  np.searchsorted(unsorted, [2.0, 4.0], sorter=order))
    rows = np.sort(np.random.default_rng(0).standard_normal((3, 6)), 1)
    probes = np.random.default_rng(1).standard_normal((3, 2))
    np.testing.assert_array_equal(gg.searchsorted(t(rows), t(probes)).numpy(),
                                  [np.searchsorted(r, p) for r, p in zip(rows, probes)])
    with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
        gg.searchsorted(t(seq), t(values), side="left", right=True)
    compiled = gg.compile(lambda s, v: gg.searchsorted(s, v))
    np.testing.assert_array_equal(compiled(t(seq), t(values)).numpy(), np.searchsorted(seq, values))


def test_bucketize():
    edges = np.array([1.0, 3.0, 5.0])
    x = np.array([[0.5, 3.0], [5.0, 9.0]])
    np.testing.assert_array_equal(gg.bucketize(t(x), t(edges)).numpy(), np.searchsorted(edges, x))
    np.testing.assert_array_equal(gg.bucketize(t(x), t(edges), right=True).numpy(),
                                  np.searchsorted(edges, x, side="right"))
    with pytest.raises(RuntimeError, match=r"boundaries tensor must be 1 dimension, but got dim\(2\)"):
        gg.bucketize(t(x), t([[1.0]]))


def test_histc_bins_edges_and_data_range():
    x = np.random.default_rng(2).standard_normal(200)
    np.testing.assert_array_equal(gg.histc(t(x), 7, -1, 1).numpy(), np.histogram(x[np.abs(x) <= 1], 7, (-1, 1))[0])
    np.testing.assert_array_equal(t(x).histc(5).numpy(), np.histogram(x, 5)[0])  # min = max: the data's range
    assert gg.histc(t([1.0, 2.0, 1.0]), bins=4, min=0, max=3).tolist() == [0.0, 2.0, 1.0, 0.0]  # 3 is in the last bin
    assert gg.histc(t([2.0, 2.0]), bins=4, min=2, max=2).tolist() == [0.0, 0.0, 2.0, 0.0]  # widened to [1, 3]
    assert gg.histc(gg.tensor([0.5, 1.0]), 2).dtype == gg.float32
    with pytest.raises(RuntimeError, match="torch.histc: max must be larger than min"):
        gg.histc(t(x), 3, 2, 1)
    compiled = gg.compile(lambda v: gg.histc(v, 5))
    np.testing.assert_array_equal(compiled(t(x)).numpy(), np.histogram(x, 5)[0])


def test_logspace():
    np.testing.assert_allclose(gg.logspace(0, 2, 5).numpy(), 10.0 ** np.linspace(0, 2, 5), rtol=1e-6)
    got = gg.logspace(-1, 1, 3, base=2, dtype=gg.float64)
    assert got.dtype == gg.float64 and got.tolist() == [0.5, 1.0, 2.0]
    assert gg.logspace(0, 3, 4, dtype=gg.float64).tolist() == [1.0, 10.0, 100.0, 1000.0]  # both ends exact


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_values(reduce, include_self):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    index = np.array([0, 1, 0, 1, 3])
    src = np.array([5.0, 1.0, 2.0, 7.0, -1.0])
    groups = {0: [5.0, 2.0], 1: [1.0, 7.0], 3: [-1.0]}
    expected = x.copy()
    for k, vals in groups.items():
        vals = ([x[k]] if include_self else []) + vals
        expected[k] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce](vals)
    got = gg.scatter_reduce(t(x), 0, t(index), t(src), reduce, include_self=include_self)
    np.testing.assert_allclose(got.numpy(), expected)
    compiled = gg.compile(lambda a, s: a.scatter_reduce(0, t(index), s, reduce, include_self=include_self))
    np.testing.assert_allclose(compiled(t(x), t(src)).numpy(), expected)


def test_scatter_reduce_gradients_ties_zeros_and_in_place():
    x = t([2.0, 0.0], requires_grad=True)
    src = t([2.0, 1.0, 0.0], requires_grad=True)
    x.scatter_reduce(0, t([0, 0, 1]), src, "amax").sum().backward()  # a tie of self and src at 2: shared
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5])  # position 1: max(0, 0), a tie too
    np.testing.assert_allclose(src.grad.numpy(), [0.5, 0.0, 0.5])
    x.grad = src.grad = None
    x.scatter_reduce(0, t([0, 0, 1]), src, "prod").sum().backward()  # one zero: the product of the others
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0])
    np.testing.assert_allclose(src.grad.numpy(), [2.0, 4.0, 0.0])
    y = t([1.0, 1.0])
    assert y.scatter_reduce_(0, t([1, 1]), t([3.0, 4.0]), "mean", include_self=False) is y
    assert y.tolist() == [1.0, 3.5]
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax or amin, got max"):
        y.scatter_reduce(0, t([0]), t([1.0]), "max")
    assert t([1, 2, 3, 4]).scatter_reduce(0, t([0, 1, 0, 1, 3]), t([5, 1, 2, 7, -1]), "mean").tolist() == [2, 3, 3, 1]
