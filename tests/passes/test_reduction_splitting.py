"""Reduction splitting (passes/reduction_splitting.py): a large sum's terms reduced one by one; graphs before and
after, values and gradients against eager ones and finite differences in float64, and the running sum no longer
at the peak of a binary cross-entropy step."""
import tracemalloc

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.passes.reduction_splitting as reduction_splitting
from graphgrad.ir.interpret import interpret
from graphgrad.ir.parser import parse_graph
from graphgrad.passes.reduction_splitting import split_reductions
from graphgrad.utils.gradcheck import gradcheck, numerical_jacobian


def bce(w, x, y):
    # the stable formula written out, a mean of three terms (nn.functional.binary_cross_entropy_with_logits is one op)
    z = x @ w
    return ((1 - y) * z + (-z).relu() + (-z.abs()).exp().log1p()).mean()


def test_the_terms_of_a_large_mean_are_reduced_as_soon_as_each_is_made():
    r = np.random.default_rng(0)
    w = gg.tensor(r.standard_normal(3) * 0.1, requires_grad=True)
    x, y = gg.tensor(r.standard_normal((10000, 3))), gg.tensor((r.random(10000) < 0.5) * 1.0)
    graph = gg.compile(bce).graph(w, x, y, stage="batched")
    forward = [n for n in graph.nodes if n.role == "forward"]
    ops = [n.op for n in forward]
    assert ops.count("mean") == 3  # (1 - y) * z, max(-z, 0) and log1p(exp(-|z|)), each reduced on its own
    for n in forward:
        if n.op == "mean":  # placed right after its term's producer: nothing made in between
            assert forward[forward.index(n) - 1].output is n.inputs[0]
    assert not any(n.op == "add" and n.output.type.shape == (10000,) for n in forward)


def test_signs_of_nested_sums_and_differences():
    g = parse_graph('''graph f(%a: f64[100], %b: f64[100], %c: f64[100]) {
      %e: f64[100] = exp(%a)
      %s: f64[100] = add(%b, %c)
      %d: f64[100] = sub(%e, %s)
      %m: f64[] = sum(%d, dim=None, keepdim=False)
      return %m
    }''')
    split = split_reductions(g, min_bytes=0)
    assert [n.op for n in split.nodes] == ["sum", "sum", "exp", "sum", "sub", "sub"]
    a, b, c = np.random.default_rng(1).standard_normal((3, 100))
    (want,) = interpret(g, [gg.tensor(v) for v in (a, b, c)])
    (got,) = interpret(split, [gg.tensor(v) for v in (a, b, c)])
    got, want = got.numpy(), want.numpy()
    np.testing.assert_allclose(got, np.sum(np.exp(a) - (b + c)), rtol=1e-13)
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("body, why", [
    ("%s: f64[100] = add(%a, 1.0)", "a literal term is broadcast"),
    ("%s: f64[100] = add(%a, %v)", "a broadcast term"),
    ("%s: bool[100] = add(%p, %p)", "a sum of bools is an or"),
])
def test_sums_that_do_not_distribute_are_left_alone(body, why):
    dtype = "bool" if "bool" in body else "f64"
    g = parse_graph(f'''graph f(%a: f64[100], %v: f64[1], %p: bool[100]) {{
      {body}
      %m: {"i64" if dtype == "bool" else "f64"}[] = sum(%s, dim=None, keepdim=False)
      return %m
    }}''')
    assert split_reductions(g, min_bytes=0) is g, why


def test_a_running_sum_read_elsewhere_or_small_is_left_alone():
    g = parse_graph('''graph f(%a: f64[100], %b: f64[100]) {
      %s: f64[100] = add(%a, %b)
      %m: f64[] = mean(%s, dim=None, keepdim=False)
      return %m, %s
    }''')
    assert split_reductions(g, min_bytes=0) is g  # %s is an output: made anyway
    small = parse_graph('''graph f(%a: f64[100], %b: f64[100]) {
      %s: f64[100] = add(%a, %b)
      %m: f64[] = mean(%s, dim=None, keepdim=False)
      return %m
    }''')
    assert split_reductions(small) is small  # 800 bytes: under SPLIT_BYTES
    assert len(split_reductions(small, min_bytes=0).nodes) == 3


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_split_sums_equal_eager_values_and_gradients_in_float64(dim, monkeypatch):
    monkeypatch.setattr(reduction_splitting, "SPLIT_BYTES", 0)

    def f(x, y):
        return ((x.exp() - x * y + (-x).relu()).sum(dim) * (x.sin() + y).mean(dim)).sum()

    r = np.random.default_rng(2)
    xs, ys = r.standard_normal((4, 5)), r.standard_normal((4, 5))
    compiled = gg.compile(f)
    leaves = [gg.tensor(a, requires_grad=True) for a in (xs, ys)]
    assert sum(n.op in ("sum", "mean") for n in compiled.graph(*leaves, stage="batched").nodes) > 4
    value = compiled(*leaves)
    value.backward()
    eager = [gg.tensor(a, requires_grad=True) for a in (xs, ys)]
    want = f(*eager)
    want.backward()
    np.testing.assert_allclose(value.item(), want.item(), rtol=1e-12)
    for got, ref in zip(leaves, eager):
        np.testing.assert_allclose(got.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert gradcheck(compiled, [gg.tensor(a, requires_grad=True) for a in (xs, ys)])
    # second order: the gradient of the gradient's squared norm, through gg.grad (compiled), against differences
    grad_f = gg.grad(f, argnums=(0, 1))

    def g_norm(x):
        return sum((g * g).sum() for g in grad_f(x, ys))

    analytic = gg.grad(g_norm)(xs)
    (numeric,) = numerical_jacobian(lambda x: float(g_norm(x)), [xs])
    np.testing.assert_allclose(analytic.ravel(), numeric.ravel(), rtol=1e-5, atol=1e-7)


def test_a_binary_cross_entropy_step_peaks_at_three_vectors():
    # the loss's three terms were summed into a fourth full-sized array beside z, exp(-|z|) (kept for the
    # backward) and the term being made: 4 vectors at the widest, now 3, as PyTorch's fused loss
    n = 50000
    r = np.random.default_rng(3)
    w = gg.tensor(r.standard_normal(4) * 0.1, requires_grad=True)
    x, y = gg.tensor(r.standard_normal((n, 4))), gg.tensor((r.random(n) < 0.5) * 1.0)
    f = gg.compile(bce)
    f(w, x, y).backward()
    w.grad = None
    tracemalloc.start()
    try:
        f(w, x, y).backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    vector = n * 8
    assert peak < 3.5 * vector, (peak / vector)


def test_a_sum_accumulated_over_thousands_of_steps_is_split_without_recursion(monkeypatch):
    # total = total + x[t] * t over 1,500 steps is an add chain that deep: the terms were collected by recursion,
    # past Python's limit (RecursionError at compile)
    monkeypatch.setattr(reduction_splitting, "SPLIT_BYTES", 0)

    def f(x):
        total = x[0]
        for t in range(1, x.shape[0]):
            total = total + x[t] * float(t)
        return total.mean()

    xs = np.random.default_rng(7).standard_normal((1500, 3))
    x = gg.tensor(xs, requires_grad=True)
    compiled = gg.compile(f)
    assert sum(n.op == "mean" for n in compiled.graph(x, stage="batched").nodes) == 1500
    value = compiled(x)
    value.backward()
    weights = np.concatenate([[1.0], np.arange(1.0, 1500.0)])
    np.testing.assert_allclose(value.item(), (xs * weights[:, None]).sum(0).mean(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), np.repeat(weights[:, None] / 3, 3, axis=1), rtol=1e-12)
