"""Clean-up passes for generated graphs: common-subexpression elimination and algebraic
simplification (identities that adjoint generation produces, such as ``g * 1`` or ``reshape`` to
the same shape).

Every rewrite here is local: it looks at one node and the nodes that produce its inputs. So the passes
share one forward walk (``passes.rewrite``) in which a node is rewritten only after all its producers are in
their final form; ``optimize`` applies all the rules, constant folding's too, in that single walk and reaches
the fixed point without repeating it (``optimize(optimize(g))`` changes nothing, which the tests check).
"""
from __future__ import annotations

import math

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS, ShapeError
from ..ir.types import TensorType
from ..ir.verify import cached_infer_type, verify
from .constant_fold import fold_arithmetic
from .prune import eliminate_dead_nodes
from .rewrite import Rewriter as _Rewriter
from .rewrite import rewrite as _rewrite


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Merge nodes that apply the same op to the same inputs with the same attributes (in place)."""
    return _rewrite(graph, (), cse=True)


def _is_literal(x, value) -> bool:
    return not isinstance(x, Value) and not isinstance(x, bool) and x == value


def _keeps_zero_signs(op: str, x: Value, zero) -> bool:
    """Whether ``x + zero`` (or ``x - zero``) is ``x`` itself: for floats, -0.0 + 0.0 is +0.0, so only adding
    -0.0 or subtracting +0.0 leaves every value as it was (``g * mask + 0.0`` turns -0.0 into 0.0 on purpose)."""
    if x.type.dtype in ("bool", "int64", "int32", "int16", "int8", "uint8"):
        return True
    negative = math.copysign(1.0, zero) < 0
    return negative if op == "add" else not negative


_ARITHMETIC = frozenset({"mul", "div", "pow", "add", "sub"})


def _identity(n: Node, rw: _Rewriter) -> Value | None:
    """The value ``n`` merely passes on, if it is an identity."""
    op = n.op
    inputs = n.inputs
    x = inputs[0] if inputs else None
    if op in _ARITHMETIC:
        y = inputs[1]
        if x.__class__ is Value and y.__class__ is Value:  # no literal: the common case
            if op == "mul":  # full_like(x, 1) * y: y when the types agree (the walk checks)
                same = None
                producer = x.node
                if producer is not None and producer.op == "full_like" and producer.attrs["value"] == 1.0:
                    same = y
                producer = y.node
                if producer is not None and producer.op == "full_like" and producer.attrs["value"] == 1.0:
                    same = x
                return same
            return None
        if op in ("mul", "div", "pow") and _is_literal(y, 1) and isinstance(x, Value):
            return x
        if op == "mul" and _is_literal(x, 1) and isinstance(y, Value):
            return y
        if op in ("add", "sub") and _is_literal(y, 0) and isinstance(x, Value) and _keeps_zero_signs(op, x, y):
            return x
        if op == "add" and _is_literal(x, 0) and isinstance(y, Value) and _keeps_zero_signs(op, y, x):
            return y
        return None  # none of the cases below is arithmetic
    if op in ("reshape", "expand") and x.type.shape == tuple(n.attrs["shape"]):
        return x
    if op == "permute" and tuple(n.attrs["dims"]) == tuple(range(len(n.attrs["dims"]))):
        return x
    if op == "neg" and x.node is not None and x.node.op == "neg":
        return x.node.inputs[0]
    if op == "cast" and x.type.dtype == n.attrs["dtype"]:
        return x
    return None


_identity.applies = frozenset({"mul", "div", "pow", "add", "sub", "reshape", "expand", "permute", "neg",
                               "cast"}).__contains__


def _zero_sign_fix_of(x) -> Value | None:
    """``v`` if ``x`` is ``v + 0.0`` for a float ``v`` of ``x``'s type (relu's gradient turns -0.0 into +0.0 so)."""
    node = x.node if x.__class__ is Value else None
    if node is None or node.op != "add":
        return None
    v, zero = node.inputs
    if zero.__class__ is Value:
        v, zero = zero, v
    if zero.__class__ is Value or not _is_literal(zero, 0) or math.copysign(1.0, zero) < 0 \
            or v.__class__ is not Value or v.type != x.type or not v.type.dtype.startswith("float"):
        return None
    return v


def _absorb_zero_sign_fix(n: Node, rw: _Rewriter) -> None:
    """``(v + 0.0) @ w`` -> ``v @ w`` and ``sum(v + 0.0)`` -> ``sum(v) + 0.0``, as each op declares
    (``zero_signs``): the ``+ 0.0`` only makes zeros positive, a matrix product never returns -0.0 (its sums
    start at +0.0, as BLAS's and NumPy's own loops do) and a sum is -0.0 only where every term is a zero, so
    both give the same bits, and the pass over the full-sized operand goes (relu's gradient, fed to a weight's
    gradient and a bias's, in every MLP). A view or a scatter into zeros passes the ``+ 0.0`` on to its own
    result in the same way, where a product can drop it."""
    if OPS[n.op].zero_signs == "positive":
        inputs = [_zero_sign_fix_of(x) or x for x in n.inputs]
        if inputs != n.inputs:
            n.inputs = inputs
        return None
    v = _zero_sign_fix_of(n.inputs[0])
    if v is not None:  # a sum, or a view or scatter into zeros on the way to one (a convolution's gradient)
        moved = rw.emit(n.op, [v] + n.inputs[1:], n.attrs, n.output.type, n)
        n.op, n.inputs, n.attrs = "add", [moved, 0.0], {}
    return None


def _declares_zero_signs(op: str) -> bool:
    opdef = OPS.get(op)
    return opdef is not None and opdef.zero_signs != ""


_absorb_zero_sign_fix.applies = _declares_zero_signs


def _positive_test(n: Node, rw: _Rewriter) -> None:
    """``relu(-x) > 0`` and ``-x > 0`` -> ``x < 0``, and ``relu(-x) != 0`` (relu's gradient mask, true for a
    nan) -> ``~(x >= 0)``, for floats (NaN and signed zeros give the same answers; not for integers, where
    -INT_MIN wraps). A softplus written ``max(-z, 0) + log1p(exp(-|z|))`` tests its negative part in the
    backward: the test then reads ``z``, which the backward keeps anyway, and the forward need not also keep
    ``max(-z, 0)``. (``relu(x) != 0`` stays: relu's own gradient tests its output, which the next layer's
    gradient keeps anyway, where ``x`` would be one more saved array.)"""
    x, zero = n.inputs
    producer = x.node if x.__class__ is Value else None
    if producer is None or zero.__class__ is Value or not _is_literal(zero, 0):
        return None
    if producer.op == "relu":
        inner = producer.inputs[0].node
        if inner is None or inner.op != "neg":
            return None
        producer = inner
    elif n.op == "ne":
        return None
    if producer.op == "neg" and producer.inputs[0].type.dtype.startswith("float"):
        if n.op == "gt":
            n.op, n.inputs = "lt", [producer.inputs[0], zero]
        else:
            ge = rw.emit("ge", [producer.inputs[0], zero], {}, n.output.type, n)
            n.op, n.inputs = "logical_not", [ge]
    return None


_positive_test.applies = frozenset({"gt", "ne"}).__contains__


def simplify(graph: Graph) -> Graph:
    """Remove identities: ``x * 1``, ``x + 0``, ``x / 1``, ``x ** 1``, ``--x``, reshapes/permutes that
    change nothing, and ``full_like(x, 1) * y`` when the shapes already agree."""
    return eliminate_dead_nodes(_rewrite(graph, (_identity,)))


def _fold_shape_chain(n: Node, rw: _Rewriter) -> None:
    src = n.inputs[0] if n.inputs and isinstance(n.inputs[0], Value) else None
    producer = src.node if src is not None else None
    if producer is None:
        return None
    if n.op in ("reshape", "expand") and producer.op == n.op:
        n.inputs = [producer.inputs[0]] + n.inputs[1:]
    elif n.op == "permute" and producer.op == "permute":
        # transposes of transposes (adjoints of adjoints): one permute, which simplify drops if the identity
        inner = producer.attrs["dims"]
        n.inputs = [producer.inputs[0]]
        n.attrs = {"dims": tuple(inner[d] for d in n.attrs["dims"])}
    elif n.op == "reshape" and producer.op == "expand" and producer.inputs[0].type.size == 1:
        scalar = producer.inputs[0]
        shape = tuple(n.attrs["shape"])
        if scalar.type.ndim != len(shape):
            ones = (1,) * len(shape)
            scalar = rw.emit("reshape", [scalar], {"shape": ones}, TensorType(ones, scalar.type.dtype), n)
        n.op, n.inputs, n.attrs = "expand", [scalar], {"shape": shape}
    return None


_fold_shape_chain.applies = frozenset({"reshape", "expand", "permute"}).__contains__


def fold_shape_chains(graph: Graph) -> Graph:
    """``reshape(reshape(a))`` -> ``reshape(a)``, ``expand(expand(a))`` -> ``expand(a)``, and a
    reshape of a broadcast single element -> one broadcast (the cotangent of ``mean``/``sum``)."""
    return eliminate_dead_nodes(_rewrite(graph, (_fold_shape_chain,)))


def _broadcast_source(v):
    """What an explicit broadcast started from: ``expand(u)`` -> u; a reshape that only adds unit axes to a
    single element -> that element. None for anything else."""
    node = v.node if isinstance(v, Value) else None
    if node is None:
        return None
    if node.op == "expand":
        return node.inputs[0]
    if node.op == "reshape" and node.inputs[0].type.size == 1 and all(d == 1 for d in node.attrs["shape"]) \
            and len(node.attrs["shape"]) >= node.inputs[0].type.ndim:  # reshape (1,) -> () drops an axis
        return node.inputs[0]
    return None


def _type_with(node, inputs: list):
    """``node``'s type rule applied to other inputs (None where they do not fit)."""
    try:
        return cached_infer_type(node.op, [x.type if isinstance(x, Value) else x for x in inputs], node.attrs)
    except (ShapeError, IndexError, TypeError):
        return None


def _drop_broadcasts(n: Node, rw: _Rewriter) -> None:
    # only called for elementwise ops (``applies`` below)
    for x in n.inputs:  # most nodes read no broadcast: nothing to do
        if x.__class__ is Value and x.node is not None and x.node.op in _BROADCASTS:
            break
    else:
        return None
    values = [x for x in n.inputs if isinstance(x, Value)]
    source = _broadcast_source(values[0]) if len(values) == 1 else None
    # not for a result (or what one views): eager gives it a buffer of its own, writable in place
    if source is not None and n.output not in rw.owners:
        inner_inputs = [source if x is values[0] else x for x in n.inputs]
        inner_type = _type_with(n, inner_inputs)
        if inner_type is not None and inner_type.dtype == n.output.type.dtype:
            # op(broadcast(s), literals) -> broadcast(op(s, literals)): the work shrinks to s's size and
            # the broadcast moves on to the next elementwise op, which can drop it
            inner = rw.emit(n.op, inner_inputs, n.attrs, inner_type, n)
            n.op, n.inputs, n.attrs = "expand", [inner], {"shape": n.output.type.shape}
            return None
    inputs = list(n.inputs)
    for i, x in enumerate(inputs):
        source = _broadcast_source(x)
        while source is not None:
            trial = inputs[:i] + [source] + inputs[i + 1:]
            if _type_with(n, trial) != n.output.type:
                break
            inputs[i] = source
            source = _broadcast_source(source)
    n.inputs = inputs
    return None


_BROADCASTS = frozenset({"expand", "reshape"})  # the ops ``_broadcast_source`` looks through
_drop_broadcasts.applies = lambda op: OPS[op].elementwise


def drop_explicit_broadcasts(graph: Graph) -> Graph:
    """Elementwise ops broadcast by themselves: ``expand(g, (64, 3)) * y`` -> ``g * y`` wherever the op's type
    rule gives the same type. The cotangents of ``sum`` and ``mean`` are such broadcasts, and ``broadcast_to``
    is not free."""
    return eliminate_dead_nodes(_rewrite(graph, (_drop_broadcasts,)))


_CONTROL = frozenset({"cond", "scan", "while"})


def _stop_gradient(n: Node, rw: _Rewriter) -> Value | None:
    """``stop_gradient(x)`` is ``x`` once no gradient will be taken of the graph."""
    return n.inputs[0]


_stop_gradient.applies = frozenset({"stop_gradient"}).__contains__

_RULES = (_fold_shape_chain, _drop_broadcasts, fold_arithmetic, _identity, _absorb_zero_sign_fix, _positive_test)


def optimize(graph: Graph, final: bool = False) -> Graph:
    """The "optimized" stage: shape-chain folding, broadcast dropping, constant folding, simplification and CSE in
    one walk, then dead-node elimination (and, inside control-flow nodes, the same on their sub-graphs with
    unread outputs, carries and operands dropped); returns a verified copy. ``final``: the graph is not
    differentiated again, so ``stop_gradient`` (a ``detach()``, a ``no_grad()`` block) is dropped."""
    # the walk copies as it goes: ``graph`` (an earlier stage, kept for inspection) stays as it was
    g = _rewrite(graph, _RULES + (_stop_gradient,) if final else _RULES, cse=True, copy=True)
    g = eliminate_dead_nodes(g)
    if not _CONTROL.isdisjoint({n.op for n in g.nodes}):  # a set, not any(generator): one pass in C-speed steps
        from .subgraphs import simplify_control

        for _ in range(4):  # a backward loop that stops reading a saved value frees the forward loop's output
            before = [(n.op, len(n.inputs)) for n in g.nodes]
            g = eliminate_dead_nodes(simplify_control(g))
            if [(n.op, len(n.inputs)) for n in g.nodes] == before:
                break
    return verify(g)
