"""Guards on the contents of Python state a compiled function closes over.

A trace bakes in the Python values it reads: ``scales[1]`` in ``x * scales[1]``, ``cfg["lr"]``, ``opts.eps``.
Rebinding the name is caught by an identity guard on the name; these guards catch the other way the value can
change, an update inside the object (``scales[1] = 5.0``, ``opts.eps = 1e-3``). A content snapshot holds
scalars by value and everything else (tensors, arrays, modules, functions) by identity, recursing through
lists, tuples, dicts, sets, deques, ``SimpleNamespace``/``argparse.Namespace``/dataclass instances and
objects of classes the user defined. Tensors and arrays held there need no more while the compiled function
reads their data at each call (they are lifted to inputs); a NumPy array a global or closed-over name holds is
also guarded on its values (``ArrayReader``), for the trace may have read them in NumPy (``W.sum()``,
``float(W[0])``, ``gg.tensor(W.tolist())``) and baked the result in.
"""

from __future__ import annotations

import argparse
import array
import collections
import dataclasses
import functools
import sys
import types
import warnings

import numpy as np

from ..tracer.tracer import is_watched_file, same_value
from .tensor import Tensor

#: leaves one snapshot may hold before watching it would cost more than a call; larger state is not
#: watched, with a warning that names it
LIMIT = 10_000
_MAX_DEPTH = 8
_SEQUENCES = (list, tuple, set, frozenset, collections.deque)
_NAMESPACES = (types.SimpleNamespace, argparse.Namespace)
_BUFFERS = (bytearray, array.array)  # mutable, by their bytes
_OPAQUE = (Tensor, np.ndarray, np.generic, type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, int, float, bool, complex, str, bytes, type(None))


class _TooLarge(Exception):
    pass


@functools.lru_cache(maxsize=4096)  # asked at every call for each object and class a snapshot walks
def _user_class(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if filename is None:  # a class typed at the REPL or in a notebook lives in __main__ without a file
        return cls.__module__ == "__main__"
    return is_watched_file(filename)


def watched(obj) -> bool:
    """Whether ``obj`` holds contents a trace may read and a later update may change."""
    if isinstance(obj, type):  # a class the user defined: its attributes (``Config.lr``, a method replaced)
        return _user_class(obj)
    if isinstance(obj, _OPAQUE):
        return False
    if isinstance(obj, (dict, *_SEQUENCES, *_NAMESPACES, *_BUFFERS)) or dataclasses.is_dataclass(obj):
        return True
    cls = type(obj)
    # modules guard what their forward reads themselves; an object with a forward is one
    return (hasattr(obj, "__dict__") or _slots(cls)) and not hasattr(cls, "forward") and _user_class(cls)


def _slots(cls: type) -> tuple:
    """The ``__slots__`` names of ``cls`` and its bases."""
    return tuple(name for klass in cls.__mro__ for name in klass.__dict__.get("__slots__", ())
                 if name not in ("__dict__", "__weakref__"))


def _attributes(obj) -> list:
    """An object's attributes a trace may read: its ``__dict__``, its slots, and (for an object of a user class)
    what its class holds, so that ``Config.lr = 0.1`` is seen through an instance too; a class's own attributes
    and those of its user-defined bases."""
    if isinstance(obj, type):
        found: dict = {}
        for klass in reversed(obj.__mro__):
            if _user_class(klass):
                found.update((k, v) for k, v in vars(klass).items()
                             if not (k.startswith("__") and k.endswith("__")))
        return list(found.items())
    items = list(vars(obj).items()) if hasattr(obj, "__dict__") else []
    items += [(name, getattr(obj, name, None)) for name in _slots(type(obj))]
    if _user_class(type(obj)):
        items.append(("__class__", type(obj)))
    return items


def snapshot(obj):
    """``obj``'s contents as nested tuples that :func:`graphgrad.tracer.tracer.same_value` compares: scalars
    by value, other leaves by identity. Raises ``_TooLarge`` past :data:`LIMIT` leaves."""
    budget = [LIMIT]
    return _snap(obj, budget, 0, set())


def _snap(obj, budget: list, depth: int, active: set):
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if depth > _MAX_DEPTH or id(obj) in active or not watched(obj):
        return obj
    active.add(id(obj))
    try:
        if isinstance(obj, dict):
            items = tuple((k, _snap(v, budget, depth + 1, active)) for k, v in obj.items())
        elif isinstance(obj, (set, frozenset)):
            items = tuple(sorted((_snap(v, budget, depth + 1, active) for v in obj), key=repr))
        elif isinstance(obj, _SEQUENCES):
            items = tuple(_snap(v, budget, depth + 1, active) for v in obj)
        elif isinstance(obj, _BUFFERS):
            budget[0] -= len(obj)
            if budget[0] < 0:
                raise _TooLarge
            items = bytes(obj)
        else:
            items = tuple((k, _snap(v, budget, depth + 1, active)) for k, v in _attributes(obj))
    finally:
        active.discard(id(obj))
    return (obj.__class__, items)


def difference(old, new, path: str = "") -> str:
    """Where two snapshots first differ, as an access path (``[1]``, ``['lr']``, ``.eps``) and what is there
    now: how a recompile log (and the recompile-storm warning) points at the value that changed."""
    if (old.__class__ is tuple and new.__class__ is tuple and len(old) == len(new) == 2
            and isinstance(old[0], type) and old[0] is new[0] and old[1].__class__ is tuple):
        cls, (before, after) = old[0], (old[1], new[1])
        keyed = issubclass(cls, dict) or not issubclass(cls, (*_SEQUENCES,))
        if len(before) == len(after):
            for i, (a, b) in enumerate(zip(before, after)):
                if keyed:
                    if a[0] != b[0]:
                        break
                    step = f"[{a[0]!r}]" if issubclass(cls, dict) else f".{a[0]}"
                    if not same_value(a[1], b[1]):
                        return difference(a[1], b[1], path + step)
                elif not same_value(a, b):
                    return difference(a, b, path + f"[{i}]")
        return f"{path or 'it'} now has {len(after)} entries" if len(before) != len(after) else f"{path} changed"
    shown = repr(new) if new.__class__ in (int, float, bool, str, type(None)) else f"another {type(new).__name__}"
    return f"{path or 'it'} is now {shown}"


class ContentReader:
    # A guard's reader (see graphgrad.tracer.tracer.read_guarded): the snapshot of an object now. Its
    # __doc__, per instance, is what recompile logs and warnings call the object.

    def __init__(self, label: str):
        self.__doc__ = f"the contents of {label}"

    def __call__(self, obj):
        try:
            return snapshot(obj)
        except _TooLarge:
            return None


class ArrayReader(ContentReader):
    # A guard's reader for a NumPy array a global or closed-over name holds: its shape, dtype and bytes. Only
    # while the trace did not lift the array to an input (see graphgrad.runtime.compiled._after_trace).

    def __call__(self, array):
        return array.shape, array.dtype.str, array.tobytes()


class TensorReader(ContentReader):
    # A guard's reader for an eager tensor a global or closed-over name holds: what a trace may read of it
    # without using it as an operand (its shape after ``t.data = ...``, dtype, requires_grad), and the Python
    # attributes the user set on it (``t.scale = 2.0``).

    def __call__(self, t):
        user = tuple((k, v) for k, v in getattr(t, "__dict__", {}).items() if not k.startswith("_"))
        return t._data.shape, t._data.dtype.str, t._requires_grad, user


def tensor_guard(t: Tensor, label: str) -> tuple:
    """A guard ``(t, TensorReader, what it reads now)``."""
    reader = TensorReader(label)
    return t, reader, reader(t)


def array_guard(array: np.ndarray, label: str) -> tuple:
    """A guard ``(array, ArrayReader, values)``; the values are None past :data:`LIMIT` elements, where
    comparing at every call would cost more than the call (the guard is then dropped after the trace, with a
    warning, unless the trace lifted the array)."""
    reader = ArrayReader(label)
    return array, reader, reader(array) if array.size <= LIMIT else None


class RandomStateReader(ContentReader):
    # A guard's reader for a NumPy random generator the traced function may draw from (NumPy's global one behind
    # np.random.randn, or a RandomState or Generator it closes over): its bit generator's state. A trace that
    # draws bakes the draws into the graph, where NumPy would draw new numbers at the next call; the guard
    # (kept only when the trace drew, see graphgrad.runtime.compiled._after_trace) then traces again.

    def __init__(self, label: str):
        self.__doc__ = label

    def __call__(self, rng):
        state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng.get_state(legacy=False)
        return _frozen(state)


def _frozen(x):
    """A random generator's state (nested dicts of ints, strings and arrays) as tuples ``same_value`` compares."""
    if isinstance(x, dict):
        return tuple((k, _frozen(v)) for k, v in sorted(x.items()))
    if isinstance(x, np.ndarray):
        return x.dtype.str, x.tobytes()
    return x


RANDOM_GENERATORS = (np.random.RandomState, np.random.Generator)


def random_guard(rng, label: str) -> tuple:
    """A guard ``(rng, RandomStateReader, its state now)`` on a NumPy random generator."""
    reader = RandomStateReader(label)
    return rng, reader, reader(rng)


def warn_at(message: str, fn) -> None:
    """A UserWarning attributed to the line that defines ``fn`` (a function or its code object), which is
    where the user can act on it, not to graphgrad's own frames."""
    code = getattr(fn, "__code__", fn)
    if isinstance(getattr(code, "co_filename", None), str):
        warnings.warn_explicit(message, UserWarning, code.co_filename, code.co_firstlineno)
    else:
        warnings.warn(message, stacklevel=2)


def content_guard(obj, label: str, where) -> tuple | None:
    """A guard ``(obj, ContentReader, snapshot)`` on ``obj``'s contents, or None when it has none to watch.
    State too large to compare at every call is not watched; a warning at ``where`` (the reading function)
    names it."""
    if not watched(obj):
        return None
    try:
        return (obj, ContentReader(label), snapshot(obj))
    except _TooLarge:
        warn_at(f"graphgrad.compile: {label} holds more than {LIMIT} values; changes inside it will not "
                f"re-specialize the compiled function (pass what it reads as an argument instead)", where)
        return None
