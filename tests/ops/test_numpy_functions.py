"""The functions NumPy lacks (``ops/numpy_functions.py``), which a generated NumPy module defines for itself and
eager code calls.

erf: from 1,500 elements on, fdlibm's rational approximations computed array by array, within an ulp of the C
library's erf (Python's ``math.erf``) on every range of the algorithm and at its ends; below, that erf itself per
element; PyTorch's dtypes, any shape; the module runs without graphgrad; a user's variable named ``erf`` does
not hide it. (It was ``math.erf`` per element at every size: 2.5 times slower on large arrays.)

where: ``np.where``'s values bit for bit (nan payloads and signed zeros included), for every dtype, broadcast
operands and scalars, on both sides of the size from which it selects bit patterns (``np.where`` branches per
element: 6x slower on a large array under a condition without pattern)."""
import math

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.ops.numpy_functions import erf, where


def _ulps(got, want):
    """How many units in the last place of ``want`` apart (0 for two equal values, nan or not)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    return np.where(same, 0.0, np.abs(got - want) / np.spacing(np.abs(want)))


def test_erf_is_within_an_ulp_of_the_c_librarys_on_every_range_and_at_its_ends():
    rng = np.random.default_rng(0)
    ends = [0.84375, 1.25, 1 / 0.35, 6.0]
    xs = np.concatenate([
        rng.standard_normal(20000) * 2,
        np.linspace(-7.0, 7.0, 20001),
        np.concatenate([np.nextafter(e, [-np.inf, np.inf]) for e in ends] + [ends]),
        10.0 ** rng.uniform(-320, 2, 4000) * rng.choice([-1.0, 1.0], 4000),  # subnormals to 100
        [0.0, -0.0, 2.0 ** -28, 2.0 ** -56, 5e-324, -5e-324, 1e300, -1e300, np.inf, -np.inf, np.nan],
    ])
    got = erf(xs)
    want = np.array([math.erf(v) for v in xs])
    assert got.dtype == np.float64 and got.shape == xs.shape
    assert _ulps(got, want).max() <= 1
    assert np.array_equal(np.signbit(got), np.signbit(want))  # erf(-0.0) is -0.0


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float64, np.float64),
                                             (np.int64, np.float64), (np.bool_, np.float32)])
def test_erf_returns_the_inputs_float_dtype_and_shape(dtype, expected):
    for shape in [(), (3,), (2, 0), (2, 3, 4), (2, 3, 400)]:  # (the last computed array by array)
        x = (np.arange(int(np.prod(shape))).reshape(shape) % 5 - 2).astype(dtype)
        got = erf(x)
        assert isinstance(got, np.ndarray) and got.dtype == expected and got.shape == shape
        want = np.array([math.erf(float(v)) for v in x.reshape(-1)], dtype=expected).reshape(shape)
        np.testing.assert_array_equal(got, want)
    x = np.linspace(-3, 3, 12).reshape(3, 4).T  # a strided view
    np.testing.assert_array_equal(erf(x), np.vectorize(math.erf)(x))


def test_small_arrays_call_the_c_librarys_erf_and_agree_with_large_ones_within_an_ulp():
    x = np.random.default_rng(1).standard_normal(3000) * 3
    small, large = erf(x[:1000]), erf(x)
    np.testing.assert_array_equal(small, [math.erf(v) for v in x[:1000]])
    assert _ulps(large[:1000], small).max() <= 1


def test_erf_eager_and_compiled_agree_with_the_c_library_in_float32_and_float64():
    xs = np.linspace(-5.0, 5.0, 2001)
    for dtype in (gg.float32, gg.float64):
        x = gg.tensor(xs, dtype=dtype)
        want = np.array([math.erf(v) for v in x.numpy().astype(np.float64)]).astype(x.numpy().dtype)
        for fn in (gg.erf, gg.compile(lambda t: gg.erf(t))):
            got = fn(x).numpy()
            assert got.dtype == want.dtype
            assert _ulps(got, want).max() <= 1


def test_a_generated_module_defines_erf_and_runs_without_graphgrad():
    def f(x):
        erf = x.erf()  # the user's name: the module's own erf keeps its name, the variable takes another
        return (erf * erf).sum()

    x = gg.tensor(np.linspace(-3, 3, 7), requires_grad=True)
    compiled = gg.compile(f)
    source = compiled.source(x)
    assert source.count("def erf(x):") == 1 and "erf = erf(" not in source
    # the header says what the module imports: math too, for erf of small arrays
    assert "# Imports only numpy and Python's math; safe to copy" in source and "\nimport math\n" in source
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # only numpy and math are imported
    value, *saved = namespace["forward"](x.detach().numpy())
    e = np.array([math.erf(v) for v in np.linspace(-3, 3, 7)])
    np.testing.assert_allclose(value, (e * e).sum(), rtol=1e-15)
    (grad,) = (namespace["backward"](*saved, np.ones(())),)
    np.testing.assert_allclose(grad, 2 * e * 2 / math.sqrt(math.pi) * np.exp(-np.linspace(-3, 3, 7) ** 2), rtol=1e-14)
    compiled(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-15)


def test_gelu_of_a_large_batch_matches_the_closed_form():
    import graphgrad.nn.functional as F

    x = np.random.default_rng(3).standard_normal((64, 300)) * 3
    want = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    for fn in (F.gelu, gg.compile(F.gelu)):
        got = fn(gg.tensor(x)).numpy()
        # 1 + erf(x / sqrt(2)) cancels for negative x: an ulp of erf there is 2.2e-16 of 0.5 |x|, absolutely
        assert np.all(np.abs(got - want) <= 1e-14 * np.abs(want) + 2.3e-16 * np.abs(x))


def _special_values(n: int, dtype, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n) * 10
    if np.dtype(dtype).kind == "f":
        values[:6] = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0]
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("n", [100, 8191, 8192, 50000])
def test_where_gives_numpys_values_bit_for_bit(dtype, n):
    rng = np.random.default_rng(n)
    condition = rng.random(n) < 0.5  # no pattern: where NumPy's branches cost most
    x, y = _special_values(n, dtype, 1), _special_values(n, dtype, 2)
    for args in [(condition, x, y), (condition, x, 0.0 if dtype != np.bool_ else False), (condition, 1, y),
                 (condition, x[0], y), (np.asarray(True), x, y), (condition[0], x, y), (x, x, y)]:
        got, want = where(*args), np.where(*args)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


def test_where_broadcasts_as_numpys():
    rng = np.random.default_rng(5)
    condition = rng.random((300, 1)) < 0.5
    x = rng.standard_normal((1, 200)).astype(np.float32)
    y = rng.standard_normal((300, 200))
    got, want = where(condition, x, y), np.where(condition, x, y)
    assert got.dtype == want.dtype == np.float64 and got.shape == (300, 200)
    np.testing.assert_array_equal(got, want)


def test_a_generated_module_defines_where_and_runs_without_graphgrad():
    import graphgrad.nn.functional as F

    def f(x):
        where = F.leaky_relu(x, 0.1)  # the user's name: the module's own where keeps its name
        return (where * where).sum()

    a = np.random.default_rng(6).standard_normal(20000)
    x = gg.tensor(a, requires_grad=True)
    compiled = gg.compile(f)
    source = compiled.source(x)
    assert source.count("def where(condition, x, y):") == 1 and "where = where(" not in source
    assert "# Imports only numpy; safe to copy" in source and "import math" not in source
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    value, *saved = namespace["forward"](a)
    leaky = np.where(a > 0, a, 0.1 * a)
    np.testing.assert_allclose(value, (leaky * leaky).sum(), rtol=1e-13)
    (grad,) = (namespace["backward"](*saved, np.ones(())),)
    np.testing.assert_array_equal(grad, np.where(a > 0, 2 * leaky, 2 * leaky * 0.1))
    compiled(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), grad)


def test_a_parsed_graph_whose_values_are_named_like_the_helpers_gets_other_names():
    # the names are reserved when the helpers register (graphgrad.ops loading), after codegen has loaded: its check
    # of a graph's own names must read them then, or `where = where(...)` would make `where` a local of forward
    from graphgrad.codegen.python import module_source
    from graphgrad.ir.parser import parse_graph

    graph = parse_graph("""graph f(%x: f64[10000], %c: bool[10000]) {
      %where: f64[10000] = where(%c, %x, 0.0)
      %erf: f64[10000] = erf(%where)
      return %erf
    }""")
    source = module_source([(graph, "forward", None)])
    assert "where_ = where(c, x, 0.0)" in source and "erf_ = erf(where_)" in source
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    x = np.linspace(-2, 2, 10000)
    np.testing.assert_array_equal(namespace["forward"](x, x > 0), erf(np.where(x > 0, x, 0.0)))


@pytest.mark.parametrize("shape, index_shape, dim", [
    ((7, 5), (4, 5), 0), ((7, 5), (7, 3), 1), ((3, 4, 5), (2, 4, 1), 0), ((3, 4, 5), (3, 2, 5), 1),
    ((3, 4, 5), (1, 1, 6), 2), ((6,), (9,), 0), ((2, 3), (0, 3), 0)])
def test_flat_positions_equal_ravel_multi_index_of_the_grid(shape, index_shape, dim):
    # scatter_add's and scatter_reduce's NumPy code adds at these positions of a flat view (ufunc.at's fast path);
    # they were ravel_multi_index of the index grid, 6x as slow
    from graphgrad.ops.numpy_functions import flat_positions
    rng = np.random.default_rng(3)
    index = rng.integers(0, shape[dim], index_shape)
    grid = list(np.ix_(*[np.arange(n) for n in index_shape]))
    grid[dim] = index
    expected = np.ravel_multi_index(np.broadcast_arrays(*grid), shape).reshape(-1)
    got = flat_positions(shape, index, dim)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    # a broadcast index (a view with zero strides), as embedding_bag's bag of each element
    column = rng.integers(0, shape[0], (index_shape[0],) + (1,) * (len(shape) - 1))
    wide = np.broadcast_to(column, (index_shape[0],) + tuple(shape[1:]))
    grid = list(np.ix_(*[np.arange(n) for n in wide.shape]))
    grid[0] = wide
    np.testing.assert_array_equal(flat_positions(shape, wide, 0),
                                  np.ravel_multi_index(np.broadcast_arrays(*grid), shape).reshape(-1))
