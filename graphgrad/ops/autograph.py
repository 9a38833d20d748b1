"""The run-time half of source conversion (``graphgrad.tracer.autograph`` rewrites the source): each helper
runs its construct as plain Python when the test is a Python value or an eager tensor, and records
``cond`` / ``while`` / ``scan`` nodes when it is traced.

Variables the construct assigns travel as the branch or body functions' parameters and results. Those that
hold tensors or numbers and change become outputs (loop carries); those that are the same object on every
path pass through unchanged; any other value (a list, a module) that would differ is an error naming it.
"""
from __future__ import annotations

import operator
import types

from ..ir.api import TensorBase, bind
from ..tracer import autograph as _autograph
from ..tracer.tracer import ACTIVE, LAZY_CODES, SymbolicTensor, TracerError, _is_user_file, _where, user_location
from . import control
from .control import UNDEFINED, _Undefined, _dynamic


def _traced(x) -> bool:
    return isinstance(x, SymbolicTensor)


def values(local: dict, names: tuple) -> tuple:
    """Each name's current value in ``local`` (an undefined marker where it has none yet)."""
    return tuple(local[n] if n in local else _Undefined(n) for n in names)


def _truth(x) -> bool:
    if isinstance(x, TensorBase) and x.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(x)


def if_stmt(test, true_fn, false_fn, names: tuple, vals: tuple) -> tuple:
    """``if test:`` over the variables ``names`` (current values ``vals``); returns their new values.

    Traced, each branch works on its own copy of the tensors among them (the node's operands), so an in-place
    update in one branch (``y += x``, ``y.mul_(2)``) is not seen by the other. What such an update does to the
    tensor object itself comes out of the node too, and is applied to it after the ``if``: other names for the
    same tensor (``z = y`` before the ``if``) see it, as in eager code."""
    if not _traced(test):
        return tuple((true_fn if _truth(test) else false_fn)(*vals))
    tensors = [i for i, v in enumerate(vals) if isinstance(v, TensorBase)]
    kept: list = []  # per branch: the positions whose name still holds the tensor object it was given

    def branch(fn):
        def run(*copies):
            full = list(vals)
            for i, c in zip(tensors, copies):
                full[i] = c
            before = [c.value for c in copies]
            out, objects, mine = list(fn(*full)), [], set()
            for i, c, b in zip(tensors, copies, before):
                untouched = c.value is b
                if out[i] is c:
                    mine.add(i)
                    if untouched:  # the outer tensor itself: no output is made for it
                        out[i] = vals[i]
                objects.append(vals[i] if untouched else c)  # the tensor object's own value after the branch
            kept.append(mine)
            return tuple(out) + tuple(objects)

        run.__name__ = fn.__name__
        return run

    true_fn = _traced_whatever_the_data(true_fn, "the true branch of an `if` on a traced value")
    false_fn = _traced_whatever_the_data(false_fn, "the false branch of an `if` on a traced value")
    result = control._cond_traced(test.tracer if not ACTIVE.stack else ACTIVE.stack[-1], test,
                                  branch(true_fn), branch(false_fn), tuple(vals[i] for i in tensors),
                                  names=[names[i] for i in tensors],
                                  out_names=list(names) + [names[i] for i in tensors], converted=True)
    result, objects = list(result[:len(names)]), result[len(names):]
    for i, obj in zip(tensors, objects):
        if obj is not vals[i]:  # updated in place on some path: the object itself changes
            _update_in_place(vals[i], obj)
            if i in kept[0] and i in kept[1]:
                result[i] = vals[i]
    return tuple(result)


def _update_in_place(target, new) -> None:
    """The tensor object ``target`` holds ``new`` from now on (it was updated in place in a branch or loop body):
    a traced tensor in its trace, an eager one (a closed-over buffer) written back after each call."""
    loc = user_location(3)
    if isinstance(target, SymbolicTensor):
        target.tracer.mutate(target, new, "update", loc)
    else:
        ACTIVE.stack[-1].update_captured(target, lambda old: new, "update", loc)


def if_return(test, true_fn, false_fn, names: tuple, vals: tuple):
    """``if test: ... return a`` / ``else: ... return b``: the value returned."""
    if not _traced(test):
        return (true_fn if _truth(test) else false_fn)(*vals)
    true_fn = _traced_whatever_the_data(true_fn, "the true branch of an `if` on a traced value")
    false_fn = _traced_whatever_the_data(false_fn, "the false branch of an `if` on a traced value")
    return control._cond_traced(ACTIVE.stack[-1] if ACTIVE.stack else test.tracer, test,
                                lambda: true_fn(*vals), lambda: false_fn(*vals), (), converted=True)


def _branches(*fns) -> None:
    """Mark the converter's lazy branch lambdas: no frames of their own for the tracer (``LAZY_CODES``)."""
    for fn in fns:
        LAZY_CODES[id(fn.__code__)] = fn.__code__


def if_exp(test, true_fn, false_fn):
    """``a if test else b``: the branch taken, or a ``cond`` of both when ``test`` is traced."""
    _branches(true_fn, false_fn)
    if not _traced(test):
        return true_fn() if _truth(test) else false_fn()
    return control._cond_traced(ACTIVE.stack[-1] if ACTIVE.stack else test.tracer, test,
                                _traced_whatever_the_data(true_fn, "the first branch of `a if c else b`"),
                                _traced_whatever_the_data(false_fn, "the second branch of `a if c else b`"), (),
                                converted=True)


def _carried(names, vals):
    """Positions that become loop carries: tensors and numbers (others must stay the same object)."""
    return [i for i, v in enumerate(vals) if _dynamic(v) and not isinstance(v, _Undefined)]


def _loop_fns(names, vals, dyn, kind: str):
    """``(merge, pick, finish)``: ``merge`` makes the full variable list from a carry, ``pick`` the carry from the
    body's results (checking the variables that are not carried), ``finish`` the values after the loop.

    A carried tensor the body updates in place (``y.add_(1)``) and still names at its end is the same object in
    every iteration of eager code: ``finish`` applies the loop's result to that object, so that other names for
    it (``z = y`` before the loop) see it."""
    statics = list(vals)
    state: dict = {}

    def merge(carry) -> list:
        full = list(statics)
        for i, v in zip(dyn, carry):
            full[i] = v
        state.update(carry=list(carry), before=[getattr(v, "value", None) for v in carry])
        return full

    def pick(out) -> tuple:
        out = tuple(out)
        for i, (o, s) in enumerate(zip(out, statics)):
            if i in dyn or o is s or isinstance(s, _Undefined):
                continue
            if type(o) is type(s) and isinstance(o, (str, bool, int, float)) and o == s:
                continue
            raise TracerError(f"variable {names[i]!r} ({type(s).__name__}) changes in a {kind} whose test is a "
                              f"traced tensor; only tensors and numbers can be carried from one iteration to the "
                              f"next{_where(user_location(2))}")
        updated = set()
        for i, c, b in zip(dyn, state["carry"], state["before"]):
            if isinstance(c, SymbolicTensor) and c.value is not b:
                if out[i] is not c:
                    raise TracerError(f"variable {names[i]!r} is updated in place and then assigned a new tensor in "
                                      f"the body of a {kind} whose test is a traced tensor; do one or the other "
                                      f"(y = y + 1 throughout){_where(user_location(2))}")
                updated.add(i)
        state["updated"] = updated
        return tuple(out[i] for i in dyn)

    def finish(out) -> list:
        result = merge(out)
        for i, v in enumerate(result):  # temporaries first assigned inside the loop have no value after it
            if isinstance(vals[i], _Undefined):
                result[i] = vals[i]
            elif i in state.get("updated", ()) and isinstance(vals[i], TensorBase):
                _update_in_place(vals[i], v)
                result[i] = vals[i]
        return result

    return merge, pick, finish


def while_stmt(test_fn, body_fn, names: tuple, vals: tuple) -> tuple:
    """``while test:`` over the variables ``names``; returns their values after the loop."""
    vals = tuple(vals)
    while True:
        test = test_fn(*vals)
        if _traced(test):
            break
        if not _truth(test):
            return vals
        vals = tuple(body_fn(*vals))
    dyn = _carried(names, vals)
    merge, pick, finish = _loop_fns(names, vals, dyn, "while loop")
    tracer = ACTIVE.stack[-1] if ACTIVE.stack else test.tracer
    test_fn = _traced_whatever_the_data(test_fn, "the test of a `while` loop on a traced value")
    body_fn = _traced_whatever_the_data(body_fn, "the body of a `while` loop on a traced value")
    out = control._while_traced(tracer, lambda *c: test_fn(*merge(c)), lambda *c: pick(body_fn(*merge(c))),
                                [vals[i] for i in dyn], "while", [names[i] for i in dyn], converted=True)
    return tuple(finish(out))


def for_range(args: tuple, body_fn, names: tuple, vals: tuple) -> tuple:
    """``for i in range(*args):`` over the variables ``names`` (the loop variable first); a traced bound makes it a
    loop node. Returns their values after the loop: the loop variable holds the last index, or its value before
    the loop when the range is empty."""
    # a tensor bound (a closed-over one too) is read when the compiled code runs, not baked in at trace time
    if not any(_traced(a) or (ACTIVE.stack and isinstance(a, TensorBase)) for a in args):
        bounds = [int(a) if isinstance(a, TensorBase) else operator.index(a) for a in args]
        index, rest = vals[0], tuple(vals[1:])
        for index in range(*bounds):
            rest = tuple(body_fn(index, *rest))
        return (index,) + rest
    if len(args) == 3 and not (isinstance(args[2], int) and args[2] == 1):
        raise TracerError(f"range() with a traced bound takes a step of 1, got {args[2]!r}"
                          f"{_where(user_location(2))}")
    lo, hi = (0, args[0]) if len(args) == 1 else (args[0], args[1])
    index_before, names, vals = vals[0], names[1:], tuple(vals[1:])
    dyn = _carried(names, vals)
    merge, pick, finish = _loop_fns(names, vals, dyn, "for loop over range(traced)")
    index_name = body_fn.__code__.co_varnames[0]
    body_fn = _traced_whatever_the_data(body_fn, "the body of a `for` loop over range(traced)")
    out = control.fori_loop(lo, hi, lambda i, c: pick(body_fn(i, *merge(c))), tuple(vals[i] for i in dyn),
                            _names=[names[i] for i in dyn], _index=index_name, _converted=True)
    return (_last_index(lo, hi, index_before),) + tuple(finish(out))


def _last_index(lo, hi, before):
    """The loop variable after ``for i in range(lo, hi)`` with a traced bound: ``hi - 1`` when the loop ran, else
    its value before the loop (undefined if it had none: Python leaves it unbound then)."""
    if isinstance(before, _Undefined):
        return before
    ran = bind("lt", lo, hi) if isinstance(lo, TensorBase) else bind("gt", hi, lo)
    return bind("where", ran, hi - 1, before)


def to_int(x, item: bool = False):
    """``int(x)`` (``x.item()`` when ``item``) as a ``range`` bound: a traced ``x`` stays traced (cast to int64,
    truncating as ``int`` does), so ``for i in range(int(n))`` becomes a loop node rather than asking the value of
    ``n`` at trace time; anything else is ``int(x)`` (``x.item()``)."""
    if not _traced(x):
        return x.item() if item else int(x)
    if x.numel() != 1:
        raise TracerError(f"{'item()' if item else 'int()'} of a tensor of {x.numel()} elements"
                          f"{_where(user_location(2))}: a range bound holds one value")
    if item and x._type.is_floating:  # range(t.item()) of a float tensor fails in Python too
        raise TypeError("'float' object cannot be interpreted as an integer")
    x = x.reshape(()) if x.shape else x
    return x if x._type.dtype == "int64" else bind("cast", x, dtype="int64")


def _as_bool(x):
    return x if x._type.dtype == "bool" else bind("ne", x, 0)


def and_(first, second):
    """``a and b`` in a converted test: Python's on Python values, elementwise ``a & b`` on traced ones."""
    _branches(first, second)
    a = first()
    if not _traced(a):
        return second() if _truth(a) else a
    b = _traced_whatever_the_data(second, "the second operand of `and` (evaluated whatever the first is)")()
    return bind("where", _as_bool(a), _as_bool(b) if isinstance(b, TensorBase) else bool(b), False)


def or_(first, second):
    """``a or b`` in a converted test."""
    _branches(first, second)
    a = first()
    if not _traced(a):
        return a if _truth(a) else second()
    b = _traced_whatever_the_data(second, "the second operand of `or` (evaluated whatever the first is)")()
    return bind("where", _as_bool(a), True, _as_bool(b) if isinstance(b, TensorBase) else bool(b))


def not_(x):
    """``not a`` in a converted test."""
    return bind("eq", _as_bool(x), False) if _traced(x) else not x


def reraise(error: BaseException) -> None:
    """At the top of the user's ``except`` handlers: a TracerError is not theirs to handle (eager code would not
    have raised it), so it goes on."""
    if isinstance(error, TracerError):
        raise error


def _traced_whatever_the_data(fn, what: str):
    """``fn`` (a branch, a loop body or test, the second operand of ``and``/``or``), whose error while it is traced
    becomes a TracerError: a traced ``if`` traces both branches and a loop its body whatever the data, so eager
    code might not have run it at all, and the user's ``except`` must not take it for theirs."""
    def run(*args):
        try:
            return fn(*args)
        except TracerError:
            raise
        except Exception as e:  # noqa: BLE001
            raise TracerError(f"{type(e).__name__} while tracing {what}{_where(user_location(2))}: {e}. A compiled "
                              f"function traces both branches of an `if` on a traced value (and a loop's body "
                              f"whatever its trip count), so this error is raised whatever the data") from e

    run.__name__ = getattr(fn, "__name__", "fn")
    return run


def must_be_static(test, why: str):
    """``test`` itself, unless it is traced: then a TracerError at the user's line saying ``why``."""
    if _traced(test):
        raise TracerError(f"{why}{_where(user_location(2))}")
    return test


#: the eager tensor class (``graphgrad.Tensor``, installed by the runtime, which sits above this layer)
TENSOR_CLASSES: list = []


def _stands_for_tensor(classinfo) -> bool:
    """Whether ``isinstance(t, classinfo)`` is True for an eager ``graphgrad.Tensor`` ``t`` that is not a
    Parameter: the class itself, a base of it, or a tuple naming one."""
    if isinstance(classinfo, tuple):
        return any(_stands_for_tensor(c) for c in classinfo)
    return isinstance(classinfo, type) and any(issubclass(t, classinfo) for t in TENSOR_CLASSES)


def call(f, /, *args, **kwargs):
    """Call ``f``, converting it first when it is one of the user's Python functions (or methods)."""
    if f is isinstance and len(args) == 2 and isinstance(args[0], SymbolicTensor):
        # a traced value stands for the eager Tensor the same code sees outside a trace: `if isinstance(x,
        # torch.Tensor)` takes eager's branch (SymbolicTensor is not a subclass of Tensor)
        return isinstance(*args) or _stands_for_tensor(args[1])
    if ACTIVE.stack:
        fn = f.__func__ if isinstance(f, types.MethodType) else f
        if isinstance(fn, types.FunctionType) and _is_user_file(fn.__code__.co_filename) \
                and not getattr(fn, "__graphgrad_converted__", False):
            f = _autograph.convert(f)
    return f(*args, **kwargs)


vars(_autograph.RUNTIME).update(values=values, if_stmt=if_stmt, if_return=if_return, if_exp=if_exp,
                                while_stmt=while_stmt, for_range=for_range, must_be_static=must_be_static, call=call,
                                to_int=to_int, reraise=reraise, UNDEFINED=UNDEFINED, and_=and_, or_=or_, not_=not_)
