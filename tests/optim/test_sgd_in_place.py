"""The SGD update ``p.add_(g, alpha=-lr)`` writes into the parameter's own buffer, with the arithmetic of the general
in-place path (scaled gradient, then the sum), and bumps the version like any in-place op."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.runtime import blas
from graphgrad.runtime import tensor as tensor_module


def test_sgd_updates_the_parameter_buffer_in_place_with_the_same_result():
    rng = np.random.default_rng(0)
    start = rng.standard_normal((5, 4)).astype(np.float32)
    grad = rng.standard_normal((5, 4)).astype(np.float32)
    w = gg.tensor(start.copy(), requires_grad=True)
    w.grad = gg.tensor(grad)
    buffer = w.detach().numpy()
    version = w._version
    gg.optim.SGD([w], lr=0.3).step()
    assert np.shares_memory(w.detach().numpy(), buffer)
    assert w._version == version + 1
    # what the general path computes: -lr * g in float32 (a Python float is weak), then the sum
    np.testing.assert_array_equal(buffer, start + grad * np.float32(-0.3))
    assert buffer.dtype == np.float32


def test_add_with_alpha_records_autograd_where_it_must():
    a = gg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1.0  # not a leaf: may be updated in place under autograd
    c = gg.tensor([3.0, 4.0], requires_grad=True)
    b.add_(c, alpha=2.0)
    assert b.grad_fn is not None
    b.sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        a.add_(c, alpha=2.0)
    with gg.no_grad():
        a.add_(c, alpha=-1.0)  # a leaf updated under no_grad, as optimizers do
    np.testing.assert_array_equal(a.detach().numpy(), [-2.0, -2.0])


def test_add_with_alpha_on_a_view_keeps_the_base_in_step():
    base = gg.zeros(2, 3)
    view = base[0]
    with gg.no_grad():
        view.add_(gg.ones(3), alpha=0.5)
    np.testing.assert_array_equal(base.numpy(), [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])


def _step_peak(opt) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        opt.step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def pieces(monkeypatch):
    """The update as it is where NumPy's BLAS is not found: NumPy calls a piece at a time."""
    monkeypatch.setattr(tensor_module._blas, "axpy", lambda alpha, x, y: False)


def test_sgd_step_on_a_large_parameter_allocates_a_piece_not_the_parameter_s_size(pieces):
    w = gg.zeros(500, 500, requires_grad=True)  # 1 MB of float32
    w.grad = gg.ones(500, 500)
    peak = _step_peak(gg.optim.SGD([w], lr=0.1))
    # one scaled piece (tensor._UPDATE_PIECE_BYTES, 128 KiB), as PyTorch's update allocates no parameter-sized
    # temporary (a 256 KiB piece made the mlp benchmark's update its step's peak)
    assert peak < (128 << 10) + 8192
    np.testing.assert_allclose(w.detach().numpy(), -0.1)


@pytest.mark.parametrize("shape", [(70_001,), (300, 700), (3, 100, 1000)])
def test_a_piecewise_update_computes_bit_for_bit_what_the_whole_array_update_does(shape, pieces):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        start, grad = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
        w = gg.tensor(start.copy(), requires_grad=True)
        w.grad = gg.tensor(grad)
        gg.optim.SGD([w], lr=0.37).step()
        np.testing.assert_array_equal(w.detach().numpy(), start + grad * dtype(-0.37) if dtype is np.float32
                                      else start + grad * -0.37)


needs_blas = pytest.mark.skipif(not blas._libraries(), reason="this NumPy bundles no OpenBLAS (built against "
                                                               "another BLAS): the update takes NumPy's path")


@needs_blas
def test_numpy_s_bundled_blas_is_found():
    # a NumPy wheel that carries OpenBLAS must give the update its axpy, or the fallback hides a lost speed-up
    assert blas.available(np.float32) and blas.available(np.float64)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_update_by_axpy_allocates_nothing_and_rounds_as_a_fused_multiply_add(dtype):
    rng = np.random.default_rng(3)
    start, grad = (rng.standard_normal((600, 500)).astype(dtype) for _ in range(2))
    w = gg.tensor(start.copy(), requires_grad=True)
    w.grad = gg.tensor(grad)
    buffer = w.detach().numpy()
    blas.available(dtype)  # (loading the library allocates, once)
    assert _step_peak(gg.optim.SGD([w], lr=0.37)) < 4096  # 1.2 MB updated: a piece would be 128 KiB
    assert np.shares_memory(w.detach().numpy(), buffer)
    alpha = dtype(-0.37)
    two_roundings = start + grad * alpha
    # each rounding is off by at most half an epsilon of the sum's terms: one or two of them, never more
    bound = np.finfo(dtype).eps * (np.abs(start) + np.abs(grad * alpha))
    assert np.all(np.abs(buffer - two_roundings) <= bound)
    if dtype is np.float32:  # float64 holds the float32 product exactly: this is the once-rounded value
        fused = (start.astype(np.float64) + grad.astype(np.float64) * np.float64(alpha)).astype(np.float32)
        assert np.all((buffer == fused) | (buffer == two_roundings))


@needs_blas
def test_axpy_declines_what_blas_cannot_take_and_leaves_y_untouched():
    x = np.arange(6.0)
    frozen = np.zeros(6)
    frozen.flags.writeable = False
    overlapping = np.arange(7.0)
    for x_, y in ((x, np.zeros(6, np.float32)),  # another dtype
                  (x, np.zeros(5)),  # another size
                  (x, np.zeros(12)[::2]),  # not contiguous
                  (x, frozen),  # read-only
                  (np.zeros(6, np.int64), np.zeros(6, np.int64)),  # not a float
                  (overlapping[:6], overlapping[1:])):  # x and y overlap, shifted
        before = y.copy()
        assert not blas.axpy(2.0, x_, y)
        np.testing.assert_array_equal(y, before)
    same = np.arange(4.0)
    assert blas.axpy(2.0, same, same)  # y += 2 y, element by element
    np.testing.assert_array_equal(same, [0.0, 3.0, 6.0, 9.0])


def test_a_non_contiguous_gradient_takes_the_whole_array_path_with_the_same_result():
    rng = np.random.default_rng(2)
    start = rng.standard_normal((400, 300))
    grad = rng.standard_normal((300, 400))
    w = gg.tensor(start.copy(), requires_grad=True)
    w.grad = gg.tensor(grad).T  # a transposed view: not C-contiguous
    gg.optim.SGD([w], lr=0.5).step()
    np.testing.assert_array_equal(w.detach().numpy(), start + grad.T * -0.5)


def test_a_large_update_from_a_gradient_overlapping_the_parameter_is_the_whole_array_s():
    # p and g views of one array, shifted by one element: the 128 KiB pieces read g after writing p (off by 16,384)
    for dtype in (np.float32, np.float64):
        memory = np.arange(70_002, dtype=dtype)
        p, g = gg.from_numpy(memory[1:]), gg.from_numpy(memory[:-1])
        want = memory[1:] + memory[:-1] * dtype(-0.5)
        with gg.no_grad():
            p.add_(g, alpha=-0.5)
        np.testing.assert_array_equal(p.numpy(), want)
