"""Shape ops: reshape, permute, expand, concat; and the composites built on them (view, flatten, squeeze,
unsqueeze, transpose, T, stack, ...)."""
from __future__ import annotations

import builtins
import warnings
from typing import Sequence

import numpy as np

from ..codegen.expressions import literal
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, normalize_dims, result_dtype
from ..ir.types import SCALAR_NAMES, TensorType
from ..passes.row_decomposition import PARAM, REDUCED, Row, RowCouplingError, RowRule, aligned_axis
from .define import array, as_tensors, lift, primitive, refuse_traced
from .reductions import NOT_GIVEN
from ..passes.batching import batch_size, broadcast_batch, pad_after_batch, to_front


def shape_arg(shape) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike: the shape as a tuple of ints."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    return tuple(int(d) for d in shape)


def _inverse(dims):
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return tuple(inv)


# -- reshape ------------------------------------------------------------------------------------
def _reshape_type(inputs, shape):
    x = inputs[0]
    if TensorType(tuple(shape), x.dtype).size != x.size or any(d < 0 for d in shape):
        raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {x.size}")
    return TensorType(tuple(shape), x.dtype)


def reshape(x: TensorBase, *shape, order: str = "C") -> TensorBase:
    """The same elements in a new shape (row-major); one dimension may be -1. NumPy's ``order="F"`` reads and
    writes the elements column-major (the axes reversed on both sides of a row-major reshape)."""
    shape = shape_arg(shape)
    if order not in ("C", "A"):  # "A": NumPy's "as the array is laid out", and a tensor is row-major
        if order != "F":
            raise ValueError(f"order must be one of 'C', 'F', 'A' (got {order!r})")
        flipped = reshape(x.permute(*range(x.ndim - 1, -1, -1)), *shape[::-1])
        return flipped.permute(*range(flipped.ndim - 1, -1, -1))
    if -1 in shape:
        known = 1
        for d in shape:
            known *= d if d != -1 else 1
        if list(shape).count(-1) > 1 or known == 0 or x.numel() % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.numel()}")
        shape = tuple(x.numel() // known if d == -1 else d for d in shape)
    return bind("reshape", x, shape=shape)


def _reshape_rows(a, node, states):
    (s,) = states
    if s is REDUCED:
        return REDUCED
    x, out = node.inputs[0].type, node.output.type
    if x.shape == out.shape:
        return s
    if s.axis == 0 and out.ndim >= 1 and out.shape[0] == x.shape[0]:
        return Row(0)  # row-major: the first axis keeps its blocks
    rows = x.shape[s.axis]
    kept = [i for i, d in enumerate(out.shape) if d != 1]
    if rows != 1 and [d for d in x.shape if d != 1] == [out.shape[i] for i in kept]:
        # only axes of size 1 come or go (unsqueeze, squeeze, stack): the row axis keeps its place among the others
        return Row(kept[sum(d != 1 for d in x.shape[:s.axis])])
    raise RowCouplingError(node, f"reshaping {list(x.shape)} to {list(out.shape)} mixes the row axis with others")


def _reshape_batch(op, args, bdims, shape):
    x = to_front(args[0], bdims[0])
    return bind("reshape", x, shape=(x.shape[0],) + tuple(shape)), 0


primitive("reshape", memory="view", view=True, zero_signs="through", batch=_reshape_batch, torch_name="ViewBackward0",
          attrs=("shape",), infer=_reshape_type, doc="same elements, new shape (row-major)",
          rows=_reshape_rows,
          vjp=(lambda g, out, x, *, shape: g.reshape(x.shape),),
          expr=lambda a, xp, out, shape: [f"{a[0]}.reshape({shape})"],
          fn=reshape, tensor=("reshape", "view"), gg="reshape", numpy="reshape",
          numpy_fn=lambda a, shape, order="C": reshape(a, shape, order=order))


# -- permute ------------------------------------------------------------------------------------
def _permute_type(inputs, dims):
    x = inputs[0]
    if sorted(dims) != list(range(x.ndim)):
        raise ShapeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                         f"length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not "
                         f"equal to len(dims) = {len(dims)}" if len(dims) != x.ndim else
                         f"permute: dims {list(dims)} are not a permutation of the {x.ndim} axes")
    return TensorType(tuple(x.shape[d] for d in dims), x.dtype)


def one_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative axis of ``ndim`` axes, or PyTorch's IndexError (never wrapped silently)."""
    return normalize_dims(int(dim), ndim)[0]


def permute(x: TensorBase, *dims) -> TensorBase:
    """Reorder the axes: ``out.shape[i] == x.shape[dims[i]]``."""
    dims = shape_arg(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                           f"of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to "
                           f"len(dims) = {len(dims)}")
    dims = tuple(one_dim(d, x.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return bind("permute", x, dims=dims)


def _permute_rows(a, node, states):
    (s,) = states
    return s if s is REDUCED else Row(tuple(node.attrs["dims"]).index(s.axis))


def _permute_batch(op, args, bdims, **attrs):
    x = to_front(args[0], bdims[0])
    return bind("permute", x, dims=(0,) + tuple(d + 1 for d in attrs["dims"])), 0


primitive("permute", memory="view", view=True, zero_signs="through", batch=_permute_batch,
          attrs=("dims",), infer=_permute_type, doc="reorder the axes", rows=_permute_rows,
          vjp=(lambda g, out, x, *, dims: g.permute(_inverse(dims)),),
          expr=lambda a, xp, out, dims: (
              [f"{a[0]}.T"] if dims == tuple(reversed(range(len(dims)))) else [f"{a[0]}.transpose({dims})"]),
          fn=permute, tensor="permute", gg="permute")


# -- expand -------------------------------------------------------------------------------------
def _expand_error(x_shape: tuple, shape: tuple, dtype) -> str | None:
    """PyTorch's check, trailing dimensions first: the first size that differs from a non-1 existing size."""
    if len(shape) < len(x_shape):
        legacy = SCALAR_NAMES.get(str(dtype).split(".")[-1], "")
        return (f"expand(torch.{legacy}Tensor{{{list(x_shape)}}}, size={list(shape)}): the number of sizes provided "
                f"({len(shape)}) must be greater or equal to the number of dimensions in the tensor ({len(x_shape)})")
    lead = len(shape) - len(x_shape)
    for i in reversed(range(len(shape))):
        size = x_shape[i - lead] if i >= lead else 1
        if shape[i] == -1 and i < lead:
            return f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
        if shape[i] != -1 and size != shape[i] and size != 1:
            return (f"The expanded size of the tensor ({shape[i]}) must match the existing size ({size}) at "
                    f"non-singleton dimension {i}.  Target sizes: {list(shape)}.  Tensor sizes: {list(x_shape)}")
    return None


def _expand_type(inputs, shape):
    x = inputs[0]
    shape = tuple(shape)
    message = _expand_error(tuple(x.shape), shape, x.dtype)
    if message:
        raise ShapeError(message)
    return TensorType(shape, x.dtype)


def expand(x: TensorBase, *shape) -> TensorBase:
    """Broadcast to a larger shape without copying (-1 keeps a dimension)."""
    shape = shape_arg(shape)
    lead = len(shape) - x.ndim
    # a -1 in a leading, new dimension is left for the type rule to refuse (eager and traced alike)
    shape = tuple(x.shape[i - lead] if d == -1 and i >= lead else d for i, d in enumerate(shape))
    return bind("expand", x, shape=shape)


def _expand_rows(a, node, states):
    (s,) = states
    return s if s is REDUCED else Row(aligned_axis(node.output.type.ndim, node.inputs[0].type.ndim, s.axis))


def _expand_batch(op, args, bdims, shape):
    x = pad_after_batch(to_front(args[0], bdims[0]), len(shape))
    return bind("expand", x, shape=(x.shape[0],) + tuple(shape)), 0


primitive("expand", memory="view", view=True, batch=_expand_batch,
          attrs=("shape",), infer=_expand_type, doc="broadcast to a larger shape without copying",
          rows=_expand_rows,
          vjp=(lambda g, out, x, *, shape: g.sum_to(x.shape),),
          expr=lambda a, xp, out, shape: [f"{xp}.broadcast_to({a[0]}, {shape})"],
          fn=expand, tensor="expand")


# -- concat -------------------------------------------------------------------------------------
def _concat_type(inputs, dim):
    first = inputs[0]
    (d,) = normalize_dims(dim, first.ndim)
    for t in inputs[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != d):
            raise ShapeError(f"Sizes of tensors must match except in dimension {d}. "
                             f"Expected size {first.shape[1 - d] if first.ndim > 1 else first.shape[0]} "
                             f"but got {list(t.shape)} for one of the tensors")
    shape = list(first.shape)
    shape[d] = builtins.sum(t.shape[d] for t in inputs)
    return TensorType(tuple(shape), result_dtype(list(inputs)))


def _concat_vjp(g, out, needs, *xs, dim):
    grads, start = [], 0
    for x, need in zip(xs, needs):
        stop = start + x.shape[dim]
        index = (("slice", None, None, None),) * dim + (("slice", start, stop, None),)
        grads.append(bind("getitem", g, index=index) if need else None)
        start = stop
    return grads


def _check_tensor_list(tensors: list) -> None:
    """PyTorch's TypeError for ``cat([[1.0], [2.0]])``: every element must be a tensor."""
    for i, x in enumerate(tensors):
        if not isinstance(x, TensorBase):
            kind = type(x)
            name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__.split('.')[0]}.{kind.__name__}"
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {name}")


def cat(tensors: Sequence[TensorBase], dim: int = 0) -> TensorBase:
    """Join tensors along an existing dimension ``dim``."""
    tensors = list(tensors)
    _check_tensor_list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    (d,) = normalize_dims(dim, tensors[0].ndim)
    return bind("concat", *tensors, dim=d)


def _concat_rows(a, node, states):
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


def _concat_batch(op, args, bdims, dim):
    size = batch_size(args, bdims)
    return bind("concat", *[broadcast_batch(a, d, size) for a, d in zip(args, bdims)], dim=dim + 1), 0


primitive("concat", memory="fresh", joins=True, batch=_concat_batch, torch_name="CatBackward0", attrs=("dim",),
          infer=_concat_type, joint_vjp=_concat_vjp,
          rows=RowRule(_concat_rows, additive=True),
          doc="join tensors along an existing axis",
          expr=lambda a, xp, out, dim: [f"{xp}.concatenate([{', '.join(a)}], axis={dim})"],
          fn=cat, gg=("cat", "concat"), numpy="concatenate",
          numpy_fn=lambda arrays, axis=0: cat([x.reshape(-1) for x in as_tensors(list(arrays))] if axis is None else
                                               as_tensors(list(arrays)), 0 if axis is None else axis))


# -- composites ---------------------------------------------------------------------------------
def view_as(x: TensorBase, other: TensorBase) -> TensorBase:
    """``x.reshape(other.shape)``."""
    return x.reshape(other.shape)


def flatten(x: TensorBase, start_dim: int = 0, end_dim: int = -1) -> TensorBase:
    """Merge the dimensions ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        one_dim(start_dim, 0), one_dim(end_dim, 0)
        return x.reshape(1)
    s, e = one_dim(start_dim, x.ndim), one_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return x.reshape(x.shape[:s] + (n,) + x.shape[e + 1:])


def _renamed(out: TensorBase, x: TensorBase, name: str) -> TensorBase:
    """``out`` shown in eager graphs under PyTorch's name for the op the user called (a reshape that was a squeeze
    is SqueezeBackward0); never renames ``x``'s own node when nothing was recorded."""
    return out._shown_as(name) if out is not x else out


def squeeze(x: TensorBase, dim=None) -> TensorBase:
    """Drop dimensions of size 1 (only those in ``dim`` when given)."""
    if dim is None:
        return _renamed(x.reshape(tuple(d for d in x.shape if d != 1)), x, "SqueezeBackward0")
    dims = normalize_dims(dim, x.ndim)
    return _renamed(x.reshape(tuple(d for i, d in enumerate(x.shape) if not (i in dims and d == 1))), x,
                    "SqueezeBackward1")


def unsqueeze(x: TensorBase, dim: int) -> TensorBase:
    """Insert a dimension of size 1 at ``dim``."""
    d = one_dim(dim, x.ndim + 1)
    return _renamed(x.reshape(x.shape[:d] + (1,) + x.shape[d:]), x, "UnsqueezeBackward0")


def transpose(x: TensorBase, dim0: int, dim1: int) -> TensorBase:
    """Swap two dimensions."""
    dims = list(range(x.ndim))
    a, b = one_dim(dim0, x.ndim), one_dim(dim1, x.ndim)
    dims[a], dims[b] = dims[b], dims[a]
    return _renamed(bind("permute", x, dims=tuple(dims)), x, "TransposeBackward0")


def t(x: TensorBase) -> TensorBase:
    """The transpose of a matrix (vectors and scalars are returned as they are)."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    if x.ndim < 2:
        return x
    return _renamed(x.transpose(0, 1), x, "TBackward0")


def stack(tensors: Sequence[TensorBase], dim: int = 0) -> TensorBase:
    """Join tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    _check_tensor_list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(x.shape)} at entry {i}")
    d = one_dim(dim, len(shape) + 1)
    return cat([x.unsqueeze(d) for x in tensors], d)._shown_as("StackBackward0")


def _copy(x: TensorBase, order: str = "K") -> TensorBase:
    """NumPy's ``x.copy()``: a new tensor of the same values (PyTorch's ``clone``), differentiable; traced, a
    ``cast`` to its own dtype, a node of its own that an in-place update of the copy cannot reach through."""
    clone = getattr(x, "clone", None)
    return clone() if clone is not None else bind("cast", x, dtype=x._type.dtype)


export(view_as, "view_as", tensor="view_as")
export(_copy, "copy", tensor="copy")
export(flatten, "flatten", tensor="flatten", gg="flatten")


def _numpy_squeeze(a: TensorBase, axis=None) -> TensorBase:
    # NumPy's keyword is axis, and NumPy refuses (where PyTorch ignores) an axis whose size is not 1
    if axis is not None:
        for d in normalize_dims(axis, a.ndim):
            if a.shape[d] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return squeeze(a, axis)


export(squeeze, "squeeze", tensor="squeeze", gg="squeeze", numpy="squeeze", numpy_fn=_numpy_squeeze)


def _expand_dims(a: TensorBase, axis) -> TensorBase:
    """NumPy's ``expand_dims``: ``axis`` may be a tuple, each a position in the result."""
    if isinstance(axis, int):
        return unsqueeze(a, axis)
    out_ndim = a.ndim + len(axis)
    axes = [one_dim(d, out_ndim) for d in axis]
    if len(set(axes)) != len(axes):
        raise ValueError("repeated axis")
    shape = iter(a.shape)
    return a.reshape(tuple(1 if d in axes else next(shape) for d in range(out_ndim)))


export(unsqueeze, "unsqueeze", tensor="unsqueeze", gg="unsqueeze", numpy="expand_dims", numpy_fn=_expand_dims)


def _transpose_method(x: TensorBase, *axes) -> TensorBase:
    """``x.transpose(dim0, dim1)`` swaps two dimensions (PyTorch's); NumPy's forms permute: ``x.transpose()``
    reverses the axes, ``x.transpose((1, 0, 2))`` and ``x.transpose(1, 0, 2)`` (three or more axes) reorder them.
    Two ints are PyTorch's swap, which for a matrix is NumPy's ``transpose(1, 0)`` too."""
    if len(axes) == 2 and all(isinstance(a, int) for a in axes):
        return transpose(x, *axes)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes or axes == (None,):
        return x.permute(tuple(reversed(range(x.ndim))))
    if len(axes) != x.ndim:
        raise ValueError(f"axes don't match array: transpose of a {x.ndim}-D tensor given {len(axes)} axes {axes}")
    return x.permute(axes)


export(transpose, "transpose", gg="transpose", numpy="transpose",
       numpy_fn=lambda a, axes=None: a.T if axes is None else a.permute(axes))
export(_transpose_method, "transpose", tensor="transpose")
export(t, "t", tensor="t", gg="t")
export(property(lambda x: x.permute(tuple(reversed(range(x.ndim))))), "T", tensor="T")


def _matrix_transpose(x: TensorBase, name: str, zero_d: str) -> TensorBase:
    """``x.transpose(-2, -1)``, PyTorch's ``mT`` and (real tensors) ``mH``: a 0-d tensor is itself, with PyTorch's
    deprecation warning; a 1-d one is refused."""
    if x.ndim == 0:
        warnings.warn(f"Tensor.{name} is deprecated on 0-D tensors. {zero_d}", UserWarning, stacklevel=3)
        return x
    if x.ndim < 2:
        raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of matrices. Got {x.ndim}-D tensor.")
    return x.transpose(-2, -1)


def _mT(x: TensorBase) -> TensorBase:
    return _matrix_transpose(x, "mT", "This function is the identity in these cases.")


def _mH(x: TensorBase) -> TensorBase:
    """The conjugate transpose of the last two dims; graphgrad's tensors are real, so ``mT``."""
    return _matrix_transpose(x, "mH", "Consider using x.conj().")


def _H(x: TensorBase) -> TensorBase:
    """The conjugate transpose of a matrix; graphgrad's tensors are real, so ``x.transpose(0, 1)``."""
    if x.ndim == 0:
        warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", UserWarning, stacklevel=3)
        return x
    if x.ndim != 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {x.ndim}-D tensor."
                           + (" For batches of matrices, consider using tensor.mH" if x.ndim > 2 else ""))
    return x.transpose(0, 1)


export(property(_mT), "mT", tensor="mT")
export(property(_mH), "mH", tensor="mH")
export(property(_H), "H", tensor="H")
export(lambda x, other: x.expand(other.shape), "expand_as", tensor="expand_as")
export(lambda x, shape: x.expand(*shape), "broadcast_to", tensor="broadcast_to", numpy="broadcast_to")
export(lambda x: x.reshape(-1), "ravel", tensor="ravel", gg="ravel", numpy="ravel")
export(stack, "stack", gg="stack", numpy="stack", numpy_fn=lambda arrays, axis=0: stack(as_tensors(list(arrays)), axis))
export(array, "array", numpy=("array", "asarray"))  # of tensors, or of lists holding them


# -- flip, roll, repeat, tile, split, chunk, unflatten: composites of getitem, concat, reshape, expand ------
def flip(x: TensorBase, *dims) -> TensorBase:
    """Reverse the order of elements along ``dims`` (a ``::-1`` slice per dimension).

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).flip(1)
    tensor([[2, 1],
            [4, 3]])
    """
    # a copy, as PyTorch's (NumPy's flip is a view): a later in-place update of x does not show in the result
    return bind("cast", _flipped_view(x, *dims), dtype=x._type.dtype)._shown_as("FlipBackward0")


def _flipped_view(x: TensorBase, *dims) -> TensorBase:
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = tuple(dims[0])
    dims = tuple(normalize_dims((d,), x.ndim)[0] for d in dims)
    for i, d in enumerate(dims):
        if d in dims[:i]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    if not dims or x.ndim == 0:  # a 0-d tensor takes dim 0 or -1, as PyTorch, and has nothing to reverse
        return x
    return x[tuple(slice(None, None, -1) if i in dims else slice(None) for i in range(builtins.max(dims) + 1))]


def _numpy_flip(m, axis=None):
    return _flipped_view(m, tuple(range(m.ndim)) if axis is None else axis)


export(flip, "flip", tensor="flip", gg="flip", numpy="flip", numpy_fn=_numpy_flip)
export(lambda m: _flipped_view(m, 0), "flipud", numpy="flipud")
export(lambda m: _flipped_view(m, 1), "fliplr", numpy="fliplr")


def roll(x: TensorBase, shifts, dims=None) -> TensorBase:
    """Shift elements along ``dims`` circularly (over the flattened tensor when ``dims`` is None).

    >>> import graphgrad as gg
    >>> gg.tensor([1, 2, 3, 4]).roll(1)
    tensor([4, 1, 2, 3])
    """
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)._shown_as("RollBackward0")
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = x
    for shift, dim in zip(shifts, dims):
        (d,) = normalize_dims(dim, x.ndim)
        n = x.shape[d]
        s = shift % n if n else 0
        if s:
            head = (slice(None),) * d
            out = cat([out[head + (slice(n - s, None),)], out[head + (slice(None, n - s),)]], d)
    # (no shift is still a new tensor, as PyTorch's: writing into it must not reach x)
    return (out if out is not x else x.clone())._shown_as("RollBackward0")


export(roll, "roll", tensor="roll", gg="roll", numpy="roll",
       numpy_fn=lambda a, shift, axis=None: roll(a, shift, axis))


def fresh(out: TensorBase) -> TensorBase:
    """``out``, copied where it is a view of another tensor's memory: for ops that PyTorch always computes into a
    new tensor (``repeat``, ``pad``, ``rot90``, ``pixel_shuffle``, ...) but that are views here in their trivial
    cases (a repeat of ones, a size-1 axis expanded), so that a write into the result never reaches the operand."""
    tracer = getattr(out, "tracer", None)
    if getattr(out, "_base", None) is not None or (tracer is not None and tracer.is_view(out)):
        return out.clone()
    return out


def repeat(x: TensorBase, *sizes, axis=NOT_GIVEN) -> TensorBase:
    """Tile ``x``: ``sizes[i]`` copies along dimension ``i`` (PyTorch's ``Tensor.repeat``; new leading
    dimensions when ``sizes`` is longer than ``x.ndim``). NumPy's keyword ``axis=`` gives NumPy's ``repeat``, each
    element repeated in a row (``axis=None``: of the flattened tensor).

    >>> import graphgrad as gg
    >>> gg.tensor([1, 2]).repeat(2, 2)
    tensor([[1, 2, 1, 2],
            [1, 2, 1, 2]])
    >>> gg.tensor([1, 2]).repeat(2, axis=0)
    tensor([1, 1, 2, 2])
    """
    if axis is not NOT_GIVEN:
        return _numpy_repeat(x, sizes[0] if len(sizes) == 1 else sizes, axis)
    sizes = shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    # (d0, d1) -> (1, d0, 1, d1) -> expand to (r0, d0, r1, d1) -> (r0 * d0, r1 * d1)
    spread = tuple(v for d in shape for v in (1, d))
    copies = tuple(v for r, d in zip(sizes, shape) for v in (r, d))
    # (an expanded size-1 axis, or repeats of one, reshape as views of x: PyTorch's repeat is a new tensor)
    return fresh(x.reshape(spread).expand(copies).reshape(tuple(r * d for r, d in zip(sizes, shape))))


def tile(x: TensorBase, *dims) -> TensorBase:
    """Like ``repeat``, but ``dims`` shorter than ``x.ndim`` is padded with ones in front (``torch.tile``,
    ``numpy.tile``).

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2]]).tile(2)
    tensor([[1, 2, 1, 2]])
    """
    dims = (dims[0],) if len(dims) == 1 and isinstance(dims[0], int) else shape_arg(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + tuple(dims))


export(repeat, "repeat", tensor="repeat")
export(tile, "tile", tensor="tile", gg="tile", numpy="tile", numpy_fn=lambda A, reps: tile(A, reps))


def split(x: TensorBase, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``x`` along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes.

    >>> import graphgrad as gg
    >>> [t.tolist() for t in gg.arange(5).split([2, 3])]
    [[0, 1], [2, 3, 4]]
    """
    (d,) = normalize_dims(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and not (size == 0 and n == 0):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] if size else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {d}), but got split_sizes={sizes}")
    head = (slice(None),) * d
    pieces, start = [], 0
    for size in sizes:
        pieces.append(x[head + (slice(start, start + size),)])
        start += size
    return tuple(pieces)


def chunk(x: TensorBase, chunks: int, dim: int = 0) -> tuple:
    """``chunks`` pieces along ``dim`` of ``ceil(size / chunks)`` each (fewer when that divides evenly
    earlier), as PyTorch.

    >>> import graphgrad as gg
    >>> [t.tolist() for t in gg.arange(5).chunk(2)]
    [[0, 1, 2], [3, 4]]
    """
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    (d,) = normalize_dims(dim, x.ndim)
    n = x.shape[d]
    return split(x, -(-n // chunks), d) if n else (x,)


def _numpy_split(ary, indices_or_sections, axis=0):
    (d,) = normalize_dims(axis, ary.ndim)
    n = ary.shape[d]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        return list(split(ary, n // indices_or_sections, d))
    bounds = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    head = (slice(None),) * d
    return [ary[head + (slice(a, builtins.max(a, b)),)] for a, b in zip(bounds, bounds[1:])]


export(split, "split", tensor="split", gg="split", numpy="split", numpy_fn=_numpy_split)
export(chunk, "chunk", tensor="chunk", gg="chunk")


def unflatten(x: TensorBase, dim: int, sizes) -> TensorBase:
    """Split dimension ``dim`` into ``sizes`` (one of them may be -1).

    >>> import graphgrad as gg
    >>> tuple(gg.zeros(2, 6).unflatten(1, (2, 3)).shape)
    (2, 2, 3)
    """
    (d,) = normalize_dims(dim, x.ndim)
    given = tuple(int(s) for s in sizes)
    known = 1
    for s in given:
        known *= s if s != -1 else 1
    sizes = given
    if -1 in given:
        sizes = tuple(x.shape[d] // known if s == -1 and known else s for s in given)
        known = x.shape[d] if known and x.shape[d] % known == 0 else -1
    if known != x.shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(given)} don't multiply up to the size of dim {dim} "
                           f"({x.shape[d]}) in the input tensor")
    return x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])


export(unflatten, "unflatten", tensor="unflatten", gg="unflatten")


# -- pad (constant) -----------------------------------------------------------------------------------
def _pad_type(inputs, widths, value):
    x = inputs[0]
    return TensorType(tuple(d + a + b for d, (a, b) in zip(x.shape, widths)), x.dtype)


def _pad_expr(a, xp, out, widths, value):
    fill = f", constant_values={literal(value, xp)}" if value else ""  # (-inf pads max pooling)
    return [f"{xp}.pad({a[0]}, {widths}{fill})"]


def _unpad(g, widths):
    return g[tuple(slice(a, d - b) for (a, b), d in zip(widths, g.shape))]


def pad(input: TensorBase, pad, mode: str = "constant", value=None) -> TensorBase:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)`` starts at the last
    dimension, as PyTorch's ``F.pad``; negative amounts crop. Only ``mode="constant"``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pad(gg.tensor([[1.0, 2.0]]), (1, 0), value=9.0)
    tensor([[9., 1., 2.]])
    """
    if mode != "constant":
        raise NotImplementedError(f"F.pad: mode={mode!r} is not supported; only 'constant' is")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length must be divisible by 2" if len(pad) % 2 else
                           f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return _pad_widths(input, widths, 0.0 if value is None else value)


def _pad_widths(x, widths, value):
    original = x
    if any(a < 0 or b < 0 for a, b in widths):  # negative padding crops
        x = x[tuple(slice(-builtins.min(a, 0), d + builtins.min(b, 0)) for (a, b), d in zip(widths, x.shape))]
        widths = [(builtins.max(a, 0), builtins.max(b, 0)) for a, b in widths]
    widths = tuple((int(a), int(b)) for a, b in widths)
    if not any(a or b for a, b in widths):  # (only cropped, or not at all: a new tensor all the same)
        return x.clone() if x is original else fresh(x)
    return bind("pad", x, widths=widths, value=value)


def _numpy_pad(array, pad_width, mode="constant", constant_values=0):
    if mode != "constant":
        raise NotImplementedError(f"graphgrad.numpy.pad: mode={mode!r} is not supported; only 'constant' is")
    import numpy as np
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    if np.ndim(constant_values):
        raise NotImplementedError("graphgrad.numpy.pad: constant_values must be one number")
    return _pad_widths(array, [tuple(w) for w in widths.tolist()], constant_values)


def _pad_batch(op, args, bdims, widths, value):
    return bind("pad", to_front(args[0], bdims[0]), widths=((0, 0),) + tuple(widths), value=value), 0


primitive("pad", memory="fresh", recompute="cheap", batch=_pad_batch, torch_name="ConstantPadNdBackward0",
          attrs=("widths", "value"), infer=_pad_type, doc="constant padding: (before, after) per dimension",
          vjp=(lambda g, out, x, *, widths, value: _unpad(g, widths),), expr=_pad_expr,
          fn=pad, nn="pad", numpy="pad", numpy_fn=_numpy_pad)


# -- NumPy's shape functions: composites of permute, reshape, concat and slices -------------------------
def _axes(axes: tuple, ndim: int) -> tuple:
    """Axes made non-negative, in the order given."""
    return tuple(normalize_dims(a, ndim)[0] for a in axes)


def swapaxes(a: TensorBase, axis1: int, axis2: int) -> TensorBase:
    """Exchange two axes (``numpy.swapaxes``, ``torch.swapaxes``)."""
    return a.transpose(axis1, axis2)


def moveaxis(a: TensorBase, source, destination) -> TensorBase:
    """Move axes ``source`` to positions ``destination``, the others keeping their order (``numpy.moveaxis``)."""
    source = (source,) if isinstance(source, int) else tuple(source)
    destination = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    src, dst = _axes(source, a.ndim), _axes(destination, a.ndim)
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return a.permute(tuple(order))


def rollaxis(a: TensorBase, axis: int, start: int = 0) -> TensorBase:
    """``numpy.rollaxis``: move ``axis`` to before position ``start``."""
    (axis,) = normalize_dims(axis, a.ndim)
    start = start + a.ndim if start < 0 else start
    if not 0 <= start <= a.ndim:
        raise ValueError(f"'start' arg requires {-a.ndim} <= start < {a.ndim + 1}, but {start} was passed in")
    return moveaxis(a, axis, start - 1 if axis < start else start)


def _at_least(a, n: int) -> TensorBase:
    a = as_tensors([a])[0] if not isinstance(a, TensorBase) else a
    if a.ndim >= n:
        return a
    if n == 3 and a.ndim == 2:
        return a.reshape(tuple(a.shape) + (1,))
    if n == 3:
        return a.reshape((1,) + tuple(a.shape) + (1,) * (2 - a.ndim))  # (N,) -> (1, N, 1), () -> (1, 1, 1)
    return a.reshape((1,) * (n - a.ndim) + tuple(a.shape))


def _at_least_fn(n: int):
    def fn(*arys):
        out = [_at_least(a, n) for a in arys]
        return out[0] if len(out) == 1 else out
    fn.__name__ = f"atleast_{n}d"
    fn.__doc__ = f"Each argument viewed with at least {n} dimensions (``numpy.atleast_{n}d``)."
    return fn


def vstack(tup) -> TensorBase:
    """Rows stacked: 1-D arrays become rows, then a concatenation along axis 0."""
    return cat([_at_least(a, 2) for a in as_tensors(list(tup))], 0)


def hstack(tup) -> TensorBase:
    """Columns stacked: along axis 1, or axis 0 for 1-D arrays."""
    items = [_at_least(a, 1) for a in as_tensors(list(tup))]
    return cat(items, 0 if items[0].ndim == 1 else 1)


def dstack(tup) -> TensorBase:
    """Stacked along the third axis, after ``atleast_3d``."""
    return cat([_at_least(a, 3) for a in as_tensors(list(tup))], 2)


def column_stack(tup) -> TensorBase:
    """1-D arrays as columns of a 2-D array; 2-D arrays joined along axis 1."""
    items = [a.reshape(-1, 1) if a.ndim < 2 else a for a in as_tensors(list(tup))]
    return cat(items, 1)


def array_split(ary: TensorBase, indices_or_sections, axis: int = 0) -> list:
    """Like ``split``, but ``n`` sections need not divide the axis: the first ``len % n`` get one more."""
    if isinstance(indices_or_sections, int):
        (d,) = normalize_dims(axis, ary.ndim)
        n, k = ary.shape[d], indices_or_sections
        if k <= 0:
            raise ValueError("number sections must be larger than 0.")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        bounds = [builtins.sum(sizes[:i + 1]) for i in range(k - 1)]
        return _numpy_split(ary, bounds, axis)
    return _numpy_split(ary, indices_or_sections, axis)


def _split_along(axis: int, name: str, min_ndim: int):
    def fn(ary, indices_or_sections):
        if ary.ndim < min_ndim:
            raise ValueError(f"{name} only works on arrays of {min_ndim} or more dimensions")
        return _numpy_split(ary, indices_or_sections, 0 if name == "hsplit" and ary.ndim == 1 else axis)
    fn.__name__ = name
    return fn


def _numpy_repeat(a: TensorBase, repeats, axis=None) -> TensorBase:
    """``numpy.repeat``: each element ``repeats`` times in a row (not PyTorch's ``repeat``, which tiles)."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    (d,) = normalize_dims(axis, a.ndim)
    n = a.shape[d]
    if isinstance(repeats, int) or (hasattr(repeats, "__len__") and len(repeats) == 1):
        r = int(repeats if isinstance(repeats, int) else list(repeats)[0])
        shape = tuple(a.shape)
        spread = a.reshape(shape[:d + 1] + (1,) + shape[d + 1:]).expand(shape[:d + 1] + (r,) + shape[d + 1:])
        return spread.reshape(shape[:d] + (n * r,) + shape[d + 1:])
    counts = [int(r) for r in repeats]
    if len(counts) != n:
        raise ValueError(f"operands could not be broadcast together with shape ({n},) ({len(counts)},)")
    index = [i for i, r in enumerate(counts) for _ in range(r)]
    return a[(slice(None),) * d + (index,)]


def rot90(m: TensorBase, k: int = 1, axes=(0, 1)) -> TensorBase:
    """Rotate by 90 degrees ``k`` times from the first toward the second of ``axes`` (``numpy.rot90``)."""
    a0, a1 = _axes(tuple(axes), m.ndim)
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:  # (a new tensor, as PyTorch's and NumPy's)
        return m.clone()
    if k == 2:
        return flip(m, (a0, a1))
    if k == 1:
        return swapaxes(flip(m, a1), a0, a1)
    return flip(swapaxes(m, a0, a1), a1)


def append(arr, values, axis=None) -> TensorBase:
    """``numpy.append``: ``values`` after ``arr`` (both flattened when ``axis`` is None)."""
    arr, values = as_tensors([arr, values])
    if axis is None:
        return cat([arr.reshape(-1), values.reshape(-1)], 0)
    return cat([arr, values], axis)


export(swapaxes, "swapaxes", tensor=("swapaxes", "swapdims"), gg=("swapaxes", "swapdims"), numpy="swapaxes")
export(moveaxis, "moveaxis", tensor=("moveaxis", "movedim"), gg=("moveaxis", "movedim"), numpy="moveaxis")
export(rollaxis, "rollaxis", numpy="rollaxis")
for _n in (1, 2, 3):
    export(_at_least_fn(_n), f"atleast_{_n}d", gg=f"atleast_{_n}d", numpy=f"atleast_{_n}d")
# NumPy 2.5 removed row_stack (deprecated since 2.0): on arrays it is vstack, whatever NumPy is installed
export(vstack, "vstack", gg=("vstack", "row_stack"), numpy=("vstack", "row_stack"), numpy_impl=np.vstack)
export(hstack, "hstack", gg="hstack", numpy="hstack")
export(dstack, "dstack", gg="dstack", numpy="dstack")
export(column_stack, "column_stack", gg="column_stack", numpy="column_stack")
export(array_split, "array_split", numpy="array_split")
export(_split_along(0, "vsplit", 2), "vsplit", numpy="vsplit")
export(_split_along(1, "hsplit", 1), "hsplit", numpy="hsplit")
export(_split_along(2, "dsplit", 3), "dsplit", numpy="dsplit")


def _torch_split_along(name: str, axis: int, min_ndim: int):
    """PyTorch's ``torch.hsplit``/``vsplit``/``dsplit``: a tuple of views, ``sections`` equal pieces (else PyTorch's
    error, where NumPy's differs) or pieces cut at the listed ``indices`` (clamped, as ``tensor_split``)."""
    def fn(input: TensorBase, indices_or_sections) -> tuple:
        if input.ndim < min_ndim:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {min_ndim} dimension, but got a tensor "
                               f"with {input.ndim} dimensions!")
        d = 0 if name == "hsplit" and input.ndim == 1 else axis
        n, cut = input.shape[d], indices_or_sections
        if isinstance(cut, int) and not isinstance(cut, bool):
            if cut == 0 or n % cut:
                raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but the size of the "
                                   f"dimension {n} is not divisible by the split_size {cut}!")
            return tuple(split(input, n // cut, d))
        if isinstance(cut, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in cut):
            return tuple(_numpy_split(input, [i + n if i < 0 else i for i in cut], d))
        got = type(cut).__name__ if not isinstance(cut, TensorBase) else "Tensor"
        raise TypeError(f"{name}() received an invalid combination of arguments - got (Tensor, {got}), but expected "
                        f"one of:\n * (Tensor input, int sections)\n      didn't match because some of the arguments "
                        f"have invalid types: (Tensor, !{got}!)\n * (Tensor input, tuple of ints indices)\n      "
                        f"didn't match because some of the arguments have invalid types: (Tensor, !{got}!)\n")
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"PyTorch's ``torch.{name}``: the pieces of ``input`` along dimension {axis}"
                  f"{' (0 for a 1-D input)' if name == 'hsplit' else ''}, as a tuple: ``indices_or_sections`` equal "
                  f"pieces, or pieces cut at the listed indices.")
    return fn


def split_with_sizes(input: TensorBase, split_sizes, dim: int = 0) -> tuple:
    """PyTorch's ``torch.split_with_sizes``: the pieces of ``input`` along ``dim`` of the listed sizes, which must
    add up to its size there.

    >>> import graphgrad as gg
    >>> [t.tolist() for t in gg.split_with_sizes(gg.arange(5), [2, 3])]
    [[0, 1], [2, 3, 4]]
    """
    if not isinstance(split_sizes, (list, tuple)):
        raise TypeError(f"split_with_sizes(): argument 'split_sizes' (position 2) must be tuple of ints, not "
                        f"{type(split_sizes).__name__}")
    sizes = [int(s) for s in split_sizes]
    if builtins.min(sizes, default=0) < 0:
        raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                           f"split_sizes={sizes}")
    return split(input, sizes, dim)


export(split_with_sizes, "split_with_sizes", tensor="split_with_sizes", gg="split_with_sizes")
export(_torch_split_along("vsplit", 0, 2), "vsplit", tensor="vsplit", gg="vsplit")
export(_torch_split_along("hsplit", 1, 1), "hsplit", tensor="hsplit", gg="hsplit")
export(_torch_split_along("dsplit", 2, 3), "dsplit", tensor="dsplit", gg="dsplit")
export(_numpy_repeat, "repeat", numpy="repeat")
export(rot90, "rot90", tensor="rot90", gg="rot90", numpy="rot90",
       numpy_fn=lambda m, k=1, axes=(0, 1): rot90(m, k, axes))
export(append, "append", numpy="append")


def _differences(a, n: int, d: int):
    """``n`` rounds of neighbour differences along ``d``: ``!=`` for bool (PyTorch's and NumPy's xor)."""
    head = (slice(None),) * d
    for _ in range(n):
        later, earlier = a[head + (slice(1, None),)], a[head + (slice(None, -1),)]
        a = (later != earlier) if a._type.dtype == "bool" else later - earlier
    return a


def diff(a: TensorBase, n: int = 1, axis: int = -1, prepend=None, append=None) -> TensorBase:
    """``numpy.diff``: the ``n``-th differences along ``axis`` (after joining ``prepend``/``append``)."""
    (d,) = normalize_dims(axis, a.ndim)
    if prepend is not None or append is not None:
        def piece(extra):
            extra = as_tensors([a, extra])[1]
            if extra.ndim == 0:  # a scalar: one slice along the axis
                extra = extra.reshape((1,) * a.ndim).expand(tuple(a.shape[:d]) + (1,) + tuple(a.shape[d + 1:]))
            return extra
        parts = ([piece(prepend)] if prepend is not None else []) + [a] + (
            [piece(append)] if append is not None else [])
        a = cat(as_tensors(parts), d)
    return _differences(a, n, d)


def torch_diff(input: TensorBase, n: int = 1, dim: int = -1, prepend=None, append=None) -> TensorBase:
    """``torch.diff``: the ``n``-th differences along ``dim`` after joining the tensors ``prepend``/``append`` (of
    ``input``'s number of dimensions, as PyTorch requires); bool tensors give ``!=`` of neighbours.

    >>> import graphgrad as gg
    >>> gg.tensor([1, 4, 9, 16]).diff()
    tensor([3, 5, 7])
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    (d,) = normalize_dims(dim, input.ndim)
    extras = [x for x in (prepend, append) if x is not None]
    if any(not isinstance(x, TensorBase) or x.ndim != input.ndim for x in extras):
        raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    if extras and n:  # n = 0: the input itself, as PyTorch and NumPy (the extras are not joined)
        input = cat(([prepend] if prepend is not None else []) + [input] + ([append] if append is not None else []), d)
    return _differences(input, n, d)


export(diff, "diff", numpy="diff")
export(torch_diff, "diff", tensor="diff", gg="diff")


def _ndim(x) -> int:
    return x.ndim if isinstance(x, TensorBase) else np.ndim(x)


def _spacing(d, n: int, what: str):
    """One of ``numpy.gradient``'s varargs as the step along an axis of ``n`` samples: a scalar step, or from 1-D
    coordinates their differences (NumPy's: plain coordinates evenly spaced become one scalar step)."""
    if not isinstance(d, TensorBase):
        d = np.asarray(d)
    if d.ndim == 0:
        return d if isinstance(d, TensorBase) else d[()]
    if d.ndim != 1:
        raise ValueError(f"distances must be either scalars or 1d: {what} has shape {tuple(d.shape)}")
    if d.shape[0] != n:
        raise ValueError(f"when 1d, distances must match the length of the corresponding dimension: {what} has "
                         f"{d.shape[0]} coordinates for {n} samples")
    if isinstance(d, TensorBase):
        d = d if d.is_floating_point() else d._cast("float64")
        return d[1:] - d[:-1]
    steps = np.diff(d.astype(np.float64) if np.issubdtype(d.dtype, np.integer) else d)
    return steps[0] if (steps == steps[0]).all() else steps


def _axis_gradient(f: TensorBase, axis: int, dx, edge_order: int) -> TensorBase:
    """NumPy's gradient along one axis: central differences inside, one-sided ones of ``edge_order`` at the ends
    (the same formulas, in the same order, as ``numpy.gradient``), joined along the axis."""
    head = (slice(None),) * axis

    def take(start, stop):
        return f[head + (slice(start, stop),)]

    uniform = _ndim(dx) == 0
    along = (-1,) + (1,) * (f.ndim - axis - 1)  # a coefficient per sample along the axis

    def at(x, i):  # one coordinate step, or a range of them shaped to broadcast along the axis
        return x[i] if isinstance(i, int) else x[i].reshape(along)

    if uniform:
        inner = (take(2, None) - take(None, -2)) / (2.0 * dx)
    else:
        dx1, dx2 = at(dx, slice(0, -1)), at(dx, slice(1, None))
        a, b, c = -dx2 / (dx1 * (dx1 + dx2)), (dx2 - dx1) / (dx1 * dx2), dx1 / (dx2 * (dx1 + dx2))
        inner = a * take(None, -2) + b * take(1, -1) + c * take(2, None)
    if edge_order == 1:
        first = (take(1, 2) - take(0, 1)) / (dx if uniform else at(dx, 0))
        last = (take(-1, None) - take(-2, -1)) / (dx if uniform else at(dx, -1))
    else:
        if uniform:
            a, b, c = -1.5 / dx, 2.0 / dx, -0.5 / dx
        else:
            dx1, dx2 = at(dx, 0), at(dx, 1)
            a, b, c = -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2)), (dx1 + dx2) / (dx1 * dx2), -dx1 / (dx2 * (dx1 + dx2))
        first = a * take(0, 1) + b * take(1, 2) + c * take(2, 3)
        if uniform:
            a, b, c = 0.5 / dx, -2.0 / dx, 1.5 / dx
        else:
            dx1, dx2 = at(dx, -2), at(dx, -1)
            a, b, c = dx2 / (dx1 * (dx1 + dx2)), -(dx2 + dx1) / (dx1 * dx2), (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2))
        last = a * take(-3, -2) + b * take(-2, -1) + c * take(-1, None)
    pieces = [first] + ([inner] if f.shape[axis] > 2 else []) + [last]
    return cat(as_tensors(pieces), axis)


def gradient(f: TensorBase, *varargs, axis=None, edge_order: int = 1):
    """``numpy.gradient``: the derivative of sampled values along each axis (or ``axis``), by second-order central
    differences inside and one-sided differences of ``edge_order`` (1 or 2) at the ends; ``varargs`` give the
    spacing: one scalar for every axis, or one scalar or 1-D coordinate array per axis. One tensor for one axis,
    else a tuple. A composite of slices, so differentiable in ``f`` (and in traced spacings).

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.gradient(gg.tensor([1.0, 2.0, 4.0, 7.0, 11.0], dtype=gg.float64), 2.0)
    tensor([0.5000, 0.7500, 1.2500, 1.7500, 2.0000], dtype=torch.float64)
    """
    if not isinstance(f, TensorBase):  # plain samples, a traced spacing
        f = as_tensors([next(d for d in varargs if isinstance(d, TensorBase)), f])[1]
    if not f.is_floating_point():
        f = f._cast("float64")
    axes = tuple(range(f.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    normal = tuple(a % f.ndim if -f.ndim <= a < f.ndim else None for a in axes)
    if None in normal:
        raise np.exceptions.AxisError(f"gradient: axis {axes[normal.index(None)]} is out of bounds for array of "
                                      f"dimension {f.ndim}")
    if len(set(normal)) != len(normal):
        raise ValueError(f"gradient: repeated axis in {axes}")
    axes = normal
    if len(varargs) == 0:
        dx = [1.0] * len(axes)
    elif len(varargs) == 1 and _ndim(varargs[0]) == 0:
        dx = [_spacing(varargs[0], 0, "the spacing")] * len(axes)
    elif len(varargs) == len(axes):
        dx = [_spacing(d, f.shape[a], f"the spacing of axis {a}") for d, a in zip(varargs, axes)]
    else:
        raise TypeError(f"invalid number of arguments: gradient takes one spacing for every axis or one per axis "
                        f"({len(axes)}), got {len(varargs)}")
    if edge_order not in (1, 2):
        raise ValueError(f"'edge_order' greater than 2 not supported (got {edge_order})" if edge_order > 2 else
                         f"gradient: edge_order must be 1 or 2, got {edge_order}")
    outs = []
    for a, d in zip(axes, dx):
        if f.shape[a] < edge_order + 1:
            raise ValueError(f"Shape of array too small to calculate a numerical gradient, at least (edge_order + 1) "
                             f"elements are required: axis {a} has {f.shape[a]} for edge_order={edge_order}")
        outs.append(_axis_gradient(f, a, d, edge_order))
    return outs[0] if len(outs) == 1 else tuple(outs)


export(gradient, "gradient", numpy="gradient")


# -- repeat_interleave, tensor_split (PyTorch's) --------------------------------------------------------------
def _concrete_ints(t, op: str, what: str):
    """The values of an index-like tensor argument, which decide the result's shape: an eager tensor's values, or
    an error naming the op inside a compiled function."""
    refuse_traced(t, op, f"the result's shape would depend on the values of the tensor of {what}; pass Python "
                         f"ints (or compute this part eagerly)")
    return np.asarray(t._index_array() if t._type.dtype == "int64" else t.numpy()).astype(np.int64)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element (each slice along ``dim``; of the flattened tensor without it) repeated ``repeats`` times in a
    row: an int, or a tensor of one count per slice (its values decide the shape: eager only). One argument,
    ``repeat_interleave(counts)``, repeats the indices ``0, 1, ...``.

    >>> import graphgrad as gg
    >>> gg.tensor([1, 2]).repeat_interleave(2)
    tensor([1, 1, 2, 2])
    """
    if repeats is None:  # torch.repeat_interleave(repeats): the indices, each repeated
        counts = _concrete_ints(input, "repeat_interleave", "repeats")
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if (counts < 0).any():
            raise RuntimeError("repeats can not be negative")
        from .define import constant_like
        return constant_like(input, np.repeat(np.arange(len(counts), dtype=np.int64), counts))
    if dim is None:
        input, d = input.reshape(-1), 0
    else:
        (d,) = normalize_dims(dim, input.ndim)
        if input.ndim == 0:
            input = input.reshape(1)
    n = input.shape[d]
    if isinstance(repeats, TensorBase):
        if repeats.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if repeats.numel() == 1:
            repeats = int(_concrete_ints(repeats, "repeat_interleave", "repeats").reshape(-1)[0])
        else:
            counts = _concrete_ints(repeats, "repeat_interleave", "repeats")
            if counts.shape[0] != n:
                raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                                   f"{counts.shape[0]} and input.size({d}) = {n}")
            if (counts < 0).any():
                raise RuntimeError("repeats can not be negative")
            if output_size is not None and output_size != int(counts.sum()):
                raise RuntimeError("allocated size does not match required size")
            index = np.repeat(np.arange(n, dtype=np.int64), counts)
            return input[(slice(None),) * d + (index,)]
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    if output_size is not None and output_size != n * repeats:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {n * repeats} but got {output_size}")
    shape = tuple(input.shape)
    spread = input.unsqueeze(d + 1).expand(shape[:d + 1] + (repeats,) + shape[d + 1:])
    return spread.reshape(shape[:d] + (n * repeats,) + shape[d + 1:])


export(repeat_interleave, "repeat_interleave", tensor="repeat_interleave", gg="repeat_interleave")


def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple:
    """Views of ``input`` split along ``dim``: into ``k`` nearly equal parts (the first ``n % k`` one longer) for an
    int ``k``, or at the given indices (a list, or a 1-D int64 tensor; a 0-d one is a number of parts).

    >>> import graphgrad as gg
    >>> [p.tolist() for p in gg.arange(7).tensor_split(3)]
    [[0, 1, 2], [3, 4], [5, 6]]
    """
    if input.ndim == 0:
        raise RuntimeError(f"tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, TensorBase):
        if indices_or_sections._type.dtype != "int64":
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to have integer dtype, but got "
                               f"{indices_or_sections._type.dtype}")
        if indices_or_sections.ndim > 1:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {indices_or_sections.ndim} dims")
        values = _concrete_ints(indices_or_sections, "tensor_split", "indices or sections")
        indices_or_sections = int(values) if values.ndim == 0 else [int(i) for i in values]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        size, extra = divmod(n, k)
        bounds = [0]
        for i in range(k):
            bounds.append(bounds[-1] + size + (i < extra))
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i) + n if int(i) < 0 else int(i), 0), n)
                        for i in indices_or_sections] + [n]
    head = (slice(None),) * d
    return tuple(input[head + (slice(a, builtins.max(a, b)),)] for a, b in zip(bounds, bounds[1:]))


export(tensor_split, "tensor_split", tensor="tensor_split", gg="tensor_split")


# -- PyTorch's broadcast_to, meshgrid, cartesian_prod, combinations, fliplr/flipud, Tensor.unfold -----------------
import itertools  # noqa: E402

from ..passes.row_decomposition import along_dim_rows  # noqa: E402
from .define import warn_user  # noqa: E402

export(lambda input, size: input.expand(*size), "broadcast_to", gg="broadcast_to")

_MESHGRID_WARNING = "torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument."


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids of 0-D or 1-D ``tensors``: the k-th result holds ``tensors[k]`` along dimension k
    (``indexing='ij'``) or, with ``'xy'``, the first two dimensions swapped (NumPy's default: x along columns). Each
    result is an expanded view of its input. Without ``indexing``, ``'ij'`` with PyTorch's warning.

    >>> import graphgrad as gg
    >>> x, y = gg.meshgrid(gg.tensor([1, 2]), gg.tensor([3, 4, 5]), indexing="ij")
    >>> x
    tensor([[1, 1, 1],
            [2, 2, 2]])
    >>> y
    tensor([[3, 4, 5],
            [3, 4, 5]])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warn_user(_MESHGRID_WARNING)
        indexing = "ij"
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if len({t._type.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    swap = indexing == "xy" and len(tensors) >= 2  # PyTorch: 'ij' of the first two swapped, the results swapped back
    ordered = [tensors[1], tensors[0], *tensors[2:]] if swap else list(tensors)
    shape = tuple(t._type.size for t in ordered)
    grids = [t.reshape(tuple(-1 if i == k else 1 for i in range(len(shape)))).expand(*shape)
             for k, t in enumerate(ordered)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors) -> TensorBase:
    """Every combination of one element of each 1-D tensor, as rows (``itertools.product``'s order); one tensor
    is returned as it is.

    >>> import graphgrad as gg
    >>> gg.cartesian_prod(gg.tensor([1, 2]), gg.tensor([3, 4]))
    tensor([[1, 3],
            [1, 4],
            [2, 3],
            [2, 4]])
    """
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(input: TensorBase, r: int = 2, with_replacement: bool = False) -> TensorBase:
    """The length-``r`` combinations of the elements of a 1-D tensor, as rows, in ``itertools.combinations``' (or
    ``combinations_with_replacement``') order: a gather with indices fixed by the length.

    >>> import graphgrad as gg
    >>> gg.combinations(gg.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input[:0]
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = [list(c) for c in pick(range(input.shape[0]), r)]
    if not rows:  # (an empty index would lose its shape)
        return input[:0].reshape(0, r)
    return input[np.asarray(rows, dtype=np.int64)]


export(meshgrid, "meshgrid", gg="meshgrid")
export(cartesian_prod, "cartesian_prod", gg="cartesian_prod")
export(combinations, "combinations", gg="combinations")


def fliplr(input: TensorBase) -> TensorBase:
    """``input`` with its columns (dimension 1) in reverse order; at least 2-D.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).fliplr()
    tensor([[2, 1],
            [4, 3]])
    """
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, 1)


def flipud(input: TensorBase) -> TensorBase:
    """``input`` with its rows (dimension 0) in reverse order; at least 1-D.

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).flipud()
    tensor([[3, 4],
            [1, 2]])
    """
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, 0)


export(fliplr, "fliplr", tensor="fliplr", gg="fliplr")
export(flipud, "flipud", tensor="flipud", gg="flipud")


# Tensor.unfold: a primitive, as PyTorch's is a view (writes into the base show in it, and a write into windows
# that do not overlap reaches the base); a gather would be a copy
def _unfold_type(inputs, dim, size, step):
    (x,) = inputs
    count = (x.shape[dim] - size) // step + 1
    return TensorType(tuple(x.shape[:dim]) + (count,) + tuple(x.shape[dim + 1:]) + (size,), x.dtype)


def _unfold_expr(a, xp, out, dim, size, step):
    x = a[0]
    shape = f"{x}.shape[:{dim}] + (({x}.shape[{dim}] - {size}) // {step} + 1,) + {x}.shape[{dim + 1}:] + ({size},)"
    strides = f"{x}.strides[:{dim}] + ({step} * {x}.strides[{dim}],) + {x}.strides[{dim + 1}:] + ({x}.strides[{dim}],)"
    # overlapping windows share elements: NumPy's view is then read-only, so that no write lands in several
    # (PyTorch's error for such a write); CuPy has no flag
    flag = ", writeable=False" if xp == "np" and step < size else ""
    return [f"{xp}.lib.stride_tricks.as_strided({x}, {shape}, {strides}{flag})"]


def _unfold_vjp(g, out, x, *, dim, size, step):
    """Each window's gradient added back where the window came from (overlaps add up): a scatter_add along
    ``dim`` of the windows laid end to end, at positions ``k * step + j``."""
    shape = tuple(x._type.shape)
    count = g.shape[dim]
    zeros = bind("full_like", x, value=0.0)
    if g._type.size == 0:
        return zeros
    flat = g.movedim(-1, dim + 1).reshape(shape[:dim] + (count * size,) + shape[dim + 1:])

    def iota(axis):  # 0, 1, ... along g's axis, as int64, made from g: on g's device (arange would be on the CPU)
        line = g[tuple(slice(None) if i == axis else 0 for i in range(g.ndim))]
        return bind("full_like", line._cast("int64"), value=1).cumsum(0) - 1

    positions = (iota(dim).reshape(count, 1) * step + iota(g.ndim - 1).reshape(1, size)).reshape(
        (1,) * dim + (count * size,) + (1,) * (len(shape) - dim - 1))
    return bind("scatter_add", zeros, positions.expand(*flat.shape), flat, dim=dim)


def unfold(input: TensorBase, dimension: int, size: int, step: int) -> TensorBase:
    """The windows of ``size`` elements along ``dimension``, ``step`` apart: that dimension becomes the number of
    windows, and a last dimension of ``size`` is added (PyTorch's ``Tensor.unfold``, a view of ``input``).

    >>> import graphgrad as gg
    >>> gg.arange(5.0).unfold(0, 2, 1)
    tensor([[0., 1.],
            [1., 2.],
            [2., 3.],
            [3., 4.]])
    """
    (d,) = normalize_dims(dimension, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if input.ndim == 0:  # PyTorch: a 0-d tensor's one window is (size,), without a window count
        return input.reshape(1)[:size]
    return bind("unfold", input, dim=d, size=int(size), step=int(step))


primitive("unfold", memory="view", view=True, zero_signs="through", attrs=("dim", "size", "step"),
          infer=_unfold_type, expr=_unfold_expr, vjp=(_unfold_vjp,), rows=along_dim_rows,
          batch=lambda op, args, bdims, dim, size, step: (bind(op, to_front(args[0], bdims[0]), dim=dim + 1,
                                                               size=size, step=step), 0),
          doc="the windows of size elements along dim, step apart (a view; a new last dimension of size)",
          fn=unfold, tensor="unfold")


# -- PyTorch's broadcast_tensors, Tensor.reshape_as, and torch.narrow / torch.select (Tensor methods of ir.api) ------
def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded to their common broadcast shape (views; a tensor of that shape already is returned
    itself, as PyTorch does).

    >>> import graphgrad as gg
    >>> a, b = gg.broadcast_tensors(gg.tensor([1, 2, 3]), gg.tensor([[10], [20]]))
    >>> b
    tensor([[10, 10, 10],
            [20, 20, 20]])
    """
    for i, t in enumerate(tensors):
        if not isinstance(t, TensorBase):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    shape = ()
    for t in tensors:  # pairwise, as PyTorch's infer_size: its error names the sizes that disagree
        shape = broadcast_shapes(shape, tuple(t.shape))
    return tuple(t if tuple(t.shape) == shape else t.expand(*shape) for t in tensors)


def narrow(input: TensorBase, dim: int, start: int, length: int) -> TensorBase:
    """``torch.narrow``: ``length`` elements of ``input`` along ``dim`` from ``start`` (``Tensor.narrow``).

    >>> import graphgrad as gg
    >>> gg.narrow(gg.tensor([[1, 2, 3], [4, 5, 6]]), 1, 1, 2)
    tensor([[2, 3],
            [5, 6]])
    """
    return input.narrow(dim, start, length)


def select(input: TensorBase, dim: int, index: int) -> TensorBase:
    """``torch.select``: the slice of ``input`` at ``index`` along ``dim``, without that dim (``Tensor.select``).

    >>> import graphgrad as gg
    >>> gg.select(gg.tensor([[1, 2, 3], [4, 5, 6]]), 1, -1)
    tensor([3, 6])
    """
    return input.select(dim, index)


export(broadcast_tensors, "broadcast_tensors", gg="broadcast_tensors")
export(lambda self, other: self.reshape(other.shape), "reshape", tensor="reshape_as")
export(narrow, "getitem", gg="narrow")  # (both index: published under getitem, as x[...] is)
export(select, "getitem", gg="select")
