"""PyTorch's in-place ``name_`` methods that are the out-of-place ``name`` written back (``x.sin_()``,
``x.floor_()``, ``x.gt_(0)``, ``x.cumsum_(0)``, ``x.addmm_(a, b)``, ``x //= y``), for eager and traced tensors alike
(``define.in_place``: eagerly one in-place op with PyTorch's cast and shape checks, in a trace an update of the
traced value). Declared here, after every op module, for the methods no op module declares itself; the runtime's
Tensor and the tracer's SymbolicTensor declare none of these.

>>> import graphgrad as gg
>>> x = gg.tensor([1.5, -0.5])
>>> x.floor_().gt_(0)
tensor([1., 0.])
"""
from __future__ import annotations

from operator import methodcaller

from ..ir.api import TensorBase, bind
from ..ir.public import NAMES, export
from .define import in_place

#: in-place name -> the method it calls on the old value
_FORMS = {f"{name}_": name for name in (
    "acos", "acosh", "arccos", "arccosh", "asin", "asinh", "arcsin", "arcsinh", "atan", "atanh", "arctan", "arctanh",
    "add", "sub", "mul", "div", "pow", "ceil", "floor", "round", "trunc", "fix", "cosh", "sinh", "exp2", "deg2rad",
    "rad2deg", "sinc", "bitwise_not", "logical_not", "sin", "cos", "tan", "log", "log2", "log10", "log1p", "sqrt",
    "rsqrt", "exp", "expm1", "erf", "abs", "absolute", "neg", "negative", "reciprocal", "sign", "square", "tanh",
    "sigmoid", "relu", "clamp", "clip", "atan2", "arctan2", "hypot", "fmod", "logical_and", "logical_or", "logical_xor",
    "floor_divide", "remainder", "bitwise_and", "bitwise_or", "bitwise_xor", "cumsum", "cumprod", "addmm", "addmv",
    "addr", "baddbmm", "addbmm", "scatter_add", "frac", "addcmul", "addcdiv", "erfc", "erfinv", "lgamma", "digamma",
    "polygamma", "mvlgamma", "i0", "multiply", "subtract", "divide", "true_divide", "eq", "ne", "not_equal", "lt",
    "less", "le", "less_equal", "gt", "greater", "ge", "greater_equal")}

#: Python's augmented assignments, the in-place forms (``x //= y`` is ``x.floor_divide_(y)``). Without them Python
#: would fall back to ``y = y ** 2``: a new tensor, where another name for ``y`` (``z = y``) keeps the old values
_OPERATORS = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_", "__ipow__": "pow_",
              "__ifloordiv__": "floor_divide_", "__imod__": "remainder_", "__iand__": "bitwise_and_",
              "__ior__": "bitwise_or_", "__ixor__": "bitwise_xor_"}

#: comparisons, by the name of PyTorch's node: out of place their result has no history, in place PyTorch
#: records one with a zero gradient (``GtBackward0`` against a number, ``GtBackward1`` against a tensor), so the
#: tensor's old history no longer reaches its gradient
_COMPARISONS = {"eq": "Eq", "ne": "Ne", "not_equal": "Ne", "lt": "Lt", "less": "Lt", "le": "Le", "less_equal": "Le",
                "gt": "Gt", "greater": "Gt", "ge": "Ge", "greater_equal": "Ge"}

#: forms whose node PyTorch names apart from the out-of-place one's (its in-place formulas; for acosh_, asinh_ and
#: atanh_ PyTorch has none, and raises in backward: graphgrad's gradient is the out-of-place one's)
_NODES = {"polygamma_": "PolygammaBackward1", **{f"{prefix}{name}_": f"{node}Backward1" for name, node in (
    ("cosh", "Acosh"), ("sinh", "Asinh"), ("tanh", "Atanh")) for prefix in ("a", "arc")}}


def _method(name: str, form: str):
    plain = methodcaller(form)  # (made once: most calls pass no arguments)
    node = _NODES.get(name)

    def method(self, *args, **kwargs):
        return in_place(self, methodcaller(form, *args, **kwargs) if args or kwargs else plain, node, name)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{form}``: the result written into this tensor."
    return method


def _comparison(name: str, form: str, node: str):
    def method(self, other):
        return in_place(self, lambda old: _with_zero_gradient(getattr(old, form)(other), old, other),
                        f"{node}Backward{int(isinstance(other, TensorBase))}", what=name)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{form}``: the result (1 or 0, True or False) written into this tensor."
    return method


def _with_zero_gradient(value: TensorBase, old: TensorBase, other) -> TensorBase:
    """``value`` (a comparison of ``old`` with ``other``), exactly, with a zero gradient to ``old`` and to an
    ``other`` that requires grad: ``where(True, value, old)``. Where neither requires grad, ``value`` itself (in a
    trace, where ``_requires_grad`` is not known yet, ``define.in_place`` keeps ``old`` in the graph the same way)."""
    if old._type.is_floating and isinstance(other, TensorBase) and other._requires_grad:
        old = bind("where", True, old, other)
    elif not old._requires_grad:
        return value
    return bind("where", True, value, old)


#: methods TensorBase defines as composites, with no op of their own: published under the op they end in
_COMPOSITES = {"addcmul": "add", "addcdiv": "add"}


def _op_of(method: str) -> str:
    """The op that publishes ``method`` (``acos`` is ``arccos``'s)."""
    return next((op for op, names in NAMES.items() if method in names["tensor"]), _COMPOSITES.get(method, method))


for _name, _form in _FORMS.items():
    _declared = _comparison(_name, _form, _COMPARISONS[_form]) if _form in _COMPARISONS else _method(_name, _form)
    export(_declared, _op_of(_form), tensor=(_name,) + tuple(op for op, form in _OPERATORS.items() if form == _name))
