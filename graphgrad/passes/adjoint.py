"""Adjoint generation: reverse-mode differentiation of a Graph, producing more Graph.

The gradient rules are the same Tensor-API functions eager ``backward()`` runs; here they are
applied to symbolic tensors, so each rule records adjoint nodes (tagged with the source line of the
forward node they differentiate). Cotangents that meet at a value are summed (fan-out); paths with
no cotangent stay symbolic zeros and cost nothing.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.verify import verify
from ..tracer.tracer import SymbolicTensor, Tracer
from .vjp_rules import apply_vjp

#: ops with sub-graphs (control flow) differentiate themselves: op -> object with
#: ``replay(node, inputs, tracer) -> (tuple tensor, aux)`` (the forward, which may save more) and
#: ``adjoint(node, inputs, cotangents, needs, aux, tracer) -> one cotangent or None per input``
#: (registered by ``graphgrad.ops.control``)
STRUCTURED: dict = {}


def generate_adjoint(graph: Graph, seed: str = "input") -> Graph:
    """The joint graph: forward inputs (+ one cotangent input per output that requires grad when
    ``seed="input"``; ``seed="ones"`` seeds a scalar output with 1) -> forward outputs + gradients
    of the inputs that require grad, in input order.
    """
    tracer = Tracer(graph.name)
    tracer.locate = False  # every node takes the location of the forward node it comes from
    joint = tracer.graph
    sym: dict[Value, SymbolicTensor] = {}
    aux: dict = {}
    tuple_ct: dict[Value, dict] = {}  # a control-flow result's cotangents, by output index
    for v in graph.inputs:
        sym[v] = tracer.input(v.type, v.name, v.requires_grad)
    nodes = joint.nodes
    for n in graph.nodes:  # the forward part is a copy: its types are known, no rule needs asking again
        if n.op in STRUCTURED:  # control flow may save more for its adjoint (a scan, each iteration's carry)
            tracer.loc_override = n.loc
            out, aux[n] = STRUCTURED[n.op].replay(n, [sym[x] if x.__class__ is Value else x for x in n.inputs],
                                                  tracer)
            out.value.name = n.output.name
            out.value.requires_grad = n.output.requires_grad
            sym[n.output] = out
            continue
        old = n.output
        v = Value(old.type, old.name)  # Graph.add_node inlined; attrs are shared, as Graph.copy shares them
        v.requires_grad = old.requires_grad
        v.node = node = Node(n.op, [sym[x].value if x.__class__ is Value else x for x in n.inputs], n.attrs, v,
                             n.loc, "forward", n.typed)
        nodes.append(node)
        sym[old] = SymbolicTensor(v, tracer)

    names = graph.value_names()
    ct: dict[Value, SymbolicTensor] = {}
    tracer.role = "adjoint"
    for v in graph.outputs:
        if not v.requires_grad:
            continue
        if seed == "ones":
            if v.type.shape != ():
                raise TypeError(f"grad requires a scalar output; {graph.name} returns {v.type}")
            tracer.loc_override = v.node.loc if v.node else None
            g = SymbolicTensor._apply("full_like", (sym[v],), {"value": 1.0})
            g.value.name = f"grad_{names[v]}"
        else:
            g = tracer.input(v.type, f"grad_{names[v]}")
        ct[v] = ct[v] + g if v in ct else g

    for n in reversed(graph.nodes):
        if n.op in STRUCTURED:
            cts = tuple_ct.pop(n.output, None)
            if cts is None or not n.output.requires_grad:
                continue
            tracer.loc_override = n.loc
            needs = [isinstance(x, Value) and x.requires_grad for x in n.inputs]
            ins = [sym[x] if isinstance(x, Value) else x for x in n.inputs]
            grads = STRUCTURED[n.op].adjoint(n, ins, cts, needs, aux.get(n), tracer)
            for x, gx in zip(n.inputs, grads):
                if gx is not None and isinstance(x, Value) and x.requires_grad:
                    ct[x] = ct[x] + gx if x in ct else gx
            continue
        g = ct.pop(n.output, None)
        if g is None or not n.output.requires_grad:
            continue
        if n.op == "get":
            slot = tuple_ct.setdefault(n.inputs[0], {})
            k = n.attrs["item"]
            slot[k] = slot[k] + g if k in slot else g
            continue
        if g.value.name is None:
            g.value.name = f"grad_{names[n.output]}"
        tracer.loc_override = n.loc
        needs, ins, types = [], [], []
        for x in n.inputs:
            if x.__class__ is Value:
                needs.append(x.requires_grad)
                ins.append(sym[x])
                types.append(x.type)
            else:
                needs.append(False)
                ins.append(x)
                types.append(None)
        grads = apply_vjp(n.op, g, sym[n.output], ins, types, needs, n.attrs)
        for x, gx, need in zip(n.inputs, grads, needs):
            if gx is not None and need:
                ct[x] = ct[x] + gx if x in ct else gx

    grads_out: list[Value] = []
    for v in graph.inputs:
        if not v.requires_grad:
            continue
        g = ct.get(v)
        if g is None:  # no path from this input to an output: its gradient is exactly zero
            tracer.loc_override = None
            g = SymbolicTensor._apply("full_like", (sym[v],), {"value": 0.0})
        # Two gradients may be one value (the cotangents of x and y in x + y), or an input: the outputs then
        # list it twice. Never wrap it in stop_gradient to get a second name: replayed under an outer
        # transform, that would cut the second gradient's own derivative (grad of grad).
        if g.value not in grads_out and g.value.node is not None:
            g.value.name = f"grad_{names[v]}"
        grads_out.append(g.value)
    joint.outputs = [sym[v].value for v in graph.outputs] + grads_out
    joint.output_names = [names[v] for v in graph.outputs] + [f"grad_{names[v]}" for v in graph.inputs
                                                              if v.requires_grad]
    joint.meta["n_primal"] = len(graph.inputs)
    joint.meta["n_outputs"] = len(graph.outputs)
    return verify(joint)

