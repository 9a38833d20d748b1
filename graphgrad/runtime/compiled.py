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
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..codegen.loader import load_module
from ..codegen.python import module_source
from ..ir.graph import Graph
from ..ir.interpret import interpret
from ..ir.types import TensorType, dtype_name
from ..passes.adjoint import generate_adjoint, split_forward_backward
from ..passes.optimize import optimize
from ..passes.prune import eliminate_dead_nodes, prune_by_requires_grad
from ..tracer.tracer import SymbolicTensor, TracerError, trace
from .function import Node
from .grad_mode import is_grad_enabled
from .tensor import _NO_ATTRS, Tensor

STAGES = ("traced", "pruned", "adjoint", "optimized")


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
    guards: list = field(default_factory=list)  # (object, attribute, value) the trace depended on
    captured_types: list = field(default_factory=list)  # (type, requires_grad) of each captured tensor
    draws: list = field(default_factory=list)  # makers of the random inputs, which come last
    n_outputs: int = 1
    single: bool = True
    #: seconds each compile stage took: trace, prune, adjoint, optimize, split, then codegen and load per backend
    timings: dict = field(default_factory=dict)

    def module(self, backend: str):
        if backend not in self.modules:
            source = self.source_for(backend)
            start = time.perf_counter()
            with _no_gc():
                self.modules[backend] = load_module(source, self.forward.name)
            self.timings[f"load ({backend})" if backend != "numpy" else "load"] = time.perf_counter() - start
        return self.modules[backend]

    def source_for(self, backend: str) -> str:
        if backend not in self.source:
            start = time.perf_counter()
            with _no_gc():
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


def _remember_diff_types(spec, inputs: list) -> tuple:
    """The types of the inputs that get gradients: fixed by the specialization, so computed once."""
    spec.diff_types = tuple(inputs[i]._type for i in spec.diff_inputs)
    return spec.diff_types


def _still_valid(spec) -> bool:
    """Whether a specialization still describes the world: closed-over tensors kept their types, and the
    Python state the trace read (a module's ``training`` flag) is unchanged."""
    if spec.captured and not all(_same(t, s) for t, s in zip(spec.captured, spec.captured_types)):
        return False
    return all(getattr(obj, name) == value for obj, name, value in spec.guards)


def _fingerprint(args: tuple) -> tuple | None:
    """What the specialization key says about a call whose arguments are all Tensors (else None)."""
    parts = [is_grad_enabled()]
    for a in args:
        if not isinstance(a, Tensor):
            return None
        data = a._data
        parts.append((data.shape, data.dtype.num, a._requires_grad, data.__class__))
    return tuple(parts)


def _backend_of(args) -> str:
    for a in args:
        if isinstance(a, Tensor) and a.is_cuda:
            return "cupy"
        if type(a).__module__.startswith("cupy"):
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
            gc.enable()


def build_specialization(fn, args: tuple, requires_grad: list[bool], grad_mode: bool, name: str | None = None,
                         seed: str = "input", names: list | None = None, outputs=None) -> Specialization:
    """Trace ``fn`` for these argument types and run every stage of the pipeline; ``outputs`` (an index or a
    tuple of indices into what ``fn`` returns) keeps only those outputs and the nodes they need.

    ``seed="ones"`` (``graphgrad.grad``) differentiates the arguments flagged in ``requires_grad`` only, never
    the tensors ``fn`` closes over."""
    with _no_gc():
        return _build_specialization(fn, args, requires_grad, grad_mode, name, seed, names, outputs)


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


def _build_specialization(fn, args, requires_grad, grad_mode, name, seed, names, outputs=None) -> Specialization:
    lap = _Laps()
    types = [_arg_type(a) if _arg_type(a) is not None else a for a in args]
    names = names or _param_names(fn, len(args))
    tracer, result = trace(fn, types, names, requires_grad, name or getattr(fn, "__name__", "f"))
    if outputs is not None:
        result = _fetch(result, outputs, tracer.graph.name)
    single = not isinstance(result, (tuple, list))
    outs = [result] if single else list(result)
    for i, o in enumerate(outs):
        if not isinstance(o, SymbolicTensor):
            raise TracerError(f"{tracer.graph.name} must return tensors computed from its inputs; output {i} is "
                              f"{type(o).__name__}")
        if o.value.name is None:
            o.value.name = tracer.graph.name if single else f"out{i}"
    # buffer updates (BatchNorm's running statistics) are extra outputs, written back after each call
    for i, (_, new) in enumerate(tracer.assignments):
        new.value.name = new.value.name or f"updated{i}"
        outs.append(new)
    graph = tracer.graph
    graph.outputs = [o.value for o in outs]
    graph.output_names = [o.value.name for o in outs]
    stages = {"traced": graph}
    lap("trace")
    n_args = sum(isinstance(t, TensorType) for t in types)
    flags = [v.requires_grad and grad_mode and (seed != "ones" or i < n_args) for i, v in enumerate(graph.inputs)]
    pruned = eliminate_dead_nodes(prune_by_requires_grad(graph, flags))
    stages["pruned"] = pruned
    lap("prune")
    diff = [i for i, v in enumerate(pruned.inputs) if v.requires_grad]
    # gg.grad needs gradients even when no path exists (they are then zeros)
    if diff and (seed == "ones" or any(v.requires_grad for v in pruned.outputs)):
        joint = generate_adjoint(pruned, seed=seed)
        stages["adjoint"] = joint
        lap("adjoint")
        optimized = optimize(joint)
        stages["optimized"] = optimized
        lap("optimize")
        _fix_names(optimized)  # forward and backward then agree on every name
        forward, backward, _ = split_forward_backward(optimized, len(outs))
        lap("split")
    else:
        stages["adjoint"] = pruned
        forward = optimize(pruned)
        stages["optimized"] = forward
        lap("optimize")
        backward, diff = None, []
    spec = Specialization(None, stages, forward, backward, captured=tracer.captured, diff_inputs=diff,
                          n_outputs=len(outs), single=single, assigned=[t for t, _ in tracer.assignments],
                          guards=list(tracer.guards.values()), draws=[draw for _, draw in tracer.random_inputs],
                          captured_types=[(t._type, t._requires_grad) for t in tracer.captured])
    spec.origin = _signature_text(fn)
    spec.timings = lap.times
    return spec


def _fix_names(graph: Graph) -> None:
    from ..ir.subgraphs import all_value_names

    for value, name in all_value_names(graph).items():
        value.name = name


def _module_text(spec: Specialization, backend: str) -> str:
    fwd, bwd = spec.forward, spec.backward
    sig = ", ".join(f"{v.name}: {v.type}{' (requires grad)' if v.requires_grad else ''}" for v in fwd.inputs)
    header = (f"Generated by graphgrad from {fwd.name} ({getattr(spec, 'origin', '?')}) for {backend}.\n"
              f"Signature: {sig}\nImports only {backend}; safe to copy and run without graphgrad.")
    functions = [(fwd, "forward", f"Outputs of {fwd.name}" + (", then the values backward() needs."
                                                             if bwd is not None else "."))]
    if bwd is not None:
        functions.append((bwd, "backward", "Gradients of the inputs that require grad, from the saved values "
                                           "and the output cotangents."))
    return module_source(functions, backend, header)


def _distinct(outs: list) -> list:
    """Outputs that CSE made one value (``return x * 2, x * 2``) are separate arrays, as they are separate
    tensors in eager code: an in-place change to one must not show in the other."""
    seen: set = set()
    result = []
    for o in outs:
        result.append(o.copy() if id(o) in seen else o)
        seen.add(id(o))
    return result


class _Watched:
    """A saved array that is also a tensor the user holds (an output, or an input): its version counter as
    at the forward call, so that backward can refuse, as eager mode does, after an in-place change to it."""

    __slots__ = ("_version_box", "version", "array", "producer")

    def __init__(self, tensor, producer):
        self._version_box = tensor._version_box
        self.version = tensor._version_box[0]
        self.array = tensor._data  # saved anyway; holding the tensor would make a cycle through its grad_fn
        self.producer = producer  # the input's grad_fn; None for an output (its producer is the compiled node)

    def _type_label(self) -> str:
        return Tensor._wrap(self.array)._type_label()


def _watch_saved(saved, inputs: list, outputs: list) -> list:
    arrays = {id(t._data): (t, t.grad_fn) for t in inputs if isinstance(t, Tensor)}
    arrays.update((id(t._data), (t, None)) for t in outputs)
    return [_Watched(*arrays[i]) for i in dict.fromkeys(id(a) for a in saved) if i in arrays]


class CompiledBackward(Node):
    """The ``grad_fn`` of a compiled function's output: runs the generated ``backward``."""

    __slots__ = ("_spec", "_saved_arrays", "_output_index", "_module", "_watched")
    _name = "CompiledFunctionBackward0"  # a class constant: naming each node would give it a __dict__

    def __init__(self, spec, module, saved, next_functions, output_index: int, in_types, watched=()):
        super().__init__("compiled", _NO_ATTRS, next_functions, (), (), in_types, None)
        self._spec = spec
        self._module = module
        self._saved_arrays = saved
        self._output_index = output_index
        self._watched = watched

    def apply(self, g: Tensor) -> list:
        if self._saved_arrays is None:
            from .engine import SECOND_BACKWARD

            raise RuntimeError(SECOND_BACKWARD)
        for w in self._watched:
            if w._version_box[0] != w.version:
                from .engine import _modified

                raise _modified(w, w.producer or self, w.version)
        if g._requires_grad:
            raise NotImplementedError("create_graph=True through a compiled function's backward is not supported; "
                                      "use graphgrad.grad(graphgrad.grad(f)) for higher order in compiled mode")
        fwd_outs = self._spec.forward.outputs[:self._spec.n_outputs]
        cotangents = []
        for i, v in enumerate(fwd_outs):
            if not v.requires_grad:
                continue
            cotangents.append(g._data if i == self._output_index else np.zeros(v.type.shape, v.type.dtype))
        grads = self._module.backward(*self._saved_arrays, *cotangents)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return [Tensor._wrap(np.asarray(a) if a.__class__.__module__ == "numpy" else a) for a in grads]

    def release(self) -> None:
        self._saved_arrays = None


class CompiledFunction:
    """A function traced once per signature into generated NumPy/CuPy code (see ``graphgrad.compile``)."""

    def __init__(self, fn, backend: str | None = None, outputs=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.backend = backend
        #: which of fn's outputs to compute (None: all); the generated code keeps only what they need
        self.outputs = outputs
        self._fetches: dict = {}
        self._cache: dict = {}
        self._by_fingerprint: dict = {}  # all-Tensor calls: a cheaper key for the same specializations
        self.hits = 0
        self.misses = 0
        #: why each specialization after the first was compiled ("x: f32[3] -> f32[4]", ...)
        self.recompile_reasons: list[str] = []
        try:
            self._signature = inspect.signature(fn)
            params = self._signature.parameters.values()
            self._n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        except (TypeError, ValueError):
            self._signature = None
            self._n_positional = -1

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """Keyword arguments and defaults bound to positions, so they specialize like positionals."""
        if not kwargs and len(args) == self._n_positional:
            return args
        if self._signature is None:
            if kwargs:
                raise TypeError(f"{self.__name__}: keyword arguments need a function with an inspectable signature")
            return args
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        if bound.kwargs:
            raise TypeError(f"{self.__name__}: keyword-only and **kwargs parameters are not supported by compile")
        return bound.args

    def _explain(self, key: tuple) -> str:
        """Which part of the signature differs from the closest earlier specialization."""
        names = _param_names(self.fn, len(key[0]))
        best = None
        for old in self._cache:
            diffs = []
            if len(old[0]) != len(key[0]):
                diffs.append(f"{len(old[0])} -> {len(key[0])} arguments")
            for name, a, b in zip(names, old[0], key[0]):
                if a != b:
                    diffs.append(f"{name}: {_describe(a)} -> {_describe(b)}")
            if old[1] != key[1]:
                diffs.append(f"grad mode {'on' if old[1] else 'off'} -> {'on' if key[1] else 'off'}")
            if old[2] != key[2]:
                diffs.append(f"backend {old[2]} -> {key[2]}")
            if best is None or len(diffs) < len(best):
                best = diffs
        return "; ".join(best or ["closed-over tensors changed type or requires_grad, or a module switched "
                                  "between train() and eval()"])

    def _key(self, args, types=None) -> tuple:
        parts = []
        for a, t in zip(args, types if types is not None else [_arg_type(a) for a in args]):
            if t is None:
                parts.append(("static", type(a).__name__, a if isinstance(a, (int, float, bool, str)) else id(a)))
            else:
                parts.append((t.shape, t.dtype, bool(getattr(a, "_requires_grad", False))))
        return tuple(parts), is_grad_enabled(), self.backend or _backend_of(args)

    def specialize(self, *args, _types=None) -> Specialization:
        key = self._key(args, _types)
        for spec in self._cache.get(key, ()):
            if _still_valid(spec):
                self.hits += 1
                return spec
        self.misses += 1
        if self._cache:
            self.recompile_reasons.append(self._explain(key))
        flags = [bool(getattr(a, "_requires_grad", False)) for a in args]
        spec = build_specialization(self.fn, args, flags, key[1], outputs=self.outputs)
        spec.key = key
        self._cache.setdefault(key, []).append(spec)
        return spec

    def __call__(self, *args, **kwargs):
        args = self._positional(args, kwargs)
        spec = self._lookup(args)
        if spec is not None:
            inputs = list(args)
            if spec.captured:
                inputs += [c for c in spec.captured if _arg_type(c) is not None]
            return self._run(spec, inputs)
        types = [_arg_type(a) for a in args]
        if any(isinstance(a, SymbolicTensor) for a in args):  # called inside another trace: inline
            return self.fn(*args)
        spec = self.specialize(*args, _types=types)
        fingerprint = _fingerprint(args)
        if fingerprint is not None:
            specs = self._by_fingerprint.setdefault(fingerprint, [])
            if spec not in specs:
                specs.append(spec)
        inputs = [a for a, t in zip(args, types) if t is not None]
        inputs += [c for c in spec.captured if _arg_type(c) is not None]
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

    def _run(self, spec: Specialization, inputs: list):
        backend = spec.key[2]
        module = spec.module(backend)
        if spec.draws:
            inputs = inputs + [draw() for draw in spec.draws]
        result = module.forward(*[a._data if isinstance(a, Tensor) else a for a in inputs])
        result = result if isinstance(result, tuple) else (result,)
        outs, saved = result[:spec.n_outputs], result[spec.n_outputs:]
        if spec.assigned:
            n_user = spec.n_outputs - len(spec.assigned)
            for target, value in zip(spec.assigned, outs[n_user:]):
                target._data[...] = value
                target._version_box[0] += 1
            outs = outs[:n_user]
        if not any(isinstance(a, Tensor) for a in inputs):
            values = _distinct([np.asarray(o) if backend == "numpy" else o for o in outs])
            return values[0] if spec.single else tuple(values)
        wrapped = [Tensor._wrap(o) for o in _distinct([np.asarray(o) if backend == "numpy" else o for o in outs])]
        if spec.backward is not None:
            next_functions = tuple((inputs[i]._grad_node(), 0) for i in spec.diff_inputs)
            in_types = spec.diff_types or _remember_diff_types(spec, inputs)
            watched = _watch_saved(saved, inputs, wrapped)
            for k, (t, v) in enumerate(zip(wrapped, spec.forward.outputs)):
                if v.requires_grad:
                    t._requires_grad = True
                    t.grad_fn = CompiledBackward(spec, module, saved, next_functions, k, in_types, watched)
        return wrapped[0] if spec.single else tuple(wrapped)

    # -- introspection --------------------------------------------------------------------------
    def graph(self, *args, stage: str = "optimized", outputs=None) -> Graph:
        """The IR after ``stage`` ("traced", "pruned", "adjoint", "optimized", or "forward"/"backward");
        ``outputs`` (an index or indices of the function's outputs) gives the program for those alone."""
        if outputs is not None and outputs != self.outputs:
            key = outputs if isinstance(outputs, int) else tuple(outputs)
            if key not in self._fetches:
                self._fetches[key] = CompiledFunction(self.fn, self.backend, key)
            return self._fetches[key].graph(*args, stage=stage)
        spec = self.specialize(*args)
        if stage == "forward":
            return spec.forward
        if stage == "backward":
            if spec.backward is None:
                raise ValueError("no input requires grad, so there is no backward graph")
            return spec.backward
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES + ('forward', 'backward'))}")
        return spec.stages[stage]

    def source(self, *args, backend: str = "numpy") -> str:
        """The generated module for this signature."""
        return self.specialize(*args).source_for(backend)

    def timings(self, *args) -> dict:
        """Seconds each compile stage took for this signature: ``trace``, ``prune``, ``adjoint``, ``optimize``,
        ``split``, then ``codegen`` and ``load`` of its module (compiling it now if it was not yet).

        >>> import graphgrad as gg
        >>> f = gg.compile(lambda x: (x.sin() * x).sum())
        >>> list(f.timings(gg.ones(3, requires_grad=True)))
        ['trace', 'prune', 'adjoint', 'optimize', 'split', 'codegen', 'load']
        """
        spec = self.specialize(*args)
        spec.module(spec.key[2])
        return dict(spec.timings)

    def cache_info(self):
        return CacheInfo(self.hits, self.misses, sum(len(specs) for specs in self._cache.values()))


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    specializations: int


def _describe(part) -> str:
    if part[0] == "static":
        return f"static {part[2]!r}"
    shape, dtype, requires_grad = part
    return f"{TensorType(shape, dtype)}{' (requires grad)' if requires_grad else ''}"


def _same(tensor, recorded) -> bool:
    return (tensor._type, tensor._requires_grad) == recorded


def compile(fn=None, *, backend: str | None = None, outputs=None):
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
    """
    if fn is None:
        return lambda f: CompiledFunction(f, backend, outputs)
    return CompiledFunction(fn, backend, outputs)


def export(fn, *example_args, path: str, backend: str = "numpy") -> str:
    """Write the generated module for this signature to ``path``; it needs only NumPy (or CuPy).

    Returns the source written.
    """
    compiled = fn if isinstance(fn, CompiledFunction) else CompiledFunction(fn)
    source = compiled.source(*example_args, backend=backend)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return source
