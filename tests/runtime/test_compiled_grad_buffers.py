"""A compiled backward's own gradient arrays become the leaves' .grad without a copy; an array that is not its own
(the caller's cotangent, a saved value, one array for two inputs) is copied, so no two .grad share memory and
.grad never aliases anything the caller holds."""
import os

import numpy as np

import graphgrad as gg
import graphgrad.nn.functional as F


def test_a_fresh_gradient_is_kept_and_shared_ones_are_copied():
    def f(x, y, w):
        return x + y, (x * w).sum()

    cf = gg.compile(f)
    x = gg.tensor(np.arange(3.0), requires_grad=True)
    y = gg.tensor(np.ones(3), requires_grad=True)
    w = gg.tensor(np.full(3, 2.0), requires_grad=True)
    s, _ = cf(x, y, w)
    g = gg.tensor(np.array([1.0, 2.0, 3.0]))
    s.backward(g)  # the gradients of x and y are both g itself
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    assert not np.shares_memory(x.grad.numpy(), g.numpy()) and not np.shares_memory(y.grad.numpy(), g.numpy())
    x.grad.numpy()[0] = 100.0  # the caller's cotangent and y's gradient are untouched
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 2.0, 3.0])


def test_kept_gradients_accumulate_and_belong_to_their_leaf():
    def f(x, w):
        return ((x * w).tanh() * x).sum()

    cf = gg.compile(f)
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal(4), requires_grad=True)
    w = gg.tensor(rng.standard_normal(4), requires_grad=True)
    out = cf(x, w)
    out.backward(retain_graph=True)
    first = x.grad.numpy().copy(), w.grad.numpy().copy()
    assert not np.shares_memory(x.grad.numpy(), w.grad.numpy())
    out.backward()  # accumulates into the kept arrays
    np.testing.assert_allclose(x.grad.numpy(), 2 * first[0], rtol=1e-15)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first[1], rtol=1e-15)
    xe, we = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    f(xe, we).backward()
    np.testing.assert_allclose(first[0], xe.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(first[1], we.grad.numpy(), rtol=1e-13)


def test_a_gradient_that_is_a_saved_value_is_copied():
    def f(x, c):
        return (x * c).sum()  # the gradient of x is c, an input the forward keeps for the backward

    cf = gg.compile(f)
    x = gg.tensor(np.ones(3), requires_grad=True)
    c = gg.tensor(np.array([1.0, 2.0, 3.0]))
    cf(x, c).backward()
    assert not np.shares_memory(x.grad.numpy(), c.numpy())
    x.grad.numpy()[:] = 0.0
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0, 3.0])



def test_fresh_gradients_are_kept_after_the_backward_frees_its_saved_values():
    # the last backward frees the saved values as it goes, and a new gradient array may take the id of one of
    # them: that once made it look like an argument, so it was copied (a weight-sized copy per step, 4 of the
    # 6 in the benchmarks' mlp). Where each .grad's memory was allocated tells a kept array from a copy.
    import tracemalloc

    def mlp(w1, b1, w2, b2, w3, b3, x, y):
        h1 = (x @ w1 + b1).relu()
        h2 = (h1 @ w2 + b2).relu()
        return F.cross_entropy(h2 @ w3 + b3, y)

    rng = np.random.default_rng(0)
    sizes = (784, 512, 256, 10)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [gg.tensor(rng.standard_normal((n_in, n_out)) * 0.05, requires_grad=True),
                   gg.tensor(rng.standard_normal(n_out) * 0.05, requires_grad=True)]
    x, y = gg.tensor(rng.standard_normal((8, 784))), gg.tensor(rng.integers(0, 10, 8))
    cf = gg.compile(mlp)
    runtime = os.path.dirname(gg.runtime.compiled.__file__)
    for _ in range(3):
        for p in params:
            p.grad = None
        loss = cf(*params, x, y)
        tracemalloc.start()
        try:
            loss.backward()
            copies = [t.size for t in tracemalloc.take_snapshot().traces
                      if t.traceback[0].filename.startswith(runtime) and t.size >= 8 * 256]
        finally:
            tracemalloc.stop()
        assert copies == []
    e = [p.detach().clone().requires_grad_() for p in params]
    mlp(*e, x, y).backward()
    for p, q in zip(params, e):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)
