"""Reductions: sum, mean, prod, extrema, logsumexp, arg-extrema; and the composites built on them
(max/min with indices, any/all, norm, var, std).

Axes go into the IR normalized (sorted, non-negative), so gradient rules never see ``dim=-1``.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from ..codegen.expressions import axis_args
from ..ir import return_types
from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, float_dtype, normalize_dims, reduction_dims, reduction_type, torch_dims
from ..ir.types import FLOATING, SCALAR_NAMES, TensorType, dtype_name
from ..passes.batching import along_axis, arg_reduction, reduction
from ..passes.row_decomposition import RowRule, along_dim_rows, reduce_rows
from .define import any_dtype_name, constant_like, primitive
from .elementwise import lerp_formula


def _np_names(dim, keepdim, axis, keepdims):
    """Accept NumPy's ``axis``/``keepdims`` spelling beside PyTorch's ``dim``/``keepdim``."""
    if axis is not None and axis is not NOT_GIVEN:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim


def _dims(x, dim, axis):
    """The reduced axes: PyTorch's ``dim=[]`` is every dim, NumPy's ``axis=()`` none (see ``torch_dims``)."""
    if axis is not None and axis is not NOT_GIVEN:
        return normalize_dims(axis, x.ndim)
    return torch_dims(dim, x.ndim)


class _NotGiven:
    """The default of NumPy's ``axis=`` keyword on Tensor methods: ``axis=None`` (NumPy's all axes) is a NumPy
    spelling, told apart from no ``axis`` at all."""

    def __repr__(self) -> str:
        return "<not given>"


NOT_GIVEN = _NotGiven()


def _with_dtype(x, dtype):
    """NumPy's (and PyTorch's) ``dtype=``: the reduction computed in, and returned in, that dtype."""
    return x if dtype is None else x._cast(any_dtype_name(dtype))


def unreduce(g, shape: tuple, dim, keepdim):
    """Broadcast a reduced cotangent back over the reduced axes of an input of ``shape`` (a shape, not the input:
    a rule that reads only its input's type lets eager mode keep the type alone)."""
    if not keepdim:
        dims = range(len(shape)) if dim is None else dim
        g = g.reshape(tuple(1 if i in dims else d for i, d in enumerate(shape)))
    return g.expand(shape)


def _count(shape: tuple, dim) -> int:
    n = 1
    for i, d in enumerate(shape):
        if dim is None or i in dim:
            n *= d
    return n


def _method(name):
    """Reductions are array methods (x.sum(axis=0)): the np.sum(...) functions add a layer of Python dispatch
    that costs more than the work on small arrays, and the methods read as well."""
    return lambda a, xp, out, dim, keepdim: [f"{a[0]}.{name}({axis_args(dim, keepdim)[2:]})"]


def _reducer(op):
    def tensor_fn(x, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        dims, (_, keepdim) = _dims(x, dim, axis), _np_names(dim, keepdim, axis, keepdims)
        x = _with_dtype(x, dtype)
        return bind(op, x, dim=dims, keepdim=bool(keepdim))
    tensor_fn.__name__ = op
    tensor_fn.__doc__ = f"``{op}`` over ``dim`` (all elements by default)."
    return tensor_fn


def _numpy_reducer(op):
    def numpy_fn(a, axis=None, dtype=None, keepdims=False):
        if dtype is not None:  # NumPy's accumulator dtype: computed in it, returned in it
            a = a._cast(any_dtype_name(dtype))
        return bind(op, a, dim=normalize_dims(axis, a.ndim), keepdim=bool(keepdims))
    return numpy_fn


# -- sum ----------------------------------------------------------------------------------------
def sum(x: TensorBase, dim=None, keepdim: bool = False, axis=None, keepdims=None, *,  # noqa: A001
        dtype=None) -> TensorBase:
    """Sum over ``dim`` (all elements by default); NumPy's ``axis``/``keepdims`` are accepted too."""
    dims, (_, keepdim) = _dims(x, dim, axis), _np_names(dim, keepdim, axis, keepdims)
    x = _with_dtype(x, dtype)
    return bind("sum", x, dim=dims, keepdim=bool(keepdim))


def _dim_given(name: str):
    """PyTorch's name for a reduction's backward: ``...Backward1`` when a dim was given (its dim overload)."""
    return lambda attrs, in_types: f"{name}Backward{int(attrs.get('dim') is not None)}"


primitive("sum", memory="fresh", zero_signs="through", additive=True, batch=reduction, attrs=("dim", "keepdim"),
          doc="sum over dim (None: all)",
          torch_name=_dim_given("Sum"),
          infer=lambda inputs, dim, keepdim: reduction_type(
              inputs, dim, keepdim, "int64" if inputs[0].dtype in ("bool", "int64") else None),
          vjp=(lambda g, out, x, *, dim, keepdim: unreduce(g, x.shape, dim, keepdim),),
          expr=_method("sum"), fn=sum, tensor="sum", gg="sum", numpy="sum", numpy_fn=_numpy_reducer("sum"),
          rows=reduce_rows(linear=True), c_reduce="a")


# -- mean ---------------------------------------------------------------------------------------
def mean(x: TensorBase, dim=None, keepdim: bool = False, axis=None, keepdims=None, *,
         dtype=None) -> TensorBase:
    """Mean over ``dim`` (all elements by default); NumPy's ``axis``/``keepdims`` are accepted too, and with them
    NumPy's mean of integers (PyTorch's refuses them: no ``dtype=`` says which float to give)."""
    if dtype is None and axis is None and keepdims is None:
        _floating_only(x, "mean(): could not infer output dtype. Input dtype must be either a floating point or "
                          "complex dtype. Got: {}")
    dims, (_, keepdim) = _dims(x, dim, axis), _np_names(dim, keepdim, axis, keepdims)
    x = _with_dtype(x, dtype)
    return bind("mean", x, dim=dims, keepdim=bool(keepdim))


def _floating_only(x, message: str) -> None:
    """PyTorch's refusal of an integer or bool tensor where a reduction has no float dtype to give, ``message``
    naming its dtype (``Long``)."""
    if x._type.dtype not in FLOATING:
        raise RuntimeError(message.format(SCALAR_NAMES[x._type.dtype]))


def _mean_expr(a, xp, out, dim, keepdim):
    if dim is None and not keepdim:  # ndarray.mean's bookkeeping costs more than the sum itself
        return [f"{a[0]}.sum() / {a[0]}.size"]
    return [f"{a[0]}.mean({axis_args(dim, keepdim)[2:]})"]


primitive("mean", memory="fresh", additive=True, batch=reduction, attrs=("dim", "keepdim"),
          doc="mean over dim (None: all)",
          torch_name=_dim_given("Mean"),
          infer=lambda inputs, dim, keepdim: reduction_type(inputs, dim, keepdim, float_dtype(inputs)),
          # scale before broadcasting: one scalar division instead of a full-size one
          vjp=(lambda g, out, x, *, dim, keepdim: unreduce(g / _count(x.shape, dim), x.shape, dim, keepdim),),
          expr=_mean_expr, fn=mean, tensor="mean", gg="mean", numpy="mean", numpy_fn=_numpy_reducer("mean"),
          rows=RowRule(reduce_rows(linear=True), weighted=True), c_reduce="a / (_in_ind.size() / _out_ind.size())")


# -- prod ---------------------------------------------------------------------------------------
def _prod_vjp(g, out, x, *, dim, keepdim):
    """The product of the other elements, as exclusive prefix times suffix products (``cumprod`` scans): exact
    where elements are 0, where ``out / x`` would be nan, and differentiable again."""
    dims = tuple(range(x.ndim)) if dim is None else dim
    kept = [i for i in range(x.ndim) if i not in dims]
    order = kept + list(dims)
    moved = x.permute(tuple(order)) if order != list(range(x.ndim)) else x
    lead = tuple(moved.shape[:len(kept)])
    flat = moved.reshape(lead + (-1,))
    m = flat.shape[-1]
    head = (slice(None),) * len(lead)
    ones = bind("full_like", flat[head + (slice(0, 1),)], value=1)
    before = cumprod(bind("concat", ones, flat[head + (slice(0, m - 1),)], dim=len(lead)), len(lead))
    after = cumprod(bind("concat", ones, flat.flip(len(lead))[head + (slice(0, m - 1),)], dim=len(lead)),
                    len(lead)).flip(len(lead))
    others = (before * after).reshape(tuple(moved.shape))
    if order != list(range(x.ndim)):
        others = others.permute(tuple(order.index(i) for i in range(x.ndim)))
    return unreduce(g, x.shape, dim, keepdim) * others


primitive("prod", memory="fresh", batch=reduction, attrs=("dim", "keepdim"), doc="product over dim (None: all)",
          infer=lambda inputs, dim, keepdim: reduction_type(  # (bools multiply in int64, as sum's add: NumPy's too)
              inputs, dim, keepdim, "int64" if inputs[0].dtype == "bool" else None),
          vjp=(_prod_vjp,),
          expr=_method("prod"), fn=_reducer("prod"), tensor="prod", gg="prod", numpy="prod",
          numpy_fn=_numpy_reducer("prod"), rows=reduce_rows(linear=False))


# -- amax / amin (ties share the gradient evenly, as PyTorch does) --------------------------------
def _extremum(g, out, x, dim, keepdim):
    extreme = unreduce(out, x.shape, dim, keepdim)
    mask = x == extreme
    if dim is None and x._type.dtype.startswith("float"):  # x.max() of a nan is nan, its gradient the nans' (PyTorch's
        mask = mask | ((x != x) & (extreme != extreme))  # evenly_distribute_backward; amax(dim) stays nan, as there)
    mask = mask._cast(g._type.dtype)
    return unreduce(g, x.shape, dim, keepdim) * mask / mask.sum(dim=dim, keepdim=True)


def _extremum_type(op):
    """``reduction_type``, refusing (PyTorch's texts) to reduce over an empty extent, which has no max or min:
    checked on the types, so a compiled function fails at trace time naming the op and the user's line."""
    def infer(inputs, dim, keepdim):
        (x,) = inputs
        dims = reduction_dims(dim, x.ndim)
        if dims is None and builtins.any(d == 0 for d in x.shape):
            if op.startswith("arg"):  # (PyTorch's shorter IndexError for argmax and argmin)
                raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
            raise ShapeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                             f"reduction dim with the 'dim' argument.")
        for d in dims or ():
            if x.shape[d] == 0:
                raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        return reduction_type(inputs, dim, keepdim)
    return infer


def _every_dim_reducer(op):
    """PyTorch's ``amax()``/``amin()`` without a dim: a reduction over every dim, whose gradient is amax's over
    dims (nan throughout a nan result: PyTorch's count of elements equal to nan is 0), not ``max()``'s, which
    shares it among the nans (``dim=None``)."""
    reduce = _reducer(op)

    def tensor_fn(x, dim=None, keepdim: bool = False, **kwargs):
        if dim is None and kwargs.get("axis") is None and x.ndim and x._type.size:  # (an empty x: PyTorch's error)
            dim = tuple(range(x.ndim))
        return reduce(x, dim, keepdim, **kwargs)
    tensor_fn.__name__ = op
    tensor_fn.__doc__ = reduce.__doc__
    return tensor_fn


primitive("amax", memory="fresh", batch=reduction, attrs=("dim", "keepdim"),
          torch_name=lambda attrs, in_types: "MaxBackward1" if attrs.get("dim") is None else "AmaxBackward0",
          doc="maximum over dim (None: all)", infer=_extremum_type("amax"),
          vjp=(_extremum,), expr=_method("max"), fn=_every_dim_reducer("amax"), tensor="amax", gg="amax",
          numpy=("amax", "max"), numpy_fn=_numpy_reducer("amax"), rows=reduce_rows(linear=False))
primitive("amin", memory="fresh", batch=reduction, attrs=("dim", "keepdim"),
          torch_name=lambda attrs, in_types: "MinBackward1" if attrs.get("dim") is None else "AminBackward0",
          doc="minimum over dim (None: all)", infer=_extremum_type("amin"),
          vjp=(_extremum,), expr=_method("min"), fn=_every_dim_reducer("amin"), tensor="amin", gg="amin",
          numpy=("amin", "min"), numpy_fn=_numpy_reducer("amin"), rows=reduce_rows(linear=False))


# -- logsumexp ----------------------------------------------------------------------------------
def _logsumexp_expr(a, xp, out, dim, keepdim):
    m, shift = f"{out}_max", f"{out}_shift"
    lse = f"{xp}.log({xp}.exp({a[0]} - {shift}).sum({axis_args(dim, True)[2:]})) + {shift}"
    return [f"{m} = {a[0]}.max({axis_args(dim, True)[2:]})",
            f"{shift} = {xp}.where({xp}.isinf({m}), 0, {m})",  # all -inf: -inf as PyTorch, not -inf + inf = nan
            lse if keepdim else f"{xp}.squeeze({lse}{', axis=' + str(dim) if dim is not None else ''})"]


def logsumexp(x: TensorBase, dim, keepdim: bool = False) -> TensorBase:
    """``log(sum(exp(x)))`` over ``dim``, computed stably."""
    if not keepdim and x.ndim and not isinstance(dim, int) and len(dim) == 0:
        # PyTorch 2.13 reduces every dim for dim=[] but then fails to write the keepdim-shaped result
        raise ShapeError(f"output with shape [] doesn't match the broadcast shape [{', '.join(['1'] * x.ndim)}]")
    dims = torch_dims(dim, x.ndim)
    if x._type.size == 0:  # the log of an empty sum: -inf (NumPy's max over an empty dim fails)
        return bind("sum", x._cast(float_dtype([x._type])), dim=dims, keepdim=bool(keepdim)) + float("-inf")
    return bind("logsumexp", x, dim=dims, keepdim=bool(keepdim))


def _numpy_logsumexp(a, axis=None, keepdims=False):
    # scipy's axis: None is every axis, () none
    return bind("logsumexp", a, dim=normalize_dims(axis, a.ndim), keepdim=bool(keepdims))


def _logsumexp_array(a, axis=None, keepdims=False):
    """``scipy.special.logsumexp`` on plain arrays."""
    m = np.amax(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


primitive("logsumexp", memory="fresh", batch=reduction, attrs=("dim", "keepdim"), doc="log(sum(exp(x))) over dim, computed stably",
          # floating: the default float for integers and bools, as PyTorch (NumPy's int64 kept 3.0486 as 3)
          infer=lambda inputs, dim, keepdim: reduction_type(inputs, dim, keepdim, float_dtype(inputs)),
          # where every element is -inf the result is -inf and no element has weight: gradient 0, not
          # exp(-inf + inf) = nan
          vjp=(lambda g, out, x, *, dim, keepdim:
               unreduce(g, x.shape, dim, keepdim) * (x - unreduce(bind("where", out == -np.inf, 0.0, out), x.shape, dim, keepdim)).exp(),),
          expr=_logsumexp_expr, fn=logsumexp, tensor="logsumexp", gg="logsumexp", numpy="logsumexp",
          numpy_fn=_numpy_logsumexp, numpy_impl=_logsumexp_array, rows=reduce_rows(linear=False))


# -- argmax / argmin (integer results: no gradient) ---------------------------------------------
def _arg_type(inputs, dim, keepdim, op="argmax"):
    x = inputs[0]
    _extremum_type(op)(inputs, dim, keepdim)  # an empty extent has no extremum, hence no index of one
    if dim is None:
        return TensorType((1,) * x.ndim if keepdim else (), "int64")
    return reduction_type(inputs, dim, keepdim, "int64")


def _arg_expr(f):
    def expr(a, xp, out, dim, keepdim):
        axis = "" if dim is None else f"axis={dim}"
        keep = ("" if dim is None else ", ") + "keepdims=True" if keepdim else ""
        return [f"{a[0]}.{f}({axis}{keep})"]
    return expr


def argmax(x: TensorBase, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> TensorBase:
    """Index of the largest element along ``dim`` (of the flattened tensor when None); NumPy's
    ``axis``/``keepdims`` too."""
    dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return x._no_grad_apply("argmax", dim=dim, keepdim=bool(keepdim))


def argmin(x: TensorBase, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> TensorBase:
    """Index of the smallest element along ``dim`` (of the flattened tensor when None); NumPy's
    ``axis``/``keepdims`` too."""
    dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return x._no_grad_apply("argmin", dim=dim, keepdim=bool(keepdim))


primitive("argmax", memory="fresh", batch=arg_reduction,
          attrs=("dim", "keepdim"), doc="index of the largest element along dim (None: flattened)",
          infer=_arg_type, nondiff=True, expr=_arg_expr("argmax"), fn=argmax, tensor="argmax", gg="argmax",
          numpy="argmax", numpy_fn=lambda a, axis=None, out=None, *, keepdims=False: argmax(a, axis=axis,
                                                                                             keepdims=keepdims),
          rows=reduce_rows(linear=False))
primitive("argmin", memory="fresh", batch=arg_reduction,
          attrs=("dim", "keepdim"), doc="index of the smallest element along dim (None: flattened)",
          infer=lambda inputs, dim, keepdim: _arg_type(inputs, dim, keepdim, "argmin"), nondiff=True,
          expr=_arg_expr("argmin"), fn=argmin, tensor="argmin", gg="argmin",
          numpy="argmin", numpy_fn=lambda a, axis=None, out=None, *, keepdims=False: argmin(a, axis=axis,
                                                                                             keepdims=keepdims),
          rows=reduce_rows(linear=False))


# -- composites ---------------------------------------------------------------------------------
def _extreme(x: TensorBase, dim, keepdim: bool, pairwise: str, reduce: str, arg: str):
    if isinstance(dim, TensorBase):
        return bind(pairwise, x, dim)
    if dim is None:
        if x._type.size == 0:  # (PyTorch names max() and min(), not the amax and amin they reduce with)
            raise RuntimeError(f"{reduce[1:]}(): Expected reduction dim to be specified for input.numel() == 0. "
                               f"Specify the reduction dim with the 'dim' argument.")
        return bind(reduce, x, dim=None, keepdim=False)
    (d,) = normalize_dims(dim, x.ndim)
    if x.ndim == 0:  # a 0-d tensor is its own extreme, at index 0 (PyTorch's result)
        return getattr(return_types, reduce[1:])(x * 1, bind("full_like", x, value=0)._cast("int64"))
    # the values are gathered at the returned indices, so that the gradient goes to that one element on ties,
    # as eager (runtime/tensor.py's _along) and PyTorch do; amax/amin would split it among the tied elements
    index = getattr(x, arg)(d, True)
    values = bind("gather", x, index, dim=d)
    if not keepdim:
        values, index = values.squeeze(d), index.squeeze(d)
    return getattr(return_types, reduce[1:])(values, index)  # torch.return_types.max, as eager returns


def _numpy_extreme(x, dim, keepdim, axis, keepdims, reduce: str):
    """NumPy's spelling (``x.max(axis=1)``, ``x.max(keepdims=True)``): the values alone, as ``ndarray.max``."""
    if axis is not NOT_GIVEN:
        dim = axis
    keepdim = bool(keepdim if keepdims is None else keepdims)
    return bind(reduce, x, dim=normalize_dims(dim, x.ndim), keepdim=keepdim)


def max(x: TensorBase, dim=None, keepdim: bool = False, *, axis=NOT_GIVEN, keepdims=None):  # noqa: A001
    """``x.max()`` is the largest element; ``x.max(dim)`` returns ``(values, indices)``; ``x.max(y)`` is
    ``maximum``. NumPy's keywords give NumPy's result, the values alone: ``x.max(axis=1)``,
    ``x.max(axis=0, keepdims=True)``.

    >>> import graphgrad as gg
    >>> x = gg.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> x.max(axis=1)
    tensor([5., 4.])
    >>> x.max(dim=1).indices
    tensor([1, 0])
    """
    if axis is not NOT_GIVEN or keepdims is not None:
        return _numpy_extreme(x, dim, keepdim, axis, keepdims, "amax")
    return _extreme(x, dim, keepdim, "maximum", "amax", "argmax")


def min(x: TensorBase, dim=None, keepdim: bool = False, *, axis=NOT_GIVEN, keepdims=None):  # noqa: A001
    """``x.min()`` is the smallest element; ``x.min(dim)`` returns ``(values, indices)``; ``x.min(y)`` is
    ``minimum``. NumPy's keywords (``x.min(axis=0)``, ``keepdims=``) give the values alone, as NumPy."""
    if axis is not NOT_GIVEN or keepdims is not None:
        return _numpy_extreme(x, dim, keepdim, axis, keepdims, "amin")
    return _extreme(x, dim, keepdim, "minimum", "amin", "argmin")


export(max, "max", tensor="max", gg="max")
export(min, "min", tensor="min", gg="min")


def any(input: TensorBase, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> TensorBase:  # noqa: A001
    """True where any element (along ``dim``, or NumPy's ``axis``) is non-zero (``torch.any``, ``Tensor.any``)."""
    dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    # reduction_dims, not torch_dims: unlike sum, PyTorch's any/all reduce no dim for dim=[]
    return bind("sum", input != 0, dim=reduction_dims(dim, input.ndim), keepdim=bool(keepdim)) > 0


def all(input: TensorBase, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> TensorBase:  # noqa: A001
    """True where every element (along ``dim``, or NumPy's ``axis``) is non-zero (``torch.all``, ``Tensor.all``).

    >>> import graphgrad as gg
    >>> gg.all(gg.tensor([[True, False], [True, True]]), 1)
    tensor([False,  True])
    """
    dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return bind("sum", input == 0, dim=reduction_dims(dim, input.ndim), keepdim=bool(keepdim)) == 0


def _numpy_truth(reduce):
    """NumPy's ``any``/``all(a, axis=None, out=None, keepdims=False, *, where=True)``: a bool tensor (0-d without
    ``axis``), which ``bool()`` reads eagerly and traced code uses as a condition."""
    def fn(a, axis=None, out=None, keepdims=False, *, where=True):
        if where is not True:
            raise NotImplementedError(f"graphgrad.numpy.{reduce.__name__}: where= is not supported on tensors; "
                                      f"reduce graphgrad.numpy.where(mask, a, {reduce.__name__ == 'all'}) instead")
        return reduce(a, axis=axis, keepdims=bool(keepdims))
    fn.__name__ = reduce.__name__
    return fn


export(any, "any", tensor="any", gg="any", numpy=("any",), numpy_fn=_numpy_truth(any))
export(all, "all", tensor="all", gg="all", numpy=("all",), numpy_fn=_numpy_truth(all))


def norm(x: TensorBase, p="fro", dim=None, keepdim: bool = False) -> TensorBase:
    """``torch.norm``: ``linalg.vector_norm`` for a numeric ``p`` and for ``'fro'`` (over at most two dims), else
    ``linalg.matrix_norm`` (``'nuc'``; over every dim when ``dim`` is None), as PyTorch dispatches it.

    >>> import graphgrad as gg
    >>> gg.norm(gg.tensor([3.0, -4.0]))
    tensor(5.)
    """
    from .linalg import matrix_norm, vector_norm
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return vector_norm(x, 2, dim, keepdim)
        return matrix_norm(x, p, tuple(range(x.ndim)) if dim is None else dim, keepdim)
    return vector_norm(x, 2.0 if p is None else p, dim, keepdim)


def _p_norm(x: TensorBase, p=2, dim=None, keepdim: bool = False) -> TensorBase:
    """The vector p-norm over ``dim`` (all elements by default) for p = 1, 2, inf or p > 0 (``linalg``'s vector
    norms call it for those)."""
    if p == 2 or p == "fro":
        out = _root_zero_grad_at_zero((x * x).sum(dim, keepdim), 2)
    elif p == 1:
        out = x.abs().sum(dim, keepdim)
    elif p == float("inf"):
        out = inf_norm(x, dim, keepdim)
    else:
        out = _root_zero_grad_at_zero(abs_pow(x, p).sum(dim, keepdim), p)
    return out._shown_as("LinalgVectorNormBackward0")  # the eager grad_fn under PyTorch's name


def inf_norm(x: TensorBase, dim, keepdim: bool, largest: bool = True) -> TensorBase:
    """The largest ``|x|`` over ``dim`` (the smallest: the -inf norm), with PyTorch's linalg_vector_norm_backward
    for p = +-inf: ``sgn(x)`` times the gradient shared among the elements equal to the norm or nan, so 0 throughout
    a slice holding a nan (sgn(nan) = 0), where amax's rule gives nan. The nans are taken out of the extreme and
    put back as its value, so that no gradient reaches the slice."""
    a = x.abs()
    nan = a != a
    clean = bind("where", nan, 0.0, a)
    extreme = clean.amax(dim, keepdim) if largest else clean.amin(dim, keepdim)
    return bind("where", any(nan, dim, keepdim), math.nan, extreme)


def abs_pow(x, p):
    """``|x| ** p`` for a p-norm. For p < 1 its gradient is 0 where x is 0, as PyTorch's norm backward masks those
    elements: the formula there is p |0|^(p-1) sign(0) = inf * 0 = nan, which the norm's gradient would spread to
    every element (at second order even for p in (0, 1)). The inner where keeps the untaken branch finite."""
    a = x.abs()
    if p >= 1:
        return a ** p
    zero = a == 0
    return bind("where", zero, 0.0 if p > 0 else float("inf"), bind("where", zero, 1.0, a) ** p)


def _root_zero_grad_at_zero(s, p):
    """``s ** (1/p)`` whose gradient is 0 where ``s`` is 0 (std at zero variance, norm at the origin), as PyTorch's
    std and norm backward give, rather than ``0 * inf = nan``. The inner ``where`` keeps the untaken branch finite,
    so second order is clean too."""
    zero = s == 0
    safe = bind("where", zero, 1.0, s)
    return bind("where", zero, 0.0, safe.sqrt() if p == 2 else safe ** (1.0 / p))


export(norm, "norm", tensor="norm", gg="norm")  # graphgrad.numpy.linalg.norm (matrix ords too): ops/linalg.py


def _numpy_moment_args(dim, keepdim, correction, axis, ddof, keepdims, dtype, x):
    """NumPy's keywords on ``x.var``/``x.std`` (``axis=``, ``ddof=``, ``keepdims=``, ``dtype=``) mean NumPy's
    semantics: ``ddof`` defaults to 0 (PyTorch's ``correction`` to 1). The axes come back normalized."""
    numpy_style = axis is not NOT_GIVEN or ddof is not None or keepdims is not None or dtype is not None
    dims = _dims(x, dim, axis)
    if numpy_style:
        if keepdims is not None:
            keepdim = keepdims
        if correction is None:
            correction = 0 if ddof is None else ddof
        x = _with_dtype(x, dtype)
    else:
        _floating_only(x, "std and var only support floating point and complex dtypes")
    return x, dims, keepdim, correction


def _var(x, dims, unbiased: bool, keepdim: bool, correction):
    """``var`` over normalized axes ``dims`` (None: all): bound directly, as a user's ``dim=[]`` is already
    every dim, and NumPy's ``axis=()`` must stay none."""
    if correction is None:
        correction = 1 if unbiased else 0
    n = 1
    for i, d in enumerate(x.shape):
        if dims is None or i in dims:
            n *= d
    centered = x - bind("mean", x, dim=dims, keepdim=True)
    return bind("sum", centered * centered, dim=dims, keepdim=bool(keepdim)) / builtins.max(n - correction, 0)


def var(x: TensorBase, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None, *,
        axis=NOT_GIVEN, ddof=None, keepdims=None, dtype=None) -> TensorBase:
    """Variance over ``dim``; ``correction`` (default 1, Bessel) is subtracted from the count. NumPy's keywords
    (``x.var(axis=0)``, ``ddof=``, ``keepdims=``) mean NumPy's semantics, ``ddof`` 0 unless given.

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, 2.0, 3.0, 4.0])
    >>> x.var(), x.var(axis=0), x.var(ddof=1)
    (tensor(1.6667), tensor(1.2500), tensor(1.6667))
    """
    x, dims, keepdim, correction = _numpy_moment_args(dim, keepdim, correction, axis, ddof, keepdims, dtype, x)
    return _var(x, dims, unbiased, keepdim, correction)._shown_as("VarBackward0")


def std(x: TensorBase, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None, *,
        axis=NOT_GIVEN, ddof=None, keepdims=None, dtype=None) -> TensorBase:
    """Standard deviation over ``dim``: the square root of ``var`` (NumPy's keywords as there)."""
    x, dims, keepdim, correction = _numpy_moment_args(dim, keepdim, correction, axis, ddof, keepdims, dtype, x)
    return _root_zero_grad_at_zero(_var(x, dims, unbiased, keepdim, correction), 2)._shown_as("StdBackward0")


# NumPy's axis: () reduces none (PyTorch's dim=[] every dim)
export(var, "var", tensor="var", gg="var", numpy="var",
       numpy_fn=lambda a, axis=None, ddof=0, keepdims=False: _var(a, normalize_dims(axis, a.ndim), True, keepdims,
                                                                   ddof))
export(std, "std", tensor="std", gg="std", numpy="std",
       numpy_fn=lambda a, axis=None, ddof=0, keepdims=False: _root_zero_grad_at_zero(
           _var(a, normalize_dims(axis, a.ndim), True, keepdims, ddof), 2))


# -- cumsum (a scan; its adjoint is the reversed scan) ------------------------------------------------
def cumsum(x: TensorBase, dim: int | None = None, dtype=None, *, axis=None) -> TensorBase:
    """Running sums along ``dim`` (integer and bool inputs give int64, as in PyTorch); NumPy's ``axis=``, and
    without either, NumPy's running sum of the flattened tensor.

    >>> import graphgrad as gg
    >>> gg.tensor([[1.0, 2.0], [3.0, 4.0]]).cumsum(0)
    tensor([[1., 2.],
            [4., 6.]])
    """
    return _cumsum(x, dim, dtype, axis, wide=True)


def _cumsum(x: TensorBase, dim, dtype, axis, wide: bool) -> TensorBase:
    """``wide``: float32 running sums added in float64, as PyTorch's CPU kernel does (a million float32 0.1s sum
    to 100000.0 there, to 100958.34 added in float32, NumPy's way, which ``graphgrad.numpy.cumsum`` keeps)."""
    if dim is None:
        x, dim = (x.reshape(-1), 0) if axis is None else (x, axis)
    (d,) = normalize_dims(dim, x.ndim)
    source = x
    if wide and dtype is None and x._type.dtype == "float32":
        x = x._cast("float64")
    if x.ndim == 0:  # PyTorch: a 0-d result (dim 0 or -1); the scan itself needs an axis
        out = bind("cumsum", x.reshape(1), dim=0).reshape(())
    else:
        out = bind("cumsum", x, dim=d)
    if dtype is None:
        return out._cast(source._type.dtype) if x is not source else out
    return out._cast(dtype_name(dtype))


def _numpy_cumsum(a, axis=None, dtype=None):
    return _cumsum(a.reshape(-1) if axis is None else a, 0 if axis is None else axis, dtype, None, wide=False)


primitive("cumsum", memory="fresh", batch=along_axis, attrs=("dim",), doc="running sums along dim",
          infer=lambda inputs, dim: TensorType(inputs[0].shape, "int64" if inputs[0].dtype in ("bool", "int64")
                                               else inputs[0].dtype),
          vjp=(lambda g, out, x, *, dim: g.flip(dim).cumsum(dim).flip(dim),),
          expr=lambda a, xp, out, dim: [f"{a[0]}.cumsum(axis={dim})"],
          fn=cumsum, tensor="cumsum", gg="cumsum", numpy="cumsum", numpy_fn=_numpy_cumsum, rows=along_dim_rows)


# -- cumprod: a log-depth scan of products (exact gradients where elements are 0) ----------------------------
def cumprod(x, dim: int | None = None, dtype=None, *, axis=None):
    """Running products along ``dim``, as ``log2(n)`` rounds of ``y * (y shifted by s, ones in front)``.

    Built from multiplications, its gradient is exact where elements are 0 (``out / x`` would give nan) and
    differentiates again; the values equal a sequential product up to rounding.

    >>> import graphgrad as gg
    >>> gg.tensor([1.0, 2.0, 0.0, 4.0]).cumprod(0)
    tensor([1., 2., 0., 0.])
    """
    if dim is None:  # NumPy's axis=, or NumPy's flattened running product
        x, dim = (x.reshape(-1), 0) if axis is None else (x, axis)
    (d,) = normalize_dims(dim, x.ndim)
    if x.ndim == 0:  # PyTorch: a 0-d result (dim 0 or -1)
        return cumprod(x.reshape(1), 0, dtype).reshape(())
    if dtype is not None:
        x = x._cast(any_dtype_name(dtype))
    elif x._type.dtype == "bool":  # PyTorch's running product of bools counts in int64, as cumsum's sum does
        x = x._cast("int64")
    n = x.shape[d]
    head = (slice(None),) * d
    y, s = x, 1
    while s < n:
        ones = bind("full_like", y[head + (slice(0, s),)], value=1)
        y = y * bind("concat", ones, y[head + (slice(0, n - s),)], dim=d)
        s *= 2
    return y


def _numpy_cumprod(a, axis=None, dtype=None):
    return cumprod(a.reshape(-1) if axis is None else a, 0 if axis is None else axis, dtype)


export(cumprod, "cumprod", tensor="cumprod", gg="cumprod", numpy=("cumprod", "cumulative_prod"), numpy_fn=_numpy_cumprod)


# -- order statistics: median, kthvalue, mode (values gathered at their index: the gradient goes there) -----
def _picked(x, d: int, index, keepdim: bool, kind: str):
    """``return_types.kind(values, indices)``: the values gathered at ``index`` (keepdim-shaped) along ``d``, so that
    the gradient goes to the element the index names, as PyTorch's ``max(dim)``."""
    values = bind("gather", x, index, dim=d)
    if not keepdim:
        values, index = values.squeeze(d), index.squeeze(d)
    return getattr(return_types, kind)(values, index)


def _select_dim(x, dim, op: str):
    """``dim`` normalized for a selection along it, refusing an empty extent with PyTorch's text."""
    (d,) = normalize_dims(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    return d


def _scalar_pick(x, kind: str):
    """A 0-d tensor is its own median (kthvalue, mode, ...), at index 0."""
    return getattr(return_types, kind)(x * 1, bind("full_like", x, value=0)._cast("int64"))


def _sorted_position(x, d: int, k):
    """Indices (keepdim-shaped) of the elements at sorted position ``k`` (an int, or an int64 tensor of keepdim
    shape) along ``d``; nan sorts last, as in PyTorch. Among equal values the stable sort's order decides (PyTorch
    leaves which of them unspecified)."""
    order = bind("argsort", x, dim=d, descending=False)
    if isinstance(k, int):
        return order[(slice(None),) * d + (slice(k, k + 1),)]
    return bind("gather", order, k, dim=d)


def _median_along(x, dim, keepdim: bool, ignore_nan: bool):
    kind = "nanmedian" if ignore_nan else "median"
    if x.ndim == 0:
        normalize_dims(dim, 0)
        return _scalar_pick(x, kind)
    d = _select_dim(x, dim, kind)
    n = x.shape[d]
    if not x._type.is_floating:
        return _picked(x, d, _sorted_position(x, d, (n - 1) // 2), keepdim, kind)
    isnan = x != x
    if ignore_nan:  # the lower median of the numbers; an all-nan slice gives its first element (nan)
        count = (~isnan).sum(d, keepdim=True)
        index = _sorted_position(x, d, bind("where", count > 0, (count - 1) // 2, 0))
    else:  # a nan anywhere makes the median nan: the first nan's index, as PyTorch
        first_nan = isnan._cast("int64").argmax(d, keepdim=True)
        index = bind("where", isnan.any(d, keepdim=True), first_nan, _sorted_position(x, d, (n - 1) // 2))
    return _picked(x, d, index, keepdim, kind)


def _median_all(x, ignore_nan: bool):
    """The lower median of every element; its gradient is shared evenly by the elements equal to it, or by the nans
    where it is nan, as PyTorch's ``median()`` (evenly_distribute_backward): the maximum over those elements, whose
    gradient ``max()``'s rule shares so."""
    flat = x.reshape(-1)
    if flat.shape[0] == 0:
        return bind("full_like", x.reshape(-1).sum(), value=float("nan"))._cast(x._type.dtype)
    v = _median_along(flat, 0, False, ignore_nan).values
    if not x._type.is_floating:
        return v
    sharing = (flat == v) | ((flat != flat) & (v != v))
    return bind("amax", bind("where", sharing, flat, -np.inf), dim=None, keepdim=False)


def median(input, dim=None, keepdim: bool = False):
    """``torch.median``: without ``dim`` the lower median of all elements (of an even count, the smaller of the two
    middle values; nan if any element is nan); with ``dim``, ``return_types.median(values, indices)`` along it.

    >>> import graphgrad as gg
    >>> gg.tensor([4.0, 1.0, 3.0, 2.0]).median()
    tensor(2.)
    """
    return _median_all(input, False) if dim is None else _median_along(input, dim, keepdim, False)


def nanmedian(input, dim=None, keepdim: bool = False):
    """``torch.nanmedian``: ``median`` ignoring nan elements (nan only where every element is nan)."""
    return _median_all(input, True) if dim is None else _median_along(input, dim, keepdim, True)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    """``return_types.kthvalue(values, indices)``: the ``k``-th smallest element (1-based) along ``dim``.

    >>> import graphgrad as gg
    >>> gg.tensor([3.0, 1.0, 2.0]).kthvalue(2).values
    tensor(2.)
    """
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if input.ndim == 0:
        return _scalar_pick(input, "kthvalue")
    return _picked(input, d, _sorted_position(input, d, k - 1), keepdim, "kthvalue")


def mode(input, dim: int = -1, keepdim: bool = False):
    """``return_types.mode(values, indices)``: the most frequent value along ``dim`` (the smallest of several as
    frequent) and the index of its last occurrence, as PyTorch's.

    >>> import graphgrad as gg
    >>> gg.tensor([2.0, 1.0, 2.0, 1.0, 3.0]).mode()
    torch.return_types.mode(
    values=tensor(1.),
    indices=tensor(3))
    """
    if input.ndim == 0:
        normalize_dims(dim, 0)
        return _scalar_pick(input, "mode")
    d = _select_dim(input, dim, "mode")
    n = input.shape[d]
    counts = (input.unsqueeze(d + 1) == input.unsqueeze(d)).sum(d + 1)  # how often each element's value occurs
    frequent = counts == counts.amax(d, keepdim=True)
    # the smallest frequent value: the others replaced by something no smaller (PyTorch's choice among nan is its
    # sort's, not followed here)
    fill = np.inf if input._type.is_floating else input.amax(d, keepdim=True)
    value = bind("where", frequent, input, fill).amin(d, keepdim=True)
    last = (n - 1) - (input == value).flip(d)._cast("int64").argmax(d, keepdim=True)
    return _picked(input, d, last, keepdim, "mode")


export(median, "median", tensor="median", gg="median")
export(nanmedian, "nanmedian", tensor="nanmedian", gg="nanmedian")
export(kthvalue, "kthvalue", tensor="kthvalue", gg="kthvalue")
export(mode, "mode", tensor="mode", gg="mode")


# -- quantile / nanquantile: a sort, then PyTorch's interpolation between neighbours --------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool):
    op = "nanquantile" if ignore_nan else "quantile"
    if not isinstance(x, TensorBase) or x._type.dtype not in ("float32", "float64"):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                           f"Got {interpolation}")
    if isinstance(q, TensorBase):
        if q.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q._type.dtype != x._type.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        if q._level <= 0 and q.numel() and not bool(((q >= 0) & (q <= 1)).all()):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
        q_shape, qs = tuple(q.shape), q.reshape(-1)
    else:
        if not 0 <= q <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
        q_shape, qs = (), constant_like(x, [float(q)], np.dtype(x._type.dtype))
    if x.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    # the reduced axis last, the others in front
    if dim is None:
        work, kept = x.reshape(-1), ((1,) * x.ndim if keepdim else ())
    else:
        (d,) = normalize_dims(dim, x.ndim)
        if x.ndim == 0:
            work, kept = x.reshape(1), ()
        else:
            work = x.movedim(d, -1) if d != x.ndim - 1 else x
            kept = tuple(1 if i == d and keepdim else n for i, n in enumerate(x.shape) if i != d or keepdim)
    order = bind("argsort", work, dim=work.ndim - 1, descending=False)
    ordered = bind("gather", work, order, dim=work.ndim - 1)  # values sorted, nan last; differentiable
    n = work.shape[-1]
    isnan = (ordered != ordered).any(-1, keepdim=True)
    lead = tuple(work.shape[:-1])
    qs = qs.reshape((1,) * len(lead) + (-1,))
    if ignore_nan:
        count = (~(ordered != ordered)).sum(-1, keepdim=True)._cast(x._type.dtype)
        ranks = qs * (count - 1)
        ranks = bind("where", ranks < 0, float(n - 1), ranks)  # every element nan: the last one, nan
    else:
        ranks = bind("where", isnan, float(n - 1), qs * (n - 1))  # any nan: the last one, nan
    if interpolation == "lower":
        ranks = ranks.floor()
    elif interpolation == "higher":
        ranks = ranks.ceil()
    elif interpolation == "nearest":
        ranks = ranks.round()
    below = ranks.floor()._cast("int64").expand(lead + (qs.shape[-1],))
    values = bind("gather", ordered, below, dim=work.ndim - 1)
    if interpolation in ("linear", "midpoint"):
        above = ranks.ceil()._cast("int64").expand(lead + (qs.shape[-1],))
        weights = (ranks - ranks.floor()) if interpolation == "linear" else bind("full_like", ranks, value=0.5)
        values = lerp_formula(values, bind("gather", ordered, above, dim=work.ndim - 1), weights)
    # (..., len(q)) -> q's axis first, then the kept axes
    values = values.movedim(-1, 0) if values.ndim > 1 else values
    return values.reshape(q_shape + kept)


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """``torch.quantile``: the ``q``-quantiles (a float, or a 0-d or 1-D tensor whose axis comes first in the
    result) along ``dim`` (of all elements without it), interpolating between the two neighbouring sorted values
    as ``interpolation`` says (``linear``, ``lower``, ``higher``, ``midpoint``, ``nearest``); nan if the slice holds
    a nan. The gradient goes to the neighbours, by their interpolation weights.

    >>> import graphgrad as gg
    >>> gg.tensor([1.0, 2.0, 3.0, 4.0]).quantile(0.5)
    tensor(2.5000)
    """
    return _quantile(input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """``torch.nanquantile``: ``quantile`` of the elements that are not nan (nan where all of them are)."""
    return _quantile(input, q, dim, keepdim, interpolation, True)


export(quantile, "quantile", tensor="quantile", gg="quantile")
export(nanquantile, "nanquantile", tensor="nanquantile", gg="nanquantile")


# -- cummax / cummin: the running extreme's index (an integer op), the values gathered at it --------------
def _cum_index_expr(a, xp, out, dim, kind):
    run, pos = f"{out}_run", f"{out}_pos"
    x = a[0]
    # a new extreme (or a tie with it, or a nan: PyTorch's x >= max || isnan(x)) takes its own index; the running
    # maximum of those indices is the index of the extreme so far
    return [f"{run} = {xp}.{'maximum' if kind == 'max' else 'minimum'}.accumulate({x}, axis={dim})",
            f"{pos} = {xp}.arange({x}.shape[{dim}]).reshape(({x}.shape[{dim}],) + (1,) * ({x}.ndim - {dim} - 1))",
            f"{xp}.maximum.accumulate({xp}.where(({x} == {run}) | ({x} != {x}), {pos}, 0), axis={dim})"]


primitive("cum_extreme_index", memory="fresh", attrs=("dim", "kind"), nondiff=True,
          batch=lambda op, args, bdims, dim, kind: (bind(op, args[0].movedim(bdims[0], 0), dim=dim + 1, kind=kind), 0),
          infer=lambda inputs, dim, kind: TensorType(inputs[0].shape, "int64"),
          doc="index of the running maximum (kind='max') or minimum along dim; ties take the later index",
          expr=_cum_index_expr, rows=along_dim_rows)


def _cum_extreme(x, dim, kind: str):
    (d,) = normalize_dims(dim, x.ndim)
    name = "cum" + kind
    if x.ndim == 0:
        return _scalar_pick(x, name)
    index = bind("cum_extreme_index", x, dim=d, kind=kind)
    return getattr(return_types, name)(bind("gather", x, index, dim=d), index)


def cummax(input, dim: int):
    """``return_types.cummax(values, indices)``: the running maximum along ``dim`` and where it was found (a tie
    or a nan takes the later index, as PyTorch); the gradient goes to that element.

    >>> import graphgrad as gg
    >>> gg.tensor([1.0, 3.0, 2.0, 3.0]).cummax(0).indices
    tensor([0, 1, 1, 3])
    """
    return _cum_extreme(input, dim, "max")


def cummin(input, dim: int):
    """``return_types.cummin(values, indices)``: the running minimum along ``dim``, as ``cummax``."""
    return _cum_extreme(input, dim, "min")


export(cummax, "cummax", tensor="cummax", gg="cummax")
export(cummin, "cummin", tensor="cummin", gg="cummin")


def logcumsumexp(input, dim: int):
    """``log(cumsum(exp(x)))`` along ``dim``, computed stably as ``log2(n)`` rounds of ``logaddexp`` with the
    sequence shifted (``-inf`` in front): no overflow, no underflow of early terms (one maximum over the whole
    slice would send ``[-1000, 0]`` to ``[-inf, 0]``).

    >>> import graphgrad as gg
    >>> gg.tensor([-1000.0, 0.0]).logcumsumexp(0)
    tensor([-1000.,     0.])
    """
    (d,) = normalize_dims(dim, input.ndim)
    x = input
    if not x._type.is_floating:
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for "
                                  f"'{_TORCH_DTYPE_NAMES.get(x._type.dtype, x._type.dtype)}'")
    if x.ndim == 0:
        return x * 1
    n, head = x.shape[d], (slice(None),) * d
    y, s = x, 1
    while s < n:
        pad = bind("full_like", y[head + (slice(0, s),)], value=-np.inf)
        y = bind("logaddexp", y, bind("concat", pad, y[head + (slice(0, n - s),)], dim=d))
        s *= 2
    return y if y is not x else x * 1


export(logcumsumexp, "logcumsumexp", tensor="logcumsumexp", gg="logcumsumexp")


# -- moments and nan-ignoring reductions --------------------------------------------------------------------
def _moment_mean(name: str, x, dim, unbiased, keepdim, correction, root: bool):
    """PyTorch's argument rules: ``(input, unbiased)`` (a bool second argument), ``(input, dim, unbiased,
    keepdim)`` or ``(input, dim, *, correction, keepdim)``, unbiased and correction not both; float tensors."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments - got both unbiased and correction, "
                        f"but expected one of:\n"
                        f" * (Tensor input, tuple of ints dim, bool unbiased = True, bool keepdim = False)\n"
                        f" * (Tensor input, tuple of ints dim = None, *, Number correction = None, "
                        f"bool keepdim = False)\n"
                        f" * (Tensor input, bool unbiased = True)\n")
    _floating_only(x, f"{name} only support floating point and complex dtypes")
    dims = torch_dims(dim, x.ndim)
    v = _var(x, dims, True if unbiased is None else unbiased, keepdim, correction)
    spread = _root_zero_grad_at_zero(v, 2) if root else v
    node = "StdMeanBackward0" if root else "VarMeanBackward0"  # (PyTorch's one node for both)
    return spread._shown_as(node), bind("mean", x, dim=dims, keepdim=bool(keepdim))._shown_as(node)


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` over ``dim``, a plain tuple as PyTorch's (``correction`` default 1; ``std_mean(x, False)``
    is ``unbiased=False``).

    >>> import graphgrad as gg
    >>> gg.std_mean(gg.tensor([1.0, 2.0, 3.0, 4.0]), False)
    (tensor(1.1180), tensor(2.5000))
    """
    return _moment_mean("std_mean", input, dim, unbiased, keepdim, correction, True)


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` over ``dim``, a plain tuple as PyTorch's (``correction`` default 1).

    >>> import graphgrad as gg
    >>> gg.var_mean(gg.tensor([[1.0, 2.0], [3.0, 5.0]]), 1, correction=0)
    (tensor([0.2500, 1.0000]), tensor([1.5000, 4.0000]))
    """
    return _moment_mean("var_mean", input, dim, unbiased, keepdim, correction, False)


export(std_mean, "std_mean", gg="std_mean")
export(var_mean, "var_mean", gg="var_mean")


def nansum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """The sum over ``dim`` of the elements that are not nan (nan counts as 0)."""
    x = _with_dtype(input, dtype)
    if x._type.is_floating:
        x = bind("where", x != x, 0, x)
    return bind("sum", x, dim=torch_dims(dim, x.ndim), keepdim=bool(keepdim))


_TORCH_DTYPE_NAMES = {"int64": "Long", "bool": "Bool", "int32": "Int", "uint8": "Byte", "float32": "Float",
                      "float64": "Double"}


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """The mean over ``dim`` of the elements that are not nan (nan where all are)."""
    x = _with_dtype(input, dtype)
    if not x._type.is_floating:
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{_TORCH_DTYPE_NAMES.get(x._type.dtype, x._type.dtype)}")
    keep = ~(x != x)
    dims = torch_dims(dim, x.ndim)
    total = bind("sum", bind("where", keep, x, 0), dim=dims, keepdim=bool(keepdim))
    return total / bind("sum", keep, dim=dims, keepdim=bool(keepdim))._cast(x._type.dtype)


export(nansum, "nansum", tensor="nansum", gg="nansum")
export(nanmean, "nanmean", tensor="nanmean", gg="nanmean")


def aminmax(input, *, dim=None, keepdim: bool = False):
    """``return_types.aminmax(min, max)`` over ``dim`` (all elements without it); ties share the gradient, as
    ``amin``/``amax``."""
    if dim is None:
        if keepdim:
            return return_types.aminmax(input.amin(dim=tuple(range(input.ndim)), keepdim=True),
                                        input.amax(dim=tuple(range(input.ndim)), keepdim=True))
        return return_types.aminmax(input.amin(), input.amax())
    (d,) = normalize_dims(dim, input.ndim)
    return return_types.aminmax(input.amin(d, keepdim), input.amax(d, keepdim))


export(aminmax, "aminmax", tensor="aminmax", gg="aminmax")


def count_nonzero(input, dim=None):
    """The number of non-zero elements over ``dim`` (an int or a tuple; all without it), int64."""
    return bind("sum", input != 0, dim=reduction_dims(dim, input.ndim), keepdim=False)


export(count_nonzero, "count_nonzero", tensor="count_nonzero", gg="count_nonzero")


# -- histc: counts in equal bins (the bins are static; their range may come from the data) ------------------------
def histc(input, bins: int = 100, min=0, max=0):  # noqa: A002
    """Counts of the elements in ``bins`` equal bins over ``[min, max]`` (the data's range where ``min == max``,
    widened by 1 on each side if still empty), in ``input``'s dtype; elements outside are not counted, ``max``
    itself falls in the last bin. PyTorch's bin formula, in ``input``'s dtype:
    ``trunc((x - min) * bins / (max - min))``.

    >>> import graphgrad as gg
    >>> gg.histc(gg.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3)
    tensor([0., 2., 1., 0.])
    """
    if not input._type.is_floating:
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for "
                           f"'{_TORCH_DTYPE_NAMES.get(input._type.dtype, input._type.dtype)}'")
    if bins <= 0:
        raise RuntimeError("torch.histc: bins must be > 0, but got " + str(bins) + " for dimension 0")
    x = input.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.shape[0]:  # the data's range, whose values a compiled function reads at every call
        lo, hi = x.amin(), x.amax()
        same = lo == hi
        lo, hi = bind("where", same, lo - 1, lo), bind("where", same, hi + 1, hi)
    else:
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        if not np.isfinite([lo, hi]).all():
            raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
        if lo > hi:
            raise RuntimeError("torch.histc: max must be larger than min")
        dtype = np.dtype(input._type.dtype)
        lo, hi = dtype.type(lo), dtype.type(hi)  # the bin edges are in input's dtype
    inside = (x >= lo) & (x <= hi)
    position = (bind("where", inside, x, lo) - lo) * bins / (hi - lo)
    index = bind("where", position >= bins, bins - 1, position.trunc()._cast("int64"))  # max: the last bin
    zeros = constant_like(x, np.zeros(bins, dtype=np.dtype(input._type.dtype)))
    return bind("scatter_add", zeros, index, inside._cast(input._type.dtype), dim=0)


export(histc, "histc", tensor="histc", gg="histc")


# -- PyTorch's cov, corrcoef and trapezoid: composites of sums, products and slices ---------------------------
from .define import warn_user  # noqa: E402
from .elementwise import where  # noqa: E402


def _eager(t) -> bool:
    """Whether ``t`` has values now (an eager tensor): the checks PyTorch makes on values run only then (a traced
    value has none to check)."""
    return isinstance(t, TensorBase) and t._level == 0


_DOF_WARNING = ("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                "observations.")


def _cov_weights(kind: str, w, observations: int, integral: bool):
    if w.ndim > 1:
        raise RuntimeError(f"cov(): expected {kind} to have one or fewer dimensions but got {kind} with {w.ndim} "
                           f"dimensions")
    if integral and w._type.dtype != "int64":
        raise RuntimeError(f"cov(): expected {kind} to have integral dtype but got {kind} with "
                           f"{SCALAR_NAMES[w._type.dtype]} dtype")
    if not integral and not w._type.is_floating:
        raise RuntimeError(f"cov(): expected {kind} to have floating point dtype but got {kind} with "
                           f"{SCALAR_NAMES[w._type.dtype]} dtype")
    if w._type.size != observations:
        raise RuntimeError(f"cov(): expected {kind} to have the same numel as there are observations in the input "
                           f"but got {w._type.size} != {observations}")
    if observations and _eager(w) and bool(w.amin() < 0):
        raise RuntimeError(f"cov(): {kind} cannot be negative")
    return w.reshape(-1)


def cov(input: TensorBase, *, correction: int = 1, fweights=None, aweights=None) -> TensorBase:
    """The covariance matrix of the variables in ``input``'s rows (observations in its columns; a vector is one
    variable), PyTorch's (and NumPy's ``cov``): ``correction`` is subtracted from the number of observations
    (1: Bessel's), ``fweights`` are integer frequencies and ``aweights`` floating importance weights of the
    observations. A 0-d result for one variable.

    >>> import graphgrad as gg
    >>> gg.cov(gg.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    if input._type.dtype == "bool":
        raise RuntimeError("cov(): bool dtype is not supported for input")
    if isinstance(correction, (bool, float)) or not isinstance(correction, (int, np.integer)):
        raise TypeError(f"cov(): argument 'correction' must be int, not {type(correction).__name__}")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = _cov_weights("fweights", fweights, n, integral=True)
    if aweights is not None:
        aweights = _cov_weights("aweights", aweights, n, integral=False)
        w = aweights if w is None else w * aweights
    w_sum = n if w is None else w.sum()
    if w is not None and _eager(w_sum) and not bool(w_sum != 0):
        raise RuntimeError("cov(): weights sum to zero, can't be normalized")
    avg = (x if w is None else x * w).sum(1) / w_sum
    if w is not None and correction != 0 and aweights is not None:
        norm = w_sum - correction * (w * aweights).sum() / w_sum
    else:
        norm = w_sum - correction
    if not isinstance(norm, TensorBase):
        if norm <= 0:
            warn_user(_DOF_WARNING)
            norm = 0
    else:
        if _eager(norm) and bool(norm <= 0):
            warn_user(_DOF_WARNING)
        norm = where(norm <= 0, 0, norm)  # PyTorch zeroes it: the result is then inf or nan, as it divides by 0
    centred = x - avg.unsqueeze(1)
    return ((centred @ (centred if w is None else centred * w).t()) / norm).squeeze()


def corrcoef(input: TensorBase) -> TensorBase:
    """Pearson's correlation coefficients of the variables in ``input``'s rows: ``cov`` divided by the products of
    the standard deviations, clipped to ``[-1, 1]`` (PyTorch's and NumPy's ``corrcoef``).

    >>> import graphgrad as gg
    >>> gg.corrcoef(gg.tensor([[0.0, 1.0, 2.0], [4.0, 2.0, 0.0]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input.ndim > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    c = cov(input)
    if c.ndim == 0:  # one variable: its variance over itself (nan for a constant one, as PyTorch)
        return c / c
    std = c.diagonal().sqrt()
    return (c / std.unsqueeze(1) / std.unsqueeze(0)).clamp(-1, 1)


export(cov, "cov", tensor="cov", gg="cov")
export(corrcoef, "corrcoef", tensor="corrcoef", gg="corrcoef")


def _sample_points(op: str, y: TensorBase, x, dx, d: int) -> tuple:
    """``(x, dx)`` of ``trapezoid``/``cumulative_trapezoid`` (``op``), checked with PyTorch's errors: ``x`` shaped to
    broadcast against ``y`` along ``d``, or None and ``dx`` a number."""
    if x is None:
        if isinstance(dx, TensorBase):
            dx = dx.item()
        if isinstance(dx, bool) or isinstance(dx, complex):
            raise RuntimeError(f"{op}: Currently, we only support dx as a real number.")
        if y._type.dtype == "bool":
            raise RuntimeError(f"{op}: received a bool input for `y`, but bool is not supported")
        return None, dx
    if y._type.dtype == "bool" or x._type.dtype == "bool":
        raise RuntimeError(f"{op}: received a bool input for `x` or `y`, but bool is not supported")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{op}: There must be one `x` value for each sample point")
        x = x.reshape(tuple(y.shape[d] if i == d else 1 for i in range(y.ndim)))
    elif x.ndim < y.ndim:
        x = x.reshape((1,) * (y.ndim - x.ndim) + tuple(x.shape))
    return x, dx


def trapezoid(y: TensorBase, x=None, *, dx=None, dim: int = -1) -> TensorBase:
    """The trapezoidal rule's integral of ``y`` along ``dim``: with sample points ``x`` (a tensor: 1-D along
    ``dim``, or broadcasting with ``y``) or evenly spaced ``dx`` apart (default 1). PyTorch's ``trapezoid`` (and
    ``trapz``); no samples give 0.

    >>> import graphgrad as gg
    >>> gg.trapezoid(gg.tensor([1.0, 2.0, 4.0]))
    tensor(4.5000)
    >>> gg.trapezoid(gg.tensor([1.0, 2.0, 4.0]), gg.tensor([0.0, 1.0, 3.0]))
    tensor(7.5000)
    """
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: give x or dx, not both")
    if y.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    (d,) = normalize_dims(dim, y.ndim)
    if y.shape[d] == 0:  # PyTorch's (and NumPy's) zeros, of y's dtype
        return bind("full_like", y.sum(d), value=0)._cast(y._type.dtype)
    x, dx = _sample_points("trapezoid", y, x, dx, d)
    if x is None:  # PyTorch's form for even spacing: dx * (sum - (first + last) / 2)
        return (y.sum(d) - (y.select(d, 0) + y.select(d, -1)) * 0.5) * (1 if dx is None else dx)
    n = x.shape[d]
    spacing = x.narrow(d, 1, n - 1) - x.narrow(d, 0, n - 1) if n else x
    return ((y.narrow(d, 0, y.shape[d] - 1) + y.narrow(d, 1, y.shape[d] - 1)) * spacing).sum(d) / 2.0


export(trapezoid, "trapezoid", gg=("trapezoid", "trapz"))


def cumulative_trapezoid(y: TensorBase, x=None, *, dx=None, dim: int = -1) -> TensorBase:
    """The running trapezoidal-rule integral of ``y`` along ``dim`` (one element fewer than ``y`` there), with sample
    points ``x`` or evenly spaced ``dx`` apart (default 1), as ``trapezoid``: PyTorch's ``cumulative_trapezoid``.

    >>> import graphgrad as gg
    >>> gg.cumulative_trapezoid(gg.tensor([1.0, 2.0, 4.0, 7.0]))
    tensor([ 1.5000,  4.5000, 10.0000])
    """
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments: give x or dx, not both")
    if y.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    (d,) = normalize_dims(dim, y.ndim)
    n = y.shape[d]
    x, dx = _sample_points("cumulative_trapezoid", y, x, dx, d)
    if n == 0:  # (no intervals: y's empty shape, in a floating dtype)
        return y * 1.0
    pairs = y.narrow(d, 0, n - 1) + y.narrow(d, 1, n - 1)
    if x is None:  # PyTorch's order of operations, for its rounding
        return ((1 if dx is None else dx) / 2.0 * pairs).cumsum(d)
    m = x.shape[d]
    return ((x.narrow(d, 1, m - 1) - x.narrow(d, 0, m - 1)) * pairs).cumsum(d) / 2.0


def sum_to_size(self: TensorBase, *size, **kwargs) -> TensorBase:
    """``self`` summed to ``size`` (given as ints, or one sequence), which must broadcast to ``self``'s shape:
    PyTorch's ``Tensor.sum_to_size``, the adjoint of ``expand``.

    >>> import graphgrad as gg
    >>> gg.ones(2, 3).sum_to_size(1, 3)
    tensor([[2., 2., 2.]])
    """
    if "size" in kwargs:
        size = (kwargs.pop("size"),)
    if kwargs or not size:
        raise TypeError('sum_to_size() missing 1 required positional arguments: "size"')
    size = tuple(int(n) for n in (size[0] if len(size) == 1 and not isinstance(size[0], int) else size))
    shape = tuple(self.shape)
    lead = len(shape) - len(size)
    if lead < 0 or builtins.any(s != n and s != 1 for s, n in zip(size, shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}.")
    return self.sum_to(size)


export(cumulative_trapezoid, "cumulative_trapezoid", gg="cumulative_trapezoid")
export(sum_to_size, "sum_to_size", tensor="sum_to_size")
