"""Writes into part of a tensor, differentiably: index assignment, in-place ops on views, scatter.

PyTorch records such a write as ``CopySlices``: the written tensor's new history is "the old value with these
elements replaced". Here the elements are named by their flat (row-major) positions, and the replacement is
recorded with existing primitives: the new values are scattered into place (``scatter_add_rows``) and chosen
over the old ones by a mask (``where``). The gradient of the old value is the incoming gradient with the
written positions zeroed; the written values receive the gradient at their positions.
"""
from __future__ import annotations

import numpy as np

from ..ir.api import bind
from ..ir.types import SCALAR_NAMES, dtype_name
from ..ops.elementwise import where
from ..ops.indexing import torch_index_steps, torch_sequence_index
from .tensor import Tensor, _to_array, _xp


def _pointer(array) -> int:
    return array.__array_interface__["data"][0] if type(array) is np.ndarray else array.data.ptr


def _byte_offsets(array, xp):
    offsets = xp.zeros(array.shape, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(array.shape, array.strides)):
        shape = [1] * array.ndim
        shape[axis] = n
        offsets = offsets + (xp.arange(n, dtype=np.int64) * stride).reshape(shape)
    return offsets


def view_positions(base: Tensor, view: Tensor):
    """The flat position in ``base`` of each element of ``view`` (an array shaped like the view)."""
    xp = _xp(base._data)
    within = _byte_offsets(base._data, xp).reshape(-1)
    order = xp.argsort(within, kind="stable")
    ordered = within[order]
    wanted = _byte_offsets(view._data, xp) + (_pointer(view._data) - _pointer(base._data))
    found = xp.clip(xp.searchsorted(ordered, wanted.reshape(-1)), 0, max(ordered.size - 1, 0))
    if ordered.size == 0 or not bool((ordered[found] == wanted.reshape(-1)).all()):
        raise RuntimeError("in-place operation on a view whose elements are not all elements of its base")
    return order[found].reshape(view._data.shape)


def index_positions(t: Tensor, index):
    """The flat positions of ``t[index]`` (any index NumPy accepts: ints, slices, masks, integer tensors), where
    PyTorch puts them (``ops.indexing.torch_index_steps``: ``x[1, :, [0, 1]]`` is ``x[1][:, [0, 1]]``)."""
    xp = _xp(t._data)
    positions = xp.arange(t._data.size, dtype=np.int64).reshape(t._data.shape)
    index = torch_sequence_index(index)
    for step in torch_index_steps(index if isinstance(index, tuple) else (index,)):
        positions = positions[_plain_index(step)]
    return positions


def written_view(data, index):
    """The view of ``data`` that ``x[index] = v`` writes into, as PyTorch's applySlicing takes it: the basic part of
    the index (ints, slices, None, ...), each advanced index (array, list, mask) left as full slices over the dims
    it indexes; whether there was one (the write is then index_put_ into that view), and whether the index is one
    mask (which PyTorch writes with masked_fill_). ``data`` itself where the index is not valid: ``write_at`` says
    why."""
    from ..ops.indexing import _is_bool_scalar, _is_mask, _is_select

    items = torch_sequence_index(index)
    items = items if isinstance(items, tuple) else (items,)
    basic, advanced = [], False
    for item in items:
        if isinstance(item, (bool, np.bool_)) or _is_bool_scalar(item):  # a new dim, indexed by [0] or []
            basic.append(None)
            advanced = True
        elif _is_select(item):
            basic.append(int(item._data) if isinstance(item, Tensor) else int(item))
        elif item is None or item is Ellipsis or isinstance(item, slice):
            basic.append(item)
        else:
            advanced = True
            basic.extend([slice(None)] * (max(np.ndim(item._data if isinstance(item, Tensor) else item), 1)
                                          if _is_mask(item) else 1))
    try:
        view = data[tuple(basic)]
    except (IndexError, TypeError, ValueError):
        return data, advanced, False
    return view, advanced, len(items) == 1 and _is_mask(items[0])


def write_at(data, index, value) -> None:
    """``data[index] = value`` with PyTorch's index (``torch_index_steps``): the selects of a first step are a
    view of ``data``, which the second step's advanced index writes into."""
    index = torch_sequence_index(index)
    steps = torch_index_steps(index if isinstance(index, tuple) else (index,))
    for step in steps[:-1]:
        data = data[tuple(int(i._data) if isinstance(i, Tensor) and i.ndim == 0 and i._data.dtype != np.bool_ else i
                          for i in step)]
    index = _plain_index(steps[-1] if len(steps) > 1 else index)
    try:
        data[index] = value
    except ValueError as e:  # NumPy's words for a value that does not broadcast: PyTorch's
        if "could not be broadcast" in str(e):  # an advanced index (as ``as_value`` says it)
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(np.shape(value))} cannot be broadcast "
                               f"to indexing result of shape {list(data[index].shape)}") from None
        if "could not broadcast" in str(e):  # a basic one: PyTorch copies into the view, expanding the value
            raise RuntimeError(_expand_error(np.asarray(value), data[index].shape)) from None
        raise


def _expand_error(value, target: tuple) -> str:
    """PyTorch's error for expanding ``value`` (an array) to ``target``, which it cannot."""
    shape = value.shape
    if len(shape) > len(target):
        return (f"expand(torch.{SCALAR_NAMES[dtype_name(value.dtype)]}Tensor{{{list(shape)}}}, size={list(target)}): "
                f"the number of sizes provided ({len(target)}) must be greater or equal to the number of dimensions "
                f"in the tensor ({len(shape)})")
    for i in range(1, len(shape) + 1):
        if shape[-i] != 1 and shape[-i] != target[-i]:
            return (f"The expanded size of the tensor ({target[-i]}) must match the existing size ({shape[-i]}) at "
                    f"non-singleton dimension {len(target) - i}.  Target sizes: {list(target)}.  Tensor sizes: "
                    f"{list(shape)}")
    return f"cannot expand a tensor of shape {list(shape)} to {list(target)}"


def _plain_index(index):
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [i.item() if isinstance(i, Tensor) else i for i in index]
    return index


def as_value(value, like: Tensor, shape: tuple) -> Tensor:
    """``value`` (a tensor or Python data) in ``like``'s dtype, broadcast to ``shape``, differentiably."""
    if not isinstance(value, Tensor):
        value = Tensor._wrap(_to_array(value, None))
    if value._data.dtype != like._data.dtype:
        value = value._cast(like.dtype.name)
    if tuple(value.shape) != tuple(shape):
        if value.ndim > len(shape) and all(d == 1 for d in value.shape[:value.ndim - len(shape)]):
            value = value.reshape(value.shape[value.ndim - len(shape):])
        try:
            np.broadcast_shapes(tuple(value.shape), tuple(shape))
        except ValueError:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                               f"indexing result of shape {list(shape)}") from None
        value = value.expand(*shape)
    return value


def _scatter(values: Tensor, positions, size: int) -> Tensor:
    flat = values.reshape(-1)
    return bind("scatter_add_rows", flat, Tensor._wrap(positions.reshape(-1).astype(np.int64)), rows=size)


def replace(old: Tensor, positions, values: Tensor) -> Tensor:
    """``old`` with the elements at flat ``positions`` replaced by ``values`` (shaped like ``positions``); of
    repeated positions the last write wins, as with NumPy and PyTorch assignment."""
    xp = _xp(old._data)
    flat_positions = positions.reshape(-1)
    values = values.reshape(-1)
    if flat_positions.size:
        last = flat_positions.size - 1 - xp.unique(flat_positions[::-1], return_index=True)[1]
        if last.size != flat_positions.size:
            values = values[Tensor._wrap(last.astype(np.int64))]
            flat_positions = flat_positions[last]
    mask = xp.zeros(old._data.size, dtype=bool)
    mask[flat_positions] = True
    scattered = _scatter(values, flat_positions, old._data.size).reshape(old.shape)
    return where(Tensor._wrap(mask.reshape(old._data.shape)), scattered, old)
