"""Tensor types: a static shape and a dtype name."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: dtype names graphgrad knows, in promotion order for floating types.
DTYPES = ("bool", "int64", "float32", "float64")
FLOATING = ("float32", "float64")
ITEMSIZE = {"bool": 1, "int64": 8, "float32": 4, "float64": 8}  # bytes per element of each dtype
#: PyTorch's name of each dtype in messages ("Float": torch.FloatTensor, "not implemented for 'Float'")
SCALAR_NAMES = {"bool": "Bool", "int64": "Long", "float32": "Float", "float64": "Double"}


def in_place_cast_error(src: str, dst: str) -> str | None:
    """PyTorch's error for writing a result of dtype ``src`` into a tensor of dtype ``dst`` (``x += 1.5`` on an
    int64 ``x``): never float to integer, nor anything but bool to bool; None where the write is allowed."""
    if (src in FLOATING and dst not in FLOATING) or (dst == "bool" and src != "bool"):
        return f"result type {SCALAR_NAMES[src]} can't be cast to the desired output type {SCALAR_NAMES[dst]}"
    return None


_NAMES: dict = {}  # memo: dtype objects are hashable, and this runs for every eager op


def dtype_name(dtype) -> str:
    """Normalise a NumPy dtype, graphgrad dtype or name to one of ``DTYPES``."""
    if dtype.__class__ is str and dtype in ITEMSIZE:
        # (before the memo: a graphgrad dtype there hashes as its name, and comparing the name with it asks
        # dtype_name again, without end)
        return dtype
    try:
        return _NAMES[dtype]
    except (KeyError, TypeError):
        pass
    name = _dtype_name(dtype)
    try:
        _NAMES[dtype] = name
    except TypeError:
        pass
    return name


def _dtype_name(dtype) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    name = np.dtype(name).name if name not in DTYPES else name
    if name.startswith("int") or name.startswith("uint"):
        return "int64"
    if name == "float16":
        return "float32"
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; graphgrad supports {', '.join(DTYPES)}")
    return name


@dataclass(frozen=True)
class TensorType:
    """The static type of a value: ``TensorType((3, 4), "float32")`` prints as ``f32[3,4]``."""

    shape: tuple
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """The bytes an array of this type holds (its data, not the array object)."""
        return self.size * ITEMSIZE[self.dtype]

    @property
    def is_floating(self) -> bool:
        return self.dtype in FLOATING

    def __str__(self) -> str:
        short = {"float32": "f32", "float64": "f64", "int64": "i64", "bool": "bool"}[self.dtype]
        return f"{short}[{','.join(map(str, self.shape))}]"

    @staticmethod
    def parse(text: str) -> "TensorType":
        """Parse ``f32[3,4]`` (the printer's form) back into a TensorType."""
        short, _, rest = text.partition("[")
        long = {"f32": "float32", "f64": "float64", "i64": "int64", "bool": "bool"}.get(short)
        if long is None or not rest.endswith("]"):
            raise ValueError(f"bad tensor type {text!r}: expected e.g. f32[3,4], f64[], i64[5], bool[2]")
        dims = rest[:-1].strip()
        try:
            shape = tuple(int(d) for d in dims.split(",")) if dims else ()
        except ValueError:
            raise ValueError(f"bad tensor type {text!r}: dimensions must be integers") from None
        return TensorType(shape, long)


def known_nbytes(t) -> int:
    """The bytes of an array of type ``t`` where the type knows them; 0 for a tuple of results (a control-flow
    block's) or a size that is not a plain int. What memory planning counts an array as."""
    if t.__class__ is not TensorType:
        return 0
    size = t.nbytes
    return size if size.__class__ is int else 0


@dataclass(frozen=True)
class TupleType:
    """The type of a control-flow node's result (``cond``, ``scan``, ``while``): one TensorType per output,
    read by ``get`` nodes. Prints as ``(f32[3], i64[])``."""

    types: tuple

    @property
    def is_floating(self) -> bool:
        return any(t.is_floating for t in self.types)

    def __str__(self) -> str:
        return "(" + ", ".join(map(str, self.types)) + ")"

    @staticmethod
    def parse(text: str) -> "TupleType":
        inner = text.strip()[1:-1].strip()
        return TupleType(tuple(TensorType.parse(p.strip(", ") + "]") for p in inner.split("]") if p.strip(", ")))
