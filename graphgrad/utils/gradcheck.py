"""Check gradients against central finite differences (use float64 inputs)."""
from __future__ import annotations

import numpy as np

from ..runtime.autograd import grad as autograd_grad
from ..runtime.tensor import Tensor


def numerical_jacobian(fn, inputs: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """d fn(*inputs) / d inputs[k], shaped (out.size, inputs[k].size), by central differences."""
    base = np.asarray(fn(*inputs), dtype=np.float64)
    jacobians = []
    for k, x in enumerate(inputs):
        jac = np.zeros((base.size, x.size))
        for i in range(x.size):
            plus, minus = [a.copy() for a in inputs], [a.copy() for a in inputs]
            plus[k].flat[i] += eps
            minus[k].flat[i] -= eps
            jac[:, i] = (np.asarray(fn(*plus)) - np.asarray(fn(*minus))).ravel() / (2 * eps)
        jacobians.append(jac)
    return jacobians


def _analytic_jacobian(fn, tensors: list[Tensor], create_graph: bool = False) -> list[np.ndarray]:
    out = fn(*tensors)
    rows = [np.zeros((out.numel(), t.numel())) for t in tensors]
    if not out.requires_grad:  # constant in every input
        return rows
    for i in range(out.numel()):
        seed = np.zeros(out.shape, dtype=out._data.dtype)
        seed.flat[i] = 1.0
        grads = autograd_grad(out, tensors, Tensor._wrap(seed), retain_graph=True, allow_unused=True)
        for k, g in enumerate(grads):
            rows[k][i] = 0.0 if g is None else g._data.ravel()
    return rows


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """True if eager autograd's Jacobian of ``fn`` matches finite differences; raises otherwise.

    >>> import graphgrad as gg
    >>> from graphgrad.utils import gradcheck
    >>> gradcheck(lambda x: (x * x).sum(), [gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)])
    True
    """
    tensors = [t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t, dtype=np.float64), True) for t in inputs]
    arrays = [t._data.astype(np.float64) for t in tensors]

    def numeric(*arrays):
        return fn(*[Tensor._wrap(a, True) for a in arrays])._data

    expected = numerical_jacobian(numeric, arrays, eps)
    actual = _analytic_jacobian(fn, tensors)
    for k, (a, e) in enumerate(zip(actual, expected)):
        if not np.allclose(a, e, atol=atol, rtol=rtol):
            raise AssertionError(f"Jacobian mismatch for input {k}:\nanalytic\n{a}\nnumerical\n{e}")
    return True


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Check second derivatives: the gradient of ``<grad fn, u>`` against finite differences of it."""
    tensors = [t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t, dtype=np.float64), True) for t in inputs]
    rng = np.random.default_rng(seed)
    out_shape = fn(*tensors).shape
    v = Tensor._wrap(rng.standard_normal(out_shape))

    def first(*xs):
        out = fn(*xs)
        gs = autograd_grad(out, list(xs), v, create_graph=True, allow_unused=True, materialize_grads=True)
        total = (gs[0] * gs[0]).sum()
        for g in gs[1:]:
            total = total + (g * g).sum()
        return total

    return gradcheck(first, tensors, eps, atol, rtol)
