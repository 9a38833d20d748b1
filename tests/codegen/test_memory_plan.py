"""Memory planning in generated code (codegen/memory.py): elementwise results written into a dying operand's
buffer only where nobody else can see it, constants built once per module. Whether reuse changes a result on
the benchmark workloads is checked in tests/passes/test_partition.py (compiled against eager, float64)."""
import numpy as np

import graphgrad as gg
import graphgrad.numpy as gnp


def mlp(w1, w2, x):
    h = (x @ w1).relu()
    return ((h @ w2).tanh() + 1.0).sum()


def test_elementwise_results_go_into_dying_temporaries():
    rng = np.random.default_rng(0)
    w1 = gg.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    w2 = gg.tensor(rng.standard_normal((8, 3)), requires_grad=True)
    x = gg.tensor(rng.standard_normal((5, 4)))
    f = gg.compile(mlp)
    src = f.source(w1, w2, x)
    assert "h = np.maximum(t1, 0, out=t1)" in src      # x @ w1 is a fresh temporary that dies at relu
    assert "= np.tanh(t2, out=t2)" in src
    f(w1, w2, x).backward()
    e1, e2 = w1.detach().clone().requires_grad_(), w2.detach().clone().requires_grad_()
    mlp(e1, e2, x).backward()
    np.testing.assert_allclose(w1.grad.numpy(), e1.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(w2.grad.numpy(), e2.grad.numpy(), rtol=1e-13)


def test_inputs_and_saved_values_are_never_written():
    def f(x, y):
        a = x + y            # x, y: the caller's arrays
        return (a.tanh() * 2.0).sum(), a
    x = gg.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    y = gg.tensor(np.ones(6))
    cf = gg.compile(f)
    src = cf.source(x, y)
    assert "out=x" not in src and "out=y" not in src
    forward = src.split("def backward")[0]
    assert "out=a" not in forward                       # a is an output
    before = x.detach().numpy().copy(), y.numpy().copy()
    loss, a = cf(x, y)
    loss.backward()
    np.testing.assert_array_equal(x.detach().numpy(), before[0])
    np.testing.assert_array_equal(y.numpy(), before[1])
    np.testing.assert_allclose(a.detach().numpy(), before[0] + 1)
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh(before[0] + 1) ** 2), rtol=1e-13)


def test_a_buffer_with_a_live_view_is_not_reused():
    def f(x):
        a = x * 2.0
        row = a[0]               # a view of a's buffer, read after a's last use
        b = a + 1.0              # a dies here: writing into it would change row
        return (b * row).sum()
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    cf = gg.compile(f)
    src = cf.source(x)
    assert "out=a" not in src
    for view in (lambda a: a.reshape(6)[:3], lambda a: a.permute(1, 0)[:, 0], lambda a: a.expand(2, 2, 3)[0, 0]):
        def g(x, view=view):
            a = x * 2.0
            v = view(a)
            b = a + 1.0
            return (b.sum(0) * v).sum()
        out = gg.compile(g)(x)
        np.testing.assert_allclose(out.item(), g(x.detach()).item(), rtol=1e-14)
    np.testing.assert_allclose(cf(x).item(), f(x.detach()).item(), rtol=1e-14)


def test_constants_are_built_once_at_module_level():
    def f(x):
        return (gnp.add(x, [1.0, 2.0, 3.0]) * x).sum()
    x = gg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    cf = gg.compile(f)
    src = cf.source(x)
    module_level = src.split("def forward")[0]
    assert "np.array((1.0, 2.0, 3.0), dtype=np.float64)" in module_level
    assert "np.array(" not in src.split("def forward")[1]
    for _ in range(2):   # the module-level array is read, never written: the second call gives the same
        x.grad = None
        out = cf(x)
        out.backward()
        np.testing.assert_allclose(out.item(), np.sum((x.detach().numpy() + [1, 2, 3]) * x.detach().numpy()))
        np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + [1, 2, 3])


def test_a_constant_the_caller_receives_is_built_per_call():
    # an input with no path to the output gets a zero gradient: a fresh array on every call, since the caller
    # may add into it
    g = gg.grad(lambda x, y: (x * x).sum(), argnums=(0, 1))
    x, y = np.ones(3), np.ones(3)
    _, gy = g(x, y)
    gy += 5.0
    np.testing.assert_array_equal(g(x, y)[1], np.zeros(3))


def test_relu_gradient_is_a_product_with_positive_zeros_where_dead():
    # g * mask runs in place and far faster than where(mask, g, 0); + 0.0 keeps PyTorch's +0 for a negative g
    def f(x):
        return (x.relu() * -3.0).sum()
    x = gg.tensor([-1.0, 2.0, 0.0], requires_grad=True)
    cf = gg.compile(f)
    assert "np.where" not in cf.source(x)
    cf(x).backward()
    compiled = x.grad.numpy().copy()
    x.grad = None
    f(x).backward()
    for grad in (compiled, x.grad.numpy()):
        np.testing.assert_array_equal(grad, [0.0, -3.0, 0.0])
        assert not np.signbit(grad[[0, 2]]).any()


def test_the_only_view_of_a_dying_temporary_owns_its_buffer():
    def f(x, w, b):
        p = (x.reshape(6, 4) @ w).reshape(2, 3, 5)   # the view is the product's only reader
        return ((p + b).tanh() * p.sum()).sum()         # ... but p is read twice: p + b may not overwrite it

    def g(x, w, b):
        p = (x.reshape(6, 4) @ w).reshape(2, 3, 5)
        return (p + b).tanh().sum()                     # p dies at p + b: the sum goes into its buffer

    rng = np.random.default_rng(1)
    args = [gg.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True),
            gg.tensor(rng.standard_normal((4, 5)), requires_grad=True), gg.tensor(rng.standard_normal(5))]
    for fn, reused in ((f, False), (g, True)):
        cf = gg.compile(fn)
        forward = cf.source(*args).split("def backward")[0]
        assert ("= np.add(" in forward and ", out=" in forward.split("np.add(")[1].split("\n")[0]) is reused
        cf(*args).backward()
        got = [a.grad.numpy().copy() for a in args[:2]]
        for a in args[:2]:
            a.grad = None
        fn(*args).backward()
        for a, want in zip(args[:2], got):
            np.testing.assert_allclose(want, a.grad.numpy(), rtol=1e-13)
            a.grad = None

