"""NumPy-face ops (issue 8, section 2): values equal NumPy's, and the gradients at their special points."""
import math

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.utils.gradcheck import numerical_jacobian

X = np.array([-1.7, -0.4, 0.0, 0.3, 1.2, 2.5])
UNIT = np.array([-0.9, -0.3, 0.0, 0.45, 0.8])
POS = np.array([0.2, 1.0, 3.5, 10.0])

UNARY = {"sinh": X, "cosh": X, "arcsin": UNIT, "arccos": UNIT, "arctan": X, "arcsinh": X, "arccosh": POS + 1.0,
         "arctanh": UNIT, "exp2": X, "log2": POS, "log10": POS, "cbrt": X, "floor": X, "ceil": X, "trunc": X,
         "round": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 0.49]), "around": X, "sinc": X, "fabs": X,
         "deg2rad": X, "rad2deg": X, "radians": X, "degrees": X,
         "nan_to_num": np.array([np.nan, np.inf, -np.inf, 1.5])}
BINARY = {"arctan2": (X, X[::-1]), "hypot": (X, X[::-1]), "logaddexp": (X, X[::-1]), "logaddexp2": (X, X[::-1]),
          "fmax": (np.array([1.0, np.nan, 2.0, np.nan]), np.array([np.nan, 3.0, 1.0, np.nan])),
          "fmin": (np.array([1.0, np.nan, 2.0, np.nan]), np.array([np.nan, 3.0, 1.0, np.nan])),
          "mod": (X, np.array([0.7, -0.7, 0.7, -0.7, 0.7, -0.7])), "remainder": (X, np.array([0.5] * 6)),
          "fmod": (X, np.array([0.7, -0.7, 0.7, -0.7, 0.7, -0.7]))}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_unary_values_equal_numpy(name, compiled):
    x = UNARY[name]
    fn = getattr(gnp, name)
    got = (gg.compile(fn) if compiled else fn)(gg.tensor(x, dtype=gg.float64)).numpy()
    np.testing.assert_allclose(got, getattr(np, name)(x), rtol=1e-12, atol=0, equal_nan=True)
    assert isinstance(fn(x), np.ndarray)  # plain arrays: NumPy's own result


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_binary_values_equal_numpy(name, compiled):
    a, b = BINARY[name]
    fn = getattr(gnp, name)
    got = (gg.compile(fn) if compiled else fn)(gg.tensor(a, dtype=gg.float64), gg.tensor(b, dtype=gg.float64))
    np.testing.assert_allclose(got.numpy(), getattr(np, name)(a, b), rtol=1e-12, atol=1e-15, equal_nan=True)


def test_mod_operator_and_pytorch_names():
    x = gg.tensor([-1.7, 2.5], dtype=gg.float64)
    np.testing.assert_allclose((x % 0.7).numpy(), np.mod([-1.7, 2.5], 0.7), rtol=1e-12)
    np.testing.assert_allclose((5.0 % x).numpy(), np.mod(5.0, [-1.7, 2.5]), rtol=1e-12)
    np.testing.assert_allclose(gg.atan2(x, x * 2).numpy(), np.arctan2([-1.7, 2.5], [-3.4, 5.0]), rtol=1e-12)
    np.testing.assert_allclose(x.remainder(0.7).numpy(), (x % 0.7).numpy())
    for torch_name, numpy_name in (("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"), ("asinh", "arcsinh"),
                                   ("atanh", "arctanh")):
        t = gg.tensor([0.25], dtype=gg.float64)
        assert getattr(t, torch_name)().item() == getattr(np, numpy_name)(0.25)


def test_sinc_at_zero_value_and_derivatives():
    assert gg.grad(gnp.sinc)(0.0) == 0.0
    # sinc(x) = 1 - (pi x)^2 / 6 + ...: the second derivative at 0 is -pi^2 / 3
    np.testing.assert_allclose(gg.grad(gg.grad(gnp.sinc))(0.0), -math.pi ** 2 / 3, rtol=1e-12)
    x = gg.tensor([0.0, 5e-4, 2e-3], dtype=gg.float64, requires_grad=True)
    (g,) = gg.autograd.grad(gnp.sinc(x).sum(), x, create_graph=True)
    exact = [0.0] + [(math.cos(math.pi * v) - math.sin(math.pi * v) / (math.pi * v)) / v for v in (5e-4, 2e-3)]
    np.testing.assert_allclose(g.detach().numpy(), exact, rtol=1e-8, atol=1e-15)
    (h,) = gg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy()[0], -math.pi ** 2 / 3, rtol=1e-12)


def test_logaddexp_of_two_negative_infinities():
    with np.errstate(divide="ignore"):
        value, (gx, gy) = gg.value_and_grad(lambda x, y: gnp.logaddexp(x, y), argnums=(0, 1))(-np.inf, -np.inf)
    assert value == -np.inf and gx == 0.0 and gy == 0.0


def test_fmax_gradient_skips_nan_operands():
    a, b = np.array([1.0, np.nan, 2.0]), np.array([np.nan, 3.0, 5.0])
    ga, gb = gg.grad(lambda a, b: gnp.sum(gnp.fmax(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(gb, [0.0, 1.0, 1.0])


def test_nan_to_num_passes_gradient_through_finite_elements():
    g = gg.grad(lambda x: gnp.sum(gnp.nan_to_num(x * 2.0)))(np.array([np.nan, 1.0, np.inf]))
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0])


def test_piecewise_constant_functions_have_zero_gradient():
    for fn in (gnp.floor, gnp.ceil, gnp.trunc, gnp.round):
        np.testing.assert_array_equal(gg.grad(lambda x: gnp.sum(fn(x) * 1.0))(np.array([0.3, 1.7])), [0.0, 0.0])


A = np.arange(24.0).reshape(2, 3, 4)
V = np.arange(3.0)
M = np.arange(6.0).reshape(2, 3)
SHAPE_CALLS = [
    ("swapaxes", lambda f, a: f(a, 0, 2), A), ("moveaxis", lambda f, a: f(a, [0, 1], [2, 0]), A),
    ("moveaxis", lambda f, a: f(a, -1, 0), A), ("rollaxis", lambda f, a: f(a, 2, 1), A),
    ("rollaxis", lambda f, a: f(a, 0, 3), A), ("atleast_1d", lambda f, a: f(a), np.array(2.0)),
    ("atleast_2d", lambda f, a: f(a), V), ("atleast_3d", lambda f, a: f(a), V), ("atleast_3d", lambda f, a: f(a), M),
    ("vstack", lambda f, a: f([a, a * 2]), V), ("vstack", lambda f, a: f([a, np.ones(3)]), V),
    ("hstack", lambda f, a: f([a, a]), M), ("hstack", lambda f, a: f([a, [7.0]]), V),
    ("dstack", lambda f, a: f([a, a]), M), ("column_stack", lambda f, a: f([a, a]), V),
    ("array_split", lambda f, a: f(a, 3, axis=2), A), ("array_split", lambda f, a: f(a, [1, 5], axis=2), A),
    ("vsplit", lambda f, a: f(a, 2), A), ("hsplit", lambda f, a: f(a, [1]), A), ("hsplit", lambda f, a: f(a, 3), V),
    ("dsplit", lambda f, a: f(a, 2), A), ("repeat", lambda f, a: f(a, 2, axis=1), M),
    ("repeat", lambda f, a: f(a, [1, 0, 2], axis=-1), M), ("repeat", lambda f, a: f(a, 2), M),
    ("rot90", lambda f, a: f(a), M), ("rot90", lambda f, a: f(a, 3, (2, 0)), A), ("rot90", lambda f, a: f(a, -2), M),
    ("append", lambda f, a: f(a, [1.0, 2.0]), M), ("append", lambda f, a: f(a, a, axis=0), M),
    ("flipud", lambda f, a: f(a), M), ("fliplr", lambda f, a: f(a), M),
]


@pytest.mark.parametrize("name, call, a", SHAPE_CALLS, ids=[f"{c[0]}{i}" for i, c in enumerate(SHAPE_CALLS)])
def test_shape_functions_equal_numpy(name, call, a):
    expected = call(getattr(np, name), a)
    got = call(getattr(gnp, name), gg.tensor(a, dtype=gg.float64))
    if isinstance(expected, list):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g.numpy(), e)
    else:
        np.testing.assert_array_equal(got.numpy(), expected)
    # and its gradient: of the sum of squares of every piece, against finite differences of NumPy's function
    def loss(fn, x):
        return sum((p ** 2).sum() for p in _pieces(call(fn, x)))

    g = gg.grad(lambda x: loss(getattr(gnp, name), x))(a)
    numeric = numerical_jacobian(lambda x: np.asarray(loss(getattr(np, name), x)), [a])[0].reshape(a.shape)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-6)


def _pieces(out):
    return out if isinstance(out, list) else [out]


def test_numpy_repeat_is_not_pytorchs_repeat():
    t = gg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(gnp.repeat(t, 2).numpy(), [1.0, 1.0, 2.0, 2.0])
    np.testing.assert_array_equal(t.repeat(2).numpy(), [1.0, 2.0, 1.0, 2.0])


B = np.arange(12.0).reshape(3, 4) - 5
U, W = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
LINALG_CALLS = [
    ("tensordot", (A, np.ones((3, 4))), {}), ("tensordot", (B, np.ones((4, 2)), 1), {}),
    ("tensordot", (A, np.ones((4, 3)), ([1, 2], [1, 0])), {}), ("inner", (U, W), {}), ("inner", (B, np.ones((2, 4))), {}),
    ("kron", (B[:2, :2], np.eye(2)), {}), ("kron", (U, W), {}), ("cross", (U, W), {}),
    ("cross", (np.stack([U, W]), W), {}), ("cross", (np.stack([U, W]).T, W), {"axisa": 0}),
    ("diagonal", (A, 1, 1, 2), {}), ("diagonal", (B, -1), {}), ("trace", (B,), {}), ("trace", (A, 0, 2, 1), {}),
    ("diag", (U,), {}), ("diag", (U, 1), {}), ("diag", (U, -2), {}), ("diag", (B, 1), {}),
    ("tril", (B,), {}), ("triu", (B, 1), {}), ("tril", (A, -1), {}),
    ("sort", (B[::-1],), {}), ("sort", (B[::-1],), {"axis": 0}), ("sort", (B,), {"axis": None}),
    ("argsort", (np.array([3.0, 1.0, 3.0, 0.0]),), {}),
    ("diff", (B,), {}), ("diff", (B,), {"n": 2, "axis": 0}), ("diff", (B,), {"prepend": 0.0, "append": [[7.0]] * 3}),
]


@pytest.mark.parametrize("name, args, kwargs", LINALG_CALLS, ids=[f"{c[0]}{i}" for i, c in enumerate(LINALG_CALLS)])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_products_matrix_parts_sort_diff_equal_numpy(name, args, kwargs, compiled):
    expected = getattr(np, name)(*args, **kwargs)
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def fn(*tensors):
        full = list(args)
        for i, t in zip(arrays, tensors):
            full[i] = t
        return getattr(gnp, name)(*full, **kwargs)

    fn = gg.compile(fn) if compiled else fn
    got = fn(*[gg.tensor(args[i], dtype=gg.float64) for i in arrays])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert got.shape == expected.shape


def test_array_methods_and_numpy_keywords():
    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64)
    np.testing.assert_array_equal(x.ravel().numpy(), [1.0, 2.0, 3.0, 4.0])
    assert x.astype(np.float32).dtype == gg.float32 and x.astype("int64").dtype == gg.int64
    assert x.astype(gg.float32).dtype == gg.float32
    assert gnp.sum(x, dtype=np.float32).dtype == gg.float32
    np.testing.assert_allclose(gnp.mean(x, axis=0, dtype=np.float32, keepdims=True).numpy(), [[2.0, 3.0]])
    g = gg.grad(lambda v: gnp.sum(v.ravel().astype(np.float64) ** 2, axis=0))(np.ones((2, 2)))
    np.testing.assert_array_equal(g, np.full((2, 2), 2.0))


def test_out_argument_of_graphgrad_numpy_functions_is_refused_clearly():
    with pytest.raises(TypeError, match=r"graphgrad.numpy.sum: out= is not supported on tensors"):
        gnp.sum(gg.ones(2), out=np.zeros(()))
    assert gnp.sum(np.ones(2), out=np.zeros(())) == 2.0  # plain arrays: NumPy's own, out= and all


def test_functional_item_updates():
    x = gg.zeros(4)
    np.testing.assert_array_equal(gg.index_update(x, slice(1, 3), 5.0).numpy(), [0.0, 5.0, 5.0, 0.0])
    np.testing.assert_array_equal(x.at[[0, 0, 2]].add(1.0).numpy(), [2.0, 0.0, 1.0, 0.0])  # repeats accumulate
    np.testing.assert_array_equal(x.at[1].set(gg.tensor(3.0)).numpy(), [0.0, 3.0, 0.0, 0.0])
    assert x.numpy().tolist() == [0.0] * 4  # x itself is unchanged
    m = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(m.at[m > 2].set(0.0).numpy(), [[1.0, 2.0], [0.0, 0.0]])

    def f(a, v):
        a = a.at[0].set(v * 2)
        a = a.at[1:].add(a[0] * v)
        return gnp.sum(a ** 2)

    a, v = np.array([1.0, 2.0, 3.0]), np.array(0.5)
    ga, gv = gg.grad(f, argnums=(0, 1))(a, v)
    def f_np(a, v):  # the same computation on arrays, for finite differences
        a = a.copy()
        a[0] = v * 2
        a[1:] += a[0] * v
        return np.sum(a ** 2)

    np.testing.assert_allclose(ga, numerical_jacobian(lambda a_: np.asarray(f_np(a_, v)), [a])[0].ravel(), rtol=1e-6)
    np.testing.assert_allclose(gv, numerical_jacobian(lambda v_: np.asarray(f_np(a, v_)), [v])[0].ravel(), rtol=1e-6)


def test_item_assignment_in_traced_code_names_the_functional_form():
    from graphgrad.tracer import TracerError

    def f(a):
        a[0] = 1.0
        return gnp.sum(a)

    with pytest.raises(TracerError, match=r"a = a.at\[i\].set\(v\) \(or graphgrad.index_update\(a, i, v\)"):
        gg.grad(f)(np.ones(2))


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf])
def test_linalg_norm_of_matrices_is_numpys_matrix_norm(ord):
    m = np.array([[1.0, -2.0], [3.0, 4.0]])
    a = np.arange(24.0).reshape(2, 3, 4) - 10
    assert gnp.linalg.norm(gg.tensor(m, dtype=gg.float64), ord).item() == pytest.approx(np.linalg.norm(m, ord))
    for axis in ((2, 0), (1, 2)):
        for keepdims in (False, True):
            got = gnp.linalg.norm(gg.tensor(a, dtype=gg.float64), ord, axis=axis, keepdims=keepdims)
            np.testing.assert_allclose(got.numpy(), np.linalg.norm(a, ord, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_linalg_norm_refuses_what_numpy_refuses():
    # 'nuc', 2 and -2 are computed from singular values now (tests/ops/test_linalg.py)
    assert gnp.linalg.norm(gg.ones(2, 2, dtype=gg.float64), "nuc").item() == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(ValueError, match="Improper number of dimensions to norm."):
        gnp.linalg.norm(gg.ones(2, 2, 2), 1)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumprod_equals_numpy_and_its_gradient_is_exact_at_zeros(axis):
    a = np.array([[1.5, 2.0, 0.0, 4.0, -1.0], [0.5, -2.0, 3.0, 0.0, 0.0]])
    for compiled in (False, True):
        fn = gg.compile(lambda x: gnp.cumprod(x, axis=axis)) if compiled else (lambda x: gnp.cumprod(x, axis=axis))
        np.testing.assert_allclose(fn(gg.tensor(a, dtype=gg.float64)).numpy(), np.cumprod(a, axis=axis), rtol=1e-14)
    w = np.arange(1.0, a.size + 1).reshape(np.cumprod(a, axis=axis).shape)
    g = gg.grad(lambda x: gnp.sum(gnp.cumprod(x, axis=axis) * w))(a)
    numeric = numerical_jacobian(lambda x: np.asarray(np.sum(np.cumprod(x, axis=axis) * w)), [a])[0]
    np.testing.assert_allclose(g.ravel(), numeric.ravel(), rtol=1e-7, atol=1e-7)


# -- partition: NumPy's contract (kth in sorted place, smaller before, larger after), a permutation's gradient --
PARTITIONS = [((7,), 3, -1), ((7,), -1, 0), ((7,), (1, 5), -1), ((3, 5), 2, 1), ((4, 3), 0, 0), ((2, 3, 4), 1, 1),
              ((3, 4), 5, None)]


def _check_partition(got, a, kth, axis):
    if axis is None:
        a, axis = a.ravel(), 0
    got, srt = np.moveaxis(got, axis, -1), np.moveaxis(np.sort(a, axis=axis), axis, -1)
    np.testing.assert_array_equal(np.sort(got, axis=-1), srt)  # a permutation of each line
    for k in np.atleast_1d(kth) % a.shape[axis]:
        np.testing.assert_array_equal(got[..., k], srt[..., k])
        assert (got[..., :k] <= got[..., k:k + 1]).all() and (got[..., k + 1:] >= got[..., k:k + 1]).all()


@pytest.mark.parametrize("shape,kth,axis", PARTITIONS)
def test_partition_values_eager_and_compiled(shape, kth, axis, rng):
    a = rng.permutation(np.linspace(-3.0, 3.0, int(np.prod(shape)))).reshape(shape)
    eager = gnp.partition(gg.tensor(a), kth, axis)
    compiled = gg.compile(lambda x: gnp.partition(x, kth, axis))(a)
    for got in (eager.numpy(), np.asarray(compiled), gnp.partition(a, kth, axis)):
        _check_partition(got, a, kth, axis)
    order = gnp.argpartition(gg.tensor(a), kth, axis).numpy()
    _check_partition(np.take_along_axis(a.ravel() if axis is None else a, order, 0 if axis is None else axis),
                     a, kth, axis)


@pytest.mark.parametrize("shape,kth,axis", PARTITIONS)
def test_partition_gradients_first_and_second_order(shape, kth, axis, rng):
    """The gradient of a weighted sum of partition(x) puts each weight at its value's place in x; second order
    through a cube; eager autograd and gg.grad (compiled) against finite differences."""
    a = rng.permutation(np.linspace(-3.0, 3.0, int(np.prod(shape)))).reshape(shape)
    out_shape = (a.size,) if axis is None else shape
    w = rng.standard_normal(out_shape)

    def f(x):
        return gnp.sum(gnp.partition(x, kth, axis) ** 3 * w)

    numeric = numerical_jacobian(lambda x: np.asarray(float(f(gg.tensor(x)).item())), [a])[0].reshape(shape)
    np.testing.assert_allclose(gg.grad(f)(a), numeric, rtol=1e-6, atol=1e-6)
    t = gg.tensor(a, requires_grad=True)
    (g,) = gg.autograd.grad(f(t), [t], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), numeric, rtol=1e-6, atol=1e-6)
    # second order: d/dx sum(grad f * v), against differences of the compiled gradient
    v = rng.standard_normal(shape)
    (h,) = gg.autograd.grad((g * gg.tensor(v)).sum(), [t])
    second = gg.grad(lambda x: gnp.sum(gg.grad(f)(x) * v))(a)
    numeric2 = numerical_jacobian(lambda x: np.asarray(float(np.sum(gg.grad(f)(x) * v))), [a])[0].reshape(shape)
    np.testing.assert_allclose(h.numpy(), numeric2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(second, numeric2, rtol=1e-5, atol=1e-5)


def test_partition_under_vmap_and_bad_kth():
    a = np.array([[3.0, 1.0, 2.0, 0.0], [0.5, 9.0, -4.0, 1.0]])
    batched = gg.vmap(lambda x: gnp.partition(x, 1))(a)
    for row, got in zip(a, np.asarray(batched)):
        _check_partition(got, row, 1, -1)
    with pytest.raises(ValueError, match=r"kth\(=4\) out of bounds \(4\)"):
        gnp.partition(gg.tensor(a), 4)
    with pytest.raises(TypeError, match="Partition index must be integer"):
        gnp.partition(gg.tensor(a), 1.5)


# -- allclose, isclose, any, all: bool tensors; select, linspace, gradient, c_ ----------------------------------
def test_allclose_any_all_on_tensors_are_bool_tensors_that_conditions_read():
    """NumPy returns a Python bool; on tensors these are 0-d bool tensors, as Tensor.any/all: bool() reads an eager
    one, and traced code uses them as conditions (a Python bool of a traced value would be data-dependent)."""
    t = gg.tensor([1.0, 2.0], requires_grad=True)
    for got, want in ((gnp.allclose(t, [1.0, 2.0 + 1e-9]), True), (np.allclose(t, [1.0, 2.1]), False),
                      (gnp.any(t > 1.5), True), (np.all(t > 1.5), False)):
        assert isinstance(got, gg.Tensor) and got.shape == () and got.dtype == gg.bool and bool(got) is want
    np.testing.assert_array_equal(gnp.isclose(t, [1.0, 2.1]).numpy(), [True, False])

    def f(x):  # x * 2 where x is close to 1 everywhere, else x * 3
        return gnp.sum(gnp.where(gnp.allclose(x, 1.0, atol=0.5), x * 2.0, x * 3.0))

    for a, slope in ((np.array([0.9, 1.2]), 2.0), (np.array([0.9, 2.0]), 3.0)):
        np.testing.assert_allclose(gg.grad(f)(a), [slope, slope])
        np.testing.assert_allclose(float(gg.compile(f)(a)), slope * a.sum())
    assert gnp.allclose(np.ones(2), [1.0, 1.0]) is True  # plain arrays: NumPy's own
    with pytest.raises(NotImplementedError, match=r"any: where= is not supported on tensors"):
        gnp.any(t > 0, where=np.array([True, False]))


def test_select_differentiates_in_choices_and_default_and_refuses_what_numpy_refuses(check_gradients):
    mask = np.array([True, False, False, True])

    def f(x):  # a constant condition beside traced ones; a constant choice; a traced default
        return gnp.sum(gnp.select([mask, x > 1.0], [x ** 2, np.full(4, 7.0)], default=gnp.sin(x)) * x)

    a = np.array([0.3, 1.5, -0.7, 2.2])
    expected = np.sum(np.select([mask, a > 1.0], [a ** 2, np.full(4, 7.0)], default=np.sin(a)) * a)
    np.testing.assert_allclose(float(f(gg.tensor(a)).item()), expected, rtol=1e-12)
    check_gradients(f, [a])
    t = gg.tensor(a)
    with pytest.raises(ValueError, match="list of cases must be same length as list of conditions: 1 choices "
                                         "for 2 conditions"):
        gnp.select([t > 0, t < 0], [t])
    with pytest.raises(ValueError, match="select with an empty condition list is not possible"):
        gnp.select([], [], default=t)
    with pytest.raises(TypeError, match="invalid entry 1 in condlist: should be boolean ndarray, got dtype float64"):
        gnp.select([t > 0, t], [t, t])


def test_linspace_is_numpys_and_differentiable_in_start_and_stop(check_gradients):
    start, stop = np.array([0.5, -1.0]), np.array([[2.0], [3.0]])
    for kw in ({}, {"num": 4, "endpoint": False, "axis": -1}, {"num": 1}, {"num": 0}, {"num": 3, "axis": 1}):
        got = gnp.linspace(gg.tensor(start), gg.tensor(stop), **kw)
        np.testing.assert_allclose(got.numpy(), np.linspace(start, stop, **kw), rtol=1e-15, atol=0)
    samples, step = gnp.linspace(gg.tensor(1.0, dtype=gg.float64), 2.0, 5, retstep=True)
    assert float(step) == np.linspace(1.0, 2.0, 5, retstep=True)[1]
    np.testing.assert_array_equal(gnp.linspace(gg.tensor(-1.5, dtype=gg.float64), 2.0, 4, dtype=int).numpy(),
                                  np.linspace(-1.5, 2.0, 4, dtype=int))
    check_gradients(lambda a, b: gnp.sum(gnp.linspace(a, b, 5) ** 3), [np.array(0.5), np.array([1.0, 2.0])])
    assert isinstance(gnp.linspace(0.0, 1.0, 3), np.ndarray)  # plain numbers: NumPy's own
    np.testing.assert_array_equal(gnp.linspace(0.0, 1.0, gg.tensor(3)), np.linspace(0.0, 1.0, 3))  # a tensor num
    with pytest.raises(ValueError, match="Number of samples, -1, must be non-negative"):
        gnp.linspace(gg.tensor(0.0), 1.0, -1)
    with pytest.raises(TypeError, match=r"linspace: num=2.5 cannot be safely interpreted as an integer"):
        gnp.linspace(gg.tensor(0.0), 1.0, 2.5)


def test_gradient_spacings_and_edges_and_errors(check_gradients):
    rng = np.random.default_rng(3)
    f = rng.standard_normal((5, 4))
    x = np.array([0.0, 0.4, 1.1, 1.5])
    for args, kw in (((), {}), ((0.5,), {"edge_order": 2}), ((2.0, x), {}), ((x,), {"axis": -1, "edge_order": 2})):
        got, want = gnp.gradient(gg.tensor(f), *args, **kw), np.gradient(f, *args, **kw)
        got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-14, atol=1e-14)
    # differentiable in the samples, a traced scalar spacing and traced coordinates
    check_gradients(lambda v, h: gnp.sum(gnp.gradient(v, h, edge_order=2) ** 2), [f[:, 0], np.array(0.3)])
    check_gradients(lambda c: gnp.sum(gnp.gradient(f[0], c) ** 2 * np.arange(4.0)), [x])
    t = gg.tensor(f)
    with pytest.raises(ValueError, match=r"at least \(edge_order \+ 1\) elements are required: axis 0 has 2 for "
                                         r"edge_order=2"):
        gnp.gradient(t[:2], axis=0, edge_order=2)
    with pytest.raises(ValueError, match="'edge_order' greater than 2 not supported"):
        gnp.gradient(t, edge_order=3)
    with pytest.raises(TypeError, match=r"invalid number of arguments: .* \(2\), got 3"):
        gnp.gradient(t, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="when 1d, distances must match the length of the corresponding dimension: "
                                         "the spacing of axis 1 has 3 coordinates for 4 samples"):
        gnp.gradient(t, 1.0, x[:3])


def test_c_joins_columns_like_numpy_and_differentiates():
    v = np.array([1.0, -2.0, 0.5])
    m = np.arange(6.0).reshape(3, 2)
    t = gg.tensor(v, requires_grad=True)
    for got, want in ((gnp.c_[t, v * 2, 0:3], np.c_[v, v * 2, 0:3]), (gnp.c_[m, t], np.c_[m, v]),
                      (gnp.c_[t.reshape(1, 3, 1), np.ones((1, 3, 2))], np.c_[v.reshape(1, 3, 1), np.ones((1, 3, 2))]),
                      (gnp.c_[[t[0]], [5.0]], np.c_[[v[0]], [5.0]])):
        np.testing.assert_array_equal(got.detach().numpy(), want)
    g = gg.grad(lambda x: gnp.sum(gnp.c_[x, x ** 2] @ np.array([1.0, 10.0])))(v)
    np.testing.assert_allclose(g, 1.0 + 20.0 * v)
    np.testing.assert_array_equal(gnp.c_[1:3, [4, 5]], np.c_[1:3, [4, 5]])  # plain values: NumPy's own
    with pytest.raises(NotImplementedError, match="c_ with a string directive and tensors"):
        gnp.c_["0", t, t]
