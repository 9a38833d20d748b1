"""Indexing: ``x[index]`` (basic and integer-array indices baked into the op), rows picked by an index
tensor (an input of the op: embeddings, batches), and their adjoints."""
from __future__ import annotations

import numpy as np

from ..codegen.expressions import subscript
from ..ir.api import TensorBase, bind
from ..ir.registry import ShapeError, decode_index, encode_index, is_type
from ..ir.types import TensorType
from .define import primitive


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
def getitem(x, index):
    """``x[index]``: basic indexing, integer arrays, and an int64 index tensor (which becomes an input of the
    op, so a new index needs no new kernel and traced indices work)."""
    if isinstance(index, TensorBase) and index._type.dtype == "int64":
        return bind("gather_rows", x, index)
    if isinstance(index, TensorBase):
        index = index._index_array()
    elif isinstance(index, tuple):
        index = tuple(i._index_array() if isinstance(i, TensorBase) else i for i in index)
    return bind("getitem", x, index=encode_index(index))


def _getitem_expr(a, xp, out, index):
    if _has_array(index):
        return [f"{a[0]}[{_index_tuple(index, xp)}]"]
    return [f"{a[0]}[{subscript(index)}]"]


primitive("getitem", attrs=("index",), doc="basic and integer-array indexing; index is an encoded tuple",
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


primitive("index_add_zeros", attrs=("index", "shape"),
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


# gather_rows and scatter_add_rows are linear in their first input and each other's adjoint
primitive("gather_rows", infer=_gather_rows_type,
          doc="x[index] for an int64 index tensor of any shape: rows of x along its first axis",
          vjp=(lambda g, out, x, index: bind("scatter_add_rows", g, index, rows=x._type.shape[0]), None),
          expr=lambda a, xp, out: [f"{a[0]}[{a[1]}]"])


def _scatter_add_rows_expr(a, xp, out, rows):
    z = f"{out}_rows"
    # add.at accumulates rows picked several times, where z[index] += g would keep only one of them
    return [f"{z} = {xp}.zeros(({rows},) + {a[0]}.shape[{a[1]}.ndim:], dtype={a[0]}.dtype)",
            f"{xp}.add.at({z}, {a[1]}, {a[0]})", z]


primitive("scatter_add_rows", attrs=("rows",),
          doc="the adjoint of gather_rows: g's rows summed, by index, into zeros with `rows` rows",
          infer=lambda inputs, rows: TensorType((rows,) + inputs[0].shape[inputs[1].ndim:], inputs[0].dtype),
          vjp=(lambda g, out, x, index, *, rows: bind("gather_rows", g, index), None),
          expr=_scatter_add_rows_expr)

