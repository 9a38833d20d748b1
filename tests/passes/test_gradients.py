"""Every primitive, first and second order, eager and compiled, against float64 finite differences;
eager and compiled must agree to 1e-12."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.numpy as gnp

from _gradcheck import ANY, AWAY, GT1, POS, UNIT, compiled_first_order, compiled_second_order, eager_first_order, \
    eager_second_order, sample

# name -> (function of tensors, input shapes, domain of its inputs)

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
    "conv2d_stride_1_padded": (lambda x, w: F.conv2d(x, w, padding=(1, 2)) ** 2, [(2, 2, 4, 3), (3, 2, 3, 2)], ANY),
    "conv2d_stride_1_dilated_padded": (lambda x, w: F.conv2d(x, w, padding=1, dilation=(1, 2)), [(1, 2, 3, 4),
                                                                                                (2, 2, 2, 2)], ANY),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2) ** 2, [(1, 2, 4, 4)], ANY),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=1, padding=1) * x, [(1, 1, 3, 3)], ANY),
    # NumPy's elementwise functions
    "sinh": (lambda x: gnp.sinh(x), [(2, 3)], ANY),
    "cosh": (lambda x: gnp.cosh(x), [(2, 3)], ANY),
    "arcsin": (lambda x: gnp.arcsin(x), [(4,)], UNIT),
    "arccos": (lambda x: x.acos(), [(4,)], UNIT),
    "arctan": (lambda x: gnp.arctan(x), [(4,)], ANY),
    "arcsinh": (lambda x: gnp.arcsinh(x), [(4,)], ANY),
    "arccosh": (lambda x: gnp.arccosh(x), [(4,)], GT1),
    "arctanh": (lambda x: x.atanh(), [(4,)], UNIT),
    "exp2": (lambda x: gnp.exp2(x), [(4,)], ANY),
    "log2": (lambda x: gnp.log2(x), [(4,)], POS),
    "log10": (lambda x: gnp.log10(x), [(4,)], POS),
    "cbrt": (lambda x: gnp.cbrt(x), [(4,)], AWAY),
    "floor_ceil_trunc_round": (lambda x: (gnp.floor(x) + gnp.ceil(x) + gnp.trunc(x) + gnp.round(x, 1)) * x,
                               [(5,)], AWAY),
    "arctan2": (lambda y, x: gnp.arctan2(y, x), [(3, 2), (2,)], AWAY),
    "hypot": (lambda x, y: gnp.hypot(x, y), [(4,), (4,)], AWAY),
    "logaddexp": (lambda x, y: gnp.logaddexp(x, y), [(3,), (2, 3)], ANY),
    "logaddexp2": (lambda x, y: gnp.logaddexp2(x, y), [(3,), (3,)], ANY),
    "fmax": (lambda x, y: gnp.fmax(x, y) * x, [(4,), (4,)], AWAY),
    "fmin": (lambda x, y: gnp.fmin(x, y) * y, [(4,), (4,)], AWAY),
    "remainder": (lambda x, y: x % y + gnp.mod(x * 3.0, y), [(4,), (4,)], POS),
    "fmod": (lambda x, y: gnp.fmod(x * 5.0 - 5.0, y), [(4,), (4,)], POS),
    "sinc": (lambda x: gnp.sinc(x), [(5,)], ANY),
    "nan_to_num": (lambda x: gnp.nan_to_num(x * x), [(3,)], ANY),
    "deg2rad_rad2deg_fabs": (lambda x: gnp.deg2rad(x) * gnp.rad2deg(x) + gnp.fabs(x), [(3,)], AWAY),
    # NumPy's shape functions
    "swapaxes_moveaxis_rollaxis": (lambda x: gnp.swapaxes(x, 0, 2) * gnp.moveaxis(x, [0, 1], [2, 0]).sum()
                                   + gnp.rollaxis(x, 2) ** 2, [(2, 2, 2)], ANY),
    "vstack_hstack": (lambda x, y: gnp.vstack([x, y * y]) * gnp.hstack([x, y]) [None, :3], [(3,), (3,)], ANY),
    "dstack_column_stack": (lambda x, y: gnp.dstack([x, y]).sum() * gnp.column_stack([x, y ** 2]), [(3,), (3,)],
                            ANY),
    "atleast_nd": (lambda x: gnp.atleast_3d(x) * gnp.atleast_2d(x).sum() + gnp.atleast_1d(x.sum()), [(2,)], ANY),
    "array_split_hsplit": (lambda x: gnp.array_split(x, 2, axis=1)[0] ** 2 * gnp.hsplit(x, [2])[1].sum(),
                           [(2, 3)], ANY),
    "numpy_repeat": (lambda x: gnp.repeat(x, 2, axis=0) * gnp.repeat(x, [0, 2, 1], axis=1).sum(), [(2, 3)], ANY),
    "rot90_append": (lambda x: gnp.rot90(x) ** 2 + gnp.append(x, [1.0, 2.0])[-1] * gnp.rot90(x, 3), [(2, 3)], ANY),
    # NumPy's products, matrix parts, sort and diff
    "tensordot": (lambda x, y: gnp.tensordot(x, y, ([1, 2], [1, 0])), [(2, 3, 2), (2, 3, 2)], ANY),
    "inner_kron": (lambda x, y: gnp.inner(x, y).sum() * gnp.kron(x, y), [(2, 2), (2, 2)], ANY),
    "cross": (lambda x, y: gnp.cross(x, y), [(2, 3), (3,)], ANY),
    "diagonal_trace": (lambda x: gnp.diagonal(x, 1) * gnp.trace(x, -1), [(3, 4)], ANY),
    "diag": (lambda x: gnp.diag(x, -1) ** 2 + gnp.diag(gnp.diag(x)).sum(), [(3,)], ANY),
    "tril_triu": (lambda x: gnp.tril(x) * gnp.triu(x, 1).sum() + gnp.triu(x) ** 2, [(2, 3, 3)], ANY),
    "sort": (lambda x: gnp.sort(x, axis=0) * gnp.sort(x, axis=None)[-1], [(3, 2)], AWAY),
    "diff": (lambda x: gnp.diff(x, 2, axis=0, prepend=1.5) * gnp.diff(x)[0].sum(), [(3, 3)], ANY),
    "linalg_matrix_norms": (lambda x: gnp.linalg.norm(x, 1) * gnp.linalg.norm(x, -np.inf) + gnp.linalg.norm(x, "fro"),
                            [(3, 3)], AWAY),
    "prod_with_zeros": (lambda x: (x * gg.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=gg.float64)).prod(dim=1)
                        + x.prod(), [(2, 3)], ANY),
    "cumprod": (lambda x: gnp.cumprod(x, axis=1) * gnp.cumprod(x[0]).sum(), [(2, 5)], ANY),
    "cumprod_with_zeros": (lambda x: gnp.cumprod(x * gg.tensor([1.0, 0.0, 1.0, 1.0], dtype=gg.float64)) + x.cumprod(0),
                           [(4,)], ANY),
    "at_set_add": (lambda x, v: x.at[0].set(v[0] * v[1]).at[1:].add(v * x[0]) ** 2, [(3, 2), (2,)], ANY),
    # numpy.linalg (well-conditioned inputs: a diagonal shift; symmetric positive definite for cholesky)
    "linalg_inv": (lambda x: gnp.linalg.inv(x + 3.0 * gg.eye(3, dtype=gg.float64)), [(2, 3, 3)], ANY),
    "linalg_solve": (lambda x, y: gnp.linalg.solve(x + 3.0 * gg.eye(3, dtype=gg.float64), y), [(3, 3), (3, 2)], ANY),
    "linalg_solve_vector": (lambda x, y: gnp.linalg.solve(x + 3.0 * gg.eye(3, dtype=gg.float64), y), [(3, 3), (3,)],
                            ANY),
    "linalg_cholesky": (lambda x: gnp.linalg.cholesky(x @ x.mT + 2.0 * gg.eye(3, dtype=gg.float64)), [(3, 3)], ANY),
    "linalg_det_slogdet": (lambda x: gnp.linalg.det(x + 3.0 * gg.eye(3, dtype=gg.float64))
                           + gnp.linalg.slogdet(x - 3.0 * gg.eye(3, dtype=gg.float64)).logabsdet, [(3, 3)], ANY),
    "xlogy": (lambda x, y: gg.xlogy(x, y), [(2, 3), (3,)], POS),
    "nextafter": (lambda x, y: gg.nextafter(x, y) * x, [(4,), (4,)], ANY),
    "unfold": (lambda x: x.unfold(1, 3, 2) ** 2, [(2, 7)], ANY),
    "erfc": (lambda x: gg.erfc(x) * x, [(2, 3)], ANY),
    "lgamma": (lambda x: (x * 2).lgamma(), [(2, 3)], POS),
    "digamma": (lambda x: gg.digamma(x), [(4,)], POS),
    "polygamma": (lambda x: gg.polygamma(2, x), [(4,)], POS),
    "erfinv": (lambda x: gg.erfinv(x), [(2, 2)], UNIT),
    "i0": (lambda x: gg.i0(x * 3), [(5,)], ANY),
    "i1": (lambda x: gg.special.i1(x * 3), [(5,)], ANY),
    "mvlgamma": (lambda x: gg.mvlgamma(x + 1, 3), [(2, 2)], POS),
    "copysign": (lambda x, y: gg.copysign(x, y) * x, [(2, 3), (3,)], AWAY),
}


def inputs_for(name, rng):
    fn, shapes, kind = CASES[name]
    return fn, [sample(kind, s, rng) for s in shapes]


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_first_order(name, rng):
    eager_first_order(*inputs_for(name, rng))


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_second_order(name, rng):
    eager_second_order(*inputs_for(name, rng))


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_matches_eager_and_finite_differences(name, rng):
    compiled_first_order(*inputs_for(name, rng), rng)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_second_order(name, rng):
    """grad of (a scalar function of) grad: the adjoint is IR, so it can be differentiated again."""
    compiled_second_order(*inputs_for(name, rng), rng)


def test_every_primitive_has_rule_and_expression():
    from graphgrad.codegen.expressions import EXPRESSIONS
    from graphgrad.ir.registry import OPS
    from graphgrad.codegen.python import BLOCKS
    from graphgrad.passes.adjoint import STRUCTURED
    from graphgrad.passes.vjp_rules import VJP_RULES

    # control flow (cond, scan, while) differentiates and emits itself; ``get`` reads its tuple
    # ``fused`` is made after differentiation, for code generation only (passes/fusion.py)
    assert sorted(set(OPS) - set(VJP_RULES) - set(STRUCTURED)) == ["fused", "get"]
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
