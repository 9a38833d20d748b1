"""Clean-up passes for generated graphs: common-subexpression elimination and algebraic
simplification (identities that adjoint generation produces, such as ``g * 1`` or ``reshape`` to
the same shape)."""
from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.registry import OPS, ShapeError, infer_type
from ..ir.verify import verify
from .prune import eliminate_dead_nodes


def _replace_uses(graph: Graph, mapping: dict) -> None:
    if not mapping:
        return
    for n in graph.nodes:
        n.inputs = [mapping.get(x, x) if isinstance(x, Value) else x for x in n.inputs]
    graph.outputs = [mapping.get(v, v) for v in graph.outputs]


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Merge nodes that apply the same op to the same inputs with the same attributes."""
    seen: dict = {}
    mapping: dict[Value, Value] = {}
    kept = []
    for n in graph.nodes:
        n.inputs = [mapping.get(x, x) if isinstance(x, Value) else x for x in n.inputs]
        key = (n.op, tuple(id(x) if isinstance(x, Value) else ("lit", type(x).__name__, x) for x in n.inputs),
               tuple(sorted(n.attrs.items(), key=lambda kv: kv[0])))
        try:
            hash(key)
        except TypeError:
            kept.append(n)
            continue
        if key in seen and n.op != "stop_gradient":
            mapping[n.output] = seen[key]
            if n.output.name and not seen[key].name:
                seen[key].name = n.output.name
            continue
        seen[key] = n.output
        kept.append(n)
    graph.nodes = kept
    graph.outputs = [mapping.get(v, v) for v in graph.outputs]
    return verify(graph)


def _is_literal(x, value) -> bool:
    return not isinstance(x, Value) and not isinstance(x, bool) and x == value


def simplify(graph: Graph) -> Graph:
    """Remove identities: ``x * 1``, ``x + 0``, ``x / 1``, ``x ** 1``, ``--x``, reshapes/permutes that
    change nothing, and ``full_like(x, 1) * y`` when the shapes already agree."""
    mapping: dict[Value, Value] = {}
    outputs = set(graph.outputs)
    for n in graph.nodes:
        n.inputs = [mapping.get(x, x) if isinstance(x, Value) else x for x in n.inputs]
        x = n.inputs[0] if n.inputs else None
        same = None
        if n.op in ("mul", "div", "pow") and _is_literal(n.inputs[1], 1) and isinstance(x, Value):
            same = x
        elif n.op == "mul" and _is_literal(x, 1) and isinstance(n.inputs[1], Value):
            same = n.inputs[1]
        elif n.op in ("add", "sub") and _is_literal(n.inputs[1], 0) and isinstance(x, Value):
            same = x
        elif n.op == "add" and _is_literal(x, 0) and isinstance(n.inputs[1], Value):
            same = n.inputs[1]
        elif n.op == "mul" and isinstance(x, Value) and isinstance(n.inputs[1], Value):
            for a, b in ((x, n.inputs[1]), (n.inputs[1], x)):
                if a.node is not None and a.node.op == "full_like" and a.node.attrs["value"] == 1.0:
                    same = b
        elif n.op in ("reshape", "expand") and x.type.shape == tuple(n.attrs["shape"]):
            same = x
        elif n.op == "permute" and tuple(n.attrs["dims"]) == tuple(range(len(n.attrs["dims"]))):
            same = x
        elif n.op == "neg" and x.node is not None and x.node.op == "neg":
            same = x.node.inputs[0]
        elif n.op == "cast" and x.type.dtype == n.attrs["dtype"]:
            same = x
        if same is not None and same.type == n.output.type and n.output not in outputs:
            mapping[n.output] = same
            if n.output.name and not same.name:
                same.name = n.output.name
    _replace_uses(graph, mapping)
    return eliminate_dead_nodes(graph)


def fold_shape_chains(graph: Graph) -> Graph:
    """``reshape(reshape(a))`` -> ``reshape(a)``, ``expand(expand(a))`` -> ``expand(a)``, and a
    reshape of a broadcast single element -> one broadcast (the cotangent of ``mean``/``sum``)."""
    from ..ir.types import TensorType

    nodes = []
    for n in graph.nodes:
        src = n.inputs[0] if n.inputs and isinstance(n.inputs[0], Value) else None
        producer = src.node if src is not None else None
        if n.op in ("reshape", "expand") and producer is not None and producer.op == n.op:
            n.inputs = [producer.inputs[0]] + n.inputs[1:]
        elif n.op == "reshape" and producer is not None and producer.op == "expand" \
                and producer.inputs[0].type.size == 1:
            scalar = producer.inputs[0]
            shape = tuple(n.attrs["shape"])
            if scalar.type.ndim != len(shape):
                ones = (1,) * len(shape)
                scalar = graph.add_node("reshape", [scalar], {"shape": ones}, TensorType(ones, scalar.type.dtype),
                                        n.loc, n.role)
                nodes.append(graph.nodes.pop())  # keep it just before its user
            n.op, n.inputs, n.attrs = "expand", [scalar], {"shape": shape}
        nodes.append(n)
    graph.nodes = nodes
    return eliminate_dead_nodes(graph)


def _broadcast_source(v):
    """What an explicit broadcast started from: ``expand(u)`` -> u; a reshape that only adds unit axes to a
    single element -> that element. None for anything else."""
    node = v.node if isinstance(v, Value) else None
    if node is None:
        return None
    if node.op == "expand":
        return node.inputs[0]
    if node.op == "reshape" and node.inputs[0].type.size == 1 and all(d == 1 for d in node.attrs["shape"]):
        return node.inputs[0]
    return None


def _type_with(node, inputs: list):
    """``node``'s type rule applied to other inputs (None where they do not fit)."""
    try:
        return infer_type(node.op, [x.type if isinstance(x, Value) else x for x in inputs], node.attrs)
    except (ShapeError, IndexError, TypeError):
        return None


def drop_explicit_broadcasts(graph: Graph) -> Graph:
    """Elementwise ops broadcast by themselves: ``expand(g, (64, 3)) * y`` -> ``g * y`` wherever the op's type
    rule gives the same type. The cotangents of ``sum`` and ``mean`` are such broadcasts, and ``broadcast_to``
    is not free."""
    nodes = []
    for n in graph.nodes:
        if not OPS[n.op].elementwise:
            nodes.append(n)
            continue
        values = [x for x in n.inputs if isinstance(x, Value)]
        source = _broadcast_source(values[0]) if len(values) == 1 else None
        inner_inputs = [source if x is values[0] else x for x in n.inputs] if source is not None else None
        inner_type = _type_with(n, inner_inputs) if source is not None else None
        if inner_type is not None and inner_type.dtype == n.output.type.dtype:
            # op(broadcast(s), literals) -> broadcast(op(s, literals)): the work shrinks to s's size and
            # the broadcast moves on to the next elementwise op, which can drop it
            inner = graph.add_node(n.op, inner_inputs, n.attrs, inner_type, n.loc, n.role)
            nodes.append(graph.nodes.pop())
            n.op, n.inputs, n.attrs = "expand", [inner], {"shape": n.output.type.shape}
            nodes.append(n)
            continue
        nodes.append(n)
        inputs = list(n.inputs)
        for i, x in enumerate(inputs):
            source = _broadcast_source(x)
            while source is not None:
                trial = inputs[:i] + [source] + inputs[i + 1:]
                if _type_with(n, trial) != n.output.type:
                    break
                inputs[i] = source
                source = _broadcast_source(source)
        n.inputs = inputs
    graph.nodes = nodes
    return eliminate_dead_nodes(graph)


def optimize(graph: Graph) -> Graph:
    """The "optimized" stage: simplify, CSE, dead-node elimination, to a fixed point."""
    g = graph.copy()
    for _ in range(4):
        before = len(g.nodes)
        g = simplify(drop_explicit_broadcasts(fold_shape_chains(eliminate_common_subexpressions(g))))
        if len(g.nodes) == before:
            break
    return g
