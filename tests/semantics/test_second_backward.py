"""A second ``backward()`` without ``retain_graph`` fails, as in PyTorch, only where a node saved a value it needs
again: nodes that saved nothing (``x + 1``, ``sum``, views, ``mean``, ``clone``) run again and add the same
gradient; a number the rule reads (``x * 2``) counts as saved, as PyTorch saves it as a tensor. A custom Function's
backward fails only when it reads ``ctx.saved_tensors``."""
import re

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.autograd import Function

SECOND = re.escape("Trying to backward through the graph a second time")


def f64(values):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("loss, grad", [
    (lambda x: (x + 1).sum(), [1.0, 1.0]),
    (lambda x: (x - 1).sum(), [1.0, 1.0]),
    (lambda x: x.reshape(2, 1).t().mean(), [0.5, 0.5]),
    (lambda x: x.clone().sum(), [1.0, 1.0]),
    (lambda x: (-x)[1:].sum(), [0.0, -1.0]),
])
def test_a_graph_that_saved_nothing_may_run_backward_again(loss, grad):
    x = f64([1.0, 2.0])
    out = loss(x)
    out.backward()
    out.backward()
    assert np.allclose(x.grad.numpy(), 2 * np.asarray(grad))


@pytest.mark.parametrize("loss", [
    lambda x: (x * 2).sum(),                      # the number is saved (PyTorch: a wrapped-number tensor)
    lambda x: (x / 2).sum(),
    lambda x: (x * x).sum(),
    lambda x: x.exp().sum(),                      # the output is saved
    lambda x: (x * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum(),
])
def test_a_graph_that_saved_a_value_refuses_a_second_backward(loss):
    x = f64([1.0, 2.0])
    out = loss(x)
    out.backward()
    with pytest.raises(RuntimeError, match=SECOND):
        out.backward()


def test_only_the_node_that_saved_something_stops_a_partly_reused_graph():
    x = f64([1.0, 2.0])
    y = x * x
    (y + 1).sum().backward()
    with pytest.raises(RuntimeError, match=SECOND):
        (y * 3).sum().backward()


def test_a_custom_function_refuses_only_when_its_backward_reads_the_freed_saved_tensors():
    calls = []

    class Double(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Saving(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            a, = ctx.saved_tensors
            return g * 2

    x = f64([1.0, 2.0])
    out = Double.apply(x).sum()
    out.backward()
    out.backward()
    assert x.grad.tolist() == [4.0, 4.0]
    out = Saving.apply(f64([1.0, 2.0])).sum()
    out.backward()
    with pytest.raises(RuntimeError, match=SECOND):
        out.backward()
    assert calls == [1, 1]  # the user's backward ran, and failed reading ctx.saved_tensors


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
