"""Hardtanh, ReLU6, Hardsigmoid, Hardswish, SELU, CELU, Mish, Softsign, Tanhshrink, LogSigmoid, Hardshrink and
Softshrink (functional and modules): values against their definitions in NumPy, gradients against finite
differences in float64 away from the kinks and against PyTorch's documented one-sided values at them, and
compiled against eager."""
import math

import numpy as np
import pytest

import graphgrad as torch
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x):
    return np.logaddexp(0.0, x)


DEFINITIONS = {  # F.<name>, its definition on NumPy arrays
    "hardtanh": (F.hardtanh, lambda x: np.clip(x, -1.0, 1.0)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0.0, 6.0)),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "selu": (F.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
    "celu": (lambda t: F.celu(t, 2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(np.minimum(x, 0) / 2.0))),
    "mish": (F.mish, lambda x: x * np.tanh(_softplus(x))),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x)),
    "logsigmoid": (F.logsigmoid, lambda x: -_softplus(-x)),
    "hardshrink": (F.hardshrink, lambda x: np.where(np.abs(x) > 0.5, x, 0.0)),
    "softshrink": (lambda t: F.softshrink(t, 0.3), lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.3, 0.0)),
}
# points away from every kink (-3, -1, -0.5, -0.3, 0, 0.3, 0.5, 1, 3, 6), and a very negative one
POINTS = np.array([-7.0, -3.4, -2.2, -0.7, -0.4, -0.1, 0.2, 0.4, 0.8, 1.7, 4.2, 6.5, -300.0])


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_value_gradient_second_order_and_compiled(name):
    fn, definition = DEFINITIONS[name]
    x = torch.tensor(POINTS, requires_grad=True)
    np.testing.assert_allclose(fn(x).detach().numpy(), definition(POINTS), rtol=1e-12, atol=1e-300)
    probe = torch.tensor(POINTS[:-1], requires_grad=True)  # finite differences need no overflow nearby
    assert gradcheck(fn, (probe,))
    assert gradgradcheck(fn, (probe,))
    fn(x).sum().backward()
    eager = x.grad.numpy().copy()
    x.grad = None
    torch.compile(lambda t: fn(t).sum())(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), eager, rtol=1e-13)
    assert math.isfinite(eager[-1])  # no overflow at -300


def test_gradients_at_the_kinks_are_pytorchs():
    def grad(fn, points):
        x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.tolist()

    # hardtanh and its relatives pass the gradient strictly inside their bounds only
    assert grad(F.hardtanh, [-1.0, 1.0, 0.0]) == [0.0, 0.0, 1.0]
    assert grad(F.relu6, [0.0, 6.0, 3.0]) == [0.0, 0.0, 1.0]
    assert grad(F.hardsigmoid, [-3.0, 3.0]) == [0.0, 0.0]
    # hardswish: 0 at -3 and 1 at 3 (PyTorch's backward), (2x + 3) / 6 between
    assert grad(F.hardswish, [-3.0, 3.0, 0.0]) == [0.0, 1.0, 0.5]
    assert grad(F.selu, [0.0]) == [SELU_SCALE * SELU_ALPHA]  # the negative branch at 0, as elu's
    assert grad(F.hardshrink, [0.5, -0.5]) == [0.0, 0.0]


def test_modules_repr_and_apply_the_functions():
    model = nn.Sequential(nn.Hardtanh(-2.0, 3.0), nn.ReLU6(inplace=True), nn.CELU(2.0), nn.Softshrink(0.3),
                          nn.Hardswish(), nn.Mish(), nn.LogSigmoid())
    assert repr(model) == ("Sequential(\n  (0): Hardtanh(min_val=-2.0, max_val=3.0)\n  (1): ReLU6(inplace=True)\n"
                           "  (2): CELU(alpha=2.0)\n  (3): Softshrink(0.3)\n  (4): Hardswish()\n  (5): Mish()\n"
                           "  (6): LogSigmoid()\n)")
    x = torch.tensor([-4.0, 0.5, 2.0, 5.0], dtype=torch.float64)
    expected = F.logsigmoid(F.mish(F.hardswish(F.softshrink(F.celu(F.relu6(F.hardtanh(x, -2.0, 3.0)), 2.0), 0.3))))
    np.testing.assert_allclose(model(x.clone()).numpy(), expected.numpy(), rtol=1e-15)


def test_hardtanh_and_relu6_are_one_np_clip_with_pytorchs_gradient_also_through_nan():
    x = torch.tensor([float("nan"), 0.0, 6.0, 3.0, -1.0, 7.0], dtype=torch.float64, requires_grad=True)
    for fn, bounds in ((F.relu6, "0.0, 6.0"), (lambda t: F.hardtanh(t, -0.5, 2.0), "-0.5, 2.0")):
        compiled = torch.compile(lambda t: fn(t).sum())
        forward = compiled.source(x).split("def forward")[1].split("def backward")[0]
        assert f"np.clip(t, {bounds})" in forward and "where" not in forward
    for run in (lambda t: F.relu6(t).sum(), torch.compile(lambda t: F.relu6(t).sum())):
        x.grad = None
        run(x).backward()
        assert x.grad.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # PyTorch's: 0 where x <= 0 or x >= 6, else 1
