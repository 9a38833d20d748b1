"""The array expression of every primitive, written once, used twice.

Each entry maps ``(args, xp, out, **attrs)`` to a list of source lines: optional setup statements
(which may only bind names starting with ``out``) and, last, one expression. ``args`` are the
source texts of the inputs (names or literals), ``xp`` the array module's name (``np``/``cp``).
The code generator pastes them into the module; ``kernel()`` compiles the very same text into a
function that eager execution calls, so both modes run identical array code.
"""
from __future__ import annotations

import functools
import operator
import re

from ..ir.printer import format_index
from ..ir.registry import window_count

EXPRESSIONS: dict = {}


def expression(*names):
    def register(fn):
        for name in names:
            EXPRESSIONS[name] = fn
        return fn
    return register


EXPRESSIONS["matmul"] = lambda a, xp, out: [f"{a[0]} @ {a[1]}"]


def axis_args(dim, keepdim) -> str:
    """NumPy's ``, axis=…, keepdims=True`` arguments for a reduction over normalized ``dim``."""
    parts = []
    if dim is not None:
        parts.append(f"axis={dim[0] if len(dim) == 1 else dim}")
    if keepdim:
        parts.append("keepdims=True")
    return "".join(", " + p for p in parts)


@expression("softmax")
def _softmax(a, xp, out, dim):
    e = f"{out}_exp"
    return [f"{e} = {xp}.exp({a[0]} - {a[0]}.max(axis={dim}, keepdims=True))",
            f"{e} / {e}.sum(axis={dim}, keepdims=True)"]


@expression("log_softmax")
def _log_softmax(a, xp, out, dim):
    s = f"{out}_shifted"
    return [f"{s} = {a[0]} - {a[0]}.max(axis={dim}, keepdims=True)",
            f"{s} - {xp}.log({xp}.exp({s}).sum(axis={dim}, keepdims=True))"]


EXPRESSIONS["reshape"] = lambda a, xp, out, shape: [f"{a[0]}.reshape({shape})"]
EXPRESSIONS["permute"] = lambda a, xp, out, dims: (
    [f"{a[0]}.T"] if dims == tuple(reversed(range(len(dims)))) else [f"{a[0]}.transpose({dims})"])
EXPRESSIONS["expand"] = lambda a, xp, out, shape: [f"{xp}.broadcast_to({a[0]}, {shape})"]
EXPRESSIONS["concat"] = lambda a, xp, out, dim: [f"{xp}.concatenate([{', '.join(a)}], axis={dim})"]


EXPRESSIONS["gather_rows"] = lambda a, xp, out: [f"{a[0]}[{a[1]}]"]


@expression("scatter_add_rows")
def _scatter_add_rows(a, xp, out, rows):
    z = f"{out}_rows"
    # add.at accumulates rows picked several times, where z[index] += g would keep only one of them
    return [f"{z} = {xp}.zeros(({rows},) + {a[0]}.shape[{a[1]}.ndim:], dtype={a[0]}.dtype)",
            f"{xp}.add.at({z}, {a[1]}, {a[0]})", z]


@expression("unfold2d")
def _unfold2d(a, xp, out, kernel, stride, padding, dilation):
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    source = a[0]
    lines = []
    if ph or pw:
        lines.append(f"{out}_padded = {xp}.pad({a[0]}, ((0, 0), (0, 0), ({ph}, {ph}), ({pw}, {pw})))")
        source = f"{out}_padded"
    span = (dh * (kernel[0] - 1) + 1, dw * (kernel[1] - 1) + 1)
    lines.append(f"{out}_windows = {xp}.lib.stride_tricks.sliding_window_view({source}, {span}, axis=(2, 3))")
    dilate = f", ::{dh}, ::{dw}" if (dh, dw) != (1, 1) else ""
    lines.append(f"{out}_windows[:, :, ::{sh}, ::{sw}{dilate}]")
    return lines


@expression("fold2d")
def _fold2d(a, xp, out, kernel, stride, padding, dilation, size):
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    image = f"{out}_image"
    lines = [f"{image} = {xp}.zeros({a[0]}.shape[:2] + ({size[0] + 2 * ph}, {size[1] + 2 * pw}), dtype={a[0]}.dtype)"]
    oh, ow = (window_count(*args) for args in zip(size, kernel, stride, padding, dilation))
    for i in range(kernel[0]):  # one strided slice per kernel offset: a patch grid never overlaps itself
        for j in range(kernel[1]):
            rows = f"{i * dh}:{i * dh + sh * (oh - 1) + 1}:{sh}"
            cols = f"{j * dw}:{j * dw + sw * (ow - 1) + 1}:{sw}"
            lines.append(f"{image}[:, :, {rows}, {cols}] += {a[0]}[:, :, :, :, {i}, {j}]")
    lines.append(f"{image}[:, :, {ph}:{ph + size[0]}, {pw}:{pw + size[1]}]" if ph or pw else image)
    return lines


def _subscript(index) -> str:
    """A basic index as subscript text: ``1:3, None, ...``."""
    return ", ".join(format_index((item,))[1:-1] for item in index) if index else "()"


def _index_tuple(index, xp) -> str:
    """The index as a tuple expression, for ``add.at``: ``(slice(1, 3, None), np.array([0, 2]))``."""
    parts = []
    for item in index:
        if isinstance(item, tuple) and item[0] == "array":
            parts.append(f"{xp}.array({_lists(item[1])!r})")
        elif isinstance(item, tuple) and item[0] == "slice":
            parts.append(f"slice({item[1]!r}, {item[2]!r}, {item[3]!r})")
        else:
            parts.append("Ellipsis" if item == "..." else repr(item))
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _lists(x):
    return [_lists(i) for i in x] if isinstance(x, tuple) else x


@expression("getitem")
def _getitem(a, xp, out, index):
    if any(isinstance(i, tuple) and i[0] == "array" for i in index):
        return [f"{a[0]}[{_index_tuple(index, xp)}]"]
    return [f"{a[0]}[{_subscript(index)}]"]


@expression("index_add_zeros")
def _index_add_zeros(a, xp, out, index, shape):
    z = f"{out}_zeros"
    if any(isinstance(i, tuple) and i[0] == "array" for i in index):
        # add.at accumulates repeated integer indices, where z[idx] = g would keep only the last
        scatter = f"{xp}.add.at({z}, {_index_tuple(index, xp)}, {a[0]})"
    else:
        scatter = f"{z}[{_subscript(index)}] = {a[0]}"
    return [f"{z} = {xp}.zeros({shape}, dtype={a[0]}.dtype)", scatter, z]


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
    literal), found by running its kernel on one-element arrays; None when that probe cannot run."""
    import numpy as np

    from ..ir.types import dtype_name

    probes = [np.ones((1,) * x[0], x[1]) if isinstance(x, tuple) else x for x in operands]
    try:
        with np.errstate(all="ignore"):
            return dtype_name(np.asarray(kernel(op, attrs_key, len(probes), "np")(*probes)).dtype)
    except Exception:
        return None


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
    body = "\n".join(f"    {s}" for s in lines[:-1]) + f"\n    return {lines[-1]}\n"
    src = f"def {op}_kernel({', '.join(args)}):\n{body}"
    namespace: dict = {xp_name: module}
    exec(compile(src, f"<graphgrad kernel {op}>", "exec"), namespace)
    fn = namespace[f"{op}_kernel"]
    fn.source = src
    return fn
