"""graphgrad.numpy.linalg and the matrix functions of graphgrad.numpy: forward values equal NumPy's to 1e-12,
gradients first and second order against float64 finite differences, eager and compiled (gg.grad on arrays),
and the PyTorch face (gg.linalg, Tensor methods) on the same ops."""
import re
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.ops.linalg import _numpy_crosses_2_vectors
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck, numerical_jacobian

EYE3 = np.eye(3)
# NumPy's reference for the 2-vector cross product warns that 2-vectors are deprecated; graphgrad matches it
pytestmark = pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")


def spd(x):
    """A symmetric positive-definite matrix (batch) from any square x: eigh and cholesky read only one
    triangle, so they are checked as functions of a symmetric argument, the gradient all conventions share."""
    return x @ np.swapaxes(x, -1, -2) + 3.0 * EYE3 if isinstance(x, np.ndarray) else x @ x.mT + 3.0 * EYE3


def well(shape):
    """Square matrices far from singular."""
    return lambda rng: rng.standard_normal(shape) * 0.5 + 3.0 * np.eye(shape[-1])


def gauss(shape):
    return lambda rng: rng.standard_normal(shape)


def distinct(shape):
    """Entries well apart, so max/min picks and sorted singular values are not tied."""
    def sample(rng):
        n = int(np.prod(shape))
        vals = rng.permutation(np.linspace(0.3, 2.5, n)) * rng.choice([-1.0, 1.0], n)
        return vals.reshape(shape)
    return sample


def eig_parts(np_mod):
    def f(x):
        w, v = np_mod.linalg.eigh(spd(x))
        return w + ((v * v) * np_mod.array([[1.0], [2.0], [-1.5]])).sum(-2) * w  # eigenvectors up to sign
    return f


def svd_parts(np_mod):
    def f(x):
        u, s, vh = np_mod.linalg.svd(x, full_matrices=False)
        m, n = x.shape[-2:]
        uw, vw = np_mod.linspace(-1.0, 2.0, m)[:, None], np_mod.linspace(1.5, -0.5, n)
        # singular vectors up to sign: their squares, and the product of a pair
        return (s + ((u * u) * uw).sum(-2) * s + ((vh * vh) * vw).sum(-1)
                + (u[..., :, :1] * vh[..., :1, :]).sum(-1).sum(-1)[..., None])
    return f


# name -> (function written against a NumPy module, input samplers)
CASES = {
    "inv": (lambda np, x: np.linalg.inv(x), [well((3, 3))]),
    "inv_batched": (lambda np, x: np.linalg.inv(x), [well((2, 3, 3))]),
    "solve_matrix": (lambda np, a, b: np.linalg.solve(a, b), [well((3, 3)), gauss((3, 2))]),
    "solve_vector": (lambda np, a, b: np.linalg.solve(a, b), [well((3, 3)), gauss((3,))]),
    "solve_batched_vector": (lambda np, a, b: np.linalg.solve(a, b), [well((2, 3, 3)), gauss((3,))]),
    "solve_broadcast": (lambda np, a, b: np.linalg.solve(a, b), [well((3, 3)), gauss((2, 3, 2))]),
    "det": (lambda np, x: np.linalg.det(x), [well((3, 3))]),
    "det_batched": (lambda np, x: np.linalg.det(x), [well((2, 3, 3))]),
    "slogdet": (lambda np, x: np.linalg.slogdet(x)[1] * np.linalg.slogdet(x)[0], [gauss((3, 3))]),
    "cholesky": (lambda np, x: np.linalg.cholesky(spd(x)), [gauss((3, 3))]),
    "cholesky_batched": (lambda np, x: np.linalg.cholesky(spd(x)), [gauss((2, 3, 3))]),
    "eigh": (lambda np, x: eig_parts(np)(x), [gauss((3, 3))]),
    "eigh_batched": (lambda np, x: eig_parts(np)(x), [gauss((2, 3, 3))]),
    "eigvalsh": (lambda np, x: np.linalg.eigvalsh(spd(x)), [gauss((3, 3))]),
    "svd_tall": (lambda np, x: svd_parts(np)(x), [distinct((4, 3))]),
    "svd_wide_batched": (lambda np, x: svd_parts(np)(x), [distinct((2, 2, 3))]),
    "svd_values": (lambda np, x: np.linalg.svd(x, compute_uv=False), [distinct((3, 4))]),
    "pinv": (lambda np, x: np.linalg.pinv(x), [distinct((4, 3))]),
    "norm_default": (lambda np, x: np.linalg.norm(x), [gauss((3, 4))]),
    "norm_fro_axis_keepdims": (lambda np, x: np.linalg.norm(x, "fro", axis=(0, 2), keepdims=True),
                               [gauss((2, 3, 4))]),
    "norm_nuc": (lambda np, x: np.linalg.norm(x, "nuc"), [distinct((3, 4))]),
    "norm_2": (lambda np, x: np.linalg.norm(x, 2), [distinct((4, 3))]),
    "norm_minus_2": (lambda np, x: np.linalg.norm(x, -2), [distinct((3, 3))]),
    "norm_1": (lambda np, x: np.linalg.norm(x, 1), [distinct((3, 4))]),
    "norm_minus_1": (lambda np, x: np.linalg.norm(x, -1), [distinct((3, 4))]),
    "norm_inf": (lambda np, x: np.linalg.norm(x, np.inf), [distinct((3, 4))]),
    "norm_minus_inf_axes": (lambda np, x: np.linalg.norm(x, -np.inf, axis=(2, 0)), [distinct((2, 3, 4))]),
    "norm_matrix_2_keepdims": (lambda np, x: np.linalg.norm(x, 2, axis=(1, 2), keepdims=True),
                               [distinct((2, 3, 3))]),
    "norm_vector_axis": (lambda np, x: np.linalg.norm(x, axis=1), [gauss((3, 4))]),
    "norm_vector_1_keepdims": (lambda np, x: np.linalg.norm(x, 1, axis=-1, keepdims=True), [distinct((3, 4))]),
    "norm_vector_3": (lambda np, x: np.linalg.norm(x, 3), [distinct((5,))]),
    "norm_vector_inf": (lambda np, x: np.linalg.norm(x, np.inf, axis=0), [distinct((3, 4))]),
    "norm_vector_minus_inf": (lambda np, x: np.linalg.norm(x, -np.inf), [distinct((5,))]),
    "trace": (lambda np, x: np.trace(x), [gauss((3, 3))]),
    "trace_offset_axes": (lambda np, x: np.trace(x, 1, axis1=2, axis2=0), [gauss((3, 2, 4))]),
    "diag_vector": (lambda np, x: np.diag(x) * 2.0, [gauss((3,))]),
    "diag_vector_offset": (lambda np, x: np.diag(x, -2) * 2.0, [gauss((3,))]),
    "diag_matrix_offset": (lambda np, x: np.diag(x, 1) ** 2, [gauss((3, 4))]),
    "diagonal": (lambda np, x: np.diagonal(x, -1, 1, 2) ** 2, [gauss((2, 4, 3))]),
    "tril": (lambda np, x: np.tril(x) ** 2, [gauss((2, 3, 3))]),
    "tril_k": (lambda np, x: np.tril(x, -1) ** 2, [gauss((3, 4))]),
    "triu_k": (lambda np, x: np.triu(x, 1) ** 2, [gauss((4, 3))]),
    "kron": (lambda np, a, b: np.kron(a, b), [gauss((2, 3)), gauss((2, 2))]),
    "kron_ranks": (lambda np, a, b: np.kron(a, b), [gauss((3,)), gauss((2, 2))]),
    "cross": (lambda np, a, b: np.cross(a, b), [gauss((2, 3)), gauss((3,))]),
    "cross_axis": (lambda np, a, b: np.cross(a, b, axis=0), [gauss((3, 2)), gauss((3, 2))]),
    "tensordot": (lambda np, a, b: np.tensordot(a, b), [gauss((2, 3, 4)), gauss((3, 4, 2))]),
    "tensordot_axes": (lambda np, a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), [gauss((2, 3, 4)),
                                                                                  gauss((4, 2, 2))]),
    "inner": (lambda np, a, b: np.inner(a, b), [gauss((2, 3)), gauss((4, 3))]),
    "matrix_power": (lambda np, x: np.linalg.matrix_power(x, 5), [gauss((2, 3, 3))]),
    "matrix_power_negative": (lambda np, x: np.linalg.matrix_power(x, -2), [well((3, 3))]),
    "multi_dot": (lambda np, a, b, c: np.linalg.multi_dot([a, b, c]), [gauss((3,)), gauss((3, 4)), gauss((4, 2))]),
    "vdot": (lambda np, a, b: np.vdot(a, b), [gauss((2, 3)), gauss((3, 2))]),
    "cond": (lambda np, x: np.linalg.cond(x), [distinct((3, 3))]),
    "cond_fro": (lambda np, x: np.linalg.cond(x, "fro"), [well((3, 3))]),
    "einsum_trace": (lambda np, x: np.einsum("ii", x), [gauss((3, 3))]),
    "einsum_diagonals": (lambda np, a, b: np.einsum("bii,bjj->bij", a, b) ** 2, [gauss((2, 3, 3)), gauss((2, 2, 2))]),
    "dot_nd": (lambda np, a, b: np.dot(a, b), [gauss((2, 3)), gauss((2, 3, 4))]),
    "dot_matrix_vector": (lambda np, a, b: np.dot(a, b), [gauss((2, 2, 3)), gauss((3,))]),
    "qr_square": (lambda np, x: np.concatenate(np.linalg.qr(x), axis=-2), [gauss((3, 3))]),
    "qr_tall": (lambda np, x: np.concatenate(np.linalg.qr(x), axis=-2), [gauss((5, 3))]),
    "qr_batched": (lambda np, x: np.linalg.qr(x)[0] * np.linalg.qr(x)[1][..., :1, :], [gauss((2, 4, 3))]),
    "lstsq_solution": (lambda np, a, b: np.linalg.lstsq(a, b, rcond=None)[0], [gauss((5, 3)), gauss((5, 2))]),
    "lstsq_residuals": (lambda np, a, b: np.linalg.lstsq(a, b, rcond=None)[1], [gauss((5, 3)), gauss((5,))]),
    "lstsq_wide": (lambda np, a, b: np.linalg.lstsq(a, b, rcond=None)[0], [gauss((2, 3)), gauss((2,))]),
    "lstsq_values": (lambda np, a: np.linalg.lstsq(a, np.ones(4), rcond=None)[3], [distinct((4, 3))]),
    "einsum_repeated_index_beside": (lambda np, x, c: np.einsum("i,jj->i", x, c), [gauss((3,)), gauss((4, 4))]),
    "einsum_sublist": (lambda np, a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), [gauss((2, 3)), gauss((3, 4))]),
    "einsum_sublist_implicit": (lambda np, a, b: np.einsum(a, [27, 0], b, [0, 26]), [gauss((2, 3)), gauss((3, 4))]),
    "einsum_sublist_ellipsis": (lambda np, a, b: np.einsum(a, [Ellipsis, 0, 1], b, [1, 2], [2, Ellipsis, 0]),
                                [gauss((2, 2, 3)), gauss((3, 4))]),
    "einsum_sublist_diagonal": (lambda np, a, b: np.einsum(a, [0, 0], b, [0, Ellipsis]), [gauss((3, 3)), gauss((3, 2))]),
    "outer": (lambda np, a, b: np.outer(a, b), [gauss((3,)), gauss((2, 2))]),
    "matmul": (lambda np, a, b: np.matmul(a, b), [gauss((2, 2, 3)), gauss((3,))]),
    "dot_vectors": (lambda np, a, b: np.dot(a, b), [gauss((3,)), gauss((3,))]),
}
CROSS_2 = {"cross_2_vectors": (lambda np, a, b: np.cross(a, b), [gauss((4, 2)), gauss((2,))]),
           "cross_2_and_3": (lambda np, a, b: np.cross(a, b), [gauss((2, 2)), gauss((2, 3))])}
if _numpy_crosses_2_vectors():  # NumPy < 2.5 (deprecated since 2.0): then graphgrad.numpy computes them too
    CASES.update(CROSS_2)


def case(name, rng):
    fn, samplers = CASES[name]
    return (lambda *xs: fn(gnp, *xs)), (lambda *xs: fn(np, *xs)), [s(rng) for s in samplers]


def tensors(arrays):
    return [gg.tensor(a, dtype=gg.float64, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_equals_numpy(name, rng):
    f, ref, arrays = case(name, rng)
    expected = ref(*arrays)
    for got in (f(*tensors(arrays)).detach().numpy(), gg.compile(f)(*arrays)):
        got = np.asarray(got)
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_first_and_second_order(name, rng):
    f, _, arrays = case(name, rng)
    assert gradcheck(f, tensors(arrays))
    assert gradgradcheck(f, tensors(arrays), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_first_and_second_order(name, rng):
    """gg.grad on NumPy arrays compiles the function; its gradient and the gradient of its gradient's norm
    match finite differences and eager autograd."""
    f, _, arrays = case(name, rng)
    v = rng.standard_normal(np.shape(f(*tensors(arrays))))

    def scalar(*xs):
        return gnp.sum(f(*xs) * v)

    argnums = tuple(range(len(arrays)))
    grads = gg.grad(scalar, argnums)(*arrays)
    numeric = numerical_jacobian(lambda *a: np.asarray(float(scalar(*[gg.tensor(x) for x in a]).item())), arrays)
    for c, n in zip(grads, numeric):
        np.testing.assert_allclose(c.ravel(), n.ravel(), rtol=1e-5, atol=1e-6)
    ts = tensors(arrays)
    eager = gg.autograd.grad(scalar(*ts), ts)
    for c, e in zip(grads, eager):
        np.testing.assert_allclose(c, e.detach().numpy(), rtol=1e-10, atol=1e-12)

    first = gg.grad(scalar, argnums=0)

    def grad_norm(*xs):
        g = first(*xs)
        return gnp.sum(g * g)

    second = gg.grad(grad_norm, argnums=0)(*arrays)
    numeric = numerical_jacobian(lambda *a: np.asarray(float(grad_norm(*[gg.tensor(x) for x in a]).item())),
                                 arrays)[0]
    np.testing.assert_allclose(second.ravel(), numeric.ravel(), rtol=1e-4, atol=1e-5)


# every case of more than one operand, with operand k traced and the others constants (closed-over ndarrays, or
# Python lists): NumPy code calls linalg on arrays that are data, beside the value it differentiates
BESIDE = [(name, k) for name in sorted(CASES) if len(CASES[name][1]) > 1 for k in range(len(CASES[name][1]))]


@pytest.mark.parametrize("form", ["ndarray", "list"])
@pytest.mark.parametrize("name, k", BESIDE, ids=[f"{name}-{k}" for name, k in BESIDE])
def test_constant_operands_beside_a_traced_one(name, k, form, rng, check_gradients):
    fn, samplers = CASES[name]
    arrays = [s(rng) for s in samplers]
    constants = [a.tolist() if form == "list" else a for a in arrays]
    v = rng.standard_normal(np.shape(fn(np, *arrays)))

    def f(x):
        xs = list(constants)
        xs[k] = x
        return gnp.sum(fn(gnp, *xs) * v)

    expected = np.sum(fn(np, *arrays) * v)
    np.testing.assert_allclose(f(gg.tensor(arrays[k], dtype=gg.float64)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(float(gg.compile(f)(arrays[k])), expected, rtol=1e-12)
    if form == "ndarray":  # first and second order, eager and compiled, against finite differences
        check_gradients(f, [arrays[k]])
    else:
        numeric = numerical_jacobian(lambda a: np.asarray(float(f(gg.tensor(a)).item())), [arrays[k]])[0]
        np.testing.assert_allclose(gg.grad(f)(arrays[k]).ravel(), numeric.ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_constant_operands_only_inside_a_traced_function(name, rng):
    """Every operand a constant, inside a function of another traced value: NumPy computes it."""
    fn, samplers = CASES[name]
    arrays = [s(rng) for s in samplers]
    expected = np.sum(fn(np, *arrays))

    def f(s):
        return s * gnp.sum(fn(gnp, *arrays))

    np.testing.assert_allclose(gg.grad(f)(2.0), expected, rtol=1e-12)
    for run in (f, gg.compile(f)):
        s = gg.tensor(2.0, dtype=gg.float64, requires_grad=True)
        run(s).backward()
        np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12)


def test_closed_over_array_is_read_at_every_call_not_frozen(rng):
    """A closed-over matrix of solve is an input of the compiled function, as for any other op."""
    a, b = well((3, 3))(rng), rng.standard_normal((3, 2))
    f = gg.compile(lambda x: gnp.sum(gnp.linalg.solve(a, x)))
    np.testing.assert_allclose(float(f(b)), np.linalg.solve(a, b).sum(), rtol=1e-12)
    a[0, 0] += 1.0
    np.testing.assert_allclose(float(f(b)), np.linalg.solve(a, b).sum(), rtol=1e-12)


@pytest.mark.parametrize("args, error, message", [
    (lambda x: (x, [0, 52]), ValueError, r"subscript 52 in the sublist of operand 0 is not within the valid range "
                                         r"\[0, 52\)"),
    (lambda x: (np.ones(2), [0], x, ["a"]), TypeError, r"the sublist of operand 1 holds 'a': each subscript must be "
                                                      r"an integer or Ellipsis"),
    (lambda x: (x, [0], x), TypeError, r"the output sublist must be a list of integer subscripts \(and Ellipsis\), "
                                       r"got Tensor"),
])
def test_einsum_sublist_errors_name_the_sublist(args, error, message):
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    for einsum in (gnp.einsum, gg.einsum):
        with pytest.raises(error, match=message):
            einsum(*args(x))


def test_pytorch_face_names_reach_the_same_ops(rng):
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    s = a @ a.T
    t, st = gg.tensor(a), gg.tensor(s)
    import graphgrad.linalg as gl
    np.testing.assert_allclose(gl.inv(t).numpy(), np.linalg.inv(a), rtol=1e-12)
    np.testing.assert_allclose(t.inverse().numpy(), np.linalg.inv(a), rtol=1e-12)
    np.testing.assert_allclose(gg.linalg.solve(t, gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64)).numpy(),
                               np.linalg.solve(a, [1.0, 2.0, 3.0]), rtol=1e-12)
    assert abs(t.det().item() - np.linalg.det(a)) < 1e-12 * abs(np.linalg.det(a))
    assert abs(t.logdet().item() - np.log(np.linalg.det(a))) < 1e-12
    np.testing.assert_allclose(gg.cholesky(st).numpy(), np.linalg.cholesky(s), rtol=1e-12)
    np.testing.assert_allclose(st.cholesky(upper=True).numpy(), np.linalg.cholesky(s).T, rtol=1e-12)
    assert gg.trace(t).item() == pytest.approx(np.trace(a), rel=1e-12)
    np.testing.assert_array_equal(gg.tril(t, -1).numpy(), np.tril(a, -1))
    np.testing.assert_array_equal(t.triu().numpy(), np.triu(a))
    u, sv, vh = gg.linalg.svd(t)
    np.testing.assert_allclose((u * sv.unsqueeze(-2) @ vh).numpy(), a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.svd().V.numpy(), vh.numpy().T, rtol=1e-12)  # torch.svd gives V, not Vh
    w, v = gg.linalg.eigh(st)
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(s), rtol=1e-12)
    assert gg.linalg.matrix_norm(t, "nuc").item() == pytest.approx(np.linalg.norm(a, "nuc"), rel=1e-12)
    assert gg.linalg.vector_norm(t, 3).item() == pytest.approx(np.sum(np.abs(a) ** 3) ** (1 / 3), rel=1e-12)


def test_bad_input_is_refused_naming_the_shapes():
    with pytest.raises(RuntimeError, match="linalg.inv: A must be batches of square matrices, but they are 2 by 3"):
        gg.linalg.inv(gg.ones(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        gg.linalg.det(gg.ones(3))
    with pytest.raises(RuntimeError, match="^triu: input tensor must have at least 2 dimensions$"):
        gg.triu(gg.ones(3))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        gnp.linalg.svd(gg.ones(3, 2, dtype=gg.float64))
    with pytest.raises(ValueError, match="Invalid norm order 'nuc' for vectors"):
        gnp.linalg.norm(gg.ones(3), "nuc")
    with pytest.raises(Exception, match=r"compiled function|3x3 and 2"):
        gg.compile(lambda a, b: gnp.linalg.solve(a, b))(np.eye(3), np.ones((2, 1)))


def test_gradient_of_singular_values_is_exact_at_repeated_values():
    """Repeated singular values: the singular-vector terms are taken as 0, exact for functions of S alone."""
    x = np.diag([2.0, 2.0, 1.0])
    g = gg.grad(lambda a: gnp.linalg.norm(a, "nuc"))(x)
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("name", ["inv", "solve_vector", "det", "cholesky", "eigh", "svd_tall", "norm_nuc", "trace",
                                  "qr_tall", "lstsq_solution"])
def test_forward_mode_transposes_the_gradient_rules(name, rng):
    """gg.jvp: forward mode comes from transposing each gradient rule; against central differences."""
    f, _, arrays = case(name, rng)
    tangents = [rng.standard_normal(a.shape) for a in arrays]
    _, tangent_out = gg.jvp(f, tuple(arrays), tuple(tangents))
    eps = 1e-6
    plus = f(*[gg.tensor(a + eps * t) for a, t in zip(arrays, tangents)]).numpy()
    minus = f(*[gg.tensor(a - eps * t) for a, t in zip(arrays, tangents)]).numpy()
    np.testing.assert_allclose(np.asarray(tangent_out), (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: gg.linalg.cholesky(gg.tensor([[1.0, 2.0], [2.0, 1.0]])),
     r"^linalg.cholesky: The factorization could not be completed because the input is not positive-definite "
     r"\(the leading minor of order 2 is not positive-definite\).$"),
    (lambda: gnp.linalg.cholesky(gg.tensor([np.eye(3), -np.eye(3)])),
     r"^linalg.cholesky: \(Batch element 1\): .* \(the leading minor of order 1 is not positive-definite\).$"),
    (lambda: gg.linalg.inv(gg.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])),
     r"^linalg.inv: The diagonal element 2 is zero, the inversion could not be completed because the input "
     r"matrix is singular.$"),
    (lambda: gg.linalg.solve(gg.zeros(2, 2), gg.ones(2)),
     r"^linalg.solve: The solver failed because the input matrix is singular.$"),
])
def test_failures_on_valid_input_are_pytorchs_linalg_errors(call, message):
    """Eager failures say what PyTorch says, as gg.linalg.LinAlgError (a RuntimeError, and a
    numpy.linalg.LinAlgError for NumPy-style code)."""
    with pytest.raises(gg.linalg.LinAlgError, match=message) as info:
        call()
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, np.linalg.LinAlgError)


def test_spectral_norm_gradient_at_a_rank_deficient_matrix_is_finite_and_exact():
    """A zero singular value would divide 0 by 0 in the singular-vector terms; they are 0 when only S is used."""
    a = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])  # rank 1, S = (sqrt 5, 0): the gradient is u1 v1^T
    for g in (gg.grad(lambda x: gnp.linalg.norm(x, 2))(a),
              gg.autograd.grad(gnp.linalg.norm(t := gg.tensor(a, requires_grad=True), 2), [t])[0].numpy()):
        np.testing.assert_allclose(g, a / np.linalg.norm(a), atol=1e-12)


def test_linalg_ops_print_and_parse_back():
    from graphgrad.ir.parser import parse_graph

    def f(a, b):
        w, v = gnp.linalg.eigh(a @ a.T)
        return (gnp.sum(gnp.tril(a, -1)) + gnp.sum(w * v) + gnp.linalg.norm(a, "nuc")
                + gnp.sum(gnp.linalg.solve(a, b)) + gnp.einsum("ii", a) + gnp.linalg.slogdet(a)[1])

    c = gg.compile(f)
    args = (gg.tensor(np.eye(3) * 2, requires_grad=True), gg.tensor(np.ones(3)))
    for stage in ("traced", "pruned", "optimized"):
        g = c.graph(*args, stage=stage)
        assert str(parse_graph(str(g))) == str(g)


@pytest.mark.parametrize("shapes", [((2, 3, 3), (3,)), ((3, 3), (2, 3, 2)), ((2, 1, 3, 3), (4, 3, 1)),
                                    ((3, 3), (3,)), ((2, 3, 3), (2, 3, 2))])
def test_solve_binds_the_form_every_numpy_and_cupy_reads_alike(shapes, rng):
    """Older CuPy neither broadcasts batch axes nor reads NumPy 2's vector rule: every solve in the forward and
    adjoint graphs takes a 1-D b only beside one matrix, else a matrix b with a's batch axes."""
    a, b = well(shapes[0])(rng), rng.standard_normal(shapes[1])
    c = gg.compile(lambda a, b: gnp.linalg.solve(a, b))
    args = (gg.tensor(a, requires_grad=True), gg.tensor(b, requires_grad=True))
    graph = c.graph(*args, stage="optimized")
    solves = [n for n in graph.nodes if n.op == "solve"]
    assert len(solves) == 2  # the forward solve and the adjoint's solve with a^T
    for node in solves:
        sa, sb = node.inputs[0].type.shape, node.inputs[1].type.shape
        assert (len(sa) == 2 and len(sb) == 1) or (len(sb) == len(sa) and sb[:-2] == sa[:-2]), (sa, sb)
    np.testing.assert_allclose(np.asarray(c(a, b)), np.linalg.solve(a, b), rtol=1e-12)


def test_qr_of_a_wide_matrix_has_numpys_values_and_refuses_its_gradient(rng):
    a = rng.standard_normal((3, 5))
    q, r = gnp.linalg.qr(gg.tensor(a))
    nq, nr = np.linalg.qr(a)
    np.testing.assert_allclose(q.numpy(), nq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.numpy(), nr, rtol=1e-12, atol=1e-12)
    with pytest.raises(NotImplementedError, match=r"gradient of linalg.qr of a wide matrix \(3 by 5\)"):
        gg.grad(lambda x: gnp.sum(gnp.linalg.qr(x)[1]))(a)
    with pytest.raises(NotImplementedError, match="mode='complete' is not supported"):
        gnp.linalg.qr(gg.tensor(a), mode="complete")


@pytest.mark.parametrize("a", [np.array([[1.0, 2.0], [2.0, 4.0]]), np.eye(3), np.zeros((2, 3)),
                               np.array([[1.0, 0.0, 0.0], [0.0, 1e-20, 0.0]]), np.array([0.0, 3.0]),
                               np.zeros(4), np.array([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]])])
def test_matrix_rank_equals_numpys_and_has_no_gradient(a):
    expected = np.linalg.matrix_rank(a)
    for got in (gnp.linalg.matrix_rank(gg.tensor(a)), gg.compile(gnp.linalg.matrix_rank)(a)):
        got = np.asarray(got.numpy() if isinstance(got, gg.Tensor) else got)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
    # an integer result: a factor of a differentiated function, it contributes no gradient (like argmax)
    g = gg.grad(lambda x: gnp.sum(x * x) * gnp.sum(gnp.linalg.matrix_rank(x)))(a)
    np.testing.assert_allclose(g, 2 * a * np.sum(expected), rtol=1e-12)


def test_matrix_rank_tolerance():
    a = np.diag([1.0, 1e-3, 1e-9])
    for tol in (1e-12, 1e-6, 1e-2):
        assert gnp.linalg.matrix_rank(gg.tensor(a), tol).item() == np.linalg.matrix_rank(a, tol)


@pytest.mark.parametrize("name", ["eig", "eigvals"])
def test_eig_of_a_general_matrix_is_refused_naming_eigh(name):
    """A general matrix's eigenvalues are complex; complex dtypes are out of scope (docs/ops.md)."""
    with pytest.raises(NotImplementedError, match=r"complex.*linalg\.eigh"):
        getattr(gnp.linalg, name)(gg.tensor(np.eye(2)))
    with pytest.raises(NotImplementedError, match="complex"):
        gg.grad(lambda x: gnp.sum(getattr(gnp.linalg, name)(x)[0]))(np.eye(2))
    with pytest.raises(NotImplementedError, match="complex"):
        getattr(gg.linalg, name)(gg.tensor(np.eye(2)))
    plain = getattr(gnp.linalg, name)(np.diag([2.0, 3.0]))  # plain arrays: NumPy's own
    np.testing.assert_allclose(plain[0] if name == "eig" else plain, [2.0, 3.0])


_W = np.arange(9.0).reshape(3, 3)
_TRIANGLE_READERS = {  # NumPy's eigh and cholesky read one triangle of their input
    "eigvalsh-L": lambda m, a: m.sum(m.linalg.eigvalsh(a) * np.array([1.0, 2.0, 3.0])),
    "eigvalsh-U": lambda m, a: m.sum(m.linalg.eigvalsh(a, UPLO="U") ** 2),
    "eigh-vectors": lambda m, a: m.sum(m.linalg.eigh(a)[1] ** 2 * _W),
    "eigh-U": lambda m, a: m.sum(m.linalg.eigh(a, UPLO="U")[0] * m.linalg.eigh(a, UPLO="U")[1][0] ** 2),
    "cholesky": lambda m, a: m.sum(m.linalg.cholesky(a) * _W),
    "cholesky-upper": lambda m, a: m.sum(m.linalg.cholesky(a, upper=True) * _W),
}


@pytest.mark.parametrize("name", sorted(_TRIANGLE_READERS))
def test_numpy_face_of_one_triangle_readers_is_numpy_s_value_and_its_derivative(name):
    """On a matrix that is not symmetric, the NumPy face gives NumPy's value (the triangle NumPy reads) and the
    gradient of that value: finite differences', and HIPS autograd's."""
    f = _TRIANGLE_READERS[name]
    a = np.random.default_rng(0).standard_normal((3, 3)) + 4 * np.eye(3)
    for run in (lambda fn: fn, gg.compile):
        np.testing.assert_allclose(run(lambda t: f(gnp, t))(gg.tensor(a, dtype=gg.float64)).item(), f(np, a),
                                   rtol=1e-13)
    numeric = numerical_jacobian(lambda x: f(np, x), [a])[0].reshape(3, 3)
    np.testing.assert_allclose(gg.grad(lambda t: f(gnp, t))(a), numeric, rtol=1e-6, atol=1e-7)
    h = gg.grad(lambda t: gnp.sum(gg.grad(lambda s: f(gnp, s))(t) * _W))(a)  # second order, likewise
    numeric2 = numerical_jacobian(lambda x: np.sum(gg.grad(lambda s: f(gnp, s))(x) * _W), [a])[0].reshape(3, 3)
    np.testing.assert_allclose(h, numeric2, rtol=1e-5, atol=1e-6)


def test_pytorch_face_of_eigh_keeps_the_symmetric_gradient():
    a = gg.tensor(np.random.default_rng(1).standard_normal((3, 3)), dtype=gg.float64, requires_grad=True)
    gg.linalg.eigvalsh(a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a.grad.numpy().T)


@pytest.mark.parametrize("equation, shapes", [
    ("ij,ij->i", [(3, 4), (1, 4)]),
    ("ij,jk->ik", [(3, 1), (4, 2)]),      # j of size 1 against 4: PyTorch broadcasts it
    ("bij,bjk->bik", [(1, 2, 3), (4, 3, 2)]),
])
def test_einsum_broadcasts_size_one_axes_compiled_as_eager(equation, shapes, check_gradients):
    # the type rule refused what eager (np.einsum) and PyTorch compute, so compiled code failed where eager ran
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    ref = np.einsum(equation, *arrays)
    f = lambda *xs: gg.einsum(equation, *xs)
    out = gg.compile(f)(*[gg.tensor(a) for a in arrays])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    check_gradients(lambda *xs: (f(*xs) ** 2).sum(), arrays)


def _cofactors(a):
    """The cofactor matrix from its definition (signed minors): the gradient of det at any matrix."""
    n = a.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("a", [
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),   # rank 2: the cofactors are not 0
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]),   # rank 1: they are 0, their derivative not
    np.zeros((3, 3)),
])
def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix(a):
    # the gradient was det * inv(A)^T, whose inv raised LinAlgError; PyTorch gives the cofactors (adjugate^T)
    w = np.random.default_rng(3).standard_normal((3, 3))
    t = gg.tensor(a, dtype=gg.float64, requires_grad=True)
    g, = gg.autograd.grad(gg.linalg.det(t), t, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), _cofactors(a), atol=1e-12)
    second, = gg.autograd.grad((g * gg.tensor(w)).sum(), t)
    numeric = numerical_jacobian(lambda x: np.sum(_cofactors(x) * w), [a])[0].reshape(3, 3)
    np.testing.assert_allclose(second.numpy(), numeric, atol=1e-6)
    batch = np.stack([a, 2.0 * np.eye(3)])  # a singular and a regular matrix in one batch, compiled
    tb = gg.tensor(batch, dtype=gg.float64, requires_grad=True)
    gg.compile(lambda x: gg.linalg.det(x).sum())(tb).backward()
    np.testing.assert_allclose(tb.grad.numpy(), np.stack([_cofactors(m) for m in batch]), atol=1e-12)
    np.testing.assert_allclose(gg.grad(lambda x: gnp.linalg.det(x))(a), _cofactors(a), atol=1e-12)
    np.testing.assert_allclose(gg.hessian(lambda x: gnp.linalg.det(x))(a).reshape(9, 9) @ w.ravel(),
                               numeric.ravel(), atol=1e-6)


def test_cholesky_upper_reads_the_upper_triangle():
    # upper=True factored the lower triangle and transposed it; PyTorch (LAPACK uplo='U') reads the upper one
    rng = np.random.default_rng(4)
    s = spd(rng.standard_normal((3, 3)))
    a = s + np.tril(rng.standard_normal((3, 3)), -1) * 5  # the lower triangle is noise
    for fn in (lambda t: gg.linalg.cholesky(t, upper=True), lambda t: t.cholesky(upper=True),
               gg.compile(lambda t: gg.linalg.cholesky(t, upper=True))):
        u = fn(gg.tensor(a, dtype=gg.float64)).numpy()
        np.testing.assert_allclose(u, np.triu(u))
        np.testing.assert_allclose(u.T @ u, s, atol=1e-12)
    # the gradient is the symmetric one, as with upper=False: equal on a symmetric input
    grads = []
    for upper in (False, True):
        t = gg.tensor(s, dtype=gg.float64, requires_grad=True)
        out = gg.linalg.cholesky(t, upper=upper)
        ((out.mT if upper else out) * gg.tensor(_W)).sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-12)


def test_torch_cross_without_dim_takes_the_first_dimension_of_size_3():
    # gg.cross / Tensor.cross used dim=-1 like linalg.cross; torch.cross's default is the first size-3 dim
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    for got in (gg.cross(gg.tensor(a), gg.tensor(b)), gg.tensor(a).cross(gg.tensor(b))):
        np.testing.assert_allclose(got.numpy(), np.cross(a, b, axis=0), rtol=1e-6)
    a4, b4 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(gg.cross(gg.tensor(a4), gg.tensor(b4)).numpy(), np.cross(a4, b4, axis=0), rtol=1e-6)
    np.testing.assert_allclose(gg.linalg.cross(gg.tensor(a), gg.tensor(b)).numpy(), np.cross(a, b), rtol=1e-6)
    with pytest.raises(RuntimeError, match="no dimension of size 3 in input"):
        gg.cross(gg.ones(2, 4), gg.ones(2, 4))
    with pytest.raises(RuntimeError, match="inputs must have the same number of dimensions"):
        gg.linalg.cross(gg.ones(4, 3), gg.ones(3))
    np.testing.assert_allclose(gnp.cross(np.ones((4, 3)), np.arange(3.0)), np.cross(np.ones((4, 3)), np.arange(3.0)))


def test_pinv_hermitian_reads_the_lower_triangle():
    # hermitian=True was ignored: the pseudo-inverse of the whole (not symmetric) matrix
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 3))
    sym = np.tril(a) + np.tril(a, -1).T
    expected = np.linalg.pinv(sym)
    np.testing.assert_allclose(gg.linalg.pinv(gg.tensor(a, dtype=gg.float64), hermitian=True).numpy(), expected,
                               atol=1e-12)
    f = lambda x: gnp.sum(gnp.linalg.pinv(x, hermitian=True) * _W)
    np.testing.assert_allclose(f(gg.tensor(a, dtype=gg.float64)).item(), np.sum(expected * _W), rtol=1e-12)
    numeric = numerical_jacobian(lambda x: np.sum(np.linalg.pinv(np.tril(x) + np.tril(x, -1).T) * _W), [a])[0]
    np.testing.assert_allclose(gg.grad(f)(a), numeric.reshape(3, 3), rtol=1e-5, atol=1e-6)
    # on a symmetric matrix the PyTorch face's gradient is pinv's unconstrained one, as hermitian=False's
    grads = []
    for hermitian in (False, True):
        t = gg.tensor(sym, dtype=gg.float64, requires_grad=True)
        (gg.linalg.pinv(t, hermitian=hermitian) * gg.tensor(_W)).sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-10)


def test_torch_norm_dispatches_every_p_as_pytorch():
    # torch.norm / Tensor.norm computed p=-inf as |x|^-inf summed (1.0, nan gradient), divided by zero for p=0
    # and failed on p='nuc'; PyTorch sends a number to linalg.vector_norm and 'nuc' to linalg.matrix_norm
    x = np.array([[0.5, -2.0, 0.0], [3.0, -0.25, 1.5]])
    t = gg.tensor(x, dtype=gg.float64, requires_grad=True)
    out = gg.norm(t, p=float("-inf"))
    assert out.item() == 0.0
    nz = x[x != 0]
    assert t.norm(p=float("-inf"), dim=1).tolist() == [0.0, 0.25]
    assert t[:, :2].norm(p=float("-inf")).item() == 0.25 and np.abs(nz).min() == 0.25
    row = gg.tensor(x[1], dtype=gg.float64, requires_grad=True)
    row.norm(p=float("-inf")).backward()
    np.testing.assert_allclose(row.grad.numpy(), [0.0, -1.0, 0.0])  # d min|x| / dx at the minimum, finite
    assert gg.norm(t, p=0).item() == 5.0 and t.norm(p=0, dim=0).tolist() == [2.0, 2.0, 1.0]
    np.testing.assert_allclose(gg.norm(t, p="nuc").item(), np.linalg.norm(x, "nuc"), rtol=1e-12)
    np.testing.assert_allclose(gg.norm(t, p=3, dim=1).detach().numpy(), np.linalg.norm(x, 3, axis=1), rtol=1e-12)
    np.testing.assert_allclose(gg.norm(t).item(), np.linalg.norm(x), rtol=1e-12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gg.linalg.norm(gg.ones(3, 4), dim=(1, 2)), IndexError, r"range of \[-2, 1\], but got 2"),
    (lambda: gg.linalg.vector_norm(gg.ones(3), dim=1), IndexError, r"range of \[-1, 0\], but got 1"),
    (lambda: gg.linalg.matrix_norm(gg.ones(3, 3), dim=(0, 2)), IndexError, r"but got 2"),
    (lambda: gg.linalg.vector_norm(gg.ones(2, 3), dim=(0, 0)), RuntimeError, "dim 0 appears multiple times"),
    (lambda: gg.linalg.matrix_norm(gg.ones(3, 3), dim=(0, 0)), RuntimeError, "dims must be different"),
    (lambda: gg.linalg.vector_norm(gg.arange(3)), RuntimeError, "Expected a floating point or complex tensor as "
                                                                 "input. Got Long"),
    (lambda: gg.linalg.norm(gg.ones(2, 2, dtype=gg.int64)), RuntimeError, "Got Long"),
    (lambda: gg.norm(gg.tensor([True])), RuntimeError, "Got Bool"),
    (lambda: gg.linalg.matrix_norm(gg.ones(3, 3), 3), RuntimeError, "Order 3 not supported"),
    (lambda: gg.linalg.norm(gg.ones(2, 2, 2), 2), RuntimeError, "If dim is not specified but ord is, the input "
                                                                "must be 1D or 2D. Got 3D."),
    (lambda: gg.linalg.norm(gg.ones(2, 2, 2), dim=(0, 1, 2)), RuntimeError, "it must be of length 1 or 2"),
    (lambda: gg.linalg.cond(gg.ones(3, 3), 3), RuntimeError, "linalg.cond got an invalid norm type: 3"),
    (lambda: gg.linalg.cond(gg.ones(3, 4), "fro"), RuntimeError, r"linalg.cond\(ord=fro\): A must be batches of "
                                                                  "square matrices, but they are 3 by 4 matrices"),
    (lambda: gg.linalg.multi_dot([gg.ones(3, 3), gg.ones(2, 3, 3)]), RuntimeError,
     "multi_dot\\(\\): the last tensor must be 1D or 2D but got 3D"),
    (lambda: gg.linalg.multi_dot([gg.ones(3, 3), gg.ones(3), gg.ones(3)]), RuntimeError,
     "multi_dot\\(\\): tensor 1 must be 2D but got 1D"),
    (lambda: gg.linalg.solve(gg.eye(3), gg.ones(3), left=False), RuntimeError,
     r"Incompatible shapes of A and B for the equation XA = B \(3x3 and 3x1\)"),
    (lambda: gg.linalg.solve(gg.eye(3).expand(2, 3, 3), gg.ones(3, 2), left=False), RuntimeError,
     r"Incompatible shapes of A and B for the equation XA = B \(3x3 and 3x2\)"),  # was a (3, 2) result
])
def test_norms_and_products_refuse_what_pytorch_refuses(call, error, message):
    # a dim past the last was wrapped around (dim 2 of a matrix read as dim 0), integer input converted, a
    # 3-D factor of multi_dot multiplied as a batch
    with pytest.raises(error, match=message):
        call()


def test_matrix_rank_hermitian_reads_the_lower_triangle():
    # hermitian=True was ignored: the rank of the whole matrix (2) instead of the symmetric one PyTorch and NumPy
    # read from the lower triangle, [[1, 1, 0], [1, 0, 0], [0, 0, 1]] (rank 3)
    b = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    sym = np.tril(b) + np.tril(b, -1).T
    assert np.linalg.matrix_rank(sym) == 3
    assert gg.linalg.matrix_rank(gg.tensor(b, dtype=gg.float64), hermitian=True).item() == 3
    assert gnp.linalg.matrix_rank(gg.tensor(b, dtype=gg.float64), hermitian=True).item() == 3
    assert int(gg.compile(lambda x: gnp.linalg.matrix_rank(x, hermitian=True))(b)) == 3
    assert gg.linalg.matrix_rank(gg.tensor(np.stack([b, 0 * b]), dtype=gg.float64), hermitian=True).tolist() == [3, 0]


def test_torch_svd_without_uv_gives_zero_filled_u_and_v():
    # compute_uv=False was ignored (U and V computed); PyTorch returns zeros of shapes (m, m) and (n, n)
    x = np.random.default_rng(8).standard_normal((2, 5, 3))
    t = gg.tensor(x, dtype=gg.float64, requires_grad=True)
    u, s, v = gg.svd(t, compute_uv=False)
    assert tuple(u.shape) == (2, 5, 5) and tuple(v.shape) == (2, 3, 3)
    assert not u.numpy().any() and not v.numpy().any()
    np.testing.assert_allclose(s.detach().numpy(), np.linalg.svd(x, compute_uv=False), rtol=1e-12)
    s.sum().backward()  # the nuclear norm's gradient: U V^T
    uu, _, vh = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(t.grad.numpy(), uu @ vh, atol=1e-12)


def test_piecewise_constant_norm_and_power_require_grad_with_a_zero_gradient():
    # vector_norm(x, 0) and matrix_power(A, 0) did not require grad, so .backward() on them (or a loss built
    # only from them) raised; PyTorch's require grad and give a zero gradient. matrix_power of a 0x0 matrix to
    # the 0th power was 1-D (an empty constant)
    x = gg.tensor([1.0, 0.0, -2.0, float("inf")], requires_grad=True)
    count = gg.linalg.vector_norm(x, 0)
    assert count.item() == 3.0 and count.requires_grad
    count.backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    a = gg.tensor(np.random.default_rng(9).standard_normal((2, 3, 3)), requires_grad=True)
    eye = gg.linalg.matrix_power(a, 0)
    np.testing.assert_array_equal(eye.detach().numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)))
    eye.sum().backward()
    assert not a.grad.numpy().any()
    assert tuple(gg.linalg.matrix_power(gg.zeros(0, 0), 0).shape) == (0, 0)
    np.testing.assert_array_equal(gg.compile(lambda t: gg.linalg.matrix_power(t, 0))(a.detach()).numpy(),
                                  np.broadcast_to(np.eye(3), (2, 3, 3)))


@pytest.mark.parametrize("name", sorted(CROSS_2))
def test_cross_of_2_vectors_does_what_the_installed_numpy_does(name, rng):
    fn, samplers = CROSS_2[name]
    a, b = (s(rng) for s in samplers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = fn(np, a, b)
    except ValueError as refusal:  # NumPy >= 2.5
        for x, y in ((gg.tensor(a), b), (a, gg.tensor(b)), (gg.tensor(a), gg.tensor(b))):
            with pytest.raises(ValueError, match=re.escape(str(refusal))):
                fn(gnp, x, y)
        return
    np.testing.assert_allclose(fn(gnp, gg.tensor(a), b).numpy(), expected, rtol=1e-12)


_RNG = np.random.default_rng(0)


def _f64(a, grad=False):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64, requires_grad=grad)


# -- pinv's gradient where singular values repeat ------------------------------------------------------------
# matrices whose singular values repeat: the SVD's singular vectors are not unique there, and the gradient taken
# through them was wrong (eye(3): off by 1.3), though pinv itself is smooth wherever its rank is constant
REPEATED = {
    "eye": np.eye(3),
    "tall eye": 2.0 * np.eye(4, 3),
    "orthonormal columns": np.linalg.qr(_RNG.standard_normal((5, 3)))[0],
    "wide orthonormal rows": np.linalg.qr(_RNG.standard_normal((5, 2)))[0].T.copy(),
    "batched": np.stack([np.eye(3), np.diag([1.0, 2.0, 2.0])]),
}


@pytest.mark.parametrize("name", list(REPEATED))
def test_pinv_gradient_where_singular_values_repeat(name):
    a = REPEATED[name]
    w = _RNG.standard_normal(a.shape[:-2] + a.shape[::-1][:2])
    numeric = numerical_jacobian(lambda x: np.sum(np.linalg.pinv(x) * w), [a])[0].reshape(a.shape)
    for face in (lambda x: gg.linalg.pinv(x), lambda x: gnp.linalg.pinv(x)):
        t = _f64(a, True)
        (face(t) * _f64(w)).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), numeric, atol=1e-8)
    compiled = gg.grad(lambda x: gnp.sum(gnp.linalg.pinv(x) * w))(a)
    np.testing.assert_allclose(compiled, numeric, atol=1e-8)
    near = a + 1e-3 * _RNG.standard_normal(a.shape)  # second order just beside the repeated values
    assert gradgradcheck(lambda x: (gg.linalg.pinv(x) * _f64(w)).sum(), [_f64(near, True)], atol=1e-5, rtol=1e-4)


def test_pinv_takes_a_cutoff_per_matrix():
    a = np.stack([np.diag([1.0, 1e-3, 0.0]), np.diag([1.0, 1e-3, 1e-6])])
    rcond = np.array([1e-2, 1e-9])
    expected = np.linalg.pinv(a, rcond=rcond)
    np.testing.assert_allclose(gnp.linalg.pinv(_f64(a), rcond=rcond).numpy(), expected)
    np.testing.assert_allclose(gg.linalg.pinv(_f64(a), rtol=_f64(rcond)).numpy(), expected)
    np.testing.assert_allclose(gg.compile(lambda x, r: gg.linalg.pinv(x, rtol=r))(_f64(a), _f64(rcond)).numpy(), expected)
    # vmap over the matrices and their cutoffs, and over the matrices beside one cutoff
    np.testing.assert_allclose(gg.vmap(lambda x, r: gg.linalg.pinv(x, rtol=r))(_f64(a), _f64(rcond)).numpy(), expected)
    np.testing.assert_allclose(gg.vmap(lambda x: gg.linalg.pinv(x, rtol=_f64(1e-2)))(_f64(a)).numpy(),
                               np.linalg.pinv(a, rcond=1e-2))
