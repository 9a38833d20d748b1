"""The short paths of a compiled call (issue 10, item 5) give what the general paths give: guards still decide,
hooks and retain_grad still run, a leaf reached twice still sums, and gg.grad on arrays still sees rebound
globals and closed-over arrays changed in place."""
import numpy as np
import pytest

import graphgrad as gg

OFFSET = 1.0


def shifted(x, y):
    return ((x + OFFSET) * y).sum()


def two_args(a, b):
    return (a * b + a.sin()).sum()


def test_gg_grad_on_arrays_sees_a_rebound_global_on_the_repeated_call():
    global OFFSET
    g = gg.grad(shifted, argnums=(0, 1))
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    g(x, y)
    g(x, y)  # the second call of a signature takes the short path
    try:
        OFFSET = 10.0
        gx, gy = g(x, y)
        np.testing.assert_allclose(gy, x + 10.0)
        np.testing.assert_allclose(gx, y)
    finally:
        OFFSET = 1.0
    np.testing.assert_allclose(g(x, y)[1], x + 1.0)


def test_gg_grad_on_arrays_sees_a_closed_over_array_changed_in_place():
    w = np.array([1.0, 2.0])
    g = gg.grad(lambda x: (x * w).sum())
    x = np.ones(2)
    g(x)
    g(x)
    w *= 3
    np.testing.assert_allclose(g(x), [3.0, 6.0])


def test_gg_grad_short_path_matches_the_full_path_for_each_argnums():
    a, b = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -3.0])
    expected = {0: b + np.cos(a), 1: a}
    for argnums in (0, 1, (1, 0), (0, 0)):
        g = gg.value_and_grad(two_args, argnums=argnums)
        first = g(a, b)
        again = g(a, b)
        for value, grads in (first, again):
            np.testing.assert_allclose(value, two_args(gg.tensor(a), gg.tensor(b)).item())
            for num, grad in zip((argnums,) if isinstance(argnums, int) else argnums,
                                 (grads,) if isinstance(argnums, int) else grads):
                np.testing.assert_allclose(grad, expected[num])
        if argnums == (0, 0):  # two gradients, not one array twice
            assert again[1][0] is not again[1][1]
        gradient = again[1] if isinstance(argnums, int) else again[1][0]
        gradient *= 0  # the caller owns its gradients: the next call is not affected
        np.testing.assert_allclose(g(a, b)[0], first[0])


def test_gg_grad_with_a_new_dtype_or_shape_does_not_reuse_the_short_path():
    g = gg.grad(lambda x: (x * x).sum())
    g(np.ones(2))
    g(np.ones(2))
    assert g(np.ones(3, np.float32)).dtype == np.float32
    np.testing.assert_allclose(g(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_compiled_backward_into_leaves_matches_eager_and_accumulates():
    f = gg.compile(two_args)
    a = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    b = gg.tensor([1.5, 0.25], dtype=gg.float64, requires_grad=True)
    for _ in range(2):
        f(a, b).backward()
    ea = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    eb = gg.tensor([1.5, 0.25], dtype=gg.float64, requires_grad=True)
    for _ in range(2):
        two_args(ea, eb).backward()
    np.testing.assert_allclose(a.grad.numpy(), ea.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), eb.grad.numpy())


def test_a_leaf_passed_twice_gets_both_gradients():
    f = gg.compile(two_args)
    x = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    f(x, x).backward()
    xv = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + np.cos(xv))


def test_leaf_hooks_and_output_hooks_still_run_after_a_compiled_call():
    f = gg.compile(two_args)
    a = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    b = gg.tensor([3.0, 4.0], dtype=gg.float64, requires_grad=True)
    seen = []
    a.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    out = f(a, b)
    out.register_hook(lambda g: seen.append(g.item()))
    out.retain_grad()
    out.backward()
    assert seen == [1.0, [3.0 + np.cos(1.0), 4.0 + np.cos(2.0)]]
    np.testing.assert_allclose(a.grad.numpy(), 2 * (np.array([3.0, 4.0]) + np.cos([1.0, 2.0])))
    assert out.grad.item() == 1.0


def test_second_backward_through_a_compiled_call_raises_and_retain_graph_allows_it():
    f = gg.compile(two_args)
    a = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    b = gg.tensor([3.0, 4.0], dtype=gg.float64)
    out = f(a, b)
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * (np.array([3.0, 4.0]) + np.cos([1.0, 2.0])))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()
    assert b.grad is None


def test_compiled_output_with_no_argument_requiring_grad_has_no_history():
    f = gg.compile(two_args)
    out = f(gg.ones(2), gg.ones(2))
    out = f(gg.ones(2), gg.ones(2))
    assert out.grad_fn is None and not out.requires_grad


def test_loss_backward_of_a_compiled_call_skips_the_engine_walk(monkeypatch):
    import graphgrad.runtime.autograd as autograd_module

    f = gg.compile(two_args)
    a = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    b = gg.tensor([1.5, 0.25], dtype=gg.float64, requires_grad=True)
    f(a, b).backward()  # compiles
    a.grad = b.grad = None
    walked = []
    real = autograd_module.run_backward
    monkeypatch.setattr(autograd_module, "run_backward", lambda *args, **kw: walked.append(1) or real(*args, **kw))
    f(a, b).backward()
    assert walked == []  # loss.backward() on leaves: straight into .grad
    av, bv = np.array([0.5, -1.0]), np.array([1.5, 0.25])
    np.testing.assert_allclose(a.grad.numpy(), bv + np.cos(av))
    np.testing.assert_allclose(b.grad.numpy(), av)
    out = f(a, b)
    out.retain_grad()  # anything the short path does not do takes the walk, with the same result
    out.backward()
    assert walked == [1] and out.grad.item() == 1.0
    np.testing.assert_allclose(a.grad.numpy(), 2 * (bv + np.cos(av)))


def test_a_compiled_outputs_edges_are_the_leaves_accumulators_and_the_inputs_producers():
    f = gg.compile(two_args)
    a = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    w = gg.tensor([1.5, 0.25], dtype=gg.float64, requires_grad=True)
    b = w * 2  # not a leaf: its edge is its grad_fn
    out = f(a, b)
    (acc, _), (producer, _) = out.grad_fn.next_functions
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is a
    assert producer is b.grad_fn
    seen = []
    a.register_hook(lambda g: seen.append(g.tolist()))  # after the call: still runs
    out.backward()
    av, bv = np.array([0.5, -1.0]), np.array([3.0, 0.5])
    assert seen == [list(bv + np.cos(av))]
    np.testing.assert_allclose(w.grad.numpy(), 2 * av)


def test_the_shared_seed_of_a_scalar_loss_is_never_a_leafs_grad_nor_written():
    # loss.backward() on a compiled 0-d output hands the generated backward one shared, read-only 1 per dtype:
    # a gradient that is that very array (the identity's) must be copied into .grad, and changing .grad in
    # place must not change the next call's seed
    f = gg.compile(lambda x: x + 0)
    for dtype in (gg.float32, gg.float64):
        x = gg.tensor(2.0, dtype=dtype, requires_grad=True)
        f(x).backward()
        assert x.grad.item() == 1.0 and x.grad.dtype == dtype
        x.grad += 5  # in place on the leaf's own buffer
        x.grad = None
        f(x).backward()
        f(x).backward()  # accumulates into the .grad the previous call made
        assert x.grad.item() == 2.0
        y = gg.tensor([3.0], dtype=dtype, requires_grad=True)
        (f(y) * 1).sum().backward()
        assert y.grad.tolist() == [1.0]
