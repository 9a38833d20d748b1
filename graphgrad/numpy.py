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
from .ops.define import array as _array, built as _built, contains_tensor as _contains_tensor

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float32, float64, int64 = _np.float32, _np.float64, _np.int64


def _any_tensor(*args) -> bool:
    return builtins.any(_contains_tensor(a) for a in args)


# functions whose first argument (or the arguments listed) is a sequence of arrays, not one array_like
_SEQUENCE_ARGUMENT = {"concatenate": (0,), "stack": (0,), "vstack": (0,), "hstack": (0,), "dstack": (0,),
                      "column_stack": (0,), "row_stack": (0,), "block": (0,), "multi_dot": (0,), "select": (0, 1)}


def _refuse_values_and_indices(name: str, args) -> None:
    """A ``(values, indices)`` pair (``x.max(1)``, ``x.min(0)``, ``x.sort()``: PyTorch's spellings, see docs/ops.md)
    where NumPy code expects an array: as one it would silently mix the indices into the values."""
    for a in args:
        if isinstance(a, tuple) and getattr(a, "_fields", None) == ("values", "indices"):
            raise TypeError(f"graphgrad.numpy.{name}: got a (values, indices) pair, PyTorch's result of "
                            f"x.max(dim) / x.min(dim) / x.sort(dim) with a positional dim; NumPy's spelling "
                            f"x.max(axis=dim) (or graphgrad.numpy.max(x, axis=dim), graphgrad.numpy.sort) gives the "
                            f"values alone, as does .values of the pair")


def _dual(numpy_fn, tensor_fn, name: str):
    def fn(*args, **kwargs):
        if _any_tensor(*args, *kwargs.values()):
            _refuse_values_and_indices(name, args)
            if kwargs.pop("out", None) is not None:
                raise TypeError(f"graphgrad.numpy.{name}: out= is not supported on tensors (graphgrad's functions "
                                f"return a new tensor): write y = graphgrad.numpy.{name}(...) instead")
            # an array_like holding tensors ([1, a * a, 2]) is the tensor built from it, as NumPy would
            args = [a if i in _SEQUENCE_ARGUMENT.get(name, ()) else _built(a) for i, a in enumerate(args)]
            return tensor_fn(*args, **kwargs)
        return numpy_fn(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"``numpy.{name}`` on arrays; the differentiable graphgrad op on tensors."
    return fn


zeros, ones, arange, eye, full = _np.zeros, _np.ones, _np.arange, _np.eye, _np.full
shape, ndim, size = _np.shape, _np.ndim, _np.size
random = _np.random
dtype, finfo, iinfo, __version__ = _np.dtype, _np.finfo, _np.iinfo, _np.__version__


def isrealobj(x) -> bool:
    """``numpy.isrealobj``: tensors are never complex (graphgrad has no complex dtypes)."""
    return True if isinstance(x, _T) else _np.isrealobj(x)


def iscomplexobj(x) -> bool:
    """``numpy.iscomplexobj``: False for every tensor."""
    return False if isinstance(x, _T) else _np.iscomplexobj(x)


def result_type(*arrays_and_dtypes) -> _np.dtype:
    """``numpy.result_type``, NumPy 2's promotion (Python numbers are weak: ``float32`` with ``2.5`` stays
    ``float32``; arrays, NumPy scalars and dtypes are not): a tensor, eager or traced, counts as an array of its dtype
    (its values are not read, so no gradient is at stake). A NumPy dtype, as NumPy's.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.result_type(gg.tensor([1.0]), 2.5), gnp.result_type(gg.tensor([1, 2]), 2.5), gnp.result_type(gg.float32, 1)
    (dtype('float32'), dtype('float64'), dtype('float32'))
    """
    return _np.result_type(*(_np.dtype(a._type.dtype) if isinstance(a, _T) else a for a in arrays_and_dtypes))


def promote_types(type1, type2) -> _np.dtype:
    """``numpy.promote_types``: the smallest dtype both convert to, by NumPy's rules (``int64`` and ``float32`` give
    ``float64``, where PyTorch's ``graphgrad.promote_types`` gives ``float32``). graphgrad dtypes are taken for
    NumPy's; a tensor is refused, as NumPy refuses an array.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.promote_types(gg.int64, gg.float32), gnp.promote_types("bool", gg.int64)
    (dtype('float64'), dtype('int64'))
    """
    for t in (type1, type2):
        if isinstance(t, _T):
            raise TypeError("graphgrad.numpy.promote_types takes dtypes, not a tensor (NumPy refuses an array "
                            "too): pass its .dtype, or use graphgrad.numpy.result_type for the tensor itself")
    return _np.promote_types(type1, type2)


linalg = types.ModuleType("graphgrad.numpy.linalg", "``numpy.linalg`` functions over graphgrad ops.")
for _name, (_tensor_fn, _impl) in _NUMPY.items():  # declared beside each op in graphgrad.ops
    _module, _, _short = _name.rpartition(".")
    setattr(linalg if _module == "linalg" else _sys.modules[__name__], _short,
            _dual(_impl or getattr(getattr(_np, _module) if _module else _np, _short), _tensor_fn, _short))


class _Concatenator:
    """NumPy's index tricks ``r_`` and ``c_``: ``r_[a, b, 1.0, 0:3]`` joins its items (a slice is its range) along
    the first axis; ``c_[a, b]`` along the last, each item made at least 2-D with a vector as a column. Tensors
    among the items are joined differentiably; items without tensors are NumPy's own.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.c_[gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0])]
    tensor([[1., 3.],
            [2., 4.]])
    >>> gnp.r_[gg.tensor([1.0, 2.0]), gg.tensor(3.0)]
    tensor([1., 2., 3.])
    """

    def __init__(self, name: str, axis: int, piece):
        self._name, self._axis, self._piece = name, axis, piece

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not _any_tensor(list(items)):
            return getattr(_np, self._name)[key]
        if builtins.any(isinstance(x, str) for x in items):
            raise NotImplementedError(f"graphgrad.numpy.{self._name} with a string directive and tensors: use "
                                      f"graphgrad.numpy.concatenate or stack")
        pieces = [self._piece(_np.r_[x] if isinstance(x, slice) else x) for x in items]
        return concatenate(pieces, axis=self._axis)  # noqa: F821  (declared from the ops table above)


def _row_piece(x):
    """``r_``: every item at least 1-D."""
    return x if isinstance(x, _T) and x.ndim else x.reshape(1) if isinstance(x, _T) else _np.atleast_1d(x)


def _column_piece(x):
    """``c_``: every item at least 2-D (NumPy's ndmin=2 with a 1-D item's axis first), a vector a column and a
    number a 1 x 1 matrix."""
    x = x if isinstance(x, _T) else _array(x) if _contains_tensor(x) else _np.asarray(x)
    return x.reshape((-1, 1)) if x.ndim < 2 else x


r_ = _Concatenator("r_", 0, _row_piece)
c_ = _Concatenator("c_", -1, _column_piece)


# -- NumPy's own functions called on tensors (NEP 13 / NEP 18) ----------------------------------------
# ``np.sum(t)``, ``np.exp(t)``, ``ndarray + t`` dispatch here: to the graphgrad.numpy function of the same
# name, so gradients flow. A function graphgrad.numpy lacks runs on the values of eager tensors that need no
# gradient (as ``np.allclose(t, ...)`` does for PyTorch tensors); anything else is refused, naming what to use.
_ATTRIBUTE_FUNCTIONS = {"shape": lambda a: a.shape, "ndim": lambda a: a.ndim, "size": lambda a, axis=None:
                        a.numel() if axis is None else a.shape[axis]}


def _face_function(module: str, name: str):
    space = {"numpy": globals(), "numpy.linalg": vars(linalg)}.get(module)
    fn = space.get(name) if space is not None else None
    return fn if callable(fn) and getattr(fn, "__module__", "") == __name__ else None


def _values_or_refuse(what: str, args, kwargs):
    """The arguments with eager tensors replaced by their arrays; a TypeError for traced or grad-requiring ones."""
    def convert(x):
        if isinstance(x, (list, tuple)):
            return type(x)(convert(i) for i in x)
        if not isinstance(x, _T):
            return x
        if not hasattr(x, "_data"):
            raise TypeError(f"{what} is not available on traced graphgrad tensors: graphgrad.numpy has no such "
                            f"function. Write the computation with graphgrad.numpy (import graphgrad.numpy as np) "
                            f"functions, which trace and differentiate.")
        if getattr(x, "_requires_grad", False):
            raise TypeError(f"{what} on a tensor that requires grad would drop its gradient, and graphgrad.numpy "
                            f"has no such function: use graphgrad.numpy's functions, or call .detach() first.")
        return x._data
    return convert(list(args)), {k: convert(v) for k, v in kwargs.items()}


def _refuse_out(what: str, kwargs: dict) -> None:
    if kwargs.get("out") is not None:
        raise TypeError(f"{what}: out= is not supported on graphgrad tensors (graphgrad.numpy functions return "
                        f"new tensors): write y = f(x) instead")


def _array_function(self, func, types, args, kwargs):
    what = f"{func.__module__}.{func.__name__}"
    fn = _face_function(func.__module__, func.__name__)
    if fn is None and func.__module__ == "numpy" and func.__name__ in _ATTRIBUTE_FUNCTIONS:
        fn = _ATTRIBUTE_FUNCTIONS[func.__name__]
    if fn is not None:
        _refuse_out(what, kwargs)
        return fn(*args, **kwargs)
    args, kwargs = _values_or_refuse(what, args, kwargs)
    return func(*args, **kwargs)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if kwargs.get("out") is not None and builtins.any(isinstance(x, _T) and not hasattr(x, "_data") for x in inputs):
        raise TypeError(f"{what} into a NumPy array (out=, or an in-place operator such as a += t on an array) with "
                        f"a traced graphgrad tensor: the array cannot hold a traced value. Compute a new value "
                        f"instead (a = a + t), with graphgrad.numpy functions")
    fn = _face_function("numpy", ufunc.__name__) if method == "__call__" else None
    if fn is not None and kwargs.get("out") is None and not kwargs.get("where", True) is False:
        extra = set(kwargs) - {"out"}
        if not extra:
            return fn(*inputs)
    inputs, kwargs = _values_or_refuse(what, inputs, kwargs)
    return getattr(ufunc, method)(*inputs, **kwargs)


_T.__array_function__ = _array_function
_T.__array_ufunc__ = _array_ufunc
