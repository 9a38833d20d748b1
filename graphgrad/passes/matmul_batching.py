"""Matrix-product batching: many small products become one large one.

An unrolled RNN computes ``xs[t] @ w_ih`` for every step ``t``: fifty (8, 32) x (32, 64) products, each a NumPy
call of a few microseconds that does a few thousand multiply-adds. Its adjoint sums fifty more, ``xs[t].T @ g_t``
for ``w_ih`` and ``h_{t-1}.T @ g_t`` for ``w_hh``, and fifty ``g_t.sum(0)`` for the bias. A NumPy expert writes
one product for each. Two rewrites do the same to any graph (a forward graph, or a joint forward + adjoint one):

- **shared right operand**: products ``a_k @ w`` with one 2-D ``w`` and independent left operands of one
  shape become ``stack(a_k) @ w``, and each ``a_k @ w`` a slice of it. When the ``a_k`` are ``x[t]`` for every
  ``t`` along one axis of one ``x`` (the last axis excluded), the stack is ``x`` itself and costs nothing:
  ``x.reshape(-1, I) @ w``, reshaped back. Otherwise the left operands are joined by one ``concatenate``
  (only for small ones, ``MAX_JOIN_BYTES``), and only those that depend on no other product of the group (so
  a recurrence ``h @ w_hh`` stays as it is); the graph is then put back in a topological order.
- **sums of products and of column sums**: a sum ``p_1 @ q_1 + ... + p_n @ q_n`` of 2-D products of one
  shape is one product of the joined operands, ``[p_1 ... p_n] @ [q_1; ...; q_n]``, and a sum of
  ``q_k.sum(0)`` is ``[q_1; ...; q_n].sum(0)``. Transposed left operands are joined before the transpose
  (``[a_1; ...; a_n].T``), and ``x[0], ..., x[T-1]`` joined along their first axis are ``x`` reshaped, so the
  weight gradient of the input projection reads ``xs`` with no copy. The terms are ordered by where their
  right operand is computed, latest first (for a backward, the order of the forward steps), so the sums for
  ``w_ih``, ``w_hh`` and the bias join the same ``g_t`` in the same order, and CSE then keeps one join.

A long recurrence is batched a chunk of steps at a time: one product of each chunk's inputs, made where its
first step needs it (``PRODUCT_CHUNK_BYTES``), and each sum as one product per chunk, made as soon as the chunk's
terms are computed and added to the chunks before it (``JOIN_CHUNK_BYTES``: chunks that grow as the states of
those before them are freed). A backward then keeps each step's state and gradient only
until its chunk is done, where joining every step kept them all, and a copy of each, to the end (the benchmarks'
RNN step: 332 -> 211 KiB at its peak, for about 3 % more time). The join of a chunk's states (the left operands
of ``h_t.T @ g_t``) is made where the chunk's last state is, in the forward, and later readers of a state read its
rows of the join, so the forward hands the backward one array per chunk (211 -> 161 KiB).

Both change the order of floating-point additions (one GEMM sums in its own order), as any BLAS call does;
results agree with the unbatched graph to rounding. Products of integers are left alone.

>>> from graphgrad.ir.parser import parse_graph
>>> g = parse_graph('''graph f(%x: f64[3,4,5], %w: f64[5,6]) {
...   %a: f64[4,5] = getitem(%x, index=(0,))
...   %b: f64[4,5] = getitem(%x, index=(1,))
...   %c: f64[4,5] = getitem(%x, index=(2,))
...   %p: f64[4,6] = matmul(%a, %w)
...   %q: f64[4,6] = matmul(%b, %w)
...   %r: f64[4,6] = matmul(%c, %w)
...   return %p, %q, %r
... }''')
>>> [n.op for n in batch_matmuls(g).nodes]
['reshape', 'matmul', 'reshape', 'getitem', 'getitem', 'getitem']
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.types import TensorType
from ..ir.verify import cached_infer_type, verify
from .builder import Builder
from .prune import eliminate_dead_nodes

#: operands of up to this many bytes each are joined by a copy (``concatenate``) to batch their products; larger
#: ones are not: the copy then costs about what the separate calls did, and the joined array lives longer
MAX_JOIN_BYTES = 1 << 20
#: nor when the joined array would exceed this (it is alive at once, where the separate operands need not be)
MAX_JOINED_BYTES = 32 << 20
#: the products of a long recurrence's inputs are made a chunk of steps at a time, each chunk's products about
#: this many bytes (and at least ``MIN_CHUNK_TERMS`` steps): a recurrence reads them one step at a time
PRODUCT_CHUNK_BYTES = 32 << 10
#: a sum of many products (a weight's gradient over the steps of a recurrence) is joined a chunk of terms at a
#: time: a backward then multiplies a chunk as soon as it has its gradients, and those steps' states and
#: gradients can go, where one join of every step kept them all, and a copy of each, alive until the backward's
#: end. The first chunk computed is made while every state is still alive, where PyTorch's per-step
#: accumulation holds a weight-sized product instead: its right operands are about this many bytes (and at
#: least ``MIN_CHUNK_TERMS`` terms; 16 KiB is the rnn benchmark's 64 x 64 float32 weight). Each later chunk is as
#: large as the chunks computed before it, which are gone, less two terms (the state gradient passed on and the
#: next step's derivative are alive beside it): chunks of 8, 6, 12 and 24 of the rnn's 50 steps, whose step
#: then peaks at 139,524 bytes against PyTorch's 143,624 (four equal chunks: 150,020; seven equal: 141,572, and
#: 8 % slower)
JOIN_CHUNK_BYTES = 16 << 10
MIN_CHUNK_TERMS = 8

_FULL = ("slice", None, None, None)
def batch_matmuls(graph: Graph) -> Graph:
    """Batch products that share a right operand, and sums of products (see the module docstring); returns a
    verified copy (``graph`` itself when there is nothing to batch)."""
    if not _has_candidates(graph):
        return graph  # nothing to batch: no copy, no second verification
    g = graph.copy()
    builder = Builder(g)
    builder.place(reorder=_batch_shared_operands(g, builder))
    eliminate_dead_nodes(g)
    builder = Builder(g)  # positions and readers of the graph as it is now
    _join_sums(g, builder)
    builder.place(reorder=False)
    return verify(eliminate_dead_nodes(g))


def _has_candidates(graph: Graph) -> bool:
    """Whether two products share a right operand, or two products or sums feed adds (a cheap first look)."""
    shared: set = set()
    summed = 0
    for n in graph.nodes:
        if n.op == "matmul":
            key = (n.inputs[1], n.inputs[0].type if n.inputs[0].__class__ is Value else None)
            if key in shared:
                return True
            shared.add(key)
        elif n.op == "add":
            summed += sum(x.__class__ is Value and x.node is not None and x.node.op in ("matmul", "sum")
                          for x in n.inputs)
            if summed >= 2:
                return True
    return False


# -- products that share their right operand ------------------------------------------------------------------------

def _slice_of(v: Value):
    """``(x, axis, t)`` when ``v = x[:, ..., :, t]`` (full slices, then one int, on an axis before the last)."""
    n = v.node
    if n is None or n.op != "getitem" or n.inputs[0].__class__ is not Value:
        return None
    index = n.attrs["index"]
    if not index:
        return None
    *lead, last = index
    x = n.inputs[0]
    axis = len(lead)
    if any(item != _FULL for item in lead) or last.__class__ is not int or axis >= x.type.ndim - 1:
        return None
    size = x.type.shape[axis]
    return (x, axis, last % size) if -size <= last < size else None


def _batch_shared_operands(g: Graph, b: Builder) -> bool:
    """The first rewrite; whether nodes must be put in a new order."""
    groups: dict = {}
    for n in g.nodes:
        if n.op != "matmul":
            continue
        a, w = n.inputs
        if a.__class__ is not Value or w.__class__ is not Value or w.type.ndim != 2 or not a.type.is_floating \
                or a.type.dtype != w.type.dtype:
            continue
        # a forward product and an adjoint one are never joined: the partition sends each node to one side
        groups.setdefault((w, a.type, n.role), []).append(n)
    moved = False
    for (w, a_type, _), members in groups.items():
        if len(members) < 2:
            continue
        rest = _batch_slices(b, w, members)
        if len(rest) >= 2 and a_type.nbytes <= MAX_JOIN_BYTES and len(rest) * a_type.nbytes <= MAX_JOINED_BYTES:
            moved |= _batch_joined(g, b, w, rest)
    return moved


def _batch_slices(b: Builder, w: Value, members: list[Node]) -> list[Node]:
    """Members whose left operands are ``x[t]`` for every ``t`` of one axis of one ``x``: one product of ``x``.
    Returns the other members."""
    by_source: dict = {}
    for n in members:
        s = _slice_of(n.inputs[0])
        if s is not None:
            by_source.setdefault((s[0], s[1]), {}).setdefault(s[2], []).append(n)
    done = set()
    for (x, axis), steps in by_source.items():
        if len(steps) != x.type.shape[axis] or len(steps) < 2:
            continue  # products of some steps only: the whole product would do work nobody asked for
        step_bytes = next(iter(steps.values()))[0].output.type.nbytes
        for start, stop in _chunk_bounds(len(steps), step_bytes, PRODUCT_CHUNK_BYTES):
            # a chunk of steps, x[start:stop] along the axis: one product, made where its first step needs it
            # (a recurrence reads its steps' products one at a time: all of them at once would be alive together)
            batched = [n for t in range(start, stop) for n in steps[t]]
            first = min(batched, key=lambda n: b.position[n.output])
            part = x
            if stop - start != len(steps):
                index = (_FULL,) * axis + (("slice", start, stop, None),)
                part = b.emit(first, "getitem", [x], {"index": index})
            shape = part.type.shape
            rows = b.emit(first, "reshape", [part], {"shape": (part.type.size // shape[-1], shape[-1])})
            product = b.emit(first, "matmul", [rows, w], {})
            whole = b.emit(first, "reshape", [product], {"shape": shape[:-1] + (w.type.shape[1],)})
            for t in range(start, stop):
                for n in steps[t]:
                    index = list(n.inputs[0].node.attrs["index"])
                    if part is not x:  # the step's place in its chunk (t counts from 0; the step may be x[-1])
                        index[axis] = t - start
                    n.op, n.inputs, n.attrs = "getitem", [whole], {"index": tuple(index)}
                    done.add(n)
            _hoist_shared_addend(b, first, whole, batched)
    return [n for n in members if n not in done]


def _chunk_bounds(count: int, item_bytes: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """``range(count)`` in consecutive chunks of about ``chunk_bytes`` (at least ``MIN_CHUNK_TERMS`` items each),
    of sizes that differ by one at most."""
    per = max(MIN_CHUNK_TERMS, chunk_bytes // max(1, item_bytes))
    chunks = -(-count // per)
    bounds = [count * k // chunks for k in range(chunks + 1)]
    return list(zip(bounds, bounds[1:]))


def _growing_chunk_bounds(count: int, item_bytes: int) -> list[tuple[int, int]]:
    """``range(count)`` in consecutive chunks from its end: the last about ``JOIN_CHUNK_BYTES`` (at least
    ``MIN_CHUNK_TERMS`` items), each one before as large as those after it less two items."""
    per = max(MIN_CHUNK_TERMS, JOIN_CHUNK_BYTES // max(1, item_bytes))
    bounds, done = [], 0
    while done < count:
        size = min(count - done, per if not bounds else done - 2)
        bounds.append((count - done - size, count - done))
        done += size
    return bounds[::-1]


def _batch_joined(g: Graph, b: Builder, w: Value, members: list[Node]) -> bool:
    """Members whose left operands depend on no member's result: ``concatenate`` them, one product, slices."""
    member_outputs = {n.output for n in members}
    tainted: set[Value] = set()  # values computed from a member's result
    independent = []
    for n in g.nodes:
        if any(x in tainted or x in member_outputs for x in n.inputs if x.__class__ is Value):
            tainted.add(n.output)
        if n.output in member_outputs and n.inputs[0] not in tainted and n.inputs[0] not in member_outputs:
            independent.append(n)
    if len(independent) < 2:
        return False
    operands = [n.inputs[0] for n in independent]
    a_type = operands[0].type
    first = independent[0]
    joined = _join_rows(b, first, operands)
    product = b.emit(first, "matmul", [joined, w], {})
    whole = b.emit(first, "reshape", [product], {"shape": (len(operands),) + a_type.shape[:-1]
                                                 + (w.type.shape[1],)})
    for k, n in enumerate(independent):
        n.op, n.inputs, n.attrs = "getitem", [whole], {"index": (k,)}
    _hoist_shared_addend(b, first, whole, independent)
    return True


def _hoist_shared_addend(b: Builder, first: Node, whole: Value, members: list[Node]) -> None:
    """Every batched product plus one shared ``c`` (a bias), either ``p_k + c`` or ``(p_k + m_k) + c``, where ``c``
    is computed before the batched product: ``c`` is added once to the whole product (``(p_k + c) + m_k``; this
    changes the order of the two additions, so results agree to rounding)."""
    plans = []
    for n in members:
        m = n.output
        readers = b.readers.get(m, ())
        if len(readers) != 1 or m in b.outputs or not _add_of_same_type(readers[0]) \
                or readers[0].output.type != m.type:
            return
        u1 = readers[0]
        other = u1.inputs[1] if u1.inputs[0] is m else u1.inputs[0]
        second = b.readers.get(u1.output, ())
        u2 = second[0] if len(second) == 1 and u1.output not in b.outputs and _add_of_same_type(second[0]) \
            and second[0].output.type == m.type else None
        beyond = None if u2 is None else (u2.inputs[1] if u2.inputs[0] is u1.output else u2.inputs[0])
        plans.append((n, u1, other, u2, beyond))
    start = b.position[first.output]
    for case in (2, 4):  # the addend of the first add, then of the second
        shared = {plan[case] for plan in plans}
        if len(shared) != 1:
            continue
        (c,) = shared
        if c is None or c is whole or b.where(c) >= start or _add_type(whole.type, c.type) != whole.type:
            continue
        with_c = b.emit(first, "add", [whole, c], {})
        for n, u1, other, u2, beyond in plans:
            if case == 2:  # p_k + c: the sum is a slice of the whole sum
                u1.op, u1.inputs, u1.attrs = "getitem", [with_c], {"index": n.attrs["index"]}
            else:  # (p_k + m_k) + c -> (p_k + c) + m_k, in the second add's place
                part = b.emit(u2, "getitem", [with_c], {"index": n.attrs["index"]})
                u2.inputs = [part, other] if u1.inputs[0] is n.output else [other, part]
        return


def _add_of_same_type(n: Node) -> bool:
    """An add of two values whose result has the type of the first (the second may broadcast into it)."""
    if n.op != "add":
        return False
    a, c = n.inputs
    return a.__class__ is Value and c.__class__ is Value and (a.type == n.output.type or c.type == n.output.type)


def _add_type(a: TensorType, c: TensorType):
    try:
        return cached_infer_type("add", [a, c], {})
    except Exception:  # shapes that do not broadcast
        return None


def _join_rows(b: Builder, at: Node, values: list[Value]) -> Value:
    """``values`` (one shape) stacked and flattened to rows: ``(n * rows, last axis)`` for operands of two or more
    axes, ``(n, size)`` for vectors. ``x[0], ..., x[T-1]`` of an ``x`` of shape ``(T, ...)`` give ``x`` itself."""
    first = values[0].type
    slices = [_slice_of(v) for v in values]
    if all(s is not None and s[1] == 0 for s in slices) and len({s[0] for s in slices}) == 1 and first.ndim >= 1 \
            and [s[2] for s in slices] == list(range(slices[0][2], slices[0][2] + len(slices))):
        x = slices[0][0]
        if len(slices) != x.type.shape[0]:  # some consecutive steps: their slice of x, a view too
            start = slices[0][2]
            x = b.emit(at, "getitem", [x], {"index": (("slice", start, start + len(slices), None),)})
        return b.emit(at, "reshape", [x], {"shape": (x.type.size // x.type.shape[-1], x.type.shape[-1])})
    last = first.shape[-1]
    rows = [v if v.type.ndim == 2 else b.emit(at, "reshape", [v], {"shape": (v.type.size // last, last)})
            for v in values]
    return b.emit(at, "concat", rows, {"dim": 0})


def _join_where_made(b: Builder, at: Node, values: list[Value]) -> Value:
    """``_join_rows(values)``, made as soon as the last of ``values`` is (for a weight's gradient ``sum h_t.T @ g_t``,
    in the forward, right after the chunk's last state) when it is a copy of 2-D values, and every later reader
    of one of ``values`` reading that value's rows of the join instead: the forward then keeps one array per chunk
    of states for the backward, which multiplies it as it is, where joining the saved states in the backward kept
    the separate states and their copy alive at once (the rnn step's peak)."""
    last = max(b.where(v) for v in values)
    nodes = b.graph.nodes
    if last + 1 >= b.where(at.output) or any(v.type.ndim != 2 or v.type != values[0].type for v in values) \
            or all(s is not None and s[1] == 0 for s in map(_slice_of, values)):
        return _join_rows(b, at, values)  # no earlier place, other shapes, or a view of one array anyway
    joined = _join_rows(b, nodes[last + 1], values)
    rows = values[0].type.shape[0]
    for k, v in enumerate(values):
        for reader in b.readers.get(v, ()):
            if b.where(reader.output) > last and v in reader.inputs:
                view = b.emit(reader, "getitem", [joined], {"index": (("slice", k * rows, (k + 1) * rows, None),)})
                reader.inputs = [view if x is v else x for x in reader.inputs]
    return joined


# -- sums of products and of column sums ----------------------------------------------------------------------------

def _join_sums(g: Graph, b: Builder) -> None:
    absorbed: set[Node] = set()  # adds that belong to a larger sum
    for n in reversed(g.nodes):
        if n.op != "add" or n in absorbed or not _plain_add(n):
            continue
        terms: list[Value] = []
        _collect_terms(n, b, terms, absorbed)
        products = _in_order(b, [t for t in terms if _is_product(t, n.output.type, b)])
        column_sums = _in_order(b, [t for t in terms if _is_column_sum(t, n.output.type, b)])
        parts = []  # (op, inputs, attrs) of each joined term, not yet made
        if len(products) >= 2 and _joinable([t.node.inputs[0] for t in products]) \
                and _joinable([t.node.inputs[1] for t in products]):
            parts.append(_in_chunks(b, n, products, _joined_product))
        else:
            products = []
        if len(column_sums) >= 2 and _joinable([t.node.inputs[0] for t in column_sums]):
            parts.append(_in_chunks(b, n, column_sums, _joined_column_sum))
        else:
            column_sums = []
        if not parts:
            continue
        used = set(products) | set(column_sums)
        rest = [t for t in terms if t not in used]
        if not rest and len(parts) == 1:  # the sum is one product (or one column sum): the root becomes it
            n.op, n.inputs, n.attrs = parts[0][0], parts[0][1], parts[0][2]
            continue
        values = [b.emit(n, op, inputs, attrs) for op, inputs, attrs in parts] + rest
        total = values[0]
        for v in values[1:-1]:
            total = b.emit(n, "add", [total, v], {})
        n.inputs = [total, values[-1]]


def _in_chunks(b: Builder, root: Node, terms: list[Value], join) -> tuple:
    """The sum of ``terms`` as ``join`` makes it, a chunk of consecutive terms at a time (``JOIN_CHUNK_BYTES``),
    each chunk's join placed where its last term was computed and added to the chunks computed before it; the
    last addition, not yet made, is returned for ``root``'s place."""
    bounds = _growing_chunk_bounds(len(terms), terms[0].node.inputs[-1].type.nbytes)
    if len(bounds) == 1:
        return join(b, root, terms)
    chunks = [terms[i:j] for i, j in bounds]
    # in the order their last terms are computed: a backward reaches the last steps' chunk first
    chunks.sort(key=lambda chunk: max(b.where(t) for t in chunk))
    total = None
    for chunk in chunks[:-1]:
        at = max((t.node for t in chunk), key=lambda node: b.where(node.output))
        op, inputs, attrs = join(b, at, chunk)
        part = b.emit(at, op, inputs, attrs)
        total = part if total is None else b.emit(at, "add", [total, part], {})
    return "add", [total, b.emit(root, *join(b, root, chunks[-1]))], {}


def _joinable(values: list[Value]) -> bool:
    return all(v.type.nbytes <= MAX_JOIN_BYTES for v in values) \
        and sum(v.type.nbytes for v in values) <= MAX_JOINED_BYTES


def _plain_add(n: Node) -> bool:
    if n.op != "add":
        return False
    a, c = n.inputs
    return a.__class__ is Value and c.__class__ is Value and a.type == c.type == n.output.type


def _collect_terms(n: Node, b: Builder, terms: list, absorbed: set) -> None:
    """The terms of the sum ``n`` is the root of, left to right: through adds whose only reader is the sum (a loop,
    not recursion: a gradient accumulated over thousands of uses is a chain that deep)."""
    stack = list(reversed(n.inputs))
    while stack:
        x = stack.pop()
        inner = x.node
        if inner is not None and inner.op == "add" and _plain_add(inner) and b.uses.get(x) == 1 \
                and x not in b.outputs and x.type == n.output.type:
            absorbed.add(inner)
            stack.extend(reversed(inner.inputs))
        else:
            terms.append(x)


def _is_product(t: Value, out: TensorType, b: Builder) -> bool:
    n = t.node
    if n is None or n.op != "matmul" or b.uses.get(t) != 1 or t in b.outputs or not out.is_floating:
        return False
    p, q = n.inputs
    return p.__class__ is Value and q.__class__ is Value and p.type.ndim == 2 and q.type.ndim == 2 \
        and t.type == out


def _is_column_sum(t: Value, out: TensorType, b: Builder) -> bool:
    n = t.node
    if n is None or n.op != "sum" or b.uses.get(t) != 1 or t in b.outputs or not out.is_floating:
        return False
    q = n.inputs[0]
    dim = n.attrs["dim"]
    return q.__class__ is Value and q.type.ndim >= 1 and (dim == (0,) or dim == [0] or dim == 0) \
        and not n.attrs["keepdim"] and t.type == out


def _in_order(b: Builder, terms: list[Value]) -> list[Value]:
    """Terms by their right operand's position, latest first: a backward computes the gradients of the forward's
    steps in reverse, so this is the order of the steps, shared by every sum over them."""
    return sorted(terms, key=lambda t: -b.where(t.node.inputs[-1]))


def _joined_product(b: Builder, at: Node, terms: list[Value]) -> tuple:
    lefts = [t.node.inputs[0] for t in terms]
    rights = [t.node.inputs[1] for t in terms]
    transposed = [v.node.inputs[0] if v.node is not None and v.node.op == "permute" and v.node.attrs["dims"] == (1, 0)
                  else None for v in lefts]
    if all(a is not None for a in transposed):
        left = b.emit(at, "permute", [_join_where_made(b, at, transposed)], {"dims": (1, 0)})
    else:
        left = b.emit(at, "concat", lefts, {"dim": 1})
    return "matmul", [left, _join_rows(b, at, rights)], {}


def _joined_column_sum(b: Builder, at: Node, terms: list[Value]) -> tuple:
    rows = [t.node.inputs[0] for t in terms]
    joined = _join_rows(b, at, rows) if rows[0].type.ndim == 2 else b.emit(at, "concat", rows, {"dim": 0})
    return "sum", [joined], {"dim": (0,), "keepdim": False}
