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
