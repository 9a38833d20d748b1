"""The array expression of every primitive, written once, used twice.

Each entry maps ``(args, xp, out, **attrs)`` to a list of source lines: optional setup statements
(which may only bind names starting with ``out``) and, last, one expression. ``args`` are the
source texts of the inputs (names or literals), ``xp`` the array module's name (``np``/``cp``).
The code generator pastes them into the module; ``kernel()`` compiles the very same text into a
function that eager execution calls, so both modes run identical array code.
"""
from __future__ import annotations

import functools
import math
import operator
import re

from ..ir.graph import reserve_name
from ..ir.printer import format_index

EXPRESSIONS: dict = {}

#: standard-library modules an expression may use besides the array module; a generated module imports
#: one only when its code uses it
STDLIB_IMPORTS = ("math",)

#: functions NumPy lacks that NumPy expressions call (``ops/numpy_functions.py``), by name; OP_HELPERS: op -> the
#: names its NumPy expression calls. A generated NumPy module defines those of its ops (``helper_source``).
#: ANY_ARRAY_HELPERS: those that read only their arrays' own methods, which CuPy expressions may call too.
HELPERS: dict = {}
OP_HELPERS: dict = {}
ANY_ARRAY_HELPERS: set = set()
_HELPER_SOURCES: dict = {}


def helper(fn=None, *, any_array: bool = False):
    """Register ``fn`` (a module-level function of arrays that reads only ``np`` and ``math``) as a function NumPy
    expressions may call by its name, which no value is then given (``ir.graph.reserve_name``). With
    ``any_array=True`` (``@helper(any_array=True)``) it reads no module at all, only its arguments' methods, and
    CuPy expressions and modules may call it as well."""
    if fn is None:
        return functools.partial(helper, any_array=any_array)
    reserve_name(fn.__name__)
    HELPERS[fn.__name__] = fn
    if any_array:
        ANY_ARRAY_HELPERS.add(fn.__name__)
    return fn


def helper_source(name: str) -> str:
    """The source of helper ``name`` as a generated module defines it (without its decorator)."""
    text = _HELPER_SOURCES.get(name)
    if text is None:
        import inspect

        lines = inspect.getsource(HELPERS[name]).splitlines()
        text = _HELPER_SOURCES[name] = "\n".join(line for line in lines if not line.startswith("@"))
    return text


def expression(*names):
    def register(fn):
        for name in names:
            EXPRESSIONS[name] = fn
        return fn
    return register


def axis_args(dim, keepdim) -> str:
    """NumPy's ``, axis=…, keepdims=True`` arguments for a reduction over normalized ``dim``."""
    parts = []
    if dim is not None:
        parts.append(f"axis={dim[0] if len(dim) == 1 else dim}")
    if keepdim:
        parts.append("keepdims=True")
    return "".join(", " + p for p in parts)


def literal(value, xp: str) -> str:
    """Source text of an attribute value (a number, or nested tuples of numbers): its repr, with nan and the
    infinities spelled ``xp.nan`` and ``xp.inf`` (repr's ``nan`` and ``inf`` name nothing in a module)."""
    text = repr(value)
    if "nan" not in text and "inf" not in text:
        return text
    if isinstance(value, tuple):
        return "(" + "".join(literal(v, xp) + ", " for v in value) + ")"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{xp}.nan" if math.isnan(value) else f"{'-' if value < 0 else ''}{xp}.inf"
    return text


def subscript(index) -> str:
    """A basic index as subscript text: ``1:3, None, ...``."""
    return ", ".join(format_index((item,))[1:-1] for item in index) if index else "()"


def statements(op: str, args: list[str], xp: str, out: str, attrs: dict) -> list[str]:
    """The source lines of one node (see module docstring)."""
    try:
        template = EXPRESSIONS[op]
    except KeyError:
        raise NotImplementedError(f"primitive {op!r} has no array expression") from None
    return template(args, xp, out, **attrs)


@functools.lru_cache(maxsize=4096)
def computed_dtype(op: str, attrs_key: tuple, operands: tuple) -> str | None:
    """The dtype NumPy gives ``op``'s expression for ``operands`` ((ndim, dtype name) per array, or the Python
    literal), found by running its kernel on one-element arrays; None when that probe cannot run. NumPy's own
    name: one that graphgrad does not store (``computes_narrow``) says the expression must read its bool
    operands cast first."""
    import numpy as np

    probes = [np.ones((1,) * x[0], x[1]) if isinstance(x, tuple) else x for x in operands]
    try:
        with np.errstate(all="ignore"):
            return np.asarray(kernel(op, attrs_key, len(probes), "np")(*probes)).dtype.name
    except Exception:
        return None


def computes_narrow(numpy_dtype: str | None) -> bool:
    """Whether NumPy computes in a dtype graphgrad does not store, which it does only from bool operands:
    ``exp``, ``sin``, ``atan2`` of bools in float16 (``exp(True)`` is 2.719 there, e = 2.71828 in PyTorch's float32),
    ``bool ** 2`` in int8. The expression must then read its bool operands cast to the result's dtype, as
    PyTorch computes them."""
    from ..ir.types import DTYPES

    return numpy_dtype is not None and numpy_dtype not in DTYPES


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
              "@": operator.matmul, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
              "==": operator.eq, "!=": operator.ne}
_CALL = re.compile(r"(\w+)\.(\w+)\(a0\)")


@functools.lru_cache(maxsize=4096)
def kernel(op: str, attrs_key: tuple, nargs: int, xp_name: str):
    """Compile the expression of ``op`` into ``f(*arrays)`` for eager execution (cached)."""
    args = [f"a{i}" for i in range(nargs)]
    lines = statements(op, args, xp_name, "out", dict(attrs_key))
    if xp_name == "np":
        import numpy as module
    else:
        import cupy as module  # noqa: F811  (only reached with CuPy tensors)
    # An expression that is one operator or one module function of the arguments is that callable
    # itself: the same array code, without a Python frame around it (eager ops are that much cheaper).
    if len(lines) == 1:
        parts = lines[0].split(" ")
        if nargs == 2 and len(parts) == 3 and parts[0] == "a0" and parts[2] == "a1" and parts[1] in _OPERATORS:
            return _OPERATORS[parts[1]]
        call = _CALL.fullmatch(lines[0])
        if nargs == 1 and call and call.group(1) == xp_name and hasattr(module, call.group(2)):
            return getattr(module, call.group(2))
        name = lines[0].partition("(")[0]
        if xp_name == "np" and name in HELPERS and lines[0] == f"{name}({', '.join(args)})":
            return HELPERS[name]  # (where(a0, a1, a2): the helper itself)
    body = "\n".join(f"    {s}" for s in lines[:-1]) + f"\n    return {lines[-1]}\n"
    src = f"def {op}_kernel({', '.join(args)}):\n{body}"
    namespace: dict = {xp_name: module, "math": math}  # math: see STDLIB_IMPORTS
    namespace.update(HELPERS if xp_name == "np" else {name: HELPERS[name] for name in ANY_ARRAY_HELPERS})
    exec(compile(src, f"<graphgrad kernel {op}>", "exec"), namespace)
    fn = namespace[f"{op}_kernel"]
    fn.source = src
    return fn
