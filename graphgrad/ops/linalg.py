"""Linear algebra: matmul (the ``@`` operator) and the products built on it."""
from __future__ import annotations

import numpy as np

from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, is_type, result_dtype, shape_of
from ..ir.types import TensorType
from ..passes.row_decomposition import PARAM, REDUCED, Row, RowCouplingError
from ..passes.batching import broadcast_batch, moveaxis, pad_after_batch, to_front
from .define import as_tensors, binary_numpy, constant_like, primitive


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


def _matmul_rows(a, node, states):
    """Rows pass through a's matrix rows, b's columns or a batch axis; contracted with per-row values
    (``x.T @ y``) they are summed over, which decomposes; contracted with anything else they couple."""
    sa, sb = states
    ta, tb = node.inputs[0].type, node.inputs[1].type
    out = node.output.type
    if REDUCED in states:
        if sa is REDUCED and sb is REDUCED:
            raise RowCouplingError(node, "it multiplies two reductions over the rows")
        if isinstance(sa, Row) or isinstance(sb, Row):
            raise RowCouplingError(node, f"it combines per-row values with {a.reduced_text(node)}")
        return REDUCED  # linear in the reduced operand
    a_row = isinstance(sa, Row) and sa.axis == ta.ndim - 1  # a's last axis is contracted
    b_row = isinstance(sb, Row) and sb.axis == (tb.ndim - 2 if tb.ndim > 1 else 0)  # and b's second-to-last
    if a_row and b_row and ta.ndim <= 2 and tb.ndim <= 2:
        return REDUCED  # x.T @ y: a sum over rows of per-row outer products
    if a_row or b_row:
        other = node.inputs[1] if a_row else node.inputs[0]
        partner = "a per-row value laid out differently" if isinstance(sb if a_row else sa, Row) else \
            f"{getattr(other, 'name', None) or 'a parameter'} ({other.type})"
        raise RowCouplingError(node, f"it contracts the row axis with {partner}, weighting rows by position; "
                                     "contract rows only with another per-row value, as in x.T @ y")
    batch_out = out.ndim - (2 if ta.ndim > 1 and tb.ndim > 1 else 1)
    axes = set()
    for t, s, is_a in ((ta, sa, True), (tb, sb, False)):
        if not isinstance(s, Row):
            continue
        if is_a and (t.ndim == 1 or s.axis == t.ndim - 2):  # a's matrix rows
            axes.add(out.ndim - (2 if tb.ndim > 1 else 1))
        elif not is_a and s.axis == t.ndim - 1:  # b's columns
            axes.add(out.ndim - 1)
        else:  # a batch axis: batch dims align on the right, like broadcasting
            axes.add(s.axis - (t.ndim - 2) + batch_out)
    if len(axes) > 1:
        raise RowCouplingError(node, "it pairs every row of one operand with every row of the other "
                                     "(an outer product over rows)")
    (axis,) = axes
    for t, s in ((ta, sa), (tb, sb)):
        if s is PARAM and t.ndim > 2:  # a parameter's batch dims must not run along the rows
            pos = axis - (batch_out - (t.ndim - 2))
            if 0 <= pos < t.ndim - 2 and t.shape[pos] != 1:
                raise RowCouplingError(node, "it batches a parameter along the rows, one matrix per row")
    return Row(axis)


def _matmul_batch(op, args, bdims):
    """``a @ b`` for every example: vectors become matrices, batch axes lead, the examples' own batch axes are
    aligned by unit axes, and the matrix axes added for vectors are removed afterwards."""
    (a, da), (b, db) = zip(args, bdims)
    ra, rb = a.ndim - (da is not None), b.ndim - (db is not None)
    a, b = to_front(a, da), to_front(b, db)
    # a shared matrix (or vector) on one side: fold the batch into the rows of one 2-D product (one GEMM,
    # where a broadcast matmul would run one small product per example)
    if db is None and rb <= 2:
        lead = tuple(a.shape[:-1])
        out = a.reshape((-1, a.shape[-1])) @ b
        return out.reshape(lead + ((b.shape[-1],) if rb == 2 else ())), 0
    if da is None and ra == 2:
        # a @ b = ((b^T) @ a^T)^T for each example: rows of every example's b^T stacked, times a^T
        bt = b if rb == 1 else moveaxis(b, -2, -1)
        lead = tuple(bt.shape[:-1])
        out = (bt.reshape((-1, bt.shape[-1])) @ bind("permute", a, dims=(1, 0))).reshape(lead + (a.shape[0],))
        return (out if rb == 1 else moveaxis(out, -1, -2)), 0
    if ra == 1:
        a = a.unsqueeze(-2)
    if rb == 1:
        b = b.unsqueeze(-1)
    rank = max(max(ra, 2), max(rb, 2))
    if da is not None:
        a = pad_after_batch(a, rank)
    if db is not None:
        b = pad_after_batch(b, rank)
    out = bind("matmul", a, b)
    if rb == 1:
        out = out.reshape(out.shape[:-1])
    if ra == 1:
        axis = -1 if rb == 1 else -2
        out = out.reshape(tuple(s for i, s in enumerate(out.shape) if i != out.ndim + axis))
    return out, 0


matmul = primitive("matmul", batch=_matmul_batch, infer=_matmul_type, vjp=(_matmul_lhs, _matmul_rhs), rows=_matmul_rows,
                   doc="matrix product with NumPy/PyTorch batching rules (the @ operator)",
                   expr=lambda a, xp, out: [f"{a[0]} @ {a[1]}"],
                   tensor=("matmul", "mm", "__matmul__"), gg=("matmul", "mm"),
                   numpy=("matmul", "dot"), numpy_fn=binary_numpy(lambda a, b: bind("matmul", a, b)))
export(_rmatmul, "matmul", tensor="__rmatmul__")




def bmm(input: TensorBase, mat2: TensorBase) -> TensorBase:
    """Batched matrix product of two 3-D tensors, ``(b, n, m) @ (b, m, p) -> (b, n, p)``, without broadcasting.

    >>> import graphgrad as gg
    >>> tuple(gg.bmm(gg.ones(2, 1, 3), gg.ones(2, 3, 2)).shape)
    (2, 1, 2)
    """
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if mat2.shape[:2] != (input.shape[0], input.shape[2]):
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return bind("matmul", input, mat2)


def dot(input: TensorBase, other: TensorBase) -> TensorBase:
    """The inner product of two 1-D tensors.

    >>> import graphgrad as gg
    >>> gg.dot(gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape != other.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{other.shape[0]}] "
                           f"to have the same number of elements, but got {input.shape[0]} and {other.shape[0]} "
                           f"elements respectively")
    return bind("matmul", input, other)


def mv(input: TensorBase, vec: TensorBase) -> TensorBase:
    """Matrix times vector: ``(n, m) @ (m,) -> (n,)``.

    >>> import graphgrad as gg
    >>> gg.mv(gg.tensor([[1.0, 2.0], [3.0, 4.0]]), gg.tensor([1.0, 1.0]))
    tensor([3., 7.])
    """
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat ({input.shape[0]}x{input.shape[1]}), "
                           f"vec ({vec.shape[0]})")
    return bind("matmul", input, vec)


def outer(input: TensorBase, vec2: TensorBase) -> TensorBase:
    """The outer product of two 1-D tensors: ``out[i, j] = input[i] * vec2[j]``.

    >>> import graphgrad as gg
    >>> gg.outer(gg.tensor([1.0, 2.0]), gg.tensor([1.0, 10.0, 100.0]))
    tensor([[  1.,  10., 100.],
            [  2.,  20., 200.]])
    """
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


export(bmm, "bmm", tensor="bmm", gg="bmm")
export(dot, "dot", tensor="dot", gg="dot")
export(mv, "mv", tensor="mv", gg="mv")
export(outer, "outer", tensor=("outer", "ger"), gg=("outer", "ger"), numpy="outer",
       numpy_fn=binary_numpy(lambda a, b: a.reshape(-1, 1) * b.reshape(1, -1)))


# -- einsum ---------------------------------------------------------------------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(equation: str, operands) -> tuple:
    """``(input subscripts per operand, output subscripts)`` with ``...`` spelled out and the implicit output
    (indices that appear once, sorted) made explicit."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(terms) else
                           "einsum(): fewer operands were provided than specified in the equation")
    unused = [c for c in _LETTERS if c not in equation]
    ell_ndim = 0
    for term, op in zip(terms, operands):
        if "..." in term:
            ell_ndim = max(ell_ndim, op.ndim - (len(term) - 3))
    ell = "".join(unused[:ell_ndim])
    subs = []
    for term, op in zip(terms, operands):
        if "..." in term:
            k = op.ndim - (len(term) - 3)
            term = term.replace("...", ell[ell_ndim - k:] if k else "")
        if len(term) != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not match "
                               f"the number of dimensions ({op.ndim}) for operand {len(subs)}"
                               + (" and no ellipsis was given" if "..." not in lhs else ""))
        if len(set(term)) != len(term):
            raise NotImplementedError(f"einsum(): an index repeated within one operand ({term!r}: a diagonal) is "
                                      f"not supported")
        subs.append(term)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {c: "".join(subs).count(c) for c in "".join(subs)}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return subs, out


def _einsum_type(inputs, equation):
    subs, out = equation.split("->")[0].split(","), equation.split("->")[1]
    sizes = {}
    for term, x in zip(subs, inputs):
        for c, n in zip(term, x.shape):
            if sizes.setdefault(c, n) != n:
                raise ShapeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                                 f"index {c!r} has sizes {sizes[c]} and {n}")
    missing = [c for c in out if c not in sizes]
    if missing:
        raise ShapeError(f"einsum(): output subscript {missing[0]} does not appear in the equation for any input "
                         f"operand")
    return TensorType(tuple(sizes[c] for c in out), result_dtype(list(inputs)))


def _einsum_vjp(g, out, needs, *xs, equation):
    """d/d x_k: the einsum of g with the other operands onto x_k's subscripts; an index of x_k that appears
    nowhere else was summed away, so its gradient is broadcast back along it."""
    lhs, out_subs = equation.split("->")
    subs = lhs.split(",")
    grads = []
    for k, (x, need) in enumerate(zip(xs, needs)):
        if not need:
            grads.append(None)
            continue
        others = [s for i, s in enumerate(subs) if i != k]
        present = set(out_subs).union(*others)
        target = "".join(c for c in subs[k] if c in present)
        eq = ",".join([out_subs] + others) + "->" + target
        gk = bind("einsum", g, *[y for i, y in enumerate(xs) if i != k], equation=eq)
        if target != subs[k]:
            shape = tuple(x.shape[i] if c in present else 1 for i, c in enumerate(subs[k]))
            gk = gk.reshape(shape).expand(x.shape)
        grads.append(gk)
    return grads


def einsum(equation: str, *operands: TensorBase) -> TensorBase:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` is ``a @ b`` (``...`` and the implicit output as in
    NumPy; an index repeated within one operand is not supported).

    >>> import graphgrad as gg
    >>> gg.einsum("i,i->", gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    subs, out = _parse_einsum(equation, operands)
    return bind("einsum", *operands, equation=",".join(subs) + "->" + out)


def _einsum_batch(op, args, bdims, equation):
    """A fresh index for the batch: leading in the batched operands and in the result."""
    lhs, out = equation.split("->")
    b = next(c for c in _LETTERS if c not in equation)
    subs = [b + s if d is not None else s for s, d in zip(lhs.split(","), bdims)]
    operands = [to_front(x, d) for x, d in zip(args, bdims)]
    return bind("einsum", *operands, equation=",".join(subs) + "->" + b + out), 0


primitive("einsum", batch=_einsum_batch, attrs=("equation",), infer=_einsum_type, joint_vjp=_einsum_vjp,
          doc="Einstein summation over an explicit equation (no repeated index within an operand)",
          expr=lambda a, xp, out, equation: [f"{xp}.einsum({equation!r}, {', '.join(a)})"],
          fn=einsum, gg="einsum", numpy="einsum", numpy_fn=lambda subscripts, *operands: einsum(subscripts, *operands))


# -- NumPy's products and matrix parts (composites of einsum, indexing and where) -------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def tensordot(a, b, axes=2) -> TensorBase:
    """``numpy.tensordot``: sum products over the last ``axes`` axes of ``a`` and the first of ``b``, or over
    the listed axes ``([a axes], [b axes])``."""
    a, b = as_tensors([a, b]) if not (isinstance(a, TensorBase) and isinstance(b, TensorBase)) else (a, b)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    ax_a, ax_b = [d % a.ndim for d in ax_a], [d % b.ndim for d in ax_b]
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError("shape-mismatch for sum")
    sa = list(_LETTERS[:a.ndim])
    sb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + [c for j, c in enumerate(sb) if j not in ax_b]
    return bind("einsum", a, b, equation=f"{''.join(sa)},{''.join(sb)}->{''.join(out)}")


def inner(a, b) -> TensorBase:
    """``numpy.inner``: products summed over the last axis of both (a scalar operand multiplies)."""
    if not isinstance(a, TensorBase) or not isinstance(b, TensorBase):
        a, b = as_tensors([a, b])
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def kron(a, b) -> TensorBase:
    """``numpy.kron``: the Kronecker product (block ``a[i, j] * b``)."""
    a, b = as_tensors([a, b]) if not (isinstance(a, TensorBase) and isinstance(b, TensorBase)) else (a, b)
    n = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (n - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (n - b.ndim) + tuple(b.shape))
    sa, sb = _LETTERS[:n], _LETTERS[n:2 * n]
    product = bind("einsum", a, b, equation=f"{sa},{sb}->{''.join(x + y for x, y in zip(sa, sb))}")
    return product.reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis=None) -> TensorBase:
    """``numpy.cross`` of 3-vectors along ``axis`` (broadcasting the rest); 2-vectors give the z component."""
    a, b = as_tensors([a, b]) if not (isinstance(a, TensorBase) and isinstance(b, TensorBase)) else (a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = a.moveaxis(axisa, -1), b.moveaxis(axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return a0 * b1 - a1 * b0
    a2 = a[..., 2] if a.shape[-1] == 3 else 0.0
    b2 = b[..., 2] if b.shape[-1] == 3 else 0.0
    c = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0]
    c = [x if isinstance(x, TensorBase) else a0 * 0 + x for x in c]
    return bind("concat", *[x.unsqueeze(-1) for x in c], dim=c[0].ndim).moveaxis(-1, axisc)


def diagonal(a: TensorBase, offset: int = 0, axis1: int = 0, axis2: int = 1) -> TensorBase:
    """``numpy.diagonal``: the ``offset`` diagonal of the ``axis1``/``axis2`` planes, as the last axis."""
    m = a.moveaxis((axis1, axis2), (-2, -1))
    rows, cols = m.shape[-2], m.shape[-1]
    start_r, start_c = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(rows - start_r, cols - start_c))
    return m[..., list(range(start_r, start_r + n)), list(range(start_c, start_c + n))]


def trace(a: TensorBase, offset: int = 0, axis1: int = 0, axis2: int = 1) -> TensorBase:
    """``numpy.trace``: the sum of a diagonal."""
    return diagonal(a, offset, axis1, axis2).sum(-1)


def diag(v: TensorBase, k: int = 0) -> TensorBase:
    """``numpy.diag``: a 1-D ``v`` on the ``k``-th diagonal of a square matrix, or the ``k``-th diagonal of a
    2-D ``v``."""
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = v.shape[0]
    size = n + abs(k)
    place = np.zeros((n, size * size))  # one-hot: v[i] goes to (i, i + k) or (i - k, i)
    for i in range(n):
        r, c = (i, i + k) if k >= 0 else (i - k, i)
        place[i, r * size + c] = 1.0
    return (v @ constant_like(v, place, np.dtype(v._type.dtype) if v._type.is_floating else None)).reshape(size, size)


def _triangle(lower: bool):
    def fn(m: TensorBase, k: int = 0) -> TensorBase:
        rows, cols = m.shape[-2], m.shape[-1]
        mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
        return bind("where", constant_like(m, mask), m, 0)
    fn.__name__ = "tril" if lower else "triu"
    fn.__doc__ = f"The {'lower' if lower else 'upper'} triangle of the last two axes, from diagonal ``k``."
    return fn


tril, triu = _triangle(True), _triangle(False)
export(tensordot, "tensordot", gg="tensordot", numpy="tensordot")
export(inner, "inner", gg="inner", numpy="inner")
export(kron, "kron", gg="kron", numpy="kron")
export(cross, "cross", numpy="cross")
export(diagonal, "diagonal", numpy="diagonal")
export(trace, "trace", numpy="trace")
export(diag, "diag", numpy="diag")
export(tril, "tril", tensor="tril", gg="tril", numpy="tril")
export(triu, "triu", tensor="triu", gg="triu", numpy="triu")


# -- numpy.linalg: inv, solve, cholesky, det, slogdet (primitives; their rules use the Tensor API, so second
#    order works) ----------------------------------------------------------------------------------------
def _square_type(name):
    def infer(inputs):
        (a,) = inputs
        if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
            raise ShapeError(f"{name}: Last 2 dimensions of the array must be square, got shape {list(a.shape)}")
        return TensorType(a.shape, result_dtype([a, 1.0]))
    return infer


def _det_type(inputs):
    (a,) = inputs
    _square_type("det")(inputs)
    return TensorType(a.shape[:-2], result_dtype([a, 1.0]))


def _leading_batch(op, args, bdims, **attrs):
    """numpy.linalg's functions broadcast over leading axes: the batch axis goes first."""
    return bind(op, to_front(args[0], bdims[0]), **attrs), 0


def _solve_batch(op, args, bdims):
    (a, da), (b, db) = zip(args, bdims)
    size = next(x.shape[d] for x, d in zip(args, bdims) if d is not None)
    a, b = broadcast_batch(a, da, size), broadcast_batch(b, db, size)
    if b.ndim == 2:  # one vector per example: a one-column matrix, so the batch axis is not read as its rows
        return bind(op, a, b.unsqueeze(-1)).squeeze(-1), 0
    rank = max(a.ndim, b.ndim) - 1
    return bind(op, pad_after_batch(a, rank), pad_after_batch(b, rank)), 0


def inv(a: TensorBase) -> TensorBase:
    """The inverse of each square matrix in the last two axes (``numpy.linalg.inv``)."""
    return bind("inv", a)


primitive("inv", batch=_leading_batch, infer=_square_type("inv"), vjp=(lambda g, out, a: -(out.mT @ g @ out.mT),),
          expr=lambda a, xp, out: [f"{xp}.linalg.inv({a[0]})"], doc="matrix inverse (batched)",
          fn=inv, tensor="inverse", gg="inverse", numpy="linalg.inv")


def _solve_type(inputs):
    a, b = inputs
    _square_type("solve")([a])
    n = a.shape[-1]
    if b.ndim == 1:
        if b.shape[0] != n:
            raise ShapeError(f"solve: the right-hand side has {b.shape[0]} rows, the matrix {n}")
        return TensorType(a.shape[:-2] + (n,), result_dtype([a, b, 1.0]))
    if b.shape[-2] != n:
        raise ShapeError(f"solve: the right-hand side has {b.shape[-2]} rows, the matrix {n}")
    return TensorType(broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], result_dtype([a, b, 1.0]))


def _solve_grads(g, out, a, b):
    gb = solve(a.mT, g)
    if b.ndim == 1:  # x = A^-1 b: dA = -gb x^T
        return -(gb.unsqueeze(-1) * out.unsqueeze(-2)), gb
    return -(gb @ out.mT), gb


def solve(a: TensorBase, b: TensorBase) -> TensorBase:
    """``x`` with ``a @ x = b`` (``numpy.linalg.solve``: ``b`` 1-D is one vector, else columns)."""
    a, b = as_tensors([a, b]) if not (isinstance(a, TensorBase) and isinstance(b, TensorBase)) else (a, b)
    return bind("solve", a, b)


primitive("solve", batch=_solve_batch, infer=_solve_type,
          vjp=(lambda g, out, a, b: _solve_grads(g, out, a, b)[0].sum_to(a.shape),
               lambda g, out, a, b: _solve_grads(g, out, a, b)[1].sum_to(b.shape)),
          expr=lambda a, xp, out: [f"{xp}.linalg.solve({a[0]}, {a[1]})"], doc="solve a @ x = b (batched)",
          fn=solve, numpy="linalg.solve")


def _lower_half_diagonal(x):
    """The lower triangle of ``x`` with its diagonal halved (the Cholesky adjoint's Phi)."""
    n = x.shape[-1]
    mask = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
    return x * constant_like(x, mask, np.dtype(x._type.dtype))


def _cholesky_vjp(g, out, a):
    # Murray (2016): with P = Phi(L^T G), S = L^-T P L^-1, the cotangent of A is (S + S^T) / 2
    p = _lower_half_diagonal(out.mT @ g)
    s = solve(out.mT, solve(out.mT, p).mT).mT
    return 0.5 * (s + s.mT)


def cholesky(a: TensorBase) -> TensorBase:
    """The lower Cholesky factor ``L`` of a symmetric positive definite ``a = L @ L.T``
    (``numpy.linalg.cholesky``); only the lower triangle of ``a`` is read, and the gradient is symmetric."""
    return bind("cholesky", a)


primitive("cholesky", batch=_leading_batch, infer=_square_type("cholesky"), vjp=(_cholesky_vjp,),
          expr=lambda a, xp, out: [f"{xp}.linalg.cholesky({a[0]})"], doc="lower Cholesky factor (batched)",
          fn=cholesky, numpy="linalg.cholesky")


def det(a: TensorBase) -> TensorBase:
    """The determinant of each square matrix (``numpy.linalg.det``); its gradient ``det(a) inv(a)^T`` needs
    ``a`` invertible."""
    return bind("det", a)


primitive("det", batch=_leading_batch, infer=_det_type, vjp=(lambda g, out, a: (g * out).unsqueeze(-1).unsqueeze(-1) * inv(a).mT,),
          expr=lambda a, xp, out: [f"{xp}.linalg.det({a[0]})"], doc="determinant (batched)",
          fn=det, tensor="det", gg="det", numpy="linalg.det")
primitive("slogdet_sign", batch=_leading_batch, infer=_det_type, nondiff=True,
          expr=lambda a, xp, out: [f"{xp}.linalg.slogdet({a[0]})[0]"], doc="the sign of the determinant")
primitive("logabsdet", batch=_leading_batch, infer=_det_type, vjp=(lambda g, out, a: g.unsqueeze(-1).unsqueeze(-1) * inv(a).mT,),
          expr=lambda a, xp, out: [f"{xp}.linalg.slogdet({a[0]})[1]"], doc="log |det(a)|, computed stably")


def slogdet(a: TensorBase):
    """``(sign, logabsdet)`` of each square matrix (``numpy.linalg.slogdet``); ``logabsdet`` differentiates."""
    from collections import namedtuple

    return namedtuple("SlogdetResult", ["sign", "logabsdet"])(bind("slogdet_sign", a), bind("logabsdet", a))


export(slogdet, "slogdet", numpy="linalg.slogdet")
