"""Structured control flow: ``cond``, ``scan``, ``fori_loop`` and ``while_loop``.

Each is one primitive whose attributes are sub-graphs (``cond``: ``true``/``false``; ``scan``: ``body``;
``while``: ``cond``/``body``) and whose result is a tuple read by ``get`` nodes. Sub-graphs are closed:
every outer value a branch or body reads is an explicit operand of the node (captured while tracing).

- Eager (no trace running): the functions run as plain Python (``if``/``for``/``while``), so eager autograd
  records what actually ran and differentiates it to any order. A node met by ``ir.interpret`` on eager
  tensors (``grad(grad(f))`` on tensors with history) evaluates its sub-graphs the same way.
- Traced: one node, printed as nested blocks, emitted as a Python ``if``/``for``/``while`` block.
- Gradients (adjoint generation): ``cond`` differentiates into a ``cond`` over the branches' adjoints (each
  branch recomputes its forward from the saved operands); ``scan`` (so ``fori_loop`` with Python-int bounds)
  saves every iteration's carry (stacked) in the forward and runs a reverse ``scan`` over the body's adjoint.
  A ``while`` loop (so ``fori_loop`` with a traced bound) counts its iterations in the forward; its backward
  walks them in reverse, recomputing each iteration's carry from the first (quadratic in the trip count).
"""
from __future__ import annotations

import numpy as np

from ..codegen import python as _codegen
from ..ir import interpret as _interpret
from ..ir.api import TensorBase, bind
from ..ir.graph import Graph, Value
from ..ir.registry import ShapeError, broadcast_shapes, default_float, result_dtype
from ..ir.types import TensorType, TupleType
from ..ir.verify import verify
from ..passes import adjoint as _adjoint
from ..passes.batching import (batch_first, batch_interpret, batch_size, batched_outputs, broadcast_batch, moveaxis,
                               to_front)
from ..tracer.subtrace import trace_subgraph
from ..tracer.tracer import ACTIVE, SymbolicTensor, Tracer, TracerError, _where, user_location
from .define import structured

CONTROL_OPS = ("cond", "scan", "while")
_INDEX = TensorType((), "int64")


# -- batching rules (vmap), declared with each op below -----------------------------------------------
# A rule runs its sub-graphs through ``batch_interpret`` inside the sub-traces of a new node of the same op
# (or, eagerly, as Python). Which outputs come out batched is decided first (``rule.batched``), so that both
# branches of a cond agree and a loop's carry is batched from the first iteration when any iteration would
# batch it (JAX's fixpoint).

def _batch_front(args: list, bdims: list) -> tuple:
    """Operands with their batch axis first, and their new batch axes."""
    return [to_front(a, d) for a, d in zip(args, bdims)], [None if d is None else 0 for d in bdims]


def _truthy(x):
    return x if x._type.dtype == "bool" else bind("ne", x, 0)


def _per_example(flag, like):
    """A batch-first ``(size,)`` mask shaped to broadcast against ``like`` (batch-first too)."""
    return flag.reshape((flag.shape[0],) + (1,) * (like.ndim - 1))


def _cond_flags(in_flags, true, false) -> tuple:
    """A batched predicate batches every output; otherwise an output is batched when either branch makes it so."""
    if in_flags[0]:
        return (True,) * len(true.outputs)
    return tuple(a or b for a, b in zip(batched_outputs(true, in_flags[1:]), batched_outputs(false, in_flags[1:])))


def _cond_batch(op, args, bdims, true, false):
    """An unbatched predicate keeps one ``cond``, its branches batched. A batched one (examples take different
    branches) evaluates both branches for every example and selects per example with ``where``, as JAX does:
    both branches then run on every example (a branch that fails or is costly on some inputs runs on them)."""
    size = batch_size(args, bdims)
    ops, dims = _batch_front(args[1:], bdims[1:])
    flags = _cond_flags([d is not None for d in bdims], true, false)
    if bdims[0] is not None:
        pred = _truthy(to_front(args[0], bdims[0]))
        outs = []
        for (a, da), (b, db) in zip(batch_interpret(true, ops, dims), batch_interpret(false, ops, dims)):
            a, b = broadcast_batch(a, da, size), broadcast_batch(b, db, size)
            outs.append(bind("where", _per_example(pred, a), a, b))
        return outs, (0,) * len(outs)

    def branch(g: Graph):
        def run(*xs):
            return tuple(batch_first(v, d, f, size) for (v, d), f in zip(batch_interpret(g, list(xs), dims), flags))
        run.__name__ = g.name
        return run

    outs = cond(args[0], branch(true), branch(false), *ops)
    return list(outs), tuple(0 if f else None for f in flags)


_cond_batch.batched = _cond_flags


def _scan_flags(in_flags, body, n_carry, n_xs, **_) -> tuple:
    """A carry is batched from the start when it becomes batched after some iterations (a fixpoint: each pass
    batches at least one more carry, or stops); then each y's flag."""
    carry, rest = list(in_flags[:n_carry]), list(in_flags[n_carry:])
    while True:
        out = batched_outputs(body, [False] + carry + rest)
        grown = [a or b for a, b in zip(carry, out[:n_carry])]
        if grown == carry:
            return tuple(carry) + tuple(out[n_carry:])
        carry = grown


def _scan_batch(op, args, bdims, body, n_carry, n_xs, length, start, reverse):
    """A ``scan`` of the batched body: the carry batch-first, each xs with its batch axis second (the scanned
    axis stays first), so each step's x, and each y, is batch-first; the stacked ys have their batch axis second."""
    n, nx = n_carry, n_xs
    size = batch_size(args, bdims)
    flags = _scan_flags([d is not None for d in bdims], body, n, nx)
    carry = [batch_first(c, d, f, size) for c, d, f in zip(args[:n], bdims[:n], flags)]
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(args[n:n + nx], bdims[n:n + nx])]
    consts, k_dims = _batch_front(args[n + nx:], bdims[n + nx:])
    dims = [None] + [0 if f else None for f in flags[:n]] + [None if d is None else 0 for d in bdims[n:n + nx]] + k_dims

    def step(i, c, x):
        res = batch_interpret(body, [i] + list(c) + list(x) + consts, dims)
        out = [batch_first(v, d, f, size) for (v, d), f in zip(res, flags)]
        return out[:n], out[n:]

    tracer = _active()
    if tracer is None:  # eagerly: the loop runs now
        like = next(a for a in args if isinstance(a, TensorBase))
        c, per_step = carry, []
        for k in (range(length - 1, -1, -1) if reverse else range(length)):
            c, y = step(_index_tensor(like, start + k), c, [x[k] for x in xs])
            per_step.append(y)
        if reverse:
            per_step.reverse()
        if len(flags) > n and not per_step:
            raise NotImplementedError("scan of length 0 with outputs cannot run eagerly")
        ys = [_stack([y[j] for y in per_step]) for j in range(len(flags) - n)]
    else:
        c, ys = _loop_traced(tracer, step, carry, xs, length, start, reverse, body.name,
                             [v.name for v in body.inputs[1:1 + n]])
    return list(c) + list(ys), tuple(0 if f else None for f in flags[:n]) + tuple(1 if f else None for f in flags[n:])


_scan_batch.batched = _scan_flags


def _while_flags(in_flags, cond, body, n_carry) -> tuple:
    """``(carry flags, predicate flag)``: the carry batched by fixpoint, as for scan; a batched predicate
    (examples stop after different iterations) batches all of it, since each example keeps its own."""
    carry, consts = list(in_flags[:n_carry]), list(in_flags[n_carry:])
    while True:
        grown = [a or b for a, b in zip(carry, batched_outputs(body, carry + consts))]
        if grown == carry:
            break
        carry = grown
    pred = batched_outputs(cond, carry + consts)[0]
    return ((True,) * n_carry if pred else tuple(carry)), pred


def _while_batch(op, args, bdims, cond, body, n_carry):
    """An unbatched predicate keeps one ``while`` over the batched body. A batched one loops while any example
    goes on; each iteration's update is kept (``where``) only for the examples whose predicate still holds, so
    an example that has stopped keeps its carry (JAX's rule: the body runs on every example until the last
    stops)."""
    n = n_carry
    size = batch_size(args, bdims)
    flags, pred_batched = _while_flags([d is not None for d in bdims], cond, body, n)
    carry = [batch_first(c, d, f, size) for c, d, f in zip(args[:n], bdims[:n], flags)]
    consts, k_dims = _batch_front(args[n:], bdims[n:])
    dims = [0 if f else None for f in flags] + k_dims

    def test(*c):
        ((p, d),) = batch_interpret(cond, list(c) + consts, dims)
        return batch_first(p, d, pred_batched, size)

    def step(*c):
        res = batch_interpret(body, list(c) + consts, dims)
        return tuple(batch_first(v, d, f, size) for (v, d), f in zip(res, flags))

    if pred_batched:
        def any_goes_on(*c):
            return bind("gt", bind("sum", _truthy(test(*c)), dim=None, keepdim=False), 0)

        def step_those_going_on(*c):
            going = _truthy(test(*c))
            return tuple(bind("where", _per_example(going, new), new, old) for new, old in zip(step(*c), c))

        loop_test, loop_step = any_goes_on, step_those_going_on
    else:
        loop_test, loop_step = test, step
    tracer = _active()
    if tracer is None:  # eagerly: the loop runs now
        out = tuple(carry)
        while bool(loop_test(*out)):
            out = loop_step(*out)
    else:
        out = _while_traced(tracer, loop_test, loop_step, carry, body.name, [v.name for v in body.inputs[:n]])
    return list(out), tuple(0 if f else None for f in flags)


_while_batch.batched = lambda in_flags, **attrs: _while_flags(in_flags, **attrs)[0]


def _get_batch(op, args, bdims, item):
    """One output of a batched control-flow node (its rule returned them all, with their batch axes)."""
    return args[0][item], bdims[0][item]


_get_batch.batched = lambda in_flags, item: in_flags[0][item] if isinstance(in_flags[0], tuple) else in_flags[0]


# -- type rules ------------------------------------------------------------------------------------

def _check_inputs(g: Graph, types: list, op: str, what: str) -> None:
    if not isinstance(g, Graph):
        raise ShapeError(f"{op}: attribute {what} must be a Graph, got {type(g).__name__}")
    got = [v.type for v in g.inputs]
    if got != list(types):
        raise ShapeError(f"{op}: {what} takes ({', '.join(map(str, got))}) but is given "
                         f"({', '.join(map(str, types))})")
    verify(g)


def _tensor_types(inputs: list, op: str) -> list:
    for i, x in enumerate(inputs):
        if not isinstance(x, TensorType):
            raise ShapeError(f"{op}: operand {i} must be a tensor, got {x!r}")
    return list(inputs)


@structured("cond", batch=_cond_batch, attrs=("true", "false"),
             doc="cond(pred, *operands): the outputs of sub-graph `true` or `false` applied to the operands")
def _cond_type(inputs, true, false):
    pred, *ops = _tensor_types(inputs, "cond")
    if pred.shape != ():
        raise ShapeError(f"cond: the predicate must be a scalar (0-d) tensor, got {pred}")
    _check_inputs(true, ops, "cond", "true")
    _check_inputs(false, ops, "cond", "false")
    t, f = [v.type for v in true.outputs], [v.type for v in false.outputs]
    if t != f:
        raise ShapeError(f"cond: the branches return different types: true ({', '.join(map(str, t))}), "
                         f"false ({', '.join(map(str, f))})")
    return TupleType(tuple(t))


@structured("scan", batch=_scan_batch, attrs=("body", "n_carry", "n_xs", "length", "start", "reverse"),
             doc="scan(*carry, *xs, *consts): carry, y = body(i, *carry, *x[k], *consts) for k in range(length), "
                 "i = start + k (reversed when reverse); returns the final carry and the stacked ys")
def _scan_type(inputs, body, n_carry, n_xs, length, start, reverse):
    types = _tensor_types(inputs, "scan")
    carry, xs, consts = types[:n_carry], types[n_carry:n_carry + n_xs], types[n_carry + n_xs:]
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise ShapeError(f"scan: every xs must have a leading dimension of the scan length {length}, got {x}")
    _check_inputs(body, [_INDEX] + carry + [TensorType(x.shape[1:], x.dtype) for x in xs] + consts, "scan", "body")
    outs = [v.type for v in body.outputs]
    if outs[:n_carry] != carry:
        raise ShapeError(f"scan: the body must return the carry's types ({', '.join(map(str, carry))}), returns "
                         f"({', '.join(map(str, outs[:n_carry]))})")
    return TupleType(tuple(carry) + tuple(TensorType((length,) + y.shape, y.dtype) for y in outs[n_carry:]))


@structured("while", batch=_while_batch, attrs=("cond", "body", "n_carry"),
             doc="while(*carry, *consts): carry = body(*carry, *consts) while cond(*carry, *consts); returns the carry")
def _while_type(inputs, cond, body, n_carry):
    types = _tensor_types(inputs, "while")
    carry = types[:n_carry]
    _check_inputs(cond, types, "while", "cond")
    _check_inputs(body, types, "while", "body")
    if len(cond.outputs) != 1 or cond.outputs[0].type.shape != ():
        raise ShapeError("while: cond must return one scalar (0-d) tensor")
    outs = [v.type for v in body.outputs]
    if outs != carry:
        raise ShapeError(f"while: the body must return the carry's types ({', '.join(map(str, carry))}), returns "
                         f"({', '.join(map(str, outs))})")
    return TupleType(tuple(carry))


@structured("get", batch=_get_batch, attrs=("item",), doc="element `item` of a control-flow node's result")
def _get_type(inputs, item):
    (t,) = inputs
    if not isinstance(t, TupleType) or not 0 <= item < len(t.types):
        raise ShapeError(f"get: item {item} out of range for {t}")
    return t.types[item]


# -- helpers ---------------------------------------------------------------------------------------

def _flatten(result):
    """``(list of leaves, rebuild)`` for a tensor, or a tuple/list of them (None for "no output")."""
    if result is None:
        return [], lambda leaves: None
    if isinstance(result, (tuple, list)):
        kind = type(result)
        return list(result), (lambda leaves: kind(leaves))
    return [result], (lambda leaves: leaves[0])


def _active() -> Tracer | None:
    return ACTIVE.stack[-1] if ACTIVE.stack else None


def _is_eager(x) -> bool:
    return isinstance(x, TensorBase) and hasattr(x, "_data")


def _loc_text() -> str:
    return _where(user_location(3))


def _value(tracer: Tracer, x, what: str) -> Value:
    """``x`` (a symbolic tensor of this or an enclosing trace, an eager tensor, a Python number) as a Value
    of ``tracer``'s graph."""
    if isinstance(x, SymbolicTensor):
        if x.tracer is tracer:
            return x.value
        if tracer.depth:
            return tracer.capture(x)
        if x.tracer in ACTIVE.stack and tracer in ACTIVE.stack:
            # a value of an enclosing trace (gg.grad of a closure inside a compiled function): an input of this
            # graph, as a closed-over tensor is
            return tracer.lift(x, what)
        raise TracerError(f"{what}: this value belongs to another trace{_loc_text()}")
    if _is_eager(x) or isinstance(x, np.ndarray):  # an array is a constant of the trace, as in any op
        return tracer.lift(x, what)
    if isinstance(x, (bool, int, float, np.generic)):
        x = x.item() if isinstance(x, np.generic) else x
        dtype = "bool" if isinstance(x, bool) else "int64" if isinstance(x, int) else default_float()
        return tracer.record("constant", [], {"value": x, "dtype": dtype}).value
    raise TracerError(f"{what}: expected a tensor or a number, got {type(x).__name__}{_loc_text()}")


def _retype(tracer: Tracer, v, t: TensorType) -> Value:
    """``v`` (a Value, or a Python number) as type ``t``: cast and broadcast. A number becomes a constant of ``t``'s
    dtype directly, so 0.1 joined with a float64 tensor is float64's 0.1, not float32's widened."""
    if not isinstance(v, Value):
        v = v.item() if isinstance(v, np.generic) else v
        v = tracer.record("constant", [], {"value": v, "dtype": t.dtype}).value
    if v.type.dtype != t.dtype:
        v = tracer.record("cast", [v], {"dtype": t.dtype}).value
    if v.type.shape != t.shape:
        v = tracer.record("expand", [v], {"shape": t.shape}).value
    return v


def _join(a, b) -> TensorType:
    """The type two values (TensorTypes or Python numbers) meet at: promoted dtype, broadcast shape."""
    shapes = [x.shape for x in (a, b) if isinstance(x, TensorType)]
    return TensorType(broadcast_shapes(*shapes) if shapes else (), result_dtype([a, b]))


def _python_float(tracer: Tracer) -> str:
    """The dtype a Python float gets when a converted ``if`` or loop must make it a tensor (two numbers that
    differ between the branches, a number a loop carries): float64 when the traced function computes on float64
    data (its inputs), else the default dtype. Python's floats are doubles: in float64 code the default float32
    would round 0.1 to 0.10000000149, and in float32 code float64 would make float32 results float64."""
    while tracer.parent is not None:
        tracer = tracer.parent
    if any(v.type.dtype == "float64" for v in tracer.graph.inputs):
        return "float64"
    return default_float()


def _number_type(x, tracer: Tracer) -> TensorType:
    """A Python number as a 0-d type: a float takes ``_python_float``."""
    if isinstance(x, float) or (isinstance(x, np.floating)):
        return TensorType((), _python_float(tracer))
    return TensorType((), result_dtype([x]))


def _type_of(x):
    if isinstance(x, TensorBase):
        return x._type
    return x


def _shape_of(x) -> tuple:
    return x._type.shape if isinstance(x, TensorBase) else ()


def _as_operand(tracer: Tracer, x, what: str):
    """``x`` as ``_retype`` takes it: a Value of ``tracer``'s graph, or a Python number as it is."""
    if isinstance(x, (bool, int, float, np.generic)) and not isinstance(x, TensorBase):
        return x
    return _value(tracer, x, what)


def _shape_text(x) -> str:
    return str(x._type) if isinstance(x, TensorBase) else f"a Python {type(x).__name__} ({x!r})"


def _arrange_inputs(sub: Graph, n_declared: int, own_outer: list, all_outer: list) -> None:
    """Make ``sub``'s inputs its declared ones, then one per entry of ``all_outer`` (unused where ``sub`` did
    not capture that value), so that sibling sub-graphs share one operand list."""
    mine = {id(o.value): v for o, v in zip(own_outer, sub.inputs[n_declared:])}
    extra = []
    for o in all_outer:
        v = mine.get(id(o.value))
        if v is None:
            v = Value(o.value.type, o.value.name)
        extra.append(v)
    sub.inputs = sub.inputs[:n_declared] + extra


def _merge_outer(*tracers) -> list:
    seen, merged = set(), []
    for t in tracers:
        for o in t.outer:
            if id(o.value) not in seen:
                seen.add(id(o.value))
                merged.append(o)
    return merged


def _record(tracer: Tracer, op: str, inputs: list, attrs: dict) -> list:
    """Record ``op`` and one ``get`` per output; returns the outputs as SymbolicTensors."""
    tup = tracer.record(op, inputs, attrs)
    return [tracer.record("get", [tup.value], {"item": i}) for i in range(len(tup.value.type.types))]


def _name_of(fn, default: str) -> str:
    name = getattr(fn, "__name__", default)
    return default if name == "<lambda>" else name


# -- cond --------------------------------------------------------------------------------------------

def cond(pred, true_fn, false_fn, *operands):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, as one ``cond`` node when traced.

    Both branches must return the same structure (a tensor or a tuple of tensors); types are unified by
    promotion and broadcasting. Differentiable to any order in eager and compiled code.

    >>> import graphgrad as gg
    >>> x = gg.tensor(3.0, requires_grad=True)
    >>> y = gg.cond(x > 0, lambda x: x * x, lambda x: -x, x)
    >>> y.backward(); x.grad
    tensor(6.)
    """
    tracer = _active()
    if tracer is None or not isinstance(pred, SymbolicTensor):
        # a predicate known now (eager code, or a Python value while tracing) chooses the branch now
        if isinstance(pred, TensorBase) and pred.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return (true_fn if bool(pred) else false_fn)(*operands)
    return _cond_traced(tracer, pred, true_fn, false_fn, operands)


def _cond_traced(tracer: Tracer, pred, true_fn, false_fn, operands, names=None, out_names=None,
                 converted: bool = False):
    """``converted``: the cond stands for the user's Python ``if`` (or ``a if c else b``), whose variables keep
    the shape the path taken gave them. A value whose shape differs between the branches is then an error, not
    broadcast: eager code would go on with one shape or the other (``y.sum()`` of a vector or of a scalar)."""
    where = _loc_text()
    p = _value(tracer, pred, "cond")
    if p.type.shape != ():
        if p.type.size != 1:
            raise TracerError(f"cond: the predicate must hold one value, got {p.type}{where}")
        p = tracer.record("reshape", [p], {"shape": ()}).value
    vals = [_value(tracer, x, "cond") if isinstance(x, TensorBase) else x for x in operands]
    typed = [v for v in vals if isinstance(v, Value)]
    args = [v.type if isinstance(v, Value) else v for v in vals]
    arg_names = names or [v.name if isinstance(v, Value) else None for v in vals]
    t_tr, t_res = trace_subgraph(true_fn, args, tracer, _name_of(true_fn, "true"), arg_names)
    f_tr, f_res = trace_subgraph(false_fn, args, tracer, _name_of(false_fn, "false"), arg_names)
    t_out, rebuild = _flatten(t_res)
    f_out, _ = _flatten(f_res)
    if len(t_out) != len(f_out) or isinstance(t_res, (tuple, list)) != isinstance(f_res, (tuple, list)):
        raise TracerError(f"cond: the branches must return the same structure; true returns "
                          f"{_describe(t_res)}, false returns {_describe(f_res)}{where}")
    statics, dynamic = _split_outputs(t_out, f_out, out_names, where, "cond", "branch")
    targets = []
    for i in dynamic:
        a, b = t_out[i], f_out[i]
        if converted and _shape_of(a) != _shape_of(b):
            what = _what(out_names, i) if out_names else "the value"
            raise TracerError(f"{what} is {_shape_text(a)} after the true branch and {_shape_text(b)} after the "
                              f"false branch of an `if` on a traced value; compiled code gives it one shape, and "
                              f"broadcasting would change what later code computes (a sum, a mean). Give it the "
                              f"same shape on both paths (e.g. graphgrad.zeros_like, .expand, or reduce both), or "
                              f"use graphgrad.where{where}")
        if isinstance(a, TensorBase) and isinstance(b, TensorBase) and a._type.shape != b._type.shape:
            raise TracerError(f"cond: {_what(out_names, i)} is {a._type} in the true branch and {b._type} in the "
                              f"false branch; eager code returns one shape or the other, and broadcasting them to "
                              f"one would change what later code computes. Return the same shape from both (a "
                              f"Python number broadcasts){where}")
        try:
            if converted and not isinstance(a, TensorBase) and not isinstance(b, TensorBase):
                targets.append(_join(_number_type(a, tracer), _number_type(b, tracer)))  # two Python numbers
                continue
            targets.append(_join(_type_of(a), _type_of(b)))
        except (ShapeError, TypeError) as e:
            raise TracerError(f"cond: {_what(out_names, i)} has type {_type_of(a)} in the true branch and "
                              f"{_type_of(b)} in the false branch, which do not combine ({e}){where}") from None
    for sub, outs in ((t_tr, t_out), (f_tr, f_out)):
        sub.graph.outputs = [_retype(sub, _as_operand(sub, outs[i], "cond"), t) for i, t in zip(dynamic, targets)]
    outer = _merge_outer(t_tr, f_tr)
    for sub in (t_tr, f_tr):
        _arrange_inputs(sub.graph, len(typed), sub.outer, outer)
    outs = _record(tracer, "cond", [p] + typed + [_value(tracer, o, "cond") for o in outer],
                   {"true": t_tr.graph, "false": f_tr.graph})
    for i, o in zip(dynamic, outs):
        statics[i] = o
    return rebuild(statics)


class _Undefined:
    """The value of a variable a converted block assigns but that had none before it (AutoGraph's Undefined)."""

    def __init__(self, name: str = "?"):
        self.name = name

    def __repr__(self) -> str:
        return f"<undefined {self.name}>"

    def _missing(self):
        raise NameError(f"variable {self.name!r} is assigned on only some paths of the traced if/while before this "
                        f"use (or only inside a for loop over range(traced), which may not run): give it a value "
                        f"before the if or loop, or in every branch")

    def __bool__(self):
        self._missing()

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._missing()

    for _op in ("add", "sub", "mul", "truediv", "matmul", "pow", "radd", "rsub", "rmul", "rtruediv", "neg"):
        locals()[f"__{_op}__"] = lambda self, *a: self._missing()


UNDEFINED = _Undefined()


def _what(names, i) -> str:
    return f"variable {names[i]!r}" if names else f"output {i}"


def _dynamic(x) -> bool:
    return isinstance(x, (TensorBase, bool, int, float, np.generic))


def _split_outputs(a_out: list, b_out: list, names, where: str, op: str, part: str):
    """Which outputs differ between two traced paths (they become outputs of the node) and which are the same
    Python object on both (they pass through, as do values undefined on one path)."""
    statics, dynamic = [None] * len(a_out), []
    for i, (a, b) in enumerate(zip(a_out, b_out)):
        if a is b or (type(a) is type(b) and isinstance(a, (bool, int, float, str)) and a == b):
            statics[i] = a
        elif isinstance(a, _Undefined) or isinstance(b, _Undefined):
            statics[i] = _Undefined(names[i] if names else str(i))
        elif _dynamic(a) and _dynamic(b):
            dynamic.append(i)
        else:
            raise TracerError(f"{op}: {_what(names, i)} is {type(a).__name__} and {type(b).__name__} on the two "
                              f"paths of a {part} on a traced value; only tensors and numbers can differ "
                              f"there{where}")
    return statics, dynamic


def _describe(res) -> str:
    if isinstance(res, (tuple, list)):
        return f"a {type(res).__name__} of {len(res)}"
    return "None" if res is None else "one value"


# -- loops -------------------------------------------------------------------------------------------

def _check_carry_shapes(types: list, new: list, numbers: list, names: list, converted: bool, where: str,
                        what: str) -> None:
    """A loop body must give each carry back its shape: broadcasting a changed shape would make later iterations
    compute on another shape than eager code (which runs the Python loop) does. A carry that starts as a Python
    number may become a tensor (``total = 0.0``, then ``total = total + x``); a primitive's body may return a
    Python number for a tensor carry (it broadcasts), a converted loop's may not (eager goes on with the number)."""
    for i, (t, c) in enumerate(zip(types, new)):
        if _shape_of(c) == t.shape or (numbers[i] and t.shape == () and isinstance(c, TensorBase)):
            continue
        if not converted and not isinstance(c, TensorBase):
            continue
        if converted:
            raise TracerError(
                f"variable {names[i]!r} is {t} when an iteration of a loop on a traced value starts and "
                f"{_shape_text(c)} when it ends; compiled code gives a loop variable one shape, and broadcasting "
                f"would change what later iterations compute. Give it its final shape before the loop (e.g. "
                f"graphgrad.zeros(...)), or keep its shape in the body{where}")
        raise TracerError(
            f"{what}: carried value {i}{f' ({names[i]!r})' if names[i] else ''} is {t} when an iteration starts "
            f"and {_shape_text(c)} when it ends; the body must give the carry back its shape (eager code would go "
            f"on with the new shape, and broadcasting it back would change what later iterations compute){where}")


def _loop_traced(tracer: Tracer, step, carry: list, xs: list, length: int, start: int, reverse: bool,
                 name: str, carry_names=None):
    """Trace ``step(i, carry_list, x_list) -> (carry_list, y_list)`` into one ``scan`` node; the carry's
    types widen (promotion, broadcasting) until the body returns what it was given."""
    where = _loc_text()
    init = [_value(tracer, c, "scan") for c in carry]
    xv = [_value(tracer, x, "scan") for x in xs]
    for x in xv:
        if not x.type.shape or x.type.shape[0] != length:
            raise TracerError(f"scan: xs must have a leading dimension of {length}, got {x.type}{where}")
    types = [v.type for v in init]
    names = carry_names or [v.name for v in init]
    numbers = [not isinstance(c, TensorBase) for c in carry]
    for _attempt in range(4):
        def body(i, *rest):
            c, x = list(rest[:len(types)]), list(rest[len(types):])
            return step(i, c, x)

        args = [_INDEX] + types + [TensorType(x.type.shape[1:], x.type.dtype) for x in xv]
        sub, res = trace_subgraph(body, args, tracer, name, ["i"] + list(names) + [x.name for x in xv])
        new_carry, ys = res
        if len(new_carry) != len(types):
            raise TracerError(f"{name}: the body returns {len(new_carry)} carried values for {len(types)}{where}")
        _check_carry_shapes(types, new_carry, numbers, names, False, where, "scan")
        joined = [_join(t, _type_of(c)) for t, c in zip(types, new_carry)]
        if joined == types:
            break
        types = joined
    else:
        raise TracerError(f"{name}: the carried values keep changing type{where}")
    sub.graph.outputs = ([_retype(sub, _value(sub, c, name), t) for c, t in zip(new_carry, types)]
                         + [_value(sub, y, name) for y in ys])
    init = [_retype(tracer, v, t) for v, t in zip(init, types)]
    outs = _record(tracer, "scan", init + xv + [_value(tracer, o, name) for o in sub.outer],
                   {"body": sub.graph, "n_carry": len(types), "n_xs": len(xv), "length": int(length),
                    "start": int(start), "reverse": bool(reverse)})
    return outs[:len(types)], outs[len(types):]


def scan(fn, init, xs=None, length: int | None = None, reverse: bool = False):
    """``carry, y = fn(carry, x)`` for each ``x`` along the leading axis of ``xs``; returns the final carry and
    the ``y``s stacked (JAX's ``lax.scan``). ``init``, ``xs`` and ``y`` may be a tensor, a tuple of tensors,
    or None (then ``length`` gives the trip count). Differentiable to any order; the forward saves each
    iteration's carry for the backward.

    >>> import graphgrad as gg
    >>> total, partial = gg.scan(lambda c, x: (c + x, c + x), gg.tensor(0.0), gg.tensor([1.0, 2.0, 3.0]))
    >>> total, partial
    (tensor(6.), tensor([1., 3., 6.]))
    """
    c_leaves, c_rebuild = _flatten(init)
    x_leaves, x_rebuild = _flatten(xs)
    if length is None:
        if not x_leaves:
            raise ValueError("scan: give xs or length")
        length = x_leaves[0].shape[0]
    y_rebuild = [None]

    def step(i, c, x):
        out = fn(c_rebuild(c), x_rebuild(x) if x_leaves else None)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("scan: fn must return a pair (new carry, y)")
        y_leaves, y_rebuild[0] = _flatten(out[1])
        return _flatten(out[0])[0], y_leaves

    tracer = _active()
    if tracer is None:
        ys_per_step = []
        c = list(c_leaves)
        order = range(length - 1, -1, -1) if reverse else range(length)
        for k in order:
            c, ys = step(k, c, [x[k] for x in x_leaves])
            ys_per_step.append(ys)
        if reverse:
            ys_per_step.reverse()
        stacked = [_stack([ys[j] for ys in ys_per_step]) for j in range(len(ys_per_step[0]))] if ys_per_step else []
        rebuild_y = y_rebuild[0] or (lambda leaves: None)
        return c_rebuild(c), rebuild_y(stacked)
    carry, ys = _loop_traced(tracer, lambda i, c, x: step(i, c, x), c_leaves, x_leaves, length, 0, reverse,
                             _name_of(fn, "body"))
    return c_rebuild(carry), (y_rebuild[0] or (lambda leaves: None))(ys)


def _stack(tensors):
    from .shape import stack

    return stack(tensors)


def fori_loop(lower, upper, body_fn, init, *, _names=None, _index="i", _converted=False):
    """``carry = body_fn(i, carry)`` for ``i`` in ``range(lower, upper)`` (JAX's ``lax.fori_loop``).

    With Python-int bounds the loop is a ``scan``; with a tensor bound it is a ``while`` loop, whose backward
    recomputes carries (quadratic in the trip count). Both differentiate to any order.

    >>> import graphgrad as gg
    >>> gg.fori_loop(0, 4, lambda i, x: x * 2, gg.tensor(1.0))
    tensor(16.)
    """
    leaves, rebuild = _flatten(init)
    tracer = _active()
    # a tensor bound is read when the compiled code runs (a closed-over tensor too): only Python ints are static
    static = all(isinstance(b, (int, np.integer)) for b in (lower, upper))
    if tracer is None or static:
        lo, hi = int(lower), int(upper)
        if tracer is None:
            carry = init
            for i in range(lo, hi):
                carry = body_fn(i, carry)
            return carry

        def step(i, c, x):
            return _flatten(body_fn(i, rebuild(c)))[0], []

        carry, _ = _loop_traced(tracer, step, leaves, [], max(hi - lo, 0), lo, False, _name_of(body_fn, "body"),
                                _names)
        return rebuild(carry)
    # a traced bound: a while loop over (i, carry)
    hi = upper

    def loop_cond(i, *c):
        return i < hi

    def loop_body(i, *c):
        return (i + 1,) + tuple(_flatten(body_fn(i, rebuild(list(c))))[0])

    out = _while_traced(tracer, loop_cond, loop_body, [lower] + leaves, _name_of(body_fn, "body"),
                        None if _names is None else [_index] + list(_names), converted=_converted)
    return rebuild(list(out[1:]))


def while_loop(cond_fn, body_fn, init):
    """``while cond_fn(carry): carry = body_fn(carry)``; one ``while`` node when traced (JAX's
    ``lax.while_loop``). Compiled, the forward counts the iterations and the backward walks them in reverse,
    recomputing each iteration's carry from the initial one (quadratic in the trip count: prefer ``fori_loop``
    with Python-int bounds or ``scan`` when the count is known). In eager mode it runs as Python and eager
    autograd differentiates the iterations that ran.

    >>> import graphgrad as gg
    >>> gg.while_loop(lambda x: x < 10, lambda x: x * 2, gg.tensor(1.0))
    tensor(16.)
    """
    leaves, rebuild = _flatten(init)
    tracer = _active()
    if tracer is None:
        carry = init
        while bool(cond_fn(carry)):
            carry = body_fn(carry)
        return carry
    out = _while_traced(tracer, lambda *c: cond_fn(rebuild(list(c))),
                        lambda *c: tuple(_flatten(body_fn(rebuild(list(c))))[0]), leaves, _name_of(body_fn, "body"))
    return rebuild(list(out))


def _while_traced(tracer: Tracer, cond_fn, body_fn, carry: list, name: str, carry_names=None,
                  converted: bool = False):
    """``converted``: the loop stands for the user's Python ``while``/``for``, whose variables keep the shape each
    iteration gives them. A carry whose shape the body changes is then an error rather than broadcast (the
    iterations after the first would compute on a different shape than eager code does), except a Python number
    that the body makes a tensor (``total = 0.0``, then ``total = total + x``)."""
    where = _loc_text()
    init = [_value(tracer, c, "while_loop") for c in carry]
    types = [v.type for v in init]
    names = carry_names or [v.name for v in init]
    numbers = [not isinstance(c, TensorBase) for c in carry]
    if converted:  # a carried Python float keeps the data's precision (``_python_float``)
        types = [_number_type(c, tracer) if n else t for c, t, n in zip(carry, types, numbers)]
    for _attempt in range(4):
        body_tr, new = trace_subgraph(body_fn, types, tracer, name, list(names))
        new = list(new) if isinstance(new, (tuple, list)) else [new]
        if len(new) != len(types):
            raise TracerError(f"while_loop: the body returns {len(new)} carried values for {len(types)}{where}")
        _check_carry_shapes(types, new, numbers, names, converted, where, "while_loop")
        joined = [_join(t, _type_of(c)) for t, c in zip(types, new)]
        if converted:  # a Python number that becomes a float in the body (k = 0, then k = k + 0.1): as above
            joined = [_join(j, _number_type(0.0, tracer)) if n and j.is_floating else j
                      for j, n in zip(joined, numbers)]
        if joined == types:
            break
        types = joined
    else:
        raise TracerError(f"while_loop: the carried values keep changing type{where}")
    cond_tr, p = trace_subgraph(cond_fn, types, tracer, "cond", list(names))
    pv = _value(cond_tr, p, "while_loop")
    if pv.type.size != 1:
        raise TracerError(f"while_loop: the condition must hold one value, got {pv.type}{where}")
    if pv.type.shape != ():
        pv = cond_tr.record("reshape", [pv], {"shape": ()}).value
    cond_tr.graph.outputs = [pv]
    body_tr.graph.outputs = [_retype(body_tr, _as_operand(body_tr, c, name), t) for c, t in zip(new, types)]
    outer = _merge_outer(cond_tr, body_tr)
    for sub in (cond_tr, body_tr):
        _arrange_inputs(sub.graph, len(types), sub.outer, outer)
    init = [_retype(tracer, _as_operand(tracer, c, "while_loop") if n else v, t)
            for c, v, t, n in zip(carry, init, types, numbers)]
    return _record(tracer, "while", init + [_value(tracer, o, "while_loop") for o in outer],
                   {"cond": cond_tr.graph, "body": body_tr.graph, "n_carry": len(types)})


# -- running a node: ir.interpret -----------------------------------------------------------------

def _index_tensor(like, i: int):
    return type(like)._wrap(np.asarray(i, dtype=np.int64))


def _run_node(node, ins: list) -> list:
    """A control-flow node on concrete tensors (evaluated here, through eager autograd) or on symbolic ones
    (recorded again, into the innermost trace)."""
    tracer = None
    for x in ins:
        if isinstance(x, SymbolicTensor) and (tracer is None or x.tracer.depth > tracer.depth):
            tracer = x.tracer
    if tracer is not None:
        return _record(tracer, node.op, [_value(tracer, x, node.op) for x in ins], node.attrs)
    a = node.attrs
    run = _interpret.interpret
    if node.op == "cond":
        return run(a["true"] if bool(ins[0]) else a["false"], ins[1:])
    if node.op == "while":
        n = a["n_carry"]
        carry, consts = list(ins[:n]), list(ins[n:])
        while bool(run(a["cond"], carry + consts)[0]):
            carry = run(a["body"], carry + consts)
        return carry
    n, nx, length = a["n_carry"], a["n_xs"], a["length"]
    carry, xs, consts = list(ins[:n]), ins[n:n + nx], list(ins[n + nx:])
    like = next(x for x in ins if isinstance(x, TensorBase))
    ys = []
    order = range(length - 1, -1, -1) if a["reverse"] else range(length)
    for k in order:
        out = run(a["body"], [_index_tensor(like, a["start"] + k)] + carry + [x[k] for x in xs] + consts)
        carry, y = out[:n], out[n:]
        ys.append(y)
    if a["reverse"]:
        ys.reverse()
    n_y = len(a["body"].outputs) - n
    if not ys:
        raise NotImplementedError("scan of length 0 with outputs cannot run eagerly")
    return carry + [_stack([y[j] for y in ys]) for j in range(n_y)]


_interpret.STRUCTURED.update({op: _run_node for op in CONTROL_OPS})


# -- adjoints -------------------------------------------------------------------------------------------

def _vjp_graph(g: Graph, in_flags: list, ct_flags: list) -> Graph:
    """``(*g.inputs, *cotangents of the outputs flagged in ct_flags) -> gradients of the inputs flagged in
    in_flags`` (zeros where no path exists), recomputing ``g``'s forward inside."""
    from ..passes.optimize import optimize
    from ..passes.prune import prune_by_requires_grad

    pruned = prune_by_requires_grad(g, in_flags)
    joint = _adjoint.generate_adjoint(pruned)
    n_primal = len(g.inputs)
    given = iter(joint.inputs[n_primal:])
    cts = []
    for v, flag in zip(pruned.outputs, ct_flags):
        if v.requires_grad:  # generate_adjoint made one cotangent input per output that requires grad
            ct = next(given)
            if not flag:
                raise AssertionError("a cotangent is needed for every output that requires grad")
            cts.append(ct)
        elif flag:
            cts.append(Value(v.type, "unused_grad"))
    vjp = Graph(g.name + "_grad", joint.inputs[:n_primal] + cts, joint.nodes,
                joint.outputs[joint.meta["n_outputs"]:])
    vjp.output_names = None
    locs = {n.loc for n in g.nodes}
    for n in vjp.nodes:  # a node made for no forward node (a zero, an identity) has no user line
        if n.loc not in locs:
            n.loc = None
    return optimize(vjp)


def _zeros(tracer, t: TensorType):
    """Zeros of type ``t`` that read no forward value (so that value may be dead)."""
    return tracer.record("full", [], {"shape": t.shape, "value": 0.0, "dtype": t.dtype})


class _CondAdjoint:
    @staticmethod
    def replay(node, ins, tracer):
        return _replay(tracer, "cond", ins, node.attrs, node.output.requires_grad)

    @staticmethod
    def adjoint(node, ins, cts, needs, aux, tracer):
        pred, ops = ins[0], ins[1:]
        flags = needs[1:]
        if not any(flags):
            return [None] * len(ins)
        types = node.output.type.types
        given = sorted(k for k in cts if types[k].is_floating)  # an output without a cotangent adds nothing
        if not given:
            return [None] * len(ins)
        vjps = []
        for key in ("true", "false"):
            g = node.attrs[key]
            vjps.append(_vjp_graph(Graph(g.name, g.inputs, g.nodes, [g.outputs[k] for k in given]),
                                   flags, [True] * len(given)))
        grads = _record(tracer, "cond", [_value(tracer, x, "cond") for x in [pred] + ops + [cts[k] for k in given]],
                        {"true": vjps[0], "false": vjps[1]})
        it = iter(grads)
        return [None] + [next(it) if f else None for f in flags]


def aux_out(tracer, node, ins, aux):
    """The forward outputs of ``node`` as tensors (for zero cotangents and saved values): ``get`` nodes that
    ``replay`` recorded in the forward."""
    return aux


def _replay(tracer, op, ins, attrs, requires_grad: bool = False):
    """Record ``op`` in the forward of a joint graph; returns the tuple and a ``get`` of every output (unread
    ones are removed by dead-node elimination)."""
    tup = tracer.record(op, [_value(tracer, x, op) for x in ins], attrs)
    gets = [tracer.record("get", [tup.value], {"item": k}) for k in range(len(tup.value.type.types))]
    for g in gets:  # as the forward's own gets (CSE may keep either)
        g.value.requires_grad = requires_grad and g.value.type.is_floating
    return tup, gets


class _ScanAdjoint:
    @staticmethod
    def replay(node, ins, tracer):
        a = node.attrs
        if not node.output.requires_grad:
            return _replay(tracer, "scan", ins, a, node.output.requires_grad)
        # save each iteration's carry: the body's carry inputs become extra stacked outputs
        body = a["body"].copy()
        body.outputs = body.outputs + body.inputs[1:1 + a["n_carry"]]
        return _replay(tracer, "scan", ins, dict(a, body=body), True)

    @staticmethod
    def adjoint(node, ins, cts, needs, aux, tracer):
        a = node.attrs
        n, nx, length = a["n_carry"], a["n_xs"], a["length"]
        body = a["body"]
        carry_in, xs, consts = ins[:n], ins[n:n + nx], ins[n + nx:]
        c_types = [v.type for v in body.inputs[1:1 + n]]
        y_types = [v.type for v in body.outputs[n:]]
        c_flags = [t.is_floating for t in c_types]
        x_flags, k_flags = list(needs[n:n + nx]), list(needs[n + nx:])
        if not any(c_flags) and not any(x_flags) and not any(k_flags):
            return [None] * len(ins)
        saved = aux_out(tracer, node, ins, aux)[n + len(y_types):]  # each iteration's carry
        # ys without a cotangent add nothing: the adjoint body reads only those with one
        ys_given = [j for j in range(len(y_types)) if n + j in cts and y_types[j].is_floating]
        ct_body = Graph(body.name, body.inputs, body.nodes, body.outputs[:n] + [body.outputs[n + j] for j in ys_given])
        vjp = _vjp_graph(ct_body, [False] + c_flags + x_flags + k_flags, c_flags + [True] * len(ys_given))
        cbar0 = [cts[k] if k in cts else _zeros(tracer, c_types[k]) for k in range(n) if c_flags[k]]
        ybars = [cts[n + j] for j in ys_given]
        kacc0 = [_zeros(tracer, k._type) for k, f in zip(consts, k_flags) if f]
        n_cb, n_sv, n_x = len(cbar0), len(saved), len(xs)

        def step(i, carry, per_step):
            cbar, kacc = carry[:n_cb], carry[n_cb:]
            c_k, x_k, ybar_k = per_step[:n_sv], per_step[n_sv:n_sv + n_x], per_step[n_sv + n_x:]
            grads = _interpret.interpret(vjp, [i] + c_k + x_k + list(consts) + cbar + ybar_k)
            g_c, g_x, g_k = grads[:n_cb], grads[n_cb:n_cb + sum(x_flags)], grads[n_cb + sum(x_flags):]
            return g_c + [acc + g for acc, g in zip(kacc, g_k)], g_x

        carry, xbars = _loop_traced(tracer, step, cbar0 + kacc0, list(saved) + list(xs) + ybars, length,
                                    a["start"], not a["reverse"], body.name + "_grad",
                                    [f"grad_{v.name or 'c'}" for v, f in zip(body.inputs[1:1 + n], c_flags) if f]
                                    + [f"grad_{k.value.name or 'k'}" for k, f in zip(consts, k_flags) if f])
        g_c, g_k, g_x = iter(carry[:n_cb]), iter(carry[n_cb:]), iter(xbars)
        grads = []
        for i, f in enumerate(c_flags):
            g = next(g_c) if f else None
            grads.append(g if needs[i] else None)
        grads += [next(g_x) if f else None for f in x_flags]
        grads += [next(g_k) if f else None for f in k_flags]
        return grads


class _WhileAdjoint:
    """A while loop's trip count depends on data: the forward counts its iterations, and the backward walks
    them in reverse, recomputing each iteration's carry from the initial one (no record of unknown size is
    kept; the cost is quadratic in the trip count, so a loop with a known count is better a fori_loop/scan)."""

    @staticmethod
    def replay(node, ins, tracer):
        if not node.output.requires_grad:
            return tracer.record("while", [_value(tracer, x, "while") for x in ins], node.attrs), None
        a = node.attrs
        n = a["n_carry"]
        # the same loop with one more carry, the iteration count (sub-graphs copied: names and lines stay)
        body, cond = a["body"].copy(), a["cond"].copy()
        trips_in = Value(_INDEX, "trips")
        body.inputs.insert(n, trips_in)
        body.outputs.append(body.add_node("add", [trips_in, 1], {}, _INDEX, node.loc, "forward", "trips"))
        cond.inputs.insert(n, Value(_INDEX, "trips"))
        zero = tracer.record("full", [], {"shape": (), "value": 0, "dtype": "int64"})
        vals = [_value(tracer, x, "while") for x in ins]
        outs = _record(tracer, "while", vals[:n] + [zero.value] + vals[n:], {"cond": cond, "body": body,
                                                                              "n_carry": n + 1})
        for o in outs[:n]:
            o.value.requires_grad = o.value.type.is_floating
        tup = tracer.wrap(outs[0].value.node.inputs[0])
        tup.value.requires_grad = True
        return tup, {"trips": outs[n]}

    @staticmethod
    def adjoint(node, ins, cts, needs, aux, tracer):
        a, run = node.attrs, _interpret.interpret
        n, body = a["n_carry"], a["body"]
        carry_in, consts = list(ins[:n]), list(ins[n:])
        c_flags = [v.type.is_floating for v in body.inputs[:n]]
        k_flags = list(needs[n:])
        if not any(f and nd for f, nd in zip(c_flags, needs[:n])) and not any(k_flags):
            return [None] * len(ins)
        vjp = _vjp_graph(body, c_flags + k_flags, c_flags)
        cbar0 = [cts[k] if k in cts else _zeros(tracer, body.inputs[k].type) for k in range(n) if c_flags[k]]
        kacc0 = [_zeros(tracer, k._type) for k, f in zip(consts, k_flags) if f]
        n_cb = len(cbar0)

        def back_cond(j, *rest):
            return j >= 0

        def back_body(j, *rest):
            cbar, kacc = list(rest[:n_cb]), list(rest[n_cb:])
            inner = _active()
            # the carry iteration j started from: run the body j times from the initial carry
            c_j = _while_traced(inner, lambda i, *c: i < j, lambda i, *c: (i + 1,) + tuple(run(body, list(c) + consts)),
                                [0] + carry_in, body.name + "_recompute")[1:]
            grads = run(vjp, list(c_j) + consts + cbar)
            g_c, g_k = grads[:n_cb], grads[n_cb:]
            return (j - 1,) + tuple(g_c) + tuple(acc + g for acc, g in zip(kacc, g_k))

        names = [f"grad_{v.name or 'c'}" for v, f in zip(body.inputs[:n], c_flags) if f]
        out = _while_traced(tracer, back_cond, back_body, [aux["trips"] - 1] + cbar0 + kacc0, body.name + "_grad",
                            ["j"] + names + [f"grad_{k.value.name or 'k'}" for k, f in zip(consts, k_flags) if f])
        g_c, g_k = iter(out[1:1 + n_cb]), iter(out[1 + n_cb:])
        grads = []
        for i, f in enumerate(c_flags):
            g = next(g_c) if f else None
            grads.append(g if needs[i] else None)
        grads += [next(g_k) if f else None for f in k_flags]
        return grads


_adjoint.STRUCTURED.update({"cond": _CondAdjoint, "scan": _ScanAdjoint, "while": _WhileAdjoint})


# -- code generation -------------------------------------------------------------------------------------

def _assign(targets: list, sources: list) -> list[str]:
    pairs = [(t, s) for t, s in zip(targets, sources) if t is not None and t != s]
    if not pairs:
        return []
    return [f"{', '.join(t for t, _ in pairs)} = {', '.join(s for _, s in pairs)}"]


def _block(lines: list) -> list:
    return ["    " + ln for ln in lines] or ["    pass"]


def _emit_cond(node, targets, names, xp, emit):
    ins = [names[x] for x in node.inputs]
    lines = [f"if {ins[0]}:"]
    for key in ("true", "false"):
        sub = node.attrs[key]
        for v, outer in zip(sub.inputs, ins[1:]):
            names[v] = outer
        produced = {nd.output for nd in sub.nodes}
        for v, t in zip(sub.outputs, targets):  # a branch computes straight into the variable it assigns
            if t is not None and v in produced and sub.outputs.count(v) == 1:
                names[v] = t
        body = emit(sub, "") + _assign(targets, [names[v] for v in sub.outputs])
        if key == "false":
            lines.append("else:")
        lines += _block(body)
    return lines


def _emit_scan(node, targets, names, xp, emit):
    a = node.attrs
    body, n, nx, length, start = a["body"], a["n_carry"], a["n_xs"], a["length"], a["start"]
    ins = [names[x] for x in node.inputs]
    index, carry, x_in = body.inputs[0], body.inputs[1:1 + n], body.inputs[1 + n:1 + n + nx]
    for v, outer in zip(body.inputs[1 + n + nx:], ins[n + nx:]):
        names[v] = outer
    i = names[index]
    lines = _assign([names[v] for v in carry], ins[:n])
    ys = body.outputs[n:]
    for t, y in zip(targets[n:], ys):
        if t is not None:
            lines.append(f"{t} = {xp}.empty({(length,) + y.type.shape}, dtype={xp}.{y.type.dtype})")
    rng = (f"range({start + length - 1}, {start - 1}, -1)" if a["reverse"] else
           f"range({length})" if start == 0 else f"range({start}, {start + length})")
    k = i if start == 0 else f"{i} - {start}"
    used = any(index in nd.value_inputs() for nd in body.nodes) or index in body.outputs
    indexed = used or nx or any(t is not None for t in targets[n:])
    lines.append(f"for {i if indexed else '_'} in {rng}:")
    # the index is an int64 scalar in the IR: a NumPy scalar computes with PyTorch's promotion, an int would not
    inner = [f"{i} = {xp}.int64({i})"] if used else []
    inner += [f"{names[v]} = {x}[{k}]" for v, x in zip(x_in, ins[n:n + nx])]
    inner += emit(body, "")
    inner += [f"{t}[{k}] = {names[y]}" for t, y in zip(targets[n:], ys) if t is not None]  # before the
    inner += _assign([names[v] for v in carry], [names[v] for v in body.outputs[:n]])  # carry moves on
    lines += _block(inner)
    lines += _assign(targets[:n], [names[v] for v in carry])
    return lines


def _emit_while(node, targets, names, xp, emit):
    a = node.attrs
    n = a["n_carry"]
    ins = [names[x] for x in node.inputs]
    cond_g, body = a["cond"], a["body"]
    carry = [names[v] for v in body.inputs[:n]]
    for v, c in zip(cond_g.inputs[:n], carry):
        names[v] = c
    for sub in (cond_g, body):
        for v, outer in zip(sub.inputs[n:], ins[n:]):
            names[v] = outer
    lines = _assign(carry, ins[:n]) + ["while True:"]
    inner = emit(cond_g, "") + [f"if not {names[cond_g.outputs[0]]}:", "    break"]
    inner += emit(body, "") + _assign(carry, [names[v] for v in body.outputs])
    lines += _block(inner)
    lines += _assign(targets, carry)
    return lines


_codegen.BLOCKS.update({"cond": _emit_cond, "scan": _emit_scan, "while": _emit_while})
