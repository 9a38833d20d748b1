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


def _update_a_contiguous_copy(view):
    def f(x):
        y = x * 1
        z = view(y).contiguous()
        z.add_(10.0)
        return y, z
    return f


@pytest.mark.parametrize("view", [lambda y: y[:, 1:], lambda y: y.t(), lambda y: y[0], lambda y: y[1:],
                                  lambda y: y.permute(1, 0)[::2], lambda y: y.t().reshape(6)],
                         ids=["columns", "t", "row", "rows", "permuted, stepped", "reshape of t (a copy)"])
def test_contiguous_copies_where_eager_code_copies(view):
    # a non-contiguous view's contiguous() is a copy eagerly; traced, it was the view, whose update wrote through to
    # y (y[:, 1:]) or was refused (y.t()); a contiguous one is the tensor itself in both modes (its update reaches y)
    f = _update_a_contiguous_copy(view)
    x = gg.tensor(np.arange(6.0).reshape(2, 3))
    eager, compiled = f(x), gg.compile(f)(x)
    for e, c in zip(eager, compiled):
        assert c.tolist() == e.tolist()


def test_strides_of_traced_views_are_eager_code_s():
    views = [lambda y: y, lambda y: y.t(), lambda y: y[:, 1:], lambda y: y[1:], lambda y: y[:, ::2],
             lambda y: y.expand(2, 2, 3), lambda y: y.permute(1, 0), lambda y: y.reshape(3, 2),
             lambda y: y.t()[1], lambda y: y.unsqueeze(0)]
    x = gg.tensor(np.arange(6.0).reshape(2, 3))
    seen = []

    def f(x):
        y = x * 1
        seen.append([(view(y).stride(), view(y).is_contiguous()) for view in views])
        return y
    f(x)
    gg.compile(f)(x)
    assert seen[1] == seen[0]
    assert seen[0][1] == ((1, 3), False) and seen[0][3] == ((3, 1), True)


def test_a_reshape_that_copies_is_no_view():
    # y.t().reshape(6) is a copy eagerly: it keeps its values when y is updated, and may be updated itself (both
    # were refused as "a view"); y.reshape(6), a view, still is one
    def f(x):
        y = x * 1
        z = y.t().reshape(6)
        y.add_(1.0)
        z.mul_(2.0)
        return z, y

    def g(x):
        y = x * 1
        z = y.reshape(6)
        y.add_(1.0)
        return z * 2
    x = gg.tensor(np.arange(6.0).reshape(2, 3))
    for e, c in zip(f(x), gg.compile(f)(x)):
        assert c.tolist() == e.tolist()
    with pytest.raises(TracerError, match=r"a view \(the result of reshape\) used at .* was taken before its base"):
        gg.compile(g)(x)
