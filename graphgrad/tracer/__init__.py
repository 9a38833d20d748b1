"""Tracing: run a Python function on symbolic tensors and record the graph it builds."""
from .tracer import SymbolicTensor, TracerError, Tracer, trace, user_location

__all__ = ["SymbolicTensor", "Tracer", "TracerError", "trace", "user_location"]
