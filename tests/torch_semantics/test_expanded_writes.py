"""In-place writes into expanded tensors, whose elements share memory: PyTorch's rule (tested against PyTorch 2.13).

The written-to tensor must not have internal overlap (a zero stride over more than one element), except for the
writes PyTorch lets through: ``fill_``/``zero_`` with a number, ``masked_fill_``, ``index_put_``, ``index_fill_``
and advanced-index assignment (these three warn that it is deprecated). ``x[index] = v`` with a basic index writes
into the view ``x[index]``, so ``x[0, 1] = 5`` writes one element (every row then shows it: they share memory) and
``x[:, 1] = 5`` is refused. Everything else (``add_``, ``copy_``, ``fill_`` with a tensor, ...) raises. NumPy makes
broadcast views read-only: the writes go through a writable alias of the same memory."""
import warnings

import numpy as np
import pytest

import graphgrad as gg

OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
           "location. Please clone() the tensor before performing the operation.")
DEPRECATED = ("Use of {} on expanded tensors is deprecated. Please clone() the tensor before performing this "
              "operation. This also applies to advanced indexing e.g. tensor[{}] = {}")
INDEX_PUT = DEPRECATED.format("index_put_", "indices", "tensor")
MASKED_FILL = DEPRECATED.format("masked_fill_", "mask", "scalar")
INDEX_FILL = DEPRECATED.format("index_fill_", "mask", "scalar")
MASK = [[True, False, False], [False, False, False]]


def expanded():
    base = gg.tensor([1.0, 2.0, 3.0])
    return base, base.expand(2, 3)


# (name, write, the base after it, PyTorch's warnings) -- PyTorch 2.13's results for base [1, 2, 3] expanded to (2, 3)
ALLOWED = [
    ("x[0, 1] = 5", lambda x: x.__setitem__((0, 1), 5.0), [1, 5, 3], []),
    ("x[0, 1] = 0-d tensor", lambda x: x.__setitem__((0, 1), gg.tensor(5.0)), [1, 5, 3], []),
    ("x[0] = tensor", lambda x: x.__setitem__(0, gg.tensor([7.0, 8.0, 9.0])), [7, 8, 9], []),
    ("x[0] = 5", lambda x: x.__setitem__(0, 5.0), [5, 5, 5], []),
    ("x[None, 0, 1] = 5", lambda x: x.__setitem__((None, 0, 1), 5.0), [1, 5, 3], []),
    ("x[0:1, :2] = tensor", lambda x: x.__setitem__((slice(0, 1), slice(None, 2)), gg.tensor([5.0, 6.0])), [5, 6, 3],
     []),
    ("x[0, [1]] = 9", lambda x: x.__setitem__((0, gg.tensor([1])), 9.0), [1, 9, 3], []),  # into x[0]: no overlap
    ("x[i, j] = 9", lambda x: x.__setitem__((gg.tensor([0]), gg.tensor([1])), 9.0), [1, 9, 3], [INDEX_PUT]),
    ("x[:, [1]] = 9", lambda x: x.__setitem__((slice(None), gg.tensor([1])), 9.0), [1, 9, 3], [INDEX_PUT]),
    # two elements sharing memory, written in the index's order: the last wins
    ("x[[0, 1], [0, 0]] = [7, 8]", lambda x: x.__setitem__((gg.tensor([0, 1]), gg.tensor([0, 0])), gg.tensor([7.0, 8.0])),
     [8, 2, 3], [INDEX_PUT]),
    ("x[[1, 0], [0, 0]] = [7, 8]", lambda x: x.__setitem__((gg.tensor([1, 0]), gg.tensor([0, 0])), gg.tensor([7.0, 8.0])),
     [8, 2, 3], [INDEX_PUT]),
    ("x[mask] = 4", lambda x: x.__setitem__(gg.tensor(MASK), 4.0), [4, 2, 3], [INDEX_PUT, MASKED_FILL]),
    ("x[mask] = tensor", lambda x: x.__setitem__(gg.tensor(MASK), gg.tensor([4.0])), [4, 2, 3], [INDEX_PUT, MASKED_FILL]),
    ("zero_", lambda x: x.zero_(), [0, 0, 0], []),
    ("fill_(2)", lambda x: x.fill_(2), [2, 2, 2], []),
    ("masked_fill_", lambda x: x.masked_fill_(gg.tensor(MASK), 4.0), [4, 2, 3], [MASKED_FILL]),
    ("masked_fill_ 0-d tensor", lambda x: x.masked_fill_(gg.tensor(MASK), gg.tensor(4.0)), [4, 2, 3], [MASKED_FILL]),
    ("index_put_", lambda x: x.index_put_((gg.tensor([0]), gg.tensor([1])), gg.tensor(9.0)), [1, 9, 3], [INDEX_PUT]),
    ("index_fill_", lambda x: x.index_fill_(1, gg.tensor([1]), 3.0), [1, 3, 3], [INDEX_FILL]),
    ("index_fill_ dim 0", lambda x: x.index_fill_(0, gg.tensor([1]), 3.0), [3, 3, 3], [INDEX_FILL]),
    ("x[0].add_(1)", lambda x: x[0].add_(1), [2, 3, 4], []),  # a view of the expanded tensor without overlap
    ("x[:, 0:1].zero_()", lambda x: x[:, 0:1].zero_(), [0, 2, 3], []),
]

REFUSED = [
    ("x[:] = 5", lambda x: x.__setitem__(slice(None), 5.0)),
    ("x[...] = tensor", lambda x: x.__setitem__(Ellipsis, gg.tensor([1.0, 2.0, 3.0]))),
    ("x[:, 1] = 7", lambda x: x.__setitem__((slice(None), 1), 7.0)),
    ("x[..., 1] = tensor", lambda x: x.__setitem__((Ellipsis, 1), gg.tensor([7.0, 8.0]))),
    ("fill_(0-d tensor)", lambda x: x.fill_(gg.tensor(2.0))),
    ("add_", lambda x: x.add_(1)),
    ("x += 1", lambda x: x.__iadd__(1)),
    ("mul_", lambda x: x.mul_(2)),
    ("neg_", lambda x: x.neg_()),
    ("relu_", lambda x: x.relu_()),
    ("clamp_", lambda x: x.clamp_(0, 1)),
    ("copy_", lambda x: x.copy_(gg.ones(2, 3))),
    ("copy_ broadcast", lambda x: x.copy_(gg.ones(3))),
    ("masked_scatter_", lambda x: x.masked_scatter_(gg.tensor(MASK), gg.tensor([4.0]))),
    ("index_copy_", lambda x: x.index_copy_(1, gg.tensor([1]), gg.ones(2, 1))),
    ("index_add_", lambda x: x.index_add_(1, gg.tensor([1]), gg.ones(2, 1))),
    ("scatter_", lambda x: x.scatter_(1, gg.tensor([[1], [1]]), 3.0)),
    ("uniform_", lambda x: x.uniform_()),
    ("addcmul_", lambda x: x.addcmul_(gg.ones(2, 3), gg.ones(2, 3))),
    ("x.T[1].add_(1)", lambda x: x.T[1].add_(1)),
]


@pytest.mark.parametrize("name, write, after, expected_warnings", ALLOWED, ids=[c[0] for c in ALLOWED])
def test_pytorchs_writes_into_an_expanded_tensor_land_in_the_shared_memory(name, write, after, expected_warnings):
    base, x = expanded()
    version = base._version
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write(x)
    assert base.tolist() == after
    np.testing.assert_array_equal(x.numpy(), np.broadcast_to(np.asarray(after, dtype=np.float32), (2, 3)))
    assert base._version == x._version == version + 1
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == expected_warnings


@pytest.mark.parametrize("name, write", REFUSED, ids=[c[0] for c in REFUSED])
def test_other_writes_into_an_expanded_tensor_raise_pytorchs_error(name, write):
    base, x = expanded()
    with pytest.raises(RuntimeError) as info:
        write(x)
    assert str(info.value) == OVERLAP
    assert base.tolist() == [1, 2, 3]


def test_expanding_only_unit_dims_shares_no_memory_between_elements():
    # a zero stride over one element is no overlap (PyTorch's test): add_ writes, as PyTorch's (NumPy's broadcast
    # view was read-only, and raised)
    base = gg.tensor([1.0, 2.0, 3.0])
    x = base.expand(1, 3)
    x.add_(1)
    assert base.tolist() == [2, 3, 4]
    column = gg.zeros(3, 1)
    column.expand(3, 1).mul_(2).add_(1)
    assert column.tolist() == [[1], [1], [1]]


def test_writes_into_an_expanded_view_of_a_tensor_with_history_rebase_its_gradient():
    # PyTorch: y becomes CopySlices, each write replacing the elements of y that the written elements share; the
    # gradients below are d/db and d/dv of y . [1, 10, 100] + x . w with x = y expanded (PyTorch's own backward
    # through an overlapping CopySlices raises the overlap error: here it is the gradient of what was written)
    mask = gg.tensor([[True, False, False], [False, False, True]])
    w = np.array([[1000.0, 2000, 3000], [4000, 5000, 6000]])
    c = np.array([1.0, 10.0, 100.0])
    for write, replaced in ((lambda x, v: x.__setitem__((0, 1), v), [1]),
                            (lambda x, v: x.__setitem__((1, gg.tensor([0, 2])), v), [0, 2]),
                            (lambda x, v: x.__setitem__(mask, v), [0, 2]),
                            (lambda x, v: x.masked_fill_(mask, v), [0, 2]),
                            (lambda x, v: x.index_put_((gg.tensor([0, 1]), gg.tensor([0, 2])), v), [0, 2]),
                            (lambda x, v: x.index_fill_(1, gg.tensor([1]), v), [1])):
        b = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
        v = gg.tensor(5.0, dtype=gg.float64, requires_grad=True)
        y = b * 1
        x = y.expand(2, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write(x, v)
        kept = np.ones(3)
        kept[replaced] = 0
        assert y.tolist() == np.where(kept == 1, [1.0, 2.0, 3.0], 5.0).tolist()
        assert y.grad_fn.name() == "CopySlices" and y._version == 1
        ((y * gg.tensor(c)).sum() + (x * gg.tensor(w)).sum()).backward()
        per_element = c + w.sum(0)  # each element of y, once in y and once per row of x
        np.testing.assert_array_equal(b.grad.numpy(), kept * per_element)
        assert v.grad.item() == ((1 - kept) * per_element).sum()


def test_a_write_through_an_expanded_tensor_requiring_nothing_needs_no_history():
    # an expanded leaf-less tensor written under no_grad and with grad mode on, but nothing requiring grad
    base = gg.zeros(3)
    x = base.expand(4, 3)
    with gg.no_grad():
        x[2, 0] = 1.0
    x[3, 2] = 2.0
    assert base.tolist() == [1, 0, 2] and x.grad_fn is None


def test_expanded_writes_on_the_device(cupy_device):
    base = gg.tensor([1.0, 2.0, 3.0], device="cuda")
    x = base.expand(2, 3)
    x[0, 1] = 5.0
    assert base.cpu().tolist() == [1, 5, 3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x.masked_fill_(gg.tensor(MASK, device="cuda"), 4.0)
    assert base.cpu().tolist() == [4, 5, 3] and [str(w.message) for w in caught] == [MASKED_FILL]
    with pytest.raises(RuntimeError, match="single memory location"):
        x.add_(1)
