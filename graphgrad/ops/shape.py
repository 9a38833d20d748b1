"""Shape ops: reshape, permute, expand, concat; and the composites built on them (view, flatten, squeeze,
unsqueeze, transpose, T, stack, ...)."""
from __future__ import annotations

import builtins

from ..ir.api import bind
from ..ir.public import export
from ..ir.registry import ShapeError, normalize_dims, result_dtype
from ..ir.types import TensorType
from .define import lift, primitive


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


def reshape(x, *shape):
    """The same elements in a new shape (row-major); one dimension may be -1."""
    shape = shape_arg(shape)
    if -1 in shape:
        known = 1
        for d in shape:
            known *= d if d != -1 else 1
        if list(shape).count(-1) > 1 or known == 0 or x.numel() % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.numel()}")
        shape = tuple(x.numel() // known if d == -1 else d for d in shape)
    return bind("reshape", x, shape=shape)


primitive("reshape", attrs=("shape",), infer=_reshape_type, doc="same elements, new shape (row-major)",
          vjp=(lambda g, out, x, *, shape: g.reshape(x.shape),),
          expr=lambda a, xp, out, shape: [f"{a[0]}.reshape({shape})"],
          fn=reshape, tensor=("reshape", "view"), gg="reshape", numpy="reshape",
          numpy_fn=lambda a, shape: reshape(a, shape))


# -- permute ------------------------------------------------------------------------------------
def _permute_type(inputs, dims):
    x = inputs[0]
    if sorted(dims) != list(range(x.ndim)):
        raise ShapeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                         f"length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not "
                         f"equal to len(dims) = {len(dims)}" if len(dims) != x.ndim else
                         f"permute: dims {list(dims)} are not a permutation of the {x.ndim} axes")
    return TensorType(tuple(x.shape[d] for d in dims), x.dtype)


def permute(x, *dims):
    """Reorder the axes: ``out.shape[i] == x.shape[dims[i]]``."""
    dims = shape_arg(dims)
    dims = tuple(d % builtins.max(x.ndim, 1) for d in dims)
    return bind("permute", x, dims=dims)


primitive("permute", attrs=("dims",), infer=_permute_type, doc="reorder the axes",
          vjp=(lambda g, out, x, *, dims: g.permute(_inverse(dims)),),
          expr=lambda a, xp, out, dims: (
              [f"{a[0]}.T"] if dims == tuple(reversed(range(len(dims)))) else [f"{a[0]}.transpose({dims})"]),
          fn=permute, tensor="permute", gg="permute")


# -- expand -------------------------------------------------------------------------------------
def _expand_type(inputs, shape):
    x = inputs[0]
    shape = tuple(shape)
    if len(shape) < x.ndim or any(d != 1 and d != s for d, s in zip(x.shape, shape[len(shape) - x.ndim:])):
        raise ShapeError(f"The expanded size of the tensor ({shape[-1] if shape else 0}) must match the existing "
                         f"size ({x.shape[-1] if x.shape else 0}) at non-singleton dimension {len(shape) - 1}.  "
                         f"Target sizes: {list(shape)}.  Tensor sizes: {list(x.shape)}")
    return TensorType(shape, x.dtype)


def expand(x, *shape):
    """Broadcast to a larger shape without copying (-1 keeps a dimension)."""
    shape = shape_arg(shape)
    lead = len(shape) - x.ndim
    shape = tuple(x.shape[i - lead] if d == -1 else d for i, d in enumerate(shape))
    return bind("expand", x, shape=shape)


primitive("expand", attrs=("shape",), infer=_expand_type, doc="broadcast to a larger shape without copying",
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


def cat(tensors, dim: int = 0):
    """Join tensors along an existing dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    (d,) = normalize_dims(dim, tensors[0].ndim)
    return bind("concat", *tensors, dim=d)


primitive("concat", attrs=("dim",), infer=_concat_type, joint_vjp=_concat_vjp,
          doc="join tensors along an existing axis",
          expr=lambda a, xp, out, dim: [f"{xp}.concatenate([{', '.join(a)}], axis={dim})"],
          fn=cat, gg=("cat", "concat"), numpy="concatenate",
          numpy_fn=lambda arrays, axis=0: cat([lift(a) for a in arrays], axis))


# -- composites ---------------------------------------------------------------------------------
def view_as(x, other):
    """``x.reshape(other.shape)``."""
    return x.reshape(other.shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge the dimensions ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return x.reshape(x.shape[:s] + (n,) + x.shape[e + 1:])


def squeeze(x, dim=None):
    """Drop dimensions of size 1 (only those in ``dim`` when given)."""
    if dim is None:
        return x.reshape(tuple(d for d in x.shape if d != 1))
    dims = normalize_dims(dim, x.ndim)
    return x.reshape(tuple(d for i, d in enumerate(x.shape) if not (i in dims and d == 1)))


def unsqueeze(x, dim: int):
    """Insert a dimension of size 1 at ``dim``."""
    d = dim % (x.ndim + 1)
    return x.reshape(x.shape[:d] + (1,) + x.shape[d:])


def transpose(x, dim0: int, dim1: int):
    """Swap two dimensions."""
    dims = list(range(x.ndim))
    a, b = dim0 % x.ndim, dim1 % x.ndim
    dims[a], dims[b] = dims[b], dims[a]
    return bind("permute", x, dims=tuple(dims))


def t(x):
    """The transpose of a matrix (vectors and scalars are returned as they are)."""
    if x.ndim < 2:
        return x
    return x.transpose(0, 1)


def stack(tensors, dim: int = 0):
    """Join tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(x.shape)} at entry {i}")
    d = dim % (len(shape) + 1)
    return cat([x.unsqueeze(d) for x in tensors], d)


export(view_as, "view_as", tensor="view_as")
export(flatten, "flatten", tensor="flatten", gg="flatten")
export(squeeze, "squeeze", tensor="squeeze", gg="squeeze", numpy="squeeze")
export(unsqueeze, "unsqueeze", tensor="unsqueeze", gg="unsqueeze", numpy="expand_dims")
export(transpose, "transpose", tensor="transpose", gg="transpose", numpy="transpose",
       numpy_fn=lambda a, axes=None: a.T if axes is None else a.permute(axes))
export(t, "t", tensor="t", gg="t")
export(property(lambda x: x.permute(tuple(reversed(range(x.ndim))))), "T", tensor="T")
export(property(lambda x: x.transpose(-2, -1)), "mT", tensor="mT")
export(lambda x, other: x.expand(other.shape), "expand_as", tensor="expand_as")
export(lambda x, shape: x.expand(*shape), "broadcast_to", tensor="broadcast_to", numpy="broadcast_to")
export(lambda x: x.reshape(-1), "ravel", numpy="ravel")
export(stack, "stack", gg="stack", numpy="stack", numpy_fn=lambda arrays, axis=0: stack(list(arrays), axis))
