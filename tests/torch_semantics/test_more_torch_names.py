"""PyTorch names real programs call that graphgrad lacked: torch.clone/all/any/narrow/select/isin/argwhere/
broadcast_tensors/result_type/promote_types/is_floating_point/is_nonzero/copysign/frac/gcd/lcm/bitwise shifts/
cumulative_trapezoid, ``<<`` and ``>>``, and the Tensor methods where/int/reshape_as/nelement/multiply/subtract/
divide/absolute/ndimension/sum_to_size/fill_diagonal_/argwhere/gcd/lcm/copysign.

The expected values, dtypes and error texts are PyTorch 2.13's (printed by it once and written here as literals;
these tests do not import torch). Each name runs eagerly and inside ``graphgrad.compile`` where it can, and its
gradient is checked against finite differences in float64 where PyTorch has one.
"""
import math

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.tracer import TracerError
from graphgrad.utils.gradcheck import gradcheck

X = [[1.5, -2.0, 0.0], [3.25, -0.5, 4.0]]
DIM_OUT_OF_RANGE = r"^Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)$"


def f64(values, requires_grad: bool = False):
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


def expect(t, values, dtype) -> None:
    """``t`` holds ``values`` (PyTorch's), with PyTorch's dtype and shape."""
    assert t.dtype == dtype, (t.dtype, dtype)
    expected = np.array(values, dtype=t.numpy().dtype)
    assert tuple(t.shape) == expected.shape, (tuple(t.shape), expected.shape)
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=1e-12, atol=0)


def both(fn, *args):
    """``fn(*args)`` eagerly and compiled: the same dtype, shape and values (nan where nan). The eager result."""
    eager = fn(*args)
    compiled = torch.compile(fn)(*args)
    results = (eager, compiled) if not isinstance(eager, tuple) else None
    pairs = [results] if results else list(zip(eager, compiled))
    for e, c in pairs:
        assert e.dtype == c.dtype and tuple(e.shape) == tuple(c.shape)
        np.testing.assert_array_equal(e.detach().numpy(), c.detach().numpy())
    return eager


def grad_ok(fn, *values) -> None:
    """float64 gradients of ``fn`` against finite differences, eager and through the compiled backward."""
    inputs = [f64(v, requires_grad=True) for v in values]
    assert gradcheck(fn, inputs)
    assert gradcheck(torch.compile(fn), [f64(v, requires_grad=True) for v in values])


# -- copysign ---------------------------------------------------------------------------------------------------
def test_copysign_values_signs_and_dtypes():
    out = both(torch.copysign, torch.tensor([1.5, -2.0, 0.0, -0.0, 3.0]),
               torch.tensor([-1.0, 2.0, -0.0, 1.0, -math.nan]))
    expect(out, [-1.5, 2.0, -0.0, 0.0, -3.0], torch.float32)
    assert torch.signbit(out).tolist() == [True, False, True, False, True]  # (-0.0 and a negative nan count)
    expect(both(lambda a: torch.copysign(a, -1), torch.tensor([1, -2, 0])), [-1.0, -2.0, -0.0], torch.float32)
    expect(both(torch.copysign, torch.tensor([1.0, -2.0]), f64([1.0, -1.0])), [1.0, -2.0], torch.float64)
    expect(both(lambda a, b: a.copysign(b), f64(X), f64([-1.0, 1.0, -1.0])),
           [[-1.5, 2.0, -0.0], [-3.25, 0.5, -4.0]], torch.float64)
    assert torch.signbit(torch.copysign(torch.tensor([1.0, 2.0]), -0.0)).tolist() == [True, True]


def test_copysign_gradient_is_pytorchs():
    x = f64([1.5, -2.0, 0.0, -0.0, 0.5], requires_grad=True)
    other = f64([-1.0, -2.0, -1.0, 1.0, 3.0], requires_grad=True)
    y = torch.copysign(x, other)
    assert y.grad_fn.name() == "CopysignBackward0"
    y.backward(torch.ones(5, dtype=torch.float64))
    assert x.grad.tolist() == [-1.0, 1.0, 0.0, 0.0, 1.0] and other.grad.tolist() == [0.0] * 5  # (PyTorch's)
    grad_ok(lambda a, b: torch.copysign(a, b) * a, [[1.5, -2.0, 0.7], [0.4, -1.1, 2.0]], [-1.0, 2.0, -0.5])


def test_copysign_in_place_and_errors():
    t = torch.tensor([1.0, 2.0])
    assert t.copysign_(-1) is t and t.tolist() == [-1.0, -2.0]
    assert torch.compile(lambda a: a.copysign_(-1.0) * 1)(torch.tensor([1.0, -2.0])).tolist() == [-1.0, -2.0]
    with pytest.raises(RuntimeError, match="^result type Float can't be cast to the desired output type Long$"):
        torch.tensor([1, 2]).copysign_(-1)
    with pytest.raises(TypeError, match=r"^copysign\(\) received an invalid combination of arguments - got \(float, "
                                        r"Tensor\), but expected one of:"):
        torch.copysign(2.0, torch.tensor([-1.0]))


# -- frac, gcd, lcm, shifts --------------------------------------------------------------------------------------
def test_frac():
    expect(both(torch.frac, f64([1.5, -2.25, 3.0, -0.75])), [0.5, -0.25, 0.0, -0.75], torch.float64)
    grad_ok(lambda a: torch.frac(a) * a, [1.3, -2.6, 0.4])
    with pytest.raises(NotImplementedError, match="^\"frac_cpu\" not implemented for 'Long'$"):
        torch.frac(torch.tensor([1, 2]))


def test_gcd_and_lcm():
    a, b = torch.tensor([4, -6, 0, 0, 9, 12]), torch.tensor([6, 4, 5, 0, -3, 18])
    expect(both(torch.gcd, a, b), [2, 2, 5, 0, 3, 6], torch.int64)
    expect(both(torch.lcm, a, b), [12, 12, 0, 0, 9, 36], torch.int64)
    expect(both(lambda u, v: u.gcd(v), torch.tensor([4, 8]), torch.tensor([[6], [3]])), [[2, 2], [1, 1]], torch.int64)
    t = torch.tensor([4, 8])
    assert t.gcd_(torch.tensor([6, 3])) is t and t.tolist() == [2, 1]
    assert torch.tensor([4, 8]).lcm_(torch.tensor([6, 3])).tolist() == [12, 24]
    with pytest.raises(NotImplementedError, match="^\"gcd_cpu\" not implemented for 'Float'$"):
        torch.gcd(torch.tensor([4.0]), torch.tensor([6.0]))
    with pytest.raises(NotImplementedError, match="^\"lcm_cpu\" not implemented for 'Bool'$"):
        torch.lcm(torch.tensor([True]), torch.tensor([True]))
    with pytest.raises(NotImplementedError, match="^\"gcd_cpu\" not implemented for 'Float'$"):
        torch.compile(lambda u, v: torch.gcd(u, v))(torch.tensor([4]), torch.tensor([6.0]))
    with pytest.raises(TypeError, match=r"^gcd\(\): argument 'other' \(position 2\) must be Tensor, not int$"):
        torch.gcd(torch.tensor([4]), 6)


def test_shifts_operators_and_in_place():
    a = torch.tensor([1, -8, 5, 3])
    expect(both(lambda u, v: u << v, a, torch.tensor([0, 1, 63, 64])), [1, -16, -2 ** 63, 0], torch.int64)
    expect(both(lambda u, v: u >> v, a, torch.tensor([0, 1, 63, 64])), [1, -4, 0, 0], torch.int64)
    expect(both(torch.bitwise_left_shift, a, torch.tensor([-1, 65, 100, 2])), [0, 0, 0, 12], torch.int64)
    expect(both(torch.bitwise_right_shift, a, torch.tensor([-1, 65, 100, 2])), [0, -1, 0, 0], torch.int64)
    expect(both(lambda v: 3 << v, torch.tensor([1, 2])), [6, 12], torch.int64)
    expect(both(lambda v: 16 >> v, torch.tensor([1, 2])), [8, 4], torch.int64)
    expect(both(lambda v: v << 1, torch.tensor([True, False])), [2, 0], torch.int64)
    expect(both(lambda v: v.bitwise_left_shift(2), torch.tensor([3])), [12], torch.int64)
    b = torch.tensor([1, 2])
    alias = b
    b <<= 2
    assert b is alias and b.tolist() == [4, 8]
    b >>= 1
    assert alias.tolist() == [2, 4]
    assert torch.tensor([1, 2]).bitwise_right_shift_(1).tolist() == [0, 1]

    def shifted(t):
        t <<= 3
        t >>= 1
        return t
    assert torch.compile(shifted)(torch.tensor([1, -2])).tolist() == [4, -8]


@pytest.mark.parametrize("call, label, dtype", [
    (lambda: torch.tensor([1.5]) << 1, "lshift", "Float"),
    (lambda: torch.bitwise_right_shift(torch.tensor([1.5]), 1), "rshift", "Float"),
    (lambda: torch.tensor([True, False]) << True, "lshift", "Bool"),
    (lambda: torch.tensor([1]) << 1.5, "lshift", "Float"),
    (lambda: torch.tensor([1.5]).__ilshift__(1), "lshift", "Float"),
])
def test_shifts_refuse_floats_and_bools(call, label, dtype):
    with pytest.raises(NotImplementedError, match=f"^\"{label}_cpu\" not implemented for '{dtype}'$"):
        call()


@pytest.mark.parametrize("call, kernel, dtype", [
    (lambda: torch.tensor([1.5]) & torch.tensor([2.5]), "bitwise_and", "Float"),
    (lambda: torch.tensor([1, 2]) | torch.tensor(1.0, dtype=torch.float64), "bitwise_or", "Double"),
    (lambda: torch.tensor([True]) ^ 1.5, "bitwise_xor", "Float"),
    (lambda: torch.tensor(1.0, dtype=torch.float64).bitwise_not(), "bitwise_not", "Double"),
    (lambda: torch.compile(lambda t: t & t)(torch.tensor([1.5])), "bitwise_and", "Float"),
])
def test_bitwise_ops_refuse_floats_as_the_shifts_do(call, kernel, dtype):
    # PyTorch's NotImplementedError for the promoted dtype (it was a RuntimeError)
    with pytest.raises(NotImplementedError, match=f"^\"{kernel}_cpu\" not implemented for '{dtype}'$"):
        call()


# -- isin, argwhere, broadcast_tensors ----------------------------------------------------------------------------
def test_isin():
    expect(both(torch.isin, torch.tensor([[1, 2], [3, 4]]), torch.tensor([2, 4, 6])), [[False, True], [False, True]],
           torch.bool)
    expect(both(lambda u, v: torch.isin(u, v, invert=True), torch.tensor([[1, 2], [3, 4]]), torch.tensor([[4]])),
           [[True, True], [True, False]], torch.bool)
    expect(both(torch.isin, torch.tensor([1.0, 2.0, math.nan]), torch.tensor([math.nan, 2.0])), [False, True, False],
           torch.bool)
    expect(both(torch.isin, torch.tensor([1, 2, 3, 4]), torch.tensor([2.0, 4.5])), [False, True, False, False],
           torch.bool)
    expect(both(lambda u: torch.isin(u, 2), torch.tensor([1, 2, 3])), [False, True, False], torch.bool)
    expect(both(lambda v: torch.isin(2, v), torch.tensor([1, 2, 3])), True, torch.bool)
    expect(torch.isin(torch.tensor([1, 2]), torch.tensor([], dtype=torch.int64), assume_unique=True), [False, False],
           torch.bool)
    assert not torch.isin(f64([1.0], requires_grad=True), f64([1.0])).requires_grad
    with pytest.raises(RuntimeError, match="^Unsupported input type encountered for isin\\(\\): Bool$"):
        torch.isin(torch.tensor([True, False]), torch.tensor([1]))
    with pytest.raises(TypeError, match=r"^isin\(\) received an invalid combination of arguments - got \(int, int\)"):
        torch.isin(2, 3)


def test_argwhere_is_eager_only():
    t = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    expect(torch.argwhere(t), [[0, 1], [1, 0], [1, 2]], torch.int64)
    expect(t.argwhere(), [[0, 1], [1, 0], [1, 2]], torch.int64)
    empty = torch.argwhere(torch.zeros(2, 3))
    assert tuple(empty.shape) == (0, 2) and empty.dtype == torch.int64  # (PyTorch's shape: no row, two columns)
    assert tuple(torch.zeros(2, 3).nonzero().shape) == (0, 2)
    with pytest.raises(TracerError, match="argwhere inside a compiled function"):
        torch.compile(lambda u: torch.argwhere(u))(t)


def test_broadcast_tensors():
    a, b = both(torch.broadcast_tensors, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[10.0], [20.0]]))
    expect(a, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], torch.float32)
    expect(b, [[10.0, 10.0, 10.0], [20.0, 20.0, 20.0]], torch.float32)
    same = torch.zeros(3)
    assert torch.broadcast_tensors(same)[0] is same and torch.broadcast_tensors() == ()
    grad_ok(lambda u, v: (lambda p, q: p * q + p)(*torch.broadcast_tensors(u, v)), [1.0, 2.0, 3.0], [[0.5], [-1.5]])
    with pytest.raises(RuntimeError, match="^The size of tensor a \\(3\\) must match the size of tensor b \\(2\\) at "
                                           "non-singleton dimension 0$"):
        torch.broadcast_tensors(torch.zeros(3), torch.zeros(1), torch.zeros(2))
    with pytest.raises(TypeError, match="^expected Tensor as element 0 in argument 0, but got list$"):
        torch.broadcast_tensors([torch.zeros(3), torch.zeros(1)])


# -- dtype questions ----------------------------------------------------------------------------------------------
def test_result_type_and_promote_types():
    assert [torch.result_type(torch.tensor([1, 2]), 1.0),
            torch.result_type(torch.tensor([1.0, 2.0]), torch.tensor(1.0, dtype=torch.float64)),
            torch.result_type(torch.tensor([1.0, 2.0]), torch.tensor([1.0], dtype=torch.float64)),
            torch.result_type(2, 3.0), torch.result_type(2, True), torch.result_type(torch.tensor([True]), 2),
            torch.result_type(torch.tensor(1), torch.tensor([True]))] == \
        [torch.float32, torch.float32, torch.float64, torch.float32, torch.int64, torch.int64, torch.int64]
    assert torch.compile(lambda u: u.to(torch.result_type(u, 2.5)))(torch.tensor([1, 2])).dtype == torch.float32
    assert [torch.promote_types(torch.int64, torch.float32), torch.promote_types(torch.bool, torch.int64),
            torch.promote_types(torch.float64, torch.float32), torch.promote_types(torch.bool, torch.bool),
            torch.promote_types(type1=torch.float32, type2=torch.int64)] == \
        [torch.float32, torch.int64, torch.float64, torch.bool, torch.float32]
    with pytest.raises(TypeError, match=r"^result_type\(\) received an invalid combination of arguments - got "
                                        r"\(Tensor, str\), but expected one of:"):
        torch.result_type(torch.tensor([True]), "a")
    with pytest.raises(TypeError, match=r"^promote_types\(\): argument 'type2' \(position 2\) must be torch.dtype, "
                                        r"not int$"):
        torch.promote_types(torch.float32, 1)


def test_is_floating_point_and_is_nonzero():
    assert (torch.is_floating_point(torch.tensor([1])), torch.is_floating_point(torch.tensor([1.0]))) == (False, True)
    assert torch.compile(lambda u: u * 2 if torch.is_floating_point(u) else u)(torch.tensor([1.5])).tolist() == [3.0]
    assert [torch.is_nonzero(torch.tensor([0.0])), torch.is_nonzero(torch.tensor([[1.5]])),
            torch.is_nonzero(torch.tensor(False)), torch.is_nonzero(torch.tensor(math.nan)),
            torch.tensor([3]).is_nonzero()] == [False, True, False, True, True]
    with pytest.raises(RuntimeError, match="^Boolean value of Tensor with more than one value is ambiguous$"):
        torch.is_nonzero(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="^Boolean value of Tensor with no values is ambiguous$"):
        torch.is_nonzero(torch.tensor([]))
    with pytest.raises(TypeError, match=r"^is_nonzero\(\): argument 'input' \(position 1\) must be Tensor, not int$"):
        torch.is_nonzero(1)
    with pytest.raises(TypeError, match=r"^is_floating_point\(\): argument 'input' \(position 1\) must be Tensor, "
                                        r"not float$"):
        torch.is_floating_point(1.0)
    with pytest.raises(TracerError):  # its value decides: not known while tracing
        torch.compile(lambda u: u * 2 if u.is_nonzero() else u)(torch.tensor([1.5]))


def test_int_names_the_missing_dtype():
    with pytest.raises(NotImplementedError, match="graphgrad has no int32 dtype"):
        torch.tensor([1, 2]).int()


# -- Tensor methods: where, arithmetic aliases, shapes ----------------------------------------------------------
def test_tensor_where():
    x = f64(X)
    expect(both(lambda u: u.where(u > 0, torch.tensor(-1.0, dtype=torch.float64)), x),
           [[1.5, -1.0, -1.0], [3.25, -1.0, 4.0]], torch.float64)
    expect(both(lambda u: u.where(condition=u > 0, other=0.0), x), [[1.5, 0.0, 0.0], [3.25, 0.0, 4.0]], torch.float64)
    expect(both(lambda u, c: u.where(c, 2.5), torch.tensor([1, 2]), torch.tensor([True, False])), [1.0, 2.5],
           torch.float32)
    grad_ok(lambda u, v: u.where(u > 0, v) * u, [[1.5, -2.0], [0.3, -0.5]], [[0.2, 0.4], [-1.0, 2.0]])
    with pytest.raises(RuntimeError, match="^where expected condition to be a boolean tensor, but got a tensor with "
                                           "dtype Float$"):
        torch.tensor([1.0]).where(torch.tensor([1.0]), 1.0)


def test_multiply_subtract_divide_absolute():
    x = f64(X)
    expect(both(lambda u: u.multiply(other=3), x), [[4.5, -6.0, 0.0], [9.75, -1.5, 12.0]], torch.float64)
    expect(both(lambda u: u.subtract(torch.ones(3, dtype=torch.float64), alpha=2), x),
           [[-0.5, -4.0, -2.0], [1.25, -2.5, 2.0]], torch.float64)
    expect(both(lambda u: u.divide(4), x), [[0.375, -0.5, 0.0], [0.8125, -0.125, 1.0]], torch.float64)
    expect(both(lambda u: u.divide(2, rounding_mode="floor"), x), [[0.0, -1.0, 0.0], [1.0, -1.0, 2.0]], torch.float64)
    expect(both(lambda u: u.divide(other=-3, rounding_mode="trunc"), x), [[-0.0, 0.0, -0.0], [-1.0, 0.0, -1.0]],
           torch.float64)
    expect(both(torch.absolute, torch.tensor([-1, 2])), [1, 2], torch.int64)
    expect(both(lambda u: u.absolute(), f64([-1.5, 2.0])), [1.5, 2.0], torch.float64)
    grad_ok(lambda u, v: u.multiply(v).subtract(v, alpha=2).divide(v), [[1.5, -2.0]], [[0.5, 3.0]])
    with pytest.raises(RuntimeError, match="^div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                                           "found 'bad'$"):
        x.divide(2, rounding_mode="bad")


def test_the_functions_named_for_other_ops_are_those_ops():
    # each alias is declared with its op, so it has the op's signature: keywords, alpha, rounding_mode, out=
    x, y = f64(X), f64([2.0, -4.0, 0.5])
    for alias, op, kwargs in (("multiply", "mul", {}), ("subtract", "sub", {"alpha": 2}),
                              ("divide", "div", {"rounding_mode": "floor"}), ("true_divide", "div", {})):
        want = getattr(torch, op)(x, y, **kwargs).tolist()
        expect(both(lambda u, v: getattr(torch, alias)(input=u, other=v, **kwargs), x, y), want, torch.float64)
        out = torch.empty(2, 3, dtype=torch.float64)
        assert getattr(torch, alias)(x, y, **kwargs, out=out) is out and out.tolist() == want
    for alias, op in (("absolute", "abs"), ("negative", "neg"), ("fix", "trunc")):
        expect(both(getattr(torch, alias), x), getattr(torch, op)(x).tolist(), torch.float64)
    out = torch.empty(0, dtype=torch.float64)
    assert torch.negative(x, out=out) is out and out.tolist() == [[-1.5, 2.0, -0.0], [-3.25, 0.5, -4.0]]
    with pytest.raises(TypeError, match=r"^negative\(\): argument 'out' must be Tensor, not int$"):
        torch.negative(x, out=1)
    with pytest.raises(TypeError, match=r"^absolute\(\): argument 'out' must be Tensor, not int$"):
        torch.absolute(input=x, out=1)
    with pytest.raises(TypeError, match=r"^special_erf\(\): argument 'out' must be Tensor, not int$"):
        torch.special.erf(x, out=1)


def test_reshape_as_nelement_ndimension():
    x = f64(X)
    expect(both(lambda u: u.reshape_as(torch.zeros(3, 2)), x), [[1.5, -2.0], [0.0, 3.25], [-0.5, 4.0]], torch.float64)
    assert (x.nelement(), x.ndimension()) == (6, 2)
    expect(both(lambda u: u * u.nelement() + u.ndimension(), f64([[1.0, 2.0, 3.0]])), [[5.0, 8.0, 11.0]],
           torch.float64)
    with pytest.raises(RuntimeError, match=r"^shape '\[4\]' is invalid for input of size 6$"):
        x.reshape_as(torch.zeros(4))


def test_narrow_select_clone_all_any_as_functions():
    z = torch.arange(12.0).reshape(3, 4)
    expect(both(lambda u: torch.narrow(u, -1, -2, 2), z), [[2.0, 3.0], [6.0, 7.0], [10.0, 11.0]], torch.float32)
    expect(torch.narrow(input=z, dim=0, start=1, length=1), [[4.0, 5.0, 6.0, 7.0]], torch.float32)
    expect(both(lambda u: torch.select(u, 1, -1), z), [3.0, 7.0, 11.0], torch.float32)
    expect(torch.select(input=z, dim=0, index=1), [4.0, 5.0, 6.0, 7.0], torch.float32)
    grad_ok(lambda u: torch.narrow(u, 1, 1, 2) * torch.select(u, 1, 0).reshape(2, 1),
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with pytest.raises(RuntimeError, match=r"^start \(2\) \+ length \(2\) exceeds dimension size \(3\)\.$"):
        torch.narrow(z, 0, 2, 2)
    with pytest.raises(RuntimeError, match=r"^narrow\(\) cannot be applied to a 0-dim tensor\.$"):
        torch.narrow(torch.tensor(3.0), 0, 0, 1)
    with pytest.raises(IndexError, match=r"^select\(\): index 3 out of range for tensor of size \[3, 4\] at dimension "
                                         r"0$"):
        torch.select(z, 0, 3)
    with pytest.raises(IndexError, match=r"^select\(\): index -2 out of range for tensor of size \[1\] at dimension "
                                         r"0$"):
        torch.tensor([3.0]).select(0, -2)
    with pytest.raises(IndexError, match=DIM_OUT_OF_RANGE):
        torch.select(z, 2, 0)
    with pytest.raises(IndexError, match=r"^select\(\) cannot be applied to a 0-dim tensor\.$"):
        torch.select(torch.tensor(3.0), 0, 0)

    x = torch.tensor([1.0, 2.0])
    y = torch.clone(x, memory_format=None)
    x.add_(1.0)
    expect(y, [1.0, 2.0], torch.float32)
    expect(both(lambda u: torch.clone(u) * 2, x), [4.0, 6.0], torch.float32)
    leaf = f64([1.0, 2.0], requires_grad=True)
    assert torch.clone(leaf).grad_fn.name() == "CloneBackward0"
    grad_ok(lambda u: torch.clone(u) * u, [1.0, -2.0])

    b = torch.tensor([[True, False], [True, True]])
    expect(both(lambda u: torch.all(u, 1), b), [False, True], torch.bool)
    expect(both(lambda u: torch.all(input=u), b), False, torch.bool)
    expect(both(lambda u: torch.any(u, dim=0, keepdim=True), torch.tensor([[0.0, 1.0], [0.0, 0.0]])), [[False, True]],
           torch.bool)
    expect(torch.all(torch.tensor([1.0, 2.0])), True, torch.bool)
    with pytest.raises(IndexError, match=DIM_OUT_OF_RANGE):
        torch.all(b, 2)


# -- std_mean / var_mean: PyTorch's overloads ---------------------------------------------------------------------
def test_std_mean_and_var_mean_overloads():
    x = f64(X)
    cases = [  # call -> PyTorch's (spread, mean)
        (lambda u: torch.std_mean(u), (2.3044341315530517, 1.0416666666666667)),
        (lambda u: torch.std_mean(u, 1), ([1.7559422921421233, 2.4109126902482387], [-0.16666666666666669, 2.25])),
        (lambda u: torch.std_mean(u, False), (2.103650926894056, 1.0416666666666667)),
        (lambda u: torch.var_mean(u, True), (5.310416666666667, 1.0416666666666667)),
        (lambda u: torch.var_mean(u, 0, False), ([0.765625, 0.5625, 4.0], [2.375, -1.25, 2.0])),
        (lambda u: torch.var_mean(u, 0, False, True), ([[0.765625, 0.5625, 4.0]], [[2.375, -1.25, 2.0]])),
        (lambda u: torch.var_mean(u, dim=1, correction=0, keepdim=True),
         ([[2.055555555555556], [3.875]], [[-0.16666666666666669], [2.25]])),
        (lambda u: torch.var_mean(u, correction=2), (6.638020833333333, 1.0416666666666667)),
    ]
    for call, (spread, mean) in cases:
        got = both(call, x)
        assert type(got) is tuple and len(got) == 2
        expect(got[0], spread, torch.float64)
        expect(got[1], mean, torch.float64)


def test_std_mean_gradient_node_and_errors():
    x = torch.arange(6.0, dtype=torch.float64).reshape(2, 3).requires_grad_()
    s, m = torch.std_mean(x, 1)
    assert s.grad_fn.name() == "StdMeanBackward0" and m.grad_fn.name() == "StdMeanBackward0"
    (s + m).sum().backward()
    expect(x.grad, [[-0.16666666666666669, 0.3333333333333333, 0.8333333333333333]] * 2, torch.float64)
    grad_ok(lambda u: (lambda v, w: v * w)(*torch.var_mean(u, 0, correction=0)), [[1.0, 2.5], [-0.5, 3.0]])
    with pytest.raises(RuntimeError, match="^var_mean only support floating point and complex dtypes$"):
        torch.var_mean(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="^std_mean only support floating point and complex dtypes$"):
        torch.std_mean(torch.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match=r"^var_mean\(\) received an invalid combination of arguments"):
        torch.var_mean(f64(X), dim=1, unbiased=False, correction=0)


# -- sum_to_size, fill_diagonal_, cumulative_trapezoid ----------------------------------------------------------------
def test_sum_to_size():
    y = torch.arange(12.0, dtype=torch.float64).reshape(2, 3, 2)
    expect(both(lambda u: u.sum_to_size(3, 1), y), [[14.0], [22.0], [30.0]], torch.float64)
    expect(both(lambda u: u.sum_to_size((1, 3, 1)), y), [[[14.0], [22.0], [30.0]]], torch.float64)
    expect(both(lambda u: u.sum_to_size(2), y), [30.0, 36.0], torch.float64)
    expect(y.sum_to_size(size=(3, 1)), [[14.0], [22.0], [30.0]], torch.float64)
    expect(y.sum_to_size(torch.Size([1, 2])), [[30.0, 36.0]], torch.float64)
    expect(torch.tensor([[True, False], [True, True]]).sum_to_size(1, 2), [[2, 1]], torch.int64)
    grad_ok(lambda u: u.sum_to_size(1, 2) ** 2, [[1.0, 2.0], [3.0, -4.0], [0.5, 0.25]])
    with pytest.raises(RuntimeError, match=r"^size \{\[4, 1\]\} is not expandable to size \{\[2, 3, 2\]\}\.$"):
        y.sum_to_size(4, 1)
    with pytest.raises(RuntimeError, match=r"^size \{\[1, 1, 3, 2\]\} is not expandable to size \{\[2, 3, 2\]\}\.$"):
        y.sum_to_size(1, 1, 3, 2)
    with pytest.raises(TypeError, match='^sum_to_size\\(\\) missing 1 required positional arguments: "size"$'):
        y.sum_to_size()


FIVE = [[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]


@pytest.mark.parametrize("shape, value, wrap, expected", [
    ((7, 3), 5, True, FIVE + [[0.0, 0.0, 0.0]] + FIVE),
    ((7, 3), 5, False, FIVE + [[0.0, 0.0, 0.0]] * 4),
    ((2, 4), 5, True, [[5.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0]]),
    ((2, 2, 2), 1.5, False, [[[1.5, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.5]]]),
])
def test_fill_diagonal_(shape, value, wrap, expected):
    def fill(u):
        return u.fill_diagonal_(value, wrap=wrap)
    t = torch.zeros(*shape)
    assert fill(t) is t
    expect(t, expected, torch.float32)
    expect(both(lambda u: fill(u * 1), torch.zeros(*shape)), expected, torch.float32)


def test_fill_diagonal_dtypes_gradient_and_errors():
    expect(torch.zeros(3, 3, dtype=torch.int64).fill_diagonal_(2.7), [[2, 0, 0], [0, 2, 0], [0, 0, 2]], torch.int64)
    a = torch.arange(9.0, dtype=torch.float64).reshape(3, 3).requires_grad_()
    b = a * 2
    b.fill_diagonal_(0)
    assert b.grad_fn.name() == "CopySlices"
    (b * b).sum().backward()
    expect(a.grad, [[0.0, 8.0, 16.0], [24.0, 0.0, 40.0], [48.0, 56.0, 0.0]], torch.float64)
    grad_ok(lambda u: (u * 1).fill_diagonal_(0.5, wrap=True) * u, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    with pytest.raises(RuntimeError, match="^dimensions must larger than 1$"):
        torch.zeros(3).fill_diagonal_(1.5)
    with pytest.raises(RuntimeError, match="^all dimensions of input must be of equal length$"):
        torch.zeros(2, 3, 2).fill_diagonal_(1.5)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place operation"):
        torch.zeros(3, 3, requires_grad=True).fill_diagonal_(1)


def test_cumulative_trapezoid():
    y = f64([1.0, 2.0, 4.0, 7.0])
    expect(both(torch.cumulative_trapezoid, y), [1.5, 4.5, 10.0], torch.float64)
    expect(both(lambda u: torch.cumulative_trapezoid(u, dx=0.5), y), [0.75, 2.25, 5.0], torch.float64)
    expect(both(torch.cumulative_trapezoid, y, f64([0.0, 1.0, 3.0, 3.5])), [1.5, 7.5, 10.25], torch.float64)
    expect(both(lambda u: torch.cumulative_trapezoid(u, dim=0), torch.arange(6.0).reshape(2, 3)), [[1.5, 2.5, 3.5]],
           torch.float32)
    expect(both(torch.cumulative_trapezoid, torch.arange(6.0).reshape(2, 3), torch.tensor([[0.0, 1, 3], [0, 2, 3]])),
           [[0.5, 3.5], [7.0, 11.5]], torch.float32)
    expect(both(torch.cumulative_trapezoid, torch.tensor([1, 2, 4])), [1.5, 4.5], torch.float32)
    expect(both(lambda u: torch.cumulative_trapezoid(u, dx=2), torch.tensor([1, 2, 4])), [3.0, 9.0], torch.float32)
    expect(torch.cumulative_trapezoid(torch.tensor([1.0])), np.zeros(0), torch.float32)
    leaf = f64([1.0, 2.0, 4.0, 7.0], requires_grad=True)
    torch.cumulative_trapezoid(leaf).sum().backward()
    expect(leaf.grad, [1.5, 2.5, 1.5, 0.5], torch.float64)
    grad_ok(lambda u, v: torch.cumulative_trapezoid(u * u, v, dim=0), [[1.0, 2.0], [3.0, -1.0], [0.5, 2.0]],
            [0.0, 0.5, 2.0])
    with pytest.raises(IndexError, match=r"^slice\(\) cannot be applied to a 0-dim tensor\.$"):
        torch.cumulative_trapezoid(torch.tensor(1.0))
    with pytest.raises(RuntimeError, match="^cumulative_trapezoid: There must be one `x` value for each sample point$"):
        torch.cumulative_trapezoid(y, f64([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="^cumulative_trapezoid: received a bool input for `y`, but bool is not "
                                           "supported$"):
        torch.cumulative_trapezoid(torch.tensor([True, False]))
    with pytest.raises(RuntimeError, match="^cumulative_trapezoid: received a bool input for `x` or `y`, but bool is "
                                           "not supported$"):
        torch.cumulative_trapezoid(y[:3], torch.tensor([True, False, True]))
    with pytest.raises(RuntimeError, match="^cumulative_trapezoid: Currently, we only support dx as a real number\\.$"):
        torch.cumulative_trapezoid(y, dx=True)


def test_isin_is_numpy_s_isin_and_maps_over_a_batch():
    # (one primitive over NumPy's isin: every element against every test element took numel x numel memory)
    e, t = torch.tensor([[1, 2], [3, 4]]), torch.tensor([2.0, 4.5, 1.0])
    # PyTorch 2.13: torch.isin(e, t) promotes both to float32
    assert torch.compile(lambda e, t: torch.isin(e, t, invert=True))(e, t).tolist() == [[False, False], [True, True]]
    assert torch.vmap(lambda a, b: torch.isin(a, b))(e, torch.tensor([[2, 5], [3, 3]])).tolist() == [[False, True],
                                                                                           [True, False]]
    assert torch.vmap(lambda a: torch.isin(a, t))(e).tolist() == [[True, True], [False, False]]
    big = torch.tensor(np.arange(20000))
    assert int(torch.isin(big, torch.tensor(np.arange(0, 40000, 2))).sum()) == 10000
