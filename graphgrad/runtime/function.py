"""Nodes of the dynamic graph: ``grad_fn`` objects (one per recorded op) and ``AccumulateGrad``."""
from __future__ import annotations

import itertools
import re
import sys

from ..ir.registry import OPS
from ..ir.types import TensorType

_sequence = itertools.count()


def backward_name(op: str, attrs: dict, in_types: tuple) -> str:
    """PyTorch's name for the backward of ``op`` applied to inputs of ``in_types`` (None for Python scalars): the
    op's declared ``torch_name``, else its name in CamelCase (``x * y`` -> MulBackward0)."""
    opdef = OPS.get(op)
    name = opdef.torch_name if opdef is not None else ""
    if callable(name):
        return name(attrs, in_types)
    return name or "".join(part.capitalize() for part in op.split("_")) + "Backward0"


def short_name(name: str) -> str:
    """A node's name as PyTorch 2.13's errors write it: MulBackward0 is Mul, ClampBackward1 is Clamp1."""
    return re.sub(r"Backward0$|Backward", "", name, count=1)


class _Freed(tuple):
    """The ``_saved`` of a node whose saved values a backward without ``retain_graph`` released."""


FREED = _Freed()
#: the version recorded for a kept input that is no saved value (a number the rule does not read, or only a type):
#: a node keeping nothing else may run backward again, as PyTorch's AddBackward0 of ``x + 1``
UNHELD = _Freed()


class Node:
    """A recorded op: applies its gradient rule during backward (``grad_fn`` of a tensor)."""

    apply = None    # subclasses with their own backward define apply(grad) -> list of input grads
    release = None  # ... and release() to free what they saved
    apply_last = None  # apply for the last time (no retain_graph): may free what it saved while it runs
    into_leaves = None  # (data, retain_graph) -> bool: the whole backward when only distinct leaves follow
    # Rarely set state lives in the instance __dict__ only once set, so recording a node stays cheap.
    _pre_hooks = None    # hooks of the tensor this node produced
    _node_prehooks = None  # register_prehook's: called with the tuple of output gradients before the node runs
    _retain_grad = None  # weakref to that tensor, when retain_grad() was called
    _name = None         # computed on first use: most nodes are never named
    _shown = None        # next_functions of a composite op's last node (see ``next_functions``)
    _n_outputs = 1       # a custom Function's node has one per output of its forward (``_out_hooks``...)

    __slots__ = ("op", "attrs", "_next", "_saved", "_versions", "_in_types", "_out", "_seq",
                 "__weakref__", "__dict__")

    def __init__(self, op: str, attrs: dict, next_functions: tuple, saved: tuple, versions: tuple,
                 in_types: tuple, out, name: str | None = None):
        self.op = op
        self.attrs = attrs
        self._next = next_functions  # the edges the engine walks
        self._saved = saved          # inputs the rule reads (None elsewhere)
        self._versions = versions    # their version counters at save time
        self._in_types = in_types    # TensorType per input (None for Python scalars)
        self._out = out              # (array, version box) when the rule reads the output
        self._seq = next(_sequence)  # later nodes run first, as in PyTorch's engine
        if name is not None:
            self._name = name

    @property
    def next_functions(self) -> tuple:
        """``(node, output index)`` per input. A composite op (a loss, ``linear``) that ran as several recorded
        primitives shows, on its last node, the nodes of the composite's own inputs, as PyTorch's fused
        kernel does; the engine still walks the primitives (``_next``)."""
        shown = self._shown
        return shown if shown is not None else self._next

    def name(self) -> str:
        if self._name is None:
            self._name = backward_name(self.op, self.attrs, self._in_types)
        return self._name

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` (a tuple, None for an output without gradient) before this node runs; a returned
        tuple replaces the gradients (PyTorch's ``Node.register_prehook``; a tensor's hooks run before it)."""
        from .hooks import RemovableHandle

        if self._node_prehooks is None:
            self._node_prehooks = {}
        return RemovableHandle(self._node_prehooks, fn)

    def _tensor_hooks(self, nr: int) -> dict:
        """The hooks table of this node's output ``nr`` (its tensor's ``register_hook``)."""
        if self._n_outputs != 1:
            return self._out_hooks[nr]
        if self._pre_hooks is None:
            self._pre_hooks = {}
        return self._pre_hooks

    def _retained(self, nr: int):
        """The weakref to the tensor whose gradient output ``nr`` keeps (``retain_grad``), or None."""
        return self._retain_grad if self._n_outputs == 1 else self._out_retained[nr]

    def _set_retained(self, nr: int, ref) -> None:
        if self._n_outputs == 1:
            self._retain_grad = ref
        else:
            self._out_retained[nr] = ref

    @property
    def metadata(self) -> dict:
        return {}


class AccumulateGrad:
    """The sink of a leaf tensor: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable", "_seq", "__weakref__")
    _retain_grad = None
    _n_outputs = 1
    _next = next_functions = ()

    def __init__(self, variable):
        self.variable = variable
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
