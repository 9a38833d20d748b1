"""The verifier, run after every pass: SSA, topological order, and types that match the op rules."""
from __future__ import annotations

from .graph import Graph, Value
from .registry import OPS, infer_type


class VerificationError(AssertionError):
    """A pass produced a malformed graph; this is a bug in graphgrad, not in user code."""


def verify(graph: Graph) -> Graph:
    defined: set[Value] = set()
    for v in graph.inputs:
        if v in defined:
            raise VerificationError(f"{graph.name}: input {v} listed twice")
        defined.add(v)
    for i, n in enumerate(graph.nodes):
        if n.op not in OPS:
            raise VerificationError(f"{graph.name}: node {i} uses unknown primitive {n.op!r}")
        for x in n.value_inputs():
            if x not in defined:
                raise VerificationError(f"{graph.name}: node {i} ({n.op}) reads {x} before it is defined")
        if n.output in defined:
            raise VerificationError(f"{graph.name}: {n.output} defined twice (not SSA)")
        if n.output.node is not n:
            raise VerificationError(f"{graph.name}: {n.output} does not point back to its node")
        expected = infer_type(n.op, [x.type if isinstance(x, Value) else x for x in n.inputs], n.attrs)
        if expected != n.output.type:
            raise VerificationError(f"{graph.name}: node {i} ({n.op}) has type {n.output.type}, "
                                    f"its rule says {expected}")
        defined.add(n.output)
    for v in graph.outputs:
        if v not in defined:
            raise VerificationError(f"{graph.name}: output {v} is never defined")
    return graph
