"""Nodes of the dynamic graph: ``grad_fn`` objects (one per recorded op) and ``AccumulateGrad``."""
from __future__ import annotations

import itertools

from ..ir.types import TensorType

_sequence = itertools.count()

# PyTorch's names for the backward of each primitive (``x * y`` -> MulBackward0), so that
# printed tensors and ``grad_fn.name()`` read as users know them.
_TORCH_NAMES = {
    "matmul": "MmBackward0", "reshape": "ViewBackward0", "permute": "PermuteBackward0",
    "amax": "AmaxBackward0", "amin": "AminBackward0", "getitem": "IndexBackward0",
    "index_add_zeros": "IndexPutBackward0", "cast": "ToCopyBackward0", "concat": "CatBackward0",
    "log_softmax": "LogSoftmaxBackward0", "logsumexp": "LogsumexpBackward0", "full_like": "FillBackward0",
}


def backward_name(op: str, attrs: dict, inputs: tuple) -> str:
    if op in _TORCH_NAMES:
        name = _TORCH_NAMES[op]
        if op == "matmul" and any(getattr(x, "ndim", 2) != 2 for x in inputs):
            name = "MatmulBackward0" if any(getattr(x, "ndim", 2) > 2 for x in inputs) else "MvBackward0" \
                if getattr(inputs[1], "ndim", 2) == 1 else "MatmulBackward0"
        if op in ("amax", "amin") and attrs.get("dim") is None:
            name = "MaxBackward1" if op == "amax" else "MinBackward1"
        if op == "getitem" and not any(isinstance(i, tuple) and i[0] == "array" for i in attrs["index"]):
            name = "SliceBackward0" if any(isinstance(i, tuple) for i in attrs["index"]) else "SelectBackward0"
        return name
    camel = "".join(part.capitalize() for part in op.split("_"))
    suffix = 1 if (op in ("sum", "mean") and attrs.get("dim") is not None) or \
        (op == "pow" and all(hasattr(x, "_type") for x in inputs)) else 0
    return f"{camel}Backward{suffix}"


class Node:
    """A recorded op: applies its gradient rule during backward (``grad_fn`` of a tensor)."""

    __slots__ = ("op", "attrs", "next_functions", "_saved", "_versions", "_in_types", "_out",
                 "_seq", "_pre_hooks", "_retain_grad", "_freed", "_name", "__weakref__")

    def __init__(self, op: str, attrs: dict, next_functions: tuple, saved: tuple, versions: tuple,
                 in_types: tuple, out, name: str):
        self.op = op
        self.attrs = attrs
        self.next_functions = next_functions
        self._saved = saved          # inputs the rule reads (None elsewhere)
        self._versions = versions    # their version counters at save time
        self._in_types = in_types    # TensorType per input (None for Python scalars)
        self._out = out              # (array, version box) when the rule reads the output
        self._seq = next(_sequence)  # later nodes run first, as in PyTorch's engine
        self._pre_hooks = None       # hooks of the tensor this node produced
        self._retain_grad = None     # weakref to that tensor, when retain_grad() was called
        self._freed = False
        self._name = name

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

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
        self._seq = -1  # run after everything that can still add to this leaf

    @property
    def _pre_hooks(self):
        return self.variable._hooks  # stored on the leaf, which outlives this node

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def saved_type(x) -> TensorType | None:
    return x._type if hasattr(x, "_type") else None
