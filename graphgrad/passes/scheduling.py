"""Scheduling: a value is computed just before its first reader where that keeps less alive.

The adjoint lays out a backward in the order its rules run, and a term that is only needed at the end may be
computed at the start: logistic regression's L2 gradient ``2 * 0.001 * w`` is made first and then waits, 1.6 KB
beside the three full-sized arrays of the loss's gradient, until it is added to the product's part at the end.
Moved down to its reader, it is alive only there. A node moves, with the producers whose results only it reads
and which are no larger than its own, when its result is larger than the operands that would then live longer
(those it reads last, other than the caller's inputs, which are held anyway: a backward's saved values count);
nodes move only down, to just before their first reader, so the order stays topological. Every node of a graph,
a loop's block included, is a function of its operands (random draws are inputs), so the order changes no value.
The compiler runs it on the forward and the backward once they are split (``passes.partition``).

>>> from graphgrad.ir.parser import parse_graph
>>> g = parse_graph('''graph f(%w: f64[200], %z: f64[20000], %s: f64[]) {
...   %l2: f64[200] = mul(%w, %s)
...   %e: f64[20000] = exp(%z)
...   %t: f64[] = sum(%e, dim=None, keepdim=False)
...   %g: f64[200] = mul(%l2, %t)
...   return %g
... }''')
>>> [n.output.name for n in sink_to_readers(g).nodes]
['e', 't', 'l2', 'g']
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.registry import makes_new_array
from ..ir.types import known_nbytes
from ..ir.verify import verify


#: the most nodes that move as one
GROUP_LIMIT = 64


def sink_to_readers(graph: Graph) -> Graph:
    """``graph`` with nodes moved down to their first reader where that shortens what is live (see the module
    docstring); ``graph`` itself when no node moves."""
    nodes = graph.nodes
    position = {n: i for i, n in enumerate(nodes)}
    readers: dict[Value, list[int]] = {}
    for i, n in enumerate(nodes):
        for x in n.inputs:
            if x.__class__ is Value:
                seen = readers.setdefault(x, [])
                if not seen or seen[-1] != i:  # (``add(t, t)`` reads t once)
                    seen.append(i)
    returned = set(graph.outputs)
    size = [0] * len(nodes)  # what each node allocates: a view, nothing
    # how many nodes each node and the producers only it reads make up, capped: past GROUP_LIMIT (a chain) a node
    # is left alone without a walk of them
    depth = [1] * len(nodes)
    for i, n in enumerate(nodes):
        size[i] = known_nbytes(n.output.type) if makes_new_array(n.op) else 0
        for x in {x for x in n.inputs if x.__class__ is Value}:
            p = position.get(x.node) if x.node is not None else None
            if p is not None and len(readers[x]) == 1 and x not in returned and size[p] <= size[i]:
                depth[i] = min(GROUP_LIMIT + 1, depth[i] + depth[p])

    def group(i: int) -> set[int] | None:
        """Node ``i`` and the producers it would take along (those only it reads, no larger: a term and its
        doubling move as one), None past ``GROUP_LIMIT`` nodes (a long chain is read at once: left alone)."""
        members, stack = {i}, [i]
        while stack:
            k = stack.pop()
            for x in nodes[k].inputs:
                p = position.get(x.node) if x.__class__ is Value and x.node is not None else None
                if p is not None and p not in members and len(readers[x]) == 1 and x not in returned \
                        and size[p] <= size[i]:
                    if len(members) == GROUP_LIMIT:
                        return None
                    members.add(p)
                    stack.append(p)
        return members

    last_read = {x: positions[-1] for x, positions in readers.items()}  # where each value's last reader now is
    before = list(range(len(nodes)))  # each node is emitted just before the node at this position
    moved = False
    for i in range(len(nodes) - 1, -1, -1):  # a node's readers are placed before it is
        n = nodes[i]
        if not size[i] or before[i] != i or n.output in returned or n.output not in readers:
            continue
        first = min(before[r] for r in readers[n.output])
        if first == i + 1 or depth[i] > GROUP_LIMIT:
            continue
        members = group(i)
        if members is None:
            continue
        operands = {x for k in members for x in nodes[k].inputs if x.__class__ is Value}
        # what the group's operands from outside it would then hold past their last reader (a caller's input is
        # held anyway; the group's own readers of one sit at or before i, short of first)
        kept_longer = sum(known_nbytes(x.type) for x in operands if x.node is not None and position.get(x.node) not in members
                          and last_read[x] < first)
        if size[i] > kept_longer:
            for k in members:
                before[k] = first
            for x in operands:
                last_read[x] = max(last_read[x], first)
            moved = True
    if not moved:
        return graph
    waiting: dict[int, list[int]] = {}
    for i, target in enumerate(before):
        if target != i:
            waiting.setdefault(target, []).append(i)  # in the given order: a topological one
    order: list[Node] = []
    for i, n in enumerate(nodes):
        if before[i] == i:
            order += [nodes[k] for k in waiting.get(i, ())]
            order.append(n)
    result = Graph(graph.name, list(graph.inputs), order, list(graph.outputs),
                   list(graph.output_names) if graph.output_names else None, dict(graph.meta))
    return verify(result)

