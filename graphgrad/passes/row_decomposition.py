"""Row decomposition: can a loss over data rows be computed chunk by chunk and its chunks summed?

Data-parallel training (``graphgrad.dask``) runs a loss on each chunk of rows and adds the chunks'
values and gradients. That is exact only for a loss that is a sum or mean over the row axis of
per-row terms, plus terms of the parameters alone. This pass checks that on the IR with a forward
data flow over three states:

- ``PARAM``: depends on parameters and constants only (an L2 penalty, a weight matrix);
- ``Row(axis)``: one entry per data row along ``axis``, and entry ``i`` reads data row ``i`` only;
- ``REDUCED``: affine in sums over the rows (``mean(per_row) * 2 + penalty``), so it is the sum of
  what each chunk contributes.

This module is the machinery: the data flow, the rewrite and generic rules. Each op declares how it
treats rows in its own block (``primitive(..., rows=...)`` in ``graphgrad/ops``), as it declares its
gradient; elementwise ops broadcast rows through by default, and an op that declares nothing is
refused when it meets per-row values. A node that mixes rows (a mean over rows subtracted from the
rows as a batch norm does, a maximum or running sum across rows, a matmul contracting the row axis
with a parameter, a nonlinear function of a row sum) raises :class:`RowCouplingError` naming that
node and the user's source line.
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
from typing import Callable, Sequence

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS, infer_type, normalize_dims
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


@dataclass(frozen=True)
class RowRule:
    """How an op treats data rows, declared with the op (``primitive(..., rows=...)``).

    ``transfer(analysis, node, states) -> state`` gives the output's state from the inputs' (called only
    when some input is not ``PARAM``) or raises :class:`RowCouplingError`. ``additive``: a ``REDUCED``
    result is a sum of its operands, so the rewrite counts parameter-only operands in one block only.
    ``weighted``: the op averages what it reduces, so over rows the rewrite scales it by the block's share
    of all rows.
    """

    transfer: Callable
    additive: bool = False
    weighted: bool = False


#: op name -> RowRule; an op without one is refused when it touches per-row or reduced values, except
#: elementwise ops, which broadcast rows through (and refuse reduced operands)
ROW_RULES: dict = {}


def defrows(name: str, rule: "RowRule | Callable") -> None:
    """Declare how op ``name`` treats rows (a :class:`RowRule`, or its ``transfer`` alone)."""
    ROW_RULES[name] = rule if isinstance(rule, RowRule) else RowRule(rule)


class RowAnalysis:
    """The data flow: each value's state, from the inputs' (data inputs are ``Row(0)``)."""

    def __init__(self, graph: Graph, row_inputs: Sequence[bool]):
        if len(row_inputs) != len(graph.inputs):
            raise ValueError(f"{graph.name}: {len(row_inputs)} row flags for {len(graph.inputs)} inputs")
        self.states: dict = {}
        self.origin: dict = {}  # REDUCED value -> the node that reduced rows (for messages)
        #: the rows of the data inputs (a per-row value has this many entries along its row axis)
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
        """Where a reduced input of ``node`` reduced the rows, as "`mean` over the rows at f.py:3"."""
        first = next(self.origin[x] for x in node.value_inputs() if self.state(x) is REDUCED)
        where = f" at {first.loc}" if first.loc is not None else ""
        return f"`{first.op}` over the rows{where}"

    def rule(self, op: str) -> RowRule | None:
        rule = ROW_RULES.get(op)
        if rule is None and op in OPS and OPS[op].elementwise:
            rule = _ELEMENTWISE
        return rule

    def transfer(self, node: Node):
        states = [self.state(x) for x in node.inputs]
        if all(s is PARAM for s in states):
            return PARAM
        rule = self.rule(node.op)
        if rule is None:
            raise RowCouplingError(node, f"`{node.op}` is not known to keep data rows apart, so it cannot run "
                                         "chunk by chunk")
        state = rule.transfer(self, node, states)
        if isinstance(state, Row) and node.output.type.shape[state.axis] != self.rows:
            raise RowCouplingError(node, f"its result has {node.output.type.shape[state.axis]} entries along the "
                                         f"row axis, not the {self.rows} rows of the chunk")
        return state


def aligned_axis(out_ndim: int, x_ndim: int, axis: int) -> int:
    """Where ``axis`` of an operand lands in a broadcast result (operands align on their last axes)."""
    return axis + out_ndim - x_ndim


def not_linear(a: RowAnalysis, node: Node) -> RowCouplingError:
    return RowCouplingError(node, f"`{node.op}` of {a.reduced_text(node)} is not linear in the rows; only sums "
                                  "of per-row terms, scaled and added, decompose")


# -- generic rules: op blocks pick one, or write their own ------------------------------------------

def elementwise_rows(reduced: str | None = None) -> Callable:
    """The rule of a broadcasting elementwise op. ``reduced`` says what it may do with reductions over rows
    (values affine in row sums): ``"sum"`` (any operand: add, sub, neg), ``"scale"`` (exactly one operand:
    mul), ``"numerator"`` (the first operand only: div), ``None`` (nothing: a nonlinear function)."""
    def transfer(a: RowAnalysis, node: Node, states: list):
        out = node.output.type
        if REDUCED in states:
            if any(isinstance(s, Row) for s in states):
                raise RowCouplingError(node, f"it combines per-row values with {a.reduced_text(node)} (as a batch "
                                             "norm does); a chunk sees only its own rows")
            n_reduced = sum(s is REDUCED for s in states)
            if reduced == "sum" or (reduced == "scale" and n_reduced == 1) or \
                    (reduced == "numerator" and states[0] is REDUCED and n_reduced == 1):
                return REDUCED
            if reduced == "scale":
                raise RowCouplingError(node, "it multiplies two reductions over the rows")
            if reduced == "numerator":
                raise RowCouplingError(node, "it divides by a reduction over the rows")
            raise not_linear(a, node)
        axes = {aligned_axis(out.ndim, x.type.ndim, s.axis) for x, s in zip(node.inputs, states) if isinstance(s, Row)}
        if len(axes) > 1:
            raise RowCouplingError(node, "it lines up the rows of one operand with another axis of the other")
        (axis,) = axes
        for x, s in zip(node.inputs, states):
            if s is PARAM and isinstance(x, Value):
                pos = axis - (out.ndim - x.type.ndim)
                if pos >= 0 and x.type.shape[pos] != 1:
                    raise RowCouplingError(node, f"it broadcasts {x.name or 'a parameter'} ({x.type}) along the "
                                                 "rows, one entry per row; parameters must not be indexed by row")
        return Row(axis)
    return transfer


_ELEMENTWISE = RowRule(elementwise_rows())


def _reduced_axis(node: Node, axis: int, dims: tuple) -> Row:
    return Row(axis if node.attrs["keepdim"] else axis - sum(d < axis for d in dims))


def reduce_rows(linear: bool) -> Callable:
    """The rule of a reduction over ``dim`` (attributes ``dim``, ``keepdim``): over the row axis, a ``linear``
    one (a sum, a mean) gives ``REDUCED``; any other couples the rows."""
    def transfer(a: RowAnalysis, node: Node, states: list):
        (s,) = states
        if s is REDUCED:
            if linear:
                return REDUCED
            raise not_linear(a, node)
        dims = normalize_dims(node.attrs["dim"], node.inputs[0].type.ndim)
        if dims is None or s.axis in dims:
            if linear:
                return REDUCED
            raise RowCouplingError(node, f"it takes `{node.op}` across the rows; only sum and mean over the rows "
                                         "decompose into chunks")
        return _reduced_axis(node, s.axis, dims)
    return transfer


def along_dim_rows(a: RowAnalysis, node: Node, states: list):
    """An op that mixes entries along ``dim`` only (softmax, a running sum): per row unless ``dim`` is rows."""
    s = states[0]
    if s is REDUCED or any(t is not PARAM for t in states[1:]):
        raise not_linear(a, node) if s is REDUCED else RowCouplingError(node, "only its first operand may have rows")
    (dim,) = normalize_dims(node.attrs["dim"], node.inputs[0].type.ndim)
    if dim == s.axis:
        raise RowCouplingError(node, f"it mixes the rows (`{node.op}` along the row axis)")
    return s


def same_rows(a: RowAnalysis, node: Node, states: list):
    """An identity on values (a cast, stop_gradient): the input's state; rounding a reduction is not linear."""
    (s,) = states
    if s is REDUCED and node.output.type.dtype not in ("float32", "float64"):
        raise not_linear(a, node)
    return s


def shape_rows(a: RowAnalysis, node: Node, states: list):
    """A value that depends only on its input's shape (full_like): per row for per-row inputs."""
    (s,) = states
    return PARAM if s is REDUCED else s


def batch_axis_rows(a: RowAnalysis, node: Node, states: list):
    """An op over (N, ...) batches that keeps the batch axis first and mixes nothing across it."""
    s = states[0]
    if not isinstance(s, Row) or s.axis != 0 or any(t is not PARAM for t in states[1:]):
        raise RowCouplingError(node, f"`{node.op}` keeps rows apart only when they are its batch axis")
    return s


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
    return RowAnalysis(_live(graph), row_inputs).states


def check_decomposable(graph: Graph, row_inputs: Sequence[bool]) -> RowAnalysis:
    """Raise unless ``graph``'s single output is a scalar sum over rows of per-row terms plus parameter terms."""
    graph = _live(graph)
    if not any(row_inputs):
        raise ValueError(f"{graph.name}: no data input is chunked along rows")
    analysis = RowAnalysis(graph, row_inputs)
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


def _same(a, b, lenient: tuple | None) -> bool:
    """``a == b`` for attributes and literals, recursively; ``lenient = (rows, other_rows)`` also takes that pair
    of ints (a shape that follows the block's rows)."""
    if isinstance(a, (tuple, list)) and type(a) is type(b):
        return len(a) == len(b) and all(_same(x, y, lenient) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if hasattr(a, "shape") and hasattr(a, "dtype"):  # an array attribute
        return a.shape == b.shape and a.dtype == b.dtype and bool(((a == b) | ((a != a) & (b != b))).all())
    if isinstance(a, float) and a != a:
        return b != b
    return a == b or (lenient is not None and type(a) is int and (a, b) == lenient)


def check_row_count_free(graph: Graph, row_inputs: Sequence[bool], other: Graph, rows: int, other_rows: int) -> None:
    """Raise unless ``other`` (the loss traced for blocks of ``other_rows`` rows) is ``graph`` (traced for ``rows``)
    with only the row axis of the per-row values resized.

    One trace cannot tell a Python number that came from the rows of a block (``x.shape[0]``, ``len(x)``,
    ``x.numel()``, ``gg.ones(len(x))``) from a constant, but every chunk would use its own: ``sum / len(x)``
    summed over the chunks is not the whole data's ``sum / len(x)``. Two traces for different row counts
    differ exactly there. Only per-row values (``Row``) may change, and only along their row axis.
    """
    graph, other = _live(graph), _live(other)
    analysis = RowAnalysis(graph, row_inputs)
    pairs = (rows, other_rows)

    def refuse(node, what, a, b):
        raise RowCouplingError(node, f"it depends on the number of rows in a chunk ({what} is {a} for a block of "
                                     f"{rows} rows, {b} for {other_rows}), so each chunk would compute its own "
                                     "(x.shape[0], len(x), numel() or a tensor of that many entries); use .mean() "
                                     "over the rows, or pass the data set's row count in as an argument")

    def check_type(node, v, w):
        s = analysis.state(v)
        same = v.type.dtype == w.type.dtype and v.type.ndim == w.type.ndim and all(
            a == b or (isinstance(s, Row) and k == s.axis and (a, b) == pairs)
            for k, (a, b) in enumerate(zip(v.type.shape, w.type.shape)))
        if not same:
            refuse(node, f"the type of {v.name or 'its result'}", v.type, w.type)

    if len(graph.inputs) != len(other.inputs):
        raise RowCouplingError(None, f"{graph.name} reads {len(graph.inputs)} tensors for a block of {rows} rows but "
                                     f"{len(other.inputs)} for {other_rows}; it must not depend on the rows of a chunk")
    mapping = dict(zip(graph.inputs, other.inputs))
    for v, w in mapping.items():
        check_type(None, v, w)
    for k, n in enumerate(graph.nodes):
        m = other.nodes[k] if k < len(other.nodes) else None
        if m is None or m.op != n.op or len(m.inputs) != len(n.inputs) or set(m.attrs) != set(n.attrs):
            refuse(n, "the operation traced here", f"`{n.op}`", f"`{m.op}`" if m is not None else "nothing")
        for i, (x, y) in enumerate(zip(n.inputs, m.inputs)):
            same = mapping.get(x) is y if isinstance(x, Value) else not isinstance(y, Value) and _same(x, y, None)
            if not same:
                refuse(n, f"operand {i + 1}", x if not isinstance(x, Value) else "a tensor",
                       y if not isinstance(y, Value) else "a tensor")
        lenient = pairs if isinstance(analysis.state(n.output), Row) else None
        for key, value in n.attrs.items():
            if not _same(value, m.attrs[key], lenient if key == "shape" else None):
                refuse(n, f"its {key}", value, m.attrs[key])
        check_type(n, n.output, m.output)
        mapping[n.output] = m.output
    if len(other.nodes) != len(graph.nodes) or [mapping.get(v) for v in graph.outputs] != list(other.outputs):
        raise RowCouplingError(None, f"{graph.name} traces differently for blocks of {rows} and {other_rows} rows; "
                                     "it must not depend on the rows of a chunk")


def decompose_rows(graph: Graph, row_inputs: Sequence[bool]) -> Graph:
    """``graph`` rewritten to compute one chunk's share of the loss, with two new scalar inputs.

    ``row_weight`` scales every mean over the rows (pass the chunk's rows over all rows);
    ``param_share`` scales the parameter-only terms added to row sums (pass 1 for exactly one chunk
    and 0 for the rest). Summed over the chunks, the outputs and their gradients are the whole data
    set's. Raises :class:`RowCouplingError` when the loss does not decompose.
    """
    graph = _live(graph)
    analysis = check_decomposable(graph, row_inputs)
    new, mapping = graph.inputs_only()
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
        rule = analysis.rule(n.op)
        if state is REDUCED and rule is not None and rule.additive:  # parameter terms: counted by one block only
            dtype = n.output.type.dtype
            for i, (x, s) in enumerate(zip(n.inputs, [analysis.state(x) for x in n.inputs])):
                if s is not PARAM:
                    continue
                if isinstance(x, Value):
                    share = scalar(param_share, x.type.dtype, n.loc)
                    ins[i] = emit("mul", [ins[i], share], {}, n.loc, f"{x.name}_once" if x.name else None)
                else:
                    ins[i] = emit("mul", [scalar(param_share, dtype, n.loc), x], {}, n.loc, None)
        if state is REDUCED and rule is not None and rule.weighted and isinstance(analysis.state(n.inputs[0]), Row):
            mean = new.add_node(n.op, ins, n.attrs, n.output.type, n.loc,
                                name=f"{n.output.name}_block_mean" if n.output.name else None)
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
