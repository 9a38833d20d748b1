"""Forward/backward partition by min-cut: what the forward keeps for the backward.

The joint graph (forward nodes, then adjoint nodes) is cut into ``forward(inputs) -> outputs + saved`` and
``backward(saved + cotangents) -> gradients``. Saving every forward value the adjoint reads keeps many arrays
alive from the forward to the end of the backward; recomputing a cheap elementwise value in the backward from a
value saved anyway can keep fewer bytes. Which values to keep is a minimum s-t cut, as AOTAutograd's
partitioner finds it: each forward value ``v`` is an edge ``v_in -> v_out`` whose capacity is the cost of
keeping ``v`` (its bytes); the source feeds every value the backward may not recompute (inputs, and the outputs
of matrix products, reductions and other expensive ops), and every value the backward reads drains into the
sink. A cut through ``v_in -> v_out`` keeps ``v``; the values between the cut and the sink are recomputed.

Inputs cost nothing to keep: the compiled function holds its arguments for the backward anyway (a saved input
is the caller's own array, not a copy), and random draws (dropout masks) are inputs, so nothing random is ever
recomputed. Unlike AOTAutograd, whose recomputation fuses into the backward's kernels for free, a NumPy
backward pays for each recomputed op: one array call and a pass over its bytes. That price is a second edge,
``source -> v_in``, cut exactly when ``v`` is recomputed: ``RECOMPUTE_CALL`` byte-equivalents per op plus
``RECOMPUTE_BYTES`` times its size. So small values (where a NumPy call costs more than the bytes are worth)
are kept, and large cheap ones are recomputed.

>>> from graphgrad.ir.parser import parse_graph
>>> joint = parse_graph('''
... graph f(%x: f64[10000], %g: f64[10000]) {
...   %a: f64[10000] = tanh(%x)
...   %b: f64[10000] = tanh(%a)
...   %b2: f64[10000] = mul(%b, %b)
...   %c: f64[10000] = sub(1.0, %b2)
...   %ga: f64[10000] = mul(%g, %c)
...   %a2: f64[10000] = mul(%a, %a)
...   %d: f64[10000] = sub(1.0, %a2)
...   %gx: f64[10000] = mul(%ga, %d)
...   return %b, %gx
... }''')
>>> for n in joint.nodes[2:]: n.role = "adjoint"
>>> joint.meta["n_primal"] = 1
>>> forward, backward, saved = partition(joint, 1)
>>> [v.name for v in saved], [n.output.name for n in backward.nodes][:2]
(['x'], ['a', 'b'])
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS
from .maxflow import FlowNetwork
from .prune import eliminate_dead_nodes

#: what recomputing one op in the backward costs, in bytes kept: a NumPy call (about a microsecond, the time
#: to write a few KiB) ...
RECOMPUTE_CALL = 4096
#: ... plus this fraction of the bytes it writes
RECOMPUTE_BYTES = 0.5

_INF = float("inf")


def recomputable(node: Node) -> bool:
    """Whether the backward may compute ``node`` again instead of the forward keeping its output (``recompute=``
    in the op's declaration; by default elementwise ops and views are cheap, everything else is kept)."""
    return _recomputable_op(node.op)


_RECOMPUTABLE: dict = {}  # op -> recomputable (declarations do not change once registered)


def _recomputable_op(op: str) -> bool:
    known = _RECOMPUTABLE.get(op)
    if known is None:
        opdef = OPS.get(op)
        if opdef is None:
            return False
        known = _RECOMPUTABLE[op] = opdef.recompute != "never" and (
            opdef.recompute == "cheap" or opdef.elementwise or opdef.memory == "view")
    return known


def _is_view(op: str) -> bool:
    opdef = OPS.get(op)
    return opdef is not None and opdef.memory == "view"


def _recompute_cost(node: Node, size: int | None = None) -> float:
    size = nbytes(node.output) if size is None else size
    if _is_view(node.op):
        source = node.inputs[0]
        # a reshape of a strided view copies
        copies = node.op == "reshape" and source.node is not None and _is_view(source.node.op)
        if not copies:
            return RECOMPUTE_CALL
    return RECOMPUTE_CALL + RECOMPUTE_BYTES * size


def _kept_outright(node: Node, size: int) -> bool:
    """Whether the backward reading ``node``'s output keeps it whatever else the cut does (see ``min_cut_saved``)."""
    return size <= _recompute_cost(node, size)


def nbytes(v: Value) -> int:
    """The size of ``v``'s array (the sum of its parts' for a control-flow block's tuple of results)."""
    t = v.type
    parts = getattr(t, "types", None)
    return sum(p.nbytes for p in parts) if parts is not None else t.nbytes


def _needed_by_backward(joint: Graph, n_outputs: int, produced_fwd: set) -> dict:
    """Forward values the adjoint nodes read, or that are gradients themselves, in order of first use."""
    needed: dict[Value, None] = {}
    for n in joint.nodes:
        if n.role != "forward":
            for x in n.inputs:
                if x.__class__ is Value and x in produced_fwd:
                    needed[x] = None
    for v in joint.outputs[n_outputs:]:
        if v in produced_fwd:
            needed[v] = None
    return needed


def _split(joint: Graph, n_outputs: int, saved: list, recompute: set) -> tuple[Graph, Graph]:
    primal_inputs = joint.inputs[:joint.meta["n_primal"]]
    cotangents = joint.inputs[joint.meta["n_primal"]:]
    fwd_nodes = [n for n in joint.nodes if n.role == "forward"]
    bwd_nodes = [n for n in joint.nodes if n.role != "forward"]
    grads = joint.outputs[n_outputs:]
    forward = Graph(joint.name, list(primal_inputs), fwd_nodes, joint.outputs[:n_outputs] + saved)
    forward.output_names = (joint.output_names or [None] * n_outputs)[:n_outputs] + [None] * len(saved)
    if recompute:
        bwd_nodes = _with_recomputation(bwd_nodes, grads, recompute)
    backward = Graph(joint.name + "_backward", saved + cotangents, bwd_nodes, list(grads))
    backward.output_names = (joint.output_names or [])[n_outputs:] or None
    backward.meta["n_saved"] = len(saved)  # inputs before the cotangents (the DOT export colours them apart)
    eliminate_dead_nodes(forward)
    eliminate_dead_nodes(backward)
    return forward, backward


def _with_recomputation(bwd_nodes: list, grads: list, recompute: set) -> list:
    """The backward's nodes with each recomputed forward node placed just before its first reader. The forward
    nodes are shared with the joint graph (the "optimized" stage), so they are not moved, only listed again."""
    out: list = []
    placed: set = set()

    def place(v: Value) -> None:  # depth-first over recomputed producers: topological by construction
        stack = [(v, False)]
        while stack:
            value, ready = stack.pop()
            if value in placed:
                continue
            if ready:
                placed.add(value)
                out.append(value.node)
                continue
            stack.append((value, True))
            for x in reversed(value.node.inputs):
                if x.__class__ is Value and x in recompute and x not in placed:
                    stack.append((x, False))

    for n in bwd_nodes:
        for x in n.inputs:
            if x.__class__ is Value and x in recompute and x not in placed:
                place(x)
        out.append(n)
    for v in grads:
        if v in recompute and v not in placed:
            place(v)
    return out


def naive_saved(joint: Graph, n_outputs: int) -> list:
    """Every forward value the adjoint reads (what the forward keeps without the min-cut)."""
    primal_inputs = joint.inputs[:joint.meta["n_primal"]]
    produced_fwd = set(primal_inputs)
    produced_fwd.update(n.output for n in joint.nodes if n.role == "forward")
    return list(_needed_by_backward(joint, n_outputs, produced_fwd))


def min_cut_saved(joint: Graph, n_outputs: int) -> tuple[list, set]:
    """The forward values to keep and the ones the backward recomputes, by a minimum cut (see the module)."""
    primal_inputs = joint.inputs[:joint.meta["n_primal"]]
    fwd_nodes = [n for n in joint.nodes if n.role == "forward"]
    produced_fwd = set(primal_inputs)
    produced_fwd.update(n.output for n in fwd_nodes)
    needed = _needed_by_backward(joint, n_outputs, produced_fwd)
    if not needed:
        return [], set()

    # Two reductions leave the cut nearest the sink as the network of every relevant value finds it (a test checks):
    # - a needed value that costs no more to keep than to recompute alone is kept by that cut: moving its v_in to
    #   the source side of any minimum cut trades source -> v_in (its recompute cost) for v_in -> v_out (its bytes)
    #   and cuts nothing else (its inputs' edges into v_in are infinite, so their v_out were on the sink side
    #   already). Its v_in joins the source, as an input's does, and what it reads takes part only through
    #   other values;
    # - a value whose v_in is joined to the source and whose v_out only drains into the sink (a needed value no
    #   recomputed value reads) is kept, alone on its path: it is left out of the network.
    # For a chain of small values that leaves no network at all, where the flow was most of a large graph's compile.
    kept_outright: set = set()
    sizes: dict = {}
    for v in needed:
        node = v.node
        if node is not None and _recomputable_op(node.op):
            size = sizes[v] = nbytes(v)
            if _kept_outright(node, size):
                kept_outright.add(v)
    # only the forward values some needed value depends on take part
    relevant: set = set()
    read: set = set()  # what the values the backward may recompute read
    stack = list(needed)
    while stack:
        v = stack.pop()
        if v in relevant:
            continue
        relevant.add(v)
        node = v.node
        if node is not None and _recomputable_op(node.op) and v not in kept_outright:
            for x in node.inputs:
                if x.__class__ is Value:
                    read.add(x)
                    stack.append(x)
    # needed, joined to the source, and no value the backward may recompute reads them: kept
    cut = {v for v in relevant if v not in read and (v.node is None or v in kept_outright
                                                     or not _recomputable_op(v.node.op))}
    recompute: set = set()
    if len(cut) < len(relevant):
        _cut_network(relevant.difference(cut), needed, kept_outright, sizes, cut, recompute)
    order = {n.output: i for i, n in enumerate(fwd_nodes)}
    saved = [v for v in needed if v in cut]  # the order of first use, as without the cut
    saved += sorted(cut.difference(saved), key=lambda v: order.get(v, -1))
    return saved, recompute


def _cut_network(values: set, needed: dict, kept_outright: set, sizes: dict, cut: set, recompute: set) -> None:
    """Add to ``cut`` the ``values`` the minimum cut keeps, to ``recompute`` those beyond it (see the module)."""
    # node ids: source 0, sink 1, then v_in = 2 + 2k and v_out = 3 + 2k for the k-th value (the keys are the ids
    # themselves: building and reading the network by ids, not (v, "in") keys, is several times faster)
    g = FlowNetwork()
    g.add_nodes(("source", "sink"))
    index = {v: 2 + 2 * k for k, v in enumerate(values)}
    g.add_nodes(range(2, 2 + 2 * len(values)))
    arc = g.add_arc
    for v, vin in index.items():
        node = v.node
        # an input, a value kept outright, or an op the backward may not redo
        if node is None or v in kept_outright or not _recomputable_op(node.op):
            arc(0, vin, _INF)
            arc(vin, vin + 1, 0 if node is None else nbytes(v))
            continue
        size = sizes.get(v)
        if size is None:
            size = nbytes(v)
        arc(vin, vin + 1, size)
        arc(0, vin, _recompute_cost(node, size))
        for x in node.inputs:
            if x.__class__ is Value:
                arc(index[x] + 1, vin, _INF)
    for v in needed:
        vin = index.get(v)
        if vin is not None:
            arc(vin + 1, 1, _INF)

    _, source_side = g.min_cut("source", "sink")
    # kept: the cut runs through v_in -> v_out; recomputed: v_in lies beyond the cut
    for v, vin in index.items():
        if vin not in source_side:
            recompute.add(v)
        elif vin + 1 not in source_side:
            cut.add(v)


def partition(joint: Graph, n_outputs: int, min_cut: bool = True) -> tuple[Graph, Graph, list[Value]]:
    """Split a joint graph into ``forward(inputs) -> outputs + saved`` and
    ``backward(saved + cotangents) -> gradients``, keeping the values a minimum cut chooses (``min_cut=False``:
    every forward value the adjoint reads)."""
    if min_cut:
        saved, recompute = min_cut_saved(joint, n_outputs)
    else:
        saved, recompute = naive_saved(joint, n_outputs), set()
    forward, backward = _split(joint, n_outputs, saved, recompute)
    return forward, backward, saved


@dataclass(frozen=True)
class SavedBytes:
    """What a compiled forward keeps for its backward, without and with the min-cut: the values (by name) and
    the bytes of those that are not inputs (inputs are the caller's arrays, held anyway)."""

    before: int
    after: int
    before_values: tuple
    after_values: tuple

    def __str__(self) -> str:
        return (f"saved for backward: {self.before:,} bytes in {len(self.before_values)} values without the "
                f"min-cut, {self.after:,} bytes in {len(self.after_values)} values with it")


def saved_bytes(joint: Graph, n_outputs: int, saved: list) -> SavedBytes:
    """Compare the naive saved set of ``joint`` with ``saved``."""
    naive = naive_saved(joint, n_outputs)

    def cost(values):
        return sum(nbytes(v) for v in values if v.node is not None)

    return SavedBytes(cost(naive), cost(saved), tuple(v.name for v in naive), tuple(v.name for v in saved))
