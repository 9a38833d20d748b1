"""F.rms_norm and nn.RMSNorm: values against NumPy, gradients against finite differences (eager and compiled),
PyTorch 2.13's defaults, argument errors and module surface."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F


def _rms_norm(x, dims, w=None, eps=None):
    eps = np.finfo(x.dtype).eps if eps is None else eps
    out = x / np.sqrt((x * x).mean(axis=dims, keepdims=True) + eps)
    return out if w is None else out * w


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("norm", [(3,), (2, 3)])
def test_rms_norm_values(norm, compiled, rng):
    x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal(norm)
    fn = (lambda x, w: F.rms_norm(x, list(norm), w, 1e-3))
    fn = gg.compile(fn) if compiled else fn
    got = fn(gg.tensor(x), gg.tensor(w))
    dims = tuple(range(3 - len(norm), 3))
    np.testing.assert_allclose(got.numpy(), _rms_norm(x, dims, w, 1e-3), rtol=1e-12)
    assert got.dtype == gg.float64


def test_rms_norm_default_eps_is_the_dtypes_machine_epsilon():
    # eps matters only where the mean square is comparable to it: a tiny input shows which eps was added
    for dtype, np_dtype in ((gg.float32, np.float32), (gg.float64, np.float64)):
        tiny = float(np.sqrt(np.finfo(np_dtype).eps))
        x = np.array([[tiny, -tiny]], dtype=np_dtype)
        got = F.rms_norm(gg.tensor(x, dtype=dtype), (2,)).numpy()
        np.testing.assert_allclose(got, x / np.sqrt(2 * np.finfo(np_dtype).eps), rtol=1e-5)
        assert got.dtype == np_dtype


def test_rms_norm_gradients(check_gradients, rng):
    x, w = rng.standard_normal((3, 4)), rng.standard_normal(4)
    check_gradients(lambda x, w: F.rms_norm(x, (4,), w, 1e-4).pow(3).sum(), [x, w])
    check_gradients(lambda x: (F.rms_norm(x, (3, 4)) * gg.tensor(w)).sum(), [x])


def test_rms_norm_graph_ends_in_pytorchs_node():
    x = gg.randn(2, 3, requires_grad=True)
    assert F.rms_norm(x, [3]).grad_fn.name() == "MulBackward0"


def test_rms_norm_keeps_the_input_dtype_with_a_float64_weight():
    got = F.rms_norm(gg.ones(2, 3), (3,), gg.ones(3, dtype=gg.float64))
    assert got.dtype == gg.float32


@pytest.mark.parametrize("args,error,message", [
    (((2, 3), (), None), RuntimeError, "Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
                                       "least one element, but got normalized_shape = []"),
    (((2, 3), (4,), (5,)), RuntimeError, "Expected weight to be of same shape as normalized_shape, but got weight of "
                                         "shape [5] and normalized_shape = [4]"),
    (((2, 3), (2, 3, 4), None), ValueError, "Input tensor must have at least 3 dimensions, but got 2"),
    (((2, 3), (2, 4), None), RuntimeError, "Given normalized_shape=[2, 4], expected input with shape [*2, 4], but got "
                                           "input of size[2, 3]"),
    (((2, 3), 3, None), TypeError, "rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                                   "int"),
    (((2, 3), [3.0], None), TypeError, "rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, "
                                       "but found element of type float at pos 0"),
])
def test_rms_norm_errors_are_pytorchs(args, error, message):
    shape, norm, wshape = args
    w = None if wshape is None else gg.ones(*wshape)
    with pytest.raises(error) as info:
        F.rms_norm(gg.ones(*shape), norm, w)
    assert str(info.value) == message


def test_rms_norm_refuses_integers_and_non_tensors():
    with pytest.raises(NotImplementedError) as info:
        F.rms_norm(gg.ones(2, 3, dtype=gg.int64), (3,))
    assert str(info.value) == "\"rms_norm\" not implemented for 'Long'"
    with pytest.raises(TypeError, match=r"^rms_norm\(\): argument 'input' \(position 1\) must be Tensor, not list$"):
        F.rms_norm([1.0, 2.0], (2,))
    with pytest.raises(TypeError, match=r"^rms_norm\(\): argument 'eps' \(position 4\) must be float, not str$"):
        F.rms_norm(gg.ones(2), (2,), eps="a")


def test_rms_norm_module(rng):
    m = nn.RMSNorm(3)
    assert repr(m) == "RMSNorm((3,), eps=None, elementwise_affine=True)"
    assert list(m.state_dict()) == ["weight"] and m.weight.requires_grad
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones(3, np.float32))
    frozen = nn.RMSNorm([2, 3], eps=1e-5, elementwise_affine=False, dtype=gg.float64)
    assert repr(frozen) == "RMSNorm((2, 3), eps=1e-05, elementwise_affine=False)"
    assert frozen.weight is None and list(frozen.state_dict()) == []
    assert nn.RMSNorm(3, dtype=gg.float64).weight.dtype == gg.float64
    x = rng.standard_normal((5, 2, 3))
    np.testing.assert_allclose(frozen(gg.tensor(x)).numpy(), _rms_norm(x, (1, 2), eps=1e-5), rtol=1e-12)
    m = nn.RMSNorm(3, eps=1e-6).double()
    with gg.no_grad():
        m.weight.copy_(gg.tensor(rng.standard_normal(3)))
    loss = lambda x: m(x).sum()  # noqa: E731
    xt = gg.tensor(x)
    loss(xt).backward()
    eager = m.weight.grad.numpy().copy()
    m.zero_grad()
    gg.compile(loss)(xt).backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), eager, rtol=1e-12)
    np.testing.assert_allclose(eager, _rms_norm(x, (2,), eps=1e-6).sum(axis=(0, 1)), rtol=1e-12)
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*3\], but got input of size\[2, 4\]"):
        nn.RMSNorm(3)(gg.ones(2, 4))
