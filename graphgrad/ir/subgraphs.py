"""Helpers for nodes whose attributes are sub-graphs (structured control flow: ``cond``, ``scan``, ``while``).

A sub-graph is closed: it reads only its own inputs, so every value it needs from the enclosing graph is an
explicit operand of the node. Printing and code generation name the values of a graph and of all its
sub-graphs in one namespace, so that inlined blocks never shadow each other.
"""
from __future__ import annotations

from .graph import Graph, Value, name_assigner


def subgraphs(node) -> list[tuple[str, Graph]]:
    """The ``(attribute, Graph)`` pairs of ``node``, in attribute order."""
    return [(k, v) for k, v in node.attrs.items() if isinstance(v, Graph)]


def all_value_names(graph: Graph, names: dict | None = None, taken: set | None = None) -> dict[Value, str]:
    """Unique identifiers for every value of ``graph`` and, recursively, of its nodes' sub-graphs."""
    names = {} if names is None else names
    taken = set() if taken is None else taken
    assign = name_assigner(names, taken)

    def walk(g: Graph) -> None:  # a graph's own values first: the outer program keeps the plain names
        for v in g.inputs:
            assign(v)
        for n in g.nodes:
            assign(n.output)
        for n in g.nodes:
            if n.attrs:  # most nodes have no attributes, so no sub-graphs: no list made for them
                for _, sub in subgraphs(n):
                    walk(sub)

    walk(graph)
    return names


def has_subgraphs(graph: Graph) -> bool:
    return any(subgraphs(n) for n in graph.nodes if n.attrs)
