"""Scheduling: an order of the nodes that keeps less alive at once.

The adjoint lays out a backward in the order its rules run, and a term that is only needed at the end may be
computed at the start: logistic regression's L2 gradient ``2 * 0.001 * w`` is made first and then waits, 1.6 KB
beside the three full-sized arrays of the loss's gradient, until it is added to the product's part at the end.
Two moves fix such orders; both read what the generated code allocates and frees as ``ir.buffers.plan`` lays it
out (a result written into a dying operand, or computed into a join's rows, is part of that array; a view keeps
its operand's array alive), and a caller's input is held anyway: a backward's saved values, which it frees after
their last use when they are handed over to it, are ``released`` and count as its own.

- ``sink_to_readers``: a node moves down to just before its first reader, with the producers whose results only
  it reads and which are no larger than its own, when its result is larger than the arrays it would then hold
  past their last reader; otherwise down to just before the first of those last readers, where it holds none
  longer. It never passes the node that overwrites one of its operands.
- ``raise_to_free``: where the last reader of an array makes a smaller result (a slice's ``1 - h * h`` after a
  chunk of an RNN's states has been multiplied out), it moves up, with those producers, to just after the
  array's other readers, so the array dies there; not where its result would then make a new peak (the bytes
  alive at each node, from the types).

Nodes only move past nodes they do not depend on, so the order stays topological; every node of a graph, a
loop's block included, is a function of its operands (random draws are inputs), so the order changes no value.
The compiler runs ``schedule`` (both) on the forward and the backward once they are split (``passes.partition``).

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

from collections.abc import Collection

from ..ir.buffers import plan
from ..ir.graph import Graph, Node, Value
from ..ir.registry import makes_new_array
from ..ir.types import known_nbytes
from ..ir.verify import verify


#: the most nodes that move as one
GROUP_LIMIT = 64


def _in_own_dtype(node: Node) -> bool:  # (a backend's promotions matter little to where arrays die)
    return True


def schedule(graph: Graph, released: Collection[Value] = ()) -> Graph:
    """``graph`` in an order that keeps less alive: ``raise_to_free``, then ``sink_to_readers`` (see the module
    docstring). ``released``: inputs the function frees after their last reader (a backward's saved values, when
    they are handed over to it), which count as its own values do; other inputs are held by the caller anyway."""
    layout = _Layout(graph, released)
    raised = _raise(graph, layout)
    return _sink(raised, layout if raised is graph else _Layout(raised, released))


def sink_to_readers(graph: Graph, released: Collection[Value] = ()) -> Graph:
    """``graph`` with nodes moved down to their first reader where that shortens what is live (see the module
    docstring); ``graph`` itself when no node moves. ``released`` as for ``schedule``."""
    return _sink(graph, _Layout(graph, released))


def raise_to_free(graph: Graph, released: Collection[Value] = ()) -> Graph:
    """``graph`` with small computations moved up to free a larger array sooner (see the module docstring);
    ``graph`` itself when none moves. ``released`` as for ``schedule``."""
    return _raise(graph, _Layout(graph, released))


def _sink(graph: Graph, m: _Layout) -> Graph:
    nodes, position, readers, size = m.nodes, m.position, m.readers, m.size
    # how many nodes each node and the producers only it reads make up, capped: past GROUP_LIMIT (a chain) a node
    # is left alone without a walk of them
    depth = [1] * len(nodes)
    for i, n in enumerate(nodes):
        for x in {x for x in n.inputs if x.__class__ is Value}:
            p = position.get(x.node)
            if p is not None and len(readers[x]) == 1 and x not in m.returned and size[p] <= size[i]:
                depth[i] = min(GROUP_LIMIT + 1, depth[i] + depth[p])
    end = m.end  # where each array's last reader now is
    before = list(range(len(nodes)))  # each node is emitted just before the node at this position
    moved = False
    for i in range(len(nodes) - 1, -1, -1):  # a node's readers are placed before it is
        n = nodes[i]
        if not size[i] or before[i] != i or n.output in m.returned or n.output not in readers:
            continue
        first = min(before[r] for r in readers[n.output])
        if first == i + 1 or depth[i] > GROUP_LIMIT:
            continue
        members = m.group(i)
        if members is None:
            continue
        # the arrays the group reads from outside it, and the bytes of those it would then hold past their last
        # reader (the group's own readers of one sit at or before i, short of first); where that is more than its
        # result, the group still goes down as far as it holds none longer: to just before the first such end
        operands = {x for k in members for x in nodes[k].inputs
                    if x.__class__ is Value and position.get(x.node) not in members}
        arrays = {b for b in map(m.base.__getitem__, operands) if position.get(b.node) not in members}
        # (where it may have moved to; a member overwriting an operand moves along)
        to = min([first] + [before[m.overwritten[x]] for x in operands
                            if x in m.overwritten and m.overwritten[x] not in members])
        if size[i] <= sum(known_nbytes(b.type) for b in arrays if end[b] < to):
            to = min([to] + [end[b] for b in arrays])
        if to <= i + 1:
            continue
        for k in members:
            before[k] = to
        for b in arrays:
            end[b] = max(end[b], to)
        moved = True
    return _reordered(graph, before) if moved else graph


def _raise(graph: Graph, m: _Layout) -> Graph:
    nodes, position, readers, size, count = m.nodes, m.position, m.readers, m.size, len(m.nodes)
    candidates = [(b, e) for b, e in m.end.items()
                  if e < count and size[e] and size[e] < known_nbytes(b.type) and nodes[e].output not in m.returned]
    if not candidates:
        return graph
    # the bytes alive during each node, from the types: an array from its node to its last reader
    change = [0] * (count + 2)
    for b, at in m.start.items():
        change[at] += known_nbytes(b.type)
        change[m.end[b] + 1] -= known_nbytes(b.type)
    live, total = [0] * count, 0
    for i in range(count):
        total += change[i]
        live[i] = total
    before = list(range(count))
    taken: list[tuple[int, int]] = []  # the spans moves changed: their figures in ``live`` are stale
    for b, e in sorted(candidates, key=lambda c: c[1]):
        members = m.group(e)
        if members is None:
            continue
        # the earliest place: after the array's other readers (a view's readers count) and the group's operands
        others = max((r for v in m.family[b] for r in readers.get(v, ()) if r not in members),
                     default=position.get(b.node, -1))
        at = 1 + max([others] + [position[x.node] for k in members for x in nodes[k].inputs
                                 if x.__class__ is Value and position.get(x.node, k) not in members])
        if at >= min(members) or any(lo <= e and at <= hi for lo, hi in taken):
            continue
        # from there to e the array's bytes give way to the group's smaller result; the group itself runs while
        # the array is still alive: that must not make a new peak
        if live[max(at - 1, 0)] + sum(size[k] for k in members) > max(live[at:e + 1]):
            continue
        for k in members:
            before[k] = at
        taken.append((at, e))
    return _reordered(graph, before) if taken else graph


class _Layout:
    """What the generated code of a graph allocates and frees, in the graph's order, as ``ir.buffers.plan`` lays
    out its buffers: for each node the bytes of its result (``size``, 0 for a view), for each value the array
    whose memory it is or may be part of (``base``: its own, a dying operand's it is written into, a join's it is
    computed into the rows of, a view's operand's), each array's values (``family``), the node before which it
    is allocated (``start``) and the last node that reads one of its values (``end``: the number of nodes for
    one never freed here: a caller's input not ``released``, one returned, a module's constant)."""

    def __init__(self, graph: Graph, released: Collection[Value]):
        self.nodes = nodes = graph.nodes
        self.position = position = {n: i for i, n in enumerate(nodes)}
        self.readers = readers = _readers(nodes)
        self.returned = returned = set(graph.outputs)
        reuse, hoisted, joins = plan(graph, _in_own_dtype)
        self.size = size = [known_nbytes(n.output.type) if makes_new_array(n.op) else 0 for n in nodes]
        self.base = base = {v: v for v in graph.inputs}
        self.start = start = {v: 0 for v in graph.inputs}
        held = hoisted
        slots = joins.slots
        for i, n in enumerate(nodes):
            slot = slots.get(n) if slots else None
            if slot is not None:
                b = slot[0].output
                start.setdefault(b, i)
            elif n in reuse:
                b = base[reuse[n]]
            elif (size[i] and n not in held) or n in joins.joins:
                b = n.output
                start.setdefault(b, i)
            else:  # a view, or a result that may be one (its first operand's memory), or a module's constant
                b = next((base[x] for x in n.inputs if x.__class__ is Value), n.output) if n not in held else n.output
            base[n.output] = b
        self.family = family = {}
        for v, b in base.items():
            family.setdefault(b, []).append(v)
        # a value's reader may not move past the node its buffer is then written over by
        self.overwritten = {x: position[n] for n, x in reuse.items()}
        released = set(released)
        count = len(nodes)
        self.end = end = {}
        for b, values in family.items():
            if (b.node not in position and b not in released) or b.node in held or any(v in returned for v in values):
                end[b] = count
            else:
                end[b] = max((readers[v][-1] for v in values if v in readers), default=start.get(b, 0))

    def group(self, i: int) -> set[int] | None:
        """Node ``i`` and the producers it would take along (those only it reads, no larger: a term and its
        doubling move as one), None past ``GROUP_LIMIT`` nodes (a long chain is read at once: left alone)."""
        nodes, position, readers, size = self.nodes, self.position, self.readers, self.size
        members, stack = {i}, [i]
        while stack:
            k = stack.pop()
            for x in nodes[k].inputs:
                p = position.get(x.node) if x.__class__ is Value else None
                if p is not None and p not in members and len(readers[x]) == 1 and x not in self.returned \
                        and size[p] <= size[i]:
                    if len(members) == GROUP_LIMIT:
                        return None
                    members.add(p)
                    stack.append(p)
        return members


def _readers(nodes: list[Node]) -> dict[Value, list[int]]:
    """The positions of each value's readers, ascending, each once (``add(t, t)`` reads t once)."""
    readers: dict[Value, list[int]] = {}
    get = readers.get
    for i, n in enumerate(nodes):
        for x in n.inputs:
            if x.__class__ is Value:
                seen = get(x)
                if seen is None:
                    readers[x] = [i]
                elif seen[-1] != i:
                    seen.append(i)
    return readers


def _reordered(graph: Graph, before: list[int]) -> Graph:
    """A verified copy of ``graph`` with each node emitted just before the node at ``before[i]`` (in their given
    order where several go before one), that node itself not moved."""
    nodes = graph.nodes
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
