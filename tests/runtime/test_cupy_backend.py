"""The CuPy backend for real: eager tensors on ``"cuda"``, compiled CuPy modules (fused and unfused), nn and optim
on the device. Each test runs on a GPU (``[gpu]``, marked ``gpu``; skips without one) and on the fake CuPy
(``[fake]``: tests/fake_cupy.py, NumPy behind CuPy's interface and refusals, kernels compiled for the host).
Gradients on the device equal the CPU's to 1e-10 (float64); tests/codegen checks the generated CuPy source."""
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from fake_cupy import gpu_available


def test_cuda_without_gpu_is_a_clear_error():
    if gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"needs CuPy and an NVIDIA GPU.*pip install 'graphgrad\[cuda\]'"):
        gg.ones(2).to("cuda")


def test_cuda_is_available_and_describes_the_device(cupy_device):
    assert gg.cuda.is_available() and gg.cuda.device_count() >= 1 and gg.cuda.current_device() == 0
    assert isinstance(gg.cuda.get_device_name(), str) and gg.cuda.get_device_name()
    assert gg.accelerator.current_accelerator() == gg.device("cuda")
    gg.cuda.synchronize()
    gg.cuda.empty_cache()


# -- a spread of ops: gradients on the device equal the CPU's (float64, 1e-10), eager and compiled -----------------
def _elementwise(x, y):
    return ((x.exp() * y.tanh() + (x * x + 1).log() - x.sigmoid() / (y.abs() + 1)) + gg.where(x > y, x, y) ** 2
            + x.relu().sqrt() * 0.5 + gg.maximum(x, y) - gg.minimum(x, y).clamp(-0.5, 0.5) + x.erf()
            + F.gelu(y) + (x - y).pow(3) / 7 + x.sin() * y.cos()).sum()


def _reductions(x):
    return (x.softmax(1).pow(2).sum() + x.log_softmax(0).mean() + x.logsumexp(1).sum() + x.max(1).values.sum()
            + x.min(0).values.pow(2).sum() + x.var(0).sum() + x.std(1).sum() + x.cumsum(1).mean()
            + x.norm() + x.mean((0, 1)) + x.prod(1).sum())


def _linear_algebra(a, b, c, m):
    return (((a @ b).tanh() @ c).sum() + gg.einsum("ij,jk->ik", a, b).pow(2).mean()
            + (a.unsqueeze(0).expand(3, 4, 6) @ b).sum() + m.inverse().sum() + F.linear(a, c.t().repeat(1, 2)).sum())


def _least_squares(a, b, q):
    # q: orthonormal columns (repeated singular values), where pinv's gradient is its own primitive's
    return (gg.linalg.lstsq(a, b).solution.pow(2).sum() + gg.linalg.lstsq(a, b, driver="gels").residuals.sum()
            + gg.linalg.pinv(gg.linalg.qr(q).Q * 2).tanh().sum())


def _bags(w, idx, offsets, fixed):
    return (F.embedding_bag(idx, w, offsets, mode="sum").pow(2).sum()
            + F.embedding_bag(idx, w, offsets, mode="max", padding_idx=1).sum()
            + F.embedding_bag(fixed, w, mode="mean").tanh().sum()
            + F.embedding_bag(idx, w, offsets, mode="mean", scale_grad_by_freq=True, include_last_offset=True).sum())


def _shapes(x, y):
    both = gg.cat([x, y], 0)
    return (both.permute(1, 0).reshape(-1)[::2].sum() + gg.stack([x, y]).flip(0)[0, 1:, :2].pow(2).sum()
            + F.pad(x, (1, 2)).exp().mean() + x.t().reshape(-1).cumsum(0).sum()
            + both.unsqueeze(1).expand(8, 3, 5).tanh().sum() + x.transpose(0, 1)[1].pow(2).sum()
            + gg.chunk(both, 2, 1)[1].sum() * 2)


def _indexing(x, rows, index):
    return (x[rows].pow(2).sum() + x.gather(1, index).sin().sum() + x.index_select(0, rows).tanh().sum()
            + x[1:, ::2].exp().sum() + gg.where(x > 0, x, 0.0).sum() + F.embedding(rows, x).pow(2).mean())


def _convolution(x, w, b):
    return (F.conv2d(x, w, b, padding=1).tanh().sum() + F.conv2d(x, w, stride=2, dilation=2, padding=2).pow(2).mean()
            + F.conv2d(x, w[:, :, :2, :], b, stride=(1, 2)).sigmoid().sum())


def _pooling(x):
    return (F.max_pool2d(x, 2).sum() + F.max_pool2d(x, 3, stride=2, padding=1).pow(2).sum()
            + F.avg_pool2d(x, 2).exp().sum() + F.adaptive_avg_pool2d(x, 2).pow(2).sum())


def _nn(x, w, g, labels):
    h = F.layer_norm(x @ w, (4,), g, g * 0.5)
    return (F.cross_entropy(h, labels) + F.mse_loss(h.tanh(), x[:, :4]) + F.binary_cross_entropy_with_logits(
        h, x[:, :4].sigmoid()) + F.log_softmax(h, 1).mean() + F.smooth_l1_loss(h, x[:, 1:5]))


def _lenet(x, c1, c2, f1, labels):
    h = F.max_pool2d(F.conv2d(x, c1).relu(), 2)
    h = F.max_pool2d(F.conv2d(h, c2, padding=1).relu(), 2)
    return F.cross_entropy(F.linear(h.reshape(h.shape[0], -1), f1), labels)


def _rng_arrays(shapes):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s) for s in shapes]


CASES = {
    "elementwise": (_elementwise, [(4, 5), (4, 5)], []),
    "reductions": (_reductions, [(4, 5)], []),
    "linear_algebra": (_linear_algebra, [(4, 6), (6, 3), (3, 2), (3, 3)], []),
    "least_squares": (_least_squares, [(5, 3), (5, 2), (4, 3)], []),
    "embedding_bag": (_bags, [(6, 4)], [np.array([0, 2, 2, 5, 1, 3, 3]), np.array([0, 3, 3, 6]),
                                        np.array([[1, 2], [5, 0]])]),
    "shapes": (_shapes, [(4, 5), (4, 5)], []),
    "indexing": (_indexing, [(5, 4)], [np.array([0, 2, 2, 4]), np.array([[0, 3], [1, 1], [2, 0], [3, 2], [0, 0]])]),
    "conv2d_unfold2d": (_convolution, [(2, 3, 7, 7), (4, 3, 3, 3), (4,)], []),
    "max_pool2d": (_pooling, [(2, 3, 8, 8)], []),
    "nn": (_nn, [(6, 5), (5, 4), (4,)], [np.array([0, 3, 1, 2, 3, 0])]),
    "lenet": (_lenet, [(4, 1, 12, 12), (3, 1, 3, 3), (5, 3, 3, 3), (10, 20)], [np.array([1, 0, 9, 4])]),
}
MODES = ("eager", "compiled", "compiled unfused")


def _run(name: str, device: str, mode: str, dtype=np.float64):
    fn, shapes, ints = CASES[name]
    leaves = [gg.tensor(a.astype(dtype), device=device, requires_grad=True) for a in _rng_arrays(shapes)]
    others = [gg.tensor(i, device=device) for i in ints]
    f = fn if mode == "eager" else gg.compile(fn, fuse=mode == "compiled")
    loss = f(*leaves, *others)
    loss.backward()
    assert loss.is_cuda == (device == "cuda")
    for t in leaves:  # gradients live where their leaf does
        assert t.grad.is_cuda == (device == "cuda"), (name, mode)
    return loss.item(), [t.grad.cpu().numpy() for t in leaves]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(CASES))
def test_gradients_on_the_device_equal_the_cpu(cupy_device, name, mode):
    want_value, want = _run(name, "cpu", "eager")
    value, got = _run(name, "cuda", mode)
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    assert any(np.abs(g).max() > 1e-3 for g in want)  # the comparison compares something
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"{name}, {mode}, gradient {i}")


def _scatters(device: str):
    rng = np.random.default_rng(2)
    x = gg.tensor(rng.standard_normal((4, 5)), device=device, requires_grad=True)
    src = gg.tensor(rng.standard_normal((4, 2)), device=device, requires_grad=True)
    index = gg.tensor(np.array([[0, 4], [1, 1], [3, 2], [0, 0]]), device=device)
    rows = gg.tensor(np.array([2, 0, 2]), device=device)
    out = x.scatter(1, index, src).tanh().sum() + x.scatter_add(1, index, src).pow(2).sum()
    out = out + x.clone().index_add_(0, rows, src[:3].repeat(1, 3)[:, :5] * 2).exp().sum()
    out = out + x.sort(1).values[:, 0].sum() + x.topk(2, 1).values.pow(2).sum()
    out.backward()
    return out.item(), x.grad.cpu().numpy(), src.grad.cpu().numpy()


def test_scatter_index_add_sort_on_the_device_equal_the_cpu(cupy_device):
    for got, want in zip(_scatters("cuda"), _scatters("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_float32_on_the_device_equals_the_cpu(cupy_device, mode):
    """float32 stays float32 on the device (fused kernels compute in ``float``; erf's float64 kernel gets a cast
    input: CuPy refuses an array whose dtype is not the parameter's)."""
    for name in ("elementwise", "lenet"):
        want_value, want = _run(name, "cpu", "eager", np.float32)
        value, got = _run(name, "cuda", mode, np.float32)
        np.testing.assert_allclose(value, want_value, rtol=1e-5)
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == np.float32
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"{name}, {mode}, gradient {i}")


def test_compiled_cupy_module_runs_and_is_the_readable_one(cupy_device):
    def loss(w, x):
        return ((x @ w).tanh() ** 2).mean()

    rng = np.random.default_rng(0)
    w = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    x = gg.tensor(rng.standard_normal((8, 4)))
    wc, xc = w.detach().to("cuda").requires_grad_(), x.to("cuda")
    f = gg.compile(loss)
    f(w, x).backward()
    f(wc, xc).backward()
    source = f.source(wc, xc, backend="cupy")
    assert "import cupy as cp" in source and "cp.ElementwiseKernel(" in source and "np." not in source
    assert wc.grad.is_cuda and f.cache_info().specializations == 2  # a specialization per device
    np.testing.assert_allclose(wc.grad.cpu().numpy(), w.grad.numpy(), rtol=1e-10)


def test_eager_on_gpu_matches_cpu(cupy_device):
    x = gg.tensor(np.arange(6.0).reshape(2, 3), dtype=gg.float64, requires_grad=True)
    xc = x.detach().to("cuda").requires_grad_()
    ((x.exp() @ x.T).softmax(1).sum()).backward()
    ((xc.exp() @ xc.T).softmax(1).sum()).backward()
    assert xc.grad.device == "cuda:0"
    np.testing.assert_allclose(xc.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-12)


def test_moving_between_devices_is_differentiable(cupy_device):
    x = gg.tensor(np.linspace(-1, 1, 6), requires_grad=True)  # a CPU leaf
    y = x.cuda()
    assert y.is_cuda and y.device == gg.device("cuda", 0) and y.grad_fn.name() == "ToCopyBackward0"
    (y.tanh().cpu() * 2).sum().backward()
    assert not x.grad.is_cuda  # the gradient comes back to the leaf's device
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh(np.linspace(-1, 1, 6)) ** 2), rtol=1e-12)
    z = gg.zeros(2, 3, device="cuda")
    assert z.is_cuda and z.to(x).device == x.device and not z.cpu().is_cuda
    assert gg.randn(3, device="cuda").is_cuda and gg.arange(4, device="cuda").is_cuda
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        z.numpy()


def test_mixing_devices_raises_pytorchs_error(cupy_device):
    text = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    a, b = gg.ones(3, device="cuda"), gg.ones(3)
    for op in (lambda: a + b, lambda: b * a, lambda: a @ b, lambda: gg.cat([a, b]), lambda: gg.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match=f"^{re.escape(text)}$"):
            op()


MODULES = {
    "LSTM": (lambda: gg.nn.LSTM(3, 4, num_layers=2, batch_first=True), (2, 5, 3), lambda out: out[0].sum()),
    "MultiheadAttention": (lambda: gg.nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8),
                           lambda out: out[0].sum()),
    "LSTMCell": (lambda: gg.nn.LSTMCell(3, 4), (2, 3), lambda out: out[0].sum() + out[1].pow(2).sum()),
    "TransformerEncoderLayer": (lambda: gg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                                     batch_first=True), (2, 5, 8),
                                lambda out: out.pow(2).sum()),
    "conv BatchNorm2d": (lambda: gg.nn.Sequential(gg.nn.Conv2d(2, 3, 3), gg.nn.BatchNorm2d(3), gg.nn.SiLU(),
                                                   gg.nn.AdaptiveAvgPool2d(1), gg.nn.Flatten(), gg.nn.Linear(3, 2)),
                         (4, 2, 6, 6), lambda out: out.pow(2).sum()),
}


def _module_step(name: str, device: str, compiled: bool):
    make, shape, reduce = MODULES[name]
    gg.manual_seed(0)
    model = make().double().to(device)
    x = gg.tensor(np.random.default_rng(0).standard_normal(shape), device=device)
    run = gg.compile(model) if compiled else model
    loss = reduce(run(x) if name != "MultiheadAttention" else run(x, x, x))
    loss.backward()
    return [loss.item()] + [p.grad.cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(MODULES))
def test_modules_on_the_device_equal_the_cpu(cupy_device, name, compiled):
    """Modules whose compiled form returns several outputs (an LSTM's (out, (h, c))): the backward of one gets
    zeros for the others, which must be device arrays too."""
    for got, want in zip(_module_step(name, "cuda", compiled), _module_step(name, "cpu", compiled)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_dropout_on_the_device_draws_the_cpus_mask(cupy_device, compiled):
    """Masks are drawn on the host from the one generator, then used on the input's device: with the same
    seed, dropout on the GPU equals dropout on the CPU."""
    def f(x):
        return (F.dropout(x, 0.4) * x).sum()

    results = []
    for device in ("cpu", "cuda"):
        gg.manual_seed(5)
        x = gg.tensor(np.linspace(-1, 1, 40).reshape(4, 10), device=device, requires_grad=True)
        out = (gg.compile(f) if compiled else f)(x)
        out.backward()
        results.append((out.item(), x.grad.cpu().numpy()))
    assert 0 < (results[0][1] == 0).sum() < 40  # some, not all, dropped
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12)


def _address(t) -> int:
    """Where ``t``'s elements live (device or host address): equal before and after an in-place update."""
    return t._data.data.ptr if t.is_cuda else t._data.__array_interface__["data"][0]


OPTIMIZERS = {
    "SGD": lambda ps: gg.optim.SGD(ps, lr=0.1),
    "SGD momentum nesterov": lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda ps: gg.optim.Adam(ps, lr=0.01),
    "AdamW amsgrad": lambda ps: gg.optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "RMSprop": lambda ps: gg.optim.RMSprop(ps, lr=0.01, momentum=0.5),
    "Adagrad": lambda ps: gg.optim.Adagrad(ps, lr=0.1),
}


def _train(device: str, make_optimizer, steps: int = 3):
    gg.manual_seed(0)
    model = gg.nn.Sequential(gg.nn.Conv2d(2, 3, 3, padding=1), gg.nn.ReLU(), gg.nn.MaxPool2d(2), gg.nn.Flatten(),
                             gg.nn.Linear(12, 4), gg.nn.Tanh(), gg.nn.Linear(4, 3)).double()
    params = list(model.parameters())
    opt = make_optimizer(model.parameters())  # made before the move, as PyTorch code often does
    assert model.to(device) is model and all(p is q for p, q in zip(model.parameters(), params))
    rng = np.random.default_rng(1)
    x = gg.tensor(rng.standard_normal((5, 2, 4, 4)), device=device)
    y = gg.tensor(np.array([0, 2, 1, 1, 0]), device=device)
    addresses = [_address(p) for p in params]
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    for p, address in zip(model.parameters(), addresses):
        assert p.is_cuda == (device == "cuda") and p.grad.is_cuda == (device == "cuda")
        assert _address(p) == address, "the optimizer replaced a parameter's storage instead of updating it in place"
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, gg.Tensor) and value.numel() > 1:
                assert value.is_cuda == (device == "cuda")
    return loss.item(), [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_model_to_cuda_and_optimizers_update_in_place_on_the_device(cupy_device, optimizer):
    want_loss, want = _train("cpu", OPTIMIZERS[optimizer])
    loss, got = _train("cuda", OPTIMIZERS[optimizer])
    np.testing.assert_allclose(loss, want_loss, rtol=1e-10)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_updates_each_parameter_on_the_device_with_one_kernel(cupy_device, dtype, monkeypatch):
    import sys

    rng = np.random.default_rng(0)
    p_np, g_np = rng.standard_normal((300, 7)).astype(dtype), rng.standard_normal((300, 7)).astype(dtype)
    p = gg.tensor(p_np, device="cuda", requires_grad=True)
    p.grad = gg.tensor(g_np, device="cuda")
    address = _address(p)
    cupy = sys.modules["cupy"]
    for name in ("add", "multiply"):  # the update is one p += alpha * g kernel, not a product then a sum
        monkeypatch.setattr(cupy, name, lambda *a, **k: pytest.fail("the update made a temporary"))
    gg.optim.SGD([p], lr=0.25).step()
    monkeypatch.undo()
    assert _address(p) == address
    tol = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(p.detach().cpu().numpy(), p_np - np.asarray(0.25, dtype) * g_np, rtol=tol, atol=tol)
    # a parameter of another dtype than float32/float64 takes the general path, and is still right
    q = gg.tensor(np.arange(6, dtype=np.int64), device="cuda")
    q.add_(gg.tensor(np.ones(6, dtype=np.int64), device="cuda"), alpha=3)
    np.testing.assert_array_equal(q.cpu().numpy(), np.arange(6) + 3)


def test_a_compiled_backward_s_own_gradients_become_grad_without_a_copy_on_the_device(cupy_device):
    """The generated backward's fresh gradient arrays are kept as ``.grad`` on the GPU as on the CPU (a copy
    each was a launch per parameter); one that is not its own (the cotangent itself, a view) is still copied."""
    @gg.compile
    def f(w, b, s):
        return (w * w).sum() + (b.exp() * 2).sum() + s

    rng = np.random.default_rng(0)
    w = gg.tensor(rng.standard_normal((4, 3)), device="cuda", requires_grad=True)
    b = gg.tensor(rng.standard_normal(3), device="cuda", requires_grad=True)
    s = gg.tensor(0.5, device="cuda", requires_grad=True)  # its gradient is the output's cotangent itself
    out = f(w, b, s)
    module = out.grad_fn._module
    returned = []

    class Recording:  # the module, with its backward's results recorded
        def __getattr__(self, name):
            return getattr(module, name)

        @staticmethod
        def backward(*args):
            grads = module.backward(*args)
            returned.extend(a.data.ptr for a in grads)
            return grads

    out.grad_fn._module = Recording()
    out.backward()
    assert _address(w) != _address(w.grad) and _address(w.grad) in returned and _address(b.grad) in returned
    one = s.grad.item()
    f(w, b, s).backward()  # accumulates into the kept arrays; s's gradient was copied, not the shared 1
    np.testing.assert_allclose(w.grad.cpu().numpy(), 4 * w.detach().cpu().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.cpu().numpy(), 4 * np.exp(b.detach().cpu().numpy()), rtol=1e-12)
    assert one == 1.0 and s.grad.item() == 2.0
    f(w, b, s).backward()
    assert s.grad.item() == 3.0


def test_control_flow_on_gpu_matches_cpu(cupy_device):
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


def test_a_0d_cpu_tensor_joins_a_cuda_op_and_gets_its_gradient_on_the_cpu(cupy_device):
    """PyTorch lets a 0-d CPU tensor (a scalar, often a loss weight or a learning rate) take part in an op on CUDA
    tensors; the result is on CUDA and the scalar's gradient comes back to the CPU."""
    x = gg.tensor([1.0, -2.0, 3.0], dtype=gg.float64, device="cuda", requires_grad=True)
    s = gg.tensor(0.5, dtype=gg.float64, requires_grad=True)  # on the CPU
    for y in (x * s, s * x, x + s, gg.where(x > 0, x, s)):
        assert y.is_cuda
    ((x * s).sin().sum() + (s - x).sum()).backward()
    assert not s.grad.is_cuda and x.grad.is_cuda
    xs = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(s.grad.numpy(), np.sum(np.cos(xs * 0.5) * xs) + 3.0, rtol=1e-12)
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.cos(xs * 0.5) * 0.5 - 1.0, rtol=1e-12)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        x * gg.ones(3, dtype=gg.float64)  # a CPU tensor with elements is still refused


def test_in_place_ops_on_the_device_refuse_an_expanded_view_and_write_a_plain_one(cupy_device):
    # CuPy's arrays have no writeable flag: in-place ops on the device read overlap off the strides
    base = gg.zeros(3, device="cuda")
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
        base.unsqueeze(0).expand(2, 3).add_(1.0)
    np.testing.assert_array_equal(base.cpu().numpy(), np.zeros(3))
    row = gg.zeros(2, 3, device="cuda")[1]
    row.add_(gg.tensor([1.0, 2.0, 3.0], device="cuda"))
    np.testing.assert_array_equal(row.cpu().numpy(), [1.0, 2.0, 3.0])
    row.copy_(gg.tensor([4.0, 5.0, 6.0], device="cuda"))  # where(True, src, self): CuPy's where wants an array
    np.testing.assert_array_equal(row.cpu().numpy(), [4.0, 5.0, 6.0])


def test_in_place_forms_with_history_on_the_device_keep_what_their_gradients_saved(cupy_device):
    # the overwritten value and tensors sharing its memory (cumprod_'s slices, mvlgamma_'s alias) are copied before
    # the write, found on the device as on the host (CuPy's may_share_memory)
    xs = np.linspace(0.5, 1.5, 6).reshape(2, 3)
    for update in (lambda y: y.sin_(), lambda y: y.cumprod_(1), lambda y: y.mvlgamma_(1), lambda y: y.mul_(y * 1)):
        grads = []
        for device in ("cpu", "cuda"):
            x = gg.tensor(xs, requires_grad=True, device=device)
            y = x * 1.0
            update(y)
            (y * y).sum().backward()
            grads.append(x.grad.cpu().numpy())
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
