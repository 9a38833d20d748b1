"""backend="numba": fused elementwise regions as @numba.njit loops (graphgrad/codegen/numba.py). The module's
values and gradients equal the NumPy module's to 1e-12 in float64 and finite differences'; its source has one
njit function per region (none with fuse=False); a missing Numba is said so. Each njit function costs a compile
of about 0.1-0.5 s at its first call: the functions here are few and small."""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import numerical_jacobian

pytest.importorskip("numba")  # (in the test extra: CI runs these)


def chain(x):
    return ((x.tanh() * 2.0 + 1.0).exp() - x * x).sum()


def broadcasting(x, b):  # b: a row, broadcast inside the region
    return (gg.sigmoid(x) * 0 + (x - b).tanh() * (x + b)).sum()


def mlp(x, w1, w2):  # regions between the matmuls
    h = F.softplus(x @ w1) * 0.5 + (x @ w1).tanh()
    return ((h @ w2).tanh() ** 2).mean()


def where(x, y):
    return gg.where(x > 0, (x * y).exp(), (y - x).tanh() * 3.0).sum()


def integers(x):  # an int64 operand inside a region, a bool intermediate outside
    k = gg.arange(x.shape[-1])
    positive = (x > 0.1)
    return ((x * k + 1.0).tanh() * positive + x.sum(dim=0, keepdim=True).exp() * 0.1).sum()


def scalar_operand(x, s):  # s: a 0-d tensor, broadcast to the region's shape
    return ((x * s).sin() + s * 2.0 - x.cos()).sum()


RNG = np.random.default_rng(0)
CASES = [
    (chain, [(5, 4)]),
    (broadcasting, [(3, 4), (4,)]),
    (mlp, [(3, 4), (4, 5), (5, 2)]),
    (where, [(2, 3), (2, 3)]),
    (integers, [(3, 4)]),
    (scalar_operand, [(4, 3), ()]),
]


def _run(fn, arrays, backend):
    ts = [gg.tensor(a, dtype=gg.float64, requires_grad=True) for a in arrays]
    f = gg.compile(fn, backend=backend)
    y = f(*ts)
    y.backward()
    return f, ts, y.item(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("fn,shapes", CASES, ids=[c[0].__name__ for c in CASES])
def test_numba_equals_numpy_and_finite_differences(fn, shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    f, ts, value, grads = _run(fn, arrays, "numba")
    _, _, expected, expected_grads = _run(fn, arrays, "numpy")
    assert abs(value - expected) <= 1e-12 * max(1.0, abs(expected))
    for k, (g, e) in enumerate(zip(grads, expected_grads)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=f"gradient of input {k}")
    numeric = numerical_jacobian(lambda *a: np.asarray(f(*[gg.tensor(x, dtype=gg.float64) for x in a]).item()),
                                 arrays)
    for k, (g, n) in enumerate(zip(grads, numeric)):
        np.testing.assert_allclose(g.ravel(), n.ravel(), rtol=1e-5, atol=1e-6, err_msg=f"finite differences {k}")
    source = f.source(*ts, backend="numba")
    loops = re.findall(r"@numba\.njit\(cache=False\)\ndef (\w+)\(", source)
    calls = [name for name in loops if re.search(rf" = {name}\(", source)]
    assert loops and calls == loops, source  # every region a loop, each called once
    assert len(loops) == len(set(loops))


def test_source_is_readable_and_imports_numpy_and_numba_only():
    x = gg.ones(5, 4, dtype=gg.float64, requires_grad=True)
    source = gg.compile(chain).source(x, backend="numba")
    imports = re.findall(r"^(?:import|from) .*$", source, re.M)
    assert imports == ["import numpy as np", "import numba"], imports
    assert "# Imports only numpy and numba;" in source
    # one local per op, named as the IR value, with the source line the NumPy module writes
    loop = source.split("@numba.njit(cache=False)\n")[1].split("\n\n\n")[0]
    assert "    for i in np.ndindex(out.shape):\n" in loop
    assert re.search(r"\n        t\d+ = np\.multiply\(t\d+\[i\], 2\.0\)  # test_numba_backend\.py:\d+: "
                     r"return \(\(x\.tanh\(\) \* 2\.0 \+ 1\.0\)\.exp\(\)", loop), loop
    assert re.search(r"\n        t\d+ = np\.exp\(t\d+\)  # test_numba_backend\.py:\d+\n        out\[i\] = t\d+\n    return out$",
                     loop), loop


def test_broadcast_operands_and_fuse_false():
    x, b = gg.ones(3, 4, dtype=gg.float64), gg.ones(4, dtype=gg.float64)
    source = gg.compile(broadcasting).source(x, b, backend="numba")
    assert "np.broadcast_to(b, (3, 4))" in source
    unfused = gg.compile(broadcasting, fuse=False).source(x, b, backend="numba")
    assert "numba.njit" not in unfused and "fused_" not in unfused
    # without regions it is the NumPy module, but for its header and import
    numpy_source = gg.compile(broadcasting).source(x, b, backend="numpy")
    assert unfused.split("import numba\n", 1)[1] == numpy_source.split("import numpy as np\n", 1)[1]


def test_float32_loop_stays_float32():
    x = gg.tensor(RNG.standard_normal((4, 3)), dtype=gg.float32, requires_grad=True)
    f = gg.compile(chain, backend="numba")
    source = f.source(x, backend="numba")
    assert re.search(r"np\.float32\(np\.multiply\(t\d+\[i\], np\.float32\(2\.0\)\)\)", source), source
    y = f(x)
    y.backward()
    assert y.dtype == gg.float32 and x.grad.dtype == gg.float32
    ref = gg.tensor(x.detach().numpy(), requires_grad=True)
    z = gg.compile(chain)(ref)
    z.backward()
    np.testing.assert_allclose(y.item(), z.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_missing_numba_is_said(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` raises ModuleNotFoundError

    def fresh(x):  # a function of its own: no module of it is loaded yet
        return (x.exp() * 3.0 + 1.0).sum()

    with pytest.raises(ModuleNotFoundError, match=r"backend='numba' needs Numba.*pip install 'graphgrad\[numba\]'"):
        gg.compile(fresh, backend="numba")(gg.ones(3, dtype=gg.float64))


def test_unknown_backend_lists_numba():
    with pytest.raises(ValueError, match="numba"):
        gg.compile(chain, backend="numbaa")


def test_repeated_regions_share_one_loop():
    def repeated(x):  # each tanh is saved for the backward: one region per step, all alike
        for _ in range(4):
            x = (x * 0.9 + 0.1).tanh()
        return x.sum()

    x = gg.tensor(RNG.standard_normal(6), dtype=gg.float64, requires_grad=True)
    f = gg.compile(repeated, backend="numba")
    source = f.source(x, backend="numba")
    assert source.count("@numba.njit") == 2, source  # one forward step, the backward
    assert "\nfused_mul_add_tanh_2 = fused_mul_add_tanh  # the same loop\nfused_mul_add_tanh_3 = " in source
    y = f(x)
    y.backward()
    ref = gg.tensor(x.detach().numpy(), requires_grad=True)
    repeated(ref).backward()
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)
