"""Placing new nodes in a graph being rewritten: each new node goes just before the node it was made for, the
readers and positions of the graph as it was are at hand, and the graph can be put back in a topological order.
The batching and chunking passes build their rewrites with it."""
from __future__ import annotations

import heapq

from ..ir.graph import Graph, Node, Value
from ..ir.verify import cached_infer_type


class Builder:
    """Makes the new nodes, each at the position of the node it is made for (placed by ``place``)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.position = {n.output: i for i, n in enumerate(graph.nodes)}
        self.before: dict[Node, list[Node]] = {}  # node -> new nodes to go just before it
        self.outputs = set(graph.outputs)
        self.uses: dict[Value, int] = {}
        self.readers: dict[Value, list[Node]] = {}
        uses, readers = self.uses, self.readers
        for n in graph.nodes:
            for x in n.inputs:
                if x.__class__ is Value:
                    found = readers.get(x)
                    if found is None:  # not setdefault(x, []): no list made for every read
                        readers[x] = [n]
                        uses[x] = 1
                    else:
                        found.append(n)
                        uses[x] += 1
        self._made: dict = {}

    def emit(self, at: Node, op: str, inputs: list, attrs: dict) -> Value:
        """``op(*inputs, **attrs)`` as a new node placed before ``at``; an identical node made for the same ``at`` is
        reused (CSE merges the others: the first stays, and it comes first in the graph)."""
        key = (at, op, tuple(inputs), tuple(attrs.items()))
        if key in self._made:
            return self._made[key]
        type = cached_infer_type(op, [x.type if x.__class__ is Value else x for x in inputs], attrs)
        out = Value(type)
        out.requires_grad = any(x.requires_grad for x in inputs if x.__class__ is Value)
        out.node = Node(op, list(inputs), dict(attrs), out, at.loc, at.role)
        self.before.setdefault(at, []).append(out.node)
        self._made[key] = out
        return out

    def where(self, v: Value) -> int:
        """The position of ``v``'s producer (inputs come first)."""
        return self.position.get(v, -1)

    def place(self, reorder: bool) -> None:
        nodes = []
        for n in self.graph.nodes:
            nodes.extend(self.before.get(n, ()))
            nodes.append(n)
        self.graph.nodes = topological(nodes) if reorder else nodes


def topological(nodes: list[Node]) -> list[Node]:
    """``nodes`` in a topological order that keeps their given order wherever it is one (Kahn's algorithm,
    always taking the earliest ready node)."""
    index = {n: i for i, n in enumerate(nodes)}
    producer = {n.output: n for n in nodes}
    waiting = {}
    readers: dict[Node, list[Node]] = {}
    for n in nodes:
        deps = {producer[x] for x in n.inputs if x.__class__ is Value and x in producer}
        waiting[n] = len(deps)
        for d in deps:
            readers.setdefault(d, []).append(n)
    ready = [index[n] for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        n = nodes[heapq.heappop(ready)]
        out.append(n)
        for r in readers.get(n, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, index[r])
    if len(out) != len(nodes):  # the rewrites only ever join independent nodes: a cycle is a bug
        raise AssertionError("topological: the rewritten graph has a cycle")
    return out
