"""Indexing: ``x[index]`` (basic and integer-array indices baked into the op), rows picked by an index
tensor (an input of the op: embeddings, batches), and their adjoints."""
from __future__ import annotations

import re
import sys
import warnings
from typing import Callable

import numpy as np

from ..codegen.expressions import subscript
from ..ir import return_types
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import (ShapeError, broadcast_shapes, decode_index, encode_index, has_array_index, is_type,
                            normalize_dims,
                           numpy_semantics)
from ..ir.types import TensorType
from ..passes.batching import broadcast_batch, elementwise, moveaxis, pad_after_batch, to_front
from ..passes.row_decomposition import PARAM, REDUCED, Row, RowCouplingError, same_rows
from ..tracer.tracer import ACTIVE, WRITE_THROUGH, SymbolicTensor, TracerError, _user_frame, _where, user_location
from . import numpy_functions
from .define import constant_like, primitive, refuse_traced
from .reductions import NOT_GIVEN


def check_range(index: TensorBase, rule: str, size: int) -> TensorBase:
    """``index`` itself, once its values are checked to lie in ``[0, size)``, raising PyTorch's error (its words
    chosen by ``rule``: ``"dimension d"``, ``"self"``, ``"Target"`` or ``"class"``) where one does not. NumPy
    indexing takes a negative index from the end, so without it ``gather``, ``index_select``, ``embedding`` and
    ``nll_loss`` would read the wrong element silently; compiled, the check is a line of the generated code.

    >>> import graphgrad as gg
    >>> from graphgrad.ops.indexing import check_range
    >>> check_range(gg.tensor([0, 2]), "Target", 3)
    tensor([0, 2])
    >>> check_range(gg.tensor([0, -1]), "Target", 3)
    Traceback (most recent call last):
    IndexError: Target -1 is out of bounds.
    """
    return bind("check_range", index, rule=rule, size=int(size))


primitive("check_range", memory="view", nondiff=True, attrs=("rule", "size"), infer=lambda inputs, rule, size: inputs[0],
          doc="x itself, once its values are checked to be indices in [0, size) (else PyTorch's error, as rule names it)",
          expr=lambda a, xp, out, rule, size: [f"check_range({a[0]}, {rule!r}, {size})"],
          helpers=(numpy_functions.check_range,), errors=lambda arrays, error, **attrs: error,
          batch=elementwise, rows=same_rows, fn=check_range)


def _size_along(x: TensorBase, d: int) -> int:
    return x.shape[d] if x.ndim else 1  # (a 0-d tensor has one element along its dim 0, as in PyTorch)


_NUMPY_OUT_OF_BOUNDS = re.compile(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)")
_NUMPY_TOO_MANY = re.compile(r"too many indices for array: array is (\d+)-dimensional")


def torch_index_error(error: IndexError, shape=None) -> IndexError:
    """NumPy's "index 5 is out of bounds for axis 0 with size 4" and "too many indices for array" in PyTorch's
    words, other indexing errors naming the indexed ``shape``."""
    found = _NUMPY_OUT_OF_BOUNDS.search(str(error))
    if found:
        return IndexError("index {} is out of bounds for dimension {} with size {}".format(*found.groups()))
    found = _NUMPY_TOO_MANY.search(str(error))
    if found:
        ndim = int(found.group(1))
        return IndexError(f"too many indices for tensor of dimension {ndim}" if ndim else
                          "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in "
                          "C++ to convert a 0-dim tensor to a number")
    return IndexError(f"{error} (indexing a tensor of shape {list(shape)})" if shape is not None else str(error))


def _index_shape(shape: tuple, index: tuple) -> tuple:
    """The result shape of NumPy basic/advanced indexing, computed on a zero-size probe."""
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.int8), shape=shape, strides=(0,) * len(shape))
    try:
        return probe[decode_index(index)].shape
    except IndexError as e:
        raise torch_index_error(e, shape) from None


def _lists(x):
    return [_lists(i) for i in x] if isinstance(x, tuple) else x


def _array_literal(values, xp) -> str:
    """An encoded integer index array as source text; an empty one says its dtype (``np.array([])`` is float64,
    which NumPy refuses as an index: ``x[mask]`` of an all-false mask failed)."""
    flat = np.asarray(_lists(values))
    return f"{xp}.array({_lists(values)!r}{', dtype=' + xp + '.int64' if flat.size == 0 else ''})"


def _index_tuple(index, xp) -> str:
    """The index as a tuple expression, for ``add.at``: ``(slice(1, 3, None), np.array([0, 2]))``."""
    parts = []
    for item in index:
        if isinstance(item, tuple) and item[0] == "array":
            parts.append(_array_literal(item[1], xp))
        elif isinstance(item, tuple) and item[0] == "slice":
            parts.append(f"slice({item[1]!r}, {item[2]!r}, {item[3]!r})")
        else:
            parts.append("Ellipsis" if item == "..." else repr(item))
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


# -- x[index] -----------------------------------------------------------------------------------
def _scalar_tensors_as_ints(index):
    """PyTorch reads a 0-d integer tensor in an eager index as the integer it holds: ``x[torch.tensor(1)]`` is
    ``x[1]``, a view whose updates reach ``x``, not a gathered copy."""
    def item(i):
        return int(i.item()) if isinstance(i, TensorBase) and i._type.dtype == "int64" and not i._type.shape else i
    return tuple(map(item, index)) if isinstance(index, tuple) else item(index)


def getitem(x: TensorBase, index: TensorBase) -> TensorBase:
    """``x[index]``: basic indexing and integer arrays (baked into the op); int64 index tensors, which become
    inputs of the op (``x[i]``, ``x[:, i]``, ``x[i, j]``, ``x[..., i]``: a new index needs no new kernel and
    traced indices work); boolean masks in eager mode (``x[x > 0]``, PyTorch's semantics)."""
    if not ACTIVE.stack and not isinstance(x, SymbolicTensor):
        index = _scalar_tensors_as_ints(index)
    if isinstance(index, TensorBase) and index._type.dtype == "int64":
        return bind("gather_rows", x, index)
    index = torch_sequence_index(index)
    items = index if isinstance(index, tuple) else (index,)
    steps = torch_index_steps(items)
    if len(steps) > 1:
        return getitem(getitem(x, steps[0]), steps[1])
    if any(_is_mask(i) for i in items):
        items = _masks_to_positions(x, items)
    if any(isinstance(i, TensorBase) and i._type.dtype == "int64" for i in items):
        return _gather_index(x, items)
    items = tuple(i._index_array() if isinstance(i, TensorBase) else i for i in items)
    return bind("getitem", x, index=encode_index(items if isinstance(index, tuple) or len(items) != 1
                                                 else items[0]))


def torch_sequence_index(index):
    """A list index as PyTorch reads it: NumPy's old rule, a short list holding a sequence, tensor, slice,
    ``None`` or ``...`` is a tuple of indices (``x[[[0, 1], [1, 0]]]`` is ``x[[0, 1], [1, 0]]``, two elements),
    where NumPy now takes the whole list as one array index. NumPy code traced on arrays keeps NumPy's rule."""
    if index.__class__ is not list or len(index) >= 32 or numpy_semantics():
        return index
    if any(isinstance(i, (list, tuple, range, slice, np.ndarray, TensorBase)) or i is None or i is Ellipsis
           for i in index):
        frame = _user_frame(sys._getframe(1))
        if frame is not None:  # PyTorch's warning, once per line of the user's code
            warnings.warn_explicit(SEQUENCE_INDEX_WARNING, UserWarning, frame.f_code.co_filename, frame.f_lineno,
                                   registry=frame.f_globals.setdefault("__warningregistry__", {}))
        return tuple(index)
    return index


SEQUENCE_INDEX_WARNING = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in pytorch 2.9; "
    "use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor index, "
    "x[torch.tensor(seq)], which will result either in an error or a different result")


def _is_select(item) -> bool:
    """An int or a 0-d integer tensor: PyTorch selects with it (removing its dim) before any advanced indexing."""
    if isinstance(item, (bool, np.bool_)):
        return False
    if isinstance(item, (int, np.integer)):
        return True
    if isinstance(item, TensorBase):
        return item.ndim == 0 and item._type.dtype == "int64"
    return isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu"


def _is_bool_scalar(item) -> bool:
    """A 0-d bool tensor or array (a Python bool is refused by ``encode_index``)."""
    if isinstance(item, TensorBase):
        return item.ndim == 0 and item._type.dtype == "bool"
    return isinstance(item, (np.ndarray, np.bool_)) and np.ndim(item) == 0 and np.asarray(item).dtype == bool


def _is_advanced(item) -> bool:
    return isinstance(item, (TensorBase, np.ndarray, list)) and not _is_select(item) and not _is_bool_scalar(item)


def torch_index_steps(items: tuple) -> list:
    """PyTorch's index ``items`` as NumPy indexes applied one after the other: usually ``[items]`` itself.

    Two steps where the two differ. PyTorch applies ints (and 0-d integer tensors) as selects before the advanced
    (array, mask) indices, so ``x[1, :, [0, 1]]`` of a (3, 4, 5) tensor is ``x[1][:, [0, 1]]``, of shape (4, 2);
    NumPy counts the int as advanced, separated from the list by a slice, and puts the advanced dims first,
    (2, 4). And a 0-d bool mask adds a dim indexed by ``[0]`` (True) or ``[]`` (False), broadcast with the other
    advanced indices. The first step does the selects (and the 0-d masks' new dims), the second the rest."""
    bool_scalars = any(_is_bool_scalar(i) for i in items)
    if not bool_scalars and not (any(_is_select(i) for i in items) and any(_is_advanced(i) for i in items)) \
            or numpy_semantics():  # NumPy code under a transform: NumPy's layout, as it has run on arrays
        return [items]
    first, second = [], []
    for item in items:
        if _is_select(item):
            first.append(item)
        elif _is_bool_scalar(item):
            if isinstance(item, TensorBase) and item._level > 0:
                raise _traced_mask_error()
            first.append(None)
            value = bool(item._index_array() if isinstance(item, TensorBase) else item)
            second.append(np.zeros(1 if value else 0, dtype=np.int64))
        elif item is None or isinstance(item, slice):
            first.append(item)
            second.append(slice(None))
        elif item is Ellipsis:
            first.append(Ellipsis)
            second.append(Ellipsis)
        else:  # an advanced index: applied in the second step, to every dim it indexes (a mask's several)
            first.extend([slice(None)] * (np.ndim(item) if _is_mask(item) else 1))
            second.append(item)
    return [tuple(first), tuple(second)]


def _traced_mask_error():
    from ..tracer.tracer import TracerError, _where, user_location
    return TracerError("indexing with a boolean mask inside a compiled function: the result's shape would "
                       "depend on the mask's values; use graphgrad.where(mask, x, 0.0) (and a sum or "
                       f"mean over it) instead{_where(user_location(2))}")


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
            raise _traced_mask_error()
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
    if has_array_index(index):
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


def _getitem_torch_name(attrs, in_types) -> str:
    """An integer-array index is PyTorch's IndexBackward0. A basic index PyTorch applies left to right (select for
    an int, slice for a slice that is not the whole axis, unsqueeze for None); the last of these names the result's
    node: ``x[:, 0]`` is SelectBackward0."""
    index, shape = attrs["index"], in_types[0].shape
    if any(isinstance(i, tuple) and i[0] == "array" for i in index):
        return "IndexBackward0"
    name, axis = "AliasBackward0", 0
    consuming = sum(1 for i in index if i is not None and i != "...")
    for item in index:
        if item == "...":
            axis = len(shape) - consuming + sum(1 for i in index[:index.index("...")] if i is not None)
        elif item is None:
            name = "UnsqueezeBackward0"
        elif isinstance(item, tuple):  # ("slice", start, stop, step)
            if slice(*item[1:]).indices(shape[axis]) != (0, shape[axis], 1):
                name = "SliceBackward0"
            axis += 1
        else:
            name, axis = "SelectBackward0", axis + 1
    return name


primitive("getitem", memory="view", view=True, zero_signs="through", batch=_getitem_batch, torch_name=_getitem_torch_name,
          attrs=("index",), doc="basic and integer-array indexing; index is an encoded tuple",
          rows=_getitem_rows,
          infer=lambda inputs, index: TensorType(_index_shape(inputs[0].shape, index), inputs[0].dtype),
          vjp=(lambda g, out, x, *, index: bind("index_add_zeros", g, index=index, shape=x._type.shape),),
          expr=_getitem_expr, fn=getitem, tensor="__getitem__")


# -- its adjoint ----------------------------------------------------------------------------------
def _index_add_zeros_expr(a, xp, out, index, shape):
    z = f"{out}_zeros"
    if has_array_index(index):
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


primitive("index_add_zeros", memory="fresh", zero_signs="through", batch=_index_add_zeros_batch, attrs=("index", "shape"),
          torch_name="IndexPutBackward0",
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
          torch_name="IndexBackward0",
          doc="x[index] for an int64 index tensor of any shape: rows of x along its first axis",
          vjp=(lambda g, out, x, index: bind("scatter_add_rows", g, index, rows=x._type.shape[0]), None),
          # asarray: a NumPy integer scalar index (argmin's result) would pick a row as a view, not the fresh array
          # the memory plan writes into
          expr=lambda a, xp, out: [f"{a[0]}[{xp}.asarray({a[1]})]"])


def _scatter_add_rows_expr(a, xp, out, rows):
    if xp == "np":  # (add.at by element positions: see numpy_functions.add_rows)
        return [f"add_rows({rows}, {a[1]}, {a[0]})"]
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
          helpers=(numpy_functions.add_rows,),
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
    """Setup lines: the index tuple that picks ``x[..., index[i, j, k], ...]`` at position (i, j, k)."""
    return [f"{out}_grid = {xp}.ix_(*[{xp}.arange(n) for n in {a[1]}.shape])",
            f"{out}_at = {out}_grid[:{dim}] + ({a[1]},) + {out}_grid[{dim + 1}:]"]


def gather(x: TensorBase, dim: int, index: TensorBase) -> TensorBase:
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` for ``dim=0`` (and so on): PyTorch's ``gather``.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).gather(1, gg.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    (d,) = normalize_dims(dim, x.ndim)
    if isinstance(index, TensorBase):
        index = check_range(index, f"dimension {d}", _size_along(x, d))
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


def _scatter_type(op: str, inputs, dim) -> TensorType:
    """The type of ``op`` scattering ``src`` into ``x`` at ``index`` along ``dim``: ``x``'s."""
    x, index, src = inputs
    _check_index(op, x, dim, index)
    if src.dtype != x.dtype:
        raise ShapeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if tuple(src.shape) != tuple(index.shape):
        raise ShapeError(f"{op}: src {list(src.shape)} must have the index's shape {list(index.shape)}")
    return TensorType(x.shape, x.dtype)


def _scatter_add_type(inputs, dim):
    return _scatter_type("scatter_add", inputs, dim)


def _flat_grid(a, xp, out, dim) -> tuple[list, Callable]:
    """Setup lines, and how an ``.at`` call or an assignment names its positions: with NumPy the flat positions in
    x of a flat view (``flat_positions``), which take ufunc.at's fast path (a scatter_reduce of 20,000 x 64
    elements: 25 -> 6.8 ms); CuPy keeps ``_grid``'s index tuple. The index was checked to lie in range."""
    if xp != "np":
        return _grid(a, xp, out, dim), lambda array, values=None: (array, f"{out}_at") + (
            () if values is None else (values,))
    lines = [f"{out}_flat = flat_positions({a[0]}.shape, {a[1]}, {dim})"]
    return lines, lambda array, values=None: (f"{array}.reshape(-1)", f"{out}_flat") + (
        () if values is None else (f"{values}.reshape(-1)",))


def _scatter_add_expr(a, xp, out, dim):
    # add.at accumulates repeated indices, where z[at] += src would keep only one of them
    lines, at = _flat_grid([a[0], a[1]], xp, out, dim)
    return [f"{out}_sum = {a[0]}.copy()"] + lines + [f"{xp}.add.at({', '.join(at(f'{out}_sum', a[2]))})", f"{out}_sum"]


def scatter_add(x: TensorBase, dim: int, index: TensorBase, src: TensorBase) -> TensorBase:
    """A copy of ``x`` with ``src[i][j][k]`` added at ``[index[i][j][k]][j][k]`` (for ``dim=0``), repeated
    indices accumulating: PyTorch's ``scatter_add``. Only the part of ``src`` the index covers is used.

    >>> import graphgrad as gg
    >>> gg.zeros(3).scatter_add(0, gg.tensor([0, 2, 0]), gg.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    (d,) = normalize_dims(dim, x.ndim)
    if not x.ndim and isinstance(index, TensorBase) and isinstance(src, TensorBase):  # (one element, as PyTorch's)
        return scatter_add(x.reshape(1), 0, index.reshape(-1), src.reshape(-1)).reshape(())
    if isinstance(src, TensorBase) and src._type.dtype != x._type.dtype:  # eager add.at would cast silently
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if isinstance(src, TensorBase) and tuple(src.shape) != tuple(index.shape) and src.ndim == index.ndim:
        src = src[tuple(slice(0, n) for n in index.shape)]
    if isinstance(index, TensorBase):
        index = check_range(index, f"dimension {d}", _size_along(x, d))
    return bind("scatter_add", x, index, src, dim=d)


primitive("scatter_add", memory="fresh", batch=_along_dim_batch, attrs=("dim",), infer=_scatter_add_type,
          helpers=(numpy_functions.flat_positions,),
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
    index = check_range(index, "self", _size_along(x, d))
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
    return out._cast(x._type.dtype)._shown_as("MaskedFillBackward0")


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
        raise torch_index_error(e, x.shape) from None
    return TensorType(shape, x.dtype)


def _subscript_text(subscript, args, xp, as_tuple: bool) -> str:
    """``a0[:, a1]`` subscript text, or the same index as a tuple expression for ``add.at``."""
    parts = []
    for item in subscript:
        if isinstance(item, tuple) and item[0] == "input":
            parts.append(args[item[1]])
        elif isinstance(item, tuple) and item[0] == "array":
            parts.append(_array_literal(item[1], xp))
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
def argsort(x: TensorBase, dim: int = -1, descending: bool = False, stable: bool = False, *, axis=NOT_GIVEN,
            kind=None) -> TensorBase:
    """Indices that sort ``x`` along ``dim`` (always stable: ties keep their order; ``stable`` is accepted for
    PyTorch's signature, which ``graphgrad.argsort`` passes on; nan sorts as the largest value). NumPy's ``axis=`` (None: the
    flattened tensor) and ``kind=`` are accepted too."""
    if axis is not NOT_GIVEN:
        x, dim = (x.reshape(-1), 0) if axis is None else (x, axis)
    (d,) = normalize_dims(dim, x.ndim)
    return bind("argsort", x, dim=d, descending=bool(descending))


def _argsort_expr(a, xp, out, dim, descending):
    if not descending:
        return [f"{xp}.argsort({a[0]}, axis={dim}, kind='stable')"]
    # PyTorch's descending order: nan first (the largest), equal values in their own order. The ascending order
    # reversed would reverse the ties; of -x, put nan last (and overflow INT_MIN): the ascending order of x
    # reversed along dim, itself reversed, counted from the other end
    return [f"{a[0]}.shape[{dim}] - 1 - {xp}.flip({xp}.argsort({xp}.flip({a[0]}, {dim}), axis={dim}, "
            f"kind='stable'), {dim})"]


primitive("argsort", attrs=("dim", "descending"), infer=lambda inputs, dim, descending: TensorType(inputs[0].shape, "int64"),
          nondiff=True, expr=_argsort_expr, fn=argsort, tensor="argsort",
          batch=lambda op, args, bdims, dim, descending: (
              bind(op, to_front(args[0], bdims[0]), dim=dim + 1, descending=descending), 0),
          doc="indices that sort x along dim (stable; descending: nan first, as PyTorch's)")


def sort(x: TensorBase, dim: int = -1, descending: bool = False, stable: bool = False) -> return_types.sort:
    """``(values, indices)`` of ``x`` sorted along ``dim``: the values gathered at ``argsort``'s indices, so the
    gradient flows back to where each value came from (the traced form of ``Tensor.sort``)."""
    (d,) = normalize_dims(dim, x.ndim)
    if not x.ndim:  # (one element: itself, at 0)
        values, indices = sort(x.reshape(1), 0, descending, stable)
        return return_types.sort(values.reshape(()), indices.reshape(()))
    index = argsort(x, d, descending, stable)
    return return_types.sort(bind("gather", x, index, dim=d), index)  # torch.return_types.sort, as eager returns


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
def _repeats_lost(shape: tuple, enc) -> np.ndarray | None:
    """For an index holding integer arrays (known while tracing), which elements of ``x[index]`` an assignment
    overwrites by a later one at the same position (of repeated positions the last write wins, as in NumPy and
    PyTorch): a bool array shaped like ``x[index]``, or None where no position repeats."""
    if not has_array_index(enc):
        return None
    positions = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)[decode_index(enc)]
    flat = positions.reshape(-1)
    last = flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]
    if last.size == flat.size:
        return None
    lost = np.ones(flat.size, dtype=bool)
    lost[last] = False
    return lost.reshape(positions.shape)


def _placed(x: TensorBase, index, v, last_wins: bool = False):
    """``x``-shaped zeros holding ``v`` at ``x[index]`` (added where an index repeats, or with ``last_wins`` the
    last of the repeats), and the mask of the positions written: the adjoint of ``getitem`` applied to ``v``."""
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
    lost = _repeats_lost(tuple(x.shape), enc) if last_wins else None
    if lost is not None:  # (the overwritten writes add zeros, and get no gradient)
        v = bind("where", constant_like(x, lost), 0, v)
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
    placed, written = _placed(x, index, v, last_wins=True)
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


def _traced_setitem(x: SymbolicTensor, index, value) -> None:
    """``x[index] = value`` in a function ``graphgrad.compile`` traces: eager's in-place write (PyTorch's
    ``CopySlices``), recorded as ``index_update`` (``where`` for a mask of ``x``'s shape) and made an update of
    ``x`` (``Tracer.mutate``: later reads see it, an argument is written back, indexed views taken before are
    taken again). The pure functions transforms trace refuse it, as JAX and HIPS autograd do."""
    if any(t.pure is not None for t in ACTIVE.stack if hasattr(t, "pure")):
        return _refuse_item_assignment(x, index, value)
    items = index if isinstance(index, tuple) else (index,)
    mask = items[0] if len(items) == 1 else None
    if isinstance(mask, TensorBase) and mask._type.dtype == "bool" and tuple(mask.shape) == tuple(x.shape) \
            and (not isinstance(value, TensorBase) or value._type.shape in ((), (1,))):
        new = bind("where", mask, value if not isinstance(value, TensorBase) else value.reshape(()), x)
    elif any(isinstance(i, TensorBase) for i in items):
        new = _index_tensor_update(x, items, value)
    else:
        index = torch_sequence_index(index)
        steps = torch_index_steps(index if isinstance(index, tuple) else (index,))
        if len(steps) == 1:
            new = index_update(x, index, value)
        else:  # PyTorch's order: x[1, :, [0, 2]] = v is x[1][:, [0, 2]] = v
            first, second = steps
            new = index_update(x, first, index_update(x[first], second, value))
    x.tracer.mutate(x, new, "item assignment (x[i] = v)", user_location(2))


def _full(item) -> bool:
    return item is Ellipsis or (isinstance(item, slice) and item == slice(None))


def _index_tensor_update(x, items: tuple, value):
    """``x[..., i, ...] = v`` for one 1-d (or 0-d) integer index tensor among full slices: ``index_copy`` along
    its dimension; ``x[i, j] = v`` for integer index tensors (and numbers) leading the index: ``index_put``. Of
    repeated indices the last wins, as PyTorch's CPU kernel; negative indices count from the end. Other index
    tensors are refused at the user's line."""
    lead = 0
    while lead < len(items) and (_is_select(items[lead]) or (
            isinstance(items[lead], TensorBase) and items[lead]._type.dtype == "int64")):
        lead += 1
    if lead > 1 and all(_full(i) for i in items[lead:]):
        indices = tuple(i if isinstance(i, TensorBase) else constant_like(x, int(i), np.dtype(np.int64))
                        for i in items[:lead])
        if not isinstance(value, TensorBase):
            value = constant_like(x, value, np.dtype(x._type.dtype))
        return index_put(x, indices, value._cast(x._type.dtype))
    position = [k for k, i in enumerate(items) if isinstance(i, TensorBase)]
    others = [i for k, i in enumerate(items) if k != position[0]]  # (compared by identity: tensors are among them)
    full = all(_full(i) for i in others)
    index = items[position[0]]
    if len(position) != 1 or not full or index._type.dtype != "int64" or index.ndim > 1 or \
            any(i is Ellipsis for i in items[:position[0]]):
        raise TracerError(
            f"item assignment with this index tensor (x[i] = v) inside a compiled function"
            f"{_where(user_location(3))}: supported are one 1-d integer index tensor among full slices (x[i] = v, "
            f"x[:, i] = v) and integer index tensors leading the index (x[i, j] = v, x[i, j, :] = v). Use a "
            f"boolean mask of x's shape (x[mask] = v), graphgrad.index_put, or run it eagerly.")
    d = position[0]
    index = index.reshape(-1)
    index = bind("where", index < 0, index + x.shape[d], index)
    shape = tuple(len(index) if k == d else n for k, n in enumerate(x.shape))
    if not isinstance(value, TensorBase):
        value = constant_like(x, value, np.dtype(x._type.dtype))
    value = value._cast(x._type.dtype)
    value = value.reshape((1,) * (len(shape) - value.ndim) + tuple(value.shape)).expand(shape)
    return index_copy(x, d, index, value)


def _write_through_getitem(base: SymbolicTensor, attrs: dict, new: SymbolicTensor):
    """``base`` with ``base[index]`` replaced by ``new``: an update of the view ``base[index]`` reaching its base
    (``x[0] += 1``, ``x[:, 1].mul_(2)``); None for an integer-array index, which copies in eager code too."""
    index = decode_index(attrs["index"])
    if has_array_index(attrs["index"]):
        return None
    return index_update(base, index, new)


WRITE_THROUGH["getitem"] = _write_through_getitem
export(index_update, "index_update", gg="index_update")
_refuse_item_assignment = SymbolicTensor.__setitem__
SymbolicTensor.__setitem__ = _traced_setitem
export(property(lambda x: _AtIndexer(x)), "index_update", tensor="at")


# -- take_along_dim, searchsorted, bucketize (PyTorch's) ------------------------------------------------------
def take_along_dim(input, indices, dim=None):
    """``input`` picked at ``indices`` along ``dim`` (a ``gather`` after broadcasting the other dimensions of the
    two), or of the flattened tensor at the flattened indices without ``dim``.

    >>> import graphgrad as gg
    >>> gg.tensor([[1.0, 5.0], [4.0, 2.0]]).take_along_dim(gg.tensor([[1], [0]]), 1)
    tensor([[5.],
            [4.]])
    """
    if not isinstance(indices, TensorBase) or indices._type.dtype != "int64":
        found = indices._type.dtype if isinstance(indices, TensorBase) else type(indices).__name__
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{ {'float32': 'Float', 'float64': 'Double', 'bool': 'Bool'}.get(found, found)}")
    if dim is None:
        return bind("gather", input.reshape(-1), indices.reshape(-1), dim=0)
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, but "
                           f"got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    (d,) = normalize_dims(dim, input.ndim)
    if input.ndim == 0:
        return bind("gather", input.reshape(1), indices.reshape(1), dim=0).reshape(())
    others = broadcast_shapes(tuple(1 if i == d else n for i, n in enumerate(input.shape)),
                                 tuple(1 if i == d else n for i, n in enumerate(indices.shape)))
    x_shape = tuple(input.shape[d] if i == d else n for i, n in enumerate(others))
    i_shape = tuple(indices.shape[d] if i == d else n for i, n in enumerate(others))
    x = input if tuple(input.shape) == x_shape else input.expand(x_shape)
    index = indices if tuple(indices.shape) == i_shape else indices.expand(i_shape)
    return bind("gather", x, index, dim=d)


export(take_along_dim, "take_along_dim", tensor="take_along_dim", gg="take_along_dim")


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False, side=None, out=None,
                 sorter=None):
    """Where each value of ``input`` would go in ``sorted_sequence`` (its last dimension; the leading ones match
    ``input``'s) to keep it sorted: the number of elements below it (``right``/``side='right'``: not above it); a nan
    value goes last. ``sorter`` sorts an unsorted sequence. Computed as counts of comparisons, so it traces and
    batches like any elementwise op (memory: the sequence's length times the number of values).

    >>> import graphgrad as gg
    >>> gg.searchsorted(gg.tensor([1.0, 3.0, 5.0]), gg.tensor([3.0, 4.0]))
    tensor([1, 2])
    >>> gg.searchsorted(gg.tensor([1.0, 3.0, 5.0]), gg.tensor([3.0, 4.0]), right=True)
    tensor([2, 2])
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    if out_int32:
        raise NotImplementedError("searchsorted(out_int32=True): graphgrad has no int32 dtype; the result is int64")
    if out is not None:
        raise NotImplementedError("searchsorted(out=...): use the returned tensor")
    seq = sorted_sequence
    scalar = not isinstance(input, TensorBase)
    values = constant_like(seq, input, np.dtype(seq._type.dtype) if isinstance(input, bool) else None) if scalar \
        else input
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           "of boundaries tensor and input value tensor must match, but we got boundaries tensor [] "
                           f"and input value tensor {list(values.shape)}")
    if seq.ndim > 1 and (values.ndim != seq.ndim or tuple(values.shape[:-1]) != tuple(seq.shape[:-1])):
        raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           f"of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(seq.shape)} and input value tensor {list(values.shape)}")
    if sorter is not None:
        if not isinstance(sorter, TensorBase) or sorter._type.dtype != "int64":
            raise RuntimeError("torch.searchsorted(): sorter must be a tensor of long dtype")
        if tuple(sorter.shape) != tuple(seq.shape):
            raise RuntimeError(f"torch.searchsorted(): boundary and sorter must have the same size, but got boundary "
                               f"tensor {list(seq.shape)}and got sorter tensor {list(sorter.shape)}")
        seq = bind("gather", seq, sorter, dim=seq.ndim - 1)
    if seq.ndim == 1:
        s, v = seq, values.unsqueeze(-1)
    else:
        s, v = seq.unsqueeze(-2), values.unsqueeze(-1)
    below = (s <= v) if right else (s < v)
    if values._type.is_floating:
        below = below | (v != v)  # a nan value sorts after everything
    return below.sum(-1)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False, out=None):
    """The bucket of each element of ``input`` between the sorted 1-D ``boundaries``: ``searchsorted(boundaries,
    input)`` (``right`` as there).

    >>> import graphgrad as gg
    >>> gg.bucketize(gg.tensor([0.5, 3.0, 9.0]), gg.tensor([1.0, 3.0, 5.0]))
    tensor([0, 1, 3])
    """
    if not isinstance(boundaries, TensorBase) or boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({getattr(boundaries, 'ndim', 0)})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


export(searchsorted, "searchsorted", gg="searchsorted")
export(bucketize, "bucketize", gg="bucketize")


# -- eager-only ops: the result's shape depends on the values (nonzero, masked_select, unique, bincount) --------
def _values(x: TensorBase, op: str, why: str) -> np.ndarray:
    """The NumPy values of an eager tensor, which decide the shape of ``op``'s result; a traced one is refused,
    naming the op (its shape would not be known when tracing)."""
    refuse_traced(x, op, why)
    data = x._index_array()
    return data if isinstance(data, np.ndarray) else data.get()


def _positions_depend(what: str) -> str:
    return (f"the number of {what} depends on the values, so the result's shape is not known when tracing; compute it "
            f"eagerly (outside the compiled function), or use graphgrad.where(mask, x, 0.0) with a sum or mean instead")


def nonzero(input, *, out=None, as_tuple: bool = False):
    """The indices of the non-zero elements: an ``(n, ndim)`` int64 tensor, or with ``as_tuple`` one 1-D tensor per
    dimension (a 0-d input counts as 1-D). Eager only: ``n`` depends on the values.

    >>> import graphgrad as gg
    >>> gg.tensor([[0, 1], [2, 0]]).nonzero()
    tensor([[0, 1],
            [1, 0]])
    """
    if out is not None:
        raise NotImplementedError("nonzero(out=...): use the returned tensor")
    return _nonzero(input, as_tuple, "nonzero")


def _nonzero(input, as_tuple: bool, op: str):
    data = _values(input, op, _positions_depend("non-zero elements"))
    if as_tuple:
        return tuple(constant_like(input, p.astype(np.int64)) for p in np.nonzero(np.atleast_1d(data)))
    return constant_like(input, np.argwhere(data).astype(np.int64))


def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` (bool, broadcast with ``input``) is true, as a 1-D tensor;
    differentiable in ``input``. The mask must be concrete (eager, or closed over by a compiled function): the
    result's length is its number of true elements.

    >>> import graphgrad as gg
    >>> x = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> gg.masked_select(x, x > 2)
    tensor([3., 4.])
    """
    if not isinstance(mask, TensorBase) or mask._type.dtype != "bool":
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    chosen = _values(mask, "masked_select", _positions_depend("selected elements"))
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    x = input if tuple(input.shape) == shape else input.expand(shape)
    return x.reshape(-1)[np.flatnonzero(np.broadcast_to(chosen, shape)).astype(np.int64)]


export(nonzero, "nonzero", tensor="nonzero", gg="nonzero")
export(masked_select, "masked_select", tensor="masked_select", gg="masked_select")


def _unique_result(like, values, inverse, counts, return_inverse, return_counts):
    out = constant_like(like, values)
    if not (return_inverse or return_counts):
        return out
    extra = ([constant_like(like, inverse.astype(np.int64))] if return_inverse else []) + \
        ([constant_like(like, counts.astype(np.int64))] if return_counts else [])
    return (out, *extra)


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim=None):
    """The distinct elements of ``input`` in ascending order (the distinct slices along ``dim``, in lexicographic
    order), with where each element went (``return_inverse``, ``input``'s shape; along ``dim``, one per slice) and
    how often each occurs (``return_counts``). nan elements are each distinct, as in PyTorch. Eager only; no
    gradient.

    >>> import graphgrad as gg
    >>> gg.tensor([3, 1, 3, 2]).unique(return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    data = _values(input, "unique", "the number of distinct elements depends on the values, so the result's shape "
                                    "is not known when tracing; compute it eagerly")
    if dim is None:
        values, inverse, counts = np.unique(data.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
        inverse = inverse.reshape(data.shape)
    else:
        (d,) = normalize_dims(dim, data.ndim)
        if data.ndim and data.shape[d] == 0:
            values, inverse, counts = data, np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True, axis=d)
            inverse = inverse.reshape(-1)
    return _unique_result(input, values, inverse, counts, return_inverse, return_counts)


def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """``input`` with each run of equal consecutive elements (slices along ``dim``) kept once, with the run each
    element belongs to (``return_inverse``) and the runs' lengths (``return_counts``). Eager only; no gradient.

    >>> import graphgrad as gg
    >>> gg.tensor([1, 1, 2, 2, 3, 1]).unique_consecutive()
    tensor([1, 2, 3, 1])
    """
    data = _values(input, "unique_consecutive", "the number of runs depends on the values, so the result's shape "
                                                "is not known when tracing; compute it eagerly")
    if dim is None:
        work, d = data.reshape(-1), 0
    else:
        (d,) = normalize_dims(dim, data.ndim)
        work = data.reshape(1) if data.ndim == 0 else data
    n = work.shape[d]
    moved = np.moveaxis(work, d, 0).reshape(n, -1)
    starts = np.ones(n, dtype=bool)
    if n:
        starts[1:] = (moved[1:] != moved[:-1]).any(axis=1)
    inverse = np.cumsum(starts) - 1
    values = np.compress(starts, work, axis=d)
    counts = np.diff(np.append(np.flatnonzero(starts), n))
    if dim is None:
        inverse = inverse.reshape(data.shape)
    return _unique_result(input, values, inverse, counts, return_inverse, return_counts)


export(unique, "unique", tensor="unique", gg="unique")
export(unique_consecutive, "unique_consecutive", tensor="unique_consecutive", gg="unique_consecutive")


_TORCH_TYPES = {"float32": "Float", "float64": "Double", "bool": "Bool", "int64": "Long"}


def bincount(input, weights=None, minlength: int = 0):
    """How often each value ``0, 1, ..., max(input)`` occurs in the 1-D non-negative int64 ``input`` (at least
    ``minlength`` counts), or the sum of ``weights`` at each value (in the weights' dtype). Eager only: the length
    depends on the values; no gradient.

    >>> import graphgrad as gg
    >>> gg.tensor([0, 1, 1, 3]).bincount()
    tensor([1, 2, 0, 1])
    """
    if input._type.dtype != "int64":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_TORCH_TYPES.get(input._type.dtype)}'")
    data = _values(input, "bincount", "the number of bins is the largest value plus one, so the result's shape is "
                                      "not known when tracing; compute it eagerly")
    if data.ndim != 1 or (data < 0).any():
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return constant_like(input, np.bincount(data, minlength=minlength).astype(np.int64))
    if not isinstance(weights, TensorBase) or weights.ndim != 1 or weights.shape[0] != data.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = _values(weights, "bincount", "its weights are read as values; compute it eagerly")
    dtype = w.dtype if w.dtype.kind == "f" else np.dtype(np.float64)
    return constant_like(input, np.bincount(data, w, minlength=minlength).astype(dtype))


export(bincount, "bincount", tensor="bincount", gg="bincount")


# -- scatter_reduce: src reduced into x at the positions an index names along dim --------------------------------
_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce_type(inputs, dim, reduce, include_self):
    return _scatter_type("scatter_reduce", inputs, dim)


def _scatter_reduce_expr(a, xp, out, dim, reduce, include_self):
    x, src, acc = a[0], a[2], f"{out}_acc"
    lines, at = _flat_grid([a[0], a[1]], xp, out, dim)
    lines.append(f"{acc} = {x}.copy()")
    if reduce in ("sum", "mean", "prod"):
        start = "1" if reduce == "prod" else "0"
        ufunc = "multiply" if reduce == "prod" else "add"
    else:
        ufunc = "maximum" if reduce == "amax" else "minimum"
        sign = "-" if reduce == "amax" else ""
        start = f"({sign}{xp}.inf if {x}.dtype.kind == 'f' else {xp}.iinfo({x}.dtype).{'min' if sign else 'max'})"
    if not include_self:  # the scattered positions start from the reduction's identity
        lines.append("{}[{}] = {}".format(*at(acc), start))
    lines.append(f"{xp}.{ufunc}.at({', '.join(at(acc, src))})")
    if reduce != "mean":
        return lines + [acc]
    count = f"{out}_count"
    lines += [f"{count} = {xp}.full({x}.shape, {1 if include_self else 0}, dtype={x}.dtype)",
              "{}[{}] = {}".format(*at(count), 1 if include_self else 0),
              f"{xp}.add.at({', '.join(at(count))}, 1)",
              f"{count}[{count} == 0] = 1"]  # positions nothing reached keep their value
    return lines + [f"{acc} / {count} if {x}.dtype.kind == 'f' else {acc} // {count}"]


def _scattered(like, index, dim):
    """Where ``index`` writes into a tensor shaped as ``like`` (bool)."""
    ones = bind("full_like", index, value=1)._cast(like._type.dtype)
    return bind("scatter_add", bind("full_like", like, value=0), index, ones, dim=dim) > 0


def _scatter_reduce_vjp(g, out, needs, x, index, src, *, dim, reduce, include_self):
    """PyTorch's ``scatter_reduce_backward``: sum and mean pass the (averaged) gradient, amax and amin share it
    among the elements equal to the result, prod is the product of the others (exact with one zero)."""
    def gather(t):
        return bind("gather", t, index, dim=dim)

    if reduce == "sum":
        grad_self, grad_src = g, gather(g)
    elif reduce == "mean":
        ones = bind("full_like", src, value=1)
        count = bind("scatter_add", bind("full_like", g, value=1 if include_self else 0), index, ones, dim=dim)
        count = bind("where", count == 0, 1, count)
        grad_self, grad_src = g / count, gather(g / count)
    elif reduce in ("amax", "amin"):
        value = gather(out)
        self_is = (x == out)._cast(g._type.dtype)
        src_is = (src == value)._cast(g._type.dtype)
        share = g / bind("scatter_add", self_is, index, src_is, dim=dim)
        grad_self, grad_src = self_is * share, src_is * gather(share)
    else:  # prod
        masked_self = bind("where", x == 0, 1, x)
        grad_self = g * bind("scatter_reduce", masked_self, index, src, dim=dim, reduce="prod",
                             include_self=include_self) / masked_self
        src_zero = src == 0
        zeros = gather(bind("scatter_add", bind("full_like", x, value=0), index, src_zero._cast(x._type.dtype),
                            dim=dim))
        single = src_zero & (zeros == 1)
        others = bind("scatter_reduce", x, index, bind("where", single, 1, src), dim=dim, reduce="prod",
                      include_self=include_self)
        grad_src = bind("where", single, gather(g * others), gather(g * out) / bind("where", src_zero, 1, src))
    if not include_self:
        grad_self = bind("where", _scattered(x, index, dim), 0, grad_self)
    return [grad_self if needs[0] else None, None, grad_src if needs[2] else None]


def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """A copy of ``input`` with the elements of ``src`` reduced (``"sum"``, ``"prod"``, ``"mean"``, ``"amax"``,
    ``"amin"``) into the positions ``index`` names along ``dim`` (``[index[i][j]][j]`` for ``dim=0``), together with
    the element there unless ``include_self=False``. Only the part of ``src`` the index covers is read. Gradients as
    PyTorch's (ties of amax/amin share it).

    >>> import graphgrad as gg
    >>> gg.zeros(3).scatter_reduce(0, gg.tensor([0, 2, 0]), gg.tensor([1.0, 2.0, 3.0]), "amax", include_self=False)
    tensor([3., 0., 2.])
    """
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    (d,) = normalize_dims(dim, input.ndim)
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError("scatter_reduce(): Expected dtype int64 for index")
    if isinstance(src, TensorBase) and src._type.dtype != input._type.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if isinstance(src, TensorBase) and tuple(src.shape) != tuple(index.shape) and src.ndim == index.ndim:
        src = src[tuple(slice(0, n) for n in index.shape)]
    index = check_range(index, f"dimension {d}", _size_along(input, d))
    return bind("scatter_reduce", input, index, src, dim=d, reduce=reduce, include_self=bool(include_self))


def scatter_reduce_(input, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """In-place ``scatter_reduce``: eagerly one in-place op, whose gradient rule gets the overwritten value it
    reads (amax compares it with the result), not the new one (a copy_ of the result raised that it had changed)."""
    def compute(old):
        return scatter_reduce(old, dim, index, src, reduce, include_self=include_self)

    if hasattr(input, "_inplace_with"):
        return input._inplace_with(compute)
    return input.copy_(compute(input))


primitive("scatter_reduce", memory="fresh", attrs=("dim", "reduce", "include_self"), infer=_scatter_reduce_type,
          helpers=(numpy_functions.flat_positions,),
          batch=lambda op, args, bdims, dim, reduce, include_self: (bind(
              op, *[broadcast_batch(x, b, next(a.shape[c] for a, c in zip(args, bdims) if c is not None))
                    for x, b in zip(args, bdims)], dim=dim + 1, reduce=reduce, include_self=include_self), 0),
          doc="x with src reduced (sum, prod, mean, amax, amin) into the positions an index tensor names along dim",
          joint_vjp=_scatter_reduce_vjp, expr=_scatter_reduce_expr, fn=scatter_reduce, tensor="scatter_reduce",
          gg="scatter_reduce")
export(scatter_reduce_, "scatter_reduce", tensor="scatter_reduce_")


# -- PyTorch's take, put, index_fill, index_copy, masked_scatter, unravel_index, msort and the *_scatter functions:
# composites of gather, scatter_add, scatter_reduce and where, eager and traced alike -----------------------------
from ..ir.types import SCALAR_NAMES  # noqa: E402
from .define import in_place  # noqa: E402


def _dtype_label(x) -> str:
    return SCALAR_NAMES[x._type.dtype] if isinstance(x, TensorBase) else type(x).__name__


def _from_end(index: TensorBase, size: int) -> TensorBase:
    """A checked index (``[-size, size)``) with its negative entries counted from the end."""
    return bind("where", index < 0, index + size, index)


def _where_is(like: TensorBase, t: TensorBase) -> TensorBase:
    """``t``, made without operands (a constant, ``full``, ``arange``), on ``like``'s device: an eager one is made on
    the CPU (a trace's runs where the specialization does)."""
    return t.to(like.device) if getattr(like, "is_cuda", False) and not t.is_cuda else t


def _filled(like: TensorBase, shape: tuple, value, dtype: str) -> TensorBase:
    return _where_is(like, like._apply_here("full", (), {"shape": tuple(shape), "value": value, "dtype": dtype}))


def _last_writer(index: TensorBase, size: int, like: TensorBase) -> TensorBase:
    """For each of ``size`` positions, the last entry of the 1-D ``index`` that names it (-1 where none does): of
    repeated indices the last write wins, as PyTorch's CPU kernels write them in order."""
    order = _where_is(like, like._apply_here("arange", (), {"start": 0, "stop": index.shape[0], "step": 1,
                                                            "dtype": "int64"}))
    return bind("scatter_reduce", _filled(like, (size,), -1, "int64"), index, order, dim=0, reduce="amax",
                include_self=True)


def take(input: TensorBase, index: TensorBase) -> TensorBase:
    """The elements of ``input`` (read as 1-D, row-major) at ``index`` (int64, any shape; negative counts from the
    end): a result shaped like ``index``.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2, 3], [4, 5, 6]]).take(gg.tensor([0, 5, -2]))
    tensor([1, 6, 5])
    """
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {_dtype_label(index)}")
    n = input._type.size
    flat = _from_end(check_range(index.reshape(-1), "take", n), n)
    return bind("gather", input.reshape(-1), flat, dim=0).reshape(index.shape)._shown_as("TakeBackward0")


def put(input: TensorBase, index: TensorBase, source: TensorBase, accumulate: bool = False) -> TensorBase:
    """A copy of ``input`` (read as 1-D) with ``source``'s elements written at ``index`` (negative counts from the
    end; of repeated indices the last wins), or added there with ``accumulate`` (repeats adding up).

    >>> import graphgrad as gg
    >>> gg.zeros(2, 2).put(gg.tensor([0, 3]), gg.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError(f"put_(): Expected a long tensor for index, but got {_dtype_label(index)}")
    if source._type.size != index._type.size:
        raise IndexError(f"put_(): Expected source and index to have the same number of elements, but got "
                         f"source.numel() = {source._type.size}, index.numel() = {index._type.size}")
    if source._type.dtype != input._type.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got self.dtype = "
                           f"{SCALAR_NAMES[input._type.dtype]} and source.dtype = {SCALAR_NAMES[source._type.dtype]}")
    n = input._type.size
    flat, values = input.reshape(-1), source.reshape(-1)
    at = _from_end(check_range(index.reshape(-1), "take", n), n)
    if accumulate:
        out = bind("scatter_add", flat, at, values, dim=0)
    elif index._type.size == 0:
        out = bind("cast", flat, dtype=flat._type.dtype)  # (a copy)
    else:
        last = _last_writer(at, n, input)
        picked = bind("gather", values, bind("where", last < 0, 0, last), dim=0)
        out = bind("where", last >= 0, picked, flat)
    return out.reshape(input.shape)._shown_as("PutBackward0")


export(take, "take", tensor="take", gg="take")
export(put, "put", tensor="put", gg="put")
export(lambda self, index, source, accumulate=False: in_place(self, lambda old: put(old, index, source, accumulate)),
       "put", tensor="put_")


def _along(x: TensorBase, d: int) -> tuple:
    """A mask shaped to broadcast along dimension ``d`` of ``x``: its shape there, 1 elsewhere."""
    return tuple(-1 if i == d else 1 for i in range(x.ndim))


def index_fill(input: TensorBase, dim: int, index: TensorBase, value) -> TensorBase:
    """A copy of ``input`` with the slices ``index`` along ``dim`` (negative counts from the end) set to ``value``
    (a number or a 0-d tensor, cast to ``input``'s dtype).

    >>> import graphgrad as gg
    >>> gg.zeros(2, 3).index_fill(1, gg.tensor([0, 2]), -1.0)
    tensor([[-1.,  0., -1.],
            [-1.,  0., -1.]])
    """
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    if isinstance(value, TensorBase) and value.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    (d,) = normalize_dims(dim, input.ndim)
    n = _size_along(input, d)
    at = _from_end(check_range(index.reshape(-1), f"index_fill dimension {d}", n), n)
    hits = bind("scatter_add", _filled(input, (n,), 0, "int64"), at, bind("full_like", at, value=1), dim=0)
    mask = (hits > 0).reshape(_along(input, d)) if input.ndim else (hits > 0).reshape(())
    return bind("where", mask, value, input)._cast(input._type.dtype)._shown_as("IndexFillBackward0")


def index_copy(input: TensorBase, dim: int, index: TensorBase, source: TensorBase) -> TensorBase:
    """A copy of ``input`` whose slices ``index[i]`` along ``dim`` are ``source``'s slices ``i`` (of repeated
    indices the last wins).

    >>> import graphgrad as gg
    >>> gg.zeros(2, 3).index_copy(1, gg.tensor([2, 0]), gg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([[2., 0., 1.],
            [4., 0., 3.]])
    """
    (d,) = normalize_dims(dim, input.ndim)
    if isinstance(index, TensorBase) and index.ndim >= 2:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    k = index._type.size if isinstance(index, TensorBase) else 0
    if source.ndim == 0 and k != 1:
        raise IndexError(f"index_copy_(): When source is scalar, index should have one element (got {k})")
    if source.ndim and k != (source.shape[d] if d < source.ndim else 1):
        raise IndexError(f"index_copy_(): Number of indices ({k}) should be equal to source.size(dim) "
                         f"({source.shape[d] if d < source.ndim else 1})")
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {_dtype_label(index)}")
    if source._type.dtype != input._type.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{SCALAR_NAMES[input._type.dtype]} and (source) {SCALAR_NAMES[source._type.dtype]}")
    rest = tuple(n for i, n in enumerate(input.shape) if i != d)
    source_rest = tuple(n for i, n in enumerate(source.shape) if i != d)
    if rest != source_rest:
        raise RuntimeError(f"index_copy_(): Source/destination tensor must have same slice shapes. Destination slice "
                           f"shape: {' '.join(map(str, rest))} at dimension {d} and source slice shape: "
                           f"{' '.join(map(str, source_rest))} at dimension 0.")
    n = _size_along(input, d)
    at = check_range(index.reshape(-1), f"index_copy_(): dimension {d}", n)
    x = input.movedim(d, 0) if input.ndim else input.reshape(1)
    rows = source.movedim(d, 0) if source.ndim else source.reshape(1)
    last = _last_writer(at, n, input)
    picked = rows[bind("where", last < 0, 0, last)]  # (a gather of rows: the gradient goes back to each row)
    out = bind("where", (last >= 0).reshape((n,) + (1,) * len(rest)), picked, x)
    return (out.movedim(0, d) if input.ndim else out.reshape(()))._shown_as("IndexCopyBackward0")


# PyTorch's index_put_, index_fill_ (and masked_fill_, x[mask] = v: runtime/tensor.py) write into an expanded tensor,
# warning; only their own elements, in their order (``written``)
_DEPRECATED_ON_EXPANDED = ("Use of {} on expanded tensors is deprecated. Please clone() the tensor before performing "
                           "this operation. This also applies to advanced indexing e.g. tensor[{}] = {}")


def _index_fill_(self, dim, index, value):
    def written():
        (d,) = normalize_dims(dim, self.ndim) if self.ndim else (0,)
        positions = np.arange(int(np.prod(self.shape, dtype=np.int64))).reshape(tuple(self.shape) or (1,))
        return np.take(positions, np.asarray(index._index_array()).reshape(-1), axis=d).reshape(-1)
    return in_place(self, lambda old: index_fill(old, dim, index, value), written=written, overlap_ok=True,
                    warn=_DEPRECATED_ON_EXPANDED.format("index_fill_", "mask", "scalar"))


export(index_fill, "index_fill", tensor="index_fill", gg="index_fill")
export(_index_fill_, "index_fill", tensor="index_fill_")
export(index_copy, "index_copy", tensor="index_copy", gg="index_copy")
export(lambda self, dim, index, source: in_place(self, lambda old: index_copy(old, dim, index, source)),
       "index_copy", tensor="index_copy_")


def masked_scatter(input: TensorBase, mask: TensorBase, source: TensorBase) -> TensorBase:
    """A copy of ``input`` (broadcast with ``mask``) whose elements where ``mask`` is true are ``source``'s first
    elements, in order (row-major); ``source`` must have at least that many.

    >>> import graphgrad as gg
    >>> gg.zeros(2, 2).masked_scatter(gg.tensor([[True, False], [True, True]]), gg.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([[1., 0.],
            [2., 3.]])
    """
    if not isinstance(mask, TensorBase) or mask._type.dtype != "bool":
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{_dtype_label(mask)}")
    if source._type.dtype != input._type.dtype:  # (PyTorch's words, without the space)
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{SCALAR_NAMES[input._type.dtype]} and {SCALAR_NAMES[source._type.dtype]}")
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    x = input.expand(*shape).reshape(-1)
    m = mask.expand(*shape).reshape(-1)
    k = source._type.size
    if k == 0:
        if m._level == 0 and bool(m.any()):
            raise RuntimeError("Number of elements of source < number of ones in mask")
        return bind("cast", x, dtype=x._type.dtype).reshape(shape)
    rank = m._cast("int64").cumsum(0) - 1  # the source element each true position takes
    at = check_range(bind("where", m, rank, 0), "masked_scatter", k)
    picked = bind("gather", source.reshape(-1), at, dim=0)
    return bind("where", m, picked, x).reshape(shape)._shown_as("MaskedScatterBackward0")


export(masked_scatter, "masked_scatter", tensor="masked_scatter", gg="masked_scatter")
export(lambda self, mask, source: in_place(self, lambda old: masked_scatter(old, mask, source)), "masked_scatter",
       tensor="masked_scatter_")


# -- index_add, scatter, index_put: composites of scatter_add, scatter_reduce, gather and where, eager and traced
# alike (the dim is checked: a dim past the tensor's was taken modulo its number of dimensions) ---------------------
def _slice_shape(shape: tuple, d: int) -> tuple:
    return tuple(n for k, n in enumerate(shape) if k != d)


def index_add(input: TensorBase, dim: int, index: TensorBase, source: TensorBase, *, alpha=1) -> TensorBase:
    """A copy of ``input`` with ``alpha`` times ``source``'s slices ``i`` along ``dim`` added into its slices
    ``index[i]`` (repeated indices adding up): PyTorch's ``index_add``, a message-passing sum.

    >>> import graphgrad as gg
    >>> gg.zeros(3, 2).index_add(0, gg.tensor([0, 2, 0]), gg.ones(3, 2), alpha=2)
    tensor([[4., 4.],
            [0., 0.],
            [2., 2.]])
    """
    (d,) = normalize_dims(dim, input.ndim)
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: {_dtype_label(index)}")
    if index.ndim > 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{_dtype_label(index)} and size: {list(index.shape)}")
    if source.ndim != input.ndim or _slice_shape(tuple(source.shape), d) != _slice_shape(tuple(input.shape), d):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")
    k, m = index._type.size, _size_along(source, d)
    if k != m:
        raise RuntimeError(f"index_add_(): Number of indices ({k}) should be equal to source.size(dim): ({m}), for "
                           f"dim: {d}")
    if source._type.dtype != input._type.dtype:
        raise RuntimeError(f"index_add_(): self ({_dtype_label(input)}) and source ({_dtype_label(source)}) must "
                           f"have the same scalar type")
    at = check_range(index.reshape(-1), f"dimension {d}", _size_along(input, d))
    values = source if alpha == 1 else (source * alpha)._cast(input._type.dtype)
    if not input.ndim:  # (one element: index is [0])
        return (input + values)._shown_as("IndexAddBackward0")
    # whole rows added (scatter_add_rows: 20,000 rows of 64 float32 in 2.6 ms, scatter_add's index per element 16 ms)
    rows = bind("scatter_add_rows", values.movedim(d, 0) if d else values, at, rows=input.shape[d])
    return (input + (rows.movedim(0, d) if d else rows))._shown_as("IndexAddBackward0")


export(index_add, "index_add", tensor="index_add", gg="index_add")
export(lambda self, dim, index, source, *, alpha=1: in_place(self, lambda old: index_add(old, dim, index, source,
                                                                                         alpha=alpha)),
       "index_add", tensor="index_add_")


def scatter(input: TensorBase, dim: int, index: TensorBase, src=None, value=None, *, reduce: str | None = None
            ) -> TensorBase:
    """A copy of ``input`` with ``src[i][j]`` written at ``[index[i][j]][j]`` (for ``dim=0``; of repeated indices
    the last wins, as PyTorch's CPU kernel), or the number ``value`` (a number given as ``src`` is one), or with
    ``reduce="add"``/``"multiply"`` combined with what is there. Only the part of ``src`` the index covers is
    read; the gradient reaches the ``src`` elements that were written and the elements of ``input`` that were not.

    >>> import graphgrad as gg
    >>> gg.zeros(2, 3).scatter(1, gg.tensor([[2], [0]]), gg.tensor([[1.0], [2.0]]))
    tensor([[0., 0., 1.],
            [2., 0., 0.]])
    >>> gg.zeros(3).scatter(0, gg.tensor([0, 2]), 5.0)
    tensor([5., 0., 5.])
    """
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): missing the src tensor or value to write")
    (d,) = normalize_dims(dim, input.ndim)
    if not isinstance(index, TensorBase) or index._type.dtype != "int64":
        raise RuntimeError("scatter(): Expected dtype int32/int64 for index")
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    tensor_src = isinstance(src, TensorBase) and not (src.ndim == 0 and index.ndim != 0)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if isinstance(src, TensorBase) and src.ndim != index.ndim and not (src.ndim <= 1 and index.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if tensor_src and src._type.dtype != input._type.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if input.ndim and (any(i > n for k, (i, n) in enumerate(zip(index.shape, input.shape)) if k != d)
                       or (tensor_src and any(i > n for i, n in zip(index.shape, src.shape)))):
        raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} apart "
                           f"from dimension {d}" + (f" and to be no larger size than src {list(src.shape)}"
                                                    if tensor_src else ""))
    if index._type.size == 0:
        return bind("cast", input, dtype=input._type.dtype)._shown_as("ScatterBackward0")  # (a copy)
    if not input.ndim:  # (PyTorch reads a 0-d tensor, and a 0-d index, as one element)
        return scatter(input.reshape(1), 0, index.reshape(1), src.reshape(1) if tensor_src else src,
                       reduce=reduce).reshape(())
    at = check_range(index, f"dimension {d}", input.shape[d])
    if tensor_src:
        if tuple(src.shape) != tuple(index.shape):
            src = src[tuple(slice(0, n) for n in index.shape)]
    else:  # a number, or a 0-d tensor, in input's dtype
        fill = src if isinstance(src, TensorBase) else constant_like(input, src, np.dtype(input._type.dtype))
        fill = fill._cast(input._type.dtype)
        if reduce is None:
            return bind("where", _scattered(input, at, d), fill, input)._shown_as("ScatterBackward1")
        src = fill.reshape((1,) * index.ndim).expand(*index.shape)
    if reduce == "add":
        return bind("scatter_add", input, at, src, dim=d)._shown_as("ScatterBackward0")
    if reduce == "multiply":
        return bind("scatter_reduce", input, at, src, dim=d, reduce="prod", include_self=True)
    # the last writer of each position: the greatest (row-major) position in index that names it
    order = _where_is(input, input._apply_here("arange", (), {"start": 0, "stop": index._type.size, "step": 1,
                                                              "dtype": "int64"})).reshape(index.shape)
    last = bind("scatter_reduce", _filled(input, tuple(input.shape), -1, "int64"), at, order, dim=d, reduce="amax",
                include_self=True)
    picked = bind("gather", src.reshape(-1), bind("where", last < 0, 0, last).reshape(-1), dim=0)
    return bind("where", last >= 0, picked.reshape(input.shape), input)._shown_as("ScatterBackward0")


export(scatter, "scatter", tensor="scatter", gg="scatter")
export(lambda self, dim, index, src=None, value=None, *, reduce=None: in_place(
    self, lambda old: scatter(old, dim, index, src, value, reduce=reduce)), "scatter", tensor="scatter_")


def index_put(input: TensorBase, indices, values, accumulate: bool = False) -> TensorBase:
    """A copy of ``input`` with ``values`` (broadcast) written at ``input[indices]`` — ``indices`` a tuple of int64
    or bool tensors, one per leading dimension, broadcast together — or added there with ``accumulate`` (repeated
    indices adding up; without it the last of repeated indices wins). A bool index inside a compiled function
    must be ``input``'s shape or lead it, with a ``values`` that broadcasts over the rest.

    >>> import graphgrad as gg
    >>> gg.zeros(2, 3).index_put((gg.tensor([0, 1]), gg.tensor([2, 0])), gg.tensor([5.0, 6.0]))
    tensor([[0., 0., 5.],
            [6., 0., 0.]])
    """
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}")
    for k, i in enumerate(indices):
        if not isinstance(i, TensorBase):
            raise TypeError(f"expected Tensor as element {k} in argument 0, but got {type(i).__name__}")
        if i._type.dtype not in ("int64", "bool"):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if not isinstance(values, TensorBase):
        values = constant_like(input, values, np.dtype(input._type.dtype))
    if values._type.dtype != input._type.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{_dtype_label(input)} for the destination and {_dtype_label(values)} for the source.")
    dims = sum(i.ndim if i._type.dtype == "bool" else 1 for i in indices)
    if dims > input.ndim and input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got {dims})")
    masks = [i for i in indices if i._type.dtype == "bool"]
    if masks and any(i._level > 0 for i in masks):
        return _index_put_mask(input, indices, values, accumulate)
    ints, at = [], 0
    for i in indices:  # an eager mask is the int64 positions of its true elements, as NumPy reads it
        if i._type.dtype == "bool":
            if not i.ndim:
                raise NotImplementedError("index_put with a 0-d bool index is not supported")
            for k, n in enumerate(i.shape):
                if input.shape[at + k] != n:
                    raise IndexError(f"The shape of the mask {list(i.shape)} at index {k} does not match the shape "
                                     f"of the indexed tensor {list(input.shape)} at index {at + k}")
            ints += list(i.nonzero(as_tuple=True))
            at += i.ndim
        else:
            ints.append(i)
            at += 1
    try:
        lead = broadcast_shapes(*[tuple(i.shape) for i in ints])
    except ShapeError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(i.shape)) for i in ints)) from None
    shape = tuple(input.shape) if input.ndim else (1,)
    rest = shape[len(ints):]
    flat = constant_like(input, np.int64(0)) if not ints else None
    for k, i in enumerate(ints):  # the row-major position of each indexed slice (shape[:len(ints)] as one dim)
        i = _from_end(check_range(i, f"index_fill dimension {k}", shape[k]), shape[k]).expand(*lead)
        flat = i if flat is None else flat * shape[k] + i
    target = tuple(lead) + tuple(rest)
    try:
        if broadcast_shapes(tuple(values.shape), target) != target:
            raise ShapeError("")
    except ShapeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(target)}") from None
    spread = values.expand(*target) if tuple(values.shape) != target else values
    n = int(np.prod(shape[:len(ints)], dtype=np.int64))
    table = input.reshape((n,) + rest)  # (whole slices are added or copied: no index per element)
    if accumulate:
        out = table + bind("scatter_add_rows", spread, flat, rows=n)
    else:  # of repeated indices the last wins
        last = _last_writer(flat.reshape(-1), n, input)
        picked = spread.reshape((-1,) + rest)[bind("where", last < 0, 0, last)]
        out = bind("where", (last >= 0).reshape((n,) + (1,) * len(rest)), picked, table)
    return out.reshape(input.shape)._shown_as("IndexPutBackward0")


def _index_put_mask(input: TensorBase, indices, values, accumulate: bool) -> TensorBase:
    """``index_put`` with one traced bool mask leading ``input``'s shape: a ``where`` (the number of true elements
    is not known while tracing, so ``values`` must broadcast over the masked slices' shape)."""
    mask = indices[0]
    rest = tuple(input.shape[mask.ndim:])
    if len(indices) != 1 or tuple(mask.shape) != tuple(input.shape[:mask.ndim]) or (
            values.ndim > len(rest) and any(n != 1 for n in values.shape[:values.ndim - len(rest)])):
        raise TracerError(f"index_put with a boolean mask inside a compiled function{_where(user_location(3))}: "
                          f"only one mask leading the tensor's shape ({list(input.shape)}) with values that broadcast "
                          f"over the masked slices ({list(rest)}) is supported: the number of true elements is not "
                          f"known while tracing. Use graphgrad.where(mask, v, x), or run it eagerly.")
    if values.ndim > len(rest):
        values = values.reshape(tuple(values.shape[values.ndim - len(rest):]))
    m = mask.reshape(tuple(mask.shape) + (1,) * len(rest))
    new = input + bind("where", m, values, 0) if accumulate else bind("where", m, values, input)
    return new._cast(input._type.dtype)._shown_as("IndexPutBackward0")


def _index_put_(self, indices, values, accumulate=False):
    def written():  # (x[indices] of the flat positions: index_put_'s indices are tensors, NumPy's advanced index)
        positions = np.arange(int(np.prod(self.shape, dtype=np.int64))).reshape(tuple(self.shape))
        return positions[tuple(slice(None) if i is None else np.asarray(i._index_array()) for i in indices)].reshape(-1)
    # (accumulate=True into an expanded tensor adds each value into the element it writes, not into the memory the
    # elements share: PyTorch's sums there the values of elements sharing memory)
    return in_place(self, lambda old: index_put(old, indices, values, accumulate), written=written, overlap_ok=True,
                    warn=_DEPRECATED_ON_EXPANDED.format("index_put_", "indices", "tensor"))


export(index_put, "index_put", tensor="index_put", gg="index_put")
export(_index_put_, "index_put", tensor="index_put_")


def unravel_index(indices: TensorBase, shape) -> tuple:
    """The coordinates in a tensor of ``shape`` of each flat (row-major) index in ``indices``: a tuple of int64
    tensors shaped like ``indices``, one per dimension (PyTorch's formula: out-of-range indices wrap around).

    >>> import graphgrad as gg
    >>> gg.unravel_index(gg.tensor([4, 1]), (3, 2))
    (tensor([2, 0]), tensor([0, 1]))
    """
    if not isinstance(indices, TensorBase):
        raise TypeError(f"expected 'indices' to be a tensor, but got {type(indices).__name__}")
    if indices._type.dtype != "int64":
        raise TypeError(f"expected 'indices' to be integer dtype, but got torch.{indices._type.dtype}")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"expected 'shape' to be int or sequence of ints, but got {type(shape)}")
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"expected 'shape' sequence to only contain ints, but got {type(n)}")
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    coefs = [1]
    for n in reversed(shape[1:]):
        coefs.insert(0, coefs[0] * n)
    if not shape:
        coefs = []
    coords = (indices.unsqueeze(-1) // _where_is(indices, constant_like(indices, np.asarray(coefs, dtype=np.int64)))
              % _where_is(indices, constant_like(indices, np.asarray(shape, dtype=np.int64))))
    return coords.unbind(-1)


export(unravel_index, "unravel_index", gg="unravel_index")


def msort(input: TensorBase) -> TensorBase:
    """``input`` sorted along its first dimension (``sort(input, 0).values``).

    >>> import graphgrad as gg
    >>> gg.tensor([[3.0, 1.0], [1.0, 2.0]]).msort()
    tensor([[1., 1.],
            [3., 2.]])
    """
    if input.ndim == 0:
        return bind("cast", input, dtype=input._type.dtype)  # (a copy, as PyTorch's)
    return sort(input, 0).values._shown_as("SortBackward0")


export(msort, "msort", tensor="msort", gg="msort")


def _scatter_check(src: TensorBase, slice_shape: tuple) -> None:
    if tuple(src.shape) != tuple(slice_shape):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(slice_shape)}")


def select_scatter(input: TensorBase, src: TensorBase, dim: int, index: int) -> TensorBase:
    """A copy of ``input`` whose slice ``select(dim, index)`` is ``src`` (of exactly that slice's shape, cast to
    ``input``'s dtype).

    >>> import graphgrad as gg
    >>> gg.zeros(2, 2).select_scatter(gg.ones(2), 0, 1)
    tensor([[0., 0.],
            [1., 1.]])
    """
    (d,) = normalize_dims(dim, input.ndim)
    n = _size_along(input, d)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {d}")
    _scatter_check(src, tuple(s for i, s in enumerate(input.shape) if i != d))
    return index_update(input, (slice(None),) * d + (index % n,), src)._shown_as("SelectScatterBackward0")


def slice_scatter(input: TensorBase, src: TensorBase, dim: int = 0, start=None, end=None, step: int = 1) -> TensorBase:
    """A copy of ``input`` whose slice ``start:end:step`` along ``dim`` is ``src`` (of exactly that slice's shape,
    cast to ``input``'s dtype).

    >>> import graphgrad as gg
    >>> gg.zeros(4).slice_scatter(gg.ones(2), start=1, step=2)
    tensor([0., 1., 0., 1.])
    """
    (d,) = normalize_dims(dim, input.ndim)
    if step is None:
        step = 1
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    part = slice(start, end, step)
    length = len(range(*part.indices(input.shape[d])))
    _scatter_check(src, tuple(length if i == d else s for i, s in enumerate(input.shape)))
    return index_update(input, (slice(None),) * d + (part,), src)._shown_as("SliceScatterBackward0")


def diagonal_scatter(input: TensorBase, src: TensorBase, offset: int = 0, dim1: int = 0, dim2: int = 1) -> TensorBase:
    """A copy of ``input`` whose diagonal ``diagonal(offset, dim1, dim2)`` is ``src`` (of exactly that diagonal's
    shape, cast to ``input``'s dtype).

    >>> import graphgrad as gg
    >>> gg.zeros(2, 3).diagonal_scatter(gg.tensor([1.0, 2.0]), 1)
    tensor([[0., 1., 0.],
            [0., 0., 2.]])
    """
    diagonal = input.diagonal(offset, dim1, dim2)  # (its checks and PyTorch's errors)
    _scatter_check(src, tuple(diagonal.shape))
    d1, d2 = (normalize_dims(d, input.ndim)[0] for d in (dim1, dim2))
    length = diagonal.shape[-1]
    rows = np.arange(length, dtype=np.int64) + max(-offset, 0)
    cols = np.arange(length, dtype=np.int64) + max(offset, 0)
    moved = input.movedim((d1, d2), (-2, -1))  # the two adjacent index arrays put the diagonal last, as diagonal()
    updated = index_update(moved, (Ellipsis, rows, cols), src)
    return updated.movedim((-2, -1), (d1, d2))._shown_as("DiagonalScatterBackward0")


export(select_scatter, "select_scatter", tensor="select_scatter", gg="select_scatter")
export(slice_scatter, "slice_scatter", tensor="slice_scatter", gg="slice_scatter")
export(diagonal_scatter, "diagonal_scatter", tensor="diagonal_scatter", gg="diagonal_scatter")


def argwhere(input) -> TensorBase:
    """PyTorch's ``argwhere``: the indices of the non-zero elements, an ``(n, ndim)`` int64 tensor (``nonzero``).
    Eager only: ``n`` depends on the values.

    >>> import graphgrad as gg
    >>> gg.tensor([[0.0, 1.5], [2.0, 0.0]]).argwhere()
    tensor([[0, 1],
            [1, 0]])
    """
    return _nonzero(input, False, "argwhere")


export(argwhere, "argwhere", tensor="argwhere", gg="argwhere")
