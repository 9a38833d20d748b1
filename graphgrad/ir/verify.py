"""The verifier, run once per stage: SSA, topological order, and types that match the op rules."""
from __future__ import annotations

from .graph import Graph, Value
from .interpret import STRUCTURED  # ops whose attributes hold sub-graphs, which passes rebuild
from .registry import _DEFAULT_FLOAT, OPS, infer_type
from .types import TensorType


class VerificationError(AssertionError):
    """A pass produced a malformed graph; this is a bug in graphgrad, not in user code."""


_TYPES: dict = {}  # (op, operand types and literals, attrs, default float dtype) -> result type
_INTERNED: dict = {}  # TensorType -> the one equal TensorType the memo hands out


def cached_infer_type(op: str, inputs: list, attrs: dict):
    """``infer_type`` memoized on its arguments and the default float dtype (which int / int follows). Type rules
    are otherwise pure, and a traced program applies the same op to the same types over and over (every layer
    of a deep net, every step of an unrolled loop), so tracing and verifying a large graph asks the rules a few
    hundred distinct questions, not one per node. Errors are not memoized; arguments that cannot be hashed (a
    list in an attribute) go straight to the rule, and so do nodes without tensor operands (constants), whose
    attributes can be large."""
    if not inputs:
        return infer_type(op, inputs, attrs)
    try:
        # a literal is keyed with its class: 1, 1.0 and True are equal as dict keys but type differently
        # types keyed as (shape, dtype) tuples: hashing and comparing them stays in C
        key = (op, tuple([(x.shape, x.dtype) if x.__class__ is TensorType else (x.__class__, x) for x in inputs]),
               tuple(attrs.items()) if attrs else (), _DEFAULT_FLOAT[0])
        return _TYPES[key]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return infer_type(op, inputs, attrs)
    result = infer_type(op, inputs, attrs)
    if len(_TYPES) > 50_000:
        _TYPES.clear()
        _INTERNED.clear()
    if result.__class__ is TensorType:
        # one object per distinct type: comparing a node's type with its rule's (verify, apply_vjp's check that a
        # cotangent has its input's type) is then mostly an identity test
        result = _INTERNED.setdefault(result, result)
    _TYPES[key] = result
    return result


def typed_for(op: str, inputs: list, attrs: dict) -> tuple:
    """The result type of ``op`` on ``inputs`` as a node's ``typed`` record: ``(op, attrs, result type, each
    operand's type or literal)``. ``verify`` trusts a node whose op, attrs, operand types and result type are
    still these very objects instead of asking the type rule again (rules are pure, attrs are never changed in
    place). Control flow gets a record too, but one that never matches (its attrs are sub-graphs)."""
    operands = [x.type if x.__class__ is Value else x for x in inputs]
    return (op if op not in STRUCTURED else None, attrs, cached_infer_type(op, operands, attrs), tuple(operands))


def verify(graph: Graph) -> Graph:
    """Check ``graph``'s structure and types; raises ``VerificationError`` naming the first bad node.

    >>> from graphgrad.ir.graph import Graph
    >>> from graphgrad.ir.types import TensorType
    >>> g = Graph("f"); x = g.add_input(TensorType((3,), "float32"), "x")
    >>> g.outputs = [g.add_node("exp", [x], {}, TensorType((3,), "float32"))]
    >>> verify(g) is g
    True
    """
    if not _plainly_valid(graph):
        _first_error(graph)
    return graph


def _plainly_valid(graph: Graph) -> bool:
    """True only for a graph ``_first_error`` finds nothing wrong with; False where anything looks amiss (that
    walk then names the first bad node). Every stage of every compile is verified, so this walk is kept short:
    a node whose ``typed`` record still matches needs no registry lookup (its op was known when it was typed),
    and definitions are counted at the end instead of tested one by one (a value defined twice leaves one
    fewer)."""
    inputs = graph.inputs
    defined = set(inputs)
    add = defined.add
    for n in graph.nodes:
        op = n.op
        out = n.output
        inputs = n.inputs
        typed = n.typed
        if out.node is not n:
            return False
        # a node typed by its rule for these very operand types, attrs and result type needs no second asking
        if typed is not None and typed[0] is op and typed[1] is n.attrs and typed[2] is out.type \
                and len(typed[3]) == len(inputs):
            for x, t in zip(inputs, typed[3]):
                if x.__class__ is Value:
                    if x not in defined:
                        return False
                    if t is not x.type:
                        break
                elif t is not x:
                    break
            else:
                add(out)
                continue
        if op not in OPS:
            return False
        operands = []
        for x in inputs:
            if x.__class__ is Value:
                if x not in defined:
                    return False
                operands.append(x.type)
            else:
                operands.append(x)
        try:
            expected = cached_infer_type(op, operands, n.attrs)
        except Exception:  # the rule refuses: the slow walk raises it, unless an earlier node is wrong
            return False
        if expected is not out.type and expected != out.type:
            return False
        add(out)
    return len(defined) == len(graph.inputs) + len(graph.nodes) and defined.issuperset(graph.outputs)


def _first_error(graph: Graph) -> None:
    """Raise ``VerificationError`` for the first thing wrong with ``graph`` (nothing where all is well)."""
    defined: set[Value] = set()
    for v in graph.inputs:
        if v in defined:
            raise VerificationError(f"{graph.name}: input {v} listed twice")
        defined.add(v)
    for i, n in enumerate(graph.nodes):
        op = n.op
        if op not in OPS:
            raise VerificationError(f"{graph.name}: node {i} uses unknown primitive {op!r}")
        inputs = n.inputs
        out = n.output
        attrs = n.attrs
        # a node typed by its rule for these very operand types, attrs and result type needs no second asking
        typed = n.typed
        if typed is not None and typed[0] is op and typed[1] is attrs and typed[2] is out.type \
                and len(typed[3]) == len(inputs):
            known = True
            for x, t in zip(inputs, typed[3]):
                if x.__class__ is Value:
                    if x not in defined:
                        raise VerificationError(f"{graph.name}: node {i} ({op}) reads {x} before it is defined")
                    if t is not x.type:
                        known = False
                elif t is not x:
                    known = False
        else:
            known = False
            for x in inputs:
                if x.__class__ is Value and x not in defined:
                    raise VerificationError(f"{graph.name}: node {i} ({op}) reads {x} before it is defined")
        if out in defined:
            raise VerificationError(f"{graph.name}: {out} defined twice (not SSA)")
        if out.node is not n:
            raise VerificationError(f"{graph.name}: {out} does not point back to its node")
        if not known:
            expected = cached_infer_type(op, [x.type if x.__class__ is Value else x for x in inputs], attrs)
            if expected is not out.type and expected != out.type:
                raise VerificationError(f"{graph.name}: node {i} ({op}) has type {out.type}, "
                                        f"its rule says {expected}")
        defined.add(out)
    for v in graph.outputs:
        if v not in defined:
            raise VerificationError(f"{graph.name}: output {v} is never defined")
