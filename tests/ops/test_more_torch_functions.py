"""PyTorch functions tutorials reach for that graphgrad lacked: take, put, index_fill, index_copy, masked_scatter,
the *_scatter functions, meshgrid, cartesian_prod, combinations, tril/triu_indices, block_diag, vander, trapezoid,
renorm, clamp_min/max, logit, xlogy, heaviside, float_power, sgn, cov, corrcoef, unravel_index, chain_matmul,
nextafter, ldexp, frexp, Tensor.unfold, the in-place forms and the layout queries. Values against NumPy references
written here, PyTorch's dtypes, shapes and error texts, eager against compiled, and gradients (first and second
order, eager and compiled) against float64 finite differences."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg

from _gradcheck import ANY, AWAY, NONZERO, POS, UNIT, compiled_first_order, compiled_second_order, eager_first_order, \
    eager_second_order, sample


def idx(*values):
    return gg.tensor(np.array(values, dtype=np.int64))


def f64(a):
    return gg.tensor(np.asarray(a, dtype=np.float64))


def both(fn, *args):
    """``fn(*args)`` eagerly and compiled: the same values, shapes and dtypes (tuples item by item); the eager one."""
    eager = fn(*args)
    compiled = gg.compile(fn)(*args)
    pairs = list(zip(eager, compiled)) if isinstance(eager, tuple) else [(eager, compiled)]
    assert isinstance(compiled, tuple) == isinstance(eager, tuple) and len(pairs) == (len(eager) if isinstance(
        eager, tuple) else 1)
    for e, c in pairs:
        assert tuple(e.shape) == tuple(c.shape) and e.dtype == c.dtype, (e, c)
        np.testing.assert_array_equal(c.detach().numpy(), e.detach().numpy())
    return eager


# -- gradients: first and second order, eager and compiled, against float64 finite differences -------------------
MASK = np.array([[True, False, True, False], [False, True, True, False], [True, False, False, True]])
ZERO_STEPS = np.array([0.0, -1.0, 0.0, 2.0])

CASES = {
    "clamp_min": (lambda x: gg.clamp_min(x, 0.3) * x, [(6,)], AWAY),
    "clamp_max_tensor_bound": (lambda x, b: x.clamp_max(b) * x, [(6,), (6,)], AWAY),
    "logit": (lambda x: gg.logit(x * 0.4 + 0.5), [(2, 3)], UNIT),
    "logit_eps": (lambda x: gg.logit(0.5 + 0.6 * x, eps=0.2) * x, [(8,)], AWAY),
    "xlogy": (lambda x, y: gg.xlogy(x, y), [(2, 3), (3,)], POS),
    "xlogy_number_input": (lambda y: gg.xlogy(2.5, y) * y, [(4,)], POS),
    "heaviside_values": (lambda x, v: gg.heaviside(f64(ZERO_STEPS), v) * x, [(4,), (4,)], ANY),
    "float_power": (lambda x, y: gg.float_power(x, y), [(3,), (3,)], POS),
    "float_power_number": (lambda x: gg.float_power(x, 3) + gg.float_power(2, x), [(4,)], ANY),
    "sgn": (lambda x: gg.sgn(x) * x * x, [(5,)], AWAY),
    "nextafter": (lambda x, y: gg.nextafter(x, y) * x, [(4,), (4,)], ANY),
    "ldexp": (lambda x, e: gg.ldexp(x, e), [(4,), (4,)], ANY),
    "frexp_mantissa": (lambda x: gg.frexp(x * 3).mantissa * x, [(5,)], NONZERO),
    "cov": (lambda x: gg.cov(x), [(3, 5)], ANY),
    "cov_vector_no_correction": (lambda x: gg.cov(x, correction=0) * x.sum(), [(5,)], ANY),
    "cov_weights": (lambda x, w: gg.cov(x, fweights=idx(1, 2, 1, 3), aweights=w), [(2, 4), (4,)], POS),
    "corrcoef": (lambda x: gg.corrcoef(x), [(3, 6)], ANY),
    "trapezoid": (lambda y: gg.trapezoid(y * y), [(2, 4)], ANY),
    "trapezoid_x": (lambda y, x: gg.trapezoid(y, x, dim=0), [(4, 2), (4,)], ANY),
    "trapezoid_dx": (lambda y: gg.trapz(y ** 3, dx=0.5, dim=0), [(3, 2)], ANY),
    "renorm": (lambda x: gg.renorm(x, 2, 0, 1.5), [(4, 3)], ANY),
    "renorm_p3_dim1": (lambda x: x.renorm(3, 1, 1.0), [(3, 4)], ANY),
    "vander": (lambda x: gg.vander(x, 4), [(3,)], ANY),
    "vander_increasing": (lambda x: gg.vander(x, increasing=True), [(4,)], ANY),
    "block_diag": (lambda a, b, c: gg.block_diag(a, b, c) ** 2, [(2, 2), (3,), ()], ANY),
    "cartesian_prod": (lambda a, b: gg.cartesian_prod(a, b) ** 2, [(2,), (3,)], ANY),
    "combinations": (lambda a: gg.combinations(a, 3, with_replacement=True) ** 2, [(4,)], ANY),
    "meshgrid": (lambda a, b: sum(g * (i + 1.0) for i, g in enumerate(gg.meshgrid(a, b, indexing="xy"))) ** 2,
                 [(2,), (3,)], ANY),
    "broadcast_to": (lambda x: gg.broadcast_to(x, (2, 3)) * gg.arange(6.0).reshape(2, 3), [(3,)], ANY),
    "fliplr_flipud": (lambda x: x.fliplr() * gg.arange(6.0).reshape(2, 3) + gg.flipud(x) ** 2, [(2, 3)], ANY),
    "msort": (lambda x: x.msort() * gg.arange(6.0).reshape(3, 2), [(3, 2)], AWAY),
    "take": (lambda x: x.take(idx([0, 5], [-1, 2])) ** 2, [(2, 3)], ANY),
    "put": (lambda x, s: x.put(idx(4, 0, -1), s * s) * x, [(2, 3), (3,)], ANY),
    "put_accumulate": (lambda x, s: gg.Tensor.put(x, idx(4, 0, 4), s * s, accumulate=True) * x, [(2, 3), (3,)], ANY),
    "index_fill": (lambda x, v: x.index_fill(1, idx(0, 2), v * v) * x, [(2, 3), ()], ANY),
    "index_copy": (lambda x, s: gg.index_copy(x, 1, idx(2, 0), s * s) * x, [(2, 3), (2, 2)], ANY),
    "masked_scatter": (lambda x, s: x.masked_scatter(gg.tensor(MASK), s * s) * x, [(3, 4), (7,)], ANY),
    "diagonal_scatter": (lambda x, s: gg.diagonal_scatter(x, s * s, 1) * x, [(3, 4), (3,)], ANY),
    "diagonal_scatter_dims": (lambda x, s: x.diagonal_scatter(s * s, -1, 2, 0) * x, [(3, 2, 4), (2, 3)], ANY),
    "select_scatter": (lambda x, s: gg.select_scatter(x, s * s, 1, -1) * x, [(2, 3), (2,)], ANY),
    "slice_scatter": (lambda x, s: x.slice_scatter(s * s, 1, 0, None, 2) * x, [(2, 4), (2, 2)], ANY),
    "unfold": (lambda x: x.unfold(1, 3, 1) ** 2, [(2, 5)], ANY),
    "unfold_gaps": (lambda x: x.unfold(0, 2, 3) ** 2, [(8, 2)], ANY),
    "chain_matmul": (lambda a, b, c: gg.chain_matmul(a, b, c), [(2, 3), (3, 4), (4, 2)], ANY),
    # the in-place forms, on a copy (a leaf that requires grad may not be written in place)
    "tril_": (lambda x: x.clone().tril_(-1) * x, [(3, 3)], ANY),
    "triu_": (lambda x: x.clone().triu_(1) * x, [(3, 4)], ANY),
    "lerp_": (lambda x, y: x.clone().lerp_(y, 0.3) * x, [(4,), (4,)], ANY),
    "nan_to_num_": (lambda x: (x * 2).nan_to_num_(0.0) * x, [(4,)], ANY),
    "renorm_": (lambda x: x.clone().renorm_(2, 1, 1.0), [(3, 2)], ANY),
    "clamp_min_": (lambda x: x.clone().clamp_min_(0.3) * x, [(6,)], AWAY),
    "logit_": (lambda x: (x * 0.4 + 0.5).logit_(), [(4,)], UNIT),
    "xlogy_": (lambda x, y: x.clone().xlogy_(y), [(3,), (3,)], POS),
    "index_fill_": (lambda x: x.clone().index_fill_(0, idx(1), 2.0) * x, [(3, 2)], ANY),
    "index_copy_": (lambda x, s: x.clone().index_copy_(0, idx(2), s) * x, [(3, 2), (1, 2)], ANY),
    "put_": (lambda x, s: x.clone().put_(idx(1, 3), s, accumulate=True) * x, [(2, 2), (2,)], ANY),
    "masked_scatter_": (lambda x, s: x.clone().masked_scatter_(gg.tensor(MASK), s) * x, [(3, 4), (7,)], ANY),
    "ldexp_": (lambda x, e: x.clone().ldexp_(e), [(3,), (3,)], ANY),
}


def inputs_for(name, rng):
    fn, shapes, kind = CASES[name]
    return fn, [sample(kind, s, rng) for s in shapes]


@pytest.fixture(autouse=True)
def _quiet_deprecations():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.chain_matmul is deprecated")
        yield


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_first_and_second_order(name, rng):
    eager_first_order(*inputs_for(name, rng))
    eager_second_order(*inputs_for(name, rng))


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_first_and_second_order_match_eager_and_finite_differences(name, rng):
    fn, arrays = inputs_for(name, rng)
    compiled_first_order(fn, arrays, rng)
    compiled_second_order(fn, arrays, rng, argnums=tuple(range(len(arrays))))


# -- indexing: values against NumPy, PyTorch's errors, eager and compiled alike -----------------------------------
def test_take_reads_the_flattened_tensor_counting_negatives_from_the_end():
    a = np.arange(6.0).reshape(2, 3)
    index = np.array([[0, 5], [-1, -6]])
    got = both(lambda x, i: x.take(i), gg.tensor(a), gg.tensor(index))
    np.testing.assert_array_equal(got.numpy(), np.take(a, index))
    assert got.dtype == gg.float64 and got.shape == (2, 2)
    assert gg.take(gg.tensor(3.0), idx(0, -1)).tolist() == [3.0, 3.0]
    with pytest.raises(IndexError, match=r"^out of range: tried to access index 6 on a tensor of 6 elements\.$"):
        gg.tensor(a).take(idx(6))
    with pytest.raises(IndexError, match="tried to access index -7 on a tensor of 6 elements"):
        gg.compile(lambda x, i: x.take(i))(gg.tensor(a), idx(0, -7))  # checked in the generated code too
    with pytest.raises(RuntimeError, match=r"take\(\): Expected a long tensor for index, but got Float"):
        gg.tensor(a).take(gg.tensor([1.0]))


def test_put_writes_and_accumulates_into_the_flattened_tensor():
    a = np.arange(6.0).reshape(2, 3)
    written = both(lambda x, i, s: x.put(i, s), gg.tensor(a), idx(0, -1, 2), f64([9.0, 8.0, 7.0]))
    expected = a.copy()
    np.put(expected, [0, 5, 2], [9.0, 8.0, 7.0])
    np.testing.assert_array_equal(written.numpy(), expected)
    added = both(lambda x, i, s: x.put(i, s, accumulate=True), gg.tensor(a), idx(0, 0, -1), f64([1.0, 2.0, 3.0]))
    expected = a.copy().ravel()
    np.add.at(expected, [0, 0, 5], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(added.numpy(), expected.reshape(2, 3))
    last = gg.put(gg.tensor(a), idx(1, 1), f64([5.0, 6.0]))  # the last write wins, as PyTorch's CPU kernel
    assert last.numpy()[0, 1] == 6.0
    x = gg.tensor(a)
    assert x.put_(idx(3), f64([-1.0])) is x and x._version == 1 and x.numpy()[1, 0] == -1.0
    with pytest.raises(IndexError, match=r"put_\(\): Expected source and index to have the same number of elements, "
                                         r"but got source.numel\(\) = 1, index.numel\(\) = 2"):
        gg.tensor(a).put(idx(0, 1), f64([1.0]))
    with pytest.raises(RuntimeError, match=r"self.dtype = Float and source.dtype = Double"):
        gg.tensor(a, dtype=gg.float32).put(idx(0), f64([1.0]))
    with pytest.raises(IndexError, match="tried to access index 6 on a tensor of 6 elements"):
        gg.tensor(a).put(idx(6), f64([1.0]))


def test_index_fill_and_its_errors():
    a = np.arange(6.0).reshape(2, 3)
    got = both(lambda x, i: x.index_fill(1, i, -1.0), gg.tensor(a), idx(0, -1))
    expected = a.copy()
    expected[:, [0, 2]] = -1.0
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(gg.index_fill(gg.tensor(a), 0, idx(1), gg.tensor(7.0)).numpy(), [[0, 1, 2], [7, 7, 7]])
    ints = gg.arange(6).reshape(2, 3).index_fill(1, idx(0), 1.5)  # cast to the tensor's dtype, as PyTorch
    assert ints.dtype == gg.int64 and ints.tolist() == [[1, 1, 2], [1, 4, 5]]
    assert gg.tensor(2.0).index_fill(0, idx(0), 5.0).item() == 5.0
    x = gg.tensor(a)
    x.index_fill_(0, idx(0), 0.5)
    assert x.tolist() == [[0.5, 0.5, 0.5], [3.0, 4.0, 5.0]]
    with pytest.raises(IndexError, match="^index 3 is out of bounds for dimension 1 with size 3$"):
        gg.tensor(a).index_fill(1, idx(3), 0.0)
    with pytest.raises(IndexError, match=r"index_fill_\(\): Expected dtype int64 for index\."):
        gg.tensor(a).index_fill(1, gg.tensor([0.0]), 0.0)
    with pytest.raises(RuntimeError, match="Index has to be a vector/scalar"):
        gg.tensor(a).index_fill(1, idx([0]), 0.0)
    with pytest.raises(RuntimeError, match=r"only supports a 0-dimensional value tensor, but got tensor with 1 "):
        gg.tensor(a).index_fill(1, idx(0), gg.tensor([1.0]))


def test_index_copy_and_its_errors():
    a = np.zeros((2, 3), dtype=np.float32)
    source = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    got = both(lambda x, i, s: x.index_copy(1, i, s), gg.tensor(a), idx(2, 0), gg.tensor(source))
    expected = a.copy()
    expected[:, [2, 0]] = source
    np.testing.assert_array_equal(got.numpy(), expected)
    rows = gg.tensor(a).index_copy(0, idx(1, 1), gg.arange(6.0).reshape(2, 3))
    assert rows.tolist() == [[0.0, 0.0, 0.0], [3.0, 4.0, 5.0]]  # the last of repeated indices wins
    assert gg.zeros(3).index_copy(0, idx(1), gg.tensor(5.0)).tolist() == [0.0, 5.0, 0.0]
    x = gg.tensor(a)
    x.index_copy_(0, idx(0), gg.ones(1, 3))
    assert x.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    t = gg.tensor(a)
    with pytest.raises(IndexError, match=r"^index_copy_\(\): index -1 is out of bounds for dimension 1 with size 3$"):
        t.index_copy(1, idx(-1, 0), gg.ones(2, 2))
    with pytest.raises(IndexError, match=r"Number of indices \(2\) should be equal to source.size\(dim\) \(3\)"):
        t.index_copy(1, idx(2, 0), gg.ones(2, 3))
    with pytest.raises(IndexError, match=r"Index should have dimension 1 or 0 \(got 2\)"):
        t.index_copy(1, idx([2, 0]), gg.ones(2, 2))
    with pytest.raises(RuntimeError, match=r"Expected a long tensor for index, but got Float"):
        t.index_copy(1, gg.tensor([2.0, 0.0]), gg.ones(2, 2))
    with pytest.raises(RuntimeError, match=r"but got \(self\) Float and \(source\) Double"):
        t.index_copy(1, idx(2, 0), gg.ones(2, 2, dtype=gg.float64))
    with pytest.raises(RuntimeError, match=r"Destination slice shape: 2 at dimension 1 and source slice shape: 3 at "
                                           r"dimension 0\."):
        t.index_copy(1, idx(2, 0), gg.ones(3, 2))
    with pytest.raises(RuntimeError, match=r"Destination slice shape: 2 4 at dimension 1"):
        gg.zeros(2, 3, 4).index_copy(1, idx(0), gg.ones(3, 1, 4))


def test_masked_scatter_fills_the_true_positions_in_order():
    a = np.arange(6.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, True, False]])
    source = np.array([10.0, 20.0, 30.0, 40.0])
    got = both(lambda x, m, s: x.masked_scatter(m, s), gg.tensor(a), gg.tensor(mask), gg.tensor(source))
    expected = a.copy()
    expected[mask] = source[:mask.sum()]
    np.testing.assert_array_equal(got.numpy(), expected)
    broadcast = gg.tensor(a[0]).masked_scatter(gg.tensor(mask), f64(np.arange(10.0)))  # self broadcasts with the mask
    assert broadcast.tolist() == [[0.0, 1.0, 1.0], [0.0, 2.0, 2.0]]
    with pytest.raises(RuntimeError, match="^Number of elements of source < number of ones in mask$"):
        gg.tensor(a).masked_scatter(gg.tensor(mask), f64([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="Number of elements of source < number of ones in mask"):
        gg.compile(lambda x, m, s: x.masked_scatter(m, s))(gg.tensor(a), gg.tensor(mask), f64([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="masked_scatter_ only supports boolean masks, but got mask with dtype Long"):
        gg.tensor(a).masked_scatter(gg.tensor(mask).long(), gg.tensor(source))
    with pytest.raises(RuntimeError, match="expected self and source to have same dtypes but gotDouble and Long"):
        gg.tensor(a).masked_scatter(gg.tensor(mask), gg.tensor([1, 2, 3]))


def test_the_scatter_functions_write_a_slice_a_row_or_a_diagonal():
    z = np.zeros((3, 4))
    diag = both(lambda x, s: gg.diagonal_scatter(x, s, 1), gg.tensor(z), gg.tensor([1.0, 2.0, 3.0]))
    expected = z.copy()
    expected[[0, 1, 2], [1, 2, 3]] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(diag.numpy(), expected)
    low = gg.tensor(z).diagonal_scatter(gg.tensor([5.0, 6.0]), -1)
    assert low.numpy()[1, 0] == 5.0 and low.numpy()[2, 1] == 6.0 and low.sum().item() == 11.0
    cube = gg.zeros(2, 3, 4).diagonal_scatter(gg.arange(6.0).reshape(3, 2), 0, 2, 0)
    np.testing.assert_array_equal(cube.numpy().diagonal(0, 2, 0), np.arange(6.0).reshape(3, 2))
    row = both(lambda x, s: gg.select_scatter(x, s, 1, -1), gg.tensor(z), gg.tensor([1.0, 2.0, 3.0]))
    expected = z.copy()
    expected[:, -1] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(row.numpy(), expected)
    part = both(lambda x, s: x.slice_scatter(s, 1, 0, None, 2), gg.tensor(z), gg.ones(3, 2))
    expected = z.copy()
    expected[:, ::2] = 1.0
    np.testing.assert_array_equal(part.numpy(), expected)
    cast = gg.select_scatter(gg.zeros(2, 2), gg.tensor([1, 2]), 0, 0)  # src takes self's dtype, as PyTorch
    assert cast.dtype == gg.float32 and cast.tolist() == [[1.0, 2.0], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match=r"^expected src to have a size equal to the slice of self. src size = "
                                           r"\[3\], slice size = \[2\]$"):
        gg.diagonal_scatter(gg.zeros(3, 3), gg.ones(3), 1)
    with pytest.raises(IndexError, match=r"select\(\): index 3 out of range for tensor of size \[3, 3\] at dimension 0"):
        gg.select_scatter(gg.zeros(3, 3), gg.ones(3), 0, 3)
    with pytest.raises(RuntimeError, match=r"src size = \[3, 4\], slice size = \[2, 4\]"):
        gg.slice_scatter(gg.zeros(4, 4), gg.ones(3, 4), start=2)
    with pytest.raises(RuntimeError, match="slice step must be positive"):
        gg.slice_scatter(gg.zeros(4, 4), gg.ones(1, 4), start=1, end=2, step=0)


def test_unravel_index_is_pytorchs_wrapping_formula():
    got = both(lambda i: gg.unravel_index(i, (3, 2)), idx(4, 1, 6, -1))
    assert isinstance(got, tuple) and len(got) == 2
    assert [t.tolist() for t in got] == [[2, 0, 0, 2], [0, 1, 0, 1]]  # 6 wraps to 0, -1 to the last element
    np.testing.assert_array_equal(np.stack([t.numpy()[:2] for t in got]), np.unravel_index([4, 1], (3, 2)))
    assert all(t.dtype == gg.int64 for t in got)
    assert [t.shape for t in gg.unravel_index(idx([4], [1]), (3, 2))] == [(2, 1), (2, 1)]
    assert gg.unravel_index(gg.tensor(5), 6)[0].item() == 5 and gg.unravel_index(idx(1), ()) == ()
    with pytest.raises(TypeError, match="expected 'indices' to be integer dtype, but got torch.float32"):
        gg.unravel_index(gg.tensor([1.0]), (3, 2))
    with pytest.raises(ValueError, match=r"'shape' cannot have negative values, but got \(3, -2\)"):
        gg.unravel_index(idx(1), (3, -2))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        gg.unravel_index(idx(0), (3, 0))


def test_msort_sorts_along_the_first_dimension():
    a = np.array([[3.0, 1.0], [1.0, 2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(both(lambda x: x.msort(), gg.tensor(a)).numpy(), np.sort(a, axis=0))
    assert gg.msort(gg.tensor([3, 1, 2])).tolist() == [1, 2, 3] and gg.msort(gg.tensor(3.0)).item() == 3.0


# -- shapes: grids, products, windows ----------------------------------------------------------------------------
def test_meshgrid_ij_and_xy_match_numpy_and_warn_without_indexing():
    a, b, c = np.array([1, 2]), np.array([3, 4, 5]), np.array([6, 7, 8, 9])
    for indexing in ("ij", "xy"):
        got = both(lambda x, y, z: gg.meshgrid(x, y, z, indexing=indexing), gg.tensor(a), gg.tensor(b), gg.tensor(c))
        for g, e in zip(got, np.meshgrid(a, b, c, indexing=indexing)):
            assert g.dtype == gg.int64
            np.testing.assert_array_equal(g.numpy(), e)
    grids = gg.meshgrid([gg.tensor(a), gg.tensor(b)], indexing="ij")  # a list works too
    assert [g.shape for g in grids] == [(2, 3), (2, 3)] and not grids[0].is_contiguous()  # expanded views
    assert [g.shape for g in gg.meshgrid(gg.tensor(1), gg.tensor(b), indexing="xy")] == [(3, 1), (3, 1)]
    with pytest.warns(UserWarning, match="^torch.meshgrid: in an upcoming release, it will be required to pass the "
                                         "indexing argument.$") as record:
        x, y = gg.meshgrid(gg.tensor(a), gg.tensor(b))
    assert record[0].filename == __file__ and x.shape == (2, 3)  # 'ij', reported at the caller's line
    with pytest.raises(RuntimeError, match='indexing must be one of "xy" or "ij", but received: foo'):
        gg.meshgrid(gg.tensor(a), gg.tensor(b), indexing="foo")
    with pytest.raises(RuntimeError, match="meshgrid expects all tensors to have the same dtype"):
        gg.meshgrid(gg.tensor(a), gg.tensor([1.0]), indexing="ij")
    with pytest.raises(RuntimeError, match="meshgrid expects a non-empty TensorList"):
        gg.meshgrid(indexing="ij")
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor in the tensor list"):
        gg.meshgrid(gg.tensor([[1, 2]]), indexing="ij")


def test_cartesian_prod_and_combinations_are_itertools_orders():
    import itertools

    a, b = [1.0, 2.0], [3.0, 4.0, 5.0]
    got = both(lambda x, y: gg.cartesian_prod(x, y), gg.tensor(a), gg.tensor(b))
    assert got.tolist() == [list(p) for p in itertools.product(a, b)]
    assert gg.cartesian_prod(gg.tensor(a)).tolist() == a
    v = [1.0, 2.0, 3.0, 4.0]
    for r in (1, 2, 3):
        assert both(lambda x: gg.combinations(x, r), gg.tensor(v)).tolist() == [
            list(c) for c in itertools.combinations(v, r)]
        assert gg.combinations(gg.tensor(v), r, with_replacement=True).tolist() == [
            list(c) for c in itertools.combinations_with_replacement(v, r)]
    assert gg.combinations(gg.tensor(v), 0).shape == (0,) and gg.combinations(gg.tensor(v), 5).shape == (0, 5)
    with pytest.raises(RuntimeError, match=r"Expect a 1D vector, but got shape \[2, 2\]"):
        gg.combinations(gg.ones(2, 2))
    with pytest.raises(RuntimeError, match="Expect a non-negative number, but got -1"):
        gg.combinations(gg.tensor(v), -1)
    with pytest.raises(RuntimeError, match=r"Expect a 1D vector, but got shape \[1, 2\]"):
        gg.cartesian_prod(gg.ones(1, 2))


def test_tril_and_triu_indices_match_numpy():
    for row, col, offset in ((3, 3, 0), (4, 3, 1), (3, 5, -1), (0, 3, 0), (3, 3, -5)):
        lower, upper = gg.tril_indices(row, col, offset), gg.triu_indices(row, col, offset)
        assert lower.dtype == upper.dtype == gg.int64
        np.testing.assert_array_equal(lower.numpy().reshape(2, -1), np.array(np.tril_indices(row, offset, col)).reshape(2, -1))
        np.testing.assert_array_equal(upper.numpy().reshape(2, -1), np.array(np.triu_indices(row, offset, col)).reshape(2, -1))
    x = gg.arange(9.0).reshape(3, 3)
    assert both(lambda t: t[tuple(gg.tril_indices(3, 3))], x).tolist() == [0.0, 3.0, 4.0, 6.0, 7.0, 8.0]
    with pytest.raises(NotImplementedError, match="\"tril_indices\" not implemented for 'Float'"):
        gg.tril_indices(3, 3, dtype=gg.float32)
    with pytest.raises(RuntimeError, match="row must be non-negative, got-1"):
        gg.triu_indices(-1, 3)


def test_block_diag_and_vander():
    got = both(lambda a, b, c: gg.block_diag(a, b, c), gg.ones(2, 2), gg.tensor([[5.0, 6.0, 7.0]]), gg.tensor(8.0))
    expected = np.zeros((4, 6))
    expected[:2, :2] = 1.0
    expected[2, 2:5] = [5.0, 6.0, 7.0]
    expected[3, 5] = 8.0
    np.testing.assert_array_equal(got.numpy(), expected)
    assert gg.block_diag(gg.tensor([True]), gg.tensor([2])).dtype == gg.int64  # promoted
    assert gg.block_diag(gg.ones(2, 0), gg.ones(0, 3)).shape == (2, 3) and gg.block_diag().shape == (1, 0)
    with pytest.raises(RuntimeError, match="Input tensors must have 2 or fewer dimensions. Input 1 has 3 dimensions"):
        gg.block_diag(gg.ones(1), gg.ones(1, 1, 1))
    x = np.array([1.0, 2.0, -3.0])
    np.testing.assert_array_equal(both(lambda t: gg.vander(t), gg.tensor(x)).numpy(), np.vander(x))
    np.testing.assert_array_equal(gg.vander(gg.tensor(x), N=4, increasing=True).numpy(), np.vander(x, 4, True))
    ints = gg.vander(gg.tensor([1, 2, 3]))
    assert ints.dtype == gg.int64 and ints.tolist() == np.vander([1, 2, 3]).tolist()
    assert gg.vander(gg.tensor([True, False])).dtype == gg.int64 and gg.vander(gg.tensor(x), N=0).shape == (3, 0)
    with pytest.raises(RuntimeError, match="N must be non-negative."):
        gg.vander(gg.tensor(x), N=-1)
    with pytest.raises(RuntimeError, match="x must be a one-dimensional tensor."):
        gg.vander(gg.ones(2, 2))


def test_fliplr_flipud_and_broadcast_to():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(both(lambda t: t.fliplr(), gg.tensor(a)).numpy(), np.fliplr(a))
    np.testing.assert_array_equal(both(lambda t: gg.flipud(t), gg.tensor(a)).numpy(), np.flipud(a))
    with pytest.raises(RuntimeError, match=r"^Input must be >= 2-d\.$"):
        gg.arange(3.0).fliplr()
    with pytest.raises(RuntimeError, match=r"^Input must be >= 1-d\.$"):
        gg.tensor(1.0).flipud()
    got = both(lambda t: gg.broadcast_to(t, (2, 3)), gg.tensor([1, 2, 3]))
    assert got.tolist() == [[1, 2, 3], [1, 2, 3]] and got.stride() == (0, 1)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(3\)"):
        gg.broadcast_to(gg.tensor([1, 2, 3]), (2, 4))


def _windows(a, dim, size, step):
    """NumPy's sliding windows along ``dim``, every ``step``-th, the window last: PyTorch's unfold."""
    w = np.lib.stride_tricks.sliding_window_view(a, size, axis=dim)
    return w[(slice(None),) * dim + (slice(None, None, step),)]


@pytest.mark.parametrize("dim, size, step", [(0, 2, 1), (0, 3, 2), (1, 2, 3), (-1, 3, 1), (0, 4, 1), (1, 0, 1), (0, 1, 5)])
def test_unfold_values_match_sliding_windows(dim, size, step):
    a = np.arange(24.0).reshape(3, 4, 2).transpose(1, 2, 0).copy()  # (4, 2, 3)
    got = both(lambda t: t.unfold(dim, size, step), gg.tensor(a))
    np.testing.assert_array_equal(got.numpy(), _windows(a, dim % 3, size, step))


def test_unfold_is_a_view_and_refuses_what_pytorch_refuses():
    base = gg.arange(7.0)
    windows = base.unfold(0, 2, 1)
    assert windows._base is base and windows.stride() == (1, 1) and not windows.is_contiguous()
    base[0] = 100.0  # a write into the base shows in the view
    assert windows[0].tolist() == [100.0, 1.0]
    apart = gg.arange(7.0)
    apart.unfold(0, 2, 2).mul_(10)  # windows that do not overlap: the write reaches the base
    assert apart.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 6.0]
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single memory"):
        gg.arange(7.0).unfold(0, 2, 1).add_(1)  # overlapping windows: a write would land twice
    x = gg.arange(5.0, requires_grad=True)
    out = x.unfold(0, 3, 1)
    assert out.grad_fn.name() == "UnfoldBackward0"
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 2.0, 1.0]  # each element counted once per window holding it
    assert gg.tensor(5.0).unfold(0, 1, 1).tolist() == [5.0] and gg.tensor(5.0).unfold(0, 0, 1).shape == (0,)
    assert gg.ones(2, 0).unfold(1, 0, 1).shape == (2, 1, 0)
    with pytest.raises(RuntimeError, match="^maximum size for tensor at dimension 0 is 7 but size is 8$"):
        gg.arange(7.0).unfold(0, 8, 1)
    with pytest.raises(RuntimeError, match="^step is 0 but must be > 0$"):
        gg.arange(7.0).unfold(0, 2, 0)
    with pytest.raises(RuntimeError, match="^size is -1 but must be >= 0$"):
        gg.arange(7.0).unfold(0, -1, 1)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)"):
        gg.arange(7.0).unfold(1, 2, 1)


def test_unfold_under_vmap():
    a = np.arange(30.0).reshape(3, 10)
    got = gg.vmap(lambda row: row.unfold(0, 4, 3).sum(-1))(gg.tensor(a))
    np.testing.assert_array_equal(got.numpy(), _windows(a, 1, 4, 3).sum(-1))


# -- elementwise: values, dtypes, special points ------------------------------------------------------------------
def test_clamp_min_and_clamp_max():
    a = np.array([-1.0, 0.25, 2.0])
    np.testing.assert_array_equal(both(lambda t: gg.clamp_min(t, 0.0), gg.tensor(a)).numpy(), np.maximum(a, 0.0))
    np.testing.assert_array_equal(both(lambda t: t.clamp_max(1.0), gg.tensor(a)).numpy(), np.minimum(a, 1.0))
    assert gg.clamp_min(gg.tensor([0, 1, 2]), 0.5).dtype == gg.float32  # a float bound promotes, as PyTorch
    assert gg.clamp_max(gg.tensor([0, 1, 2]), 1).tolist() == [0, 1, 1]
    bound = gg.tensor([0.5, 0.5, 3.0])
    assert gg.clamp_min(gg.tensor(a), bound).tolist() == [0.5, 0.5, 3.0]
    x = gg.tensor(a)
    assert x.clamp_min_(0.0) is x and x.tolist() == [0.0, 0.25, 2.0]
    assert gg.tensor(a, requires_grad=True).clamp_min(0.0).grad_fn.name() == "ClampMinBackward0"


def test_logit_values_eps_and_gradient_at_the_ends():
    p = np.array([0.0, 0.05, 0.25, 0.5, 0.95, 1.0])
    got = both(lambda t: gg.logit(t), f64(p))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(got.numpy(), np.log(p / (1 - p)), rtol=1e-14)
    clamped = np.clip(p, 0.1, 0.9)
    np.testing.assert_allclose(both(lambda t: t.logit(eps=0.1), f64(p)).numpy(), np.log(clamped / (1 - clamped)),
                               rtol=1e-14)
    assert gg.logit(gg.tensor([0, 1])).dtype == gg.float32 and gg.logit(gg.tensor([0, 1])).tolist() == [-math.inf,
                                                                                                       math.inf]
    np.testing.assert_array_equal(gg.logit(f64(p), eps=-1.0).numpy(), got.numpy())  # a negative eps: none
    x = f64(p).requires_grad_()
    gg.logit(x, eps=0.1).sum().backward()
    inside = (p >= 0.1) & (p <= 0.9)
    np.testing.assert_allclose(x.grad.numpy(), np.where(inside, 1 / np.where(inside, p * (1 - p), 1.0), 0.0))
    y = f64([0.0, 1.0]).requires_grad_()
    gg.logit(y).sum().backward()
    assert y.grad.tolist() == [math.inf, math.inf]  # PyTorch's, not nan


def test_xlogy_values_dtypes_and_gradient_at_zero():
    x = np.array([0.0, 0.0, 1.0, 2.0, 0.0])
    y = np.array([0.0, 2.0, 0.0, 3.0, np.nan])
    got = both(lambda a, b: gg.xlogy(a, b), f64(x), f64(y))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where((x == 0) & ~np.isnan(y), 0.0, x * np.log(y))
    np.testing.assert_array_equal(got.numpy(), expected)
    assert gg.xlogy(gg.tensor([2]), gg.tensor([True])).dtype == gg.float32
    assert gg.xlogy(f64([2.0]), 3).dtype == gg.float64 and gg.xlogy(3, gg.tensor([2])).dtype == gg.float32
    assert gg.xlogy(gg.tensor([2.0]), gg.tensor(3.0, dtype=gg.float64)).dtype == gg.float32  # a 0-d tensor: weak
    np.testing.assert_allclose(gg.xlogy(2.0, gg.tensor([3.0])).numpy(), [2 * math.log(3)], rtol=1e-7)
    a, b = f64([0.0, 0.0, 1.0]).requires_grad_(), f64([0.0, 1.0, 0.0]).requires_grad_()
    gg.xlogy(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0, -math.inf]
    assert math.isnan(b.grad[0].item()) and b.grad[1:].tolist() == [0.0, math.inf]  # x / y, PyTorch's


def test_heaviside():
    x = np.array([-1.5, 0.0, 2.0, np.nan])
    got = both(lambda a, v: gg.heaviside(a, v), f64(x), f64([0.5]))
    np.testing.assert_array_equal(got.numpy(), np.nan_to_num(np.heaviside(x, 0.5), nan=0.0))  # nan: 0, as PyTorch
    assert gg.heaviside(gg.tensor([-1, 0, 3]), gg.tensor([7])).tolist() == [0, 7, 1]
    assert gg.tensor([True, False]).heaviside(gg.tensor([True])).tolist() == [True, True]
    with pytest.raises(RuntimeError, match="heaviside is not yet implemented for tensors with different dtypes."):
        gg.heaviside(gg.tensor([1, 2]), gg.tensor([0.5]))
    with pytest.raises(TypeError, match=r"heaviside\(\): argument 'values' \(position 2\) must be Tensor, not float"):
        gg.heaviside(gg.tensor([1.0]), 0.5)


def test_float_power_is_float64_and_its_in_place_form_refuses_narrower_tensors():
    got = both(lambda t: gg.float_power(t, 2), gg.tensor([1, 2, -3]))
    assert got.dtype == gg.float64 and got.tolist() == [1.0, 4.0, 9.0]
    assert gg.float_power(2, gg.tensor([0.5])).dtype == gg.float64
    np.testing.assert_array_equal(gg.tensor([1.5]).float_power(gg.tensor([2])).numpy(), np.float_power(1.5, 2))
    x = f64([1.0, 2.0])
    assert x.float_power_(3).tolist() == [1.0, 8.0]
    with pytest.raises(RuntimeError, match="the base given to float_power_ has dtype Float but the operation's result "
                                           "requires dtype Double"):
        gg.tensor([1.0]).float_power_(2)


def test_true_divide_sgn_nextafter_and_ldexp():
    assert both(lambda t: t.true_divide(2), gg.tensor([1, 2, 3])).tolist() == [0.5, 1.0, 1.5]
    assert gg.true_divide(gg.tensor([1]), 4).tolist() == [0.25]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        gg.tensor([1, 2]).true_divide_(2)
    s = both(lambda t: gg.sgn(t), f64([-2.0, -0.0, 3.0, np.nan]))
    assert s.tolist() == [-1.0, 0.0, 1.0, 0.0] and not np.signbit(s.numpy()[1])
    assert gg.sgn(gg.tensor([True, False])).tolist() == [True, False]
    assert gg.tensor([-3, 4]).sgn().tolist() == [-1, 1]
    up = both(lambda a, b: gg.nextafter(a, b), gg.tensor([1.0, 2.0]), gg.tensor([2.0, 1.0]))
    np.testing.assert_array_equal(up.numpy(), np.nextafter(np.float32([1, 2]), np.float32([2, 1])))
    assert gg.nextafter(gg.tensor([1.0]), f64([2.0])).dtype == gg.float64
    with pytest.raises(NotImplementedError, match="\"nextafter_cpu\" not implemented for 'Long'"):
        gg.nextafter(gg.tensor([1]), gg.tensor([2]))
    x, y = gg.tensor([1.0], requires_grad=True), gg.tensor([2.0], requires_grad=True)
    gg.nextafter(x, y).sum().backward()
    assert x.grad.tolist() == [1.0] and y.grad.tolist() == [0.0]  # PyTorch's: the identity for input
    m, e = np.array([1.0, 3.0, -0.5]), np.array([2, -1, 10])
    got = both(lambda a, b: gg.ldexp(a, b), f64(m), gg.tensor(e))
    np.testing.assert_array_equal(got.numpy(), np.ldexp(m, e))
    assert gg.ldexp(gg.tensor([1, 2]), gg.tensor([1, 1])).dtype == gg.float32
    with pytest.raises(TypeError, match=r"ldexp\(\): argument 'other' \(position 2\) must be Tensor, not int"):
        gg.ldexp(gg.tensor([1.0]), 2)
    # PyTorch's refusals of a number as the first argument too (ldexp returned a tensor, heaviside an AttributeError)
    for fn, values in ((gg.ldexp, "other"), (gg.heaviside, "values"), (gg.nextafter, "other")):
        with pytest.raises(TypeError, match=fr"^{fn.__name__}\(\): argument 'input' \(position 1\) must be Tensor, "
                                            r"not float$"):
            fn(2.0, gg.tensor([1.0]))
        with pytest.raises(TypeError, match=fr"^{fn.__name__}\(\): argument '{values}' \(position 2\) must be "
                                            r"Tensor, not float$"):
            fn(gg.tensor([1.0]), 2.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frexp_matches_numpy_at_every_kind_of_value(dtype):
    info = np.finfo(dtype)
    values = np.array([8.0, 0.3, 0.0, -0.0, -5.0, np.inf, -np.inf, np.nan, info.max, info.tiny, info.smallest_subnormal,
                       1 - info.eps / 2, 0.5, 2.0 ** 20 - 1], dtype=dtype)
    result = both(lambda t: gg.frexp(t), gg.tensor(values))
    assert type(result).__name__ == "frexp" and result._fields == ("mantissa", "exponent")
    mantissa, exponent = np.frexp(values)
    np.testing.assert_array_equal(result.mantissa.numpy(), mantissa)
    np.testing.assert_array_equal(np.signbit(result.mantissa.numpy()), np.signbit(mantissa))
    np.testing.assert_array_equal(result.exponent.numpy(), exponent)
    assert result.mantissa.dtype == gg.tensor(values).dtype and result.exponent.dtype == gg.int64  # (PyTorch: int32)
    with pytest.raises(RuntimeError, match=r"torch.frexp\(\) only supports floating-point dtypes"):
        gg.frexp(gg.tensor([1, 2]))


def test_missing_dtypes_are_refused_by_name():
    x = gg.ones(2)
    for method, dtype in (("half", "float16"), ("bfloat16", "bfloat16"), ("char", "int8"), ("short", "int16"),
                          ("byte", "uint8")):
        with pytest.raises(NotImplementedError, match=f"graphgrad has no {dtype} dtype"):
            getattr(x, method)()
    with pytest.raises(NotImplementedError, match="no float16 dtype"):
        gg.compile(lambda t: t.half())(x)


def test_in_place_forms_write_into_the_tensor_and_its_base():
    x = gg.arange(9.0).reshape(3, 3)
    assert x.tril_(-1) is x and x._version == 1
    np.testing.assert_array_equal(x.numpy(), np.tril(np.arange(9.0).reshape(3, 3), -1))
    base = gg.arange(6.0).reshape(2, 3)
    base.triu_(1)
    np.testing.assert_array_equal(base.numpy(), np.triu(np.arange(6.0).reshape(2, 3), 1))
    y = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    y[1].lerp_(gg.tensor([5.0, 6.0]), 0.5)  # a view: the base changes
    assert y.tolist() == [[1.0, 2.0], [4.0, 5.0]]
    z = gg.tensor([np.nan, np.inf, -np.inf, 1.0])
    z.nan_to_num_(0.5, 2.0, -2.0)
    assert z.tolist() == [0.5, 2.0, -2.0, 1.0]
    r = gg.tensor([[3.0, 4.0], [0.3, 0.4]])
    r.renorm_(2, 0, 1.0)
    np.testing.assert_allclose(r.numpy(), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"output with shape \[2, 3\] doesn't match the broadcast shape \[2, 2, 3\]"):
        gg.zeros(2, 3).lerp_(gg.ones(2, 2, 3), 0.5)

    def traced(t):
        u = t * 1.0
        u.tril_()
        u.index_fill_(1, idx(0), 7.0)
        return u

    np.testing.assert_array_equal(both(traced, gg.ones(2, 2)).numpy(), [[7.0, 0.0], [7.0, 1.0]])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        gg.compile(lambda t: t.clone().logit_())(gg.tensor([1, 2]))


# -- statistics and integration -----------------------------------------------------------------------------------
def test_cov_matches_numpy_with_corrections_and_weights():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((3, 6))
    f, a = np.array([1, 2, 1, 3, 1, 2]), rng.uniform(0.5, 2.0, 6)
    np.testing.assert_allclose(both(lambda t: gg.cov(t), f64(m)).numpy(), np.cov(m), rtol=1e-13)
    np.testing.assert_allclose(gg.cov(f64(m), correction=0).numpy(), np.cov(m, ddof=0), rtol=1e-13)
    np.testing.assert_allclose(both(lambda t, w, v: gg.cov(t, correction=2, fweights=w, aweights=v), f64(m),
                                    gg.tensor(f), f64(a)).numpy(), np.cov(m, ddof=2, fweights=f, aweights=a), rtol=1e-13)
    np.testing.assert_allclose(gg.cov(f64(m), fweights=gg.tensor(f)).numpy(), np.cov(m, fweights=f), rtol=1e-13)
    assert gg.cov(f64(m[0])).shape == () and gg.cov(gg.tensor([[1, 2, 3]])).dtype == gg.float32
    np.testing.assert_allclose(gg.cov(f64(m[0])).item(), np.cov(m[0]))
    with pytest.warns(UserWarning, match="cov\\(\\): degrees of freedom is <= 0") as record:
        assert math.isnan(gg.cov(gg.tensor([1.0])).item())
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="degrees of freedom"):
        gg.corrcoef(gg.tensor(2.0))
    t = f64(m)
    with pytest.raises(RuntimeError, match="expected fweights to have integral dtype but got fweights with Double dtype"):
        gg.cov(t, fweights=f64(f))
    with pytest.raises(RuntimeError, match="expected aweights to have floating point dtype but got aweights with Long"):
        gg.cov(t, aweights=gg.tensor(f))
    with pytest.raises(RuntimeError, match="fweights cannot be negative"):
        gg.cov(t, fweights=gg.tensor(-f))
    with pytest.raises(RuntimeError, match="same numel as there are observations in the input but got 2 != 6"):
        gg.cov(t, aweights=f64([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="weights sum to zero, can't be normalized"):
        gg.cov(t, fweights=gg.tensor(f * 0))
    with pytest.raises(RuntimeError, match="expected input to have two or fewer dimensions but got an input with 3"):
        gg.cov(gg.ones(2, 2, 2))
    with pytest.raises(TypeError, match="cov\\(\\): argument 'correction' must be int, not float"):
        gg.cov(t, correction=1.5)
    with pytest.raises(RuntimeError, match="bool dtype is not supported for input"):
        gg.cov(gg.tensor([True, False]))


def test_corrcoef_matches_numpy_and_is_clipped():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((4, 7))
    np.testing.assert_allclose(both(lambda t: gg.corrcoef(t), f64(m)).numpy(), np.corrcoef(m), rtol=1e-13)
    perfect = gg.corrcoef(gg.tensor([[1.0, 2.0, 4.0], [2.0, 4.0, 8.0]]))
    assert perfect.numpy().max() <= 1.0
    np.testing.assert_allclose(perfect.numpy(), np.ones((2, 2)), rtol=1e-6)
    assert np.isnan(gg.corrcoef(gg.tensor([[1, 2, 3], [1, 1, 1]])).numpy()[1]).all()
    with pytest.raises(RuntimeError, match="corrcoef\\(\\): expected input to have two or fewer dimensions"):
        gg.corrcoef(gg.ones(2, 3, 4))


def test_trapezoid_matches_numpy():
    y = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 6.0]])
    x = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(both(lambda t: gg.trapezoid(t), f64(y)).numpy(), np.trapezoid(y))
    np.testing.assert_allclose(both(lambda t, s: gg.trapezoid(t, s), f64(y), f64(x)).numpy(), np.trapezoid(y, x))
    np.testing.assert_allclose(gg.trapezoid(f64(y), dx=2.0, dim=0).numpy(), np.trapezoid(y, dx=2.0, axis=0))
    xs = np.array([[0.0, 1.0, 3.0], [0.0, 2.0, 3.0]])
    np.testing.assert_allclose(gg.trapz(f64(y), f64(xs)).numpy(), np.trapezoid(y, xs))
    ints = gg.trapezoid(gg.tensor([1, 2, 3]))
    assert ints.dtype == gg.float32 and ints.item() == 4.0
    assert gg.trapezoid(gg.ones(2, 0)).tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="trapezoid: There must be one `x` value for each sample point"):
        gg.trapezoid(f64(y), f64([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="trapezoid: received a bool input for `y`, but bool is not supported"):
        gg.trapezoid(gg.tensor([True, False]))
    with pytest.raises(IndexError, match="Dimension specified as -1 but tensor has no dimensions"):
        gg.trapezoid(gg.tensor(1.0))


def test_renorm_scales_only_the_slices_above_maxnorm():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    got = both(lambda t: gg.renorm(t, 2, 0, 5.0), f64(a))
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    np.testing.assert_allclose(got.numpy(), np.where(norms > 5.0, a * 5.0 / (norms + 1e-7), a), rtol=1e-15)
    col = gg.renorm(f64(a), 1, 1, 5.0).numpy()
    sums = np.abs(a).sum(0)
    np.testing.assert_allclose(col, np.where(sums > 5.0, a * 5.0 / (sums + 1e-7), a), rtol=1e-15)
    with pytest.raises(RuntimeError, match="renorm: non-positive-norm not supported"):
        gg.renorm(f64(a), 0, 0, 5.0)
    with pytest.raises(RuntimeError, match="renorm: expected maxnorm to be >= 0 but got -1"):
        gg.renorm(f64(a), 2, 0, -1)
    with pytest.raises(RuntimeError, match="renorm: input needs at least 2 dimensions, got 1 dimensions"):
        gg.renorm(gg.tensor([3.0, 4.0]), 2, 0, 1.0)


def test_chain_matmul_warns_and_multiplies():
    a, b, c = np.ones((2, 3)), np.arange(12.0).reshape(3, 4), np.ones((4, 1))
    with pytest.warns(UserWarning, match="torch.chain_matmul is deprecated and will be removed") as record:
        got = gg.chain_matmul(f64(a), f64(b), f64(c))
    assert record[0].filename == __file__
    np.testing.assert_array_equal(got.numpy(), a @ b @ c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = gg.chain_matmul(f64(a))
        assert single.tolist() == a.tolist()
        with pytest.raises(RuntimeError, match="chain_matmul\\(\\): Expected one or more matrices"):
            gg.chain_matmul()
        with pytest.raises(RuntimeError, match="Tensor dimension is 1, expected 2 instead."):
            gg.chain_matmul(gg.ones(2, 3), gg.ones(3))
        with pytest.raises(RuntimeError, match=r"multi_dot\(\): tensors 0 and 1 with shapes \[2, 3\] and \[4, 1\] "
                                               r"cannot be multiplied"):
            gg.chain_matmul(gg.ones(2, 3), gg.ones(4, 1))


# -- layout ----------------------------------------------------------------------------------------------------------
def test_strides_offsets_and_sizes_read_as_pytorchs():
    x = gg.arange(6.0).reshape(2, 3)
    assert x.is_contiguous() and x.stride() == (3, 1) and x.stride(1) == 1 and x.stride(-2) == 3
    assert not x.t().is_contiguous() and x.t().stride() == (1, 3)
    assert x[1:].storage_offset() == 3 and x[:, 1].storage_offset() == 1 and x[1][1:].storage_offset() == 4
    assert x.storage_offset() == 0 and x[:, ::2].stride() == (3, 2)
    assert x.nbytes == 24 and x.itemsize == 4 and x[:, 1].nbytes == 8 and f64([1.0]).itemsize == 8
    assert gg.ones(3).expand(2, 3).stride() == (0, 1) and gg.ones(3).expand(2, 3).nbytes == 24
    assert gg.ones(3, 1).t().is_contiguous() and gg.ones(0, 3).stride() == (3, 1) and gg.tensor(1.0).stride() == ()
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.stride(2)
    # a traced value has eager code's layout: a view's strides carried through (t.t().stride(0) is 1)
    fn = lambda t: t * t.t().stride(0) + t.is_contiguous() + t.storage_offset() + t.nbytes  # noqa: E731
    assert gg.compile(fn)(gg.ones(2, 2)).tolist() == fn(gg.ones(2, 2)).tolist() == [[18.0, 18.0], [18.0, 18.0]]


# -- the CuPy backend: the same values and gradients on the device (the fake CuPy here, a GPU with -m gpu) ------------
def test_the_new_functions_run_on_the_device_as_on_the_cpu(cupy_device):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.2, 0.8, (3, 4)), rng.uniform(0.5, 2.0, (3, 4))
    fns = [lambda a, b: a.unfold(1, 2, 1).sum(-1).unfold(0, 2, 1).sum() * gg.xlogy(a, b), lambda a, b: gg.nextafter(a, b) * gg.logit(a),
           lambda a, b: a.take(gg.tensor([0, -1, 5], device=a.device)).sum() * gg.cov(b),
           lambda a, b: a.index_copy(1, gg.tensor([3, 0], device=a.device), b[:, :2]) * gg.frexp(b).mantissa,
           lambda a, b: a.masked_scatter(b > 1.0, b.reshape(-1)) + gg.trapezoid(a, dim=0).sum() * gg.renorm(b, 2, 0, 1.0)]
    for fn in fns:
        results = []
        for device in ("cpu", "cuda"):
            a = gg.tensor(x, device=device, requires_grad=True)
            b = gg.tensor(y, device=device, requires_grad=True)
            out = fn(a, b)
            (out * out).sum().backward()
            assert out.is_cuda == (device == "cuda")
            results.append([out.detach().cpu().numpy(), a.grad.cpu().numpy(), b.grad.cpu().numpy()])
            u = gg.tensor(x, device=device, requires_grad=True)
            v = gg.tensor(y, device=device, requires_grad=True)
            compiled = gg.compile(lambda p, q: (fn(p, q) * fn(p, q)).sum())
            compiled(u, v).backward()
            results[-1] += [u.grad.cpu().numpy(), v.grad.cpu().numpy()]
        for cpu, dev in zip(*results):
            np.testing.assert_allclose(dev, cpu, rtol=1e-12, atol=1e-14)
    with pytest.raises(IndexError, match="tried to access index 12 on a tensor of 12 elements"):
        gg.compile(lambda a: a.take(gg.tensor([12], device=a.device)))(gg.tensor(x, device="cuda"))
