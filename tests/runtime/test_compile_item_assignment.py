"""Item assignment and in-place updates of indexed views inside compiled functions, as eager PyTorch code
writes them (``y[0] = 5``, ``y[mask] = 0``, ``y[0] += 1``, ``y[:, 1].mul_(v)``): they were refused at the user's
line; now they are recorded as functional updates and give eager's values and gradients (float64, checked
against eager and finite differences)."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def _assignments(x, v):
    y = x * 2.0
    y[0] = 5.0
    y[1:, 1] = v
    y[[0, 2], 0] = v[:2] * 3.0
    y[y > 7.0] = 0.0
    return (y * y).sum()


def _view_updates(x, v):
    y = x * 2.0
    y[0] += 1.0
    y[:, 1].mul_(v[0])
    row = y[2]
    row.add_(v[1])
    row.mul_(2.0)  # a second update of the same view reaches y too
    column = y[:, 2]
    y[1][2] += 10.0  # a view of a view; column, a view taken before, sees the update
    y[[0, 1]].add_(100.0)  # an integer-array index copies: y is unchanged by it
    return (y * y).sum() + row.sum() + (column * v[0]).sum()


@pytest.mark.parametrize("fn", [_assignments, _view_updates])
def test_values_and_gradients_equal_eager_and_finite_differences(fn):
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.uniform(-2, 2, (3, 3)), requires_grad=True)
    v = gg.tensor(rng.uniform(-2, 2, 2), requires_grad=True)
    eager = fn(x, v)
    eager.backward()
    expected = (x.grad.tolist(), v.grad.tolist())
    x.grad = v.grad = None
    compiled = gg.compile(fn)
    for _ in range(2):
        result = compiled(x, v)
        result.backward()
        assert result.item() == pytest.approx(eager.item(), rel=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), np.asarray(expected[0]), rtol=1e-12)
        np.testing.assert_allclose(v.grad.numpy(), np.asarray(expected[1]), rtol=1e-12)
        x.grad = v.grad = None
    assert gradcheck(compiled, (x, v))
    assert gradgradcheck(fn, (x, v))


def test_an_argument_assigned_into_is_written_back():
    def update(a):
        a[1] = 7.0
        a[2] += 5.0
        a[0].mul_(3.0)
        return a.sum()

    a = gg.ones(3)
    assert gg.compile(update)(a).item() == 16.0 and a.tolist() == [3.0, 7.0, 6.0]


def test_transforms_of_pure_functions_still_refuse_item_assignment():
    def f(a):
        a = a * 1.0
        a[0] = 0.0
        return a.sum()

    with pytest.raises(TypeError, match=r"a.at\[i\].set\(v\)"):
        gg.grad(f)(gg.ones(3, dtype=gg.float64))


def test_an_index_tensor_in_item_assignment():
    # x[i] = v with i a tensor was refused; it is index_copy along i's dimension (last repeat wins, as PyTorch)
    def f(x, i, v):
        y = x * 1.0
        y[i] = v
        y[:, i[:1]] = 7.0
        return y

    x = gg.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    i = gg.tensor([2, -1, 0])
    v = gg.tensor([10.0, 20.0, 30.0], dtype=gg.float64, requires_grad=True)
    eager = f(x, i, v)
    compiled = gg.compile(f)
    np.testing.assert_array_equal(compiled(x, i, v).detach().numpy(), eager.detach().numpy())
    assert gradcheck(lambda x, v: compiled(x, i, v), (x, v))

    def two(x, i):  # index tensors leading the index: index_put
        y = x * 1.0
        y[i, i] = 0.0
        return y

    x3 = gg.tensor(np.arange(9.0).reshape(3, 3))
    assert gg.compile(two)(x3, gg.tensor([0, 2])).tolist() == two(x3, gg.tensor([0, 2])).tolist()

    def apart(x, i):
        y = x * 1.0
        y[:, i, i] = 0.0
        return y

    with pytest.raises(gg.tracer.TracerError, match=r"index tensor .* at .*test_compile_item_assignment.py:\d+: "
                                                    r"`y\[:, i, i\] = 0.0`"):
        gg.compile(apart)(gg.zeros(2, 3, 3), gg.tensor([0, 2]))


@pytest.mark.parametrize("fn", [
    lambda x, v: _set(x, [0, 0], v[:2]),
    lambda x, v: _set(x, np.array([2, 0, 2]), v),
    lambda x, v: _add(x, [0, 0], 1.0),
    lambda x, v: _set(x, [1, 0, 1], x[[0, 1, 0]] * 10),
], ids=["list", "array", "+= list", "read and write"])
def test_a_repeated_index_keeps_the_last_write(fn):
    # compiled code added the repeated writes (x[[0, 0]] = v gave v[0] + v[1]); eager, NumPy and PyTorch keep the last
    x = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
    v = gg.tensor([5.0, 6.0, 7.0], dtype=gg.float64, requires_grad=True)
    eager = fn(x, v)
    np.testing.assert_array_equal(gg.compile(fn)(x, v).detach().numpy(), eager.detach().numpy())
    assert gradcheck(gg.compile(fn), (x, v))
    grads = gg.autograd.grad(fn(x, v).sum(), (x, v), allow_unused=True)
    compiled = gg.autograd.grad(gg.compile(fn)(x, v).sum(), (x, v), allow_unused=True)
    for a, b in zip(grads, compiled):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def _set(x, index, value):
    y = x * 1.0
    y[index] = value
    return y


def _add(x, index, value):
    y = x * 1.0
    y[index] += value
    return y


def test_the_last_write_by_value():
    y = gg.tensor([1.0, 2.0, 3.0])
    assert gg.compile(lambda y: _set(y, [0, 0], gg.tensor([5.0, 6.0])))(y).tolist() == [6.0, 2.0, 3.0]
    assert gg.compile(lambda y: _add(y, [0, 0], 1.0))(y).tolist() == [2.0, 2.0, 3.0]  # (PyTorch's)


def test_ints_select_before_an_index_list_as_in_pytorch():
    # NumPy counts the int as an advanced index apart from the list and puts the broadcast dims first: compiled code
    # wrote v transposed (and refused non-square shapes)
    def f(x, v):
        y = x.clone()
        y[1, :, [1, 2]] = v
        return y

    def g(x, v):
        y = x.clone()
        y[0, 1:4, [2, 0]] = v
        return y
    x = gg.zeros(3, 2, 5)
    v = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert f(x, v)[1].tolist() == [[0.0, 1.0, 2.0, 0.0, 0.0], [0.0, 3.0, 4.0, 0.0, 0.0]]
    assert gg.compile(f)(x, v).tolist() == f(x, v).tolist()
    x, v = gg.zeros(2, 5, 3), gg.arange(6.0).reshape(3, 2)
    assert gg.compile(g)(x, v).tolist() == g(x, v).tolist()


def test_a_bool_leading_index_tensors_is_no_row_number():
    # True is an int to Python: compiled code took y[True, i] = v for y[1, i] = v
    def f(x, i):
        y = x * 1
        y[True, i] = 5.0
        return y
    with pytest.raises(gg.tracer.TracerError, match=r"item assignment with this index tensor"):
        gg.compile(f)(gg.zeros(2, 3), gg.tensor([0, 2]))
