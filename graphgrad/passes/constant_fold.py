"""Constant folding: arithmetic whose operands are all known becomes one constant, and chains of arithmetic with
literals are combined into one operation.

- ``full_like(y, 2.0) * 3.0`` -> ``full_like(y, 6.0)``; ``-full_like(y, v)`` -> ``full_like(y, -v)``; two
  constants of one type combine the same way. Gradients seeded with ones (``graphgrad.grad``) and the cotangents
  of ``mean`` start as such constants.
- ``x * 0`` becomes a zero only when ``x`` is such a constant: for an arbitrary ``x`` it is NaN where ``x`` is
  infinite or NaN, and folding it would hide that from the forward and the backward alike.
- ``(x + a) + b`` -> ``x + (a + b)`` (also with ``-``), ``(x * a) * b`` -> ``x * (a * b)`` and ``(x / a) / b`` ->
  ``x / (a * b)`` for float ``x`` and Python literals ``a``, ``b``, when nothing else reads ``x + a``. This
  rounds once where the unfolded code rounds twice, so results may differ from eager execution in the last bit.

Each rule is local, so ``fold_constants`` is one forward walk, and ``optimize`` runs the same rules inside its
own walk.
"""
from __future__ import annotations

import math
import operator

from ..ir.graph import Graph, Node, Value
from .prune import eliminate_dead_nodes
from .rewrite import rewrite

_ARITH = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


def _literal(x) -> bool:
    return x.__class__ in (int, float)


def _constant(x):
    """``(value, like)`` for a literal (like None) or a ``full_like(like, value)`` value; None otherwise."""
    if _literal(x):
        return x, None
    if x.__class__ is Value and x.node is not None and x.node.op == "full_like":
        return x.node.attrs["value"], x
    return None


def fold_arithmetic(n: Node, rw) -> None:
    """The folding rule for one node (a ``passes.rewrite`` rule)."""
    op = n.op
    if op == "neg":
        known = _constant(n.inputs[0])
        if known is not None and known[1] is not None and known[1].type == n.output.type:
            n.op, n.inputs, n.attrs = "full_like", [known[1].node.inputs[0]], {"value": -known[0]}
        return None
    if op not in _ARITH or len(n.inputs) != 2:
        return None
    a, b = n.inputs
    if b.__class__ is Value and (b.node is None or b.node.op != "full_like"):
        return None  # b not known: nothing folds, and no literal chain ends here (the common case, cheaply)
    ka = _constant(a)
    kb = _constant(b) if ka is not None else None  # a not known: only a literal chain may end here
    if ka is not None and kb is not None:
        # both known: one constant shaped like whichever operand already has the result's type
        like = next((k[1] for k in (ka, kb) if k[1] is not None and k[1].type == n.output.type), None)
        if like is not None and n.output.type.is_floating:
            try:
                value = float(_ARITH[op](ka[0], kb[0]))
            except (ZeroDivisionError, OverflowError):
                return None
            n.op, n.inputs, n.attrs = "full_like", [like.node.inputs[0]], {"value": value}
        return None
    if a.__class__ is Value and _literal(b) and a.node is not None and len(a.node.inputs) == 2:
        _combine_literals(n, a, b, rw)
    return None


fold_arithmetic.applies = frozenset({"neg", *_ARITH}).__contains__


_COMBINED = frozenset({("add", "add"), ("add", "sub"), ("sub", "add"), ("sub", "sub"), ("mul", "mul"),
                       ("div", "div")})


def _combine_literals(n: Node, a: Value, b, rw) -> None:
    """``(x op1 c) op2 b`` -> ``x op c'`` for a float ``x`` (see the module docstring)."""
    inner = a.node
    pair = (inner.op, n.op)
    if pair not in _COMBINED:  # before rw.uses: the first use counts the readers of the whole graph
        return
    x, c = inner.inputs
    if x.__class__ is not Value or not _literal(c) or not x.type.is_floating or x.type != n.output.type \
            or a.type != n.output.type or rw.uses(a) != 1:
        return
    if pair in (("add", "add"), ("add", "sub"), ("sub", "add"), ("sub", "sub")):
        shift = (c if inner.op == "add" else -c) + (b if n.op == "add" else -b)
        n.op, n.inputs = "add", [x, shift]
    elif pair == ("mul", "mul"):
        n.inputs = [x, c * b]
    elif pair == ("div", "div"):
        n.inputs = [x, c * b]
    else:
        return
    if isinstance(n.inputs[1], float) and not math.isfinite(n.inputs[1]):  # c * b overflowed: keep both steps
        n.op, n.inputs = pair[1], [a, b]



def fold_constants(graph: Graph) -> Graph:
    """Fold arithmetic on known values and combine literal chains (in place; see the module docstring).

    >>> from graphgrad.ir.parser import parse_graph
    >>> g = parse_graph('''graph f(%x: f64[3]) {
    ...   %a: f64[3] = mul(%x, 2.0)
    ...   %b: f64[3] = mul(%a, 3.0)
    ...   return %b
    ... }''')
    >>> print(fold_constants(g).nodes[0].inputs[1])
    6.0
    """
    return eliminate_dead_nodes(rewrite(graph, (fold_arithmetic,)))
