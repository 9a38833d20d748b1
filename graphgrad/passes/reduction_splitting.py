"""Reduction splitting: the sum of a large sum's terms, term by term.

A loss is often the mean of several elementwise terms: binary cross-entropy with logits is
``mean((1 - t) * z + max(-z, 0) + log1p(exp(-|z|)))``. Computed as written, the running sum of the terms is alive
while each next term is made, beside the values the backward keeps: one more full-sized array at the loss's
widest point than PyTorch's fused kernel has. An op declaring ``additive=True`` (``sum``, ``mean``) distributes
over ``add`` and ``sub``, so this pass rewrites ``mean(a + b - c)`` as ``mean(a) + mean(b) - mean(c)``, each term's
reduction placed right after the term is made, where the term can be freed at once.

It applies only where nothing else reads the running sums (the adjoint of an add reads none of them), the terms
have the sum's own type (no broadcast term: ``sum(a + 1)`` is not ``sum(a) + sum(1)``), the dtype is a float
(a sum of bools is an ``or``) and the sum is at least ``SPLIT_BYTES`` large: on small arrays the extra reductions
cost more calls than the memory is worth. The result agrees to rounding (the terms are summed separately), except
that terms which cancel elementwise but each sum past the float's largest value overflow (``inf - inf``).

>>> from graphgrad.ir.parser import parse_graph
>>> g = parse_graph('''graph f(%a: f64[10000]) {
...   %e: f64[10000] = exp(%a)
...   %s: f64[10000] = sin(%a)
...   %t: f64[10000] = add(%e, %s)
...   %m: f64[] = mean(%t, dim=None, keepdim=False)
...   return %m
... }''')
>>> [n.op for n in split_reductions(g).nodes]
['exp', 'mean', 'sin', 'mean', 'add']
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS
from ..ir.verify import verify
from .builder import Builder
from .prune import eliminate_dead_nodes

#: a sum whose running array is at least this large is reduced term by term
SPLIT_BYTES = 64 << 10

_SIGNS = {"add": 1, "sub": -1}  # op -> the sign its second operand enters the sum with


def split_reductions(graph: Graph, min_bytes: int | None = None) -> Graph:
    """Reductions of large sums as sums of the terms' reductions (see the module docstring); returns a verified
    copy, or ``graph`` itself when there is nothing to split."""
    limit = SPLIT_BYTES if min_bytes is None else min_bytes
    if not any(_splits(n, limit) for n in graph.nodes):
        return graph
    g = graph.copy()
    b = Builder(g)
    changed = False
    for n in list(g.nodes):
        if _splits(n, limit):
            changed |= _split(b, n)
    if not changed:
        return graph
    b.place(reorder=False)
    return verify(eliminate_dead_nodes(g))


def _splits(n: Node, limit: int) -> bool:
    """Whether ``n`` is an additive reduction of a large float sum (a candidate; ``_split`` checks the readers)."""
    opdef = OPS.get(n.op)
    if opdef is None or not opdef.additive or len(n.inputs) != 1 or n.inputs[0].__class__ is not Value:
        return False
    x = n.inputs[0]
    return x.node is not None and x.node.op in _SIGNS and x.type.dtype.startswith("float") and x.type.nbytes >= limit


def _terms(b: Builder, x: Value) -> list[tuple[int, Value]]:
    """The signed terms of the sum ``x``, left to right, through adds and subs that only the sum reads (a loop, not
    recursion: a loss accumulated over thousands of steps is a chain that deep)."""
    terms: list[tuple[int, Value]] = []
    stack = [(x, 1)]
    while stack:
        v, sign = stack.pop()
        node = v.node
        sole = v is x or (b.uses.get(v) == 1 and v not in b.outputs)
        if sole and node is not None and node.op in _SIGNS and all(
                y.__class__ is Value and y.type == v.type for y in node.inputs):
            stack.append((node.inputs[1], sign * _SIGNS[node.op]))
            stack.append((node.inputs[0], sign))
        else:
            terms.append((sign, v))
    return terms


def _split(b: Builder, n: Node) -> bool:
    x = n.inputs[0]
    if b.uses.get(x) != 1 or x in b.outputs:
        return False
    terms = _terms(b, x)
    if len(terms) < 2:
        return False
    nodes = b.graph.nodes
    total = None
    for sign, term in terms:
        # reduced just after it is made (inputs: before the first node), so it can be freed at once
        where = b.where(term)
        at = nodes[where + 1] if where + 1 < len(nodes) else n
        part = b.emit(at, n.op, [term], n.attrs)
        if total is None:
            total = part if sign > 0 else b.emit(n, "neg", [part], {})
        else:
            total = b.emit(n, "add" if sign > 0 else "sub", [total, part], {})
    # the reduction itself becomes the total (its value keeps its name and readers)
    last = total.node
    b.before[n].remove(last)
    n.op, n.inputs, n.attrs = last.op, last.inputs, last.attrs
    return True
