"""Issue 13 §3: devices and defaults as PyTorch programs query them (reprs as PyTorch prints them)."""
import importlib.util
import pickle

import numpy as np
import pytest

import graphgrad as torch


def _gpu_usable() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def test_device_objects_print_and_compare_as_in_pytorch():
    assert repr(torch.device("cpu")) == "device(type='cpu')"
    assert repr(torch.device("cuda:1")) == "device(type='cuda', index=1)"
    assert repr(torch.device("cuda", 0)) == "device(type='cuda', index=0)" and str(torch.device("cuda", 0)) == "cuda:0"
    assert torch.device("cuda", 0) == torch.device("cuda:0") != torch.device("cuda")
    assert torch.device("cpu").type == "cpu" and torch.device("cpu").index is None
    assert {torch.device("cpu"): 1}[torch.device("cpu")] == 1
    assert pickle.loads(pickle.dumps(torch.device("cuda:0"))) == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="^Expected one of cpu, cuda device type at start of device string: tpu$"):
        torch.device("tpu")


def test_availability_queries_answer_what_this_machine_has():
    gpu = _gpu_usable()
    assert torch.cuda.is_available() is gpu and torch.accelerator.is_available() is gpu
    assert torch.cuda.device_count() == (torch.cuda.device_count() if gpu else 0)
    assert torch.accelerator.current_accelerator() == (torch.device("cuda") if gpu else None)
    assert torch.backends.mps.is_available() is False
    torch.backends.cudnn.deterministic = True  # programs set it; accepted
    torch.backends.cudnn.deterministic = False


def test_the_device_idiom_of_every_tutorial_runs_on_the_cpu():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torch.nn.Linear(3, 2).to(device)
    x = torch.randn(4, 3).to(device)
    y = model(x)
    # as in PyTorch, a tensor's device has an index (cuda:0), so it equals device("cuda") only in type
    assert y.device.type == x.device.type == model.weight.device.type == device.type
    assert y.device == torch.device(device.type, 0) if device.type == "cuda" else y.device == device
    assert torch.ones(2).device == torch.device("cpu") and torch.ones(2).device == "cpu"
    assert torch.ones(2, device=torch.device("cpu")).device.type == "cpu"
    assert x.to(torch.device("cpu"), torch.float64).dtype == torch.float64


@pytest.mark.skipif(_gpu_usable(), reason="checks the message shown where CuPy or a GPU is missing")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="needs CuPy and an NVIDIA GPU"):
        torch.ones(2).to(torch.device("cuda"))
    with pytest.raises(RuntimeError, match="needs CuPy and an NVIDIA GPU"):
        torch.set_default_device("cuda")
    assert torch.get_default_device() == torch.device("cpu")


def test_set_default_device_and_dtype():
    torch.set_default_device("cpu")
    assert torch.zeros(2).device == torch.device("cpu")
    assert torch.get_default_dtype() == torch.float32
    try:
        torch.set_default_dtype(torch.float64)
        assert torch.get_default_dtype() == torch.float64
        for t in (torch.tensor([1.5]), torch.zeros(2), torch.randn(2), torch.Tensor([1]), torch.arange(0.0, 1.0, 0.5),
                  torch.linspace(0, 1, 3), torch.full((2,), 1.5)):
            assert t.dtype == torch.float64
        assert torch.tensor([1]).dtype == torch.int64
    finally:
        torch.set_default_dtype(torch.float32)
    assert torch.tensor([1.5]).dtype == torch.float32
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        torch.set_default_dtype(torch.int64)
    assert np.float32 == torch.zeros(1).numpy().dtype
