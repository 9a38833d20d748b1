"""NumPy's array methods on graphgrad tensors, called NumPy-style (keyword ``axis``, ``ddof``, ``keepdims``) as
in code written for ``graphgrad.numpy``: the same expression runs on an ndarray (the reference) and on a tensor,
eager and compiled; values agree to 1e-12 and gradients (gg.grad, compiled) match finite differences of NumPy's
own function, first and second order, in float64."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.utils.gradcheck import numerical_jacobian

A = np.array([[0.7, -1.3, 2.1], [1.9, 0.4, -0.6]])  # distinct entries: max/min/argmax are not tied
B = np.array([[0.5, -1.0, 2.0, 0.3], [1.5, 0.2, -0.7, 1.1], [-0.4, 0.9, 0.6, -1.2]])

# name -> (method expression, differentiable); each runs unchanged on an ndarray and on a tensor
METHODS = {
    "dot_matrix": (lambda x: x.dot(B), True),
    "dot_nd": (lambda x: x.reshape((2, 3, 1)).dot(B[:1]), True),
    "dot_vector": (lambda x: x.dot(B[:, 0]), True),
    "dot_vector_matrix": (lambda x: x[0].dot(B), True),
    "dot_vectors": (lambda x: x[0].dot(x[1]), True),
    "dot_scalar": (lambda x: x.dot(2.5), True),
    "max_axis": (lambda x: x.max(axis=1), True),
    "max_axis_none": (lambda x: x.max(axis=None), True),
    "max_keepdims": (lambda x: x.max(axis=0, keepdims=True), True),
    "max_negative_axis_tuple": (lambda x: x.max(axis=(-1, 0)), True),
    "min_axis": (lambda x: x.min(axis=0), True),
    "min_keepdims_only": (lambda x: x.min(keepdims=True), True),
    "sum_axis": (lambda x: x.sum(axis=1), True),
    "sum_axis_keepdims_dtype": (lambda x: x.sum(axis=0, keepdims=True, dtype=np.float64), True),
    "mean_axis": (lambda x: x.mean(axis=-1), True),
    "mean_axes_keepdims": (lambda x: x.mean(axis=(0, 1), keepdims=True), True),
    "std_axis": (lambda x: x.std(axis=1), True),
    "std_ddof": (lambda x: x.std(axis=0, ddof=1), True),
    "std_ddof_only": (lambda x: x.std(ddof=0), True),
    "std_keepdims": (lambda x: x.std(axis=1, keepdims=True), True),
    "var_axis": (lambda x: x.var(axis=0), True),
    "var_ddof": (lambda x: x.var(axis=1, ddof=2), True),
    "var_axis_none": (lambda x: x.var(axis=None), True),
    "prod_axis": (lambda x: x.prod(axis=1), True),
    "prod_keepdims": (lambda x: x.prod(axis=0, keepdims=True), True),
    "cumsum_axis": (lambda x: x.cumsum(axis=1), True),
    "cumsum_flat": (lambda x: x.cumsum(), True),
    "cumprod_axis": (lambda x: x.cumprod(axis=0), True),
    "clip": (lambda x: x.clip(-1.0, 1.0), True),
    "round_decimals": (lambda x: x.round(1) + x, True),
    "transpose_pair": (lambda x: x.transpose(1, 0), True),
    "transpose_tuple": (lambda x: x.transpose((1, 0)), True),
    "transpose_none": (lambda x: x.transpose(), True),
    "transpose_3d": (lambda x: x.reshape((1, 2, 3)).transpose(2, 0, 1), True),
    "transpose_3d_tuple": (lambda x: x.reshape((1, 2, 3)).transpose([1, 2, 0]), True),
    "reshape_tuple": (lambda x: x.reshape((3, 2)), True),
    "reshape_args": (lambda x: x.reshape(3, -1), True),
    "flatten": (lambda x: x.flatten(), True),
    "copy": (lambda x: x.copy() * x, True),
    "size_ndim_shape": (lambda x: x * x.size + x.ndim * x.shape[1] + len(x.shape), True),
    "argmax_axis": (lambda x: x.argmax(axis=1), False),
    "argmin_axis_keepdims": (lambda x: x.argmin(axis=0, keepdims=True), False),
    "argmax_flat": (lambda x: x.argmax(), False),
    "all_axis": (lambda x: (x > 0).all(axis=0), False),
    "any_axis_keepdims": (lambda x: (x > 1).any(axis=1, keepdims=True), False),
    "all": (lambda x: (x > -2).all(), False),
    "any": (lambda x: (x > 5).any(), False),
}


def _values(x):
    return np.asarray(x.numpy() if isinstance(x, gg.Tensor) else x)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_values_equal_numpys(name):
    fn, _ = METHODS[name]
    expected = fn(A.copy())
    for got in (fn(gg.tensor(A)), gg.compile(fn)(A)):
        got = _values(got)
        assert got.shape == np.shape(expected) and got.dtype == np.asarray(expected).dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n, (_, d) in METHODS.items() if d))
def test_method_gradients_first_and_second_order(name, rng):
    fn, _ = METHODS[name]
    w = rng.standard_normal(np.shape(fn(A.copy())))

    def f(x):
        return gnp.sum(fn(x) ** 2 * w)

    def f_numpy(x):
        return np.asarray(np.sum(fn(x) ** 2 * w))

    numeric = numerical_jacobian(f_numpy, [A.copy()])[0].reshape(A.shape)
    np.testing.assert_allclose(gg.grad(f)(A), numeric, rtol=1e-6, atol=1e-6)
    t = gg.tensor(A, requires_grad=True)
    (g,) = gg.autograd.grad(f(t), [t])
    np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-6, atol=1e-6)
    # second order: the gradient of <grad f, v>, against differences of the (compiled) gradient
    v = rng.standard_normal(A.shape)
    second = gg.grad(lambda x: gnp.sum(gg.grad(f)(x) * v))(A)
    numeric2 = numerical_jacobian(lambda x: np.asarray(np.sum(gg.grad(f)(x) * v)), [A.copy()])[0].reshape(A.shape)
    np.testing.assert_allclose(second, numeric2, rtol=1e-5, atol=1e-5)


def test_pytorch_spellings_keep_pytorchs_meaning():
    x = gg.tensor(A)
    values, indices = x.max(dim=1)  # torch.return_types.max
    np.testing.assert_array_equal(values.numpy(), A.max(axis=1))
    np.testing.assert_array_equal(indices.numpy(), A.argmax(axis=1))
    values, indices = x.min(1, True)
    np.testing.assert_array_equal(indices.numpy(), A.argmin(axis=1, keepdims=True))
    assert x.std().item() == pytest.approx(A.std(ddof=1), rel=1e-12)  # no NumPy keyword: PyTorch's Bessel
    assert x.var(1)[0].item() == pytest.approx(A[0].var(ddof=1), rel=1e-12)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size == 6
    np.testing.assert_array_equal(x.transpose(0, 1).numpy(), A.T)  # two ints: PyTorch's swap
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 2D tensors"):
        gg.dot(x, x)  # graphgrad.dot stays torch.dot


def test_dtype_reads_as_numpys():
    for x in (gg.tensor(A), gg.tensor([1, 2]), gg.tensor(A, dtype=gg.float32)):
        ref = np.asarray(x.numpy())
        assert x.dtype == ref.dtype and x.dtype == ref.dtype.type and np.dtype(x.dtype) == ref.dtype
        assert np.zeros(2, dtype=x.dtype).dtype == ref.dtype
        assert x.dtype != None and x.dtype != (np.int64 if ref.dtype != np.int64 else np.float64)  # noqa: E711
    seen = []
    gg.grad(lambda x: seen.append((x.dtype == np.float64, np.dtype(x.dtype), x.size, x.ndim)) or gnp.sum(x))(A)
    assert seen == [(True, np.dtype(np.float64), 6, 2)]


def test_transpose_with_wrong_axes_is_refused():
    with pytest.raises(ValueError, match="axes don't match array"):
        gg.tensor(A).transpose((1, 0, 2))
