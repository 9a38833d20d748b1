"""Gradient (vector-Jacobian product) rules, one per primitive, written with the Tensor API.

A rule gets the output cotangent ``g``, the op's output ``out``, its inputs and its attributes, and
returns the cotangent of one input. Because it only uses Tensor methods and ``bind``, the same rule
runs eagerly in ``backward()``, records a graph under ``create_graph=True`` (higher order), and emits
IR during adjoint generation. Shapes are reduced back to each input's shape by the caller
(``sum_to``), so elementwise rules ignore broadcasting, as in HIPS autograd.

Returning ``None`` means a symbolic zero: no gradient flows (the output is piecewise constant in
that input). An op missing from this table has *no rule*, which is an error, never a zero. A piecewise-constant
op (``defnondiff``: floor, sign, ...) still passes a gradient on, a zero one, as PyTorch's FloorBackward0 does:
its result requires grad and ``x.grad`` of ``floor(x).sum()`` is zeros, not None.
"""
from __future__ import annotations

import dis
from dataclasses import dataclass
from typing import Callable

from ..ir.api import bind
from ..ir.registry import OPS


@dataclass(frozen=True)
class VJPRule:
    #: one function per input: (g, out, *inputs, **attrs) -> cotangent or None
    per_input: tuple
    #: which of ("out", input index...) the rules read; eager mode saves only these
    uses_out: bool
    uses_inputs: frozenset
    #: variadic ops give one function returning all cotangents: (g, out, needs, *inputs, **attrs)
    joint: Callable | None = None
    #: indexed by a bit mask of the inputs that require grad: what eager mode must save,
    #: (uses_out, input indices, the indices of those read only for their type). mul(x, 3) keeps nothing of x
    #: and sum(x) only x's shape, as in PyTorch, so later in-place changes to x are harmless.
    by_mask: tuple = ()
    #: inputs the rules read only for their type (``x.shape``, ``x.dtype``) when every input needs a gradient
    type_only: frozenset = frozenset()
    #: piecewise constant (``defnondiff``): every input's gradient is zero
    zero: bool = False


VJP_RULES: dict[str, VJPRule] = {}


#: what a rule may read of a tensor without reading its values
_TYPE_ATTRS = frozenset({"shape", "dtype", "ndim", "_type"})


def _reads(fn) -> tuple[set[str], set[str]]:
    """The names ``fn`` reads, and of those the ones it reads only as ``name.shape`` (or another of
    ``_TYPE_ATTRS``). A name captured by an inner function, or handed to anything, counts as read in full."""
    code = fn.__code__
    used, full = set(code.co_cellvars), set(code.co_cellvars)
    instructions = list(dis.get_instructions(code))
    for ins, after in zip(instructions, instructions[1:] + [None]):
        if ins.opname.startswith("LOAD_FAST") or ins.opname == "LOAD_DEREF":
            names = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            used.update(names)
            if not (len(names) == 1 and after is not None and after.opname == "LOAD_ATTR"
                    and after.argval in _TYPE_ATTRS):
                full.update(names)
    return used, full


def _input_reads(fn, skip: int) -> tuple[bool, frozenset, frozenset]:
    """(reads ``out``, inputs read, inputs read only for their type) of a rule whose inputs follow ``skip``
    leading parameters (``g, out`` or ``g, out, needs``); a variadic ``*inputs`` is read in full."""
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    used, full = _reads(fn)
    inputs = params[skip:]
    read = frozenset(i for i, p in enumerate(inputs) if p in used)
    return params[1] in used, read, frozenset(i for i in read if inputs[i] not in full)


def defvjp(op: str, *rules: Callable | None) -> None:
    """Register the per-input rules of ``op`` (``None`` for an input that never has a gradient)."""
    reads = [(False, frozenset(), frozenset()) if r is None else _input_reads(r, 2) for r in rules]

    every = frozenset(range(len(rules)))

    def union(needed: list) -> tuple:
        reads_out = any(o for o, _, _ in needed)
        if reads_out and op in OPS and not OPS[op].saves_result:
            # a result changed in place is computed again from the operands (eager backward): keep them all
            return True, every, frozenset()
        read = frozenset().union(*(ins for _, ins, _ in needed))
        full = frozenset().union(*(ins - typed for _, ins, typed in needed))
        return reads_out, read, read - full

    by_mask = tuple(union([r for i, r in enumerate(reads) if mask >> i & 1]) for mask in range(1 << len(reads)))
    uses_out, uses_inputs, type_only = union(reads)
    VJP_RULES[op] = VJPRule(tuple(rules), uses_out, uses_inputs, by_mask=by_mask, type_only=type_only)


def defvjp_joint(op: str, fn: Callable, uses_out: bool = False) -> None:
    """Register a rule for a variadic op; it returns one cotangent (or None) per input. Whether it reads ``out`` is
    found in its code, as for per-input rules (eager mode keeps the output only then)."""
    reads_out, _, type_only = _input_reads(fn, 3)
    if reads_out and op in OPS and not OPS[op].saves_result:
        type_only = frozenset()  # (the operands compute a changed result again: kept whole)
    VJP_RULES[op] = VJPRule((), uses_out or reads_out, frozenset(range(1 << 16)), fn, type_only=type_only)


NONDIFFERENTIABLE: set[str] = set()


def defnondiff(*ops: str) -> None:
    """Ops whose output is piecewise constant in every input: the gradient is zero (``apply_vjp``)."""
    NONDIFFERENTIABLE.update(ops)
    for op in ops:
        VJP_RULES[op] = VJPRule((), False, frozenset(), lambda g, out, needs, *xs, **a: [None] * len(xs), zero=True)


def _to_type(gi, gt, t):
    """Reduce a cotangent to its input's type: sum over broadcast axes, cast back to the input dtype."""
    if gt.shape != t.shape:
        gi = gi.sum_to(t.shape)
    if gt.dtype != t.dtype:
        gi = gi._cast(t.dtype)
    return gi


def apply_vjp(op: str, g, out, inputs: list, in_types: list, needs: list, attrs: dict,
              zeros: bool = False) -> list:
    """Cotangents for the inputs flagged in ``needs`` (None elsewhere), reduced to the input types.

    ``inputs`` holds the tensors the rule reads (others may be None); ``in_types`` the TensorType of
    every tensor input (None for Python scalars). A piecewise-constant op's cotangents are symbolic zeros (None),
    which cost nothing where they join other paths of a generated adjoint, or with ``zeros=True`` an elementwise
    op's are zero arrays (eager ``backward()``: PyTorch's x.grad of ``floor(x).sum()`` is zeros, not None; of
    slogdet's sign, None).
    """
    rule = VJP_RULES.get(op)
    if rule is None:
        raise NotImplementedError(
            f"graphgrad has no gradient rule for primitive '{op}'; it cannot be differentiated "
            f"(detach() its input or write the function with differentiable ops)")
    if rule.zero and zeros and OPS[op].elementwise:
        z = bind("full_like", g, value=0.0)
        return [_to_type(z, z._type, t) if need and t is not None else None for need, t in zip(needs, in_types)]
    if rule.joint is not None:
        grads = list(rule.joint(g, out, needs, *inputs, **attrs))
    else:
        grads = [None] * len(needs)
        for i, r in enumerate(rule.per_input):
            if needs[i] and r is not None:
                gi = r(g, out, *inputs, **attrs) if attrs else r(g, out, *inputs)
                t = in_types[i]
                if gi is not None and t is not None:
                    gt = gi._type
                    if gt is not t:  # eager types are interned: the common case costs one comparison
                        gi = _to_type(gi, gt, t)
                grads[i] = gi
        return grads
    for i, (gi, t) in enumerate(zip(grads, in_types)):
        if gi is not None and t is not None and gi._type is not t:
            grads[i] = _to_type(gi, gi._type, t)
    return grads
