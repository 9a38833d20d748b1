"""Clean-up inside control-flow nodes (``cond``, ``scan``, ``while``): the optimizer runs on every sub-graph,
outputs nothing reads are dropped (a ``cond``'s outputs, a ``scan``'s stacked ys), so are loop carries that
neither a later node nor another live carry needs, and operands no sub-graph reads any more."""
from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.types import TupleType


def _reads(g: Graph) -> set:
    used = set(g.outputs)
    for n in g.nodes:
        used.update(n.value_inputs())
    return used


def _depends(g: Graph, outputs: list) -> set:
    """The inputs of ``g`` the given outputs depend on."""
    need = set(outputs)
    for n in reversed(g.nodes):
        if n.output in need:
            need.update(n.value_inputs())
    return need & set(g.inputs)


def _sub(g: Graph, inputs: list, outputs: list) -> Graph:
    from .optimize import optimize

    live, nodes = set(outputs), []
    for n in reversed(g.nodes):  # only what the kept outputs need: dropped inputs are then unread
        if n.output in live:
            nodes.append(n)
            live.update(n.value_inputs())
    new = Graph(g.name, list(inputs), nodes[::-1], list(outputs), meta=dict(g.meta))
    return optimize(new) if new.nodes else new.copy()


def _live_carries(body: Graph, n: int, first_carry: int, used: set, extra_outputs: list, *others) -> list:
    live = set(i for i in range(n) if i in used)
    while True:
        outs = [body.outputs[i] for i in sorted(live)] + extra_outputs
        deps = _depends(body, outs)
        for g in others:
            deps |= {body.inputs[g.inputs.index(v)] for v in _depends(g, g.outputs)}
        grown = live | {i for i in range(n) if body.inputs[first_carry + i] in deps}
        if grown == live:
            return sorted(live)
        live = grown


def simplify_control(graph: Graph) -> Graph:
    """Run the clean-up described in the module docstring on every control-flow node of ``graph``."""
    items: dict[Value, set] = {}
    for n in graph.nodes:
        if n.op == "get":
            items.setdefault(n.inputs[0], set()).add(n.attrs["item"])
    remap: dict[Value, dict] = {}
    for n in graph.nodes:
        if n.op not in ("cond", "scan", "while"):
            continue
        used = items.get(n.output, set())
        a = n.attrs
        if n.op == "cond":
            keep = sorted(used)
            true = _sub(a["true"], a["true"].inputs, [a["true"].outputs[i] for i in keep])
            false = _sub(a["false"], a["false"].inputs, [a["false"].outputs[i] for i in keep])
            read = [j for j in range(len(true.inputs)) if true.inputs[j] in _reads(true)
                    or false.inputs[j] in _reads(false)]
            true.inputs = [true.inputs[j] for j in read]
            false.inputs = [false.inputs[j] for j in read]
            n.inputs = [n.inputs[0]] + [n.inputs[1 + j] for j in read]
            n.attrs = dict(a, true=true, false=false)
        elif n.op == "scan":
            body, nc, nx = a["body"], a["n_carry"], a["n_xs"]
            ys = [k for k in range(len(body.outputs) - nc) if nc + k in used]
            live = _live_carries(body, nc, 1, used, [body.outputs[nc + k] for k in ys])
            keep = live + [nc + k for k in ys]
            outputs = [body.outputs[i] for i in keep]
            inputs = [body.inputs[0]] + [body.inputs[1 + i] for i in live] + body.inputs[1 + nc:]
            new = _sub(body, inputs, outputs)
            reads = _reads(new)
            xs = [j for j in range(nx) if new.inputs[1 + len(live) + j] in reads]
            consts = [j for j in range(len(n.inputs) - nc - nx) if new.inputs[1 + len(live) + nx + j] in reads]
            new.inputs = ([new.inputs[0]] + new.inputs[1:1 + len(live)]
                          + [new.inputs[1 + len(live) + j] for j in xs]
                          + [new.inputs[1 + len(live) + nx + j] for j in consts])
            n.inputs = ([n.inputs[i] for i in live] + [n.inputs[nc + j] for j in xs]
                        + [n.inputs[nc + nx + j] for j in consts])
            n.attrs = dict(a, body=new, n_carry=len(live), n_xs=len(xs))
        else:
            body, cond, nc = a["body"], a["cond"], a["n_carry"]
            live = _live_carries(body, nc, 0, used, [], cond)
            keep = live
            body_new = _sub(body, [body.inputs[i] for i in live] + body.inputs[nc:], [body.outputs[i] for i in live])
            cond_new = _sub(cond, [cond.inputs[i] for i in live] + cond.inputs[nc:], cond.outputs)
            nl = len(live)
            consts = [j for j in range(len(n.inputs) - nc) if body_new.inputs[nl + j] in _reads(body_new)
                      or cond_new.inputs[nl + j] in _reads(cond_new)]
            for g in (body_new, cond_new):
                g.inputs = g.inputs[:nl] + [g.inputs[nl + j] for j in consts]
            n.inputs = [n.inputs[i] for i in live] + [n.inputs[nc + j] for j in consts]
            n.attrs = dict(a, body=body_new, cond=cond_new, n_carry=nl)
        old_types = n.output.type.types
        n.output.type = TupleType(tuple(old_types[i] for i in keep))
        remap[n.output] = {old: new for new, old in enumerate(keep)}
    for n in graph.nodes:
        if n.op == "get" and n.inputs[0] in remap:
            n.attrs = {"item": remap[n.inputs[0]][n.attrs["item"]]}
    return graph
