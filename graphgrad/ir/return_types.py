"""``torch.return_types``: the named tuples that ``max(dim)``, ``min(dim)``, ``sort``, ``topk``, ``median``, ``kthvalue``,
``mode``, ``cummax``, ``aminmax``, ... return.

They print as PyTorch prints them, one field a line:

>>> import graphgrad as gg
>>> gg.tensor([[1.0, 3.0], [4.0, 2.0]]).max(1)
torch.return_types.max(
values=tensor([3., 4.]),
indices=tensor([1, 0]))
"""
from __future__ import annotations

from collections import namedtuple


def _structseq(name: str, fields: tuple):
    base = namedtuple(name, fields)

    def __repr__(self) -> str:
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(fields, self))
        return f"torch.return_types.{name}(\n{body})"

    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__str__": __repr__})


max = _structseq("max", ("values", "indices"))  # noqa: A001
min = _structseq("min", ("values", "indices"))  # noqa: A001
sort = _structseq("sort", ("values", "indices"))
topk = _structseq("topk", ("values", "indices"))
kthvalue = _structseq("kthvalue", ("values", "indices"))
mode = _structseq("mode", ("values", "indices"))
median = _structseq("median", ("values", "indices"))
nanmedian = _structseq("nanmedian", ("values", "indices"))
cummax = _structseq("cummax", ("values", "indices"))
cummin = _structseq("cummin", ("values", "indices"))
aminmax = _structseq("aminmax", ("min", "max"))

__all__ = ["max", "min", "sort", "topk", "kthvalue", "mode", "median", "nanmedian", "cummax", "cummin", "aminmax"]
frexp = _structseq("frexp", ("mantissa", "exponent"))
__all__.append("frexp")
linalg_lstsq = _structseq("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
__all__.append("linalg_lstsq")
