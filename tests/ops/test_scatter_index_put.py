"""index_add, scatter and index_put (and their in-place forms): one composite each for eager and compiled code, with
PyTorch's checks and error texts (PyTorch 2.13). The op grid checks their values and gradients on random cases."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer import TracerError
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck

EAGER_AND_COMPILED = pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)],
                                             ids=["eager", "compiled"])


def f64(values, requires_grad=False):
    return gg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


@EAGER_AND_COMPILED
@pytest.mark.parametrize("call", [
    lambda x: x.index_add(2, gg.tensor([0, 1]), gg.ones(2, 2)),
    lambda x: x.clone().index_add_(-3, gg.tensor([0, 1]), gg.ones(2, 2)),
    lambda x: x.scatter(2, gg.tensor([[0, 1]]), gg.ones(1, 2)),
    lambda x: x.clone().scatter_(2, gg.tensor([[0, 1]]), 1.0),
    lambda x: x.clone().scatter_add_(2, gg.tensor([[0, 1]]), gg.ones(1, 2)),
], ids=["index_add", "index_add_", "scatter", "scatter_", "scatter_add_"])
def test_a_dim_past_the_tensor_s_is_refused(run, call):
    # these took the dim modulo the number of dimensions and wrote along another one
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-2, 1\], but got"):
        run(call, gg.zeros(3, 2))


@EAGER_AND_COMPILED
@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.index_add(0, gg.tensor([0.0, 1.0, 2.0]), gg.ones(3, 2)), RuntimeError,
     "index_add_(): Expected dtype int32/int64 for index but got: Float"),
    (lambda x: x.index_add(0, gg.tensor([[0, 1, 2]]), gg.ones(3, 2)), IndexError,
     "index_add_(): Index is supposed to be a vector, but got dim: 2 with type: Long and size: [1, 3]"),
    (lambda x: x.index_add(0, gg.tensor([0, 1]), gg.ones(3, 2)), RuntimeError,
     "index_add_(): Number of indices (2) should be equal to source.size(dim): (3), for dim: 0"),
    (lambda x: x.index_add(0, gg.tensor([0, 1, 2]), gg.ones(3, 3)), RuntimeError,
     "source tensor shape must match self tensor shape, excluding the specified dimension. Got self.shape = [4, 2] "
     "source.shape = [3, 3]"),
    (lambda x: x.index_add(0, gg.tensor([0, 1, 2]), gg.ones(3, 2, dtype=gg.float64)), RuntimeError,
     "index_add_(): self (Float) and source (Double) must have the same scalar type"),
    (lambda x: x.index_add(0, gg.tensor([0, 1, 4]), gg.ones(3, 2)), RuntimeError,
     "index 4 is out of bounds for dimension 0 with size 4"),
    (lambda x: x.scatter(0, gg.tensor([[0.0, 1.0]]), 1.0), RuntimeError,
     "scatter(): Expected dtype int32/int64 for index"),
    (lambda x: x.scatter(0, gg.tensor([[0, 1]]), gg.ones(1, 2, dtype=gg.float64)), RuntimeError,
     "scatter(): Expected self.dtype to be equal to src.dtype"),
    (lambda x: x.scatter(0, gg.tensor([[0, 1, 1]]), gg.ones(3, 2)), RuntimeError,
     "Expected index [1, 3] to be no larger than self [4, 2] apart from dimension 0 and to be no larger size than "
     "src [3, 2]"),
    (lambda x: x.scatter(0, gg.tensor([0, 1]), gg.ones(3, 2)), RuntimeError,
     "Index tensor must have the same number of dimensions as self tensor"),
    (lambda x: x.scatter(0, gg.tensor([[0, 1]]), gg.ones(3, 2), reduce="max"), RuntimeError,
     "reduce argument must be either add or multiply."),
    (lambda x: x.scatter(0, gg.tensor([[0, -1]]), gg.ones(3, 2)), RuntimeError,
     "index -1 is out of bounds for dimension 0 with size 4"),
    (lambda x: x.index_put((gg.tensor([0, 5]),), gg.tensor(3.0)), IndexError,
     "index 5 is out of bounds for dimension 0 with size 4"),
    (lambda x: x.index_put((gg.tensor([0]),) * 3, gg.tensor(3.0)), IndexError,
     "too many indices for tensor of dimension 2 (got 3)"),
    (lambda x: x.index_put((gg.tensor([0.0]),), gg.tensor(3.0)), IndexError,
     "tensors used as indices must be long, int, byte or bool tensors"),
    (lambda x: x.index_put((gg.tensor([0, 1]),), gg.ones(3)), RuntimeError,
     "shape mismatch: value tensor of shape [3] cannot be broadcast to indexing result of shape [2, 2]"),
    (lambda x: x.index_put((gg.tensor([0, 1]),), gg.ones(2, dtype=gg.float64)), RuntimeError,
     "Index put requires the source and destination dtypes match, got Float for the destination and Double for "
     "the source."),
    (lambda x: x.index_put((gg.tensor([[0, 1]]), gg.tensor([0, 1, 1])), gg.tensor(1.0)), IndexError,
     "shape mismatch: indexing tensors could not be broadcast together with shapes [1, 2], [3]"),
])
def test_bad_arguments_get_pytorch_s_errors(run, call, error, message):
    with pytest.raises(error) as caught:
        run(call, gg.zeros(4, 2))
    assert str(caught.value) == message


@EAGER_AND_COMPILED
def test_values_as_pytorch_s(run):
    x = gg.zeros(4, 2)
    s = gg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    # (expected values: PyTorch 2.13 on the same calls)
    assert run(lambda x, s: x.index_add(0, gg.tensor([0, 1, 0]), s, alpha=2), x, s).tolist() == [
        [12.0, 16.0], [6.0, 8.0], [0.0, 0.0], [0.0, 0.0]]
    assert run(lambda x: x.scatter(0, gg.tensor([[0, 1], [3, 3]]), 5.0), x).tolist() == [
        [5.0, 0.0], [0.0, 5.0], [0.0, 0.0], [5.0, 5.0]]
    assert run(lambda x, s: x.scatter(0, gg.tensor([[0, 1], [0, 0]]), s), x, s).tolist() == [
        [3.0, 4.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]  # (of repeated positions the last write wins)
    assert run(lambda x, s: x.scatter(0, gg.tensor([[0, 1], [0, 0]]), s, reduce="add"), x, s).tolist() == [
        [4.0, 4.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]
    assert run(lambda x, s: (x + 2).scatter(0, gg.tensor([[0, 1], [0, 0]]), s * 3, reduce="multiply"),
               x, s).tolist() == [[54.0, 24.0], [2.0, 12.0], [2.0, 2.0], [2.0, 2.0]]
    assert run(lambda x: x.index_put((gg.tensor([0, 0]), gg.tensor([1, 1])), gg.tensor([7.0, 8.0]),
                                     accumulate=True), x).tolist() == [[0.0, 15.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert run(lambda x: x.index_put((gg.tensor([0, -1]),), gg.tensor(3.0)), x).tolist() == [
        [3.0, 3.0], [0.0, 0.0], [0.0, 0.0], [3.0, 3.0]]
    assert run(lambda x: gg.zeros(3, 3).index_put((gg.tensor([[0], [2]]), gg.tensor([0, 1])), gg.tensor(1.0)),
               x).tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    mask = gg.tensor([True, False, True, False])
    assert run(lambda x: x.index_put((mask,), gg.tensor(3.0)), x).tolist() == [
        [3.0, 3.0], [0.0, 0.0], [3.0, 3.0], [0.0, 0.0]]
    assert run(lambda x: x.index_put((mask,), gg.tensor([1.0, 2.0]), accumulate=True), x).tolist() == [
        [1.0, 2.0], [0.0, 0.0], [1.0, 2.0], [0.0, 0.0]]
    assert run(lambda x: gg.tensor(1.0).scatter(0, gg.tensor(0), 5.0) + x.sum(), x).item() == 5.0


@EAGER_AND_COMPILED
def test_in_place_forms_update_the_tensor_and_its_history(run):
    def step(x, s):
        y = x * 1
        y.index_add_(0, gg.tensor([2, 0, 2]), s)
        y.scatter_(1, gg.tensor([[1], [0], [1]]), s[:, :1] * 10)
        y.index_put_((gg.tensor([1]), gg.tensor([0])), s[0, 1], accumulate=True)
        return y
    x, s = f64(np.arange(6.0).reshape(3, 2), True), f64([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], True)
    expected = np.arange(6.0).reshape(3, 2)
    np.add.at(expected, [2, 0, 2], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    expected[[0, 1, 2], [1, 0, 1]] = [10.0, 30.0, 50.0]
    expected[1, 0] += 2.0
    assert run(step, x, s).tolist() == expected.tolist()
    assert gradcheck(lambda x, s: run(step, x, s), [x, s])


def test_grad_fn_names_are_pytorch_s():
    x = gg.zeros(4, 2, requires_grad=True)
    s = gg.ones(3, 2, requires_grad=True)
    assert x.index_add(0, gg.tensor([0, 1, 2]), s).grad_fn.name() == "IndexAddBackward0"
    assert x.scatter(0, gg.tensor([[0, 1]]), s).grad_fn.name() == "ScatterBackward0"
    assert x.scatter(0, gg.tensor([[0, 1]]), 2.0).grad_fn.name() == "ScatterBackward1"
    assert x.clone().index_put_((gg.tensor([0]),), s[0]).grad_fn.name() == "IndexPutBackward0"


@pytest.mark.parametrize("fn", [
    lambda x, s: x.index_add(1, gg.tensor([2, 0, 2]), s.sin()) * x,
    lambda x, s: x.scatter(0, gg.tensor([[0, 2, 1], [0, 0, 1]]), s * s) * x,
    lambda x, s: x.scatter(1, gg.tensor([[0, 0, 2], [1, 1, 1], [2, 0, 2]]), s * x, reduce="multiply"),
    lambda x, s: x.index_put((gg.tensor([0, 2, 0]), gg.tensor([1, 1, 1])), (s * s)[0], accumulate=True) * x,
    lambda x, s: x.index_put((gg.tensor([0, 2]),), s[:2] * x[0]) * x,
], ids=["index_add", "scatter", "scatter multiply", "index_put accumulate", "index_put"])
def test_gradients_first_and_second_order_eager_and_compiled(fn):
    rng = np.random.default_rng(0)
    x, s = f64(rng.normal(size=(3, 3)), True), f64(rng.normal(size=(3, 3)), True)
    for f in (fn, gg.compile(fn)):
        assert gradcheck(f, [x, s])
    assert gradgradcheck(fn, [x, s])
    grads = gg.autograd.grad(fn(x, s).sum(), [x, s])
    compiled = gg.autograd.grad(gg.compile(fn)(x, s).sum(), [x, s])
    for a, b in zip(grads, compiled):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_compiled_item_assignment_with_several_index_tensors():
    def f(x, v):
        y = x * 1
        y[gg.tensor([0, 2, 0]), gg.tensor([1, 0, 1])] = v  # (the last of the repeated (0, 1) wins)
        y[1, gg.tensor([3, -1])] = v[:2] * 2
        return y * x
    x = f64(np.arange(12.0).reshape(3, 4), True)
    v = f64([5.0, 6.0, 7.0], True)
    eager = f(x, v)
    compiled = gg.compile(f)(x, v)
    assert compiled.tolist() == eager.tolist()
    expected = np.arange(12.0).reshape(3, 4)
    expected[[0, 2, 0], [1, 0, 1]] = [5.0, 6.0, 7.0]
    expected[1, [3, -1]] = [10.0, 12.0]
    assert eager.tolist() == (expected * np.arange(12.0).reshape(3, 4)).tolist()
    assert gradcheck(gg.compile(f), [x, v])


def test_a_traced_mask_index_put_needs_values_that_broadcast():
    def f(x, mask):
        return x.index_put((mask,), gg.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], dtype=gg.float64))
    x, mask = f64(np.zeros((3, 4))), gg.tensor([True, False, True])
    assert f(x, mask).sum().item() == 36.0  # eager: the mask's true rows, in order
    # a closed-over mask is a constant, known while tracing
    assert gg.compile(lambda x: f(x, mask))(x).tolist() == f(x, mask).tolist()
    with pytest.raises(TracerError, match=r"index_put with a boolean mask inside a compiled function at .*"
                                          r"test_scatter_index_put.py:\d+"):
        gg.compile(f)(x, mask)


@pytest.mark.parametrize("rows, index_shape, row_shape", [
    (50, (300,), (8,)), (7, (20, 30), (4, 3)), (5, (2,), (3,)), (0, (0,), (64,)), (9, (100,), ()),
    (40, (2000,), (1,)), (30, (400,), (5,)), (30, (400,), (2, 3))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("strided", [False, True])
def test_add_rows_equals_numpy_add_at(rows, index_shape, row_shape, dtype, strided):
    # numpy_functions.add_rows adds whole rows by the flat positions of their elements (add.at's fast path) from
    # 1,024 elements on (float rows of an even size as pairs, complex numbers): repeats add up, in the index's
    # order, so bit for bit as add.at's own, and a negative index counts from the end
    from graphgrad.ops.numpy_functions import add_rows
    rng = np.random.default_rng(1)
    index = rng.integers(-rows, rows, index_shape) if rows else np.zeros(index_shape, np.int64)
    values = (rng.normal(size=index_shape + row_shape + (2,)) * 100).astype(dtype)
    values = values[..., 0] if strided else np.ascontiguousarray(values[..., 0])  # (every other element)
    expected = np.zeros((rows,) + row_shape, dtype)
    np.add.at(expected, index, values)
    got = add_rows(rows, index, values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(IndexError):
        add_rows(3, np.array([0, 3]), np.ones((2, 600)))
    with pytest.raises(IndexError):
        add_rows(3, np.array([0, -4]), np.ones((2, 600)))


@EAGER_AND_COMPILED
def test_gradients_of_rows_picked_again_and_from_the_end(run):
    # the backward of x[i] (and of F.embedding) is scatter_add_rows: here past add_rows' 1,024 elements
    rng = np.random.default_rng(2)
    x = f64(rng.normal(size=(40, 64)), True)
    i = gg.tensor(rng.integers(-40, 40, 300))
    w = f64(rng.normal(size=(300, 64)))
    grad, = gg.autograd.grad(run(lambda x, i: (x[i] * w).sum(), x, i), [x])
    expected = np.zeros((40, 64))
    np.add.at(expected, i.numpy(), w.numpy())
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-12, atol=1e-12)
    big = f64(rng.normal(size=(40, 64)))
    source = x[:3].detach()
    np.testing.assert_allclose(run(lambda t, s: t.index_add(0, gg.tensor([3, 0, 3]), s), big, source).numpy(),
                               big.numpy() + _added(40, [3, 0, 3], source.numpy()), rtol=1e-12)


def _added(rows, index, values):
    out = np.zeros((rows,) + values.shape[1:])
    np.add.at(out, index, values)
    return out
