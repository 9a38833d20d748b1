"""Execution: the eager Tensor and autograd engine; compiled-function runtime."""
from .. import ir as _ir
from .capture import capture as _capture

_ir._capture_impl = _capture
