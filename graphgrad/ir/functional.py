"""Function forms of the Tensor API (``gg.exp(x)``, ``gg.cat([a, b])``), for any interpreter."""
from __future__ import annotations

from .api import TensorBase, bind, where  # noqa: F401
from .public import FUNCTIONS
from .registry import normalize_dims


def matmul(x, y): return bind("matmul", x, y)


mm = matmul


def sum(x, dim=None, keepdim: bool = False): return x.sum(dim, keepdim)
def mean(x, dim=None, keepdim: bool = False): return x.mean(dim, keepdim)
def prod(x, dim=None, keepdim: bool = False): return x.prod(dim, keepdim)
def amax(x, dim=None, keepdim: bool = False): return x.amax(dim, keepdim)
def amin(x, dim=None, keepdim: bool = False): return x.amin(dim, keepdim)
def max(x, dim=None, keepdim: bool = False): return x.max(dim, keepdim)
def min(x, dim=None, keepdim: bool = False): return x.min(dim, keepdim)
def argmax(x, dim=None, keepdim: bool = False): return x.argmax(dim, keepdim)
def argmin(x, dim=None, keepdim: bool = False): return x.argmin(dim, keepdim)
def logsumexp(x, dim, keepdim: bool = False): return x.logsumexp(dim, keepdim)
def norm(x, p=2, dim=None, keepdim: bool = False): return x.norm(p, dim, keepdim)
def var(x, dim=None, unbiased: bool = True, keepdim: bool = False): return x.var(dim, unbiased, keepdim)
def std(x, dim=None, unbiased: bool = True, keepdim: bool = False): return x.std(dim, unbiased, keepdim)
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
