"""Minimum s-t cut of a small directed network (Dinic's maximum flow), for the forward/backward partition.

The partitioner's networks have a few thousand nodes at most, each node a handful of edges. networkx computes
the same cut (the tests compare the two), but importing it costs about 0.2 s, which every first
``@gg.compile`` of a process paid; this is the few lines the partition needs, over plain lists.

>>> net = FlowNetwork()
>>> net.add_edge("s", "a", 3.0); net.add_edge("a", "t", 2.0); net.add_edge("s", "t", 1.0)
>>> value, side = net.min_cut("s", "t")
>>> value, sorted(side)
(3.0, ['a', 's'])
"""
from __future__ import annotations

from typing import Hashable

_INF = float("inf")


class FlowNetwork:
    """Nodes are any hashable keys; parallel edges add up. Capacities are non-negative, ``inf`` allowed."""

    def __init__(self) -> None:
        self._index: dict = {}
        self._keys: list = []
        self._edges: list[list[int]] = []  # per node: the ids of its edges, out and residual
        self._to: list[int] = []           # per edge id; e ^ 1 is e's reverse
        self._cap: list[float] = []

    def _node(self, key: Hashable) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._keys)
            self._keys.append(key)
            self._edges.append([])
        return i

    node = _node  # the id of ``key``'s node (added if new), for ``add_arc``

    def add_nodes(self, keys) -> int:
        """Add new nodes for ``keys`` (none may be present yet), numbered in order; returns the first one's id."""
        first = len(self._keys)
        keys = list(keys)
        self._index.update(zip(keys, range(first, first + len(keys))))
        if len(self._index) != first + len(keys):
            raise ValueError("FlowNetwork.add_nodes: a key is already a node, or given twice")
        self._keys += keys
        self._edges += [[] for _ in keys]
        return first

    def add_edge(self, u: Hashable, v: Hashable, capacity: float) -> None:
        self.add_arc(self._node(u), self._node(v), capacity)

    def add_arc(self, a: int, b: int, capacity: float) -> None:
        """``add_edge`` between the nodes of ids ``a`` and ``b`` (from ``node`` or ``add_nodes``)."""
        e = len(self._to)
        self._to += (b, a)
        self._cap += (capacity, 0.0)
        self._edges[a].append(e)
        self._edges[b].append(e + 1)

    def min_cut(self, source: Hashable, sink: Hashable) -> tuple[float, set]:
        """The maximum flow's value and the source side of the minimum cut nearest the sink: every node that
        cannot reach the sink in the residual network (the same set whatever maximum flow is found, and the
        side networkx's ``minimum_cut`` returns). Of equal cuts it is the one that keeps the most values, so the
        partition recomputes only what saves memory."""
        s, t = self._node(source), self._node(sink)
        value = 0.0
        while True:
            level = self._levels(s, t)
            if level[t] < 0:
                break
            value += self._blocking_flow(s, t, level)
        return value, {k for k, near in zip(self._keys, self._reaching(t)) if not near}

    def _reaching(self, t: int) -> list[bool]:
        """Which nodes reach ``t`` over edges with capacity left."""
        to, cap, edges = self._to, self._cap, self._edges
        seen = [False] * len(self._keys)
        seen[t] = True
        stack = [t]
        pop, push = stack.pop, stack.append
        while stack:
            for e in edges[pop()]:  # e: v -> u, so e ^ 1: u -> v
                u = to[e]
                if not seen[u] and cap[e ^ 1] > 0:
                    seen[u] = True
                    push(u)
        return seen

    def _levels(self, s: int, t: int) -> list[int]:
        """Breadth-first distances from ``s`` over edges with capacity left (-1: unreachable), as far as ``t``'s:
        nodes farther than ``t`` are on no shortest path to it."""
        to, cap, edges = self._to, self._cap, self._edges
        level = [-1] * len(self._keys)
        level[s] = 0
        frontier = [s]
        depth = 0
        while frontier and level[t] < 0:
            depth += 1
            nxt = []
            push = nxt.append
            for u in frontier:
                for e in edges[u]:
                    v = to[e]
                    if level[v] < 0 and cap[e] > 0:
                        level[v] = depth
                        push(v)
            frontier = nxt
        return level

    def _blocking_flow(self, s: int, t: int, level: list[int]) -> float:
        """Push flow along paths of the level graph until none is left (Dinic's blocking flow, iteratively):
        advance over edges one level deeper with capacity left, retreat from dead ends (and never enter them
        again); after a push, resume from the tail of the first edge it saturated, not from ``s``."""
        to, cap, edges = self._to, self._cap, self._edges
        cursor = [0] * len(self._keys)
        path: list[int] = []
        total = 0.0
        u = s
        while True:
            if u == t:
                pushed = min(cap[e] for e in path)
                if pushed == _INF:
                    raise ValueError("FlowNetwork.min_cut: a path of infinite capacity joins the source to the sink")
                cut = -1
                for j, e in enumerate(path):
                    cap[e] -= pushed
                    cap[e ^ 1] += pushed
                    if cut < 0 and not cap[e] > 0:
                        cut = j
                total += pushed
                u = to[path[cut] ^ 1]
                del path[cut:]
                continue
            out = edges[u]
            i = cursor[u]
            deeper = level[u] + 1
            n = len(out)
            while i < n:
                e = out[i]
                if cap[e] > 0 and level[to[e]] == deeper:
                    break
                i += 1
            cursor[u] = i
            if i < n:
                path.append(e)
                u = to[e]
                continue
            level[u] = -1  # a dead end
            if not path:
                return total
            u = to[path.pop() ^ 1]
