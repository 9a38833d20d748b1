"""CuPy elementwise kernels for ``fused`` nodes: each becomes one ``cp.ElementwiseKernel``, built once at
module level and called in the generated function.

``C_EXPRESSIONS`` maps an elementwise op to a C expression template over its operands (``"tanh({0})"``,
``"({0} + {1})"``), declared with the op (``primitive(..., c_expr=...)``). Ops without one are not fused and
keep their per-op CuPy call. Every value inside a kernel has its IR dtype (a ``float`` stays ``float``), and
operands of another dtype than the op computes in are cast explicitly, so the kernel computes what the
per-op code computes, up to the rounding of CUDA's math functions.
"""
from __future__ import annotations

import math
import re

from ..ir.graph import Graph, Node, Value
from .expressions import statements

C_EXPRESSIONS: dict[str, str] = {}

#: IR dtype -> (CuPy's parameter type, C type)
C_TYPES = {"float32": ("float32", "float"), "float64": ("float64", "double"), "bool": ("bool", "bool")}

# CuPy binds ``i``/``_ind`` in every kernel; C++ keywords (with the alternative tokens ``xor``, ``bitand`` ...), the
# type names, CUDA's built-in variables and CuPy's indexer types cannot name a variable
_RESERVED = set("""i n _ind auto bool break case catch char class const continue default delete do double else enum
explicit extern false float for goto if inline int long new operator private protected public register return short
signed sizeof static struct switch template this throw true try typedef typename union unsigned using virtual void
volatile while float32 float64 int64 half and_eq bitand bitor compl not_eq or_eq xor xor_eq asm export friend mutable
namespace nullptr noexcept constexpr consteval constinit decltype static_assert thread_local alignas alignof char8_t
char16_t char32_t wchar_t dynamic_cast static_cast reinterpret_cast const_cast typeid concept requires co_await
co_return co_yield size_t ptrdiff_t threadIdx blockIdx blockDim gridDim warpSize NAN INFINITY CIndexer CArray""".split())


def fusible(node: Node) -> bool:
    """Whether ``node`` can be computed inside a fused kernel: its op has a C expression, its values are
    float32, float64 or bool, and its literals are finite numbers."""
    if node.op not in C_EXPRESSIONS or node.output.type.dtype not in C_TYPES:
        return False
    for x in node.inputs:
        if x.__class__ is Value:
            if x.type.dtype not in C_TYPES:
                return False
        elif isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            return False
    return True


def _compute_type(node: Node) -> str:
    """The dtype ``node`` computes in: its result's, or for a comparison its operands' (bool for where's
    condition is left as it is)."""
    dtype = node.output.type.dtype
    if dtype != "bool":
        return dtype
    floats = [x.type.dtype for x in node.inputs if x.__class__ is Value and x.type.dtype != "bool"]
    return "float64" if "float64" in floats else "float32" if floats else "bool"


def _operand(x, dtype: str, names: dict) -> str:
    if x.__class__ is Value:
        name = names[x]
        return name if x.type.dtype == dtype or dtype == "bool" else f"({C_TYPES[dtype][1]}){name}"
    text = repr(float(x)) if dtype != "bool" else ("true" if x else "false")
    return text + "f" if dtype == "float32" else text


def _function_names() -> set:
    """The C functions the kernels call (``exp``, ``tanh`` ...): a value named so (``tanh = x.tanh()``) would hide
    the function from the statements after its declaration."""
    return {name for expr in C_EXPRESSIONS.values() for name in re.findall(r"([A-Za-z_]\w*)\s*\(", expr)}


def _c_names(body: Graph) -> dict[Value, str]:
    names = {}
    given = body.value_names()
    taken = _RESERVED | _function_names()
    for v, name in given.items():
        if name in taken or name.startswith("_"):  # renamed apart from the names the body already has
            while name in taken or name.startswith("_") or name in given.values():
                name = f"v{name}" if name.startswith("_") else f"{name}_"
        taken.add(name)
        names[v] = name
    return names


def kernel_source(body: Graph, name: str, xp: str = "cp") -> str:
    """``name = cp.ElementwiseKernel(in_params, out_params, operation, name)`` for a fused node's body."""
    names = _c_names(body)
    ins = ", ".join(f"{C_TYPES[v.type.dtype][0]} {names[v]}" for v in body.inputs)
    result = body.outputs[0]
    outs = f"{C_TYPES[result.type.dtype][0]} {names[result]}"
    lines = []
    for n in body.nodes:
        dtype = _compute_type(n)
        args = [_operand(x, dtype if not (n.op == "where" and k == 0) else "bool", names)
                for k, x in enumerate(n.inputs)]
        expr = C_EXPRESSIONS[n.op].format(*args)
        if n.output is result:
            lines.append(f"{names[n.output]} = {expr};")
        else:
            lines.append(f"{C_TYPES[n.output.type.dtype][1]} {names[n.output]} = {expr};")
    # one C statement per source line, each string but the last ending in a newline (the CUDA source reads too)
    operation = "\n".join(f"    {line + chr(10) if k < len(lines) - 1 else line!r}" for k, line in enumerate(lines))
    return f"{name} = {xp}.ElementwiseKernel(\n    {ins!r},\n    {outs!r},\n{operation},\n    {name!r})"


def fused_expression(a: list[str], xp: str, out: str, body: Graph, kernel: str) -> list[str]:
    """A fused node's code: its kernel's call for CuPy; for NumPy the body's own per-op statements."""
    if xp == "cp":
        return [f"{kernel}({', '.join(a)})"]
    env = dict(zip(body.inputs, a))
    lines = []
    for k, n in enumerate(body.nodes):
        target = f"{out}_{k}"
        stmts = statements(n.op, [env[x] if x.__class__ is Value else repr(x) for x in n.inputs], xp, target,
                           n.attrs)
        if n is body.nodes[-1]:
            return lines + stmts
        lines += stmts[:-1] + [f"{target} = {stmts[-1]}"]
        env[n.output] = target
    raise AssertionError("empty fused body")


def kernel_definitions(graphs: list[Graph], xp: str) -> list[str]:
    """The module-level kernel definitions of every ``fused`` node of ``graphs``, in order."""
    return [kernel_source(n.attrs["body"], n.attrs["kernel"], xp) for g in graphs for n in g.nodes
            if n.op == "fused"]
