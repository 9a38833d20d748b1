"""Piecewise-constant ops (floor, round, sign, //, ...): their floating results require grad and pass on a zero
gradient, in eager and compiled code alike, as PyTorch's FloorBackward0 does; results that carry no gradient at
all (comparisons, argmax, detach) do not require grad."""
import numpy as np
import pytest

import graphgrad as gg

X = [1.5, -2.5, 3.0, 0.25, -0.75, 7.5]

PIECEWISE = {
    "floor": lambda x: gg.floor(x),
    "ceil": lambda x: x.ceil(),
    "trunc": lambda x: gg.trunc(x),
    "round": lambda x: gg.round(x),
    "round_decimals": lambda x: x.round(decimals=1),
    "sign": lambda x: gg.sign(x),
    "floor_divide": lambda x: x // 2.0,
    "div_floor": lambda x: x.div(x * x + 1.0, rounding_mode="floor"),
    "div_trunc": lambda x: x.div(0.7, rounding_mode="trunc"),
}


def _x():
    return gg.tensor(X, dtype=gg.float64, requires_grad=True)


@pytest.mark.parametrize("name", sorted(PIECEWISE))
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_result_requires_grad_and_gradient_is_zeros(name, mode):
    op = PIECEWISE[name]

    def f(x):
        return op(x) * 2

    fn = gg.compile(f) if mode == "compiled" else f
    x = _x()
    y = fn(x)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(X)))
    # the values agree with the eager ones
    np.testing.assert_array_equal(y.detach().numpy(), f(_x()).detach().numpy())


@pytest.mark.parametrize("name", sorted(PIECEWISE))
def test_zero_path_joining_a_differentiable_one(name):
    op = PIECEWISE[name]

    def f(x):
        return op(x) * x.exp() + 3 * x

    x = _x()
    f(x).sum().backward()
    eager = x.grad.numpy()
    xc = _x()
    gg.compile(f)(xc).sum().backward()
    # d/dx (c(x) * e^x + 3x) = c(x) e^x + 3 with c piecewise constant
    c = op(gg.tensor(X, dtype=gg.float64)).numpy()
    expected = c * np.exp(X) + 3
    np.testing.assert_allclose(eager, expected, rtol=1e-12)
    np.testing.assert_allclose(xc.grad.numpy(), expected, rtol=1e-12)


def test_the_zero_path_costs_nothing_in_the_generated_backward():
    def f(x):
        return gg.floor(x) * 2 + (x * x).sum()

    x = _x()
    backward = gg.compile(f).graph(x, stage="backward")
    assert {n.op for n in backward.nodes} <= {"mul", "add", "sum", "expand", "reshape", "full_like"}
    assert not any(n.op == "full_like" for n in backward.nodes), backward


def test_an_input_reached_only_through_zero_paths_gets_zeros():
    @gg.compile
    def f(x, w):
        return gg.sign(x) * w + (w * w).sum()

    x, w = _x(), gg.tensor([2.0] * len(X), dtype=gg.float64, requires_grad=True)
    f(x, w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(X)))
    np.testing.assert_allclose(w.grad.numpy(), np.sign(X) + 2 * len(X) * 2.0, rtol=1e-12)


def test_broadcast_operands_get_zeros_of_their_own_shapes():
    a = gg.tensor(np.arange(6.0).reshape(2, 3) - 2.5, requires_grad=True)
    b = gg.tensor([[1.5], [-2.0]], dtype=gg.float32, requires_grad=True)
    for fn in (lambda a, b: a // b, gg.compile(lambda a, b: a // b)):
        a.grad = b.grad = None
        fn(a, b).sum().backward()
        assert a.grad.shape == (2, 3) and b.grad.shape == (2, 1)
        assert not a.grad.numpy().any() and not b.grad.numpy().any()


def test_grad_transform_of_a_piecewise_constant_function_is_zeros():
    # jax.grad(lambda x: jnp.floor(x).sum())(x) is zeros too
    g = gg.grad(lambda x: gg.floor(x).sum())(np.array(X))
    assert isinstance(g, np.ndarray)
    np.testing.assert_array_equal(g, np.zeros(len(X)))


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_results_without_a_gradient_do_not_require_grad(mode):
    def f(x):
        return x < 1.0, x.argmax(), x.detach() * 2, gg.floor(x.detach())

    fn = gg.compile(f) if mode == "compiled" else f
    for r in fn(_x()):
        assert not r.requires_grad and r.grad_fn is None


def test_rounding_keeps_infinities_of_a_tensor_that_requires_grad():
    x = gg.tensor([float("inf"), -float("inf"), 2.5], requires_grad=True)
    for y in (x.floor(), x.ceil(), x.trunc(), x.round(), x.round(decimals=2), x.round(decimals=-1)):
        assert y.requires_grad
        assert np.isposinf(y[0].item()) and np.isneginf(y[1].item())


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_input_kept_only_for_the_shape_of_its_zero_gradient_may_change_in_place(mode):
    # floor keeps nothing of y in eager (PyTorch too); the compiled backward keeps y for full_like's shape only
    def f(y):
        return gg.floor(y) * 2

    fn = gg.compile(f) if mode == "compiled" else f
    x = _x()
    y = x * 1
    out = fn(y)
    y.add_(1)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(X)))
