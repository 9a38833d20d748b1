"""PyTorch's process-wide settings that scripts set at their top: threads, float32 matmul precision, deterministic
algorithms, a fresh random seed. Each takes PyTorch's arguments and raises PyTorch's errors; what each changes in
graphgrad is said on it (and in docs/pytorch-semantics.md).

>>> import graphgrad as torch
>>> torch.set_float32_matmul_precision("high")
>>> torch.get_float32_matmul_precision()
'high'
>>> torch.set_float32_matmul_precision("highest")
"""
from __future__ import annotations

import numbers
import operator
import os
import warnings

from . import blas
from .factories import default_generator

_state = {"threads": None, "matmul_precision": "highest", "deterministic": False, "warn_only": False}
_PRECISIONS = ("highest", "high", "medium")


def set_num_threads(int: int) -> None:  # noqa: A002  (PyTorch's parameter name)
    """Use ``int`` threads for products on the CPU: the threads of the OpenBLAS that NumPy carries (as
    ``threadpoolctl`` would set them); elementwise NumPy code is single-threaded anyway. Where that BLAS is not
    found (a NumPy built against another one) the number is only recorded, for :func:`get_num_threads`.

    >>> import graphgrad as torch
    >>> before = torch.get_num_threads()
    >>> torch.set_num_threads(1)
    >>> torch.get_num_threads()
    1
    >>> torch.set_num_threads(before)
    """
    if isinstance(int, bool) or not isinstance(int, numbers.Integral):  # (the parameter shadows the builtin)
        raise RuntimeError(f"set_num_threads expects an int, but got {type(int).__name__}")
    if int <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    blas.set_num_threads(int)
    _state["threads"] = operator.index(int)


def get_num_threads() -> int:
    """The number of threads :func:`set_num_threads` set; before any, the number NumPy's OpenBLAS uses (else the
    CPU count).

    >>> import graphgrad as torch
    >>> torch.get_num_threads() >= 1
    True
    """
    if _state["threads"] is None:
        _state["threads"] = blas.num_threads() or os.cpu_count() or 1
    return _state["threads"]


def set_float32_matmul_precision(precision: str) -> None:
    """Record which internal precision float32 products may use ("highest", "high" or "medium", as PyTorch's).
    graphgrad computes every float32 product in float32 (NumPy, cuBLAS through CuPy without TF32), which all
    three allow: "high" and "medium" permit faster, less precise kernels, they do not require them.
    Another string is ignored with PyTorch's warning.

    >>> import graphgrad as torch
    >>> torch.set_float32_matmul_precision("medium")
    >>> torch.get_float32_matmul_precision()
    'medium'
    >>> torch.set_float32_matmul_precision("highest")
    """
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      f"setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _state["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    """The precision :func:`set_float32_matmul_precision` recorded ("highest" at first).

    >>> import graphgrad as torch
    >>> torch.get_float32_matmul_precision()
    'highest'
    """
    return _state["matmul_precision"]


def _check_bool(value, name: str, position: int | None) -> None:
    if not isinstance(value, bool):
        where = f" (position {position})" if position else ""
        raise TypeError(f"_set_deterministic_algorithms(): argument '{name}'{where} must be bool, not "
                        f"{type(value).__name__}")


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record whether algorithms must be deterministic. Every op graphgrad runs on the CPU is (NumPy sums in a
    fixed order, with no atomics), so nothing changes there and nothing is refused. On the GPU the
    scatter-adds (``index_add``, ``scatter_add``, the gradients of indexing and embeddings) use CuPy's atomic
    ``add.at``, whose float sums may differ in the last bits between runs; they are not refused either.

    >>> import graphgrad as torch
    >>> torch.use_deterministic_algorithms(True)
    >>> torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.use_deterministic_algorithms(False)
    """
    _check_bool(mode, "mode", 1)
    _check_bool(warn_only, "warn_only", None)
    _state["deterministic"], _state["warn_only"] = mode, warn_only


def are_deterministic_algorithms_enabled() -> bool:
    """Whether :func:`use_deterministic_algorithms` turned the flag on (False at first).

    >>> import graphgrad as torch
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether :func:`use_deterministic_algorithms` was given ``warn_only=True``.

    >>> import graphgrad as torch
    >>> torch.is_deterministic_algorithms_warn_only_enabled()
    False
    """
    return _state["warn_only"]


def seed() -> int:
    """Seed the default generator from a non-deterministic source and return that seed (PyTorch's
    ``torch.seed()``); ``initial_seed()`` then returns it too.

    >>> import graphgrad as torch
    >>> s = torch.seed()
    >>> s == torch.initial_seed()
    True
    """
    return default_generator.seed()
