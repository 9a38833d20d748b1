"""Elementwise ops: arithmetic, comparisons, unary functions, where, casts.

Each block declares one op: its type rule, gradient rule (Tensor API), array expression and public names.
Elementwise gradient rules ignore broadcasting: the caller sums each cotangent back to its input's shape.
"""
from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np

from ..codegen.expressions import literal
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, elementwise_type, float_dtype, is_type, numpy_semantics, \
    result_dtype, shape_of
from ..ir.types import SCALAR_NAMES, TensorType, dtype_name
from ..passes.row_decomposition import RowRule, elementwise_rows, same_rows, shape_rows
from ..passes.batching import elementwise, to_front
from . import numpy_functions
from .define import any_dtype_name, binary_numpy, built, call, constant_like, lift, operand, primitive, \
    tensors_only, unary


def _binop(symbol):
    return lambda a, xp, out: [f"{a[0]} {symbol} {a[1]}"]


def _reflected(op, quotient=False):
    def method(self, other):
        return bind(op, other, _divisor(other, self) if quotient else self)
    return method


def _numpy_binary(op):
    return binary_numpy(lambda a, b: bind(op, a, b))


def _binary(name, symbol, vjp, *, infer=None, dunder=None, gg=None, numpy=(), tensor=(), doc="", rows=None,
            c_expr=None, ufunc="", torch_name="", expr=None, errors=None, quotient=False, saves_result=True):
    """A broadcasting binary op ``x <symbol> y``; ``dunder`` names its operator methods (``add``: __add__,
    __radd__); ``gg`` its ``graphgrad.X`` names (default ``name``); ``ufunc`` names NumPy's ufunc for
    ``<symbol>``; ``quotient``: integers divided by zero raise (``_divisor``)."""
    doc = doc or f"elementwise x {symbol} y with broadcasting"
    fn = primitive(name, batch=elementwise,
                   infer=infer or (lambda inputs: elementwise_type(inputs)), expr=expr or _binop(symbol), vjp=vjp,
                   nondiff=vjp is None, elementwise=True, doc=doc,
                   tensor=tuple(tensor) + ((f"__{dunder}__",) if dunder else ()), gg=name if gg is None else gg,
                   numpy=numpy, numpy_fn=_numpy_binary(name), rows=rows, c_expr=c_expr,
                   ufunc=f"{ufunc}({{0}}, {{1}})" if ufunc else "", torch_name=torch_name, errors=errors,
                   fn=_binary_function(name, doc, quotient), saves_result=saves_result)
    if dunder:
        export(_reflected(name, quotient), name, tensor=f"__r{dunder}__")
    return fn


def _divisor(x, y):
    """``y``, checked to hold no zero where ``x`` and ``y`` are integers (``check_divisor``): PyTorch raises where
    NumPy's integer quotient and remainder give 0 (NumPy code keeps that). Float quotients give inf and nan."""
    types = [v._type if isinstance(v, TensorBase) else v for v in (x, y)]
    if np.dtype(result_dtype(types)).kind not in "iu" or numpy_semantics():
        return y
    if isinstance(y, TensorBase):
        return bind("check_divisor", y)
    if y == 0:
        raise RuntimeError("ZeroDivisionError")
    return y


def _binary_function(op: str, doc: str, quotient: bool = False) -> Callable:
    """``op(input, other)``, with PyTorch's argument names (``x.mul(other=2)``); a ``quotient`` refuses an integer
    divisor holding zero (``_divisor``)."""
    def fn(input, other):
        return bind(op, input, _divisor(input, other) if quotient else other)
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"{doc} (the ``{op}`` primitive)" + (
        "; integers divided by zero raise PyTorch's RuntimeError." if quotient else ".")
    return fn


primitive("check_above", memory="view", attrs=("bound", "inclusive", "message", "kind"),
          infer=lambda inputs, **attrs: inputs[0], batch=elementwise, rows=same_rows,
          errors=lambda arrays, error, **attrs: error, vjp=(lambda g, out, x, **attrs: g,),
          expr=lambda a, xp, out, bound, inclusive, message, kind: [
              f"check_above({a[0]}, {bound!r}, {inclusive!r}, {message!r}, {kind!r})"],
          helpers=(numpy_functions.check_above,),
          doc="x itself, once checked to lie above bound (else PyTorch's error message): an op's domain")


def check_above(x: TensorBase, bound: float, message: str, *, inclusive: bool = False,
                kind: str = "RuntimeError") -> TensorBase:
    """``x``, checked (eagerly now, in compiled code when it runs) to be greater than ``bound`` everywhere (or with
    ``inclusive`` nowhere below it), else PyTorch's ``message``, a ``kind`` error; the gradient passes through.

    >>> import graphgrad as gg
    >>> from graphgrad.ops.elementwise import check_above
    >>> check_above(gg.tensor([1.0, 2.0]), 0.5, "too small")
    tensor([1., 2.])
    """
    return bind("check_above", x, bound=float(bound), inclusive=bool(inclusive), message=message, kind=kind)
primitive("check_divisor", memory="view", nondiff=True, infer=lambda inputs: inputs[0], batch=elementwise,
          rows=same_rows, expr=lambda a, xp, out: [f"check_divisor({a[0]})"], errors=lambda arrays, error: error,
          helpers=(numpy_functions.check_divisor,),
          doc="y itself, once checked to hold no zero (else PyTorch's RuntimeError): an integer divisor")


# -- arithmetic ---------------------------------------------------------------------------------
add = _binary("add", "+", (lambda g, out, x, y: g, lambda g, out, x, y: g),
              dunder="add", numpy=("add",), ufunc="add", c_expr="({0} + {1})", rows=RowRule(elementwise_rows("sum"), additive=True))

sub = _binary("sub", "-", (lambda g, out, x, y: g, lambda g, out, x, y: -g),
              dunder="sub", gg=("sub", "subtract"), numpy=("subtract",), ufunc="subtract", c_expr="({0} - {1})", rows=RowRule(elementwise_rows("sum"), additive=True))


def _with_alpha(op: str):
    def method(self, other, *, alpha=1):
        return bind(op, self, other if alpha == 1 else other * alpha)
    method.__name__ = method.__qualname__ = op
    method.__doc__ = f"PyTorch's ``Tensor.{op}(other, alpha=1)``: ``self {'+' if op == 'add' else '-'} alpha * other``."
    return method


export(_with_alpha("add"), "add", tensor="add")
export(_with_alpha("sub"), "sub", tensor=("sub", "subtract"))

mul = _binary("mul", "*", (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
              dunder="mul", tensor=("mul", "multiply"), gg=("mul", "multiply"), numpy=("multiply",), ufunc="multiply", c_expr="({0} * {1})", rows=elementwise_rows("scale"))

# the divisor's gradient is PyTorch's -g (x / y) / y, from the quotient: one product fewer than -g x / (y y), no
# y * y to overflow or underflow, and PyTorch's infinities where y is 0 (1 / y: +-inf at second order, not nan).
# PyTorch's backward computes x / y again (it keeps x and y): the quotient may be changed in place before backward
div = _binary("div", "/", (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * out / y), saves_result=False,
              infer=lambda inputs: elementwise_type(inputs, float_dtype(inputs)), doc="true division with broadcasting",
              dunder="truediv", gg=("div", "divide", "true_divide"), numpy=("divide", "true_divide"), ufunc="divide", c_expr="({0} / {1})", rows=elementwise_rows("numerator"))

# rounded quotients: piecewise constant (zero gradient, as PyTorch's div with a rounding mode), in the promoted
# dtype (int64 // int64 stays int64); // rounds toward -inf as Python, NumPy and PyTorch do
floor_divide = _binary("floor_divide", "//", None, dunder="floordiv", tensor=("floor_divide",),
                       numpy=("floor_divide",), ufunc="floor_divide", doc="x // y: the quotient rounded toward -inf",
                       torch_name="DivBackward2", quotient=True)  # div(rounding_mode=...)


def _trunc_divide_expr(a, xp, out, integer):
    if integer:  # exact for any int64, where trunc(x / y) would round through float64: the floor quotient, one
        # up where it is negative and not exact (no sign() or abs(), which refuse a bool operand)
        q = f"{out}_floor"
        return [f"{q} = {a[0]} // {a[1]}", f"{q} + (({q} < 0) & ({q} * {a[1]} != {a[0]}))"]
    return [f"{xp}.trunc({a[0]} / {a[1]})"]


primitive("trunc_divide", batch=elementwise, attrs=("integer",), elementwise=True, nondiff=True, torch_name="DivBackward2",
          infer=lambda inputs, integer: elementwise_type(inputs), expr=_trunc_divide_expr,
          doc="the quotient x / y rounded toward zero (div's rounding_mode='trunc')")


def _div(x, other, *, rounding_mode=None):
    """PyTorch's ``Tensor.div(other, rounding_mode=None)``: true division, or the quotient rounded ``"floor"``
    (toward -inf, ``//``) or ``"trunc"`` (toward zero), in the promoted dtype, with a zero gradient."""
    if rounding_mode is None:
        return bind("div", x, other)
    if rounding_mode == "floor":
        return bind("floor_divide", x, _divisor(x, other))
    if rounding_mode == "trunc":
        integer = result_dtype([v._type if isinstance(v, TensorBase) else v for v in (x, other)]) in ("int64", "bool")
        return bind("trunc_divide", x, _divisor(x, other), integer=integer)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                       f"'{rounding_mode}'")


_div.__name__ = _div.__qualname__ = "div"
export(_div, "div", tensor=("div", "divide"))
export(lambda self, other: self / other, "div", tensor="true_divide")  # (no rounding_mode, as PyTorch's)


def _pow_grad_exponent(g, out, x, y):
    """PyTorch's pow_backward_exponent: ``g x**y log(x)``, but 0 where ``x == 0`` and ``y >= 0`` (``0 ** y`` does
    not vary there); for ``y < 0`` it is ``inf * log(0)``, -inf (+inf for a -0.0 base and an odd y), and for a
    negative base nan: ``(-2) ** y`` is real only at integer y and has no derivative in y, which a silent 0 would
    hide. The inner where keeps the untaken log(0) out of second derivatives."""
    if isinstance(x, (int, float)):
        if x == 0:
            return g * where(y >= 0, 0.0, out * -math.inf)
        return g * out * (math.log(x) if x > 0 else math.nan)
    flat = (x == 0) & (y >= 0)
    return g * where(flat, 0.0, out * where(flat, 1.0, x).log())


def _pow_grad_base(g, out, x, y):
    """y x^(y-1), and 0 where y is 0 (PyTorch's and autograd's convention): x^0 is constant in x, although
    0 * 0^-1 is nan, and 0 * nan^-1 too. Only there (y = 0 and x 0 or nan) is the exponent y - 1 replaced, by 1 at
    x = 0 (no inf computed that a further derivative would multiply by 0) and by 0 at a nan (nan^0 = 1); elsewhere
    it stays y - 1, whose dependence on y a second derivative needs: d/dy (y x^(y-1)) = x^(y-1) (1 + y log x), 1/x
    at y = 0 (JAX's value)."""
    if isinstance(y, (int, float)):  # (zeros, not g * 0: an inf in g must not make a nan)
        return g * y * x ** (y - 1) if y != 0 else bind("full_like", g, value=0)
    if isinstance(x, (int, float)):
        return g * y * x ** (where(y == 0, 1.0, y - 1) if x == 0 else y - 1)
    return g * y * x ** where(y == 0, where(x == 0, 1.0, where(x != x, 0.0, y - 1)), y - 1)


def _pow_expr(a, xp, out):
    """``x ** y``, a negative literal base in parentheses: ``-3 ** y`` would be ``-(3 ** y)`` (``**`` binds
    tighter than unary minus), which generated code computed for ``(-3) ** x``."""
    base = f"({a[0]})" if a[0].startswith("-") else a[0]
    return [f"{base} ** {a[1]}"]


def _pow_errors(arrays, error):
    """NumPy's ValueError for an integer to a negative integer power, as PyTorch's RuntimeError."""
    if isinstance(error, ValueError) and "Integers to negative integer powers" in str(error):
        return RuntimeError("Integers to negative integer powers are not allowed.")
    return None


pow = _binary("pow", "**", (_pow_grad_base, _pow_grad_exponent), expr=_pow_expr,
              errors=_pow_errors,
              dunder="pow", tensor=("pow",), numpy=("power",), ufunc="power", c_expr="pow({0}, {1})",
              # PyTorch's pow(Tensor, Scalar) is PowBackward0, pow(Tensor, Tensor) PowBackward1, pow(Scalar, Tensor)
              # PowBackward2
              torch_name=lambda attrs, in_types: f"PowBackward{2 if in_types[0] is None else int(None not in in_types)}")

# PyTorch's rules: ties split the gradient evenly, and an operand gets all of it unless it lost, so where a nan
# makes every comparison false both operands get it (not 0)
maximum = primitive(
    "maximum", batch=elementwise,
    infer=lambda inputs: elementwise_type(inputs), expr=lambda a, xp, out: [f"{xp}.maximum({a[0]}, {a[1]})"],
    vjp=(lambda g, out, x, y: where(x == y, g * 0.5, where(x < y, 0.0, g)),
         lambda g, out, x, y: where(x == y, g * 0.5, where(x > y, 0.0, g))),
    elementwise=True, doc="elementwise maximum with broadcasting", c_expr="({0} > {1} || {0} != {0} ? {0} : {1})", tensor="maximum", gg="maximum",
    numpy="maximum", numpy_fn=_numpy_binary("maximum"), ufunc="maximum({0}, {1})")

minimum = primitive(
    "minimum", batch=elementwise,
    infer=lambda inputs: elementwise_type(inputs), expr=lambda a, xp, out: [f"{xp}.minimum({a[0]}, {a[1]})"],
    vjp=(lambda g, out, x, y: where(x == y, g * 0.5, where(x > y, 0.0, g)),
         lambda g, out, x, y: where(x == y, g * 0.5, where(x < y, 0.0, g))),
    elementwise=True, doc="elementwise minimum with broadcasting", c_expr="({0} < {1} || {0} != {0} ? {0} : {1})", tensor="minimum", gg="minimum",
    numpy="minimum", numpy_fn=_numpy_binary("minimum"), ufunc="minimum({0}, {1})")


# -- comparisons (bool result, no gradient) --------------------------------------------------------
# (PyTorch's method aliases: x.greater(y) is x.gt(y); x.eq is elementwise, x.equal a single bool)
for _name, _symbol, _numpy, _aliases in (("lt", "<", "less", ("less",)), ("le", "<=", "less_equal", ("less_equal",)),
                                         ("gt", ">", "greater", ("greater",)),
                                         ("ge", ">=", "greater_equal", ("greater_equal",)),
                                         ("eq", "==", "equal", ()), ("ne", "!=", "not_equal", ("not_equal",))):
    primitive(_name, batch=elementwise, c_expr="({0} %s {1})" % _symbol,
              infer=lambda inputs: elementwise_type(inputs, "bool"), expr=_binop(_symbol), nondiff=True,
              elementwise=True, doc=f"elementwise x {_symbol} y, bool result",
              tensor=(f"__{_name}__", _name) + _aliases, gg=_name, numpy=_numpy, numpy_fn=_numpy_binary(_name))

# -- tests of a float's class (bool result, no gradient): torch.isnan(loss), ... -----------------------------------
for _name, _doc in (("isnan", "x is NaN"), ("isinf", "x is +inf or -inf"), ("isfinite", "x is neither NaN nor infinite"),
                    ("isposinf", "x is +inf"), ("isneginf", "x is -inf"), ("signbit", "x's sign bit is set (-0.0 too)")):
    primitive(_name, batch=elementwise, infer=lambda inputs: elementwise_type(inputs, "bool"), expr=call(_name),
              nondiff=True, elementwise=True, doc=f"elementwise: {_doc}, a bool result", tensor=_name, gg=_name,
              numpy=_name)

# -- bitwise and logical (no gradient) -------------------------------------------------------------------
# Declared here, not eager-only, so that `(x > 0) & (x < 1)` is recorded in traced code too
def _integral_type(kernel: str, *, bools: bool = True):
    """The type rule of an op PyTorch has for integer operands only (and bool ones with ``bools``: &, |, ^, ~, not
    gcd or <<): PyTorch's NotImplementedError naming its kernel (``"bitwise_and"``, ``"gcd"``, ``"lshift"``) for
    another promoted dtype."""
    def infer(inputs):
        dtype = result_dtype(list(inputs))
        if dtype != "int64" and not (bools and dtype == "bool"):
            raise NotImplementedError(f'"{kernel}_cpu" not implemented for \'{SCALAR_NAMES[dtype]}\'')
        return elementwise_type(inputs)
    return infer


for _name, _symbol, _dunder in (("bitwise_and", "&", "and"), ("bitwise_or", "|", "or"), ("bitwise_xor", "^", "xor")):
    # (no ufunc=: masks are small, and their buffers are not worth reusing)
    _binary(_name, _symbol, None, infer=_integral_type(_name), dunder=_dunder, tensor=(_name,), numpy=(_name,),
            c_expr="({0} %s {1})" % _symbol, doc=f"elementwise x {_symbol} y of bool or integer tensors")
bitwise_not = primitive("bitwise_not", batch=elementwise, infer=_integral_type("bitwise_not"), nondiff=True,
                        elementwise=True, expr=lambda a, xp, out: [f"{xp}.invert({a[0]})"],
                        doc="elementwise ~x of a bool or integer tensor (logical not of bools)",
                        tensor="bitwise_not", gg="bitwise_not", numpy=("invert", "bitwise_not"))


def _invert(x: TensorBase) -> TensorBase:
    if x.is_floating_point():  # the operator's own error in PyTorch, not bitwise_not's
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return bitwise_not(x)


export(_invert, "bitwise_not", tensor="__invert__")
for _name, _c in (("logical_and", "({0} && {1})"), ("logical_or", "({0} || {1})"), ("logical_xor", "(!{0} != !{1})")):
    primitive(_name, batch=elementwise, infer=lambda inputs: elementwise_type(inputs, "bool"), nondiff=True,
              elementwise=True, expr=(lambda n: lambda a, xp, out: [f"{xp}.{n}({a[0]}, {a[1]})"])(_name), c_expr=_c,
              doc=f"elementwise {_name[8:]} of the operands' truth, bool result",
              tensor=_name, gg=_name, numpy=_name, numpy_fn=_numpy_binary(_name))
logical_not = primitive("logical_not", batch=elementwise, infer=lambda inputs: elementwise_type(inputs, "bool"),
                        nondiff=True, elementwise=True, expr=lambda a, xp, out: [f"{xp}.logical_not({a[0]})"],
                        c_expr="(!{0})", doc="elementwise not of x's truth, bool result",
                        tensor="logical_not", gg="logical_not", numpy="logical_not")

# -- unary functions --------------------------------------------------------------------------------
neg = unary("neg", lambda g, out, x: -g, float_result=False, expr=lambda a, xp, out: [f"-{a[0]}"], c_expr="(-{0})",
            tensor=("neg", "__neg__", "negative"), gg=("neg", "negative"), numpy="negative",
            rows=elementwise_rows("sum"), ufunc="negative({0})",
            errors=lambda arrays, error: RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
                "use the `~` or `logical_not()` operator instead.") if arrays[0].dtype == bool else None)
exp = unary("exp", lambda g, out, x: g * out, c_expr="exp({0})")
# the gradient is exp(x), not PyTorch's out + 1, which cancels to 0 below x = -37 (float32: -17): elu's gradient there
expm1 = unary("expm1", lambda g, out, x: g * exp(x), c_expr="expm1({0})", doc="exp(x) - 1, accurate for small x")
log = unary("log", lambda g, out, x: g / x, c_expr="log({0})")
log1p = unary("log1p", lambda g, out, x: g / (1 + x), c_expr="log1p({0})", doc="log(1 + x), accurate for small x",
              torch_name="Log1PBackward0")  # PyTorch capitalizes a letter after a digit
sin = unary("sin", lambda g, out, x: g * x.cos(), c_expr="sin({0})")
cos = unary("cos", lambda g, out, x: -g * x.sin(), c_expr="cos({0})")
tan = unary("tan", lambda g, out, x: g * (1 + out * out))
# NumPy has no erf: a NumPy module defines numpy_functions.erf (fdlibm's algorithm, vectorized), which computes in
# float64 and returns the input's float dtype (float64 for integers, which codegen then casts as the type rule
# says). CuPy compiles CUDA's erf into an elementwise kernel, so CuPy code still imports only cupy (the kernel's
# float64 parameter takes only float64 arrays: CuPy refuses any other dtype, so the input is cast first).
erf = unary("erf", lambda g, out, x: g * (2 / math.sqrt(math.pi)) * (-x * x).exp(), numpy=(), memory="unknown",
            recompute="never", helpers=(numpy_functions.erf, numpy_functions.erf_ranges), gg=("erf", "special.erf"),
            expr=lambda a, xp, out: [
                f"erf({a[0]})" if xp == "np" else
                f'{xp}.ElementwiseKernel("float64 x", "float64 y", "y = erf(x)", "graphgrad_erf")('
                f'{a[0]}.astype({xp}.float64, copy=False)).astype({xp}.result_type({a[0]}.dtype, {xp}.float32))'],
            doc="the error function, 2/sqrt(pi) * integral of exp(-t**2) from 0 to x")
tanh = unary("tanh", lambda g, out, x: g * (1 - out * out), c_expr="tanh({0})")
sqrt = unary("sqrt", lambda g, out, x: g / (2 * out), c_expr="sqrt({0})")
# PyTorch's formula, in the input's dtype: below -88.7 (float32) or -709.8 (float64) exp(-x) overflows to inf and the
# result is 0, as PyTorch's (graphgrad runs generated code with floating-point warnings off, as eager code). The
# overflow-free exp(-logaddexp(0, -x)) took 12-20x as long: NumPy's logaddexp is a scalar loop, exp a vector one.
sigmoid = unary("sigmoid", lambda g, out, x: g * out * (1 - out), numpy=(), c_expr="(1 / (1 + exp(-{0})))",
                expr=lambda a, xp, out: [f"1 / (1 + {xp}.exp(-{a[0]}))"])
# the gradient as a product with the mask: NumPy multiplies (in place of a dying g) many times faster than where()
# selects; + 0.0 turns the -0.0 of a negative g times 0 into PyTorch's 0. It differs from where(out > 0, g, 0)
# only for a non-finite g where out <= 0. (The compiler moves the + 0.0 past sums and drops it before products.)
# The mask is PyTorch's threshold_backward, "not out <= 0", so a nan passes the gradient; relu's result is never
# negative, so that is out != 0, as cheap as out > 0.
relu = unary("relu", lambda g, out, x: g * (out != 0) + 0.0, float_result=False, numpy=(),
             c_expr="({0} <= 0 ? 0 : {0})",
             expr=lambda a, xp, out: [f"{xp}.maximum({a[0]}, 0)"], ufunc="maximum({0}, 0)")
_numpy_sign = unary("sign", None, float_result=False, tensor=(), gg=())  # NumPy's: nan stays nan
# PyTorch's sign: (x > 0) - (x < 0), so 0 for nan; the comparisons and the int8 difference are vector loops, NumPy's
# sign is not, so this is quicker than np.sign (128 x 512 float32: 22 us, np.sign 28 us, np.sign and a where for
# the nans 86 us, the difference in float32 directly 30 us)
primitive("sgn", batch=elementwise, infer=lambda inputs: elementwise_type(inputs), nondiff=True, elementwise=True,
          expr=lambda a, xp, out: [f"{xp}.subtract({a[0]} > 0, {a[0]} < 0, dtype={xp}.int8).astype({a[0]}.dtype)"],
          c_expr="(({0} > 0) - ({0} < 0))", torch_name="SignBackward0",
          doc="-1, 0 or 1 as x is negative, zero or positive, and 0 for nan (PyTorch's sign)")
# PyTorch's abs backward: grad * sgn(x), 0 at 0 and at nan
abs = unary("abs", lambda g, out, x: g * bind("sgn", x), float_result=False, numpy=("abs", "absolute"),
            tensor=("abs", "__abs__", "absolute"), gg=("abs", "absolute"))


def sign(x: TensorBase) -> TensorBase:
    """-1, 0 or 1 as ``x`` is negative, zero or positive; 0 for nan, as PyTorch's (``graphgrad.numpy.sign`` is
    NumPy's: nan).

    >>> import graphgrad as gg
    >>> gg.tensor([-2.0, 0.0, float("nan"), 3.0]).sign()
    tensor([-1.,  0.,  0.,  1.])
    """
    return bind("sgn", x) if x._type.dtype != "bool" else _numpy_sign(x)


export(sign, "sign", tensor="sign", gg="sign")


# -- special functions NumPy lacks (PyTorch's, and torch.special's names) ---------------------------------------------
# Their NumPy algorithms are functions of ops/numpy_functions.py that a generated NumPy module defines for itself (as
# erf's): each computes in float64 and returns the input's float dtype (float64 for integers, which codegen then
# casts as the type rule says). CuPy compiles CUDA's own function into an elementwise kernel (lgamma, erfc, erfinv,
# cyl_bessel_i0, cyl_bessel_i1), or for digamma and polygamma, which CUDA lacks, the C of the same algorithm below,
# so CuPy modules still import only cupy. Declared like erf: memory "unknown", never recomputed (costly).
def _special(helper: str, cuda: str, preamble: Callable | None = None) -> Callable:
    """The expression of a special function: NumPy's ``helper(x)`` (``numpy_functions``; ``helper(n, x)`` given the
    attribute ``n``); CuPy's ``cp.ElementwiseKernel`` computing the C function ``cuda`` of x, CUDA's or the one
    ``preamble(**attrs)`` defines, over x cast to float64 (a kernel takes only arrays of its parameter's dtype), the
    result cast back to x's float dtype."""
    def expr(a, xp, out, **attrs):
        if xp == "np":
            return [f"{helper}({''.join(f'{v}, ' for v in attrs.values())}{a[0]})"]
        name = cuda + "".join(f"_{v}" for v in attrs.values())  # (polygamma: one kernel per order)
        kernel = (f'{xp}.ElementwiseKernel("float64 x", "float64 y", "y = {name}(x)", '
                  f'"{name if name.startswith("graphgrad_") else "graphgrad_" + name}"')
        call = f"({a[0]}.astype({xp}.float64, copy=False)).astype({xp}.result_type({a[0]}.dtype, {xp}.float32))"
        if preamble is None:
            return [f"{kernel}){call}"]
        return [f'{out}_kernel = {kernel}, preamble=r"""{preamble(**attrs)}""")', f"{out}_kernel{call}"]
    return expr


def _unary_special(name: str, vjp: Callable, doc: str, cuda: str, preamble: Callable | None = None,
                   **names) -> Callable:
    """A unary special function ``name``: the ``numpy_functions`` helper of that name (and those it calls) for NumPy,
    CUDA's ``cuda`` for CuPy; published as ``Tensor.name`` and ``graphgrad.name`` unless ``names`` say otherwise."""
    helper = getattr(numpy_functions, name)
    helpers = (helper,) + tuple(getattr(numpy_functions, h) for h in _HELPERS_CALLED.get(name, ()))
    return unary(name, vjp, expr=_special(name, cuda, preamble), doc=doc, memory="unknown", recompute="never",
                 helpers=helpers, **{"numpy": (), **names})


#: the other helpers each one calls (a generated module defines them too)
_HELPERS_CALLED = {"erfc": ("erf_ranges",), "erfinv": ("erf", "erfc", "erf_ranges"), "digamma": ("cot_pi",),
                   "polygamma": ("cot_pi",), "i0": ("bessel_i", "chebyshev"), "i1": ("bessel_i", "chebyshev")}

# cot(pi x) as numpy_functions.cot_pi computes it; digamma's C as numpy_functions.digamma (Cephes' psi, SciPy's: the
# reflection, steps into [1, 2], Boost's rational function about the positive zero there, the asymptotic series from
# 10 on)
_COT_PI_C = """
__device__ double graphgrad_cot_pi(double x) {  // cot(pi x): pi (1/2 - |r|) is exact where pi r would lose digits
    const double pi = 3.141592653589793;
    double r = x - round(x), a = fabs(r);
    return a <= 0.25 ? 1.0 / tan(pi * r) : copysign(tan(pi * (0.5 - a)), r);
}"""
_DIGAMMA_C = _COT_PI_C + """
__device__ double graphgrad_digamma(double x) {
    double y = 0.0, s = 0.0;
    if (x == 0.0) return -1.0 / x;  // -inf at +0.0, inf at -0.0
    if (x < 0.0) {
        if (x == round(x)) return nan("");  // the negative integers and -inf
        y = -3.141592653589793 * graphgrad_cot_pi(x);
        x = 1.0 - x;
    }
    if (x < 1.0) {
        y -= 1.0 / x;
        x += 1.0;
    } else if (x < 10.0) {
        while (x > 2.0) {
            x -= 1.0;
            s += 1.0 / x;
        }
        y += s;
    }
    if (x <= 2.0) {  // (x - zero) (Y + P(x - 1) / Q(x - 1)), the zero 1.4616... in three parts
        double g = x - 1569415565.0 / 1073741824.0;
        g -= (381566830.0 / 1073741824.0) / 1073741824.0;
        g -= 0.9016312093258695918615325266959189453125e-19;
        double t = x - 1.0;
        double p = ((((-0.0020713321167745952 * t - 0.045251321448739056) * t - 0.28919126444774784) * t
                     - 0.65031853770896507) * t - 0.32555031186804491) * t + 0.25479851061131551;
        double q = (((((-0.55789841321675513e-6 * t + 0.0021284987017821144) * t + 0.054151797245674225) * t
                      + 0.43593529692665969) * t + 1.4606242909763515) * t + 2.0767117023730469) * t + 1.0;
        return y + (g * 0.99558162689208984 + g * (p / q));
    }
    double z = 1.0 / (x * x);  // log(x) - 1 / (2 x) - sum of B_2k / (2k x^2k), k <= 7 (nan, inf pass)
    double t = ((((((8.33333333333333333333e-2 * z - 2.10927960927960927961e-2) * z + 7.57575757575757575758e-3) * z
                   - 4.16666666666666666667e-3) * z + 3.96825396825396825397e-3) * z - 8.33333333333333333333e-3) * z
                + 8.33333333333333333333e-2) * z;
    return y + (log(x) - 0.5 / x - t);
}
"""


def _polygamma_c(n: int) -> str:
    """polygamma's C for order ``n``, as numpy_functions.polygamma: ``(-1)^(n+1) n! zeta(n + 1, x)``, the Hurwitz
    zeta function summed directly below a bound and by its Euler-Maclaurin series (12 terms) beyond; the reflection
    through the n-th derivative of cot for negative x."""
    return _COT_PI_C + f"""
__device__ double graphgrad_polygamma_{n}(double x) {{
    const int n = {n};
    const double sign = n % 2 ? 1.0 : -1.0;  // (-1)^(n+1)
    if (x != x) return x;
    if (x <= 0.0 && x == round(x)) return sign * -log(0.0);  // the poles 0, -1, ..., -inf: +-inf
    // B_2j / (2j)!, j = 1..13, and e_j = B_2j / (2j)! (n + 1) (n + 2) ... (n + 2j - 1)
    const double b[13] = {{1.0 / 12, -1.0 / 720, 1.0 / 30240, -1.0 / 1209600, 1.0 / 47900160, -691.0 / 1307674368000,
        1.0 / 74724249600, -3617.0 / 10670622842880000, 43867.0 / 5109094217170944000,
        -174611.0 / 802857662698291200000.0, 77683.0 / 14101100039391805440000.0,
        -236364091.0 / 1693824136731743669452800000.0, 657931.0 / 186134520519971831808000000.0}};
    double e[13], rising = n + 1.0;
    for (int j = 0; j < 13; j++) {{
        if (j) rising *= (double)(n + 2 * j + 1) * (n + 2 * j);
        e[j] = b[j] * rising;
    }}
    // the direct sum runs up to where the series' 13th term is below 1e-17 of its first (8 to 1000)
    double bound = fmax(8.0, ceil(fmin(pow(fabs(e[12]) * n * 1e17, 1.0 / 26), 1000.0)));
    double factorial = 1.0;
    for (int k = 2; k <= n; k++) factorial *= k;
    double v = x < 0.0 ? 1.0 - x : x, s = 0.0;
    if (v < bound) {{  // the direct terms, smallest first
        double steps = ceil(bound - v);
        for (double k = steps - 1.0; k >= 0.0; k -= 1.0) s += pow(v + k, -(n + 1.0));
        v += steps;
    }}
    double w = 1.0 / (v * v), series = e[11];
    for (int j = 10; j >= 0; j--) series = series * w + e[j];
    double y = sign * factorial * (s + pow(v, -(double)n) * (1.0 / n + 0.5 / v + series * w));
    if (x < 0.0) {{  // (-1)^n psi_n(1 - x) - pi^(n+1) P_n(cot(pi x)), P_0(c) = c, P_k+1(c) = -(1 + c^2) P_k'(c)
        double p[{n + 2}] = {{0.0, 1.0}}, d[{n + 2}];
        for (int k = 1; k <= n; k++) {{  // P_k has degree k + 1
            for (int i = 0; i <= k; i++) d[i] = (i + 1) * p[i + 1];
            for (int i = 0; i <= k + 1; i++) p[i] = -((i <= k - 1 ? d[i] : 0.0) + (i >= 2 ? d[i - 2] : 0.0));
        }}
        double c = graphgrad_cot_pi(x), value = 0.0;
        for (int i = n + 1; i >= 0; i--) value = value * c + p[i];
        y = -sign * y - pow(3.141592653589793, n + 1.0) * value;
    }}
    return y;
}}
"""


erfc = _unary_special(
    "erfc", lambda g, out, x: g * (-2 / math.sqrt(math.pi)) * (-x * x).exp(), cuda="erfc",
    doc="the complementary error function 1 - erf(x), without its cancellation", gg=("erfc", "special.erfc"))
digamma = _unary_special(
    "digamma", lambda g, out, x: g * bind("polygamma", x, n=1), cuda="graphgrad_digamma",
    preamble=lambda: _DIGAMMA_C, doc="the digamma function d/dx lgamma(x): -inf at 0, nan at the negative integers",
    gg=("digamma", "special.digamma", "special.psi"))
lgamma = _unary_special(
    "lgamma", lambda g, out, x: g * digamma(x), cuda="lgamma",
    doc="log(|gamma(x)|): inf at 0, the negative integers and +-inf", gg=("lgamma", "special.gammaln"))
# the gradient from the result: sqrt(pi) / 2 exp(erfinv(x)^2), inf at +-1 (PyTorch's, which computes erfinv(x)
# again: the result may be changed in place before backward, when eager backward computes it again from x)
erfinv = _unary_special(
    "erfinv", lambda g, out, x: g * (math.sqrt(math.pi) / 2) * (out * out).exp(), cuda="erfinv", saves_result=False,
    doc="the inverse of erf on [-1, 1]: +-inf at +-1, nan outside", gg=("erfinv", "special.erfinv"))
i1 = _unary_special(  # PyTorch's gradient i0(x) - i1(x) / x, and its limit 1/2 where |x| is within an eps of 0
    "i1", lambda g, out, x: g * _i1_slope(out, x), cuda="cyl_bessel_i1", torch_name="SpecialI1Backward0",
    doc="the modified Bessel function of the first kind of order 1", tensor=(), gg=("special.i1",))
i0 = _unary_special(
    "i0", lambda g, out, x: g * i1(x), cuda="cyl_bessel_i0", numpy="i0",
    doc="the modified Bessel function of the first kind of order 0", gg=("i0", "special.i0"))


erfc.__doc__ = """The complementary error function ``1 - erf(x)``, without its cancellation (``erfc(10)`` is
2.1e-45, not 0); integers give the default float dtype. The gradient is ``-2 / sqrt(pi) exp(-x^2)``.

>>> import graphgrad as gg
>>> gg.erfc(gg.tensor([0.0, 1.0, 10.0], dtype=gg.float64))
tensor([1.0000e+00, 1.5730e-01, 2.0885e-45], dtype=torch.float64)
"""
lgamma.__doc__ = """``log(|gamma(x)|)``: inf at 0, at the negative integers and at +-inf, as PyTorch's; integers give
the default float dtype. The gradient is ``digamma(x)``.

>>> import graphgrad as gg
>>> gg.lgamma(gg.tensor([0.5, 1.0, 0.0, -1.0, -1.5]))
tensor([0.5724, 0.0000,    inf,    inf, 0.8600])
"""
digamma.__doc__ = """The digamma function ``d/dx lgamma(x)``: -inf at 0 (+inf at -0.0), nan at the negative
integers and -inf, as PyTorch's; integers give the default float dtype. The gradient is ``polygamma(1, x)``.

>>> import graphgrad as gg
>>> gg.digamma(gg.tensor([1.0, 0.5, 0.0, -1.0]))
tensor([-0.5772, -1.9635,    -inf,     nan])
"""
erfinv.__doc__ = """The inverse of erf: +-inf at +-1, nan outside [-1, 1]; integers give the default float dtype.
The gradient is ``sqrt(pi) / 2 exp(erfinv(x)^2)``.

>>> import graphgrad as gg
>>> gg.erfinv(gg.tensor([0.0, 0.5, 1.0, -1.0, 2.0]))
tensor([0.0000, 0.4769,    inf,   -inf,    nan])
"""
i0.__doc__ = """The modified Bessel function of the first kind of order 0 (``torch.i0``, ``numpy.i0``); integers give
the default float dtype. The gradient is ``i1(x)`` (``graphgrad.special.i1``).

>>> import graphgrad as gg
>>> gg.i0(gg.tensor([0.0, 1.0, -2.0]))
tensor([1.0000, 1.2661, 2.2796])
"""
i1.__doc__ = """The modified Bessel function of the first kind of order 1 (``torch.special.i1``), odd in x. The
gradient is ``i0(x) - i1(x) / x``, 1/2 at 0.

>>> import graphgrad as gg
>>> gg.special.i1(gg.tensor([0.0, 1.0, -2.0]))
tensor([ 0.0000,  0.5652, -1.5906])
"""


def _i1_slope(out: TensorBase, x: TensorBase) -> TensorBase:
    tiny = x.abs() <= float(np.finfo(x._type.dtype).eps)
    return where(tiny, 0.5, i0(x) - out / where(tiny, 1.0, x))  # (no 0 / 0: its gradient would be nan)


def polygamma(n: int, input: TensorBase) -> TensorBase:
    """The n-th derivative of the digamma function, ``polygamma(0, x)`` being digamma (PyTorch's signature: the
    order first; ``Tensor.polygamma(n)``). Integers give the default float dtype; at 0 and the negative integers
    ``(-1)^(n+1) inf`` (n >= 1). The gradient is ``polygamma(n + 1, x)``.

    >>> import graphgrad as gg
    >>> gg.polygamma(1, gg.tensor([1.0, 0.5]))
    tensor([1.6449, 4.9348])
    >>> gg.polygamma(2, gg.tensor([1.0, 0.5]))
    tensor([ -2.4041, -16.8288])
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n == 0:
        return digamma(input)._shown_as("PolygammaBackward0")
    return bind("polygamma", input, n=int(n))


primitive("polygamma", attrs=("n",), batch=elementwise, elementwise=True, memory="unknown", recompute="never",
          infer=lambda inputs, n: elementwise_type(inputs, float_dtype(inputs)),
          vjp=(lambda g, out, x, *, n: g * bind("polygamma", x, n=n + 1),),
          expr=_special("polygamma", "graphgrad_polygamma", _polygamma_c),
          helpers=(numpy_functions.polygamma, numpy_functions.cot_pi),
          doc="the n-th derivative of digamma, n >= 1 (polygamma(0, x) is digamma)",
          fn=polygamma, gg=("polygamma", "special.polygamma"))
export(lambda self, n: polygamma(n, self), "polygamma", tensor="polygamma")


def mvlgamma(input: TensorBase, p: int) -> TensorBase:
    """The multivariate log-gamma function of dimension ``p``, ``log(pi) p (p - 1) / 4 + sum of lgamma(x - i / 2)``
    over ``i < p`` (PyTorch's ``mvlgamma``, ``torch.special.multigammaln``); integers give the default float dtype.
    Every element must exceed ``(p - 1) / 2`` (PyTorch's RuntimeError otherwise, in compiled code too:
    ``check_above``).

    >>> import graphgrad as gg
    >>> gg.mvlgamma(gg.tensor([2.5, 3.0]), 2)
    tensor([0.8570, 1.5502])
    """
    if p < 1:  # (PyTorch's order: p first)
        raise RuntimeError("p has to be greater than or equal to 1")
    x = check_above(input._cast(float_dtype([input._type])), 0.5 * (p - 1), "All elements must be greater than (p-1)/2")
    total = x.lgamma()
    for i in range(1, p):
        total = total + (x - 0.5 * i).lgamma()
    return (total + math.log(math.pi) * p * (p - 1) / 4)._shown_as("MvlgammaBackward0")


export(mvlgamma, "mvlgamma", tensor="mvlgamma", gg=("mvlgamma", "special.multigammaln"))


# -- where, casts and the ops the compiler inserts ---------------------------------------------------
def _where_condition(cond) -> None:
    """PyTorch's refusal of a condition that is not bool (NumPy's where reads any as truth values)."""
    if isinstance(cond, TensorBase) and cond._type.dtype != "bool":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{SCALAR_NAMES[cond._type.dtype]}")


def _where_type(inputs):
    cond, x, y = inputs
    if is_type(cond) and cond.dtype != "bool":
        raise ShapeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                         f"{SCALAR_NAMES[cond.dtype]}")
    return TensorType(broadcast_shapes(shape_of(cond), shape_of(x), shape_of(y)), result_dtype([x, y]))


def where(cond: TensorBase, x: TensorBase | float = None, y: TensorBase | float = None) -> TensorBase:
    """Elementwise select: ``x`` where ``cond`` is true, else ``y`` (differentiable in x and y). One argument,
    ``where(cond)``, is ``nonzero(cond, as_tuple=True)`` (eager only), as in PyTorch and NumPy.

    >>> import graphgrad as gg
    >>> x = gg.tensor([-1.0, 2.0])
    >>> gg.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    if x is None and y is None:
        from .indexing import _nonzero
        return _nonzero(cond, True, "where(condition)")
    if x is None or y is None:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    _where_condition(cond)
    return bind("where", cond, x, y)


def _device_condition(condition: str, xp: str) -> str:
    # CuPy's where calls condition.astype: a Python bool (copy_ is where(True, src, self)) becomes an array
    return condition if xp == "np" else f"{xp}.asarray({condition})"


def _numpy_where(condition, x=None, y=None):
    """``numpy.where``: a condition of any dtype, read as truth values."""
    if isinstance(condition, TensorBase) and condition._type.dtype != "bool":
        condition = condition != 0
    elif isinstance(condition, (np.ndarray, list)) and np.asarray(condition).dtype != bool:
        condition = np.asarray(condition) != 0
    return where(condition) if x is None and y is None else where(condition, x, y)


# (NumPy: numpy_functions.where, np.where's values, quicker on large arrays)
primitive("where", batch=elementwise,
          infer=_where_type, helpers=(numpy_functions.where,),
          expr=lambda a, xp, out: [f"where({a[0]}, {a[1]}, {a[2]})" if xp == "np" else
                                   f"{xp}.where({_device_condition(a[0], xp)}, {a[1]}, {a[2]})"],
          vjp=(None, lambda g, out, c, x, y: where(c, g, 0.0), lambda g, out, c, x, y: where(c, 0.0, g)),
          elementwise=True, doc="where(cond, x, y): x where cond else y, broadcasting all three",
          c_expr="({0} ? {1} : {2})",
          fn=where, gg="where", numpy="where", numpy_fn=_numpy_where)

# (c_expr: a fused kernel casts an operand to the dtype its op computes in, here the result's)
primitive("cast", memory="fresh", recompute="cheap", batch=elementwise, torch_name="ToCopyBackward0",
          elementwise=True, c_expr="{0}",
          attrs=("dtype",), infer=lambda inputs, dtype: TensorType(inputs[0].shape, dtype_name(dtype)),
          expr=lambda a, xp, out, dtype: [f"{xp}.asarray({a[0]}).astype({xp}.{dtype})"],
          vjp=(lambda g, out, x, *, dtype: g._cast(x._type.dtype),), doc="convert to another dtype", rows=same_rows)
for _method, _dtype in (("float", "float32"), ("double", "float64"), ("long", "int64"), ("bool", "bool")):
    export((lambda d: lambda self: self._cast(d))(_dtype), "cast", tensor=_method)
export(lambda self, dtype, copy=True: self._cast(any_dtype_name(dtype)), "cast", tensor="astype")  # NumPy's method

primitive("full_like", recompute="cheap", batch=elementwise, attrs=("value",), infer=lambda inputs, value: inputs[0], nondiff=True,
          torch_name="FillBackward0", shape_only=True,
          expr=lambda a, xp, out, value: [f"{xp}.full_like({a[0]}, {literal(value, xp)})"],
          doc="a tensor shaped like the input, filled with value", rows=shape_rows)
primitive("stop_gradient", memory="view", view=True, recompute="cheap", batch=elementwise, stops_gradient=True,
          infer=lambda inputs: inputs[0], vjp=(None,), expr=lambda a, xp, out: [a[0]],
          doc="the input without its gradient history, sharing its memory and version counter (traced .detach())",
          rows=same_rows)
primitive("constant", recompute="cheap", shape_only=True, attrs=("value", "dtype"), nondiff=True,
          infer=lambda inputs, value, dtype: TensorType(np.shape(value), dtype_name(dtype)),
          expr=lambda a, xp, out, value, dtype: [f"{xp}.array({literal(value, xp)}, dtype={xp}.{dtype})"],
          doc="a literal array (value: nested lists) of a dtype")
primitive("full", shape_only=True, attrs=("shape", "value", "dtype"), nondiff=True,
          infer=lambda inputs, shape, value, dtype: TensorType(tuple(shape), dtype_name(dtype)),
          expr=lambda a, xp, out, shape, value, dtype: [
              f"{xp}.full({tuple(shape)!r}, {literal(value, xp)}, dtype={xp}.{dtype})"],
          doc="a new tensor of a shape filled with value (gg.zeros/ones/full/*_like inside a trace)")
primitive("arange", shape_only=True, attrs=("start", "stop", "step", "dtype"), nondiff=True,
          infer=lambda inputs, start, stop, step, dtype: TensorType((len(np.arange(start, stop, step)),),
                                                                    dtype_name(dtype)),
          expr=lambda a, xp, out, start, stop, step, dtype: [
              f"{xp}.arange({start!r}, {stop!r}, {step!r}, dtype={xp}.{dtype})"],
          doc="start, start + step, ... below stop (gg.arange inside a trace)")


# -- composites: public names implemented with the primitives above -------------------------------
def square(x: TensorBase) -> TensorBase:
    """``x * x`` (of bools in int64, as PyTorch's ``pow(x, 2)``)."""
    if x._type.dtype == "bool":
        x = x._cast("int64")
    return (x * x)._shown_as("PowBackward0")  # (each composite's eager grad_fn has PyTorch's name)


export(square, "square", tensor="square", gg="square", numpy="square")


def reciprocal(x: TensorBase) -> TensorBase:
    """``1 / x``, a float for integer input (as PyTorch).

    >>> import graphgrad as gg
    >>> gg.tensor([2.0, 4.0]).reciprocal()
    tensor([0.5000, 0.2500])
    """
    return (1.0 / x)._shown_as("ReciprocalBackward0")


export(reciprocal, "reciprocal", tensor="reciprocal", gg="reciprocal", numpy="reciprocal")


# PyTorch's rsqrt backward, -g out^3 / 2: +-inf at +-0 (and at second order, where 1 / sqrt's chain rule gave nan)
rsqrt = unary("rsqrt", lambda g, out, x: g * -0.5 * (out * out * out), numpy=(), c_expr="(1 / sqrt({0}))",
              expr=lambda a, xp, out: [f"1 / {xp}.sqrt({a[0]})"], doc="1 / sqrt(x)")
rsqrt.__doc__ = """``1 / sqrt(x)``.

>>> import graphgrad as gg
>>> gg.tensor([4.0, 16.0]).rsqrt()
tensor([0.5000, 0.2500])
"""


def clamp_expr(a, xp, out, min, max):
    """``np.clip(x, min, max)`` (either bound None): clamp's expression, and hardtanh's (``ops/nn.py``)."""
    bounds = ["None" if b is None else literal(b, xp) for b in (min, max)]
    return [f"{xp}.clip({a[0]}, {bounds[0]}, {bounds[1]})"]


def _inside(x, min, max):
    """Where clamp passes the gradient: ``min <= x <= max``, the bounds included (PyTorch's); nowhere for a nan
    bound, or where ``min > max``."""
    if min is None:
        return x <= max
    if max is None:
        return x >= min
    return (x >= min) & (x <= max)


# numbers as bounds (the common case): one np.clip, a nan bound gives nan and max wins over min, as in PyTorch
primitive("clamp", batch=elementwise, attrs=("min", "max"), elementwise=True, torch_name="ClampBackward1",
          infer=lambda inputs, min, max: elementwise_type(list(inputs) + [b for b in (min, max) if b is not None]),
          expr=clamp_expr, vjp=(lambda g, out, x, *, min, max: where(_inside(x, min, max), g, 0.0),),
          doc="x limited to [min, max], numbers (either may be None)")


def _number(b):
    """A NumPy scalar bound as the Python number it holds (not ``.item()``: ``graphgrad ops`` reads that, in the
    gradient rules that clamp, as leaving the Tensor API)."""
    if isinstance(b, np.generic):
        return bool(b) if isinstance(b, np.bool_) else int(b) if isinstance(b, np.integer) else float(b)
    return b


def clamp(x: TensorBase, min=None, max=None) -> TensorBase:
    """Limit ``x`` to ``[min, max]`` (either bound may be None; ``max`` wins where ``min > max``, a nan bound gives
    nan). The gradient passes where ``min <= x <= max``, boundaries included, as PyTorch's: a maximum/minimum pair
    would halve it at a boundary, and compiled code would then disagree with eager.

    >>> import graphgrad as gg
    >>> gg.tensor([-2.0, 0.5, 3.0]).clamp(-1.0, 1.0)
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    min, max = _number(min), _number(max)
    if all(b is None or b.__class__ in (int, float, bool) for b in (min, max)):
        return bind("clamp", x, min=min, max=max)
    bounds = tuple(name for name, b in (("min", min), ("max", max)) if b is not None)
    return bind("clamp_tensor", x, *[b for b in (min, max) if b is not None], bounds=bounds)


def _clamp_tensor_vjp(g, needs, x, *bounds, bounds_given):
    """PyTorch's clamp_backward and clamp_backward_min_max: x gets the gradient where min <= x <= max; min where
    x < min < max; max where x > max or max < min (max wins). A nan (in x or a bound) fails every test: no one
    gets it. With one bound: x where x >= min (x <= max), the bound where x < min (x > max)."""
    given = dict(zip(bounds_given, bounds))
    lo, hi = given.get("min"), given.get("max")
    if lo is not None and hi is not None:
        masks = [(x >= lo) & (x <= hi), (x < lo) & (lo < hi), (x > hi) | (hi < lo)]
    elif lo is not None:
        masks = [x >= lo, x < lo]
    else:
        masks = [x <= hi, x > hi]
    return [where(m, g, 0.0) if need and isinstance(v, TensorBase) else None
            for m, need, v in zip(masks, needs, (x,) + bounds)]


# a tensor bound: one np.clip (maximum, then minimum: a nan anywhere gives nan, max wins where min > max), as PyTorch
primitive("clamp_tensor", batch=elementwise, attrs=("bounds",), elementwise=True, torch_name="ClampBackward0",
          infer=lambda inputs, bounds: elementwise_type(list(inputs)),
          expr=lambda a, xp, out, bounds: [f"{xp}.clip({a[0]}, {a[1] if bounds[0] == 'min' else None}, "
                                           f"{a[-1] if bounds[-1] == 'max' else None})"],
          # (the result is not read, nor kept: PyTorch's clamp may be changed in place before backward)
          joint_vjp=lambda g, out, needs, x, *b, bounds: _clamp_tensor_vjp(g, needs, x, *b, bounds_given=bounds),
          doc="x limited to [min, max], tensors (bounds: which are given, in that order)")


export(clamp, "clamp", tensor=("clamp", "clip"), gg=("clamp", "clip"),
       numpy="clip", numpy_fn=lambda a, a_min=None, a_max=None: clamp(a, a_min, a_max))
export(lambda a: a * 0, "zeros_like", numpy="zeros_like")
export(lambda a: a * 0 + 1, "ones_like", numpy="ones_like")


# -- more of NumPy's elementwise functions ----------------------------------------------------------
# Primitives where NumPy has the function (its accuracy, one statement in generated code); PyTorch's names
# (asin, atan2, ...) beside NumPy's (arcsin, arctan2, ...).
_LN2, _LN10 = math.log(2.0), math.log(10.0)
sinh = unary("sinh", lambda g, out, x: g * x.cosh())
cosh = unary("cosh", lambda g, out, x: g * x.sinh())
arcsin = unary("arcsin", lambda g, out, x: g / (1 - x * x).sqrt(), tensor=("asin", "arcsin"), gg=("asin", "arcsin"),
                torch_name="AsinBackward0")
arccos = unary("arccos", lambda g, out, x: -g / (1 - x * x).sqrt(), tensor=("acos", "arccos"),
               gg=("acos", "arccos"), torch_name="AcosBackward0")
arctan = unary("arctan", lambda g, out, x: g / (1 + x * x), tensor=("atan", "arctan"), gg=("atan", "arctan"),
               torch_name="AtanBackward0")
arcsinh = unary("arcsinh", lambda g, out, x: g / (x * x + 1).sqrt(), tensor=("asinh", "arcsinh"),
                gg=("asinh", "arcsinh"), torch_name="AsinhBackward0")
arccosh = unary("arccosh", lambda g, out, x: g / (x * x - 1).sqrt(), tensor=("acosh", "arccosh"),
                gg=("acosh", "arccosh"), torch_name="AcoshBackward0")
arctanh = unary("arctanh", lambda g, out, x: g / (1 - x * x), tensor=("atanh", "arctanh"), gg=("atanh", "arctanh"),
                torch_name="AtanhBackward0")
exp2 = unary("exp2", lambda g, out, x: g * out * _LN2)
log2 = unary("log2", lambda g, out, x: g / (x * _LN2))
log10 = unary("log10", lambda g, out, x: g / (x * _LN10))
cbrt = unary("cbrt", lambda g, out, x: g / (3 * out * out), tensor=(), gg=())
# piecewise constant: zero gradient (as PyTorch), the input's dtype kept
# graphgrad.floor/ceil/round/remainder/fmod/argsort are the PyTorch face's (graphgrad/__init__.py); these blocks
# give the traced ops and the NumPy names
floor = unary("floor", None, float_result=False, gg=())
ceil = unary("ceil", None, float_result=False, gg=())
trunc = unary("trunc", None, float_result=False, tensor=("trunc", "fix"), gg=("trunc", "fix"), numpy=("trunc", "fix"))
round = unary("round", None, float_result=False, tensor=(), numpy=(), gg=())  # noqa: A001  (half to even, as NumPy and PyTorch)


def _numpy_round(a, decimals: int = 0):
    """``round`` to ``decimals`` places as NumPy and PyTorch compute it (a negative count divides first)."""
    if decimals == 0:
        return round(a)
    scale = 10.0 ** (decimals if decimals > 0 else -decimals)  # this module shadows abs
    return round(a * scale) / scale if decimals > 0 else round(a / scale) * scale


def _round_method(self, decimals: int = 0):
    """PyTorch's ``Tensor.round(decimals=0)``: half to even, to ``decimals`` places (negative: tens, ...)."""
    return _numpy_round(self, decimals)._shown_as("RoundBackward1") if decimals else round(self)


export(_numpy_round, "round", numpy=("round", "around"), numpy_fn=_numpy_round)
export(_round_method, "round", tensor="round")


def frac(input: TensorBase) -> TensorBase:
    """``input - trunc(input)``: the fractional part, with the sign of ``input`` (float tensors, as PyTorch's).

    >>> import graphgrad as gg
    >>> gg.frac(gg.tensor([1.5, -2.25]))
    tensor([ 0.5000, -0.2500])
    """
    if not input._type.is_floating:
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{SCALAR_NAMES[input._type.dtype]}'")
    return (input - trunc(input))._shown_as("FracBackward0")


export(frac, "frac", tensor="frac", gg="frac")


def _binary_float(name, vjp, *, tensor=(), gg=(), numpy=(), doc="", torch_name="", fn=None, ufunc="",
                  saves_result=True):
    """A broadcasting binary function with a floating result, expression ``xp.<name>(x, y)`` (``ufunc``: that
    NumPy ufunc's call, for writing into a dying operand); ``fn`` its public function, as ``primitive``'s."""
    return primitive(name, batch=elementwise, infer=lambda inputs: elementwise_type(inputs, float_dtype(inputs)),
                     expr=lambda a, xp, out: [f"{xp}.{name}({a[0]}, {a[1]})"], vjp=vjp, elementwise=True,
                     doc=doc or f"elementwise {name}(x, y) with broadcasting", tensor=tensor, gg=gg, numpy=numpy,
                     numpy_fn=_numpy_binary(name), torch_name=torch_name, fn=fn, ufunc=ufunc,
                     saves_result=saves_result)


def _inverse_square_radius(y, x):
    """1 / (x**2 + y**2), and 0 at the origin: PyTorch's atan2 backward (2.x) gives a 0 gradient at (0, 0) rather
    than 0 / 0. The inner where keeps the untaken branch finite, so second order has no inf * 0 there either."""
    r2 = x * x + y * y
    return where(r2 == 0, 0.0, 1.0 / where(r2 == 0, 1.0, r2))


arctan2 = _binary_float("arctan2", (lambda g, out, y, x: g * x * _inverse_square_radius(y, x),
                                    lambda g, out, y, x: -g * y * _inverse_square_radius(y, x)),
                        tensor=("atan2", "arctan2"), gg=("atan2", "arctan2"), numpy="arctan2",
                        doc="the angle of the point (x, y): arctan2(y, x)", torch_name="Atan2Backward0")
# at (0, 0) hypot's gradient is 0 / 0 = nan, as PyTorch's hypot backward gives
hypot = _binary_float("hypot", (lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out),
                      tensor="hypot", gg="hypot", numpy="hypot", doc="sqrt(x**2 + y**2) without overflow")


def _log_share(g, x, y, empty, scale=1.0):
    """g times x's share in logaddexp's result (logaddexp2's: ``scale`` log(2)), PyTorch's g / (1 + exp(y - x)),
    from the operands alone (the result may then change in place before backward, as in PyTorch): all of it where x
    is +inf and y is not (exp(x - out) was inf - inf there, nan), 0 where both are -inf (``empty``; PyTorch's is nan,
    0 as logsumexp's). As a sigmoid, whose derivative out * (1 - out) is 0 where one operand is infinitely larger
    (the chain rule through exp gave 0 * inf there)."""
    d = x - y if scale == 1.0 else (x - y) * scale
    return g * sigmoid(where(empty, -math.inf, d))


def _both_minus_inf(x, y):
    return (x == -math.inf) & (y == -math.inf)  # (one order for both rules: compiled code computes it once)


logaddexp = _binary_float("logaddexp", (lambda g, out, x, y: _log_share(g, x, y, _both_minus_inf(x, y)),
                                        lambda g, out, x, y: _log_share(g, y, x, _both_minus_inf(x, y))),
                          tensor="logaddexp", gg="logaddexp", numpy="logaddexp", doc="log(exp(x) + exp(y)), stably")
logaddexp2 = _binary_float("logaddexp2", (lambda g, out, x, y: _log_share(g, x, y, _both_minus_inf(x, y), _LN2),
                                          lambda g, out, x, y: _log_share(g, y, x, _both_minus_inf(x, y), _LN2)),
                           tensor="logaddexp2", gg="logaddexp2", numpy="logaddexp2", doc="log2(2**x + 2**y), stably")


def _nan_aware(first):
    """fmax/fmin's gradient, PyTorch's: all of it to x where ``first(x, y)`` (x >= y for fmax: ties go to x) or y
    is nan, all to y elsewhere. The two are complements, so a tie or two nans pass it on once, not split or
    doubled."""
    def rule_x(g, out, x, y):
        return where(y != y, g, where(first(x, y), g, 0.0))

    def rule_y(g, out, x, y):
        return where(y != y, 0.0, where(first(x, y), 0.0, g))
    return rule_x, rule_y


for _name, _pick in (("fmax", lambda a, b: a >= b), ("fmin", lambda a, b: a <= b)):
    primitive(_name, batch=elementwise, infer=lambda inputs: elementwise_type(inputs), vjp=_nan_aware(_pick),
              elementwise=True,
              expr=(lambda n: lambda a, xp, out: [f"{xp}.{n}({a[0]}, {a[1]})"])(_name),
              doc=f"elementwise {_name}: like {'maximum' if _name == 'fmax' else 'minimum'}, ignoring nan",
              tensor=_name, gg=_name, numpy=_name, numpy_fn=_numpy_binary(_name))

def _tensor_or_number(name: str):
    """PyTorch's node names: ``...Backward1`` for two tensors, ``...Backward0`` for a tensor and a number."""
    return lambda attrs, in_types: f"{name}Backward{int(None not in in_types)}"


# x % y takes the divisor's sign (Python, NumPy's mod, PyTorch's remainder); fmod the dividend's (C's). Eagerly as
# compiled: NumPy's remainder and fmod, exact (x - y * floor(x / y) was not, and gave nan for an infinite y), with
# PyTorch's gradients: the divisor's is -grad times the quotient rounded as the op rounds it, floor_divide's
# (Python's: -1 // inf is -1) for remainder, trunc_divide's for fmod; both without a gradient of their own (a
# rounded x / y passed zeros to the division, which made nan at second order where y is 0)
_binary("remainder", "%", (lambda g, out, x, y: g, lambda g, out, x, y: -g * bind("floor_divide", x, y)), dunder="mod",
        gg=(), tensor=("remainder",), numpy=("mod", "remainder"), doc="x % y, the sign of y (Python's and NumPy's mod)",
        quotient=True, torch_name=_tensor_or_number("Remainder"))
# the promoted dtype, as remainder: fmod of int64 tensors is int64 (np.fmod keeps it), not a float
_doc = "remainder of x / y with the sign of x (C's fmod)"
fmod = primitive("fmod", batch=elementwise, infer=lambda inputs: elementwise_type(inputs),
                 expr=lambda a, xp, out: [f"{xp}.fmod({a[0]}, {a[1]})"], torch_name=_tensor_or_number("Fmod"),
                 vjp=(lambda g, out, x, y: g, lambda g, out, x, y: -g * bind("trunc_divide", x, y, integer=False)),
                 elementwise=True, doc=_doc, tensor="fmod", numpy="fmod", numpy_fn=_numpy_binary("fmod"),
                 fn=_binary_function("fmod", _doc, quotient=True))


def sinc(x: TensorBase) -> TensorBase:
    """NumPy's normalized ``sinc``: ``sin(pi x) / (pi x)``, 1 at 0.

    Near 0 (``|x| < 1e-3``) the Taylor series ``1 - (pi x)^2/6 + (pi x)^4/120`` is exact to float64 precision,
    so every derivative at and around 0 is right (0, then ``-pi^2/3``); elsewhere the quotient, whose
    denominator the inner ``where`` keeps away from 0."""
    small = x.abs() < 1e-3
    px = math.pi * where(small, 1.0, x)
    t = (math.pi * x) * (math.pi * x)
    return where(small, 1 - t / 6 + t * t / 120, px.sin() / px)._shown_as("SincBackward0")


export(sinc, "sinc", tensor="sinc", gg="sinc", numpy="sinc")
export(lambda x: abs(x) * 1.0, "fabs", numpy="fabs")
export(lambda x: (x * (math.pi / 180))._shown_as("Deg2RadBackward0"), "deg2rad", tensor="deg2rad", gg="deg2rad",
       numpy=("deg2rad", "radians"))
export(lambda x: (x * (180 / math.pi))._shown_as("Rad2DegBackward0"), "rad2deg", tensor="rad2deg", gg="rad2deg",
       numpy=("rad2deg", "degrees"))


def nan_to_num(x: TensorBase, copy: bool = True, nan: float = 0.0, posinf=None, neginf=None) -> TensorBase:
    """NumPy's ``nan_to_num``: nan -> ``nan``, +-inf -> ``posinf``/``neginf`` (the dtype's extremes by default);
    the gradient flows through the finite elements only."""
    info = np.finfo(x._type.dtype) if x._type.is_floating else None
    if info is None:
        return x
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    return where(x != x, nan, where(x == math.inf, hi, where(x == -math.inf, lo, x)))._shown_as("NanToNumBackward0")


export(nan_to_num, "nan_to_num", tensor="nan_to_num", gg="nan_to_num", numpy="nan_to_num")


# -- NumPy's complex-number functions on real arrays: graphgrad has no complex dtypes (docs/ops.md), and a real
# array is its own real part and conjugate, with imaginary part 0 and angle 0 or pi. Code written for both keeps
# working on real data.
def imag(x: TensorBase) -> TensorBase:
    """``numpy.imag`` of a real array: zeros of its shape and dtype, with no gradient.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.imag(gg.tensor([1.5, -2.0]))
    tensor([0., 0.])
    """
    return bind("full_like", x, value=0)


def angle(z: TensorBase, deg: bool = False) -> TensorBase:
    """``numpy.angle`` of a real array, computed as NumPy does, ``arctan2(0, z)``: pi where it is negative (-0.0
    too), 0 elsewhere, nan where it is nan; in degrees with ``deg=True``. Piecewise constant: its gradient is 0,
    at 0 too (a stop_gradient).

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.angle(gg.tensor([-1.0, 2.0]))
    tensor([3.1416, 0.0000])
    """
    z = bind("stop_gradient", z if z._type.is_floating else z._cast("float64"))
    a = arctan2(bind("full_like", z, value=0), z)
    return a * (180 / math.pi) if deg else a


export(lambda x: x, "real", numpy="real")
export(imag, "imag", numpy="imag")
export(lambda x: x, "conj", numpy=("conj", "conjugate"))
export(angle, "angle", numpy="angle")
export(lambda a, tol=100: a, "real_if_close", numpy="real_if_close")


# -- NumPy's comparisons of closeness, select and linspace (composites) -------------------------------------
def _weak(x, like: TensorBase) -> TensorBase:
    """``x`` as a tensor of ``like``'s interpreter; a Python number beside a floating tensor takes its dtype (NumPy's
    weak scalars), other numbers, arrays and lists NumPy's dtype."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and like._type.is_floating:
        return constant_like(like, x, np.dtype(like._type.dtype))
    return operand(x, like)


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> TensorBase:
    """NumPy's ``isclose``: ``|a - b| <= atol + rtol * |b|`` elementwise (``b`` finite), or ``a == b`` (equal
    infinities); ``equal_nan`` makes two nans close. A bool tensor, without gradient.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.isclose(gg.tensor([1.0, 1.1, float("inf")]), [1.0 + 1e-9, 1.0, float("inf")])
    tensor([ True, False,  True])
    """
    a, b = built(a), built(b)
    like = a if isinstance(a, TensorBase) else b
    x, y = _weak(a, like), _weak(b, like)
    finite_x, finite_y = abs(x) < math.inf, abs(y) < math.inf  # (nan is not finite either)
    x0, y0 = where(finite_x, x, 0), where(finite_y, y, 0)  # no inf - inf: NumPy computes it but hides the warning
    close = where(finite_x, where(finite_y, abs(x0 - y0) <= atol + rtol * abs(y0), False), False)
    close = where(x == y, True, close)
    return where(x != x, y != y, close) if equal_nan else close  # a nan x is close to nothing else


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> TensorBase:
    """NumPy's ``allclose``: whether every element of ``a`` is close to ``b`` (``isclose``), as a 0-d bool tensor
    (as ``graphgrad.numpy.all`` gives): ``bool()`` of it reads an eager value; in traced code it is a traced
    value, a condition for ``where`` or ``graphgrad.cond``.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> bool(gnp.allclose(gg.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9]))
    True
    """
    return isclose(a, b, rtol, atol, equal_nan).all()


export(isclose, "isclose", numpy="isclose", gg="isclose", tensor="isclose")  # torch.isclose: the same test
export(allclose, "allclose", numpy="allclose")


def select(condlist, choicelist, default=0) -> TensorBase:
    """NumPy's ``select``: where ``condlist[0]`` holds, ``choicelist[0]``; else where ``condlist[1]`` holds,
    ``choicelist[1]``; ...; elsewhere ``default``. A chain of ``where``, so it is differentiable in the choices and
    the default.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> x = gg.tensor([-2.0, 0.5, 3.0])
    >>> gnp.select([x < 0, x < 1], [-x, x * 10], default=x ** 2)
    tensor([2., 5., 9.])
    """
    condlist, choicelist = [built(c) for c in condlist], [built(c) for c in choicelist]
    if len(condlist) != len(choicelist):
        raise ValueError(f"list of cases must be same length as list of conditions: {len(choicelist)} choices "
                         f"for {len(condlist)} conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    default = built(default)
    like = next(x for x in condlist + choicelist + [default] if isinstance(x, TensorBase))
    conds = [operand(c, like) for c in condlist]
    for i, c in enumerate(conds):
        if c._type.dtype != "bool":
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray, got dtype {c._type.dtype}")
    values = choicelist + [default]
    if all(isinstance(v, (int, float, bool)) for v in values):  # numbers alone: NumPy's dtype (no weak scalars)
        values = [constant_like(like, v, np.result_type(*values)) for v in values]
    else:
        values = [lift(v, like) for v in values]
    result = values[-1]
    for cond, choice in zip(conds[::-1], values[-2::-1]):
        result = where(cond, choice, result)
    return result


export(select, "select", numpy="select")


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None, axis: int = 0):
    """NumPy's ``linspace``: ``num`` samples from ``start`` to ``stop`` (``stop`` excluded without ``endpoint``),
    computed as NumPy does (``start + i * step``, the last sample ``stop`` itself), so differentiable in ``start`` and
    ``stop``; array ``start``/``stop`` give one sequence per element, along ``axis``.

    >>> import graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.linspace(gg.tensor(1.0, dtype=gg.float64), 2.0, 5)
    tensor([1.0000, 1.2500, 1.5000, 1.7500, 2.0000], dtype=torch.float64)
    """
    try:
        num = operator.index(num)
    except TypeError:
        raise TypeError(f"linspace: num={num!r} cannot be safely interpreted as an integer") from None
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = built(start), built(stop)
    like = start if isinstance(start, TensorBase) else stop
    if not isinstance(like, TensorBase):  # plain start and stop (an eager tensor num): NumPy's own
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    start, stop = operand(start, like), operand(stop, like)
    float_type = np.result_type(np.dtype(start._type.dtype), np.dtype(stop._type.dtype), 1.0)
    start, stop = start._cast(float_type.name), stop._cast(float_type.name)
    div = num - 1 if endpoint else num
    delta = stop - start
    ramp = like._apply_here("arange", (), {"start": 0, "stop": num, "step": 1, "dtype": float_type.name})
    y = ramp.reshape((num,) + (1,) * delta.ndim)
    step = delta / div if div > 0 else math.nan
    y = (y * step if div > 0 else y * delta) + start
    if endpoint and num > 1:  # the last sample is stop itself, as NumPy sets it
        shape = tuple(y.shape[1:])
        last = stop.reshape((1,) * (1 + len(shape) - stop.ndim) + tuple(stop.shape)).expand((1,) + shape)
        y = bind("concat", y[:-1], last, dim=0)
    if axis != 0:
        y = y.movedim(0, axis)
    if dtype is not None:
        name = any_dtype_name(dtype)
        y = (y.floor() if not np.issubdtype(np.dtype(name), np.floating) and name != "bool" else y)._cast(name)
    return (y, step) if retstep else y


export(linspace, "linspace", numpy="linspace")


# -- lerp ------------------------------------------------------------------------------------------------------
def lerp_formula(start, end, weight):
    """PyTorch's ``lerp``: ``start + w (end - start)`` for ``|w| < 0.5``, else ``end - (end - start)(1 - w)`` (exact
    at both ends); its gradient is ``1 - w``, ``w`` and ``end - start`` on either branch."""
    diff = end - start
    if not isinstance(weight, TensorBase):
        return start + weight * diff if -0.5 < weight < 0.5 else end - diff * (1 - weight)
    return bind("where", weight.abs() < 0.5, start + weight * diff, end - diff * (1 - weight))


_LERP_DTYPES = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool"}


def lerp(input, end, weight):
    """``input + weight * (end - input)`` (PyTorch's formula, exact at ``weight`` 0 and 1); ``weight`` a number or a
    tensor, every tensor of ``input``'s dtype.

    >>> import graphgrad as gg
    >>> gg.lerp(gg.tensor([1.0, 2.0]), gg.tensor([3.0, 5.0]), 0.5)
    tensor([2.0000, 3.5000])
    """
    for name, other in (("end", end), ("weight", weight)):
        if isinstance(other, TensorBase) and other._type.dtype != input._type.dtype:
            raise RuntimeError(f"expected dtype {_LERP_DTYPES.get(input._type.dtype, input._type.dtype)} for "
                               f"`{name}` but got dtype {_LERP_DTYPES.get(other._type.dtype, other._type.dtype)}")
    # (PyTorch's node: LerpBackward0 for a number weight, LerpBackward1 for a tensor one)
    return lerp_formula(input, end, weight)._shown_as(f"LerpBackward{int(isinstance(weight, TensorBase))}")


export(lerp, "lerp", tensor="lerp", gg="lerp")


# -- more of PyTorch's elementwise functions: clamp_min/clamp_max, logit, xlogy, heaviside, float_power, sgn,
# nextafter, ldexp, frexp, their in-place forms, and the dtypes graphgrad does not have ------------------------
from ..ir import return_types  # noqa: E402
from .define import in_place  # noqa: E402


def clamp_min(input: TensorBase, min) -> TensorBase:
    """``input`` limited from below (``clamp(input, min=min)``); ``min`` a number or a tensor.

    >>> import graphgrad as gg
    >>> gg.clamp_min(gg.tensor([-1.0, 0.5, 2.0]), 0.0)
    tensor([0.0000, 0.5000, 2.0000])
    """
    return clamp(input, min=min)._shown_as("ClampMinBackward0")


def clamp_max(input: TensorBase, max) -> TensorBase:
    """``input`` limited from above (``clamp(input, max=max)``); ``max`` a number or a tensor.

    >>> import graphgrad as gg
    >>> gg.clamp_max(gg.tensor([-1.0, 0.5, 2.0]), 1.0)
    tensor([-1.0000,  0.5000,  1.0000])
    """
    return clamp(input, max=max)._shown_as("ClampMaxBackward0")


export(clamp_min, "clamp_min", tensor="clamp_min", gg="clamp_min")
export(lambda self, min: in_place(self, lambda old: clamp_min(old, min)), "clamp_min", tensor="clamp_min_")
export(clamp_max, "clamp_max", tensor="clamp_max", gg="clamp_max")
export(lambda self, max: in_place(self, lambda old: clamp_max(old, max)), "clamp_max", tensor="clamp_max_")


def logit(input: TensorBase, eps: float | None = None) -> TensorBase:
    """``log(p / (1 - p))``, with ``p`` first clamped to ``[eps, 1 - eps]`` when ``eps`` is given (and not
    negative); integers and bools give the default float dtype. The gradient is PyTorch's ``logit_backward``:
    ``1 / (p (1 - p))`` inside ``[eps, 1 - eps]``, 0 outside it; without ``eps``, inf at 0 and 1 and nan outside
    ``[0, 1]``, where the value is nan.

    >>> import graphgrad as gg
    >>> gg.logit(gg.tensor([0.25, 0.5, 1.0]))
    tensor([-1.0986,  0.0000,     inf])
    >>> gg.logit(gg.tensor([0.0, 1.0]), eps=0.1)
    tensor([-2.1972,  2.1972])
    """
    p = input._cast(float_dtype([input._type]))
    return bind("logit", p, eps=None if eps is None or eps < 0 else float(eps))  # (PyTorch ignores a negative eps)


def _logit_expr(a, xp, out, eps):
    x = a[0]
    if eps is not None:  # PyTorch's order, below eps first: eps > 0.5 gives its values too
        z = f"{out}_z"
        clamp = (f"{xp}.clip({x}, {eps!r}, {1 - eps!r})" if eps <= 0.5 else
                 f"{xp}.where({x} < {eps!r}, {eps!r}, {xp}.where({x} > {1 - eps!r}, {1 - eps!r}, {x}))")
        return [f"{z} = {clamp}", f"{xp}.log({z} / (1 - {z}))"]
    return [f"{xp}.log({x} / (1 - {x}))"]  # PyTorch's formula, so its rounding


def _logit_vjp(g, out, x, *, eps):
    """PyTorch's logit_backward: ``g / (x (1 - x))``, ``g * inf`` at 0 and 1 (-0.0 too: the + 0.0 makes its
    -0.0 product +0.0), and outside ``[eps, 1 - eps]`` 0, or nan without eps (outside ``[0, 1]``, where the value
    is nan; the chain rule through log gave a number there)."""
    lo, hi, outside = (0.0, 1.0, math.nan) if eps is None else (eps, 1 - eps, 0.0)
    return where((x < lo) | (x > hi), outside, g / (x * (1 - x) + 0.0))


primitive("logit", batch=elementwise, attrs=("eps",), elementwise=True, torch_name="LogitBackward0",
          infer=lambda inputs, eps: elementwise_type(inputs), expr=_logit_expr, vjp=(_logit_vjp,),
          doc="log(p / (1 - p)), p clamped to [eps, 1 - eps] first unless eps is None")


export(logit, "logit", tensor="logit", gg="logit")
export(lambda self, eps=None: in_place(self, lambda old: logit(old, eps)), "logit", tensor="logit_")


def _float_operands(op: str, x, y) -> tuple:
    """``x`` and ``y`` (tensors or numbers, at least one a tensor) as tensors of their promoted floating dtype,
    PyTorch's result dtype of ``op``: numbers become 0-d constants of that dtype (a NumPy float64 scalar in the
    array code would otherwise make a float32 result float64)."""
    like = x if isinstance(x, TensorBase) else y
    if not isinstance(like, TensorBase):
        raise TypeError(f"{op}(): expected at least one tensor argument, got {type(x).__name__} and "
                        f"{type(y).__name__}")
    dtype = float_dtype([t._type if isinstance(t, TensorBase) else t for t in (x, y)])
    return tuple(t._cast(dtype) if isinstance(t, TensorBase) else constant_like(like, t, np.dtype(dtype))
                 for t in (x, y))


def _xlogy_expr(a, xp, out):
    # 0 where x is 0 and y is not nan (0 * log(0) would be nan), as PyTorch's
    return [f"{xp}.where(({a[0]} == 0) & ~{xp}.isnan({a[1]}), 0, {a[0]} * {xp}.log({a[1]}))"]


def xlogy(input, other) -> TensorBase:
    """``input * log(other)``, and 0 where ``input`` is 0 and ``other`` is not nan; either may be a number. The
    result is floating (PyTorch's promotion). Gradients are PyTorch's: ``xlogy(input != 0, other)`` and
    ``input / other`` (nan at ``(0, 0)``, as PyTorch's).

    >>> import graphgrad as gg
    >>> gg.xlogy(gg.tensor([0.0, 1.0, 2.0]), gg.tensor([0.0, 2.0, 3.0]))
    tensor([0.0000, 0.6931, 2.1972])
    """
    return bind("xlogy", *_float_operands("xlogy", input, other))


# a primitive: the composite where(x == 0, 0, x * log(y)) would give other a 0 gradient at (0, 0), not PyTorch's nan
primitive("xlogy", batch=elementwise, elementwise=True, infer=lambda inputs: elementwise_type(inputs, float_dtype(inputs)),
          expr=_xlogy_expr, doc="x * log(y), 0 where x is 0 and y is not nan",
          vjp=(lambda g, out, x, y: g * bind("xlogy", (x != 0)._cast(x._type.dtype), y),
               lambda g, out, x, y: g * x / y),
          fn=xlogy, tensor="xlogy", gg="xlogy")
export(lambda self, other: in_place(self, lambda old: xlogy(old, other)), "xlogy", tensor="xlogy_")


def heaviside(input: TensorBase, values: TensorBase) -> TensorBase:
    """The Heaviside step: 0 where ``input`` is negative (or nan), 1 where it is positive, ``values`` where it is
    0; ``values`` a tensor of ``input``'s dtype. (PyTorch has no derivative for it; here the gradient is the
    formula's: 0 for ``input``, the incoming gradient where ``input`` is 0 for ``values``.)

    >>> import graphgrad as gg
    >>> gg.heaviside(gg.tensor([-1.5, 0.0, 2.0]), gg.tensor([0.5]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    tensors_only("heaviside", input=input, values=values)
    if values._type.dtype != input._type.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return where(input == 0, values, (input > 0)._cast(input._type.dtype))


export(heaviside, "heaviside", tensor="heaviside", gg="heaviside")
export(lambda self, values: in_place(self, lambda old: heaviside(old, values)), "heaviside", tensor="heaviside_")


def float_power(input, exponent) -> TensorBase:
    """``input ** exponent`` computed in float64 (the result is float64 whatever the operands' dtypes); either
    may be a number.

    >>> import graphgrad as gg
    >>> gg.float_power(gg.tensor([1, 2, 3]), 2)
    tensor([1., 4., 9.], dtype=torch.float64)
    """
    base = input._cast("float64") if isinstance(input, TensorBase) else float(input)
    power = exponent._cast("float64") if isinstance(exponent, TensorBase) else float(exponent)
    if not isinstance(base, TensorBase) and not isinstance(power, TensorBase):
        raise TypeError("float_power(): expected a tensor as input or exponent")
    return base ** power


def _float_power_(self: TensorBase, exponent) -> TensorBase:
    if self._type.dtype != "float64":  # the result is float64 and in-place writes cannot narrow it
        raise RuntimeError(f"the base given to float_power_ has dtype {SCALAR_NAMES[self._type.dtype]} but the "
                           f"operation's result requires dtype Double")
    return in_place(self, lambda old: float_power(old, exponent))


export(float_power, "float_power", tensor="float_power", gg="float_power")
export(_float_power_, "float_power", tensor="float_power_")


def sgn(input: TensorBase) -> TensorBase:
    """The sign of each element (PyTorch's ``sgn``, its ``sign`` for real tensors: -1, 0 or 1; 0 for nan); a bool
    tensor is its own sign.

    >>> import graphgrad as gg
    >>> gg.sgn(gg.tensor([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """
    if input._type.dtype == "bool":
        return bind("cast", input, dtype="bool")  # a copy, as PyTorch's
    return sign(input)._shown_as("SgnBackward0")


export(sgn, "sgn", tensor="sgn", gg="sgn")
export(lambda self: in_place(self, sgn), "sgn", tensor="sgn_")


def nextafter(input: TensorBase, other: TensorBase) -> TensorBase:
    """The next floating-point value after ``input`` towards ``other`` (float tensors; their promoted dtype). Its
    gradient is PyTorch's: the incoming gradient for ``input``, zeros for ``other``.

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0], dtype=gg.float64)
    >>> (gg.nextafter(x, gg.tensor([2.0], dtype=gg.float64)) - x).item()
    2.220446049250313e-16
    """
    tensors_only("nextafter", input=input, other=other)
    dtype = result_dtype([input._type, other._type])
    if dtype not in ("float32", "float64"):
        raise NotImplementedError(f"\"nextafter_cpu\" not implemented for '{SCALAR_NAMES[dtype]}'")
    return bind("nextafter", input._cast(dtype), other._cast(dtype))


primitive("nextafter", batch=elementwise, elementwise=True, infer=lambda inputs: elementwise_type(inputs),
          expr=lambda a, xp, out: [f"{xp}.nextafter({a[0]}, {a[1]})"], ufunc="nextafter({0}, {1})",
          doc="the next floating-point value after x towards y",
          vjp=(lambda g, out, x, y: g, lambda g, out, x, y: bind("full_like", g, value=0.0)),
          fn=nextafter, tensor="nextafter", gg="nextafter")
export(lambda self, other: in_place(self, lambda old: nextafter(old, other)), "nextafter", tensor="nextafter_")


def ldexp(input: TensorBase, other: TensorBase) -> TensorBase:
    """``input * 2 ** other`` (PyTorch's formula: a floating result, differentiable in both).

    >>> import graphgrad as gg
    >>> gg.ldexp(gg.tensor([1.0, 3.0]), gg.tensor([2, 3]))
    tensor([ 4., 24.])
    """
    tensors_only("ldexp", input=input, other=other)
    return (input * (2.0 ** other))._shown_as("LdexpBackward0")


export(ldexp, "ldexp", tensor="ldexp", gg="ldexp")
export(lambda self, other: in_place(self, lambda old: ldexp(old, other)), "ldexp", tensor="ldexp_")


def frexp(input: TensorBase):
    """``torch.return_types.frexp(mantissa, exponent)`` with ``input = mantissa * 2 ** exponent`` and
    ``0.5 <= |mantissa| < 1`` (0, inf and nan: themselves, exponent 0). PyTorch's exponent is int32; graphgrad has
    no int32, so it is int64. The mantissa's gradient is PyTorch's, ``1 / 2 ** exponent``.

    >>> import graphgrad as gg
    >>> m, e = gg.frexp(gg.tensor([8.0, 0.3, -5.0]))
    >>> m, e
    (tensor([ 0.5000,  0.6000, -0.6250]), tensor([ 4, -1,  3]))
    """
    if not input._type.is_floating:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    # in float64, whose powers of two cover float32's exponents exactly (float32's exp2 is not exact there)
    x = input._cast("float64")
    a = x.abs()
    regular = (a > 0) & (a < math.inf)  # (false for nan)
    safe = where(regular, a, 1.0)

    def scaled(v, e):  # v / 2**e, exact, without 2**e overflowing (e = 1024 for float64's largest values)
        return v / (e - 1).exp2() * 0.5

    e = safe.log2().floor() + 1
    m = scaled(safe, e)  # log2 may round across a power of two: one step either way puts m in [0.5, 1)
    e = e + where(m >= 1, 1.0, 0.0) - where(m < 0.5, 1.0, 0.0)
    e = where(regular, e, 0.0)
    return return_types.frexp(scaled(x, e)._cast(input._type.dtype), e._cast("int64"))


export(frexp, "frexp", tensor="frexp", gg="frexp")


def _missing_dtype(method: str, dtype: str):
    def refuse(self, memory_format=None):
        raise NotImplementedError(f"Tensor.{method}(): graphgrad has no {dtype} dtype (it has bool, int64, float32 "
                                  f"and float64); convert with .float(), .double(), .long() or .bool() instead")
    refuse.__name__ = method
    refuse.__doc__ = f"PyTorch's conversion to {dtype}, which graphgrad does not have: a NotImplementedError."
    return refuse


for _method, _dtype in (("half", "float16"), ("bfloat16", "bfloat16"), ("char", "int8"), ("short", "int16"),
                        ("byte", "uint8"), ("int", "int32")):
    export(_missing_dtype(_method, _dtype), "cast", tensor=_method)


export(lambda self, end, weight: in_place(self, lambda old: lerp(old, end, weight)), "lerp", tensor="lerp_")
export(lambda self, nan=0.0, posinf=None, neginf=None: in_place(
    self, lambda old: nan_to_num(old, nan=nan, posinf=posinf, neginf=neginf)), "nan_to_num", tensor="nan_to_num_")


# -- Tensor.where; copysign, gcd, lcm, shifts, isin, clone ---------------------------------------------------------
def _where_method(self: TensorBase, condition: TensorBase, other) -> TensorBase:
    """PyTorch's ``Tensor.where(condition, other)``: ``self`` where ``condition`` is true, else ``other``.

    >>> import graphgrad as gg
    >>> x = gg.tensor([-1.0, 2.0])
    >>> x.where(x > 0, 0.0)
    tensor([0., 2.])
    """
    return where(condition, self, other)


export(_where_method, "where", tensor="where")


def copysign(input: TensorBase, other) -> TensorBase:
    """``input``'s magnitude with the sign of ``other`` (a tensor or a number; the sign bit of -0.0 and of nan
    counts), in the promoted floating dtype. The gradient is PyTorch's: ``sign(input) * sign(result)`` for ``input``
    (0 where ``input`` is 0), zeros for ``other``.

    >>> import graphgrad as gg
    >>> gg.copysign(gg.tensor([1.5, -2.0, 3.0]), gg.tensor([-1.0, 1.0, -0.0]))
    tensor([-1.5000,  2.0000, -3.0000])
    """
    if not isinstance(input, TensorBase):
        raise TypeError(f"copysign() received an invalid combination of arguments - got ({type(input).__name__}, "
                        f"{type(other).__name__}), but expected one of:\n"
                        f" * (Tensor input, Tensor other, *, Tensor out = None)\n"
                        f" * (Tensor input, Number other, *, Tensor out = None)\n")
    dtype = float_dtype([input._type, other._type if isinstance(other, TensorBase) else other])
    return bind("copysign", input._cast(dtype), other._cast(dtype) if isinstance(other, TensorBase) else float(other))


_binary_float("copysign", (lambda g, out, x, y: g * bind("sign", x) * bind("sign", out),
                           lambda g, out, x, y: bind("full_like", g, value=0.0)),
              doc="x's magnitude with y's sign", fn=copysign, ufunc="copysign({0}, {1})", tensor="copysign",
              gg="copysign")
export(lambda self, other: in_place(self, lambda old: copysign(old, other)), "copysign", tensor="copysign_")


def _integer_function(name: str, doc: str):
    def fn(input: TensorBase, other: TensorBase) -> TensorBase:
        tensors_only(name, input=input, other=other)
        return bind(name, input, other)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


gcd = primitive("gcd", batch=elementwise, elementwise=True, infer=_integral_type("gcd", bools=False), nondiff=True,
                expr=call("gcd"), doc="the greatest common divisor of integers (>= 0)",
                fn=_integer_function("gcd", """The greatest common divisor of integer tensors, elementwise (never
    negative; ``gcd(0, 0)`` is 0). No gradient.

    >>> import graphgrad as gg
    >>> gg.gcd(gg.tensor([4, -6, 0]), gg.tensor([6, 4, 5]))
    tensor([2, 2, 5])
    """), tensor="gcd", gg="gcd")
lcm = primitive("lcm", batch=elementwise, elementwise=True, infer=_integral_type("lcm", bools=False), nondiff=True,
                expr=call("lcm"), doc="the least common multiple of integers (>= 0)",
                fn=_integer_function("lcm", """The least common multiple of integer tensors, elementwise (never
    negative; 0 where either is 0). No gradient.

    >>> import graphgrad as gg
    >>> gg.lcm(gg.tensor([4, -6, 0]), gg.tensor([6, 4, 5]))
    tensor([12, 12,  0])
    """), tensor="lcm", gg="lcm")
export(lambda self, other: in_place(self, lambda old: gcd(old, other)), "gcd", tensor="gcd_")
export(lambda self, other: in_place(self, lambda old: lcm(old, other)), "lcm", tensor="lcm_")

# << and >> of integer (and bool) tensors: NumPy's shifts are PyTorch's, a count outside [0, 64) included (0, or -1
# for a negative value shifted right). (No ufunc= for these integer ops: integer buffers are seldom worth reusing.)
for _name, _symbol, _dunder in (("bitwise_left_shift", "<<", "lshift"), ("bitwise_right_shift", ">>", "rshift")):
    _binary(_name, _symbol, None, infer=_integral_type(_dunder, bools=False), dunder=_dunder, tensor=(_name,),
            doc=f"elementwise x {_symbol} y of integer tensors")
    export((lambda n: lambda self, other: in_place(self, lambda old: bind(n, old, other)))(_name), _name,
           tensor=(f"{_name}_", f"__i{_dunder}__"))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> TensorBase:
    """Whether each of ``elements`` equals one of ``test_elements`` (either may be a number): a bool tensor of
    ``elements``' shape, negated with ``invert``. Equality after PyTorch's promotion (nan is in nothing). Each element
    is compared with every test element, ``numel`` times ``numel`` comparisons, eager and traced alike;
    ``assume_unique`` changes nothing. No gradient.

    >>> import graphgrad as gg
    >>> gg.isin(gg.tensor([1, 2, 3, 4]), gg.tensor([2, 4, 6]))
    tensor([False,  True, False,  True])
    """
    if not isinstance(elements, TensorBase) and not isinstance(test_elements, TensorBase):
        raise TypeError(
            f"isin() received an invalid combination of arguments - got ({type(elements).__name__}, "
            f"{type(test_elements).__name__}), but expected one of:\n"
            f" * (Tensor elements, Tensor test_elements, *, bool assume_unique = False, bool invert = False, "
            f"Tensor out = None)\n"
            f" * (Number element, Tensor test_elements, *, bool assume_unique = False, bool invert = False, "
            f"Tensor out = None)\n"
            f" * (Tensor elements, Number test_element, *, bool assume_unique = False, bool invert = False, "
            f"Tensor out = None)\n")
    if any(isinstance(t, bool) or isinstance(t, TensorBase) and t._type.dtype == "bool"
           for t in (elements, test_elements)):
        raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    if not isinstance(test_elements, TensorBase):
        found = elements == test_elements
    elif not isinstance(elements, TensorBase):
        found = (test_elements == elements).any()
    else:  # NumPy's isin (sorting, not every pair: 2e4 x 2e4 int64 in 0.3 ms, where == and any took 1.9 s, 830 MB)
        dtype = result_dtype([elements._type, test_elements._type])
        return bind("isin", elements._cast(dtype), test_elements._cast(dtype).reshape(-1), invert=bool(invert))
    return found.logical_not() if invert else found


def _isin_batch(op, args, bdims, invert):
    (e, de), (t, dt) = zip(args, bdims)
    if dt is None:
        return bind(op, e, t, invert=invert), de
    # batched test elements: each batch's own, compared pair by pair
    size = next(a.shape[d] for a, d in zip(args, bdims) if d is not None)
    e = to_front(e, de) if de is not None else e.unsqueeze(0).expand(size, *e.shape)
    t = to_front(t, dt)
    found = (e.reshape(size, -1, 1) == t.reshape(size, 1, -1)).any(-1).reshape(tuple(e.shape))
    return (found.logical_not() if invert else found), 0


primitive("isin", nondiff=True, attrs=("invert",), batch=_isin_batch,
          infer=lambda inputs, invert: TensorType(inputs[0].shape, "bool"),
          expr=lambda a, xp, out, invert: [f"{xp}.isin({a[0]}, {a[1]}{', invert=True' if invert else ''})"],
          doc="whether each element of x is among the (1-D) test elements (NumPy's isin)")
export(isin, "isin", gg="isin")


def clone(input: TensorBase, *, memory_format=None) -> TensorBase:
    """``torch.clone``: a copy of ``input`` (differentiable; eagerly ``CloneBackward0``, traced a node of its own that
    an in-place update of ``input`` does not reach). graphgrad has one memory format: ``memory_format`` changes
    nothing.

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, 2.0])
    >>> y = gg.clone(x)
    >>> x.add_(1.0); y
    tensor([2., 3.])
    tensor([1., 2.])
    """
    return input.clone()


export(clone, "clone", gg="clone")


def positive(input: TensorBase) -> TensorBase:
    """``+input``: ``input`` itself, as PyTorch's ``torch.positive`` (which refuses bool tensors).

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, -2.0])
    >>> gg.positive(x) is x
    True
    """
    if input._type.dtype == "bool":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


export(positive, "positive", tensor="positive", gg="positive")


# -- random samples whose distribution depends on a tensor -------------------------------------------------------
def _poisson_type(inputs):
    rates, seed = inputs
    if rates.dtype not in ("float32", "float64"):
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{SCALAR_NAMES[rates.dtype]}'")
    if seed.shape != () or seed.dtype != "int64":
        raise ShapeError(f"poisson: the seed must be a 0-d int64 tensor, got {seed}")
    return rates


def _poisson_expr(a, xp, out):
    if xp == "np":
        return [f"poisson_sample({a[0]}, {a[1]})"]
    # CuPy: its own generator on the device, seeded from graphgrad's (CuPy's draws differ from NumPy's)
    return [f"{xp}.asarray({xp}.random.default_rng(int({a[1]})).poisson({a[0]}), dtype={a[0]}.dtype)"]


# the samples of torch.poisson (graphgrad.runtime.factories.poisson draws the seed): a zero gradient for the
# rates, as PyTorch's PoissonBackward0
# (elementwise: eager backward gives the rates a zero gradient, not None, as PyTorch's; never fused, no c_expr)
primitive("poisson", nondiff=True, elementwise=True, memory="fresh", recompute="never", infer=_poisson_type,
          expr=_poisson_expr, helpers=(numpy_functions.poisson_sample,), batch=elementwise,
          errors=lambda arrays, error: error,
          doc="Poisson samples of the rates x, from a generator seeded with the 0-d int64 seed")
