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

from collections import deque
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

    def add_edge(self, u: Hashable, v: Hashable, capacity: float) -> None:
        a, b = self._node(u), self._node(v)
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
            level = self._levels(s)
            if level[t] < 0:
                break
            cursor = [0] * len(self._keys)
            while True:
                pushed = self._augment(s, t, level, cursor)
                if not pushed:
                    break
                value += pushed
        return value, {k for k, near in zip(self._keys, self._reaching(t)) if not near}

    def _reaching(self, t: int) -> list[bool]:
        """Which nodes reach ``t`` over edges with capacity left."""
        to, cap, edges = self._to, self._cap, self._edges
        seen = [False] * len(self._keys)
        seen[t] = True
        stack = [t]
        while stack:
            v = stack.pop()
            for e in edges[v]:  # e: v -> u, so e ^ 1: u -> v
                u = to[e]
                if not seen[u] and cap[e ^ 1] > 0:
                    seen[u] = True
                    stack.append(u)
        return seen

    def _levels(self, s: int) -> list[int]:
        """Breadth-first distances from ``s`` over edges with capacity left (-1: unreachable)."""
        to, cap, edges = self._to, self._cap, self._edges
        level = [-1] * len(self._keys)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in edges[u]:
                v = to[e]
                if level[v] < 0 and cap[e] > 0:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level

    def _augment(self, s: int, t: int, level: list[int], cursor: list[int]) -> float:
        """Push flow along one path of the level graph (Dinic's blocking-flow step, iteratively): advance over
        edges one level deeper with capacity left, retreat from dead ends (and never enter them again)."""
        to, cap, edges = self._to, self._cap, self._edges
        path: list[int] = []
        u = s
        while u != t:
            out = edges[u]
            i = cursor[u]
            while i < len(out) and not (cap[out[i]] > 0 and level[to[out[i]]] == level[u] + 1):
                i += 1
            cursor[u] = i
            if i < len(out):
                e = out[i]
                path.append(e)
                u = to[e]
                continue
            level[u] = -1  # a dead end
            if not path:
                return 0.0
            u = to[path.pop() ^ 1]
        pushed = min(cap[e] for e in path)
        if pushed == _INF:
            raise ValueError("FlowNetwork.min_cut: a path of infinite capacity joins the source to the sink")
        for e in path:
            cap[e] -= pushed
            cap[e ^ 1] += pushed
        return pushed
