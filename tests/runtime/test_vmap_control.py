"""vmap, jacrev, jacfwd and hessian through structured control flow (cond, scan, fori_loop, while_loop, and
AutoGraph-converted Python if/while/for): against a Python loop over the examples and finite differences, through
the generated module (NumPy in), compiled (gg.compile(gg.vmap(f))), eagerly (batch_interpret on tensors) and
replayed on tensors that require grad."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.passes import batching

RNG = np.random.default_rng(12)
W3 = RNG.standard_normal((3, 3)) * 0.5


def _examples(args, in_axes, b):
    return [gg.tensor(np.take(a, b, axis=ax)) if ax is not None else gg.tensor(a) for a, ax in zip(args, in_axes)]


def loop(f, in_axes, *args):
    """What vmap must compute: ``f`` run eagerly (its control flow as Python) on each example, stacked."""
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    return _stack([f(*_examples(args, in_axes, b)) for b in range(size)])


def _stack(outs):
    if isinstance(outs[0], tuple):
        return tuple(_stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return np.stack([np.asarray(o) for o in outs])


# -- the functions, each written for one example -----------------------------------------------------

def cond_on_example(x):
    return gg.cond(x.sum() > 0, lambda v: v.sin() * 2.0, lambda v: v * v, x)


def cond_on_shared(x, p):
    return gg.cond(p.sum() > 0, lambda v: v.exp(), lambda v: -v, x)


def cond_one_branch_batched(x, y):
    # output 0 reads the batched x in one branch only; output 1 never reads it
    return gg.cond(y.sum() > 0, lambda a, b: (a * 2.0, b + 1.0), lambda a, b: (b * 3.0, b - 1.0), x, y)


def cond_closing_over(x, y):
    return gg.cond(y.sum() > 0, lambda: x * y, lambda: x - y)


def rnn(h0, xs, w):
    return gg.scan(lambda h, x: ((h @ w + x).tanh(), h.sum()), h0, xs)


def scan_counter_reversed(h0, xs, one):
    # carry 1 (a counter) never reads a batched value and stays unbatched; the scan runs backwards
    return gg.scan(lambda c, x: ((c[0] * 0.5 + x * c[1], c[1] + 1.0), c[0].sum() * c[1]), (h0, one), xs,
                   reverse=True)


def fori_static(x):
    return gg.fori_loop(0, 4, lambda i, c: c * x.cos() + i, x)


def fori_traced_bound(x, n):
    return gg.fori_loop(0, n, lambda i, c: c * 0.75 + x, x)


def while_on_example(x, k):
    return gg.while_loop(lambda c: c[0].sum() < 10.0, lambda c: (c[0] * 1.5 + 1.0, c[1] + 1.0), (x, k))


def while_on_counter(x, z):
    # the test reads only the (unbatched) counter; carry 1 starts unbatched and is batched from the first step
    return gg.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * 0.5 + x), (gg.zeros((), dtype=gg.int64), z))


def nested(x, w):
    def step(h, xi):
        h = gg.cond(h.sum() > xi.sum(), lambda a: (a @ w).tanh(), lambda a: a * 0.5 + xi, h)
        return h, gg.while_loop(lambda c: c < 3.0, lambda c: c * 2.0 + 0.1, h.abs().sum())
    return gg.scan(step, x, gg.stack([x, x * 2.0, -x]))


def autograph(x, n):
    if x.sum() > 0:
        y = x.sin()
    else:
        y = x * x
    while y.sum() < 5.0:
        y = y * 2.0 + 0.5
    for i in range(n):
        y = y * 0.9 + x
    return y


X3 = np.array([[0.3, -0.2, 0.8], [-0.5, -0.1, 0.2], [1.2, 0.4, -0.3], [-0.7, -0.9, -0.2]])
SEQ = RNG.standard_normal((4, 5, 3))

CASES = {
    # name: (function, in_axes, arguments)
    "cond, batched predicate": (cond_on_example, (0,), [X3]),
    "cond, shared predicate (true)": (cond_on_shared, (0, None), [X3, np.ones(2)]),
    "cond, shared predicate (false)": (cond_on_shared, (0, None), [X3, -np.ones(2)]),
    "cond, one branch reads the batch": (cond_one_branch_batched, (0, None), [X3, np.array([0.5, -1.0, 0.2])]),
    "cond, shared operand, batched predicate": (cond_one_branch_batched, (None, 0), [X3[0], X3]),
    "cond closing over values": (cond_closing_over, (0, 0), [X3, X3[::-1].copy()]),
    "scan, batched carry and xs": (rnn, (0, 0, None), [X3, SEQ, W3]),
    "scan, carry batched after one step": (rnn, (None, 0, None), [X3[0], SEQ, W3]),
    "scan, shared xs": (rnn, (0, None, None), [X3, SEQ[0], W3]),
    "scan, batched constant": (rnn, (None, None, 0), [X3[0], SEQ[0], np.stack([W3, -W3, W3 * 2.0, W3.T])]),
    "scan, xs batched along axis 1": (rnn, (0, 1, None), [X3, SEQ.transpose(1, 0, 2).copy(), W3]),
    "scan, xs batched along the last axis": (rnn, (0, 2, None), [X3, SEQ.transpose(1, 2, 0).copy(), W3]),
    "scan, reversed, unbatched counter": (scan_counter_reversed, (0, 0, None), [X3, SEQ, np.array(1.0)]),
    "fori_loop, static bounds": (fori_static, (0,), [X3]),
    "fori_loop, batched bound": (fori_traced_bound, (0, 0), [X3, np.array([2, 0, 5, 1])]),
    "fori_loop, shared bound": (fori_traced_bound, (0, None), [X3, np.array(3)]),
    "while_loop, batched test": (while_on_example, (0, None), [np.abs(X3) + 0.1, np.array(0.0)]),
    "while_loop, shared test, carry batched after one step": (while_on_counter, (0, None), [X3, np.zeros(3)]),
    "nested cond and while in a scan": (nested, (0, None), [X3, W3]),
    "autograph if/while/for, shared bound": (autograph, (0, None), [X3, np.array(2)]),
    "autograph if/while/for, batched bound": (autograph, (0, 0), [X3, np.array([0, 3, 1, 2])]),
}


def _close(got, expected):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _close(g, e)
        return
    got = np.asarray(got.numpy() if isinstance(got, gg.Tensor) else got)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_equals_a_loop(name):
    f, in_axes, args = CASES[name]
    expected = loop(f, in_axes, *args)
    _close(gg.vmap(f, in_axes=in_axes)(*args), expected)                # the generated module
    _close(gg.compile(gg.vmap(f, in_axes=in_axes))(*[gg.tensor(a) for a in args]), expected)  # inside compile


@pytest.mark.parametrize("name", list(CASES))
def test_batching_rules_run_eagerly(name):
    """batch_interpret on eager tensors: each rule runs its loop or branch as Python."""
    f, in_axes, args = CASES[name]
    example = [np.take(a, 0, axis=ax) if ax is not None else a for a, ax in zip(args, in_axes)]
    graph = gg.compile(f).graph(*[gg.tensor(a) for a in example], stage="traced")
    # the graph takes the dynamic arguments (arrays), then anything it closed over
    assert len(graph.inputs) == len(args)
    results = batching.batch_interpret(graph, [gg.tensor(a) for a in args], list(in_axes))
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    got = [batching.broadcast_batch(v, d, size) for v, d in results]
    expected = loop(f, in_axes, *args)
    flat = list(_leaves(expected))
    assert len(got) == len(flat)
    for g, e in zip(got, flat):
        _close(g, e)


def _leaves(tree):
    if isinstance(tree, tuple):
        for t in tree:
            yield from _leaves(t)
    else:
        yield tree


@pytest.mark.parametrize("name", ["cond, batched predicate", "scan, carry batched after one step",
                                  "fori_loop, batched bound", "while_loop, batched test",
                                  "autograph if/while/for, batched bound"])
def test_gradient_through_a_vmapped_function_on_tensors(name):
    """Tensors that require grad: the batched graph is replayed through eager autograd."""
    f, in_axes, args = CASES[name]
    ts = [gg.tensor(a, requires_grad=np.issubdtype(a.dtype, np.floating)) for a in args]
    out = gg.vmap(f, in_axes=in_axes)(*ts)
    out = out[0] if isinstance(out, tuple) else out
    (out ** 2).sum().backward()
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    expected = [np.zeros_like(a) if np.issubdtype(a.dtype, np.floating) else None for a in args]
    for b in range(size):
        ex = [t.requires_grad_() if t.is_floating_point() else t for t in _examples(args, in_axes, b)]
        o = f(*ex)
        ((o[0] if isinstance(o, tuple) else o) ** 2).sum().backward()
        for e, t, ax in zip(expected, ex, in_axes):
            if e is None:
                continue
            g = _grad(t)
            if ax is None:   # shared by every example: the gradients add up
                e += g
            else:
                np.moveaxis(e, ax, 0)[b] = g
    assert any(e is not None and e.any() for e in expected)
    for t, e in zip(ts, expected):
        if e is not None:
            np.testing.assert_allclose(_grad(t), e, rtol=1e-10, atol=1e-12)


def _grad(t):
    """``t.grad`` as an array (zeros where the output does not depend on ``t``)."""
    return np.zeros(t.shape) if t.grad is None else t.grad.numpy()


def test_batched_predicates_select_and_shared_ones_keep_the_node():
    graph = gg.vmap(cond_on_example).graph(X3)
    ops = [n.op for n in graph.nodes]
    assert "cond" not in ops and "where" in ops      # both branches, selected per example
    graph = gg.vmap(cond_on_shared, in_axes=(0, None)).graph(X3, np.ones(2))
    assert [n.op for n in graph.nodes].count("cond") == 1
    # a carry that reads no batched value stays unbatched: the counter of while_on_counter is an i64[] carry
    graph = gg.vmap(while_on_counter, in_axes=(0, None)).graph(X3, np.zeros(3))
    (loop_node,) = [n for n in graph.nodes if n.op == "while"]
    assert [str(v.type) for v in loop_node.inputs[:2]] == ["i64[]", "f64[4,3]"]


def test_a_batched_predicate_runs_both_branches_but_selects_per_example():
    """As in JAX: the branch not taken is computed too (log of a negative number is nan there) and discarded."""
    f = lambda x: gg.cond(x > 0, lambda v: v.log(), lambda v: v * 2.0, x)  # noqa: E731
    x = np.array([2.0, -3.0, 0.5, -1.0])
    with np.errstate(invalid="ignore"):
        out = gg.vmap(f)(x)
        np.testing.assert_allclose(out, np.where(x > 0, np.log(np.abs(x)), 2 * x))
        g = gg.vmap(gg.grad(f))(x)
    np.testing.assert_allclose(g, np.where(x > 0, 1 / x, 2.0))


# -- derivatives -------------------------------------------------------------------------------------

def _fd_jacobian(f, x, eps=1e-6):
    cols = [(np.asarray(f(gg.tensor(x + eps * e))) - np.asarray(f(gg.tensor(x - eps * e)))) / (2 * eps)
            for e in np.eye(x.size).reshape((x.size,) + x.shape)]
    return np.stack(cols, axis=-1).reshape(np.shape(f(gg.tensor(x))) + x.shape)


VECTOR_FUNCTIONS = {
    "cond": cond_on_example,
    "cond, shared predicate": lambda x: cond_on_shared(x, gg.tensor(np.ones(2))),
    "scan": lambda x: rnn(x, gg.tensor(SEQ[0]), gg.tensor(W3))[0],
    "scan ys": lambda x: rnn(x * 0.5, gg.stack([x, x.sin(), -x]), gg.tensor(W3))[1],
    "scan reversed": lambda x: scan_counter_reversed(x, gg.tensor(SEQ[1]), gg.tensor(1.0))[0][0],
    "fori_loop": fori_static,
    "fori_loop, traced bound": lambda x: fori_traced_bound(x, gg.tensor(np.array(3))),
    "while_loop": lambda x: while_on_example(x.abs() + 0.1, gg.tensor(0.0))[0],
    "nested": lambda x: nested(x, gg.tensor(W3))[0],
    "autograph": None,   # below: a lambda's body is not converted, so a def calls the converted function
}


def autograph_bound_two(x):
    return autograph(x, gg.tensor(np.array(2)))


VECTOR_FUNCTIONS["autograph"] = autograph_bound_two


@pytest.mark.parametrize("name", list(VECTOR_FUNCTIONS))
def test_jacfwd_equals_jacrev_equals_finite_differences(name):
    f = VECTOR_FUNCTIONS[name]
    for x in (X3[0], X3[1]):
        fd = _fd_jacobian(f, x)
        rev, fwd = gg.jacrev(f)(x), gg.jacfwd(f)(x)
        np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gg.compile(gg.jacrev(f))(gg.tensor(x)).numpy(), rev, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(VECTOR_FUNCTIONS))
def test_hessian_equals_finite_differences_of_the_gradient(name):
    f = VECTOR_FUNCTIONS[name]

    def scalar(x):
        return (f(x) ** 2).sum() + f(x).sin().sum()

    grad = gg.grad(scalar)
    for x in (X3[0], X3[1]):
        fd = np.stack([(grad(x + 1e-6 * e) - grad(x - 1e-6 * e)) / 2e-6 for e in np.eye(3)], axis=1)
        h = gg.hessian(scalar)(x)
        np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gg.compile(gg.hessian(scalar))(gg.tensor(x)).numpy(), h, rtol=1e-12, atol=1e-12)


def test_per_example_gradients_through_an_rnn_scan_equal_a_loop():
    def loss(params, xs, y):
        w, u, v = params
        h, _ = gg.scan(lambda h, x: ((h @ w + x @ u).tanh(), None), gg.zeros(3, dtype=gg.float64), xs)
        return ((h @ v).sum() - y) ** 2

    params = (W3, RNG.standard_normal((2, 3)) * 0.5, RNG.standard_normal(3))
    xs, ys = RNG.standard_normal((6, 5, 2)), RNG.standard_normal(6)
    per_example = gg.vmap(gg.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    expected = [gg.grad(loss)(params, x, y) for x, y in zip(xs, ys)]
    for k in range(3):
        assert per_example[k].shape == (6,) + params[k].shape
        np.testing.assert_allclose(per_example[k], np.stack([e[k] for e in expected]), rtol=1e-12, atol=1e-14)
    compiled = gg.compile(gg.vmap(gg.grad(loss), in_axes=(None, 0, 0)))
    got = compiled(tuple(gg.tensor(p) for p in params), gg.tensor(xs), gg.tensor(ys))
    for k in range(3):
        np.testing.assert_allclose(got[k].numpy(), per_example[k], rtol=1e-12, atol=1e-14)
    # one generated module, one loop over time steps: the examples are batched, not looped over
    source = gg.vmap(gg.grad(loss), in_axes=(None, 0, 0)).source(params, xs, ys)
    assert source.count("def ") == 1 and source.count("for ") == 2   # the scan and its reverse


def test_per_example_gradients_through_a_while_loop_with_a_batched_test():
    def loss(w, x):
        c, _ = gg.while_loop(lambda c: c[1] < x.abs().sum() * 3.0, lambda c: (c[0] * w + x, c[1] + 1.0),
                             (x, gg.tensor(0.0, dtype=gg.float64)))
        return (c ** 2).sum()

    w = np.array([0.9, -0.5, 0.7])
    per_example = gg.vmap(gg.grad(loss), in_axes=(None, 0))(w, X3)
    np.testing.assert_allclose(per_example, np.stack([gg.grad(loss)(w, x) for x in X3]), rtol=1e-12)
    trips = [int(np.ceil(np.abs(x).sum() * 3.0)) for x in X3]
    assert len(set(trips)) > 1   # the examples do stop after different numbers of iterations


def test_transforms_on_tensors_that_require_grad_run_control_flow_eagerly():
    """Replayed through eager autograd, an unbatched control-flow node runs its sub-graphs (it used to fail with
    "primitive 'cond' has no array expression")."""
    f = lambda x: gg.cond(x.sum() > 0, lambda v: v.sin() * 2.0, lambda v: v * v, x)  # noqa: E731
    x0, v = np.array([0.3, 0.5]), np.array([1.0, -2.0])
    x = gg.tensor(x0, requires_grad=True)
    _, t = gg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(t.detach().numpy(), 2 * np.cos(x0) * v, rtol=1e-12)
    t.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -2 * np.sin(x0) * v, rtol=1e-12)
