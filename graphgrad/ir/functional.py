"""Function forms of the Tensor API (``gg.exp(x)``, ``gg.cat([a, b])``), for any interpreter."""
from __future__ import annotations

from .api import TensorBase, bind, where  # noqa: F401
from .public import FUNCTIONS
from .registry import normalize_dims


def matmul(x, y): return bind("matmul", x, y)


mm = matmul


def softmax(x, dim: int): return x.softmax(dim)
def log_softmax(x, dim: int): return x.log_softmax(dim)



def __getattr__(name: str):
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module 'graphgrad.ir.functional' has no attribute {name!r}") from None
