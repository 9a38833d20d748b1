"""PyTorch's ``lerp``, ``addmm``/``addmv``/``addr``/``baddbmm``/``addbmm``, ``dist`` and ``cdist``: values against
NumPy, PyTorch's special cases (lerp exact at weight 1, beta = 0 not reading the input, cdist's matrix-product
route) and error texts. Finite-difference gradients: tests/properties/test_op_grid.py."""
import numpy as np
import pytest

import graphgrad as gg


def t(a, **kw):
    return gg.tensor(np.asarray(a, dtype=np.float64), **kw)


def test_lerp_uses_pytorchs_two_sided_formula():
    a, b = t([0.1, 1e20, -3.0]), t([0.7, 1.0, 5.0])
    np.testing.assert_array_equal(gg.lerp(a, b, 1.0).numpy(), b.numpy())  # a + 1 * (b - a) loses b = 1 next to 1e20
    w = t([0.25, 0.75, 1.0])
    expected = np.where(np.abs(w.numpy()) < 0.5, a.numpy() + w.numpy() * (b.numpy() - a.numpy()),
                        b.numpy() - (b.numpy() - a.numpy()) * (1 - w.numpy()))
    np.testing.assert_array_equal(a.lerp(b, w).numpy(), expected)
    with pytest.raises(RuntimeError, match="expected dtype float for `end` but got dtype double"):
        gg.lerp(gg.ones(2), t([1.0, 2.0]), 0.5)


def test_lerp_gradients():
    a, b, w = t([1.0, 2.0], requires_grad=True), t([3.0, -1.0], requires_grad=True), t([0.2, 0.9], requires_grad=True)
    gg.lerp(a, b, w).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.8, 0.1])
    np.testing.assert_allclose(b.grad.numpy(), [0.2, 0.9])
    np.testing.assert_allclose(w.grad.numpy(), [2.0, -3.0])


def test_addmm_family_values_and_beta_zero():
    rng = np.random.default_rng(0)
    c, a, b = rng.standard_normal((2, 4)), rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(gg.addmm(t(c), t(a), t(b), beta=0.5, alpha=2).numpy(), 0.5 * c + 2 * a @ b)
    np.testing.assert_allclose(t(c[0]).addmm(t(a), t(b)).numpy(), c[0] + a @ b)
    got = gg.addmm(t([[np.nan, np.inf]]), t([[1.0]]), t([[2.0, 3.0]]), beta=0)
    np.testing.assert_array_equal(got.numpy(), [[2.0, 3.0]])  # beta = 0: the input is not read
    np.testing.assert_allclose(gg.addmv(t(c[:, 0]), t(a), t(b[:, 0]), alpha=3).numpy(), c[:, 0] + 3 * a @ b[:, 0])
    np.testing.assert_allclose(gg.addr(t(c), t(a[:, 0]), t(b[0])).numpy(), c + np.outer(a[:, 0], b[0]))
    x, y = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 3, 4))
    np.testing.assert_allclose(gg.baddbmm(t(c), t(x), t(y), beta=2).numpy(), 2 * c + x @ y)
    np.testing.assert_allclose(t(c).addbmm(t(x), t(y)).numpy(), c + (x @ y).sum(0))
    with pytest.raises(RuntimeError, match="mat1 must be a matrix, got 1-D tensor"):
        gg.addmm(t(c), t([1.0, 2.0]), t(b))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x4\)"):
        gg.addmm(t(c), t(a), t(c))
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(3\)"):
        gg.addmm(t(a), t(a), t(b))
    compiled = gg.compile(lambda u, v, w: gg.addmm(u, v, w, beta=0.5))
    np.testing.assert_allclose(compiled(t(c), t(a), t(b)).numpy(), 0.5 * c + a @ b)


@pytest.mark.parametrize("p", [0, 1, 2, 3, 0.5, float("inf"), -float("inf")])
def test_dist_is_the_p_norm_of_the_difference(p):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    d = np.abs(a - b).reshape(-1)
    expected = {0: np.count_nonzero(d), np.inf: d.max(), -np.inf: d.min()}.get(p, (d ** p).sum() ** (1 / p) if p else 0)
    np.testing.assert_allclose(gg.dist(t(a), t(b), p).numpy(), expected)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                                  "donot_use_mm_for_euclid_dist"])
def test_cdist_values_both_routes_and_zero_gradient_at_zero_distance(mode):
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 30, 3)), rng.standard_normal((2, 4, 3))
    expected = np.sqrt(((x1[:, :, None] - x2[:, None]) ** 2).sum(-1))
    np.testing.assert_allclose(gg.cdist(t(x1), t(x2), compute_mode=mode).numpy(), expected, rtol=1e-10)
    x = t(x2[0], requires_grad=True)
    gg.cdist(x, x, compute_mode=mode).sum().backward()  # the diagonal is 0: its terms give 0, not nan
    v = x2[0]
    diff = v[:, None] - v[None]
    d = np.sqrt((diff ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(x.grad.numpy(), 2 * (diff / d[..., None]).sum(1), rtol=1e-6)


def test_cdist_errors():
    with pytest.raises(RuntimeError, match="cdist only supports at least 2D tensors, X1 got: 1D"):
        gg.cdist(t([1.0]), t([[1.0]]))
    with pytest.raises(RuntimeError, match="X1 and X2 must have the same number of columns. X1: 2 X2: 3"):
        gg.cdist(t([[1.0, 2.0]]), t([[1.0, 2.0, 3.0]]))
    with pytest.raises(RuntimeError, match="cdist only supports non-negative p values"):
        gg.cdist(t([[1.0]]), t([[1.0]]), p=-1)
