"""graphgrad's IR: types, graphs, the op registry, the shared Tensor API, printing and export."""
from .api import TensorBase, bind
from .graph import Graph, Loc, Node, Value
from .registry import OPS, OpDef, ShapeError, defop, infer_type
from .types import DTYPES, TensorType, dtype_name

__all__ = ["Graph", "Node", "Value", "Loc", "TensorType", "DTYPES", "dtype_name", "OPS", "OpDef", "defop",
           "infer_type", "ShapeError", "TensorBase", "bind", "capture"]


_capture_impl = None  # installed by graphgrad.runtime, which sits above ir


def capture(tensor) -> Graph:
    """The Graph that produced an eager tensor, in the same IR as traced functions.

    >>> import graphgrad as gg
    >>> x = gg.ones(2, requires_grad=True)
    >>> print(gg.ir.capture((x * 2).sum()).nodes[-1].op)
    sum
    """
    if _capture_impl is None:
        raise RuntimeError("graphgrad.runtime is not loaded; import graphgrad first")
    return _capture_impl(tensor)
