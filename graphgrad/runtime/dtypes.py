"""dtype objects users see (``graphgrad.float32``), mapped to NumPy dtypes."""
from __future__ import annotations

import builtins

import numpy as np

from ..ir import registry
from ..ir.types import SCALAR_NAMES, dtype_name


class dtype:
    """A tensor element type; compares equal to its name and to the matching NumPy dtype."""

    __slots__ = ("name", "numpy", "is_floating_point", "itemsize", "scalar_name")

    def __init__(self, name: str, scalar_name: str):
        self.name = name
        self.scalar_name = scalar_name  # PyTorch's name in messages: "Float" (torch.FloatTensor)
        self.numpy = np.dtype(name)
        self.is_floating_point = name in ("float32", "float64")
        self.itemsize = self.numpy.itemsize

    def __repr__(self) -> str:
        # PyTorch's spelling, like the dtype= suffix of a printed tensor: tutorial programs run with
        # `import graphgrad as torch` print exactly what their documents show
        return f"torch.{self.name}"

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype: NumPy reads an object's ``.dtype``, so ``np.dtype(x.dtype)`` and
        ``np.zeros(3, dtype=x.dtype)`` work as for an ndarray's dtype."""
        return self.numpy

    def __eq__(self, other) -> bool:
        if isinstance(other, dtype):
            return other.name == self.name
        try:
            return dtype_name(other) == self.name
        except TypeError:
            pass
        if other is None:  # np.dtype(None) is float64, but no dtype equals None
            return False
        try:  # NumPy's scalar types and spellings: x.dtype == np.float64, x.dtype == "f8"
            return np.dtype(other) == self.numpy
        except (TypeError, ValueError):
            return False

    def __hash__(self) -> int:
        return hash(self.name)


float32 = dtype("float32", SCALAR_NAMES["float32"])
float64 = dtype("float64", SCALAR_NAMES["float64"])
int64 = dtype("int64", SCALAR_NAMES["int64"])
bool_ = dtype("bool", SCALAR_NAMES["bool"])
float = float32  # noqa: A001  (PyTorch's aliases)
double = float64
long = int64

BY_NAME = {"float32": float32, "float64": float64, "int64": int64, "bool": bool_}


def to_name(d) -> str:
    """Accept a graphgrad dtype, NumPy dtype, Python type or name. Python's ``float`` is float64, as in PyTorch
    and NumPy (``dtype=float``), whatever the default float dtype."""
    if isinstance(d, dtype):
        return d.name
    python_types = {builtins.float: "float64", builtins.int: "int64", builtins.bool: "bool"}
    if d in python_types:
        return python_types[d]
    return dtype_name(d)


def default_float() -> dtype:
    """The dtype of Python floats, of float factories and of int -> float promotions (one setting, kept in
    ir.registry, which the type rules read)."""
    return BY_NAME[registry.default_float()]


def set_default_dtype(d) -> None:
    """Make ``d`` (``float32`` or ``float64``) the dtype of new float tensors, as ``torch.set_default_dtype``.

    >>> import graphgrad as gg
    >>> gg.set_default_dtype(gg.float64); gg.tensor([1.5]).dtype
    torch.float64
    >>> gg.set_default_dtype(gg.float32); gg.get_default_dtype()
    torch.float32
    """
    found = BY_NAME.get(to_name(d)) if not isinstance(d, dtype) else d
    if found is None or not found.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    registry._DEFAULT_FLOAT[0] = found.name


def get_default_dtype() -> dtype:
    return default_float()


class finfo:
    """``torch.finfo``: the limits of a float dtype (the default float dtype when none is given).

    >>> import graphgrad as gg
    >>> gg.finfo(gg.float32).eps, gg.finfo(gg.float64).bits
    (1.1920928955078125e-07, 64)
    """

    def __init__(self, type=None):
        name = default_float().name if type is None else to_name(type)
        if name not in ("float32", "float64"):
            raise TypeError(f"torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            f"'torch.finfo'")
        info = np.finfo(name)
        self.dtype = name
        self.bits = info.bits
        real = builtins.float  # (this module's float is the dtype)
        self.eps, self.max, self.min = real(info.eps), real(info.max), real(info.min)
        self.tiny = self.smallest_normal = real(info.tiny)
        self.resolution = real(info.resolution)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.tiny:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """``torch.iinfo``: the limits of an integer dtype (graphgrad's integers are int64).

    >>> import graphgrad as gg
    >>> gg.iinfo(gg.int64).max
    9223372036854775807
    """

    def __init__(self, type):
        name = to_name(type)
        if name == "bool" or name in ("float32", "float64"):
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        info = np.iinfo(name)
        self.dtype, self.bits, self.max, self.min = name, info.bits, builtins.int(info.max), builtins.int(info.min)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
