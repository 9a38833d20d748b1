"""Whether an op's gradient rule is itself differentiable (second order), derived from the rule's code.

A rule is differentiable again when everything it computes goes through the Tensor API into primitives that
have gradient rules: then the same rule records a double-backward graph. This walks the rule's bytecode and
every function it reaches (helpers, Tensor methods and operators, closures, nested lambdas), collecting the
primitives it can bind (string constants naming an op) and the places it leaves the Tensor API (``.numpy()``,
``._data``, ``.item()``, ``.tolist()``, ``.detach()``: values the next differentiation cannot see). It is a
static over-approximation of what the rule may do, read by ``graphgrad ops``; knows no particular op.
"""
from __future__ import annotations

import builtins
import dis
import types

from ..ir.api import TensorBase
from ..ir.registry import OPS
from .vjp_rules import NONDIFFERENTIABLE, VJP_RULES

#: attribute reads that leave the Tensor API: what they give carries no gradient
ESCAPES = frozenset({"numpy", "_data", "item", "tolist", "detach", "detach_"})
_OPERATORS = {"+": "__add__", "-": "__sub__", "*": "__mul__", "/": "__truediv__", "**": "__pow__",
              "@": "__matmul__", "%": "__mod__", "//": "__floordiv__", "==": "__eq__", "!=": "__ne__",
              "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def _functions_of(obj):
    if isinstance(obj, property):
        obj = obj.fget
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    return obj if isinstance(obj, types.FunctionType) else None


def _tensor_attribute(name: str):
    for cls in type.mro(TensorBase):
        if name in vars(cls):
            return _functions_of(vars(cls)[name])
    return None


def reach(fn) -> tuple[set, set]:
    """The primitives ``fn`` may bind and the Tensor-API escapes it may take, through everything it calls."""
    ops, escapes, seen = set(), set(), set()
    stack = [(fn.__code__, fn.__globals__, fn.__closure__ or ())]
    while stack:
        code, space, closure = stack.pop()
        key = (code, tuple(id(c) for c in closure))  # one code object serves many closures (declared ops)
        if key in seen:
            continue
        seen.add(key)
        cells = dict(zip(code.co_freevars, (c.cell_contents for c in closure if _filled(c))))

        def visit(obj):
            if isinstance(obj, str) and obj in OPS:  # an op name held by a closure (a declared op's function)
                ops.add(obj)
                return
            f = _functions_of(obj)
            if f is not None and f.__module__ and f.__module__.startswith("graphgrad"):
                stack.append((f.__code__, f.__globals__, f.__closure__ or ()))

        for ins in dis.get_instructions(code):
            arg = ins.argval
            if ins.opname == "LOAD_CONST":
                if isinstance(arg, str) and arg in OPS:
                    ops.add(arg)
                elif isinstance(arg, types.CodeType):  # a lambda or comprehension inside
                    stack.append((arg, space, ()))
            elif ins.opname == "LOAD_GLOBAL":
                visit(space.get(arg, getattr(builtins, str(arg), None)))
            elif ins.opname in ("LOAD_DEREF", "LOAD_CLOSURE"):
                visit(cells.get(arg))
            elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                if arg in ESCAPES:
                    escapes.add(f".{arg}")
                visit(_tensor_attribute(arg))
            elif ins.opname in ("BINARY_OP", "COMPARE_OP"):
                visit(_tensor_attribute(_OPERATORS.get(ins.argrepr.rstrip("="), "")
                                        if ins.argrepr not in _OPERATORS else _OPERATORS[ins.argrepr]))
            elif ins.opname == "UNARY_NEGATIVE":
                visit(_tensor_attribute("__neg__"))
    return ops, escapes


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def second_order(op: str, structured=()) -> str:
    """``yes`` when ``op``'s gradient rule is built from differentiable ops only; ``zero`` for a piecewise-
    constant op; ``no (...)`` naming what it reaches without a gradient rule or where it leaves the Tensor
    API."""
    if op in NONDIFFERENTIABLE:
        return "zero"
    rule = VJP_RULES.get(op)
    if rule is None:
        return "-"
    ops, escapes = set(), set()
    for fn in [r for r in rule.per_input if r is not None] + ([rule.joint] if rule.joint else []):
        o, e = reach(fn)
        ops |= o
        escapes |= e
    missing = sorted(o for o in ops if o not in VJP_RULES and o not in structured)
    if missing or escapes:
        return "no (" + ", ".join(missing + sorted(escapes)) + ")"
    return "yes"
