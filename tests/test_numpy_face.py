"""graphgrad.numpy: existing NumPy code differentiates by changing its import."""
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.tracer import TracerError
from graphgrad.utils.gradcheck import numerical_jacobian


def logistic_loss(w, x, y):
    logits = gnp.dot(x, w)
    return gnp.mean(gnp.log(1 + gnp.exp(-y * logits))) + 0.1 * gnp.sum(w ** 2)


def test_plain_arrays_stay_numpy():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(gnp.exp(x), np.ndarray)
    np.testing.assert_allclose(gnp.sum(x, axis=0, keepdims=True), [[4.0, 6.0]])
    np.testing.assert_allclose(gnp.linalg.norm(x), np.linalg.norm(x))


def test_grad_of_numpy_code_returns_numpy_and_matches_finite_differences():
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(3), rng.standard_normal((8, 3))
    y = np.sign(rng.standard_normal(8))
    g = gg.grad(logistic_loss)(w, x, y)
    assert isinstance(g, np.ndarray) and g.shape == (3,)
    numeric = numerical_jacobian(lambda w_: np.asarray(logistic_loss(w_, x, y)), [w])[0].ravel()
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_many_functions_differentiate():
    def f(a):
        parts = gnp.concatenate([gnp.tanh(a), gnp.square(a), gnp.where(a > 0, a, 0.5 * a)])
        return gnp.logsumexp(parts) + gnp.linalg.norm(gnp.outer(a, a)) + gnp.max(gnp.clip(a, -1.0, 1.0))

    a = np.array([0.3, -1.2, 2.0])
    g = gg.grad(f)(a)
    numeric = numerical_jacobian(lambda a_: np.asarray(f(a_)), [a])[0].ravel()
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_item_assignment_fails_naming_the_functional_alternative():
    def f(a):
        a[0] = 0.0
        return gnp.sum(a)

    with pytest.raises(TracerError, match=r"item assignment.*graphgrad.where\(mask, v, a\)"):
        gg.grad(f)(np.ones(3))
    with pytest.raises(TypeError, match="a.at\\[i\\].set\\(v\\)"):  # as Python's and JAX's for immutable arrays
        gg.grad(f)(np.ones(3))


# -- lists holding traced values build tensors ------------------------------------------------------

def _check_grad(f, x, rtol=1e-6):
    numeric = numerical_jacobian(lambda x_: np.asarray(f(x_)), [x])[0].reshape(x.shape)
    np.testing.assert_allclose(gg.grad(f)(x), numeric, rtol=rtol, atol=1e-8)


@pytest.mark.parametrize("f", [
    lambda a: gnp.sum([1, a * a, 2]),
    lambda a: gnp.sum(gnp.array([a, a * 1.0])),
    lambda a: gnp.sum(gnp.array([[a, 1.0], [2, a * a]]) ** 2),
    lambda a: gnp.sum(gnp.array(a) * 2.0),
    lambda a: gnp.sum(gnp.asarray([a, 3.0]) ** 3),
    lambda a: gnp.sum(gnp.stack([a, 2.0 * a, 1.0])),
    lambda a: gnp.sum(gnp.r_[a, 2.0 * a, 0:3, np.ones(2)] ** 2),
    lambda a: gnp.sum(gnp.exp([a, 0.5])),
    lambda a: gnp.mean([a, a ** 3]),
], ids=["sum-list", "array", "array-nested", "array-of-tensor", "asarray", "stack-scalars", "r_", "exp-list",
        "mean-list"])
def test_sequences_holding_traced_values_build_tensors(f):
    _check_grad(f, np.array(1.3))


def test_array_of_traced_vectors_and_dtypes():
    f = lambda x: gnp.sum(gnp.array([x, x ** 2]) @ np.array([1.0, -1.0]))  # noqa: E731
    _check_grad(f, np.array([0.5, 2.0]))
    x = gg.tensor(1.0)  # float32: a Python float does not widen it, as in NumPy
    assert gnp.array([x, 2.5]).dtype == gg.float32
    assert gnp.array([x, 2]).tolist() == [1.0, 2.0]
    assert gnp.array([x, 2], dtype=np.float64).dtype == gg.float64
    with pytest.raises(ValueError, match="inhomogeneous"):
        gnp.array([gg.ones(2), gg.ones(3)])
    np.testing.assert_array_equal(gnp.r_[1:3, 5], [1, 2, 5])  # plain values stay NumPy's


def test_binary_functions_take_arrays_and_lists_with_numpy_dtypes():
    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    np.testing.assert_allclose(gnp.matmul(np.ones((3, 2)), x).detach().numpy(), [3.0, 3.0, 3.0])
    assert gnp.dot(np.array([1.0, -1.0]), gg.tensor([1.0, 2.0])).item() == -1.0  # float32 tensor, float64 array
    np.testing.assert_allclose(gnp.multiply(x, [0.1, 0.2]).detach().numpy(), [0.1, 0.4], rtol=1e-15)
    g = gg.grad(lambda v: gnp.sum(gnp.multiply(v, [0.1, 0.2])))(np.ones(2))
    np.testing.assert_array_equal(g, [0.1, 0.2])  # float64 like NumPy's, not rounded through float32


# -- NumPy's own functions on tensors dispatch to graphgrad.numpy (NEP 13/18) -----------------------

def test_numpy_functions_on_tensors_dispatch_and_keep_gradients():
    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    total = np.sum(np.exp(x)) + np.mean(x, axis=0) + np.linalg.norm(x)
    total.backward()
    expected = np.exp([1.0, 2.0]) + 0.5 + np.array([1.0, 2.0]) / np.sqrt(5.0)
    np.testing.assert_allclose(x.grad.numpy(), expected)
    assert np.shape(x) == (2,) and np.ndim(x) == 1
    y = np.ones(2) * x + np.ones(2) @ x  # ndarray on the left: NumPy's ufuncs dispatch to the tensor
    assert isinstance(y, gg.Tensor) and y.requires_grad


def test_plain_numpy_code_differentiates_through_dispatch():
    g = gg.grad(lambda v: np.sum(np.tanh(v) * np.ones(2)))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, [1.0, 1.0 - np.tanh(1.0) ** 2])


def test_numpy_out_argument_is_refused_clearly():
    x = gg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"numpy.sum: out= is not supported"):
        np.sum(x, out=np.zeros(()))


def test_numpy_functions_without_a_graphgrad_version():
    x = gg.tensor([1.0, 2.0])
    assert np.median(x) == 1.5  # eager values that need no gradient: NumPy computes on them
    with pytest.raises(TypeError, match=r"requires grad.*graphgrad.numpy"):
        np.median(gg.tensor([1.0], requires_grad=True))
    with pytest.raises(TypeError, match=r"numpy.fft.rfft is not available on traced graphgrad tensors: "
                                        r"graphgrad.numpy has no such function"):
        gg.grad(lambda v: np.sum(np.fft.rfft(v).real))(np.zeros(2))


# -- the Gaussian-process example: plain NumPy style, differentiated and compiled ------------------------

def test_gaussian_process_nlml_gradient_matches_finite_differences_eager_and_compiled():
    from graphgrad.examples import gp

    x, y = gp.make_data(n=12)
    params = np.array([0.2, -0.3, -1.0])
    value, g = gg.value_and_grad(gp.negative_log_marginal_likelihood)(params, x, y)
    assert abs(value - gp.negative_log_marginal_likelihood(params, x, y)) < 1e-12  # NumPy runs the same code
    numeric = numerical_jacobian(lambda p: np.asarray(gp.negative_log_marginal_likelihood(p, x, y)), [params])[0]
    np.testing.assert_allclose(g, numeric.ravel(), rtol=1e-6, atol=1e-7)
    # eager tensors, and @gg.compile ... .backward(), agree with it
    p = gg.tensor(params, dtype=gg.float64, requires_grad=True)
    gp.negative_log_marginal_likelihood(p, x, y).backward()
    np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-10)
    q = gg.tensor(params, dtype=gg.float64, requires_grad=True)
    gg.compile(gp.negative_log_marginal_likelihood)(q, gg.tensor(x, dtype=gg.float64),
                                                     gg.tensor(y, dtype=gg.float64)).backward()
    np.testing.assert_allclose(q.grad.numpy(), g, rtol=1e-10)
    # second order: the Hessian's first row, against finite differences of the gradient
    h0 = gg.grad(lambda p: gg.grad(gp.negative_log_marginal_likelihood)(p, x, y)[0])(params)
    numeric_h0 = numerical_jacobian(lambda p: np.asarray(gg.grad(gp.negative_log_marginal_likelihood)(p, x, y)[0]),
                                    [params])[0]
    np.testing.assert_allclose(h0, numeric_h0.ravel(), rtol=1e-5, atol=1e-6)


def test_gaussian_process_fit_lowers_the_loss():
    from graphgrad.examples import gp

    params, before, after = gp.fit(steps=30)
    assert after < before


def test_squeeze_takes_numpys_axis_keyword_on_tensors():
    # found by tests/properties/test_op_grid.py: gnp.squeeze(t, axis=0) raised TypeError on a tensor
    import graphgrad as gg
    import graphgrad.numpy as gnp

    t = gg.tensor(np.ones((1, 3, 1)), requires_grad=True)
    assert gnp.squeeze(t, axis=0).shape == np.squeeze(np.ones((1, 3, 1)), axis=0).shape
    assert gnp.squeeze(t, axis=(0, -1)).shape == (3,)
    with pytest.raises(ValueError, match="size not equal to one"):
        gnp.squeeze(t, axis=1)
    assert gg.grad(lambda x: (gnp.squeeze(x, axis=-1) ** 2).sum())(np.ones((3, 1))).shape == (3, 1)


def test_numpy_s_complex_functions_on_real_tensors_and_its_type_names():
    """Code written for real and complex data runs on real tensors: NumPy's values, and gradients through them."""
    x = np.array([-1.5, 0.0, -0.0, 2.0])
    t = gg.tensor(x, dtype=gg.float64)
    for name in ("real", "imag", "conj", "conjugate", "real_if_close", "angle"):
        np.testing.assert_array_equal(getattr(gnp, name)(t).numpy(), getattr(np, name)(x), err_msg=name)
    np.testing.assert_array_equal(gnp.angle(t, deg=True).numpy(), np.angle(x, deg=True))
    g = gg.grad(lambda z: gnp.sum(gnp.real(z) * gnp.conj(z) + gnp.imag(z) + gnp.angle(z)))(x)
    np.testing.assert_array_equal(g, 2 * x)
    assert gnp.isrealobj(t) and not gnp.iscomplexobj(t) and gnp.iscomplexobj(np.array([1j]))
    assert gnp.dtype("float32") == np.float32 and gnp.__version__ == np.__version__


# -- NumPy's dtype promotion of tensors: result_type, promote_types ----------------------------------------------

_DTYPES = ("bool", "int64", "float32", "float64")  # graphgrad's
# Python numbers (weak in NumPy 2: float32 with 2.5 stays float32), NumPy scalars and dtypes (strong)
_OTHERS = (True, 3, 2.5, -1, np.float64(1.5), np.float32(1.5), np.int64(2), np.bool_(True), np.dtype("float32"),
           np.int64, "float64", float, int)


@pytest.mark.parametrize("dtype", _DTYPES)
def test_result_type_of_a_tensor_is_numpy_s_of_an_array_of_its_dtype_eager_and_traced(dtype):
    # numpy.result_type(t, 2.5) raised "not available on traced graphgrad tensors" inside a compiled function (and
    # "would drop its gradient" on an eager tensor that requires grad): graphgrad.numpy had no result_type
    array = np.zeros(2, dtype=dtype)
    t = gg.tensor(array)
    cases = [(o,) for o in _OTHERS] + [(np.zeros(2, d),) for d in _DTYPES] + [(o, np.zeros(2, d)) for o in (2.5, 3)
                                                                              for d in _DTYPES]
    expected = [np.result_type(array, *others) for others in cases]
    for others, want in zip(cases, expected):
        for as_tensor in (False, True):  # arrays among the others as tensors too
            rest = [gg.tensor(o) if as_tensor and isinstance(o, np.ndarray) else o for o in others]
            for fn in (gnp.result_type, np.result_type):  # (NumPy's own dispatches to graphgrad.numpy's)
                got = fn(t, *rest)
                assert got == want and isinstance(got, np.dtype), (dtype, others, got, want)
    if dtype.startswith("float"):
        assert np.result_type(gg.tensor(array, requires_grad=True), 2.5) == np.dtype(dtype)

    @gg.compile
    def traced(x):  # (asserted while tracing, where the dtypes are known)
        assert [np.result_type(x, *others) for others in cases] == expected
        assert gnp.result_type(x, x) == np.dtype(dtype)
        return x * 1

    traced(t)


def test_result_type_promotes_as_numpy_not_as_pytorch():
    i, f32 = gg.tensor([1, 2]), gg.tensor([1.0], dtype=gg.float32)
    assert gnp.result_type(i, f32) == np.float64  # PyTorch's: float32 (graphgrad.result_type)
    assert gnp.result_type(gg.tensor([True]), 2) == np.int64 and gnp.result_type(gg.tensor([True]), True) == np.bool_
    assert gnp.result_type(i[0], 2.5) == np.float64  # (a 0-d tensor too: NumPy 2 has no value-based casting)
    assert gnp.result_type(gg.float32, 1, "float16") == np.float32 and gnp.result_type(2.5) == np.float64
    assert gg.result_type(i, f32) == gg.float32  # (the PyTorch face's own stays PyTorch's)


@pytest.mark.parametrize("type1", _DTYPES)
@pytest.mark.parametrize("type2", _DTYPES)
def test_promote_types_is_numpy_s_for_graphgrad_and_numpy_dtypes(type1, type2):
    want = np.promote_types(type1, type2)
    for a, b in ((getattr(gg, type1), getattr(gg, type2)), (type1, getattr(gg, type2)), (np.dtype(type1), type2)):
        got = gnp.promote_types(a, b)
        assert got == want and isinstance(got, np.dtype)


def test_promote_types_refuses_a_tensor_as_numpy_an_array():
    with pytest.raises(TypeError, match="Cannot construct a dtype from an array"):
        np.promote_types(np.zeros(2), "float32")
    with pytest.raises(TypeError, match="takes dtypes, not a tensor"):
        gnp.promote_types(gg.tensor([1.0]), "float32")


# -- NumPy spellings that crashed or silently mixed PyTorch's meaning in ---------------------------------

def _agrees_with_numpy(f, x, **kwargs):
    """f's value on tensors, traced (grad, compile) and eager, is NumPy's, and its gradient finite differences'."""
    _check_grad(f, x, **kwargs)
    value = f(x)  # plain arrays: NumPy runs it
    np.testing.assert_allclose(gg.value_and_grad(f)(x)[0], value, rtol=1e-12)
    np.testing.assert_allclose(f(gg.tensor(x)).numpy(), value, rtol=1e-12)
    np.testing.assert_allclose(gg.compile(f)(gg.tensor(x)).numpy(), value, rtol=1e-12)


@pytest.mark.parametrize("f", [
    lambda x: gnp.sum(gnp.concatenate([x, x.T ** 2], axis=None) * np.arange(24.0)),
    lambda x: gnp.sum(gnp.reshape(x, (-1,), order="F") * np.arange(12.0)),
    lambda x: gnp.sum(x.reshape((2, 6), order="F") * np.arange(12.0).reshape(2, 6)),
    lambda x: gnp.sum(x.reshape(6, 2, order="A") ** 2 * np.arange(2.0)),
    lambda x: gnp.sum(gnp.expand_dims(x, (0, -1)) ** 2 * np.arange(4.0)[:, None]),
    lambda x: gnp.sum((x // 0.5) * x + gnp.floor_divide(x, 0.7) * x + (2.0 // (x * x + 3)) * x),
    lambda x: gnp.sum(x.repeat(2, axis=1) * np.arange(8.0)),
    lambda x: gnp.sum(x.repeat([1, 0, 2], axis=0) ** 2 * np.arange(4.0)),
    lambda x: gnp.sum(x.repeat(2, axis=None) * np.arange(24.0)),
    lambda x: gnp.sum(gnp.take_along_axis(x, x.argsort(axis=1), axis=1) * np.arange(4.0)),
    lambda x: gnp.sum(gnp.ravel(x)[x.argsort(axis=None, kind="stable")] * np.arange(12.0)),
], ids=["concatenate-axis-None", "reshape-order-F", "method-reshape-order-F", "reshape-order-A",
        "expand_dims-tuple", "floor-divide", "method-repeat-axis", "method-repeat-counts", "method-repeat-axis-None",
        "method-argsort-axis", "method-argsort-axis-None"])
def test_numpy_spellings_on_tensors_compute_numpys_values(f):
    _agrees_with_numpy(f, np.random.default_rng(5).standard_normal((3, 4)))


def test_floor_division_of_integers_traces_as_eager_and_numpy_compute_it():
    floor_div = gg.compile(lambda a, b: a // b)
    a, b = np.array([7, -7, 5]), np.array([2, 2, -3])
    np.testing.assert_array_equal(floor_div(a, b), a // b)
    assert floor_div(gg.tensor(a), gg.tensor(b)).dtype == gg.int64
    np.testing.assert_array_equal(floor_div(gg.tensor([7.5, -7.5]), 2.0).numpy(), [3.0, -4.0])


def test_a_values_indices_pair_is_refused_where_numpy_expects_an_array():
    # x.max(1) is PyTorch's (values, indices); summing it as an array added the indices to the values
    x = np.arange(6.0).reshape(2, 3)
    for f in (lambda x: gnp.sum(x.max(1)), lambda x: gnp.concatenate(x.min(0)).sum(), lambda x: gnp.mean(x.sort(1))):
        with pytest.raises(TypeError, match=r"\(values, indices\) pair.*x.max\(axis=dim\)"):
            gg.grad(f)(x)
    with pytest.raises(TypeError, match=r"graphgrad.numpy.sum: got a \(values, indices\) pair"):
        gnp.sum(gg.tensor(x).max(1))
    assert gnp.sum(gg.tensor(x).max(axis=1)).item() == 7.0


# -- NumPy arrays in: the trace computes in NumPy's float64 where NumPy does -----------------------------

def _counts_loss(w, n):
    """float64 weights against integer counts: every int -> float step is float64 in NumPy."""
    return (gnp.sum(w * (n * 0.1)) + gnp.sum(w * gnp.sqrt(n)) + gnp.sum(w / n) + gnp.mean(n) * gnp.sum(w ** 2)
            + gnp.sum(w[:2] * [0.1, 0.2]))


def test_integer_arrays_promote_to_float64_as_numpy_under_every_transform():
    w, n = np.array([0.3, 0.7, 1.1]), np.array([1, 2, 7])
    value = _counts_loss(w, n)  # NumPy's
    exact = 0.1 * n + np.sqrt(n) + 1.0 / n + 2 * w * n.mean() + np.array([0.1, 0.2, 0.0])
    v, g = gg.value_and_grad(_counts_loss)(w, n)
    assert v == value and g.dtype == np.float64  # (float32 rounding gave 0.93999999 for 0.94)
    np.testing.assert_allclose(g, exact, rtol=1e-14)
    assert gg.compile(_counts_loss)(w, n) == value
    np.testing.assert_allclose(gg.jacrev(_counts_loss)(w, n), exact, rtol=1e-14)
    np.testing.assert_allclose(gg.vmap(gg.grad(_counts_loss), in_axes=(0, None))(np.stack([w, w]), n)[1], exact,
                               rtol=1e-14)
    assert gg.vjp(lambda w: _counts_loss(w, n), w)[0] == value
    assert gg.linearize(lambda w: _counts_loss(w, n), w)[0] == value
    assert gg.hessian(_counts_loss)(w, n)[0, 0] == pytest.approx(2 * n.mean(), rel=1e-14)
    # compiled on NumPy arrays: what NumPy computes, float64; on tensors, PyTorch's rules (the default float)
    scale = gg.compile(lambda n: n * 0.1)
    assert scale(n).dtype == np.float64 and scale(gg.tensor(n)).dtype == gg.float32
    assert "default dtype float64 -> float32" in scale.recompile_reasons[-1]


def test_vjp_and_linearize_of_numpy_arrays_return_arrays_when_the_function_closes_over_one():
    n = np.array([1.0, 2.0, 7.0])
    y, f_vjp = gg.vjp(lambda w: gnp.sum(w * n), np.ones(3))
    assert isinstance(y, np.ndarray) and isinstance(f_vjp(1.0)[0], np.ndarray)  # (they were tensors)
    y, f_jvp = gg.linearize(lambda w: gnp.sum(w * n), np.ones(3))
    assert isinstance(y, np.ndarray) and isinstance(f_jvp(np.ones(3)), np.ndarray)
    y, f_vjp = gg.vjp(lambda w: gnp.sum(w * n), gg.tensor(np.ones(3)))
    assert isinstance(y, gg.Tensor) and isinstance(f_vjp(1.0)[0], gg.Tensor)


def test_numpy_float32_scalars_are_differentiated_by_every_transform():
    x = np.float32(2.0)
    for transform in (gg.grad, gg.jacrev, gg.jacfwd, gg.hessian):
        out = transform(lambda x: x ** 3)(x)  # jacrev, jacfwd and hessian said "requires real-valued inputs"
        assert out.dtype == np.float32 and float(out) == 12.0  # 3 x**2 and 6 x at 2


# -- has_aux, as JAX's ------------------------------------------------------------------------------

def _loss_with_aux(w, x):
    residual = gnp.dot(x, w) - 1.0
    return gnp.sum(residual ** 2), {"residual": residual, "mean": gnp.mean(residual)}


def test_grad_and_value_and_grad_with_aux():
    w, x = np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.0]])
    residual = x @ w - 1.0
    g, aux = gg.grad(_loss_with_aux, has_aux=True)(w, x)
    np.testing.assert_allclose(g, 2 * x.T @ residual, rtol=1e-14)
    np.testing.assert_allclose(aux["residual"], residual, rtol=1e-14)
    assert isinstance(aux["mean"], np.ndarray) and aux["mean"] == residual.mean()
    (value, aux), (gw, gx) = gg.value_and_grad(_loss_with_aux, argnums=(0, 1), has_aux=True)(w, x)
    assert value == np.sum(residual ** 2)
    np.testing.assert_allclose(gx, 2 * np.outer(residual, w), rtol=1e-14)
    g, aux = gg.grad(lambda w, x, scale=1.0: (_loss_with_aux(w, x)[0] * scale, scale), has_aux=True)(w, x, scale=3.0)
    np.testing.assert_allclose(g, 6 * x.T @ residual, rtol=1e-14)  # keyword arguments pass through
    g, aux = gg.grad(lambda t: (t ** 3, t * 2), has_aux=True)(2.0)
    assert g == 12.0 and isinstance(g, np.float64)  # a float's gradient is a scalar, as without aux
    # on tensors requiring grad the results carry history; under compile, one graph
    t = gg.tensor(w, requires_grad=True)
    g, aux = gg.grad(_loss_with_aux, has_aux=True)(t, x)
    aux["mean"].backward()
    np.testing.assert_allclose(t.grad.numpy(), x.mean(axis=0), rtol=1e-14)
    first = gg.compile(lambda w: gg.grad(_loss_with_aux, has_aux=True)(w, gg.tensor(x))[0][0])
    np.testing.assert_allclose(first(gg.tensor(w)).item(), (2 * x.T @ residual)[0], rtol=1e-14)
    with pytest.raises(TypeError, match="must return a pair"):
        gg.grad(lambda w: gnp.sum(w), has_aux=True)(w)
    with pytest.raises(TypeError, match=r"a pair \(scalar, aux\)"):
        gg.grad(lambda w: (w, 1.0), has_aux=True)(w)


# -- in-place updates of arguments: refused by the pure transforms (compile writes them back) ----------------

def _accumulate(x, buf):
    buf += x  # NumPy updates the caller's array
    return gnp.sum(buf * x)


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacrev", "jacfwd", "hessian", "elementwise_grad",
                                       "vmap"])
def test_an_argument_updated_in_place_is_refused_by_the_transforms(transform):
    # jacrev, jacfwd, hessian, vmap and elementwise_grad returned values and left buf as it was; grad said
    # "grad requires a scalar output"
    x, buf = np.array([1.0, 2.0]), np.zeros(2)
    f = getattr(gg, transform)(_accumulate, **({"in_axes": (0, None)} if transform == "vmap" else {}))
    with pytest.raises(TracerError, match=r"in-place add_ on 'buf', an argument .* transforms pure functions.*"
                                          r"buf = buf \+ x"):
        f(np.ones((3, 2)) if transform == "vmap" else x, buf)
    compiled, buf = gg.compile(_accumulate), np.zeros(2)
    assert [float(compiled(x, buf)) for _ in range(2)] == [5.0, 10.0] and buf.tolist() == [2.0, 4.0]


def test_a_numpy_array_updated_with_a_traced_value_is_refused_naming_the_alternative():
    buf = np.zeros(2)

    def f(x):
        b = buf
        b += x  # ndarray.__iadd__(traced): "numpy.add is not available" named the wrong problem
        return gnp.sum(b)
    with pytest.raises(TypeError, match=r"numpy.add into a NumPy array .*a = a \+ t"):
        gg.grad(f)(np.ones(2))
    b = np.zeros(2)
    b += gg.tensor([1.0, 2.0])  # an eager tensor without gradient: NumPy computes on its values, as before
    assert b.tolist() == [1.0, 2.0]


def test_namedtuples_are_pytrees_as_in_jax():
    from collections import namedtuple

    Params = namedtuple("Params", "w b")
    loss = lambda p, x: gnp.sum((x @ p.w + p.b) ** 2)  # noqa: E731
    p, x = Params(np.array([1.0, -2.0]), 0.5), np.array([[1.0, 2.0], [3.0, 4.0]])
    residual = x @ p.w + p.b
    g = gg.grad(loss)(p, x)  # was refused: "got Params ... pass floats (np.asarray(p, dtype=float))"
    assert type(g) is Params and isinstance(g.b, np.float64)
    np.testing.assert_allclose(g.w, 2 * x.T @ residual, rtol=1e-14)
    assert g.b == 2 * residual.sum()
    batched = gg.vmap(lambda p: p.w * p.b, in_axes=(Params(0, None),))(Params(np.ones((3, 2)), 2.0))
    np.testing.assert_array_equal(batched, np.full((3, 2), 2.0))
    with pytest.raises(TypeError, match=r"got int for argument 0 \(p.b\)"):
        gg.grad(loss)(Params(p.w, 1), x)


# -- NumPy's random generators drawn from while tracing --------------------------------------------------

def test_numpy_random_draws_inside_a_transformed_function_are_new_at_every_call_as_in_numpy():
    # the first trace's draws were baked into the graph and reused at every later call
    rs = np.random.RandomState(0)

    def noisy(w):
        return gnp.sum(w * np.random.randn(3)) + gnp.sum(w * rs.randn(3))

    def reference(calls, seed):
        np.random.seed(seed)
        mine = np.random.RandomState(0)
        return [np.random.randn(3) + mine.randn(3) for _ in range(calls)]

    grad = gg.grad(noisy)
    np.random.seed(1)
    with pytest.warns(UserWarning, match=r"drew random numbers from (NumPy's global random generator|the random "
                                         r"generator closed-over 'rs')") as warned:
        got = [grad(np.ones(3)) for _ in range(3)]
    assert {str(w.message).split(", which")[0] for w in warned} == {
        "graphgrad: the traced function drew random numbers from NumPy's global random generator (np.random)",
        "graphgrad: the traced function drew random numbers from the random generator closed-over 'rs'"}
    np.testing.assert_allclose(got, reference(3, 1), rtol=1e-15)
    compiled, rs = gg.compile(noisy), np.random.RandomState(0)
    np.random.seed(2)
    with pytest.warns(UserWarning, match="drew random numbers"):  # (both generators again)
        got = [compiled(np.ones(3)) for _ in range(3)]
    np.testing.assert_allclose(got, [r.sum() for r in reference(3, 2)], rtol=1e-15)
    assert "moved on since the trace drew from it" in compiled.recompile_reasons[-1]
    # a generator made (and seeded) inside draws the same numbers at every call: nothing to guard
    seeded = gg.grad(lambda w: gnp.sum(w * np.random.default_rng(0).standard_normal(3)))
    np.testing.assert_array_equal(seeded(np.ones(3)), seeded(np.ones(3)))


def test_numpy_code_under_a_transform_keeps_numpys_index_layout_while_tensors_keep_pytorchs():
    """``a[1, :, [0, 1]]``: NumPy counts the int as an advanced index and puts the advanced dims first, (2, 4);
    PyTorch selects with the int first, (4, 2). NumPy code traced by gg.grad / gg.compile on arrays gets NumPy's
    layout (it ran on arrays before), a tensor PyTorch's."""
    x = np.arange(60.0).reshape(3, 4, 5)
    weights = np.arange(8.0).reshape(2, 4)

    def f(a):
        return (a[1, :, [0, 1]] * weights).sum()

    assert f(x) == (x[1, :, [0, 1]] * weights).sum()
    expected = np.zeros_like(x)
    expected[1, :, 0], expected[1, :, 1] = weights[0], weights[1]  # d/da of sum(w[i, j] * a[1, j, i])
    np.testing.assert_array_equal(gg.grad(f)(x), expected)
    assert float(gg.compile(f)(x)) == f(x)
    t = gg.tensor(x)
    assert tuple(t[1, :, [0, 1]].shape) == (4, 2)
    assert tuple(gg.compile(lambda a: a[1, :, [0, 1]])(t).shape) == (4, 2)


def test_row_stack_is_vstack_on_arrays_whatever_numpy_is_installed():
    # NumPy 2.0 deprecated row_stack and 2.5 removed it: importing graphgrad failed on 2.5
    a, b = np.arange(3.0), np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        stacked = gnp.row_stack([a, b])
    assert isinstance(stacked, np.ndarray)
    np.testing.assert_array_equal(stacked, np.vstack([a, b]))
    x = gg.tensor(a, requires_grad=True)
    gnp.row_stack([x, x * 2.0]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 3.0))


def test_a_list_of_lists_index_keeps_numpy_s_meaning_in_numpy_code():
    # tensors read x[[[0, 1], [1, 0]]] as PyTorch does (a tuple of two indices); NumPy code traced on arrays
    # keeps NumPy's reading: one array index picking whole rows
    a = np.arange(12.0).reshape(3, 4)
    value, grad = gg.value_and_grad(lambda x: gnp.sum(x[[[0, 1], [1, 0]]] ** 2))(a)
    assert value == np.sum(a[np.array([[0, 1], [1, 0]])] ** 2)
    np.testing.assert_array_equal(grad, 4 * a * np.array([[1.0], [1.0], [0.0]]))
