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
    (_rnn, [(4, 6), (6, 6), (6,), (7, 3, 4)]),
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
