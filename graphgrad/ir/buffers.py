"""Buffer planning for generated code: which buffers an elementwise result may overwrite, which constants are
built once per module. An analysis of the graph alone, which codegen follows and the scheduling pass models.

A result is written into an operand's buffer (``np.add(t3, b1, out=t3)``) when that operand dies at this node
and nobody else can see its buffer: it was made by this function as a fresh array (not an input, so never the
caller's array nor a saved value the backward receives), it is not an output (outputs include the values saved
for the backward), and no view of it exists: every node that reads it makes a new array (a ``reshape``,
``permute``, ``expand``, basic ``getitem`` or ``stop_gradient`` of it may share its memory, so then it is never
reused), unless that view is the only reader of a fresh temporary and nothing else sees the view: then the
view owns the buffer (``np.add(t3, b, out=t3)`` with ``t3 = t2.reshape(...)``). Its type must be the result's
(same shape, so no broadcast grows it; same dtype, and NumPy computes in that dtype).

A node whose value its attributes and its operands' types fix (an op declaring ``shape_only``: a ``constant``,
``full`` or ``arange`` of at most ``HOISTED_BYTES``, or a ``full_like``, whose shape is fixed for the
specialization) becomes a module-level array built once when it is not an output and only read by ops that
make new arrays: nothing can then write into it.

A join along the first axis (an op declaring ``joins``: ``concat``) whose operands are each one ufunc call's result
made by this function (not an input nor an output) is allocated before the first of them
(``t9 = np.empty((24, 64), dtype=np.float32)``), and each operand is computed into its rows (``g1 = t9[8:16]``,
``np.multiply(a, b, out=g1)``): the operands and a copy of them are never alive at once (the rnn's chunks of
states and of gradients, joined for a weight's gradient). An operand read after the join reads its rows, and
neither the join nor its operands then receive another result.
"""
from __future__ import annotations

from .graph import Graph, Node, Value
from .registry import OPS, makes_new_array


def ufunc_call(op: str) -> str:
    """The NumPy ufunc call template that computes ``op`` (``"subtract({0}, {1})"``), as its declaration says
    (``ufunc=`` in ``graphgrad.ops``); "" when it has none."""
    opdef = OPS.get(op)
    return opdef.ufunc if opdef is not None else ""


#: views that are writeable and never overlap themselves (``expand`` is a broadcast: read-only, elements shared)
OWNING_VIEWS = ("reshape", "permute", "getitem")


#: a constant array built from attributes alone (``full``, ``arange``) of up to this size is built once per module;
#: a larger one per call, rather than held for the module's life
HOISTED_BYTES = 64 << 10


def _hoistable(n: Node) -> bool:
    opdef = OPS.get(n.op)
    if opdef is None or not opdef.shape_only:
        return False
    if n.op == "full_like":  # built from its type (codegen/python.py's _hoisted_line), as before: any size
        return True
    size = n.output.type.nbytes
    return not any(x.__class__ is Value for x in n.inputs) and size.__class__ is int and size <= HOISTED_BYTES


class Joins:
    """Joins computed in place: ``slots``, an operand's producer -> (the join, first row, end row); ``allocate``,
    a producer -> the joins to allocate just before it (it is the first of their operands to be computed)."""

    def __init__(self):
        self.slots: dict[Node, tuple[Node, int, int]] = {}
        self.allocate: dict[Node, list[Node]] = {}
        self.joins: set[Node] = set()


def plan(graph: Graph, computes_in_own_dtype) -> tuple[dict, set, Joins]:
    """``(reuse, hoisted, joins)``: for a node, the operand whose buffer receives its result; the nodes to build
    once at module level; the joins whose operands are computed into their rows (``Joins``).
    ``computes_in_own_dtype(node)`` says whether NumPy computes the node in its IR dtype."""
    # one pass over the nodes, with each op's declaration looked up once (it was a third of codegen's time)
    fresh_op: dict[str, bool] = {}
    ufunc_op: dict[str, bool] = {}
    readers: dict[Value, int] = {}  # how many reads
    last_use: dict[Value, int] = {}
    viewed: set = set()  # values some node reads without making a new array: it may share their buffer
    nodes = graph.nodes
    for i, n in enumerate(nodes):
        fresh = fresh_op.get(n.op)
        if fresh is None:
            fresh = fresh_op[n.op] = makes_new_array(n.op)
        for x in n.inputs:
            if x.__class__ is Value:
                readers[x] = readers.get(x, 0) + 1
                last_use[x] = i
                if not fresh:
                    viewed.add(x)
    outputs = set(graph.outputs)
    inputs = set(graph.inputs)  # the caller's arrays or the saved ones: never a fresh temporary
    hoisted = {n for n in nodes if _hoistable(n) and n.output not in outputs and n.output not in viewed}
    # (``.shape`` for ``.ndim > 0``: the property is a call per node)
    exclusive = {n.output for n in nodes if fresh_op[n.op] and n.output not in outputs and n.output not in viewed
                 and n.output.type.shape}
    # the only view of a fresh temporary that nothing else reads (``t3 = t2.reshape(...)``, t2 read by nothing
    # else) owns t2's buffer: once t3 dies, nobody can see that buffer
    for n in nodes:
        if n.op in OWNING_VIEWS:
            base = n.inputs[0] if n.inputs else None
            if base.__class__ is Value and base.node is not None and base not in inputs \
                    and fresh_op.get(base.node.op, False) and base not in outputs and readers[base] == 1 \
                    and n.output not in outputs and n.output.type.shape and n.output not in viewed:
                exclusive.add(n.output)
    reuse: dict[Node, Value] = {}
    for i, n in enumerate(nodes):
        op = n.op
        is_ufunc = ufunc_op.get(op)
        if is_ufunc is None:
            is_ufunc = ufunc_op[op] = bool(ufunc_call(op))
        if not is_ufunc:
            continue
        out_type = n.output.type
        if not out_type.shape or not computes_in_own_dtype(n):
            continue
        for x in n.inputs:
            if x.__class__ is Value and x in exclusive and last_use[x] == i and (x.type is out_type or x.type == out_type):
                reuse[n] = x
                break
    return reuse, hoisted, _joins_in_place(nodes, reuse, outputs, inputs, computes_in_own_dtype)


def _joins_in_place(nodes: list, reuse: dict, outputs: set, inputs: set, computes_in_own_dtype) -> Joins:
    joins = Joins()
    position = None
    for i, n in enumerate(nodes):
        opdef = OPS.get(n.op)
        if opdef is None or not opdef.joins or n.attrs.get("dim") != 0 or len(n.inputs) < 2:
            continue
        parts = n.inputs
        first = parts[0]
        if first.__class__ is not Value or not first.type.shape or first.type.dtype != n.output.type.dtype \
                or len(set(parts)) != len(parts):
            continue
        if not all(x.__class__ is Value and x.type == first.type and x.node is not None
                   and x not in outputs and x not in inputs and x.node not in joins.slots
                   and ufunc_call(x.node.op) and computes_in_own_dtype(x.node) for x in parts):
            continue
        if position is None:
            position = {m: k for k, m in enumerate(nodes)}
        rows = first.type.shape[0]
        for k, x in enumerate(parts):
            joins.slots[x.node] = (n, k * rows, (k + 1) * rows)
            reuse.pop(x.node, None)  # computed into its rows, not into a dying operand
        joins.allocate.setdefault(min((x.node for x in parts), key=position.__getitem__), []).append(n)
        joins.joins.add(n)
    if joins.joins:
        # an operand read after the join is a view of the join's buffer: neither may then take another result
        shared = {j.output for j in joins.joins} | {m.output for m in joins.slots}
        for m in [m for m, x in reuse.items() if x in shared]:
            del reuse[m]
    return joins
