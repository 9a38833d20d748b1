"""Every op over a grid of shapes and axes drawn by hypothesis (issue 8 section 4).

Each case is checked three ways: first- and second-order gradients against finite differences in float64,
eagerly (``gradcheck`` / ``gradgradcheck``) and compiled (``gg.compile`` through ``.backward()`` for first
order, ``gg.grad`` of a function of ``gg.grad`` for second, as compiled double backward is refused); and the
NumPy face's forward value on plain ndarrays against NumPy's own to 1e-12.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck, numerical_jacobian

from _gg_hypothesis import prop_settings

# per-op input domains: values drawn inside them, away from kinks and singularities
ANY = (-2.0, 2.0)
POS = (0.3, 2.0)
UNIT = (-0.8, 0.8)
ABOVE1 = (1.2, 3.0)
NONZERO = "nonzero"  # |x| in [0.3, 2], either sign

UNARY = {
    "exp": ANY, "exp2": ANY, "expm1": ANY, "sin": ANY, "cos": ANY, "tan": (-1.2, 1.2), "tanh": ANY,
    "sinh": ANY, "cosh": ANY, "log": POS, "log2": POS, "log10": POS, "log1p": (-0.7, 2.0), "sqrt": POS,
    "cbrt": NONZERO, "square": ANY, "reciprocal": NONZERO, "arcsin": UNIT, "arccos": UNIT, "arctan": ANY,
    "arcsinh": ANY, "arccosh": ABOVE1, "arctanh": UNIT, "abs": NONZERO, "negative": ANY, "sinc": NONZERO,
}
BINARY = {  # name: (domain of a, domain of b)
    "add": (ANY, ANY), "subtract": (ANY, ANY), "multiply": (ANY, ANY), "divide": (ANY, NONZERO),
    "power": (POS, ANY), "maximum": (ANY, ANY), "minimum": (ANY, ANY), "fmax": (ANY, ANY), "fmin": (ANY, ANY),
    "arctan2": (ANY, NONZERO), "hypot": (NONZERO, NONZERO), "logaddexp": (ANY, ANY), "logaddexp2": (ANY, ANY),
}
REDUCTIONS = ["sum", "mean", "max", "min", "prod", "var", "std"]
AXIS_OPS = ["cumsum", "cumprod", "flip", "sort"]  # one axis, no keepdims

shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


def _values(rng, shape, domain):
    if domain == NONZERO:
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.uniform(*domain, shape)


def _broadcast_partner(draw, shape):
    """A shape that broadcasts against ``shape``: a suffix of it, with some sizes set to 1."""
    k = draw(st.integers(0, len(shape)))
    suffix = shape[len(shape) - k:]
    return tuple(1 if draw(st.booleans()) else n for n in suffix)


def _t(a):
    return gg.tensor(a, dtype=gg.float64, requires_grad=True)


def _check(torch_fn, numpy_fn, gg_numpy_fn, arrays):
    """torch_fn: the op on Tensors. numpy_fn / gg_numpy_fn: NumPy's op and graphgrad.numpy's, on ndarrays."""
    # the NumPy face on plain arrays is NumPy
    expected = numpy_fn(*arrays)
    got = gg_numpy_fn(*arrays)
    assert np.asarray(got).shape == np.shape(expected)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)
    # eager, first and second order
    assert gradcheck(torch_fn, [_t(a) for a in arrays])
    assert gradgradcheck(torch_fn, [_t(a) for a in arrays])
    # compiled: value, then the generated backward through .backward()
    compiled = gg.compile(torch_fn)
    np.testing.assert_allclose(compiled(*[_t(a) for a in arrays]).detach().numpy(),
                               torch_fn(*[_t(a) for a in arrays]).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(compiled, [_t(a) for a in arrays])
    # compiled second order: the gradient of <grad f, u>, all in generated code
    n = len(arrays)
    u = np.random.default_rng(3).standard_normal(np.shape(expected))
    w = [np.random.default_rng(4 + k).standard_normal(np.shape(a)) for k, a in enumerate(arrays)]

    def gdot(*xs):
        gs = gg.grad(lambda *ys: (gg_numpy_fn(*ys) * u).sum(), argnums=tuple(range(n)))(*xs)
        total = (gs[0] * w[0]).sum()
        for g, wk in zip(gs[1:], w[1:]):
            total = total + (g * wk).sum()
        return total

    hess = gg.grad(gdot, argnums=tuple(range(n)))(*arrays)
    numeric = numerical_jacobian(lambda *xs: np.asarray(gdot(*xs)), [np.array(a, dtype=np.float64) for a in arrays])
    for h, num, a in zip(hess, numeric, arrays):
        np.testing.assert_allclose(np.asarray(h), num.reshape(np.shape(a)), atol=1e-5, rtol=1e-4)


@prop_settings(40)
@given(name=st.sampled_from(sorted(UNARY)), shape=shapes, seed=st.integers(0, 2**16))
def test_unary(name, shape, seed):
    x = _values(np.random.default_rng(seed), shape, UNARY[name])
    fn = getattr(gnp, name)
    _check(fn, getattr(np, name), fn, [x])


@prop_settings(30)
@given(name=st.sampled_from(sorted(BINARY)), data=st.data(), seed=st.integers(0, 2**16))
def test_binary_broadcasting(name, data, seed):
    shape = data.draw(shapes)
    other = _broadcast_partner(data.draw, shape)
    a_shape, b_shape = (shape, other) if data.draw(st.booleans()) else (other, shape)
    rng = np.random.default_rng(seed)
    a, b = _values(rng, a_shape, BINARY[name][0]), _values(rng, b_shape, BINARY[name][1])
    fn = getattr(gnp, name)
    _check(fn, getattr(np, name), fn, [a, b])


@prop_settings(30)
@given(name=st.sampled_from(REDUCTIONS), data=st.data(), seed=st.integers(0, 2**16))
def test_reduction_over_every_axis(name, data, seed):
    shape = data.draw(shapes)
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)) if ndim else st.none())
    keepdims = data.draw(st.booleans())
    x = np.random.default_rng(seed).uniform(0.5, 2.0, shape)  # prod's gradient is smooth away from 0
    if name == "std":  # std's gradient is singular where all values are equal: keep them apart
        x = x + np.arange(x.size).reshape(shape)
    fn = getattr(gnp, name)

    def op(t):
        return fn(t, axis=axis, keepdims=keepdims)

    _check(op, lambda a: getattr(np, name)(a, axis=axis, keepdims=keepdims), op, [x])


@prop_settings(20)
@given(name=st.sampled_from(AXIS_OPS), data=st.data(), seed=st.integers(0, 2**16))
def test_along_axis(name, data, seed):
    shape = data.draw(shapes.filter(len))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).uniform(0.5, 2.0, shape) + np.arange(int(np.prod(shape))).reshape(shape)
    x = np.random.default_rng(seed).permutation(x.ravel()).reshape(shape)  # distinct values: sort is smooth
    fn = getattr(gnp, name)

    def op(t):
        return fn(t, axis=axis)

    _check(op, lambda a: getattr(np, name)(a, axis=axis), op, [x])


SHAPE_OPS = ["reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "roll",
             "broadcast_to", "tile", "repeat", "concatenate", "stack"]




@prop_settings(30)
@given(name=st.sampled_from(SHAPE_OPS), data=st.data(), seed=st.integers(0, 2**16))
def test_shape_ops(name, data, seed):
    shape = data.draw(shapes)
    ndim = len(shape)
    draw = data.draw
    some_axis = (lambda: draw(st.integers(-ndim, ndim - 1))) if ndim else (lambda: None)
    if name == "reshape":
        new = (-1,) + (1,) * draw(st.integers(0, 2))
        op = lambda m, a: m.reshape(a, new)  # noqa: E731
    elif name == "ravel":
        op = lambda m, a: m.ravel(a)  # noqa: E731
    elif name == "transpose":
        perm = tuple(draw(st.permutations(range(ndim))))
        op = lambda m, a: m.transpose(a, perm)  # noqa: E731
    elif name in ("swapaxes", "moveaxis"):
        if not ndim:
            shape, ndim = (2,), 1
            some_axis = lambda: draw(st.integers(-1, 0))  # noqa: E731
        i, j = some_axis(), some_axis()
        op = lambda m, a: getattr(m, name)(a, i, j)  # noqa: E731
    elif name == "expand_dims":
        ax = draw(st.integers(-ndim - 1, ndim))
        op = lambda m, a: m.expand_dims(a, ax)  # noqa: E731
    elif name == "squeeze":
        shape = tuple(draw(st.sampled_from([1, n])) for n in shape)
        ones = [k for k, n in enumerate(shape) if n == 1]
        ax = draw(st.sampled_from(ones)) - (ndim if draw(st.booleans()) else 0) if ones else None
        op = lambda m, a: m.squeeze(a, axis=ax)  # noqa: E731
    elif name == "roll":
        shift, ax = draw(st.integers(-3, 3)), (some_axis() if draw(st.booleans()) else None)
        op = lambda m, a: m.roll(a, shift, axis=ax)  # noqa: E731
    elif name == "broadcast_to":
        target = (draw(st.integers(1, 3)),) + tuple(draw(st.sampled_from([n, 2])) if n == 1 else n for n in shape)
        op = lambda m, a: m.broadcast_to(a, target)  # noqa: E731
    elif name == "tile":
        reps = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 3))))
        op = lambda m, a: m.tile(a, reps)  # noqa: E731
    elif name == "repeat":
        reps, ax = draw(st.integers(1, 3)), (some_axis() if draw(st.booleans()) else None)
        op = lambda m, a: m.repeat(a, reps, axis=ax)  # noqa: E731
    elif name == "concatenate":
        if not ndim:
            shape, ndim = (2,), 1
        ax = draw(st.integers(-ndim, ndim - 1))
        op = lambda m, a: m.concatenate([a, a * 2.0], axis=ax)  # noqa: E731
    else:  # stack
        ax = draw(st.integers(-ndim - 1, ndim))
        op = lambda m, a: m.stack([a, a * 2.0], axis=ax)  # noqa: E731
    x = np.random.default_rng(seed).standard_normal(shape)
    _check(lambda t: op(gnp, t), lambda a: op(np, a), lambda a: op(gnp, a), [x])
