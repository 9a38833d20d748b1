"""The partitioner's minimum cut (graphgrad/passes/maxflow.py) against networkx's, on random networks and on the
networks of real training steps."""
import networkx as nx
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.passes import partition as partition_module
from graphgrad.passes.maxflow import FlowNetwork


def _random_network(rng, n: int, p: float, infinite: float):
    ours, theirs = FlowNetwork(), nx.DiGraph()
    for u in range(n):
        for v in range(n):
            if u != v and rng.random() < p:
                c = float("inf") if rng.random() < infinite else float(rng.integers(0, 20)) / 2
                ours.add_edge(u, v, c)
                theirs.add_edge(u, v, capacity=c)
    for g in (ours, theirs):  # the source and the sink exist even when no edge reaches them
        g.add_edge(0, 0, 0.0) if g is ours else g.add_node(0)
        g.add_edge(n - 1, n - 1, 0.0) if g is ours else g.add_node(n - 1)
    return ours, theirs


@pytest.mark.parametrize("seed", range(40))
def test_min_cut_equals_networkx_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    ours, theirs = _random_network(rng, n, float(rng.uniform(0.05, 0.4)), infinite=0.15)
    try:
        expected, (side, _) = nx.minimum_cut(theirs, 0, n - 1)
    except nx.NetworkXUnbounded:
        with pytest.raises(ValueError, match="infinite capacity"):
            ours.min_cut(0, n - 1)
        return
    value, got = ours.min_cut(0, n - 1)
    assert value == expected
    assert got == set(side)  # the cut nearest the sink: unique


def test_parallel_edges_add_up():
    net = FlowNetwork()
    net.add_edge("s", "t", 1.0)
    net.add_edge("s", "t", 2.5)
    assert net.min_cut("s", "t") == (3.5, {"s"})


def _rnn(wx, wh, b, xs):
    h = xs[0] @ wx
    for t in range(xs.shape[0]):
        h = (xs[t] @ wx + h @ wh + b).tanh()
    return (h * h).sum()


def _lenet(w1, w2, x):
    a = F.max_pool2d(F.conv2d(x, w1).relu(), 2)
    return (F.conv2d(a, w2).tanh() ** 2).sum()


@pytest.mark.parametrize("fn, shapes", [
    # states of 9,600 bytes: worth recomputing, so a network is left to cut (smaller ones are kept outright)
    (_rnn, [(4, 400), (400, 400), (400,), (5, 3, 4)]),
    (_lenet, [(3, 1, 3, 3), (2, 3, 3, 3), (2, 1, 12, 12)]),
    (lambda x, w: ((x @ w).relu().exp() * x.sum()).sin().sum(), [(64, 32), (32, 48)]),
], ids=["rnn", "lenet", "mlp"])
def test_the_partition_keeps_what_networkx_s_cut_keeps(fn, shapes, monkeypatch):
    """The same saved values and recomputed ones as with networkx's minimum cut of the same network."""
    cuts = []
    real = FlowNetwork.min_cut

    def record(self, s, t):
        capacities = list(self._cap)  # before the flow uses them up
        result = real(self, s, t)
        cuts.append((self, capacities, result))
        return result

    monkeypatch.setattr(FlowNetwork, "min_cut", record)
    rng = np.random.default_rng(0)
    args = [gg.tensor(rng.standard_normal(s), dtype=gg.float64, requires_grad=True) for s in shapes]
    gg.compile(fn)(*args).backward()
    assert cuts
    for net, capacities, (value, side) in cuts:
        g = nx.DiGraph()
        for e in range(0, len(capacities), 2):  # even ids: the network's edges (odd: their residual twins)
            u, v = net._keys[net._to[e + 1]], net._keys[net._to[e]]
            g.add_edge(u, v, capacity=capacities[e] + (g.edges[u, v]["capacity"] if g.has_edge(u, v) else 0.0))
        expected, (expected_side, _) = nx.minimum_cut(g, "source", "sink")
        assert value == expected and side == set(expected_side)


def _chain(x):
    y = x
    for i in range(30):
        y = (y + 0.5) if i % 4 == 0 else (y * 0.9) if i % 4 == 1 else y.tanh() if i % 4 == 2 else y.sin()
    return y.sum()


def _mixed(x, s):
    # large values (worth recomputing) next to small ones (kept outright) reading the same chain
    a = x.tanh().sin()
    b = (a * s.sum()).exp()
    return (b.tanh() * x).sum() + (s.sin() * a.mean()).tanh().sum()


def _whole_network_cut(joint, n_outputs):
    """min_cut_saved without its reductions: every forward value a needed one depends on is in the network."""
    from graphgrad.ir.graph import Value

    P = partition_module
    fwd_nodes = [n for n in joint.nodes if n.role == "forward"]
    produced = set(joint.inputs[:joint.meta["n_primal"]]) | {n.output for n in fwd_nodes}
    needed = P._needed_by_backward(joint, n_outputs, produced)
    relevant, stack = set(), list(needed)
    while stack:
        v = stack.pop()
        if v not in relevant:
            relevant.add(v)
            if v.node is not None and P.recomputable(v.node):
                stack.extend(x for x in v.node.inputs if isinstance(x, Value))
    net = nx.DiGraph()
    net.add_node("source")
    inf = float("inf")

    def arc(u, v, c):
        net.add_edge(u, v, capacity=c + (net.edges[u, v]["capacity"] if net.has_edge(u, v) else 0.0))

    for v in relevant:
        if v.node is None or not P.recomputable(v.node):
            arc("source", (v, "in"), inf)
            arc((v, "in"), (v, "out"), 0 if v.node is None else P.nbytes(v))
            continue
        arc((v, "in"), (v, "out"), P.nbytes(v))
        arc("source", (v, "in"), P._recompute_cost(v.node))
        for x in v.node.inputs:
            if isinstance(x, Value):
                arc((x, "out"), (v, "in"), inf)
    for v in needed:
        arc((v, "out"), "sink", inf)
    # the source side nearest the sink: every node that cannot reach the sink in the residual network
    residual = nx.algorithms.flow.preflow_push(net, "source", "sink")
    reach = {"sink"}
    stack = ["sink"]
    while stack:
        v = stack.pop()
        for u in residual.predecessors(v):
            if u not in reach and residual[u][v]["capacity"] - residual[u][v]["flow"] > 0:
                reach.add(u)
                stack.append(u)
    cut = {v for v in relevant if (v, "in") not in reach and (v, "out") in reach}
    order = {n.output: i for i, n in enumerate(fwd_nodes)}
    saved = [v for v in needed if v in cut]
    saved += sorted(cut.difference(saved), key=lambda v: order.get(v, -1))
    return saved, {v for v in relevant if (v, "in") in reach}


@pytest.mark.parametrize("fn, shapes", [
    (_chain, [(16,)]), (_chain, [(4096,)]), (_chain, [(1024,)]), (_mixed, [(5000,), (7,)]), (_mixed, [(6,), (7,)]),
    (_rnn, [(4, 6), (6, 6), (6,), (7, 3, 4)]), (_rnn, [(4, 400), (400, 400), (400,), (5, 3, 4)]),
    (_lenet, [(3, 1, 3, 3), (2, 3, 3, 3), (2, 1, 12, 12)]),
], ids=["chain16", "chain4096", "chain1024", "mixed_large", "mixed_small", "rnn_small", "rnn", "lenet"])
def test_the_reduced_network_cuts_as_the_whole_network(fn, shapes):
    """min_cut_saved leaves values kept outright (and those alone on their path to the sink) out of the flow
    network, which for a chain of small values leaves no network at all: the saved values, their order and the
    recomputed ones are those of the network of every forward value a needed one depends on."""
    rng = np.random.default_rng(0)
    args = [gg.tensor(rng.standard_normal(s), dtype=gg.float64, requires_grad=True) for s in shapes]
    compiled = gg.compile(fn)
    joint = compiled.graph(*args, stage="optimized")
    n_outputs = len(compiled.graph(*args, stage="pruned").outputs)
    saved, recompute = partition_module.min_cut_saved(joint, n_outputs)
    assert saved or recompute
    assert (saved, recompute) == _whole_network_cut(joint, n_outputs)
