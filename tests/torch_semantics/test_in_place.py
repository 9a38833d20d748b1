"""Issue 13 §2: in-place semantics PyTorch code relies on — writes into tensors with history (CopySlices),
in-place ops on views, in-place ops whose gradient needs the overwritten value, and the in-place variants of
the unary ops and scatter family. Gradients are checked against finite differences in float64."""
import math

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def f64(array, requires_grad=True):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture
def x():
    return f64(np.random.default_rng(0).uniform(0.5, 2.0, (3, 4)))


def _index_assign_scalar(x):
    y = x * 2
    y[0] = 5.0
    return y


def _index_assign_tensor_column(x):
    y = x * 1
    y[:, 1] = x[:, 2] * x[:, 3]
    return y


def _index_assign_mask(x):
    y = x * 2  # not exp: its backward reads its output, which PyTorch too refuses to have overwritten
    y[x > 1.2] = 0
    return y * x


def _index_assign_advanced_repeated(x):
    y = x * 1
    y[[0, 0], [1, 1]] = torch.stack([x[1, 1], x[2, 2]])  # repeated: the last write wins, as in PyTorch
    return y


def _rnn_writes_outputs(x):
    """RNN tutorials allocate the outputs and write each step: out[:, t] = h."""
    out = torch.zeros(3, 4, dtype=torch.float64)
    h = torch.zeros(3, dtype=torch.float64)
    for t in range(4):
        h = (x[:, t] + 0.5 * h).tanh()
        out[:, t] = h
    return out


def _slice_mul_(x):
    y = x * 1
    y[1:3].mul_(2.0)
    return y * y


def _transpose_add_(x):
    y = x * 1
    y.t().add_(x.t() * x.t())
    return y.sin()


def _view_zero_(x):
    y = x.sin()
    y.view(-1)[2:5].zero_()
    return y * x


def _copy_into_slice(x):
    y = x * 1
    y[0, 1:3].copy_(x[2, :2] ** 2)
    return y


def _nested_view(x):
    y = x * 1
    row = y[1]
    row[::2].mul_(row[1::2].clone())  # a view of a view, written with values read from the base
    return y


@pytest.mark.parametrize("fn", [_index_assign_scalar, _index_assign_tensor_column, _index_assign_mask,
                                _index_assign_advanced_repeated, _rnn_writes_outputs, _slice_mul_,
                                _transpose_add_, _view_zero_, _copy_into_slice, _nested_view])
def test_writes_into_tensors_with_history_have_correct_gradients(fn, x):
    assert gradcheck(fn, [x])


@pytest.mark.parametrize("fn", [_index_assign_tensor_column, _slice_mul_, _view_zero_])
def test_writes_into_tensors_with_history_second_order(fn, x):
    assert gradgradcheck(fn, [x])


def test_values_after_writes_match_numpy(x):
    a = x.detach().numpy().copy()
    expected = a * 1
    expected[1:3] *= 2
    assert np.allclose((_slice_mul_(x)).detach().numpy(), expected ** 2)
    expected = a.copy()
    expected.T[...] += a.T * a.T
    assert np.allclose(_transpose_add_(x).detach().numpy(), np.sin(expected))
    expected = a.copy()
    expected[[0, 0], [1, 1]] = a[2, 2]
    assert np.allclose(_index_assign_advanced_repeated(x).detach().numpy(), expected)


def test_copy_slices_names_and_the_base_history():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    y[0] = 5.0
    assert y.grad_fn.name() == "CopySlices"
    z = x * 1
    z[z > 2] = 0
    assert z.grad_fn.name() == "IndexPutBackward0"
    out = torch.zeros(2, 2)
    out[:, 0] = x[:, 0].float()  # a tensor without history gains it from the value written into it
    assert out.requires_grad and out.grad_fn.name() == "CopySlices"


def test_views_share_the_version_counter_of_their_base():
    y = torch.zeros(3, 4)
    v, w = y[1:3], y.view(-1)
    v.mul_(2.0)
    assert y._version == v._version == w._version == 1
    w.zero_()
    assert y._version == 2


def test_leaf_and_view_of_leaf_errors_stay():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad is being used in an in-place "
                                           "operation.$"):
        a[0] = 2.0
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad is being used in an "
                                           "in-place operation.$"):
        a[1:].mul_(2.0)
    with torch.no_grad():  # optimizers and initialisation write into leaves this way
        a[0] = 2.0
    assert a.tolist() == [2.0, 1.0, 1.0]


def test_using_a_value_saved_before_a_write_still_raises():
    x = f64([1.0, 2.0])
    y = x * 1
    z = y * y  # saves y
    y[0] = 3.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("op", [
    lambda h, w: h @ w, lambda h, w: torch.matmul(h[0], w), lambda h, w: h.sum(0, keepdim=True) * 1,
    lambda h, w: h.mean(1), lambda h, w: h.reshape(-1) * 1, lambda h, w: h[1:] * 1])
def test_an_operand_read_only_for_its_shape_may_change_after_use(op, x):
    # PyTorch's mm keeps only self's sizes when mat2 needs no gradient, and sum/mean/reshape/slicing keep only
    # their input's shape: changing the input in place afterwards leaves the gradient right
    w = f64(np.arange(8.0).reshape(4, 2), requires_grad=False)
    h = x * 2
    out = op(h, w)
    h.mul_(3)
    out.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    op(x2 * 2, w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12)


def test_an_operand_whose_values_a_gradient_needs_may_not_change():
    x = f64(np.ones((3, 4)))
    w = f64(np.ones((4, 2)))  # requires grad: its gradient reads h
    h = x * 2
    out = h @ w
    h.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_gradient_rules_are_read_for_what_they_need_of_each_input():
    from graphgrad.passes.vjp_rules import _input_reads

    def helper(t):
        return t

    assert _input_reads(lambda g, out, x, y: g.expand(x.shape) * y, 2) == (False, {0, 1}, {0})
    assert _input_reads(lambda g, out, x, y: g * x.dtype.itemsize * helper(x), 2) == (False, {0}, set())
    assert _input_reads(lambda g, out, x, y: g * out, 2) == (True, set(), set())
    assert _input_reads(lambda g, out, needs, x, *rest: [g.reshape(x._type.shape)], 3) == (False, {0}, {0})


@pytest.mark.parametrize("update", [
    lambda y, x: y.clamp_(0.8, 1.5), lambda y, x: y.pow_(3), lambda y, x: y.addcmul_(x, x, value=0.5),
    lambda y, x: y.addcdiv_(x, x + 1), lambda y, x: y.sqrt_(), lambda y, x: y.log_(), lambda y, x: y.abs_(),
    lambda y, x: y.sin_(), lambda y, x: y.cos_(), lambda y, x: y.tan_(), lambda y, x: y.exp_(),
    lambda y, x: y.neg_(), lambda y, x: y.tanh_(), lambda y, x: y.sigmoid_(), lambda y, x: y.relu_(),
    lambda y, x: y.reciprocal_(), lambda y, x: y.rsqrt_(), lambda y, x: y.log1p_(), lambda y, x: y.expm1_(),
    lambda y, x: y.square_(), lambda y, x: y.log2_(), lambda y, x: y.log10_(),
    lambda y, x: y.masked_fill_(x > 1.0, 0.25),
    # composites that save a slice of the overwritten value (cumprod_: the version check refused the backward)
    # or an alias of it (mvlgamma_: its cast to its own dtype, whose overwritten values gave a wrong gradient)
    lambda y, x: y.cumprod_(1), lambda y, x: y.cumprod_(0), lambda y, x: y.mvlgamma_(1)])
def test_in_place_ops_that_need_the_overwritten_value_keep_a_copy(update, x):
    def fn(x):
        y = x * 1
        update(y, x)
        return y * 2
    assert gradcheck(fn, [x])


def test_in_place_unary_values_match_the_out_of_place_ops(x):
    for name in ("abs", "sin", "cos", "tan", "log", "log1p", "sqrt", "exp", "neg", "tanh", "sigmoid", "relu",
                 "reciprocal", "rsqrt", "expm1", "log2", "log10", "sign", "square"):
        y = x.detach().clone()
        getattr(y, name + "_")()
        assert np.allclose(y.numpy(), getattr(x.detach(), name)().numpy()), name
    assert np.allclose(x.detach().log2().numpy(), np.log2(x.detach().numpy()))
    assert np.allclose(x.detach().tan().numpy(), np.tan(x.detach().numpy()))


def test_clamp_passes_the_gradient_at_its_boundaries():
    x = f64([1.0, 2.0, 3.0, 5.0, 6.0])
    x.clamp(2.0, 5.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # PyTorch: 1 where min <= x <= max


# -- the scatter family: PyTorch's documented examples and gradients ---------------------------------------
def test_scatter_and_index_add_documented_examples():
    src = torch.arange(1, 11).reshape((2, 5))
    index = torch.tensor([[0, 1, 2, 0]])
    assert torch.zeros(3, 5, dtype=src.dtype).scatter_(0, index, src).tolist() == \
        [[1, 0, 0, 4, 0], [0, 2, 0, 0, 0], [0, 0, 3, 0, 0]]
    index = torch.tensor([[0, 1, 2], [0, 1, 4]])
    assert torch.zeros(3, 5, dtype=src.dtype).scatter_(1, index, src).tolist() == \
        [[1, 2, 3, 0, 0], [6, 7, 0, 0, 8], [0, 0, 0, 0, 0]]
    src = torch.ones((2, 5))
    index = torch.tensor([[0, 1, 2, 0, 0]])
    assert torch.zeros(3, 5, dtype=src.dtype).scatter_add_(0, index, src).tolist() == \
        [[1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]]
    t = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    assert torch.ones(5, 3).index_add_(0, torch.tensor([0, 4, 2]), t).tolist() == \
        [[2.0, 3.0, 4.0], [1.0, 1.0, 1.0], [8.0, 9.0, 10.0], [1.0, 1.0, 1.0], [5.0, 6.0, 7.0]]
    t = torch.tensor([[1, 2], [3, 4]])
    assert torch.gather(t, 1, torch.tensor([[0, 0], [1, 0]])).tolist() == [[1, 1], [4, 3]]
    assert torch.zeros(2, 4).scatter_(1, torch.tensor([[2], [3]]), 1.23).tolist()[0][2] == pytest.approx(1.23)


def test_scatter_family_gradients(x):
    index = torch.tensor([[0, 2, 1, 0], [2, 0, 0, 1]])
    rows = torch.tensor([0, 2, 0])
    src = f64(np.random.default_rng(1).normal(size=(2, 4)))
    assert gradcheck(lambda x, s: x.scatter(0, index, s) * x, [x, src])
    assert gradcheck(lambda x, s: x.scatter_add(0, index, s) * x, [x, src])
    assert gradcheck(lambda x: x.gather(1, torch.tensor([[0, 3], [1, 1], [2, 0]])), [x])
    assert gradcheck(lambda x: x.index_add(0, rows, x * 3.0, alpha=2.0), [x])
    assert gradcheck(lambda x: torch.index_add(x, 1, torch.tensor([3, 0, 3]), x[:, :3].sin()), [x])
    assert gradcheck(lambda x: (x * 1).index_put_((torch.tensor([0, 0, 2]),), x[1] * x[1], accumulate=True),
                     [x])
    assert gradcheck(lambda x: (x * 1).index_put_((torch.tensor([0, 2]), torch.tensor([1, 3])), x[1, :2]), [x])
    assert gradcheck(lambda x: x.masked_fill(x > 1.0, 0.5), [x])


def test_a_view_reads_writes_made_through_its_base_or_another_view():
    x = f64([1.0, 2.0, 3.0])
    y = x * 1
    v, w = y[0:2], y[1:]
    y.mul_(2.0)
    (v * 1).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 0.0]  # v's elements are 2x: PyTorch regenerates v's grad_fn
    x.grad = None
    y = x * 1
    v, w = y[0:2], y[1:]
    w.mul_(3.0)
    (v * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 3.0, 0.0]

    def fn(x):
        y = x * 1
        v = y[1:]
        y[:2].mul_(x[1:])
        return v * v
    assert gradcheck(fn, [x.detach().requires_grad_()])


def test_advanced_index_add_into_a_non_leaf_then_backward():
    # y[i, j] += v reads y[i, j] (gather_index) and then writes y: the read's gradient needs only y's shape, so
    # the write must not make backward refuse, as PyTorch's does not
    import graphgrad as gg

    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64, requires_grad=True)
    v = gg.tensor([10.0, 20.0], dtype=gg.float64, requires_grad=True)
    y = x * 2
    i, j = gg.tensor([0, 1]), gg.tensor([1, 0])
    y[i, j] += v * y[i, j]
    (y * gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64)).sum().backward()
    # y[0,1] = 4 + 10 * 4 = 2 x01 (1 + v0); y[1,0] = 6 + 20 * 6 = 2 x10 (1 + v1)
    assert x.grad.tolist() == [[2.0, 2.0 * 2 * 11], [3.0 * 2 * 21, 8.0]]
    assert v.grad.tolist() == [2.0 * 4.0, 3.0 * 6.0]


@pytest.mark.parametrize("compiled", [False, True])
def test_augmented_assignments_update_the_tensor_every_name_sees(compiled):
    """``x //= 2``, ``x %= 3``, ``x **= 2``, ``x &= m``, ``x |= 1``, ``x ^= 1`` update x in place, as PyTorch's
    do: another name for it (``z = x``) sees the new values. Without ``__ifloordiv__`` and the rest Python rebound
    x to a new tensor and z kept the old values."""
    def run(fn, *args):
        return (torch.compile(fn) if compiled else fn)(*args)

    def floor_div(x):
        z = x
        x //= 2
        return z

    def modulo(x):
        z = x
        x %= 3
        return z

    def power(x):
        z = x
        x **= 2
        return z

    def bits(x, m):
        z = x
        x &= m
        x |= 4
        x ^= 1
        return z

    assert run(floor_div, torch.tensor([5, -7])).tolist() == [2, -4]            # Python's floor division
    assert run(modulo, torch.tensor([5, -7])).tolist() == [2, 2]                # the divisor's sign
    assert run(power, torch.tensor([2.0, -3.0])).tolist() == [4.0, 9.0]
    assert run(bits, torch.tensor([3, 8]), torch.tensor([1, 9])).tolist() == [(3 & 1 | 4) ^ 1, (8 & 9 | 4) ^ 1]
    x = torch.tensor([2.0, -3.0], requires_grad=True)
    run(lambda t: power(t * 1.0).sum(), x).backward()
    assert x.grad.tolist() == [4.0, -6.0]                                    # d(x**2)/dx through the update
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        run(lambda t: t.__imod__(1.5), torch.tensor([1, 2]))     # as PyTorch refuses int_t %= 1.5


def test_an_element_of_a_tensor_is_a_view_of_it():
    # x[0] of a 1-d tensor was a NumPy scalar copied into a new tensor: x[0].add_(1) left x unchanged
    x = torch.zeros(3)
    x[0].add_(1)
    x.unbind()[2].add_(3)
    x.select(0, 1).sub_(1)
    element = x[-1]
    element.mul_(2)
    assert x.tolist() == [1.0, -1.0, 6.0]
    assert element._base is x and x._version == element._version == 4
    m = torch.zeros(2, 2)
    m[1, 0] += 5
    m[0][1].add_(2)
    assert m.tolist() == [[0.0, 2.0], [5.0, 0.0]]
    a = f64([1.0, 2.0, 3.0])
    y = a * 1
    y[1].mul_(5)
    y.sum().backward()
    assert a.grad.tolist() == [1.0, 5.0, 1.0]


def test_a_0_d_integer_tensor_indexes_as_its_integer():
    # PyTorch reads x[torch.tensor(1)] as x[1], a view; it was a gathered copy that updates did not reach
    x = torch.zeros(3, 2)
    x[torch.tensor(1)].add_(1)
    x[torch.tensor(2), torch.tensor(0)].add_(7)
    assert x.tolist() == [[0.0, 0.0], [1.0, 1.0], [7.0, 0.0]]
    a = f64([1.0, 2.0, 3.0])
    (a[torch.tensor(-1)] * 3).backward()
    assert a.grad.tolist() == [0.0, 0.0, 3.0]
    with pytest.raises(IndexError):
        x[torch.tensor(3)]


def test_in_place_view_ops_make_the_tensor_that_view_of_itself():
    # t_, transpose_, swapaxes_, swapdims_, squeeze_ and unsqueeze_ were missing (AttributeError)
    b = f64(np.arange(6.0).reshape(2, 3))
    y = b * 2.0
    version = y._version
    assert y.t_() is y and tuple(y.shape) == (3, 2) and y._version == version + 1
    (y * torch.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), 2.0 * np.arange(6.0).reshape(3, 2).T)
    c = torch.zeros(2, 3)
    flat = c.view(6)
    c.unsqueeze_(0).squeeze_(0).transpose_(0, 1).swapaxes_(0, 1).swapdims_(0, 1)
    c[0, 1] = 5.0  # still the same memory as flat
    assert tuple(c.shape) == (3, 2) and flat.tolist() == [0.0, 0.0, 0.0, 5.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        f64(np.ones((2, 3))).unsqueeze_(0)
    with torch.no_grad():
        leaf = f64(np.ones((2, 3)))
        assert tuple(leaf.t_().shape) == (3, 2) and leaf.is_leaf


# -- results PyTorch's backward does not keep: changing them in place before backward is allowed ----------------
_RNG = np.random.default_rng(7)
_A, _B = _RNG.standard_normal(5), _RNG.uniform(0.5, 2.0, 5)
_T = _RNG.uniform(-1.2, 1.2, 5)  # erfinv(erf(t)) = t
_ERF = np.array([math.erf(t) for t in _T])
_LO, _HI = -np.full(5, 0.4), np.full(5, 0.6)
_V = np.arange(1.0, 6.0)  # the cotangent of the (doubled) result


def _divide(a, b):
    return a / b


# (op, operands, each operand's expected gradient of <v, 2 op(...)>: PyTorch's backward formulas)
_RESULT_NOT_KEPT = {
    # DivBackward0: grad / other, -grad * self / other / other
    "div": (_divide, (_A, _B), (2 * _V / _B, -2 * _V * _A / _B / _B)),
    # LogaddexpBackward0: grad / (1 + exp(other - self)), grad / (1 + exp(self - other))
    "logaddexp": (torch.logaddexp, (_A, _B), (2 * _V / (1 + np.exp(_B - _A)), 2 * _V / (1 + np.exp(_A - _B)))),
    # Logaddexp2Backward0: grad / (1 + pow(2, other - self)), grad / (1 + pow(2, self - other))
    "logaddexp2": (torch.logaddexp2, (_A, _B), (2 * _V / (1 + 2.0 ** (_B - _A)), 2 * _V / (1 + 2.0 ** (_A - _B)))),
    # ErfinvBackward0: 0.5 * sqrt(pi) * exp(self.erfinv().pow(2)) * grad
    "erfinv": (torch.erfinv, (_ERF,), (2 * _V * 0.5 * math.sqrt(math.pi) * np.exp(_T ** 2),)),
    # ClampBackward0 (clamp_backward_min_max): self where min <= self <= max, min where self < min, max where above
    "clamp": (torch.clamp, (_A, _LO, _HI), (2 * _V * ((_A >= _LO) & (_A <= _HI)), 2 * _V * (_A < _LO),
                                           2 * _V * (_A > _HI))),
}


@pytest.mark.parametrize("name", sorted(_RESULT_NOT_KEPT))
def test_a_result_pytorch_does_not_keep_may_be_changed_in_place_before_backward(name):
    # these backwards read their operands alone in PyTorch (logaddexp's and erfinv's compute the result again):
    # `y = torch.logaddexp(a, b); y.mul_(2); y.sum().backward()` is allowed, and graphgrad's rules, which read the
    # result, get it computed again from the operands; it raised "modified by an inplace operation"
    op, arrays, expected = _RESULT_NOT_KEPT[name]
    xs = [f64(a) for a in arrays]
    y = op(*xs)
    y.mul_(2)
    (y * torch.tensor(_V)).sum().backward()
    for k, (x, want) in enumerate(zip(xs, expected)):
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=0, err_msg=f"operand {k}")
    assert gradcheck(lambda *ts: op(*ts).mul_(2), [f64(a) for a in arrays])  # float64 finite differences


@pytest.mark.parametrize("grads", [(True, True), (False, True)])
def test_an_operand_kept_to_compute_a_changed_result_again_may_not_change(grads):
    # PyTorch's DivBackward0 keeps the dividend for the divisor's gradient, LogaddexpBackward0 both operands,
    # ErfinvBackward0 its input: changing one in place before backward raises (graphgrad kept only the result)
    for op, arrays in ((_divide, (_A, _B)), (torch.logaddexp, (_A, _B)), (torch.erfinv, (_ERF,))):
        leaves = [f64(a, requires_grad=g) for a, g in zip(arrays, grads[-len(arrays):])]
        xs = [t * 1 for t in leaves]
        y = op(*xs)
        xs[0].mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_a_result_pytorch_keeps_may_still_not_change():
    # HypotBackward0 and PowBackward1 keep their results: changing them in place is PyTorch's error
    for op in (torch.hypot, torch.pow):
        y = op(f64(_B), f64(_A))
        y.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
