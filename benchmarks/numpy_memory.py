"""The bytes of NumPy array data a step holds at once: a NumPy memory handler (NEP 49) that counts.

NumPy allocates every array's data through the handler of the current context (``PyDataMem_SetHandler``, in its
C API since 1.22); each array keeps the handler that allocated it and frees through it. The handler here is the C
library's ``malloc``/``free`` with a count of live bytes and their peak, written with ctypes, so that the figure
needs neither a compiler nor a trace function (tracing changes when CPython frees a call's arguments). It sees the
data of every array, views excluded, and the scratch NumPy allocates as arrays inside a call; not NumPy's small
internal buffers (those of casts in a ufunc's inner loop), which PyTorch's profiler does not count either.
"""
from __future__ import annotations

import contextlib
import ctypes

import numpy as np

_SIZE, _POINTER = ctypes.c_size_t, ctypes.c_void_p
_MALLOC = ctypes.CFUNCTYPE(_POINTER, _POINTER, _SIZE)
_CALLOC = ctypes.CFUNCTYPE(_POINTER, _POINTER, _SIZE, _SIZE)
_REALLOC = ctypes.CFUNCTYPE(_POINTER, _POINTER, _POINTER, _SIZE)
_FREE = ctypes.CFUNCTYPE(None, _POINTER, _POINTER, _SIZE)
_SET_HANDLER_SLOT = 304  # PyDataMem_SetHandler's index in NumPy's C API table (numpy_api.py, stable since 1.22)


class _Allocator(ctypes.Structure):
    _fields_ = [("ctx", _POINTER), ("malloc", _MALLOC), ("calloc", _CALLOC), ("realloc", _REALLOC),
                ("free", _FREE)]


class _Handler(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 127), ("version", ctypes.c_uint8), ("allocator", _Allocator)]


class _Count:
    live = 0
    peak = 0
    sizes: dict = {}

    @classmethod
    def add(cls, pointer, size: int):
        if pointer:
            cls.sizes[pointer] = size
            cls.live += size
            cls.peak = max(cls.peak, cls.live)
        return pointer

    @classmethod
    def remove(cls, pointer) -> int:
        size = cls.sizes.pop(pointer, 0)
        cls.live -= size
        return size


_libc = ctypes.CDLL(None)
_libc.malloc.restype, _libc.malloc.argtypes = _POINTER, [_SIZE]
_libc.calloc.restype, _libc.calloc.argtypes = _POINTER, [_SIZE, _SIZE]
_libc.realloc.restype, _libc.realloc.argtypes = _POINTER, [_POINTER, _SIZE]
_libc.free.argtypes = [_POINTER]


def _realloc(context, pointer, size):
    old = _Count.remove(pointer) if pointer else 0
    moved = _libc.realloc(pointer, size or 1)
    return _Count.add(moved, size) if moved else _Count.add(pointer, old)  # on failure the old block stands


def _free(context, pointer, size):
    if pointer:
        _Count.remove(pointer)
        _libc.free(pointer)


_CALLBACKS = (_MALLOC(lambda context, size: _Count.add(_libc.malloc(size or 1), size)),
              _CALLOC(lambda context, n, size: _Count.add(_libc.calloc(n or 1, size or 1), n * size)),
              _REALLOC(_realloc), _FREE(_free))
_HANDLER = _Handler(b"benchmarks.numpy_memory", 1, _Allocator(None, *_CALLBACKS))
# Arrays made while counting free through this handler whenever they die, at exit included: it must outlive them.
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_CALLBACKS))
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_HANDLER))


def _set_handler():
    """NumPy's ``PyDataMem_SetHandler``, taken from its C API table (None where this NumPy has none)."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = _POINTER, [ctypes.py_object, ctypes.c_char_p]
    core = getattr(np, "_core", None) or np.core  # NumPy 1.x: numpy.core
    api = getattr(getattr(core, "_multiarray_umath", None), "_ARRAY_API", None)
    if api is None or np.lib.NumpyVersion(np.__version__) < "1.22.0":
        return None
    table = ctypes.cast(get_pointer(api, None), ctypes.POINTER(_POINTER))
    return ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(table[_SET_HANDLER_SLOT])


@contextlib.contextmanager
def counting():
    """Allocate NumPy array data through the counting handler within the block (this context only)."""
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype, new_capsule.argtypes = ctypes.py_object, [_POINTER, ctypes.c_char_p, _POINTER]
    set_handler = _set_handler()
    previous = set_handler(new_capsule(ctypes.addressof(_HANDLER), b"mem_handler", None))
    try:
        yield _Count
    finally:
        set_handler(previous)


def peak_array_bytes(step) -> int | None:
    """The most bytes of array data one call of ``step`` allocates and holds at once: the peak of what it made less
    what it freed of that. Its frees of arrays made before it do not count, as PyTorch's memory profiler does not see
    the frees of blocks allocated before it started (``run_all.torch_peak_bytes``), so that the two figures compare:
    a step that drops the last step's gradients before making new ones peaks with both in this count, and in
    PyTorch's. None where this NumPy's C API cannot be reached.

    >>> import numpy as np
    >>> x = np.ones(1000)
    >>> def step():
    ...     a = x + x
    ...     b = a * a          # a and b: 16,000 bytes at once
    ...     del a
    ...     return b * b       # (a Python number would add its 8-byte array)
    >>> peak_array_bytes(step)
    16000
    """
    import gc

    if _set_handler() is None:
        return None
    with counting() as count:
        step()
        gc.collect()
        count.sizes.clear()
        count.live = count.peak = 0
        step()
        return count.peak
