"""Linear algebra: matmul (the ``@`` operator) and the products built on it."""
from __future__ import annotations

from ..ir.api import bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, is_type, result_dtype, shape_of
from ..ir.types import TensorType
from .define import binary_numpy, primitive


def _matmul_type(inputs):
    a, b = inputs
    if not (is_type(a) and is_type(b)) or a.ndim == 0 or b.ndim == 0:
        raise ShapeError("both arguments to matmul need to be at least 1D, but they are "
                         f"{len(shape_of(a))}D and {len(shape_of(b))}D")
    sa, sb = a.shape, b.shape
    ka = sa[-1]
    kb = sb[-2] if len(sb) > 1 else sb[0]
    if ka != kb:
        if len(sa) == 2 and len(sb) == 2:
            raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]})")
        raise ShapeError(f"matmul: shapes {list(sa)} and {list(sb)} do not match in the contracted dimension "
                         f"({ka} != {kb})")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    shape = batch + (sa[-2:-1] if len(sa) > 1 else ()) + (sb[-1:] if len(sb) > 1 else ())
    return TensorType(shape, result_dtype([a, b]))


def _matmul_lhs(g, out, x, y):
    if y.ndim == 1:  # out = x @ y contracts y away: (..., k) from (..., 1) * (k,)
        return g.unsqueeze(-1) * y
    if x.ndim == 1:
        return (g.unsqueeze(-2) @ y.mT).reshape(y.shape[:-2] + x.shape).sum_to(x.shape)
    return g @ y.mT


def _matmul_rhs(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if x.ndim == 1:
        return x.unsqueeze(-1) * (g if y.ndim == 1 else g.unsqueeze(-2))
    if y.ndim == 1:
        return (x.mT @ g.unsqueeze(-1)).reshape(x.shape[:-2] + y.shape)
    return x.mT @ g


def _rmatmul(x, other):
    return bind("matmul", other, x)


matmul = primitive("matmul", infer=_matmul_type, vjp=(_matmul_lhs, _matmul_rhs),
                   doc="matrix product with NumPy/PyTorch batching rules (the @ operator)",
                   expr=lambda a, xp, out: [f"{a[0]} @ {a[1]}"],
                   tensor=("matmul", "mm", "__matmul__"), gg=("matmul", "mm"),
                   numpy=("matmul", "dot"), numpy_fn=binary_numpy(lambda a, b: bind("matmul", a, b)))
export(_rmatmul, "matmul", tensor="__rmatmul__")


# -- composites ---------------------------------------------------------------------------------
export(binary_numpy(lambda a, b: a.reshape(-1, 1) * b.reshape(1, -1)), "outer", numpy="outer")
