"""More of ``torch.Tensor``'s methods that PyTorch programs call: ``new_*`` factories, in-place random fills,
comparison methods, ``repeat``/``chunk``/``split`` and ``__format__``. A mixin of ``Tensor``, written with
its public API.

>>> import graphgrad as torch
>>> t = torch.tensor([1.0, 2.0], dtype=torch.float64)
>>> t.new_zeros(2, 1).dtype, t.new_tensor([3]).dtype
(torch.float64, torch.float64)
>>> '{:.2f}'.format(torch.tensor(3.14159))
'3.14'
"""
from __future__ import annotations

import numpy as np

from ..ir.registry import result_dtype
from ..ir.types import TensorType, dtype_name
from ..ops.elementwise import _divisor


def _sizes(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(d) for d in size)


def _promoted(values, *operands):
    """``values`` (NumPy's result for ``operands``) in PyTorch's promoted dtype: NumPy makes an int tensor with a
    Python float float64, PyTorch the default float (``int_tensor % 2.5`` is float32)."""
    types = [TensorType(x._data.shape, dtype_name(x._data.dtype)) if hasattr(x, "_data") else
             TensorType(x.shape, dtype_name(x.dtype)) if isinstance(x, np.ndarray) else x for x in operands]
    dtype = result_dtype(types)
    return values if values.dtype == dtype else values.astype(dtype)


class TensorSurface:
    __slots__ = ()

    # -- factories that take this tensor's dtype and device --------------------------------------------
    def _new(self, fill, size, dtype, device, requires_grad):
        from .factories import _finish

        dtype = dtype if dtype is not None else self.dtype
        device = device if device is not None else self.device
        from . import dtypes

        array = fill(_sizes(size), dtypes.BY_NAME[dtypes.to_name(dtype)].numpy)
        return _finish(array, None, device, requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return self._new(np.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return self._new(np.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return self._new(np.zeros, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad: bool = False):
        return self._new(lambda shape, dt: np.full(shape, fill_value, dtype=dt), (size,), dtype, device,
                         requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False):
        """A copy of ``data`` with this tensor's dtype and device unless given (PyTorch's rule: an int64 tensor's
        ``new_tensor([1.5])`` is ``tensor([1])``)."""
        from .factories import tensor

        return tensor(data, dtype=dtype if dtype is not None else self.dtype, device=device if device is not None else self.device,
                      requires_grad=requires_grad)

    # -- in-place random fills (the methods are TensorBase's; initialisation code runs them under no_grad) --
    def _fill_random(self, draw, generator=None):
        from .factories import _rng

        sample = draw(_rng(generator), tuple(self.shape))
        return self._inplace_with(lambda old: type(self)._wrap(_on_device(np.asarray(sample, dtype=old._data.dtype),
                                                                          old)))

    def bernoulli(self, p=None, generator=None):
        """Draw 1 with probability ``self`` (or ``p``) per element (afresh at every call of a compiled function)."""
        from .factories import bernoulli

        return bernoulli(self, p, generator)

    # -- comparisons of whole tensors (x.eq, x.gt, ... are the ops' methods) -------------------------------
    def equal(self, other) -> bool:
        """True if both have the same shape and elements."""
        return tuple(self.shape) == tuple(other.shape) and bool((self == other).all())

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return bool(np.allclose(self.detach().numpy(force=True), other.detach().numpy(force=True), rtol, atol,
                                equal_nan))


    # -- shared memory (graphgrad.multiprocessing) --------------------------------------------------------
    def share_memory_(self):
        """Move the data into shared memory (in place) so that other processes see and update it."""
        from . import sharing

        sharing.register()
        return sharing.share(self)

    def is_shared(self) -> bool:
        from .sharing import is_shared

        return is_shared(self)

    # -- printing ----------------------------------------------------------------------------------------
    def __format__(self, spec: str) -> str:
        if self.ndim == 0:  # as PyTorch: a 0-d tensor formats as its Python number
            return format(self.item(), spec)
        return object.__format__(self, spec)


def _xp(array):
    if type(array) is np.ndarray:
        return np
    import cupy

    return cupy


def _on_device(array, like):
    if type(like._data) is np.ndarray:
        return array
    import cupy

    return cupy.asarray(array)
