"""Batching (``vmap``): run a Graph written for one example on a batch, one rule per primitive.

A batched value is a pair ``(tensor, dim)``: ``dim`` is the axis that carries the batch, or None when the value
is the same for every example. ``batch_interpret`` walks a Graph; a node whose inputs are all unbatched is
applied as it is, any other goes through its op's batching rule::

    rule(op, args, bdims, **attrs) -> (out, out_dim)

Rules are written with the Tensor API (``bind``, ``reshape``, ``permute``), so, like gradient rules, the same
rule evaluates eagerly or records IR into an active trace. Most primitives name a *family* rule
(``elementwise``, ``reduction``, ...), registered with ``defbatch(op, rule)``; an op without a rule is a clear
error naming it, never a silent Python loop.

Ops with sub-graphs (``cond``, ``scan``, ``while``) return a tuple read by ``get`` nodes: their rules return
``(list of outputs, tuple of batch axes)``, and the ``get`` rule picks one pair. Which outputs of a sub-graph
come out batched is decided before it is traced (``batched_outputs``), so that a loop's carry can be made
batched from the first iteration; such a rule carries ``rule.batched(in_flags, **attrs) -> out_flags``.
"""
from __future__ import annotations

from typing import Callable

from ..ir.api import TensorBase, bind
from ..ir.graph import Graph, Value
from ..ir.interpret import STRUCTURED
from ..ir.types import TupleType
from ..tracer.tracer import SymbolicTensor

BATCH_RULES: dict[str, Callable] = {}


def defbatch(op: str, rule: Callable) -> None:
    """Register ``rule(op, args, bdims, **attrs) -> (out, out_dim)`` as the batching rule of primitive ``op``."""
    BATCH_RULES[op] = rule


class BatchingError(NotImplementedError):
    """vmap met a primitive without a batching rule (or a use of one it cannot batch)."""


# -- helpers -----------------------------------------------------------------------------------

def _is_tensor(x) -> bool:
    return isinstance(x, TensorBase)


def moveaxis(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to position ``dst`` (a permute, or ``x`` itself)."""
    n = x.ndim
    src, dst = src % n, dst % n
    if src == dst:
        return x
    order = [i for i in range(n) if i != src]
    order.insert(dst, src)
    return bind("permute", x, dims=tuple(order))


def to_front(x, dim):
    """The batch axis of ``x`` moved first (unbatched values are returned as they are)."""
    return x if dim is None or dim == 0 else moveaxis(x, dim, 0)


def batch_size(args, bdims) -> int:
    for a, d in zip(args, bdims):
        if d is not None:
            return a.shape[d]
    raise ValueError("no batched argument")


def pad_after_batch(x, rank: int):
    """A batch-first ``x`` with unit axes inserted after the batch axis so that each example has ``rank`` axes."""
    pe = x.shape[1:]
    if len(pe) >= rank:
        return x
    return x.reshape((x.shape[0],) + (1,) * (rank - len(pe)) + tuple(pe))


def broadcast_batch(x, dim, size: int):
    """A batch-first ``x``: an unbatched value is broadcast over a new leading axis of ``size``."""
    if dim is not None:
        return to_front(x, dim)
    return bind("expand", x.reshape((1,) + tuple(x.shape)), shape=(size,) + tuple(x.shape))


# -- family rules ------------------------------------------------------------------------------

def elementwise(op, args, bdims, **attrs):
    """Elementwise ops with broadcasting: batch axes first, examples' ranks aligned by unit axes."""
    tensors = [(a, d) for a, d in zip(args, bdims) if _is_tensor(a)]
    if len(tensors) == 1:  # one tensor operand: the batch axis stays where it is
        return bind(op, *args, **attrs), tensors[0][1]
    rank = max(a.ndim - (d is not None) for a, d in tensors)
    new = [pad_after_batch(to_front(a, d), rank) if d is not None else a for a, d in zip(args, bdims)]
    return bind(op, *new, **attrs), 0


def reduction(op, args, bdims, dim, keepdim):
    """Reductions over ``dim`` (a sorted tuple, None for all axes): the axes shift past the batch axis."""
    x = to_front(args[0], bdims[0])
    n = x.ndim - 1
    axes = tuple(range(1, n + 1)) if dim is None else tuple(d + 1 for d in dim)
    return bind(op, x, dim=axes, keepdim=keepdim), 0


def arg_reduction(op, args, bdims, dim, keepdim):
    """argmax/argmin: ``dim=None`` indexes the flattened example."""
    x = to_front(args[0], bdims[0])
    n = x.ndim - 1
    if dim is None:
        out = bind(op, x.reshape(x.shape[0], -1), dim=1, keepdim=False)
        return (out.reshape((x.shape[0],) + (1,) * n) if keepdim else out), 0
    return bind(op, x, dim=_shift(dim), keepdim=keepdim), 0


def _shift(dim):
    if isinstance(dim, int):
        return dim + 1 if dim >= 0 else dim
    return tuple(d + 1 if d >= 0 else d for d in dim)


def along_axis(op, args, bdims, dim):
    """Ops along one axis (softmax, log_softmax)."""
    x = to_front(args[0], bdims[0])
    return bind(op, x, dim=_shift(dim)), 0


# -- which values come out batched ------------------------------------------------------------

def _any(flag) -> bool:
    return any(flag) if isinstance(flag, tuple) else bool(flag)


def batched_outputs(graph: Graph, in_flags: list) -> list:
    """Which outputs of ``graph`` ``batch_interpret`` makes batched when the inputs flagged in ``in_flags`` are
    batched: a value is batched when a node that reads a batched value makes it (a rule with a ``batched``
    attribute says which outputs of its tuple). A tuple's flag is a tuple of flags."""
    flags: dict = dict(zip(graph.inputs, in_flags))
    for n in graph.nodes:
        ins = [flags.get(x, False) if isinstance(x, Value) else False for x in n.inputs]
        batched = any(_any(f) for f in ins)
        precise = getattr(BATCH_RULES.get(n.op), "batched", None)
        if batched and precise is not None:
            flags[n.output] = precise(ins, **n.attrs)
        elif isinstance(n.output.type, TupleType):
            flags[n.output] = (batched,) * len(n.output.type.types)
        else:
            flags[n.output] = batched
    return [flags.get(v, False) for v in graph.outputs]


def batch_first(x, dim, batched: bool, size: int):
    """``x`` (batch axis ``dim``) as the rule promised it: batch-first when ``batched`` (an unbatched value is
    broadcast), as it is otherwise."""
    if batched:
        return broadcast_batch(x, dim, size)
    if dim is not None:
        raise AssertionError("a value batch_interpret batched was predicted unbatched")
    return x


# -- the interpreter ---------------------------------------------------------------------------

def _constant(node, env_values):
    """A node without inputs (a literal array): made by whichever interpreter owns the other values."""
    import numpy as np

    from ..tracer.tracer import ACTIVE

    for v in env_values:
        if isinstance(v, SymbolicTensor):
            return v.tracer.wrap(v.tracer.record(node.op, [], node.attrs).value)
    if ACTIVE.stack:
        return ACTIVE.stack[-1].record(node.op, [], node.attrs)
    from ..codegen.expressions import kernel
    from ..runtime.tensor import Tensor  # noqa: only reached eagerly, where runtime is loaded

    # the op's own expression: constant, full and arange alike
    return Tensor._wrap(np.asarray(kernel(node.op, tuple(node.attrs.items()), 0, "np")()))


def _unbatched(node, ins: list):
    """A node none of whose inputs is batched, applied as it is. Eagerly, a control-flow node runs its sub-graphs
    as ``ir.interpret`` does (into a tuple of tensors, which ``get`` indexes); traced, ``bind`` records it."""
    if node.op in STRUCTURED and not any(isinstance(a, SymbolicTensor) for a in ins):
        return tuple(STRUCTURED[node.op](node, ins))
    if isinstance(ins[0], tuple):  # get, of an eagerly run control-flow node
        return ins[0][node.attrs["item"]]
    return bind(node.op, *ins, **node.attrs)


def batch_interpret(graph: Graph, args: list, in_dims: list) -> list[tuple]:
    """Run ``graph`` (written for one example) on batched ``args``: ``in_dims[i]`` is the batch axis of
    ``args[i]`` or None. Returns ``(value, batch_axis_or_None)`` per output."""
    if len(args) != len(graph.inputs):
        raise TypeError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[Value, tuple] = dict(zip(graph.inputs, zip(args, in_dims)))
    for n in graph.nodes:
        ins, dims = [], []
        for x in n.inputs:
            a, d = env[x] if isinstance(x, Value) else (x, None)
            ins.append(a)
            dims.append(d)
        if not n.inputs:
            env[n.output] = (_constant(n, [a for a, _ in env.values()]), None)
            continue
        rule = None
        if any(d is not None for d in dims):
            rule = BATCH_RULES.get(n.op)
            if rule is None:
                where = f" (recorded at {n.loc})" if n.loc is not None else ""
                raise BatchingError(f"vmap: primitive '{n.op}' has no batching rule{where}; it cannot be "
                                    f"vectorized. Loop over the examples in Python, or write the function "
                                    f"with batchable ops")
        # nodes recorded from here keep the source line of the node they come from
        # (whichever of them records: values of an enclosing trace may be among the inputs)
        tracers = {a.tracer: a.tracer.loc_override for a in ins if isinstance(a, SymbolicTensor)}
        if n.loc is not None:
            for tracer in tracers:
                tracer.loc_override = n.loc
        try:
            env[n.output] = rule(n.op, ins, dims, **n.attrs) if rule else (_unbatched(n, ins), None)
        finally:
            for tracer, previous in tracers.items():
                tracer.loc_override = previous
    return [env[v] for v in graph.outputs]
