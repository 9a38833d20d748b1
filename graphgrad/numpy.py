"""``graphgrad.numpy``: NumPy's functions over graphgrad's ops, so NumPy code differentiates by
changing its import (as HIPS autograd and ``jax.numpy`` allow).

On plain arrays every function simply calls NumPy; on graphgrad tensors (eager or traced) it
applies the matching primitive, so ``gg.grad(f)(x)`` works for ``f`` written against ``gnp``.

>>> import numpy as np, graphgrad as gg, graphgrad.numpy as gnp
>>> def f(x):
...     return gnp.sum(gnp.tanh(x) ** 2)
>>> gg.grad(f)(np.array([0.5, -1.0])).round(4)
array([ 0.7269, -0.6397])
"""
from __future__ import annotations

import builtins
import sys as _sys
import types

import numpy as _np

from .ir.api import TensorBase as _T
from .ir.public import NUMPY as _NUMPY

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float32, float64, int64 = _np.float32, _np.float64, _np.int64


def _any_tensor(*args) -> bool:
    for a in args:
        if isinstance(a, _T):
            return True
        if isinstance(a, (list, tuple)) and builtins.any(isinstance(x, _T) for x in a):
            return True
    return False


def _dual(numpy_fn, tensor_fn, name: str):
    def fn(*args, **kwargs):
        if _any_tensor(*args, *kwargs.values()):
            return tensor_fn(*args, **kwargs)
        return numpy_fn(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"``numpy.{name}`` on arrays; the differentiable graphgrad op on tensors."
    return fn


array = asarray = _np.asarray
zeros, ones, arange, linspace, eye, full = _np.zeros, _np.ones, _np.arange, _np.linspace, _np.eye, _np.full
shape, ndim, size = _np.shape, _np.ndim, _np.size
random = _np.random

linalg = types.ModuleType("graphgrad.numpy.linalg", "``numpy.linalg`` functions over graphgrad ops.")
for _name, (_tensor_fn, _impl) in _NUMPY.items():  # declared beside each op in graphgrad.ops
    _module, _, _short = _name.rpartition(".")
    setattr(linalg if _module == "linalg" else _sys.modules[__name__], _short,
            _dual(_impl or getattr(getattr(_np, _module) if _module else _np, _short), _tensor_fn, _short))
