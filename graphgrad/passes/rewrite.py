"""The forward walk the clean-up passes share: local rewrite rules, then common-subexpression elimination.

A rule ``rule(node, rewriter)`` sees a node whose inputs are already in their final form (every producer was
rewritten before it), so one walk applies a set of local rules to a fixed point.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.types import TensorType


class Rewriter:
    """One forward walk over a graph applying local rules, then common-subexpression elimination.

    A rule ``rule(node, rewriter)`` either changes ``node`` in place (its op, inputs, attrs; it may
    ``emit`` new nodes placed before it) and returns None, or returns an existing Value that computes the
    same thing, which then replaces the node's output everywhere.
    """

    def __init__(self, graph: Graph, rules: tuple, cse: bool):
        self.graph = graph
        self.rules = rules
        self.cse = cse
        self.mapping: dict[Value, Value] = {}
        self.nodes: list[Node] = []
        self.seen: dict = {}
        self.outputs = set(graph.outputs)
        self._uses: dict | None = None

    def uses(self, value: Value) -> int:
        """How many times the graph as it was before this walk reads ``value`` (outputs count): a rule that
        would duplicate work for a value read elsewhere asks first. Counted on first use."""
        if self._uses is None:
            counts: dict = {}
            for n in self.graph.nodes:
                for x in n.inputs:
                    if x.__class__ is Value:
                        counts[x] = counts.get(x, 0) + 1
            for v in self.graph.outputs:
                counts[v] = counts.get(v, 0) + 1
            self._uses = counts
        return self._uses.get(value, 0)

    def run(self) -> Graph:
        for n in self.graph.nodes:
            self.visit(n)
        self.graph.nodes = self.nodes
        mapping = self.mapping
        if mapping:
            self.graph.outputs = [mapping.get(v, v) for v in self.graph.outputs]
        return self.graph

    def emit(self, op: str, inputs: list, attrs: dict, type: TensorType, like: Node) -> Value:
        """A new node just before the one being rewritten (rewritten itself); its value."""
        out = Value(type)
        node = Node(op, inputs, attrs, out, like.loc, like.role)
        out.node = node
        self.visit(node)
        return self.mapping.get(out, out)

    def replace(self, n: Node, same: Value) -> None:
        self.mapping[n.output] = same
        if n.output.name and not same.name:
            same.name = n.output.name

    def visit(self, n: Node) -> None:
        mapping = self.mapping
        if mapping:
            n.inputs = [mapping.get(x, x) if x.__class__ is Value else x for x in n.inputs]
        for rule in self.rules:
            same = rule(n, self)
            if same is not None and same.type == n.output.type and n.output not in self.outputs:
                self.replace(n, same)
                return
        if self.cse and n.op != "stop_gradient":  # stop_gradient nodes exist to carry a second name
            try:
                # a literal is keyed with its class: 1, 1.0 and True are equal but differ in type
                key = (n.op, tuple(x if x.__class__ is Value else (x.__class__, x) for x in n.inputs),
                       tuple(n.attrs.items()) if n.attrs else ())
                earlier = self.seen.get(key)
            except TypeError:  # an unhashable attribute: never merged
                key = earlier = None
            if earlier is not None:
                self.replace(n, earlier)
                return
            if key is not None:
                self.seen[key] = n.output
        self.nodes.append(n)


def _rewrite(graph: Graph, rules: tuple, cse: bool = False) -> Graph:
    return _Rewriter(graph, rules, cse).run()


def rewrite(graph: Graph, rules: tuple, cse: bool = False) -> Graph:
    """Apply ``rules`` (and CSE when asked) to ``graph`` in one forward walk, in place."""
    return Rewriter(graph, rules, cse).run()
