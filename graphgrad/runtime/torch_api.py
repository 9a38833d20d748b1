"""The module-level functions with PyTorch's signatures: keyword names (``torch.matmul(input=a, other=b)``)
and ``out=`` (the result written into an existing tensor, not differentiable, as in PyTorch).

>>> import graphgrad as torch
>>> out = torch.empty(2)
>>> _ = torch.add(input=torch.ones(2), other=torch.ones(2), alpha=2, out=out)
>>> out
tensor([3., 3.])
"""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ops.elementwise import _div as divide  # div with rounding_mode
from .grad_mode import is_grad_enabled
from .tensor import Tensor


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
