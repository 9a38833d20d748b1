"""Replay a Graph through ``bind``: evaluates eagerly on Tensors, or inlines into an active trace."""
from __future__ import annotations

from .api import TensorBase, bind
from .graph import Graph, Value


def interpret(graph: Graph, args: list) -> list:
    """Run ``graph`` on ``args`` (one per graph input) with whatever interpreter owns them."""
    if len(args) != len(graph.inputs):
        raise TypeError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[Value, object] = dict(zip(graph.inputs, args))
    owner = max((a for a in args if isinstance(a, TensorBase)), key=lambda a: a._level, default=None)
    for n in graph.nodes:
        ins = [env[x] if isinstance(x, Value) else x for x in n.inputs]
        if owner is not None and not any(isinstance(x, TensorBase) for x in ins):
            # a constant (a closed-over array) has no tensor input to say whose it is: the arguments' owner
            env[n.output] = owner._apply_here(n.op, ins, n.attrs)
        else:
            env[n.output] = bind(n.op, *ins, **n.attrs)
    return [env[v] for v in graph.outputs]
