"""A number that NumPy's maximum/minimum compare a float32 array with is read from a constant block built once per
module (codegen/python.py's ``_against_block``): NumPy vectorizes those loops against an array, not against a
scalar. The block never changes a value; float64, integer, small or very wide arrays and the CuPy backend keep
the number."""
import re

import numpy as np
import pytest

import graphgrad as gg


def _relu_mlp(w, x):
    h = (x @ w).relu()
    return (h * h).sum()


def _awkward_values(shape) -> np.ndarray:
    """float32 numbers with both zeros, nan, infinities and ties with 0.5 among them."""
    values = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    values.flat[:7] = [0.5, -0.0, 0.0, np.nan, np.inf, -np.inf, -0.5]
    return values


def test_relu_of_a_large_float32_array_reads_a_block_of_zeros():
    rng = np.random.default_rng(0)
    w = gg.tensor(rng.standard_normal((16, 512)).astype(np.float32), requires_grad=True)
    x = gg.tensor(rng.standard_normal((8, 16)).astype(np.float32))
    f = gg.compile(_relu_mlp)
    src = f.source(w, x)
    assert "\nzeros_512 = np.zeros((512,), dtype=np.float32)\n" in src
    assert "    np.maximum(h, zeros_512, out=h)  #" in src
    assert "np.maximum(h, 0" not in src
    loss = f(w, x)
    loss.backward()
    e = w.detach().clone().requires_grad_()
    expected = _relu_mlp(e, x)
    expected.backward()
    assert loss.item() == expected.item()                      # the same NumPy calls but for the block: same bits
    np.testing.assert_array_equal(w.grad.numpy(), e.grad.numpy())


def test_a_block_gives_the_numbers_the_scalar_gives():
    values = _awkward_values((4, 512))
    relu = gg.compile(lambda t: t.relu())
    assert "zeros_512" in relu.source(gg.tensor(values))
    got = relu(gg.tensor(values)).numpy()
    want = np.maximum(values, 0)
    np.testing.assert_array_equal(got, want)                   # nan where nan
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_literal_operands_of_maximum_and_minimum_become_blocks_with_their_values():
    def f(x):
        return (gg.maximum(x, 0.5) * gg.minimum(x, -0.0) + gg.minimum(x, 0.5)).sum()

    values = _awkward_values((4, 512))
    values.flat[3:6] = 1.0                                      # a finite loss: no nan or infinity here
    x = gg.tensor(values, requires_grad=True)
    cf = gg.compile(f)
    src = cf.source(x)
    # one block per value: 0.5 is shared by maximum and minimum; -0.0 keeps its sign (no zeros() for it)
    assert src.count("np.full((512,), 0.5, dtype=np.float32)") == 1
    assert "np.full((512,), -0.0, dtype=np.float32)" in src and "np.zeros(" not in src
    forward = src.split("def backward")[0]
    blocks = re.findall(r"np\.(?:maximum|minimum)\(x, (\w+)\)", forward)
    assert len(blocks) == 3 and len(set(blocks)) == 2
    y = cf(x)
    y.backward()
    e = x.detach().clone().requires_grad_()
    expected = f(e)
    expected.backward()
    assert y.item() == expected.item()
    np.testing.assert_array_equal(x.grad.numpy(), e.grad.numpy())
    # the signs of zero are NumPy's against the scalar
    awkward = _awkward_values((4, 512))
    got = gg.compile(lambda t: gg.minimum(t, -0.0))(gg.tensor(awkward)).numpy()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.minimum(awkward, -0.0)))


def test_a_user_variable_with_the_blocks_name_keeps_it():
    def g(x):
        zeros_512 = x * 2.0
        return zeros_512.relu().sum()

    x = gg.tensor(np.linspace(-1, 1, 4 * 512, dtype=np.float32).reshape(4, 512), requires_grad=True)
    cg = gg.compile(g)
    src = cg.source(x)
    assert "\nzeros_512_1 = np.zeros((512,), dtype=np.float32)\n" in src
    assert "np.maximum(zeros_512, zeros_512_1, out=zeros_512)" in src
    cg(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x.detach().numpy() > 0, 2.0, 0.0).astype(np.float32))

    def h(x):
        zeros_512 = gg.zeros(4, 512)  # a module-level constant of the same name
        return (x.relu() + zeros_512).sum()

    src = gg.compile(h).source(x)
    assert "\nzeros_512_1 = np.zeros((512,), dtype=np.float32)\n" in src
    assert "\nzeros_512 = np.full((4, 512), 0.0, dtype=np.float32)" in src
    assert "np.maximum(x, zeros_512_1)" in src


@pytest.mark.parametrize("shape, dtype", [((5, 8), "float32"), ((4, 512), "float64"), ((4, 512), "int64"),
                                          ((2, 3, 40000), "float32")])
def test_small_float64_integer_and_too_wide_arrays_keep_the_scalar(shape, dtype):
    x = gg.tensor(np.arange(np.prod(shape)).reshape(shape).astype(dtype) - 7)
    src = gg.compile(lambda t: t.relu()).source(x)
    assert "np.zeros(" not in src and re.search(r"np\.maximum\(\w+, 0\)", src)


def test_the_cupy_module_keeps_the_scalar():
    w = gg.tensor(np.ones((16, 512), np.float32), requires_grad=True)
    x = gg.tensor(np.ones((8, 16), np.float32))
    src = gg.compile(_relu_mlp).source(w, x, backend="cupy")
    assert "zeros_512" not in src and "cp.zeros(" not in src


def test_a_relu_computed_into_its_rows_of_a_join_reads_the_block():
    rng = np.random.default_rng(0)
    hidden, steps = 256, 12
    wx = gg.tensor((rng.standard_normal((16, hidden)) * 0.3).astype(np.float32), requires_grad=True)
    wh = gg.tensor((rng.standard_normal((hidden, hidden)) * 0.05).astype(np.float32), requires_grad=True)
    xs = gg.tensor(rng.standard_normal((steps, 4, 16)).astype(np.float32))

    def rnn(wx, wh, xs):
        h = gg.zeros(4, hidden)
        for t in range(steps):
            h = (xs[t] @ wx + h @ wh).relu()
        return (h * h).sum()

    f = gg.compile(rnn)
    src = f.source(wx, wh, xs)
    # the states are joined for the weight gradients' products: each relu writes into its rows of the join
    assert re.search(r"\n    (h_\d+) = t\d+\[\d+:\d+\]\n    np\.maximum\(t\d+, zeros_256, out=\1\)  #", src)
    loss = f(wx, wh, xs)
    loss.backward()
    e = [wx.detach().clone().requires_grad_(), wh.detach().clone().requires_grad_()]
    expected = rnn(*e, xs)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(wx.grad.numpy(), e[0].grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wh.grad.numpy(), e[1].grad.numpy(), rtol=1e-4, atol=1e-5)
