"""Fused CuPy kernels on a GPU: they equal the unfused per-op code, and compiled gradients on the GPU equal the
CPU's (float64, 1e-10). Without CuPy or a GPU these skip; tests/codegen/test_fusion.py checks the same kernels'
source and, compiled for the host, their C expressions."""
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


def loss(x, w, b, m):
    h = gg.where(m, (x * w + b).tanh(), (x - 0.5).sigmoid().relu())
    return (gg.maximum(h, x * x) / (1.0 + x.exp()) - gg.minimum(h, w.sqrt()) ** 2).sum()


def _args(dtype=np.float64):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((64, 32)).astype(dtype), (rng.random(32) + 0.5).astype(dtype),
            rng.standard_normal((64, 1)).astype(dtype), rng.random((64, 32)) > 0.5)


@needs_gpu
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_fused_kernels_equal_the_unfused_module(dtype, rtol):
    import cupy as cp
    from graphgrad.codegen.python import module_source

    arrays = [gg.tensor(a, requires_grad=a.dtype != bool) for a in _args(dtype)]
    f = gg.compile(loss)
    src = f.source(*arrays, backend="cupy")
    assert "cp.ElementwiseKernel(" in src
    fused, plain = {}, {}
    exec(compile(src, "<fused>", "exec"), fused)
    unfused = module_source([(f.graph(*arrays, stage="forward"), "forward", None),
                             (f.graph(*arrays, stage="backward"), "backward", None)], "cupy")
    assert "ElementwiseKernel" not in unfused
    exec(compile(unfused, "<unfused>", "exec"), plain)
    dev = [cp.asarray(a.detach().numpy()) for a in arrays]
    out_f, *saved_f = fused["forward"](*dev)
    out_p, *saved_p = plain["forward"](*dev)
    np.testing.assert_allclose(cp.asnumpy(out_f), cp.asnumpy(out_p), rtol=rtol)
    one = cp.asarray(np.array(1.0, dtype))
    for g_f, g_p in zip(fused["backward"](*saved_f, one), plain["backward"](*saved_p, one)):
        np.testing.assert_allclose(cp.asnumpy(g_f), cp.asnumpy(g_p), rtol=rtol, atol=rtol * 1e-2)


@needs_gpu
def test_compiled_gradients_on_gpu_equal_cpu():
    grads = []
    for device in ("cpu", "cuda"):
        leaves = [gg.tensor(a, requires_grad=a.dtype != bool) for a in _args()]
        on_device = [t.to(device) if device == "cuda" else t for t in leaves]
        gg.compile(loss)(*on_device).backward()
        grads.append([t.grad.numpy() for t in leaves if t.requires_grad])
    for g_cpu, g_gpu in zip(*grads):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)
