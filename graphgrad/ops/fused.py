"""``fused``: a region of elementwise ops (possibly ending in a sum) computed in one pass, made by
``passes.fusion`` after differentiation for code generation only (so it has no gradient or batching rule). Its
``body`` attribute is the closed sub-graph of the region, ``kernel`` the name of the CuPy kernel that computes
it; the NumPy backend emits the body's per-op statements."""
from __future__ import annotations

from ..codegen.cuda import fused_expression
from ..codegen.expressions import EXPRESSIONS
from ..ir.graph import Graph
from ..ir.registry import ShapeError, defop


# a kernel's result is always a new array (its operands, the arrays built once per module among them, are only read)
@defop("fused", attrs=("body", "kernel"), memory="fresh",
       doc="a region of elementwise ops computed in one pass (codegen stage)")
def _fused_type(inputs, body: Graph, kernel: str):
    expected = [v.type for v in body.inputs]
    if list(inputs) != expected:
        raise ShapeError(f"{kernel}: operands {inputs} do not match the body's inputs {expected}")
    return body.outputs[0].type


EXPRESSIONS["fused"] = fused_expression
