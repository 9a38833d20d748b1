"""``y += alpha * x`` in one pass and no temporary, from the BLAS that NumPy's own wheel carries.

NumPy has no fused multiply-add into an existing array: ``y += alpha * x`` makes ``alpha * x`` first, a temporary
of the parameter's size in an optimizer's step, and reads and writes memory twice. PyTorch's update
(``p.add_(g, alpha=-lr)``) is one fused loop. BLAS's ``axpy`` is that loop; NumPy's Linux and Windows wheels ship
OpenBLAS (as ``scipy_openblas``) with its C interface exported, so it is reached here through ``ctypes`` with no
new dependency. Where that library is not found (a NumPy built against another BLAS, macOS's Accelerate), or its
answer on a small probe is not ``y + alpha * x``, :func:`axpy` returns False and callers keep their NumPy path.
The same library's thread count is read and set here too (:func:`num_threads`, :func:`set_num_threads`:
``torch.set_num_threads``).

Rounding: OpenBLAS's kernels on CPUs with FMA round ``alpha * x + y`` once, as PyTorch's vectorized ``add_``
does; NumPy's two steps round twice. The two differ by at most one unit in the last place.

>>> import numpy as np
>>> from graphgrad.runtime import blas
>>> y = np.ones(4, np.float32)
>>> if not blas.axpy(-0.5, np.arange(4, dtype=np.float32), y):
...     y += np.float32(-0.5) * np.arange(4, dtype=np.float32)
>>> y
array([ 1. ,  0.5,  0. , -0.5], dtype=float32)
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

# ILP64 OpenBLAS as NumPy >= 2 bundles it (scipy-openblas64), then as NumPy 1.22-1.26 did (openblas64_): the
# "64_" suffix is the library's promise that its integers are 64-bit, which the signature below relies on
_SYMBOLS = (("scipy_cblas_saxpy64_", "scipy_cblas_daxpy64_"), ("cblas_saxpy64_", "cblas_daxpy64_"))
_INT = ctypes.c_int64
_FUNCTIONS: dict = {}  # dtype char -> (function, C type of alpha); empty when no BLAS was found
# OpenBLAS's thread count, as threadpoolctl reaches it: (set, get) in the library whose axpy was found
_THREAD_SYMBOLS = {"scipy_cblas_saxpy64_": ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                   "cblas_saxpy64_": ("openblas_set_num_threads64_", "openblas_get_num_threads64_")}
_THREADS: list = []  # [set_num_threads, get_num_threads] once found
_loaded = False


def _libraries() -> list:
    """The shared libraries NumPy's wheel bundles: ``numpy.libs`` beside the package (Linux, Windows) or
    ``numpy/.dylibs`` (macOS on Intel)."""
    package = os.path.dirname(np.__file__)
    found = []
    for pattern in (os.path.join(os.path.dirname(package), "numpy.libs", "*openblas*"),
                    os.path.join(package, ".dylibs", "*openblas*")):
        found += sorted(glob.glob(pattern))
    return found


def _probe(function, alpha_type, dtype) -> bool:
    x = np.array([1.0, -2.0, 3.0, 0.5, 8.0], dtype)
    y = np.array([0.25, 4.0, -1.0, 2.0, 3.0], dtype)
    want = y + dtype(-1.5) * x
    function(_INT(x.size), alpha_type(-1.5), x.ctypes.data, _INT(1), y.ctypes.data, _INT(1))
    return bool(np.array_equal(y, want))


def _load() -> None:
    global _loaded
    _loaded = True
    for path in _libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for names in _SYMBOLS:
            try:
                functions = [getattr(library, name) for name in names]
            except AttributeError:
                continue
            found = {}
            for function, char, alpha_type in zip(functions, "fd", (ctypes.c_float, ctypes.c_double)):
                function.argtypes = [_INT, alpha_type, ctypes.c_void_p, _INT, ctypes.c_void_p, _INT]
                function.restype = None
                if _probe(function, alpha_type, np.dtype(char).type):
                    found[char] = (function, alpha_type)
            if found:
                _FUNCTIONS.update(found)
                _find_thread_control(library, names[0])
                return


def _find_thread_control(library, axpy_name: str) -> None:
    try:
        set_threads, get_threads = (getattr(library, name) for name in _THREAD_SYMBOLS[axpy_name])
    except AttributeError:
        return
    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
    _THREADS[:] = [set_threads, get_threads]


def num_threads() -> int | None:
    """The number of threads NumPy's OpenBLAS runs a product on, or None where that BLAS was not found."""
    if not _loaded:
        _load()
    return int(_THREADS[1]()) if _THREADS else None


def set_num_threads(n: int) -> bool:
    """Let NumPy's OpenBLAS use ``n`` threads (what ``threadpoolctl.threadpool_limits(n, "blas")`` does, with no new
    dependency). Returns whether it could."""
    if not _loaded:
        _load()
    if not _THREADS:
        return False
    _THREADS[0](int(n))
    return True


def available(dtype) -> bool:
    """Whether :func:`axpy` can update arrays of ``dtype`` (float32 and float64, where NumPy's BLAS was found)."""
    if not _loaded:
        _load()
    return np.dtype(dtype).char in _FUNCTIONS


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> bool:
    """``y += alpha * x`` in place, in one pass, where BLAS can: both C-contiguous NumPy arrays of one float dtype
    and one size, ``y`` writable and not overlapping ``x`` other than being it. Returns whether it did; when False,
    ``y`` is untouched."""
    if not _loaded:
        _load()
    entry = _FUNCTIONS.get(y.dtype.char)
    if (entry is None or x.dtype is not y.dtype and x.dtype != y.dtype or x.size != y.size
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable)
            or x is not y and np.may_share_memory(x, y)):
        return False
    function, alpha_type = entry
    function(_INT(y.size), alpha_type(alpha), x.ctypes.data, _INT(1), y.ctypes.data, _INT(1))
    return True
