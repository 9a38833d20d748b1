"""The module-level functions with PyTorch's signatures: keyword names (``torch.matmul(input=a, other=b)``)
and ``out=`` (the result written into an existing tensor, not differentiable, as in PyTorch); and PyTorch's
functions that are no op: questions about a tensor (``is_tensor``, ``is_floating_point``, ...) and type promotion
(``result_type``, ``promote_types``).

>>> import graphgrad as torch
>>> out = torch.empty(2)
>>> _ = torch.add(input=torch.ones(2), other=torch.ones(2), alpha=2, out=out)
>>> out
tensor([3., 3.])
"""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ir.registry import result_dtype
from ..ir.types import TensorType
from ..ops.define import tensors_only
from ..ops.elementwise import _div as divide  # div with rounding_mode
from ..tracer.tracer import SymbolicTensor
from .dtypes import BY_NAME, dtype
from .grad_mode import is_grad_enabled
from .tensor import Size, Tensor


def write_out(name: str, result, out):
    """``out=``: resize ``out`` to the result's shape if needed and write the result into it."""
    if out is None:
        return result
    if not isinstance(out, TensorBase):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (getattr(result, "requires_grad", False) or out.requires_grad):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if not isinstance(out, Tensor):  # traced: recorded as out.copy_(result)
        if tuple(out.shape) != tuple(result.shape):
            raise RuntimeError(f"{name}(): out= has shape {list(out.shape)} and the result {list(result.shape)}: "
                               f"inside a compiled function out= is not resized; pass an out of the result's shape")
        return out.copy_(result)
    data = result._data if isinstance(result, Tensor) else result
    if out._data.shape != data.shape:
        out._data = data.astype(out._data.dtype, copy=True)  # PyTorch resizes out (an empty one silently)
    else:
        out._data[...] = data
    out._version_box[0] += 1
    return out


def _binary(name: str, fn):
    def op(input, other, *, out=None):
        return write_out(name, fn(input, other), out)
    return _named(op, name, fn)


def _unary(name: str, fn):
    def op(input, *, out=None):
        return write_out(name, fn(input), out)
    return _named(op, name, fn)


def _named(op, name: str, fn):
    op.__name__ = op.__qualname__ = name
    op.__doc__ = fn.__doc__
    op.__wrapped__ = fn
    return op


def _with_alpha(name: str, fn):
    def op(input, other, *, alpha=1, out=None):
        return write_out(name, fn(input, other if alpha == 1 else other * alpha), out)
    return _named(op, name, fn)


def _div(name: str, fn):
    def div(input, other, *, rounding_mode=None, out=None):
        return write_out(name, fn(input, other) if rounding_mode is None else
                         divide(input, other, rounding_mode=rounding_mode), out)
    return _named(div, name, fn)


def _joined(name: str, fn):
    def op(tensors, dim: int = 0, *, out=None):
        return write_out(name, fn(tensors, dim), out)
    return _named(op, name, fn)


def _extremum(name: str):
    def op(input, dim=None, keepdim: bool = False, *, out=None):
        # the method: eager tensors return torch.return_types and route gradients as PyTorch's max(dim)
        return getattr(input, name)(dim, keepdim) if out is None else \
            write_out(name, getattr(input, name)(dim, keepdim), out)
    return op


def install(functions: dict) -> None:
    """Give the ``graphgrad.X`` functions declared in ``graphgrad.ops`` PyTorch's argument names and ``out=``
    (each wraps the declared function; Tensor methods and traced code are unchanged). An op's other names
    (``multiply``, ``negative``, ``special.erf``) get the same wrapper, under their own name (PyTorch's
    ``special_erf`` in messages)."""
    base = dict(functions)

    def wrap(name: str, wrapper) -> None:
        for alias in [n for n, fn in base.items() if fn is base[name]]:
            functions[alias] = wrapper(alias.replace(".", "_"), base[alias])

    for name in ("mul", "matmul", "mm", "maximum", "minimum", "lt", "le", "gt", "ge", "eq", "ne", "pow"):
        wrap(name, _binary)
    for name in ("exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sqrt", "abs", "neg", "sign",
                 "erf", "expm1", "reciprocal", "rsqrt", "square"):
        wrap(name, _unary)
    wrap("add", _with_alpha)
    wrap("sub", _with_alpha)
    wrap("div", _div)
    functions["cat"] = functions["concat"] = _joined("cat", base["cat"])
    functions["stack"] = _joined("stack", base["stack"])
    for name in ("max", "min"):
        functions[name] = _named(_extremum(name), name, base[name])


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a tensor: a traced value inside a compiled function stands for one, as the same code sees
    one eagerly.

    >>> import graphgrad as gg
    >>> gg.is_tensor(gg.tensor([1.0])), gg.is_tensor([1.0])
    (True, False)
    """
    return isinstance(obj, (Tensor, SymbolicTensor))


def numel(input: Tensor) -> int:
    """The number of elements of ``input`` (``Tensor.numel``).

    >>> import graphgrad as gg
    >>> gg.numel(gg.zeros(2, 3))
    6
    """
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input``'s dtype is a floating one (``Tensor.is_floating_point``).

    >>> import graphgrad as gg
    >>> gg.is_floating_point(gg.tensor([1.0])), gg.is_floating_point(gg.tensor([1]))
    (True, False)
    """
    tensors_only("is_floating_point", input=input)
    return input.is_floating_point()


def is_nonzero(input: Tensor) -> bool:
    """Whether the one element of ``input`` is not zero (``Tensor.is_nonzero``).

    >>> import graphgrad as gg
    >>> gg.is_nonzero(gg.tensor([1.5])), gg.is_nonzero(gg.tensor(0))
    (True, False)
    """
    tensors_only("is_nonzero", input=input)
    return input.is_nonzero()


def result_type(tensor, other) -> dtype:
    """The dtype PyTorch's type promotion gives an operation on ``tensor`` and ``other`` (tensors or numbers):
    tensors with dimensions first, then 0-d ones, then numbers, each only where it brings a higher category.

    >>> import graphgrad as gg
    >>> gg.result_type(gg.tensor([1, 2]), 1.0), gg.result_type(gg.tensor([1.0]), gg.tensor(1.0, dtype=gg.float64))
    (torch.float32, torch.float32)
    """
    operands = [tensor, other]
    if not all(is_tensor(x) or isinstance(x, (bool, int, float)) for x in operands):
        got = ", ".join("Tensor" if is_tensor(x) else type(x).__name__ for x in operands)
        raise TypeError(f"result_type() received an invalid combination of arguments - got ({got}), but expected one "
                        f"of:\n * (Tensor tensor, Tensor other)\n * (Number scalar, Tensor tensor)\n"
                        f" * (Tensor tensor, Number other)\n * (Number scalar1, Number scalar2)\n")
    return BY_NAME[result_dtype([x._type if is_tensor(x) else x for x in operands])]


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to (PyTorch's promotion of two tensors' dtypes).

    >>> import graphgrad as gg
    >>> gg.promote_types(gg.int64, gg.float32), gg.promote_types(gg.bool, gg.int64)
    (torch.float32, torch.int64)
    """
    for position, name, t in ((1, "type1", type1), (2, "type2", type2)):
        if not isinstance(t, dtype):
            raise TypeError(f"promote_types(): argument '{name}' (position {position}) must be torch.dtype, not "
                            f"{type(t).__name__}")
    return BY_NAME[result_dtype([TensorType((1,), type1.name), TensorType((1,), type2.name)])]


def is_complex(input: Tensor) -> bool:
    """False for every tensor: graphgrad has no complex dtype (``Tensor.is_complex``).

    >>> import graphgrad as gg
    >>> gg.is_complex(gg.tensor([1.0]))
    False
    """
    tensors_only("is_complex", input=input)
    return input.is_complex()


def detach(input: Tensor) -> Tensor:
    """``input.detach()``: the same data, without history (PyTorch's ``torch.detach``).

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0], requires_grad=True)
    >>> gg.detach(x).requires_grad, gg.detach(x).data_ptr() == x.data_ptr()
    (False, True)
    """
    tensors_only("detach", input=input)
    return input.detach()


def can_cast(from_: dtype, to: dtype) -> bool:
    """Whether PyTorch's casting rules let an in-place op write a ``from_`` result into a ``to`` tensor: never a
    float into an integer or bool, nor an integer into a bool; anything else (also narrowing) is allowed.

    >>> import graphgrad as gg
    >>> gg.can_cast(gg.float64, gg.float32), gg.can_cast(gg.float32, gg.int64), gg.can_cast(gg.bool, gg.int64)
    (True, False, True)
    """
    for position, name, t in ((1, "from_", from_), (2, "to", to)):
        if not isinstance(t, dtype):
            raise TypeError(f"can_cast(): argument '{name}' (position {position}) must be torch.dtype, not "
                            f"{type(t).__name__}")
    rank = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}  # the category: bool < integer < float
    return rank[from_.name] <= rank[to.name]


def broadcast_shapes(*shapes) -> Size:
    """The shape tensors of ``shapes`` broadcast to (PyTorch's ``torch.broadcast_shapes``: an int is a 1-D shape),
    with PyTorch's error naming the first shape that does not fit.

    >>> import graphgrad as gg
    >>> gg.broadcast_shapes((2,), (3, 1), (1, 1, 1))
    torch.Size([1, 3, 2])
    """
    shapes = [(s,) if isinstance(s, int) else s for s in shapes if s is not None]
    for shape in shapes:
        if not isinstance(shape, (list, tuple)):
            raise RuntimeError(f"Input shapes should be of type ints, a tuple of ints, or a list of ints, got {shape}")
    common = [1] * max((len(s) for s in shapes), default=0)
    for index, shape in enumerate(shapes):
        for i in range(-1, -1 - len(shape), -1):
            if shape[i] == common[i]:
                continue
            if common[i] == 1:
                if shape[i] < 0:
                    raise ValueError("Attempting to broadcast a dimension with negative length!")
                common[i] = shape[i]
            if shape[i] != 1 and common[i] != shape[i]:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {shape[i]} at {i}! Mismatching "
                                   f"argument at index {index} had {shape}; but expected shape should be "
                                   f"broadcastable to {common}")
    return Size(common)
