"""Constant folding, before and after, and compiled gradients that still equal eager ones in float64."""
import numpy as np
import graphgrad as gg
from graphgrad.ir.parser import parse_graph
from graphgrad.ir.verify import verify
from graphgrad.passes.constant_fold import fold_constants
from graphgrad.utils.gradcheck import gradcheck


def lines(graph):
    return [line.split("#")[0].strip() for line in str(graph).splitlines()[1:-2]]


def test_arithmetic_on_constants_becomes_one_constant():
    g = parse_graph("""
    graph f(%y: f64[3]) {
      %one: f64[3] = full_like(%y, value=1.0)
      %a: f64[3] = mul(%one, 0.5)
      %b: f64[3] = neg(%a)
      %two: f64[3] = full_like(%y, value=2.0)
      %c: f64[3] = add(%b, %two)
      %d: f64[3] = mul(%c, %y)
      return %d
    }""")
    assert lines(verify(fold_constants(g))) == ["%c: f64[3] = full_like(%y, value=1.5)", "%d: f64[3] = mul(%c, %y)"]


def test_x_times_zero_folds_only_for_a_known_finite_x():
    g = parse_graph("""
    graph f(%x: f64[3]) {
      %z: f64[3] = mul(%x, 0.0)
      %k: f64[3] = full_like(%x, value=4.0)
      %w: f64[3] = mul(%k, 0.0)
      %s: f64[3] = add(%z, %w)
      return %s
    }""")
    out = lines(verify(fold_constants(g)))
    assert "%z: f64[3] = mul(%x, 0.0)" in out          # inf * 0 is nan: not a zero to fold
    assert "%w: f64[3] = full_like(%x, value=0.0)" in out


def test_literal_chains_combine_when_nothing_else_reads_the_middle():
    g = parse_graph("""
    graph f(%x: f64[3]) {
      %a: f64[3] = mul(%x, 2.0)
      %b: f64[3] = mul(%a, 3.0)
      %c: f64[3] = add(%b, 1.0)
      %d: f64[3] = sub(%c, 4.0)
      %e: f64[3] = div(%d, 2.0)
      %f: f64[3] = div(%e, 5.0)
      %p: f64[3] = add(%x, 1.0)
      %q: f64[3] = add(%p, 1.0)
      %r: f64[3] = mul(%p, %q)
      return %f, %r
    }""")
    out = lines(verify(fold_constants(g)))
    assert out[:3] == ["%b: f64[3] = mul(%x, 6.0)", "%d: f64[3] = add(%b, -3.0)", "%f: f64[3] = div(%d, 10.0)"]
    assert "%q: f64[3] = add(%p, 1.0)" in out            # %p is read twice: both steps stay


def test_integer_chains_are_left_alone():
    g = parse_graph("""
    graph f(%i: i64[3]) {
      %a: i64[3] = add(%i, 1)
      %b: i64[3] = add(%a, 2)
      return %b
    }""")
    assert lines(fold_constants(g)) == ["%a: i64[3] = add(%i, 1)", "%b: i64[3] = add(%a, 2)"]


def chain(x, w):
    y = (x * 2.0) * 3.0 + 1.0 - 0.25
    y = (y * w / 2.0) / 4.0
    return (y.sin() * (gg.ones(3, dtype=gg.float64) * 0.5 + 1.0)).sum()


def test_folded_compiled_gradients_equal_eager_and_finite_differences():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal(3), requires_grad=True)
    w = gg.tensor(rng.standard_normal(3), requires_grad=True)
    compiled = gg.compile(chain)
    optimized = compiled.graph(x, w, stage="optimized")
    literals = [i for n in optimized.nodes for i in n.inputs if isinstance(i, float)]
    assert 6.0 in literals and 8.0 in literals  # the chains were combined
    compiled(x, w).backward()
    got = [x.grad.numpy().copy(), w.grad.numpy().copy()]
    x.grad = w.grad = None
    chain(x, w).backward()
    for a, b in zip(got, [x.grad.numpy(), w.grad.numpy()]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert gradcheck(compiled, (x, w))


def test_grad_of_functions_with_constant_chains_matches_closed_forms():
    x = np.array([1.0, -2.0, 0.5, 4.0])
    np.testing.assert_allclose(gg.grad(lambda v: (v * v).mean() * 3.0)(x), 6.0 * x / 4, rtol=1e-15)
    second = gg.grad(lambda v: gg.grad(lambda u: (u ** 3 * 2.0 * 0.5).sum())(v).sum())
    np.testing.assert_allclose(second(x), 6.0 * x, rtol=1e-14)


def test_float_attributes_print_as_numbers_and_parse_back():
    text = """graph f(%y: f64[3]) {
  %one: f64[3] = full_like(%y, value=1.5)
  return %one
}"""
    g = parse_graph(text)
    assert "full_like(%y, value=1.5)" in str(g)  # it printed value='1.5', which parsed back as a string
    assert parse_graph(str(g)).nodes[0].attrs["value"] == 1.5
