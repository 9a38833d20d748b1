"""The module-level functions with PyTorch's signatures: keyword names (``torch.matmul(input=a, other=b)``)
and ``out=`` (the result written into an existing tensor, not differentiable, as in PyTorch).

>>> import graphgrad as torch
>>> out = torch.empty(2)
>>> _ = torch.add(input=torch.ones(2), other=torch.ones(2), alpha=2, out=out)
>>> out
tensor([3., 3.])
"""
from __future__ import annotations

from ..ir import functional as F
from .grad_mode import is_grad_enabled
from .tensor import Tensor


def write_out(name: str, result, out):
    """``out=``: resize ``out`` to the result's shape if needed and write the result into it."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (getattr(result, "_requires_grad", False) or out._requires_grad):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
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
    op.__name__ = name
    op.__doc__ = f"``{name}(input, other, *, out=None)``, as ``torch.{name}``."
    return op


def _unary(name: str, fn):
    def op(input, *, out=None):
        return write_out(name, fn(input), out)
    op.__name__ = name
    op.__doc__ = f"``{name}(input, *, out=None)``, as ``torch.{name}``."
    return op


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other``."""
    return write_out("add", F.add(input, other if alpha == 1 else other * alpha), out)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``."""
    return write_out("sub", F.sub(input, other if alpha == 1 else other * alpha), out)


def div(input, other, *, rounding_mode=None, out=None):
    """True division; ``rounding_mode="floor"``/``"trunc"`` round the quotient (no gradient then)."""
    result = F.div(input, other)
    if rounding_mode is not None:
        import numpy as np

        if rounding_mode not in ("floor", "trunc"):
            raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                               f"'{rounding_mode}'")
        rounded = (np.floor if rounding_mode == "floor" else np.trunc)(result.detach().numpy(force=True))
        both_int = all(not (isinstance(v, Tensor) and v.is_floating_point()) and not isinstance(v, float)
                       for v in (input, other))
        result = Tensor._wrap(rounded.astype(np.int64) if both_int else rounded.astype(result._data.dtype))
    return write_out("div", result, out)


def pow(input, exponent, *, out=None):  # noqa: A001
    return write_out("pow", F.pow(input, exponent), out)


def mm(input, mat2, *, out=None):
    return write_out("mm", F.matmul(input, mat2), out)


def cat(tensors, dim: int = 0, *, out=None):
    """Join tensors along an existing dimension ``dim``."""
    return write_out("cat", F.cat(tensors, dim), out)


def stack(tensors, dim: int = 0, *, out=None):
    """Join tensors along a new dimension ``dim``."""
    return write_out("stack", F.stack(tensors, dim), out)


mul, matmul, maximum, minimum, lt, le, gt, ge, eq, ne = (
    _binary(name, getattr(F, name)) for name in ("mul", "matmul", "maximum", "minimum", "lt", "le", "gt", "ge", "eq",
                                                 "ne"))
exp, log, log1p, sin, cos, tanh, sigmoid, relu, sqrt, abs, neg, sign = (  # noqa: A001
    _unary(name, getattr(F, name)) for name in ("exp", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt",
                                                "abs", "neg", "sign"))
