"""graphgrad.numpy: existing NumPy code differentiates by changing its import."""
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
