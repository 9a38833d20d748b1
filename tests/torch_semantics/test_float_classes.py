"""torch.isnan/isinf/isfinite/isposinf/isneginf/signbit, torch.isclose and torch.finfo/iinfo: names PyTorch code
reaches for (``if torch.isnan(loss)``, ``torch.finfo(x.dtype).eps``) that stopped programs with an AttributeError."""
import math

import numpy as np
import pytest

import graphgrad as torch
import graphgrad.numpy as gnp

VALUES = [1.0, math.nan, math.inf, -math.inf, -0.0, 0.0, -2.5]
EXPECTED = {  # by definition of each test, value by value
    "isnan": [False, True, False, False, False, False, False],
    "isinf": [False, False, True, True, False, False, False],
    "isfinite": [True, False, False, False, True, True, True],
    "isposinf": [False, False, True, False, False, False, False],
    "isneginf": [False, False, False, True, False, False, False],
    "signbit": [False, False, False, True, True, False, True],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_float_class_tests_eager_method_compiled_and_numpy_face(name):
    x = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    eager = getattr(torch, name)(x)
    assert eager.dtype == torch.bool and not eager.requires_grad and eager.tolist() == EXPECTED[name]
    assert getattr(x, name)().tolist() == EXPECTED[name]
    assert torch.compile(lambda t: getattr(torch, name)(t))(x).tolist() == EXPECTED[name]
    assert getattr(gnp, name)(np.array(VALUES)).tolist() == EXPECTED[name]
    ints = getattr(torch, name)(torch.tensor([3, -1]))  # integers are finite, never nan
    assert ints.tolist() == {"isfinite": [True, True], "signbit": [False, True]}.get(name, [False, False])


def test_masking_non_finite_values_keeps_the_gradient_of_the_finite_ones():
    x = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    torch.where(torch.isfinite(x), x * 3.0, torch.zeros_like(x)).sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0]


def test_isclose_is_torch_isclose():
    a = torch.tensor([1.0, 2.0, math.inf, math.nan])
    b = torch.tensor([1.0 + 1e-9, 2.1, math.inf, math.nan])
    assert torch.isclose(a, b).tolist() == [True, False, True, False]
    assert a.isclose(b, equal_nan=True).tolist() == [True, False, True, True]


def test_finfo_and_iinfo():
    f32 = torch.finfo(torch.float32)
    assert (f32.eps, f32.max, f32.tiny, f32.bits) == (2.0 ** -23, float(np.float32(3.4028235e38)), 2.0 ** -126, 32)
    assert torch.finfo().eps == 2.0 ** -23  # the default dtype
    assert torch.finfo(torch.float64).eps == 2.0 ** -52
    assert (torch.iinfo(torch.int64).max, torch.iinfo(torch.int64).min) == (2 ** 63 - 1, -2 ** 63)
    with pytest.raises(TypeError, match="requires a floating point input type"):
        torch.finfo(torch.int64)
    with pytest.raises(TypeError, match="requires an integer input type"):
        torch.iinfo(torch.float32)
