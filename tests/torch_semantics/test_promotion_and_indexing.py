"""Dtypes, type promotion, indexing and writes that came out silently wrong (or refused what PyTorch computes, or
computed what it refuses), found by a differential probe against PyTorch 2.13; eager and compiled. Expected
values are PyTorch's, written out (the tests do not import torch)."""
import math

import numpy as np
import pytest

import graphgrad as gg


def _both(fn):
    """``fn`` eagerly and compiled."""
    return [fn, gg.compile(fn)]


# -- dtypes and promotion ---------------------------------------------------------------------------------
def _of_bools(b):
    return b.exp(), b.sin(), gg.atan2(b, b), gg.exp2(b), gg.hypot(b, b), b.tanh() + 1, b ** 2


def test_float_functions_of_bools_compute_in_float32_not_float16():
    # PyTorch: exp(True) is float32 e = 2.7182817; NumPy computes bools in float16 (2.719), which the tensor kept
    # while calling itself float32; bool ** 2 is int64 (NumPy's int8)
    b = gg.tensor([True, False])
    expected = [(np.exp([1.0, 0.0]), "float32"), (np.sin([1.0, 0.0]), "float32"),
                (np.arctan2([1.0, 0.0], [1.0, 0.0]), "float32"), (np.array([2.0, 1.0]), "float32"),
                (np.array([math.sqrt(2), 0.0]), "float32"), (np.tanh([1.0, 0.0]) + 1, "float32"),
                (np.array([1, 0]), "int64")]
    for f in _both(_of_bools):
        for got, (want, dtype) in zip(f(b), expected):
            assert got.dtype == dtype and got.numpy().dtype == np.dtype(dtype)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_a_bool_power_of_bools_stays_bool_compiled():
    # PyTorch: bool_tensor ** True (and pow_) is bool; generated code kept NumPy's int8 under the IR's bool
    b = gg.tensor([True, False])
    for f in _both(lambda b: (b ** True, b.clone().pow_(True))):
        for got in f(b):
            assert got.dtype == gg.bool and got.numpy().dtype == np.bool_ and got.tolist() == [True, False]


def test_a_negative_literal_base_of_pow_in_compiled_code():
    # (-3) ** x: the generated `-3 ** x` was -(3 ** x), so (-3) ** 0.5 gave -1.73 (PyTorch: nan) and (-2) ** 0 gave -1
    x = gg.tensor([2.0, 1.0, 0.5])
    n = gg.tensor([0, 1, 2, 3])
    for f in _both(lambda x, n: ((-3) ** x, (-2.5) ** x, (-2) ** n, (-2.0) ** n)):
        a, b, c, d = f(x, n)
        np.testing.assert_allclose(a.numpy(), [9.0, -3.0, np.nan])
        np.testing.assert_allclose(b.numpy(), [6.25, -2.5, np.nan])
        assert c.dtype == gg.int64 and c.tolist() == [1, -2, 4, -8]
        assert d.dtype == gg.float32 and d.tolist() == [1.0, -2.0, 4.0, -8.0]


def test_logsumexp_of_integers_and_bools_is_the_default_float():
    # PyTorch: logsumexp(int64) is float32 (log(e^-7 + e^0 + e^3) = 3.0486); it came out int64 (3) eagerly and
    # float64 compiled
    x = gg.tensor([[-7, 0, 3], [2, 5, -1]])
    for f in _both(lambda x: (x.logsumexp(1), (x > 0).logsumexp(0))):
        lse, of_bools = f(x)
        assert lse.dtype == gg.float32 and of_bools.dtype == gg.float32
        np.testing.assert_allclose(lse.numpy(), np.log(np.exp(x.numpy()).sum(1)), rtol=1e-6)
        np.testing.assert_allclose(of_bools.numpy(), np.log([1 + math.e] * 3), rtol=1e-6)


def test_running_products_and_squares_of_bools_are_int64():
    b = gg.tensor([[True, False, True], [True, True, False]])
    for f in _both(lambda b: (b.cumprod(1), b.square(), gg.square(b))):
        cumprod, square, square_fn = f(b)
        assert cumprod.dtype == gg.int64 and cumprod.tolist() == [[1, 0, 0], [1, 1, 0]]
        assert square.dtype == square_fn.dtype == gg.int64 and square.tolist() == [[1, 0, 1], [1, 1, 0]]


@pytest.mark.parametrize("reduce, message", [
    (lambda x: x.mean(), "mean(): could not infer output dtype. Input dtype must be either a floating point or "
                         "complex dtype. Got: Long"),
    (lambda x: gg.mean(x, 0), "mean(): could not infer output dtype"),
    (lambda x: x.std(), "std and var only support floating point and complex dtypes"),
    (lambda x: x.var(1), "std and var only support floating point and complex dtypes"),
    (lambda x: x.norm(), "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long"),
    (lambda x: gg.linalg.vector_norm(x), "linalg.vector_norm: Expected a floating point or complex tensor"),
])
def test_float_only_reductions_of_integers_raise_as_in_pytorch(reduce, message):
    x = gg.tensor([[1, 2, 3], [4, 5, 7]])
    for f in _both(reduce):
        with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            f(x)


def test_float_only_reductions_of_integers_with_a_dtype_or_numpys_keywords():
    # dtype= says which float (PyTorch), and NumPy's keywords keep NumPy's mean of integers
    x = gg.tensor([[1, 2, 3], [4, 5, 7]])
    assert x.mean(dtype=gg.float64).dtype == gg.float64 and x.mean(dtype=gg.float64).item() == 22 / 6
    np.testing.assert_allclose(x.mean(axis=0).numpy(), [2.5, 3.5, 5.0])
    np.testing.assert_allclose(x.var(axis=1).numpy(), np.var(x.numpy(), axis=1), rtol=1e-6)
    assert gg.tensor([True, False]).mean(dtype=gg.float32).item() == 0.5
    assert gg.numpy.mean(x).item() == pytest.approx(22 / 6)


def test_arange_of_a_0d_tensor_or_numpy_int_is_int64():
    # PyTorch infers int64 from integral bounds, whatever their type (it gave float32 for these)
    for end in (gg.tensor(4), np.int64(4), np.int32(4)):
        out = gg.arange(end)
        assert out.dtype == gg.int64 and out.tolist() == [0, 1, 2, 3]
    assert gg.arange(gg.tensor(4.0)).dtype == gg.float32 and gg.arange(np.float32(2)).tolist() == [0.0, 1.0]
    assert gg.arange(1, gg.tensor(7), np.int64(3)).tolist() == [1, 4]
    assert gg.arange(0, gg.tensor(2), 0.5).tolist() == [0.0, 0.5, 1.0, 1.5]


def test_arange_refuses_a_zero_step_and_bounds_against_the_step():
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        gg.arange(0, 5, 0)
    for bounds in ((0, 5, -1), (5, 0)):
        with pytest.raises(RuntimeError, match="upper bound and lower bound inconsistent with step sign"):
            gg.arange(*bounds)
    assert gg.arange(5, 0, -2).tolist() == [5, 3, 1] and gg.arange(0, 0).shape == (0,)


def test_div_trunc_with_a_bool_operand_is_int64():
    # NumPy's sign() has no loop for bools: the quotient raised an internal TypeError
    for f in _both(lambda b, n: (gg.div(b, 2, rounding_mode="trunc"), gg.div(n, b, rounding_mode="trunc"),
                                 gg.div(n, 4, rounding_mode="trunc"), gg.div(-7, n, rounding_mode="trunc"))):
        a, b, c, d = f(gg.tensor([True, True, True]), gg.tensor([-7, 7, -8]))
        assert a.dtype == b.dtype == c.dtype == d.dtype == gg.int64
        assert a.tolist() == [0, 0, 0] and c.tolist() == [-1, 1, -2] and d.tolist() == [1, -1, 0]
        assert b.tolist() == [-7, 7, -8]
        # a False divisor is an integer zero to PyTorch
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            f(gg.tensor([True, True, False]), gg.tensor([-7, 7, -8]))


def test_in_place_float_results_into_integer_tensors_raise_when_compiled():
    # eager code raised PyTorch's error; compiled code truncated silently (add_(1.5) on [0, 1] gave [1, 2])
    updates = [lambda y: y.add_(1.5), lambda y: y.mul_(gg.tensor(1.5)), lambda y: y.div_(2), lambda y: y.sub_(0.5)]
    for update in updates:
        def f(x, update=update):
            y = x.clone()
            update(y)
            return y

        for run in _both(f):
            with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
                run(gg.tensor([0, 1]))
            with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Bool"):
                run(gg.tensor([True, False]))

    def inc(x):
        y = x.clone()
        y += 2  # an int result stays allowed
        y.add_(True)
        return y

    for run in _both(inc):
        assert run(gg.tensor([0, 1])).tolist() == [3, 4]


# -- indexing and writes ---------------------------------------------------------------------------------------
X0 = np.arange(60.0).reshape(3, 4, 5)


def _mixed(x):
    return x[1, :, [0, 1]], x[:, [0, 2], 1:3, ][0, :, 1], x[[0, 2], 1, :, None], x[gg.tensor(1), :, [0, 1]]


def test_ints_select_before_advanced_indices_as_in_pytorch():
    # PyTorch selects with the ints first: x[1, :, [0, 1]] is x[1][:, [0, 1]], of shape (4, 2); NumPy puts the
    # advanced dims (the int among them) first, (2, 4), which graphgrad gave. A 0-d int tensor is an int
    for f in _both(_mixed):
        x = gg.tensor(X0, dtype=gg.float64, requires_grad=True)
        a, b, c, d = f(x)
        assert a.shape == (4, 2) and d.shape == (4, 2) and c.shape == (2, 5, 1)
        np.testing.assert_array_equal(a.detach().numpy(), X0[1][:, [0, 1]])
        np.testing.assert_array_equal(d.detach().numpy(), X0[1][:, [0, 1]])
        np.testing.assert_array_equal(b.detach().numpy(), X0[:, [0, 2], 1:3][0, :, 1])
        weights = gg.arange(8.0, dtype=gg.float64).reshape(4, 2)
        (a * weights).sum().backward()
        expected = np.zeros_like(X0)
        expected[1][:, [0, 1]] = np.arange(8.0).reshape(4, 2)
        np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_writes_with_ints_and_advanced_indices_put_values_where_pytorch_does():
    value = np.array([[10.0, 20.0]] * 4)
    expected = X0.copy()
    expected[1][:, [0, 1]] = value
    x = gg.tensor(X0)
    x[1, :, [0, 1]] = gg.tensor(value)
    np.testing.assert_array_equal(x.numpy(), expected)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[3\] cannot be broadcast to "
                                           r"indexing result of shape \[4, 2\]"):
        x[1, :, [0, 1]] = gg.tensor([1.0, 2.0, 3.0])
    # with history: the value and the untouched elements get their gradients
    w = gg.tensor(X0, dtype=gg.float64, requires_grad=True)
    v = gg.tensor(value, dtype=gg.float64, requires_grad=True)
    y = w * 1
    y[1, :, [0, 1]] = v * 2
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), np.where(expected != X0, 2 * expected, X0))
    np.testing.assert_array_equal(v.grad.numpy(), np.full((4, 2), 2.0))
    assert w.grad.sum().item() == 60 - 8


@pytest.mark.parametrize("index", [[[0, 1], [1, 0]], [[0, 2], slice(1, 3)], [0, None], [Ellipsis, 1],
                                   [gg.tensor([0, 1]), [2, 3]]], ids=["lists", "list-slice", "int-None", "ellipsis",
                                                                      "tensor-list"])
def test_a_short_list_holding_sequences_or_slices_is_a_tuple_of_indices_as_in_pytorch(index):
    # NumPy now reads x[[[0, 1], [1, 0]]] as one array index (shape (2, 2, 4, 5)); PyTorch keeps the old rule,
    # x[[0, 1], [1, 0]], two elements, and graphgrad gave NumPy's answer with no error
    as_numpy = tuple(i.numpy() if isinstance(i, gg.Tensor) else i for i in index)
    for f in _both(lambda x: x[index] * 2):
        x = gg.tensor(X0, dtype=gg.float64, requires_grad=True)
        with pytest.warns(UserWarning, match="Using a non-tuple sequence for multidimensional indexing"):
            y = f(x)
        np.testing.assert_array_equal(y.detach().numpy(), 2 * X0[as_numpy])
        y.sum().backward()
        expected = np.zeros_like(X0)
        np.add.at(expected, as_numpy, 2.0)
        np.testing.assert_array_equal(x.grad.numpy(), expected)
    written, expected = gg.tensor(X0), X0.copy()
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        written[index] = -1.0
    expected[as_numpy] = -1.0
    np.testing.assert_array_equal(written.numpy(), expected)
    assert gg.tensor(X0)[[0, 1]].shape == (2, 4, 5)  # a list of ints is one index, in both


@pytest.mark.parametrize("quotient", [
    lambda a, b: a // b, lambda a, b: a % b, lambda a, b: gg.fmod(a, b), lambda a, b: gg.remainder(a, b),
    lambda a, b: a.div(b, rounding_mode="floor"), lambda a, b: a.div(b, rounding_mode="trunc"),
    lambda a, b: 7 // b, lambda a, b: 7 % b, lambda a, b: a.clone().floor_divide_(b)],
    ids=["//", "%", "fmod", "remainder", "div-floor", "div-trunc", "r//", "r%", "floor_divide_"])
def test_integer_division_by_zero_raises_as_in_pytorch(quotient):
    # NumPy's integer quotient and remainder by zero are 0 (with a warning): graphgrad gave 0, silently
    a, b = gg.tensor([5, -7, 3]), gg.tensor([2, 0, 1])
    for f in (quotient, gg.compile(quotient)):
        with pytest.raises(RuntimeError, match="^ZeroDivisionError"):
            f(a, b)
    ok = gg.tensor([2, -3, 1])
    eager = quotient(a, ok)
    assert eager.dtype == gg.int64
    np.testing.assert_array_equal(gg.compile(quotient)(a, ok).numpy(), eager.numpy())
    with np.errstate(all="raise"):  # a float by zero: inf or nan, with no error and no NumPy warning
        floats = quotient(a.double(), gg.tensor([2.0, 0.0, 1.0]))
    assert not np.isfinite(floats.numpy()).all()


def test_an_integer_divided_by_a_literal_zero_raises_as_in_pytorch():
    for f in (lambda a: a // 0, lambda a: a % 0, lambda a: gg.fmod(a, 0)):
        for g in (f, gg.compile(f)):
            with pytest.raises(RuntimeError, match="^ZeroDivisionError"):
                g(gg.tensor([5, -7]))


def test_a_0d_bool_mask_adds_a_dim_of_one_or_none():
    # PyTorch: x[tensor(True)] is x[None]; x[tensor(False)] is empty along that new dim; NumPy's nonzero() refused
    x = gg.tensor(X0, dtype=gg.float64, requires_grad=True)
    assert x[gg.tensor(True)].shape == (1, 3, 4, 5) and x[gg.tensor(False)].shape == (0, 3, 4, 5)
    assert x[0, gg.tensor(True)].shape == (1, 4, 5) and x[gg.tensor(False), 1].shape == (0, 4, 5)
    assert x[[0, 1], gg.tensor(True)].shape == (2, 4, 5)  # broadcast with the other advanced index
    np.testing.assert_array_equal(x[1, gg.tensor(True)].detach().numpy(), X0[1][None])
    x[gg.tensor(True)].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(X0))
    y = gg.tensor(X0)
    y[gg.tensor(False)] = 0.0
    np.testing.assert_array_equal(y.numpy(), X0)
    y[gg.tensor(True)] = 0.0
    assert y.abs().sum().item() == 0.0


def test_slice_bounds_given_as_tensors():
    # x[tensor(1):] pasted "tensor(1)" into the kernel's source (NameError)
    x = gg.arange(10)
    assert x[gg.tensor(2):gg.tensor(8):gg.tensor(3)].tolist() == [2, 5]
    with pytest.raises(TypeError):
        x[1.5:]


def test_fill_with_a_0d_tensor_value_is_differentiable():
    # PyTorch's fill_(value tensor) carries the value's gradient (FillBackward); it was dropped (value.grad None),
    # and an integer tensor filled from one raised a NameError
    v = gg.tensor(2.5, requires_grad=True)
    y = gg.zeros(2, 3) * 1
    y[0].fill_(v)
    (y * gg.arange(6.0).reshape(2, 3)).sum().backward()
    assert y.tolist() == [[2.5, 2.5, 2.5], [0.0, 0.0, 0.0]] and v.grad.item() == 3.0

    def filled(x, v):
        y = x * 1
        y.fill_(v)
        return y * x

    for f in _both(filled):
        v = gg.tensor(2.5, requires_grad=True)
        f(gg.tensor([1.0, 2.0]), v).sum().backward()
        assert v.grad.item() == 3.0
    for f in _both(lambda x: (x * 1).fill_(gg.tensor(3.7))):
        out = f(gg.tensor([1, 2]))
        assert out.dtype == gg.int64 and out.tolist() == [3, 3]
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor but got tensor with 1 "
                                           "dimensions."):
        gg.zeros(3).fill_(gg.tensor([1.0]))


def test_scatter_reduce_in_place_then_backward():
    # scatter_reduce_ copied its result in: the rule's saved input had changed, and backward raised
    def f(x, src):
        y = x * 1
        y.scatter_reduce_(1, gg.tensor([[0, 0, 2], [1, 1, 1]]), src, reduce="amax")
        return y

    for run in _both(f):
        x = gg.tensor([[1.0, 5.0, 2.0], [3.0, 3.0, 0.0]], requires_grad=True)
        src = gg.tensor([[4.0, 1.0, 2.0], [3.0, 0.0, 3.0]], requires_grad=True)
        y = run(x, src)
        (y * gg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
        assert y.tolist() == [[4.0, 5.0, 2.0], [3.0, 3.0, 0.0]]
        # ties share: 2.0 (x and src) at [0, 2]; 3.0 three ways at [1, 1]
        np.testing.assert_allclose(x.grad.numpy(), [[0.0, 2.0, 1.5], [4.0, 5.0 / 3, 6.0]], rtol=1e-6)
        np.testing.assert_allclose(src.grad.numpy(), [[1.0, 0.0, 1.5], [5.0 / 3, 0.0, 5.0 / 3]], rtol=1e-6)


def test_a_write_into_a_reshape_that_copied_leaves_the_tensor_alone():
    # reshape of a transposed tensor is a copy, as in PyTorch; graphgrad took it for a view and refused the write
    x = gg.arange(24.0).reshape(2, 3, 4)
    w = gg.tensor(x.numpy(), requires_grad=True)
    y = w * 1
    r = y.transpose(0, 1).reshape(12, 2)
    r[0].fill_(99.0)
    assert r[0].tolist() == [99.0, 99.0]
    np.testing.assert_array_equal(y.detach().numpy(), x.numpy())
    (y.sum() + r.sum()).backward()
    np.testing.assert_array_equal(w.grad.numpy().reshape(-1), np.where(np.arange(24) < 2, 1.0, 2.0))


def test_the_gradient_in_the_exponent_at_a_negative_base_is_nan():
    # PyTorch: d/dy x ** y = x ** y log(x), nan for x < 0 (graphgrad gave a silent 0) and 0 at x = 0 for y >= 0
    for f in _both(lambda x, y: x ** y):
        x = gg.tensor([-2.0, 0.0, 3.0], dtype=gg.float64, requires_grad=True)
        y = gg.tensor([2.0, 2.0, 0.5], dtype=gg.float64, requires_grad=True)
        f(x, y).sum().backward()
        assert math.isnan(y.grad[0].item()) and y.grad[1].item() == 0.0
        assert y.grad[2].item() == pytest.approx(math.sqrt(3) * math.log(3))
    for f in _both(lambda y: (-2.0) ** y):
        y = gg.tensor([1.0, 2.0], requires_grad=True)
        f(y).sum().backward()
        assert np.isnan(y.grad.numpy()).all()


# -- errors in PyTorch's words, and zero gradients as PyTorch gives them ------------------------------------------
def test_integer_powers_and_bool_negation_raise_pytorchs_runtime_errors():
    # NumPy's ValueError / TypeError came through (a RuntimeError handler missed them)
    with pytest.raises(RuntimeError, match=r"^Integers to negative integer powers are not allowed\.$"):
        gg.tensor([2, 3]) ** -1
    with pytest.raises(RuntimeError, match=r"^Negation, the `-` operator, on a bool tensor is not supported\. If you "
                                           r"are trying to invert a mask, use the `~` or `logical_not\(\)` operator"):
        -gg.tensor([True, False])


def test_where_refuses_a_condition_that_is_not_bool_but_numpys_where_reads_it_as_truth():
    x = gg.tensor([1.0, 2.0, 3.0])
    for f in _both(lambda c, x: gg.where(c, x, 0.0)):
        with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor, but got a tensor "
                                               "with dtype Long"):
            f(gg.tensor([1, 0, 2]), x)
    for f in _both(lambda c, x: gg.numpy.where(c, x, 0.0)):
        assert f(gg.tensor([1, 0, 2]), x).tolist() == [1.0, 0.0, 3.0]
    assert gg.numpy.where(np.array([0, 1, 1]), x, 0.0).tolist() == [0.0, 2.0, 3.0]


def test_index_errors_and_empty_index_lists_as_in_pytorch():
    x = gg.zeros(3, 2)
    with pytest.raises(RuntimeError, match=r"^The expanded size of the tensor \(2\) must match the existing size \(3\) "
                                           r"at non-singleton dimension 0\.  Target sizes: \[2\]\.  Tensor sizes: \[3\]$"):
        x[0] = gg.ones(3)
    with pytest.raises(RuntimeError, match=r"^expand\(torch\.FloatTensor\{\[2, 2\]\}, size=\[2\]\): the number of "
                                           r"sizes provided \(1\) must be greater or equal"):
        x[0] = gg.ones(2, 2)
    with pytest.raises(IndexError, match="^tensors used as indices must be long, int, byte or bool tensors$"):
        x[gg.tensor([1.0])]
    assert x[[]].shape == (0, 2) and x[:, []].shape == (3, 0)
    with pytest.raises(RuntimeError, match="^number of steps must be non-negative$"):
        gg.linspace(0, 1, -1)


def test_sign_and_rounded_division_give_zero_gradients_not_none():
    # PyTorch's SignBackward0 and DivBackward with a rounding mode return zeros, which reach .grad; graphgrad left
    # .grad None (an optimizer's weight decay and momentum skip a None), while floor already gave zeros
    for f in (lambda x: x.sign(), lambda x: gg.div(x, 2, rounding_mode="floor"),
              lambda x: gg.div(x, 2, rounding_mode="trunc"), lambda x: x.floor()):
        x = gg.tensor([-1.5, 0.3, 2.7], requires_grad=True)
        f(x).sum().backward()
        assert x.grad is not None and x.grad.tolist() == [0.0, 0.0, 0.0]
    x = gg.tensor([-1.5, 0.3], requires_grad=True)
    (x.sign() * x).sum().backward()  # sign(x) * x = |x|: the gradient is sign(x), the sign factor adding 0
    assert x.grad.tolist() == [-1.0, 1.0]
