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


@needs_gpu
def test_control_flow_on_gpu_matches_cpu():
    def f(w, x):
        h = x
        for _ in range(3):
            if h.sum() > 0:
                h = (h @ w).tanh()
            else:
                h = h * 0.5
        return gg.fori_loop(0, 2, lambda i, c: c * 1.5, (h * h).sum())

    rng = np.random.default_rng(0)
    w_np, x_np = rng.standard_normal((3, 3)), rng.standard_normal((2, 3))
    grads = []
    for device in ("cpu", "cuda"):
        w = gg.tensor(w_np, requires_grad=True)
        w_dev = w.to(device) if device == "cuda" else w
        loss = gg.compile(f)(w_dev, gg.tensor(x_np).to(device))
        loss.backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10)
