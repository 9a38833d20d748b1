"""PyTorch's order statistics, running extremes and nan-ignoring reductions (``median``, ``kthvalue``, ``mode``,
``quantile``, ``cummax``, ``logcumsumexp``, ``nanmean``, ...): values against NumPy and closed forms, ties, nan,
gradients (the grid in tests/properties/test_op_grid.py checks them against finite differences)."""
import numpy as np
import pytest

import graphgrad as gg


def t(a, **kw):
    return gg.tensor(np.asarray(a, dtype=np.float64), **kw)


def test_median_is_the_lower_median_and_returns_torch_return_types():
    x = t([[3.0, 1.0, 4.0, 2.0], [5.0, 7.0, 6.0, 8.0]])
    assert x.median().item() == 4.0  # 8 elements: the 4th smallest, not NumPy's mean of the middle two
    r = gg.median(x, 1)
    assert type(r) is gg.return_types.median and r._fields == ("values", "indices")
    np.testing.assert_array_equal(r.values.numpy(), [2.0, 6.0])
    np.testing.assert_array_equal(r.indices.numpy(), [3, 2])
    assert r.indices.dtype == gg.int64
    k = x.median(0, keepdim=True)
    assert k.values.shape == (1, 4)
    assert repr(k).startswith("torch.return_types.median(\nvalues=")


def test_median_nan_and_nanmedian():
    x = t([1.0, np.nan, 3.0, 2.0])
    assert np.isnan(x.median().item()) and np.isnan(x.median(0).values.item())
    assert x.median(0).indices.item() == 1  # the nan's index, as PyTorch
    assert x.nanmedian().item() == 2.0
    r = x.nanmedian(0)
    assert type(r) is gg.return_types.nanmedian and (r.values.item(), r.indices.item()) == (2.0, 3)
    assert np.isnan(t([np.nan, np.nan]).nanmedian().item())


def test_median_gradient_without_dim_is_shared_by_ties_and_with_dim_goes_to_the_index():
    x = t([[2.0, 1.0, 2.0], [5.0, 2.0, 0.0]], requires_grad=True)
    x.median().backward()  # sorted: 0 1 2 2 2 5; the lower median 2, held by three elements
    np.testing.assert_allclose(x.grad.numpy(), [[1 / 3, 0, 1 / 3], [0, 1 / 3, 0]])
    x.grad = None
    r = x.median(1)
    r.values.sum().backward()
    expected = np.zeros((2, 3))
    expected[[0, 1], r.indices.numpy()] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("compiled", [False, True])
def test_median_without_dim_shares_a_nan_results_gradient_among_the_nans(compiled):
    # PyTorch's median()/nanmedian() backward, evenly_distribute_backward: the mask is input.isnan() where the result
    # is nan, else input == result, and each masked element gets grad / mask.sum(); the gradient went to one nan
    cases = [("median", [1.0, np.nan, np.nan, 0.0], [0.0, 0.5, 0.5, 0.0]),
             ("median", [[np.nan, 2.0], [3.0, np.nan]], [[0.5, 0.0], [0.0, 0.5]]),
             ("nanmedian", [np.nan, np.nan, np.nan], [1 / 3, 1 / 3, 1 / 3]),
             ("nanmedian", [np.nan, 2.0, np.nan, 1.0], [0.0, 0.0, 0.0, 1.0]),  # a number: the nans get nothing
             ("median", [2.0, 1.0, 2.0, 3.0], [0.5, 0.0, 0.5, 0.0])]
    for name, data, expected in cases:
        x = t(data, requires_grad=True)
        f = (lambda v: getattr(v, name)()) if not compiled else gg.compile(lambda v: getattr(v, name)())
        y = f(x)
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-15, err_msg=f"{name} of {data}")
        assert np.isnan(y.item()) == all(np.isnan(data).ravel() if name == "nanmedian" else [np.isnan(data).any()])


def test_median_along_a_dim_names_the_tie_a_stable_sort_puts_there_as_pytorch():
    # PyTorch's median(dim)/nanmedian(dim) (median_with_indices_impl): nth_element ordering (value, index) pairs,
    # so of equal values the one a stable sort puts at position (n - 1) // 2 (of the non-nan ones for nanmedian)
    x = t([[2.0, 2.0, 2.0, 2.0, 9.0], [7.0, 7.0, 1.0, 1.0, 7.0], [3.0, np.nan, 3.0, 3.0, np.nan]])
    np.testing.assert_array_equal(x.median(1).indices.numpy(), [2, 0, 1])  # (the last: its first nan)
    np.testing.assert_array_equal(x.nanmedian(1).indices.numpy(), [2, 0, 2])
    compiled = gg.compile(lambda v: v.nanmedian(1).indices)(x)
    np.testing.assert_array_equal(compiled.numpy(), [2, 0, 2])


def test_kthvalue_and_its_range_check():
    x = t([[3.0, 1.0, 2.0], [0.0, 9.0, 4.0]])
    r = x.kthvalue(2, 1)
    assert type(r) is gg.return_types.kthvalue
    np.testing.assert_array_equal(r.values.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(r.indices.numpy(), [2, 2])
    with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range for dimension 1"):
        x.kthvalue(4, 1)


def test_mode_takes_the_smallest_most_frequent_value_at_its_last_index():
    x = t([[2.0, 1.0, 2.0, 1.0, 3.0], [0.0, 0.0, 0.0, 5.0, 5.0]])
    r = x.mode()
    assert type(r) is gg.return_types.mode
    np.testing.assert_array_equal(r.values.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(r.indices.numpy(), [3, 2])
    i = gg.tensor([[4, 4, 1], [7, 2, 2]]).mode(1)
    assert i.values.dtype == gg.int64 and i.values.tolist() == [4, 2] and i.indices.tolist() == [1, 2]
    with pytest.raises(IndexError, match=r"mode\(\): Expected reduction dim 1 to have non-zero size"):
        gg.zeros(2, 0).mode(1)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_matches_numpy_methods(method):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 7))
    q = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    got = gg.quantile(t(a), t(q), 1, keepdim=True, interpolation=method)
    np.testing.assert_allclose(got.numpy(), np.quantile(a, q, axis=1, keepdims=True, method=method), rtol=1e-14)
    assert t(a).quantile(0.3, interpolation=method).shape == ()
    np.testing.assert_allclose(t(a).quantile(0.3, interpolation=method).numpy(), np.quantile(a, 0.3, method=method))


def test_quantile_nan_and_errors():
    a = np.array([[1.0, np.nan, 3.0, 2.0], [4.0, 1.0, 2.0, 8.0]])
    np.testing.assert_allclose(gg.quantile(t(a), 0.5, 1).numpy(), [np.nan, 3.0])
    np.testing.assert_allclose(gg.nanquantile(t(a), 0.5, 1).numpy(), [2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"quantile\(\) q must be in the range \[0, 1\] but got 1.5"):
        t(a).quantile(1.5)
    with pytest.raises(RuntimeError, match=r"quantile\(\) input tensor must be either float or double dtype"):
        gg.tensor([1, 2]).quantile(0.5)
    with pytest.raises(RuntimeError, match="interpolation must be one of linear, lower, higher, midpoint or nearest"):
        t(a).quantile(0.5, interpolation="cubic")


def test_quantile_gradient_is_the_interpolation_weights():
    x = t([4.0, 1.0, 3.0, 2.0], requires_grad=True)
    gg.quantile(x, 0.4).backward()  # rank 0.4 * 3 = 1.2 between the sorted values 2 (index 3) and 3 (index 2)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.2, 0.8])


def test_cummax_cummin_indices_take_the_later_tie_and_nan():
    x = t([1.0, 3.0, 3.0, 2.0, np.nan, 5.0])
    r = x.cummax(0)
    assert type(r) is gg.return_types.cummax
    np.testing.assert_array_equal(r.values.numpy(), [1, 3, 3, 3, np.nan, np.nan])
    assert r.indices.tolist() == [0, 1, 2, 2, 4, 4]
    m = gg.cummin(t([[1.0, 0.0, 0.0, 2.0, -1.0]]), 1)
    assert m.indices.tolist() == [[0, 1, 2, 2, 4]]
    y = t([[1.0, 3.0, 2.0]], requires_grad=True)
    y.cummax(1).values.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[1.0, 2.0, 0.0]])
    f = gg.compile(lambda v: v.cummax(1).indices)
    assert f(t([[0.0, 2.0, 2.0, 1.0]])).tolist() == [[0, 1, 2, 2]]


def test_logcumsumexp_keeps_early_terms_and_is_exact():
    x = t([-1000.0, 0.0, 1000.0, -5.0])
    expected = [-1000.0, 0.0, 1000.0, 1000.0]
    np.testing.assert_allclose(x.logcumsumexp(0).numpy(), expected)
    np.testing.assert_allclose(gg.compile(lambda v: gg.logcumsumexp(v, 0))(x).numpy(), expected)
    a = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_allclose(t(a).logcumsumexp(1).numpy(), np.log(np.cumsum(np.exp(a), axis=1)), rtol=1e-14)


def test_moments_nan_reductions_aminmax_count_nonzero():
    a = np.random.default_rng(2).standard_normal((3, 4))
    s, m = gg.std_mean(t(a), 1)
    np.testing.assert_allclose(s.numpy(), a.std(1, ddof=1))
    np.testing.assert_allclose(m.numpy(), a.mean(1))
    v, m = gg.var_mean(t(a), correction=0, keepdim=True)
    np.testing.assert_allclose(v.numpy(), a.var(keepdims=True))
    holes = a.copy()
    holes[0, 1] = holes[2, 3] = np.nan
    np.testing.assert_allclose(t(holes).nansum(1).numpy(), np.nansum(holes, 1))
    np.testing.assert_allclose(gg.nanmean(t(holes)).numpy(), np.nanmean(holes))
    with pytest.raises(RuntimeError, match="nanmean\\(\\): expected input to have floating point or complex dtype but "
                                           "got Long"):
        gg.tensor([1, 2]).nanmean()
    r = gg.aminmax(t(a), dim=0)
    assert type(r) is gg.return_types.aminmax and r._fields == ("min", "max")
    np.testing.assert_array_equal(r.min.numpy(), a.min(0))
    np.testing.assert_array_equal(r.max.numpy(), a.max(0))
    c = gg.count_nonzero(t([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]]), 0)
    assert c.dtype == gg.int64 and c.tolist() == [1, 1]
