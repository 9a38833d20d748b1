"""sigmoid computed as PyTorch computes it, ``1 / (1 + exp(-x))`` in the input's dtype: accurate to a few ulps
wherever the result is a normal number, the exact limits at the ends, no floating-point warnings, the same
eagerly and compiled. (It was ``exp(-logaddexp(0, -x))``: NumPy's logaddexp is a scalar loop, 12-20x slower.)"""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg


def _reference(x: float) -> float:
    """sigmoid in float64 from the side where exp cannot overflow."""
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _both_modes(x):
    """sigmoid of tensor ``x`` eagerly and compiled, with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return gg.sigmoid(x).numpy(), gg.compile(lambda t: t.sigmoid())(x).numpy()


@pytest.mark.parametrize("dtype, bound, rtol", [(gg.float32, 80.0, 5e-7), (gg.float64, 700.0, 2e-15)])
def test_sigmoid_is_accurate_where_the_result_is_normal_in_both_modes(dtype, bound, rtol):
    xs = np.concatenate([np.linspace(-bound, bound, 4001), np.linspace(-4.0, 4.0, 801)])
    x = gg.tensor(xs, dtype=dtype)
    want = np.array([_reference(float(v)) for v in x.numpy()])
    for got in _both_modes(x):
        assert got.dtype == x.numpy().dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [gg.float32, gg.float64])
def test_sigmoid_at_the_ends_gives_the_limits_and_nan_without_warnings(dtype):
    x = gg.tensor([-math.inf, -1e4, -1000.0, 1000.0, 1e4, math.inf, math.nan], dtype=dtype)
    for got in _both_modes(x):
        np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, math.nan])
        assert not np.signbit(got[:3]).any()


def test_sigmoid_underflows_to_zero_where_exp_overflows_in_float32_as_in_pytorch():
    # PyTorch's float32 sigmoid(-89.0) is 0 (exp(89) is inf in float32); sigmoid(-88.0) is about 6.05e-39
    x = gg.tensor([-89.0, -88.0], dtype=gg.float32)
    for got in _both_modes(x):
        assert got[0] == 0.0
        np.testing.assert_allclose(got[1], _reference(-88.0), rtol=1e-6)


def test_generated_sigmoid_is_one_expression_over_exp_and_its_gradient_matches_finite_differences():
    x = gg.tensor(np.linspace(-6.0, 6.0, 7), requires_grad=True)
    f = gg.compile(lambda t: t.sigmoid().sum())
    source = f.source(x)
    assert "t1 = 1 / (1 + np.exp(-t))" in source
    assert "logaddexp" not in source
    f(x).backward()
    s = np.array([_reference(v) for v in x.detach().numpy()])
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-14)
    h = 1e-6
    xs = x.detach().numpy()
    numeric = [(_reference(v + h) - _reference(v - h)) / (2 * h) for v in xs]
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-7, atol=0)
