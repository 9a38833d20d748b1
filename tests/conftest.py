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


def _tensors(args):
    import graphgrad as gg

    return [gg.tensor(a, requires_grad=True) for a in args]


def _check_gradients(f, args, second_order=True):
    """f: scalar function of float64 arrays. Eager and compiled (``.backward()``, ``gg.grad``, ``gg.grad`` of a
    function of ``gg.grad``) against finite differences, first and second order, and against each other."""
    import graphgrad as gg
    from graphgrad.utils.gradcheck import gradcheck, gradgradcheck, numerical_jacobian

    args = [np.asarray(a, dtype=np.float64) for a in args]
    n = len(args)
    assert gradcheck(f, _tensors(args))
    if second_order:
        assert gradgradcheck(f, _tensors(args))
    compiled = gg.compile(f)
    eager_value = f(*_tensors(args))
    assert np.allclose(compiled(*_tensors(args)).detach().numpy(), eager_value.detach().numpy())
    assert gradcheck(compiled, _tensors(args))  # the generated backward, through .backward()
    grads = gg.grad(f, argnums=tuple(range(n)))(*args)
    numeric = numerical_jacobian(lambda *a: compiled(*a), args)
    for g, num, a in zip(grads, numeric, args):
        assert np.allclose(g, num.reshape(a.shape), atol=1e-5, rtol=1e-4)
    if second_order:  # grad of a function of the gradient: the adjoint of the adjoint
        u = [np.random.default_rng(7).standard_normal(a.shape) for a in args]

        def gdot(*a):
            gs = gg.grad(f, argnums=tuple(range(n)))(*a)
            total = (gs[0] * u[0]).sum()
            for g, ui in zip(gs[1:], u[1:]):
                total = total + (g * ui).sum()
            return total

        hess = gg.grad(gdot, argnums=tuple(range(n)))(*args)
        numeric = numerical_jacobian(lambda *a: gdot(*a), args)
        for h, num, a in zip(hess, numeric, args):
            assert np.allclose(h, num.reshape(a.shape), atol=1e-5, rtol=1e-4)
    return compiled


@pytest.fixture
def check_gradients():
    return _check_gradients


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
    if fake_cupy.real_cupy() is None:
        pytest.skip("the fake CuPy copies real CuPy's namespace: needs CuPy importable (pip install "
                    "'graphgrad[cuda]'; no GPU needed)")
    if fake_cupy.CXX is None:
        pytest.skip("the fake CuPy compiles kernels with a C++ compiler, and none is installed")
    with fake_cupy.installed():
        yield "fake"
