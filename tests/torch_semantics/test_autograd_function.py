"""Issue 13 §4: torch.autograd.Function in eager mode (closed forms, finite differences, PyTorch's errors)."""
import numpy as np
import pytest

import graphgrad as torch
from graphgrad.autograd import Function
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


class LegendrePolynomial3(Function):
    """From PyTorch's "Learning PyTorch with Examples" (polynomial_custom_function)."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class ScaledMulWithIndex(Function):
    @staticmethod
    def forward(ctx, x, y, scale):
        ctx.save_for_backward(x, y)
        ctx.scale = scale
        ctx.flags = ctx.needs_input_grad
        index = x.argmax()
        ctx.mark_non_differentiable(index)
        return x * y * scale, index

    @staticmethod
    def backward(ctx, grad, grad_index):
        x, y = ctx.saved_tensors
        assert grad_index is None or float(grad_index.abs().sum()) == 0.0
        return grad * y * ctx.scale, grad * x * ctx.scale, None


def f64(values):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_the_tutorials_legendre_polynomial_matches_its_closed_form():
    x = f64([-1.0, 0.0, 0.5, 2.0])
    y = LegendrePolynomial3.apply(x)
    assert y.grad_fn.name() == "LegendrePolynomial3Backward"
    assert y.grad_fn.next_functions[0][0].variable is x
    y.sum().backward()
    assert np.allclose(x.grad.numpy(), 1.5 * (5 * x.detach().numpy() ** 2 - 1))
    assert gradcheck(LegendrePolynomial3.apply, [f64([0.3, -0.7])])
    # its backward is written with graphgrad ops: it records under create_graph, so second order works too
    assert gradgradcheck(LegendrePolynomial3.apply, [f64([0.3, -0.7])])


def test_several_outputs_needs_input_grad_and_non_differentiable_outputs():
    x, y = f64([1.0, 3.0, 2.0]), torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
    out, index = ScaledMulWithIndex.apply(x, y, 0.5)
    assert index.item() == 1 and index.grad_fn is None and not index.requires_grad
    assert out.grad_fn.name() == "ScaledMulWithIndexBackward"
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    assert gradcheck(lambda a, b: ScaledMulWithIndex.apply(a, b, 2.0)[0], [f64([1.0, 2.0]), f64([3.0, -1.0])])
    ctx_flags = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx_flags.append(ctx.needs_input_grad)
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g

    Probe.apply(f64([1.0]), torch.tensor([1.0], dtype=torch.float64))
    assert ctx_flags == [(True, False)]


def test_no_history_when_nothing_requires_grad():
    y = LegendrePolynomial3.apply(torch.tensor([0.5]))
    assert y.grad_fn is None and not y.requires_grad
    with torch.no_grad():
        assert LegendrePolynomial3.apply(f64([0.5])).grad_fn is None


def test_pytorchs_errors():
    x = f64([0.5, 1.0])
    y = x * 1
    out = LegendrePolynomial3.apply(y)
    y.add_(1.0)  # the saved input changed before backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    out = LegendrePolynomial3.apply(x)
    out.sum().backward()
    with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second time"):
        out.sum().backward()

    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"^function TooFewBackward returned an incorrect number of gradients "
                                           r"\(expected 2, got 1\)$"):
        TooFew.apply(f64([1.0]), f64([2.0])).sum().backward()


def test_setup_context_style_and_the_function_module():
    from graphgrad.autograd.function import Function as Same

    class Square(Same):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * g * x

    assert gradcheck(Square.apply, [f64([1.5, -2.0])])


def test_inside_compile_it_is_refused_with_a_clear_error():
    @torch.compile
    def f(x):
        return LegendrePolynomial3.apply(x).sum()

    with pytest.raises(RuntimeError, match="LegendrePolynomial3.apply: a custom autograd.Function runs in eager "
                                           "mode only"):
        f(torch.ones(2, requires_grad=True))
