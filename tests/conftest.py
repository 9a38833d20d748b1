import os
import tempfile

import numpy as np
import pytest

# generated modules go to a per-session cache, never the user's home
os.environ.setdefault("GRAPHGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="graphgrad-test-cache-"))
# generated code asserts every value's shape and dtype against its IR type: a compiled result whose array
# type differs from what the IR (and eager) says fails the test that produced it
os.environ.setdefault("GRAPHGRAD_CHECK_TYPES", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def numpy_memory():
    """benchmarks/numpy_memory.py: the bytes of NumPy array data a step holds at once, as PyTorch's profiler
    counts tensors (``numpy_memory.peak_array_bytes(step)``)."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    try:
        import numpy_memory
    finally:
        sys.path.pop(0)
    return numpy_memory


@pytest.fixture
def check_gradients():
    """f, args -> compiled f, after the eager and compiled gradient checks of tests/_gradcheck.py."""
    from _gradcheck import check_gradients

    return check_gradients


# -- the CuPy backend: on a GPU, and on the fake CuPy (tests/fake_cupy.py) -------------------------------------------
@pytest.fixture(params=[pytest.param("gpu", marks=pytest.mark.gpu), "fake"])
def cupy_device(request):
    """A CuPy test runs twice: ``gpu`` on a real GPU (marked ``gpu``: ``benchmarks/gpu_check.py`` runs these with
    ``-m gpu`` and fails on a skip) and ``fake`` on the fake CuPy (NumPy behind CuPy's interface and refusals,
    kernels compiled for the host), which runs wherever CuPy's namespace is importable and a C++ compiler is."""
    import fake_cupy

    if request.param == "gpu":
        if not fake_cupy.gpu_available():
            pytest.skip("needs CuPy and an NVIDIA GPU")
        yield "gpu"
        return
    # CI sets GRAPHGRAD_REQUIRE_FAKE_CUPY: there the CuPy tests must run, not skip
    missing = pytest.fail if os.environ.get("GRAPHGRAD_REQUIRE_FAKE_CUPY") else pytest.skip
    if fake_cupy.real_cupy() is None:
        missing("the fake CuPy copies real CuPy's namespace: needs CuPy importable (pip install "
                "'graphgrad[test]'; no GPU needed)")
    if fake_cupy.CXX is None:
        missing("the fake CuPy compiles kernels with a C++ compiler, and none is installed")
    with fake_cupy.installed():
        yield "fake"
