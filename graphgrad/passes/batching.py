"""Batching (``vmap``): run a Graph written for one example on a batch, one rule per primitive.

A batched value is a pair ``(tensor, dim)``: ``dim`` is the axis that carries the batch, or None when the value
is the same for every example. ``batch_interpret`` walks a Graph; a node whose inputs are all unbatched is
applied as it is, any other goes through its op's batching rule::

    rule(op, args, bdims, **attrs) -> (out, out_dim)

Rules are written with the Tensor API (``bind``, ``reshape``, ``permute``), so, like gradient rules, the same
rule evaluates eagerly or records IR into an active trace. Most primitives name a *family* rule
(``elementwise``, ``reduction``, ...), registered with ``defbatch(op, rule)``; an op without a rule is a clear
error naming it, never a silent Python loop.
"""
from __future__ import annotations

from typing import Callable

from ..ir.api import TensorBase, bind
from ..ir.graph import Graph, Value
from ..ir.registry import decode_index
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


def _pad_after_batch(x, rank: int):
    """A batch-first ``x`` with unit axes inserted after the batch axis so that each example has ``rank`` axes."""
    pe = x.shape[1:]
    if len(pe) >= rank:
        return x
    return x.reshape((x.shape[0],) + (1,) * (rank - len(pe)) + tuple(pe))


def _broadcast_batch(x, dim, size: int):
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
    new = [_pad_after_batch(to_front(a, d), rank) if d is not None else a for a, d in zip(args, bdims)]
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


def matmul(op, args, bdims):
    """``a @ b`` for every example: vectors become matrices, batch axes lead, the examples' own batch axes are
    aligned by unit axes, and the matrix axes added for vectors are removed afterwards."""
    (a, da), (b, db) = zip(args, bdims)
    ra, rb = a.ndim - (da is not None), b.ndim - (db is not None)
    a, b = to_front(a, da), to_front(b, db)
    # a shared matrix (or vector) on one side: fold the batch into the rows of one 2-D product (one GEMM,
    # where a broadcast matmul would run one small product per example)
    if db is None and rb <= 2:
        lead = tuple(a.shape[:-1])
        out = a.reshape((-1, a.shape[-1])) @ b
        return out.reshape(lead + ((b.shape[-1],) if rb == 2 else ())), 0
    if da is None and ra == 2:
        # a @ b = ((b^T) @ a^T)^T for each example: rows of every example's b^T stacked, times a^T
        bt = b if rb == 1 else moveaxis(b, -2, -1)
        lead = tuple(bt.shape[:-1])
        out = (bt.reshape((-1, bt.shape[-1])) @ bind("permute", a, dims=(1, 0))).reshape(lead + (a.shape[0],))
        return (out if rb == 1 else moveaxis(out, -1, -2)), 0
    if ra == 1:
        a = a.unsqueeze(-2)
    if rb == 1:
        b = b.unsqueeze(-1)
    rank = max(max(ra, 2), max(rb, 2))
    if da is not None:
        a = _pad_after_batch(a, rank)
    if db is not None:
        b = _pad_after_batch(b, rank)
    out = bind("matmul", a, b)
    if rb == 1:
        out = out.squeeze(-1) if out.shape[-1] == 1 else out.reshape(out.shape[:-1])
    if ra == 1:
        axis = -1 if rb == 1 else -2
        out = out.reshape(tuple(s for i, s in enumerate(out.shape) if i != out.ndim + axis))
    return out, 0


def reshape(op, args, bdims, shape):
    x = to_front(args[0], bdims[0])
    return bind("reshape", x, shape=(x.shape[0],) + tuple(shape)), 0


def permute(op, args, bdims, **attrs):
    x = to_front(args[0], bdims[0])
    return bind("permute", x, dims=(0,) + tuple(d + 1 for d in attrs["dims"])), 0


def expand(op, args, bdims, shape):
    x = _pad_after_batch(to_front(args[0], bdims[0]), len(shape))
    return bind("expand", x, shape=(x.shape[0],) + tuple(shape)), 0


def concat(op, args, bdims, dim):
    size = batch_size(args, bdims)
    return bind("concat", *[_broadcast_batch(a, d, size) for a, d in zip(args, bdims)], dim=dim + 1), 0


def _advanced_position(index) -> int:
    """Where NumPy puts the batch axis of ``x[(slice(None),) + index]``: first, unless the example's index has
    advanced (array) items separated by a slice, which sends the advanced axes to the front."""
    positions = [i for i, item in enumerate(index)
                 if (isinstance(item, tuple) and item[0] == "array") or isinstance(item, int)]
    has_array = any(isinstance(index[i], tuple) for i in positions)
    if not has_array or positions == list(range(positions[0], positions[-1] + 1)):
        return 0
    import numpy as np

    arrays = [np.asarray(i) for i in decode_index(tuple(index[p] for p in positions))]
    return len(np.broadcast_shapes(*[a.shape for a in arrays]))


_FULL = ("slice", None, None, None)


def getitem(op, args, bdims, index):
    x = to_front(args[0], bdims[0])
    return bind("getitem", x, index=(_FULL,) + tuple(index)), _advanced_position(index)


def index_add_zeros(op, args, bdims, index, shape):
    g = args[0]
    size = g.shape[bdims[0]]
    g = moveaxis(g, bdims[0], _advanced_position(index))
    return bind("index_add_zeros", g, index=(_FULL,) + tuple(index), shape=(size,) + tuple(shape)), 0


def _offsets(index, size: int, stride: int):
    """``index`` (batch first) plus ``b * stride`` for example b: row numbers in the batch's stacked rows."""
    import numpy as np

    steps = np.arange(size, dtype=np.int64).reshape((size,) + (1,) * (index.ndim - 1)) * stride
    if isinstance(index, SymbolicTensor):
        steps = index.tracer.lift(steps, "vmap")
        steps = index.tracer.wrap(steps)
    else:
        steps = type(index)(steps)
    return index + steps


def gather_rows(op, args, bdims):
    (x, dx), (index, di) = zip(args, bdims)
    if di is None:  # the same rows of every example: pick them with the batch axis second
        return bind("gather_rows", moveaxis(x, dx, 1), index), index.ndim
    index = to_front(index, di)
    size = index.shape[0]
    if dx is None:
        return bind("gather_rows", x, index), 0
    x = to_front(x, dx)
    rows = x.shape[1]
    flat = x.reshape((size * rows,) + tuple(x.shape[2:]))
    return bind("gather_rows", flat, _offsets(index, size, rows)), 0


def scatter_add_rows(op, args, bdims, rows):
    (g, dg), (index, di) = zip(args, bdims)
    if di is None:
        return bind("scatter_add_rows", moveaxis(g, dg, index.ndim), index, rows=rows), 1
    index = to_front(index, di)
    size = index.shape[0]
    g = _broadcast_batch(g, dg, size)
    out = bind("scatter_add_rows", g, _offsets(index, size, rows), rows=size * rows)
    return out.reshape((size, rows) + tuple(out.shape[1:])), 0


def image_patches(op, args, bdims, **attrs):
    """unfold2d/fold2d work on (N, C, ...) images: the batch joins N and is split off again."""
    x = to_front(args[0], bdims[0])
    size, n = x.shape[0], x.shape[1]
    out = bind(op, x.reshape((size * n,) + tuple(x.shape[2:])), **attrs)
    return out.reshape((size, n) + tuple(out.shape[1:])), 0


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
    from ..runtime.tensor import Tensor  # noqa: only reached eagerly, where runtime is loaded

    return Tensor._wrap(np.array(node.attrs["value"], dtype=node.attrs["dtype"]))


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
            env[n.output] = rule(n.op, ins, dims, **n.attrs) if rule else (bind(n.op, *ins, **n.attrs), None)
        finally:
            for tracer, previous in tracers.items():
                tracer.loc_override = previous
    return [env[v] for v in graph.outputs]


# -- the rules, per primitive --------------------------------------------------------------------
# Each op names its family rule; when the op families move into graphgrad/ops/, these lines move into the
# ops' blocks.
for _op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt", "le", "gt", "ge", "eq", "ne", "neg",
            "abs", "relu", "sign", "exp", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "sqrt", "where", "cast",
            "full_like", "stop_gradient"):
    defbatch(_op, elementwise)
for _op in ("sum", "mean", "amax", "amin", "prod", "logsumexp"):
    defbatch(_op, reduction)
defbatch("argmax", arg_reduction)
defbatch("argmin", arg_reduction)
defbatch("softmax", along_axis)
defbatch("log_softmax", along_axis)
defbatch("matmul", matmul)
defbatch("reshape", reshape)
defbatch("permute", permute)
defbatch("expand", expand)
defbatch("concat", concat)
defbatch("getitem", getitem)
defbatch("index_add_zeros", index_add_zeros)
defbatch("gather_rows", gather_rows)
defbatch("scatter_add_rows", scatter_add_rows)
defbatch("unfold2d", image_patches)
defbatch("fold2d", image_patches)
# "constant" has no inputs, so it is never batched
