"""A compiled backward's own gradient arrays become the leaves' .grad without a copy; an array that is not its own
(the caller's cotangent, a saved value, one array for two inputs) is copied, so no two .grad share memory and
.grad never aliases anything the caller holds."""
import numpy as np

import graphgrad as gg


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
