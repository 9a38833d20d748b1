"""Every op of the registry over a grid of shapes and axes drawn by hypothesis (issue 8 section 4).

``GRID`` maps an op (its name in ``graphgrad ops``; ``op:variant`` for more entries of one op) to a builder that
draws a case: a function of tensors, its float64 inputs inside the op's domain, and NumPy's own computation of
the same thing where NumPy has the function. Each case is checked (``check``):

- forward: eager and compiled (``gg.compile``) agree to 1e-12, and where NumPy has the function the NumPy face
  *on graphgrad tensors* equals NumPy on plain ndarrays to 1e-12, with the same shape and dtype;
- the entry exercises its op: a primitive must appear in the traced program or in its adjoint (whose own
  gradient the second-order checks test);
- gradients against float64 finite differences, first and second order, eagerly (``gradcheck``,
  ``gradgradcheck``) and compiled (``.backward()`` through ``gg.compile``; ``gg.grad``; ``gg.grad`` of a
  function of ``gg.grad``), compiled and eager agreeing.

``test_every_registry_op_has_a_grid_entry`` fails when an op has no entry: a new op must be added here. Ops
whose outputs are integers or booleans have no gradient and get a forward check only (``FORWARD_ONLY``).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.numpy as gnp
from graphgrad.ir.graph import Graph
from graphgrad.ir.public import NAMES
from graphgrad.ir.registry import OPS
from graphgrad.ir.api import bind
from graphgrad.ops.indexing import check_range
from graphgrad.ops.nn import softmax_cross_entropy
from graphgrad.tracer.tracer import TracerError
from graphgrad.utils.gradcheck import gradcheck

from _gg_hypothesis import prop_settings
from _references import embedding_bag_reference
from _gradcheck import ANY, AWAY, FRAC, GT1, NONZERO, POS, SMALL, UNIT, compiled_first_order, \
    compiled_second_order, eager_first_order, eager_second_order, sample, tensors


@dataclass
class Case:
    fn: Callable                      # on graphgrad tensors, eager and traced
    arrays: list                      # its float64 inputs
    numpy: Callable | None = None     # NumPy's own computation of fn, on ndarrays (None: NumPy has no such function)
    second_order: bool = True         # False: the first derivative is constant in the inputs
    numpy_dtype: bool = False         # the NumPy face: the result's dtype is NumPy's too


def face(op, *arrays, **kw) -> Case:
    """``op(m, *xs)``, written once against a module ``m``: graphgrad.numpy on tensors, numpy on ndarrays."""
    return Case(lambda *t: op(gnp, *t), list(arrays), lambda *a: op(np, *a), numpy_dtype=True, **kw)


#: op name (``op:variant``) -> (builder(draw, rng) -> Case, number of examples)
GRID: dict[str, tuple[Callable, int]] = {}
#: ops with integer or boolean outputs: no gradient, a forward check only
FORWARD_ONLY: dict[str, tuple[Callable, int]] = {}
#: eager-only ops (the result's shape depends on the values): eager values against NumPy, and a compiled function
#: refusing them with an error that names the op
EAGER_ONLY: dict[str, tuple[Callable, int]] = {}


def entry(name: str, examples: int = 3, table: dict = GRID):
    def register(build):
        assert name not in table, name
        table[name] = (build, examples)
        return build
    return register


# -- drawing shapes, axes and values ---------------------------------------------------------------------
def shape(draw, lo: int = 0, hi: int = 3, size: int = 3) -> tuple:
    return tuple(draw(st.lists(st.integers(1, size), min_size=lo, max_size=hi)))


def axis(draw, ndim: int, none: bool = True):
    """An axis of an ``ndim``-d array, negative ones included; None (all axes) if allowed or ``ndim`` is 0."""
    if not ndim:
        return None
    choices = st.integers(-ndim, ndim - 1)
    return draw(st.one_of(st.none(), choices) if none else choices)


def broadcast_partner(draw, shp: tuple) -> tuple:
    """A shape that broadcasts against ``shp``: a suffix of it, some sizes set to 1, maybe with a leading 1."""
    k = draw(st.integers(0, len(shp)))
    suffix = tuple(1 if draw(st.booleans()) else n for n in shp[len(shp) - k:])
    return ((1,) if k == len(shp) and draw(st.booleans()) else ()) + suffix


def pair(draw) -> tuple:
    a = shape(draw)
    b = broadcast_partner(draw, a)
    return (a, b) if draw(st.booleans()) else (b, a)


def well_conditioned(rng, batch: tuple, n: int, sign: float = 1.0) -> np.ndarray:
    """Matrices near ``sign * 2 I``: far from singular."""
    return sign * 2.0 * np.eye(n) + 0.3 * rng.standard_normal(batch + (n, n))


def spread(rng, batch: tuple, m: int, n: int) -> np.ndarray:
    """Matrices whose singular values are well apart (about 1, 2.5, 4, ...)."""
    d = np.zeros((m, n))
    k = np.arange(min(m, n))
    d[k, k] = 1.0 + 1.5 * k
    return d + 0.1 * rng.standard_normal(batch + (m, n))


def int_index(rng, n: int, shp) -> np.ndarray:
    return rng.integers(0, n, shp)


# -- elementwise: unary ------------------------------------------------------------------------------------
UNARY = {  # op: (graphgrad.numpy / numpy name, domain)
    "exp": ("exp", ANY), "exp2": ("exp2", ANY), "expm1": ("expm1", ANY), "sin": ("sin", ANY),
    "cos": ("cos", ANY), "tan": ("tan", SMALL), "tanh": ("tanh", ANY), "sinh": ("sinh", ANY), "cosh": ("cosh", ANY),
    "log": ("log", POS), "log2": ("log2", POS), "log10": ("log10", POS), "log1p": ("log1p", POS),
    "sqrt": ("sqrt", POS), "cbrt": ("cbrt", NONZERO), "square": ("square", ANY), "reciprocal": ("reciprocal", NONZERO),
    "arcsin": ("arcsin", UNIT), "arccos": ("arccos", UNIT), "arctan": ("arctan", ANY), "arcsinh": ("arcsinh", ANY),
    "arccosh": ("arccosh", GT1), "arctanh": ("arctanh", UNIT), "abs": ("abs", NONZERO), "neg": ("negative", ANY),
    "sinc": ("sinc", NONZERO), "fabs": ("fabs", NONZERO), "deg2rad": ("deg2rad", ANY), "rad2deg": ("rad2deg", ANY),
    "nan_to_num": ("nan_to_num", ANY), "i0": ("i0", ANY),
}
# piecewise constant: zero gradient, so checked as ``op(x) * x`` away from the jumps
STEPS = {"floor": ("floor", FRAC), "ceil": ("ceil", FRAC), "trunc": ("trunc", FRAC), "round": ("round", FRAC),
         "sign": ("sign", NONZERO)}


def _unary(name, domain):
    return lambda draw, rng: face(lambda m, x: getattr(m, name)(x), sample(domain, shape(draw), rng))


def _step(name, domain):
    return lambda draw, rng: face(lambda m, x: getattr(m, name)(x) * x, sample(domain, shape(draw), rng))


for _op, (_name, _domain) in UNARY.items():
    entry(_op, 4)(_unary(_name, _domain))
for _op, (_name, _domain) in STEPS.items():
    entry(_op, 2)(_step(_name, _domain))

_erf = np.vectorize(math.erf)
_lgamma = np.vectorize(math.lgamma)  # (CPython's own: 1e-16 absolute near 1 and 2, the test's atol)


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


TORCH_UNARY = {  # op: (function of a tensor, NumPy closed form, domain)
    "erf": (lambda x: gg.erf(x), _erf, ANY),
    "erfc": (lambda x: gg.erfc(x), np.vectorize(math.erfc), ANY),
    "lgamma": (lambda x: gg.lgamma(x), _lgamma, POS),
    "mvlgamma": (lambda x: gg.mvlgamma(x + 2, 3),
                 lambda x: _lgamma(x + 2) + _lgamma(x + 1.5) + _lgamma(x + 1) + 1.5 * math.log(math.pi), POS),
    # (NumPy has none of these: values are checked in tests/ops/test_special_functions.py)
    "digamma": (lambda x: gg.digamma(x), None, POS),
    "polygamma": (lambda x: gg.polygamma(1, x), None, POS),
    "polygamma:3": (lambda x: x.polygamma(3), None, POS),
    "erfinv": (lambda x: gg.erfinv(x), None, UNIT),
    "i1": (lambda x: gg.special.i1(x), None, ANY),
    "rsqrt": (lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), POS),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), ANY),
    "relu": (lambda x: x.relu() * x, lambda x: np.maximum(x, 0) * x, AWAY),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2) * x, lambda x: np.where(x > 0, x, 0.2 * x) * x, AWAY),
    "elu": (lambda x: F.elu(x, alpha=1.5) * x, lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)) * x, AWAY),
    "gelu": (lambda x: F.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), ANY),
    "gelu:tanh": (lambda x: F.gelu(x, approximate="tanh"), _np_gelu_tanh, ANY),
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=1.0) * x,
                 lambda x: np.where(2 * x > 1.0, x, np.log1p(np.exp(2 * x)) / 2) * x, AWAY),
    "silu": (lambda x: F.silu(x), lambda x: x / (1 + np.exp(-x)), ANY),
    "clamp": (lambda x: x.clamp(-0.5, 0.3) * x, lambda x: np.clip(x, -0.5, 0.3) * x, AWAY),
    "clamp:numpy": (lambda x: gnp.clip(x, -0.5, 0.3) * x, lambda x: np.clip(x, -0.5, 0.3) * x, AWAY),
    "cast": (lambda x: (x > 0).double() * x + x.astype(gg.float64), lambda x: (x > 0) * x + x, AWAY),
    "hardtanh": (lambda x: F.hardtanh(x, -0.7, 0.4), lambda x: np.clip(x, -0.7, 0.4), ANY),
    "relu6": (lambda x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6), ANY),
    "hardsigmoid": (lambda x: F.hardsigmoid(x * 4), lambda x: np.clip(x * 4 + 3, 0, 6) / 6, ANY),
    "hardswish": (lambda x: F.hardswish(x * 4), lambda x: x * 4 * np.clip(x * 4 + 3, 0, 6) / 6, ANY),
    "selu": (lambda x: F.selu(x), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
             ANY),
    "celu": (lambda x: F.celu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)), ANY),
    "mish": (lambda x: F.mish(x), lambda x: x * np.tanh(np.logaddexp(0, x)), ANY),
    "softsign": (lambda x: F.softsign(x), lambda x: x / (1 + np.abs(x)), ANY),
    "tanhshrink": (lambda x: F.tanhshrink(x), lambda x: x - np.tanh(x), ANY),
    "logsigmoid": (lambda x: F.logsigmoid(x), lambda x: -np.logaddexp(0, -x), ANY),
    "hardshrink": (lambda x: F.hardshrink(x, 0.3), lambda x: np.where(np.abs(x) > 0.3, x, 0.0), ANY),
    "softshrink": (lambda x: F.softshrink(x, 0.3), lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.3, 0), ANY),
}


def _torch_unary(fn, ref, domain):
    return lambda draw, rng: Case(fn, [sample(domain, shape(draw), rng)], ref)


for _op, (_fn, _ref, _domain) in TORCH_UNARY.items():
    entry(_op, 3)(_torch_unary(_fn, _ref, _domain))

# -- elementwise: binary, over broadcast pairs ---------------------------------------------------------
BINARY = {  # op: (numpy name, domain of a, domain of b)
    "add": ("add", ANY, ANY), "sub": ("subtract", ANY, ANY), "mul": ("multiply", ANY, ANY),
    "div": ("divide", ANY, NONZERO), "pow": ("power", POS, ANY), "maximum": ("maximum", ANY, ANY),
    "minimum": ("minimum", ANY, ANY), "fmax": ("fmax", ANY, ANY), "fmin": ("fmin", ANY, ANY),
    "arctan2": ("arctan2", ANY, NONZERO), "hypot": ("hypot", NONZERO, NONZERO), "logaddexp": ("logaddexp", ANY, ANY),
    "logaddexp2": ("logaddexp2", ANY, ANY),
}


def _binary(name, da, db):
    def build(draw, rng):
        a, b = pair(draw)
        return face(lambda m, x, y: getattr(m, name)(x, y), sample(da, a, rng), sample(db, b, rng))
    return build


for _op, (_name, _da, _db) in BINARY.items():
    entry(_op, 4)(_binary(_name, _da, _db))


def _modulo(name):
    def build(draw, rng):  # a = b * (k + f), f away from 0 and 1: away from the jumps
        shp = shape(draw)
        b = sample(NONZERO, shp, rng)
        return face(lambda m, x, y: getattr(m, name)(x, y), b * sample(FRAC, shp, rng), b)
    return build


entry("remainder", 3)(_modulo("remainder"))
entry("fmod", 3)(_modulo("fmod"))


@entry("floor_divide", 3)
def _(draw, rng):  # piecewise constant: checked as floor_divide(a, b) * a, away from the jumps
    shp = shape(draw)
    b = sample(NONZERO, shp, rng)
    return face(lambda m, x, y: m.floor_divide(x, y) * x, b * sample(FRAC, shp, rng), b)


@entry("poisson", 3)
def _(draw, rng):  # piecewise constant in the rates (a fixed seed): checked as poisson(r) * r, gradient the samples
    seed = int(rng.integers(0, 2 ** 31))
    return Case(lambda r: bind("poisson", r, gg.tensor(seed)) * r, [3 * sample(POS, shape(draw), rng)],
                lambda a: np.random.default_rng(seed).poisson(a) * a)


@entry("trunc_divide", 3)
def _(draw, rng):  # div(rounding_mode="trunc"); NumPy's is trunc of the true quotient
    shp = shape(draw)
    b = sample(NONZERO, shp, rng)
    return Case(lambda x, y: gg.div(x, y, rounding_mode="trunc") * x, [b * sample(FRAC, shp, rng), b],
                lambda x, y: np.trunc(x / y) * x)


@entry("select", 4)
def _(draw, rng):  # the first condition that holds picks its choice; elsewhere the default
    a, b = pair(draw)
    choices = draw(st.sampled_from(["tensors", "numbers"]))

    def op(m, x, y):
        conds = [x < -0.5, y > 0.5, x > y]
        if choices == "numbers":
            return m.select(conds, [2.0, -1.0, 3.0], default=0.5) * x
        return m.select(conds, [x * y, m.sin(x), y ** 2], default=x)
    return face(op, sample(AWAY, a, rng), sample(AWAY, b, rng))


@entry("linspace", 4)
def _(draw, rng):  # differentiable in start and stop, which may be arrays (one sequence per element, along axis)
    a, b = pair(draw)
    a, b = a[:2], b[:2]
    num, endpoint = draw(st.integers(1, 5)), draw(st.booleans())
    nd = max(len(a), len(b)) + 1
    ax = draw(st.integers(-nd, nd - 1))
    return face(lambda m, x, y: m.linspace(x, y, num, endpoint=endpoint, axis=ax) ** 2, sample(ANY, a, rng),
                sample(ANY, b, rng))


# NumPy's complex functions on real arrays (graphgrad has no complex dtypes)
entry("real")(lambda draw, rng: face(lambda m, x: m.real(x) * x, sample(ANY, shape(draw), rng)))
entry("conj")(lambda draw, rng: face(lambda m, x: m.conj(x) * m.conjugate(x), sample(ANY, shape(draw), rng)))
entry("real_if_close")(lambda draw, rng: face(lambda m, x: m.real_if_close(x) ** 2, sample(ANY, shape(draw), rng)))
entry("imag")(lambda draw, rng: face(lambda m, x: m.imag(x) + x * x, sample(ANY, shape(draw), rng)))


@entry("angle")
def _(draw, rng):
    deg = draw(st.booleans())
    return face(lambda m, x: m.angle(x, deg=deg) * x, sample(AWAY, shape(draw), rng))


@entry("pow:scalar")
def _(draw, rng):
    k = draw(st.sampled_from([2, 3, -1, 0.5, 2.5]))
    return face(lambda m, x: x ** k + 2.0 ** x, sample(POS, shape(draw), rng))


@entry("where", 4)
def _(draw, rng):
    a, b = pair(draw)
    return face(lambda m, x, y: m.where(x > y, x * x, y * 3.0), sample(AWAY, a, rng), sample(AWAY, b, rng))


# -- reductions, over every axis (negative included) with and without keepdims -------------------------------
REDUCTIONS = {"sum": "sum", "mean": "mean", "amax": "max", "amin": "min", "prod": "prod", "var": "var", "std": "std",
              "amax:amax": "amax", "amin:amin": "amin"}


def _reduction(name):
    def build(draw, rng):
        shp = shape(draw)
        ax, keep = axis(draw, len(shp)), draw(st.booleans())
        x = rng.permutation(sample(POS, shp, rng).ravel() + np.arange(int(np.prod(shp)))).reshape(shp)
        return face(lambda m, t: getattr(m, name)(t, axis=ax, keepdims=keep), x)  # distinct, positive
    return build


for _op, _name in REDUCTIONS.items():
    entry(_op, 4)(_reduction(_name))


@entry("var:ddof")
def _(draw, rng):
    shp = shape(draw, 1)
    shp = shp[:-1] + (shp[-1] + 1,)
    ax = draw(st.integers(-1, -1) | st.none())
    return face(lambda m, t: m.var(t, axis=ax, ddof=1) + m.std(t, axis=ax, ddof=1), sample(ANY, shp, rng))


@entry("logsumexp", 4)
def _(draw, rng):
    shp = shape(draw)
    ax, keep = axis(draw, len(shp)), draw(st.booleans())
    return Case(lambda t: gnp.logsumexp(t, axis=ax, keepdims=keep), [sample(ANY, shp, rng)],
                lambda a: np.log(np.sum(np.exp(a), axis=ax, keepdims=keep)))


def _torch_extreme(name):
    def build(draw, rng):
        shp = shape(draw)
        dim, keep = axis(draw, len(shp)), draw(st.booleans())
        x = sample(AWAY, shp, rng)
        ref = getattr(np, name)
        if dim is None:
            return Case(lambda t: getattr(t, name)() ** 2, [x], lambda a: ref(a) ** 2)
        return Case(lambda t: getattr(t, name)(dim, keep).values ** 2, [x],
                    lambda a: ref(a, axis=dim, keepdims=keep) ** 2)
    return build


entry("max")(_torch_extreme("max"))
entry("min")(_torch_extreme("min"))


@entry("norm", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim, keep, p = axis(draw, len(shp)), draw(st.booleans()), draw(st.sampled_from([1, 2, 3]))
    ref = (lambda a: np.sum(np.abs(a) ** p, axis=dim, keepdims=keep) ** (1 / p))
    return Case(lambda t: t.norm(p=p, dim=dim, keepdim=keep), [sample(AWAY, shp, rng)], ref)


def _along(name, domain=ANY, distinct=False):
    def build(draw, rng):
        shp = shape(draw, 1)
        ax = axis(draw, len(shp), none=False)
        x = sample(domain, shp, rng)
        if distinct:
            x = rng.permutation(x.ravel() + np.arange(x.size)).reshape(shp)
        return face(lambda m, t: getattr(m, name)(t, axis=ax), x)
    return build


entry("cumsum", 4)(_along("cumsum"))


@entry("partition", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    ax = axis(draw, len(shp))
    kth = draw(st.integers(0, (int(np.prod(shp)) if ax is None else shp[ax]) - 1))
    x = rng.permutation(sample(AWAY, shp, rng).ravel() + np.arange(int(np.prod(shp)))).reshape(shp)  # distinct
    return face(lambda m, t: m.partition(t, kth, axis=ax) ** 2, x)


@entry("argpartition", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw, 1)
    ax = axis(draw, len(shp), none=False)
    kth = draw(st.integers(-shp[ax], shp[ax] - 1))
    return face(lambda m, t: m.argpartition(t, kth, axis=ax), sample(ANY, shp, rng))
entry("cumprod", 4)(_along("cumprod", POS))
entry("sort", 4)(_along("sort", AWAY, distinct=True))


@entry("sort:flat")
def _(draw, rng):
    shp = shape(draw)
    return face(lambda m, t: m.sort(t, axis=None), rng.permutation(np.arange(float(np.prod(shp)))).reshape(shp)
                + sample(UNIT, shp, rng) * 0.1)


@entry("diff", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    ax = axis(draw, len(shp), none=False)
    shp = shp[:ax] + (shp[ax] + 2,) + (shp[ax + 1:] if ax != -1 else ())
    n = draw(st.integers(1, 2))
    return face(lambda m, t: m.diff(t, n, axis=ax), sample(ANY, shp, rng))


@entry("gradient", 6)
def _(draw, rng):  # numpy.gradient along one axis: unit, scalar or coordinate spacing (coordinates traced too)
    shp = shape(draw, 1)
    ax = axis(draw, len(shp), none=False)
    edge = draw(st.integers(1, 2))
    shp = shp[:ax] + (shp[ax] + edge,) + (shp[ax + 1:] if ax != -1 else ())
    f = sample(ANY, shp, rng)
    spacing = draw(st.sampled_from(["unit", "scalar", "coordinates", "traced coordinates"]))
    coords = np.cumsum(rng.uniform(0.5, 1.5, shp[ax]))  # increasing, unevenly spaced
    if spacing == "traced coordinates":
        return face(lambda m, t, c: m.gradient(t, c, axis=ax, edge_order=edge) ** 2, f, coords)
    step = () if spacing == "unit" else (0.7,) if spacing == "scalar" else (coords,)
    return face(lambda m, t: m.gradient(t, *step, axis=ax, edge_order=edge) ** 2, f)


@entry("gradient:axes", 3)
def _(draw, rng):  # every axis: a tuple, one spacing for all or one per axis
    shp = tuple(n + 2 for n in shape(draw, 1, 2))
    per_axis = draw(st.booleans())
    step = tuple(np.cumsum(rng.uniform(0.5, 1.5, n)) if k % 2 else 0.5 for k, n in enumerate(shp)) if per_axis \
        else (1.5,)
    return face(lambda m, t: m.stack(m.gradient(t, *step, edge_order=2) if len(shp) > 1 else
                                     (m.gradient(t, *step, edge_order=2),)) ** 2, sample(ANY, shp, rng))


# -- shape ops --------------------------------------------------------------------------------------------
@entry("reshape", 4)
def _(draw, rng):
    shp = shape(draw)
    new = draw(st.sampled_from([(-1,), (-1, 1), (1, -1, 1), ()])) if int(np.prod(shp)) == 1 else \
        draw(st.sampled_from([(-1,), (-1, 1), (1, -1)]))
    return face(lambda m, t: m.reshape(t, new), sample(ANY, shp, rng))


@entry("reshape:view")
def _(draw, rng):
    shp = shape(draw, 1)
    return Case(lambda t: t.view(-1) * t.reshape(-1).flip(0), [sample(ANY, shp, rng)],
                lambda a: a.reshape(-1) * a.reshape(-1)[::-1])


@entry("copy")
def _(draw, rng):
    return Case(lambda t: t.copy() * t, [sample(ANY, shape(draw), rng)], lambda a: a.copy() * a)


@entry("ravel")
def _(draw, rng):
    return face(lambda m, t: m.ravel(t) ** 2, sample(ANY, shape(draw), rng))


@entry("transpose", 4)
def _(draw, rng):
    shp = shape(draw)
    perm = tuple(draw(st.permutations(range(len(shp))))) if draw(st.booleans()) else None
    return face(lambda m, t: m.transpose(t, perm), sample(ANY, shp, rng))


@entry("permute")
def _(draw, rng):
    shp = shape(draw)
    perm = tuple(draw(st.permutations(range(len(shp)))))
    return Case(lambda t: t.permute(*perm) ** 2, [sample(ANY, shp, rng)], lambda a: np.transpose(a, perm) ** 2)


def _two_axes(name):
    def build(draw, rng):
        shp = shape(draw, 1)
        i, j = axis(draw, len(shp), none=False), axis(draw, len(shp), none=False)
        return face(lambda m, t: getattr(m, name)(t, i, j), sample(ANY, shp, rng))
    return build


entry("swapaxes", 4)(_two_axes("swapaxes"))
entry("moveaxis", 4)(_two_axes("moveaxis"))


@entry("rollaxis")
def _(draw, rng):
    shp = shape(draw, 1)
    i, start = axis(draw, len(shp), none=False), draw(st.integers(0, len(shp)))
    return face(lambda m, t: m.rollaxis(t, i, start), sample(ANY, shp, rng))


@entry("unsqueeze", 4)
def _(draw, rng):
    shp = shape(draw)
    ax = draw(st.integers(-len(shp) - 1, len(shp)))
    return face(lambda m, t: m.expand_dims(t, ax), sample(ANY, shp, rng))


@entry("squeeze", 4)
def _(draw, rng):
    shp = tuple(draw(st.sampled_from([1, n])) for n in shape(draw))
    ones = [k for k, n in enumerate(shp) if n == 1]
    ax = (draw(st.sampled_from(ones)) - (len(shp) if draw(st.booleans()) else 0)) if ones else None
    return face(lambda m, t: m.squeeze(t, axis=ax), sample(ANY, shp, rng))


@entry("roll", 4)
def _(draw, rng):
    shp = shape(draw)
    shift, ax = draw(st.integers(-3, 3)), axis(draw, len(shp))
    return face(lambda m, t: m.roll(t, shift, axis=ax) * np.arange(float(np.prod(shp))).reshape(shp),
                sample(ANY, shp, rng))


@entry("broadcast_to", 4)
def _(draw, rng):
    shp = broadcast_partner(draw, shape(draw))
    target = (draw(st.integers(1, 3)),) + tuple(draw(st.sampled_from([1, 2])) if n == 1 else n for n in shp)
    return face(lambda m, t: m.broadcast_to(t, target) * np.arange(float(np.prod(target))).reshape(target),
                sample(ANY, shp, rng))


@entry("expand")
def _(draw, rng):
    shp = broadcast_partner(draw, shape(draw))
    target = (draw(st.integers(1, 3)),) + tuple(draw(st.sampled_from([1, 2])) if n == 1 else n for n in shp)
    weights = np.arange(float(np.prod(target))).reshape(target)
    return Case(lambda t: t.expand(*target) * weights, [sample(ANY, shp, rng)],
                lambda a: np.broadcast_to(a, target) * weights)


@entry("expand_as")
def _(draw, rng):
    return Case(lambda t, u: t.expand_as(u) * u, [sample(ANY, (3, 1), rng), sample(ANY, (2, 3, 2), rng)],
                lambda a, b: np.broadcast_to(a, b.shape) * b)


@entry("view_as")
def _(draw, rng):
    return Case(lambda t, u: t.view_as(u) * u, [sample(ANY, (6,), rng), sample(ANY, (2, 3), rng)],
                lambda a, b: a.reshape(b.shape) * b)


@entry("tile", 4)
def _(draw, rng):
    shp = shape(draw)
    reps = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 3))))
    return face(lambda m, t: m.tile(t, reps) ** 2, sample(ANY, shp, rng))


@entry("repeat", 4)
def _(draw, rng):
    shp = shape(draw)
    reps, ax = draw(st.integers(1, 3)), axis(draw, len(shp))
    return face(lambda m, t: m.repeat(t, reps, axis=ax) ** 2, sample(ANY, shp, rng))


@entry("repeat:tensor")
def _(draw, rng):
    shp = shape(draw, 1, 2)
    reps = tuple(draw(st.integers(1, 2)) for _ in range(len(shp) + draw(st.integers(0, 1))))
    return Case(lambda t: t.repeat(*reps) ** 2, [sample(ANY, shp, rng)], lambda a: np.tile(a, reps) ** 2)


@entry("concat", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    ax = axis(draw, len(shp), none=False)
    other = list(shp)
    other[ax] = draw(st.integers(1, 2))
    return face(lambda m, t, u: m.concatenate([t, u * u], axis=ax), sample(ANY, shp, rng),
                sample(ANY, tuple(other), rng))


@entry("concat:c_", 4)
def _(draw, rng):  # numpy.c_: items at least 2-D, a vector (or a slice's range) a column, joined along the last axis
    n = draw(st.integers(1, 3))
    first = (n,) if draw(st.booleans()) else (n, draw(st.integers(1, 2)))
    return face(lambda m, t, u: m.c_[t, u * u, 0:n, np.ones(n)] ** 2, sample(ANY, first, rng), sample(ANY, (n,), rng))


@entry("stack", 4)
def _(draw, rng):
    shp = shape(draw)
    ax = draw(st.integers(-len(shp) - 1, len(shp)))
    return face(lambda m, t, u: m.stack([t, u * u], axis=ax), sample(ANY, shp, rng), sample(ANY, shp, rng))


for _name in ("vstack", "hstack", "dstack", "column_stack"):
    def _stacked(draw, rng, _name=_name):
        shp = shape(draw, 0 if _name != "column_stack" else 1, 2 if _name == "column_stack" else 3)
        return face(lambda m, t, u: getattr(m, _name)([t, u * u]), sample(ANY, shp, rng), sample(ANY, shp, rng))
    entry(_name)(_stacked)


@entry("array")
def _(draw, rng):
    shp = shape(draw)
    return face(lambda m, t: m.array([t, t * 2.0, m.sin(t)]), sample(ANY, shp, rng))


def _atleast(name):
    return lambda draw, rng: face(lambda m, t: getattr(m, name)(t) * 2.0, sample(ANY, shape(draw), rng))


for _name in ("atleast_1d", "atleast_2d", "atleast_3d"):
    entry(_name, 2)(_atleast(_name))


@entry("flip", 4)
def _(draw, rng):
    shp = shape(draw)
    ax = axis(draw, len(shp))
    return face(lambda m, t: m.flip(t, axis=ax) * np.arange(float(np.prod(shp))).reshape(shp), sample(ANY, shp, rng))


@entry("fliplr")
def _(draw, rng):
    shp = shape(draw, 2)
    return face(lambda m, t: m.fliplr(t) * np.arange(float(np.prod(shp))).reshape(shp), sample(ANY, shp, rng))


@entry("flipud")
def _(draw, rng):
    shp = shape(draw, 1)
    return face(lambda m, t: m.flipud(t) * np.arange(float(np.prod(shp))).reshape(shp), sample(ANY, shp, rng))


@entry("rot90", 4)
def _(draw, rng):
    shp = shape(draw, 2)
    k = draw(st.integers(-2, 3))
    i = axis(draw, len(shp), none=False)
    j = draw(st.sampled_from([a for a in range(-len(shp), len(shp)) if a % len(shp) != i % len(shp)]))
    return face(lambda m, t: m.rot90(t, k, axes=(i, j)) ** 2, sample(ANY, shp, rng))


# the axis each splits along: its own for split and array_split; hsplit's is 1 (0 for a vector)
_SPLIT_AXIS = {"hsplit": lambda ndim: 1 if ndim > 1 else 0, "vsplit": lambda ndim: 0, "dsplit": lambda ndim: 2}


def _splitter(name, min_dims):
    def build(draw, rng):
        shp = shape(draw, min_dims)
        ax = _SPLIT_AXIS[name](len(shp)) if name in _SPLIT_AXIS else axis(draw, len(shp), none=False)
        n = shp[ax]
        if name == "array_split":  # any number of sections
            how = draw(st.integers(1, 3))
        else:  # sections that divide the axis, or split points
            how = draw(st.sampled_from([1, n]) | st.lists(st.integers(0, n), max_size=2).map(sorted))
        keyword = {"axis": ax} if name in ("split", "array_split") else {}

        def op(m, t):  # the pieces weighted apart, joined again
            return m.concatenate([p * (k + 1) for k, p in enumerate(getattr(m, name)(t, how, **keyword))], axis=ax)
        return face(op, sample(ANY, shp, rng))
    return build


entry("split", 4)(_splitter("split", 1))
entry("array_split", 4)(_splitter("array_split", 1))
entry("hsplit")(_splitter("hsplit", 1))
entry("vsplit")(_splitter("vsplit", 2))
entry("dsplit")(_splitter("dsplit", 3))


@entry("split:tensor")
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    size = draw(st.integers(1, 3))
    return Case(lambda t: gg.cat([p * (k + 1) for k, p in enumerate(t.split(size, dim))], dim), [sample(ANY, shp, rng)],
                lambda a: np.concatenate([p * (k + 1) for k, p in enumerate(
                    np.split(a, range(size, a.shape[dim], size), axis=dim))], axis=dim))


def _torch_splitter(name, min_dims):
    """PyTorch's torch.hsplit/vsplit/dsplit (a tuple; sections that divide the axis, or split points)."""
    def build(draw, rng):
        shp = shape(draw, min_dims)
        ax = _SPLIT_AXIS[name](len(shp))
        n = shp[ax]
        how = draw(st.sampled_from([1, n]) | st.lists(st.integers(0, n), max_size=2).map(sorted))
        return Case(lambda t: gg.cat([p * (k + 1) for k, p in enumerate(getattr(gg, name)(t, how))], ax),
                    [sample(ANY, shp, rng)],
                    lambda a: np.concatenate([p * (k + 1) for k, p in enumerate(getattr(np, name)(a, how))], axis=ax))
    return build


entry("hsplit:torch")(_torch_splitter("hsplit", 1))
entry("vsplit:torch")(_torch_splitter("vsplit", 2))
entry("dsplit:torch")(_torch_splitter("dsplit", 3))


@entry("split_with_sizes")
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    n = shp[dim]
    cut = draw(st.integers(0, n))
    return Case(lambda t: gg.cat([p * (k + 1) for k, p in enumerate(gg.split_with_sizes(t, [cut, n - cut], dim))],
                                 dim),
                [sample(ANY, shp, rng)],
                lambda a: np.concatenate([p * (k + 1) for k, p in enumerate(np.split(a, [cut], axis=dim))], axis=dim))


@entry("chunk")
def _(draw, rng):
    shp = shape(draw, 1)
    dim, chunks = axis(draw, len(shp), none=False), draw(st.integers(1, 3))
    return Case(lambda t: gg.cat([p * (k + 1) for k, p in enumerate(t.chunk(chunks, dim))], dim),
                [sample(ANY, shp, rng)], None)


@entry("append")
def _(draw, rng):
    shp = shape(draw, 1)
    ax = axis(draw, len(shp))
    return face(lambda m, t, u: m.append(t, u * 2.0, axis=ax), sample(ANY, shp, rng), sample(ANY, shp, rng))


@entry("pad", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    widths = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shp]
    widths[0] = (widths[0][0], widths[0][1] + 1)  # not all zero: that is no pad
    value = draw(st.sampled_from([0.0, 1.5]))
    return face(lambda m, t: m.pad(t, widths, constant_values=value) ** 2, sample(ANY, shp, rng))


@entry("pad:torch")
def _(draw, rng):
    shp = shape(draw, 1)
    widths = (draw(st.integers(-1 if shp[-1] > 1 else 0, 2)), draw(st.integers(1, 2)))
    lo, hi = widths
    ref = (lambda a: np.pad(a[..., max(-lo, 0):a.shape[-1] - max(-hi, 0)],
                            [(0, 0)] * (a.ndim - 1) + [(max(lo, 0), max(hi, 0))], constant_values=0.5) ** 2)
    return Case(lambda t: F.pad(t, widths, value=0.5) ** 2, [sample(ANY, shp, rng)], ref)


@entry("flatten")
def _(draw, rng):
    shp = shape(draw, 1)
    s = axis(draw, len(shp), none=False)
    e = draw(st.sampled_from([a for a in range(-len(shp), len(shp)) if a % len(shp) >= s % len(shp)]))
    new = shp[:s % len(shp)] + (-1,) + shp[e % len(shp) + 1:]
    return Case(lambda t: t.flatten(s, e) ** 2, [sample(ANY, shp, rng)], lambda a: a.reshape(new) ** 2)


@entry("unflatten")
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    n = shp[dim]
    shp = shp[:dim % len(shp)] + (2 * n,) + shp[dim % len(shp) + 1:]
    new = shp[:dim % len(shp)] + (2, n) + shp[dim % len(shp) + 1:]
    return Case(lambda t: t.unflatten(dim, (2, -1)) ** 2, [sample(ANY, shp, rng)], lambda a: a.reshape(new) ** 2)


@entry("T")
def _(draw, rng):
    shp = shape(draw, 0, 2)
    return Case(lambda t: t.T * 2.0 + t.t(), [sample(ANY, shp, rng)], lambda a: a.T * 2.0 + a.T)


@entry("t")
def _(draw, rng):
    shp = shape(draw, 0, 2)
    return Case(lambda t: t.t() ** 2, [sample(ANY, shp, rng)], lambda a: a.T ** 2)


@entry("mT")
def _(draw, rng):
    shp = shape(draw, 2)
    return Case(lambda t: t.mT ** 2, [sample(ANY, shp, rng)], lambda a: np.swapaxes(a, -1, -2) ** 2)


@entry("mH")
def _(draw, rng):  # real tensors: the conjugate transpose is mT
    shp = shape(draw, 2)
    return Case(lambda t: t.mH ** 2, [sample(ANY, shp, rng)], lambda a: np.swapaxes(a, -1, -2) ** 2)


@entry("H")
def _(draw, rng):
    shp = shape(draw, 2, 2)
    return Case(lambda t: t.H ** 2, [sample(ANY, shp, rng)], lambda a: a.T ** 2)


@entry("positive", 2)
def _(draw, rng):
    return Case(lambda t: gg.positive(t) * t.positive(), [sample(ANY, shape(draw), rng)], lambda a: a * a)


@entry("ones_like")
def _(draw, rng):
    return face(lambda m, t: t * m.ones_like(t) + m.zeros_like(t), sample(ANY, shape(draw), rng))


@entry("zeros_like")
def _(draw, rng):
    return face(lambda m, t: (t + m.zeros_like(t)) ** 2, sample(ANY, shape(draw), rng))


@entry("full_like")  # in prod's adjoint
def _(draw, rng):
    shp = shape(draw, 1)
    return face(lambda m, t: m.prod(t, axis=-1), sample(POS, shp, rng))


@entry("full")
def _(draw, rng):
    shp = shape(draw)
    return Case(lambda t: t * gg.full(shp, 2.5, dtype=gg.float64) + gg.zeros(shp, dtype=gg.float64),
                [sample(ANY, shp, rng)], lambda a: a * 2.5)


@entry("arange")
def _(draw, rng):
    n = draw(st.integers(1, 4))
    return Case(lambda t: t * gg.arange(1.0, n + 1.0, dtype=gg.float64), [sample(ANY, (n,), rng)],
                lambda a: a * np.arange(1.0, n + 1.0))


@entry("constant")
def _(draw, rng):
    return Case(lambda t: t + [1.0, -2.0, 3.0], [sample(ANY, (2, 3), rng)], lambda a: a + [1.0, -2.0, 3.0])


@entry("stop_gradient")
def _(draw, rng):  # the detached terms cancel in value, so finite differences see their zero gradient
    return Case(lambda t: t * t + (t.exp() * t).detach() - (t.exp() * t).detach(), [sample(ANY, shape(draw), rng)],
                lambda a: a * a)


# -- indexing ---------------------------------------------------------------------------------------------
def _basic_index(draw, shp):
    items = []
    for n in shp[:draw(st.integers(0, len(shp)))]:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            items.append(slice(draw(st.one_of(st.none(), st.integers(-n, n))), draw(st.one_of(st.none(),
                         st.integers(-n, n))), draw(st.sampled_from([None, 1, 2, -1]))))
        else:
            items.append(slice(None))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if draw(st.booleans()):
        items.append(Ellipsis)
    return tuple(items)


@entry("getitem", 6)
def _(draw, rng):
    shp = shape(draw)
    index = _basic_index(draw, shp)
    return face(lambda m, t: t[index] * 2.0, sample(ANY, shp, rng))


@entry("getitem:list")
def _(draw, rng):
    shp = shape(draw, 1)
    rows = [int(i) for i in int_index(rng, shp[0], draw(st.integers(1, 4)))]
    return face(lambda m, t: t[rows] ** 2, sample(ANY, shp, rng))


@entry("gather_rows")
def _(draw, rng):
    shp = shape(draw, 1)
    i = int_index(rng, shp[0], shape(draw, 1, 2))
    return Case(lambda t: t[gg.tensor(i)] ** 2, [sample(ANY, shp, rng)], lambda a: a[i] ** 2)


@entry("gather_index", 4)
def _(draw, rng):
    shp = shape(draw, 2)
    i = int_index(rng, shp[1], draw(st.integers(1, 3)))
    j = int_index(rng, shp[0], i.shape)
    form = draw(st.sampled_from(["columns", "pair", "ellipsis"]))
    if form == "columns":
        return Case(lambda t: t[:, gg.tensor(i)] ** 2, [sample(ANY, shp, rng)], lambda a: a[:, i] ** 2)
    if form == "pair":
        return Case(lambda t: t[gg.tensor(j), gg.tensor(i)] ** 2, [sample(ANY, shp, rng)], lambda a: a[j, i] ** 2)
    k = int_index(rng, shp[-1], (2, 2))
    return Case(lambda t: t[..., gg.tensor(k)] ** 2, [sample(ANY, shp, rng)], lambda a: a[..., k] ** 2)


@entry("scatter_add_rows")  # in gather_rows' adjoint
def _(draw, rng):
    i = int_index(rng, 3, (4,))
    return Case(lambda t: t[gg.tensor(i)] ** 3, [sample(ANY, (3, 2), rng)], lambda a: a[i] ** 3)


@entry("scatter_add_index")  # in gather_index's adjoint
def _(draw, rng):
    i = int_index(rng, 3, (4,))
    return Case(lambda t: t[:, gg.tensor(i)] ** 3, [sample(ANY, (2, 3), rng)], lambda a: a[:, i] ** 3)


@entry("index_add_zeros")  # in getitem's adjoint
def _(draw, rng):
    return face(lambda m, t: t[[0, 2, 0], 1:] ** 3, sample(ANY, (3, 3), rng))


def _along_index(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    ishape = list(shp)
    ishape[dim] = draw(st.integers(1, 3))
    return shp, dim, int_index(rng, shp[dim], tuple(ishape))


@entry("check_divisor", 3, FORWARD_ONLY)
def _(draw, rng):
    # an integer quotient inserts it: divisors made from the input's values, none zero (zero: test_integer_division)
    shp = shape(draw, 0)
    x = rng.choice([-3.0, -1.0, 2.0, 5.0], shp)
    return Case(lambda t: 7 // t.long(), [x], lambda a: 7 // a.astype(np.int64))


@entry("check_above", 3)
def _(draw, rng):
    # mvlgamma inserts it: values above the bound pass on, with their gradient (below it: test_special_functions)
    shp = shape(draw, 0)
    x = rng.uniform(1.2, 3.0, shp)
    return Case(lambda t: gg.mvlgamma(t, 2) * t, [x], lambda a: _np_mvlgamma2(a) * a)


def _np_mvlgamma2(a):
    lgamma = np.vectorize(math.lgamma)
    return np.log(np.pi) / 2 + lgamma(a) + lgamma(a - 0.5)


@entry("check_range", 3, FORWARD_ONLY)
def _(draw, rng):
    # indices made from the input's values, in range: the op passes them on (out of range: tests/ops/test_index_bounds.py)
    shp = shape(draw, 0)
    size = draw(st.integers(1, 6))
    x = rng.integers(0, size, shp).astype(np.float64)
    return Case(lambda t: check_range(t.long(), "Target", size), [x], lambda a: a.astype(np.int64))


@entry("gather", 4)
def _(draw, rng):
    shp, dim, i = _along_index(draw, rng)
    return Case(lambda t: t.gather(dim, gg.tensor(i)) ** 2, [sample(ANY, shp, rng)],
                lambda a: np.take_along_axis(a, i, dim) ** 2)


@entry("gather:take_along_axis", 4)
def _(draw, rng):
    shp, dim, i = _along_index(draw, rng)
    return face(lambda m, t: m.take_along_axis(t, i, dim) ** 2, sample(ANY, shp, rng))


def _np_scatter_add(a, dim, i, src):
    out = a.copy()
    for pos in np.ndindex(*i.shape):
        target = list(pos)
        target[dim] = i[pos]
        out[tuple(target)] += src[pos]
    return out


@entry("scatter_add", 4)
def _(draw, rng):
    shp, dim, i = _along_index(draw, rng)
    return Case(lambda t, s: t.scatter_add(dim, gg.tensor(i), s * s) * t, [sample(ANY, shp, rng),
                sample(ANY, i.shape, rng)], lambda a, s: _np_scatter_add(a, dim, i, s * s) * a)


@entry("index_select", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    i = int_index(rng, shp[dim], draw(st.integers(1, 3)))
    return Case(lambda t: t.index_select(dim, gg.tensor(i)) ** 2, [sample(ANY, shp, rng)],
                lambda a: np.take(a, i, axis=dim) ** 2)


@entry("masked_fill", 4)
def _(draw, rng):
    a = shape(draw)
    # a mask that broadcasts to x (graphgrad refuses one that would make the result larger than x)
    mask = rng.random(broadcast_partner(draw, a)[-len(a):] if a else ()) > 0.5
    return Case(lambda t: t.masked_fill(gg.tensor(mask), 0.25) * t, [sample(ANY, a, rng)],
                lambda x: np.where(mask, 0.25, x) * x)


@entry("index_update", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    index = _basic_index(draw, shp) or (0,)
    add = draw(st.booleans())
    target = np.empty(shp)[index].shape

    def ref(a, v):
        out = a.copy()
        out[index] = out[index] + v * 2.0 if add else v * 2.0
        return out * a

    def fn(t, v):
        at = t.at[index]
        return (at.add(v * 2.0) if add else at.set(v * 2.0)) * t
    return Case(fn, [sample(ANY, shp, rng), sample(ANY, target, rng)], ref)


# -- linear algebra (well-conditioned, symmetric positive definite or spread-spectrum inputs) ------------------
@entry("matmul", 5)
def _(draw, rng):
    n, k, p = (draw(st.integers(1, 3)) for _ in range(3))
    batch_a, batch_b = pair(draw) if draw(st.booleans()) else ((), ())
    a = batch_a + (n, k) if draw(st.booleans()) or batch_a else (k,)
    b = batch_b + (k, p) if draw(st.booleans()) or batch_b else (k,)
    return face(lambda m, x, y: m.matmul(x, y), sample(ANY, a, rng), sample(ANY, b, rng))


@entry("matmul:operator")
def _(draw, rng):
    return Case(lambda x, y: (x @ y) @ x.mm(y).T, [sample(ANY, (2, 3), rng), sample(ANY, (3, 2), rng)],
                lambda a, b: (a @ b) @ (a @ b).T)


@entry("bmm")
def _(draw, rng):
    b, n, k, p = (draw(st.integers(1, 3)) for _ in range(4))
    return Case(lambda x, y: gg.bmm(x, y), [sample(ANY, (b, n, k), rng), sample(ANY, (b, k, p), rng)],
                lambda x, y: x @ y, second_order=False)


@entry("dot", 4)
def _(draw, rng):
    a = shape(draw, 1, 2)
    b = (a[-1],) + ((draw(st.integers(1, 2)),) if draw(st.booleans()) else ())
    return face(lambda m, x, y: m.dot(x, y) * 2.0, sample(ANY, a, rng), sample(ANY, b, rng))


@entry("dot:torch")
def _(draw, rng):
    n = draw(st.integers(1, 4))
    return Case(lambda x, y: gg.dot(x, y) * x, [sample(ANY, (n,), rng), sample(ANY, (n,), rng)],
                lambda x, y: np.dot(x, y) * x)


@entry("mv")
def _(draw, rng):
    n, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return Case(lambda x, y: x.mv(y) ** 2, [sample(ANY, (n, k), rng), sample(ANY, (k,), rng)],
                lambda x, y: (x @ y) ** 2)


def _product(name, dims_a, dims_b):
    """``name(x, y) ** 2`` of an array of ``dims_a`` (lo, hi) dimensions and one of ``dims_b``."""
    return lambda draw, rng: face(lambda m, x, y: getattr(m, name)(x, y) ** 2,
                                  sample(ANY, shape(draw, *dims_a), rng), sample(ANY, shape(draw, *dims_b), rng))


entry("outer")(_product("outer", (1, 1), (0, 2)))
entry("kron")(_product("kron", (1, 2), (1, 2)))


@entry("inner")
def _(draw, rng):
    n = draw(st.integers(1, 3))
    return face(lambda m, x, y: m.inner(x, y) ** 2, sample(ANY, shape(draw, 0, 1) + (n,), rng),
                sample(ANY, shape(draw, 0, 1) + (n,), rng))


@entry("vdot")
def _(draw, rng):
    shp = shape(draw, 1)
    return face(lambda m, x, y: m.vdot(x, y) * x, sample(ANY, shp, rng), sample(ANY, shp, rng))


@entry("cross")
def _(draw, rng):
    a, b = pair(draw)
    return face(lambda m, x, y: m.cross(x, y), sample(ANY, a + (3,), rng), sample(ANY, b + (3,), rng))


@entry("tensordot", 4)
def _(draw, rng):
    a = shape(draw, 1)
    k = draw(st.integers(0, min(len(a), 2)))
    b = a[len(a) - k:] + shape(draw, 0, 1)
    return face(lambda m, x, y: m.tensordot(x, y, k), sample(ANY, a, rng), sample(ANY, b, rng))


EINSUM = {  # equation: operand shapes
    "ij,jk->ik": [(2, 3), (3, 2)], "ijk->j": [(2, 3, 2)], "ij,k->ik": [(2, 3), (2,)], "...j,jk": [(2, 2, 3), (3, 2)],
    "ij,jk,kl->il": [(2, 2), (2, 3), (3, 2)], "ii->i": [(3, 3)], "ii": [(3, 3)], "bij,bjk->bik": [(2, 2, 3), (2, 3, 1)],
    "i,i->": [(3,), (3,)], "ij->ji": [(2, 3)], "i,j->ij": [(2,), (3,)],
}


@entry("einsum", 6)
def _(draw, rng):
    eq = draw(st.sampled_from(sorted(EINSUM)))
    return face(lambda m, *xs: m.einsum(eq, *xs) * 1.5, *[sample(ANY, s, rng) for s in EINSUM[eq]])


# the sublist form: einsum(op0, sublist0, op1, sublist1, ..., [sublistout]); integers for indices, ... for Ellipsis
EINSUM_SUBLISTS = {  # sublists: operand shapes
    ((0, 1), (1, 2), (0, 2)): [(2, 3), (3, 2)], ((0, 0),): [(3, 3)], ((27, 0), (0, 26)): [(2, 3), (3, 2)],
    ((..., 1), (1, 2), (2, ...)): [(2, 2, 3), (3, 2)], ((0,), (0, ...), (...,)): [(2,), (2, 3, 2)],
}


@entry("einsum:sublist", 4)
def _(draw, rng):
    subs = draw(st.sampled_from(sorted(EINSUM_SUBLISTS, key=repr)))

    def op(m, *xs):
        args = [a for x, sub in zip(xs, subs) for a in (x, list(sub))] + [list(s) for s in subs[len(xs):]]
        return m.einsum(*args) * 1.5
    return face(op, *[sample(ANY, s, rng) for s in EINSUM_SUBLISTS[subs]])


def _batch(draw):
    return draw(st.sampled_from([(), (2,)]))


@entry("inv")
def _(draw, rng):
    return face(lambda m, x: m.linalg.inv(x), well_conditioned(rng, _batch(draw), draw(st.integers(1, 3))))


@entry("inv:torch")
def _(draw, rng):
    return Case(lambda x: x.inverse(), [well_conditioned(rng, (), 3)], np.linalg.inv)


@entry("solve", 4)
def _(draw, rng):
    batch, n = _batch(draw), draw(st.integers(1, 3))
    b = (n,) if not batch and draw(st.booleans()) else batch + (n, draw(st.integers(1, 2)))
    return face(lambda m, x, y: m.linalg.solve(x, y), well_conditioned(rng, batch, n), sample(ANY, b, rng))


@entry("det")
def _(draw, rng):
    return face(lambda m, x: m.linalg.det(x), well_conditioned(rng, _batch(draw), draw(st.integers(1, 3)),
                                                              draw(st.sampled_from([1.0, -1.0]))))


def _slogdet(m, x):
    sign, logabs = m.linalg.slogdet(x)
    return sign * logabs


for _name in ("slogdet", "logabsdet", "detsign"):
    entry(_name)(lambda draw, rng: face(_slogdet, well_conditioned(rng, _batch(draw), draw(st.integers(1, 3)),
                                                                   draw(st.sampled_from([1.0, -1.0])))))


@entry("logdet")
def _(draw, rng):
    return Case(lambda x: x.logdet(), [well_conditioned(rng, _batch(draw), 3)], lambda a: np.linalg.slogdet(a)[1])


def _spd(m, x):
    n = x.shape[-1]
    return m.matmul(x, m.swapaxes(x, -1, -2)) + n * np.eye(n)


@entry("cholesky")
def _(draw, rng):
    return face(lambda m, x: m.linalg.cholesky(_spd(m, x)), sample(ANY, _batch(draw) + (draw(st.integers(1, 3)),) * 2,
                                                                   rng))


@entry("cholesky:upper")
def _(draw, rng):
    return Case(lambda x: gg.linalg.cholesky(_spd(gnp, x), upper=True), [sample(ANY, (3, 3), rng)],
                lambda a: np.linalg.cholesky(_spd(np, a)).T)


def _symmetric_spread(m, x):
    """Symmetric, eigenvalues near 0, 3, 6: well apart."""
    n = x.shape[-1]
    return (x + m.swapaxes(x, -1, -2)) * 0.1 + np.diag(3.0 * np.arange(n))


@entry("eigh")
def _(draw, rng):
    def op(m, x):
        w, v = m.linalg.eigh(_symmetric_spread(m, x))
        return (v * v) * w[..., None, :]  # each eigenvector's sign is arbitrary: use its square
    return face(op, sample(ANY, _batch(draw) + (draw(st.integers(1, 3)),) * 2, rng))


@entry("eigvalsh")
def _(draw, rng):
    return face(lambda m, x: m.linalg.eigvalsh(_symmetric_spread(m, x)),
                sample(ANY, _batch(draw) + (draw(st.integers(1, 3)),) * 2, rng))


@entry("svd", 4)
def _(draw, rng):
    def op(m, x):
        u, s, vh = m.linalg.svd(x, full_matrices=False)
        return m.matmul((u * u) * s[..., None, :], (vh * vh) * s[..., :, None])  # signs cancel
    return face(op, spread(rng, _batch(draw), draw(st.integers(1, 3)), draw(st.integers(1, 3))))


@entry("svdvals")
def _(draw, rng):
    return Case(lambda x: gg.linalg.svdvals(x), [spread(rng, _batch(draw), 3, 2)],
                lambda a: np.linalg.svd(a, compute_uv=False))


@entry("pinv")
def _(draw, rng):
    return face(lambda m, x: m.linalg.pinv(x), spread(rng, _batch(draw), draw(st.integers(1, 3)),
                                                      draw(st.integers(1, 3))))


@entry("qr", 4)
def _(draw, rng):
    def op(m, x):
        q, r = m.linalg.qr(x)
        return m.matmul(q * q, r * r)  # a column of Q and the row of R it multiplies may both change sign
    n = draw(st.integers(1, 3))
    return face(op, spread(rng, (), n + draw(st.integers(0, 2)), n))  # square or tall: the gradient's domain


@entry("lstsq", 4)
def _(draw, rng):
    def op(m, a, b):
        x, residuals, _, s = m.linalg.lstsq(a, b, rcond=None)
        return x * residuals.sum() + s.sum()
    n = draw(st.integers(1, 3))
    b = (n + 1,) if draw(st.booleans()) else (n + 1, draw(st.integers(1, 2)))
    return face(op, spread(rng, (), n + 1, n), sample(ANY, b, rng))


@entry("pinv:repeated")
def _(draw, rng):  # singular values that repeat (orthonormal columns times 2): the SVD's vectors are not unique
    m, n = sorted((draw(st.integers(1, 3)), draw(st.integers(1, 3))), reverse=True)
    q = 2.0 * np.linalg.qr(rng.standard_normal((m, n)))[0]
    return face(lambda m_, x: m_.linalg.pinv(x), q.T.copy() if draw(st.booleans()) else q)


@entry("lstsq:torch", 6)
def _(draw, rng):
    """torch.linalg.lstsq's solution: tall, square or wide, a batch, a vector B (one dimension fewer)."""
    batch, n = _batch(draw), draw(st.integers(1, 3))
    m = max(1, n + draw(st.integers(-1, 2)))
    vector = draw(st.booleans())
    b = batch + ((m,) if vector else (m, draw(st.integers(1, 2))))

    def reference(a, y):
        x = np.linalg.pinv(a) @ (y[..., None] if vector else y)
        return x[..., 0] if vector else x
    return Case(lambda a, y: gg.linalg.lstsq(a, y).solution, [spread(rng, batch, m, n), sample(ANY, b, rng)],
                reference)


@entry("matrix_rank", 3, FORWARD_ONLY)
def _(draw, rng):
    n, k = draw(st.integers(1, 4)), draw(st.integers(0, 3))
    x = rng.standard_normal((n, k)) @ rng.standard_normal((k, 4)) if draw(st.booleans()) else \
        sample(ANY, shape(draw, 1, 3), rng)
    return face(lambda m, a: m.linalg.matrix_rank(a), x)


MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]
VECTOR_ORDS = [None, 1, 2, 3, np.inf, -np.inf]


@entry("linalg.norm", 8)
def _(draw, rng):
    if draw(st.booleans()):  # a matrix norm, of a matrix or over two axes of a 3-D array
        ord = draw(st.sampled_from(MATRIX_ORDS))
        if draw(st.booleans()):
            return face(lambda m, x: m.linalg.norm(x, ord), spread(rng, (), 3, 2) * rng.choice([-1, 1], (3, 2)))
        axes = draw(st.sampled_from([(0, 1), (-1, -2), (0, 2), (-1, 0)]))
        return face(lambda m, x: m.linalg.norm(x, ord, axis=axes, keepdims=True), sample(AWAY, (2, 3, 2), rng))
    shp = shape(draw, 1)
    ord, ax = draw(st.sampled_from(VECTOR_ORDS)), axis(draw, len(shp), none=len(shp) == 1)
    keep = draw(st.booleans())
    return face(lambda m, x: m.linalg.norm(x, ord, axis=ax, keepdims=keep), sample(AWAY, shp, rng))


@entry("linalg.cond")
def _(draw, rng):
    return face(lambda m, x: m.linalg.cond(x), spread(rng, _batch(draw), 3, 3))


@entry("matrix_power", 4)
def _(draw, rng):
    k = draw(st.integers(-2, 3))
    return face(lambda m, x: m.linalg.matrix_power(x, k) * x, well_conditioned(rng, _batch(draw), draw(st.integers(1, 3)))
                * 0.5)


@entry("multi_dot")
def _(draw, rng):
    n, k, p, q = (draw(st.integers(1, 3)) for _ in range(4))
    first = (k,) if draw(st.booleans()) else (n, k)
    return face(lambda m, x, y, z: m.linalg.multi_dot([x, y, z]), sample(ANY, first, rng), sample(ANY, (k, p), rng),
                sample(ANY, (p, q), rng))


@entry("trace")
def _(draw, rng):
    return face(lambda m, x: m.trace(x) * x, sample(ANY, shape(draw, 2, 2), rng))


@entry("diag", 4)
def _(draw, rng):
    shp = shape(draw, 1, 2)
    k = draw(st.integers(-1, 1))
    return face(lambda m, x: m.diag(x, k) ** 2, sample(ANY, shp, rng))


@entry("diagflat", 4)
def _(draw, rng):
    shp = shape(draw, 0, 2)
    k = draw(st.integers(-1, 1))
    return Case(lambda x: gg.diagflat(x, k) ** 2, [sample(ANY, shp, rng)], lambda a: np.diagflat(a, k) ** 2)


@entry("diagonal", 4)
def _(draw, rng):
    shp = shape(draw, 2)
    i = axis(draw, len(shp), none=False)
    j = draw(st.sampled_from([a for a in range(-len(shp), len(shp)) if a % len(shp) != i % len(shp)]))
    k = draw(st.integers(-1, 1))
    return face(lambda m, x: m.diagonal(x, k, i, j) ** 2, sample(ANY, shp, rng))


@entry("diag_embed")
def _(draw, rng):
    shp = shape(draw, 1, 2)
    k = draw(st.integers(-1, 1))

    def ref(a):
        n = a.shape[-1] + abs(k)
        out = np.zeros(a.shape[:-1] + (n, n))
        r = np.arange(a.shape[-1])
        out[..., r + max(-k, 0), r + max(k, 0)] = a
        return out ** 2
    return Case(lambda x: x.diag_embed(k) ** 2, [sample(ANY, shp, rng)], ref)


def _tri(name):
    def build(draw, rng):
        k = draw(st.integers(-1, 1))
        return face(lambda m, x: getattr(m, name)(x, k) ** 2, sample(ANY, shape(draw, 2), rng))
    return build


entry("tril", 4)(_tri("tril"))
entry("triu", 4)(_tri("triu"))


# -- nn --------------------------------------------------------------------------------------------------
def _np_softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


@entry("softmax", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    return Case(lambda t: t.softmax(dim) ** 2, [sample(ANY, shp, rng)], lambda a: _np_softmax(a, dim) ** 2)


@entry("log_softmax", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    return Case(lambda t: F.log_softmax(t, dim) * t, [sample(ANY, shp, rng)],
                lambda a: np.log(_np_softmax(a, dim)) * a)


def _conv(strides):
    """conv2d: a stride of 1 runs over whole image rows (``unfold2d_rows``), larger ones over patches
    (``unfold2d``); each one's adjoint is its ``fold``."""
    def build(draw, rng):
        n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        stride, padding, dilation = draw(st.sampled_from(strides)), draw(st.integers(0, 1)), draw(st.integers(1, 2))
        h, w = (draw(st.integers(dilation * (k - 1) + 1, dilation * (k - 1) + 3)) for k in (kh, kw))
        return Case(lambda x, k, b: F.conv2d(x, k, b, stride=stride, padding=padding, dilation=dilation),
                    [sample(ANY, (n, c_in, h, w), rng), sample(ANY, (c_out, c_in, kh, kw), rng),
                     sample(ANY, (c_out,), rng)], None)
    return build


entry("unfold2d", 4)(_conv([2, (2, 1)]))
entry("fold2d", 2)(_conv([2, (1, 2)]))
entry("unfold2d_rows", 4)(_conv([1]))
entry("fold2d_rows", 2)(_conv([1]))


def _pool(draw):
    k, stride, padding = draw(st.integers(2, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    ceil = draw(st.booleans())
    return lambda x: F.max_pool2d(x, k, stride=stride, padding=padding, ceil_mode=ceil)


entry("max_pool2d")(lambda draw, rng: Case(lambda x, pool=_pool(draw): pool(x) ** 2, [sample(AWAY, (1, 2, 4, 5), rng)]))
entry("max_pool2d_backward")(lambda draw, rng: Case(lambda x, pool=_pool(draw): pool(x * x).sum(),
                                                    [sample(AWAY, (2, 1, 4, 4), rng)]))


@entry("max_pool2d_mask")  # in the adjoint of max_pool2d's gradient
def _(draw, rng):
    pool = _pool(draw)
    return Case(lambda x: gg.grad(lambda y: (pool(y) ** 3).sum())(x), [sample(AWAY, (1, 2, 4, 5), rng)])


@entry("nn.avg_pool2d")
def _(draw, rng):
    k, stride, padding = draw(st.integers(2, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    return Case(lambda x: F.avg_pool2d(x, k, stride=stride, padding=padding) * 2.0, [sample(ANY, (1, 2, 4, 5), rng)],
                None, second_order=False)


@entry("nn.adaptive_avg_pool2d")
def _(draw, rng):
    size = draw(st.integers(1, 2))
    return Case(lambda x: F.adaptive_avg_pool2d(x, size) ** 2, [sample(ANY, (1, 2, 4, 4), rng)], None)


@entry("nn.cross_entropy", 4)
def _(draw, rng):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    target = rng.integers(0, c, n)
    smoothing, reduction = 0.0, draw(st.sampled_from(["mean", "sum", "none"]))

    def ref(a):
        logp = np.log(_np_softmax(a, 1))
        loss = -(1 - smoothing) * logp[np.arange(n), target] - smoothing * logp.mean(1)
        return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]
    return Case(lambda x: F.cross_entropy(x, gg.tensor(target), reduction=reduction),
                [sample(ANY, (n, c), rng)], ref)


@entry("nn.nll_loss")
def _(draw, rng):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    target = rng.integers(0, c, n)
    return Case(lambda x: F.nll_loss(F.log_softmax(x, 1), gg.tensor(target)), [sample(ANY, (n, c), rng)],
                lambda a: -np.log(_np_softmax(a, 1))[np.arange(n), target].mean())


@entry("nn.layer_norm", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    k = draw(st.integers(1, len(shp)))
    norm = shp[len(shp) - k:]
    axes = tuple(range(-k, 0))

    def ref(a, w, b):
        mu, var = a.mean(axis=axes, keepdims=True), a.var(axis=axes, keepdims=True)
        return (a - mu) / np.sqrt(var + 1e-5) * w + b
    return Case(lambda x, w, b: F.layer_norm(x, norm, w, b), [sample(ANY, shp, rng), sample(ANY, norm, rng),
                sample(ANY, norm, rng)], ref)


@entry("nn.batch_norm", 4)
def _(draw, rng):
    n, c = draw(st.integers(2, 3)), draw(st.integers(1, 3))
    training = draw(st.booleans())
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)

    def ref(a, w, b):
        mu, v = (a.mean(0), a.var(0)) if training else (mean, var)
        return (a - mu) / np.sqrt(v + 1e-5) * w + b
    # in training mode without running statistics: updating them is a side effect gg.grad refuses
    return Case(lambda x, w, b: F.batch_norm(x, None if training else gg.tensor(mean),
                                             None if training else gg.tensor(var), w, b, training=training),
                [sample(ANY, (n, c), rng), sample(ANY, (c,), rng), sample(ANY, (c,), rng)], ref)


@entry("nn.dropout")
def _(draw, rng):  # in eval mode: the identity
    return Case(lambda x: F.dropout(x, 0.5, training=False) ** 2, [sample(ANY, shape(draw), rng)], lambda a: a ** 2)


@entry("nn.embedding")
def _(draw, rng):
    i = rng.integers(0, 4, shape(draw, 1, 2))
    return Case(lambda w: F.embedding(gg.tensor(i), w) ** 2, [sample(ANY, (4, 3), rng)], lambda w: w[i] ** 2)


def _embedding_bag_case(mode):
    """Sums, means, maxima of bags: fixed-length (2-D input) or cut at offsets (empty bags too), per-sample
    weights (sum), a padding index, include_last_offset."""
    def build(draw, rng):
        rows, dim = draw(st.integers(2, 5)), draw(st.integers(1, 3))
        pad = draw(st.sampled_from([None, 0]))
        if draw(st.booleans()):
            n, last = draw(st.integers(0, 6)), draw(st.booleans())
            idx = rng.integers(0, rows, n)
            offsets = np.sort(rng.integers(0, n + 1, draw(st.integers(1, 4))))
            offsets[0] = 0
        else:
            idx, offsets, last = rng.integers(0, rows, (draw(st.integers(0, 3)), draw(st.integers(1, 3)))), None, False
        psw = mode == "sum" and draw(st.booleans())
        arrays = [sample(AWAY, (rows, dim), rng)] + ([sample(ANY, idx.shape, rng)] if psw else [])

        def fn(w, *p):
            return F.embedding_bag(gg.tensor(idx), w, None if offsets is None else gg.tensor(offsets), mode=mode,
                                   per_sample_weights=p[0] if p else None, include_last_offset=last,
                                   padding_idx=pad) ** 2
        return Case(fn, arrays, lambda w, *p: embedding_bag_reference(idx, w, offsets, mode, *p, last=last,
                                                                      pad=pad) ** 2)
    return build


for _mode in ("sum", "mean", "max"):
    entry(f"nn.embedding_bag:{_mode}", 8)(_embedding_bag_case(_mode))


@entry("scale_grad")
def _(draw, rng):  # a scale of ones: its gradient is then the finite differences' (tests/nn/test_embedding_bag.py
    # checks other scales)
    from graphgrad.ops.nn import scale_grad
    shp = shape(draw, 1)
    return Case(lambda x: scale_grad(x, gg.ones(*shp[-1:], dtype=gg.float64)) ** 3, [sample(ANY, shp, rng)],
                lambda x: x ** 3)


@entry("nn.linear")
def _(draw, rng):
    n, k, p = (draw(st.integers(1, 3)) for _ in range(3))
    return Case(lambda x, w, b: F.linear(x, w, b) ** 2, [sample(ANY, (n, k), rng), sample(ANY, (p, k), rng),
                sample(ANY, (p,), rng)], lambda x, w, b: (x @ w.T + b) ** 2)


LOSSES = {  # name: (function of (input, target), NumPy, domain)
    "mse_loss": (F.mse_loss, lambda a, b: np.mean((a - b) ** 2), ANY),
    "l1_loss": (F.l1_loss, lambda a, b: np.mean(np.abs(a - b)), AWAY),
    "smooth_l1_loss": (F.smooth_l1_loss, lambda a, b: np.mean(np.where(np.abs(a - b) < 1, 0.5 * (a - b) ** 2,
                                                                          np.abs(a - b) - 0.5)), ANY),
    "binary_cross_entropy_with_logits": (
        F.binary_cross_entropy_with_logits,
        lambda a, b: np.mean(-(b * np.log(1 / (1 + np.exp(-a))) + (1 - b) * np.log(1 - 1 / (1 + np.exp(-a))))), ANY),
    "kl_div": (lambda a, b: F.kl_div(a, b, reduction="batchmean"), lambda a, b: np.sum(b * (np.log(b) - a)) / a.shape[0],
               POS),
}


def _loss(fn, ref, domain):
    def build(draw, rng):
        shp = shape(draw, 1)
        return Case(fn, [sample(domain, shp, rng), sample(POS, shp, rng) * 0.4], ref)
    return build


for _name, (_fn, _ref, _domain) in LOSSES.items():
    entry(f"nn.{_name}")(_loss(_fn, _ref, _domain))


@entry("nn.binary_cross_entropy")
def _(draw, rng):
    shp = shape(draw, 1)
    return Case(lambda p, y: F.binary_cross_entropy(p, y), [rng.uniform(0.1, 0.9, shp), rng.uniform(0.1, 0.9, shp)],
                lambda p, y: np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


@entry("binary_cross_entropy")  # the primitive: elementwise, differentiable in the target too
def _(draw, rng):
    shp = shape(draw)
    return Case(lambda p, y: F.binary_cross_entropy(p, y, reduction="none") * (y + 1),
                [rng.uniform(0.1, 0.9, shp), rng.uniform(0.1, 0.9, shp)],
                lambda p, y: -(y * np.log(p) + (1 - y) * np.log1p(-p)) * (y + 1))


@entry("binary_cross_entropy_with_logits")  # the primitive: elementwise, differentiable in the target too
def _(draw, rng):
    shp = shape(draw)
    return Case(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none") * (y + 1),
                [sample(ANY, shp, rng) * 4, rng.uniform(0.1, 0.9, shp)],
                lambda x, y: ((1 - y) * x + np.logaddexp(0, -x)) * (y + 1))


def _cross_entropy_reference(z, c):
    top = z.max(axis=1, keepdims=True)
    return np.log(np.exp(z - top).sum(axis=1)) + top[:, 0] - z[np.arange(len(c)), c]


@entry("softmax_cross_entropy")  # per row: logsumexp minus the class's logit; weighted rows, for a vector result
def _(draw, rng):
    n, k = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c = rng.integers(0, k, n)
    w = np.arange(1.0, n + 1)
    return Case(lambda z: softmax_cross_entropy(z, gg.tensor(c)) * gg.tensor(w), [sample(ANY, (n, k), rng) * 3],
                lambda z: _cross_entropy_reference(z, c) * w)


@entry("softmax_cross_entropy_grad")  # g (softmax - onehot), the softmax from z and the loss: any three operands
def _(draw, rng):
    n, k = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c = rng.integers(0, k, n)

    def reference(g, loss, z):
        p = np.exp(z - (loss + z[np.arange(n), c])[:, None]) * g[:, None]
        p[np.arange(n), c] -= g
        return p
    return Case(lambda g, loss, z: bind("softmax_cross_entropy_grad", g, loss, z, gg.tensor(c)),
                [sample(ANY, (n,), rng), rng.uniform(0.5, 2.0, n), sample(ANY, (n, k), rng)], reference)


@entry("nn.normalize")
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    return Case(lambda x: F.normalize(x, dim=dim), [sample(NONZERO, shp, rng)],
                lambda a: a / np.sqrt(np.sum(a * a, axis=dim, keepdims=True)))


@entry("nn.scaled_dot_product_attention")
def _(draw, rng):
    b, lq, lk, d = (draw(st.integers(1, 3)) for _ in range(4))
    causal = draw(st.booleans()) and lq == lk

    def ref(q, k, v):
        s = q @ np.swapaxes(k, -1, -2) / math.sqrt(d)
        if causal:
            s = np.where(np.tril(np.ones((lq, lk), bool)), s, -np.inf)
        return _np_softmax(s, -1) @ v
    return Case(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                [sample(ANY, (b, lq, d), rng), sample(ANY, (b, lk, d), rng), sample(ANY, (b, lk, d), rng)], ref)


# -- control flow ------------------------------------------------------------------------------------------
@entry("cond")
def _(draw, rng):
    return Case(lambda x: gg.cond(x.sum() > 0, lambda a: a.sin() * a, lambda a: a.exp(), x),
                [sample(ANY, shape(draw, 1), rng)], lambda a: np.sin(a) * a if a.sum() > 0 else np.exp(a))


@entry("get")  # reads one output of cond, scan or while
def _(draw, rng):
    return Case(lambda x: sum(gg.cond(x.sum() > 0, lambda a: (a * 2.0, a * a), lambda a: (a.exp(), a), x)),
                [sample(ANY, (3,), rng)], lambda a: a * 2.0 + a * a if a.sum() > 0 else np.exp(a) + a)


@entry("scan")
def _(draw, rng):
    def ref(a):
        c, ys = a[0], []
        for r in a:
            c, y = c * np.sin(r), c + r
            ys.append(y)
        return np.stack(ys) * c
    return Case(lambda x: (lambda c_ys: c_ys[1] * c_ys[0])(gg.scan(lambda c, r: (c * r.sin(), c + r), x[0], x)),
                [sample(ANY, (draw(st.integers(1, 3)), 2), rng)], ref)


@entry("while")
def _(draw, rng):
    def ref(a):
        c, k = a, 0
        while k < 3:
            c, k = np.sin(c) * 1.5, k + 1
        return c
    return Case(lambda x: gg.while_loop(lambda c: c[1] < 3, lambda c: (c[0].sin() * 1.5, c[1] + 1), (x, 0))[0],
                [sample(ANY, shape(draw), rng)], ref)


# -- ops with integer or boolean outputs: a forward check only ------------------------------------------------
# Not differentiable: their outputs are integers (argmax, argmin, argsort) or booleans (comparisons, any, all).
# The ops that use them as masks or indices (where, masked_fill, gather, sort, max) are gradchecked above.
for _op, _name in (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                   ("ge", "greater_equal")):
    def _compare(draw, rng, _name=_name):
        a, b = pair(draw)
        x = rng.integers(-1, 2, a).astype(np.float64)  # small integers: equal values happen
        return face(lambda m, t, u: getattr(m, _name)(t, u), x, rng.integers(-1, 2, b).astype(np.float64))
    entry(_op, 3, FORWARD_ONLY)(_compare)

_SPECIAL = np.array([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf])
for _op in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"):
    def _float_class(draw, rng, _op=_op):  # every special value turns up: nan, both infinities, both zeros
        x = _SPECIAL[rng.integers(0, len(_SPECIAL), shape(draw))]
        return face(lambda m, t: getattr(m, _op)(t), x)
    entry(_op, 3, FORWARD_ONLY)(_float_class)


# bitwise ops take bool (or integer) operands: masks made by comparisons, as code writes them; the logical ones
# the truth of any operands, through the NumPy face
for _op, _fn in (("bitwise_and", lambda a, b: (a > 0) & (b > 0)), ("bitwise_or", lambda a, b: (a > 0) | (b > 0)),
                 ("bitwise_xor", lambda a, b: (a > 0) ^ (b > 0)), ("bitwise_not", lambda a, b: ~(a > b)),
                 ("logical_and", None), ("logical_or", None), ("logical_xor", None), ("logical_not", None)):
    def _masks(draw, rng, _op=_op, _fn=_fn):
        a, b = pair(draw)
        x, y = rng.integers(-1, 2, a).astype(np.float64), rng.integers(-1, 2, b).astype(np.float64)
        if _op == "logical_not":
            return face(lambda m, t, u: m.logical_not(t - u), x, y)
        if _fn is None:
            return face(lambda m, t, u: getattr(m, _op)(t, u), x, y)
        return Case(_fn, [x, y], _fn)
    entry(_op, 3, FORWARD_ONLY)(_masks)


def _arg(name):
    def build(draw, rng):
        shp = shape(draw, 1)
        dim, keep = axis(draw, len(shp)), draw(st.booleans())
        x = sample(AWAY, shp, rng)
        if name == "argsort":
            dim = -1 if dim is None else dim
            return face(lambda m, t: m.argsort(t, axis=dim), x)
        return Case(lambda t: getattr(t, name)(dim, keep), [x], lambda a: getattr(np, name)(a, axis=dim, keepdims=keep))
    return build


for _name in ("argmax", "argmin", "argsort"):
    entry(_name, 3, FORWARD_ONLY)(_arg(_name))


def _numpy_arg(name):
    def build(draw, rng):
        shp = shape(draw, 1)
        ax, keep = axis(draw, len(shp)), draw(st.booleans())
        return face(lambda m, t: getattr(m, name)(t, axis=ax, keepdims=keep), sample(AWAY, shp, rng))
    return build


entry("argmax:numpy", 3, FORWARD_ONLY)(_numpy_arg("argmax"))
entry("argmin:numpy", 3, FORWARD_ONLY)(_numpy_arg("argmin"))


def _any_all(name):
    def build(draw, rng):
        shp = shape(draw)
        dim, keep = axis(draw, len(shp)), draw(st.booleans())
        x = rng.integers(0, 2, shp).astype(np.float64)
        if dim is None:
            return Case(lambda t: getattr(t, name)(), [x], lambda a: getattr(np, name)(a))
        return Case(lambda t: getattr(t, name)(dim, keep), [x], lambda a: getattr(np, name)(a, axis=dim, keepdims=keep))
    return build


entry("any", 3, FORWARD_ONLY)(_any_all("any"))
entry("all", 3, FORWARD_ONLY)(_any_all("all"))


def _numpy_any_all(name):
    def build(draw, rng):
        shp = shape(draw)
        ax, keep = axis(draw, len(shp)), draw(st.booleans())
        return face(lambda m, t: getattr(m, name)(t > 0.5, axis=ax, keepdims=keep), rng.integers(0, 2, shp))
    return build


entry("any:numpy", 3, FORWARD_ONLY)(_numpy_any_all("any"))
entry("all:numpy", 3, FORWARD_ONLY)(_numpy_any_all("all"))


def _near(draw, rng, shp):
    """Values and partners at distances about the tolerances: equal, just inside, just outside, nan, +-inf."""
    x = rng.integers(-2, 3, shp).astype(np.float64)
    gaps = np.array([0.0, 1e-9, 1e-6, 2e-5, 1e-3, np.nan, np.inf, -np.inf])
    y = x + gaps[rng.integers(0, len(gaps), shp)]
    if draw(st.booleans()):  # nan and infinities on both sides
        x = np.where(rng.integers(0, 4, shp) == 0, y, x)
    return x, y


@entry("isclose", 4, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw)
    rtol, atol, equal_nan = draw(st.sampled_from([1e-5, 0.0])), draw(st.sampled_from([1e-8, 0.0])), draw(st.booleans())
    return face(lambda m, t, u: m.isclose(t, u, rtol, atol, equal_nan), *_near(draw, rng, shp))


@entry("allclose", 4, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw)
    equal_nan = draw(st.booleans())
    return face(lambda m, t, u: m.allclose(t, u, equal_nan=equal_nan), *_near(draw, rng, shp))

# -- order statistics, running extremes, nan-ignoring reductions (PyTorch's names) ------------------------------
def _lower_median(a, axis):
    """NumPy's median of an odd count; for an even count PyTorch's lower median: the smaller middle value."""
    s = np.sort(a, axis=axis)
    return np.take(s, (s.shape[axis] - 1) // 2, axis=axis)


@entry("median", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp))
    x = sample(AWAY, shp, rng)
    if dim is None:
        return Case(lambda t: t.median(), [x], lambda a: _lower_median(a.reshape(-1), 0))
    keep = draw(st.booleans())
    return Case(lambda t: gg.median(t, dim, keep).values, [x],
                lambda a: np.expand_dims(_lower_median(a, dim), dim) if keep else _lower_median(a, dim))


@entry("nanmedian", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    shp = shp[:dim % len(shp)] + (shp[dim] + 2,) + shp[dim % len(shp) + 1:]
    holes = np.zeros(shp)
    holes[(slice(None),) * (dim % len(shp)) + (0,)] = np.nan  # one nan in every slice
    def ref(a):
        b = a + holes
        along = np.take(np.sort(b, axis=dim), (shp[dim] - 2) // 2, axis=dim)  # nan sorts last; one per slice
        numbers = np.sort(b[~np.isnan(b)])
        return along + numbers[(numbers.size - 1) // 2]
    return Case(lambda t: (t + holes).nanmedian(dim).values + (t + holes).nanmedian(), [sample(AWAY, shp, rng)], ref)


@entry("kthvalue", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    k = draw(st.integers(1, shp[dim]))
    return Case(lambda t: t.kthvalue(k, dim).values, [sample(AWAY, shp, rng)],
                lambda a: np.take(np.sort(a, axis=dim), k - 1, axis=dim))


@entry("mode", 3)
def _(draw, rng):  # distinct values: each is as frequent, the smallest wins (ties of counts are checked elsewhere)
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    return Case(lambda t: t.mode(dim).values, [sample(AWAY, shp, rng)], lambda a: np.min(a, axis=dim))


@entry("quantile", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim, keep = axis(draw, len(shp)), draw(st.booleans())
    method = draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))
    q = draw(st.sampled_from([0.3, [0.1, 0.5, 0.85]]))
    qt = (lambda t: q) if isinstance(q, float) else (lambda t: gg.tensor(q, dtype=gg.float64))
    return Case(lambda t: gg.quantile(t, qt(t), dim, keep, interpolation=method), [sample(AWAY, shp, rng)],
                lambda a: np.quantile(a, q, axis=dim, keepdims=keep, method=method))


@entry("nanquantile", 3)
def _(draw, rng):
    shp = shape(draw, 1) + (4,)
    holes = np.where(np.arange(4) == 1, np.nan, 0.0)
    method = draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))
    return Case(lambda t: gg.nanquantile(t + holes, 0.4, -1, interpolation=method), [sample(AWAY, shp, rng)],
                lambda a: np.nanquantile(a + holes, 0.4, axis=-1, method=method))


def _running(name, accumulate):
    def build(draw, rng):
        shp = shape(draw, 1)
        dim = axis(draw, len(shp), none=False)
        return Case(lambda t: getattr(t, name)(dim).values, [sample(AWAY, shp, rng)],
                    lambda a: accumulate(a, axis=dim))
    return build


entry("cummax", 3)(_running("cummax", np.maximum.accumulate))
entry("cummin", 3)(_running("cummin", np.minimum.accumulate))


@entry("cum_extreme_index", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    x = rng.integers(0, 3, shp).astype(np.float64)  # ties: the later index, as PyTorch
    def ref(a):
        run = np.maximum.accumulate(a, axis=dim)
        pos = np.arange(a.shape[dim]).reshape((-1,) + (1,) * (a.ndim - dim % a.ndim - 1))
        return np.maximum.accumulate(np.where(a == run, pos, 0), axis=dim)
    return Case(lambda t: t.cummax(dim).indices, [x], ref)


@entry("logcumsumexp", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    return Case(lambda t: t.logcumsumexp(dim), [sample(ANY, shp, rng)],
                lambda a: np.log(np.cumsum(np.exp(a), axis=dim)))


def _moment_mean(name, root):
    def build(draw, rng):
        shp = shape(draw, 1, size=4)
        shp = shp[:-1] + (shp[-1] + 1,)
        dim, keep, corr = axis(draw, len(shp)), draw(st.booleans()), draw(st.sampled_from([0, 1]))
        def ref(a):
            v = np.var(a, axis=dim, ddof=corr, keepdims=keep)
            return (np.sqrt(v) if root else v) + 2 * np.mean(a, axis=dim, keepdims=keep)
        def fn(t):
            spread, mean = getattr(gg, name)(t, dim, keepdim=keep, correction=corr)
            return spread + 2 * mean
        return Case(fn, [sample(ANY, shp, rng)], ref)
    return build


entry("std_mean", 3)(_moment_mean("std_mean", True))
entry("var_mean", 3)(_moment_mean("var_mean", False))


def _nan_reduction(name, ref):
    def build(draw, rng):
        shp = shape(draw, 1)
        dim, keep = axis(draw, len(shp)), draw(st.booleans())
        holes = np.where(rng.integers(0, 3, shp) == 0, np.nan, 0.0)
        return Case(lambda t: getattr(t + holes, name)(dim, keep), [sample(ANY, shp, rng)],
                    lambda a: ref(a + holes, axis=dim, keepdims=keep))
    return build


entry("nansum", 3)(_nan_reduction("nansum", np.nansum))


@entry("nanmean", 3)
def _(draw, rng):
    shp = shape(draw, 1) + (3,)
    holes = np.where(np.arange(3) == 1, np.nan, 0.0)  # never a whole slice of nan: nanmean is finite
    keep = draw(st.booleans())
    return Case(lambda t: (t + holes).nanmean(-1, keep), [sample(ANY, shp, rng)],
                lambda a: np.nanmean(a + holes, axis=-1, keepdims=keep))


@entry("aminmax", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim, keep = axis(draw, len(shp)), draw(st.booleans())
    def fn(t):
        low, high = gg.aminmax(t, dim=dim, keepdim=keep)
        return low * 2 + high
    return Case(fn, [sample(AWAY, shp, rng)],
                lambda a: np.min(a, axis=dim, keepdims=keep) * 2 + np.max(a, axis=dim, keepdims=keep))


@entry("count_nonzero", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw)
    dim = axis(draw, len(shp))
    return Case(lambda t: gg.count_nonzero(t, dim), [rng.integers(0, 2, shp).astype(np.float64)],
                lambda a: np.count_nonzero(a, axis=dim))


# -- lerp, beta * input + alpha * product, distances (PyTorch's names) ------------------------------------------
@entry("lerp", 3)
def _(draw, rng):
    a, b = pair(draw)
    scalar = draw(st.sampled_from([None, 0.3, 0.8]))
    if scalar is not None:
        return Case(lambda x, y: gg.lerp(x, y, scalar), [sample(ANY, a, rng), sample(ANY, b, rng)],
                    lambda x, y: x + scalar * (y - x))
    w = sample(ANY, a, rng)
    return Case(lambda x, y, z: x.lerp(y, z), [sample(ANY, a, rng), sample(ANY, b, rng), w],
                lambda x, y, z: x + z * (y - x))


def _scaled(draw):
    return draw(st.sampled_from([(1, 1), (0, 1), (2.0, -0.5)]))


@entry("addmm", 3)
def _(draw, rng):
    n, m, k = (draw(st.integers(1, 3)) for _ in range(3))
    beta, alpha = _scaled(draw)
    inp = draw(st.sampled_from([(n, k), (k,), (1, 1)]))
    return Case(lambda c, a, b: gg.addmm(c, a, b, beta=beta, alpha=alpha),
                [sample(ANY, inp, rng), sample(ANY, (n, m), rng), sample(ANY, (m, k), rng)],
                lambda c, a, b: alpha * (a @ b) + (beta * c if beta else 0))


@entry("addmv", 3)
def _(draw, rng):
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    beta, alpha = _scaled(draw)
    return Case(lambda c, a, v: c.addmv(a, v, beta=beta, alpha=alpha),
                [sample(ANY, (n,), rng), sample(ANY, (n, m), rng), sample(ANY, (m,), rng)],
                lambda c, a, v: beta * c + alpha * (a @ v))


@entry("addr", 3)
def _(draw, rng):
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    beta, alpha = _scaled(draw)
    return Case(lambda c, u, v: gg.addr(c, u, v, beta=beta, alpha=alpha),
                [sample(ANY, (n, m), rng), sample(ANY, (n,), rng), sample(ANY, (m,), rng)],
                lambda c, u, v: beta * c + alpha * np.outer(u, v))


@entry("baddbmm", 3)
def _(draw, rng):
    b, n, m, k = (draw(st.integers(1, 3)) for _ in range(4))
    beta, alpha = _scaled(draw)
    return Case(lambda c, x, y: c.baddbmm(x, y, beta=beta, alpha=alpha),
                [sample(ANY, (b, n, k), rng), sample(ANY, (b, n, m), rng), sample(ANY, (b, m, k), rng)],
                lambda c, x, y: beta * c + alpha * (x @ y))


@entry("addbmm", 3)
def _(draw, rng):
    b, n, m, k = (draw(st.integers(1, 3)) for _ in range(4))
    beta, alpha = _scaled(draw)
    return Case(lambda c, x, y: gg.addbmm(c, x, y, beta=beta, alpha=alpha),
                [sample(ANY, (n, k), rng), sample(ANY, (b, n, m), rng), sample(ANY, (b, m, k), rng)],
                lambda c, x, y: beta * c + alpha * (x @ y).sum(0))


@entry("dist", 4)
def _(draw, rng):
    a, b = pair(draw)
    p = draw(st.sampled_from([1, 2, 3, 0.5, float("inf"), -float("inf")]))
    x, y = sample(ANY, a, rng), sample(ANY, b, rng)
    def ref(u, v):
        d = np.abs(u - v).reshape(-1)
        return d.max() if p == np.inf else d.min() if p == -np.inf else (d ** p).sum() ** (1 / p)
    return Case(lambda u, v: gg.dist(u, v, p), [x, y], ref)


@entry("cdist", 4)
def _(draw, rng):
    batch = shape(draw, 0, 1)
    rows1, rows2, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p = draw(st.sampled_from([1, 2, 3, 0.5, float("inf")]))
    mode = draw(st.sampled_from(["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                                 "donot_use_mm_for_euclid_dist"]))
    def ref(u, v):
        d = np.abs(u[..., :, None, :] - v[..., None, :, :])
        return d.max(-1) if p == np.inf else (d ** p).sum(-1) ** (1 / p)
    return Case(lambda u, v: gg.cdist(u, v, p, mode),
                [sample(ANY, batch + (rows1, cols), rng), sample(ANY, batch + (rows2, cols), rng)], ref)


# -- torch.diff, repeat_interleave, take_along_dim, tensor_split, searchsorted, bucketize, histc ----------------
@entry("diff:torch", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    n = draw(st.integers(0, 2))
    shp = shp[:dim % len(shp)] + (shp[dim] + 2,) + shp[dim % len(shp) + 1:]
    edge = shp[:dim % len(shp)] + (1,) + shp[dim % len(shp) + 1:]
    return Case(lambda t, p: t.diff(n, dim, prepend=p), [sample(ANY, shp, rng), sample(ANY, edge, rng)],
                lambda a, p: np.diff(a, n, axis=dim, prepend=p))


@entry("repeat_interleave", 3)
def _(draw, rng):
    shp = shape(draw)
    dim, r = axis(draw, len(shp)), draw(st.integers(0, 3))
    return Case(lambda t: gg.repeat_interleave(t, r, dim), [sample(ANY, shp, rng)],
                lambda a: np.repeat(a, r, axis=dim))


@entry("repeat_interleave:tensor", 2)
def _(draw, rng):  # repeats as an eager tensor: its values are read when traced (a constant of the trace)
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    counts = rng.integers(0, 3, shp[dim])
    repeats = gg.tensor(counts)
    return Case(lambda t: t.repeat_interleave(repeats, dim), [sample(ANY, shp, rng)],
                lambda a: np.repeat(a, counts, axis=dim))


@entry("take_along_dim", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp))
    if dim is None:
        index = rng.integers(0, int(np.prod(shp)), (4,))
        return Case(lambda t: gg.take_along_dim(t, gg.tensor(index)), [sample(ANY, shp, rng)],
                    lambda a: np.take_along_axis(a.reshape(-1), index, 0))
    ishp = tuple(draw(st.integers(1, 3)) if i == dim % len(shp) else (1 if draw(st.booleans()) else n)
                 for i, n in enumerate(shp))
    index = rng.integers(0, shp[dim], ishp)
    return Case(lambda t: t.take_along_dim(gg.tensor(index), dim), [sample(ANY, shp, rng)],
                lambda a: np.take_along_axis(a, np.broadcast_to(index, tuple(
                    ishp[i] if i == dim % len(shp) else n for i, n in enumerate(shp))), dim))


@entry("tensor_split", 3)
def _(draw, rng):
    shp = shape(draw, 1, size=5)
    dim = axis(draw, len(shp), none=False)
    how = draw(st.sampled_from([1, 2, 3, [1], [0, 2], [3, 1]]))
    def weigh(parts):
        return sum(((p * p).sum() if hasattr(p, "numpy") or isinstance(p, np.ndarray) else 0) * (k + 1)
                   for k, p in enumerate(parts))
    return Case(lambda t: weigh(gg.tensor_split(t, how, dim)) + 0 * t.sum(), [sample(ANY, shp, rng)],
                lambda a: weigh(np.array_split(a, how, axis=dim)) + 0 * a.sum())


@entry("searchsorted", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw)
    right = draw(st.booleans())
    seq = np.sort(rng.integers(-2, 3, 5)).astype(np.float64)  # ties in the sequence and with the values
    return Case(lambda s, v: gg.searchsorted(s, v, right=right), [seq, rng.integers(-3, 4, shp).astype(np.float64)],
                lambda s, v: np.searchsorted(s, v, side="right" if right else "left"))


@entry("multinomial", 4, FORWARD_ONLY)
def _(draw, rng):
    """Random draws: a generator seeded inside the function gives the eager call and the compiled one (traced, then
    run) the same numbers. Their distribution is tested in tests/runtime/test_multinomial.py."""
    k = draw(st.integers(1, 5))
    replacement = draw(st.booleans())
    n = draw(st.integers(1, 6 if replacement else k))
    shp = (draw(st.integers(1, 3)), k) if draw(st.booleans()) else (k,)
    return Case(lambda w: gg.multinomial(w, n, replacement, generator=gg.Generator().manual_seed(0)),
                [rng.uniform(0.0, 2.0, shp)])


@entry("multinomial:certain", 3, FORWARD_ONLY)
def _(draw, rng):  # one positive weight per row: every draw is its index
    k = draw(st.integers(1, 5))
    rows = draw(st.integers(1, 3))
    n = draw(st.integers(1, 4))
    weights = np.eye(k)[rng.integers(0, k, rows)] * rng.uniform(0.5, 2.0, (rows, 1))
    return Case(lambda w: w.multinomial(n, replacement=True), [weights],
                lambda w: np.repeat(w.argmax(-1)[:, None], n, 1))


@entry("bucketize", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw)
    right = draw(st.booleans())
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    return Case(lambda v: gg.bucketize(v, gg.tensor(edges), right=right), [rng.integers(-2, 3, shp) * 0.5],
                lambda v: np.searchsorted(edges, v, side="right" if right else "left"))


@entry("histc", 3, FORWARD_ONLY)
def _(draw, rng):
    shp = shape(draw, 1, size=5)
    bins = draw(st.integers(1, 6))
    lo, hi = draw(st.sampled_from([(0.0, 0.0), (-1.0, 1.0), (-0.5, 2.0)]))
    def ref(a):
        if lo == hi:
            return np.histogram(a, bins, (a.min(), a.max()) if a.min() < a.max() else (a.min() - 1, a.max() + 1))[0] * 1.0
        return np.histogram(a, bins, (lo, hi))[0] * 1.0  # PyTorch counts in the input dtype
    # values away from the bin edges (NumPy's edges are computed differently from PyTorch's formula)
    return Case(lambda t: gg.histc(t, bins, lo, hi), [rng.integers(-8, 9, shp) / 4 + 1 / 512], ref)


# -- eager-only ops (nonzero, unique, bincount, ...) and masked_select with a concrete mask --------------------
@entry("nonzero", 3, EAGER_ONLY)
def _(draw, rng):
    shp = shape(draw)
    as_tuple = draw(st.booleans())
    x = rng.integers(0, 2, shp).astype(np.float64)
    if as_tuple:
        return Case(lambda t: gg.stack(t.nonzero(as_tuple=True)) if t.ndim else gg.stack(t.nonzero(as_tuple=True)),
                    [x], lambda a: np.stack(np.nonzero(np.atleast_1d(a))))
    return Case(lambda t: gg.nonzero(t), [x], lambda a: np.argwhere(a))


@entry("where:condition", 2, EAGER_ONLY)
def _(draw, rng):
    shp = shape(draw, 1)
    x = rng.integers(0, 2, shp).astype(np.float64)
    return Case(lambda t: gg.stack(gg.where(t > 0)), [x], lambda a: np.stack(np.where(a > 0)))


@entry("unique", 4, EAGER_ONLY)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp))
    x = rng.integers(0, 3, shp).astype(np.float64)
    def ref(a):
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=dim)
        return np.concatenate([values.reshape(-1), inverse.reshape(-1), counts])
    def fn(t):
        values, inverse, counts = t.unique(return_inverse=True, return_counts=True, dim=dim)
        return gg.cat([values.reshape(-1), inverse.reshape(-1).double(), counts.double()])
    return Case(fn, [x], ref)


@entry("unique_consecutive", 3, EAGER_ONLY)
def _(draw, rng):
    n = draw(st.integers(1, 8))
    x = rng.integers(0, 2, n).astype(np.float64)
    def ref(a):
        starts = np.r_[True, a[1:] != a[:-1]]
        return np.concatenate([a[starts], np.cumsum(starts) - 1, np.diff(np.r_[np.flatnonzero(starts), n])])
    def fn(t):
        values, inverse, counts = gg.unique_consecutive(t, return_inverse=True, return_counts=True)
        return gg.cat([values, inverse.double(), counts.double()])
    return Case(fn, [x], ref)


@entry("bincount", 3, EAGER_ONLY)
def _(draw, rng):
    n, minlength = draw(st.integers(0, 6)), draw(st.integers(0, 7))
    counts = rng.integers(0, 5, n)
    weighted = draw(st.booleans())
    if weighted:
        return Case(lambda w: gg.bincount(gg.tensor(counts), w, minlength), [rng.standard_normal(n)],
                    lambda w: np.bincount(counts, w, minlength))
    return Case(lambda t: gg.bincount(t.long(), minlength=minlength), [counts.astype(np.float64)],
                lambda a: np.bincount(a.astype(np.int64), minlength=minlength))


@entry("masked_select", 3)
def _(draw, rng):  # a concrete mask (closed over): the length is known, and the values differentiate
    a, b = pair(draw)
    mask = gg.tensor(rng.integers(0, 2, b).astype(bool))
    return Case(lambda t: gg.masked_select(t, mask) * 2, [sample(ANY, a, rng)],
                lambda x: np.broadcast_to(x, np.broadcast_shapes(a, b))[np.broadcast_to(mask.numpy(), np.broadcast_shapes(a, b))] * 2)


# -- scatter_reduce --------------------------------------------------------------------------------------------
def _np_scatter_reduce(x, dim, index, src, reduce, include_self):
    out = x.copy()
    count = np.full(x.shape, 1 if include_self else 0)
    seen = np.zeros(x.shape, bool)
    for pos in np.ndindex(*index.shape):
        target = pos[:dim] + (index[pos],) + pos[dim + 1:]
        if not include_self and not seen[target]:
            out[target] = src[pos]
        elif reduce in ("sum", "mean"):
            out[target] += src[pos]
        elif reduce == "prod":
            out[target] *= src[pos]
        else:
            out[target] = (max if reduce == "amax" else min)(out[target], src[pos])
        seen[target] = True
        count[target] += 1
    return out / np.maximum(count, 1) if reduce == "mean" else out


def _scatter_reduce_case(reduce):
    def build(draw, rng):
        shp = shape(draw, 1)
        dim = axis(draw, len(shp), none=False) % len(shp)
        include_self = draw(st.booleans())
        ishp = tuple(draw(st.integers(1, 3)) if i == dim else draw(st.integers(1, n)) for i, n in enumerate(shp))
        index = rng.integers(0, shp[dim], ishp)
        domain = AWAY if reduce in ("amax", "amin") else NONZERO if reduce == "prod" else ANY
        total = int(np.prod(shp)) + int(np.prod(ishp))  # distinct values, far apart: no ties of amax/amin
        values = (rng.permutation(total) - total / 2) * 0.37 + rng.uniform(-0.01, 0.01, total) if domain == AWAY \
            else None
        x = values[:int(np.prod(shp))].reshape(shp) if values is not None else sample(domain, shp, rng)
        src = values[int(np.prod(shp)):].reshape(ishp) if values is not None else sample(domain, ishp, rng)
        return Case(lambda t, s: t.scatter_reduce(dim, gg.tensor(index), s, reduce, include_self=include_self),
                    [x, src], lambda t, s: _np_scatter_reduce(t, dim, index, s, reduce, include_self))
    return build


for _reduce in ("sum", "prod", "mean", "amax", "amin"):
    entry(f"scatter_reduce:{_reduce}", 3)(_scatter_reduce_case(_reduce))


# -- PyTorch's take, put, index_fill/copy, masked_scatter, the *_scatter functions, grids, statistics, logit, xlogy,
# nextafter, frexp, Tensor.unfold, ... (tests/ops/test_more_torch_functions.py checks their errors and edge cases) -----
def _ints(values) -> "gg.Tensor":
    return gg.tensor(np.asarray(values, dtype=np.int64))


@entry("take", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    n = int(np.prod(shp))
    i = rng.integers(-n, n, shape(draw, 1, 2))
    return Case(lambda t: t.take(_ints(i)) ** 2, [sample(ANY, shp, rng)], lambda a: np.take(a, i) ** 2)


def _np_put(a, i, s, accumulate):
    out = a.copy().ravel()
    i = np.where(i < 0, i + out.size, i)
    if accumulate:
        np.add.at(out, i, s)
    else:
        out[i] = s  # (NumPy's assignment: the last of repeated indices wins, as PyTorch's CPU kernel)
    return out.reshape(a.shape)


@entry("put", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    n = int(np.prod(shp))
    i = rng.integers(-n, n, draw(st.integers(1, 4)))
    accumulate = draw(st.booleans())
    return Case(lambda t, s: t.put(_ints(i), s * s, accumulate=accumulate) * t, [sample(ANY, shp, rng),
                                                                                  sample(ANY, i.shape, rng)],
                lambda a, s: _np_put(a, i, s * s, accumulate) * a)


@entry("index_fill", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    i = rng.integers(-shp[dim], shp[dim], draw(st.integers(1, 3)))

    def ref(a, v):
        out = a.copy()
        out[(slice(None),) * (dim % len(shp)) + (i,)] = v * v
        return out * a
    return Case(lambda t, v: t.index_fill(dim, _ints(i), v * v) * t, [sample(ANY, shp, rng), sample(ANY, (), rng)],
                ref)


@entry("index_copy", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    i = rng.permutation(shp[dim])[:draw(st.integers(1, shp[dim]))]
    src_shape = tuple(len(i) if k == dim % len(shp) else n for k, n in enumerate(shp))

    def ref(a, s):
        out = a.copy()
        out[(slice(None),) * (dim % len(shp)) + (i,)] = s
        return out * a
    return Case(lambda t, s: gg.index_copy(t, dim, _ints(i), s) * t, [sample(ANY, shp, rng),
                                                                        sample(ANY, src_shape, rng)], ref)


@entry("index_add", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    i = rng.integers(0, shp[dim], draw(st.integers(1, 4)))  # (repeats add up)
    src_shape = tuple(len(i) if k == dim % len(shp) else n for k, n in enumerate(shp))
    alpha = draw(st.sampled_from([1, -2.5]))

    def ref(a, s):
        out = a.copy()
        np.add.at(out, (slice(None),) * (dim % len(shp)) + (i,), alpha * s * s)
        return out * a
    return Case(lambda t, s: t.index_add(dim, _ints(i), s * s, alpha=alpha) * t,
                [sample(ANY, shp, rng), sample(ANY, src_shape, rng)], ref)


def _np_scatter(a, dim, i, s, reduce=None):
    out = a.copy()
    grid = list(np.ix_(*[np.arange(n) for n in i.shape]))
    grid[dim] = i
    s = s if np.ndim(s) == 0 else s[tuple(slice(0, n) for n in i.shape)]
    s = np.broadcast_to(s, i.shape)
    if reduce == "add":
        np.add.at(out, tuple(grid), s)
    elif reduce == "multiply":
        np.multiply.at(out, tuple(grid), s)
    else:  # in order: of repeated positions the last write wins, as PyTorch's CPU kernel
        for k in np.ndindex(i.shape):
            out[tuple(g[k] if g.ndim else g for g in np.broadcast_arrays(*grid))] = s[k]
    return out


@entry("scatter", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False) % len(shp)
    index_shape = tuple(draw(st.integers(1, n)) for n in shp)
    i = rng.integers(0, shp[dim], index_shape)
    src_shape = tuple(n + draw(st.integers(0, 1)) for n in index_shape)  # (only the part the index covers is read)
    kind = draw(st.sampled_from(["src", "value", "add", "multiply"]))
    if kind == "value":
        return Case(lambda t: t.scatter(dim, _ints(i), -1.5) * t, [sample(ANY, shp, rng)],
                    lambda a: _np_scatter(a, dim, i, -1.5) * a)
    reduce = None if kind == "src" else kind
    return Case(lambda t, s: t.scatter(dim, _ints(i), s * s, reduce=reduce) * t,
                [sample(ANY, shp, rng), sample(ANY, src_shape, rng)],
                lambda a, s: _np_scatter(a, dim, i, s * s, reduce) * a)


@entry("index_put", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    k = draw(st.integers(1, len(shp)))  # index tensors for the leading k dimensions, broadcast together
    lead = shape(draw, 1, 2)
    index = [rng.integers(-n, n, lead) for n in shp[:k]]
    accumulate = draw(st.booleans())
    value_shape = (tuple(lead) + tuple(shp[k:]))[draw(st.integers(0, len(lead) + len(shp) - k)):]

    def ref(a, v):
        out = a.copy()
        if accumulate:
            np.add.at(out, tuple(index), v * v)
        else:
            out[tuple(index)] = v * v  # (NumPy's assignment: the last of repeated indices wins)
        return out * a
    return Case(lambda t, v: t.index_put(tuple(_ints(j) for j in index), v * v, accumulate=accumulate) * t,
                [sample(ANY, shp, rng), sample(ANY, value_shape, rng)], ref)


@entry("masked_scatter", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    mask = rng.random(shp) < 0.5
    k = int(mask.sum()) + draw(st.integers(0, 2))

    def ref(a, s):
        out = a.copy()
        out[mask] = s[:mask.sum()]
        return out * a
    return Case(lambda t, s: t.masked_scatter(gg.tensor(mask), s) * t, [sample(ANY, shp, rng),
                                                                          sample(ANY, (max(k, 1),), rng)], ref)


@entry("diagonal_scatter", 3)
def _(draw, rng):
    shp = shape(draw, 2, 3)
    offset = draw(st.integers(-1, 1))
    d1, d2 = draw(st.sampled_from([(0, 1), (1, 0), (-1, 0)]))
    diag_shape = np.zeros(shp).diagonal(offset, d1, d2).shape

    def ref(a, s):
        out = a.copy()
        view = np.diagonal(out, offset, d1, d2)
        view.setflags(write=True)
        view[...] = s
        return out * a
    return Case(lambda t, s: gg.diagonal_scatter(t, s, offset, d1, d2) * t, [sample(ANY, shp, rng),
                                                                              sample(ANY, diag_shape, rng)], ref)


@entry("select_scatter", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    index = draw(st.integers(-shp[dim], shp[dim] - 1))
    part = (slice(None),) * (dim % len(shp)) + (index,)

    def ref(a, s):
        out = a.copy()
        out[part] = s
        return out * a
    return Case(lambda t, s: t.select_scatter(s, dim, index) * t,
                [sample(ANY, shp, rng), sample(ANY, np.zeros(shp)[part].shape, rng)], ref)


@entry("slice_scatter", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    start, step = draw(st.integers(-shp[dim], shp[dim] - 1)), draw(st.integers(1, 2))
    part = (slice(None),) * (dim % len(shp)) + (slice(start, None, step),)

    def ref(a, s):
        out = a.copy()
        out[part] = s
        return out * a
    return Case(lambda t, s: gg.slice_scatter(t, s, dim, start, None, step) * t,
                [sample(ANY, shp, rng), sample(ANY, np.zeros(shp)[part].shape, rng)], ref)


@entry("unfold", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    size, step = draw(st.integers(0, shp[dim])), draw(st.integers(1, 3))
    d = dim % len(shp)

    def ref(a):
        windows = np.lib.stride_tricks.sliding_window_view(a, size, axis=d)
        return windows[(slice(None),) * d + (slice(None, None, step),)] ** 2
    return Case(lambda t: t.unfold(dim, size, step) ** 2, [sample(ANY, shp, rng)], ref)


@entry("msort", 3)
def _(draw, rng):
    return Case(lambda t: t.msort() * t, [sample(AWAY, shape(draw, 1), rng)], lambda a: np.sort(a, 0) * a)


@entry("meshgrid", 3)
def _(draw, rng):
    sizes = shape(draw, 1, 3)
    indexing = draw(st.sampled_from(["ij", "xy"]))

    def weighted(grids):
        return sum(g * (k + 1.0) for k, g in enumerate(grids)) ** 2
    return Case(lambda *ts: weighted(gg.meshgrid(*ts, indexing=indexing)), [sample(ANY, (n,), rng) for n in sizes],
                lambda *a: weighted(np.meshgrid(*a, indexing=indexing)))


@entry("cartesian_prod", 3)
def _(draw, rng):
    sizes = shape(draw, 2, 3)
    return Case(lambda *ts: gg.cartesian_prod(*ts) ** 2, [sample(ANY, (n,), rng) for n in sizes],
                lambda *a: np.stack([g.ravel() for g in np.meshgrid(*a, indexing="ij")], 1) ** 2)


@entry("combinations", 3)
def _(draw, rng):
    import itertools

    n, r, again = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.booleans())
    rows = list((itertools.combinations_with_replacement if again else itertools.combinations)(range(n), r))
    return Case(lambda t: gg.combinations(t, r, again) ** 2, [sample(ANY, (n,), rng)],
                lambda a: a[np.asarray(rows, dtype=np.int64).reshape(-1, r)] ** 2)


@entry("block_diag", 3)
def _(draw, rng):
    shapes = [shape(draw, 0, 2) for _ in range(draw(st.integers(1, 3)))]

    def ref(*arrays):
        blocks = [np.atleast_2d(a) for a in arrays]
        out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)))
        r = c = 0
        for b in blocks:
            out[r:r + b.shape[0], c:c + b.shape[1]] = b
            r, c = r + b.shape[0], c + b.shape[1]
        return out ** 2
    return Case(lambda *ts: gg.block_diag(*ts) ** 2, [sample(ANY, s, rng) for s in shapes], ref)


@entry("vander", 3)
def _(draw, rng):
    n, increasing = draw(st.integers(0, 4)), draw(st.booleans())
    return Case(lambda t: gg.vander(t, n, increasing), [sample(ANY, (draw(st.integers(1, 3)),), rng)],
                lambda a: np.vander(a, n, increasing))


@entry("tril_indices", 2)
def _(draw, rng):
    rows, cols, offset = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(-1, 1))
    return Case(lambda t: t[tuple(gg.tril_indices(rows, cols, offset))] ** 2, [sample(ANY, (rows, cols), rng)],
                lambda a: a[np.tril_indices(rows, offset, cols)] ** 2)


@entry("triu_indices", 2)
def _(draw, rng):
    rows, cols, offset = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(-1, 1))
    return Case(lambda t: t[tuple(gg.triu_indices(rows, cols, offset))] ** 2, [sample(ANY, (rows, cols), rng)],
                lambda a: a[np.triu_indices(rows, offset, cols)] ** 2)


@entry("unravel_index", 3, FORWARD_ONLY)
def _(draw, rng):
    dims = shape(draw, 1)
    flat = rng.integers(0, int(np.prod(dims)), shape(draw)).astype(np.float64)
    return Case(lambda t: gg.stack(gg.unravel_index(t.long(), dims)), [flat],
                lambda a: np.stack(np.unravel_index(a.astype(np.int64), dims)).astype(np.int64))


@entry("cov", 4)
def _(draw, rng):
    shp = shape(draw, 1, 2, 4)
    n = shp[-1]
    correction = draw(st.integers(0, 1))
    weighted = draw(st.booleans()) and n > 1
    if n - correction <= 0:
        correction = 0
    if not weighted:
        return Case(lambda t: gg.cov(t, correction=correction), [sample(ANY, shp, rng)],
                    lambda a: np.cov(a, ddof=correction))
    f = rng.integers(1, 3, n)
    return Case(lambda t, w: gg.cov(t, correction=correction, fweights=_ints(f), aweights=w),
                [sample(ANY, shp, rng), sample(POS, (n,), rng)],
                lambda a, w: np.cov(a, ddof=correction, fweights=f, aweights=w))


@entry("corrcoef", 3)
def _(draw, rng):
    return Case(lambda t: gg.corrcoef(t), [sample(ANY, (draw(st.integers(2, 3)), draw(st.integers(3, 5))), rng)],
                np.corrcoef)


@entry("trapezoid", 4)
def _(draw, rng):
    shp = shape(draw, 1)
    dim = axis(draw, len(shp), none=False)
    if draw(st.booleans()):
        return Case(lambda t, x: gg.trapezoid(t, x, dim=dim), [sample(ANY, shp, rng), sample(ANY, (shp[dim],), rng)],
                    lambda a, x: np.trapezoid(a, x, axis=dim))
    dx = draw(st.sampled_from([1.0, 0.5]))
    return Case(lambda t: gg.trapezoid(t * t, dx=dx, dim=dim), [sample(ANY, shp, rng)],
                lambda a: np.trapezoid(a * a, dx=dx, axis=dim))


@entry("renorm", 3)
def _(draw, rng):
    shp = shape(draw, 2, 3)
    dim = axis(draw, len(shp), none=False)
    p = draw(st.sampled_from([1, 2, 3]))
    d = dim % len(shp)
    others = tuple(k for k in range(len(shp)) if k != d)

    def ref(a):
        norm = (np.abs(a) ** p).sum(others, keepdims=True) ** (1 / p)
        return np.where(norm > 1.0, a * (1.0 / (norm + 1e-7)), a)
    return Case(lambda t: gg.renorm(t, p, dim, 1.0), [sample(ANY, shp, rng)], ref)


def _quiet_chain_matmul(*ms):
    import warnings

    with warnings.catch_warnings():  # (PyTorch's deprecation warning; tests/ops checks it)
        warnings.simplefilter("ignore")
        return gg.chain_matmul(*ms)


@entry("chain_matmul", 3)
def _(draw, rng):
    dims = shape(draw, 2, 4)
    return Case(lambda *ms: _quiet_chain_matmul(*ms), [sample(ANY, (a, b), rng) for a, b in zip(dims, dims[1:])],
                lambda *ms: np.linalg.multi_dot(ms) if len(ms) > 1 else ms[0])


@entry("clamp_min", 3)
def _(draw, rng):
    return Case(lambda t: gg.clamp_min(t, 0.3) * t, [sample(AWAY, shape(draw), rng)], lambda a: np.maximum(a, 0.3) * a)


@entry("clamp_max", 3)
def _(draw, rng):
    return Case(lambda t: t.clamp_max(-0.5) * t, [sample(AWAY, shape(draw), rng)], lambda a: np.minimum(a, -0.5) * a)


@entry("logit", 3)
def _(draw, rng):
    eps = draw(st.sampled_from([None, 0.2]))

    def ref(a):
        p = 0.5 + 0.6 * a if eps is None else np.clip(0.5 + 0.6 * a, eps, 1 - eps)
        return np.log(p / (1 - p)) * a
    domain = UNIT if eps is None else AWAY  # (AWAY: away from the clamp's ends, 0.5 + 0.6 * x = 0.2, 0.8)
    return Case(lambda t: gg.logit(0.5 + 0.6 * t, eps) * t, [sample(domain, shape(draw), rng)], ref)


@entry("xlogy", 3)
def _(draw, rng):
    a, b = pair(draw)
    return Case(lambda x, y: gg.xlogy(x, y), [sample(ANY, a, rng), sample(POS, b, rng)], lambda x, y: x * np.log(y))


@entry("heaviside", 3)
def _(draw, rng):
    shp = shape(draw)
    x = rng.choice([-1.0, 0.0, 2.0], shp)  # zeros happen: the values' gradient goes there
    return Case(lambda t, v: gg.heaviside(t * 0 + gg.tensor(x), v) * t,
                [sample(ANY, shp, rng), sample(ANY, shp, rng)], lambda a, v: np.heaviside(x, v) * a)


@entry("float_power", 3)
def _(draw, rng):
    a, b = pair(draw)
    return Case(lambda x, y: gg.float_power(x, y), [sample(POS, a, rng), sample(ANY, b, rng)], np.float_power)


@entry("sgn", 2)
def _(draw, rng):
    return Case(lambda t: gg.sgn(t) * t * t, [sample(AWAY, shape(draw), rng)], lambda a: np.sign(a) * a * a)


@entry("frac", 2)
def _(draw, rng):  # (away from the integers, where it jumps)
    return Case(lambda t: gg.frac(t) * t, [sample(FRAC, shape(draw), rng)], lambda a: (a - np.trunc(a)) * a)


@entry("clamp_tensor", 3)
def _(draw, rng):  # tensor bounds, broadcast: x, min and max all differentiated (lo < hi, away from x)
    s = shape(draw, lo=1)
    x, lo = sample(AWAY, s, rng), sample(AWAY, s[-1:], rng) * 0.3
    return Case(lambda x, lo, hi: gg.clamp(x, lo, hi) * x, [x, lo, lo + 0.61],
                lambda x, lo, hi: np.clip(x, lo, hi) * x)


@entry("clamp_tensor:one_bound", 2)
def _(draw, rng):
    s = shape(draw, lo=1)
    x, lo = sample(AWAY, s, rng), sample(AWAY, s, rng) * 0.3
    return Case(lambda x, lo: gg.clamp_min(x, lo) * x + gg.clamp(x, max=lo), [x, lo],
                lambda x, lo: np.maximum(x, lo) * x + np.minimum(x, lo))


@entry("nextafter", 3)
def _(draw, rng):
    a, b = pair(draw)
    return Case(lambda x, y: gg.nextafter(x, y) * x, [sample(ANY, a, rng), sample(ANY, b, rng)],
                lambda x, y: np.nextafter(x, y) * x)


@entry("ldexp", 3)
def _(draw, rng):
    a, b = pair(draw)
    return Case(lambda x, e: gg.ldexp(x, e), [sample(ANY, a, rng), sample(ANY, b, rng)], lambda x, e: x * 2.0 ** e)


@entry("frexp", 3)
def _(draw, rng):
    return Case(lambda t: gg.frexp(3 * t).mantissa * t, [sample(NONZERO, shape(draw), rng)],
                lambda a: np.frexp(3 * a)[0] * a)


# -- PyTorch's copysign, clone, broadcast_tensors, sum_to_size, cumulative_trapezoid, fill_diagonal_; the integer
# ops gcd, lcm, << and >>; isin; argwhere (eager only) ------------------------------------------------------------
@entry("copysign", 3)
def _(draw, rng):
    a, b = pair(draw)  # (x away from 0, where the gradient jumps)
    return Case(lambda x, y: gg.copysign(x, y) * x, [sample(NONZERO, a, rng), sample(ANY, b, rng)],
                lambda x, y: np.copysign(x, y) * x)


@entry("copysign:number", 2)
def _(draw, rng):
    sign = draw(st.sampled_from([-0.0, 2.0, -1.5]))
    return Case(lambda x: x.copysign(sign) * x, [sample(NONZERO, shape(draw), rng)], lambda x: np.copysign(x, sign) * x)


@entry("clone", 2)
def _(draw, rng):
    return Case(lambda t: gg.clone(t) * t, [sample(ANY, shape(draw), rng)], lambda a: a * a)


@entry("broadcast_tensors", 3)
def _(draw, rng):
    a, b = pair(draw)
    def ref(x, y):
        u, v = np.broadcast_arrays(x, y)
        return u * v + u
    def fn(x, y):
        u, v = gg.broadcast_tensors(x, y)
        return u * v + u
    return Case(fn, [sample(ANY, a, rng), sample(ANY, b, rng)], ref)


@entry("sum_to_size", 3)
def _(draw, rng):
    shp = shape(draw, 1)
    target = broadcast_partner(draw, shp)
    target = target[len(target) - len(shp):] if len(target) > len(shp) else target  # (no new leading axis)
    def ref(a):
        lead = a.ndim - len(target)
        out = a.sum(axis=tuple(range(lead))) if lead else a
        keep = tuple(i for i, n in enumerate(target) if n == 1 and out.shape[i] != 1)
        return (out.sum(axis=keep, keepdims=True) if keep else out) ** 2
    return Case(lambda t: t.sum_to_size(target) ** 2, [sample(ANY, shp, rng)], ref)


def _cumulative_trapezoid(a, x=None, dx=1.0, axis=-1):
    a = np.moveaxis(a, axis, -1)
    steps = np.diff(x) if x is not None else dx
    return np.moveaxis(np.cumsum((a[..., 1:] + a[..., :-1]) * steps / 2, axis=-1), -1, axis)


@entry("cumulative_trapezoid", 4)
def _(draw, rng):
    shp = list(shape(draw, 1))
    dim = axis(draw, len(shp), none=False)
    shp[dim] += 1  # (two samples at least: an interval)
    shp = tuple(shp)
    if draw(st.booleans()):
        return Case(lambda t, x: gg.cumulative_trapezoid(t, x, dim=dim),
                    [sample(ANY, shp, rng), sample(ANY, (shp[dim],), rng)],
                    lambda a, x: _cumulative_trapezoid(a, x, axis=dim))
    dx = draw(st.sampled_from([1.0, 0.5]))
    return Case(lambda t: gg.cumulative_trapezoid(t * t, dx=dx, dim=dim), [sample(ANY, shp, rng)],
                lambda a: _cumulative_trapezoid(a * a, dx=dx, axis=dim))


@entry("fill_diagonal_", 3)
def _(draw, rng):
    shp = draw(st.sampled_from([(3, 3), (5, 2), (2, 4), (1, 3), (2, 2, 2)]))
    wrap = draw(st.booleans())
    def ref(a):
        b = a.copy()
        np.fill_diagonal(b, 0.5, wrap=wrap)  # (NumPy's wrap is PyTorch's)
        return b * a
    return Case(lambda t: (t * 1).fill_diagonal_(0.5, wrap=wrap) * t, [sample(ANY, shp, rng)], ref)


def _small_ints(rng, shp, lo: int = -12, hi: int = 13) -> np.ndarray:
    return rng.integers(lo, hi, shp).astype(np.float64)


for _op in ("gcd", "lcm"):
    def _integer_pair(draw, rng, _op=_op):
        a, b = pair(draw)
        return Case(lambda t, u: getattr(gg, _op)(t.long(), u.long()), [_small_ints(rng, a), _small_ints(rng, b)],
                    lambda x, y: getattr(np, _op)(x.astype(np.int64), y.astype(np.int64)))
    entry(_op, 3, FORWARD_ONLY)(_integer_pair)

for _op, _np_op, _symbol in (("bitwise_left_shift", np.left_shift, operator.lshift),
                             ("bitwise_right_shift", np.right_shift, operator.rshift)):
    def _shift(draw, rng, _op=_op, _np_op=_np_op):
        a, b = pair(draw)
        counts = rng.integers(0, 70, b).astype(np.float64)  # (counts of 64 and more too: 0, or -1 shifted right)
        return Case(lambda t, u: getattr(gg, _op)(t.long(), u.long()), [_small_ints(rng, a, -100, 101), counts],
                    lambda x, y: _np_op(x.astype(np.int64), y.astype(np.int64)))
    entry(_op, 3, FORWARD_ONLY)(_shift)
    entry(f"{_op}:operator", 2, FORWARD_ONLY)(
        lambda draw, rng, _symbol=_symbol, _np_op=_np_op: Case(
            lambda t: _symbol(t.long(), 3), [_small_ints(rng, shape(draw), -100, 101)],
            lambda x: _np_op(x.astype(np.int64), 3)))


@entry("isin", 3, FORWARD_ONLY)
def _(draw, rng):
    invert = draw(st.booleans())
    x, y = _small_ints(rng, shape(draw), -3, 4), _small_ints(rng, shape(draw), -3, 4)
    return Case(lambda t, u: gg.isin(t, u, invert=invert), [x, y], lambda a, b: np.isin(a, b, invert=invert))


@entry("argwhere", 3, EAGER_ONLY)
def _(draw, rng):
    return Case(lambda t: gg.argwhere(t), [rng.integers(0, 2, shape(draw)).astype(np.float64)], np.argwhere)


# ``fused`` is made by the fusion pass after differentiation, for code generation only: no user code calls it,
# so it has no entry (tests/codegen/test_fusion.py and test_cupy_fusion.py test it).
NOT_OPS = {"fused"}
# The eigenvalues of a general matrix are complex, and graphgrad has no complex dtypes: these names exist only to
# refuse, saying what to use instead (test_refused_names_say_what_to_use).
REFUSED = {"eig", "eigvals"}


# -- the checks ---------------------------------------------------------------------------------------------
def _ops(graph: Graph) -> set:
    found = set()
    for node in graph.nodes:
        found.add(node.op)
        for attr in node.attrs.values():
            if isinstance(attr, Graph):
                found |= _ops(attr)
    return found


def _forward(name: str, case: Case, compiled, exact: bool) -> None:
    """Eager and compiled values agree, and equal NumPy's where NumPy has the function."""
    arrays = case.arrays
    eager = case.fn(*[gg.tensor(a, dtype=gg.float64) for a in arrays])
    inputs = tensors(arrays)
    got = compiled(*inputs)
    for k, (t, a) in enumerate(zip(inputs, arrays)):  # generated code writes in place only into its own buffers
        np.testing.assert_array_equal(t.detach().numpy(), a, err_msg=f"{name}: the compiled call changed input {k}")
    assert tuple(got.shape) == tuple(eager.shape) and got.dtype == eager.dtype, name
    tol = 0 if exact else 1e-12
    np.testing.assert_allclose(got.detach().numpy(), eager.numpy(), rtol=tol, atol=tol, err_msg=f"{name}: compiled")
    if case.numpy is not None:
        expected = np.asarray(case.numpy(*[np.array(a) for a in arrays]))
        assert tuple(eager.shape) == expected.shape, f"{name}: shape {tuple(eager.shape)} != NumPy's {expected.shape}"
        if exact or case.numpy_dtype:
            assert eager.numpy().dtype == expected.dtype, f"{name}: dtype {eager.dtype} != NumPy's {expected.dtype}"
        np.testing.assert_allclose(eager.numpy(), expected, rtol=tol, atol=tol, err_msg=f"{name}: vs NumPy")


def _exercised(name: str, compiled, arrays, stages) -> None:
    op = name.split(":")[0]
    if op not in OPS:
        return
    ts = tensors(arrays)
    found = set().union(*(_ops(compiled.graph(*ts, stage=s)) for s in stages))
    assert op in found, f"the grid entry {name!r} does not exercise the primitive {op!r} (found {sorted(found)})"


def check(name: str, case: Case, rng) -> None:
    compiled = gg.compile(case.fn)
    _forward(name, case, compiled, exact=False)
    _exercised(name, compiled, case.arrays, ("traced", "adjoint"))
    eager_first_order(case.fn, case.arrays)
    assert gradcheck(compiled, tensors(case.arrays))  # the generated backward, through .backward()
    compiled_first_order(case.fn, case.arrays, rng)
    if case.second_order:
        eager_second_order(case.fn, case.arrays)
        compiled_second_order(case.fn, case.arrays, rng, argnums=tuple(range(len(case.arrays))))


def _run(table: dict, name: str, checker) -> None:
    build, examples = table[name]

    @prop_settings(examples)
    @given(data=st.data())
    def run(data):
        rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16), label="seed"))
        case = build(data.draw, rng)
        case.arrays = [np.asarray(a, dtype=np.float64) for a in case.arrays]  # 0-d: arrays, not NumPy scalars
        checker(name, case, rng)

    run()


@pytest.mark.parametrize("name", sorted(GRID))
def test_op(name):
    _run(GRID, name, check)


def check_forward_only(name: str, case: Case, rng) -> None:
    compiled = gg.compile(case.fn)
    _forward(name, case, compiled, exact=True)
    _exercised(name, compiled, case.arrays, ("traced",))


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
def test_op_without_gradient(name):
    _run(FORWARD_ONLY, name, check_forward_only)


def check_eager_only(name: str, case: Case, rng) -> None:
    eager = case.fn(*[gg.tensor(a, dtype=gg.float64) for a in case.arrays])
    expected = np.asarray(case.numpy(*[np.array(a) for a in case.arrays]))
    assert tuple(eager.shape) == expected.shape, f"{name}: shape {tuple(eager.shape)} != NumPy's {expected.shape}"
    np.testing.assert_array_equal(eager.numpy(), expected, err_msg=f"{name}: vs NumPy")
    with pytest.raises(TracerError, match=name.split(":")[0] + ".*inside a compiled function"):
        gg.compile(case.fn)(*tensors(case.arrays))


@pytest.mark.parametrize("name", sorted(EAGER_ONLY))
def test_eager_only_op(name):
    _run(EAGER_ONLY, name, check_eager_only)


def test_every_registry_op_has_a_grid_entry():
    """A new op (a primitive, or a public composite ``graphgrad ops`` lists) must get a grid entry."""
    covered = {name.split(":")[0] for name in list(GRID) + list(FORWARD_ONLY) + list(EAGER_ONLY)}
    registry = (set(OPS) | set(NAMES)) - NOT_OPS - REFUSED
    assert sorted(registry - covered) == []
    assert not set(GRID) & set(FORWARD_ONLY)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_names_say_what_to_use(name):
    with pytest.raises(NotImplementedError, match="complex.*eigh"):
        getattr(gnp.linalg, name)(gg.tensor(np.eye(2)))
    with pytest.raises(NotImplementedError, match="complex.*eigh"):
        getattr(gg.linalg, name)(gg.tensor(np.eye(2)))
