"""``@graphgrad.compile`` and the functional transforms built on the same pipeline.

A call looks up a specialization by signature (shapes, dtypes, which inputs require grad, grad
mode, backend). A miss traces the function, runs the passes and generates one module with
``forward`` and (when something requires grad) ``backward``. The output tensor's ``grad_fn`` runs
the generated backward and feeds the inputs' gradients into the eager engine, so ``.backward()``
accumulates into leaves exactly as eager code would.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import itertools
import logging
import os
import time
import struct
import types as _pytypes
from collections import OrderedDict
from dataclasses import dataclass, field
import warnings
import weakref

import numpy as np

from ..codegen.expressions import HELPERS
from ..codegen.loader import load_module
from ..codegen.cuda import fusible as cuda_fusible
from ..codegen.numba import fusible as numba_fusible
from ..codegen.cuda import reducible as cuda_reducible
from ..codegen.python import BACKENDS, module_source
from ..ir.graph import Graph, Value
from ..ir.registry import NUMPY_FLOAT64, OPS, default_float, default_float_as
from ..ir.subgraphs import all_value_names
from ..ir.types import TensorType, dtype_name
from ..passes.fusion import fuse_elementwise
from ..passes.adjoint import generate_adjoint
from ..passes.matmul_batching import batch_matmuls
from ..passes.patch_chunking import chunk_patches
from ..passes.optimize import optimize
from ..passes.partition import partition, saved_bytes
from ..passes.scheduling import schedule
from ..passes.prune import eliminate_dead_nodes, prune_by_requires_grad
from ..passes.reduction_splitting import split_reductions
from ..tracer.tracer import _DICTS
from ..tracer.tracer import MISSING as _MISSING
from ..tracer.tracer import SymbolicTensor, TracerError, _converted, is_watched_file, read_guarded, same_value, trace
from .engine import _modified
from .function import Node, _sequence
from .grad_mode import enable_grad, is_grad_enabled
from .guards import (LIMIT, RANDOM_GENERATORS, ArrayReader, ContentReader, RandomStateReader, array_guard,
                     content_guard, difference, random_guard, tensor_guard, warn_at)
from .pytree import tree_flatten, tree_unflatten
from .tensor import _NO_ATTRS, _QUIET, Tensor, _fp_mode, _is_device_array, _xp

STAGES = ("traced", "pruned", "adjoint", "batched", "optimized")


@dataclass
class Specialization:
    """Everything compiled for one signature."""

    key: tuple
    stages: dict
    forward: Graph
    backward: Graph | None
    source: dict = field(default_factory=dict)   # backend -> module source
    modules: dict = field(default_factory=dict)  # backend -> loaded module
    captured: list = field(default_factory=list)  # eager tensors the function closed over
    diff_inputs: list = field(default_factory=list)  # positions (in args + captured) that get gradients
    diff_types: tuple = ()  # their types, filled on the first call
    assigned: list = field(default_factory=list)  # eager buffers the last outputs are written into
    #: (output position, input position, views): outputs that are the caller's own tensor or views of it
    returns: tuple = ()
    guards: list = field(default_factory=list)  # (object, attribute, value) the trace depended on
    captured_types: list = field(default_factory=list)  # (type, requires_grad) of each captured tensor
    draws: list = field(default_factory=list)  # makers of the random inputs, which come last
    saved: list = field(default_factory=list)  # the forward values the backward reads (chosen by a min-cut)
    n_outputs: int = 1
    single: bool = True
    #: seconds each compile stage took: trace, prune, adjoint, batch, optimize, split, then codegen and load per backend
    timings: dict = field(default_factory=dict)
    treedef: object = None  # the arguments' pytree structure
    out_tree: object = None  # the result's pytree structure
    watch_inputs: list = field(default_factory=list)   # input positions whose arrays backward reads
    watch_outputs: list = field(default_factory=list)  # output positions whose arrays backward reads
    reaches: list = field(default_factory=list)  # per output: which diff inputs it depends on
    statics: list = field(default_factory=list)  # objects keyed by identity, kept alive with the entry
    #: no random draws, write-backs or returned inputs: all-Tensor calls take CompiledFunction._run_plain
    plain: bool = False
    grad_outputs: tuple = ()  # positions of the returned outputs that require grad (get a grad_fn)
    cotangent_plan: tuple = ()  # per output that requires grad: (position, shape, dtype), for backward
    #: CuPy modules fuse elementwise chains into kernels (``compile(fuse=False)``: one call per op, to compare)
    fuse: bool = True
    #: the default float dtype it was traced under (``trace_float``): later stages re-type nodes under it
    trace_float: str = "float32"

    def module(self, backend: str):
        if backend not in self.modules:
            source = self.source_for(backend)
            start = time.perf_counter()
            try:
                with _no_gc():
                    self.modules[backend] = load_module(source, self.forward.name)
            except ModuleNotFoundError as e:
                if backend == "cupy" and e.name == "cupy":
                    raise ModuleNotFoundError("backend='cupy' needs CuPy, which is not installed: "
                                              "pip install 'graphgrad[cuda]'", name="cupy") from None
                if backend == "numba" and e.name == "numba":
                    raise ModuleNotFoundError("backend='numba' needs Numba, which is not installed: "
                                              "pip install 'graphgrad[numba]'", name="numba") from None
                raise
            self.timings[f"load ({backend})" if backend != "numpy" else "load"] = time.perf_counter() - start
        return self.modules[backend]

    def source_for(self, backend: str) -> str:
        if backend not in self.source:
            start = time.perf_counter()
            with _no_gc(), default_float_as(self.trace_float):  # fusion re-types nodes: as they were traced
                self.source[backend] = _module_text(self, backend)
            self.timings[f"codegen ({backend})" if backend != "numpy" else "codegen"] = time.perf_counter() - start
        return self.source[backend]


class _Laps:
    """Stage timings: ``lap("trace")`` charges the time since the previous lap to that stage."""

    def __init__(self):
        self.times: dict = {}
        self._last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.times[stage] = now - self._last
        self._last = now


def _arg_type(x):
    if isinstance(x, Tensor):
        return x._type
    if isinstance(x, np.ndarray):
        return TensorType(x.shape, dtype_name(x.dtype))
    if isinstance(x, SymbolicTensor):
        return x._type
    return None


def trace_float(leaves) -> str:
    """The default float dtype a trace of these argument leaves runs under (and that keys its specialization).

    NumPy arrays in, and no tensor among them: NumPy's float64. The function, run on those arrays, computes in
    NumPy, where an integer array meets a Python float (``n * 0.1``), true division (``n / 3``), a float
    function (``np.sqrt(n)``, ``np.mean(n)``) or a list of floats (``x * [0.1, 0.2]``) in float64; traced under
    graphgrad's float32 default they would be rounded to float32. With a tensor among the arguments,
    graphgrad's default dtype (PyTorch's rules), and inside another trace, that trace's (already in force)."""
    arrays = False
    for x in leaves:
        if x.__class__ is np.ndarray:
            arrays = True
        elif isinstance(x, (Tensor, SymbolicTensor)):
            return default_float()
    return NUMPY_FLOAT64 if arrays else default_float()  # float64, and NumPy's indexing (ir.registry)


def _remember_diff_types(spec, inputs: list) -> tuple:
    """The types of the inputs that get gradients: fixed by the specialization, so computed once."""
    spec.diff_types = tuple(inputs[i]._type for i in spec.diff_inputs)
    return spec.diff_types


def _still_valid(spec) -> bool:
    """Whether a specialization still describes the world: closed-over tensors and arrays kept their types,
    and the Python state the trace read (globals, closed-over variables, module attributes) is unchanged."""
    # runs before every call: the common outcomes (the same objects) are decided by identity, inline
    for t, (type_, requires_grad) in zip(spec.captured, spec.captured_types):
        if t.__class__ is np.ndarray:
            if _arg_type(t) != type_:
                return False
        elif (t._type is not type_ and t._type != type_) or t._requires_grad != requires_grad:
            return False
    for obj, name, value in spec.guards:
        if obj.__class__ in _DICTS and name.__class__ is str:
            current = obj.get(name, _MISSING)
        elif name.__class__ is str:
            try:
                current = getattr(obj, name)
            except (AttributeError, ValueError):
                current = _MISSING
        else:
            current = read_guarded(obj, name)
        if current is not value and not same_value(current, value):
            return False
    return True


def _stale_guard(spec) -> str | None:
    """What changed since ``spec`` was traced, for the recompile log."""
    for t, recorded in zip(spec.captured, spec.captured_types):
        if not _same(t, recorded):
            return f"a closed-over tensor or array changed type: {recorded[0]} -> {_arg_type(t)}"
    for obj, name, value in spec.guards:
        now = read_guarded(obj, name)
        if not same_value(now, value):
            if isinstance(name, ArrayReader):
                change = "shape" if value[0] != now[0] else "dtype" if value[1] != now[1] else "values"
                return f"{_guard_label(obj, name)} changed: its {change}"
            if isinstance(name, RandomStateReader):
                return f"{_guard_label(obj, name)} moved on since the trace drew from it"
            if isinstance(name, ContentReader):  # the snapshots are tuples: show the object itself
                return f"{_guard_label(obj, name)} changed: {difference(value, now)}"
            return f"{_guard_label(obj, name)} changed: {_short(value)} -> {_short(now)}"
    return None


def _short(x) -> str:
    text = repr(x) if x.__class__ in (int, float, bool, str, complex, type(None)) else f"<{type(x).__name__} at {id(x):#x}>"
    return _abbreviated(text)


def _abbreviated(text: str) -> str:
    return text if len(text) < 60 else text[:57] + "..."


def _guard_label(obj, name) -> str:
    from ..tracer.tracer import guard_label

    return guard_label(obj, name)


def _layout(data) -> tuple | None:
    """An array's strides in elements where it is not row-major (a transposed or sliced view passed in), else
    None: part of the key, since ``stride()``, ``is_contiguous()`` and ``contiguous()`` read it while tracing."""
    if data.flags.c_contiguous:
        return None
    return tuple(s // data.itemsize for s in data.strides)


def _fingerprint(args: tuple) -> tuple | None:
    """What the specialization key says about a call whose arguments are all Tensors (else None)."""
    parts = [is_grad_enabled(), default_float()]
    for a in args:
        if not isinstance(a, Tensor):
            return None
        data = a._data
        parts.append((data.shape, data.dtype.num, a._requires_grad, data.__class__,
                      None if data.flags.c_contiguous else _layout(data)))
    return tuple(parts)


_BY_VALUE = (int, bool, str, bytes, type(None))


def _leaf_key(x) -> tuple:
    """One argument leaf's part of the specialization key. Python scalars key by value (floats bit for bit, so
    ``0.0`` / ``-0.0`` differ and NaN finds its own entry), NumPy scalars by dtype and bits, tensors and arrays
    by type; any other object by identity, and the specialization keeps it alive so that its id is never
    reused by another object while the entry exists."""
    cls = x.__class__
    if cls is float:
        return (float, struct.pack("<d", x))
    if cls in _BY_VALUE:
        return (cls, x)
    if isinstance(x, Tensor):
        data = x._data
        return (Tensor, data.shape, dtype_name(data.dtype), x._requires_grad, data.__class__.__module__,
                _layout(data))
    if isinstance(x, np.ndarray):
        return (np.ndarray, x.shape, dtype_name(x.dtype), _layout(x))
    if isinstance(x, np.generic):
        return (np.generic, x.dtype.str, x.tobytes())
    if cls is complex:
        return (complex, struct.pack("<dd", x.real, x.imag))
    return (object, id(x))


class _PartialReader:
    """A guard's reader: a ``functools.partial``'s arguments, which the trace baked in."""

    __doc__ = "the arguments of a functools.partial"

    def __call__(self, fn):
        return _defaults_of(fn)


def _defaults_of(fn) -> tuple:
    """What binding a call to ``fn`` fills in and may change after it was compiled: a function's defaults, a
    ``functools.partial``'s arguments (compared by ``same_value``: scalars by value, the rest by identity)."""
    if isinstance(fn, functools.partial):
        return fn.args, tuple(fn.keywords.items())
    return getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)


def _closure_guards(fn, seen: set | None = None, depth: int = 0) -> list:
    """Guards on the globals and closed-over variables ``fn`` (and the user functions it reaches) may read:
    Python scalars by value, everything else by identity, so that rebinding any of them re-specializes."""
    seen = set() if seen is None else seen
    if isinstance(fn, CompiledFunction):
        fn = fn.fn
    if isinstance(fn, functools.partial):  # the arguments it adds are baked into the trace
        guards = [(fn, _PartialReader(), _PartialReader()(fn))]
        return guards + _closure_guards(fn.func, seen, depth + 1)
    owner = None  # the object a method reads through self: compile(model.forward), compile(loss_fn)
    if isinstance(fn, _pytypes.MethodType):
        owner, fn = fn.__self__, fn.__func__
    elif not isinstance(fn, (type, _pytypes.FunctionType)) and callable(getattr(type(fn), "__call__", None)) \
            and not hasattr(fn, "__code__"):
        owner, fn = fn, type(fn).__call__
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or depth > 8 or not is_watched_file(code.co_filename):
        return _object_guards(owner, "the object the compiled method is bound to", code) if owner is not None \
            else []
    seen.add(id(code))
    guards = _object_guards(owner, "the object the compiled method is bound to", code) if owner is not None else []
    if isinstance(fn, _pytypes.FunctionType):  # helper.__code__ = ... (a patch, a reload) changes what runs
        guards.append((fn, "__code__", code))
    names: set = set()
    stack = [code]
    while stack:  # nested functions and comprehensions read globals through their own code objects
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, _pytypes.CodeType))
    namespace = getattr(fn, "__globals__", {})
    reached = []
    for name in sorted(names):
        if name in namespace:
            value = namespace[name]
            guards.append((namespace, name, value))
            reached.append((value, f"global {name!r}"))
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        value = read_guarded(cell, "cell_contents")
        guards.append((cell, "cell_contents", value))
        reached.append((value, f"closed-over {name!r}"))
    defaults, kwdefaults = getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)
    if defaults:  # f.__defaults__ = (3.0,), or a default list changed in place
        guards.append((fn, "__defaults__", defaults))
        params = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
        reached += [(value, f"the default of {name!r}") for name, value in zip(params, defaults)]
    if kwdefaults:
        guards.append((fn, "__kwdefaults__", kwdefaults))
        reached.append((kwdefaults, "the keyword-only defaults"))
    if "random" in names and "np.random" not in seen:  # np.random.randn(...): NumPy's global generator
        seen.add("np.random")
        guards.append(random_guard(np.random.mtrand._rand, "NumPy's global random generator (np.random)"))
    for value, label in list(reached):  # a config module's attributes the code reads: cfg.K, cfg.W
        if isinstance(value, _pytypes.ModuleType) and is_watched_file(getattr(value, "__file__", None) or ""):
            namespace = vars(value)
            for name in sorted(names & namespace.keys()):
                guards.append((namespace, name, namespace[name]))
                reached.append((namespace[name], f"{label}.{name}"))
    for value, label in reached:  # an update inside a list, dict or plain object changes what the trace read
        if hasattr(type(value), "_guard_for_trace") and not isinstance(value, type):  # a module read directly
            guards += _object_guards(value, label, code)
            continue
        if value.__class__ is np.ndarray:  # so does one inside an array, unless the trace lifts it
            guards.append(array_guard(value, label))
            continue
        if isinstance(value, Tensor):  # its shape, dtype and flags, read without using its values
            guards.append(tensor_guard(value, label))
            continue
        rng = value if isinstance(value, RANDOM_GENERATORS) else getattr(value, "__self__", None)
        if isinstance(rng, RANDOM_GENERATORS):  # rs.randn(...), or randn imported from numpy.random
            guards.append(random_guard(rng, f"the random generator {label}"))
            continue
        contents = content_guard(value, label, code)
        if contents is not None:
            guards.append(contents)
    for value, _ in reached:  # helpers the function calls, and the forward of modules it uses
        if isinstance(value, (_pytypes.FunctionType, _pytypes.MethodType, CompiledFunction)):
            guards += _closure_guards(value, seen, depth + 1)
        elif hasattr(type(value), "forward") and callable(type(value).forward):
            guards += _closure_guards(type(value).forward, seen, depth + 1)
        elif not isinstance(value, type) and callable(getattr(type(value), "__call__", None)):
            guards += _closure_guards(type(value).__call__, seen, depth + 1)  # a callable object, e.g. a loss
    return guards


def _distinct_guards(guards: list) -> list:
    """Each guard once (a module closed over and called is guarded both before and by its trace): every one is
    checked at every call."""
    found: dict = {}
    for g in guards:  # a reader by its kind and what it reads (two made for one object read the same)
        name = g[1]
        found.setdefault((id(g[0]), name if name.__class__ is str else
                          (name.__class__, name.__doc__) if isinstance(name, ContentReader) else id(name)), g)
    return list(found.values())


class _GuardCollector:
    """A stand-in for the tracer, outside a trace: the guards ``Module._guard_for_trace`` would install."""

    def __init__(self):
        self.guards: dict = {}

    def guard(self, obj, name, value) -> None:
        self.guards[id(obj), name] = (obj, name, value)


def _object_guards(obj, label: str, code) -> list:
    """Guards on an object the traced function reads attributes of (a method's self, a closed-over model, an
    argument): a module's own (``_guard_for_trace``: its scalars, tensors, parameter and submodule tables), else
    its contents where they are watched (a user object, a dict, ...)."""
    # on the type: an object whose __getattr__ answers any name (a config dict) is no module
    if hasattr(type(obj), "_guard_for_trace") and not isinstance(obj, type):
        collector = _GuardCollector()
        obj._guard_for_trace(collector)
        return list(collector.guards.values())
    contents = content_guard(obj, label, code)
    return [contents] if contents is not None else []


def _after_trace(guards: list, fn, captured: list) -> list:
    """Content guards re-read after the trace: Python state the function itself updated while tracing (a
    memo, a list it appends to) is the state the next call finds, so it must not re-specialize every call.
    Such side effects run only when the function is traced, which a warning says. A global or closed-over array
    the trace lifted to an input (``captured``) is read at every call and needs no guard on its values."""
    kept = []
    lifted = {id(c) for c in captured}
    for obj, name, value in guards:
        if isinstance(name, RandomStateReader):
            if same_value(name(obj), value):
                continue  # the trace drew nothing from it
            warn_at(f"graphgrad: the traced function drew random numbers from {name.__doc__}, which a compiled "
                    f"function (and a transform's graph) would reuse at every call: it is traced again whenever the "
                    f"generator has moved on, at the cost of a trace per call. Draw them outside and pass them as "
                    f"an argument (or, under @graphgrad.compile, use graphgrad.randn and friends, drawn afresh at "
                    f"every call)", fn)
            kept.append((obj, name, value))  # the state before the trace: a later call finds it moved on
            continue
        if isinstance(name, ArrayReader):
            if id(obj) in lifted:
                continue
            if value is None:
                warn_at(f"graphgrad.compile: {name.__doc__[len('the contents of '):]} is an array of more than "
                        f"{LIMIT} values that the trace did not use as a tensor operand: if the function reads its "
                        f"values in NumPy (W.sum(), float(W[0])), changes inside it will not re-specialize the "
                        f"compiled function (pass it as an argument, or use it as a tensor operand, which is "
                        f"read at every call)", fn)
                continue
        if isinstance(name, ContentReader):
            now = name(obj)
            if now is not None and not same_value(now, value):
                warn_at(f"graphgrad.compile: the traced function changed {name.__doc__} while tracing; Python "
                        f"side effects run only when a new input signature is traced, not at every call", fn)
                value = now
        kept.append((obj, name, value))
    return kept


def _backend_of(args) -> str:
    for a in args:
        if isinstance(a, Tensor) and a.is_cuda:
            return "cupy"
        if _is_device_array(a):
            return "cupy"
    return "numpy"


def _signature_text(fn) -> str:
    code = getattr(inspect.unwrap(fn), "__code__", None)  # not getsourcelines: it tokenizes the whole function
    if code is None or code.co_filename.startswith("<"):
        return "<unknown source>"
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def _param_names(fn, n: int) -> list:
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    params += [p for p in (f"arg{i}" for i in range(len(params), n))]
    return params[:n] if len(params) >= n else params + [f"arg{i}" for i in range(len(params), n)]


@contextlib.contextmanager
def _no_gc():
    """Compiling allocates many small objects that all stay alive (nodes, values, then the module's code): the
    cyclic collector would walk them again and again for nothing (a third of a 10,000-node compile)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_count()[0] > _PROMOTE_AFTER:
                # the first collection after this would walk every object just made, all alive (a fifth of a
                # 10,000-node compile): hand them to the oldest generation as a collection would, without the walk
                gc.freeze()
                gc.unfreeze()
            gc.enable()


#: objects a compile leaves in the youngest generation past which they are promoted unwalked (see _no_gc)
_PROMOTE_AFTER = 10_000


def build_specialization(fn, args: tuple, requires_grad: list[bool], name: str | None = None,
                         seed: str = "input", names: list | None = None,
                         leaf_flags: list[bool] | None = None, outputs=None, keywords: bool = False) -> Specialization:
    """Trace ``fn`` for these argument types and run every stage of the pipeline; ``outputs`` (an index or a
    tuple of indices into what ``fn`` returns) keeps only those outputs and the nodes they need.

    ``args`` are pytrees: their tensor and array leaves become graph inputs (in flattening order), the other
    leaves are static. ``requires_grad`` has one flag per argument (for all its leaves), or ``leaf_flags`` one
    per leaf. ``seed="ones"`` (``graphgrad.grad``) differentiates the arguments flagged in ``requires_grad``
    only, never the tensors ``fn`` closes over. ``keywords``: the last argument is a dict of the keyword
    arguments ``fn`` takes by name only (keyword-only and ``**kwargs`` parameters)."""
    float_name = trace_float(tree_flatten(tuple(args))[0])
    with _no_gc(), default_float_as(float_name):
        spec = _build_specialization(fn, args, requires_grad, name, seed, names, leaf_flags, outputs,
                                     keywords)
    spec.trace_float = float_name
    return spec


def _fetch(result, outputs, name: str):
    """The outputs selected by ``outputs`` (TensorFlow's fetches): an int picks one, a tuple/list several."""
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    picks = [outputs] if isinstance(outputs, int) else list(outputs)
    for i in picks:
        if not isinstance(i, int) or not -len(results) <= i < len(results):
            raise IndexError(f"outputs: {i!r} is not an output index of {name}, which returns {len(results)} "
                             f"value{'s' if len(results) != 1 else ''}")
    chosen = [results[i] for i in picks]
    return chosen[0] if isinstance(outputs, int) else tuple(chosen)


def _build_specialization(fn, args, requires_grad, name, seed, names, leaf_flags,
                          outputs=None, keywords=False) -> Specialization:
    lap = _Laps()
    leaves, treedef = tree_flatten(tuple(args))
    names = names or _leaf_names(fn, args, keywords)
    if leaf_flags is None:
        leaf_flags = [flag for a, flag in zip(args, requires_grad) for _ in tree_flatten(a)[0]]
    types = [_arg_type(a) if _arg_type(a) is not None else a for a in leaves]
    guards = _closure_guards(fn)  # the values before the trace runs: what the trace reads
    for leaf, path in zip(leaves, names):  # an object argument (a method's self) is keyed by identity only
        guards += _object_guards(leaf, f"argument {path!r}", getattr(fn, "__code__", None))

    user_fn = _converted(fn)  # data-dependent if/while rewritten (the wrapper below is not user code)

    def call(*leaf_values):
        return _call_with(user_fn, tree_unflatten(treedef, leaf_values), keywords)

    # gg.grad's function is pure: an argument updated in place is refused (compile writes it back)
    # the device the code runs on (an argument on the GPU: CuPy): what a traced x.device says
    device = "cuda" if any(isinstance(x, Tensor) and x.is_cuda for x in leaves) else "cpu"
    # gg.grad differentiates under an outer no_grad() too, as torch.func.grad does; a compiled function's
    # trace runs in the caller's grad mode (part of the key) and records its no_grad()/enable_grad() blocks
    with enable_grad() if seed == "ones" else contextlib.nullcontext():
        layouts = [_layout(x._data if isinstance(x, Tensor) else x)
                   if isinstance(x, (Tensor, np.ndarray)) or _is_device_array(x) else None for x in leaves]
        tracer, result = trace(call, types, names, leaf_flags, name or getattr(fn, "__name__", "f"),
                               pure="graphgrad.grad" if seed == "ones" else None, device=device, strides=layouts)
    guards = _after_trace(guards, fn, tracer.captured)
    if outputs is not None:
        result = _fetch(result, outputs, tracer.graph.name)
    outs, out_tree = tree_flatten(result)  # any pytree of tensors: tuples, lists, dicts
    single = not isinstance(result, (tuple, list, dict)) and result is not None
    paths = _leaf_paths(result, "out")
    for i, (o, path) in enumerate(zip(outs, paths)):
        if not isinstance(o, SymbolicTensor):
            where = f"output {i}" if path == "out" or single else f"output {i} ({path[4:].replace('_', '][')!s})"
            raise TracerError(f"{tracer.graph.name} must return tensors computed from its inputs (or tuples, lists "
                              f"and dicts of them); {where} is {type(o).__name__}")
        if o.value.name is None:
            o.value.name = tracer.graph.name if single else f"out{i}"
    # buffer updates (BatchNorm's running statistics) and arguments updated in place are extra outputs,
    # written back after each call
    assignments = list(tracer.assignments) + [(v, new) for v, new in tracer.mutated_inputs.items()]
    for i, (_, new) in enumerate(assignments):
        new.value.name = new.value.name or f"updated{i}"
        outs.append(new)
    graph = tracer.graph
    graph.outputs = [o.value for o in outs]
    graph.output_names = [o.value.name for o in outs]
    stages = {"traced": graph}
    lap("trace")
    n_args = sum(isinstance(t, TensorType) for t in types)
    flags = [v.requires_grad and (seed != "ones" or i < n_args) for i, v in enumerate(graph.inputs)]
    pruned = eliminate_dead_nodes(prune_by_requires_grad(graph, flags))
    stages["pruned"] = pruned
    lap("prune")
    diff = [i for i, v in enumerate(pruned.inputs) if v.requires_grad]
    # gg.grad needs gradients even when no path exists (they are then zeros)
    if diff and (seed == "ones" or any(v.requires_grad for v in pruned.outputs)):
        joint = generate_adjoint(pruned, seed=seed)
        stages["adjoint"] = joint
        lap("adjoint")
        batched = split_reductions(chunk_patches(batch_matmuls(joint)))
        stages["batched"] = batched
        lap("batch")
        optimized = optimize(batched, final=True)
        stages["optimized"] = optimized
        lap("optimize")
        _fix_names(optimized)  # forward and backward then agree on every name
        forward, backward, saved = partition(optimized, len(outs))  # what the forward keeps: a min-cut
        forward = schedule(forward)
        backward = schedule(backward, _released_by_backward(forward, backward, len(outs)))
        lap("split")
    else:
        stages["adjoint"] = pruned
        stages["batched"] = batched = split_reductions(chunk_patches(batch_matmuls(pruned)))
        lap("batch")
        forward = optimize(batched, final=True)
        stages["optimized"] = forward
        lap("optimize")
        backward, diff, saved = None, [], []
    # an input the graph writes back to is named by its position among the inputs
    position = {v: i for i, v in enumerate(graph.inputs)}
    assigned = [position[t] if isinstance(t, Value) else t for t, _ in assignments]
    # an output that is an argument (or closed-over tensor) itself, updated in place or not (``return x``,
    # ``x.add_(1); return x``), is the caller's object, as in eager code, and a view of one is that view of it
    # (``return x[0]``: writes into it reach x); a random draw is no argument
    own = {v: i for i, v in enumerate(graph.inputs[:len(graph.inputs) - len(tracer.random_inputs)])}
    own.update((new.value, position[t]) for t, new in assignments if isinstance(t, Value))
    returns = tuple((k,) + found for k, o in enumerate(outs[:len(outs) - len(assignments)])
                    if (found := _view_of(o.value, own)) is not None)
    spec = Specialization(None, stages, forward, backward, captured=tracer.captured, diff_inputs=diff,
                          n_outputs=len(outs), single=single, assigned=assigned, returns=returns,
                          # what the trace itself changed (a module's list it appends to) is the next call's
                          # baseline for the guards its modules installed too, as for the closure's
                          guards=_distinct_guards(guards + _after_trace(list(tracer.guards.values()), fn,
                                                                        tracer.captured)),
                          draws=[draw for _, draw in tracer.random_inputs],
                          captured_types=[_captured_sig(t) for t in tracer.captured])
    spec.origin = _signature_text(fn)
    spec.timings = lap.times
    spec.treedef = treedef
    spec.out_tree = out_tree
    n_user = len(outs) - len(assignments)
    spec.grad_outputs = tuple(k for k, v in enumerate(forward.outputs[:n_user]) if v.requires_grad)
    spec.cotangent_plan = tuple((i, v.type.shape, v.type.dtype) for i, v in enumerate(forward.outputs[:len(outs)])
                                if v.requires_grad)
    if backward is not None:
        _plan_reaches(spec, pruned, diff)
        # which saved values are inputs or outputs the user holds: their versions are checked before backward
        in_pos = {v: i for i, v in enumerate(forward.inputs)}
        out_pos: dict = {}
        for k, v in enumerate(forward.outputs[:len(outs) - len(assignments)]):  # the outputs returned to the user
            out_pos.setdefault(v, k)  # the first of equal outputs keeps the array (_distinct copies the others)
        read = _values_read(backward, saved)
        spec.watch_inputs = sorted({in_pos[v] for v in read if v in in_pos})
        spec.watch_outputs = sorted({out_pos[v] for v in read if v in out_pos and v not in in_pos})
    spec.saved = saved
    return spec


def _aliased_inputs(inputs: list, saved: tuple, watching: list) -> list:
    """Inputs whose memory a saved value views (``x.reshape``, ``x[1:]``, ``x.T`` are NumPy views): eager's
    view of an input shares its version counter, so an in-place change of the input before backward must
    fail here too rather than give a gradient computed from the new values."""
    views = [a for a in saved if getattr(a, "base", None) is not None]
    if not views:
        return []
    return [_watched(t, t.grad_fn) for i, t in enumerate(inputs)
            if i not in watching and isinstance(t, Tensor) and any(_may_share(a, t._data) for a in views)]


def _refuse_aliased_write_backs(assigned: list, inputs: list) -> None:
    """An argument the function updates in place must not share memory with another argument (``f(x, x)``,
    ``f(x, x[1:])``): eager code sees the update through the other one when it reads it afterwards, the
    generated code reads the other one's old values."""
    arrays = [a._data if isinstance(a, Tensor) else a for a in inputs]
    for target in assigned:
        if not isinstance(target, int):
            continue  # a module buffer or closed-over tensor: not an argument
        mine = arrays[target]
        for j, other in enumerate(arrays):
            if j != target and hasattr(other, "shape") and _may_share(mine, other, exact=True):
                raise RuntimeError(
                    f"the compiled function updates input {target} in place, and input {j} shares its memory (the "
                    f"same tensor passed twice, or a view of it): the generated code would read input {j}'s old "
                    f"values where eager code sees the update. Pass a copy (x.clone()) as one of them.")


def _view_of(value: Value, own: dict) -> tuple | None:
    """(input position, the view ops from it as (op, attrs)) when ``value`` is that input or a view of it."""
    chain = []
    while value not in own:
        node = value.node
        if node is None or not OPS[node.op].view or any(isinstance(x, Value) for x in node.inputs[1:]):
            return None
        chain.append((node.op, node.attrs))
        value = node.inputs[0]
    return own[value], tuple(reversed(chain))


def _apart_from(saved: tuple, targets: list) -> tuple:
    """``saved`` with a copy of each array that shares memory with a tensor the call writes back into: eager
    autograd keeps what an in-place op's gradient needs of the old values (``x.mul_(w)``: the old ``x``)."""
    arrays = [t._data if isinstance(t, Tensor) else t for t in targets]
    return tuple(a.copy() if any(_may_share(a, b) for b in arrays) else a for a in saved)


def _may_share(a, b, exact: bool = False) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and (
            np.shares_memory(a, b) if exact else np.may_share_memory(a, b))
    import cupy  # both are CuPy arrays: saved values live where the inputs do

    return bool(cupy.may_share_memory(a, b))


def _values_read(backward: Graph, saved: list) -> list:
    """The saved values whose contents backward reads: an input saved only for the shape of its zero
    gradient may be changed in place before backward, as in eager (which saves nothing for it)."""
    read = set(backward.outputs)
    for n in backward.nodes:
        if not OPS[n.op].shape_only:  # full_like: only the type
            read.update(n.value_inputs())
    return [v for v, b in zip(saved, backward.inputs) if b in read]


def _plan_reaches(spec, pruned: Graph, diff: list) -> None:
    """Which differentiable inputs each output depends on: the others get no gradient from it (``.grad``
    stays None, as in eager)."""
    reach = []
    for out in pruned.outputs[:spec.n_outputs]:
        live = {out} if out.requires_grad else set()
        for n in reversed(pruned.nodes):
            if n.output in live:
                live.update(x for x in n.value_inputs() if x.requires_grad)
        reaches = tuple(pruned.inputs[i] in live for i in diff)
        reach.append(None if all(reaches) else reaches)  # None: every input gets a gradient
    spec.reaches = reach


def _call_with(fn, args: tuple, keywords: bool):
    """``fn(*args)``; with ``keywords``, the last of ``args`` is the dict of what ``fn`` takes by name only."""
    return fn(*args[:-1], **args[-1]) if keywords else fn(*args)


def _leaf_names(fn, args: tuple, keywords: bool) -> list[str]:
    """A name per leaf of the arguments: the parameter's name and the leaf's place in it; a keyword-only
    argument by its own name (``mask``, ``opts_eps``)."""
    positional = args[:-1] if keywords else args
    names = [p for a, n in zip(positional, _param_names(fn, len(positional))) for p in _leaf_paths(a, n)]
    return names + _leaf_paths(args[-1], "") if keywords else names


def _leaf_paths(tree, prefix: str) -> list[str]:
    """A name per leaf of an argument, in flattening order (``c_s`` for ``c["s"]``, ``p_0`` for ``p[0]``): the
    graph inputs' names."""
    leaves, treedef = tree_flatten(tree)
    if treedef.num_leaves == 1 and not treedef.children:
        return [prefix]
    paths: list[str] = []

    def walk(d, path):
        if d.kind == "leaf":
            paths.append(path)
        elif d.kind in ("dict", "namedtuple"):
            for k, c in zip(d.meta if d.kind == "dict" else d.meta[0]._fields, d.children):
                walk(c, f"{path}_{k}" if path else str(k))
        else:
            for i, c in enumerate(d.children):
                walk(c, f"{path}_{i}" if path else f"arg{i}")

    walk(treedef, prefix)
    return paths


def _captured_sig(x) -> tuple:
    return (x._type, x._requires_grad) if isinstance(x, Tensor) else (_arg_type(x), False)


def _from_generated(error: Exception, module) -> Exception:
    """An error raised by generated code, re-raised (same type) naming the generated statement and the user's
    line it came from: NumPy's own message alone does not say which op of the user's function failed."""
    path = getattr(module, "__file__", None)
    tb, lineno = error.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code  # (a helper the module defines raised: the line that called it)
        if code.co_filename == path and code.co_name not in HELPERS:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    if lineno is None:
        return error
    import linecache

    statement, _, origin = linecache.getline(path, lineno).strip().partition("  # ")
    where = f"in the generated `{statement}`" + (f", from {origin}" if origin else "")
    if isinstance(error, IndexError):  # (NumPy's "for axis 0" in PyTorch's words)
        from ..ops.indexing import torch_index_error

        error = torch_index_error(error)
    try:
        return type(error)(f"{error} ({where})")
    except Exception:  # an exception type that takes other arguments
        return RuntimeError(f"{type(error).__name__}: {error} ({where})")


def _fix_names(graph: Graph) -> None:
    for value, name in all_value_names(graph).items():
        value.name = name


def _module_text(spec: Specialization, backend: str) -> str:
    fwd, bwd = spec.forward, spec.backward
    sig = ", ".join(f"{v.name}: {v.type}{' (requires grad)' if v.requires_grad else ''}" for v in fwd.inputs)
    header = (f"Generated by graphgrad from {fwd.name} ({getattr(spec, 'origin', '?')}) for {backend}.\n"
              f"Signature: {sig}\nImports only {'numpy and numba' if backend == 'numba' else backend}; safe to copy "
              f"and run without graphgrad.")
    functions = [(fwd, "forward", f"Outputs of {fwd.name}" + (", then the values backward() needs."
                                                             if bwd is not None else "."))]
    if bwd is not None:
        functions.append((bwd, "backward", "Gradients of the inputs that require grad, from the saved values "
                                           "and the output cotangents."))
    if backend in ("cupy", "numba") and spec.fuse:  # elementwise chains: one ElementwiseKernel / njit loop each
        # a kernel is a module-level name: one that a value has would be that function's local instead
        taken = {name for g, _, _ in functions for name in all_value_names(g).values()}
        fusible, reducible = (cuda_fusible, cuda_reducible) if backend == "cupy" else (numba_fusible, None)
        functions = [(fuse_elementwise(g, fusible, taken, reducible), name, doc) for g, name, doc in functions]
    release = None
    if bwd is not None and len(bwd.inputs) <= HANDED_OVER_AT_MOST:
        freed = {v.name for v in _released_by_backward(fwd, bwd, spec.n_outputs)}
        release = {"backward": [v for v in functions[-1][0].inputs if v.name in freed]}
    return module_source(functions, backend, header, check_types=check_types_enabled(), release=release)


def _released_by_backward(forward: Graph, backward: Graph, n_outputs: int) -> list[Value]:
    """The backward's inputs it frees after their last use: the saved activations (not the caller's inputs nor
    outputs, which the caller holds), when they are handed over to it (``HANDED_OVER_AT_MOST``)."""
    if len(backward.inputs) > HANDED_OVER_AT_MOST:
        return []
    caller_held = {v.name for v in forward.inputs}
    caller_held.update(v.name for v in forward.outputs[:n_outputs])
    saved = {v.name for v in forward.outputs[n_outputs:]} - caller_held
    return [v for v in backward.inputs if v.name in saved]


def check_types_enabled() -> bool:
    """``GRAPHGRAD_CHECK_TYPES=1``: generated code asserts every value's shape and dtype against the IR."""
    return os.environ.get("GRAPHGRAD_CHECK_TYPES", "") not in ("", "0")


def _distinct(outs: list) -> list:
    """Outputs that CSE made one value (``return x * 2, x * 2``) are separate arrays, as they are separate
    tensors in eager code: an in-place change to one must not show in the other."""
    seen: set = set()
    result = []
    for o in outs:
        result.append(o.copy() if id(o) in seen else o)
        seen.add(id(o))
    return result


def _watched(tensor, producer, is_output: bool = False) -> tuple:
    """A saved array that is also a tensor the user holds (an output, or an input), with its version counter as
    at the forward call, so that backward can refuse, as eager mode does, after an in-place change to it: (version
    box, version, array, the input's grad_fn then, whether it is an output). A tuple: one is made per input per call.
    The array, not the tensor: holding an output would make a cycle through its grad_fn."""
    box = tensor._version_box
    return box, box[0], tensor._data, producer, is_output


_NONE_OWNED = itertools.repeat(False)


def _owned(grads: list, taken: set) -> list:
    """Per gradient array, whether the generated backward made it for itself (not a view, not one of its
    arguments, whose ids are ``taken``, not returned twice), so that a leaf may keep it as ``.grad`` without a
    copy. (An argument freed inside the backward may leave its id to a new array: that one is then copied.)"""
    ids = list(map(id, grads))
    taken = set(taken)
    if len(set(ids)) != len(ids):
        taken.update(i for i in ids if ids.count(i) > 1)
    # (a CuPy array has no writeable flag: its base alone says whether it owns its memory)
    return [i not in taken and (a.base is None and a.flags.writeable if a.__class__ is np.ndarray
                                else _is_device_array(a) and a.base is None)
            for a, i in zip(grads, ids)]


def _plain_array(a):
    """An argument as the generated code may compute with it: an ndarray subclass (``np.matrix``, whose ``*`` is a
    matrix product; a memmap) as a plain ndarray sharing its memory, so write-backs still reach it."""
    return np.asarray(a) if a.__class__ is not np.ndarray and isinstance(a, np.ndarray) else a


def _weak_references(*groups: list) -> list:
    """Weak references to the NumPy and CuPy arrays in ``groups``, the only gradients ``_owned`` may keep."""
    return [weakref.ref(a) for group in groups for a in group if a.__class__ is np.ndarray or _is_device_array(a)]


_HANDING_OVER: dict = {}  # number of arguments -> a function calling fn with them popped off a list
#: the most arguments a call hands over: CPython compiles a call with more into one that packs them in a tuple
#: (its compiler's STACK_USE_GUIDELINE), which holds every argument until the call returns
HANDED_OVER_AT_MOST = 30


def _call_handing_over(fn, arguments: list):
    """``fn(*reversed(arguments))``, each argument popped off the list as it is passed: the list then holds
    nothing, and (CPython 3.11 on, whose calls between Python functions move the arguments into the callee's
    frame) the callee holds the only reference to each, so that its ``del`` frees the array there (up to
    ``HANDED_OVER_AT_MOST`` arguments)."""
    call = _HANDING_OVER.get(len(arguments))
    if call is None:
        namespace: dict = {}
        exec(f"def call(fn, s):\n    return fn({', '.join(['s.pop()'] * len(arguments))})", namespace)
        call = _HANDING_OVER[len(arguments)] = namespace["call"]
    return call(fn, arguments)


class CompiledBackward(Node):
    """The ``grad_fn`` of a compiled function's output: runs the generated ``backward``."""

    __slots__ = ("_spec", "_saved_arrays", "_output_index", "_module", "_watched", "_sources", "_edges")
    _name = "CompiledFunctionBackward0"  # a class constant: naming each node would give it a __dict__

    def __init__(self, spec, module, saved, sources: tuple, output_index: int, in_types, watched=()):
        # Node's fields but _next, which is made on first use (below)
        self.op = "compiled"
        self.attrs = _NO_ATTRS
        self._saved = self._versions = ()
        self._in_types = in_types
        self._out = None
        self._seq = next(_sequence)
        self._sources = sources  # per differentiable input: the leaf tensor itself, or its grad_fn
        self._edges = None
        self._spec = spec
        self._module = module
        self._saved_arrays = saved
        self._output_index = output_index
        self._watched = watched

    @property
    def _next(self) -> tuple:
        """The edges the engine walks, made when something walks them: a leaf's ``AccumulateGrad`` then, not at
        every call (``loss.backward()`` into leaves needs none, see ``into_leaves``)."""
        edges = self._edges
        if edges is None:
            edges = self._edges = tuple([(s._accumulate_node() if isinstance(s, Tensor) else s, 0)
                                         for s in self._sources])
        return edges

    def apply(self, g: Tensor, release: bool = False) -> list:
        # backward runs with grad mode on exactly when create_graph=True: the generated backward records no graph,
        # so gradients of these gradients would silently be zero
        if g._requires_grad or is_grad_enabled():
            self._check_saved()
            raise NotImplementedError("create_graph=True through a compiled function's backward is not supported; "
                                      "use graphgrad.grad(graphgrad.grad(f)) for higher order in compiled mode")
        wrap = Tensor._wrap
        return [None if a is None else wrap(a) for a in self._gradients(g._data, release=release)[0]]

    def apply_last(self, g: Tensor) -> list:
        """``apply`` in the engine's walk without ``retain_graph``: the saved arrays are freed as the backward goes."""
        return self.apply(g, release=True)

    def into_leaves(self, data, retain_graph: bool) -> bool:
        """The whole backward of the common call, ``compiled(*leaves).backward()``: the generated backward's
        gradients go straight into the leaves' ``.grad``, without the engine's walk. Returns False, having done
        nothing, when the walk is needed (hooks, ``retain_grad``, a leaf reached twice, a non-leaf input)."""
        if self._pre_hooks or self._retain_grad is not None:
            return False
        leaves = self._sources
        first = False  # whether some leaf has no .grad yet, which may then keep the backward's own array
        for leaf in leaves:
            if not isinstance(leaf, Tensor) or leaf._hooks:
                return False
            if leaf._grad is None:
                first = True
        if len(leaves) > 1 and len(set(map(id, leaves))) != len(leaves):
            return False
        # every gradient is computed before any .grad is written
        grads, taken = self._gradients(data, release=not retain_graph, ids=first)
        owned = _owned(grads, taken) if first else _NONE_OWNED
        for leaf, a, own in zip(leaves, grads, owned):
            if a is None:
                continue
            grad = leaf._grad
            if grad is not None and not grad._requires_grad:  # _accumulate_array's common case, inline
                grad._data += a
                grad._version_box[0] += 1
            else:
                leaf._accumulate_array(a, own)
        return True

    def _check_saved(self) -> None:
        if self._saved_arrays is None:
            from .engine import SECOND_BACKWARD

            raise RuntimeError(SECOND_BACKWARD)
        for box, version, array, producer, is_output in self._watched:
            if box[0] != version:
                raise _modified(Tensor._wrap(array, version=box), self if is_output else producer, version)

    def _gradients(self, data, release: bool = False, ids: bool = False) -> tuple[list, set | None]:
        """The generated backward's gradient arrays for the output cotangent ``data`` (None for an input this
        output does not reach), and (with ``ids``) the ids of the arrays it was called with. ``release``: this is
        the last backward through this node, which lets go of the saved arrays as the call starts, so that the
        backward frees each after its last use (as PyTorch's engine frees saved tensors)."""
        self._check_saved()
        spec = self._spec
        plan = spec.cotangent_plan
        if len(plan) == 1:  # the gradient takes the output's dtype, as in PyTorch's engine
            dtype = plan[0][2]
            cotangents = [data if data.dtype == dtype else data.astype(dtype)]
        else:
            xp = np if data.__class__ is np.ndarray else _xp(data)  # the other outputs' zeros live where g does
            cotangents = [(data if data.dtype == dtype else data.astype(dtype))
                          if i == self._output_index else xp.zeros(shape, dtype) for i, shape, dtype in plan]
        saved = self._saved_arrays
        taken = watch = None
        if ids and release:
            # an argument the call frees may leave its id to a new gradient: only those that outlive the call
            # count, found through weak references (by ids alone every such gradient was copied)
            watch = _weak_references(saved, cotangents)
        elif ids:
            taken = set(map(id, saved))
            taken.update(map(id, cotangents))
        try:
            if release:
                self._saved_arrays = None
                cotangents.reverse()
                cotangents += reversed(saved)
                del saved
                grads = _call_handing_over(self._module.backward, cotangents)
            else:
                grads = self._module.backward(*saved, *cotangents)
        except Exception as e:
            raise _from_generated(e, self._module) from e
        if watch is not None:
            taken = {id(a) for a in (r() for r in watch) if a is not None}
        if grads.__class__ is not tuple:
            grads = (grads,)
        grads = [a if a.__class__ is np.ndarray or a.__class__.__module__ != "numpy" else np.asarray(a)
                 for a in grads]
        reaches = spec.reaches[self._output_index] if spec.reaches else None
        if reaches is not None:  # an input this output does not depend on gets no gradient: its .grad stays as it was
            grads = [a if r else None for a, r in zip(grads, reaches)]
        return grads, taken

    def release(self) -> None:
        self._saved_arrays = None


class CompiledFunction:
    """A function traced once per signature into generated NumPy/CuPy code (see ``graphgrad.compile``)."""

    def __init__(self, fn, backend: str | None = None, outputs=None, fuse: bool = True):
        # (a function's name and doc; an object's __dict__, a module's state, is its own and stays there)
        functools.update_wrapper(self, fn, updated=functools.WRAPPER_UPDATES if inspect.isroutine(fn) else ())
        self.fn = fn
        self.backend = backend
        self.fuse = fuse
        #: which of fn's outputs to compute (None: all); the generated code keeps only what they need
        self.outputs = outputs
        self._fetches: dict = {}
        self._cache: OrderedDict = OrderedDict()  # key -> [Specialization], least recently used first
        self._by_fingerprint: dict = {}  # all-Tensor calls: a cheaper key for the same specializations
        #: how many signatures are kept (least recently used evicted first); GRAPHGRAD_CACHE_SIZE_LIMIT
        self.cache_size_limit = _cache_size_limit()
        self._warned_storm = False
        self.hits = 0
        self.misses = 0
        #: why each specialization after the first was compiled ("x: f32[3] -> f32[4]", ...)
        self.recompile_reasons: list[str] = []
        #: whether fn takes arguments by name only (``*, mask=None``, ``**kwargs``): they are passed to the
        #: specialization as one dict after the positional ones
        self._keywords = False
        self._defaults = _defaults_of(fn)
        try:
            # a module's call takes (*args, **kwargs): its forward says what it takes (no binding per call)
            self._signature = inspect.signature(fn.forward if callable(getattr(type(fn), "forward", None))
                                                and not isinstance(fn, type) else fn)
            params = self._signature.parameters.values()
            self._n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
            self._keywords = any(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params)
        except (TypeError, ValueError):
            self._signature = None
            self._n_positional = -1
        if self._keywords:
            self._n_positional = -1  # every call binds its arguments

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """Keyword arguments and defaults bound to positions, so they specialize like positionals."""
        if not kwargs and len(args) == self._n_positional:
            return args
        if self._signature is None:
            if kwargs:
                raise TypeError(f"{self.__name__}: keyword arguments need a function with an inspectable signature")
            return args
        defaults = _defaults_of(self.fn)
        if not same_value(defaults, self._defaults):  # f.__defaults__ = (...), a partial's keyword changed
            self._defaults, self._signature = defaults, inspect.signature(self.fn)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return (*bound.args, bound.kwargs) if self._keywords else bound.args

    def _explain(self, key: tuple, names: list[str]) -> str:
        """Which part of the signature differs from the closest earlier specialization, or which guarded
        value changed when the signature is the same."""
        best = None
        for old, specs in self._cache.items():
            if old == key:
                why = next((w for w in map(_stale_guard, specs) if w), None)
                diffs = [why or "closed-over state changed"]
            else:
                diffs = []
                if old[0] != key[0]:
                    diffs.append(f"argument structure {old[0]!r} -> {key[0]!r}")
                else:
                    for name, a, b in zip(names, old[1], key[1]):
                        if a != b:
                            diffs.append(f"{name}: {_describe(a)} -> {_describe(b)}")
                if old[2] != key[2]:
                    diffs.append(f"grad mode {'on' if old[2] else 'off'} -> {'on' if key[2] else 'off'}")
                if old[3] != key[3]:
                    diffs.append(f"backend {old[3]} -> {key[3]}")
                if old[4] != key[4]:
                    diffs.append(f"default dtype {old[4]} -> {key[4]}")
            if best is None or len(diffs) < len(best):
                best = diffs
        return "; ".join(best or ["closed-over state changed"])

    def _key(self, args) -> tuple:
        """The structural specialization key of a call: (argument structure, one part per leaf, grad mode,
        backend, default dtype). Never an object's ``id()`` for values that can be compared (see ``_leaf_key``).
        The default dtype is part of it because type rules read it while tracing (int / int, int * 2.5, float
        factories): code traced under float32 would compute float32 after ``set_default_dtype(float64)``. It is
        the one the trace runs under: NumPy's float64 for NumPy arrays without tensors (``trace_float``)."""
        leaves, treedef = tree_flatten(tuple(args))
        return (treedef, tuple(_leaf_key(x) for x in leaves), is_grad_enabled(), self.backend or _backend_of(leaves),
                trace_float(leaves))

    def specialize(self, *args, _types=None) -> Specialization:
        key = self._key(args)
        specs = self._cache.get(key, ())
        for spec in specs:
            if _still_valid(spec):
                self.hits += 1
                self._cache.move_to_end(key)
                return spec
        self.misses += 1
        names = _leaf_names(self.fn, args, self._keywords)
        reason = self._explain(key, names) if self._cache else None
        if reason is not None:
            self.recompile_reasons.append(reason)
        leaves = tree_flatten(tuple(args))[0]
        flags = [bool(getattr(a, "_requires_grad", False)) for a in leaves]
        spec = build_specialization(self.fn, args, None, leaf_flags=flags, outputs=self.outputs,
                                    keywords=self._keywords)
        spec.key = key
        spec.fuse = self.fuse
        spec.statics = [x for x, k in zip(leaves, key[1]) if k[0] is object]
        spec.plain = not spec.draws and not spec.assigned and not spec.returns
        self._cache.setdefault(key, []).append(spec)  # guarded variants (train / eval) share a key
        self._cache.move_to_end(key)
        _log_recompile(self, reason, key)
        self._bound_cache()
        return spec

    def _forget(self, specs: list) -> None:
        for fingerprint, entries in list(self._by_fingerprint.items()):
            entries[:] = [e for e in entries if e not in specs]
            if not entries:
                del self._by_fingerprint[fingerprint]

    def _bound_cache(self) -> None:
        """Keep at most ``cache_size_limit`` specializations (least recently used go first), warning once when
        the limit is reached: a recompile storm usually means a value that should be a tensor is a Python
        scalar, or a shape changes on every call."""
        limit = self.cache_size_limit
        while sum(len(specs) for specs in self._cache.values()) > limit:
            oldest = next(iter(self._cache))
            evicted = self._cache[oldest].pop(0)
            if not self._cache[oldest]:
                del self._cache[oldest]
            self._forget([evicted])
            if not self._warned_storm:
                self._warned_storm = True
                warnings.warn(
                    f"graphgrad.compile: {self.__name__} has been specialized more than {limit} times "
                    f"(cache_size_limit); least recently used specializations are being evicted. Last change: "
                    f"{self.recompile_reasons[-1] if self.recompile_reasons else 'n/a'}. Pass values that change "
                    f"on every call as tensors, or raise the limit with GRAPHGRAD_CACHE_SIZE_LIMIT.",
                    RuntimeWarning, stacklevel=4)

    def __get__(self, obj, objtype=None):
        """``@graphgrad.compile`` on a method: ``obj.method`` binds ``obj`` as the first argument."""
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != self._n_positional:
            args = self._positional(args, kwargs)
        spec = self._lookup(args)
        if spec is not None:
            if spec.plain and args:  # no random draws, no write-backs: the short path
                return self._run_plain(spec, args)
            inputs = list(args)
            if spec.captured:
                inputs += spec.captured
            return self._run(spec, inputs)
        leaves = tree_flatten(tuple(args))[0]
        if any(isinstance(a, SymbolicTensor) for a in leaves):  # called inside another trace: inline
            return _call_with(self.fn, args, self._keywords)
        spec = self.specialize(*args)
        fingerprint = _fingerprint(args)
        if fingerprint is not None:
            specs = self._by_fingerprint.setdefault(fingerprint, [])
            if spec not in specs:
                specs.append(spec)
        inputs = [a for a in leaves if _arg_type(a) is not None]
        inputs += spec.captured
        return self._run(spec, inputs)

    def _lookup(self, args: tuple) -> Specialization | None:
        """The specialization for a call whose arguments are all Tensors, from shapes, dtypes, requires_grad
        and array types read directly: the common call skips building the full signature key."""
        fingerprint = _fingerprint(args)
        for spec in self._by_fingerprint.get(fingerprint, ()) if fingerprint is not None else ():
            if _still_valid(spec):
                self.hits += 1
                return spec
        return None

    def _run_plain(self, spec: Specialization, args: tuple):
        """``_run`` for the common call (every argument a Tensor, see ``_lookup``) of a specialization with no
        random draws and no write-backs; the same result, with less bookkeeping."""
        backend = spec.key[3]
        module = spec.modules.get(backend) or spec.module(backend)
        arrays = [a._data for a in args]
        if spec.captured:
            arrays += [c._data if isinstance(c, Tensor) else _plain_array(c) for c in spec.captured]
        token = _fp_mode.set(_QUIET)  # overflow, 0/0, log(0): inf and nan without warnings, as eager and PyTorch
        try:
            result = module.forward(*arrays)
        except Exception as e:
            raise _from_generated(e, module) from e
        finally:
            _fp_mode.reset(token)
        n = spec.n_outputs
        if result.__class__ is tuple:
            outs, saved = result[:n], result[n:]
        else:
            outs, saved = (result,), ()
        # (a NumPy scalar becomes a 0-d array; a CuPy array stays on its device)
        outs = [o if o.__class__ is np.ndarray or o.__class__.__module__ != "numpy" else np.asarray(o) for o in outs]
        wrapped = [Tensor._wrap(o) for o in (_distinct(outs) if n > 1 else outs)]
        if spec.backward is not None:
            inputs = args + tuple(spec.captured) if spec.captured else args
            watched = [(t._version_box, t._version_box[0], t._data, t.grad_fn, False)
                       for t in map(inputs.__getitem__, spec.watch_inputs) if isinstance(t, Tensor)]
            sources = tuple([t.grad_fn or t for t in map(inputs.__getitem__, spec.diff_inputs)])
            in_types = spec.diff_types or _remember_diff_types(spec, inputs)
            watched += _aliased_inputs(inputs, saved, spec.watch_inputs)
            if spec.watch_outputs:
                watched += [_watched(wrapped[k], None, True) for k in spec.watch_outputs]
            for k in spec.grad_outputs:
                t = wrapped[k]
                t._requires_grad = True
                t.grad_fn = CompiledBackward(spec, module, saved, sources, k, in_types, watched)
        return wrapped[0] if spec.single else tree_unflatten(spec.out_tree, wrapped)

    def _run(self, spec: Specialization, inputs: list):
        backend = spec.key[3]
        module = spec.module(backend)
        if spec.assigned:
            _refuse_aliased_write_backs(spec.assigned, inputs)
        if spec.draws:
            drawn = [draw() for draw in spec.draws]
            if backend == "cupy":  # draws come from graphgrad's (NumPy) generator, as eager ones do
                import cupy

                drawn = [cupy.asarray(d) for d in drawn]
            inputs = inputs + drawn
        arrays = [a._data if isinstance(a, Tensor) else _plain_array(a) for a in inputs]
        token = _fp_mode.set(_QUIET)
        try:
            result = module.forward(*arrays)
        except Exception as e:
            raise _from_generated(e, module) from e
        finally:
            _fp_mode.reset(token)
        result = result if isinstance(result, tuple) else (result,)
        outs, saved = result[:spec.n_outputs], result[spec.n_outputs:]
        targets = [inputs[t] if isinstance(t, int) else t for t in spec.assigned]
        if saved and targets:  # backward reads the old values of what is about to be overwritten: eager keeps them
            saved = _apart_from(saved, targets)
        # versions of saved inputs are taken before write-backs (the written ones were copied above)
        written = {id(t) for t in targets}
        watched = [_watched(inputs[i], inputs[i].grad_fn) for i in spec.watch_inputs
                   if isinstance(inputs[i], Tensor) and id(inputs[i]) not in written] \
            if spec.backward is not None else ()
        if spec.backward is not None:
            watched += _aliased_inputs(inputs, saved, spec.watch_inputs)
        n_user = spec.n_outputs - len(targets)
        for target, value in zip(targets, outs[n_user:]):
            if isinstance(target, Tensor):
                target._data[...] = value
                target._version_box[0] += 1
            else:  # a NumPy array argument
                target[...] = value
        outs = outs[:n_user]
        # NumPy in, NumPy out: arrays when an argument is one and no tensor is among the inputs (a function of no
        # arrays, `lambda: gg.arange(3)` or `lambda n: gg.ones(n)`, returns tensors, as it does eagerly)
        if not any(isinstance(a, Tensor) for a in inputs) and any(
                isinstance(a, np.ndarray) or _is_device_array(a) for a in inputs[:len(inputs) - len(spec.captured)]):
            values = _distinct([np.asarray(o) if backend == "numpy" else o for o in outs])
            for k, i, views in spec.returns:
                if not views:  # NumPy code's views stay copies
                    values[k] = inputs[i]
            return values[0] if spec.single else tree_unflatten(spec.out_tree, values)
        wrapped = [Tensor._wrap(o) for o in _distinct([np.asarray(o) if backend == "numpy" else o for o in outs])]
        if spec.backward is not None:
            sources = tuple([t.grad_fn or t for t in map(inputs.__getitem__, spec.diff_inputs)])
            in_types = spec.diff_types or _remember_diff_types(spec, inputs)
            if spec.watch_outputs:
                watched = watched + [_watched(wrapped[k], None, True) for k in spec.watch_outputs]
            for k, (t, v) in enumerate(zip(wrapped + targets, spec.forward.outputs)):
                if v.requires_grad and isinstance(t, Tensor):  # an updated tensor gets the update's history
                    t._requires_grad = True
                    t.grad_fn = CompiledBackward(spec, module, saved, sources, k, in_types, watched)
        for k, i, views in spec.returns:
            t = inputs[i]
            if views and not isinstance(t, Tensor):  # a NumPy array's view stays the copy computed
                continue
            for op, attrs in views:  # replayed eagerly: a view sharing the caller's memory, with eager's history
                t = Tensor._apply(op, (t,), attrs)
            wrapped[k] = t
        return wrapped[0] if spec.single else tree_unflatten(spec.out_tree, wrapped)

    # -- introspection --------------------------------------------------------------------------
    def graph(self, *args, stage: str = "optimized", outputs=None, **kwargs) -> Graph:
        """The IR after ``stage`` ("traced", "pruned", "adjoint", "batched", "optimized", or "forward"/"backward");
        ``outputs`` (an index or indices of the function's outputs) gives the program for those alone."""
        if outputs is not None and outputs != self.outputs:
            key = outputs if isinstance(outputs, int) else tuple(outputs)
            if key not in self._fetches:
                self._fetches[key] = CompiledFunction(self.fn, self.backend, key, self.fuse)
            return self._fetches[key].graph(*args, stage=stage, **kwargs)
        spec = self.specialize(*self._positional(args, kwargs))
        if stage == "forward":
            return spec.forward
        if stage == "backward":
            if spec.backward is None:
                raise ValueError("no input requires grad, so there is no backward graph")
            return spec.backward
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES + ('forward', 'backward'))}")
        return spec.stages[stage]

    def source(self, *args, backend: str = "numpy", **kwargs) -> str:
        """The generated module for this signature."""
        return self.specialize(*self._positional(args, kwargs)).source_for(backend)

    def timings(self, *args, **kwargs) -> dict:
        """Seconds each compile stage took for this signature: ``trace``, ``prune``, ``adjoint``, ``batch``, ``optimize``,
        ``split``, then ``codegen`` and ``load`` of its module (compiling it now if it was not yet).

        >>> import graphgrad as gg
        >>> f = gg.compile(lambda x: (x.sin() * x).sum())
        >>> list(f.timings(gg.ones(3, requires_grad=True)))
        ['trace', 'prune', 'adjoint', 'batch', 'optimize', 'split', 'codegen', 'load']
        """
        spec = self.specialize(*self._positional(args, kwargs))
        spec.module(spec.key[3])
        return dict(spec.timings)

    def saved_bytes(self, *args, **kwargs):
        """What the forward keeps for the backward for this signature, without and with the min-cut partition
        (``passes/partition.py``): bytes (inputs excluded: they are held anyway) and the values' names.

        >>> import graphgrad as gg
        >>> f = gg.compile(lambda x: x.tanh().tanh().tanh().sum())
        >>> report = f.saved_bytes(gg.ones(100000, dtype=gg.float64, requires_grad=True))
        >>> report.before, report.after
        (2400000, 0)
        """
        spec = self.specialize(*self._positional(args, kwargs))
        if spec.backward is None:
            raise ValueError("no input requires grad, so the forward keeps nothing for a backward")
        return saved_bytes(spec.stages["optimized"], spec.n_outputs, spec.saved)

    def cache_info(self):
        return CacheInfo(self.hits, self.misses, sum(len(specs) for specs in self._cache.values()))

    def cache_clear(self) -> None:
        """Forget every specialization (the next call traces again)."""
        self._cache.clear()
        self._by_fingerprint.clear()


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    specializations: int


def _describe(part) -> str:
    kind = part[0]
    if kind is Tensor:
        _, shape, dtype, requires_grad, _, strides = part
        return (f"{TensorType(shape, dtype)}{' (requires grad)' if requires_grad else ''}"
                f"{'' if strides is None else f' with strides {strides}'}")
    if kind is np.ndarray:
        return f"array {TensorType(part[1], part[2])}{'' if part[3] is None else f' with strides {part[3]}'}"
    if kind is float:
        return repr(struct.unpack("<d", part[1])[0])
    if kind is np.generic:
        value = np.frombuffer(part[2], dtype=np.dtype(part[1]))[0]
        return f"np.{value.dtype}({value!r})" if not repr(value).startswith("np.") else repr(value)
    if kind is object:
        return f"object at {part[1]:#x}"
    if kind is complex:
        return repr(complex(*struct.unpack("<dd", part[1])))
    return repr(part[1])


def _cache_size_limit() -> int:
    try:
        return max(1, int(os.environ.get("GRAPHGRAD_CACHE_SIZE_LIMIT", "64")))
    except ValueError:
        return 64


_LOG = logging.getLogger("graphgrad.recompiles")


def _log_recompile(compiled, reason: str | None, key: tuple) -> None:
    """``GRAPHGRAD_LOG_RECOMPILES=1``: one line per new specialization, saying what changed."""
    if os.environ.get("GRAPHGRAD_LOG_RECOMPILES", "") in ("", "0"):
        return
    what = reason or "first call"
    _LOG.warning("graphgrad.compile: %s (%s) specialized (#%d): %s", compiled.__name__,
                 _signature_text(compiled.fn), compiled.misses, what)


def _same(captured, recorded) -> bool:
    return _captured_sig(captured) == recorded


#: torch.compile's modes (2.13): accepted for code written for PyTorch; they change nothing here
TORCH_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def compile(fn=None, *, backend: str | None = None, outputs=None, fuse: bool = True, fullgraph: bool = False,
            dynamic: bool | None = None, mode: str | None = None, options: dict | None = None,
            name: str | None = None, disable: bool = False, recompile_limit: int | None = None,
            isolate_recompiles: bool = False, shapes_spec=None):
    """Trace ``fn`` once per input signature and run generated NumPy (or CuPy) code.

    >>> import graphgrad as gg
    >>> @gg.compile
    ... def loss(w, x):
    ...     return ((x @ w) ** 2).mean()
    >>> w = gg.ones(3, 1, requires_grad=True)
    >>> loss(w, gg.ones(4, 3)).backward()
    >>> w.grad.tolist()
    [[6.0], [6.0], [6.0]]

    ``outputs`` (an index, or a tuple of indices) compiles only those of ``fn``'s outputs and the nodes they
    need, as TensorFlow 1's ``session.run(fetches)``; ``f.graph(*args, outputs=...)`` shows such a program.

    >>> both = lambda x: ((x * 2).sum(), (x.exp() * 3).sum())
    >>> first = gg.compile(both, outputs=0)
    >>> first(gg.ones(2)).item()
    4.0
    >>> [n.op for n in first.graph(gg.ones(2)).nodes]
    ['mul', 'sum']

    ``fuse=False`` keeps the CuPy module's one call per op instead of fusing chains of elementwise ops into one
    ``cp.ElementwiseKernel`` each (a chain ending in a sum: one ``cp.ReductionKernel``; docs/backends.md), to
    compare the two; the NumPy module is never fused. ``backend="numba"`` (``pip install 'graphgrad[numba]'``) is
    the NumPy module with each fused region as one ``@numba.njit`` loop, compiled at its first call (docs/backends.md).

    >>> chain = lambda x: (x.tanh() * 2 + 1).sum()
    >>> "fused_tanh_mul_add_sum = cp.ReductionKernel(" in gg.compile(chain).source(gg.ones(3), backend="cupy")
    True
    >>> "Kernel(" in gg.compile(chain, fuse=False).source(gg.ones(3), backend="cupy")
    False

    ``torch.compile``'s keywords are accepted, so that PyTorch code runs unchanged (docs/compile.md):
    ``backend="inductor"`` is the default backend; ``mode`` and ``options`` are checked as PyTorch checks them and
    change nothing; ``fullgraph`` and ``dynamic`` change nothing (the whole function is always compiled, and each
    new shape is a new specialization); ``disable=True`` returns ``fn`` itself; ``recompile_limit`` bounds the
    specializations kept (``cache_size_limit``).

    >>> round(gg.compile(chain, mode="max-autotune", fullgraph=True)(gg.ones(3)).item(), 4)
    7.5696
    """
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode is not None and mode not in TORCH_MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(TORCH_MODES)}")
    if backend == "inductor":
        backend = None
    if backend not in (None, *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} (or torch.compile's "
                         "'inductor': the default)")
    if fn is None:
        return lambda f: compile(f, backend=backend, outputs=outputs, fuse=fuse, disable=disable,
                                 recompile_limit=recompile_limit)
    if disable:
        return fn
    compiled = CompiledFunction(fn, backend, outputs, fuse)
    if recompile_limit is not None:
        compiled.cache_size_limit = int(recompile_limit)
    for cls, wrap in WRAPPERS.items():
        if isinstance(fn, cls):
            return wrap(fn, compiled)
    return compiled


#: class -> ``(instance, its CompiledFunction) -> what compile returns``: graphgrad.nn, which sits above this
#: layer, registers Module here, so that ``compile(model)`` is a module, as PyTorch's OptimizedModule
WRAPPERS: dict = {}


def export(fn, *example_args, path: str, backend: str = "numpy") -> str:
    """Write the generated module for this signature to ``path``; it needs only NumPy (or CuPy).

    Returns the source written.
    """
    compiled = fn if isinstance(fn, CompiledFunction) else CompiledFunction(fn)
    source = compiled.source(*example_args, backend=backend)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return source
