"""Every primitive, first and second order, eager and compiled, against float64 finite differences;
eager and compiled must agree to 1e-12."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck, numerical_jacobian

# name -> (function of tensors, input shapes, sampler for inputs)
POS = "pos"    # strictly positive inputs (log, sqrt, pow base)
ANY = "any"
AWAY = "away"  # bounded away from kinks/ties (relu, abs, max, comparisons)

CASES = {
    "add_broadcast": (lambda x, y: x + y, [(3, 4), (4,)], ANY),
    "sub_broadcast": (lambda x, y: x - y, [(3, 1), (1, 4)], ANY),
    "mul": (lambda x, y: x * y, [(2, 3), (2, 3)], ANY),
    "mul_scalar": (lambda x: 2.5 * x * -1.5, [(3,)], ANY),
    "div": (lambda x, y: x / y, [(3, 2), (2,)], POS),
    "rdiv_scalar": (lambda x: 1.0 / x, [(4,)], POS),
    "pow_scalar": (lambda x: x ** 3, [(2, 2)], ANY),
    "pow_tensor": (lambda x, y: x ** y, [(3,), (3,)], POS),
    "rpow": (lambda x: 2.0 ** x, [(3,)], ANY),
    "neg": (lambda x: -x, [(3,)], ANY),
    "exp": (lambda x: x.exp(), [(2, 3)], ANY),
    "log": (lambda x: x.log(), [(2, 3)], POS),
    "log1p": (lambda x: x.log1p(), [(2, 3)], POS),
    "expm1": (lambda x: x.expm1(), [(2, 3)], ANY),
    "sin": (lambda x: x.sin(), [(4,)], ANY),
    "cos": (lambda x: x.cos(), [(4,)], ANY),
    "tanh": (lambda x: x.tanh(), [(4,)], ANY),
    "sigmoid": (lambda x: x.sigmoid(), [(4,)], ANY),
    "relu": (lambda x: x.relu() * x, [(5,)], AWAY),
    "sqrt": (lambda x: x.sqrt(), [(4,)], POS),
    "abs": (lambda x: x.abs() * x, [(5,)], AWAY),
    "maximum": (lambda x, y: gg.maximum(x, y) * x, [(4,), (4,)], AWAY),
    "minimum": (lambda x, y: gg.minimum(x, y) * y, [(4,), (4,)], AWAY),
    "clamp": (lambda x: x.clamp(-0.5, 0.5) * x, [(6,)], AWAY),
    "where": (lambda x, y: gg.where(x > y, x * x, y * 3.0), [(5,), (5,)], AWAY),
    "sum_all": (lambda x: (x * x).sum(), [(2, 3)], ANY),
    "sum_dim": (lambda x: (x * x).sum(dim=1), [(2, 3)], ANY),
    "sum_keepdim": (lambda x: (x * x).sum(dim=0, keepdim=True), [(2, 3)], ANY),
    "mean_dims": (lambda x: (x * x).mean(dim=(0, 2)), [(2, 3, 2)], ANY),
    "sum_negative_dim": (lambda x: (x * x).sum(-1), [(2, 3)], ANY),
    "mean_negative_dims": (lambda x: (x * x).mean(dim=(-1, 0)), [(2, 3, 2)], ANY),
    "max_all": (lambda x: x.max() * x.max(), [(2, 3)], AWAY),
    "max_dim": (lambda x: x.max(dim=1).values ** 2, [(3, 4)], AWAY),
    "amin_keepdim": (lambda x: x.amin(dim=0, keepdim=True) ** 2, [(3, 4)], AWAY),
    "prod": (lambda x: x.prod(dim=1), [(2, 3)], POS),
    "logsumexp": (lambda x: x.logsumexp(dim=1), [(2, 4)], ANY),
    "max_negative_dim": (lambda x: x.max(dim=-1).values ** 2, [(3, 4)], AWAY),
    "softmax_negative_dim": (lambda x: x.log_softmax(dim=-1) * x, [(3, 2)], ANY),
    "softmax": (lambda x: x.softmax(dim=1) ** 2, [(2, 4)], ANY),
    "log_softmax": (lambda x: x.log_softmax(dim=0) * x, [(3, 2)], ANY),
    "matmul_2d": (lambda x, y: x @ y, [(2, 3), (3, 4)], ANY),
    "matmul_batched": (lambda x, y: x @ y, [(2, 2, 3), (3, 2)], ANY),
    "matmul_vec": (lambda x, y: x @ y, [(2, 3), (3,)], ANY),
    "matmul_vecmat": (lambda x, y: x @ y, [(3,), (3, 2)], ANY),
    "matmul_dot": (lambda x, y: x @ y, [(3,), (3,)], ANY),
    "reshape": (lambda x: x.reshape(3, 2) ** 2, [(2, 3)], ANY),
    "transpose": (lambda x: x.transpose(0, 1) ** 2, [(2, 3)], ANY),
    "permute": (lambda x: x.permute(2, 0, 1) * 2.0, [(2, 3, 2)], ANY),
    "T": (lambda x: (x.T @ x), [(3, 2)], ANY),
    "expand": (lambda x: x.expand(3, 4) ** 2, [(3, 1)], ANY),
    "squeeze_unsqueeze": (lambda x: x.unsqueeze(0).squeeze(0) ** 2, [(3,)], ANY),
    "flatten": (lambda x: x.flatten() ** 2, [(2, 3)], ANY),
    "slice": (lambda x: x[1:, ::2] ** 2, [(3, 4)], ANY),
    "select": (lambda x: x[1] ** 2, [(3, 4)], ANY),
    "index_array": (lambda x: x[[0, 2, 0]] ** 2, [(3, 2)], ANY),
    "gather_rows": (lambda x: x[gg.tensor([[0, 2], [2, 2]])] ** 2, [(3, 2)], ANY),
    "index_none_ellipsis": (lambda x: x[None, ..., 1] ** 2, [(2, 3)], ANY),
    "cat": (lambda x, y: gg.cat([x, y * y], dim=1), [(2, 2), (2, 3)], ANY),
    "stack": (lambda x, y: gg.stack([x, y], dim=0) ** 2, [(3,), (3,)], ANY),
    "cast_from_bool": (lambda x: (x > 0).double() * x ** 2, [(4,)], AWAY),
    "norm": (lambda x: x.norm(), [(2, 3)], AWAY),
    "norm_dim_l1": (lambda x: x.norm(p=1, dim=1) * x.sum(), [(2, 3)], AWAY),
    "var_std": (lambda x: x.var(dim=0) + x.std(), [(3, 2)], ANY),
    "fanout": (lambda x: x * x.exp() + x.sin() * x, [(3,)], ANY),
    "conv2d": (lambda x, w: F.conv2d(x, w, stride=2, padding=1) ** 2, [(1, 2, 5, 4), (3, 2, 3, 2)], ANY),
    "conv2d_dilated": (lambda x, w: F.conv2d(x, w, dilation=2), [(2, 1, 5, 5), (2, 1, 2, 2)], ANY),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2) ** 2, [(1, 2, 4, 4)], ANY),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=1, padding=1) * x, [(1, 1, 3, 3)], ANY),
}


def sample(kind, shape, rng):
    if kind == POS:
        return rng.uniform(0.5, 2.0, shape)
    if kind == AWAY:  # distinct values well away from 0 and from +-0.5
        vals = rng.permutation(np.linspace(-1.9, 1.9, 48))[:int(np.prod(shape))]
        vals = np.where(np.abs(np.abs(vals) - 0.5) < 0.1, vals + 0.2, vals)
        return (vals + rng.uniform(-0.01, 0.01, vals.shape)).reshape(shape)  # no exact ties across inputs
    return rng.standard_normal(shape)


def inputs_for(name, rng):
    fn, shapes, kind = CASES[name]
    return fn, [sample(kind, s, rng) for s in shapes]


def tensors(arrays):
    return [gg.tensor(a, dtype=gg.float64, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_first_order(name, rng):
    fn, arrays = inputs_for(name, rng)
    assert gradcheck(fn, tensors(arrays))


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_second_order(name, rng):
    fn, arrays = inputs_for(name, rng)
    assert gradgradcheck(fn, tensors(arrays), atol=1e-4, rtol=1e-3)


def _scalarized(fn, v):
    return lambda *xs: (fn(*xs) * v).sum()


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_matches_eager_and_finite_differences(name, rng):
    fn, arrays = inputs_for(name, rng)
    out_shape = fn(*tensors(arrays)).shape
    v = rng.standard_normal(out_shape)
    scalar = _scalarized(fn, gg.tensor(v, dtype=gg.float64))
    argnums = tuple(range(len(arrays)))
    value, compiled_grads = gg.value_and_grad(scalar, argnums)(*arrays)
    ts = tensors(arrays)
    eager_value = scalar(*ts)
    eager_grads = gg.autograd.grad(eager_value, ts)
    assert abs(float(value) - eager_value.item()) <= 1e-12 * max(1.0, abs(eager_value.item()))
    for c, e in zip(compiled_grads, eager_grads):
        assert isinstance(c, np.ndarray)
        np.testing.assert_allclose(c, e.detach().numpy(), rtol=1e-12, atol=1e-12)
    numeric = numerical_jacobian(lambda *a: np.asarray(float(scalar(*[gg.tensor(x) for x in a]).item())), arrays)
    for c, n in zip(compiled_grads, numeric):
        np.testing.assert_allclose(c.ravel(), n.ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_second_order(name, rng):
    """grad of (a scalar function of) grad: the adjoint is IR, so it can be differentiated again."""
    fn, arrays = inputs_for(name, rng)
    v = gg.tensor(rng.standard_normal(fn(*tensors(arrays)).shape), dtype=gg.float64)
    scalar = _scalarized(fn, v)
    first = gg.grad(scalar, argnums=0)

    def grad_norm(*xs):
        g = first(*xs)
        return (g * g).sum()

    compiled = gg.grad(grad_norm, argnums=0)(*arrays)
    numeric = numerical_jacobian(lambda *a: np.asarray(float(grad_norm(*[gg.tensor(x) for x in a]).item())),
                                 arrays)[0]
    np.testing.assert_allclose(compiled.ravel(), numeric.ravel(), rtol=1e-4, atol=1e-5)
    # and eager second order agrees with compiled to 1e-12
    ts = tensors(arrays)
    (g,) = gg.autograd.grad(scalar(*ts), ts[0], create_graph=True)
    if g.requires_grad:
        (second,) = gg.autograd.grad((g * g).sum(), ts[0], allow_unused=True, materialize_grads=True)
        second = second.detach().numpy()
    else:  # the first derivative is constant (as PyTorch, eager records no graph for it)
        second = np.zeros_like(arrays[0])
    np.testing.assert_allclose(compiled, second, rtol=1e-12, atol=1e-12)


def test_every_primitive_has_rule_and_expression():
    from graphgrad.codegen.expressions import EXPRESSIONS
    from graphgrad.ir.registry import OPS
    from graphgrad.codegen.python import BLOCKS
    from graphgrad.passes.adjoint import STRUCTURED
    from graphgrad.passes.vjp_rules import VJP_RULES

    # control flow (cond, scan, while) differentiates and emits itself; ``get`` reads its tuple
    assert sorted(set(OPS) - set(VJP_RULES) - set(STRUCTURED)) == ["get"]
    assert sorted(set(OPS) - set(EXPRESSIONS) - set(BLOCKS)) == ["get"]


def test_missing_rule_is_an_error_not_a_zero():
    from graphgrad.passes import vjp_rules

    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    saved = vjp_rules.VJP_RULES.pop("exp")
    try:
        with pytest.raises(NotImplementedError, match="no gradient rule for primitive 'exp'"):
            gg.grad(lambda t: t.exp().sum())(np.array([1.0]))
    finally:
        vjp_rules.VJP_RULES["exp"] = saved
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
