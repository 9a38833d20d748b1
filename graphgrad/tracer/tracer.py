"""Symbolic tensors record Nodes into a Graph while the user's Python function runs.

Python control flow on shapes and constants simply unrolls. Anything that needs a tensor's *value*
at trace time (``if t > 0``, ``float(t)``, ``t.item()``) raises ``TracerError`` naming the user's
file and line and the alternatives. User variable names are recovered from the frames' locals when
they return, so the IR and the generated code read like the source.
"""
from __future__ import annotations

import linecache
import os
import struct
import sys
import sysconfig
import threading
from collections import OrderedDict

import numpy as np

from ..ir.api import TensorBase, row_major_strides
from ..ir.graph import Graph, Loc, Node, Value
from ..ir.registry import OPS, ShapeError, decode_index, default_float, has_array_index
from ..ir.types import TensorType, dtype_name, in_place_cast_error
from ..ir.verify import typed_for

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


is_user_file = _is_user_file


def _library_dirs() -> tuple:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)}
    return tuple(sorted({os.path.join(os.path.abspath(d), "") for d in dirs}))


_LIBRARY_DIRS = _library_dirs()
_WATCHED_FILES: dict = {}


def is_watched_file(filename: str) -> bool:
    """User code whose state a compiled function guards: not graphgrad, not the standard library and not an
    installed package (pytest's rewritten asserts reach into its own modules; their state is not the user's)."""
    try:
        return _WATCHED_FILES[filename]
    except KeyError:
        path = os.path.abspath(filename)
        library = path.startswith(_LIBRARY_DIRS) or f"{os.sep}site-packages{os.sep}" in path \
            or f"{os.sep}dist-packages{os.sep}" in path
        watched = _WATCHED_FILES[filename] = _is_user_file(filename) and not library
        return watched
#: id -> code object of the converter's lazy branches (``lambda: a`` of ``a if c else b``, of ``and``/``or`` in a
#: test): not frames of their own for locations and naming, the statement holding them is. A ternary in a loop
#: would otherwise add a frame per iteration to name values from.
LAZY_CODES: dict = {}
#: whether grad mode is on (``graphgrad.runtime.grad_mode`` installs its reader: the tracer sits below the runtime).
#: A trace records what the user's function computes under ``no_grad()`` as ``stop_gradient``, as eager
#: autograd records no history there (and what it computes under ``enable_grad()`` inside an outer ``no_grad()``
#: with its gradient).
grad_enabled = lambda: True  # noqa: E731
#: per view op, how an in-place update of a view reaches the tensor it was taken of: op -> fn(base, attrs, new
#: view) -> the new base, or None where the op made no view (``graphgrad.ops`` registers them)
WRITE_THROUGH: dict = {}
#: the dtypes of NumPy arrays a trace lifts to inputs (read at each call) rather than copies as constants
LIFTED_DTYPES = ("float32", "float64", "int64", "bool")


def _user_code(code) -> bool:
    """Whether frames running ``code`` are the user's: outside graphgrad, and no lazy branch of the converter."""
    return _is_user_file(code.co_filename) and (code.co_name != "<lambda>" or id(code) not in LAZY_CODES)
_SCALARS = (int, float, bool)

# -- guards: Python state a trace read, re-checked before every call of the compiled function ----------
MISSING = object()
_DICTS = (dict, OrderedDict)
_BY_VALUE = (int, bool, str, bytes, type(None))


def read_guarded(obj, name):
    """The current value a guard watches: ``obj[name]`` for a namespace dict (globals), ``name(obj)`` for a
    callable reader, else ``getattr(obj, name)``; ``MISSING`` when it is gone."""
    try:
        if callable(name):
            return name(obj)
        if obj.__class__ in _DICTS:
            return obj.get(name, MISSING)
        return getattr(obj, name)
    except (AttributeError, ValueError, KeyError):  # an empty closure cell raises ValueError
        return MISSING


def float_bits(x: float) -> bytes:
    """A float's identity as a key: ``0.0`` and ``-0.0`` differ, and a NaN equals itself."""
    return struct.pack("<d", x)


def same_value(a, b) -> bool:
    """Whether a guarded value is unchanged: Python scalars (and tuples of them) by value, with floats
    compared bit for bit; anything else (tensors, arrays, modules, functions) by identity."""
    if a is b:
        return True
    cls = a.__class__
    if cls is not b.__class__:
        return False
    if cls is float:
        return float_bits(a) == float_bits(b)
    if cls in _BY_VALUE:
        return a == b
    if cls is complex:
        return float_bits(a.real) == float_bits(b.real) and float_bits(a.imag) == float_bits(b.imag)
    if cls is tuple:
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return False


def guard_label(obj, name) -> str:
    """How a recompile log names what a guard watches."""
    if callable(name):
        return getattr(name, "__doc__", None) or "a value read while tracing"
    if obj.__class__ in _DICTS:
        return f"global {name}" if "__name__" in obj else f"parameter, buffer or submodule {name!r}"
    if obj.__class__.__name__ == "cell":
        return "a closed-over variable"
    return f"{type(obj).__name__}.{name}"


class TracerError(RuntimeError):
    """Traced code did something that needs concrete values; the message says where and what instead."""


class ItemAssignmentError(TracerError, TypeError):
    """``a[i] = v`` on a traced tensor: a TypeError too, as Python's for an object without item assignment (and
    JAX's for its immutable arrays)."""


class OperandError(TracerError, TypeError):
    """A traced op got an operand that is no tensor, array or number (``x + "a"``): a TypeError, as eagerly."""


def _user_frame(frame):
    """``frame`` or the nearest frame above it outside graphgrad (None if there is none)."""
    while frame is not None and not _is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def _name_in_user_frame(obj) -> str | None:
    """The name the user's code reads ``obj`` by (a local, a closure cell or a global of the frame that is
    recording), so that a lifted global ``W`` is the generated code's parameter ``W``; once per lifted object."""
    frame = _user_frame(sys._getframe(2))
    if frame is None:
        return None
    for namespace in (frame.f_locals, frame.f_globals):
        for name, value in namespace.items():
            if value is obj and not name.startswith("gg__"):
                return name
    return None


def held_from_outside(obj) -> bool:
    """Whether a global, a closure cell or an attribute of ``self`` of the user's frame that is recording holds
    ``obj``: an object the function reads from outside (a trace may lift it to an input read at each call), not
    one it made itself (a local buffer filled between two reads must be copied as it is at each read)."""
    frame = _user_frame(sys._getframe(2))
    # AutoGraph's loop bodies (gg__...) and branch lambdas close over the function's own locals: ask the function
    while frame is not None and (frame.f_code.co_name.startswith("gg__") or id(frame.f_code) in LAZY_CODES):
        frame = _user_frame(frame.f_back)
    if frame is None:
        return False
    if any(value is obj for value in frame.f_globals.values()):
        return True
    names = frame.f_code.co_freevars
    if names and any(frame.f_locals.get(name) is obj for name in names):
        return True
    owner = frame.f_locals.get("self")  # a module's array attribute (`gg.tensor(self.table)` in forward)
    return any(value is obj for value in getattr(owner, "__dict__", {}).values())


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
    #: the transform (``"grad"``, ``"vmap"`` ...) whose pure function this trace records: in-place updates of its
    #: inputs are refused, since nothing writes them back (``@compile`` does: None)
    pure: str | None = None
    #: where the traced code runs, "cpu" or "cuda" (``x.device`` of a traced value)
    device: str = "cpu"

    def __init__(self, name: str):
        self.graph = Graph(name)
        self.captured: list = []        # eager tensors the function closed over, now graph inputs
        self._captured_ids: dict = {}
        self.assignments: list = []     # (eager tensor, symbolic new value): buffers written after each call
        self.mutated_inputs: dict = {}  # input Value -> its latest SymbolicTensor: arguments updated in place
        self._mutated_origin: dict = {}  # latest Value of an input updated in place -> that input
        self._views: dict = {}          # Value -> the views (reshape, getitem, ..., detach) recorded of it
        self._stale: dict = {}          # view Value whose base was updated in place later -> (what, loc)
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
        self.finished = False  # set when the traced function has returned: its values must not be used
        #: record results made under no_grad() as stop_gradient (a user trace);
        #: ``no_grad_values``: those results, which are no .detach() of anything the user holds
        self.watches_grad_mode = False
        self.no_grad_values: set = set()
        self._gradless: set = set()  # made under no_grad() from values that carry no gradient
        self._view_bases: dict = {}  # a view's Value -> the SymbolicTensor it was taken of (see WRITE_THROUGH)
        self._view_objects: dict = {}  # a tensor's Value -> the views taken of it (see _refresh_views)
        self._updated: set = set()  # values in-place updates gave their tensors: no views, whatever their op
        #: an argument's Value -> its strides (in elements) where it is no row-major array (``x.t()`` passed in):
        #: what ``stride()``, ``is_contiguous()`` and ``contiguous()`` see (the specialization key has them too)
        self.input_strides: dict = {}

    def input(self, type: TensorType, name: str | None = None, requires_grad: bool = False) -> "SymbolicTensor":
        v = self.graph.add_input(type, name)
        v.requires_grad = requires_grad
        return SymbolicTensor(v, self)

    def wrap(self, value: Value) -> "SymbolicTensor":
        return SymbolicTensor(value, self)

    def guard(self, obj, name, value) -> None:
        """Re-specialize the compiled function when ``read_guarded(obj, name)`` no longer equals ``value``
        (``same_value``): how Python state read while tracing is kept from going stale."""
        self.guards[id(obj), name] = (obj, name, value)

    def assign(self, target, update) -> None:
        """After each call of the compiled function, write ``update(target)`` into the eager tensor ``target``
        (a module buffer such as BatchNorm's running mean). ``update`` gets ``target`` as a graph input."""
        new = update(self.wrap(self.lift(target, "assign"))).detach()
        self.assignments.append((target, new))

    def is_view(self, t: "SymbolicTensor") -> bool:
        """Whether ``t`` is a view of another tensor's memory, as its eager twin would be (``mutate``'s test): a
        view op's result that eager code does not copy."""
        node = t.value.node
        return (node is not None and node.op in OPS and OPS[node.op].view and t.value not in self._updated
                and not _reshape_copies(t.value, self.input_strides))

    def mutate(self, target: "SymbolicTensor", new: "SymbolicTensor", what: str, loc: Loc | None) -> None:
        """``target`` was updated in place to ``new``: every later use of ``target`` (the same Python object)
        sees ``new``; when ``target`` is an input of the graph (an argument, or an eager tensor the function
        closed over), ``new`` is written back into the caller's tensor after each call, as eager code would
        have changed it."""
        value = target.value
        # made under no_grad(): the op under its stop_gradient says what the tensor is (a view stays a view)
        made = value.node.inputs[0] if value in self.no_grad_values else value
        if made is value and value.node is not None and value.node.op in OPS and OPS[value.node.op].stops_gradient:
            raise TracerError(
                f"in-place {what} on .data or .detach() of a tensor{_where(loc)}: inside a compiled function this "
                f"would not change the tensor it shares memory with. Update the tensor itself outside the compiled "
                f"function (under graphgrad.no_grad()), or compute the new value out of place.")
        base = None  # the tensor a view is taken of, which the update reaches (``x[0] += 1``)
        if made.node is not None and made.node.op in OPS and OPS[made.node.op].view and value not in self._updated \
                and not _reshape_copies(made, self.input_strides):  # (x.t().reshape(6) is a copy eagerly)
            base = self._view_bases.get(made)
            through = WRITE_THROUGH.get(made.node.op)
            if base is None or through is None or base.value is not made.node.inputs[0]:
                raise TracerError(
                    f"in-place {what} on a view (the result of {made.node.op}){_where(loc)}: inside a compiled "
                    f"function this view is not written through to the tensor it was taken from. Compute the new "
                    f"value out of place (y = y + 1), or update the whole tensor (y[i] = v).")
        inner = ACTIVE.stack[-1] if ACTIVE.stack else self
        if inner.depth > self.depth or (self.depth and any(v is value for v in self._outer_ids.values())):
            raise TracerError(
                f"in-place {what} of a tensor from outside a branch or loop body on a traced value{_where(loc)}: it "
                f"would change only inside that branch's graph, once, while tracing. Assign the result to the "
                f"variable instead (y = y * 2 rather than y.mul_(2) on a tensor the branch does not assign), so "
                f"that the if or loop hands the new value out.")
        if new._type.shape != value.type.shape:
            raise RuntimeError(f"output with shape {list(value.type.shape)} doesn't match the broadcast shape "
                               f"{list(new._type.shape)}")
        if new._type.dtype != value.type.dtype:  # an in-place result keeps the tensor's dtype
            new = SymbolicTensor._apply("cast", (new,), {"dtype": value.type.dtype})
        if new.value in self.no_grad_values and value not in self.no_grad_values and target.requires_grad:
            # eager: the tensor keeps its history and the update under no_grad() adds nothing to it, so its
            # gradient passes the update unchanged. The graph has no op for "these values, that gradient".
            raise TracerError(
                f"in-place {what} under no_grad() of a tensor that carries a gradient, inside a compiled "
                f"function{_where(loc)}: eager autograd would pass the gradient through the update unchanged, "
                f"which compiled code cannot express. Make the update outside the compiled function, or out of "
                f"place (y = y + delta.detach()).")
        if base is not None:
            new_base = WRITE_THROUGH[made.node.op](base, made.node.attrs, new)
            if new_base is not None:  # else no view after all (an integer-array index copies): the update is its own
                self.mutate(base, new_base, what, loc)
                if target.value is value:  # the view again, of the updated tensor (unless _refresh_views took it)
                    self._retake(target, base, made.node)
                return
        # Eager views share the base's memory and see the update; a traced view is a value computed from the
        # old base and would not: refuse the views taken so far (and views of them) when they are used
        bases = [value]
        while bases:
            for view in self._views.pop(bases.pop(), ()):
                self._stale[view] = (what, loc)
                bases.append(view)
        original = self._mutated_origin.get(value, value)
        if original.node is None and original in self.graph.inputs:
            if self.pure is not None:
                raise TracerError(
                    f"in-place {what} on {original.name or 'an input'!r}, an argument (or a closed-over array or "
                    f"tensor) of the function given to {self.pure}{_where(loc)}: {self.pure} transforms pure "
                    f"functions, and the caller's array would not be updated as NumPy updates it. Compute the new "
                    f"value out of place (buf = buf + x) and return it (has_aux=True returns it beside the "
                    f"gradient), or use @graphgrad.compile, which writes such updates back.")
            if original.requires_grad:
                raise TracerError(
                    f"in-place {what} on {original.name or 'an input'!r}, an input that requires grad, inside a "
                    f"compiled function{_where(loc)}: its update cannot be written back with a gradient history. "
                    f"Compute the new value out of place and return it, or update it outside the compiled "
                    f"function (under graphgrad.no_grad()).")
            self.mutated_inputs[original] = new
            self._mutated_origin[new.value] = original
        target.value = new.value
        self._updated.add(new.value)  # the tensor's own value now, whatever op made it (a composite's permute)
        self._refresh_views(value, target)

    def _refresh_views(self, old: Value, base: "SymbolicTensor") -> None:
        """Views of ``base`` taken before its update (``row = y[2]; y[2, 0] = 1``) read it again, as eager views
        share its memory: each is taken anew of the updated tensor, and so are views of those."""
        for view in self._view_objects.pop(old, ()):
            before = view.value
            if self._view_bases.get(before) is base and before.node is not None and before.node.inputs[0] is old:
                self._retake(view, base, before.node)
                self._refresh_views(before, view)

    def _retake(self, view: "SymbolicTensor", base: "SymbolicTensor", node) -> None:
        """``view`` taken again, by ``node``'s op, of ``base``'s current value; it is that value's view now."""
        fresh = SymbolicTensor._apply(node.op, (base,), node.attrs)
        view.value = fresh.value
        taken = self._view_objects.get(base.value)
        if taken and taken[-1] is fresh:
            taken[-1] = view

    def update_captured(self, t, compute, what: str, loc: Loc | None) -> None:
        """An in-place update, while tracing, of ``t``, an eager tensor that outlives the trace (a closed-over
        tensor, a module buffer): ``compute(symbolic t)`` is its new value, written back into ``t`` after each call,
        and later reads of ``t`` in this trace see it."""
        symbolic = self.wrap(self.lift(t, what))
        self.mutate(symbolic, compute(symbolic), what, loc)
        self._captured_ids[id(t)] = symbolic.value

    def random_input(self, type: TensorType, draw, name: str = "mask") -> "SymbolicTensor":
        """A graph input that the compiled function fills with ``draw()`` (a new array) on every call: how
        random values (dropout masks) enter a traced function without being frozen at trace time."""
        v = self.graph.add_input(type, f"{name}{len(self.random_inputs)}")
        self.random_inputs.append((v, draw))
        return SymbolicTensor(v, self)

    def lift(self, x, op: str):
        """Bring a non-symbolic operand into the graph: scalars stay literals, tensors become inputs."""
        if isinstance(x, np.generic):  # before Python scalars: np.float64 is a float subclass
            return x.item()  # a Python scalar, so it takes the tensor's dtype as in PyTorch
        if isinstance(x, _SCALARS):
            return x
        if isinstance(x, SymbolicTensor) or (isinstance(x, TensorBase) and hasattr(x, "_data")):
            # an eager Tensor the function closed over, or a value of an enclosing trace
            key = id(x)
            if key not in self._captured_ids:
                v = self.graph.add_input(x._type, self.names.get(key) or _name_in_user_frame(x))
                v.requires_grad = bool(getattr(x, "_requires_grad", False))
                self._captured_ids[key] = v
                self.captured.append(x)
            return self._captured_ids[key]
        if isinstance(x, np.ndarray) and x.dtype.name in LIFTED_DTYPES:
            # a closed-over array is an input passed at every call (keyed by identity), never a constant:
            # changes made to it in place between calls are then seen
            key = id(x)
            if key not in self._captured_ids:
                self._captured_ids[key] = self.graph.add_input(TensorType(x.shape, dtype_name(x.dtype)),
                                                               self.names.get(key) or _name_in_user_frame(x))
                self.captured.append(x)
            return self._captured_ids[key]
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise OperandError(f"unsupported operand type(s) for {op}: a {type(x).__name__} cannot be a tensor "
                               f"operand{_where(user_location(3))}")
        # Python floats (a list literal operand) take the default float dtype, as gg.tensor gives them
        arr = arr.astype(default_float() if arr.dtype.kind == "f" and not isinstance(x, np.ndarray) else
                         (np.int64 if arr.dtype.kind in "iu" else arr.dtype))
        name = dtype_name(arr.dtype)
        return self.record("constant", [], {"value": _nested(arr.tolist()), "dtype": name}).value

    def _locate(self) -> Loc | None:
        """The user's frame that is recording now (and, while tracing, remember it for naming)."""
        # _user_frame and _loc inlined: this runs once per recorded node
        frame = sys._getframe(2)
        user_files = _USER_FILES
        while frame is not None:
            filename = frame.f_code.co_filename
            user = user_files.get(filename)
            if user is None:
                user = _is_user_file(filename)
            if user and (frame.f_code.co_name != "<lambda>" or id(frame.f_code) not in LAZY_CODES):  # _user_code
                break
            frame = frame.f_back
        else:
            return None
        frames = self._frames
        if frames is not None:
            key = id(frame)
            if key not in frames:
                # remember this frame and its user-code callers up to the trace's caller; stops at the first frame
                # already known, so a whole loop of records in one function costs one dict lookup each
                child = frames[key] = [frame, None, len(frames)]
                f = self._caller(frame)
                while f is not None:
                    key = child[1] = id(f)
                    if key in frames:
                        break
                    child = frames[key] = [f, None, len(frames)]
                    f = self._caller(f)
        key = (filename, frame.f_lineno)
        loc = _LOCS.get(key)
        return loc if loc is not None else _loc(frame)

    def _caller(self, frame):
        """The nearest user frame that called ``frame``, below the trace's caller (None past it)."""
        frame = frame.f_back
        while frame is not None and frame is not self._boundary:
            if _user_code(frame.f_code):
                return frame
            frame = frame.f_back
        return None

    def record(self, op: str, inputs: list, attrs: dict) -> "SymbolicTensor":
        return self._record(op, list(inputs), dict(attrs))

    def _record(self, op: str, inputs: list, attrs: dict) -> "SymbolicTensor":
        """``record`` for ``inputs`` and ``attrs`` that are this node's own (no copies made)."""
        loc = self.loc_override or (self._locate() if self.locate else None)
        try:
            typed = typed_for(op, inputs, attrs)
        except (ShapeError, IndexError, TypeError) as e:
            shapes = ", ".join(str(x.type if isinstance(x, Value) else x) for x in inputs)
            raise type(e)(f"{e} (in {op}({shapes}){_where(loc)})") from None
        # Graph.add_node inlined
        if self._stale:
            self.check_fresh(inputs, loc)
        v = Value(typed[2])
        v.node = Node(op, inputs, attrs, v, loc, self.role, typed)
        self.graph.nodes.append(v.node)
        opdef = OPS[op]
        # (a copy sees no later update)
        if opdef.view and not (op == "reshape" and _reshape_copies(v, self.input_strides)):
            self._views.setdefault(inputs[0], []).append(v)
        if self.watches_grad_mode and not opdef.stops_gradient and not grad_enabled() \
                and isinstance(typed[2], TensorType) and typed[2].is_floating:
            if any(self._carries(x) for x in inputs):
                return self._no_grad_result(v, loc)
            self._gradless.add(v)
        return SymbolicTensor(v, self)

    def _carries(self, x) -> bool:
        """Whether a gradient may reach ``x``: what no_grad() makes from values that carry none needs no
        ``stop_gradient`` (a model run under no_grad() is traced with one per use of an input, not one per op)."""
        if not isinstance(x, Value):
            return False
        if x.node is None:  # an input: transforms differentiate those not flagged requires_grad too
            return True
        return x not in self.no_grad_values and x not in self._gradless

    def _no_grad_result(self, v: Value, loc) -> "SymbolicTensor":
        """``v``, made under ``no_grad()``: no gradient flows through it, as eager autograd records none."""
        out = Value(v.type)
        out.node = Node("stop_gradient", [v], {}, out, loc, self.role, typed_for("stop_gradient", [v], {}))
        self.graph.nodes.append(out.node)
        self.no_grad_values.add(out)
        return SymbolicTensor(out, self)

    def check_fresh(self, inputs, loc: Loc | None = None) -> None:
        """Refuse to use a view whose base was updated in place after the view was taken (see ``mutate``)."""
        for x in inputs:
            stale = self._stale.get(x) if isinstance(x, Value) else None
            if stale is not None:
                what, where = stale
                raise TracerError(
                    f"a view (the result of {x.node.op}) used{_where(loc) or ' as a result'} was taken before its "
                    f"base tensor was updated by in-place {what}{_where(where)}: eager code sees the update "
                    f"through the view, but inside a compiled function the view keeps the old values. Take the "
                    f"view after the update, or .clone() it before the update to keep the old values.")


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
        stack = ACTIVE.stack
        tracer = None
        for x in inputs:  # the innermost trace: a loop body's ops on outer values record in the body
            if isinstance(x, SymbolicTensor) and (tracer is None or x.tracer.depth > tracer.depth):
                tracer = x.tracer
        if len(stack) > 1:  # values of nested traces: the innermost one records
            for x in inputs:
                if isinstance(x, SymbolicTensor) and x.tracer is not tracer and x.tracer in stack \
                        and tracer in stack and stack.index(x.tracer) > stack.index(tracer):
                    tracer = x.tracer
        if stack and stack[-1].depth > tracer.depth:
            tracer = _descendant(stack[-1], tracer)
        if tracer.finished and tracer.depth:
            raise TracerError(
                f"{op}: this value was computed inside {tracer.graph.name!r}, a branch or loop body on a traced "
                f"value, and used after it{_where(user_location(3))}. Only the variables a branch or body assigns "
                f"come out of it; one kept in a list, dict or attribute from outside has no value after it. Assign "
                f"it to a variable instead (or collect per-step values with graphgrad.scan).")
        if tracer.finished:
            raise TracerError(
                f"{op}: escaped tracer: this value was traced inside {tracer.graph.name!r}, which has finished "
                f"tracing{_where(user_location(3))}. A traced value kept outside its compiled function (appended "
                f"to a list, stored in a global or attribute) has no value; return it from the function instead.")
        values = []
        for x in inputs:
            cls_ = x.__class__
            if cls_ is SymbolicTensor and x.tracer is tracer:  # the common cases first
                values.append(x.value)
            elif cls_ is float or cls_ is int:
                values.append(x)
            elif isinstance(x, SymbolicTensor):
                if x.tracer is tracer:
                    values.append(x.value)
                    continue
                if tracer.depth:  # an outer value read in a branch or loop body: one more input of it
                    values.append(tracer.capture(x))
                    continue
                if x.tracer in stack and tracer in stack:
                    # a value of an enclosing trace, closed over by a function traced inside it (gg.grad(lambda
                    # w: loss(w, x)) under vmap or compile): an input of this graph, like a closed-over tensor
                    values.append(tracer.lift(x, op))
                    continue
                if x.tracer is not tracer:
                    raise TracerError(f"{op}: this value belongs to another trace (a tensor from an outer "
                                      f"compiled function leaked into an inner one){_where(user_location(3))}")
            else:
                values.append(tracer.lift(x, op))
        out = tracer._record(op, values, dict(attrs))
        if op in WRITE_THROUGH and inputs[0].__class__ is SymbolicTensor and inputs[0].tracer is tracer:
            tracer._view_bases[out.value] = inputs[0]
            if out.value in tracer.no_grad_values:  # under no_grad(): the view under its stop_gradient
                tracer._view_bases[out.value.node.inputs[0]] = inputs[0]
            else:
                tracer._view_objects.setdefault(values[0], []).append(out)
        return out

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
        """Eager's answer: whether a gradient reaches this value from an input that requires grad (not through
        ``detach()`` or ``no_grad()``), so that ``if y.requires_grad:`` takes the branch eager code takes. In a
        branch or loop body, an outer value it reads answers for itself, and the node's own inputs (a loop's carry,
        a branch's copy of a variable) count as carrying a gradient when they are floating."""
        value, tracer = self.value, self.tracer
        if value.requires_grad:
            return True
        if not value.type.is_floating:
            return False
        outer = {id(v): x for x, v in zip(getattr(tracer, "outer", ()), tracer.graph.inputs[-len(tracer.outer):])} \
            if tracer.depth and tracer.outer else {}
        seen, stack = set(), [value]
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            if v.requires_grad:
                return True
            node = v.node
            if node is None:
                if id(v) in outer:
                    if outer[id(v)].requires_grad:
                        return True
                elif tracer.depth and v.type.is_floating:
                    return True  # a carry or a branch's copy: it carries what the loop or if feeds it
                continue
            if not OPS[node.op].stops_gradient:
                stack.extend(x for x in node.inputs if isinstance(x, Value))
        return False

    @property
    def is_leaf(self) -> bool:
        return self.value.node is None

    def detach(self) -> "SymbolicTensor":
        return SymbolicTensor._apply("stop_gradient", (self,), {})

    def clone(self) -> "SymbolicTensor":
        """A copy: a node of its own, which an in-place update of the original does not reach (eager's clone)."""
        return SymbolicTensor._apply("cast", (self,), {"dtype": self.value.type.dtype})

    def _strides(self) -> tuple:
        """The strides eager code would give this value (``stride()``, ``is_contiguous()``): a view traced inside
        the function (``y[:, 1:]``, ``y.t()``, ``y.expand(...)``) has its base's layout carried through the view
        ops; an argument has the layout it was passed with (part of the specialization key); anything else is
        row-major."""
        return _eager_strides(self.value, self.tracer.input_strides)

    def contiguous(self) -> "SymbolicTensor":
        """Eagerly the tensor itself when its elements lie in row-major order, else a copy: a non-contiguous view
        (``y[:, 1:].contiguous()``) becomes a value of its own here too, which an in-place update then changes
        without reaching ``y`` (it wrote through to ``y`` before), and on which one is allowed."""
        return self if self.is_contiguous() else self.clone()

    # -- devices and dtypes: a traced value lives where the specialization runs (its key has the device) ----------
    @property
    def device(self):
        from ..runtime.device import device  # the user-facing device objects

        return device(self.tracer.device)

    @property
    def is_cuda(self) -> bool:
        return self.tracer.device == "cuda"

    def to(self, *args, **kwargs) -> "SymbolicTensor":
        """``x.to(dtype)``, ``x.to(other)`` (its dtype) and ``x.to(device)``: a device is where the compiled code
        already runs (each device has its own specialization), so only the dtype changes."""
        from ..runtime import dtypes

        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, TensorBase):
                dtype = a.dtype
            elif not isinstance(a, str) and type(a).__name__ != "device":
                dtype = a
        return self if dtype is None else self._cast(dtypes.to_name(dtype))

    def cuda(self, device=None) -> "SymbolicTensor":
        return self

    def cpu(self) -> "SymbolicTensor":
        return self

    def type(self, dtype=None):
        """``x.type(dtype)``: ``x.to(dtype)``; ``x.type()``: PyTorch's type name (``torch.FloatTensor``)."""
        if dtype is not None:
            return self.to(dtype)
        return f"torch.{'cuda.' if self.is_cuda else ''}{self.dtype.scalar_name}Tensor"

    def _new(self, factory: str, size, dtype, value=None):
        from ..runtime import factories

        dtype = self.dtype if dtype is None else dtype
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        if factory == "full":
            return factories.full(size, value, dtype=dtype)
        return getattr(factories, factory)(*size, dtype=dtype)

    # a new tensor of this one's dtype (and device): a constant of the trace
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False): return self._new("zeros", size, dtype)
    def new_ones(self, *size, dtype=None, device=None, requires_grad=False): return self._new("ones", size, dtype)
    def new_empty(self, *size, dtype=None, device=None, requires_grad=False): return self._new("zeros", size, dtype)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return self._new("full", (size,), dtype, fill_value)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from ..runtime import factories

        return factories.tensor(data, dtype=self.dtype if dtype is None else dtype)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """The ``k`` largest (or smallest) elements along ``dim`` and their indices: the first ``k`` of a stable
        sort (the gradient goes to the picked elements)."""
        from ..ir import return_types

        ordered = self.sort(dim, descending=largest, stable=True)
        if not self.ndim:  # (PyTorch's: k of 0 or 1 from the one element)
            if k not in (0, 1):
                raise RuntimeError("selected index k out of range")
            return return_types.topk(ordered.values, ordered.indices)
        return return_types.topk(ordered.values.narrow(dim, 0, k), ordered.indices.narrow(dim, 0, k))

    @property
    def data(self) -> "SymbolicTensor":
        """``x.data`` inside a trace: the value without gradient (``x.detach()``). Assigning to ``.data`` or
        updating it in place is refused: both would change ``x`` behind autograd's back."""
        return SymbolicTensor._apply("stop_gradient", (self,), {})

    @data.setter
    def data(self, value) -> None:
        raise TracerError(f"assigning to .data of a traced tensor{_where(user_location(2))}: inside a compiled "
                          f"function compute the new value and use it (x = new_value), or return it")

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

    def register_hook(self, hook):
        raise TracerError(f"register_hook on a value traced inside a compiled function{_where(user_location(2))}: "
                          f"the generated backward has no place to call it. Register the hook on an input or on "
                          f"the compiled function's output, or run this function eagerly")

    def retain_grad(self):
        raise TracerError(f"retain_grad() on a value traced inside a compiled function{_where(user_location(2))}: "
                          f"its .grad would be made inside the generated backward, where no caller can read it. "
                          f"Return the value from the function and call retain_grad() on it there")

    def requires_grad_(self, requires_grad: bool = True):
        raise TracerError(f"requires_grad_() on a value traced inside a compiled function"
                          f"{_where(user_location(2))}: a new leaf made there would get a .grad no caller can read. "
                          f"Make the leaf outside and pass it in as an argument")


def _eager_strides(value: Value, inputs: dict) -> tuple:
    """The strides (in elements) eager code gives ``value``: view ops (getitem, permute, expand, reshape, detach)
    carry their input's layout, as NumPy computes them on a probe of it; an argument's are in ``inputs`` where it
    is not row-major; other ops make row-major arrays."""
    node = value.node
    shape = tuple(value.type.shape)
    if node is None and value in inputs:
        return inputs[value]
    if node is None or not OPS[node.op].view or not isinstance(node.inputs[0], Value):
        return row_major_strides(shape)
    base = node.inputs[0]
    strides = _eager_strides(base, inputs)
    if node.op == "stop_gradient":
        return strides
    if node.op == "unfold":
        return (0,) * len(shape)  # (overlapping windows: never contiguous)
    probe = _layout_probe(base, strides)
    if node.op == "getitem":
        if has_array_index(node.attrs["index"]):  # (an integer-array index copies)
            return row_major_strides(shape)
        return probe[decode_index(node.attrs["index"])].strides
    if node.op == "permute":
        return tuple(strides[d] for d in node.attrs["dims"])
    if node.op == "expand":
        return np.broadcast_to(probe, shape).strides
    view = _reshaped(probe, shape)  # a view where NumPy (and PyTorch) can make one, else a row-major copy
    return row_major_strides(shape) if view is None else view.strides


def _layout_probe(value: Value, strides: tuple) -> np.ndarray:
    """An array of ``value``'s shape with these strides (in elements) over one byte: NumPy's view ops on it give
    the views' strides without touching memory."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), shape=tuple(value.type.shape), strides=strides)


def _reshaped(probe: np.ndarray, shape: tuple):
    view = probe.view()
    try:
        view.shape = shape
    except AttributeError:  # (no view has these strides)
        return None
    return view


def _reshape_copies(value: Value, inputs: dict) -> bool:
    """Whether ``value``, a reshape, is a copy in eager code: its input's layout allows no view of its shape."""
    node = value.node
    if node.op != "reshape" or not isinstance(node.inputs[0], Value):
        return False
    base = node.inputs[0]
    return _reshaped(_layout_probe(base, _eager_strides(base, inputs)), tuple(value.type.shape)) is None


def trace(fn, args: list, names: list[str] | None = None, requires_grad: list[bool] | None = None,
          name: str | None = None, pure: str | None = None, device: str = "cpu",
          strides: list | None = None) -> tuple[Tracer, object]:
    """Run ``fn`` on symbolic inputs typed like ``args`` (TensorTypes); return the tracer and outputs.

    Non-TensorType entries of ``args`` are passed through unchanged (static Python values). ``pure`` names the
    transform for whose pure function the trace runs (``Tracer.pure``): in-place updates of inputs are refused.
    ``device`` is where the traced code will run (``x.device`` of a traced value). ``strides``: per argument,
    its strides in elements where it is no row-major array (None elsewhere).
    """
    tracer = Tracer(name or getattr(fn, "__name__", "f"))
    tracer.pure = pure
    tracer.device = device
    tracer.watches_grad_mode = True
    names = names or [None] * len(args)
    requires_grad = requires_grad or [False] * len(args)
    symbolic = [tracer.input(a, n, rg) if isinstance(a, TensorType) else a
                for a, n, rg in zip(args, names, requires_grad)]
    for t, layout in zip(symbolic, strides or ()):
        if layout is not None and isinstance(t, SymbolicTensor):
            tracer.input_strides[t.value] = layout
    ACTIVE.stack.append(tracer)
    try:
        result = _run_naming_locals(tracer, _converted(fn), symbolic)
    finally:
        ACTIVE.stack.pop()
        tracer.finished = True
    if tracer._stale:  # a stale view returned
        tracer.check_fresh([leaf.value for leaf in _symbolic_leaves(result)])
    if tracer.random_inputs:  # random inputs come last: arguments, then closed-over tensors, then draws
        drawn = {id(v) for v, _ in tracer.random_inputs}
        tracer.graph.inputs = ([v for v in tracer.graph.inputs if id(v) not in drawn]
                               + [v for v, _ in tracer.random_inputs])
    return tracer, result


def _symbolic_leaves(tree) -> list:
    if isinstance(tree, SymbolicTensor):
        return [tree]
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _symbolic_leaves(item)]
    return []


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
    # ``frames`` is in the order the frames were first seen (their third field), so no sort is needed
    children: dict = {}
    for key, entry in frames.items():
        siblings = children.get(entry[1])
        if siblings is None:
            children[entry[1]] = [key]
        else:
            siblings.append(key)
    # post-order over the call tree: the order in which the frames returned
    order: list = []
    stack = [(key, False) for key in reversed(children.get(None, []))]
    while stack:
        key, expanded = stack.pop()
        if expanded:
            order.append(key)
            continue
        below = children.get(key)
        if below is None:  # a leaf (each iteration of a loop body): returned as soon as it is reached
            order.append(key)
            continue
        stack.append((key, True))
        stack.extend((child, False) for child in reversed(below))
    ours: dict = {}  # a value's tracer -> whether it belongs to this trace (``_root`` once per tracer)
    for key in order:
        for local, val in frames[key][0].f_locals.items():
            # values of this trace and of its sub-traces (branches, loop bodies); not the converter's helpers
            if isinstance(val, SymbolicTensor):
                value = val.value
                if value.name is None and not local.startswith("gg__"):
                    mine = ours.get(val.tracer)
                    if mine is None:
                        mine = ours[val.tracer] = _root(val.tracer) is tracer
                    if mine:
                        value.name = local


def _root(tracer: Tracer) -> Tracer:
    while tracer.parent is not None:
        tracer = tracer.parent
    return tracer


def _computed_in_place(self, new):
    """``new``, the result of an in-place arithmetic update of ``self``, once PyTorch's casting rule allows
    writing it into ``self`` (``x += 1.5`` on an int64 ``x`` raises, as in eager code; ``copy_`` and ``fill_``
    convert instead)."""
    refused = in_place_cast_error(new._type.dtype, self._type.dtype)
    if refused:
        raise RuntimeError(refused)
    return new


def gradient_reaches(new: Value, old: Value) -> bool:
    """Whether ``old``'s gradient can reach ``new``: a path of floating values from ``old`` to ``new`` through ops
    that pass gradients (not ``detach()``), as ``prune_by_requires_grad`` marks them (``sin(x)``, ``floor(x)`` and
    ``where(True, c, x)`` do; ``logical_not(x)`` cast to float does not)."""
    stack, seen = [new], set()
    while stack:
        v = stack.pop()
        if v is old:
            return True
        # (values older than old cannot depend on it: the walk stays among the in-place form's own nodes)
        if v.id < old.id or v.node is None or id(v) in seen or not v.type.is_floating:
            continue
        seen.add(id(v))
        if not OPS[v.node.op].stops_gradient:
            stack.extend(x for x in v.node.inputs if x.__class__ is Value)
    return False


def _masked_fill_(self, mask, value):
    self.tracer.mutate(self, _computed_in_place(self, self.masked_fill(mask, value)), "masked_fill_",
                       user_location(2))
    return self


SymbolicTensor.masked_fill_ = _masked_fill_


def _filled(self, fresh):
    """``fresh`` as ``self``'s new value: ``where(True, fresh, self)`` keeps ``self`` in the graph, so a tensor that
    required grad still does after ``y.zero_()``, with a zero gradient, as in eager code."""
    return SymbolicTensor._apply("where", (True, fresh, self), {})


def check_fill_value(value) -> None:
    """PyTorch's refusal of a ``fill_`` value tensor with dimensions (eager and traced)."""
    if value.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                           f"dimensions.")


def _fill_(self, value):
    if isinstance(value, TensorBase):  # a 0-d tensor: its value, differentiably, as in eager code
        check_fill_value(value)
        return _copy_(self, value)
    self.tracer.mutate(self, _filled(self, SymbolicTensor._apply("full_like", (self,), {"value": value})), "fill_",
                       user_location(2))
    return self


#: ``generator -> numpy.random.Generator`` at call time, for in-place random fills in a trace; installed by the
#: runtime, which owns the generators (the tracer sits below it)
resolve_generator = None


def _fill_random(self, draw, generator=None):
    """``t.uniform_()``, ``t.normal_()``, … in a trace: a random graph input drawn afresh at every call, never
    numbers frozen at trace time, as the random factories are."""
    shape, dtype = tuple(self.shape), np.dtype(self._type.dtype)
    fresh = self.tracer.random_input(self._type, lambda: np.asarray(draw(resolve_generator(generator), shape),
                                                                     dtype=dtype), "fill")
    self.tracer.mutate(self, _filled(self, fresh), "random fill", user_location(3))
    return self


def _copy_(self, src):
    new = SymbolicTensor._apply("where", (True, src, self), {})  # broadcast like copy_; differentiable in src
    self.tracer.mutate(self, new, "copy_", user_location(2))
    return self


SymbolicTensor.fill_ = _fill_
SymbolicTensor.zero_ = lambda self: _fill_(self, 0.0 if self._type.is_floating else 0)
SymbolicTensor.copy_ = _copy_
SymbolicTensor._fill_random = _fill_random


def _no_item_assignment(self, index, value):
    raise ItemAssignmentError(
        f"item assignment (a[i] = v) on a traced tensor{_where(user_location(2))}: graphgrad traces pure "
        f"functions. Build the result functionally instead: a = a.at[i].set(v) (or graphgrad.index_update(a, i, "
        f"v); a.at[i].add(v) for a[i] += v), graphgrad.where(mask, v, a) (gnp.where), or graphgrad.cat / "
        f"gnp.concatenate of the pieces.")


SymbolicTensor.__setitem__ = _no_item_assignment
