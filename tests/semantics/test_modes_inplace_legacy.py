"""SPEC §2 items 9-12 and 14: grad modes, detach and .data, in-place ops and version counters, legacy API,
devices; plus the rule that a failed operation changes nothing."""
import re
import threading

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.autograd import Variable


def raises(error, text):
    return pytest.raises(error, match="^" + re.escape(text) + "$")


# -- 9. grad modes --------------------------------------------------------------------------------
def test_grad_modes_as_context_managers_and_decorators():
    x = torch.ones(1, requires_grad=True)
    with torch.no_grad():
        assert not (x * 2).requires_grad
        with torch.enable_grad():
            assert (x * 2).requires_grad
    with torch.set_grad_enabled(False):
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()

    @torch.no_grad()
    def frozen():
        return x * 2

    @torch.enable_grad()
    def tracked():
        return x * 2

    @torch.set_grad_enabled(False)
    def switched_off():
        return torch.is_grad_enabled()

    assert torch.is_grad_enabled()  # decorating changes nothing until the call
    assert not switched_off() and torch.is_grad_enabled()
    assert not frozen().requires_grad and torch.is_grad_enabled()
    with torch.no_grad():
        assert tracked().requires_grad
    torch.set_grad_enabled(False)  # also works as a plain call
    try:
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        seen["worker"] = torch.is_grad_enabled()
        with torch.no_grad():
            seen["worker_inside"] = torch.is_grad_enabled()

    with torch.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        seen["main"] = torch.is_grad_enabled()
    assert seen == {"worker": True, "worker_inside": False, "main": False}


def test_inference_mode_is_a_stricter_no_grad():
    x = torch.ones(2, requires_grad=True)
    with torch.inference_mode():
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
        y = x * 2
        made = torch.ones(2)
        y.add_(1)  # in-place inside inference mode is fine
    assert not y.requires_grad and y.is_inference() and made.is_inference() and not x.is_inference()
    with raises(RuntimeError, "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
                              "inference mode in computation tracked by autograd. To work around this, you can make "
                              "a clone to get a normal tensor and use it in autograd."):
        x * y
    with raises(RuntimeError, "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
                              "clone to get a normal tensor before doing inplace update.See "
                              "https://github.com/pytorch/rfcs/pull/17 for more details."):
        y.add_(1)
    assert y.tolist() == [3.0, 3.0]
    (x * y.clone()).sum().backward()  # the clone is a normal tensor
    assert x.grad.tolist() == [3.0, 3.0]

    @torch.inference_mode()
    def predict():
        return torch.is_inference_mode_enabled()

    assert predict() and not torch.is_inference_mode_enabled()


# -- 10. detach and .data -------------------------------------------------------------------------
def test_detach_shares_storage_without_history():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d.add_(1)
    assert y.tolist() == [3.0, 3.0]  # same storage
    z = x * 3
    assert z.detach_() is z and z.grad_fn is None and not z.requires_grad


def test_data_changes_are_not_tracked():
    x = torch.tensor([1.0], requires_grad=True)
    assert not x.data.requires_grad
    y = 2 * x
    x.data *= 100
    y.backward()
    assert x.tolist() == [100.0] and x.grad.tolist() == [2.0]


# -- 11. in-place ops and version counters --------------------------------------------------------
def test_in_place_ops_bump_the_shared_version_counter():
    x = torch.ones(3)
    view = x[1:]
    versions = [x._version]
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.sub_(1), lambda t: t.div_(2),
               lambda t: t.clamp_(0, 1), lambda t: t.fill_(3), lambda t: t.zero_(), lambda t: t.copy_(torch.ones(3))):
        op(x)
        versions.append(x._version)
    x += 1
    versions.append(x._version)
    assert versions == list(range(10)) and view._version == x._version and x.tolist() == [2.0, 2.0, 2.0]
    assert x.detach()._version == x._version


def test_modified_saved_tensor_is_detected_at_backward():
    a = torch.ones(3, requires_grad=True)
    b = a * 1
    c = b.exp()
    c.mul_(2)
    with raises(RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace "
                              "operation: [torch.FloatTensor [3]], which is output 0 of Exp, is at version 1; "
                              "expected version 0 instead. Hint: enable anomaly detection to find the operation that "
                              "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False)."):
        c.sum().backward()


def test_in_place_on_a_non_leaf_is_differentiated():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(3)
    y.add_(x)
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 4.0] and y.grad_fn.name() == "AddBackward0"


def test_in_place_on_a_leaf_or_its_view_is_an_error():
    x = torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "a leaf Variable that requires grad is being used in an in-place operation."):
        x.add_(1)
    with raises(RuntimeError, "a view of a leaf Variable that requires grad is being used in an in-place operation."):
        x[:2].mul_(2)
    with torch.no_grad():
        x.add_(1)  # allowed: this is how optimizers update parameters
    assert x.tolist() == [2.0, 2.0, 2.0] and x.is_leaf and x._version == 1


def test_a_failed_operation_changes_nothing():
    x = torch.ones(2, 3)
    y = torch.ones(2, 3, requires_grad=True) * 1
    before = (x.tolist(), x._version, y.tolist(), y._version, y.grad_fn)
    with pytest.raises(RuntimeError, match=re.escape("output with shape [2, 3] doesn't match the broadcast shape")):
        x.add_(torch.ones(4, 2, 3))
    with pytest.raises(RuntimeError):
        y.mul_(torch.ones(3, 2))
    with pytest.raises(RuntimeError):
        x @ torch.ones(2, 2)
    assert (x.tolist(), x._version, y.tolist(), y._version, y.grad_fn) == before
    leaf = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.add_(1)
    assert leaf._version == 0 and leaf.tolist() == [1.0, 1.0, 1.0]


# -- 12. legacy API -------------------------------------------------------------------------------
def test_variable_returns_a_tensor_sharing_storage():
    data = torch.ones(2)
    v = Variable(data, requires_grad=True)
    assert isinstance(v, torch.Tensor) and v.requires_grad and v.is_leaf and not data.requires_grad
    with torch.no_grad():
        v.add_(1)
    assert data.tolist() == [2.0, 2.0]
    with raises(TypeError, "Variable data has to be a tensor, but got range"):
        Variable(range(3))
    with pytest.warns(UserWarning, match=re.escape("volatile was removed and now has no effect. Use `with "
                                                   "torch.no_grad():` instead.")):
        assert not Variable(torch.ones(1), volatile=True).requires_grad


def test_range_and_float_tensor():
    with pytest.warns(UserWarning, match="torch.range is deprecated and will be removed in a future release"):
        r = torch.range(1, 4)
    assert r.tolist() == [1.0, 2.0, 3.0, 4.0] and r.dtype == torch.float32
    assert torch.FloatTensor([1, 2]).dtype == torch.float32 and torch.FloatTensor(2, 3).shape == (2, 3)
    assert torch.arange(1, 4).tolist() == [1, 2, 3]


# -- 14. devices ----------------------------------------------------------------------------------
def test_cuda_without_cupy_or_gpu_is_a_clear_error():
    try:
        import cupy  # noqa: F401

        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if has_gpu:
        assert torch.ones(1).to("cuda").is_cuda
        return
    with pytest.raises(RuntimeError, match="graphgrad's 'cuda' device needs CuPy and an NVIDIA GPU"):
        torch.ones(1).to("cuda")
    assert torch.ones(1).cpu().device == "cpu" and torch.ones(2).numpy().tolist() == [1.0, 1.0]


# -- 15. type promotion ---------------------------------------------------------------------------
def test_type_promotion_is_pytorch_s_in_eager_and_compiled():
    f32, i64 = torch.tensor([1.0, 2.0]), torch.tensor([1, 2])
    cases = {
        "f32 + i64": (lambda a, b: a + b, torch.float32),
        "i64 * 2.5": (lambda a, b: b * 2.5, torch.float32),
        "i64 / 2": (lambda a, b: b / 2, torch.float32),
        "exp(i64)": (lambda a, b: b.exp(), torch.float32),
        "f32 * f64 0-d": (lambda a, b: a * torch.tensor(2.0, dtype=torch.float64), torch.float32),
        "i64 + 1": (lambda a, b: b + 1, torch.int64),
        "f32 ** i64": (lambda a, b: a ** b, torch.float32),
    }
    for name, (fn, dtype) in cases.items():
        eager = fn(f32, i64)
        compiled = torch.compile(fn)(f32, i64)
        assert eager.dtype == dtype and compiled.dtype == dtype, name
        np.testing.assert_array_equal(eager.numpy(), compiled.numpy())
    assert repr(torch.arange(5) / 2) == "tensor([0.0000, 0.5000, 1.0000, 1.5000, 2.0000])"


def test_mixed_dtype_gradients_keep_the_leaf_dtype():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * torch.tensor([3, 4])).sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.tolist() == [3.0, 4.0]
