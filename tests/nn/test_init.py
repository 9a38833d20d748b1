"""graphgrad.nn.init: PyTorch's gains and fan rules (exact formulas) and the distributions' bounds and scales."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn import init


def test_calculate_gain_covers_pytorch_s_nonlinearities():
    for name in ("linear", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d"):
        assert init.calculate_gain(name) == 1.0
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0) == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("mode, fan", [("fan_in", 4 * 9), ("fan_out", 5 * 9), ("Fan_In", 4 * 9), ("FAN_OUT", 5 * 9)])
def test_kaiming_uniform_bound_follows_the_fan_mode(mode, fan):
    gg.manual_seed(0)
    w = init.kaiming_uniform_(gg.empty(5, 4, 3, 3, dtype=gg.float64), mode=mode, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan)
    values = w.numpy()
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound  # 180 draws fill the interval


def test_kaiming_uniform_refuses_an_unknown_mode_and_skips_empty_tensors():
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(gg.empty(3, 4), mode="fan_avg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert init.kaiming_uniform_(gg.empty(3, 0)).shape == (3, 0)
    assert "Initializing zero-element tensors is a no-op" in str(caught[0].message)


@pytest.mark.parametrize("fn, kwargs, std", [
    (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), math.sqrt(2.0 / (300 * 4))),
    (init.kaiming_normal_, dict(a=0.2), math.sqrt(2.0 / 1.04 / (200 * 4))),
    (init.xavier_normal_, dict(gain=2.0), 2.0 * math.sqrt(2.0 / (500 * 4))),
])
def test_normal_initialisers_have_pytorch_s_scale(fn, kwargs, std):
    gg.manual_seed(0)
    values = fn(gg.empty(300, 200, 2, 2, dtype=gg.float64), **kwargs).numpy()
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    assert values.std() == pytest.approx(std, rel=0.01)  # 240000 draws: the sample std is within 0.3%


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -0.5, 0.5), (0.0, 0.02, -0.04, 0.04),
                                             (0.5, 1.0, 0.0, 3.0)])
def test_trunc_normal_has_the_truncated_moments(mean, std, a, b):
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = cdf(beta) - cdf(alpha)
    expected_mean = mean + std * (pdf(alpha) - pdf(beta)) / mass
    expected_var = std ** 2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass
                               - ((pdf(alpha) - pdf(beta)) / mass) ** 2)
    gg.manual_seed(0)
    values = init.trunc_normal_(gg.empty(400, 250, dtype=gg.float64), mean, std, a, b).numpy()
    assert values.min() >= a and values.max() <= b
    assert values.mean() == pytest.approx(expected_mean, abs=6 * math.sqrt(expected_var / values.size))
    assert values.var() == pytest.approx(expected_var, rel=0.02)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3), (6, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape):
    flat = init.orthogonal_(gg.empty(*shape, dtype=gg.float64), gain=2.0).numpy().reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(gg.empty(3))


def test_eye_dirac_and_sparse():
    np.testing.assert_array_equal(init.eye_(gg.empty(2, 3)).numpy(), np.eye(2, 3))
    w = init.dirac_(gg.empty(6, 2, 3, 3), groups=2).numpy()
    expected = np.zeros((6, 2, 3, 3))
    for out, inp in [(0, 0), (1, 1), (3, 0), (4, 1)]:  # 3 output channels per group, 2 inputs: as many as fit
        expected[out, inp, 1, 1] = 1
    np.testing.assert_array_equal(w, expected)
    x = gg.randn(1, 2, 5, 5, dtype=gg.float64)
    np.testing.assert_allclose(gg.nn.functional.conv2d(x, init.dirac_(gg.empty(2, 2, 3, 3, dtype=gg.float64)),
                                                       padding=1).numpy(), x.numpy())
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(gg.empty(5, 2, 3), groups=2)
    s = init.sparse_(gg.empty(10, 50, dtype=gg.float64), sparsity=0.35).numpy()
    assert ((s == 0).sum(axis=0) == 4).all()  # ceil(0.35 * 10) zeros in every column
