"""Nodes of the dynamic graph: ``grad_fn`` objects (one per recorded op) and ``AccumulateGrad``."""
from __future__ import annotations

import itertools
import sys

from ..ir.types import TensorType

_sequence = itertools.count()

# PyTorch's names for the backward of each primitive (``x * y`` -> MulBackward0), so that
# printed tensors and ``grad_fn.name()`` read as users know them.
_TORCH_NAMES = {
    "matmul": "MmBackward0", "reshape": "ViewBackward0", "permute": "PermuteBackward0",
    "amax": "AmaxBackward0", "amin": "AminBackward0", "getitem": "IndexBackward0", "gather_rows": "IndexBackward0",
    "index_add_zeros": "IndexPutBackward0", "cast": "ToCopyBackward0", "concat": "CatBackward0",
    "log_softmax": "LogSoftmaxBackward0", "logsumexp": "LogsumexpBackward0", "full_like": "FillBackward0",
}


def backward_name(op: str, attrs: dict, in_types: tuple) -> str:
    """PyTorch's name for the backward of ``op`` applied to inputs of ``in_types`` (None for Python scalars)."""
    if op in _TORCH_NAMES:
        name = _TORCH_NAMES[op]
        if op == "matmul":
            lhs, rhs = (t.ndim for t in in_types)
            if (lhs, rhs) != (2, 2):
                name = {(2, 1): "MvBackward0", (1, 1): "DotBackward0"}.get((lhs, rhs), "MatmulBackward0")
        if op in ("amax", "amin") and attrs.get("dim") is None:
            name = "MaxBackward1" if op == "amax" else "MinBackward1"
        if op == "getitem" and not any(isinstance(i, tuple) and i[0] == "array" for i in attrs["index"]):
            name = "SliceBackward0" if any(isinstance(i, tuple) for i in attrs["index"]) else "SelectBackward0"
        return name
    camel = "".join(part.capitalize() for part in op.split("_"))
    suffix = 1 if (op in ("sum", "mean") and attrs.get("dim") is not None) or \
        (op == "pow" and all(t is not None for t in in_types)) else 0
    return f"{camel}Backward{suffix}"


class _Freed(tuple):
    """The ``_saved`` of a node whose saved values a backward without ``retain_graph`` released."""


FREED = _Freed()


class Node:
    """A recorded op: applies its gradient rule during backward (``grad_fn`` of a tensor)."""

    apply = None    # subclasses with their own backward define apply(grad) -> list of input grads
    release = None  # ... and release() to free what they saved
    # Rarely set state lives in the instance __dict__ only once set, so recording a node stays cheap.
    _pre_hooks = None    # hooks of the tensor this node produced
    _retain_grad = None  # weakref to that tensor, when retain_grad() was called
    _name = None         # computed on first use: most nodes are never named

    __slots__ = ("op", "attrs", "next_functions", "_saved", "_versions", "_in_types", "_out", "_seq",
                 "__weakref__", "__dict__")

    def __init__(self, op: str, attrs: dict, next_functions: tuple, saved: tuple, versions: tuple,
                 in_types: tuple, out, name: str | None = None):
        self.op = op
        self.attrs = attrs
        self.next_functions = next_functions
        self._saved = saved          # inputs the rule reads (None elsewhere)
        self._versions = versions    # their version counters at save time
        self._in_types = in_types    # TensorType per input (None for Python scalars)
        self._out = out              # (array, version box) when the rule reads the output
        self._seq = next(_sequence)  # later nodes run first, as in PyTorch's engine
        if name is not None:
            self._name = name

    def name(self) -> str:
        if self._name is None:
            self._name = backward_name(self.op, self.attrs, self._in_types)
        return self._name

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def register_prehook(self, fn):
        from .hooks import RemovableHandle

        if self._pre_hooks is None:
            self._pre_hooks = {}
        return RemovableHandle(self._pre_hooks, fn)

    @property
    def metadata(self) -> dict:
        return {}


class AccumulateGrad:
    """The sink of a leaf tensor: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable", "next_functions", "_seq", "__weakref__")
    _retain_grad = None

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()
        # Runs as soon as it is ready, as PyTorch's engine runs AccumulateGrad (its sequence number is the
        # maximum); readiness already means every path into the leaf has delivered its gradient.
        self._seq = sys.maxsize

    @property
    def _pre_hooks(self):
        return self.variable._hooks  # stored on the leaf, which outlives this node

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def saved_type(x) -> TensorType | None:
    return x._type if hasattr(x, "_type") else None
