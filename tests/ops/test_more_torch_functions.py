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
    # the in-place forms, on a copy (a leaf that requires grad may not be written in place)
    "lerp_": (lambda x, y: x.clone().lerp_(y, 0.3) * x, [(4,), (4,)], ANY),
    "nan_to_num_": (lambda x: (x * 2).nan_to_num_(0.0) * x, [(4,)], ANY),
    "clamp_min_": (lambda x: x.clone().clamp_min_(0.3) * x, [(6,)], AWAY),
    "logit_": (lambda x: (x * 0.4 + 0.5).logit_(), [(4,)], UNIT),
    "xlogy_": (lambda x, y: x.clone().xlogy_(y), [(3,), (3,)], POS),
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
# -- shapes: grids, products, windows ----------------------------------------------------------------------------
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


# -- statistics and integration -----------------------------------------------------------------------------------
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
    # a traced value has no layout of its own (its contiguous() is itself): row-major
    assert gg.compile(lambda t: t * t.t().stride(0) + t.is_contiguous() + t.storage_offset() + t.nbytes)(
        gg.ones(2, 2)).tolist() == [[19.0, 19.0], [19.0, 19.0]]
