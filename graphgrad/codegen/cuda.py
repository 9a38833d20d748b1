"""CuPy kernels for ``fused`` nodes: each becomes one ``cp.ElementwiseKernel`` (or, for a region ending in a
sum, one ``cp.ReductionKernel``), built once at module level and called in the generated function.

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
from .numba import CALLS_LOOPS, loop_call

C_EXPRESSIONS: dict[str, str] = {}
#: a reduction that is a sum of its operand's elements over its ``dim`` -> a C expression of that sum ``a`` giving
#: its result (``sum``: ``"a"``; ``mean``: divided by the count), declared with the op (``c_reduce=``); a fused
#: region may end in one, computed as one ``cp.ReductionKernel``
C_REDUCTIONS: dict[str, str] = {}

#: IR dtype -> (CuPy's parameter type, C type)
C_TYPES = {"float32": ("float32", "float"), "float64": ("float64", "double"), "bool": ("bool", "bool"),
           "int64": ("int64", "long long")}
#: the dtypes a value computed inside a kernel may have: integer arithmetic stays per-op (C's differs from NumPy's
#: in division, powers and overflow), but an integer operand may be compared or cast (labels against a range)
_RESULT_TYPES = ("float32", "float64", "bool")

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
    """Whether ``node`` can be computed inside a fused kernel: its op has a C expression, its result is float32,
    float64 or bool, its operands that too or int64, and its literals are finite numbers."""
    if node.op not in C_EXPRESSIONS or node.output.type.dtype not in _RESULT_TYPES:
        return False
    for x in node.inputs:
        if x.__class__ is Value:
            if x.type.dtype not in C_TYPES:
                return False
        elif isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            return False
    return True


def reducible(node: Node) -> bool:
    """Whether ``node`` can end a fused region as the sum it is declared to be: a float result of its operand's
    float dtype."""
    return (node.op in C_REDUCTIONS and node.output.type.dtype in ("float32", "float64")
            and node.inputs[0].__class__ is Value and node.inputs[0].type.dtype == node.output.type.dtype)


def _compute_type(node: Node) -> str:
    """The dtype ``node`` computes in: its result's, or for a comparison its operands' as NumPy promotes them
    (int64 with float32: float64; bool for where's condition is left as it is)."""
    dtype = node.output.type.dtype
    if dtype != "bool":
        return dtype
    kinds = {x.type.dtype for x in node.inputs if x.__class__ is Value and x.type.dtype != "bool"}
    if "float64" in kinds or {"float32", "int64"} <= kinds:
        return "float64"
    return "float32" if "float32" in kinds else "int64" if kinds else "bool"


def _operand(x, dtype: str, names: dict) -> str:
    if x.__class__ is Value:
        name = names[x]
        return name if x.type.dtype == dtype or dtype == "bool" else f"({C_TYPES[dtype][1]}){name}"
    if dtype == "int64" and float(x).is_integer():
        return f"{int(x)}LL"
    text = repr(float(x)) if dtype != "bool" else ("true" if x else "false")
    return text + "f" if dtype == "float32" else text


def _function_names() -> set:
    """The C functions the kernels call (``exp``, ``tanh`` ...): a value named so (``tanh = x.tanh()``) would hide
    the function from the statements after its declaration."""
    return {name for expr in C_EXPRESSIONS.values() for name in re.findall(r"([A-Za-z_]\w*)\s*\(", expr)}


def _c_names(body: Graph, reserved: frozenset = frozenset()) -> dict[Value, str]:
    names = {}
    given = body.value_names()
    taken = _RESERVED | _function_names() | reserved
    for v, name in given.items():
        if name in taken or name.startswith("_"):  # renamed apart from the names the body already has
            while name in taken or name.startswith("_") or name in given.values():
                name = f"v{name}" if name.startswith("_") else f"{name}_"
        taken.add(name)
        names[v] = name
    return names


def _statements(nodes: list, names: dict, result: Value) -> list[str]:
    """One C statement per node, the one computing ``result`` assigning it (declared elsewhere)."""
    lines = []
    for n in nodes:
        dtype = _compute_type(n)
        args = [_operand(x, dtype if not (n.op == "where" and k == 0) else "bool", names)
                for k, x in enumerate(n.inputs)]
        expr = C_EXPRESSIONS[n.op].format(*args)
        if n.output is result:
            lines.append(f"{names[n.output]} = {expr};")
        else:
            lines.append(f"{C_TYPES[n.output.type.dtype][1]} {names[n.output]} = {expr};")
    return lines


def _strings(lines: list[str], indent: str = "    ") -> str:
    """C source lines as adjacent Python string literals, each but the last ending in a newline (one statement
    per line: the CUDA source reads as the generated module does)."""
    return "\n".join(f"{indent}{line + chr(10) if k < len(lines) - 1 else line!r}" for k, line in enumerate(lines))


def kernel_source(body: Graph, name: str, xp: str = "cp") -> str:
    """``name = cp.ElementwiseKernel(in_params, out_params, operation, name)`` for a fused node's body; for a body
    ending in a reduction, ``cp.ReductionKernel``: the rest of the body is its map, a device function."""
    result = body.outputs[0]
    if body.nodes[-1].op in C_REDUCTIONS:
        return _reduction_source(body, name, xp)
    names = _c_names(body)
    ins = ", ".join(f"{C_TYPES[v.type.dtype][0]} {names[v]}" for v in body.inputs)
    outs = f"{C_TYPES[result.type.dtype][0]} {names[result]}"
    operation = _strings(_statements(body.nodes, names, result))
    return f"{name} = {xp}.ElementwiseKernel(\n    {ins!r},\n    {outs!r},\n{operation},\n    {name!r})"


def _reduction_source(body: Graph, name: str, xp: str) -> str:
    """``cp.ReductionKernel(in_params, out_params, map, 'a + b', post_map, '0', name, reduce_type, preamble)``:
    the elementwise part of the body is a ``__device__`` function, mapped over the operands and summed."""
    reduction = body.nodes[-1]
    summed = reduction.inputs[0]
    names = _c_names(body, frozenset({"a", "b", f"{name}_map"}))  # a and b: the reduction's own variables
    ctype = C_TYPES[summed.type.dtype][1]
    params = ", ".join(f"{C_TYPES[v.type.dtype][1]} {names[v]}" for v in body.inputs)
    function = ([f"__device__ {ctype} {name}_map({params}) {{"]
                + [f"    {line}" for line in _statements(body.nodes[:-1], names, None)]
                + [f"    return {names[summed]};", "}"])
    ins = ", ".join(f"{C_TYPES[v.type.dtype][0]} {names[v]}" for v in body.inputs)
    result = names[reduction.output]
    outs = f"{C_TYPES[reduction.output.type.dtype][0]} {result}"
    call = f"{name}_map({', '.join(names[v] for v in body.inputs)})"
    post = f"{result} = {C_REDUCTIONS[reduction.op]}"
    return (f"{name} = {xp}.ReductionKernel(\n    {ins!r},\n    {outs!r},\n    {call!r},\n    'a + b',\n"
            f"    {post!r},\n    '0',\n    {name!r},\n    reduce_type={ctype!r},\n    preamble=(\n"
            f"{_strings(function, '        ')}))")


def fused_expression(a: list[str], xp: str, out: str, body: Graph, kernel: str) -> list[str]:
    """A fused node's code: its kernel's call for CuPy, its loop's for a numba module (``codegen/numba.py``); for
    NumPy the body's own per-op statements."""
    if xp == "np" and CALLS_LOOPS.get():
        return loop_call(a, body, kernel)
    if xp == "cp":
        last = body.nodes[-1]
        if last.op in C_REDUCTIONS:
            dim, keepdim = last.attrs["dim"], last.attrs["keepdim"]
            return [f"{kernel}({', '.join(a)}, axis={dim!r}, keepdims={keepdim!r})"]
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
