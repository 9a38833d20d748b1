"""Tracing a function into a closed sub-graph (a branch or loop body) inside another trace.

Values of enclosing traces and eager tensors the function reads become extra inputs of the sub-graph
(``captured``), so that the control-flow node that owns it lists every value it depends on.
"""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ir.graph import Graph, Value
from ..ir.types import TensorType
from .tracer import ACTIVE, SymbolicTensor, Tracer, TracerError, _where, user_location


class SubTracer(Tracer):
    """Records a sub-graph; reads of an enclosing trace's values become inputs (``outer`` lists their sources)."""

    def __init__(self, name: str, parent: Tracer):
        super().__init__(name)
        self.parent = parent
        self.depth = parent.depth + 1
        self.role = parent.role
        self.loc_override = parent.loc_override
        # the user frames this trace's records come from are remembered with the root's, for naming
        self._frames, self._boundary = parent._frames, parent._boundary
        self.locate = parent.locate
        self.device = parent.device
        self.watches_grad_mode = parent.watches_grad_mode
        # what the compiled function depends on is the root's business: module flags read, tensor names
        self.guards, self.names = parent.guards, parent.names
        self.outer: list = []          # per captured input: the enclosing trace's SymbolicTensor
        self._outer_ids: dict = {}     # id(outer Value) -> inner input Value

    def capture(self, x: SymbolicTensor) -> Value:
        """The input of this sub-graph standing for ``x``, a value of an enclosing trace."""
        if x.tracer is not self.parent:
            node = self
            while node is not None and node is not x.tracer:
                node = node.parent
            if node is None and x.tracer not in ACTIVE.stack:
                raise TracerError(f"this value belongs to another trace (a tensor from an outer compiled "
                                  f"function leaked into an inner one){_where(user_location(3))}")
            # from an enclosing sub-trace: through the parent; from an enclosing independent trace (this root
            # runs inside it, as gg.grad under compile): an input of the root, as a closed-over tensor is
            parent = self.parent
            x = parent.wrap(parent.capture(x) if parent.depth else parent.lift(x, "capture"))
        key = id(x.value)
        if key not in self._outer_ids:
            v = self.graph.add_input(x.value.type, x.value.name)
            v.requires_grad = x.value.requires_grad
            self._outer_ids[key] = v
            self.outer.append(x)
        return self._outer_ids[key]

    def random_input(self, type, draw, name: str = "mask"):
        raise TracerError(f"random numbers (dropout in training mode) inside a branch or loop on a traced value"
                          f"{_where(user_location(3))}: draw them before the if/loop, or call .eval() on the module")

    def assign(self, target, update) -> None:
        raise TracerError(f"a module buffer update (BatchNorm in training mode) inside a branch or loop on a traced "
                          f"value{_where(user_location(3))}: call .eval() on the module, or move it out of the loop")

    def lift(self, x, op: str):
        if isinstance(x, TensorBase) and hasattr(x, "_data"):  # an eager tensor: the enclosing trace's input
            return self.capture(self.parent.wrap(self.parent.lift(x, op)))
        return super().lift(x, op)


def trace_subgraph(fn, args: list, parent: Tracer, name: str, names: list | None = None):
    """Run ``fn`` on fresh inputs typed like ``args`` (TensorTypes; other entries pass through as Python
    values) in a sub-trace of ``parent``. Returns ``(tracer, result)``; the graph's inputs are the typed
    arguments, then ``tracer.outer``'s captures, once ``result`` is made its outputs by the caller."""
    tracer = SubTracer(name, parent)
    names = names or [None] * len(args)
    symbolic = [tracer.input(a, n) if isinstance(a, TensorType) else a for a, n in zip(args, names)]
    ACTIVE.stack.append(tracer)
    try:
        result = fn(*symbolic)
    finally:
        ACTIVE.stack.pop()
        # its values reach the enclosing trace only as the node's outputs: one kept elsewhere (appended to a
        # list from outside, stored in a dict or attribute) and used later is an escaped value (SymbolicTensor)
        tracer.finished = True
    return tracer, result


__all__ = ["SubTracer", "trace_subgraph", "Graph"]
