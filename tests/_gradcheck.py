"""The gradient checks every op test shares: input domains, their sampler, and the eager and compiled checks
(first and second order against float64 finite differences, eager and compiled agreeing to 1e-12).

Used by tests/passes/test_gradients.py, tests/ops/test_torch_face_ops.py, tests/properties/test_op_grid.py and
the ``check_gradients`` fixture of tests/conftest.py (pytest puts tests/ on ``sys.path`` for its conftest).
"""
from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck, numerical_jacobian

# input domains: values drawn inside them, away from the op's kinks and singularities
ANY = "any"          # standard normal
POS = "pos"          # [0.5, 2]: log, sqrt, a pow base
SMALL = "small"      # [-1, 1]: tan
UNIT = "unit"        # [-0.8, 0.8]: inside (-1, 1), away from its ends (arcsin, arctanh)
GT1 = "gt1"          # [1.2, 3]: arccosh
NONZERO = "nonzero"  # |x| in [0.3, 2], either sign: reciprocal, cbrt, a divisor
AWAY = "away"        # distinct values, away from 0, +-0.5 and 0.3 (kinks, ties and the thresholds tests use)
FRAC = "frac"        # k + [0.15, 0.35] or k + [0.65, 0.85]: floor, ceil, round, trunc are smooth there


def sample(kind: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A float64 array of ``shape`` inside domain ``kind``."""
    return np.asarray(_sample(kind, shape, rng), dtype=np.float64)


def _sample(kind: str, shape: tuple, rng: np.random.Generator):
    if kind == POS:
        return rng.uniform(0.5, 2.0, shape)
    if kind == SMALL:
        return rng.uniform(-1.0, 1.0, shape)
    if kind == UNIT:
        return rng.uniform(-0.8, 0.8, shape)
    if kind == GT1:
        return rng.uniform(1.2, 3.0, shape)
    if kind == NONZERO:
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if kind == FRAC:
        return rng.integers(-3, 3, shape) + rng.uniform(0.15, 0.35, shape) + 0.5 * rng.integers(0, 2, shape)
    if kind == AWAY:
        vals = rng.permutation(np.linspace(-1.9, 1.9, 48))[:int(np.prod(shape))]
        vals = np.where(np.abs(np.abs(vals) - 0.5) < 0.1, vals + 0.2, vals)
        vals = np.where(np.abs(vals - 0.3) < 0.1, vals + 0.25, vals)
        # a little noise: no exact ties across inputs
        return (vals + rng.uniform(-0.01, 0.01, vals.shape)).reshape(shape)
    assert kind == ANY, kind
    return rng.standard_normal(shape)


def tensors(arrays) -> list:
    """Leaf float64 tensors requiring grad, one per array."""
    return [gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64, requires_grad=True) for a in arrays]


def _close(got, expected, rtol: float, atol: float, what: str) -> None:
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what)


def eager_first_order(fn, arrays) -> None:
    assert gradcheck(fn, tensors(arrays))


def eager_second_order(fn, arrays, atol: float = 1e-4, rtol: float = 1e-3) -> None:
    assert gradgradcheck(fn, tensors(arrays), atol=atol, rtol=rtol)


def _scalarized(fn, arrays, rng):
    """<fn, v> for a random cotangent v, so that every output element counts; fn itself if it is a scalar
    (autograph converts the control flow of the function it is given, not of the functions that calls)."""
    shape = fn(*tensors(arrays)).shape
    if shape == ():
        return fn
    v = gg.tensor(rng.standard_normal(shape), dtype=gg.float64)
    return lambda *xs: (fn(*xs) * v).sum()


def compiled_first_order(fn, arrays, rng) -> None:
    """``gg.value_and_grad`` of <fn, v>: value and gradients equal eager's to 1e-12 and finite differences'."""
    scalar = _scalarized(fn, arrays, rng)
    value, compiled = gg.value_and_grad(scalar, tuple(range(len(arrays))))(*arrays)
    ts = tensors(arrays)
    eager_value = scalar(*ts)
    eager = gg.autograd.grad(eager_value, ts, allow_unused=True, materialize_grads=True)
    assert abs(float(value) - eager_value.item()) <= 1e-12 * max(1.0, abs(eager_value.item()))
    numeric = numerical_jacobian(lambda *a: np.asarray(float(scalar(*[gg.tensor(x) for x in a]).item())), arrays)
    for k, (c, e, n) in enumerate(zip(compiled, eager, numeric)):
        assert isinstance(c, np.ndarray) or np.ndim(c) == 0
        _close(c, e.detach().numpy(), 1e-12, 1e-12, f"compiled vs eager gradient of input {k}")
        _close(c.ravel(), n.ravel(), 1e-5, 1e-6, f"compiled vs finite-difference gradient of input {k}")


def compiled_second_order(fn, arrays, rng, argnums=(0,), eager_rtol: float | None = 1e-10) -> None:
    """``gg.grad`` of <gg.grad(<fn, v>), w>, all in generated code: against finite differences, and against
    eager double backward (``create_graph=True``) to ``eager_rtol`` (None: not against eager)."""
    scalar = _scalarized(fn, arrays, rng)
    w = [rng.standard_normal(np.shape(arrays[k])) for k in argnums]
    first = gg.grad(scalar, argnums=argnums)

    def gdot(*xs):
        gs = first(*xs)
        gs = gs if isinstance(gs, tuple) else (gs,)
        total = (gs[0] * w[0]).sum()
        for g, wk in zip(gs[1:], w[1:]):
            total = total + (g * wk).sum()
        return total

    compiled = gg.grad(gdot, argnums=argnums)(*arrays)
    compiled = compiled if isinstance(compiled, tuple) else (compiled,)
    numeric = numerical_jacobian(lambda *a: np.asarray(float(gdot(*a))), list(arrays))
    ts = tensors(arrays)
    firsts = gg.autograd.grad(scalar(*ts), [ts[k] for k in argnums], create_graph=True, allow_unused=True,
                              materialize_grads=True)
    total = sum(((g * gg.tensor(wk)).sum() for g, wk in zip(firsts, w)), gg.tensor(0.0, dtype=gg.float64))
    if total.requires_grad:
        eager = gg.autograd.grad(total, [ts[k] for k in argnums], allow_unused=True, materialize_grads=True)
        eager = [e.detach().numpy() for e in eager]
    else:  # the first derivative is constant (as PyTorch, eager records no graph for it)
        eager = [np.zeros(np.shape(arrays[k])) for k in argnums]
    for k, c, e in zip(argnums, compiled, eager):
        _close(np.ravel(c), numeric[k].ravel(), 1e-4, 1e-5, f"compiled vs finite-difference Hessian, input {k}")
        if eager_rtol is not None:
            _close(c, e, eager_rtol, 1e-12, f"compiled vs eager second order, input {k}")


def check_gradients(f, args, second_order: bool = True):
    """f: scalar function of float64 arrays. Eager and compiled (``.backward()``, ``gg.grad``, ``gg.grad`` of a
    function of ``gg.grad``) against finite differences, first and second order, and against each other.
    Returns the compiled function."""
    args = [np.asarray(a, dtype=np.float64) for a in args]
    n = len(args)
    eager_first_order(f, args)
    if second_order:
        eager_second_order(f, args, atol=1e-5, rtol=1e-4)
    compiled = gg.compile(f)
    eager_value = f(*tensors(args))
    assert np.allclose(compiled(*tensors(args)).detach().numpy(), eager_value.detach().numpy())
    assert gradcheck(compiled, tensors(args))  # the generated backward, through .backward()
    grads = gg.grad(f, argnums=tuple(range(n)))(*args)
    numeric = numerical_jacobian(lambda *a: compiled(*a), args)
    for g, num, a in zip(grads, numeric, args):
        assert np.allclose(g, num.reshape(a.shape), atol=1e-5, rtol=1e-4)
    if second_order:  # grad of a function of the gradient: the adjoint of the adjoint
        # (not against eager: a traced loop index is an int64 tensor, so ``0.1 * i`` is float32 there, as in
        # PyTorch, and a Python float eagerly)
        compiled_second_order(f, args, np.random.default_rng(7), argnums=tuple(range(n)), eager_rtol=None)
    return compiled
