"""Result dtypes and shapes that once came out silently wrong, eager and compiled, against PyTorch's behaviour
(expected values written out: the tests do not import torch)."""
import numpy as np
import pytest

import graphgrad as gg


@pytest.fixture
def float64_default():
    gg.set_default_dtype(gg.float64)
    try:
        yield
    finally:
        gg.set_default_dtype(gg.float32)


def _promotions(a, b):
    return a / b, a + 0.5, a.sqrt(), a.exp(), gg.where(a > 1, a, 0.5), a * 2.5


def _check_promotions(out, dtype):
    a0 = np.array([1.0, 2.0, 3.0])
    expected = [a0 / 3, a0 + 0.5, np.sqrt(a0), np.exp(a0), np.where(a0 > 1, a0, 0.5), a0 * 2.5]
    for got, want in zip(out, expected):
        assert got.dtype == dtype and tuple(got.shape) == np.shape(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6 if dtype == gg.float32 else 1e-15)


def test_int_to_float_promotion_follows_the_default_dtype(float64_default):
    # torch.set_default_dtype(torch.float64): int / int, int + 0.5, int.sqrt(), int.exp(), where(c, int, 0.5)
    # are float64; 1 / 3 is 0.3333333333333333, not float32's 0.3333333432674408
    a, b = gg.tensor([1, 2, 3]), gg.tensor([3, 3, 3])
    _check_promotions(_promotions(a, b), gg.float64)
    _check_promotions(gg.compile(_promotions)(a, b), gg.float64)
    assert float((gg.tensor([1]) / gg.tensor([3]))[0]) == 1 / 3
    assert float(gg.compile(lambda x, y: x / y)(gg.tensor([1]), gg.tensor([3]))[0]) == 1 / 3
    # a float32 tensor stays float32 with a Python float, as in PyTorch
    assert (gg.tensor([1.0], dtype=gg.float32) * 2.5).dtype == gg.float32
    assert gg.compile(lambda x: x * 2.5)(gg.tensor([1.0], dtype=gg.float32)).dtype == gg.float32


def test_a_compiled_function_respecializes_when_the_default_dtype_changes():
    # code traced under float32 computes int / int in float32: reused after set_default_dtype(float64) it would
    # give float32 (and 0.33333334); the default dtype is part of the specialization key
    f, third = gg.compile(_promotions), gg.vmap(lambda x: x / 3)
    a, b = gg.tensor([1, 2, 3]), gg.tensor([3, 3, 3])
    _check_promotions(f(a, b), gg.float32)
    assert third(a).dtype == gg.float32
    gg.set_default_dtype(gg.float64)
    try:
        _check_promotions(f(a, b), gg.float64)
        assert "default dtype float32 -> float64" in f.recompile_reasons[-1]
        assert third(a).dtype == gg.float64
    finally:
        gg.set_default_dtype(gg.float32)
    _check_promotions(f(a, b), gg.float32)
    assert f.cache_info().specializations == 2


def _empty_dim_reductions(x):
    return (x.sum(dim=[]), x.mean(dim=()), x.sum(dim=(), keepdim=True), x.amax(dim=[]), x.amin(dim=(), keepdim=True),
            x.std(dim=[]), x.var(dim=(), keepdim=True), x.norm(dim=[]), x.norm(p=1, dim=[]),
            gg.linalg.vector_norm(x, dim=[]), x.logsumexp(dim=[], keepdim=True), x.any(dim=[]), x.all(dim=()),
            gg.nn.functional.normalize(x, dim=[]))


def test_an_empty_dim_list_reduces_every_dim_as_in_pytorch():
    # PyTorch 2.13: sum/mean/amax/amin/std/var/norm with dim=[] or () reduce every dim (NumPy's axis=() none);
    # any/all reduce none; logsumexp reduces every dim with keepdim=True
    x0 = np.arange(6.0).reshape(2, 3)
    lse = np.log(np.exp(x0).sum())
    expected = [(15.0, ()), (2.5, ()), (15.0, (1, 1)), (5.0, ()), (0.0, (1, 1)), (np.std(x0, ddof=1), ()),
                (3.5, (1, 1)), (np.sqrt(55.0), ()), (15.0, ()), (np.sqrt(55.0), ()), (lse, (1, 1)),
                (x0 != 0, (2, 3)), (x0 != 0, (2, 3)), (x0 / np.sqrt(55.0), (2, 3))]
    x = gg.tensor(x0, dtype=gg.float32)
    for out in (_empty_dim_reductions(x), gg.compile(_empty_dim_reductions)(x)):
        for got, (value, shape) in zip(out, expected):
            assert tuple(got.shape) == shape
            assert got.dtype == ("bool" if np.asarray(value).dtype == bool else gg.float32)
            np.testing.assert_allclose(got.numpy(), np.broadcast_to(value, shape), rtol=1e-6)
    assert x.sum(dim=[]).grad_fn is None and gg.tensor([[1, 2]]).sum(dim=[]).dtype == gg.int64
    w = gg.tensor(x0, requires_grad=True)
    assert w.sum(dim=[]).grad_fn.name() == "SumBackward1"  # PyTorch's node for a dim given
    # logsumexp(dim=[]) without keepdim: PyTorch's error on a tensor with dims; a 0-d tensor gives its value
    for f in (lambda t: t.logsumexp(dim=[]), gg.compile(lambda t: t.logsumexp(dim=[]))):
        with pytest.raises(RuntimeError, match=r"output with shape \[\] doesn't match the broadcast shape \[1, 1\]"):
            f(x)
        assert f(gg.tensor(2.0)).item() == 2.0 and f(gg.tensor(2.0)).shape == ()
    # NumPy's spelling keeps NumPy's meaning: axis=() reduces nothing
    assert x.sum(axis=()).shape == (2, 3) and gg.numpy.sum(x, axis=()).shape == (2, 3)
    assert gg.numpy.var(x, axis=()).shape == (2, 3) and x.std(axis=()).shape == (2, 3)


def _int_remainders(a, b):
    return gg.fmod(a, b), a.fmod(b), gg.fmod(a, 2), gg.remainder(a, b), a % 3, 7 % b, gg.fmod(a, 2.5), a % 2.5, 7.5 % b


def test_integer_fmod_and_remainder_keep_pytorchs_dtypes():
    # PyTorch: fmod / remainder of int64 tensors (or an int64 tensor and an int) are int64; with a Python float
    # they are the default float32 (NumPy's float64 is not PyTorch's dtype)
    a0, b0 = np.array([[-5, 3, 7], [4, -2, 9]]), np.array([[2, 2, 3], [3, 3, 4]])
    expected = [(np.fmod(a0, b0), "int64"), (np.fmod(a0, b0), "int64"), (np.fmod(a0, 2), "int64"),
                (a0 % b0, "int64"), (a0 % 3, "int64"), (7 % b0, "int64"), (np.fmod(a0, 2.5), "float32"),
                (a0 % 2.5, "float32"), (7.5 % b0, "float32")]
    a, b = gg.tensor(a0), gg.tensor(b0)
    for out in (_int_remainders(a, b), gg.compile(_int_remainders)(a, b)):
        for got, (want, dtype) in zip(out, expected):
            assert got.dtype == dtype and got.shape == (2, 3)
            np.testing.assert_array_equal(got.numpy(), want)
    assert (a // 2.5).dtype == gg.float32 and (9.5 // b).dtype == gg.float32  # eager only: compile refuses //


def _zero_d_reductions(x):
    return (x.cumsum(0), x.cumsum(-1), x.cumprod(0), x.long().cumsum(0), x.long().cumprod(-1), x.amax(dim=0),
            x.amin(-1, keepdim=True), x.max(dim=0).values, x.max(dim=0).indices, x.min(-1).indices, x.argmax(0),
            x.logsumexp(0), x.mean(-1), x.var(0, correction=0), x.sum(0))


def test_reductions_and_scans_of_a_0d_tensor_take_dim_0_and_stay_0d():
    # PyTorch: dim 0 / -1 of a 0-d tensor is accepted by reductions and scans, and the result is 0-d
    # (cumsum gave shape (1,), cumprod / amax / max(dim) raised IndexError, logsumexp and mean NumPy's AxisError)
    expected = [(2.5, "float32")] * 3 + [(2, "int64")] * 2 + [(2.5, "float32")] * 3 + [(0, "int64")] * 3 + \
        [(2.5, "float32"), (2.5, "float32"), (0.0, "float32"), (2.5, "float32")]
    x = gg.tensor(2.5)
    for out in (_zero_d_reductions(x), gg.compile(_zero_d_reductions)(x)):
        for got, (value, dtype) in zip(out, expected):
            assert got.shape == () and got.dtype == dtype and got.item() == value
    # gradients as PyTorch's: 1 from each float result but var (0 at a single element), 9 in all
    def total(t):
        return sum(o for o in _zero_d_reductions(t) if o.dtype == gg.float32)

    for f in (total, gg.compile(total)):
        w = gg.tensor(2.5, requires_grad=True)
        f(w).backward()
        assert w.grad.item() == 9.0
