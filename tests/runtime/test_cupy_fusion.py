"""Fused CuPy kernels: they equal the unfused per-op code, and compiled gradients on the device equal the CPU's
(float64, 1e-10). Each test runs on a GPU (``[gpu]``, marked ``gpu``; skips without one) and on the fake CuPy
(``[fake]``: tests/fake_cupy.py, the kernels' C bodies compiled for the host); tests/codegen/test_fusion.py
checks the kernels' source."""
import numpy as np
import pytest

import graphgrad as gg


def loss(x, w, b, m):
    h = gg.where(m, (x * w + b).tanh(), (x - 0.5).sigmoid().relu())
    return (gg.maximum(h, x * x) / (1.0 + x.exp()) - gg.minimum(h, w.sqrt()) ** 2).sum()


def _args(dtype=np.float64):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((64, 32)).astype(dtype), (rng.random(32) + 0.5).astype(dtype),
            rng.standard_normal((64, 1)).astype(dtype), rng.random((64, 32)) > 0.5)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_fused_kernels_equal_the_unfused_module(cupy_device, dtype, rtol):
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
        want = cp.asnumpy(g_p)  # elements that cancel to near 0 are held to the gradient's scale, not their own
        np.testing.assert_allclose(cp.asnumpy(g_f), want, rtol=rtol, atol=rtol * 0.1 * np.abs(want).max())


def test_compiled_gradients_on_gpu_equal_cpu(cupy_device):
    grads = []
    for device in ("cpu", "cuda"):
        leaves = [gg.tensor(a, requires_grad=a.dtype != bool) for a in _args()]
        on_device = [t.to(device) if device == "cuda" else t for t in leaves]
        gg.compile(loss)(*on_device).backward()
        grads.append([t.grad.numpy() for t in leaves if t.requires_grad])
    for g_cpu, g_gpu in zip(*grads):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)


def scalar_loss(x, s):
    """A region reading a 0-d array (s) and a broadcast row (x[0]): CuPy broadcasts kernel arguments."""
    return ((x * s).tanh() * x[0] + s * s - (x - s).exp()).sum()


def tiny_chain(x):
    for i in range(30):
        x = (x - 1.0) if i % 3 == 0 else (x * 0.9).tanh() if i % 3 == 1 else x.sin().exp()
    return x.sum()


def reductions(x, w):
    """Chains ending in sums and means over all elements, over an axis, with and without keepdim: one
    ReductionKernel each, the chain its map."""
    rows = ((x * w).tanh() + 1.0).mean(1, keepdim=True)
    cols = (x.exp() * 0.5 - w).sum(0)
    return ((x - rows) ** 2).mean() + (cols * cols).sum() + (x * x).sum(1).sqrt().sum()


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("fn, shapes", [(loss, None), (scalar_loss, [(6, 5), ()]), (tiny_chain, [(16,)]),
                                        (reductions, [(7, 5), (5,)])])
def test_compile_fused_equals_fuse_false_on_the_device(cupy_device, fn, shapes, dtype, rtol):
    """Through the public API: gg.compile (fused kernels) against gg.compile(fuse=False), values and gradients,
    on the device; and both against the CPU (float64: 1e-10)."""
    rng = np.random.default_rng(3)
    arrays = _args(dtype) if shapes is None else [rng.standard_normal(s).astype(dtype) for s in shapes]
    results = {}
    for label, device, fuse in (("fused", "cuda", True), ("unfused", "cuda", False), ("cpu", "cpu", True)):
        leaves = [gg.tensor(a, device=device, requires_grad=a.dtype != bool) for a in arrays]
        compiled = gg.compile(fn, fuse=fuse)
        value = compiled(*leaves)
        value.backward()
        if label == "fused":
            source = compiled.source(*leaves, backend="cupy")
            assert "cp.ElementwiseKernel(" in source and ("cp.ReductionKernel(" in source or fn is not reductions)
        results[label] = [value.item()] + [t.grad.cpu().numpy() for t in leaves if t.requires_grad]
    for got, want, cpu in zip(results["fused"], results["unfused"], results["cpu"]):
        scale = np.abs(want).max()  # elements that cancel to near 0 are held to the gradient's scale
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 0.1 * scale)
        np.testing.assert_allclose(got, cpu, rtol=max(rtol, 1e-10), atol=max(rtol, 1e-10) * 0.1 * scale)


@pytest.mark.parametrize("reduce, dim, keepdim", [
    ("sum", None, False), ("mean", None, True), ("sum", (0,), False), ("mean", (1,), True), ("sum", (2,), True),
    ("mean", (0, 2), False), ("sum", (1, 2), True)])
def test_a_chain_ending_in_a_sum_or_mean_equals_the_unfused_module_over_any_axes(cupy_device, reduce, dim, keepdim):
    """The ReductionKernel's axes, keepdims and a mean's count, against fuse=False and the CPU (float64), values and
    gradients (the adjoint's reductions of broadcast gradients are fused too)."""
    def f(x, w):
        return getattr((x * w).tanh() * 2.0 - x, reduce)(dim=dim, keepdim=keepdim).exp().sum()

    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 5))]
    results = {}
    for label, device, fuse in (("fused", "cuda", True), ("unfused", "cuda", False), ("cpu", "cpu", True)):
        leaves = [gg.tensor(a, device=device, requires_grad=True) for a in arrays]
        compiled = gg.compile(f, fuse=fuse)
        value = compiled(*leaves)
        value.backward()
        if label == "fused":
            assert f"_{reduce} = cp.ReductionKernel(" in compiled.source(*leaves, backend="cupy")
        results[label] = [value.item()] + [t.grad.cpu().numpy() for t in leaves]
    for got, want, cpu in zip(results["fused"], results["unfused"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(got, cpu, rtol=1e-10)


def test_integer_labels_compared_inside_kernels_equal_the_unfused_module(cupy_device):
    """int64 operands in a kernel: compared with each other and with literals, cast, against fuse=False and the
    CPU (cross-entropy's one-hot, an ignore mask)."""
    import graphgrad.nn.functional as F

    def f(z, y):
        return F.cross_entropy(z, y) + ((y != 2).double() * z[:, 0] + (y >= 1).double() * z[:, 1] ** 2).sum()

    rng = np.random.default_rng(5)
    z_np, y_np = rng.standard_normal((6, 4)), np.array([0, 3, 2, 1, 2, 3])
    results = {}
    for label, device, fuse in (("fused", "cuda", True), ("unfused", "cuda", False), ("cpu", "cpu", True)):
        z = gg.tensor(z_np, device=device, requires_grad=True)
        y = gg.tensor(y_np, device=device)
        compiled = gg.compile(f, fuse=fuse)
        value = compiled(z, y)
        value.backward()
        if label == "fused":
            assert "'int64 " in compiled.source(z, y, backend="cupy")
        results[label] = [value.item(), z.grad.cpu().numpy()]
    for got, want, cpu in zip(results["fused"], results["unfused"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(got, cpu, rtol=1e-10)


def _random_program(seed: int):
    """A random float64 program over x (5x4), w (4,) and int64 labels y (5,): elementwise ops, casts, comparisons
    of labels with a range, ending in a sum or mean over all elements or an axis (fusion's regions and kernels)."""
    import random

    def program(x, w, y):
        rng = random.Random(seed)
        values = [x, w, x * 0.5]
        for _ in range(rng.randint(3, 8)):
            a, b = rng.choice(values), rng.choice(values)
            op = rng.randrange(12)
            r = [lambda: a.tanh(), lambda: (a * 0.1).exp(), lambda: a.sin(), lambda: -a + b, lambda: a.relu() * b,
                 lambda: a.sigmoid() - b, lambda: a.float().double() * a, lambda: gg.maximum(a, b),
                 lambda: gg.minimum(a, b) / 3.0, lambda: gg.where(a > b, a, b * 2),
                 lambda: (y.unsqueeze(1) == gg.arange(4)).double() * a if a.dim() == 2 else a * b,
                 lambda: a + (y >= 2).double().unsqueeze(1) if a.dim() == 2 else a - b][op]()
            values.append(r)
        out = values[-1] if values[-1].dim() == 2 else values[-1] * x
        return [out.sum(), out.mean(), (out.sum(0) ** 2).sum(), (out.mean(1, keepdim=True) * out).sum(),
                out.sum(1).tanh().sum()][seed % 5] + (w * 0.5).tanh().sum()  # (w has a gradient)
    return program


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_fused_equal_the_unfused_module_and_the_cpu(cupy_device, seed):
    rng = np.random.default_rng(seed)
    arrays = rng.standard_normal((5, 4)), rng.standard_normal(4), rng.integers(0, 4, 5)
    results = {}
    for label, device, fuse in (("fused", "cuda", True), ("unfused", "cuda", False), ("cpu", "cpu", True)):
        x, w = (gg.tensor(a, device=device, requires_grad=True) for a in arrays[:2])
        compiled = gg.compile(_random_program(seed), fuse=fuse)
        value = compiled(x, w, gg.tensor(arrays[2], device=device))
        value.backward()
        results[label] = [value.item(), x.grad.cpu().numpy(), w.grad.cpu().numpy()]
    for got, want, cpu in zip(results["fused"], results["unfused"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got, cpu, rtol=1e-10, atol=1e-12)


def named_like_functions(x):
    exp = x.exp()
    tanh = (exp * 2 + 1).tanh()
    tanh_ = tanh * exp
    return (tanh_.sin() * 3 + tanh).sum()


def _assert_device_gradient_equals_the_cpu(fn):
    grads = []
    for device in ("cpu", "cuda"):
        x = gg.tensor(np.linspace(-1, 1, 7), device=device, requires_grad=True)
        gg.compile(fn)(x).backward()
        grads.append(x.grad.cpu().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


def test_values_named_like_c_functions_compile_and_run(cupy_device):
    """A value named ``tanh`` inside a kernel would hide CUDA's tanh: graphgrad renames it (codegen/cuda.py)."""
    _assert_device_gradient_equals_the_cpu(named_like_functions)


def named_like_a_kernel(x):
    fused_mul_sum = x * 3.0  # the name the sum's kernel below would take
    return (fused_mul_sum.tanh() * fused_mul_sum).sum()


def test_a_value_named_like_a_kernel_keeps_its_name_and_the_kernel_takes_another(cupy_device):
    """Kernels are module-level names: one that a value has would be the function's local array instead."""
    x = gg.tensor(np.linspace(-1, 1, 7), requires_grad=True)
    src = gg.compile(named_like_a_kernel).source(x, backend="cupy")
    assert "fused_mul_sum_2 = cp.ReductionKernel(" in src and "= fused_mul_sum_2(" in src
    _assert_device_gradient_equals_the_cpu(named_like_a_kernel)
