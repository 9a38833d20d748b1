"""gg.vmap: every batching rule against a Python loop over the examples, per-example gradients, in_axes and
out_axes, and the errors."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.passes import batching

RNG = np.random.default_rng(3)
IDX = np.array([[0, 3], [1, 1], [2, 0]])


def loop(f, in_axes, *args):
    """What vmap must compute: f on each example, stacked."""
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = []
    for b in range(size):
        ex = [gg.tensor(np.take(a, b, axis=ax)) if ax is not None else gg.tensor(a) for a, ax in zip(args, in_axes)]
        outs.append(f(*ex).numpy())
    return np.stack(outs)


CASES = {
    # name: (function, in_axes, per-example shapes (None: unbatched, full shape))
    "elementwise broadcast": (lambda x, y: x * y + x.exp(), (0, None), [(4, 3), (3,)]),
    "elementwise both": (lambda x, y: gg.where(x > y, x, y * 2), (0, 0), [(3, 1), (1, 4)]),
    "reductions": (lambda x: x.sum(0) + x.amax(1).mean() + x.logsumexp(1).prod(), (0,), [(3, 4)]),
    "argmax": (lambda x: x.argmax(1) + x.argmax(), (0,), [(3, 4)]),
    "softmax": (lambda x: x.softmax(-1) + x.log_softmax(0), (0,), [(3, 4)]),
    "matrix @ matrix": (lambda a, b: a @ b, (0, 0), [(2, 3), (3, 4)]),
    "matrix @ shared": (lambda a, b: a @ b, (0, None), [(2, 3), (5, 3, 4)]),
    "shared @ vector": (lambda a, b: a @ b, (None, 0), [(5, 2, 3), (3,)]),
    "vector @ vector": (lambda a, b: a @ b, (0, 0), [(3,), (3,)]),
    "vector @ batched matrices": (lambda a, b: a @ b, (0, None), [(3,), (5, 3, 4)]),
    "shared matrix @ vector": (lambda a, b: a @ b, (None, 0), [(2, 3), (3,)]),
    "shared matrix @ stacked matrices": (lambda a, b: a @ b, (None, 0), [(2, 3), (4, 3, 5)]),
    "stacked matrices @ shared matrix": (lambda a, b: a @ b, (0, None), [(4, 2, 3), (3, 5)]),
    "vector @ shared vector": (lambda a, b: a @ b, (0, None), [(3,), (3,)]),
    "matrix @ shared vector": (lambda a, b: a @ b, (1, None), [(2, 3), (3,)]),
    "reshape permute expand": (lambda x: x.reshape(2, 6).T.expand(3, 6, 2) * 1.0, (0,), [(3, 4)]),
    "concat with a shared part": (lambda x, y: gg.cat([x, y], 1), (0, None), [(2, 3), (2, 5)]),
    "slicing": (lambda x: x[1:, None, ::2], (0,), [(3, 4)]),
    "advanced indexing apart": (lambda x: x[[0, 2], :, [1, 0]], (0,), [(3, 2, 4)]),
    "advanced indexing together": (lambda x: x[:, [0, 2]] * 2, (0,), [(3, 4)]),
    "batch axis not first": (lambda x: x.sum(0), (1,), [(3, 4)]),
    "cumsum": (lambda x: x.cumsum(1) * x.cumsum(0), (0,), [(3, 4)]),
    "pad": (lambda x: gg.nn.functional.pad(x, (1, 2)) * 2, (0,), [(3, 4)]),
    "matrix functions": (lambda x: gg.linalg.inv(x + 3 * gg.eye(3)) + gg.linalg.det(x + 3 * gg.eye(3))
                         + gg.tril(x, -1) + gg.linalg.eigh(x @ x.T).eigenvalues.sum()
                         + gg.linalg.svdvals(x).sum() + gg.linalg.cholesky(x @ x.T + gg.eye(3)), (1,), [(3, 3)]),
    "solve batched matrix, shared vector": (lambda a, b: gg.linalg.solve(a + 3 * gg.eye(3), b), (0, None),
                                            [(3, 3), (3,)]),
    "solve shared matrix, batched vector": (lambda a, b: gg.linalg.solve(a + 3 * gg.eye(3), b), (None, 0),
                                            [(3, 3), (3,)]),
    "solve both, matrices": (lambda a, b: gg.numpy.linalg.solve(a + 3 * gg.eye(3), b), (0, 0),
                             [(3, 3), (3, 2)]),
    "einsum both": (lambda a, b: gg.einsum("ij,jk->ki", a, b), (0, 0), [(2, 3), (3, 4)]),
    "einsum shared": (lambda a, b: gg.einsum("ij,j->i", a, b), (None, 0), [(2, 3), (3,)]),
    "gather": (lambda x, i: x.gather(1, i) * 2, (0, None), [(3, 4), ("int", (3, 2), 4)]),
    "gather batched index": (lambda x, i: x.gather(0, i), (None, 0), [(3, 4), ("int", (2, 4), 3)]),
    "gather both": (lambda x, i: x.gather(1, i), (0, 0), [(3, 4), ("int", (3, 2), 4)]),
    "index tensor shared": (lambda x, i: x[:, i], (0, None), [(3, 4), ("int", (2,), 4)]),
    "index tensor batched": (lambda x, i: x[:, i] * 2, (0, 0), [(3, 4), ("int", (2, 2), 4)]),
    "index tensor only batched": (lambda x, i: x[1:, i], (None, 0), [(3, 4), ("int", (5,), 4)]),
    "index tensors apart": (lambda x, i, j: x[i, :, j], (0, 0, None), [(3, 4, 5), ("int", (2,), 3), ("int", (2,), 5)]),
    "index tensors apart, shared": (lambda x, i, j: x[i, :, j], (0, None, None),
                                    [(3, 4, 5), ("int", (2,), 3), ("int", (2,), 5)]),
    "index after ellipsis": (lambda x, i: x[..., i, :], (0, 0), [(2, 3, 4), ("int", (2,), 3)]),
    "scatter_add": (lambda x, s: x.scatter_add(1, gg.tensor(IDX), s), (0, 0), [(3, 4), (3, 2)]),
    "unfold": (lambda x: x.unfold(1, 2, 1) * x.unfold(0, 1, 2).sum(), (0,), [(3, 4)]),
}


@pytest.mark.parametrize("name", [name for name in CASES if name.startswith("index")])
def test_vmap_of_the_gradient_of_indexing_equals_a_loop(name):
    f, in_axes, shapes = CASES[name]
    args = make_args(in_axes, shapes)
    grad = gg.grad(lambda x, *i: (f(x, *i) ** 2).sum())
    np.testing.assert_allclose(gg.vmap(grad, in_axes=in_axes)(*args), loop(grad, in_axes, *args), rtol=1e-12)


def make_args(in_axes, shapes, size=5):
    args = []
    for ax, shape in zip(in_axes, shapes):
        kind, shape, high = shape if shape[0] == "int" else ("float", shape, None)
        full = list(shape)
        if ax is not None:
            full.insert(ax, size)
        args.append(RNG.integers(0, high, full) if kind == "int" else RNG.standard_normal(full))
    return args


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_equals_a_loop(name):
    f, in_axes, shapes = CASES[name]
    args = make_args(in_axes, shapes)
    out = gg.vmap(f, in_axes=in_axes)(*args)
    np.testing.assert_allclose(out, loop(f, in_axes, *args), rtol=1e-12, atol=1e-12)


def test_gather_and_scatter_rows_and_convolution():
    table = RNG.standard_normal((6, 3))
    tables = RNG.standard_normal((4, 6, 3))
    idx = np.array([[0, 5], [2, 2], [1, 0], [3, 4]])
    pick = lambda t, i: (t[gg.tensor(i)] if not isinstance(i, gg.Tensor) else t[i]).sum()  # noqa: E731
    for args, axes in (((table, idx), (None, 0)), ((tables, idx[0]), (0, None)), ((tables, idx), (0, 0))):
        f = lambda t, i: t[i] * 2  # noqa: E731
        out = gg.vmap(f, in_axes=axes)(*args)
        np.testing.assert_allclose(out, loop(f, axes, *args), rtol=1e-12)
        # the gradient of a gather is a scatter: per-example gradients of the table
        g = gg.vmap(gg.grad(lambda t, i: (t[i] ** 2).sum()), in_axes=axes)(*args)
        expected = loop(lambda t, i: gg.grad(lambda t: (t[i] ** 2).sum())(t), axes, *args)
        np.testing.assert_allclose(g, expected, rtol=1e-12)
    del pick
    images = RNG.standard_normal((3, 2, 1, 5, 5))
    weight = RNG.standard_normal((2, 1, 3, 3))
    conv = lambda x, w: F.conv2d(x, w, padding=1).tanh().sum()  # noqa: E731
    g = gg.vmap(gg.grad(conv, argnums=1), in_axes=(0, None))(images, weight)
    np.testing.assert_allclose(g, loop(gg.grad(conv, argnums=1), (0, None), images, weight), rtol=1e-10)



@pytest.mark.parametrize("axes", [(0, 0), (1, 0), (0, 1)])
def test_negative_row_indices_count_from_each_examples_own_end(axes):
    # x[i] with x and i both batched: i = -1 is the example's last row (it was the previous example's last
    # row: the rows were offset into one stacked table), and out-of-range rows raise as NumPy does
    tables = np.moveaxis(RNG.standard_normal((4, 5, 2)), 0, axes[0])
    idx = np.moveaxis(np.array([[0, -1], [-5, 2], [-2, 4], [-3, 1]]), 0, axes[1])
    f = lambda t, i: t[i] * 2  # noqa: E731
    np.testing.assert_allclose(gg.vmap(f, in_axes=axes)(tables, idx), loop(f, axes, tables, idx), rtol=1e-12)
    g = gg.vmap(gg.grad(lambda t, i: (t[i] ** 3).sum()), in_axes=axes)(tables, idx)
    expected = loop(lambda t, i: gg.grad(lambda t: (t[i] ** 3).sum())(t), axes, tables, idx)
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    with pytest.raises(IndexError):
        gg.vmap(f, in_axes=axes)(tables, np.where(idx == 4, 5, idx))

def loss(w, x, y):
    return ((x @ w).tanh() - y) ** 2


def test_per_example_gradients_equal_a_loop():
    w = RNG.standard_normal(4)
    X, Y = RNG.standard_normal((32, 4)), RNG.standard_normal(32)
    per_example = gg.vmap(gg.grad(loss), in_axes=(None, 0, 0))(w, X, Y)
    assert per_example.shape == (32, 4)
    expected = np.stack([gg.grad(loss)(w, x, y) for x, y in zip(X, Y)])
    np.testing.assert_allclose(per_example, expected, rtol=1e-12)
    # their mean is the gradient of the mean loss
    np.testing.assert_allclose(per_example.mean(0), gg.grad(lambda w: loss(w, gg.tensor(X), gg.tensor(Y)).mean())(w),
                               rtol=1e-12)
    # one generated module, with no Python loop over examples in it
    source = gg.vmap(gg.grad(loss), in_axes=(None, 0, 0)).source(w, X, Y)
    assert "for " not in source and source.count("def ") == 1


def test_out_axes_pytrees_and_tensors():
    def f(p, x):
        return {"a": p["w"] * x, "b": x.sum()}

    p = {"w": RNG.standard_normal(3)}
    X = gg.tensor(RNG.standard_normal((3, 4)))
    out = gg.vmap(f, in_axes=({"w": None}, 1), out_axes=0)(p, X)
    assert isinstance(out["a"], gg.Tensor) and out["a"].shape == (4, 3)
    np.testing.assert_allclose(out["a"].numpy(), (p["w"][:, None] * X.numpy()).T)
    out1 = gg.vmap(lambda x: (x * 2, x.sum()), out_axes=(1, 0))(X.numpy())
    np.testing.assert_allclose(out1[0], (X.numpy() * 2).T)
    np.testing.assert_allclose(out1[1], X.numpy().sum(1))
    shared = gg.vmap(lambda x, w: (x * 0).sum() + w.sum(), in_axes=(0, None))(X.numpy(), p["w"])
    np.testing.assert_allclose(shared, np.full(3, p["w"].sum()))



def test_out_axes_out_of_range_is_refused():
    # moveaxis wrapped an out-of-range out_axes around: out_axes=2 on a (4, 3) result gave (4, 3), -3 gave (3, 4),
    # and a scalar function's out_axes=1 was ignored; JAX refuses all three
    X = RNG.standard_normal((4, 3))
    for f, ax in ((lambda x: x * 2, 2), (lambda x: x * 2, -3), (lambda x: x.sum(), 1)):
        with pytest.raises(ValueError, match=f"out_axes {ax} is out of range for output 0"):
            gg.vmap(f, out_axes=ax)(X)
    np.testing.assert_allclose(gg.vmap(lambda x: x * 2, out_axes=-2)(X), X * 2)
    np.testing.assert_allclose(gg.vmap(lambda x: x * 2, out_axes=-1)(X), (X * 2).T)


def test_axes_are_pytree_prefixes():
    X, W = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 4))
    # out_axes as a dict for a dict output (a TypeError before), matched by key
    out = gg.vmap(lambda x: {"q": x[:2, None] * x, "p": x * 2}, out_axes={"q": 2, "p": 1})(X)
    np.testing.assert_allclose(out["p"], (X * 2).T)
    np.testing.assert_allclose(out["q"], np.moveaxis(X[:, :2, None] * X[:, None], 0, 2))
    # a tuple cannot stand for a dict (its leaves are in sorted key order, not the order the dict was written)
    with pytest.raises(ValueError, match=r"out_axes \(1, 2\) is not a prefix of the structure of the output"):
        gg.vmap(lambda x: {"q": x, "p": x * 2}, out_axes=(1, 2))(X)
    with pytest.raises(ValueError, match=r"out_axes \(1,\) is not a prefix"):
        gg.vmap(lambda x: x * 2, out_axes=(1,))(X)  # a TypeError about len(int) before
    # an entry of in_axes may be a prefix of its argument: (None, 1) for (w, (x, y)) maps both x and y
    f = lambda p, v: p[0] * (p[1][0] + p[1][1]) + v  # noqa: E731
    out = gg.vmap(f, in_axes=((None, 1), 0))((X[0], (W, W * 3)), X)
    np.testing.assert_allclose(out, X[0] * (W.T + 3 * W.T) + X)
    with pytest.raises(ValueError, match=r"in_axes\[0\] \{'a': 0\} is not a prefix of the structure of argument 0"):
        gg.vmap(lambda p: p["a"] * p["b"], in_axes=({"a": 0},))({"a": X, "b": X})


def test_axis_size_when_no_argument_is_mapped():
    # JAX's axis_size (a TypeError about an unexpected keyword before)
    w = RNG.standard_normal(2)
    np.testing.assert_allclose(gg.vmap(lambda w: w * 2, in_axes=None, axis_size=3)(w), np.stack([w * 2] * 3))
    out = gg.vmap(lambda w, x: (w * 2, x), in_axes=(None, 0), axis_size=3, out_axes=(1, 0))(w, np.ones(3))
    np.testing.assert_allclose(out[0], np.stack([w * 2] * 3, axis=1))
    with pytest.raises(ValueError, match="axis_size=4, but x has size 3"):
        gg.vmap(lambda w, x: w * x, in_axes=(None, 0), axis_size=4)(w, np.ones(3))


@pytest.mark.parametrize("transform", [gg.vmap, gg.jacrev, gg.jacfwd])
def test_random_draws_are_refused_with_advice_that_fits_them(transform):
    # the message only said "call .eval() on the module first", which does not help with gg.randn
    with pytest.raises(NotImplementedError, match=r"draws random numbers \(gg.randn.*draw them outside and pass them"):
        transform(lambda x: x + gg.randn(3))(np.ones((2, 3)))

def test_vmap_of_vmap_and_jacobians():
    X = RNG.standard_normal((2, 3, 4))
    out = gg.vmap(gg.vmap(lambda x: x.sin().sum()))(X)
    np.testing.assert_allclose(out, np.sin(X).sum(-1))
    jac = gg.vmap(gg.jacrev(lambda x: x.tanh() * x.sum()))(X[0])
    np.testing.assert_allclose(jac, np.stack([gg.jacfwd(lambda x: x.tanh() * x.sum())(x) for x in X[0]]),
                               rtol=1e-12)
    compiled = gg.compile(gg.vmap(lambda x: x.sin().sum()))
    np.testing.assert_allclose(compiled(gg.tensor(X[0])).numpy(), np.sin(X[0]).sum(-1))


def test_errors_name_the_problem(monkeypatch):
    with pytest.raises(ValueError, match="inconsistent sizes for the mapped axis: x has size 3, y has size 4"):
        gg.vmap(lambda x, y: x + y.sum())(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="no argument is mapped"):
        gg.vmap(lambda x: x, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="in_axes 2 is out of range for x of shape"):
        gg.vmap(lambda x: x, in_axes=2)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="cannot map over"):
        gg.vmap(lambda x, s: x * s, in_axes=(0, 0))(np.ones(3), 2.0)
    monkeypatch.delitem(batching.BATCH_RULES, "sin")
    with pytest.raises(NotImplementedError, match="primitive 'sin' has no batching rule .*test_vmap.py"):
        gg.vmap(lambda x: x.sin())(np.ones((2, 3)))


def test_every_primitive_has_a_batching_rule():
    from graphgrad.ir.registry import OPS

    # ops without tensor inputs (literals, factories) are never batched: the interpreter builds them as they are;
    # structured control flow (cond, scan, while, get) has rules of its own (tests/runtime/test_vmap_control.py)
    no_inputs = {"constant", "full", "arange"}
    codegen_only = {"fused"}  # made after differentiation, for code generation (passes/fusion.py)
    assert sorted(op for op in OPS if op not in batching.BATCH_RULES) == sorted(no_inputs | codegen_only)


def test_factories_inside_vmap():
    out = gg.vmap(lambda x: x + gg.arange(3, dtype=gg.float64) + gg.full((3,), 2.0, dtype=gg.float64))(
        np.ones((2, 3)))
    np.testing.assert_allclose(out, np.ones((2, 3)) + np.arange(3) + 2.0)


def test_functions_closing_over_traced_values():
    """JAX's idiom: an inner transform of a lambda that reads the outer function's (traced) arguments."""
    w = RNG.standard_normal(4)
    X, Y = RNG.standard_normal((8, 4)), RNG.standard_normal(8)
    expected = gg.vmap(gg.grad(loss), in_axes=(None, 0, 0))(w, X, Y)
    per_example = gg.vmap(lambda x, y: gg.jacrev(lambda w: loss(w, x, y))(w))(X, Y)
    np.testing.assert_allclose(per_example, expected, rtol=1e-12)
    per_example = gg.vmap(lambda x, y: gg.grad(lambda w: loss(w, x, y))(w))(X, Y)
    np.testing.assert_allclose(per_example, expected, rtol=1e-12)

    for transform in (gg.jacfwd, gg.grad):
        @gg.compile
        def step(w, x, y):
            return w - 0.1 * transform(lambda w: loss(w, x, y).sum())(w)

        np.testing.assert_allclose(step(gg.tensor(w), gg.tensor(X), gg.tensor(Y)).numpy(),
                                   w - 0.1 * expected.sum(0), rtol=1e-12)


def test_results_are_arrays_of_their_own():
    x = RNG.standard_normal((3, 2))
    out = gg.vmap(lambda x, w: (x, w * 1), in_axes=(0, None), out_axes=(0, 0))(x, np.ones(2))
    for o in out:
        o += 1  # neither the caller's x nor a read-only broadcast
    np.testing.assert_allclose(out[1], np.full((3, 2), 2.0))
    assert not np.shares_memory(out[0], x)
