"""Linear algebra: matmul (the ``@`` operator) and the products built on it."""
from __future__ import annotations

import builtins
import operator
import string
import warnings
from collections import namedtuple

import numpy as np

from ..ir import return_types
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, is_type, normalize_dims, result_dtype, shape_of, torch_dims
from ..ir.types import SCALAR_NAMES, TensorType
from ..passes.row_decomposition import PARAM, REDUCED, Row, RowCouplingError
from ..passes.batching import broadcast_batch, moveaxis, pad_after_batch, to_front
from .define import binary_numpy, constant_like, primitive, refuse_traced, tensor_operands, tensors_only


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


def _matmul_torch_name(attrs, in_types) -> str:
    """PyTorch dispatches matmul by the operands' dims: mm, mv, dot, or matmul's own (batched) backward."""
    dims = tuple(t.ndim for t in in_types)
    return {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0"}.get(dims, "MatmulBackward0")


matmul = primitive("matmul", memory="fresh", zero_signs="positive", batch=_matmul_batch, infer=_matmul_type, vjp=(_matmul_lhs, _matmul_rhs), rows=_matmul_rows,
                   torch_name=_matmul_torch_name,
                   doc="matrix product with NumPy/PyTorch batching rules (the @ operator)",
                   expr=lambda a, xp, out: [f"{a[0]} @ {a[1]}"],
                   tensor=("matmul", "mm", "__matmul__"), gg=("matmul", "mm"),
                   numpy="matmul", numpy_fn=binary_numpy(lambda a, b: bind("matmul", a, b)))
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


def _numpy_dot(a, b):
    """``numpy.dot``: a product with a scalar, else a sum over a's last axis and b's second-to-last (its only
    axis when 1-D); that is ``matmul`` unless b has more than two axes, where dot pairs every matrix of a with
    every matrix of b."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:  # a Python number stays a number (lift keeps it weakly typed)
        return a * b
    if b.ndim <= 2:
        return bind("matmul", a, b)
    return tensordot(a, b, ([-1], [-2]))


export(bmm, "bmm", tensor="bmm", gg="bmm")
def _dot_method(x: TensorBase, other) -> TensorBase:
    """``x.dot(y)``: PyTorch's inner product of two 1-D tensors; any other operands (a matrix, N-D, a
    scalar, an array) are NumPy's ``x.dot(y)``, ``numpy.dot``'s semantics, where PyTorch would raise."""
    if isinstance(other, TensorBase) and x.ndim == 1 and other.ndim == 1:
        return dot(x, other)
    return binary_numpy(_numpy_dot)(x, other)


export(dot, "dot", gg="dot", numpy="dot", numpy_fn=binary_numpy(_numpy_dot))
export(_dot_method, "dot", tensor="dot")
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
            seen = sizes.setdefault(c, n)
            if seen != n:  # a size 1 broadcasts against any other, as in PyTorch's and NumPy's einsum
                if 1 not in (seen, n):
                    raise ShapeError(f"einsum(): operands do not broadcast with remapped shapes "
                                     f"(original->remapped): index {c!r} has sizes {seen} and {n}")
                sizes[c] = max(seen, n)
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
        # an axis of size 1 in x_k that broadcast against a longer one: its gradient is the sum along it
        summed = tuple(j for j, c in enumerate(target) if x.shape[subs[k].index(c)] == 1 and gk.shape[j] != 1)
        if summed:
            gk = gk.sum(summed, keepdim=True)
        if target != subs[k]:
            shape = tuple(gk.shape[target.index(c)] if c in present else 1 for c in subs[k])
            gk = gk.reshape(shape).expand(x.shape)
        elif tuple(gk.shape) != tuple(x.shape):  # an axis x_k has whole, that another operand had of size 1
            gk = gk.expand(x.shape)
        grads.append(gk)
    return grads


_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # NumPy's: subscript 0 is 'A', 26 is 'a'


def _sublist_term(sublist, what: str) -> str:
    """One sublist (integers in [0, 52) and Ellipsis) as the subscripts of a string equation."""
    if isinstance(sublist, (str, TensorBase)) or not hasattr(sublist, "__iter__"):
        raise TypeError(f"einsum(): {what} must be a list of integer subscripts (and Ellipsis), got "
                        f"{type(sublist).__name__}")
    term = ""
    for item in sublist:
        if item is Ellipsis:
            term += "..."
            continue
        try:
            k = operator.index(item)
        except TypeError:
            raise TypeError(f"einsum(): {what} holds {item!r}: each subscript must be an integer or "
                            f"Ellipsis") from None
        if not 0 <= k < len(_SUBLIST_LETTERS):
            raise ValueError(f"einsum(): subscript {k} in {what} is not within the valid range [0, 52)")
        term += _SUBLIST_LETTERS[k]
    return term


def _sublist_form(args) -> tuple:
    """``einsum(op0, sublist0, op1, sublist1, ..., [sublistout])`` (NumPy's and PyTorch's sublist form) as
    ``(equation, operands)`` of the string form."""
    args = list(args)
    out = args.pop() if len(args) % 2 else None
    terms = [_sublist_term(sub, f"the sublist of operand {k}") for k, sub in enumerate(args[1::2])]
    arrow = "" if out is None else "->" + _sublist_term(out, "the output sublist")
    return ",".join(terms) + arrow, args[0::2]


def einsum(equation, *operands) -> TensorBase:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` is ``a @ b`` (``...``, the implicit output and an index
    repeated within one operand, a diagonal such as ``"ii->i"``, as in NumPy). The sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (integers for indices, ``Ellipsis`` for ``...``) is the same
    equation. Operands that are arrays, lists or numbers are constants.

    >>> import graphgrad as gg
    >>> gg.einsum("i,i->", gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    tensor(11.)
    >>> gg.einsum(gg.tensor([[1.0, 2.0], [3.0, 4.0]]), [0, 1], gg.tensor([1.0, 2.0]), [1], [0])
    tensor([ 5., 11.])
    """
    if not isinstance(equation, str):
        equation, operands = _sublist_form((equation,) + operands)
    elif len(operands) == 1 and isinstance(operands[0], (list, tuple)) \
            and any(isinstance(x, TensorBase) for x in operands[0]):
        operands = tuple(operands[0])  # PyTorch's einsum(equation, [a, b])
    operands = tensor_operands(*operands, what="einsum")
    subs, out = _parse_einsum(equation, operands)
    operands = list(operands)
    for k, term in enumerate(subs):  # an index repeated within one operand reads its diagonal ("ii->i")
        while len(set(term)) != len(term):
            c = next(ch for ch in term if term.count(ch) > 1)
            i, j = term.index(c), term.index(c, term.index(c) + 1)
            if operands[k].shape[i] != operands[k].shape[j]:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the sizes don't match, "
                                   f"{operands[k].shape[i]} != {operands[k].shape[j]}")
            operands[k] = diagonal(operands[k], 0, i, j)
            term = "".join(ch for p, ch in enumerate(term) if p not in (i, j)) + c
        subs[k] = term
    return bind("einsum", *operands, equation=",".join(subs) + "->" + out)


def _numpy_einsum(*args, optimize=False):
    """``numpy.einsum`` on tensors: ``optimize`` (the contraction order NumPy picks) changes no value, so it is
    accepted and ignored."""
    return einsum(*args)


def _einsum_batch(op, args, bdims, equation):
    """A fresh index for the batch: leading in the batched operands and in the result."""
    lhs, out = equation.split("->")
    b = next(c for c in _LETTERS if c not in equation)
    subs = [b + s if d is not None else s for s, d in zip(lhs.split(","), bdims)]
    operands = [to_front(x, d) for x, d in zip(args, bdims)]
    return bind("einsum", *operands, equation=",".join(subs) + "->" + b + out), 0


def _einsum_expr(a, xp, out, equation):
    call = f"{xp}.einsum({equation!r}, {', '.join(a)})"
    lhs, rhs = equation.split("->")
    # one operand and nothing summed ('ij->ji'): NumPy returns a view of the operand, and the result is declared
    # fresh (memory planning writes into fresh buffers in place), so copy it
    return [call + ".copy()" if len(a) == 1 and set(lhs) == set(rhs) else call]


primitive("einsum", memory="fresh", batch=_einsum_batch, attrs=("equation",), infer=_einsum_type, joint_vjp=_einsum_vjp,
          doc="Einstein summation over an explicit equation (no repeated index within an operand: einsum() takes "
              "such diagonals first)",
          expr=_einsum_expr,
          fn=einsum, gg="einsum", numpy="einsum", numpy_fn=_numpy_einsum)


# -- matrix functions: inverse, solve, determinants, factorizations ----------------------------------
# Each acts on the last two axes and batches over the leading ones, as numpy.linalg and torch.linalg do.
# A factorization with several results (eigh: values and vectors; svd: U, S, Vh) is one primitive whose
# output packs them along the second-to-last axis, so the decomposition runs once and the public
# functions slice it apart (slices of one value, so compiled code computes it once).
_TORCH_DTYPES = {"int64": "Long", "int32": "Int", "bool": "Bool", "float16": "Half"}


def _matrix_type(name: str, x, square: bool = True) -> None:
    if len(shape_of(x)) < 2:
        raise ShapeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{name}: A must be batches of square matrices, but they are {x.shape[-2]} by "
                         f"{x.shape[-1]} matrices")
    if not x.is_floating:
        raise ShapeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                         f"{_TORCH_DTYPES.get(x.dtype, x.dtype)}")


class LinAlgError(RuntimeError, np.linalg.LinAlgError):
    """A matrix function failed on valid input (a singular or indefinite matrix): ``torch.linalg.LinAlgError``,
    also a ``numpy.linalg.LinAlgError``."""


def _first_failure(arrays, fails, api: str, text: str):
    """``LinAlgError`` for the first matrix (in batch order) for which ``fails(matrix)`` gives an ``info``, in
    PyTorch's words: ``api: (Batch element i): text``, ``text`` formatted with ``info``."""
    a = np.asarray(getattr(arrays[0], "get", lambda: arrays[0])())
    mats = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(mats):
        info = fails(m)
        if info is not None:
            batch = f"(Batch element {i}): " if a.ndim > 2 else ""
            return LinAlgError(f"{api}: {batch}{text.format(info=info)}")
    return None


def _zero_pivot(m):
    """The 1-based column of the first exactly zero pivot of LU with partial pivoting (LAPACK getrf's info)."""
    u = np.array(m, dtype=np.float64)
    for j in range(u.shape[0]):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        if u[p, j] == 0:
            return j + 1
        u[[j, p]] = u[[p, j]]
        u[j + 1:, j:] -= np.outer(u[j + 1:, j] / u[j, j], u[j, j:])
    return None


def _failed_minor(m):
    """The order of the first leading minor that is not positive-definite (LAPACK potrf's info)."""
    for k in range(1, m.shape[0] + 1):
        try:
            np.linalg.cholesky(m[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return None


def _singular(api: str, text: str):
    return lambda arrays, error: _first_failure(arrays, _zero_pivot, api, text)


def _square(name: str, out_shape=lambda s: s):
    def infer(inputs, **attrs):
        x = inputs[0]
        _matrix_type(name, x)
        return TensorType(tuple(out_shape(x.shape)), x.dtype)
    return infer


def _batch_matrices(op, args, bdims, **attrs):
    """Matrix functions batch over their leading axes already: the vmapped axis goes first."""
    return bind(op, to_front(args[0], bdims[0]), **attrs), 0


def _float(x):
    """NumPy's linalg computes in float64 for integer input."""
    return x if x.is_floating_point() else x._cast("float64")


def _safe_reciprocal(d):
    """``1 / d`` where ``d != 0`` and 0 where it is (the diagonal of an eigen/singular value difference matrix,
    and repeated values, where the derivative is undefined); the inner ``where`` keeps the untaken branch finite
    so second order is not poisoned by ``0 * inf``."""
    zero = d == 0
    return bind("where", zero, 0.0, 1.0 / bind("where", zero, 1.0, d))


def _sym(a):
    return (a + a.mT) * 0.5


inv = primitive("inv", infer=_square("linalg.inv"), batch=_batch_matrices,
                doc="the inverse of each square matrix (numpy.linalg.inv)",
                vjp=(lambda g, out, x: -(out.mT @ g @ out.mT),),
                expr=lambda a, xp, out: [f"{xp}.linalg.inv({a[0]})"],
                errors=_singular("linalg.inv", "The diagonal element {info} is zero, the inversion could not be "
                                               "completed because the input matrix is singular."))


def _inverse(x: TensorBase) -> TensorBase:
    """The inverse of a square matrix, or of each matrix in a batch ``(..., n, n)``.

    >>> import graphgrad as gg
    >>> gg.linalg.inv(gg.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return bind("inv", x)


export(_inverse, "inv", tensor="inverse", gg=("inverse", "linalg.inv"), numpy="linalg.inv",
       numpy_fn=lambda a: bind("inv", _float(a)))


def _solve_type(inputs):
    a, b = inputs
    _matrix_type("linalg.solve", a)
    n = a.shape[-1]
    if len(shape_of(b)) == 0:
        raise ShapeError("linalg.solve: Expected B to have at least 1 dimension, but got a 0-D tensor")
    vector = b.ndim == 1  # NumPy 2's rule: only a 1-D b is a vector
    if (b.shape[0] if vector else b.shape[-2]) != n:
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                         f"({n}x{n} and {'x'.join(map(str, b.shape[-2:] if not vector else b.shape))})")
    batch = broadcast_shapes(a.shape[:-2], () if vector else b.shape[:-2])
    return TensorType(batch + ((n,) if vector else (n, b.shape[-1])), result_dtype([a, b]))


def _solve(a, b):
    """``solve(a, b)`` with NumPy 2's rule, bound in the form every NumPy and CuPy version reads alike: a 1-D b
    only beside a single matrix, otherwise a matrix b with a's batch axes (older CuPy neither broadcasts batch
    axes nor takes NumPy 2's vector rule); the common cases bind as they are."""
    if b.ndim == 1 and a.ndim == 2:
        return bind("solve", a, b)
    vector = b.ndim == 1
    bm = b.unsqueeze(-1) if vector else b
    batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(bm.shape[:-2]))
    if tuple(a.shape[:-2]) != batch:
        a = bind("expand", a, shape=batch + tuple(a.shape[-2:]))
    if tuple(bm.shape[:-2]) != batch:
        bm = bind("expand", bm, shape=batch + tuple(bm.shape[-2:]))
    out = bind("solve", a, bm)
    return out.squeeze(-1) if vector else out


def _solve_rhs_matrix(g, out, a, b):
    """x = A^-1 b: gb = A^-T g (vectors as one-column matrices)."""
    return _solve(a.mT, g.unsqueeze(-1) if b.ndim == 1 else g)


def _solve_lhs(g, out, a, b):
    """gA = -gb x^T."""
    xm = out.unsqueeze(-1) if b.ndim == 1 else out
    return (-(_solve_rhs_matrix(g, out, a, b) @ xm.mT)).sum_to(a.shape)


def _solve_rhs(g, out, a, b):
    gbm = _solve_rhs_matrix(g, out, a, b)
    return (gbm.squeeze(-1) if b.ndim == 1 else gbm).sum_to(b.shape)


def _solve_batch(op, args, bdims):
    """The examples' batch axes lead and align (unit axes after the batch); a per-example vector becomes a
    one-column matrix so NumPy's vector rule cannot misread the batch as matrix rows."""
    (a, da), (b, db) = zip(args, bdims)
    ra, rb = a.ndim - (da is not None), b.ndim - (db is not None)
    a, b = to_front(a, da), to_front(b, db)
    vector = rb == 1
    if vector:
        b = b.unsqueeze(-1)
    rank = builtins.max(ra, builtins.max(rb, 2))
    if da is not None:
        a = pad_after_batch(a, rank)
    if db is not None:
        b = pad_after_batch(b, rank)
    out = _solve(a, b)
    return (out.squeeze(-1) if vector else out), 0


primitive("solve", infer=_solve_type, vjp=(_solve_lhs, _solve_rhs), batch=_solve_batch,
          doc="the solution x of a @ x = b (numpy.linalg.solve; b is a vector only when 1-D)",
          expr=lambda a, xp, out: [f"{xp}.linalg.solve({a[0]}, {a[1]})"],
          errors=_singular("linalg.solve", "The solver failed because the input matrix is singular."))


def solve(A: TensorBase, B: TensorBase, *, left: bool = True) -> TensorBase:
    """The solution ``X`` of ``A @ X = B`` (``torch.linalg.solve``): ``B`` is a batch of vectors when it is 1-D
    or has the shape ``A.shape[:-1]``, otherwise of matrices; ``left=False`` solves ``X @ A = B``.

    >>> import graphgrad as gg
    >>> gg.linalg.solve(gg.tensor([[2.0, 0.0], [0.0, 4.0]]), gg.tensor([1.0, 1.0]))
    tensor([0.5000, 0.2500])
    """
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if not left:
        n = A.shape[-1] if A.ndim else 0
        rows, cols = (B.shape[-1], 1) if vector else tuple(B.shape[-2:]) if B.ndim >= 2 else (0, 0)
        if A.ndim >= 2 and cols != n:  # PyTorch's check, a vector b read as one column
            raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation XA = B ({n}x{n} and "
                               f"{rows}x{cols})")
        if vector:
            raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not supported for "
                               "left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)")
        return _solve(A.mT, B.mT).mT  # X A = B: A^T X^T = B^T, B^T a matrix (never read as vectors)
    if vector:
        return _solve(A, B.unsqueeze(-1)).squeeze(-1)
    return _solve(A, B)


def _numpy_solve(a, b):
    a, b = tensor_operands(a, b, what="linalg.solve")
    return _solve(_float(a), b)


export(solve, "solve", gg="linalg.solve", numpy="linalg.solve", numpy_fn=_numpy_solve)


def _det_vjp(g, out, x):
    """g times the cofactor matrix: det(x) inv(x)^T where det(x) != 0; where it is 0 (inv fails; LU's det is 0
    exactly when a pivot is), PyTorch's singular formula from x = U S V^T, det(U) det(V) U diag(prod_{j != i} s_j)
    V^T, finite and differentiable again (the inverse is then taken of the identity in x's place)."""
    from .reductions import cumprod
    n = x.shape[-1]
    singular = (out == 0).unsqueeze(-1).unsqueeze(-1)
    eye = diag_embed(bind("full_like", diagonal(x, 0, -2, -1), value=1))  # identities, a batch like x
    regular = out.unsqueeze(-1).unsqueeze(-1) * bind("inv", bind("where", singular, eye, x)).mT
    u, s, v = _svd_parts(bind("svd", x), n)
    ones = bind("full_like", s[..., :1], value=1)
    before = cumprod(bind("concat", ones, s[..., :n - 1], dim=s.ndim - 1), -1)  # s_0 ... s_{i-1}
    after = cumprod(bind("concat", ones, s.flip(-1)[..., :n - 1], dim=s.ndim - 1), -1).flip(-1)  # s_{i+1} ...
    sign = (bind("detsign", u) * bind("detsign", v)).unsqueeze(-1).unsqueeze(-1)
    cofactors = sign * ((u * (before * after).unsqueeze(-2)) @ v.mT)
    return g.unsqueeze(-1).unsqueeze(-1) * bind("where", singular, cofactors, regular)


det = primitive("det", infer=_square("linalg.det", lambda s: s[:-2]), batch=_batch_matrices,
                doc="the determinant of each square matrix (numpy.linalg.det)",
                vjp=(_det_vjp,),
                expr=lambda a, xp, out: [f"{xp}.linalg.det({a[0]})"])
primitive("logabsdet", infer=_square("linalg.slogdet", lambda s: s[:-2]), batch=_batch_matrices,
          doc="log |det| of each square matrix (numpy.linalg.slogdet's second result)",
          vjp=(lambda g, out, x: g.unsqueeze(-1).unsqueeze(-1) * bind("inv", x).mT,),
          expr=lambda a, xp, out: [f"{xp}.linalg.slogdet({a[0]})[1]"])
primitive("detsign", infer=_square("linalg.slogdet", lambda s: s[:-2]), batch=_batch_matrices, nondiff=True,
          doc="the sign of each determinant (numpy.linalg.slogdet's first result; piecewise constant)",
          expr=lambda a, xp, out: [f"{xp}.linalg.slogdet({a[0]})[0]"])

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


def _det(x: TensorBase) -> TensorBase:
    """The determinant of a square matrix (or of each in a batch); its gradient is ``det(x) * inv(x).T``.

    >>> import graphgrad as gg
    >>> gg.linalg.det(gg.tensor([[2.0, 1.0], [1.0, 3.0]]))
    tensor(5.)
    """
    return bind("det", x)


def slogdet(x: TensorBase) -> SlogdetResult:
    """``(sign, logabsdet)`` of the determinant, without overflow for large matrices.

    >>> import graphgrad as gg
    >>> gg.linalg.slogdet(gg.tensor([[-2.0, 0.0], [0.0, 3.0]])).logabsdet
    tensor(1.7918)
    """
    return SlogdetResult(bind("detsign", x), bind("logabsdet", x))


def logdet(x: TensorBase) -> TensorBase:
    """``log(det(x))``: nan for a negative determinant and -inf for zero, as PyTorch's ``logdet``."""
    return bind("logabsdet", x) + bind("detsign", x).log()


export(_det, "det", tensor="det", gg=("det", "linalg.det"), numpy="linalg.det",
       numpy_fn=lambda a: bind("det", _float(a)))
export(slogdet, "slogdet", tensor="slogdet", gg=("slogdet", "linalg.slogdet"), numpy="linalg.slogdet",
       numpy_fn=lambda a: slogdet(_float(a)))
export(logdet, "logdet", tensor="logdet", gg="logdet")


def _cholesky_vjp(g, out, x):
    """Murray (2016), symmetrized as PyTorch, JAX and autograd do: the gradient with respect to the symmetric
    matrix, S = L^-T phi(L^T gL) L^-1 with phi taking the lower triangle and halving the diagonal."""
    p = bind("tril", out.mT @ g, k=0) + bind("tril", out.mT @ g, k=-1)
    lt = out.mT
    s = _solve(lt, _solve(lt, p * 0.5).mT).mT
    return _sym(s)


primitive("cholesky", infer=_square("linalg.cholesky"), batch=_batch_matrices, vjp=(_cholesky_vjp,),
          doc="the lower Cholesky factor L (A = L L^T) of each symmetric positive-definite matrix",
          expr=lambda a, xp, out: [f"{xp}.linalg.cholesky({a[0]})"],
          errors=lambda arrays, error: _first_failure(
              arrays, _failed_minor, "linalg.cholesky", "The factorization could not be completed because the input "
              "is not positive-definite (the leading minor of order {info} is not positive-definite)."))


def cholesky(A: TensorBase, upper: bool = False) -> TensorBase:
    """The Cholesky factor of a symmetric positive-definite matrix: lower ``L`` with ``A = L @ L.mT`` (upper
    ``U`` with ``A = U.mT @ U`` with ``upper=True``). Only the lower triangle is read (the upper one with
    ``upper=True``, as PyTorch and LAPACK); the gradient is the symmetric one (as
    PyTorch and JAX give), the gradient with respect to a symmetric ``A``.

    >>> import graphgrad as gg
    >>> gg.linalg.cholesky(gg.tensor([[4.0, 2.0], [2.0, 5.0]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    if upper:  # LAPACK's uplo='U', as PyTorch: the upper triangle is read (the lower one of A.mT)
        return bind("cholesky", A.mT).mT
    return bind("cholesky", A)


def _triangle_read(a: TensorBase, UPLO: str = "L") -> TensorBase:
    """The symmetric matrix LAPACK reads from ``a``'s ``UPLO`` triangle, built explicitly. NumPy's ``eigh`` and
    ``cholesky`` ignore the other triangle; computed from this matrix, the NumPy face's value is NumPy's (the same
    triangle) and its gradient is the derivative of that value, as HIPS autograd's and finite differences: for a
    matrix that is not symmetric, the read triangle's entries get it all, off-diagonal ones twice. (PyTorch and JAX
    give the symmetric gradient instead, the PyTorch face's; for a symmetric parameterization, ``B + B.T`` or
    ``B @ B.T``, the two agree.)"""
    low = tril(a) if UPLO == "L" else triu(a).mT
    return low + tril(low, -1).mT


export(cholesky, "cholesky", tensor="cholesky", gg=("cholesky", "linalg.cholesky"), numpy="linalg.cholesky",
       numpy_fn=lambda a, upper=False: cholesky(_triangle_read(_float(a), "U" if upper else "L"), upper))


def _tri_type(name: str):
    def infer(inputs, k):
        x = inputs[0]
        if len(shape_of(x)) < 2:
            raise ShapeError(f"{name}: input tensor must have at least 2 dimensions")
        return TensorType(x.shape, x.dtype)
    return infer


for _tri in ("tril", "triu"):
    primitive(_tri, attrs=("k",), infer=_tri_type(_tri), batch=_batch_matrices,
              doc=f"the {'lower' if _tri == 'tril' else 'upper'} triangle on and "
                  f"{'below' if _tri == 'tril' else 'above'} diagonal k of each matrix, zeros elsewhere",
              vjp=((lambda name: lambda g, out, x, *, k: bind(name, g, k=k))(_tri),),
              expr=(lambda name: lambda a, xp, out, k: [f"{xp}.{name}({a[0]}" + (f", k={k})" if k else ")")])(_tri))


def tril(input: TensorBase, diagonal: int = 0) -> TensorBase:
    """The lower triangle of each matrix (on and below ``diagonal``), zeros elsewhere.

    >>> import graphgrad as gg
    >>> gg.tril(gg.ones(2, 2))
    tensor([[1., 0.],
            [1., 1.]])
    """
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return bind("tril", input, k=int(diagonal))


def triu(input: TensorBase, diagonal: int = 0) -> TensorBase:
    """The upper triangle of each matrix (on and above ``diagonal``), zeros elsewhere.

    >>> import graphgrad as gg
    >>> gg.triu(gg.ones(2, 2))
    tensor([[1., 1.],
            [0., 1.]])
    """
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return bind("triu", input, k=int(diagonal))


export(tril, "tril", tensor="tril", gg="tril", numpy="tril", numpy_fn=lambda m, k=0: tril(m, k))
export(triu, "triu", tensor="triu", gg="triu", numpy="triu", numpy_fn=lambda m, k=0: triu(m, k))


# -- eigh and svd: several results, packed into one array --------------------------------------------
def _eigh_type(inputs, UPLO):
    x = inputs[0]
    _matrix_type("linalg.eigh", x)
    n = x.shape[-1]
    return TensorType(x.shape[:-2] + (n + 1, n), x.dtype)


def _eigh_vjp(g, out, x, *, UPLO):
    """dA = V (diag(gw) + F o (V^T gV)) V^T with F_ij = 1 / (w_j - w_i) (0 for i = j and for repeated
    eigenvalues), symmetrized: the gradient with respect to a symmetric matrix, as JAX defines it."""
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    f = _safe_reciprocal(w.unsqueeze(-2) - w.unsqueeze(-1))
    inner = f * (v.mT @ gv)
    return _sym(v @ inner @ v.mT + (v * gw.unsqueeze(-2)) @ v.mT)


def _eigh_expr(a, xp, out, UPLO):
    return [f"{out}_w, {out}_v = {xp}.linalg.eigh({a[0]}, UPLO={UPLO!r})",
            f"{xp}.concatenate(({out}_w[..., None, :], {out}_v), axis=-2)"]


primitive("eigh", attrs=("UPLO",), infer=_eigh_type, vjp=(_eigh_vjp,), expr=_eigh_expr, batch=_batch_matrices,
          doc="eigenvalues (row 0) and eigenvectors (rows 1..n, as columns) of each symmetric matrix")

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])


def eigh(A: TensorBase, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (the columns) of a symmetric matrix, reading its ``UPLO``
    triangle. The gradient is the one with respect to a symmetric matrix (JAX's): symmetric, and undefined
    (taken as 0 in the eigenvector term) where eigenvalues repeat.

    >>> import graphgrad as gg
    >>> gg.linalg.eigh(gg.tensor([[2.0, 0.0], [0.0, 1.0]])).eigenvalues
    tensor([1., 2.])
    """
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    out = bind("eigh", A, UPLO=UPLO)
    return EighResult(out[..., 0, :], out[..., 1:, :])


def eigvalsh(A: TensorBase, UPLO: str = "L") -> TensorBase:
    """The eigenvalues (ascending) of a symmetric matrix."""
    return eigh(A, UPLO).eigenvalues


export(eigh, "eigh", gg="linalg.eigh", numpy="linalg.eigh",
       numpy_fn=lambda a, UPLO="L": eigh(_triangle_read(_float(a), UPLO), UPLO))
export(eigvalsh, "eigvalsh", gg="linalg.eigvalsh", numpy="linalg.eigvalsh",
       numpy_fn=lambda a, UPLO="L": eigvalsh(_triangle_read(_float(a), UPLO), UPLO))


def _svd_type(inputs):
    x = inputs[0]
    _matrix_type("linalg.svd", x, square=False)
    m, n = x.shape[-2:]
    return TensorType(x.shape[:-2] + (m + 1 + n, builtins.min(m, n)), x.dtype)


def _svd_parts(p, m):
    return p[..., :m, :], p[..., m, :], p[..., m + 1:, :]


def _svd_vjp(g, out, x):
    """Townsend (2016), reduced SVD: with F_ij = 1 / (s_j^2 - s_i^2) (0 for i = j and repeated values),
    gA = U [(F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V))] V^T
         + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T),
    with 1/s taken as 0 for zero singular values (a rank-deficient matrix), exact for functions of S alone."""
    m = x.shape[-2]
    u, s, v = _svd_parts(out, m)
    gu, gs, gv = _svd_parts(g, m)
    s2 = s * s
    f = _safe_reciprocal(s2.unsqueeze(-2) - s2.unsqueeze(-1))
    utgu, vtgv = u.mT @ gu, v.mT @ gv
    core = (f * (utgu - utgu.mT)) * s.unsqueeze(-2) + (f * (vtgv - vtgv.mT)) * s.unsqueeze(-1)
    ga = u @ core @ v.mT + (u * gs.unsqueeze(-2)) @ v.mT
    s_inv = _safe_reciprocal(s).unsqueeze(-2)  # 0 for a zero singular value: exact when gU, gV are 0 there
    # (I - U U^T) gU is 0 unless U has fewer columns than rows (m > n), (I - V V^T) gV unless n > m: for a square
    # matrix both are rounding noise, which 1/s would blow up where s is tiny but not 0 (a singular matrix)
    n = x.shape[-1]
    if m > n:
        ga = ga + ((gu - u @ utgu) * s_inv) @ v.mT
    if n > m:
        ga = ga + u @ ((gv - v @ vtgv) * s_inv).mT
    return ga


def _svd_expr(a, xp, out):
    return [f"{out}_u, {out}_s, {out}_vh = {xp}.linalg.svd({a[0]}, full_matrices=False)",
            f"{xp}.concatenate(({out}_u, {out}_s[..., None, :], {out}_vh.swapaxes(-1, -2)), axis=-2)"]


primitive("svd", infer=_svd_type, vjp=(_svd_vjp,), expr=_svd_expr, batch=_batch_matrices,
          doc="reduced SVD of each matrix packed along axis -2: U (m rows), S (one row), V = Vh^T (n rows)")

SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
TorchSVDResult = namedtuple("TorchSVDResult", ["U", "S", "V"])  # torch.svd's fields


def _reduced(A, full_matrices):
    if full_matrices and A.shape[-1] != A.shape[-2]:
        raise NotImplementedError(f"linalg.svd: full_matrices=True of a non-square matrix ({A.shape[-2]} by "
                                  f"{A.shape[-1]}) is not differentiable (the extra singular vectors are not "
                                  f"unique); pass full_matrices=False")
    m = A.shape[-2]
    u, s, v = _svd_parts(bind("svd", A), m)
    return SVDResult(u, s, v.mT)


def svd(A: TensorBase, full_matrices: bool = True) -> SVDResult:
    """``(U, S, Vh)`` with ``A = U @ diag(S) @ Vh`` (``torch.linalg.svd``); ``full_matrices=True`` is accepted only
    for square matrices, where it is the reduced SVD. Gradients follow the reduced SVD's formula; where singular
    values repeat (or are 0) the singular vectors are not unique and the terms for them are taken as 0, which
    is exact for functions of the singular values alone (norms; ``pinv`` is a primitive of its own).

    >>> import graphgrad as gg
    >>> gg.linalg.svd(gg.tensor([[3.0, 0.0], [0.0, 4.0]])).S
    tensor([4., 3.])
    """
    return _reduced(A, full_matrices)


def svdvals(A: TensorBase) -> TensorBase:
    """The singular values of each matrix, descending."""
    return bind("svd", A)[..., A.shape[-2], :]


def _torch_svd(input: TensorBase, some: bool = True, compute_uv: bool = True):
    """``torch.svd``: ``(U, S, V)`` (V, not Vh), reduced unless ``some=False``; with ``compute_uv=False`` U and V
    are zero-filled (m by m and n by n), as PyTorch's, and only S is computed."""
    if not compute_uv:
        m, n = input.shape[-2:]
        lead = tuple(input.shape[:-2])
        zeros = [input._apply_here("full", (), {"shape": lead + (k, k), "value": 0.0, "dtype": input._type.dtype})
                 for k in (m, n)]
        return TorchSVDResult(zeros[0], svdvals(input), zeros[1])
    u, s, vh = _reduced(input, not some)
    return TorchSVDResult(u, s, vh.mT)


def _numpy_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _float(a)
    if not compute_uv:
        return svdvals(a)
    return _reduced(a, full_matrices)


export(svd, "svd", gg="linalg.svd", numpy="linalg.svd", numpy_fn=_numpy_svd)
export(svdvals, "svdvals", gg="linalg.svdvals")
export(_torch_svd, "svd", tensor="svd", gg="svd")


def _pinv_type(inputs, rcond):
    x = inputs[0]
    _matrix_type("linalg.pinv", x, square=False)
    if len(inputs) == 2:  # a tensor cutoff: one per matrix, beside a unit axis
        broadcast_shapes(x.shape[:-2] + (1,), inputs[1].shape)
    return TensorType(x.shape[:-2] + (x.shape[-1], x.shape[-2]), x.dtype)


def _pinv_expr(a, xp, out, rcond):
    # the largest singular value is the first (s[..., :1] also serves a matrix with no rows or columns)
    cut = f"{out}_s[..., :1] * {a[1] if len(a) == 2 else repr(rcond)}"
    return [f"{out}_u, {out}_s, {out}_vh = {xp}.linalg.svd({a[0]}, full_matrices=False)",
            f"{out}_big = {out}_s > {cut}",
            f"{out}_sinv = {xp}.where({out}_big, 1 / {xp}.where({out}_big, {out}_s, 1), 0)",
            f"({out}_vh.swapaxes(-1, -2) * {out}_sinv[..., None, :]) @ {out}_u.swapaxes(-1, -2)"]


def _pinv_vjp(g, out, needs, a, *cutoff, rcond):
    """PyTorch's ``pinv_backward`` (Golub & Pereyra 1973: the derivative of the pseudo-inverse where the rank
    does not change), grouped so the products are of the smaller side, written with matmul and pinv's own
    result, so it differentiates again. Through the SVD the gradient was wrong wherever singular values repeat
    (pinv of eye(3): off by 1.3 against finite differences), the terms of the singular vectors being dropped."""
    m, n = a.shape[-2:]
    p, ph, gh = out, out.mT, g.mT
    if m <= n:
        k = gh @ p
        kph = k @ ph
        ga = -(p @ k).mT + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a)
    else:
        k = p @ gh
        phk = ph @ k
        ga = -(k @ p).mT + phk - (phk @ p) @ a + ((gh - a @ k) @ p) @ ph
    return [ga if needs[0] else None] + [None] * len(cutoff)


def _pinv_batch(op, args, bdims, rcond):
    if len(args) == 1:
        return _batch_matrices(op, args, bdims, rcond=rcond)
    size = next(x.shape[d] for x, d in zip(args, bdims) if d is not None)
    a = broadcast_batch(args[0], bdims[0], size)
    cut = pad_after_batch(broadcast_batch(args[1], bdims[1], size), a.ndim - 2)  # (aligned with the SVD's s)
    return bind(op, a, cut, rcond=rcond), 0


primitive("pinv", attrs=("rcond",), infer=_pinv_type, joint_vjp=_pinv_vjp, expr=_pinv_expr, batch=_pinv_batch,
          doc="the Moore-Penrose pseudo-inverse of each matrix through its SVD, singular values at or below rcond "
              "(or a second input, one per matrix) times the largest taken as 0")


def pinv(A: TensorBase, rcond=1e-15) -> TensorBase:
    """The Moore-Penrose pseudo-inverse through the SVD, singular values at or below ``rcond`` times the
    largest treated as 0 (NumPy's default rcond); ``rcond`` may be a tensor, one per matrix (NumPy's, PyTorch's
    ``rtol``). Its gradient is PyTorch's (constant rank).

    >>> import graphgrad as gg
    >>> gg.linalg.pinv(gg.tensor([[2.0, 0.0], [0.0, 4.0], [0.0, 0.0]]))
    tensor([[0.5000, 0.0000, 0.0000],
            [0.0000, 0.2500, 0.0000]])
    """
    if isinstance(rcond, TensorBase) or np.ndim(rcond) > 0:
        cut = rcond if isinstance(rcond, TensorBase) else constant_like(A, np.asarray(rcond, dtype=np.float64))
        cut = cut._cast(A._type.dtype)
        return bind("pinv", A, cut.unsqueeze(-1) if cut.ndim else cut, rcond=0.0)
    return bind("pinv", A, rcond=float(rcond))


def _numpy_pinv(a, rcond=None, hermitian=False, *, rtol=None):
    rcond = 1e-15 if rcond is None and rtol is None else rtol if rcond is None else rcond
    a = _float(a)
    # hermitian: NumPy reads the lower triangle alone; read explicitly, the gradient is that of NumPy's value
    return pinv(_triangle_read(a, "L") if hermitian else a, rcond)


def _torch_pinv(A: TensorBase, *, atol=None, rtol=None, hermitian: bool = False) -> TensorBase:
    if atol is not None:
        raise NotImplementedError("linalg.pinv: atol= is not supported; use rtol=")
    eps = np.finfo(np.float64 if A._type.dtype == "float64" else np.float32).eps
    if hermitian:
        # PyTorch's value reads the lower triangle alone, but its gradient (pinv_backward) is the unconstrained
        # one, evaluated as if A were that symmetric matrix: A's value replaced, its gradient passed straight on
        A = A + (_triangle_read(A, "L") - A).detach()
    return pinv(A, builtins.max(A.shape[-2:]) * eps if rtol is None else rtol)


export(pinv, "pinv", tensor="pinverse", gg="pinverse", numpy="linalg.pinv", numpy_fn=_numpy_pinv)
export(_torch_pinv, "pinv", gg="linalg.pinv")


# -- qr, lstsq, matrix_rank -----------------------------------------------------------------------------
def _qr_type(inputs, axis):
    x = inputs[0]
    _matrix_type("linalg.qr", x, square=False)
    m, n = x.shape[-2:]
    # Q (m by k) and R (k by n), k = min(m, n), side by side: stacked rows when tall, columns when wide
    if axis != (-2 if m >= n else -1):
        raise ShapeError(f"qr: a {m} by {n} matrix packs Q and R along axis {-2 if m >= n else -1}, not {axis}")
    return TensorType(x.shape[:-2] + ((m + n, n) if m >= n else (m, m + n)), x.dtype)


def _qr_parts(p, m, n):
    if m >= n:
        return p[..., :m, :], p[..., m:, :]
    return p[..., :, :m], p[..., :, m:]


def _qr_vjp(g, out, x, *, axis):
    """Reduced QR of a square or tall matrix (Walter & Lehmann 2018; Liao et al. 2019): with M = R gR^T - gQ^T Q,
    gA = (gQ + Q copyltu(M)) R^-T, copyltu(M) the symmetric matrix with M's lower triangle. Built from matmul,
    tril and solve, so it differentiates again."""
    m, n = x.shape[-2:]
    if m < n:
        raise NotImplementedError(f"the gradient of linalg.qr of a wide matrix ({m} by {n}) is not implemented "
                                  f"(as in JAX): the reduced QR is differentiable here only for m >= n")
    q, r = _qr_parts(out, m, n)
    gq, gr = _qr_parts(g, m, n)
    mm = r @ gr.mT - gq.mT @ q
    low = tril(mm, -1)
    b = gq + q @ (low + low.mT + diag_embed(diagonal(mm, 0, -2, -1)))
    return solve(r, b.mT).mT  # b R^-T


def _qr_expr(a, xp, out, axis):
    return [f"{out}_q, {out}_r = {xp}.linalg.qr({a[0]})",
            f"{xp}.concatenate(({out}_q, {out}_r), axis={axis})"]


primitive("qr", attrs=("axis",), infer=_qr_type, vjp=(_qr_vjp,), expr=_qr_expr, batch=_batch_matrices,
          doc="reduced QR of each matrix: Q (m by k) and R (k by n), k = min(m, n), packed along axis -2 when "
              "m >= n, else along axis -1")

QRResult = namedtuple("QRResult", ["Q", "R"])


def qr(A: TensorBase, mode: str = "reduced") -> QRResult:
    """``(Q, R)`` with ``A = Q @ R``, Q's columns orthonormal and R upper triangular (``torch.linalg.qr``,
    ``numpy.linalg.qr``; the reduced mode only). Differentiable for square and tall matrices.

    >>> import numpy as np, graphgrad as gg, graphgrad.numpy as gnp
    >>> q, r = gnp.linalg.qr(gg.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=gg.float64))
    >>> (q @ r).numpy().round(12)
    array([[3., 0.],
           [4., 5.]])
    """
    if mode != "reduced":
        raise NotImplementedError(f"linalg.qr: mode={mode!r} is not supported; graphgrad computes the reduced QR "
                                  f"(mode='reduced')")
    A = _float(A)
    m, n = A.shape[-2:] if A.ndim >= 2 else (0, 0)
    q, r = _qr_parts(bind("qr", A, axis=-2 if m >= n else -1), m, n)
    return QRResult(q, r)


def matrix_rank(A: TensorBase, tol=None, hermitian: bool = False, *, rtol=None) -> TensorBase:
    """``numpy.linalg.matrix_rank``: the number of singular values above ``tol`` (default: the largest times
    ``max(m, n)`` times the dtype's eps), an int64 tensor. An integer: it has no gradient (like ``argmax``).

    >>> import numpy as np, graphgrad as gg, graphgrad.numpy as gnp
    >>> gnp.linalg.matrix_rank(gg.tensor([[1.0, 2.0], [2.0, 4.0]]))
    tensor(1)
    """
    A = _float(A)
    if A.ndim < 2:
        return _rank_of_vector(A)
    # hermitian: the singular values of the symmetric matrix in A's lower triangle, as PyTorch and NumPy read it
    s = (eigvalsh(A).abs() if hermitian else svdvals(A)).detach()
    if tol is None:
        eps = np.finfo(np.float64 if A._type.dtype == "float64" else np.float32).eps
        tol = s.amax(-1, keepdim=True) * (builtins.max(A.shape[-2:]) * eps if rtol is None else rtol)
    elif isinstance(tol, TensorBase):
        tol = tol.unsqueeze(-1) if tol.ndim else tol
    return (s > tol).sum(-1)


def _rank_of_vector(a):
    return ((a != 0).sum() > 0)._cast("int64")


LstsqResult = namedtuple("LstsqResult", ["solution", "residuals", "rank", "singular_values"])


def lstsq(a: TensorBase, b: TensorBase, rcond=None) -> LstsqResult:
    """``numpy.linalg.lstsq``: ``(x, residuals, rank, s)`` with ``x`` minimizing ``|b - a x|``, computed as
    ``pinv(a) @ b`` (singular values at or below ``rcond`` times the largest treated as 0; default eps times
    ``max(m, n)``, NumPy's). Differentiable in ``a`` and ``b`` where ``a`` has full rank. ``residuals`` are the
    squared residual norms per column of ``b`` when ``m > n``; unlike NumPy, which returns an empty array for
    a rank-deficient ``a``, they are always computed (the rank is data, unknown to a traced function's shapes).

    >>> import numpy as np, graphgrad as gg, graphgrad.numpy as gnp
    >>> a = gg.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=gg.float64)
    >>> gnp.linalg.lstsq(a, gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64))[0].numpy().round(12)
    array([1., 2.])
    """
    a, b = _float(a), _float(b if isinstance(b, TensorBase) else constant_like(a, b))
    if a.ndim != 2:
        raise np.linalg.LinAlgError(f"{a.ndim}-dimensional array given. Array must be two-dimensional")
    m, n = a.shape
    if b.ndim not in (1, 2) or b.shape[0] != m:
        raise np.linalg.LinAlgError(f"Incompatible dimensions: a is {m} by {n}, b has shape {tuple(b.shape)}")
    eps = np.finfo(np.float64 if a._type.dtype == "float64" else np.float32).eps
    cut = builtins.max(m, n) * eps if rcond is None else eps if rcond < 0 else rcond  # NumPy's: -1 is eps
    x = pinv(a, cut) @ b
    if m > n:
        r = b - a @ x
        residuals = (r * r).sum(0).reshape(-1)
    else:
        residuals = constant_like(a, np.zeros(0, dtype=a._type.dtype))
    return LstsqResult(x, residuals, matrix_rank(a, rtol=cut), svdvals(a))


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")
_TORCH_FLOATS = {"float32": "Float", "float64": "Double"}


def _torch_lstsq(A: TensorBase, B: TensorBase, rcond: float | None = None, *,
                 driver: str | None = None) -> return_types.linalg_lstsq:
    """``torch.linalg.lstsq``: ``(solution, residuals, rank, singular_values)``, the solution minimizing
    ``|A X - B|`` (the one of least norm where ``A`` is wide or rank-deficient) for each matrix of a batch (batch
    axes broadcast); ``B`` is a batch of vectors when it has one dimension fewer than ``A``. Computed as
    ``pinv(A) @ B`` (singular values at or below ``rcond`` times the largest taken as 0; default: the dtype's eps
    times ``max(m, n)``), so it is differentiable in ``A`` and ``B`` where the rank does not change (PyTorch's
    gradient: ``pinv``'s). The other fields are those of PyTorch's CPU ``driver`` (default ``'gelsy'``):
    ``'gelsy'`` gives the rank and empty residuals and singular values; ``'gels'`` residuals where ``m > n``
    and an empty rank; ``'gelsd'``/``'gelss'`` the rank, the singular values and residuals where ``m > n`` and
    every matrix has full rank (eager only then: their shape depends on the rank). Residuals are the squared
    norms of the columns of ``A X - B``; the rank and singular values have no gradient.

    >>> import graphgrad as gg
    >>> A = gg.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> gg.linalg.lstsq(A, gg.tensor([[1.0], [2.0], [4.0]]))
    torch.return_types.linalg_lstsq(
    solution=tensor([[1.3333],
            [2.3333]]),
    residuals=tensor([]),
    rank=tensor(2),
    singular_values=tensor([]))
    """
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if B.ndim < 1:
        raise RuntimeError("torch.linalg.lstsq: other must have at least 1 dimension.")
    if A._type.dtype != B._type.dtype:
        names = [_TORCH_FLOATS.get(t._type.dtype, _TORCH_DTYPES.get(t._type.dtype)) for t in (A, B)]
        raise RuntimeError(f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's "
                           f"dtype {names[0]} and other's dtype {names[1]}")
    if A._type.dtype not in _TORCH_FLOATS:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if not (B.ndim <= A.ndim and A.ndim - B.ndim <= 1):
        raise RuntimeError("torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and "
                           "(input.dim() - other.dim()) <= 1")
    vector = B.ndim == A.ndim - 1
    m, n = A.shape[-2:]
    if B.shape[-1 if vector else -2] != m:
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match other.size({-1 if vector else -2})")
    driver = "gelsy" if driver is None else driver
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    B = B.unsqueeze(-1) if vector else B
    broadcast_shapes(A.shape[:-2], B.shape[:-2])  # (PyTorch's error for batches that do not broadcast)
    eps = float(np.finfo(np.dtype(A._type.dtype)).eps)
    # a negative rcond: LAPACK's gelsd/gelss take the machine precision, gelsy no cutoff at all
    cut = builtins.max(m, n) * eps if rcond is None else rcond if rcond >= 0 else eps if driver != "gelsy" else 0.0
    x = pinv(A, cut) @ B
    like = A.detach()
    empty = constant_like(like, np.zeros(0, dtype=A._type.dtype))
    s = svdvals(like) if driver != "gels" else None
    rank = (s > s[..., :1] * cut).sum(-1) if s is not None else constant_like(like, np.zeros(0, dtype=np.int64))
    residuals = empty
    if m > n and (driver == "gels" or driver in ("gelsd", "gelss") and _full_rank(rank, n, driver)):
        r = A @ x - B
        residuals = (r * r).sum(-2)
    solution = x.squeeze(-1) if vector else x
    return return_types.linalg_lstsq(solution, residuals, rank, s if driver in ("gelsd", "gelss") else empty)


def _full_rank(rank: TensorBase, n: int, driver: str) -> bool:
    """Whether every matrix has rank ``n``: PyTorch's gelsd and gelss give residuals only then."""
    refuse_traced(rank, f"linalg.lstsq(driver={driver!r})",
                  "its residuals are empty unless every matrix has full rank, so their shape depends on values; "
                  "use driver='gels' (residuals for every tall matrix) or compute (A @ X - B).pow(2).sum(-2)")
    return bool((rank == n).all().item())


def _no_eig(name: str):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            f"{name}: the eigenvalues of a general matrix are complex, and graphgrad supports no complex dtypes "
            f"(see docs/ops.md). For a symmetric (Hermitian) matrix use linalg.eigh, or linalg.eigvalsh for the "
            f"eigenvalues alone; linalg.svd gives a real factorization of any matrix.")
    refuse.__name__ = name.rpartition(".")[2]
    return refuse


export(qr, "qr", gg="linalg.qr", numpy="linalg.qr")  # (torch.qr's some= signature differs: not published)
export(matrix_rank, "matrix_rank", gg="linalg.matrix_rank", numpy="linalg.matrix_rank",
       numpy_fn=lambda A, tol=None, hermitian=False, *, rtol=None: matrix_rank(A, tol, hermitian, rtol=rtol))
export(_torch_lstsq, "lstsq", gg="linalg.lstsq")
export(lstsq, "lstsq", numpy="linalg.lstsq",
       numpy_fn=lambda a, b, rcond=None: lstsq(*tensor_operands(a, b, what="linalg.lstsq"), rcond))
export(_no_eig("linalg.eig"), "eig", gg="linalg.eig", numpy="linalg.eig")
export(_no_eig("linalg.eigvals"), "eigvals", gg="linalg.eigvals", numpy="linalg.eigvals")


# -- composites: diagonals, trace, products, norms ----------------------------------------------------
def diagonal(input: TensorBase, offset: int = 0, dim1: int = 0, dim2: int = 1) -> TensorBase:
    """The diagonal ``offset`` of the matrices in axes ``dim1``, ``dim2``, as a last axis (NumPy's and PyTorch's
    ``diagonal``): a strided slice of the flattened matrices, so its gradient is the slice's.

    >>> import graphgrad as gg
    >>> gg.tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal()
    tensor([1., 4.])
    """
    nd = input.ndim
    if nd < 2:
        raise RuntimeError(f"diagonal(): input must have at least 2 dimensions, but got {nd}")
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    x = input.permute(*[i for i in range(nd) if i not in (d1, d2)], d1, d2)
    n, m = x.shape[-2:]
    offset = int(offset)
    length = builtins.max(0, builtins.min(n, m - offset) if offset >= 0 else builtins.min(n + offset, m))
    start = offset if offset >= 0 else -offset * m
    flat = x.reshape(tuple(x.shape[:-2]) + (n * m,))
    return flat[..., start:start + builtins.max(length - 1, 0) * (m + 1) + (1 if length else 0):m + 1]


def diag_embed(v: TensorBase, offset: int = 0) -> TensorBase:
    """Square matrices with ``v``'s last axis on diagonal ``offset`` (``torch.diag_embed``), built by padding each
    entry with n zeros and folding the rows back: no constant identity matrix in generated code."""
    n = v.shape[-1]
    lead = tuple(v.shape[:-1])
    rows = bind("pad", v.unsqueeze(-1), widths=((0, 0),) * len(lead) + ((0, 0), (0, n)), value=0.0)
    out = rows.reshape(lead + (n * (n + 1),))[..., :n * n].reshape(lead + (n, n))
    k = abs(int(offset))
    if k:
        widths = ((0, 0),) * len(lead) + (((0, k), (k, 0)) if offset > 0 else ((k, 0), (0, k)))
        out = bind("pad", out, widths=widths, value=0.0)
    return out


def diag(input: TensorBase, diagonal: int = 0) -> TensorBase:
    """A 1-D input becomes the square matrix with it on diagonal ``diagonal``; a 2-D input gives that diagonal.

    >>> import graphgrad as gg
    >>> gg.diag(gg.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input: TensorBase) -> TensorBase:
    """The sum of the diagonal of a matrix.

    >>> import graphgrad as gg
    >>> gg.trace(gg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return diagonal(input).sum()


def _numpy_trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    return diagonal(a, offset, axis1, axis2).sum(-1)


def _numpy_diag(v, k=0):
    if v.ndim not in (1, 2):
        raise ValueError("Input must be 1- or 2-d.")
    return diag(v, k)


export(diagonal, "diagonal", tensor="diagonal", gg="diagonal", numpy="diagonal",
       numpy_fn=lambda a, offset=0, axis1=0, axis2=1: diagonal(a, offset, axis1, axis2))
export(diag_embed, "diag_embed", tensor="diag_embed", gg="diag_embed")
export(diag, "diag", tensor="diag", gg="diag", numpy="diag", numpy_fn=_numpy_diag)


def diagflat(input: TensorBase, offset: int = 0) -> TensorBase:
    """The square matrix with the flattened ``input`` on diagonal ``offset`` (``numpy.diagflat``'s, PyTorch's).

    >>> import graphgrad as gg
    >>> gg.tensor([[1.0, 2.0]]).diagflat(1)
    tensor([[0., 1., 0.],
            [0., 0., 2.],
            [0., 0., 0.]])
    """
    return diag_embed(input.reshape(-1), offset)


export(diagflat, "diagflat", tensor="diagflat", gg="diagflat")
export(trace, "trace", tensor="trace", gg="trace", numpy="trace", numpy_fn=_numpy_trace)


def kron(input: TensorBase, other: TensorBase) -> TensorBase:
    """The Kronecker product: ``out[i*p + k, j*q + l] = a[i, j] * b[k, l]``, for any number of axes (the
    shorter operand gains leading unit axes), as a broadcast product of interleaved axes.

    >>> import graphgrad as gg
    >>> gg.kron(gg.tensor([1.0, 10.0]), gg.tensor([1.0, 2.0]))
    tensor([ 1.,  2., 10., 20.])
    """
    nd = builtins.max(input.ndim, other.ndim)
    sa = (1,) * (nd - input.ndim) + tuple(input.shape)
    sb = (1,) * (nd - other.ndim) + tuple(other.shape)
    a = input.reshape(tuple(d for s in sa for d in (s, 1)))
    b = other.reshape(tuple(d for s in sb for d in (1, s)))
    return (a * b).reshape(tuple(x * y for x, y in zip(sa, sb)))


def cross(input: TensorBase, other: TensorBase, dim: int = -1) -> TensorBase:
    """The cross product of 3-vectors along ``dim`` (broadcasting the other axes).

    >>> import graphgrad as gg
    >>> gg.linalg.cross(gg.tensor([1.0, 0.0, 0.0]), gg.tensor([0.0, 1.0, 0.0]))
    tensor([0., 0., 1.])
    """
    if input.ndim != other.ndim:  # PyTorch broadcasts sizes, not ranks (NumPy's cross broadcasts both)
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    return _cross(input, other, dim)


def _cross(input: TensorBase, other: TensorBase, dim: int) -> TensorBase:
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and "
                           f"{other.shape[dim]}")
    a, b = moveaxis(input, dim, -1), moveaxis(other, dim, -1)
    a0, a1, a2 = a[..., 0:1], a[..., 1:2], a[..., 2:3]
    b0, b1, b2 = b[..., 0:1], b[..., 1:2], b[..., 2:3]
    from .shape import cat
    out = cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)
    return moveaxis(out, -1, dim)


def _torch_cross(input: TensorBase, other: TensorBase, dim: int | None = None) -> TensorBase:
    """``torch.cross``: ``linalg.cross``, except that without ``dim`` it takes the first dimension of ``input``
    of size 3 (PyTorch's deprecated default), not the last.

    >>> import graphgrad as gg
    >>> gg.cross(gg.eye(3), gg.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    tensor([[ 0.,  0.,  0.],
            [-1.,  0.,  0.],
            [ 0.,  0.,  0.]])
    """
    if dim is None:
        dim = next((i for i, n in enumerate(input.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return cross(input, other, dim)


def _numpy_crosses_2_vectors() -> bool:
    """NumPy 2.0 deprecated cross products of 2-vectors and 2.5 removed them: ``graphgrad.numpy.cross`` does
    what the installed NumPy does, on tensors as on arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            np.cross(np.ones(2), np.ones(2))
        except ValueError:
            return False
    return True


_NUMPY_CROSSES_2_VECTORS = _numpy_crosses_2_vectors()


def _numpy_cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = tensor_operands(a, b, what="cross")
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if 2 in (a.shape[-1], b.shape[-1]) and not _NUMPY_CROSSES_2_VECTORS:
        raise ValueError(f"Both input arrays must be (arrays of) 3-dimensional vectors, but they are "
                         f"{a.shape[-1]} and {b.shape[-1]} dimensional instead.")
    if a.shape[-1] == 2 and b.shape[-1] == 2:  # NumPy's (deprecated) 2-vectors: the z component alone
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    # a 2-vector beside a 3-vector has z = 0
    a, b = (bind("pad", x, widths=((0, 0),) * (x.ndim - 1) + ((0, 1),), value=0.0) if x.shape[-1] == 2 else x
            for x in (a, b))
    return moveaxis(_cross(a, b, -1), -1, axisc)


def tensordot(a: TensorBase, b: TensorBase, dims=2) -> TensorBase:
    """Contract the last ``dims`` axes of ``a`` with the first ``dims`` of ``b``, or the axes listed in
    ``dims = (axes_a, axes_b)``: an ``einsum``.

    >>> import graphgrad as gg
    >>> tuple(gg.tensordot(gg.ones(2, 3), gg.ones(3, 4), dims=1).shape)
    (2, 4)
    """
    if isinstance(dims, int):
        axes_a, axes_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        axes_a, axes_b = dims
        axes_a = [axes_a] if isinstance(axes_a, int) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int) else list(axes_b)
    if len(axes_a) != len(axes_b):
        raise RuntimeError("both dimension lists should have same length")
    axes_a, axes_b = [x % a.ndim for x in axes_a], [x % b.ndim for x in axes_b]
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} "
                               f"and second has size {b.shape[j]} in dim {j}")
    letters = iter(_LETTERS)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in axes_a] + [c for j, c in enumerate(sb) if j not in axes_b]
    return bind("einsum", a, b, equation=f"{''.join(sa)},{''.join(sb)}->{''.join(out)}")


def inner(input: TensorBase, other: TensorBase) -> TensorBase:
    """Sum of products over the last axes: ``out[i..., j...] = sum_k a[i..., k] * b[j..., k]``.

    >>> import graphgrad as gg
    >>> gg.inner(gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, ([-1], [-1]))


def _numpy_tensordot(a, b, axes=2):
    return tensordot(a, b, axes)


def _both_tensors(fn, name: str):
    def numpy_fn(a, b, *args, **kwargs):
        return fn(*tensor_operands(a, b, what=name), *args, **kwargs)
    return numpy_fn


export(kron, "kron", tensor="kron", gg="kron", numpy="kron", numpy_fn=_both_tensors(kron, "kron"))
export(cross, "cross", gg="linalg.cross", numpy="cross", numpy_fn=_numpy_cross)
export(_torch_cross, "cross", tensor="cross", gg="cross")
export(tensordot, "tensordot", gg="tensordot", numpy="tensordot",
       numpy_fn=_both_tensors(_numpy_tensordot, "tensordot"))
export(inner, "inner", tensor="inner", gg="inner", numpy="inner", numpy_fn=_both_tensors(inner, "inner"))


# -- norms ------------------------------------------------------------------------------------------
def _with_zero_gradient(value, attached):
    """``value``, as a function of ``attached``'s inputs with gradient 0 (PyTorch's for piecewise-constant results,
    the 0-norm's count, ``matrix_power(A, 0)``'s identity, which require grad): ``where`` with an all-true mask,
    whose untaken branch gets a zero gradient and whose values, inf or nan, are never read."""
    return bind("where", value == value, value, attached)


def _vector_norm(x, ord, dims, keepdim):
    from .reductions import _p_norm, abs_pow, inf_norm
    if ord is None or ord == 2:
        return _p_norm(x, 2, dims, keepdim)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord in (float("inf"), -float("inf")):
        return inf_norm(x, dims, keepdim, ord > 0)
    if ord == 0:
        count = (x != 0)._cast(x._type.dtype).sum(dims, keepdim)
        return _with_zero_gradient(count, x.abs().sum(dims, keepdim))
    if ord == 1:
        return x.abs().sum(dims, keepdim)
    if ord < 0:
        return abs_pow(x, float(ord)).sum(dims, keepdim) ** (1.0 / ord)
    return _p_norm(x, float(ord), dims, keepdim)


def _matrix_norm(x, ord, dims, keepdim):
    r, c = dims
    if r == c:
        raise ValueError("Duplicate axes given.")
    if ord in (None, "fro"):
        out = _vector_norm(x, 2, (r, c), keepdim)
        return out
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(x.ndim) if i not in (r, c)]
        s = svdvals(x.permute(*rest, r, c))
        out = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
    elif ord in (1, -1, float("inf"), -float("inf")):
        summed, over = (r, c) if ord in (1, -1) else (c, r)  # 1: max column sum; inf: max row sum
        sums = x.abs().sum(summed, keepdim=True)
        out = (sums.amax if ord > 0 else sums.amin)(over, True)
        out = out.reshape(tuple(d for i, d in enumerate(x.shape) if i not in (r, c)))
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    if keepdim:
        out = out.reshape(tuple(1 if i in (r, c) else d for i, d in enumerate(x.shape)))
    return out


def _norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's ``linalg.norm``: a vector norm over one axis, a matrix norm over two; without ``axis`` the 2-norm
    of a vector or the Frobenius (``ord=None``) or ``ord`` norm of a matrix."""
    x = _float(x)
    if axis is None:
        if ord is None:
            out = _vector_norm(x.reshape(-1), 2, (0,), False)
            return out.reshape((1,) * x.ndim) if keepdims else out
        if x.ndim not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(x.ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    axis = tuple(a % x.ndim for a in axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def _norm_input(name: str, x: TensorBase) -> None:
    if not x.is_floating_point():
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{_TORCH_DTYPES.get(x._type.dtype, x._type.dtype)}")


_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, float("inf"), -float("inf"))


def linalg_norm(A: TensorBase, ord=None, dim=None, keepdim: bool = False) -> TensorBase:
    """``torch.linalg.norm``: a matrix norm when ``ord`` is given and ``dim`` is two axes (or, without ``dim``,
    ``A`` is 2-D) or ``ord`` is a string; otherwise a vector norm (``ord`` None: the 2-norm of every element).

    >>> import graphgrad as gg
    >>> gg.linalg.norm(gg.tensor([[3.0, 0.0], [0.0, 4.0]]), ord="nuc")
    tensor(7.)
    """
    dims = None if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
    if dims is not None and len(dims) not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    if dims is None and ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                           f"{A.ndim}D.")
    if isinstance(ord, str) or ord is not None and (len(dims) == 2 if dims is not None else A.ndim == 2):
        return matrix_norm(A, ord, dims if dims is not None else (0, 1), keepdim)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim)


def vector_norm(x: TensorBase, ord=2, dim=None, keepdim: bool = False) -> TensorBase:
    """``torch.linalg.vector_norm``: over every element when ``dim`` is None (or empty).

    >>> import graphgrad as gg
    >>> gg.linalg.vector_norm(gg.tensor([3.0, -4.0]), ord=float("-inf"))
    tensor(3.)
    """
    _norm_input("linalg.vector_norm", x)
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' (position 2) must be Number, not str")
    if dim is not None and not isinstance(dim, int):
        seen = set()
        for d in dim:
            if d % builtins.max(x.ndim, 1) in seen:
                raise RuntimeError(f"dim {d % builtins.max(x.ndim, 1)} appears multiple times in the list of dims")
            seen.add(d % builtins.max(x.ndim, 1))
    dims = torch_dims(dim, x.ndim)  # range-checked, as PyTorch (not wrapped around); [] is every dim
    if dims is None or x.ndim == 0:
        out = _vector_norm(x.reshape(-1), ord, (0,), False)
        out = out.reshape((1,) * x.ndim) if keepdim else out
    else:
        out = _vector_norm(x, ord, dims, keepdim)
    return out._shown_as("LinalgVectorNormBackward0")


def matrix_norm(A: TensorBase, ord="fro", dim=(-2, -1), keepdim: bool = False) -> TensorBase:
    """``torch.linalg.matrix_norm`` over the matrices in axes ``dim``: ords ``'fro'``, ``'nuc'``, 2, -2, 1, -1,
    inf, -inf.

    >>> import graphgrad as gg
    >>> gg.linalg.matrix_norm(gg.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    tensor(6.)
    """
    _norm_input("linalg.matrix_norm", A)
    if isinstance(ord, str) and ord not in ("fro", "nuc") or not isinstance(ord, str) and ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dim = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    dims = tuple(normalize_dims(d, A.ndim)[0] for d in dim)  # range-checked, in the order given
    if dims[0] == dims[1]:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    return _matrix_norm(A, ord, dims, keepdim)


export(linalg_norm, "linalg.norm", gg="linalg.norm", numpy="linalg.norm", numpy_fn=_norm)
export(vector_norm, "linalg.norm", gg="linalg.vector_norm")
export(matrix_norm, "linalg.norm", gg="linalg.matrix_norm")


# -- more composites of numpy.linalg ------------------------------------------------------------------
def matrix_power(A: TensorBase, n: int) -> TensorBase:
    """``A`` multiplied by itself ``n`` times by repeated squaring (``n = 0``: the identity; ``n < 0``: powers of
    the inverse).

    >>> import graphgrad as gg
    >>> gg.linalg.matrix_power(gg.tensor([[1.0, 1.0], [0.0, 1.0]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if int(n) != n:
        raise TypeError("exponent must be an integer")
    n = int(n)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{A.shape[-2] if A.ndim > 1 else 1} by {A.shape[-1] if A.ndim else 1} matrices")
    if n == 0:
        eye = diag_embed(bind("full_like", diagonal(A, 0, -2, -1), value=1))  # identities, a batch like A
        return _with_zero_gradient(eye, A) if A.is_floating_point() else eye
    if n < 0:
        A, n = bind("inv", A), -n
    result, square = None, A
    while n:
        if n & 1:
            result = square if result is None else result @ square
        n >>= 1
        if n:
            square = square @ square
    return result.clone() if result is A else result  # (n = 1: a new tensor, as PyTorch's)


def multi_dot(arrays) -> TensorBase:
    """The product of a chain of matrices (the first may be a vector, as may the last), left to right.

    >>> import graphgrad as gg
    >>> gg.linalg.multi_dot([gg.ones(2), gg.ones(2, 3), gg.ones(3)])
    tensor(6.)
    """
    arrays = list(arrays)
    if len(arrays) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(arrays)}")
    for which, x in (("first", arrays[0]), ("last", arrays[-1])):
        if x.ndim not in (1, 2):
            raise RuntimeError(f"multi_dot(): the {which} tensor must be 1D or 2D but got {x.ndim}D")
    for i, x in enumerate(arrays[1:-1], 1):
        if x.ndim != 2:  # a batch of matrices would be multiplied as one (matmul broadcasts)
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {x.ndim}D")
    names = {"float32": "float", "float64": "double", "int64": "long"}
    for i, x in enumerate(arrays[1:], 1):
        if x._type.dtype != arrays[0]._type.dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{names.get(arrays[0]._type.dtype, arrays[0]._type.dtype)} and tensor {i} "
                               f"{names.get(x._type.dtype, x._type.dtype)}")
    return _multi_dot(arrays)


def _multi_dot(arrays) -> TensorBase:
    out = arrays[0]
    for x in arrays[1:]:
        out = bind("matmul", out, x)
    return out


def vdot(a: TensorBase, b: TensorBase) -> TensorBase:
    """``numpy.vdot`` of real arrays: the dot product of the flattened arrays."""
    return bind("matmul", a.reshape(-1), b.reshape(-1))


def cond(A: TensorBase, p=None) -> TensorBase:
    """The condition number: ``norm(A, p) * norm(inv(A), p)``, or for ``p`` None, 2 or -2 the ratio of extreme
    singular values.

    >>> import graphgrad as gg
    >>> gg.linalg.cond(gg.tensor([[2.0, 0.0], [0.0, 0.5]]))
    tensor(4.)
    """
    if p not in (None,) + _MATRIX_ORDS or isinstance(p, str) and p not in ("fro", "nuc"):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    A = _float(A)
    if p not in (None, 2, -2) and A.ndim >= 2 and A.shape[-1] != A.shape[-2]:
        # a LinAlgError: a RuntimeError (PyTorch's text) and NumPy's error class
        raise LinAlgError(f"linalg.cond(ord={p}): A must be batches of square matrices, but they are "
                          f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if p in (None, 2, -2):
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    return _norm(A, p, (-2, -1)) * _norm(bind("inv", A), p, (-2, -1))


export(matrix_power, "matrix_power", tensor="matrix_power", gg=("matrix_power", "linalg.matrix_power"),
       numpy="linalg.matrix_power", numpy_fn=lambda a, n: matrix_power(_float(a) if n < 0 else a, n))
export(multi_dot, "multi_dot", gg="linalg.multi_dot", numpy="linalg.multi_dot",
       numpy_fn=lambda arrays, *, out=None: _multi_dot(tensor_operands(*arrays, what="linalg.multi_dot")))
export(vdot, "vdot", numpy="vdot", numpy_fn=binary_numpy(vdot))


def torch_vdot(input: TensorBase, other: TensorBase) -> TensorBase:
    """PyTorch's ``torch.vdot``: the inner product of two 1-D tensors of one dtype, the first conjugated (graphgrad's
    tensors are real: ``dot``).

    >>> import graphgrad as gg
    >>> gg.vdot(gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    tensor(11.)
    """
    tensors_only("vdot", input=input, other=other)
    if input._type.dtype != other._type.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {SCALAR_NAMES[input._type.dtype]}"
                           f" and {SCALAR_NAMES[other._type.dtype]}")
    return dot(input, other)


export(torch_vdot, "vdot", tensor="vdot", gg="vdot")
export(cond, "linalg.cond", gg="linalg.cond", numpy="linalg.cond", numpy_fn=lambda x, p=None: cond(x, p))


# -- beta * input + alpha * product (addmm, addmv, addr, baddbmm, addbmm) -------------------------------------
def _plus_scaled(name, input, product, beta, alpha):
    """``beta * input + alpha * product``; with ``beta == 0`` the input is not read (its nan and inf do not
    propagate), as in PyTorch, though it must still broadcast to the product's shape."""
    shape = tuple(product.shape)
    found = tuple(input.shape) if isinstance(input, TensorBase) else ()
    for k in range(1, len(found) + 1):  # expand's check, from the last dim: PyTorch's text
        if k > len(shape) or found[-k] not in (1, shape[-k]):
            dim = len(shape) - k
            raise RuntimeError(f"The expanded size of the tensor ({shape[-k] if k <= len(shape) else 1}) must match the "
                               f"existing size ({found[-k]}) at non-singleton dimension {dim}.  Target sizes: "
                               f"{list(shape)}.  Tensor sizes: {list(found)}")
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return scaled
    return (input if beta == 1 else input * beta) + scaled


def _check_matrices(mat1, mat2, first="mat1", second="mat2"):
    for label, m in ((first, mat1), (second, mat2)):
        if m.ndim != 2:
            raise RuntimeError(f"{label} must be a matrix, got {m.ndim}-D tensor")
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"{first} and {second} shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` for matrices ``mat1``, ``mat2``; ``input`` broadcasts.

    >>> import graphgrad as gg
    >>> gg.addmm(gg.ones(2), gg.eye(2), gg.tensor([[1.0, 2.0], [3.0, 4.0]]), beta=2)
    tensor([[3., 4.],
            [5., 6.]])
    """
    _check_matrices(mat1, mat2)
    return _plus_scaled("addmm", input, bind("matmul", mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``."""
    return _plus_scaled("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    for label, v in (("vec1", vec1), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {label}, but got {v.ndim}-D")
    return _plus_scaled("addr", input, outer(vec1, vec2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return _plus_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``."""
    return _plus_scaled("addbmm", input, bmm(batch1, batch2).sum(0), beta, alpha)


for _fn in (addmm, addmv, addr, baddbmm, addbmm):
    export(_fn, _fn.__name__, tensor=_fn.__name__, gg=_fn.__name__)


# -- distances ----------------------------------------------------------------------------------------------
def _p_norm_last(d, p):
    """The p-norm of ``d`` over its last axis (PyTorch's vector_norm: p = 0 counts non-zeros, +-inf the largest and
    smallest magnitude); zero gradient where the norm is 0."""
    from .reductions import _root_zero_grad_at_zero, abs_pow, inf_norm
    if p == 0:  # piecewise constant: a zero gradient, as PyTorch's cdist (a result without one, it raised)
        return _with_zero_gradient((d != 0).sum(-1)._cast(d._type.dtype), d.sum(-1))
    if p == 1:
        return d.abs().sum(-1)
    if p == 2:
        return _root_zero_grad_at_zero((d * d).sum(-1), 2)
    if p in (float("inf"), -float("inf")):
        return inf_norm(d, -1, False, p > 0)
    return _root_zero_grad_at_zero(abs_pow(d, p).sum(-1), p)


def dist(input, other, p=2):
    """The p-norm of ``input - other`` (broadcast), over all elements.

    >>> import graphgrad as gg
    >>> gg.dist(gg.tensor([3.0, 0.0]), gg.tensor([0.0, 4.0]))
    tensor(5.)
    """
    d = input - other
    return _p_norm_last(d.reshape(-1), p)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` (``..., P, M``) and each row of ``x2`` (``..., R, M``):
    ``(..., P, R)``. For p = 2 PyTorch's matrix-product formula is used where PyTorch uses it (``compute_mode``; by
    default when P or R exceeds 25), else the differences. Zero gradient at zero distance, as PyTorch's.

    >>> import graphgrad as gg
    >>> gg.cdist(gg.tensor([[0.0, 0.0], [1.0, 1.0]]), gg.tensor([[3.0, 4.0]]))
    tensor([[5.0000],
            [3.6056]])
    """
    from .reductions import _root_zero_grad_at_zero
    for label, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {label} got: {x.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1._type.is_floating:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1._type.dtype}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    rows1, rows2 = x1.shape[-2], x2.shape[-2]
    if p == 2 and (compute_mode == "use_mm_for_euclid_dist" or
                   compute_mode == _CDIST_MODES[0] and (rows1 > 25 or rows2 > 25)):
        n1, n2 = (x1 * x1).sum(-1, keepdim=True), (x2 * x2).sum(-1, keepdim=True)
        one1, one2 = bind("full_like", n1, value=1), bind("full_like", n2, value=1)
        left = bind("concat", x1 * -2, n1, one1, dim=x1.ndim - 1)
        right = bind("concat", x2, one2, n2, dim=x2.ndim - 1)
        squared = left @ right.transpose(-1, -2)
        return _root_zero_grad_at_zero(bind("where", squared < 0, 0.0, squared), 2)
    return _p_norm_last(x1.unsqueeze(-2) - x2.unsqueeze(-3), p)


export(dist, "dist", tensor="dist", gg="dist")
export(cdist, "cdist", gg="cdist")


# -- PyTorch's tril_/triu_, renorm, vander, block_diag and chain_matmul: composites --------------------------------
from .define import in_place, warn_user  # noqa: E402

export(lambda self, diagonal=0: in_place(self, lambda old: tril(old, diagonal)), "tril", tensor="tril_")
export(lambda self, diagonal=0: in_place(self, lambda old: triu(old, diagonal)), "triu", tensor="triu_")


def renorm(input: TensorBase, p: float, dim: int, maxnorm: float) -> TensorBase:
    """``input`` with each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to norm ``maxnorm``
    (PyTorch's factor ``maxnorm / (norm + 1e-7)``); the others unchanged. Differentiable through the norms.

    >>> import graphgrad as gg
    >>> gg.renorm(gg.tensor([[3.0, 4.0], [0.3, 0.4]]), 2, 0, 1.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    (d,) = normalize_dims(dim, input.ndim)
    norm = vector_norm(input, p, tuple(i for i in range(input.ndim) if i != d), keepdim=True)
    factor = bind("where", norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return (input * factor)._shown_as("RenormBackward0")


export(renorm, "renorm", tensor="renorm", gg="renorm")
export(lambda self, p, dim, maxnorm: in_place(self, lambda old: renorm(old, p, dim, maxnorm)), "renorm",
       tensor="renorm_")


def vander(x: TensorBase, N: int | None = None, increasing: bool = False) -> TensorBase:
    """The Vandermonde matrix of a 1-D ``x``: columns ``x ** (N - 1), ..., x, 1`` (``increasing``: the other way),
    ``N`` the length of ``x`` by default; integers and bools give int64. Running products (PyTorch's cumprod).

    >>> import graphgrad as gg
    >>> gg.vander(gg.tensor([1, 2, 3]))
    tensor([[1, 1, 1],
            [4, 2, 1],
            [9, 3, 1]])
    """
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    column = x._cast(x._type.dtype if x._type.is_floating else "int64").reshape(-1, 1)
    if n == 0:
        return column[:, :0]
    result = bind("full_like", column, value=1)
    if n > 1:
        result = bind("concat", result, column.expand(x.shape[0], n - 1).cumprod(1), dim=1)
    return result if increasing else result.flip(1)


export(vander, "vander", gg="vander")


def block_diag(*tensors) -> TensorBase:
    """The block-diagonal matrix of ``tensors`` (0-D: 1 x 1, 1-D: one row, 2-D), zeros elsewhere, of their
    promoted dtype.

    >>> import graphgrad as gg
    >>> gg.block_diag(gg.tensor([[1, 2]]), gg.tensor(3))
    tensor([[1, 2, 0],
            [0, 0, 3]])
    """
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.ndim} dimensions")
    if not tensors:  # PyTorch's empty (1, 0) result; no operand to take an interpreter from
        from ..runtime.factories import zeros

        return zeros(1, 0)
    dtype = result_dtype([t._type for t in tensors])
    blocks = [t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t for t in tensors]
    columns = sum(b.shape[1] for b in blocks)
    rows, start = [], 0
    for b in blocks:
        width = b.shape[1]
        rows.append(_pad_columns(b._cast(dtype), start, columns - start - width))
        start += width
    return bind("concat", *rows, dim=0)._shown_as("BlockDiagBackward0")


def _pad_columns(block: TensorBase, left: int, right: int) -> TensorBase:
    from .shape import pad

    return pad(block, (left, right), value=0) if left or right else block


export(block_diag, "block_diag", gg="block_diag")


_CHAIN_MATMUL_WARNING = ("torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
                         "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
                         "multiple parameters.")


def chain_matmul(*matrices) -> TensorBase:
    """The product of a chain of matrices, left to right (deprecated in PyTorch, with its warning, for
    ``linalg.multi_dot``).

    >>> import graphgrad as gg
    >>> gg.chain_matmul(gg.ones(2, 3), gg.ones(3, 1))
    tensor([[3.],
            [3.]])
    """
    warn_user(_CHAIN_MATMUL_WARNING)
    for m in matrices:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    if len(matrices) == 1:
        return bind("cast", matrices[0], dtype=matrices[0]._type.dtype)  # (a copy, as PyTorch's clone)
    for i, (a, b) in enumerate(zip(matrices, matrices[1:])):
        if a.shape[1] != b.shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(a.shape)} and {list(b.shape)} "
                               f"cannot be multiplied")
    return multi_dot(matrices)


export(chain_matmul, "chain_matmul", gg="chain_matmul")


def fill_diagonal_(self: TensorBase, fill_value, wrap: bool = False) -> TensorBase:
    """PyTorch's ``Tensor.fill_diagonal_``: the main diagonal (``(i, i, ..., i)``) of a tensor of at least two
    dimensions, all of one length past two, set to ``fill_value`` in place. A tall matrix's diagonal stops at its
    last column, or with ``wrap`` starts again every ``columns + 1`` rows. The other elements keep their gradient.

    >>> import graphgrad as gg
    >>> gg.zeros(5, 2).fill_diagonal_(1.0, wrap=True)
    tensor([[1., 0.],
            [0., 1.],
            [0., 0.],
            [1., 0.],
            [0., 1.]])
    """
    from .indexing import index_update

    shape = tuple(self.shape)
    if len(shape) < 2:
        raise RuntimeError("dimensions must larger than 1")
    if len(set(shape)) > 1 and len(shape) > 2:
        raise RuntimeError("all dimensions of input must be of equal length")
    # the diagonal in row-major order: every step-th element from the first, step the sum of the strides
    strides = [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
    step, size = builtins.sum(strides), int(np.prod(shape))
    stop = size if wrap else builtins.min(shape) * step
    if not size:
        return self
    return in_place(self, lambda old: index_update(old.reshape(-1), slice(0, stop, step), fill_value).reshape(shape),
                    "CopySlices")


export(fill_diagonal_, "fill_diagonal_", tensor="fill_diagonal_")
