"""Elementwise fusion: maximal regions of elementwise ops become one ``fused`` node each.

A region grows backwards from a root node through producers that are elementwise, have the root's output
shape, are not graph outputs and are read only inside the region; so only the root's value leaves it, and a
backend can compute the whole region in one pass over memory (CuPy: one ``ElementwiseKernel``). The ``fused``
node keeps the region as a closed sub-graph attribute ``body`` (its inputs are the node's operands, as for
control flow) and a kernel name ``kernel`` such as ``fused_tanh_mul_add``. Which ops a backend can fuse is
the caller's ``fusible`` predicate: this pass knows no particular op. Regions of one node are left alone. With
a ``reducible`` predicate, a reduction that alone reads a region's value (or one fusible node's) ends the region
as its root (CuPy: one ``ReductionKernel``, the rest of the region its map).
Control-flow sub-graphs are not entered. The ``fused`` primitive is declared in ``graphgrad/ops/fused.py``.

>>> from graphgrad.ir.graph import Graph
>>> from graphgrad.ir.types import TensorType
>>> import graphgrad  # registers the ops
>>> g = Graph("f"); x = g.add_input(TensorType((3,), "float64"), "x")
>>> t = g.add_node("tanh", [x], {}, TensorType((3,), "float64"))
>>> g.outputs = [g.add_node("mul", [t, 2.0], {}, TensorType((3,), "float64"), name="y")]
>>> print(fuse_elementwise(g, lambda n: True))
graph f(%x: f64[3]) {
  %y: f64[3] = fused(%x, kernel='fused_tanh_mul') {
    body(%x_1: f64[3]) {
      %t1: f64[3] = tanh(%x_1)
      %y_1: f64[3] = mul(%t1, 2.0)
      return %y_1
    }
  }
  return %y
}
"""
from __future__ import annotations

from typing import Callable

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS
from ..ir.verify import verify


#: the longest kernel name lists this many ops, then says how many more
_NAME_OPS = 6


def kernel_name(ops: list[str], taken: set[str]) -> str:
    """``fused_tanh_mul_add`` (``_2``, ``_3``... when taken); records the name in ``taken``."""
    shown = ops if len(ops) <= _NAME_OPS else ops[:_NAME_OPS - 1] + [f"and_{len(ops) - _NAME_OPS + 1}_more"]
    base = "fused_" + "_".join(shown)
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def fusion_groups(graph: Graph, fusible: Callable[[Node], bool],
                  reducible: Callable[[Node], bool] | None = None) -> list[list[Node]]:
    """The regions to fuse, each a list of nodes in graph order whose last node is the root (the only one
    whose value is read outside the region); regions of one node are not listed. ``reducible(node)``: whether
    a reduction may end a region, when it alone reads the region's value (then it is the root)."""
    users = graph.users()
    producer = {n.output: n for n in graph.nodes}  # not Value.node: a split graph's values may point elsewhere
    outputs = set(graph.outputs)
    grouped: set[Node] = set()
    groups = []
    for root in reversed(graph.nodes):
        if root in grouped or not (OPS[root.op].elementwise and fusible(root)):
            continue
        shape = root.output.type.shape
        members = {root}
        changed = True
        while changed:  # to a fixed point: a producer joins once all its readers have
            changed = False
            for n in list(members):
                for v in n.value_inputs():
                    p = producer.get(v)
                    if (p is None or p in members or p in grouped or v in outputs or v.type.shape != shape
                            or not OPS[p.op].elementwise or not fusible(p)
                            or not all(u in members for u in users[v])):
                        continue
                    members.add(p)
                    changed = True
        if len(members) > 1:
            grouped |= members
            groups.append([n for n in graph.nodes if n in members])
    groups.reverse()
    if reducible is not None:
        groups = _end_in_reductions(graph, groups, fusible, reducible, users, producer, outputs)
    return groups


def _end_in_reductions(graph: Graph, groups: list, fusible, reducible, users: dict, producer: dict,
                       outputs: set) -> list[list[Node]]:
    """``groups`` with each reduction that alone reads an elementwise value appended to that value's region
    (a region of one node, the producer, when it had none)."""
    by_root = {g[-1]: g for g in groups}
    grouped = {n for g in groups for n in g}
    for r in graph.nodes:
        if not reducible(r):
            continue
        v = r.inputs[0]
        p = producer.get(v)
        if (p is None or v in outputs or len(users[v]) != 1 or not OPS[p.op].elementwise or not fusible(p)
                or (p in grouped and p not in by_root)):
            continue
        by_root[r] = by_root.pop(p, [p]) + [r]
    position = {n: k for k, n in enumerate(graph.nodes)}
    return sorted(by_root.values(), key=lambda g: position[g[-1]])


def fuse_elementwise(graph: Graph, fusible: Callable[[Node], bool], taken: set[str] | None = None,
                     reducible: Callable[[Node], bool] | None = None) -> Graph:
    """A copy of ``graph`` with each region of ``fusion_groups`` replaced by one ``fused`` node (verified).

    ``fusible(node)``: whether the backend can compute this node inside a fused kernel; ``reducible(node)``:
    whether a reduction may end a region; ``taken``: kernel names already used in the module (updated), so a
    forward and a backward fused separately never clash."""
    taken = set() if taken is None else taken
    groups = fusion_groups(graph, fusible, reducible)
    if not groups:
        return graph
    root_of = {g[-1]: g for g in groups}
    interior = {n for g in groups for n in g[:-1]}
    out, mapping = graph.inputs_only()

    def new(x):
        return mapping[x] if x.__class__ is Value else x

    for n in graph.nodes:
        if n in interior:
            continue
        group = root_of.get(n)
        if group is None:
            nv = out.add_node(n.op, [new(x) for x in n.inputs], n.attrs, n.output.type, n.loc, n.role,
                              n.output.name)
        else:
            name = kernel_name([m.op for m in group], taken)
            body, operands = _body(group, name)
            nv = out.add_node("fused", [mapping[v] for v in operands], {"body": body, "kernel": name},
                              n.output.type, n.loc, n.role, n.output.name)
        nv.requires_grad = n.output.requires_grad
        mapping[n.output] = nv
    out.outputs = [mapping[v] for v in graph.outputs]
    return verify(out)


def _body(group: list[Node], name: str) -> tuple[Graph, list[Value]]:
    """The closed sub-graph of ``group`` and the outer values it reads, in order of first use."""
    body = Graph(name)
    inner: dict[Value, Value] = {}
    operands: list[Value] = []
    produced = {n.output for n in group}
    for n in group:
        for x in n.value_inputs():
            if x not in inner and x not in produced:
                inner[x] = body.add_input(x.type, x.name)
                operands.append(x)
    for n in group:
        inner[n.output] = body.add_node(n.op, [inner[x] if x.__class__ is Value else x for x in n.inputs],
                                        n.attrs, n.output.type, n.loc, n.role, n.output.name)
    body.outputs = [inner[group[-1].output]]
    return verify(body), operands
