"""Patch chunking: a convolution's im2col a chunk of images at a time.

``conv2d`` is a matrix product of the filters and the input's patches (``unfold2d_rows`` for stride 1, else
``unfold2d`` and a transpose, reshaped to ``(N, C*KH*KW, L)``), and the weight's gradient the batch's sum of the
output gradient times the patches again.
The patches are ``KH*KW`` times the input: a LeNet's first convolution on 64 28x28 images unfolds 0.2 MiB into
4.1 MiB, in the forward and again in the backward, where they are the step's peak. PyTorch's CPU convolution
unfolds one image at a time. This pass does the same to the graph, for each product whose patches exceed
``PATCH_CHUNK_BYTES``:

- ``filters @ patches(x)`` becomes the join of ``filters @ patches(x[a:b])`` over chunks of the batch;
- ``sum(g @ patches(x).T, 0)`` (the weight's gradient) becomes the sum over chunks of
  ``sum(g[a:b] @ patches(x[a:b]).T, 0)``;
- ``fold(filters.T @ g)`` (the input's gradient, whose product is as large as the patches) becomes the join of
  ``fold(filters.T @ g[a:b])``.

Each chunk's patches are made and freed before the next chunk's, so at most a chunk of them is alive. The products
are the same per image; the weight's gradient adds the chunks' sums (results agree to rounding).

>>> from graphgrad.ir.parser import parse_graph
>>> g = parse_graph('''graph f(%x: f64[4,1,6,6], %w: f64[2,9]) {
...   %u: f64[4,1,3,3,24] = unfold2d_rows(%x, kernel=(3, 3), padding=(0, 0), dilation=(1, 1), size=(6, 6))
...   %r: f64[4,9,24] = reshape(%u, shape=(4, 9, 24))
...   %y: f64[4,2,24] = matmul(%w, %r)
...   return %y
... }''')
>>> [n.op for n in chunk_patches(g, chunk_bytes=2 * 9 * 24 * 8).nodes].count("unfold2d_rows")
2
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS, normalize_dims
from ..ir.verify import verify
from .builder import Builder
from .prune import eliminate_dead_nodes

#: patches larger than this are made a chunk of images at a time, each chunk about this large (at least one image)
PATCH_CHUNK_BYTES = 1 << 20


def _patches(op: str) -> str:
    """"unfold" for an op that makes an image batch's patches, "fold" for their adjoint, as the op declares
    (``patches=`` in ``graphgrad.ops``: ``unfold2d_rows`` for stride 1, ``unfold2d`` for any stride)."""
    opdef = OPS.get(op)
    return opdef.patches if opdef is not None else ""


def chunk_patches(graph: Graph, chunk_bytes: int | None = None) -> Graph:
    """Convolution products over chunks of the batch (see the module docstring); returns a verified copy
    (``graph`` itself when no product's patches exceed ``chunk_bytes``, by default ``PATCH_CHUNK_BYTES``)."""
    limit = PATCH_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    if not any(_patches(n.op) and _chunks(n, limit) for n in graph.nodes):
        return graph
    g = graph.copy()
    b = Builder(g)
    changed = False
    for n in list(g.nodes):
        kind = _patches(n.op)
        if kind and _chunks(n, limit):
            changed |= (_chunk_unfold if kind == "unfold" else _chunk_fold)(b, n, _chunks(n, limit))
    if not changed:
        return graph
    b.place(reorder=False)
    return verify(eliminate_dead_nodes(g))


def _chunks(n: Node, limit: int) -> list[tuple[int, int]]:
    """Chunks ``(start, stop)`` of the batch for the patches ``n`` makes (an unfold) or reads (a fold); empty
    when they fit in ``limit`` bytes."""
    patches = n.output.type if _patches(n.op) == "unfold" else n.inputs[0].type
    batch = patches.shape[0]
    if patches.nbytes <= limit or batch < 2:
        return []
    per = max(1, limit // (patches.nbytes // batch))
    count = -(-batch // per)
    bounds = [batch * k // count for k in range(count + 1)]
    return list(zip(bounds, bounds[1:]))


def _only_reader(b: Builder, v: Value) -> Node | None:
    readers = b.readers.get(v, ())
    return readers[0] if len(readers) == 1 and v not in b.outputs else None


def _rows(b: Builder, at: Node, v: Value, start: int, stop: int) -> Value:
    return b.emit(at, "getitem", [v], {"index": (("slice", start, stop, None),)})


def _keeps_batch(n: Node) -> bool:
    """A transpose that leaves the batch axis first (a strided convolution's patches to (N, C, KH, KW, OH, OW))."""
    return n.op == "permute" and n.attrs["dims"][0] == 0


def _replay(b: Builder, at: Node, chain: list[Node], v: Value, start: int, stop: int) -> Value:
    """``chain``'s ops (one input each, the batch axis first throughout) applied to ``v``, a chunk of the batch."""
    for n in chain:
        attrs = dict(n.attrs)
        if n.op == "reshape":
            attrs["shape"] = (stop - start,) + tuple(attrs["shape"][1:])
        v = b.emit(at, n.op, [v], attrs)
    return v


def _chunk_unfold(b: Builder, unfold: Node, chunks: list) -> bool:
    """The products that read ``unfold``'s patches (through transposes that keep the batch first, then a reshape
    to ``(N, C*KH*KW, L)``), a chunk at a time."""
    x = unfold.inputs[0]
    chain = [unfold]
    while (reader := _only_reader(b, chain[-1].output)) is not None and _keeps_batch(reader):
        chain.append(reader)
    changed = False
    for r in list(b.readers.get(chain[-1].output, ())):
        shape = r.output.type.shape
        if r.op != "reshape" or len(shape) != 3 or shape[0] != x.type.shape[0] or r.output in b.outputs:
            continue

        def patches(at: Node, start: int, stop: int) -> Value:
            return _replay(b, at, chain + [r], _rows(b, at, x, start, stop), start, stop)

        for m in list(b.readers.get(r.output, ())):
            if m.op == "matmul" and m.inputs[1] is r.output and m.inputs[0].type.ndim == 2:
                # the convolution: filters @ patches, joined along the batch
                f = m.inputs[0]
                parts = [b.emit(m, "matmul", [f, patches(m, a, z)], {}) for a, z in chunks]
                m.op, m.inputs, m.attrs = "concat", parts, {"dim": 0}
                changed = True
            elif m.op == "permute" and tuple(m.attrs["dims"]) == (0, 2, 1):
                # the weight's gradient: sum over the batch of g @ patches.T
                product = _only_reader(b, m.output)
                if product is None or product.op != "matmul" or product.inputs[1] is not m.output:
                    continue
                total = _only_reader(b, product.output)
                if total is None or total.op != "sum" or total.attrs["keepdim"] \
                        or normalize_dims(total.attrs["dim"], product.output.type.ndim) != (0,):
                    continue  # a sum over all axes (dim None) or others is not the batch's sum of products
                g = product.inputs[0]
                if g.type.ndim != 3 or g.type.shape[0] != shape[0]:
                    continue
                running = last = None
                for a, z in chunks:  # each chunk's patches are freed before the next chunk's are made
                    if last is not None:
                        running = last if running is None else b.emit(total, "add", [running, last], {})
                    transposed = b.emit(total, "permute", [patches(total, a, z)], {"dims": (0, 2, 1)})
                    part = b.emit(total, "matmul", [_rows(b, total, g, a, z), transposed], {})
                    last = b.emit(total, "sum", [part], {"dim": (0,), "keepdim": False})
                total.op, total.inputs, total.attrs = "add", [running, last], {}
                changed = True
    return changed


def _chunk_fold(b: Builder, fold: Node, chunks: list) -> bool:
    """``fold(reshape(filters.T @ g))`` (through transposes that keep the batch first), the input's gradient, a
    chunk of the batch at a time."""
    chain = [fold]
    node = fold.inputs[0].node
    while node is not None and _keeps_batch(node) and _only_reader(b, node.output) is chain[-1]:
        chain.append(node)
        node = node.inputs[0].node
    r = node
    if r is None or r.op != "reshape" or _only_reader(b, r.output) is not chain[-1]:
        return False
    m = r.inputs[0].node
    if m is None or m.op != "matmul" or _only_reader(b, m.output) is not r or m.inputs[0].type.ndim != 2:
        return False
    f, g = m.inputs
    if g.type.ndim != 3 or g.type.shape[0] != fold.output.type.shape[0]:
        return False
    chain = [r] + chain[:0:-1] + [fold]  # in the order they apply: the reshape, the transposes, the fold
    parts = [_replay(b, fold, chain, b.emit(fold, "matmul", [f, _rows(b, fold, g, a, z)], {}), a, z)
             for a, z in chunks]
    fold.op, fold.inputs, fold.attrs = "concat", parts, {"dim": 0}
    return True
