"""Scheduling (passes/scheduling.py): a node moved down to its first reader where that keeps less alive; graphs
before and after, values unchanged, and the logistic regression step's peak at PyTorch's."""
import numpy as np

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.ir.interpret import interpret
from graphgrad.ir.parser import parse_graph
from graphgrad.passes.scheduling import raise_to_free, sink_to_readers

GRAPH = '''graph f(%w: f64[200], %z: f64[20000], %s: f64[]) {
  %l2: f64[200] = mul(%w, %s)
  %e: f64[20000] = exp(%z)
  %t: f64[] = sum(%e, dim=None, keepdim=False)
  %g: f64[200] = mul(%l2, %t)
  %big: f64[20000] = mul(%e, %s)
  %k: f64[] = sum(%big, dim=None, keepdim=False)
  %out: f64[200] = add(%g, %k)
  return %out
}'''


def assert_same_values(g, scheduled):
    """The interpreter's results of both graphs, on standard normal inputs of their types (0-d: 0.5), are equal."""
    rng = np.random.default_rng(0)
    args = [gg.tensor(rng.standard_normal(v.type.shape) * 0.1 if v.type.shape else 0.5) for v in g.inputs]
    for a, b in zip(interpret(g, args), interpret(scheduled, args)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_result_made_from_inputs_waits_for_its_reader():
    g = parse_graph(GRAPH)
    scheduled = sink_to_readers(g)
    # l2, made from inputs, moves to just before g, its reader. g would take l2 and t (only it reads them) past big
    # and k, but then t's operand e, which big reads, would live on to there: 160 KB held to free 1.6 KB, so no
    assert [n.output.name for n in scheduled.nodes] == ["e", "t", "l2", "g", "big", "k", "out"]
    assert [n.output.name for n in g.nodes][0] == "l2"  # a new graph: the given one is unchanged
    assert_same_values(g, scheduled)


def test_an_operand_alive_anyway_does_not_hold_a_group_back():
    # e returned: it lives to the end whatever the order, so g takes l2 and t down to out, its reader
    g = parse_graph(GRAPH.replace("return %out", "return %out, %e"))
    scheduled = sink_to_readers(g)
    assert [n.output.name for n in scheduled.nodes] == ["e", "big", "k", "l2", "t", "g", "out"]
    assert_same_values(g, scheduled)


def test_a_group_goes_down_as_far_as_it_holds_no_operand_longer():
    # g's reader is out, but taking g (and l2, t) there would keep e alive past big: they go to just before big,
    # e's last reader, where g's 1.6 KB no longer waits beside big's 160 KB
    g = parse_graph('''graph f(%w: f64[200], %z: f64[20000], %s: f64[]) {
      %e: f64[20000] = exp(%z)
      %l2: f64[200] = mul(%w, %s)
      %t: f64[] = sum(%e, dim=None, keepdim=False)
      %g: f64[200] = mul(%l2, %t)
      %u: f64[20000] = exp(%e)
      %big: f64[20000] = mul(%e, %u)
      %k: f64[] = sum(%big, dim=None, keepdim=False)
      %out: f64[200] = add(%g, %k)
      return %out
    }''')
    scheduled = sink_to_readers(g)
    assert [n.output.name for n in scheduled.nodes] == ["e", "u", "l2", "t", "g", "big", "k", "out"]
    assert_same_values(g, scheduled)


def test_a_node_that_would_keep_a_larger_operand_alive_stays():
    g = parse_graph('''graph f(%z: f64[20000], %w: f64[200]) {
      %e: f64[20000] = exp(%z)
      %t: f64[] = sum(%e, dim=None, keepdim=False)
      %n: f64[200] = mul(%w, %w)
      %out: f64[200] = mul(%n, %t)
      return %out
    }''')
    # t is read two nodes on, but it is e's last reader: moved, it would keep 160 KB alive to save 8 bytes
    assert sink_to_readers(g) is g


def logreg(w, b, x, y):
    return F.binary_cross_entropy_with_logits(x @ w + b, y) + 1e-3 * (w * w).sum()


def test_logreg_backward_computes_the_l2_gradient_where_it_is_added():
    rng = np.random.default_rng(1)
    w = gg.tensor(rng.standard_normal(200) * 0.1, requires_grad=True)
    b = gg.tensor(np.float64(0.0), requires_grad=True)
    x = gg.tensor(rng.standard_normal((2000, 200)))
    y = gg.tensor((rng.random(2000) < 0.5) * 1.0)
    fn = gg.compile(logreg)
    backward = fn.graph(w, b, x, y, stage="backward")
    ops = [(n.op, n.output.type.shape) for n in backward.nodes]
    # the (200,) term from w alone comes after the (2000,)-sized work, just before its sum with the product's part
    first_small = next(i for i, (op, shape) in enumerate(ops) if shape == (200,))
    assert all(shape != (2000,) for _, shape in ops[first_small:]), ops
    fn(w, b, x, y).backward()
    ew, eb = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    logreg(ew, eb, x, y).backward()
    np.testing.assert_allclose(w.grad.numpy(), ew.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), eb.grad.numpy(), rtol=1e-12)


def test_logreg_step_peaks_at_three_loss_sized_arrays(numpy_memory):
    """Its backward's widest point is three arrays of the batch's size (the logits, exp(-|z|) and the gradient
    being built) and a few 0-d arrays; the L2 gradient, 1.6 KB, is no longer alive beside them (PyTorch's
    profiler: 480,024 bytes; held, 481,616)."""
    rng = np.random.default_rng(2)
    n = 20000
    w = gg.tensor(rng.standard_normal(200) * 0.1, requires_grad=True)
    b = gg.tensor(np.float64(0.0), requires_grad=True)
    x = gg.tensor(rng.standard_normal((n, 200)))
    y = gg.tensor((rng.random(n) < 0.5) * 1.0)
    fn = gg.compile(logreg)

    def step():
        w.grad = b.grad = None
        fn(w, b, x, y).backward()
    assert numpy_memory.peak_array_bytes(step) < 3 * n * 8 + 200 * 8 // 2


def test_interleaved_chains_cost_a_bounded_walk_per_node():
    """Two chains computed in turns: every node's reader is two nodes on, so each is a candidate, and the
    producers it would take along are its whole chain. The pass rejects those past GROUP_LIMIT without walking
    them (a 10,000-op chain's backward took 20 s in this pass before): it reads each node a bounded number of
    times."""
    from graphgrad.ir.graph import Graph
    from graphgrad.ir.types import TensorType

    class CountingList(list):
        reads = 0

        def __getitem__(self, k):
            CountingList.reads += 1
            return list.__getitem__(self, k)

    g = Graph("interleaved")
    t = TensorType((16,), "float64")
    a, b = g.add_input(t, "a"), g.add_input(t, "b")
    for _ in range(2000):
        a = g.add_node("sin", [a], {}, t)
        b = g.add_node("cos", [b], {}, t)
    g.add_node("add", [a, b], {}, t)
    g.outputs = [g.nodes[-1].output]
    g.nodes = CountingList(g.nodes)
    scheduled = sink_to_readers(g)  # (verified: a topological order)
    assert len(scheduled.nodes) == len(g.nodes)
    assert CountingList.reads < 4 * len(g.nodes), CountingList.reads


RAISE = '''graph f(%a: f64[100,10], %b: f64[1000], %s: f64[]) {
  %big: f64[100,10] = exp(%a)
  %p: f64[] = sum(%big, dim=None, keepdim=False)
  %q: f64[1000] = mul(%b, %s)
  %r: f64[1000] = exp(%q)
  %k: f64[] = sum(%r, dim=None, keepdim=False)
  %t: f64[10] = sum(%big, dim=(0,), keepdim=False)
  %out: f64[10] = add(%t, %k)
  return %out, %p
}'''


def test_a_small_last_reader_moves_up_to_free_a_larger_array():
    g = parse_graph(RAISE)
    scheduled = raise_to_free(g)
    # t, big's last reader, makes 80 bytes: computed right after p, big's other reader, big (8 KB) dies before q
    # and r (8 KB) are made, where it was alive beside them
    assert [n.output.name for n in scheduled.nodes] == ["big", "p", "t", "q", "r", "k", "out"]
    assert_same_values(g, scheduled)


def test_a_small_last_reader_stays_where_moving_up_would_make_a_new_peak():
    # big's other reader, p, is where h dies into p; p (in h's buffer) dies at k. t computed right after p would
    # sit beside big and p: 80 bytes above the peak of big, p and a scalar
    g = parse_graph('''graph f(%a: f64[100,10], %b: f64[100,10]) {
      %big: f64[100,10] = exp(%a)
      %h: f64[100,10] = exp(%b)
      %p: f64[100,10] = mul(%big, %h)
      %k: f64[] = sum(%p, dim=None, keepdim=False)
      %t: f64[10] = sum(%big, dim=(0,), keepdim=False)
      %out: f64[10] = add(%t, %k)
      return %out
    }''')
    assert raise_to_free(g) is g


def test_a_backward_frees_its_saved_values_sooner_where_it_owns_them():
    # the same graph as a backward whose input big is a saved value: moved only when the backward frees it
    g = parse_graph(RAISE.replace("%a: f64[100,10]", "%big: f64[100,10]").replace("  %big: f64[100,10] = exp(%a)\n", ""))
    assert raise_to_free(g) is g  # the caller's array: alive anyway
    assert [n.output.name for n in raise_to_free(g, released=[g.inputs[0]]).nodes] == \
        ["p", "t", "q", "r", "k", "out"]


def test_rnn_step_peaks_under_its_states_and_the_weight_gradients_pytorch_holds(numpy_memory):
    """A tanh RNN (the benchmarks': hidden 64, input 32, batch 8, 50 steps, float32). Its backward starts with every
    state alive (50 x 8 x 64 x 4 = 102,400 bytes, as PyTorch's does); PyTorch then holds two recurrent-weight-sized
    arrays (the accumulated gradient and a step's product), the input weight's gradient and the bias's: 143,616
    bytes more or less a few scalars (its profiler: 143,624). Here the first chunk of gradients joined for the
    weight products, its states freed as soon as they are multiplied out (the next step's ``1 - h * h`` raised
    above the products) and chunks that grow as states are freed stay under that (155,908 bytes before)."""
    rng = np.random.default_rng(4)
    steps, batch, n_in, hidden = 50, 8, 32, 64
    params = [gg.tensor((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), requires_grad=True)
              for shape in ((n_in, hidden), (hidden, hidden))]
    params.append(gg.tensor(np.zeros(hidden, np.float32), requires_grad=True))
    h0 = gg.tensor(np.zeros((batch, hidden), np.float32))
    xs = gg.tensor(rng.standard_normal((steps, batch, n_in)).astype(np.float32))

    def rnn(wx, wh, b, h0, xs):
        h = h0
        for t in range(xs.shape[0]):
            h = (xs[t] @ wx + h @ wh + b).tanh()
        return (h * h).sum()

    fn = gg.compile(rnn)

    def step():
        for p in params:
            p.grad = None
        fn(*params, h0, xs).backward()
    states = steps * batch * hidden * 4
    assert numpy_memory.peak_array_bytes(step) < states + 2 * hidden * hidden * 4 + n_in * hidden * 4 + hidden * 4
    step()
    compiled = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    rnn(*params, h0, xs).backward()
    for got, p in zip(compiled, params):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=2e-4, atol=1e-5)


def test_a_reader_follows_an_overwriting_node_that_has_moved():
    # w writes into x's buffer (x dies there) and moves down with r, which it alone feeds, to z: a group whose
    # member overwrites an operand moves (it stayed). g reads x: it may not pass w, which now sits just before z;
    # it goes there too, ahead of w (placed before w's old position, where nothing is emitted, it would be lost)
    g = parse_graph('''graph f(%a: f64[100], %b: f64[100], %s: f64[]) {
      %x: f64[100] = exp(%a)
      %g: f64[] = sum(%x, dim=None, keepdim=False)
      %y: f64[100] = exp(%b)
      %w: f64[100] = mul(%x, %s)
      %r: f64[100] = mul(%w, %s)
      %k: f64[] = sum(%y, dim=None, keepdim=False)
      %z: f64[100] = add(%r, %k)
      %out: f64[100] = add(%z, %g)
      return %out
    }''')
    scheduled = sink_to_readers(g)
    assert [n.output.name for n in scheduled.nodes] == ["y", "k", "x", "g", "w", "r", "z", "out"]
    assert_same_values(g, scheduled)
