"""PyTorch's process-wide settings (torch.set_num_threads, set_float32_matmul_precision,
use_deterministic_algorithms, seed): what each does here, and PyTorch 2.13's argument errors and warnings."""
import numpy as np
import pytest

import graphgrad as torch
from graphgrad.runtime import blas, settings


@pytest.fixture(autouse=True)
def _restore():
    saved, threads = dict(settings._state), blas.num_threads()
    yield
    settings._state.update(saved)
    if threads is not None:
        blas.set_num_threads(threads)


def test_set_num_threads_sets_numpys_blas_threads():
    if blas.num_threads() is None:
        pytest.skip("NumPy's OpenBLAS was not found: the number is only recorded")
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1 and blas.num_threads() == 1
    torch.set_num_threads(np.int64(2))
    assert torch.get_num_threads() == 2 and blas.num_threads() == 2
    a = np.random.default_rng(0).standard_normal((64, 64))
    np.testing.assert_allclose(torch.tensor(a) @ torch.tensor(a), a @ a, rtol=1e-12)


def test_get_num_threads_starts_at_blas_count():
    settings._state["threads"] = None
    assert torch.get_num_threads() == (blas.num_threads() or __import__("os").cpu_count())


@pytest.mark.parametrize("value,message", [(0, "set_num_threads expects a positive integer"),
                                           (-1, "set_num_threads expects a positive integer"),
                                           (2.0, "set_num_threads expects an int, but got float"),
                                           (True, "set_num_threads expects an int, but got bool"),
                                           ("2", "set_num_threads expects an int, but got str")])
def test_set_num_threads_errors(value, message):
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError) as info:
        torch.set_num_threads(value)
    assert str(info.value) == message
    assert torch.get_num_threads() == before


def test_float32_matmul_precision():
    assert torch.get_float32_matmul_precision() == "highest"
    for precision in ("high", "medium", "highest"):
        torch.set_float32_matmul_precision(precision)
        assert torch.get_float32_matmul_precision() == precision
    torch.set_float32_matmul_precision("medium")
    with pytest.warns(UserWarning) as record:
        torch.set_float32_matmul_precision("low")
    assert str(record[0].message) == ("low is not one of 'highest', 'high', or 'medium'; the "
                                      "currentsetFloat32MatmulPrecision call has no effect.")
    assert torch.get_float32_matmul_precision() == "medium"
    with pytest.raises(RuntimeError, match="^set_float32_matmul_precision expects a str, but got int$"):
        torch.set_float32_matmul_precision(1)
    # float32 products stay float32 products whatever the setting
    a = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    np.testing.assert_array_equal((torch.tensor(a) @ torch.tensor(a)).numpy(), a @ a)


def test_deterministic_algorithms_flags():
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.parametrize("args,kwargs,message", [
    ((1,), {}, "_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not int"),
    (("x",), {}, "_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not str"),
    ((True,), {"warn_only": 1}, "_set_deterministic_algorithms(): argument 'warn_only' must be bool, not int"),
])
def test_use_deterministic_algorithms_errors(args, kwargs, message):
    with pytest.raises(TypeError) as info:
        torch.use_deterministic_algorithms(*args, **kwargs)
    assert str(info.value) == message
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'mode'"):
        torch.use_deterministic_algorithms()


def test_seed_is_fresh_and_reproducible():
    first = torch.seed()
    assert isinstance(first, int) and 0 <= first < 2 ** 64 and torch.initial_seed() == first
    drawn = torch.randn(4)
    second = torch.seed()
    assert second != first and torch.initial_seed() == second
    torch.manual_seed(first)
    np.testing.assert_array_equal(torch.randn(4).numpy(), drawn.numpy())
