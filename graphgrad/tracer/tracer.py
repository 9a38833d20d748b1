"""Symbolic tensors record Nodes into a Graph while the user's Python function runs.

Python control flow on shapes and constants simply unrolls. Anything that needs a tensor's *value*
at trace time (``if t > 0``, ``float(t)``, ``t.item()``) raises ``TracerError`` naming the user's
file and line and the alternatives. User variable names are recovered from the frames' locals when
they return, so the IR and the generated code read like the source.
"""
from __future__ import annotations

import linecache
import os
import sys
import threading

import numpy as np

from ..ir.api import TensorBase
from ..ir.graph import Graph, Loc, Value
from ..ir.registry import ShapeError
from ..ir.types import TensorType, dtype_name
from ..ir.verify import cached_infer_type

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EXAMPLES_DIR = os.path.join(_PACKAGE_DIR, "examples")


_USER_FILES: dict = {}  # co_filename -> whether it is user code (asked once per file, not per frame)


def _is_user_file(filename: str) -> bool:
    """Frames outside the graphgrad package (its bundled examples count as user code)."""
    try:
        return _USER_FILES[filename]
    except KeyError:
        path = os.path.abspath(filename)
        user = _USER_FILES[filename] = not path.startswith(_PACKAGE_DIR) or path.startswith(_EXAMPLES_DIR)
        return user


_SCALARS = (int, float, bool)


class TracerError(RuntimeError):
    """Traced code did something that needs concrete values; the message says where and what instead."""


def _user_frame(frame):
    """``frame`` or the nearest frame above it outside graphgrad (None if there is none)."""
    while frame is not None and not _is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


_LOCS: dict = {}  # (file, line) -> Loc: a loop records thousands of nodes on one line


def _loc(frame) -> Loc:
    key = (frame.f_code.co_filename, frame.f_lineno)
    loc = _LOCS.get(key)
    if loc is None:
        if len(_LOCS) > 100_000:
            _LOCS.clear()
        loc = _LOCS[key] = Loc(*key)
    return loc


def user_location(depth: int = 2) -> Loc | None:
    """The innermost stack frame outside graphgrad: where the user's code called us."""
    frame = _user_frame(sys._getframe(depth))
    return None if frame is None else _loc(frame)


def _where(loc: Loc | None) -> str:
    if loc is None:
        return ""
    text = linecache.getline(loc.file, loc.line).strip()
    return f" at {loc.file}:{loc.line}" + (f": `{text}`" if text else "")


class _ActiveTraces(threading.local):
    """The tracers of the traces running on this thread, innermost last (``ACTIVE.stack``): an eager op on a
    tensor that requires grad, run while tracing (``weight.t()`` on a closed-over parameter), is recorded into
    the innermost one rather than run once at trace time, so that gradients reach that tensor on every call."""

    def __init__(self):
        self.stack: list = []


ACTIVE = _ActiveTraces()


class Tracer:
    """Owns the Graph being built; every SymbolicTensor points to one Tracer."""

    #: the trace this one records a sub-graph for (a branch or loop body), and how deep it is nested
    parent = None
    depth = 0

    def __init__(self, name: str):
        self.graph = Graph(name)
        self.captured: list = []        # eager tensors the function closed over, now graph inputs
        self._captured_ids: dict = {}
        self.assignments: list = []     # (eager tensor, symbolic new value): buffers written after each call
        self.guards: dict = {}          # (id, attribute) -> (object, attribute, value) read while tracing
        self.random_inputs: list = []   # (input value, draw): arrays drawn afresh for every call
        self.names: dict = {}           # id(eager tensor) -> its name where known (a module's "fc1.weight")
        self.role = "forward"
        self.loc_override: Loc | None = None
        #: False for tracers that are not running user code (adjoint generation): no stack walk per node
        self.locate = True
        # the user's frames seen while tracing, for naming values after their locals: id -> [frame, parent id,
        # order]; None outside ``trace``. ``_boundary`` is the frame that called the user's function.
        self._frames: dict | None = None
        self._boundary = None

    def input(self, type: TensorType, name: str | None = None, requires_grad: bool = False) -> "SymbolicTensor":
        v = self.graph.add_input(type, name)
        v.requires_grad = requires_grad
        return SymbolicTensor(v, self)

    def wrap(self, value: Value) -> "SymbolicTensor":
        return SymbolicTensor(value, self)

    def assign(self, target, update) -> None:
        """After each call of the compiled function, write ``update(target)`` into the eager tensor ``target``
        (a module buffer such as BatchNorm's running mean). ``update`` gets ``target`` as a graph input."""
        new = update(self.wrap(self.lift(target, "assign"))).detach()
        self.assignments.append((target, new))

    def random_input(self, type: TensorType, draw, name: str = "mask") -> "SymbolicTensor":
        """A graph input that the compiled function fills with ``draw()`` (a new array) on every call: how
        random values (dropout masks) enter a traced function without being frozen at trace time."""
        v = self.graph.add_input(type, f"{name}{len(self.random_inputs)}")
        self.random_inputs.append((v, draw))
        return SymbolicTensor(v, self)

    def lift(self, x, op: str):
        """Bring a non-symbolic operand into the graph: scalars stay literals, tensors become inputs."""
        if isinstance(x, _SCALARS):
            return x
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, SymbolicTensor) or (isinstance(x, TensorBase) and hasattr(x, "_data")):
            # an eager Tensor the function closed over, or a value of an enclosing trace
            key = id(x)
            if key not in self._captured_ids:
                v = self.graph.add_input(x._type, self.names.get(key))
                v.requires_grad = bool(getattr(x, "_requires_grad", False))
                self._captured_ids[key] = v
                self.captured.append(x)
            return self._captured_ids[key]
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TracerError(f"{op}: cannot use a {type(x).__name__} as a tensor operand{_where(user_location(3))}")
        arr = arr.astype(np.float32 if arr.dtype.kind == "f" and not isinstance(x, np.ndarray) else
                         (np.int64 if arr.dtype.kind in "iu" else arr.dtype))
        name = dtype_name(arr.dtype)
        return self.record("constant", [], {"value": _nested(arr.tolist()), "dtype": name}).value

    def _locate(self) -> Loc | None:
        """The user's frame that is recording now (and, while tracing, remember it for naming)."""
        frame = _user_frame(sys._getframe(2))
        if frame is None:
            return None
        frames = self._frames
        if frames is not None and id(frame) not in frames:
            # remember this frame and its user-code callers up to the trace's caller; stops at the first frame
            # already known, so a whole loop of records in one function costs one dict lookup each
            child = None
            f = frame
            while f is not None:
                entry = frames.get(id(f))
                if child is not None:
                    child[1] = id(f)
                if entry is not None:
                    break
                child = frames[id(f)] = [f, None, len(frames)]
                f = self._caller(f)
        return _loc(frame)

    def _caller(self, frame):
        """The nearest user frame that called ``frame``, below the trace's caller (None past it)."""
        frame = frame.f_back
        while frame is not None and frame is not self._boundary:
            if _is_user_file(frame.f_code.co_filename):
                return frame
            frame = frame.f_back
        return None

    def record(self, op: str, inputs: list, attrs: dict) -> "SymbolicTensor":
        types = [x.type if isinstance(x, Value) else x for x in inputs]
        loc = self.loc_override or (self._locate() if self.locate else None)
        try:
            out_type = cached_infer_type(op, types, attrs)
        except (ShapeError, IndexError, TypeError) as e:
            shapes = ", ".join(str(t) for t in types)
            raise type(e)(f"{e} (in {op}({shapes}){_where(loc)})") from None
        v = self.graph.add_node(op, inputs, attrs, out_type, loc, self.role)
        return SymbolicTensor(v, self)


def _descendant(top: "Tracer", tracer: "Tracer") -> "Tracer":
    """``top`` (the running sub-trace: a branch or loop body) when it is nested in ``tracer``, else ``tracer``:
    an op inside a branch on outer values only is recorded in the branch, so it runs only there."""
    t = top
    while t is not None and t.depth > tracer.depth:
        t = t.parent
    return top if t is tracer else tracer


def _nested(x):
    return tuple(_nested(i) for i in x) if isinstance(x, list) else x


class SymbolicTensor(TensorBase):
    """A tensor whose value is not known yet: operations on it record Nodes."""

    __slots__ = ("value", "tracer")
    _level = 1
    _requires_grad = False  # as a closed-over value of an enclosing trace: that trace differentiates it

    def __init__(self, value: Value, tracer: Tracer):
        self.value = value
        self.tracer = tracer

    @classmethod
    def _apply(cls, op: str, inputs: tuple, attrs: dict):
        tracer = None
        for x in inputs:  # the innermost trace: a loop body's ops on outer values record in the body
            if isinstance(x, SymbolicTensor) and (tracer is None or x.tracer.depth > tracer.depth):
                tracer = x.tracer
        if len(ACTIVE.stack) > 1:  # values of nested traces: the innermost one records
            for x in inputs:
                if isinstance(x, SymbolicTensor) and x.tracer is not tracer and x.tracer in ACTIVE.stack \
                        and tracer in ACTIVE.stack and ACTIVE.stack.index(x.tracer) > ACTIVE.stack.index(tracer):
                    tracer = x.tracer
        if ACTIVE.stack and ACTIVE.stack[-1].depth > tracer.depth:
            tracer = _descendant(ACTIVE.stack[-1], tracer)
        values = []
        for x in inputs:
            if isinstance(x, SymbolicTensor):
                if x.tracer is tracer:
                    values.append(x.value)
                    continue
                if tracer.depth:  # an outer value read in a branch or loop body: one more input of it
                    values.append(tracer.capture(x))
                    continue
                if x.tracer in ACTIVE.stack and tracer in ACTIVE.stack:
                    # a value of an enclosing trace, closed over by a function traced inside it (gg.grad(lambda
                    # w: loss(w, x)) under vmap or compile): an input of this graph, like a closed-over tensor
                    values.append(tracer.lift(x, op))
                    continue
                if x.tracer is not tracer:
                    raise TracerError(f"{op}: this value belongs to another trace (a tensor from an outer "
                                      f"compiled function leaked into an inner one){_where(user_location(3))}")
            else:
                values.append(tracer.lift(x, op))
        return tracer.record(op, values, attrs)

    def _apply_here(self, op: str, inputs: tuple, attrs: dict) -> "SymbolicTensor":
        return self.tracer.record(op, [self.tracer.lift(x, op) for x in inputs], attrs)

    @property
    def _type(self) -> TensorType:
        return self.value.type

    @property
    def dtype(self):
        from ..runtime import dtypes  # the user-facing dtype objects

        return dtypes.BY_NAME[self.value.type.dtype]

    @property
    def requires_grad(self) -> bool:
        return self.value.requires_grad

    @property
    def is_leaf(self) -> bool:
        return self.value.node is None

    def detach(self) -> "SymbolicTensor":
        return SymbolicTensor._apply("stop_gradient", (self,), {})

    def __repr__(self) -> str:
        return f"SymbolicTensor({self.value.name or '?'}: {self.value.type})"

    # -- what tracing cannot do ------------------------------------------------------------------
    def _concrete(self, what: str):
        raise TracerError(
            f"{what} needs the value of a traced tensor{_where(user_location(3))}. Inside @graphgrad.compile "
            f"(and graphgrad.grad) tensors have no values while the function is traced; an if/while on them is "
            f"converted into graphgrad.cond / graphgrad.while_loop only where graphgrad can read the function's "
            f"source (not for code typed at a prompt or built by exec). Use graphgrad.where(cond, a, b) to select "
            f"values elementwise, graphgrad.cond(pred, true_fn, false_fn, *operands) for a branch, move this "
            f"logic outside the compiled function, or use .detach() only for values that need no gradient.")

    def __bool__(self):
        self._concrete("Python control flow (if/while/and/or/bool())")

    def item(self):
        self._concrete(".item()")

    def __float__(self):
        self._concrete("float()")

    def __int__(self):
        self._concrete("int()")

    def __index__(self):
        self._concrete("using a tensor as an index or size")

    def numpy(self):
        self._concrete(".numpy()")

    def tolist(self):
        self._concrete(".tolist()")

    def __array__(self, *args, **kwargs):
        self._concrete("converting to a NumPy array")

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def _index_array(self):
        self._concrete("indexing with a traced tensor")

    def backward(self, *args, **kwargs):
        raise TracerError(f".backward() inside a compiled function{_where(user_location(2))}: return the loss "
                          f"and call .backward() on the result, or use graphgrad.grad(f)")


def trace(fn, args: list, names: list[str] | None = None, requires_grad: list[bool] | None = None,
          name: str | None = None) -> tuple[Tracer, object]:
    """Run ``fn`` on symbolic inputs typed like ``args`` (TensorTypes); return the tracer and outputs.

    Non-TensorType entries of ``args`` are passed through unchanged (static Python values).
    """
    tracer = Tracer(name or getattr(fn, "__name__", "f"))
    names = names or [None] * len(args)
    requires_grad = requires_grad or [False] * len(args)
    symbolic = [tracer.input(a, n, rg) if isinstance(a, TensorType) else a
                for a, n, rg in zip(args, names, requires_grad)]
    ACTIVE.stack.append(tracer)
    try:
        result = _run_naming_locals(tracer, _converted(fn), symbolic)
    finally:
        ACTIVE.stack.pop()
    if tracer.random_inputs:  # random inputs come last: arguments, then closed-over tensors, then draws
        drawn = {id(v) for v, _ in tracer.random_inputs}
        tracer.graph.inputs = ([v for v in tracer.graph.inputs if id(v) not in drawn]
                               + [v for v, _ in tracer.random_inputs])
    return tracer, result


def _converted(fn):
    """``fn`` with its data-dependent control flow rewritten into control-flow nodes (``tracer.autograph``)."""
    from . import autograph

    code = getattr(fn, "__code__", None)
    if code is None or not _is_user_file(code.co_filename) or not vars(autograph.RUNTIME):
        return fn
    return autograph.convert(fn)


def _run_naming_locals(tracer: Tracer, fn, args):
    """Call ``fn``, then name recorded values after the user's local variables.

    The user frames that recorded nodes (and their user-code callers) are kept while the function runs; a
    finished frame still holds its last locals, so they are read afterwards, innermost first, in the order the
    frames returned: a helper's ``hidden`` names a value before its caller's ``h``. No per-call hook runs
    while tracing, and a profiler or debugger the user has set stays in place.
    """
    tracer._frames = {}
    tracer._boundary = sys._getframe()
    try:
        return fn(*args)
    finally:
        frames, tracer._frames, tracer._boundary = tracer._frames, None, None
        _name_from_frames(tracer, frames)


def _name_from_frames(tracer: Tracer, frames: dict) -> None:
    children: dict = {}
    for key, (_, parent, _) in sorted(frames.items(), key=lambda kv: kv[1][2]):
        children.setdefault(parent, []).append(key)
    # post-order over the call tree: the order in which the frames returned
    order: list = []
    stack = [(key, False) for key in reversed(children.get(None, []))]
    while stack:
        key, expanded = stack.pop()
        if expanded:
            order.append(key)
            continue
        stack.append((key, True))
        stack.extend((child, False) for child in reversed(children.get(key, [])))
    for key in order:
        for local, val in frames[key][0].f_locals.items():
            # values of this trace and of its sub-traces (branches, loop bodies); not the converter's helpers
            if isinstance(val, SymbolicTensor) and val.value.name is None and not local.startswith("gg__") \
                    and _root(val.tracer) is tracer:
                val.value.name = local


def _root(tracer: Tracer) -> Tracer:
    while tracer.parent is not None:
        tracer = tracer.parent
    return tracer


def _no_item_assignment(self, index, value):
    raise TracerError(
        f"item assignment (a[i] = v) on a traced tensor{_where(user_location(2))}: graphgrad traces pure "
        f"functions. Build the result functionally instead: a = a.at[i].set(v) (or graphgrad.index_update(a, i, "
        f"v); a.at[i].add(v) for a[i] += v), graphgrad.where(mask, v, a) (gnp.where), or graphgrad.cat / "
        f"gnp.concatenate of the pieces.")


SymbolicTensor.__setitem__ = _no_item_assignment
