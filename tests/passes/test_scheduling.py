"""Scheduling (passes/scheduling.py): a node moved down to its first reader where that keeps less alive; graphs
before and after, values unchanged, and the logistic regression step's peak at PyTorch's."""
import numpy as np

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.ir.interpret import interpret
from graphgrad.ir.parser import parse_graph
from graphgrad.passes.scheduling import sink_to_readers

GRAPH = '''graph f(%w: f64[200], %z: f64[20000], %s: f64[]) {
  %l2: f64[200] = mul(%w, %s)
  %e: f64[20000] = exp(%z)
  %t: f64[] = sum(%e, dim=None, keepdim=False)
  %g: f64[200] = mul(%l2, %t)
  %big: f64[20000] = mul(%e, %s)
  %k: f64[] = sum(%big, dim=None, keepdim=False)
  %out: f64[200] = add(%g, %k)
  return %out, %e
}'''


def test_a_result_made_from_inputs_waits_for_its_reader():
    g = parse_graph(GRAPH)
    scheduled = sink_to_readers(g)
    # l2, made from inputs, moves to just before g, its reader. g would take l2 and t (only it reads them) past big
    # and k, but then t's operand e, which big reads, would live on to there: 160 KB held to free 1.6 KB, so no
    assert [n.output.name for n in scheduled.nodes] == ["e", "t", "l2", "g", "big", "k", "out"]
    assert [n.output.name for n in g.nodes][0] == "l2"  # a new graph: the given one is unchanged
    rng = np.random.default_rng(0)
    args = [gg.tensor(rng.standard_normal(200)), gg.tensor(rng.standard_normal(20000) * 0.1), gg.tensor(0.5)]
    for a, b in zip(interpret(g, args), interpret(scheduled, args)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


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
