"""Tensor methods PyTorch code calls inside compiled functions, and what a compiled function returns."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer import TracerError


def test_comparison_methods_trace():
    # x.gt(0) and the other method spellings were eager-only: AttributeError inside a compiled function
    def f(x):
        return (x.gt(0).float() * x + x.less_equal(0) * 2.0 + x.ne(2.0) + x.eq(-1.0) + x.greater_equal(2.0)
                + x.lt(0) + x.le(-1.0) + x.ge(0) + x.greater(1.0) + x.less(5.0) + x.not_equal(0.5))
    x = gg.tensor([-1.0, 0.5, 2.0])
    assert gg.compile(f)(x).tolist() == f(x).tolist() == [8.0, 3.5, 7.0]


@pytest.mark.parametrize("fn, kind", [
    (lambda: gg.arange(3), gg.Tensor),
    (lambda: (gg.ones(2), gg.zeros(1)), gg.Tensor),
    (lambda n: gg.ones(n) * 2, gg.Tensor),
], ids=["no arguments", "tuple", "a number"])
def test_a_function_of_no_arrays_returns_tensors(fn, kind):
    # compiled code returned NumPy arrays when no argument was a tensor, whatever the function made
    args = (3,) if fn.__code__.co_argcount else ()
    eager, compiled = fn(*args), gg.compile(fn)(*args)
    for e, c in zip(*(r if isinstance(r, tuple) else (r,) for r in (eager, compiled))):
        assert type(c) is type(e) is kind
        assert c.tolist() == e.tolist()


def test_numpy_in_numpy_out():
    a = np.ones(2)
    assert type(gg.compile(lambda a: a * 2)(a)) is np.ndarray
    w = gg.ones(2, dtype=gg.float64)
    assert type(gg.compile(lambda a: w * a)(a)) is gg.Tensor  # a closed-over tensor: as eager `w * a`


def test_retain_grad_on_a_traced_value_says_where():
    def f(x):
        h = x * 2
        h.retain_grad()
        return h.sum()
    with pytest.raises(TracerError, match=r"retain_grad\(\) on a value traced inside a compiled function at "
                                          r".*test_compile_methods.py:\d+: `h.retain_grad\(\)`"):
        gg.compile(f)(gg.ones(2, requires_grad=True))


@pytest.mark.parametrize("fn", [lambda t: t.sort(), lambda t: t.sort(descending=True), lambda t: t.topk(1),
                                lambda t: gg.sort(t)], ids=["sort", "descending", "topk", "gg.sort"])
def test_sorting_a_0d_tensor(fn):
    # compiled code raised an IndexError from the generated gather
    x = gg.tensor(3.0, requires_grad=True)
    eager, compiled = fn(x), gg.compile(fn)(x)
    assert (compiled.values.item(), compiled.indices.item()) == (eager.values.item(), eager.indices.item()) == (3.0, 0)
    assert compiled.values.shape == eager.values.shape == ()
    compiled.values.backward()
    assert x.grad.item() == 1.0
