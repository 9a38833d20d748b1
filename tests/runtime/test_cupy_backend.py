"""The CuPy backend for real, on a machine with CuPy and a GPU; elsewhere these skip, while
tests/codegen checks the CuPy source that is generated."""
import numpy as np
import pytest

import graphgrad as gg


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


needs_gpu = pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and an NVIDIA GPU")


def test_cuda_without_gpu_is_a_clear_error():
    if _gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"needs CuPy and an NVIDIA GPU.*pip install 'graphgrad\[cuda\]'"):
        gg.ones(2).to("cuda")


@needs_gpu
def test_eager_on_gpu_matches_cpu():
    x = gg.tensor(np.arange(6.0).reshape(2, 3), dtype=gg.float64, requires_grad=True)
    xc = x.detach().to("cuda").requires_grad_()
    ((x.exp() @ x.T).softmax(1).sum()).backward()
    ((xc.exp() @ xc.T).softmax(1).sum()).backward()
    assert xc.grad.device == "cuda:0"
    np.testing.assert_allclose(xc.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-12)


@needs_gpu
def test_compiled_cupy_module_matches_numpy():
    def loss(w, x):
        return ((x @ w).tanh() ** 2).mean()

    rng = np.random.default_rng(0)
    w = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    x = gg.tensor(rng.standard_normal((8, 4)))
    wc, xc = w.detach().to("cuda").requires_grad_(), x.to("cuda")
    f = gg.compile(loss)
    f(w, x).backward()
    f(wc, xc).backward()
    assert "import cupy as cp" in f.source(wc, xc, backend="cupy")
    np.testing.assert_allclose(wc.grad.cpu().numpy(), w.grad.numpy(), rtol=1e-5)
