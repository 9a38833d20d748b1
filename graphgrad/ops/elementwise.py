"""Elementwise ops: arithmetic, comparisons, unary functions, where, casts.

Each block declares one op: its type rule, gradient rule (Tensor API), array expression and public names.
Elementwise gradient rules ignore broadcasting: the caller sums each cotangent back to its input's shape.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, elementwise_type, float_dtype, is_type, result_dtype, \
    shape_of
from ..ir.types import TensorType, dtype_name
from ..passes.row_decomposition import RowRule, elementwise_rows, same_rows, shape_rows
from ..passes.batching import elementwise
from .define import binary_numpy, primitive, unary


def _binop(symbol):
    return lambda a, xp, out: [f"{a[0]} {symbol} {a[1]}"]


def _reflected(op):
    def method(self, other):
        return bind(op, other, self)
    return method


def _numpy_binary(op):
    return binary_numpy(lambda a, b: bind(op, a, b))


def _binary(name, symbol, vjp, *, infer=None, dunder=None, gg=True, numpy=(), tensor=(), doc="", rows=None):
    """A broadcasting binary op ``x <symbol> y``; ``dunder`` names its operator methods (``add``: __add__,
    __radd__)."""
    fn = primitive(name, batch=elementwise,
                   infer=infer or (lambda inputs: elementwise_type(inputs)), expr=_binop(symbol), vjp=vjp,
                   nondiff=vjp is None, elementwise=True, doc=doc or f"elementwise x {symbol} y with broadcasting",
                   tensor=tuple(tensor) + ((f"__{dunder}__",) if dunder else ()), gg=name if gg else (),
                   numpy=numpy, numpy_fn=_numpy_binary(name), rows=rows)
    if dunder:
        export(_reflected(name), name, tensor=f"__r{dunder}__")
    return fn


# -- arithmetic ---------------------------------------------------------------------------------
add = _binary("add", "+", (lambda g, out, x, y: g, lambda g, out, x, y: g),
              dunder="add", tensor=("add",), numpy=("add",), rows=RowRule(elementwise_rows("sum"), additive=True))

sub = _binary("sub", "-", (lambda g, out, x, y: g, lambda g, out, x, y: -g),
              dunder="sub", tensor=("sub",), numpy=("subtract",), rows=RowRule(elementwise_rows("sum"), additive=True))

mul = _binary("mul", "*", (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
              dunder="mul", tensor=("mul",), numpy=("multiply",), rows=elementwise_rows("scale"))

div = _binary("div", "/", (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * x / (y * y)),
              infer=lambda inputs: elementwise_type(inputs, float_dtype(inputs)), doc="true division with broadcasting",
              dunder="truediv", tensor=("div",), numpy=("divide", "true_divide"), rows=elementwise_rows("numerator"))


def _log_base(x):
    """log of a pow base, 0 where the base is not positive (the result does not vary with y there)."""
    if isinstance(x, (int, float)):
        return math.log(x) if x > 0 else 0.0
    return where(x > 0, x, 1.0).log()


pow = _binary("pow", "**", (lambda g, out, x, y: g * y * x ** (y - 1), lambda g, out, x, y: g * out * _log_base(x)),
              dunder="pow", tensor=("pow",), numpy=("power",))

# ties split the gradient evenly, as PyTorch does
maximum = primitive(
    "maximum", batch=elementwise,
    infer=lambda inputs: elementwise_type(inputs), expr=lambda a, xp, out: [f"{xp}.maximum({a[0]}, {a[1]})"],
    vjp=(lambda g, out, x, y: where(x > y, g, where(x == y, g * 0.5, 0.0)),
         lambda g, out, x, y: where(y > x, g, where(x == y, g * 0.5, 0.0))),
    elementwise=True, doc="elementwise maximum with broadcasting", tensor="maximum", gg="maximum",
    numpy="maximum", numpy_fn=_numpy_binary("maximum"))

minimum = primitive(
    "minimum", batch=elementwise,
    infer=lambda inputs: elementwise_type(inputs), expr=lambda a, xp, out: [f"{xp}.minimum({a[0]}, {a[1]})"],
    vjp=(lambda g, out, x, y: where(x < y, g, where(x == y, g * 0.5, 0.0)),
         lambda g, out, x, y: where(y < x, g, where(x == y, g * 0.5, 0.0))),
    elementwise=True, doc="elementwise minimum with broadcasting", tensor="minimum", gg="minimum",
    numpy="minimum", numpy_fn=_numpy_binary("minimum"))


# -- comparisons (bool result, no gradient) --------------------------------------------------------
for _name, _symbol, _dunder, _numpy in (("lt", "<", "lt", "less"), ("le", "<=", "le", "less_equal"),
                                        ("gt", ">", "gt", "greater"), ("ge", ">=", "ge", "greater_equal"),
                                        ("eq", "==", "eq", "equal"), ("ne", "!=", "ne", "not_equal")):
    primitive(_name, batch=elementwise,
              infer=lambda inputs: elementwise_type(inputs, "bool"), expr=_binop(_symbol), nondiff=True,
                     elementwise=True, doc=f"elementwise x {_symbol} y, bool result", tensor=f"__{_dunder}__",
                     gg=_name, numpy=_numpy, numpy_fn=_numpy_binary(_name))

# -- unary functions --------------------------------------------------------------------------------
neg = unary("neg", lambda g, out, x: -g, float_result=False, expr=lambda a, xp, out: [f"-{a[0]}"],
            tensor=("neg", "__neg__"), numpy="negative", rows=elementwise_rows("sum"))
exp = unary("exp", lambda g, out, x: g * out)
expm1 = unary("expm1", lambda g, out, x: g * (out + 1), doc="exp(x) - 1, accurate for small x")
log = unary("log", lambda g, out, x: g / x)
log1p = unary("log1p", lambda g, out, x: g / (1 + x), doc="log(1 + x), accurate for small x")
sin = unary("sin", lambda g, out, x: g * x.cos())
cos = unary("cos", lambda g, out, x: -g * x.sin())
tan = unary("tan", lambda g, out, x: g * (1 + out * out))
# NumPy has no erf: Python's math.erf, vectorized (the generated module then imports math). CuPy compiles
# CUDA's erf into an elementwise kernel, so CuPy code still imports only cupy. Both compute in float64 and
# return the input's float dtype (float64 for integers, which codegen then casts as the type rule says).
erf = unary("erf", lambda g, out, x: g * (2 / math.sqrt(math.pi)) * (-x * x).exp(), numpy=(),
            expr=lambda a, xp, out: [
                (f"{xp}.frompyfunc(math.erf, 1, 1)({a[0]})" if xp == "np" else
                 f'{xp}.ElementwiseKernel("float64 x", "float64 y", "y = erf(x)", "graphgrad_erf")({a[0]})')
                + f".astype({xp}.result_type({a[0]}.dtype, {xp}.float32))"],
            doc="the error function, 2/sqrt(pi) * integral of exp(-t**2) from 0 to x")
tanh = unary("tanh", lambda g, out, x: g * (1 - out * out))
sqrt = unary("sqrt", lambda g, out, x: g / (2 * out))
# exp(-log(1 + exp(-x))) never overflows, unlike 1 / (1 + exp(-x)) for very negative x
sigmoid = unary("sigmoid", lambda g, out, x: g * out * (1 - out), numpy=(),
                expr=lambda a, xp, out: [f"{xp}.exp(-{xp}.logaddexp(0, -{a[0]}))"])
relu = unary("relu", lambda g, out, x: where(out > 0, g, 0.0), float_result=False, numpy=(),
             expr=lambda a, xp, out: [f"{xp}.maximum({a[0]}, 0)"])
abs = unary("abs", lambda g, out, x: g * x.sign(), float_result=False, numpy=("abs", "absolute"),
            tensor=("abs", "__abs__"))
sign = unary("sign", None, float_result=False)


# -- where, casts and the ops the compiler inserts ---------------------------------------------------
def _where_type(inputs):
    cond, x, y = inputs
    if is_type(cond) and cond.dtype != "bool":
        raise ShapeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
    return TensorType(broadcast_shapes(shape_of(cond), shape_of(x), shape_of(y)), result_dtype([x, y]))


def where(cond: TensorBase, x: TensorBase | float, y: TensorBase | float) -> TensorBase:
    """Elementwise select: ``x`` where ``cond`` is true, else ``y`` (differentiable in x and y).

    >>> import graphgrad as gg
    >>> x = gg.tensor([-1.0, 2.0])
    >>> gg.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    return bind("where", cond, x, y)


primitive("where", batch=elementwise,
          infer=_where_type, expr=lambda a, xp, out: [f"{xp}.where({a[0]}, {a[1]}, {a[2]})"],
          vjp=(None, lambda g, out, c, x, y: where(c, g, 0.0), lambda g, out, c, x, y: where(c, 0.0, g)),
          elementwise=True, doc="where(cond, x, y): x where cond else y, broadcasting all three",
          fn=where, gg="where", numpy="where")

primitive("cast", batch=elementwise,
          attrs=("dtype",), infer=lambda inputs, dtype: TensorType(inputs[0].shape, dtype_name(dtype)),
          expr=lambda a, xp, out, dtype: [f"{xp}.asarray({a[0]}).astype({xp}.{dtype})"],
          vjp=(lambda g, out, x, *, dtype: g._cast(x._type.dtype),), doc="convert to another dtype", rows=same_rows)
for _method, _dtype in (("float", "float32"), ("double", "float64"), ("long", "int64"), ("bool", "bool")):
    export((lambda d: lambda self: self._cast(d))(_dtype), "cast", tensor=_method)

primitive("full_like", batch=elementwise, attrs=("value",), infer=lambda inputs, value: inputs[0], nondiff=True,
          expr=lambda a, xp, out, value: [f"{xp}.full_like({a[0]}, {value!r})"],
          doc="a tensor shaped like the input, filled with value", rows=shape_rows)
primitive("stop_gradient", batch=elementwise,
          infer=lambda inputs: inputs[0], nondiff=True, expr=lambda a, xp, out: [a[0]],
          doc="identity whose gradient is zero (traced .detach())", rows=same_rows)
primitive("constant", attrs=("value", "dtype"), nondiff=True,
          infer=lambda inputs, value, dtype: TensorType(np.shape(value), dtype_name(dtype)),
          expr=lambda a, xp, out, value, dtype: [f"{xp}.array({value!r}, dtype={xp}.{dtype})"],
          doc="a literal array (value: nested lists) of a dtype")
primitive("full", attrs=("shape", "value", "dtype"), nondiff=True,
          infer=lambda inputs, shape, value, dtype: TensorType(tuple(shape), dtype_name(dtype)),
          expr=lambda a, xp, out, shape, value, dtype: [f"{xp}.full({tuple(shape)!r}, {value!r}, dtype={xp}.{dtype})"],
          doc="a new tensor of a shape filled with value (gg.zeros/ones/full/*_like inside a trace)")
primitive("arange", attrs=("start", "stop", "step", "dtype"), nondiff=True,
          infer=lambda inputs, start, stop, step, dtype: TensorType((len(np.arange(start, stop, step)),),
                                                                    dtype_name(dtype)),
          expr=lambda a, xp, out, start, stop, step, dtype: [
              f"{xp}.arange({start!r}, {stop!r}, {step!r}, dtype={xp}.{dtype})"],
          doc="start, start + step, ... below stop (gg.arange inside a trace)")


# -- composites: public names implemented with the primitives above -------------------------------
def square(x: TensorBase) -> TensorBase:
    """``x * x``."""
    return x * x


export(square, "square", tensor="square", gg="square", numpy="square")


def reciprocal(x: TensorBase) -> TensorBase:
    """``1 / x``, a float for integer input (as PyTorch).

    >>> import graphgrad as gg
    >>> gg.tensor([2.0, 4.0]).reciprocal()
    tensor([0.5000, 0.2500])
    """
    return 1.0 / x


export(reciprocal, "reciprocal", tensor="reciprocal", gg="reciprocal", numpy="reciprocal")


def rsqrt(x: TensorBase) -> TensorBase:
    """``1 / sqrt(x)``.

    >>> import graphgrad as gg
    >>> gg.tensor([4.0, 16.0]).rsqrt()
    tensor([0.5000, 0.2500])
    """
    return 1.0 / sqrt(x)


export(rsqrt, "rsqrt", tensor="rsqrt", gg="rsqrt")


def clamp(x: TensorBase, min=None, max=None) -> TensorBase:
    """Limit ``x`` to ``[min, max]`` (either bound may be None)."""
    out = x
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    return out


export(clamp, "clamp", tensor=("clamp", "clip"), gg=("clamp", "clip"),
       numpy="clip", numpy_fn=lambda a, a_min=None, a_max=None: clamp(a, a_min, a_max))
export(lambda a: a * 0, "zeros_like", numpy="zeros_like")
export(lambda a: a * 0 + 1, "ones_like", numpy="ones_like")
