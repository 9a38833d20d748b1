"""Replay a Graph through ``bind``: evaluates eagerly on Tensors, or inlines into an active trace."""
from __future__ import annotations

from .api import bind
from .graph import Graph, Value


def interpret(graph: Graph, args: list) -> list:
    """Run ``graph`` on ``args`` (one per graph input) with whatever interpreter owns them."""
    if len(args) != len(graph.inputs):
        raise TypeError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[Value, object] = dict(zip(graph.inputs, args))
    for n in graph.nodes:
        ins = [env[x] if isinstance(x, Value) else x for x in n.inputs]
        env[n.output] = bind(n.op, *ins, **n.attrs)
    return [env[v] for v in graph.outputs]
