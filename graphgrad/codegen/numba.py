"""Numba loops for ``fused`` nodes: each region that ``passes.fusion`` groups becomes one ``@numba.njit`` function
at module level, one pass over the output's elements, and the generated function calls it in place of the
region's per-op NumPy calls. Every other node keeps the NumPy backend's statement.

An op is fusible when its declaration has a ``ufunc`` template (``"multiply({0}, {1})"``, ``primitive(...,
ufunc=...)``): Numba's njit applies NumPy ufuncs to scalars, so the loop body is the same template applied to one
element of each operand, with no second table of expressions. Results are float32 or float64 (integer and bool
arithmetic stays per-op: NumPy's promotion rules for them are not Numba's scalar ones); a value whose operands have
another dtype, and every float32 value (a float literal is a float64 to Numba), is cast to its IR dtype, so the
loop computes what the NumPy module computes up to the last bit of the math library's rounding.

The functions are compiled at their first call (``cache=False``): graphgrad's loader refreshes a cached module's
modification time each time it loads it, which is the stamp Numba's on-disk cache checks, and a module kept in
memory (an unwritable cache directory) has no file at all. Each njit function costs about 0.1-0.5 s to compile,
once per process.
"""
from __future__ import annotations

import contextvars
import keyword
import math

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS

#: set while ``module_source`` writes a numba module: ``fused`` nodes are then written as calls of their loops
CALLS_LOOPS: contextvars.ContextVar[bool] = contextvars.ContextVar("numba_calls_loops", default=False)

_FLOATS = ("float32", "float64")
_OPERAND_TYPES = ("float32", "float64", "int64")
#: names the loop functions use themselves
_RESERVED = frozenset({"np", "numba", "out", "i"}) | frozenset(keyword.kwlist)


def fusible(node: Node) -> bool:
    """Whether ``node`` can be computed inside a Numba loop: its op has a NumPy ufunc template, its result is
    float32 or float64 of a shape of at least one known dimension (Numba returns a 0-d array as a number), its
    operands are float32, float64 or int64 values or finite numbers."""
    opdef = OPS.get(node.op)
    t = node.output.type
    if opdef is None or not getattr(opdef, "ufunc", "") or getattr(t, "dtype", None) not in _FLOATS:
        return False
    if not t.shape or not all(isinstance(d, int) for d in t.shape):
        return False
    for x in node.inputs:
        if x.__class__ is Value:
            if getattr(x.type, "dtype", None) not in _OPERAND_TYPES:
                return False
        elif isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            return False
    return True


def _names(body: Graph) -> dict[Value, str]:
    names = {}
    given = body.value_names()
    taken = set(_RESERVED)
    for v, name in given.items():
        while name in taken:
            name = f"{name}_"
        taken.add(name)
        names[v] = name
    return names


def _literal(x, dtype: str) -> str:
    # a float literal is a float64 to Numba: typed as the value so float32 arithmetic stays float32
    return f"np.float32({float(x)!r})" if dtype == "float32" else repr(x)


def loop_source(body: Graph, name: str) -> str:
    """The ``@numba.njit`` function computing a fused node's body: its operands, broadcast by the caller to the
    output's shape, read one element at a time; each op a local named as its IR value, with its source line."""
    from .python import _source_comment  # (python.py imports this module)

    result = body.outputs[0]
    t = result.type
    names = _names(body)
    element = {v: f"{names[v]}[i]" for v in body.inputs}
    lines = ["@numba.njit(cache=False)",
             f"def {name}({', '.join(names[v] for v in body.inputs)}):",
             f"    out = np.empty({tuple(t.shape)!r}, dtype=np.{t.dtype})",
             "    for i in np.ndindex(out.shape):"]
    last_loc: list = []
    texts: dict = {}
    for n in body.nodes:
        dtype = n.output.type.dtype
        args = [element[x] if x.__class__ is Value else _literal(x, dtype) for x in n.inputs]
        expr = "np." + OPS[n.op].ufunc.format(*args)
        if dtype == "float32" or any(x.__class__ is Value and x.type.dtype != dtype for x in n.inputs):
            expr = f"np.{dtype}({expr})"
        local = names[n.output]
        lines.append(f"        {local} = {expr}{_source_comment(n, last_loc, texts)}")
        element[n.output] = local
    lines += [f"        out[i] = {names[result]}", "    return out"]
    return "\n".join(lines)


def loop_call(a: list[str], body: Graph, kernel: str) -> list[str]:
    """The call of a fused node's loop: an operand of another shape than the output's is broadcast to it
    (a view: no copy), so the loop indexes every operand alike."""
    shape = tuple(body.outputs[0].type.shape)
    args = [text if tuple(v.type.shape) == shape else f"np.broadcast_to({text}, {shape!r})"
            for text, v in zip(a, body.inputs)]
    return [f"{kernel}({', '.join(args)})"]


def _structure(body: Graph) -> tuple:
    """What a loop's code depends on but for names and comments: its operands' types, each op with its operands
    (a value by its position in the body, a number as it is) and result type, and which value it returns."""
    position = {v: k for k, v in enumerate(body.inputs)}
    ops = []
    for n in body.nodes:
        position[n.output] = len(position)
        ops.append((n.op, tuple(("v", position[x]) if x.__class__ is Value else ("n", type(x).__name__, repr(x))
                                for x in n.inputs), str(n.output.type)))
    return tuple(str(v.type) for v in body.inputs), tuple(ops), position[body.outputs[0]]


def loop_definitions(graphs: list[Graph]) -> list[str]:
    """The module-level loop functions of every ``fused`` node of ``graphs``, in order. A loop whose code (but
    for its name and comments) is an earlier one's is that function under its name: each njit function is
    compiled at its first call, and an unrolled Python loop repeats its regions (100 chained ops saved for the
    backward: 41 regions, 3 distinct loops; 4.4 s of Numba's compiles down to 0.4 s)."""
    lines: list[str] = []
    first: dict[str, str] = {}  # the code without its name and comments -> the name of the function it defines
    for g in graphs:
        for n in g.nodes:
            if n.op != "fused":
                continue
            name = n.attrs["kernel"]
            key = _structure(n.attrs["body"])
            if key in first:
                lines.append(f"{name} = {first[key]}  # the same loop")
            else:
                first[key] = name
                lines.append(loop_source(n.attrs["body"], name))
    return lines
