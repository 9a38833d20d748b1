"""Function forms of the Tensor API (``gg.exp(x)``, ``gg.cat([a, b])``), for any interpreter."""
from __future__ import annotations

from .api import TensorBase, bind, where  # noqa: F401
from .public import FUNCTIONS
from .registry import normalize_dims


def matmul(x, y): return bind("matmul", x, y)


mm = matmul


def softmax(x, dim: int): return x.softmax(dim)
def log_softmax(x, dim: int): return x.log_softmax(dim)
def reshape(x, shape): return x.reshape(shape)
def flatten(x, start_dim: int = 0, end_dim: int = -1): return x.flatten(start_dim, end_dim)
def squeeze(x, dim=None): return x.squeeze(dim)
def unsqueeze(x, dim: int): return x.unsqueeze(dim)
def transpose(x, dim0: int, dim1: int): return x.transpose(dim0, dim1)
def permute(x, dims): return x.permute(dims)
def t(x): return x.t()



def cat(tensors, dim: int = 0):
    """Join tensors along an existing dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    (d,) = normalize_dims(dim, tensors[0].ndim)
    return bind("concat", *tensors, dim=d)


concat = cat


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


def __getattr__(name: str):
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module 'graphgrad.ir.functional' has no attribute {name!r}") from None
