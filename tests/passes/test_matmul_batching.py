"""Matrix-product batching (passes/matmul_batching.py): graphs before and after, and results that do not change
(interpreted graphs with the pass and without it, compiled against eager gradients in float64, finite
differences to first and second order)."""
import tracemalloc

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.runtime.compiled as compiled_module
from graphgrad.ir.interpret import interpret
from graphgrad.ir.parser import parse_graph
from graphgrad.passes.matmul_batching import batch_matmuls
from graphgrad.passes.prune import eliminate_dead_nodes
from graphgrad.utils.gradcheck import gradcheck, numerical_jacobian


def lines(graph):
    return [line.split("#")[0].strip() for line in str(graph).splitlines()[1:-2]]


def ops(graph):
    return [n.op for n in graph.nodes]


def run(graph, arrays):
    return [o.numpy() for o in interpret(graph, [gg.tensor(a) for a in arrays])]


def assert_same_results(before, after, arrays, rtol=1e-12):
    for a, b in zip(run(before, arrays), run(after, arrays)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-14)


def rnn(wx, wh, b, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = (xs[t] @ wx + h @ wh + b).tanh()
    return (h * h).sum()


def rnn_arrays(steps=5, batch=3, n_in=4, hidden=6, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n_in, hidden)) * 0.5, rng.standard_normal((hidden, hidden)) * 0.3,
            rng.standard_normal(hidden) * 0.1, rng.standard_normal((batch, hidden)),
            rng.standard_normal((steps, batch, n_in))]


def rnn_tensors(arrays):
    return [gg.tensor(a, requires_grad=i < 3) for i, a in enumerate(arrays)]


def peak_of_a_later_step(f, args):
    """The most memory (tracemalloc) a forward and backward of ``f`` hold, after a first one warmed every cache."""
    f(*args).backward()
    for a in args:
        a.grad = None
    tracemalloc.start()
    try:
        f(*args).backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- before and after ------------------------------------------------------------------------------------------------

def test_products_of_every_step_of_one_input_become_one_product():
    before = parse_graph("""
    graph f(%x: f64[3,4,5], %w: f64[5,6], %v: f64[4,6]) {
      %a: f64[4,5] = getitem(%x, index=(0,))
      %p: f64[4,6] = matmul(%a, %w)
      %b: f64[4,5] = getitem(%x, index=(1,))
      %q: f64[4,6] = matmul(%b, %w)
      %c: f64[4,5] = getitem(%x, index=(-1,))
      %r: f64[4,6] = matmul(%c, %w)
      %s: f64[4,6] = add(%p, %v)
      return %s, %q, %r
    }""")
    after = batch_matmuls(before)
    assert lines(after) == [
        "%t1: f64[12,5] = reshape(%x, shape=(12, 5))",
        "%t2: f64[12,6] = matmul(%t1, %w)",
        "%t3: f64[3,4,6] = reshape(%t2, shape=(3, 4, 6))",
        "%p: f64[4,6] = getitem(%t3, index=[0])",
        "%q: f64[4,6] = getitem(%t3, index=[1])",
        "%r: f64[4,6] = getitem(%t3, index=[-1])",
        "%s: f64[4,6] = add(%p, %v)",
    ]
    rng = np.random.default_rng(1)
    assert_same_results(before, after, [rng.standard_normal(s) for s in ((3, 4, 5), (5, 6), (4, 6))])


def test_a_bias_added_to_every_product_is_added_once_to_the_whole():
    # the RNN's x_t @ wx + h @ wh + b: b joins the batched product, one addition per step is left
    before = parse_graph("""
    graph f(%x: f64[2,4,5], %w: f64[5,6], %b: f64[6], %h: f64[4,6], %k: f64[4,6]) {
      %a0: f64[4,5] = getitem(%x, index=(0,))
      %p0: f64[4,6] = matmul(%a0, %w)
      %s0: f64[4,6] = add(%p0, %h)
      %o0: f64[4,6] = add(%s0, %b)
      %a1: f64[4,5] = getitem(%x, index=(1,))
      %p1: f64[4,6] = matmul(%a1, %w)
      %s1: f64[4,6] = add(%k, %p1)
      %o1: f64[4,6] = add(%b, %s1)
      return %o0, %o1
    }""")
    after = batch_matmuls(before)
    assert lines(after) == [
        "%t1: f64[8,5] = reshape(%x, shape=(8, 5))",
        "%t2: f64[8,6] = matmul(%t1, %w)",
        "%t3: f64[2,4,6] = reshape(%t2, shape=(2, 4, 6))",
        "%t4: f64[2,4,6] = add(%t3, %b)",
        "%t5: f64[4,6] = getitem(%t4, index=[0])",
        "%o0: f64[4,6] = add(%t5, %h)",
        "%t6: f64[4,6] = getitem(%t4, index=[1])",
        "%o1: f64[4,6] = add(%k, %t6)",
    ]
    rng = np.random.default_rng(9)
    assert_same_results(before, after, [rng.standard_normal(s) for s in ((2, 4, 5), (5, 6), (6,), (4, 6), (4, 6))])
    # x_t @ w + b (a linear layer applied at every step): the adds become slices of one sum
    linear = parse_graph("""
    graph f(%x: f64[2,4,5], %w: f64[5,6], %b: f64[6]) {
      %a0: f64[4,5] = getitem(%x, index=(0,))
      %p0: f64[4,6] = matmul(%a0, %w)
      %o0: f64[4,6] = add(%p0, %b)
      %a1: f64[4,5] = getitem(%x, index=(1,))
      %p1: f64[4,6] = matmul(%a1, %w)
      %o1: f64[4,6] = add(%p1, %b)
      %e: f64[4,6] = exp(%p1)
      return %o0, %o1, %e
    }""")
    # ... unless a product is read elsewhere (exp(p1))
    assert ops(batch_matmuls(linear)) == ["reshape", "matmul", "reshape", "getitem", "add", "getitem", "add", "exp"]
    del linear.outputs[2]
    eliminate_dead_nodes(linear)
    assert ops(batch_matmuls(linear)) == ["reshape", "matmul", "reshape", "add", "getitem", "getitem"]


def test_slices_along_a_later_axis_batch_too():
    before = parse_graph("""
    graph f(%x: f64[4,2,5], %w: f64[5,3]) {
      %a: f64[4,5] = getitem(%x, index=[:, 0])
      %p: f64[4,3] = matmul(%a, %w)
      %b: f64[4,5] = getitem(%x, index=[:, 1])
      %q: f64[4,3] = matmul(%b, %w)
      return %p, %q
    }""")
    after = batch_matmuls(before)
    assert ops(after) == ["reshape", "matmul", "reshape", "getitem", "getitem"]
    rng = np.random.default_rng(2)
    assert_same_results(before, after, [rng.standard_normal((4, 2, 5)), rng.standard_normal((5, 3))])


def test_some_steps_only_are_joined_by_a_copy_and_a_recurrence_is_left_alone():
    # x[0] and x[2] of three steps: the whole product would compute a row nobody reads, so the two operands are
    # joined; h @ w reads the previous product's result, so it stays a product of its own
    before = parse_graph("""
    graph f(%x: f64[3,2,4], %w: f64[4,4]) {
      %a: f64[2,4] = getitem(%x, index=(0,))
      %p: f64[2,4] = matmul(%a, %w)
      %h: f64[2,4] = tanh(%p)
      %r: f64[2,4] = matmul(%h, %w)
      %b: f64[2,4] = getitem(%x, index=(2,))
      %q: f64[2,4] = matmul(%b, %w)
      %s: f64[2,4] = add(%r, %q)
      return %s
    }""")
    after = batch_matmuls(before)
    assert lines(after) == [
        "%a: f64[2,4] = getitem(%x, index=[0])",
        "%b: f64[2,4] = getitem(%x, index=[2])",
        "%t1: f64[4,4] = concat(%a, %b, dim=0)",
        "%t2: f64[4,4] = matmul(%t1, %w)",
        "%t3: f64[2,2,4] = reshape(%t2, shape=(2, 2, 4))",
        "%p: f64[2,4] = getitem(%t3, index=[0])",
        "%h: f64[2,4] = tanh(%p)",
        "%r: f64[2,4] = matmul(%h, %w)",
        "%q: f64[2,4] = getitem(%t3, index=[1])",
        "%s: f64[2,4] = add(%r, %q)",
    ]
    rng = np.random.default_rng(3)
    assert_same_results(before, after, [rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 4))])


def test_operands_computed_later_are_joined_after_them():
    # a stacked RNN written step by step: layer 2 reads layer 1's state of the same step, so batching layer 2's
    # input products moves every step of layer 1 first (the graph is put back in a topological order)
    def stacked(w1, w2, u2, xs):
        h1 = h2 = gg.zeros(2, 4, dtype=gg.float64)
        for t in range(xs.shape[0]):
            h1 = (xs[t] @ w1 + h1).tanh()
            h2 = (h1 @ w2 + h2 @ u2).tanh()
        return (h2 * h2).sum()

    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal((4, 4)) * 0.3,
              rng.standard_normal((5, 2, 3))]
    f = gg.compile(stacked)
    args = [gg.tensor(a, requires_grad=i < 3) for i, a in enumerate(arrays)]
    after = f.graph(*args, stage="batched")
    products = [n for n in after.nodes if n.op == "matmul"]
    w2 = after.inputs[1]
    assert [n.inputs[0].node.op for n in products if n.inputs[1] is w2] == ["concat"]  # one product for w2
    assert_same_results(f.graph(*args, stage="adjoint"), after, arrays + [np.array(1.0)])
    f(*args).backward()
    got = [a.grad.numpy().copy() for a in args[:3]]
    eager = [gg.tensor(a, requires_grad=i < 3) for i, a in enumerate(arrays)]
    stacked(*eager).backward()
    for a, b in zip(got, eager[:3]):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_a_sum_of_products_becomes_one_product_of_joined_operands():
    before = parse_graph("""
    graph f(%a: f64[3,4], %b: f64[3,4], %g: f64[3,5], %k: f64[3,5], %c: f64[4,5]) {
      %at: f64[4,3] = permute(%a, dims=(1, 0))
      %p: f64[4,5] = matmul(%at, %g)
      %bt: f64[4,3] = permute(%b, dims=(1, 0))
      %q: f64[4,5] = matmul(%bt, %k)
      %s: f64[4,5] = add(%p, %c)
      %t: f64[4,5] = add(%s, %q)
      %gs: f64[5] = sum(%g, dim=(0,), keepdim=False)
      %ks: f64[5] = sum(%k, dim=(0,), keepdim=False)
      %u: f64[5] = add(%gs, %ks)
      return %t, %u
    }""")
    after = batch_matmuls(before)
    assert lines(after) == [
        "%t1: f64[6,4] = concat(%a, %b, dim=0)",
        "%t2: f64[4,6] = permute(%t1, dims=(1, 0))",
        "%t3: f64[6,5] = concat(%g, %k, dim=0)",
        "%t4: f64[4,5] = matmul(%t2, %t3)",
        "%t: f64[4,5] = add(%t4, %c)",
        "%t5: f64[6,5] = concat(%g, %k, dim=0)",  # the same join: CSE (in the optimized stage) keeps one
        "%u: f64[5] = sum(%t5, dim=(0,), keepdim=False)",
    ]
    rng = np.random.default_rng(5)
    assert_same_results(before, after, [rng.standard_normal(s) for s in ((3, 4), (3, 4), (3, 5), (3, 5), (4, 5))])


def test_terms_read_elsewhere_and_integer_products_are_left_alone():
    g = parse_graph("""
    graph f(%a: f64[4,3], %g: f64[3,5], %h: f64[3,5], %i: i64[2,2], %j: i64[2,2]) {
      %p: f64[4,5] = matmul(%a, %g)
      %q: f64[4,5] = matmul(%a, %h)
      %s: f64[4,5] = add(%p, %q)
      %m: i64[2,2] = matmul(%i, %j)
      %n: i64[2,2] = matmul(%j, %j)
      %o: i64[2,2] = add(%m, %n)
      return %s, %p, %o
    }""")
    assert lines(batch_matmuls(g)) == lines(g)


# -- the rnn: every weight gradient one product ---------------------------------------------------------------------

def test_rnn_weight_gradients_are_one_product_each_and_unchanged():
    arrays = rnn_arrays(steps=6)
    args = rnn_tensors(arrays)
    f = gg.compile(rnn)
    before, after = f.graph(*args, stage="adjoint"), f.graph(*args, stage="batched")
    wx, wh = after.inputs[:2]
    products = [n for n in before.nodes if n.op == "matmul"]
    # forward: x_t @ wx, h @ wh per step; backward: dwx and dwh terms per step, dh for all steps but the first
    assert len(products) == 6 * 2 + 6 * 2 + 5
    products = [n for n in after.nodes if n.op == "matmul"]
    # forward: one x @ wx, six h @ wh; backward: five dh (none for h0), one product for dwx and one for dwh
    assert len(products) == 1 + 6 + 5 + 2
    assert [n.inputs[0].node.op for n in products if n.inputs[1] is wx] == ["reshape"]
    outputs = dict(zip(after.output_names, after.outputs))
    assert outputs["grad_wx"].node.op == outputs["grad_wh"].node.op == "matmul"
    assert outputs["grad_b"].node.op == "sum"
    assert_same_results(before, after, arrays + [np.array(1.0)])
    # after CSE, the three gradients read one join of the six steps' gradients
    optimized = f.graph(*args, stage="optimized")
    joins = [n for n in optimized.nodes if n.op == "concat" and n.inputs[0].node is not None
             and n.inputs[0].node.role == "adjoint"]
    assert len(joins) == 1


def grads_of(fn, arrays, compiled):
    args = rnn_tensors(arrays)
    (gg.compile(fn) if compiled else fn)(*args).backward()
    return [a.grad.numpy() for a in args[:3]]


@pytest.mark.parametrize("batching", [True, False])
def test_compiled_rnn_gradients_equal_eager_ones_in_float64(batching, monkeypatch):
    if not batching:
        monkeypatch.setattr(compiled_module, "batch_matmuls", lambda g: g.copy())
    arrays = rnn_arrays(steps=12, batch=4, n_in=5, hidden=7, seed=6)
    for got, want in zip(grads_of(rnn, arrays, True), grads_of(rnn, arrays, False)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_compiled_rnn_gradients_match_finite_differences_first_and_second_order():
    arrays = rnn_arrays(steps=4, batch=2, n_in=3, hidden=3, seed=7)
    h0, xs = gg.tensor(arrays[3]), gg.tensor(arrays[4])
    f = gg.compile(lambda wx, wh, b: rnn(wx, wh, b, h0, xs))
    params = [gg.tensor(a, requires_grad=True) for a in arrays[:3]]
    assert gradcheck(f, params)
    # second order: the gradient of a function of the compiled gradient, through the batched products
    grad_f = gg.grad(lambda wx, wh, b: rnn(wx, wh, b, arrays[3], arrays[4]), argnums=(0, 1, 2))

    def g_norm(wx):
        return sum((g * g).sum() for g in grad_f(wx, arrays[1], arrays[2]))

    analytic = gg.grad(g_norm)(arrays[0])
    (numeric,) = numerical_jacobian(lambda wx: float(g_norm(wx)), [arrays[0]])
    np.testing.assert_allclose(analytic.ravel(), numeric.ravel(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("batching", [True, False])
def test_compiled_mlp_gradients_equal_eager_ones_in_float64(batching, monkeypatch):
    if not batching:
        monkeypatch.setattr(compiled_module, "batch_matmuls", lambda g: g.copy())

    def mlp(w1, b1, w2, b2, x, y):
        return F.cross_entropy((x @ w1 + b1).relu() @ w2 + b2, y)

    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((6, 5)), rng.standard_normal(5), rng.standard_normal((5, 3)),
              rng.standard_normal(3)]
    x, y = gg.tensor(rng.standard_normal((7, 6))), gg.tensor(rng.integers(0, 3, 7))
    results = []
    for fn in (gg.compile(mlp), mlp):
        params = [gg.tensor(a, requires_grad=True) for a in arrays]
        fn(*params, x, y).backward()
        results.append([p.grad.numpy() for p in params])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# -- long recurrences: a chunk of steps at a time -------------------------------------------------------------------

def test_a_long_recurrence_is_batched_a_chunk_of_steps_at_a_time():
    # 40 steps of float64[8, 64] states, 4 KiB each: the input projection is one product per chunk of 8 steps
    # (PRODUCT_CHUNK_BYTES), made where its first step needs it, and each weight gradient a sum of one product per
    # chunk, made as soon as the backward has that chunk's gradients: the last 8 steps (MIN_CHUNK_TERMS;
    # JOIN_CHUNK_BYTES holds 4), then 6, 12 and 14, each as large as the steps done before it less two
    from graphgrad.passes.matmul_batching import JOIN_CHUNK_BYTES, MIN_CHUNK_TERMS, PRODUCT_CHUNK_BYTES
    assert PRODUCT_CHUNK_BYTES // (8 * 64 * 8) == 8 and max(MIN_CHUNK_TERMS, JOIN_CHUNK_BYTES // (8 * 64 * 8)) == 8
    arrays = rnn_arrays(steps=40, batch=8, n_in=4, hidden=64, seed=9)
    arrays[1] *= 0.3
    args = rnn_tensors(arrays)
    f = gg.compile(rnn)
    before, after = f.graph(*args, stage="adjoint"), f.graph(*args, stage="batched")
    wx, wh = after.inputs[:2]
    projections = [n for n in after.nodes if n.op == "matmul" and n.inputs[1] is wx]
    sources = [n.inputs[0].node.inputs[0].node for n in projections]  # reshape(getitem(xs, index=[a:b]))
    assert [(s.op, s.attrs["index"][0][1:3]) for s in sources] == [("getitem", (8 * k, 8 * k + 8)) for k in range(5)]
    joins = [n for n in after.nodes if n.op == "concat"]
    assert sorted({len(n.inputs) for n in joins}) == [6, 8, 12, 14]
    # the gradients' joins (one per weight until CSE) in the order the backward makes them, and the states'
    adjoint = [len(n.inputs) for n in joins if n.inputs[0].node is not None and n.inputs[0].node.role == "adjoint"]
    assert [k for i, k in enumerate(adjoint) if not i or adjoint[i - 1] != k] == [8, 6, 12, 14]
    assert [len(n.inputs) for n in joins if n.inputs[0].node is None or n.inputs[0].node.role == "forward"] == \
        [14, 12, 6, 8]
    outputs = dict(zip(after.output_names, after.outputs))
    assert outputs["grad_wh"].node.op == outputs["grad_wx"].node.op == outputs["grad_b"].node.op == "add"
    assert_same_results(before, after, arrays + [np.array(1.0)], rtol=1e-11)
    for got, want in zip(grads_of(rnn, arrays, True), grads_of(rnn, arrays, False)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_a_long_recurrence_keeps_no_join_of_every_step():
    # one join of all 40 steps' states and one of their gradients (and the states themselves) were alive at once
    # at the end of the backward: over three times the states' bytes; in chunks, the states and a few chunks
    arrays = rnn_arrays(steps=40, batch=8, n_in=4, hidden=64, seed=10)
    arrays[1] *= 0.3
    states = 40 * 8 * 64 * 8
    peak = peak_of_a_later_step(gg.compile(rnn), rnn_tensors(arrays))
    assert peak < 2.2 * states, (peak, states)  # 3.3x before


def test_a_chunk_s_states_are_joined_in_the_forward_and_saved_as_one_array():
    # the weight gradient's join of a chunk's states (h_t.T @ g_t summed over the chunk) is made in the forward,
    # right after the chunk's last state, and every later reader takes its rows of the join: the forward keeps one
    # array per chunk for the backward, which no longer holds the separate states beside a copy of them
    arrays = rnn_arrays(steps=40, batch=8, n_in=4, hidden=64, seed=10)
    arrays[1] *= 0.3
    f = gg.compile(rnn)
    args = rnn_tensors(arrays)
    joined = [n for n in f.graph(*args, stage="batched").nodes
              if n.op == "concat" and all(x.node is not None and x.node.op == "tanh" for x in n.inputs[1:])]
    assert len(joined) == 4 and all(n.role == "forward" for n in joined)  # chunks of 14, 12, 6 and 8 steps
    producers = {n.output.name: n.op for n in f.graph(*args, stage="optimized").nodes}
    saved = [producers.get(v.name, "input") for v in f.graph(*args, stage="backward").inputs]
    assert saved.count("concat") == 4  # each chunk's states, one array
    assert saved.count("tanh") <= 1, saved  # the last state alone (the loss reads it), not 40 (views: rows of joins)
    peak = peak_of_a_later_step(f, args)
    assert peak < 1.7 * 40 * 8 * 64 * 8, peak  # 1.97x the states' bytes before, 1.47x now
    for got, want in zip(grads_of(rnn, arrays, True), grads_of(rnn, arrays, False)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_steps_indexed_from_the_end_land_in_their_chunk():
    # x[t - T] is step t: each chunk's product is indexed by the step's place in the chunk, not by the raw index
    def f(wx, xs):
        total = 0
        for t in range(xs.shape[0]):
            total = total + (xs[t - xs.shape[0]] @ wx).tanh().sum() * (t + 1)
        return total

    r = np.random.default_rng(11)
    wx = gg.tensor(r.standard_normal((4, 64)), requires_grad=True)
    xs = gg.tensor(r.standard_normal((40, 8, 4)))
    got = gg.compile(f)(wx, xs)
    got.backward()
    compiled_grad = wx.grad.numpy().copy()
    wx.grad = None
    want = f(wx, xs)
    want.backward()
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12)
    np.testing.assert_allclose(compiled_grad, wx.grad.numpy(), rtol=1e-11, atol=1e-13)
