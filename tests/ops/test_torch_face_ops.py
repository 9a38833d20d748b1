"""The ops of issue 8 section 3, each first and second order, eager and compiled, against float64 finite
differences (the pattern of tests/passes/test_gradients.py); forward values against closed forms or NumPy."""
import math

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.numpy as gnp
from graphgrad.utils.gradcheck import numerical_jacobian

from _gradcheck import ANY, AWAY, POS, SMALL, compiled_first_order, compiled_second_order, eager_first_order, \
    eager_second_order, sample


def idx(*values):
    return gg.tensor(np.array(values, dtype=np.int64))


CASES = {
    "tan": (lambda x: x.tan(), [(5,)], SMALL),
    "add_alpha": (lambda x, y: x.add(y * y, alpha=-0.5) * x.sub(y, alpha=2.0), [(3,), (3,)], ANY),
    "erf": (lambda x: gg.erf(x) * x, [(2, 3)], ANY),
    "rsqrt": (lambda x: x.rsqrt(), [(4,)], POS),
    "reciprocal": (lambda x: gg.reciprocal(x), [(2, 2)], POS),
    "expm1": (lambda x: gg.expm1(x) * x, [(4,)], ANY),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2) * x, [(6,)], AWAY),
    "elu": (lambda x: F.elu(x, alpha=1.5) * x, [(6,)], AWAY),
    "gelu": (lambda x: F.gelu(x), [(5,)], ANY),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [(5,)], ANY),
    "softplus": (lambda x: F.softplus(x) * x, [(5,)], ANY),
    "softplus_threshold": (lambda x: F.softplus(x, beta=2.0, threshold=1.0) * x, [(6,)], AWAY),
    "silu": (lambda x: F.silu(x), [(5,)], ANY),
    "cumsum": (lambda x: x.cumsum(1) ** 2, [(2, 4)], ANY),
    "cumsum_negative_dim": (lambda x: gg.cumsum(x * x, dim=-2), [(3, 2)], ANY),
    "unflatten": (lambda x: x.unflatten(1, (2, -1)) ** 2, [(2, 6)], ANY),
    "repeat": (lambda x: x.repeat(2, 1, 3) ** 2, [(2, 3)], ANY),
    "tile": (lambda x: gg.tile(x, (2,)) * gg.arange(8.0).reshape(2, 4), [(2, 2)], ANY),
    "split": (lambda x: sum((p * (i + 1)) ** 2 for i, p in enumerate(x.split([1, 3], dim=1))).sum(), [(2, 4)], ANY),
    "chunk": (lambda x: x.chunk(2)[1] ** 3, [(5, 2)], ANY),
    "flip": (lambda x: x.flip(0, 2) * gg.arange(12.0).reshape(2, 3, 2), [(2, 3, 2)], ANY),
    "roll": (lambda x: x.roll((1, -2), (0, 1)) * gg.arange(12.0).reshape(3, 4), [(3, 4)], ANY),
    "roll_flat": (lambda x: x.roll(2) * gg.arange(6.0).reshape(2, 3), [(2, 3)], ANY),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5) ** 2, [(2, 3)], ANY),
    "pad_crop": (lambda x: F.pad(x, (-1, 2)) ** 2, [(2, 3)], ANY),
    "gather": (lambda x: x.gather(1, idx([0, 0], [2, 1])) ** 2, [(2, 3)], ANY),
    "gather_dim0": (lambda x: gg.gather(x, 0, idx([1, 0, 1])) ** 2, [(2, 3)], ANY),
    "scatter_add": (lambda x, s: x.scatter_add(0, idx([0, 1, 0], [0, 0, 1]), s * s) * x, [(2, 3), (2, 3)], ANY),
    "index_select": (lambda x: x.index_select(1, idx(2, 0, 2)) ** 2, [(2, 3)], ANY),
    "index_select_dim0": (lambda x: gg.index_select(x, 0, idx(1, 1)) ** 2, [(3, 2)], ANY),
    "index_tensor_columns": (lambda x: x[:, idx(2, 0, 2)] ** 2, [(2, 3)], ANY),
    "index_tensor_pair": (lambda x: x[idx(0, 1, 1), idx(2, 0, 2)] ** 2, [(2, 3)], ANY),
    "index_tensor_ellipsis": (lambda x: x[..., idx([1, 1], [0, 1])] ** 2, [(2, 2, 2)], ANY),
    "index_tensor_with_slice": (lambda x: x[1:, idx(0, 0)] * x[idx(1), :2], [(3, 2)], ANY),
    "masked_fill": (lambda x: x.masked_fill(x > 0.3, 0.25) * x, [(6,)], AWAY),
    "max_pool2d_padding": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1) ** 2, [(1, 2, 4, 5)], AWAY),
    "bmm": (lambda x, y: gg.bmm(x, y), [(2, 2, 3), (2, 3, 2)], ANY),
    "dot": (lambda x, y: gg.dot(x, y) * x, [(3,), (3,)], ANY),
    "mv": (lambda x, y: x.mv(y), [(2, 3), (3,)], ANY),
    "outer": (lambda x, y: gg.outer(x, y), [(3,), (2,)], ANY),
    "einsum_matmul": (lambda x, y: gg.einsum("ij,jk->ik", x, y), [(2, 3), (3, 2)], ANY),
    "einsum_reduce": (lambda x: gg.einsum("ijk->j", x * x), [(2, 3, 2)], ANY),
    "einsum_broadcast_back": (lambda x, y: gg.einsum("ij,k->ik", x, y), [(2, 3), (2,)], ANY),
    "einsum_ellipsis_implicit": (lambda x, y: gg.einsum("...j,jk", x, y), [(2, 2, 3), (3, 2)], ANY),
    "einsum_three": (lambda x, y, z: gg.einsum("ij,jk,kl->il", x, y, z), [(2, 2), (2, 3), (3, 2)], ANY),
}


def inputs_for(name, rng):
    fn, shapes, kind = CASES[name]
    return fn, [sample(kind, s, rng) for s in shapes]


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_first_and_second_order(name, rng):
    eager_first_order(*inputs_for(name, rng))
    eager_second_order(*inputs_for(name, rng))


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_first_and_second_order_match_eager_and_finite_differences(name, rng):
    fn, arrays = inputs_for(name, rng)
    compiled_first_order(fn, arrays, rng)
    compiled_second_order(fn, arrays, rng)


# -- forward values -----------------------------------------------------------------------------------
def test_unary_values_against_closed_forms(rng):
    x = rng.uniform(0.2, 1.4, 7)
    t = gg.tensor(x)
    np.testing.assert_allclose(t.tan().numpy(), np.tan(x), rtol=1e-15)
    np.testing.assert_allclose(gg.erf(t).numpy(), [math.erf(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(t.rsqrt().numpy(), 1 / np.sqrt(x), rtol=1e-15)
    np.testing.assert_allclose(t.reciprocal().numpy(), 1 / x, rtol=1e-15)
    assert gg.tensor([1, 2]).erf().dtype == gg.float32 and gg.tensor([1, 2]).reciprocal().dtype == gg.float32
    assert gg.tensor([0.5]).erf().dtype == gg.float32


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_rounded_division_matches_python_in_both_modes(mode):
    run = (lambda f, *a: f(*a)) if mode == "eager" else (lambda f, *a: gg.compile(f)(*a))
    xs, ys = [-7.5, -7.0, -0.5, 0.0, 3.0, 7.25], [2.0, -2.0, 0.75, -3.0, 2.0, -0.5]
    x, y = gg.tensor(xs, dtype=gg.float64), gg.tensor(ys, dtype=gg.float64)
    floor = [a // b for a, b in zip(xs, ys)]
    trunc = [float(math.trunc(a / b)) for a, b in zip(xs, ys)]
    np.testing.assert_array_equal(run(lambda x, y: x // y, x, y).numpy(), floor)
    np.testing.assert_array_equal(run(lambda x, y: gg.div(x, y, rounding_mode="floor"), x, y).numpy(), floor)
    np.testing.assert_array_equal(run(lambda x, y: x.div(y, rounding_mode="trunc"), x, y).numpy(), trunc)
    np.testing.assert_array_equal(run(lambda x: 7.0 // x, y).numpy(), [7.0 // b for b in ys])
    ia, ib = [-7, 7, -9, 9, 2**62 + 1], [2, -2, -4, 4, 3]
    i, j = gg.tensor(ia), gg.tensor(ib)
    for out, expected in ((run(lambda i, j: i // j, i, j), [a // b for a, b in zip(ia, ib)]),
                          (run(lambda i, j: gg.div(i, j, rounding_mode="trunc"), i, j),
                           [abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1) for a, b in zip(ia, ib)]),
                          (run(lambda i: i // 2, i), [a // 2 for a in ia])):
        assert out.dtype == gg.int64 and out.tolist() == expected


def test_rounded_division_has_a_zero_gradient_in_both_modes():
    x = gg.tensor([-1.5, 0.4, 2.7], dtype=gg.float64, requires_grad=True)
    for fn in (lambda x: (x // 0.7 + x.div(0.3, rounding_mode="trunc")) * x,
               gg.compile(lambda x: (x // 0.7 + x.div(0.3, rounding_mode="trunc")) * x)):
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [-3 - 5, 0 + 1, 3 + 9])  # d/dx (q(x) * x) = q(x)
    assert (x // 0.7).grad_fn.name() == "DivBackward2"
    with pytest.raises(RuntimeError, match="rounding_mode to be one of None, 'trunc', or 'floor' but found 'round'"):
        x.div(2, rounding_mode="round")


def test_add_and_sub_methods_scale_other_by_alpha_in_both_modes():
    x, y = gg.tensor([1.0, 2.0]), gg.tensor([10.0, 20.0])
    for fn in (lambda x, y: gg.stack([x.add(y, alpha=2), x.sub(y, alpha=0.5), x.add(3, alpha=2)]),
               gg.compile(lambda x, y: gg.stack([x.add(y, alpha=2), x.sub(y, alpha=0.5), x.add(3, alpha=2)]))):
        np.testing.assert_array_equal(fn(x, y).numpy(), [[21.0, 42.0], [-4.0, -8.0], [7.0, 8.0]])


@pytest.mark.parametrize("dtype", [gg.float32, gg.float64, gg.int64, gg.bool])
def test_erf_keeps_pytorchs_dtype_in_both_modes(dtype):
    x = gg.tensor([0, 1, 1]).to(dtype)
    expected = gg.float64 if dtype == gg.float64 else gg.float32
    eager = gg.erf(x)
    compiled = gg.compile(lambda t: gg.erf(t))(x)
    assert eager.dtype == compiled.dtype == expected
    np.testing.assert_allclose(compiled.numpy(), [0.0, math.erf(1.0), math.erf(1.0)], rtol=1e-7)


def test_erf_generated_code_numpy_defines_erf_and_cupy_imports_only_cupy():
    f = gg.compile(lambda x: gg.erf(x).sum())
    x = gg.tensor([0.1, -2.0], dtype=gg.float64)
    assert float(f(x)) == pytest.approx(math.erf(0.1) + math.erf(-2.0), abs=1e-15)
    src = f.source(x)
    assert "\nimport math\nimport numpy as np\n\n\ndef erf(x):" in src and "t1 = erf(x)" in src
    cupy_src = f.source(x, backend="cupy")
    assert "ElementwiseKernel" in cupy_src and "import math" not in cupy_src
    assert "numpy" not in cupy_src.split("\n", 3)[-1]


def test_activations_against_closed_forms(rng):
    x = np.concatenate([rng.standard_normal(20), [-60.0, 0.0, 25.0, 60.0]])
    t = gg.tensor(x)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(F.gelu(t).numpy(), 0.5 * x * (1 + erf(x / math.sqrt(2))), rtol=1e-14, atol=1e-300)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(F.gelu(t, approximate="tanh").numpy(), tanh_form, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(F.leaky_relu(t).numpy(), np.where(x > 0, x, 0.01 * x), rtol=1e-15)
    np.testing.assert_allclose(F.elu(t).numpy(), np.where(x > 0, x, np.expm1(x)), rtol=1e-15)
    np.testing.assert_allclose(F.silu(t).numpy(), x / (1 + np.exp(-x)), rtol=1e-14)
    with np.errstate(over="ignore"):
        expected = np.where(x > 20, x, np.log1p(np.exp(x)))
    np.testing.assert_allclose(F.softplus(t).numpy(), expected, rtol=1e-14)


def test_softplus_gradient_is_finite_past_the_threshold():
    x = gg.tensor([800.0, -800.0, 0.0], requires_grad=True)
    F.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 0.5], atol=1e-7)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(x, approximate="erf")


def test_inplace_activation_writes_into_its_input():
    x = gg.tensor([-1.0, 2.0])
    assert F.leaky_relu(x, 0.5, inplace=True) is x
    np.testing.assert_array_equal(x.numpy(), [-0.5, 2.0])


def test_shape_ops_against_numpy(rng):
    x = rng.standard_normal((3, 4))
    t = gg.tensor(x)
    np.testing.assert_array_equal(t.flip(1).numpy(), np.flip(x, 1))
    np.testing.assert_array_equal(t.roll(5).numpy(), np.roll(x, 5))
    np.testing.assert_array_equal(t.roll((1, 3), (0, 1)).numpy(), np.roll(x, (1, 3), (0, 1)))
    np.testing.assert_array_equal(t.repeat(2, 1, 2).numpy(), np.tile(x, (2, 1, 2)))
    np.testing.assert_array_equal(t.tile(3).numpy(), np.tile(x, 3))
    np.testing.assert_array_equal(t.cumsum(0).numpy(), np.cumsum(x, 0))
    assert [p.shape for p in t.split(3, dim=1)] == [(3, 3), (3, 1)]
    assert [p.shape for p in gg.arange(5).chunk(3)] == [(2,), (2,), (1,)]
    assert [p.shape for p in gg.arange(6).chunk(4)] == [(2,), (2,), (2,)]  # as PyTorch: fewer chunks
    np.testing.assert_array_equal(F.pad(t, (1, 1), value=2.0).numpy(), np.pad(x, ((0, 0), (1, 1)), constant_values=2))
    assert gg.tensor([True, False]).cumsum(0).dtype == gg.int64


def test_numpy_face_matches_numpy(rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    t = gg.tensor(x)
    cases = [(gnp.cumsum, (x,), {}), (gnp.cumsum, (x,), {"axis": 1}), (gnp.flip, (x,), {}),
             (gnp.flipud, (x,), {}), (gnp.fliplr, (x,), {}), (gnp.roll, (x, 2), {"axis": 1}),
             (gnp.tile, (x, (2, 1)), {}),
             (gnp.pad, (x, 1), {}), (gnp.pad, (x, ((1, 0), (0, 2))), {"constant_values": 3.0}),
             (gnp.tan, (x,), {}), (gnp.reciprocal, (x,), {}), (gnp.expm1, (x,), {})]
    for fn, args, kwargs in cases:
        expected = getattr(np, fn.__name__)(*args, **kwargs)
        got = fn(t, *args[1:], **kwargs)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-15, err_msg=fn.__name__)
    np.testing.assert_allclose(gnp.outer(gg.tensor(y), y).numpy(), np.outer(y, y), rtol=1e-15)
    np.testing.assert_allclose(gnp.einsum("ij,j->i", t, y).numpy(), np.einsum("ij,j->i", x, y), rtol=1e-14)
    order = np.argsort(x, axis=1)
    np.testing.assert_array_equal(gnp.take_along_axis(t, order, 1).numpy(), np.take_along_axis(x, order, 1))
    for got, expected in zip(gnp.split(t, [1, 3], axis=1), np.split(x, [1, 3], axis=1)):
        np.testing.assert_array_equal(got.numpy(), expected)
    for got, expected in zip(gnp.split(t, 2, axis=1), np.split(x, 2, axis=1)):
        np.testing.assert_array_equal(got.numpy(), expected)


def test_numpy_face_gradients(rng):
    x = rng.standard_normal((2, 3))
    i = np.array([[2, 0], [1, 1]])
    g = gg.grad(lambda a: gnp.sum(gnp.cumsum(a, axis=1) ** 2 + gnp.roll(a, 1) * gnp.pad(a, 1)[1:-1, 2:])
                + gnp.sum(gnp.take_along_axis(a, i, 1) ** 3))(x)
    numeric = numerical_jacobian(
        lambda a: np.sum(np.cumsum(a, axis=1) ** 2 + np.roll(a, 1) * np.pad(a, 1)[1:-1, 2:])
        + np.sum(np.take_along_axis(a, i, 1) ** 3), [x])[0]
    np.testing.assert_allclose(g.ravel(), numeric.ravel(), rtol=1e-6, atol=1e-8)


def test_indexing_ops_values():
    x = gg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(x.gather(1, idx([2, 0], [1, 1])).numpy(), [[3, 1], [5, 5]])
    out = gg.zeros(2, 3).scatter_add(1, idx([0, 0, 2]).reshape(1, 3), gg.tensor([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(out.numpy(), [[3, 0, 3], [0, 0, 0]])  # repeated indices accumulate
    np.testing.assert_array_equal(x.index_select(0, idx(1, 0, 1)).numpy(), [[4, 5, 6], [1, 2, 3], [4, 5, 6]])
    filled = gg.tensor([1, 2, 3]).masked_fill(gg.tensor([True, False, True]), 7.9)
    assert filled.dtype == gg.int64 and filled.tolist() == [7, 2, 7]


def test_linalg_values(rng):
    a, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 3, 5))
    np.testing.assert_allclose(gg.bmm(gg.tensor(a), gg.tensor(b)).numpy(), a @ b, rtol=1e-14)
    np.testing.assert_allclose(gg.einsum("bij,bjk->bik", gg.tensor(a), gg.tensor(b)).numpy(), a @ b, rtol=1e-14)
    np.testing.assert_allclose(gg.einsum("bij->", gg.tensor(a)).numpy(), a.sum(), rtol=1e-14)
    v = rng.standard_normal(3)
    np.testing.assert_allclose(gg.tensor(a[0]).mv(gg.tensor(v)).numpy(), a[0] @ v, rtol=1e-14)
    np.testing.assert_allclose(gg.tensor(v).dot(gg.tensor(v)).numpy(), v @ v, rtol=1e-14)


@pytest.mark.parametrize("call, message", [
    (lambda: gg.bmm(gg.ones(2, 3), gg.ones(2, 3, 4)), "batch1 must be a 3D tensor"),
    (lambda: gg.bmm(gg.ones(2, 2, 3), gg.ones(2, 2, 4)),
     r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] but got: \[2, 2\]."),
    (lambda: gg.dot(gg.ones(3), gg.ones(4)), "inconsistent tensor size, expected tensor \\[3\\] and src \\[4\\]"),
    (lambda: gg.dot(gg.ones(2, 2), gg.ones(2)), "1D tensors expected, but got 2D and 1D tensors"),
    (lambda: gg.mv(gg.ones(2, 3), gg.ones(4)), r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)"),
    (lambda: gg.ones(5).split([2, 2]), r"split_with_sizes expects split_sizes to sum exactly to 5"),
    (lambda: gg.ones(3).masked_fill(gg.ones(3), 0.0),
     "masked_fill_ only supports boolean masks, but got mask with dtype float$"),
    (lambda: gg.ones(3).gather(0, gg.tensor([0.0])), "gather\\(\\): Expected dtype int64 for index"),
    (lambda: gg.zeros(3, dtype=gg.int64).scatter_add(0, idx(0), gg.ones(1)),
     "scatter\\(\\): Expected self.dtype to be equal to src.dtype"),
    (lambda: gg.ones(2, 3).repeat(2), "Number of dimensions of repeat dims can not be smaller"),
    (lambda: F.pad(gg.ones(2, 2), (1, 1), mode="bogus"), "^Unrecognised padding mode bogus$"),
    (lambda: F.pad(gg.ones(2, 2), (1,)), "Padding length must be divisible by 2"),
    (lambda: F.max_pool2d(gg.ones(1, 1, 4, 4), 2, padding=2),
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1"),
    (lambda: gg.ones(2, 6).unflatten(1, (4, -1)),
     r"Provided sizes \[4, -1\] don't multiply up to the size of dim 1 \(6\)"),
    (lambda: gg.outer(gg.ones(2, 2), gg.ones(2)), "outer: Expected 1-D argument self, but got 2-D"),
    (lambda: gg.ones(4).chunk(0), "chunk expects `chunks` to be greater than 0, got: 0"),
    (lambda: gg.einsum("ij,jk", gg.ones(2, 3), gg.ones(4, 2)), "einsum\\(\\)"),
    (lambda: gg.einsum("ii->i", gg.ones(2, 3)), "subscript i is repeated for operand 0 but the sizes don't match"),
])
def test_bad_input_gets_pytorchs_message(call, message):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError), match=message):
        call()


def test_traced_gather_takes_a_traced_index():
    """The index of gather is an input of the op: one compiled specialization serves every index."""
    f = gg.compile(lambda x, i: x.gather(1, i).sum())
    x = gg.tensor(np.arange(6.0).reshape(2, 3))
    assert float(f(x, idx([0], [2]))) == 0.0 + 5.0
    assert float(f(x, idx([1], [1]))) == 1.0 + 4.0


def test_traced_integer_array_indexing_takes_the_index_as_an_input():
    """x[:, i] and x[i, j] with index tensors trace (they used to need concrete indices); a new index reuses the
    specialization and gives the right values and gradients."""
    f = gg.compile(lambda x, i, j: (x[:, i] * x[i, j]).sum())
    x = np.arange(9.0).reshape(3, 3)
    for i, j in (([0, 2, 2], [1, 1, 0]), ([1, 0, 0], [2, 2, 2])):
        ti, tj = idx(*i), idx(*j)
        expected = (x[:, i] * x[i, j]).sum()
        assert float(f(gg.tensor(x), ti, tj)) == expected
        g = gg.grad(lambda x: (x[:, ti] * x[ti, tj]).sum())(x)
        numeric = numerical_jacobian(lambda a: np.asarray((a[:, i] * a[i, j]).sum()), [x])[0]
        np.testing.assert_allclose(g.ravel(), numeric.ravel(), atol=1e-8)
    assert "x[:, i]" in f.source(gg.tensor(x), ti, tj)


def test_boolean_mask_reads_in_eager_mode(rng):
    x = rng.standard_normal((3, 4))
    t = gg.tensor(x, requires_grad=True)
    picked = t[t > 0]
    np.testing.assert_array_equal(picked.detach().numpy(), x[x > 0])
    (picked * picked).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.where(x > 0, 2 * x, 0.0))
    rows = gg.tensor([True, False, True])
    np.testing.assert_array_equal(t[rows].detach().numpy(), x[[0, 2]])
    np.testing.assert_array_equal(t[:, gg.tensor([False, True, True, False])].detach().numpy(), x[:, 1:3])
    np.testing.assert_array_equal(t[..., gg.tensor([True, False, False, True])].detach().numpy(), x[..., [0, 3]])
    np.testing.assert_array_equal(t[[False, True, True]].detach().numpy(), x[[1, 2]])  # a list of bools is a mask
    np.testing.assert_array_equal(t[1:, np.array([True, True, False, False])].detach().numpy(), x[1:, :2])
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not match the shape of the "
                                         r"indexed tensor \[3, 4\] at index 0"):
        t[gg.tensor([True, False])]


def test_boolean_mask_in_compiled_code_names_where():
    f = gg.compile(lambda x: x[x > 0].sum())
    with pytest.raises(RuntimeError, match=r"boolean mask inside a compiled function.*graphgrad.where.*"
                                           r"test_torch_face_ops.py:\d+"):
        f(gg.tensor([1.0, -1.0]))


def test_max_pool2d_padding_pads_with_minus_infinity(rng):
    x = -np.abs(rng.standard_normal((2, 3, 5, 4))) - 1.0  # all negative: zero padding would win every edge window
    got = F.max_pool2d(gg.tensor(x), 2, stride=2, padding=1).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    expected = np.array([[[[padded[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max() for j in range(3)] for i in range(3)]
                          for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(got, expected)
    compiled = gg.compile(lambda t: F.max_pool2d(t, 2, stride=2, padding=1))
    np.testing.assert_array_equal(compiled(gg.tensor(x)).numpy(), expected)


def test_erf_of_a_zero_dim_tensor_in_both_modes():
    # the NumPy expression was np.frompyfunc(...)(x).astype(...): a 0-d input gave a Python float, no astype
    x = gg.tensor(0.5, dtype=gg.float64, requires_grad=True)
    for f in (gg.erf, gg.compile(lambda t: gg.erf(t))):
        y = f(x)
        assert y.shape == () and y.item() == pytest.approx(math.erf(0.5), abs=1e-15)


def test_an_all_false_mask_or_an_empty_index_array_selects_nothing():
    """x[mask] with no true element raised IndexError (the empty index array was emitted as np.array([]), float64);
    PyTorch returns an empty tensor, and the gradient is zero."""
    x = gg.ones(2, 3, requires_grad=True)
    picked = x[x > 5]
    assert tuple(picked.shape) == (0,)
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    assert tuple(gg.ones(2, 3)[:, np.zeros(0, dtype=np.int64)].shape) == (2, 0)
    assert tuple(gg.compile(lambda t: t[np.zeros(0, dtype=np.int64)] * 2)(gg.ones(3)).shape) == (0,)
