"""requires_grad propagation and subgraph pruning; dead-node elimination."""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS


def prune_by_requires_grad(graph: Graph, requires_grad: list[bool] | None = None) -> Graph:
    """Mark the values that need an adjoint: on a path from an input that requires grad to an output.

    ``requires_grad`` gives one flag per input (default: keep the inputs' flags). A value that
    depends on a trainable input but reaches no output except through ``stop_gradient`` (``detach()``) is
    unmarked, so adjoint generation never visits it. Freezing a layer therefore removes its whole backward. A
    piecewise-constant op's result stays marked, as in eager (``floor(x) * 2`` requires grad): its gradient rule
    gives symbolic zeros, so its path costs nothing, and an input reached only through such paths gets zeros.
    """
    g, mapping = graph.inputs_only()
    if requires_grad is not None:
        if len(requires_grad) != len(g.inputs):
            raise ValueError(f"{g.name}: {len(requires_grad)} requires_grad flags for {len(g.inputs)} inputs")
        for v, flag in zip(g.inputs, requires_grad):
            v.requires_grad = bool(flag) and v.type.is_floating
    # the copy (Graph.copy) and the forward sweep in one pass: a node's inputs are marked before it is reached
    nodes = g.nodes
    for n in graph.nodes:
        old = n.output
        nv = Value(old.type, old.name)
        inputs = [mapping[x] if x.__class__ is Value else x for x in n.inputs]
        nv.node = node = Node(n.op, inputs, n.attrs, nv, n.loc, n.role, n.typed)
        nodes.append(node)
        mapping[old] = nv
        if not OPS[n.op].stops_gradient:  # a loop, not any(generator): this runs for every node of every compile
            for x in inputs:
                if x.__class__ is Value and x.requires_grad:
                    nv.requires_grad = nv.type.is_floating  # False otherwise, as a new Value starts
                    break
    g.outputs = [mapping[v] for v in graph.outputs]
    # backward sweep: keep the mark only where a path of marked values reaches an output (a node's own mark is
    # final when it is reached, and its inputs' forward marks are still in place)
    reaches: set[Value] = {v for v in g.outputs if v.requires_grad}
    for n in reversed(nodes):
        out = n.output
        if out in reaches:
            for x in n.inputs:
                if x.__class__ is Value and x.requires_grad:
                    reaches.add(x)
        else:
            out.requires_grad = False
    return g  # a copy with new flags: nothing a verifier checks has changed


def eliminate_dead_nodes(graph: Graph, keep: set | None = None) -> Graph:
    """Remove nodes whose result no output (or value in ``keep``) needs, in place.

    Not re-verified: dropping nodes nobody reads cannot break SSA order or types, and the passes that call
    this after each rewrite would otherwise check the whole graph once per rewrite."""
    live: set[Value] = set(graph.outputs)
    if keep:
        live.update(keep)
    kept = []
    for n in reversed(graph.nodes):
        if n.output in live:
            kept.append(n)
            for x in n.inputs:
                if x.__class__ is Value:
                    live.add(x)
    kept.reverse()
    graph.nodes = kept
    return graph
