"""torch.linalg.lstsq (``gg.linalg.lstsq``, ``pinv(A) @ B``): values against NumPy's
``lstsq``/``pinv``/``svd``/``matrix_rank`` per matrix, the fields PyTorch 2.13's CPU drivers return, gradients
against float64 finite differences (first and second order, eager and compiled), and PyTorch's errors."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer.tracer import TracerError

rng = np.random.default_rng(0)


def _t(a, grad=False):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64, requires_grad=grad)


# -- lstsq: values -------------------------------------------------------------------------------------------
SHAPES = [  # (A, B): tall, square, wide; a vector B; batches, broadcast batches
    ((5, 3), (5, 2)), ((3, 3), (3, 2)), ((3, 5), (3, 2)), ((5, 3), (5,)), ((3, 5), (3,)),
    ((2, 5, 3), (2, 5, 4)), ((2, 3, 5), (2, 3)), ((1, 5, 3), (3, 5, 2)), ((2, 1, 4, 3), (1, 3, 4, 1)),
]


@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
@pytest.mark.parametrize("dtype", [gg.float64, gg.float32])
def test_lstsq_solution_and_fields_of_the_default_driver(a_shape, b_shape, dtype):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    A, B = gg.tensor(a, dtype=dtype), gg.tensor(b, dtype=dtype)
    result = gg.linalg.lstsq(A, B)
    assert type(result).__name__ == "linalg_lstsq" and result._fields == (
        "solution", "residuals", "rank", "singular_values")
    vector = len(b_shape) == len(a_shape) - 1
    cols = b[..., None] if vector else b
    batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-1 if vector else -2])
    a_all = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    b_all = np.broadcast_to(cols, batch + cols.shape[-2:]).reshape((-1,) + cols.shape[-2:])
    want = np.stack([np.linalg.lstsq(x, y, rcond=None)[0] for x, y in zip(a_all, b_all)])
    want = want.reshape(batch + want.shape[-2:])
    want = want[..., 0] if vector else want
    tol = 1e-12 if dtype == gg.float64 else 1e-4
    np.testing.assert_allclose(result.solution.numpy(), want, rtol=tol, atol=tol)
    assert result.solution.dtype == dtype
    # PyTorch 2.13's gelsy: the rank per matrix of A (A's batch, not the broadcast one), empty residuals and
    # singular values of A's dtype
    assert tuple(result.rank.shape) == a_shape[:-2] and result.rank.dtype == gg.int64
    np.testing.assert_array_equal(result.rank.numpy(), np.linalg.matrix_rank(a))
    for empty in (result.residuals, result.singular_values):
        assert tuple(empty.shape) == (0,) and empty.dtype == dtype


@pytest.mark.parametrize("driver", ["gels", "gelsd", "gelss"])
def test_lstsq_fields_of_the_other_drivers(driver):
    a, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    result = gg.linalg.lstsq(_t(a), _t(b), driver=driver)
    residuals = [np.linalg.lstsq(x, y, rcond=None)[1] for x, y in zip(a, b)]
    np.testing.assert_allclose(result.residuals.numpy(), residuals, rtol=1e-10)  # tall: every driver's
    if driver == "gels":  # PyTorch 2.13: gels computes no rank (an empty int64 tensor) nor singular values
        assert tuple(result.rank.shape) == (0,) and result.rank.dtype == gg.int64
        assert tuple(result.singular_values.shape) == (0,)
    else:
        np.testing.assert_array_equal(result.rank.numpy(), [3, 3])
        np.testing.assert_allclose(result.singular_values.numpy(), np.linalg.svd(a, compute_uv=False), rtol=1e-12)
        assert not result.singular_values.requires_grad
    # a vector B: residuals keep their column, (batch, 1), as PyTorch's
    assert tuple(gg.linalg.lstsq(_t(a), _t(b[..., 0]), driver=driver).residuals.shape) == (2, 1)
    # square and wide matrices have no residuals
    assert tuple(gg.linalg.lstsq(_t(a[:, :3]), _t(b[:, :3]), driver=driver).residuals.shape) == (0,)
    # gelsd and gelss give residuals only when every matrix has full rank (PyTorch's, NumPy's too)
    deficient = a.copy()
    deficient[1, :, 2] = deficient[1, :, 0]
    result = gg.linalg.lstsq(_t(deficient), _t(b), driver=driver)
    assert tuple(result.residuals.shape) == ((2, 4) if driver == "gels" else (0,))


def test_lstsq_rank_deficient_gives_the_least_norm_solution():
    a = np.ones((5, 3))  # rank 1
    b = rng.standard_normal((5, 2))
    result = gg.linalg.lstsq(_t(a), _t(b))
    np.testing.assert_allclose(result.solution.numpy(), np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-12)
    assert result.rank.item() == 1
    # rcond sets the rank: singular values 1 and 1e-5, cut below 1e-4 (PyTorch gelsy: rank 1, solution [1, 0])
    a = np.array([[1.0, 0.0], [0.0, 1e-5], [0.0, 0.0]])
    assert gg.linalg.lstsq(_t(a), _t(np.ones((3, 1))), rcond=1e-4).solution.numpy().ravel().tolist() == [1.0, 0.0]
    assert gg.linalg.lstsq(_t(a), _t(np.ones((3, 1))), rcond=1e-4).rank.item() == 1
    assert gg.linalg.lstsq(_t(a), _t(np.ones((3, 1)))).rank.item() == 2
    zero = gg.linalg.lstsq(gg.zeros(3, 2), gg.ones(3, 1))
    assert zero.solution.tolist() == [[0.0], [0.0]] and zero.rank.item() == 0


# -- lstsq: gradients ------------------------------------------------------------------------------------------
GRAD_SHAPES = [((4, 3), (4, 2)), ((3, 3), (3,)), ((2, 4), (2, 3)), ((2, 4, 2), (2, 4)), ((1, 3, 4), (2, 3, 1))]


@pytest.mark.parametrize("a_shape, b_shape", GRAD_SHAPES)
def test_lstsq_gradients_against_finite_differences(a_shape, b_shape, check_gradients):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    w = rng.standard_normal(gg.linalg.lstsq(_t(a), _t(b)).solution.shape)
    check_gradients(lambda x, y: (gg.linalg.lstsq(x, y).solution * _t(w)).sum(), [a, b])


def test_lstsq_residual_gradients_and_orthonormal_columns(check_gradients):
    a = np.linalg.qr(rng.standard_normal((5, 3)))[0]  # repeated singular values (all 1)
    b = rng.standard_normal((5, 2))
    check_gradients(lambda x, y: gg.linalg.lstsq(x, y, driver="gels").residuals.sum()
                    + gg.linalg.lstsq(x, y).solution.pow(2).sum(), [a, b])


def test_lstsq_compiled_equals_eager():
    a, b = rng.standard_normal((3, 5, 3)), rng.standard_normal((3, 5, 2))

    def f(x, y):
        r = gg.linalg.lstsq(x, y)
        return r.solution, r.rank

    eager = f(_t(a), _t(b))
    compiled = gg.compile(f)(_t(a), _t(b))
    np.testing.assert_allclose(compiled[0].numpy(), eager[0].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(compiled[1].numpy(), eager[1].numpy())
    # gels's residuals in a compiled function; gelsd's (empty unless full rank) are refused there
    g = gg.compile(lambda x, y: gg.linalg.lstsq(x, y, driver="gels").residuals)
    np.testing.assert_allclose(g(_t(a), _t(b)).numpy(), gg.linalg.lstsq(_t(a), _t(b), driver="gels").residuals.numpy(),
                               rtol=1e-12)
    with pytest.raises(TracerError, match=r"linalg.lstsq\(driver='gelsd'\) inside a compiled function.*gels"):
        gg.compile(lambda x, y: gg.linalg.lstsq(x, y, driver="gelsd").residuals)(_t(a), _t(b))
    # wide matrices have no residuals: nothing depends on the rank, so gelsd compiles
    h = gg.compile(lambda x, y: gg.linalg.lstsq(x, y, driver="gelsd").singular_values)
    np.testing.assert_allclose(h(_t(a[:, :2]), _t(b[:, :2])).numpy(), np.linalg.svd(a[:, :2], compute_uv=False))


# -- lstsq: PyTorch's errors ---------------------------------------------------------------------------------
ERRORS = [  # PyTorch 2.13's messages (RuntimeError each)
    (lambda: gg.linalg.lstsq(gg.ones(3), gg.ones(3)), "torch.linalg.lstsq: input must have at least 2 dimensions."),
    (lambda: gg.linalg.lstsq(gg.ones(3, 2), gg.tensor(1.0)),
     "torch.linalg.lstsq: other must have at least 1 dimension."),
    (lambda: gg.linalg.lstsq(gg.ones(3, 2), gg.ones(3, 1, dtype=gg.float64)),
     "torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's dtype Float and other's "
     "dtype Double"),
    (lambda: gg.linalg.lstsq(gg.ones(3, 2, dtype=gg.int64), gg.ones(3, 1)),
     "torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's dtype Long and other's "
     "dtype Float"),
    (lambda: gg.linalg.lstsq(gg.ones(3, 2, dtype=gg.int64), gg.ones(3, 1, dtype=gg.int64)),
     "This function doesn't handle types other than float and double"),
    (lambda: gg.linalg.lstsq(gg.ones(2, 5, 3), gg.ones(5)),
     "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and (input.dim() - other.dim()) <= 1"),
    (lambda: gg.linalg.lstsq(gg.ones(3, 3), gg.ones(2, 3, 1)),
     "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and (input.dim() - other.dim()) <= 1"),
    (lambda: gg.linalg.lstsq(gg.ones(5, 3), gg.ones(4, 2)), "torch.linalg.lstsq: input.size(-2) should match "
     "other.size(-2)"),
    (lambda: gg.linalg.lstsq(gg.ones(5, 3), gg.ones(4)), "torch.linalg.lstsq: input.size(-2) should match "
     "other.size(-1)"),
    (lambda: gg.linalg.lstsq(gg.ones(5, 3), gg.ones(5, 2), driver="foo"),
     "torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"),
    (lambda: gg.linalg.lstsq(gg.ones(2, 3, 3), gg.ones(3, 3, 1)),
     "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"),
]


@pytest.mark.parametrize("call, message", ERRORS)
def test_lstsq_errors_are_pytorchs(call, message):
    with pytest.raises(RuntimeError) as error:
        call()
    assert str(error.value) == message
