"""``primitive``: declare an op in one block — type rule, gradient rule, array expression, public names.

The block registers into the tables the lower layers own: ``ir.registry.OPS`` (type rule),
``passes.vjp_rules.VJP_RULES`` (gradient), ``passes.batching.BATCH_RULES`` (vmap),
``codegen.expressions.EXPRESSIONS`` (array code), ``codegen.cuda.C_EXPRESSIONS`` (C, for fused kernels) and
``ir.public`` (Tensor method, ``graphgrad.X``, ``graphgrad.numpy.X``). See ``docs/ops.md``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..codegen.cuda import C_EXPRESSIONS, C_REDUCTIONS
from ..codegen.expressions import EXPRESSIONS, OP_HELPERS
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ERRORS, defop, elementwise_type, float_dtype
from ..ir.types import DTYPES, dtype_name
from ..passes.row_decomposition import defrows
from ..tracer.tracer import LIFTED_DTYPES
from ..passes.batching import defbatch, elementwise as elementwise_batch
from ..passes.vjp_rules import defnondiff, defvjp, defvjp_joint


def primitive(name: str, *, infer: Callable, expr: Callable, vjp: Sequence[Callable | None] | None = None,
              joint_vjp: Callable | None = None, nondiff: bool = False, attrs: tuple = (), doc: str = "",
              elementwise: bool = False, fn: Callable | None = None, tensor=(), gg=(), numpy=(), nn=(),
              numpy_fn: Callable | None = None, numpy_impl: Callable | None = None, rows=None,
              batch: Callable | None = None, errors: Callable | None = None, c_expr: str | None = None,
              memory: str = "", recompute: str = "", ufunc: str = "", view: bool = False,
              stops_gradient: bool = False, torch_name: str | Callable = "", shape_only: bool = False,
              zero_signs: str = "", additive: bool = False, joins: bool = False, patches: str = "",
              saves_result: bool = True, c_reduce: str | None = None, helpers: tuple = ()) -> Callable:
    """Declare primitive ``name`` and return its public function.

    infer(inputs, **attrs) -> TensorType   the type rule (raise ShapeError with PyTorch's text on bad input)
    vjp: one rule per input, (g, out, *inputs, **attrs) -> cotangent or None; or joint_vjp for variadic
        ops, (g, out, needs, *inputs, **attrs) -> list; or nondiff=True (piecewise constant: zero gradient)
    expr(args, xp, out, **attrs) -> source lines, the last one an expression
    fn: the public function (default: ``bind(name, *inputs)``, for ops without attributes), published as
        Tensor methods ``tensor``, ``graphgrad.X`` names ``gg``, ``graphgrad.numpy.X`` names ``numpy`` and
        ``graphgrad.nn.functional.X`` names ``nn``.
    rows: how the op treats data rows for data-parallel gradients (a ``passes.row_decomposition.RowRule`` or
        its transfer function; elementwise ops default to broadcasting rows through; others, without it, are
        refused by ``graphgrad.dask`` when they touch per-row values)
    batch(op, args, bdims, **attrs) -> (out, out_axis): the batching rule (vmap), usually a family rule of
        ``passes.batching`` (``elementwise``, ``reduction``, ...)
    errors(arrays, error, **attrs) -> Exception or None: the array library's failure in PyTorch's words
    c_expr: for an elementwise op without attributes, a C expression template over its operands
        (``"tanh({0})"``), so CuPy can compute it inside a fused kernel; without one it is never fused
    c_reduce: for a reduction that is a sum of its operand's elements over ``dim``, the C expression of that
        sum ``a`` giving its result (``"a"``), so that a CuPy fused region may end in it (one ReductionKernel)
    memory: "view" (the result may share the first operand's memory), "fresh" (always a new array), "unknown";
        recompute: "cheap" or "never" (may the backward compute it again?); see ``ir.registry.OpDef``
    ufunc: for an elementwise op that is one NumPy/CuPy ufunc call, that call over its operands
        (``"subtract({0}, {1})"``), so generated code may write the result into a dying operand (``out=``)
    view: the result is a PyTorch view of the first operand (shares its version counter; in-place updates of
        it are refused in traced code); needs memory="view"
    stops_gradient: the result never requires grad (``detach()``); nondiff=True ops' results do, with a zero
        gradient, as PyTorch's floor
    torch_name: PyTorch's name for its backward node where it is not the name in CamelCase + Backward0
        (``"MmBackward0"``), or ``(attrs, in_types) -> name``
    shape_only: the result reads its operands' shapes and dtypes, never their values (``full_like``)
    zero_signs: "positive" (never a -0.0 result: ``matmul``) or "through" (each result element an element of the
        first operand, a sum of them or +0.0: views, ``sum``), for the compiler's ``+ 0.0``; see ``ir.registry.OpDef``
    additive: op(a + b) = op(a) + op(b) up to rounding (``sum``, ``mean``): the compiler may reduce a large sum's
        terms one by one (``passes.reduction_splitting``)
    joins: the result is the operands laid end to end along ``dim`` (``concat``): generated code may compute each
        operand into its place in the result (``ir.buffers``)
    patches: "unfold" (the result is an image batch's patches, each image's from that image alone, batch first)
        or "fold" (its adjoint), so that a convolution may go a chunk of images at a time (``passes.patch_chunking``)
    saves_result: False where the gradient rule reads the result but PyTorch's backward keeps something else
        (max_pool2d's indices): changing the result in place before backward is then allowed, as in PyTorch
    helpers: the functions NumPy lacks that the NumPy expression calls (``ops/numpy_functions.py``): a generated
        NumPy module defines them
    """
    defop(name, attrs, doc or name, elementwise, memory, recompute, ufunc, view, stops_gradient,
          torch_name, shape_only, zero_signs, additive, joins, patches, saves_result)(infer)
    if nondiff:
        defnondiff(name)
    elif joint_vjp is not None:
        defvjp_joint(name, joint_vjp)
    elif vjp is not None:
        defvjp(name, *vjp)
    EXPRESSIONS[name] = expr
    if helpers:
        OP_HELPERS[name] = tuple(h.__name__ for h in helpers)
    if c_expr is not None:
        C_EXPRESSIONS[name] = c_expr
    if c_reduce is not None:
        C_REDUCTIONS[name] = c_reduce
    if rows is not None:
        defrows(name, rows)
    if batch is not None:
        defbatch(name, batch)
    if errors is not None:
        ERRORS[name] = errors
    if fn is None:
        def fn(*inputs):
            return bind(name, *inputs)
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = f"{doc or name} (the ``{name}`` primitive)."
    if tensor or gg or numpy or nn:
        export(fn, name, tensor=tensor, gg=gg, numpy=numpy, nn=nn, numpy_fn=numpy_fn, numpy_impl=numpy_impl)
    return fn


def structured(name: str, *, attrs: tuple, doc: str, batch: Callable) -> Callable:
    """Declare an op whose attributes are sub-graphs (control flow): decorates its type rule
    ``infer(inputs, **attrs)``; ``batch`` is its batching rule, as for ``primitive``. Such an op has no array
    expression: it is emitted as a Python block, differentiates through its sub-graphs' adjoints and runs its
    sub-graphs when interpreted (``graphgrad.ops.control``)."""
    def register(infer):
        defop(name, attrs, doc)(infer)
        defbatch(name, batch)
        return infer

    return register


def call(function: str) -> Callable:
    """The expression ``xp.function(x, ...)``."""
    return lambda a, xp, out: [f"{xp}.{function}({', '.join(a)})"]


def unary(name: str, vjp: Callable | None, *, float_result: bool = True, expr: Callable | None = None,
          doc: str = "", tensor=None, gg=None, numpy=None, rows=None, c_expr: str | None = None, memory: str = "",
          recompute: str = "", ufunc: str | None = None, torch_name: str = "",
          errors: Callable | None = None, helpers: tuple = (), saves_result: bool = True) -> Callable:
    """An elementwise function of one tensor, published as ``Tensor.name``, ``graphgrad.name`` and
    ``graphgrad.numpy.name`` unless ``tensor``/``gg``/``numpy`` say otherwise (``()``: not published).
    The result is floating (exp of an int tensor is float32) unless ``float_result=False``; ``vjp=None``
    declares a piecewise-constant op (zero gradient). Without ``expr`` the expression is ``xp.name(x)``, so
    when NumPy's ``name`` is a ufunc that is also the op's ``ufunc``."""
    if ufunc is None:
        function = getattr(np, name, None) if expr is None else None
        ufunc = f"{function.__name__}({{0}})" if isinstance(function, np.ufunc) else ""
    if float_result:
        def infer(inputs):
            return elementwise_type(inputs, float_dtype(inputs))
    else:
        def infer(inputs):
            return elementwise_type(inputs)
    return primitive(name, infer=infer, expr=expr or call(name), vjp=None if vjp is None else (vjp,),
                     nondiff=vjp is None, doc=doc or f"elementwise {name}", elementwise=True,
                     batch=elementwise_batch,
                     tensor=name if tensor is None else tensor, gg=name if gg is None else gg,
                     numpy=name if numpy is None else numpy, rows=rows, c_expr=c_expr, memory=memory,
                     recompute=recompute, ufunc=ufunc, torch_name=torch_name, errors=errors, helpers=helpers,
                     saves_result=saves_result)


# -- NumPy's operand handling: arrays, lists and lists holding tensors ---------------------------------
def contains_tensor(x) -> bool:
    """Whether ``x`` is a tensor or a (nested) list or tuple holding one."""
    if isinstance(x, TensorBase):
        return True
    return isinstance(x, (list, tuple)) and any(contains_tensor(i) for i in x)


def any_dtype_name(dtype) -> str:
    """A dtype given as NumPy does (``np.float32``, ``"f8"``, ``np.dtype``) or as graphgrad does, by name."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str) and name in DTYPES:  # graphgrad's dtypes by name: never a key of dtype_name's cache,
        return name                               # whose string keys they compare equal to (and recurse)
    try:
        return dtype_name(dtype)
    except TypeError:
        return dtype_name(np.dtype(dtype))


def _nested(x):
    return tuple(_nested(i) for i in x) if isinstance(x, list) else x


def constant_like(like, value, dtype=None):
    """``value`` as a tensor of ``like``'s interpreter (a constant node in a trace, an eager tensor otherwise),
    with NumPy's dtype: float64 for Python floats."""
    arr = np.asarray(value, dtype=dtype)
    c = like._apply_here("constant", (), {"value": _nested(arr.tolist()), "dtype": dtype_name(arr.dtype)})
    # (nested lists lose an empty array's shape: a (0, 2) array lists as [])
    return c if tuple(c.shape) == arr.shape else c.reshape(arr.shape)


def as_tensors(items: list) -> list:
    """The items of one array, as tensors of one dtype (NumPy's result dtype): nested lists holding tensors
    are built first; numbers and arrays become constants."""
    items = [array(x) if contains_tensor(x) else x if isinstance(x, (int, float, bool, np.generic)) else np.asarray(x)
             for x in items]
    like = next(x for x in items if isinstance(x, TensorBase))
    dtype = np.result_type(*[np.dtype(x._type.dtype) if isinstance(x, TensorBase) else x for x in items])
    return [x._cast(dtype_name(dtype)) if isinstance(x, TensorBase) else constant_like(like, x, dtype) for x in items]


def array(object, dtype=None, **kwargs):
    """``numpy.array`` of a tensor or a (nested) list holding tensors: the tensor built from them (stacked,
    differentiably). ``gnp.array([x, 2 * x])``, ``gnp.array(x)``."""
    if isinstance(object, (list, tuple)):
        items = as_tensors(list(object))
        shapes = {x.shape for x in items}
        if len(shapes) > 1:
            raise ValueError(f"setting an array element with a sequence. The requested array has an inhomogeneous "
                             f"shape after 1 dimensions: its items have shapes {sorted(shapes)}")
        object = bind("concat", *[x.reshape((1,) + x.shape) for x in items], dim=0)
    return object if dtype is None else object._cast(any_dtype_name(dtype))


def lift(x, like=None):
    """A non-tensor operand of a NumPy-face function, as something ``bind`` accepts: numbers stay weakly typed
    literals; lists holding tensors are built; other arrays and lists become constants of ``like``'s interpreter
    (NumPy's dtype), or NumPy arrays without one."""
    if isinstance(x, (TensorBase, int, float, bool)):
        return x
    if isinstance(x, (list, tuple)) and contains_tensor(x):
        return array(x)
    if isinstance(x, np.ndarray) and like is not None and like._level > 0 and x.dtype.name in LIFTED_DTYPES:
        return x  # the trace lifts it: a closed-over array is an input, read at every call, not a constant
    return constant_like(like, x) if like is not None else np.asarray(x)


def operand(x, like: TensorBase) -> TensorBase:
    """A NumPy-face operand as a tensor of ``like``'s interpreter, for functions that call tensor methods on
    every operand: tensors as they are, lists holding tensors built, a closed-over array in a trace the
    trace's input (as ``bind`` would lift it: read at every call), other arrays, lists and numbers constants
    with NumPy's dtype."""
    x = lift(x, like)
    if isinstance(x, TensorBase):
        return x
    if isinstance(x, np.ndarray):  # lift left it to the trace: lift it the same way here
        return like.tracer.wrap(like.tracer.lift(x, "operand"))
    return constant_like(like, x)


def built(x):
    """A list or tuple holding tensors as the tensor built from it (``[1, a * a, 2]``, as NumPy would build an
    array); anything else as it is."""
    return array(x) if isinstance(x, (list, tuple)) and contains_tensor(x) else x


def tensor_operands(*xs, what: str = "operands") -> list:
    """Every one of ``xs`` as a tensor (``operand``), of the interpreter of the first tensor among them."""
    xs = [built(x) for x in xs]
    like = next((x for x in xs if isinstance(x, TensorBase)), None)
    if like is None:
        raise TypeError(f"{what}: expected at least one tensor, got {[type(x).__name__ for x in xs]}")
    return [operand(x, like) for x in xs]


def binary_numpy(fn: Callable) -> Callable:
    """``fn(a, b)`` with NumPy's operand handling: one side may be a list or an array."""
    def numpy_fn(a, b):
        like = a if isinstance(a, TensorBase) else b if isinstance(b, TensorBase) else None
        return fn(lift(a, like), lift(b, like))
    return numpy_fn


def tensors_only(op: str, **arguments) -> None:
    """PyTorch's TypeError where ``op`` takes tensors only and got something else: ``arguments`` by name, in
    their positions' order (``tensors_only("gcd", input=a, other=b)``)."""
    for position, (name, value) in enumerate(arguments.items(), 1):
        if not isinstance(value, TensorBase):
            raise TypeError(f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
                            f"{type(value).__name__}")


def refuse_traced(x, op: str, why: str) -> None:
    """An eager-only op (its result's shape depends on the values of ``x``) called on a traced tensor: a
    ``TracerError`` naming the op, the reason and the user's line, as boolean-mask indexing gives."""
    if isinstance(x, TensorBase) and x._level > 0:
        from ..tracer.tracer import TracerError, _where, user_location
        raise TracerError(f"{op} inside a compiled function: {why}{_where(user_location(2))}")


def in_place(x, compute: Callable, name: str | None = None, what: str = "update", **expanded):
    """``x`` overwritten with ``compute(x)``, PyTorch's in-place form of an out-of-place function (``sin_``,
    ``tril_``, ``index_fill_``, ...): eagerly one in-place op (version bump, views and their base kept in step,
    PyTorch's casting and shape checks; ``name`` names its node), in a trace a mutation of the traced value with the
    same checks, written back to an argument or a closed-over tensor after each call (``what``, ``"sin_"``, names it
    in the tracer's errors). Every in-place form in ``graphgrad.ops`` is declared with it. ``expanded``: for the
    few that PyTorch lets write into an expanded tensor, ``written``, ``overlap_ok`` and ``warn`` (the eager
    ``Tensor._inplace_with``'s)."""
    try:
        write = x._inplace_with  # an eager tensor (the runtime's Tensor)
    except AttributeError:
        return _traced_in_place(x, compute, what)
    return write(compute, name, **expanded) if expanded else write(compute, name)  # (no ** on the common path)


def _traced_in_place(x, compute: Callable, what: str):
    """``in_place`` of a traced tensor: ``compute(x)`` becomes ``x``'s value (the tracer writes it back where ``x``
    is an argument or a closed-over tensor), after PyTorch's cast and shape checks."""
    from ..tracer.tracer import _computed_in_place, gradient_reaches, user_location

    new = _computed_in_place(x, compute(x))
    if tuple(new.shape) != tuple(x.shape):
        raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast shape {list(new.shape)}")
    if x._type.is_floating and not gradient_reaches(new.value, x.value):
        # a result no gradient of x reaches (logical_not_, heaviside_): x stays in the graph, with a zero gradient,
        # so that what required grad still does. (Eager code keeps x's old history there, PyTorch's: the values of
        # one tensor with the gradient of another, which a graph has no op for.)
        new = bind("where", True, new, x)
    x.tracer.mutate(x, new, what, user_location(2))
    return x


def warn_user(message: str, category=UserWarning) -> None:
    """PyTorch's warning ``message``, shown at the user's line (the nearest frame outside graphgrad), however deep
    in graphgrad's own functions it is raised (``cov`` inside ``corrcoef``)."""
    import sys
    import warnings

    from ..tracer.tracer import _user_frame

    frame = _user_frame(sys._getframe(1))
    if frame is None:
        warnings.warn(message, category, stacklevel=2)
        return
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           registry=frame.f_globals.setdefault("__warningregistry__", {}))
