"""Replay a Graph through ``bind``: evaluates eagerly on Tensors, or inlines into an active trace."""
from __future__ import annotations

from .api import TensorBase, bind
from .graph import Graph, Value

#: ops whose attributes are sub-graphs (control flow) and whose result is a tuple: op -> fn(node, inputs)
#: returning one tensor per output (registered by ``graphgrad.ops.control``)
STRUCTURED: dict = {}


def interpret(graph: Graph, args: list) -> list:
    """Run ``graph`` on ``args`` (one per graph input) with whatever interpreter owns them."""
    if len(args) != len(graph.inputs):
        raise TypeError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[Value, object] = dict(zip(graph.inputs, args))
    for n in graph.nodes:
        ins = [env[x] if isinstance(x, Value) else x for x in n.inputs]
        if n.op == "get":
            env[n.output] = ins[0][n.attrs["item"]]
        elif n.op in STRUCTURED:
            env[n.output] = tuple(STRUCTURED[n.op](n, ins))
        elif not n.value_inputs():  # a constant or a fill: made by the interpreter of the arguments
            env[n.output] = _nullary(n, args)
        else:
            env[n.output] = bind(n.op, *ins, **n.attrs)
    return [env[v] for v in graph.outputs]


def _nullary(node, args: list):
    owner = None
    for a in args:
        if isinstance(a, TensorBase) and (owner is None or a._level > owner._level or (
                a._level == owner._level and getattr(a, "tracer", None) is not None
                and a.tracer.depth > owner.tracer.depth)):
            owner = a
    if owner is None:
        raise TypeError(f"{node.op}: no tensor argument says which interpreter runs it")
    if hasattr(owner, "tracer"):
        return owner.tracer.record(node.op, list(node.inputs), node.attrs)
    return type(owner)._apply(node.op, tuple(node.inputs), node.attrs)
