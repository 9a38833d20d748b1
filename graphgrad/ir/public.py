"""The public names of ops: Tensor methods, ``graphgrad.X`` functions and ``graphgrad.numpy.X`` functions.

``graphgrad.ops`` declares them beside each primitive; the Tensor class (through ``TensorBase``),
``graphgrad``, ``graphgrad.ir.functional`` and ``graphgrad.numpy`` read these tables, and ``graphgrad ops``
audits them. This module knows no particular op.
"""
from __future__ import annotations

from typing import Callable

from .api import TensorBase

#: ``graphgrad.X``: name -> function of tensors
FUNCTIONS: dict[str, Callable] = {}
#: ``Tensor.X``: name -> function whose first argument is the tensor
METHODS: dict[str, Callable] = {}
#: ``graphgrad.numpy.X``: name -> (function on tensors, function on plain arrays or None for NumPy's own)
NUMPY: dict[str, tuple[Callable, Callable | None]] = {}
#: ``graphgrad.nn.functional.X``: name -> function
NN: dict[str, Callable] = {}
#: op (primitive or composite) -> {"tensor": [...], "gg": [...], "numpy": [...], "nn": [...]}, for the audit
NAMES: dict[str, dict[str, list[str]]] = {}


def _names(x) -> tuple:
    return (x,) if isinstance(x, str) else tuple(x)


def export(fn: Callable, op: str, *, tensor=(), gg=(), numpy=(), nn=(), numpy_fn: Callable | None = None,
           numpy_impl: Callable | None = None) -> Callable:
    """Publish ``fn`` (the implementation of ``op``) under its names.

    ``tensor`` names become methods of every tensor class; ``gg`` names functions of ``graphgrad``;
    ``numpy`` names functions of ``graphgrad.numpy`` (``numpy_fn`` there if given, its NumPy signature;
    ``numpy_impl`` for plain arrays when NumPy itself has no such function); ``nn`` names functions of
    ``graphgrad.nn.functional``.
    """
    entry = NAMES.setdefault(op, {"tensor": [], "gg": [], "numpy": [], "nn": []})
    for name in _names(tensor):
        if name in METHODS:
            raise ValueError(f"Tensor.{name} declared twice")
        METHODS[name] = fn
        setattr(TensorBase, name, fn)
        entry["tensor"].append(name)
    for name in _names(gg):
        if name in FUNCTIONS:
            raise ValueError(f"graphgrad.{name} declared twice")
        FUNCTIONS[name] = fn
        entry["gg"].append(name)
    for name in _names(numpy):
        if name in NUMPY:
            raise ValueError(f"graphgrad.numpy.{name} declared twice")
        NUMPY[name] = (numpy_fn or fn, numpy_impl)
        entry["numpy"].append(name)
    for name in _names(nn):
        if name in NN:
            raise ValueError(f"graphgrad.nn.functional.{name} declared twice")
        NN[name] = fn
        entry["nn"].append(name)
    return fn


def public(op: str | None = None, **names) -> Callable:
    """Decorator form of :func:`export`: ``@public("sum", tensor="sum", gg="sum")``."""

    def register(fn):
        return export(fn, op or fn.__name__, **names)

    return register


def namespace(module: str, functions: dict, doc: str = ""):
    """The submodule ``module`` (``graphgrad.linalg``) holding the functions declared as ``"linalg.X"``,
    importable (``import graphgrad.linalg``)."""
    import sys
    import types

    prefix = module.rpartition(".")[2] + "."
    space = types.ModuleType(module, doc)
    for name, fn in functions.items():
        if name.startswith(prefix):
            setattr(space, name[len(prefix):], fn)
    sys.modules[module] = space
    return space
