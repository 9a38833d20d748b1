"""Row decomposition: can a loss over data rows be computed chunk by chunk and its chunks summed?

Data-parallel training (``graphgrad.dask``) runs a loss on each chunk of rows and adds the chunks'
values and gradients. That is exact only for a loss that is a sum or mean over the row axis of
per-row terms, plus terms of the parameters alone. This pass checks that on the IR with a forward
data flow over three states:

- ``PARAM``: depends on parameters and constants only (an L2 penalty, a weight matrix);
- ``Row(axis)``: one entry per data row along ``axis``, and entry ``i`` reads data row ``i`` only;
- ``REDUCED``: affine in sums over the rows (``mean(per_row) * 2 + penalty``), so it is the sum of
  what each chunk contributes.

A node that mixes rows (a mean over rows subtracted from the rows as a batch norm does, a maximum
or sort across rows, a matmul contracting the row axis with a parameter, a nonlinear function of a
row sum) raises :class:`RowCouplingError` naming that node and the user's source line.
:func:`decompose_rows` then rewrites the graph so that it computes one chunk's share: means over
the rows are scaled by ``row_weight`` (the chunk's rows over all rows) and parameter-only terms
added to row sums are scaled by ``param_share`` (1 for one chunk, 0 for the others), so the chunks'
values and gradients add up to the whole data set's.

>>> import numpy as np
>>> from graphgrad.ir.types import TensorType
>>> from graphgrad.tracer.tracer import trace
>>> def loss(w, x):
...     return ((x @ w) ** 2).mean() + (w ** 2).sum()
>>> tracer, out = trace(loss, [TensorType((3,), "float64"), TensorType((8, 3), "float64")], ["w", "x"],
...                     [True, False])
>>> graph = tracer.graph
>>> graph.outputs = [out.value]
>>> row_states(graph, [False, True])[graph.outputs[0]]
'reduced'
>>> [v.name for v in decompose_rows(graph, [False, True]).inputs]
['w', 'x', 'row_weight', 'param_share']
"""
from __future__ import annotations

import linecache
from dataclasses import dataclass
from typing import Sequence

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS, decode_index, infer_type, normalize_dims
from ..ir.types import TensorType
from ..ir.verify import verify

PARAM = "param"
REDUCED = "reduced"


@dataclass(frozen=True)
class Row:
    """A per-row value: its entries along ``axis`` are the data rows."""

    axis: int


class RowCouplingError(ValueError):
    """The loss does not decompose over rows; ``node`` is the first node that couples them."""

    def __init__(self, node: Node | None, reason: str):
        self.node = node
        self.reason = reason
        super().__init__(f"{describe_node(node)} couples rows: {reason}" if node is not None else reason)


def describe_node(node: Node) -> str:
    """``mean at loss.py:12 (`centered = x - x.mean(0)`)``: the op, the user's line and its text."""
    if node.loc is None:
        return f"`{node.op}`"
    text = linecache.getline(node.loc.file, node.loc.line).strip()
    return f"`{node.op}` at {node.loc}" + (f" (`{text}`)" if text else "")


# ops whose REDUCED output stays a sum over chunks when their PARAM operands are counted once
_ADDITIVE = ("add", "sub", "concat")


class _Analysis:
    def __init__(self, graph: Graph, row_inputs: Sequence[bool]):
        if len(row_inputs) != len(graph.inputs):
            raise ValueError(f"{graph.name}: {len(row_inputs)} row flags for {len(graph.inputs)} inputs")
        self.states: dict = {}
        self.origin: dict = {}  # REDUCED value -> the node that reduced rows (for messages)
        self.rows = None
        for v, is_row in zip(graph.inputs, row_inputs):
            if is_row:
                if v.type.ndim == 0:
                    raise ValueError(f"{graph.name}: data input {v.name} is 0-d and has no rows")
                if self.rows is None:
                    self.rows = v.type.shape[0]
                elif v.type.shape[0] != self.rows:
                    raise ValueError(f"{graph.name}: data inputs have {self.rows} and {v.type.shape[0]} rows "
                                     f"({v.name}); every data input needs the same rows")
                self.states[v] = Row(0)
            else:
                self.states[v] = PARAM
        for n in graph.nodes:
            self.states[n.output] = self.transfer(n)
            if self.states[n.output] is REDUCED and n.output not in self.origin:
                sources = [self.origin[x] for x in n.value_inputs() if x in self.origin]
                self.origin[n.output] = sources[0] if sources else n

    def state(self, x):
        return self.states[x] if isinstance(x, Value) else PARAM

    def reduced_text(self, node: Node) -> str:
        first = next(self.origin[x] for x in node.value_inputs() if self.state(x) is REDUCED)
        where = f" at {first.loc}" if first.loc is not None else ""
        return f"`{first.op}` over the rows{where}"

    def transfer(self, node: Node):
        states = [self.state(x) for x in node.inputs]
        if all(s is PARAM for s in states):
            return PARAM
        rule = _RULES.get(node.op)
        if rule is None and OPS[node.op].elementwise:
            rule = _elementwise
        if rule is None:
            raise RowCouplingError(node, f"`{node.op}` is not known to keep data rows apart, so it cannot run "
                                         "chunk by chunk")
        state = rule(self, node, states)
        if isinstance(state, Row) and node.output.type.shape[state.axis] != self.rows:
            raise RowCouplingError(node, f"its result has {node.output.type.shape[state.axis]} entries along the "
                                         f"row axis, not the {self.rows} rows of the chunk")
        return state


def _aligned(out_ndim: int, x_ndim: int, axis: int) -> int:
    """Where ``axis`` of an operand lands in a broadcast result (operands align on their last axes)."""
    return axis + out_ndim - x_ndim


def _elementwise(a: _Analysis, node: Node, states: list):
    out = node.output.type
    if REDUCED in states:
        if any(isinstance(s, Row) for s in states):
            raise RowCouplingError(node, f"it combines per-row values with {a.reduced_text(node)} (as a batch "
                                         "norm does); a chunk sees only its own rows")
        n_reduced = sum(s is REDUCED for s in states)
        if node.op in ("add", "sub", "neg"):
            return REDUCED
        if node.op == "mul" and n_reduced == 1:
            return REDUCED
        if node.op == "div" and states[0] is REDUCED and n_reduced == 1:
            return REDUCED
        what = ("multiplies two reductions over the rows" if node.op == "mul" else
                "divides by a reduction over the rows" if node.op == "div" else
                f"`{node.op}` of {a.reduced_text(node)} is not linear in the rows")
        raise RowCouplingError(node, f"{what}; only sums of per-row terms, scaled and added, decompose")
    axes = {_aligned(out.ndim, x.type.ndim, s.axis) for x, s in zip(node.inputs, states) if isinstance(s, Row)}
    if len(axes) > 1:
        raise RowCouplingError(node, "it lines up the rows of one operand with another axis of the other")
    (axis,) = axes
    for x, s in zip(node.inputs, states):
        if s is PARAM and isinstance(x, Value):
            pos = axis - (out.ndim - x.type.ndim)
            if pos >= 0 and x.type.shape[pos] != 1:
                raise RowCouplingError(node, f"it broadcasts {x.name or 'a parameter'} ({x.type}) along the rows, "
                                             "one entry per row; parameters must not be indexed by row")
    return Row(axis)


def _linear_sum(a: _Analysis, node: Node, states: list):
    (s,) = states
    if s is REDUCED:
        return REDUCED
    x = node.inputs[0].type
    dims = normalize_dims(node.attrs["dim"], x.ndim)
    if dims is None or s.axis in dims:
        return REDUCED
    return Row(s.axis if node.attrs["keepdim"] else s.axis - sum(d < s.axis for d in dims))


def _other_reduction(a: _Analysis, node: Node, states: list):
    (s,) = states
    if s is REDUCED:
        raise RowCouplingError(node, f"`{node.op}` of {a.reduced_text(node)} is not linear in the rows")
    x = node.inputs[0].type
    dims = normalize_dims(node.attrs["dim"], x.ndim)
    if dims is None or s.axis in dims:
        raise RowCouplingError(node, f"it takes `{node.op}` across the rows; only sum and mean over the rows "
                                     "decompose into chunks")
    return Row(s.axis if node.attrs["keepdim"] else s.axis - sum(d < s.axis for d in dims))


def _along_dim(a: _Analysis, node: Node, states: list):
    (s,) = states
    if s is REDUCED:
        raise RowCouplingError(node, f"`{node.op}` of {a.reduced_text(node)} is not linear in the rows")
    (dim,) = normalize_dims(node.attrs["dim"], node.inputs[0].type.ndim)
    if dim == s.axis:
        raise RowCouplingError(node, f"it normalizes across the rows (`{node.op}` along the row axis)")
    return s


def _same(a: _Analysis, node: Node, states: list):
    """Identity-like ops: cast, stop_gradient, full_like (a constant shaped like its input)."""
    (s,) = states
    if s is REDUCED and node.op == "full_like":
        return PARAM
    if s is REDUCED and node.op == "cast" and node.output.type.dtype not in ("float32", "float64"):
        raise RowCouplingError(node, f"rounding {a.reduced_text(node)} to {node.output.type.dtype} is not linear")
    return s


def _matmul(a: _Analysis, node: Node, states: list):
    sa, sb = states
    ta, tb = node.inputs[0].type, node.inputs[1].type
    out = node.output.type
    if REDUCED in states:
        if sa is REDUCED and sb is REDUCED:
            raise RowCouplingError(node, "it multiplies two reductions over the rows")
        if isinstance(sa, Row) or isinstance(sb, Row):
            raise RowCouplingError(node, f"it combines per-row values with {a.reduced_text(node)}")
        return REDUCED  # linear in the reduced operand
    # where each operand's axes land: a's last axis and b's second-to-last are contracted
    a_contracted = ta.ndim - 1
    b_contracted = tb.ndim - 2 if tb.ndim > 1 else 0
    a_row = isinstance(sa, Row) and sa.axis == a_contracted
    b_row = isinstance(sb, Row) and sb.axis == b_contracted
    if a_row and b_row and ta.ndim <= 2 and tb.ndim <= 2:
        return REDUCED  # x.T @ y: a sum over rows of per-row outer products
    if a_row or b_row:
        other = node.inputs[1] if a_row else node.inputs[0]
        partner = "a per-row value laid out differently" if isinstance(sb if a_row else sa, Row) else \
            f"{getattr(other, 'name', None) or 'a parameter'} ({other.type})"
        raise RowCouplingError(node, f"it contracts the row axis with {partner}, weighting rows by position; "
                                     "contract rows only with another per-row value, as in x.T @ y")
    axes = set()
    for t, s, is_a in ((ta, sa, True), (tb, sb, False)):
        if not isinstance(s, Row):
            continue
        if is_a and (t.ndim == 1 or s.axis == t.ndim - 2):  # a's matrix rows
            axes.add(out.ndim - (2 if tb.ndim > 1 else 1))
        elif not is_a and s.axis == t.ndim - 1:  # b's columns
            axes.add(out.ndim - 1)
        else:  # a batch axis: batch dims align on the right, like broadcasting
            axes.add(s.axis - (t.ndim - 2) + (out.ndim - (2 if ta.ndim > 1 and tb.ndim > 1 else 1)))
    if len(axes) > 1:
        raise RowCouplingError(node, "it pairs every row of one operand with every row of the other "
                                     "(an outer product over rows)")
    (axis,) = axes
    for t, s in ((ta, sa), (tb, sb)):
        if s is PARAM and t.ndim > 2:  # a parameter's batch dims must not run along the rows
            batch_out = out.ndim - (2 if ta.ndim > 1 and tb.ndim > 1 else 1)
            pos = axis - (batch_out - (t.ndim - 2))
            if 0 <= pos < t.ndim - 2 and t.shape[pos] != 1:
                raise RowCouplingError(node, "it batches a parameter along the rows, one matrix per row")
    return Row(axis)


def _reshape(a: _Analysis, node: Node, states: list):
    (s,) = states
    if s is REDUCED:
        return REDUCED
    x, out = node.inputs[0].type, node.output.type
    if x.shape == out.shape:
        return s
    if s.axis == 0 and out.ndim >= 1 and out.shape[0] == x.shape[0]:
        return Row(0)  # row-major: the first axis keeps its blocks
    raise RowCouplingError(node, f"reshaping {list(x.shape)} to {list(out.shape)} mixes the row axis with others")


def _permute(a: _Analysis, node: Node, states: list):
    (s,) = states
    return s if s is REDUCED else Row(list(node.attrs["dims"]).index(s.axis))


def _expand(a: _Analysis, node: Node, states: list):
    (s,) = states
    return s if s is REDUCED else Row(_aligned(node.output.type.ndim, node.inputs[0].type.ndim, s.axis))


def _concat(a: _Analysis, node: Node, states: list):
    (dim,) = normalize_dims(node.attrs["dim"], node.output.type.ndim)
    if REDUCED in states:
        if any(isinstance(s, Row) for s in states):
            raise RowCouplingError(node, f"it joins per-row values with {a.reduced_text(node)}")
        return REDUCED
    axes = {s.axis for s in states if isinstance(s, Row)}
    if PARAM in states or len(axes) > 1:
        raise RowCouplingError(node, "it joins per-row values with values that have no rows")
    (axis,) = axes
    if axis == dim:
        raise RowCouplingError(node, "it joins tensors along the row axis")
    return Row(axis)


def _getitem(a: _Analysis, node: Node, states: list):
    (s,) = states
    if s is REDUCED:
        return REDUCED
    index = decode_index(node.attrs["index"])
    if any(not isinstance(i, (int, slice)) and i is not None and i is not Ellipsis for i in index):
        raise RowCouplingError(node, "integer-array indexing of a per-row value is not supported chunk by chunk")
    ndim = node.inputs[0].type.ndim
    explicit = sum(isinstance(i, (int, slice)) for i in index)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (ndim - explicit) + index[k + 1:]
    else:
        index = index + (slice(None),) * (ndim - explicit)
    in_axis = out_axis = 0
    for item in index:
        if item is None:
            out_axis += 1
            continue
        if in_axis == s.axis:
            if isinstance(item, int) or item != slice(None):
                raise RowCouplingError(node, "it picks particular rows by position; a chunk does not know its "
                                             "rows' positions in the data set")
            return Row(out_axis)
        in_axis += 1
        out_axis += isinstance(item, slice)
    return Row(out_axis)  # unreachable for a valid index; kept for clarity


def _gather_rows(a: _Analysis, node: Node, states: list):
    table, index = states
    if isinstance(table, Row):
        raise RowCouplingError(node, "it picks rows of a per-row value by index, mixing rows")
    if table is REDUCED or index is REDUCED:
        raise RowCouplingError(node, f"it indexes with or into {a.reduced_text(node)}")
    return Row(index.axis) if isinstance(index, Row) else PARAM


def _images(a: _Analysis, node: Node, states: list):
    s = states[0]
    if not isinstance(s, Row) or s.axis != 0 or any(t is not PARAM for t in states[1:]):
        raise RowCouplingError(node, f"`{node.op}` keeps rows apart only when they are its batch axis")
    return s


_RULES = {
    "sum": _linear_sum, "mean": _linear_sum,
    "amax": _other_reduction, "amin": _other_reduction, "prod": _other_reduction,
    "logsumexp": _other_reduction, "argmax": _other_reduction, "argmin": _other_reduction,
    "softmax": _along_dim, "log_softmax": _along_dim,
    "cast": _same, "stop_gradient": _same, "full_like": _same,
    "matmul": _matmul, "reshape": _reshape, "permute": _permute, "expand": _expand, "concat": _concat,
    "getitem": _getitem, "gather_rows": _gather_rows, "unfold2d": _images, "fold2d": _images,
}


def _live(graph: Graph) -> Graph:
    """``graph``'s own nodes that some output needs (a copy would give its values new identities)."""
    live = set(graph.outputs)
    for n in reversed(graph.nodes):
        if n.output in live:
            live.update(n.value_inputs())
    return Graph(graph.name, list(graph.inputs), [n for n in graph.nodes if n.output in live], list(graph.outputs),
                 list(graph.output_names) if graph.output_names else None, dict(graph.meta))


def row_states(graph: Graph, row_inputs: Sequence[bool]) -> dict:
    """Each value's state (``PARAM``, ``Row(axis)`` or ``REDUCED``); raises :class:`RowCouplingError`.

    ``row_inputs`` flags the graph inputs that are data, chunked along their first axis. Only nodes
    that reach an output are checked (the states are those of ``graph``'s own values).
    """
    return _Analysis(_live(graph), row_inputs).states


def check_decomposable(graph: Graph, row_inputs: Sequence[bool]) -> _Analysis:
    """Raise unless ``graph``'s single output is a scalar sum over rows of per-row terms plus parameter terms."""
    graph = _live(graph)
    if not any(row_inputs):
        raise ValueError(f"{graph.name}: no data input is chunked along rows")
    analysis = _Analysis(graph, row_inputs)
    if len(graph.outputs) != 1:
        raise ValueError(f"{graph.name}: a data-parallel loss returns one scalar, not {len(graph.outputs)} outputs")
    out = graph.outputs[0]
    state = analysis.state(out)
    if state is PARAM:
        raise RowCouplingError(None, f"{graph.name} does not depend on its data rows; nothing to distribute")
    if isinstance(state, Row):
        error = RowCouplingError(None, f"{graph.name} returns one value per row ({out.type}, from "
                                       f"{describe_node(out.node)}); reduce it over the rows with .sum() or .mean()")
        error.node = out.node
        raise error
    return analysis


def decompose_rows(graph: Graph, row_inputs: Sequence[bool]) -> Graph:
    """``graph`` rewritten to compute one chunk's share of the loss, with two new scalar inputs.

    ``row_weight`` scales every mean over the rows (pass the chunk's rows over all rows);
    ``param_share`` scales the parameter-only terms added to row sums (pass 1 for exactly one chunk
    and 0 for the rest). Summed over the chunks, the outputs and their gradients are the whole data
    set's. Raises :class:`RowCouplingError` when the loss does not decompose.
    """
    graph = _live(graph)
    analysis = check_decomposable(graph, row_inputs)
    new = Graph(graph.name, output_names=list(graph.output_names) if graph.output_names else None,
                meta=dict(graph.meta))
    mapping: dict = {}
    for v in graph.inputs:
        nv = new.add_input(v.type, v.name)
        nv.requires_grad = v.requires_grad
        mapping[v] = nv
    row_weight = new.add_input(TensorType((), "float64"), "row_weight")
    param_share = new.add_input(TensorType((), "float64"), "param_share")
    as_dtype: dict = {}

    def scalar(source: Value, dtype: str, loc) -> Value:
        if dtype == "float64":
            return source
        key = (source.name, dtype)
        if key not in as_dtype:
            as_dtype[key] = new.add_node("cast", [source], {"dtype": dtype}, TensorType((), dtype), loc,
                                         name=f"{source.name}_{dtype}")
        return as_dtype[key]

    def emit(op, inputs, attrs, loc, name):
        types = [x.type if isinstance(x, Value) else x for x in inputs]
        return new.add_node(op, inputs, attrs, infer_type(op, types, attrs), loc, name=name)

    for n in graph.nodes:
        ins = [mapping[x] if isinstance(x, Value) else x for x in n.inputs]
        state = analysis.state(n.output)
        if state is REDUCED and n.op in _ADDITIVE:  # parameter terms: counted by one chunk only
            dtype = n.output.type.dtype
            for i, (x, s) in enumerate(zip(n.inputs, [analysis.state(x) for x in n.inputs])):
                if s is not PARAM:
                    continue
                if isinstance(x, Value):
                    share = scalar(param_share, x.type.dtype, n.loc)
                    ins[i] = emit("mul", [ins[i], share], {}, n.loc, f"{x.name}_once" if x.name else None)
                else:
                    ins[i] = emit("mul", [scalar(param_share, dtype, n.loc), x], {}, n.loc, None)
        rows_mean = n.op == "mean" and isinstance(analysis.state(n.inputs[0]), Row) and state is REDUCED
        if rows_mean:
            mean = new.add_node(n.op, ins, n.attrs, n.output.type, n.loc,
                                name=f"{n.output.name}_chunk_mean" if n.output.name else None)
            weight = scalar(row_weight, n.output.type.dtype, n.loc)
            out = emit("mul", [mean, weight], {}, n.loc, n.output.name)
        else:
            out = new.add_node(n.op, ins, n.attrs, infer_type(n.op, [x.type if isinstance(x, Value) else x
                                                                       for x in ins], n.attrs),
                               n.loc, n.role, n.output.name)
        if out.type != n.output.type:  # a bug here would silently change the loss: refuse loudly
            raise AssertionError(f"row decomposition changed the type of {n.output} to {out.type}")
        mapping[n.output] = out
    new.outputs = [mapping[v] for v in graph.outputs]
    return verify(new)
