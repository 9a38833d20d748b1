"""PyTorch's ops whose result's shape depends on the values (``nonzero``, one-argument ``where``,
``masked_select``, ``unique``, ``unique_consecutive``, ``bincount``): eager values against NumPy, and a compiled
function refusing them with an error that names the op and says why."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer.tracer import TracerError


def t(a, **kw):
    return gg.tensor(np.asarray(a), **kw)


def test_nonzero_and_where_condition():
    z = np.array([[0, 1], [2, 0]])
    got = t(z).nonzero()
    assert got.dtype == gg.int64 and got.tolist() == np.argwhere(z).tolist()
    rows, cols = gg.nonzero(t(z), as_tuple=True)
    assert (rows.tolist(), cols.tolist()) == tuple(p.tolist() for p in np.nonzero(z))
    assert tuple(t(5.0).nonzero().shape) == (1, 0)
    assert [p.tolist() for p in t(5.0).nonzero(as_tuple=True)] == [[0]]
    assert [p.tolist() for p in gg.where(t(z) > 0)] == [p.tolist() for p in np.where(z > 0)]
    with pytest.raises(TracerError, match=r"where\(condition\) inside a compiled function: the number of non-zero "
                                          r"elements depends on the values"):
        gg.compile(lambda x: gg.where(x > 0)[0] * 1)(t(z))
    with pytest.raises(TracerError, match="nonzero inside a compiled function"):
        gg.compile(lambda x: x.nonzero())(t(z))


def test_masked_select_broadcasts_and_differentiates():
    x = t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    picked = gg.masked_select(x, t([True, False]))
    assert picked.tolist() == [1.0, 3.0]
    (picked * t([2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 0.0], [3.0, 0.0]])
    assert t([1.0, 2.0]).masked_select(t([[True, False], [True, True]])).tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        gg.masked_select(x, t([1, 0]))
    mask = t([[False, True], [True, True]])  # closed over by a compiled function: concrete, so its length is known
    assert gg.compile(lambda v: gg.masked_select(v, mask) * 2)(t([[1.0, 2.0], [3.0, 4.0]])).tolist() == [4.0, 6.0, 8.0]
    with pytest.raises(TracerError, match="masked_select inside a compiled function"):
        gg.compile(lambda v: gg.masked_select(v, v > 2))(t([1.0, 3.0]))


def test_unique_matches_numpy_with_inverse_counts_dim_and_nan():
    x = np.array([3, 1, 2, 3, 1, 5])
    values, inverse, counts = gg.unique(t(x), return_inverse=True, return_counts=True)
    expected = np.unique(x, return_inverse=True, return_counts=True)
    assert [values.tolist(), inverse.tolist(), counts.tolist()] == [e.tolist() for e in expected]
    assert t(x).unique().tolist() == [1, 2, 3, 5]
    v, c = t(x).unique(return_counts=True)
    assert c.tolist() == expected[2].tolist()
    m = np.array([[1, 2], [0, 0], [1, 2], [0, 1]])
    rows, inv = gg.unique(t(m), dim=0, return_inverse=True)
    e_rows, e_inv = np.unique(m, axis=0, return_inverse=True)
    assert rows.tolist() == e_rows.tolist() and inv.tolist() == e_inv.reshape(-1).tolist()
    nan = t([1.0, np.nan, np.nan, 1.0]).unique(return_counts=True)  # each nan is distinct, as in PyTorch
    assert nan[1].tolist() == [2, 1, 1] and np.isnan(nan[0].numpy()[1:]).all()
    with pytest.raises(TracerError, match="unique inside a compiled function"):
        gg.compile(lambda v: v.unique())(t(x))


def test_unique_consecutive():
    x = np.array([1, 1, 2, 2, 3, 1, 1])
    values, inverse, counts = gg.unique_consecutive(t(x), return_inverse=True, return_counts=True)
    assert values.tolist() == [1, 2, 3, 1] and inverse.tolist() == [0, 0, 1, 1, 2, 3, 3]
    assert counts.tolist() == [2, 2, 1, 2]
    m = t([[1, 2], [1, 2], [0, 1], [1, 2]])
    assert m.unique_consecutive(dim=0).tolist() == [[1, 2], [0, 1], [1, 2]]


def test_bincount_counts_weights_and_errors():
    b = np.array([0, 1, 1, 3])
    got = t(b).bincount()
    assert got.dtype == gg.int64 and got.tolist() == np.bincount(b).tolist()
    assert gg.bincount(t(b), minlength=6).tolist() == np.bincount(b, minlength=6).tolist()
    w = np.array([0.5, 1.0, 2.0, 3.0], dtype=np.float32)
    weighted = gg.bincount(t(b), t(w))
    assert weighted.dtype == gg.float32 and weighted.tolist() == np.bincount(b, w).tolist()
    assert gg.bincount(t(np.zeros(0, dtype=np.int64))).tolist() == []
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral inputs."):
        gg.bincount(t([-1, 2]))
    with pytest.raises(RuntimeError, match="weights should be 1-d and have the same length as input"):
        gg.bincount(t([1]), t([1.0, 2.0]))
    with pytest.raises(TracerError, match="bincount inside a compiled function: the number of bins"):
        gg.compile(lambda v: gg.bincount(v.long()))(t([1.0, 2.0]))
