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
