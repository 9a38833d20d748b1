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
    # the in-place forms, on a copy (a leaf that requires grad may not be written in place)
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
