"""Indexing: ``x[index]`` (basic and integer-array indices baked into the op), rows picked by an index
tensor (an input of the op: embeddings, batches), and their adjoints."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..codegen.expressions import subscript
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, decode_index, encode_index, is_type, normalize_dims
from ..ir.types import TensorType
from ..passes.batching import along_axis, broadcast_batch, moveaxis, pad_after_batch, to_front
from ..passes.row_decomposition import PARAM, REDUCED, Row, RowCouplingError
from ..tracer.tracer import SymbolicTensor
from .define import constant_like, primitive


def _index_shape(shape: tuple, index: tuple) -> tuple:
    """The result shape of NumPy basic/advanced indexing, computed on a zero-size probe."""
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.int8), shape=shape, strides=(0,) * len(shape))
    try:
        return probe[decode_index(index)].shape
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {list(shape)})") from None


def _lists(x):
    return [_lists(i) for i in x] if isinstance(x, tuple) else x


def _index_tuple(index, xp) -> str:
    """The index as a tuple expression, for ``add.at``: ``(slice(1, 3, None), np.array([0, 2]))``."""
    parts = []
    for item in index:
        if isinstance(item, tuple) and item[0] == "array":
            parts.append(f"{xp}.array({_lists(item[1])!r})")
        elif isinstance(item, tuple) and item[0] == "slice":
            parts.append(f"slice({item[1]!r}, {item[2]!r}, {item[3]!r})")
        else:
            parts.append("Ellipsis" if item == "..." else repr(item))
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _has_array(index) -> bool:
    return any(isinstance(i, tuple) and i[0] == "array" for i in index)


# -- x[index] -----------------------------------------------------------------------------------
def getitem(x: TensorBase, index: TensorBase) -> TensorBase:
    """``x[index]``: basic indexing and integer arrays (baked into the op); int64 index tensors, which become
    inputs of the op (``x[i]``, ``x[:, i]``, ``x[i, j]``, ``x[..., i]``: a new index needs no new kernel and
    traced indices work); boolean masks in eager mode (``x[x > 0]``, PyTorch's semantics)."""
    if isinstance(index, TensorBase) and index._type.dtype == "int64":
        return bind("gather_rows", x, index)
    items = index if isinstance(index, tuple) else (index,)
    if any(_is_mask(i) for i in items):
        items = _masks_to_positions(x, items)
    if any(isinstance(i, TensorBase) and i._type.dtype == "int64" for i in items):
        return _gather_index(x, items)
    items = tuple(i._index_array() if isinstance(i, TensorBase) else i for i in items)
    return bind("getitem", x, index=encode_index(items if isinstance(index, tuple) or len(items) != 1
                                                 else items[0]))


def _is_mask(item) -> bool:
    if isinstance(item, TensorBase):
        return item._type.dtype == "bool"
    return isinstance(item, (np.ndarray, list)) and np.asarray(item).dtype == bool


def _masks_to_positions(x, items) -> tuple:
    """Each boolean mask, replaced by the integer positions of its true elements (one array per mask axis):
    the result's shape depends on the mask's values, so only an eager (concrete) mask can do this."""
    out, axis = [], 0
    for item in items:
        if not _is_mask(item):
            out.append(item)
            axis += 0 if item is None else (x.ndim - _consumed(items) if item is Ellipsis else 1)
            continue
        if isinstance(item, TensorBase) and item._level > 0:
            from ..tracer.tracer import TracerError, _where, user_location
            raise TracerError("indexing with a boolean mask inside a compiled function: the result's shape would "
                              "depend on the mask's values; use graphgrad.where(mask, x, 0.0) (and a sum or "
                              f"mean over it) instead{_where(user_location(4))}")
        mask = item._index_array() if isinstance(item, TensorBase) else np.asarray(item)
        for k, size in enumerate(mask.shape):
            if axis + k >= x.ndim or x.shape[axis + k] != size:
                raise IndexError(f"The shape of the mask {list(mask.shape)} at index {k} does not match the shape of "
                                 f"the indexed tensor {list(x.shape)} at index {axis + k}")
        out.extend(np.asarray(p, dtype=np.int64) for p in np.nonzero(mask))
        axis += mask.ndim
    return tuple(out)


def _consumed(items) -> int:
    """How many axes the items other than ``...`` and None index."""
    return sum(np.ndim(i) if _is_mask(i) else 1 for i in items if i is not None and i is not Ellipsis)


def _getitem_expr(a, xp, out, index):
    if _has_array(index):
        return [f"{a[0]}[{_index_tuple(index, xp)}]"]
    return [f"{a[0]}[{subscript(index)}]"]


def _getitem_rows(a, node, states):
    """Basic indexing keeps the rows when it takes all of them (``x[:, 0]``); picking rows couples them."""
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
            break
        in_axis += 1
        out_axis += isinstance(item, slice)
    return Row(out_axis)


def _advanced_position(index) -> int:
    """Where NumPy puts the batch axis of ``x[(slice(None),) + index]``: first, unless the example's index has
    advanced (array) items separated by a slice, which sends the advanced axes to the front."""
    positions = [i for i, item in enumerate(index)
                 if (isinstance(item, tuple) and item[0] == "array") or isinstance(item, int)]
    has_array = any(isinstance(index[i], tuple) for i in positions)
    if not has_array or positions == list(range(positions[0], positions[-1] + 1)):
        return 0
    arrays = [np.asarray(i) for i in decode_index(tuple(index[p] for p in positions))]
    return len(np.broadcast_shapes(*[a.shape for a in arrays]))


_FULL = ("slice", None, None, None)


def _getitem_batch(op, args, bdims, index):
    x = to_front(args[0], bdims[0])
    return bind("getitem", x, index=(_FULL,) + tuple(index)), _advanced_position(index)


primitive("getitem", memory="view", view=True, batch=_getitem_batch,
          attrs=("index",), doc="basic and integer-array indexing; index is an encoded tuple",
          rows=_getitem_rows,
          infer=lambda inputs, index: TensorType(_index_shape(inputs[0].shape, index), inputs[0].dtype),
          vjp=(lambda g, out, x, *, index: bind("index_add_zeros", g, index=index, shape=x._type.shape),),
          expr=_getitem_expr, fn=getitem, tensor="__getitem__")


# -- its adjoint ----------------------------------------------------------------------------------
def _index_add_zeros_expr(a, xp, out, index, shape):
    z = f"{out}_zeros"
    if _has_array(index):
        # add.at accumulates repeated integer indices, where z[idx] = g would keep only the last
        scatter = f"{xp}.add.at({z}, {_index_tuple(index, xp)}, {a[0]})"
    else:
        scatter = f"{z}[{subscript(index)}] = {a[0]}"
    return [f"{z} = {xp}.zeros({shape}, dtype={a[0]}.dtype)", scatter, z]


def _index_add_zeros_batch(op, args, bdims, index, shape):
    g = args[0]
    size = g.shape[bdims[0]]
    g = moveaxis(g, bdims[0], _advanced_position(index))
    return bind("index_add_zeros", g, index=(_FULL,) + tuple(index), shape=(size,) + tuple(shape)), 0


primitive("index_add_zeros", memory="fresh", batch=_index_add_zeros_batch, attrs=("index", "shape"),
          doc="zeros of shape with the input scattered (added) at index: the adjoint of getitem",
          infer=lambda inputs, index, shape: TensorType(tuple(shape), inputs[0].dtype),
          vjp=(lambda g, out, x, *, index, shape: bind("getitem", g, index=index),),
          expr=_index_add_zeros_expr)


# -- rows picked by an index tensor -----------------------------------------------------------------
def _gather_rows_type(inputs):
    x, index = inputs
    if not is_type(index) or index.dtype != "int64":
        raise ShapeError(f"gather_rows: the index must be an int64 tensor, got {index}")
    if x.ndim == 0:
        raise ShapeError("gather_rows: cannot pick rows of a 0-d tensor")
    return TensorType(index.shape + x.shape[1:], x.dtype)


def _gather_rows_batch(op, args, bdims):
    (x, dx), (index, di) = zip(args, bdims)
    if di is None:  # the same rows of every example: pick them with the batch axis second
        return bind("gather_rows", moveaxis(x, dx, 1), index), index.ndim
    if dx is None:
        return bind("gather_rows", x, to_front(index, di)), 0
    # x[b, index[b]]: an arange over the batch beside the index, so a negative index counts from the end of
    # its own example's rows (offsets into the stacked rows of all examples read the previous example's)
    return _batched_gather(x, dx, [index], [di], (("input", 0),))[0], 0


# gather_rows and scatter_add_rows are linear in their first input and each other's adjoint
def _gather_rows_rows(a, node, states):
    """Rows of a parameter table picked by a per-row index (an embedding) are per row."""
    table, index = states
    if isinstance(table, Row):
        raise RowCouplingError(node, "it picks rows of a per-row value by index, mixing rows")
    if table is REDUCED or index is REDUCED:
        raise RowCouplingError(node, f"it indexes with or into {a.reduced_text(node)}")
    return Row(index.axis) if isinstance(index, Row) else PARAM


primitive("gather_rows", memory="fresh", batch=_gather_rows_batch, infer=_gather_rows_type, rows=_gather_rows_rows,
          doc="x[index] for an int64 index tensor of any shape: rows of x along its first axis",
          vjp=(lambda g, out, x, index: bind("scatter_add_rows", g, index, rows=x._type.shape[0]), None),
          expr=lambda a, xp, out: [f"{a[0]}[{a[1]}]"])


def _scatter_add_rows_expr(a, xp, out, rows):
    z = f"{out}_rows"
    # add.at accumulates rows picked several times, where z[index] += g would keep only one of them
    return [f"{z} = {xp}.zeros(({rows},) + {a[0]}.shape[{a[1]}.ndim:], dtype={a[0]}.dtype)",
            f"{xp}.add.at({z}, {a[1]}, {a[0]})", z]


def _scatter_add_rows_batch(op, args, bdims, rows):
    (g, dg), (index, di) = zip(args, bdims)
    if di is None:
        return bind("scatter_add_rows", moveaxis(g, dg, index.ndim), index, rows=rows), 1
    size = index.shape[di]
    g = broadcast_batch(g, dg, size)  # (batch, *index shape, *row shape), as _batched_gather's gather gives it
    shape = (rows,) + tuple(g.shape[index.ndim:])
    return _batched_gather(None, None, [index], [di], (("input", 0),), "scatter_add_index", g, shape)[0], 0


primitive("scatter_add_rows", memory="fresh", batch=_scatter_add_rows_batch, attrs=("rows",),
          doc="the adjoint of gather_rows: g's rows summed, by index, into zeros with `rows` rows",
          infer=lambda inputs, rows: TensorType((rows,) + inputs[0].shape[inputs[1].ndim:], inputs[0].dtype),
          vjp=(lambda g, out, x, index, *, rows: bind("gather_rows", g, index), None),
          expr=_scatter_add_rows_expr)



# -- gather / scatter_add along a dimension (the index is an input: int64 tensor) -----------------------
def _check_index(name, x, dim, index):
    if not is_type(index) or index.dtype != "int64":
        raise ShapeError(f"{name}(): Expected dtype int64 for index")
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise ShapeError("Index tensor must have the same number of dimensions as input tensor")
    for d, (i, s) in enumerate(zip(index.shape, x.shape)):
        if d != dim and i > s:
            raise ShapeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be smaller "
                             f"than self {list(x.shape)} apart from dimension {dim}")


def _gather_type(inputs, dim):
    x, index = inputs
    _check_index("gather", x, dim, index)
    return TensorType(index.shape, x.dtype)


def _grid(a, xp, out, dim):
    """Setup line: the index tuple that picks ``x[..., index[i, j, k], ...]`` at position (i, j, k)."""
    grid = f"{xp}.ix_(*[{xp}.arange(n) for n in {a[1]}.shape])"
    return [f"{out}_at = {grid}[:{dim}] + ({a[1]},) + {grid}[{dim + 1}:]"]


def gather(x: TensorBase, dim: int, index: TensorBase) -> TensorBase:
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` for ``dim=0`` (and so on): PyTorch's ``gather``.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).gather(1, gg.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    (d,) = normalize_dims(dim, x.ndim)
    return bind("gather", x, index, dim=d)


def _take_along_axis(arr, indices, axis):
    """``numpy.take_along_axis`` (indices of the same number of dimensions, no broadcasting)."""
    if not isinstance(indices, TensorBase):
        indices = np.asarray(indices, dtype=np.int64)
    return gather(arr, axis, indices)


def _along_dim_batch(op, args, bdims, dim):
    """gather and scatter_add pair up the positions of their operands: every operand gets the batch axis (the
    shared ones broadcast), and ``dim`` moves past it."""
    size = next(x.shape[d] for x, d in zip(args, bdims) if d is not None)
    return bind(op, *[broadcast_batch(x, d, size) for x, d in zip(args, bdims)], dim=dim + 1), 0


def _gather_dim_rows(a, node, states):
    """Per row when x and the index have their rows on one axis and ``dim`` is another (``x.max(dim=1)`` of
    per-row scores gathers at its argmax): a chunk's index then picks within the chunk's own rows."""
    x, index = states
    if x is REDUCED or index is REDUCED:
        raise RowCouplingError(node, f"it indexes with or into {a.reduced_text(node)}")
    if not (isinstance(x, Row) and index == x):
        raise RowCouplingError(node, "its input and index must both be per-row, with the rows on one axis")
    if node.attrs["dim"] == x.axis:
        raise RowCouplingError(node, "it picks along the row axis, mixing rows")
    return x


primitive("gather", memory="fresh", batch=_along_dim_batch, rows=_gather_dim_rows,
          attrs=("dim",), infer=_gather_type, doc="values of x picked along dim by an index tensor",
          vjp=(lambda g, out, x, index, *, dim: bind("scatter_add", bind("full_like", x, value=0.0), index, g, dim=dim),
               None),
          expr=lambda a, xp, out, dim: _grid(a, xp, out, dim) + [f"{a[0]}[{out}_at]"],
          fn=gather, tensor="gather", gg="gather", numpy="take_along_axis", numpy_fn=_take_along_axis)


def _scatter_add_type(inputs, dim):
    x, index, src = inputs
    _check_index("scatter_add", x, dim, index)
    if src.dtype != x.dtype:
        raise ShapeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if tuple(src.shape) != tuple(index.shape):
        raise ShapeError(f"scatter_add: src {list(src.shape)} must have the index's shape {list(index.shape)}")
    return TensorType(x.shape, x.dtype)


def _scatter_add_expr(a, xp, out, dim):
    # add.at accumulates repeated indices, where z[at] += src would keep only one of them
    return [f"{out}_sum = {a[0]}.copy()"] + _grid([a[0], a[1]], xp, out, dim) + [
        f"{xp}.add.at({out}_sum, {out}_at, {a[2]})", f"{out}_sum"]


def scatter_add(x: TensorBase, dim: int, index: TensorBase, src: TensorBase) -> TensorBase:
    """A copy of ``x`` with ``src[i][j][k]`` added at ``[index[i][j][k]][j][k]`` (for ``dim=0``), repeated
    indices accumulating: PyTorch's ``scatter_add``. Only the part of ``src`` the index covers is used.

    >>> import graphgrad as gg
    >>> gg.zeros(3).scatter_add(0, gg.tensor([0, 2, 0]), gg.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    (d,) = normalize_dims(dim, x.ndim)
    if isinstance(src, TensorBase) and src._type.dtype != x._type.dtype:  # eager add.at would cast silently
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if isinstance(src, TensorBase) and tuple(src.shape) != tuple(index.shape) and src.ndim == index.ndim:
        src = src[tuple(slice(0, n) for n in index.shape)]
    return bind("scatter_add", x, index, src, dim=d)


primitive("scatter_add", memory="fresh", batch=_along_dim_batch, attrs=("dim",), infer=_scatter_add_type,
          doc="x with src added at the positions an index tensor names along dim",
          vjp=(lambda g, out, x, index, src, *, dim: g, None,
               lambda g, out, x, index, src, *, dim: bind("gather", g, index, dim=dim)),
          expr=_scatter_add_expr, fn=scatter_add, tensor="scatter_add", gg="scatter_add")


# -- composites ------------------------------------------------------------------------------------
def index_select(x: TensorBase, dim: int, index: TensorBase) -> TensorBase:
    """The entries of ``x`` at ``index`` (a 1-D int64 tensor) along ``dim``.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).index_select(1, gg.tensor([1, 1, 0]))
    tensor([[2, 2, 1],
            [4, 4, 3]])
    """
    if not isinstance(index, TensorBase) or index._type.dtype != "int64" or index.ndim > 1:
        raise RuntimeError("index_select(): Expected a 1-D (or 0-D) int64 tensor for argument #3 'index'")
    (d,) = normalize_dims(dim, x.ndim)
    if x.ndim == 0:
        return x
    index = index.reshape(-1)
    if d == 0:
        return bind("gather_rows", x, index)
    # move dim to the front, pick rows, move it back
    front = (d,) + tuple(i for i in range(x.ndim) if i != d)
    picked = bind("gather_rows", x.permute(front), index)
    back = tuple(range(1, d + 1)) + (0,) + tuple(range(d + 1, x.ndim))
    return picked.permute(back)


export(index_select, "index_select", tensor="index_select", gg="index_select")


# PyTorch names the dtype by its C++ element type in this message
_CXX_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
                   "uint8": "unsigned char"}


def masked_fill(x: TensorBase, mask: TensorBase, value) -> TensorBase:
    """``value`` where ``mask`` is true, ``x`` elsewhere; the result keeps ``x``'s dtype.

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, 2.0, 3.0])
    >>> x.masked_fill(x > 1.5, 0.0)
    tensor([1., 0., 0.])
    """
    if not isinstance(mask, TensorBase) or mask._type.dtype != "bool":
        found = _CXX_TYPE_NAMES.get(mask._type.dtype, mask._type.dtype) if isinstance(mask, TensorBase) else \
            type(mask).__name__
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {found}")
    if isinstance(value, TensorBase) and value.ndim:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    out = bind("where", mask, value, x)
    if tuple(out.shape) != tuple(x.shape):
        raise RuntimeError(f"The size of the mask {list(mask.shape)} must be broadcastable to the tensor's size "
                           f"{list(x.shape)}")
    return out._cast(x._type.dtype)


export(masked_fill, "masked_fill", tensor="masked_fill", gg="masked_fill")


# -- x[..., i, ...] with int64 index tensors as inputs --------------------------------------------------
def _gather_index(x, items):
    tensors, subscript = [], []
    for item in items:
        if isinstance(item, TensorBase) and item._type.dtype == "int64":
            subscript.append(("input", len(tensors)))
            tensors.append(item)
        else:
            if isinstance(item, TensorBase):
                item = item._index_array()
            subscript.append(encode_index((item,))[0])
    return bind("gather_index", x, *tensors, subscript=tuple(subscript))


def _probe_index(subscript, index_types) -> tuple:
    """The subscript with each index input replaced by zeros of its shape (for the type rule)."""
    out = []
    for item in subscript:
        if isinstance(item, tuple) and item[0] == "input":
            t = index_types[item[1]]
            if not is_type(t) or t.dtype != "int64":
                raise ShapeError(f"tensors used as indices must be int64 (long) tensors, got {t}")
            out.append(np.zeros(t.shape, dtype=np.int64))
        else:
            out.append(decode_index((item,))[0])
    return tuple(out)


def _gather_index_type(inputs, subscript):
    x = inputs[0]
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.int8), shape=x.shape, strides=(0,) * x.ndim)
    try:
        shape = probe[_probe_index(subscript, inputs[1:])].shape
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {list(x.shape)})") from None
    return TensorType(shape, x.dtype)


def _subscript_text(subscript, args, xp, as_tuple: bool) -> str:
    """``a0[:, a1]`` subscript text, or the same index as a tuple expression for ``add.at``."""
    parts = []
    for item in subscript:
        if isinstance(item, tuple) and item[0] == "input":
            parts.append(args[item[1]])
        elif isinstance(item, tuple) and item[0] == "array":
            parts.append(f"{xp}.array({_lists(item[1])!r})")
        elif as_tuple:
            parts.append(_index_tuple((item,), xp)[1:-2])
        else:
            parts.append(_basic(item))
    text = ", ".join(parts)
    return f"({text}{',' if len(parts) == 1 else ''})" if as_tuple else text


def _basic(item) -> str:
    return subscript((item,))


def _gather_index_vjp(g, out, needs, x, *indices, subscript):
    first = bind("scatter_add_index", g, *indices, subscript=subscript, shape=x._type.shape) if needs[0] else None
    return [first] + [None] * len(indices)


def _index_layout(subscript, index_shapes: list, ndim: int) -> tuple:
    """For one example's ``x[subscript]`` (x with ``ndim`` axes): the number of axes the advanced items (index
    tensors, arrays, and ints beside them) broadcast to, where NumPy puts that block (after the axes of the
    items before the first advanced item when the advanced items are adjacent, else first), and whether any
    advanced item is there at all."""
    shapes, positions = [], []
    for i, item in enumerate(subscript):
        if isinstance(item, tuple) and item[0] == "input":
            shapes.append(index_shapes[item[1]])
        elif isinstance(item, tuple) and item[0] == "array":
            shapes.append(np.shape(item[1]))
        elif isinstance(item, int):
            shapes.append(())
        else:
            continue
        positions.append(i)
    if not any(shapes):
        return 0, 0, False
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    before = 0
    if adjacent:
        consumed = sum(1 for item in subscript if item is not None and item != "...")
        for item in subscript[:positions[0]]:
            before += (ndim - consumed) if item == "..." else 1
    return len(np.broadcast_shapes(*shapes)), before, True


def _gather_index_batch(op, args, bdims, subscript):
    x, dx = args[0], bdims[0]
    indices, idims = list(args[1:]), list(bdims[1:])
    pe_shapes = [tuple(i.shape[:d]) + tuple(i.shape[d + 1:]) if d is not None else tuple(i.shape)
                 for i, d in zip(indices, idims)]
    n_adv, before, _ = _index_layout(subscript, pe_shapes, x.ndim - (dx is not None))
    if all(d is None for d in idims):  # the same indices for every example: a full slice for the batch
        out = bind("gather_index", to_front(x, dx), *indices, subscript=(_FULL,) + tuple(subscript))
        return out, (0 if _adjacent_from(subscript) else n_adv)
    out, size = _batched_gather(x, dx, indices, idims, subscript)
    # NumPy put (batch, advanced block) first; one example puts its advanced block after `before` axes
    order = [0] + list(range(1 + n_adv, 1 + n_adv + before)) + list(range(1, 1 + n_adv)) + \
        list(range(1 + n_adv + before, out.ndim))
    return bind("permute", out, dims=tuple(order)) if order != list(range(out.ndim)) else out, 0


def _adjacent_from(subscript) -> bool:
    """Whether the advanced items of ``subscript`` are adjacent (a full slice in front keeps them so)."""
    positions = [i for i, item in enumerate(subscript)
                 if isinstance(item, int) or (isinstance(item, tuple) and item[0] in ("input", "array"))]
    return not positions or positions == list(range(positions[0], positions[-1] + 1))


def _batched_gather(x, dx, indices, idims, subscript, op="gather_index", g=None, shape=None):
    """Example b's indices pick from example b: an arange over the batch joins the advanced items in front."""
    size = next(i.shape[d] for i, d in zip(indices, idims) if d is not None)
    indices = [to_front(i, d) if d is not None else i for i, d in zip(indices, idims)]
    rank = max(i.ndim - (d is not None) for i, d in zip(indices, idims))
    batch = np.arange(size, dtype=np.int64).reshape((size,) + (1,) * rank)
    ref = next(i for i in indices if isinstance(i, TensorBase))
    batch = ref.tracer.wrap(ref.tracer.lift(batch, "vmap")) if isinstance(ref, SymbolicTensor) else type(ref)(batch)
    indices = [pad_after_batch(i, rank) if d is not None else i for i, d in zip(indices, idims)]
    sub = (("input", len(indices)),) + tuple(subscript)
    if op == "gather_index":
        return bind("gather_index", broadcast_batch(x, dx, size), *indices, batch, subscript=sub), size
    return bind("scatter_add_index", g, *indices, batch, subscript=sub, shape=(size,) + tuple(shape)), size


primitive("gather_index", memory="fresh", batch=_gather_index_batch,
          attrs=("subscript",), infer=_gather_index_type, joint_vjp=_gather_index_vjp,
          doc="x[subscript] where int64 index tensors (inputs 1, 2, ...) stand at ('input', k)",
          expr=lambda a, xp, out, subscript: [f"{a[0]}[{_subscript_text(subscript, a[1:], xp, False)}]"])


def _scatter_add_index_expr(a, xp, out, subscript, shape):
    z = f"{out}_zeros"
    # add.at accumulates repeated indices, where z[idx] += g would keep only one of them
    return [f"{z} = {xp}.zeros({shape}, dtype={a[0]}.dtype)",
            f"{xp}.add.at({z}, {_subscript_text(subscript, a[1:], xp, True)}, {a[0]})", z]


def _scatter_add_index_vjp(g, out, needs, gx, *indices, subscript, shape):
    first = bind("gather_index", g, *indices, subscript=subscript) if needs[0] else None
    return [first] + [None] * len(indices)


def _scatter_add_index_batch(op, args, bdims, subscript, shape):
    g, dg = args[0], bdims[0]
    indices, idims = list(args[1:]), list(bdims[1:])
    pe_shapes = [tuple(i.shape[:d]) + tuple(i.shape[d + 1:]) if d is not None else tuple(i.shape)
                 for i, d in zip(indices, idims)]
    n_adv, before, _ = _index_layout(subscript, pe_shapes, len(shape))
    if all(d is None for d in idims):  # g laid out as the batched gather_index gives it
        size = g.shape[dg]
        g = moveaxis(g, dg, 0 if _adjacent_from(subscript) else n_adv)
        return bind("scatter_add_index", g, *indices, subscript=(_FULL,) + tuple(subscript),
                    shape=(size,) + tuple(shape)), 0
    size = next(i.shape[d] for i, d in zip(indices, idims) if d is not None)
    g = broadcast_batch(g, dg, size)
    # one example's layout (before, advanced block, rest) -> NumPy's (batch, advanced block, before, rest)
    order = [0] + list(range(1 + before, 1 + before + n_adv)) + list(range(1, 1 + before)) + \
        list(range(1 + before + n_adv, g.ndim))
    g = bind("permute", g, dims=tuple(order)) if order != list(range(g.ndim)) else g
    return _batched_gather(None, None, indices, idims, subscript, "scatter_add_index", g, shape)[0], 0


primitive("scatter_add_index", memory="fresh", batch=_scatter_add_index_batch,
          attrs=("subscript", "shape"), joint_vjp=_scatter_add_index_vjp,
          infer=lambda inputs, subscript, shape: TensorType(tuple(shape), inputs[0].dtype),
          doc="the adjoint of gather_index: g added into zeros of `shape` at the subscript",
          expr=_scatter_add_index_expr)


# -- sorting: the order is an integer op (no gradient); the values are a gather by it -------------------------
def argsort(x: TensorBase, dim: int = -1, descending: bool = False, stable: bool = False) -> TensorBase:
    """Indices that sort ``x`` along ``dim`` (always stable ascending: ties keep their order; ``stable`` is
    accepted for PyTorch's signature, which ``graphgrad.argsort`` passes on)."""
    (d,) = normalize_dims(dim, x.ndim)
    order = bind("argsort", x, dim=d)
    return order.flip(d) if descending else order


primitive("argsort", batch=along_axis, attrs=("dim",), infer=lambda inputs, dim: TensorType(inputs[0].shape, "int64"), nondiff=True,
          expr=lambda a, xp, out, dim: [f"{xp}.argsort({a[0]}, axis={dim}, kind='stable')"],
          doc="indices that sort x along dim (stable)", fn=argsort, tensor="argsort")


SortResult = namedtuple("SortResult", ["values", "indices"])


def sort(x: TensorBase, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """``(values, indices)`` of ``x`` sorted along ``dim``: the values gathered at ``argsort``'s indices, so the
    gradient flows back to where each value came from (the traced form of ``Tensor.sort``)."""
    (d,) = normalize_dims(dim, x.ndim)
    index = argsort(x, d, descending, stable)
    return SortResult(bind("gather", x, index, dim=d), index)


export(sort, "sort", tensor="sort")


def _numpy_argsort(a, axis=-1, kind=None, order=None):
    if axis is None:
        return argsort(a.reshape(-1), 0)
    return argsort(a, axis)


def _numpy_sort(a, axis=-1, kind=None, order=None):
    """``numpy.sort``'s values: a gather by ``argsort``, so the gradient goes back to each value's place."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    (d,) = normalize_dims(axis, a.ndim)
    return gather(a, d, argsort(a, d))


export(_numpy_argsort, "argsort", numpy="argsort")
export(_numpy_sort, "sort", numpy="sort")


# -- partition: the order is NumPy's introselect (an integer op, no gradient); the values are a gather by it ---
def _kth(kth, n: int) -> tuple:
    """``kth`` (an int or a sequence of them) as non-negative positions, checked as NumPy does."""
    items = tuple(kth) if isinstance(kth, (list, tuple, np.ndarray)) else (kth,)
    out = []
    for k in items:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"Partition index must be integer, got {type(k).__name__}")
        if not -n <= k < n:
            raise ValueError(f"kth(={k}) out of bounds ({n})")
        out.append(int(k) % n)
    return tuple(out)


def _argpartition_batch(op, args, bdims, dim, kth):
    return bind(op, to_front(args[0], bdims[0]), dim=dim + 1, kth=kth), 0


primitive("argpartition", batch=_argpartition_batch, attrs=("dim", "kth"), nondiff=True,
          infer=lambda inputs, dim, kth: TensorType(inputs[0].shape, "int64"),
          expr=lambda a, xp, out, dim, kth: [f"{xp}.argpartition({a[0]}, {list(kth)!r}, axis={dim})"],
          doc="indices that partition x along dim around the kth positions (NumPy's argpartition)")


def _partition_order(a: TensorBase, kth, axis):
    if axis is None:
        a, axis = a.reshape(-1), 0
    (d,) = normalize_dims(axis, a.ndim)
    return a, d, bind("argpartition", a, dim=d, kth=_kth(kth, a.shape[d]))


def _numpy_argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """``numpy.argpartition``: indices putting each ``kth`` element in its sorted place, smaller ones before it
    and larger ones after (in no particular order)."""
    return _partition_order(a, kth, axis)[2]


def _numpy_partition(a, kth, axis=-1, kind="introselect", order=None):
    """``numpy.partition``'s values: a gather by ``argpartition``, so (as for ``sort``) the gradient goes back to
    each value's place, and is itself differentiable.

    >>> import numpy as np, graphgrad as gg, graphgrad.numpy as gnp
    >>> gg.grad(lambda x: gnp.partition(x, 1)[1])(np.array([3.0, 1.0, 2.0]))
    array([0., 0., 1.])
    """
    a, d, order = _partition_order(a, kth, axis)
    return gather(a, d, order)


export(_numpy_argpartition, "argpartition", numpy="argpartition")
export(_numpy_partition, "partition", numpy="partition")


# -- functional item updates: x.at[i].set(v), x.at[i].add(v), graphgrad.index_update(x, i, v) --------------
def _placed(x: TensorBase, index, v):
    """``x``-shaped zeros holding ``v`` at ``x[index]`` (added where an index repeats), and the mask of the
    positions written: the adjoint of ``getitem`` applied to ``v``."""
    items = index if isinstance(index, tuple) else (index,)
    if any(_is_mask(i) for i in items):
        items = _masks_to_positions(x, items)
    if any(isinstance(i, TensorBase) for i in items):
        raise NotImplementedError("x.at[i] with an index tensor: use a list or NumPy array of indices, or "
                                  "graphgrad.scatter_add")
    enc = encode_index(items if isinstance(index, tuple) or len(items) != 1 else items[0])
    picked = bind("getitem", x, index=enc)
    if not isinstance(v, TensorBase):
        v = constant_like(x, v, np.dtype(x._type.dtype))
    v = v._cast(x._type.dtype)
    if tuple(v.shape) != tuple(picked.shape):
        v = v.reshape((1,) * (picked.ndim - v.ndim) + tuple(v.shape)).expand(tuple(picked.shape))
    placed = bind("index_add_zeros", v, index=enc, shape=x._type.shape)
    written = bind("index_add_zeros", bind("full_like", picked, value=1.0), index=enc, shape=x._type.shape) != 0
    return placed, written


def index_update(x: TensorBase, index, v) -> TensorBase:
    """``x`` with ``x[index]`` replaced by ``v`` (broadcast), as a new tensor: the functional form of
    ``x[index] = v``, differentiable in ``x`` and ``v`` (JAX's ``x.at[index].set(v)``).

    >>> import graphgrad as gg
    >>> gg.index_update(gg.zeros(4), slice(1, 3), 5.0)
    tensor([0., 5., 5., 0.])
    """
    placed, written = _placed(x, index, v)
    return bind("where", written, placed, x)


class _At:
    """``x.at[index]``: ``.set(v)``, ``.add(v)`` (repeated indices accumulate) and ``.get()``, each a new tensor."""

    __slots__ = ("_x", "_index")

    def __init__(self, x, index):
        self._x, self._index = x, index

    def set(self, v) -> TensorBase:
        return index_update(self._x, self._index, v)

    def add(self, v) -> TensorBase:
        return self._x + _placed(self._x, self._index, v)[0]

    def get(self) -> TensorBase:
        return self._x[self._index]


class _AtIndexer:
    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __getitem__(self, index) -> _At:
        return _At(self._x, index)


export(index_update, "index_update", gg="index_update")
export(property(lambda x: _AtIndexer(x)), "index_update", tensor="at")
