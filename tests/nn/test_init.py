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
