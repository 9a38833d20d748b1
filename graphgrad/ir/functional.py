"""Function forms of the Tensor API (``gg.exp(x)``, ``gg.cat([a, b])``), for any interpreter."""
from __future__ import annotations

from .api import TensorBase, bind, where  # noqa: F401
from .registry import normalize_dims


def _unary(op):
    def fn(x):
        return bind(op, x)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` of a tensor."
    return fn


exp, log, log1p, sin, cos, tanh, sigmoid, relu, sqrt, abs, neg, sign = (
    _unary(op) for op in ("exp", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt", "abs", "neg",
                          "sign"))


def add(x, y): return bind("add", x, y)
def sub(x, y): return bind("sub", x, y)
def mul(x, y): return bind("mul", x, y)
def div(x, y): return bind("div", x, y)
def pow(x, y): return bind("pow", x, y)
def matmul(x, y): return bind("matmul", x, y)
def maximum(x, y): return bind("maximum", x, y)
def minimum(x, y): return bind("minimum", x, y)
def lt(x, y): return bind("lt", x, y)
def le(x, y): return bind("le", x, y)
def gt(x, y): return bind("gt", x, y)
def ge(x, y): return bind("ge", x, y)
def eq(x, y): return bind("eq", x, y)
def ne(x, y): return bind("ne", x, y)


mm = matmul
square = lambda x: x * x  # noqa: E731


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
def clamp(x, min=None, max=None): return x.clamp(min, max)
def reshape(x, shape): return x.reshape(shape)
def flatten(x, start_dim: int = 0, end_dim: int = -1): return x.flatten(start_dim, end_dim)
def squeeze(x, dim=None): return x.squeeze(dim)
def unsqueeze(x, dim: int): return x.unsqueeze(dim)
def transpose(x, dim0: int, dim1: int): return x.transpose(dim0, dim1)
def permute(x, dims): return x.permute(dims)
def t(x): return x.t()


clip = clamp


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
