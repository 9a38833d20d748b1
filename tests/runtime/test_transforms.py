"""JAX's transforms (vjp, jvp, linearize, jacrev, jacfwd, hessian, hvp, elementwise_grad) against finite
differences in float64, against each other, and composed with each other and with compile."""
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import numerical_jacobian

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 5))
W = RNG.standard_normal((3, 5))
B = RNG.standard_normal(3)
K = RNG.standard_normal((2, 1, 3, 3))


def f_poly(x):
    return (x.sin() * x).sum() + (x ** 3).sum() / 3


def f_logsumexp(x):
    return (gg.tensor(A) @ x).logsumexp(0)


def f_layer(x):
    return ((gg.tensor(W) @ x + gg.tensor(B)).tanh() ** 2).sum()


def f_ratio(x):
    return (x.sigmoid() * (-x * x).exp()).sum() / (1 + (x * x).sum())


def f_shapes(x):
    m = x.reshape(5, 1) @ x.reshape(1, 5)          # outer product: matmul, reshape
    return (m.T.softmax(1)[0] * x).sum() + x[1:4].prod() + x.mean()


SCALAR_FUNCTIONS = [f_poly, f_logsumexp, f_layer, f_ratio, f_shapes]


def value(f, x):
    return float(f(gg.tensor(x)).item())


def fd_hessian(f, x, h=1e-4):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            def at(si, sj):
                y = x.copy()
                y[i] += si * h
                y[j] += sj * h
                return value(f, y)
            H[i, j] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)
    return H


@pytest.mark.parametrize("f", SCALAR_FUNCTIONS, ids=lambda f: f.__name__)
def test_hessian_equals_finite_differences(f):
    x = RNG.standard_normal(5)
    H = gg.hessian(f)(x)
    assert isinstance(H, np.ndarray) and H.shape == (5, 5) and H.dtype == np.float64
    np.testing.assert_allclose(H, fd_hessian(f, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hessian_closed_form():
    x = np.array([0.3, -0.7, 1.2])
    H = gg.hessian(lambda x: (x.sin() * x).sum() + (x ** 3).sum())(x)
    np.testing.assert_allclose(H, np.diag(-x * np.sin(x) + 2 * np.cos(x) + 6 * x), rtol=1e-12)


def vector_fns():
    return {
        "elementwise": lambda x: x.sin() * x.exp(),
        "matmul": lambda x: (gg.tensor(A) @ x).tanh(),
        "outer": lambda x: (x.reshape(5, 1) * x).reshape(25)[::3],
        "softmax": lambda x: x.softmax(0) * x.sum(),
        "concat": lambda x: gg.cat([x[:2] * 2, x.cos(), x.amax().reshape(1)]),
        "indexing": lambda x: x[[0, 2, 2]] * x[gg.tensor([1, 4])].sum(),
        "reductions": lambda x: gg.stack([x.prod(), x.logsumexp(0), x.reshape(5, 1).mean(), x.std()]),
        "pow div where": lambda x: gg.where(x > 0, x ** 3, x / (1 + x * x)) + gg.maximum(x, 0.3) + x.abs().sqrt(),
        "einsum cumsum gather pad": lambda x: gg.cat([
            gg.einsum("i,j->ij", x, x.cumsum(0).sin()).reshape(-1)[::4],
            F.pad(x.gather(0, gg.tensor([4, 0, 0])) ** 2, (1, 1))]),
        "convolution": lambda x: F.conv2d((x.reshape(5, 1) * x).reshape(1, 1, 5, 5), gg.tensor(K), padding=1)
        .reshape(-1).log_softmax(0),
    }


@pytest.mark.parametrize("name", list(vector_fns()))
def test_jacfwd_equals_jacrev_and_finite_differences(name):
    f = vector_fns()[name]
    x = RNG.standard_normal(5)
    jr, jf = gg.jacrev(f)(x), gg.jacfwd(f)(x)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    (num,) = numerical_jacobian(lambda x: f(gg.tensor(x)).numpy(), [x])
    np.testing.assert_allclose(jr.reshape(num.shape), num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(vector_fns()))
def test_jvp_matches_finite_differences_along_random_directions(name):
    f = vector_fns()[name]
    x = RNG.standard_normal(5)
    for _ in range(3):
        v = RNG.standard_normal(5)
        y, t = gg.jvp(f, (x,), (v,))
        np.testing.assert_allclose(y, f(gg.tensor(x)).numpy(), rtol=1e-12)
        h = 1e-6
        fd = (f(gg.tensor(x + h * v)).numpy() - f(gg.tensor(x - h * v)).numpy()) / (2 * h)
        np.testing.assert_allclose(t, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(vector_fns()))
def test_vjp_is_the_transpose_of_jvp(name):
    f = vector_fns()[name]
    x = RNG.standard_normal(5)
    y, f_vjp = gg.vjp(f, x)
    u = RNG.standard_normal(y.shape)
    v = RNG.standard_normal(5)
    (g,) = f_vjp(u)
    _, t = gg.jvp(f, (x,), (v,))
    np.testing.assert_allclose(np.dot(g, v), np.dot(u.ravel(), t.ravel()), rtol=1e-10)


def test_linearize_runs_the_linear_part_again_and_again():
    f = vector_fns()["matmul"]
    x = RNG.standard_normal(5)
    y, f_jvp = gg.linearize(f, x)
    np.testing.assert_allclose(y, f(gg.tensor(x)).numpy())
    for _ in range(2):
        v = RNG.standard_normal(5)
        np.testing.assert_allclose(f_jvp(v), gg.jvp(f, (x,), (v,))[1], rtol=1e-12)
    # the linear part does not recompute the forward: no tanh in it
    assert "tanh" not in [n.op for n in f_jvp.graph().nodes]


def test_hvp_equals_hessian_times_vector():
    x, v = RNG.standard_normal(5), RNG.standard_normal(5)
    (hv,) = gg.hvp(f_layer, (x,), (v,))
    np.testing.assert_allclose(hv, gg.hessian(f_layer)(x) @ v, rtol=1e-10)


def test_hvp_of_two_arguments():
    f = lambda a, b: ((a * b).sin()).sum()  # noqa: E731
    a, b, va, vb = (RNG.standard_normal(3) for _ in range(4))
    ha, hb = gg.hvp(f, (a, b), (va, vb))
    H = gg.hessian(f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ha, H[0][0] @ va + H[0][1] @ vb, rtol=1e-10)
    np.testing.assert_allclose(hb, H[1][0] @ va + H[1][1] @ vb, rtol=1e-10)


def test_elementwise_grad():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(gg.elementwise_grad(gg.tanh)(x), 1 - np.tanh(x) ** 2, rtol=1e-12)
    np.testing.assert_allclose(gg.elementwise_grad(lambda x, y: x * y, argnums=1)(x, 2 * x), x)


# -- pytrees, argnums, has_aux, tensors -------------------------------------------------------------

def test_pytrees_in_and_out():
    def f(params, x):
        return {"y": (params["w"] @ x + params["b"]).tanh(), "norm": (params["w"] ** 2).sum()}

    params = {"w": RNG.standard_normal((2, 3)), "b": RNG.standard_normal(2)}
    x = RNG.standard_normal(3)
    jr, jf = gg.jacrev(f)(params, x), gg.jacfwd(f)(params, x)
    assert set(jr) == {"y", "norm"} and set(jr["y"]) == {"w", "b"}
    assert jr["y"]["w"].shape == (2, 2, 3) and jr["norm"]["b"].shape == (2,)
    for k in ("y", "norm"):
        for p in ("w", "b"):
            np.testing.assert_allclose(jf[k][p], jr[k][p], atol=1e-12)
    np.testing.assert_allclose(jr["norm"]["w"], 2 * params["w"])
    y, f_vjp = gg.vjp(f, params, x)
    ct = {"y": np.ones(2), "norm": np.array(0.0)}
    g_params, g_x = f_vjp(ct)
    np.testing.assert_allclose(g_params["b"], 1 - y["y"] ** 2)
    np.testing.assert_allclose(g_x, gg.jacrev(f, argnums=1)(params, x)["y"].sum(0))
    out, tangent = gg.jvp(f, (params, x), ({"w": np.zeros((2, 3)), "b": np.ones(2)}, np.zeros(3)))
    np.testing.assert_allclose(tangent["y"], 1 - y["y"] ** 2)
    np.testing.assert_allclose(tangent["norm"], 0.0)


def test_argnums_tuple_and_has_aux():
    def f(a, b):
        y = (a * b.sum()).sin()
        return y, {"mean": y.mean()}

    a, b = RNG.standard_normal(3), RNG.standard_normal(2)
    (ja, jb), aux = gg.jacrev(f, argnums=(0, 1), has_aux=True)(a, b)
    (fa, fb), aux_f = gg.jacfwd(f, argnums=(0, 1), has_aux=True)(a, b)
    assert ja.shape == (3, 3) and jb.shape == (3, 2)
    np.testing.assert_allclose(fa, ja, atol=1e-12)
    np.testing.assert_allclose(fb, jb, atol=1e-12)
    np.testing.assert_allclose(aux["mean"], np.sin(a * b.sum()).mean())
    np.testing.assert_allclose(aux_f["mean"], aux["mean"])
    y, f_vjp, aux_v = gg.vjp(f, a, b, has_aux=True)
    np.testing.assert_allclose(aux_v["mean"], aux["mean"])
    ga, gb = f_vjp(np.ones(3))
    np.testing.assert_allclose(ga, ja.sum(0))
    np.testing.assert_allclose(gb, jb.sum(0))
    _, t, aux_j = gg.jvp(f, (a, b), (np.ones(3), np.zeros(2)), has_aux=True)
    np.testing.assert_allclose(t, ja.sum(1))
    H, aux_h = gg.hessian(lambda x: (f(x, b)[0].sum(), f(x, b)[1]), has_aux=True)(a)
    np.testing.assert_allclose(H, gg.hessian(lambda x: f(x, b)[0].sum())(a))


def test_python_floats_are_differentiated():
    np.testing.assert_allclose(gg.hessian(lambda x: x ** 4)(2.0), 48.0)
    np.testing.assert_allclose(gg.jvp(lambda x: x ** 2, (3.0,), (1.0,))[1], 6.0)


def test_tensors_in_tensors_out_and_backward_through_a_transform():
    x = gg.tensor([0.5, -1.0, 2.0], dtype=gg.float64)
    H = gg.hessian(f_poly)(x)
    assert isinstance(H, gg.Tensor)
    # third derivative: d/dx sum(diag(H)), through the eager engine
    x.requires_grad_()
    gg.hessian(f_poly)(x).sum().backward()
    xs = x.detach().numpy()
    # f''' of sin(x) x + x^3/3 is -x cos x - 3 sin x + 2
    np.testing.assert_allclose(x.grad.numpy(), -xs * np.cos(xs) - 3 * np.sin(xs) + 2, rtol=1e-10)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match=r"requires real-valued \(floating point\) inputs, got int64 .* for argument 0"):
        gg.jacrev(lambda i: i * 2)(np.arange(3))
    with pytest.raises(ValueError, match="tangent 0 must have the primal's shape"):
        gg.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="has_aux=True"):
        gg.jacrev(lambda x: x * 2, has_aux=True)(np.ones(2))
    with pytest.raises(ValueError, match="argnums 3 is out of range"):
        gg.jacfwd(lambda x: x, argnums=3)(np.ones(2))
    y, f_vjp = gg.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match="cotangent 0 must have the shape of output 0"):
        f_vjp(np.ones(4))


# -- compositions -----------------------------------------------------------------------------------

def test_compositions_agree():
    x = RNG.standard_normal(5)
    H = gg.hessian(f_layer)(x)
    for composed in (gg.jacrev(gg.jacrev(f_layer)), gg.jacfwd(gg.jacfwd(f_layer)), gg.jacrev(gg.jacfwd(f_layer)),
                     gg.jacfwd(gg.grad(f_layer)), gg.jacrev(gg.grad(f_layer))):
        np.testing.assert_allclose(composed(x), H, rtol=1e-10, atol=1e-12)
    # grad of a jvp: d/dx (J(x) v) . 1 = H v for a gradient map
    v = RNG.standard_normal(5)
    g = gg.grad(lambda x: gg.jvp(gg.grad(f_layer), (x,), (v,))[1].sum())(x)
    np.testing.assert_allclose(g, np.einsum("jik,i->k", third(f_layer, x), v), rtol=1e-6, atol=1e-8)
    # vmap of hvp: the Hessian's rows
    rows = gg.vmap(lambda v: gg.hvp(f_layer, (x,), (v,))[0])(np.eye(5))
    np.testing.assert_allclose(rows, H, rtol=1e-10, atol=1e-12)


def third(f, x, h=1e-5):
    """d H / d x by central differences of the Hessian: T[i, j, k] = d H[i, j] / d x[k]."""
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((gg.hessian(f)(x + e) - gg.hessian(f)(x - e)) / (2 * h))
    return np.stack(cols, -1)


def test_compiled_hessian_is_one_module():
    compiled = gg.compile(gg.hessian(f_layer))
    x = gg.tensor(RNG.standard_normal(5))
    source = compiled.source(x)
    assert source.count("def forward(") == 1 and "def backward(" not in source
    np.testing.assert_allclose(compiled(x).numpy(), gg.hessian(f_layer)(x.numpy()), rtol=1e-12)


def test_transformed_functions_show_their_graph_and_source():
    x = RNG.standard_normal(5)
    h = gg.hessian(f_layer)
    assert "tanh" in str(h.graph(x, stage="traced"))
    assert len(h.graph(x).nodes) <= len(h.graph(x, stage="traced").nodes)
    assert "def forward(x" in h.source(x)


def test_a_function_closing_over_a_tensor_that_requires_grad():
    w = gg.tensor(RNG.standard_normal(5), requires_grad=True)
    x = RNG.standard_normal(5)
    _, t = gg.jvp(lambda x: (x * w).sin(), (gg.tensor(x),), (gg.ones(5, dtype=gg.float64),))
    t.sum().backward()   # d/dw sum(cos(x w) w) = cos(x w) - x w sin(x w)
    wn = w.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), np.cos(x * wn) - x * wn * np.sin(x * wn), rtol=1e-10)


def test_a_module_switching_between_train_and_eval_retraces():
    drop = gg.nn.Dropout(0.5)
    net = gg.nn.Sequential(gg.nn.Linear(3, 3).double(), drop)
    x = RNG.standard_normal(3)
    net.eval()
    jac = gg.jacrev(lambda x: net(x))
    J_eval = jac(x)  # a tensor with history: the parameters it closes over require grad
    np.testing.assert_allclose(J_eval.detach().numpy(), net[0].weight.detach().numpy(), rtol=1e-12)
    net.train()
    with pytest.raises(NotImplementedError, match="call .eval"):
        jac(x)   # dropout in training mode: never the stale evaluation-mode graph


def test_grad_shows_its_graph_and_source():
    x = RNG.standard_normal(3)
    g = gg.grad(lambda x: (x.sin() * x).sum())
    assert [n.op for n in g.graph(x, stage="traced").nodes] == ["sin", "mul", "sum"]
    assert "cos" in str(g.graph(x)) and "def value_and_grad(x):" in g.source(x)
    assert str(gg.value_and_grad(lambda x: (x * x).sum()).graph(x, stage="adjoint")).count("mul") >= 2
    with pytest.raises(ValueError, match="unknown stage 'forward'"):
        g.graph(x, stage="forward")


def test_jacobians_of_an_integer_output_are_zeros_of_the_input_dtype():
    x = np.array([1.0, 3.0, 2.0])
    for jac in (gg.jacrev, gg.jacfwd):
        j_index, j_double = jac(lambda x: (x.argmax(), x * 2))(x)
        assert j_index.dtype == np.float64 and not j_index.any()
        np.testing.assert_allclose(j_double, 2 * np.eye(3))


def test_jvp_through_structured_control_flow():
    f = lambda x: gg.cond(x.sum() > 0, lambda v: v.sin() * 2.0, lambda v: v * v, x)  # noqa: E731
    for x in (np.array([0.3, 0.5]), np.array([-0.3, -0.5])):
        _, t = gg.jvp(f, (x,), (np.array([1.0, -2.0]),))
        h = 1e-6
        v = np.array([1.0, -2.0])
        fd = (f(gg.tensor(x + h * v)).numpy() - f(gg.tensor(x - h * v)).numpy()) / (2 * h)
        np.testing.assert_allclose(t, fd, rtol=1e-6)
        np.testing.assert_allclose(gg.jacrev(f)(x) @ v, fd, rtol=1e-6)   # its rows batched through the cond


@pytest.mark.parametrize("cotangent", [1.0, np.float64(1.0), 1, np.array(1.0)], ids=["float", "np.float64", "int",
                                                                                       "0-d array"])
def test_vjp_fn_takes_a_number_as_the_cotangent_of_a_scalar_output_inside_another_transform(cotangent):
    f = lambda x: (gg.numpy.tanh(x) ** 3).sum()  # noqa: E731
    x = np.array([0.1, -0.4, 0.3])
    expected = 3 * np.tanh(x) ** 2 * (1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(gg.vjp(f, x)[1](cotangent)[0], expected)
    # inside grad: the cotangent is a constant of the outer trace
    outer = gg.grad(lambda z: gg.vjp(f, z)[1](cotangent)[0].sum())
    numeric = numerical_jacobian(lambda z: gg.vjp(f, z)[1](np.array(1.0))[0].sum(), [x])[0].ravel()
    np.testing.assert_allclose(outer(x), numeric, rtol=1e-6, atol=1e-9)


def test_grad_of_a_function_of_empty_containers_is_empty_containers():
    assert gg.grad(lambda x: 1.0)([]) == []
    assert gg.grad(lambda x, y: 2.0, argnums=(0, 1))((), {}) == ((), {})
    value, g = gg.value_and_grad(lambda x: 3.0)([])
    assert value == 3.0 and g == []
    for f, out in ((lambda x: True, r"bool\[\]"), (lambda x: np.ones(2), r"float64\[2\]")):  # as a traced output
        with pytest.raises(TypeError, match=f"real-valued scalar output; <lambda> returns {out}"):
            gg.grad(f)([])


def test_a_static_float_keys_its_specialization_bit_for_bit():
    # 0.0 == -0.0, so a value-keyed specialization for s=0.0 answered s=-0.0 as well: copysign(1, s) gave +1
    x = np.array([1.0, 2.0])
    f = lambda x, s: x * np.copysign(1.0, s)  # noqa: E731
    g = gg.grad(lambda x, s: f(x, s).sum())
    v = gg.vmap(f, in_axes=(0, None))
    j = gg.jacrev(f)
    for s in (0.0, -0.0):
        sign = np.copysign(1.0, s)
        np.testing.assert_array_equal(g(x, s), np.full(2, sign))
        np.testing.assert_array_equal(v(x, s), sign * x)
        np.testing.assert_array_equal(j(x, s), sign * np.eye(2))


@pytest.mark.parametrize("transform", [gg.vmap, gg.jacrev, gg.jacfwd, gg.hessian, gg.elementwise_grad])
def test_keyword_arguments_are_refused_naming_the_function_and_the_way_out(transform):
    # Python's message named Staged.__call__ ("got an unexpected keyword argument 'k'")
    def scaled(x, k=1.0):
        return (x * k).sum()

    with pytest.raises(TypeError, match=r"of scaled: keyword arguments \(k\) are not supported.*functools.partial"):
        transform(scaled)(np.ones((2, 3)), k=2.0)



SCALE = 2.0


def _scaled_loss(w):
    return ((w * SCALE).sum()) ** 2


@pytest.mark.parametrize("make, batched", [(lambda f: gg.vmap(gg.grad(f)), True),
                                           (lambda f: (lambda t: lambda X: t(X)[1])(gg.vmap(gg.value_and_grad(f))), True),
                                           (lambda f: gg.jacrev(gg.grad(f)), False),
                                           (lambda f: gg.jacfwd(gg.grad(f)), False)])
def test_a_transform_of_grad_retraces_when_a_global_the_function_reads_changes(make, batched, monkeypatch):
    # grad's specialization was guarded by SCALE, but a transform of it was not told: vmap(grad(f)) kept
    # returning the gradient for SCALE = 2 after SCALE became 3
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    arg = X if batched else X[0]
    transformed = make(_scaled_loss)
    before = transformed(arg)
    monkeypatch.setitem(globals(), "SCALE", 3.0)
    expected = make(_scaled_loss)(arg)
    np.testing.assert_allclose(expected, before * 9 / 4, rtol=1e-12)  # the gradient is 2 * SCALE ** 2 * sum(w)
    np.testing.assert_allclose(transformed(arg), expected, rtol=1e-12)


@pytest.mark.parametrize("transform", [gg.grad, gg.value_and_grad, gg.jacrev, gg.jacfwd, gg.hessian])
def test_holomorphic_false_is_accepted_and_true_refused(transform):
    # JAX code passes holomorphic=False explicitly; it was a TypeError about an unexpected keyword
    f = lambda x: (x ** 3).sum()  # noqa: E731
    x = np.array([1.0, 2.0])
    out = transform(f, holomorphic=False)(x)
    expected = transform(f)(x)
    for a, b in zip(out if isinstance(out, tuple) else (out,), expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NotImplementedError, match="no complex dtypes"):
        transform(f, holomorphic=True)


@pytest.mark.parametrize("transform", [gg.jacrev, gg.jacfwd, gg.hessian, gg.elementwise_grad])
def test_numpy_float_scalars_are_differentiated_in_their_dtype(transform):
    # np.float32(2.0) was "requires real-valued (floating point) inputs, got float32" (gg.grad took it)
    out = transform(lambda x: x ** 3)(np.float32(2.0))
    assert np.asarray(out).dtype == np.float32 and np.asarray(out).shape == ()
    np.testing.assert_allclose(out, 12.0, rtol=1e-6)  # 3 x^2 and 6 x are both 12 at x = 2
    y, t = gg.jvp(lambda x: x ** 3, (np.float32(2.0),), (np.float32(1.0),))
    assert np.asarray(t).dtype == np.float32 and t == 12.0


def test_a_static_numpy_scalar_keys_its_specialization_by_value():
    # keyed by id(), each call with a new np.float32/np.int64 object traced and cached the function again
    X = np.ones((2, 3), np.float32)
    f = gg.vmap(lambda x, s: x * s, in_axes=(0, None))
    j = gg.jacrev(lambda x, n: x * n)
    for k in (1, 2, 1, 2, 1):
        np.testing.assert_array_equal(f(X, np.float32(k)), X * k)
        np.testing.assert_array_equal(j(X[0], np.int64(k)), k * np.eye(3))
    assert len(f._cache) == 2 and len(j._cache) == 2


def test_linearize_takes_numbers_as_tangents_of_numbers():
    # f_jvp(1.0) was "tangent 0 must have the primal's shape f64[]; got float" (jvp took 1.0)
    f = lambda x, s: (x * s).sin()  # noqa: E731
    y, f_jvp = gg.linearize(f, np.array([0.5, 1.0]), 3.0)
    _, expected = gg.jvp(f, (np.array([0.5, 1.0]), 3.0), (np.array([1.0, 0.0]), 2.0))
    np.testing.assert_allclose(f_jvp(np.array([1.0, 0.0]), 2.0), expected, rtol=1e-12)


def _noisy_objective(m):  # HIPS autograd's black-box VI draws its sample inside the objective
    eps = np.random.randn(3)
    return ((m + eps) ** 2).sum()


@pytest.mark.parametrize("make, arg", [(gg.grad, np.zeros(3)), (lambda f: gg.vmap(gg.grad(f)), np.zeros((2, 3))),
                                       (gg.jacrev, np.zeros(3)), (gg.compile, gg.zeros(3, dtype=gg.float64))])
def test_numpy_random_draws_while_traced_warn_and_are_drawn_again(make, arg):
    # the sample became a constant of the traced function: every call silently reused the same noise
    f = make(_noisy_objective)
    with pytest.warns(UserWarning, match="drew random numbers from NumPy's global random generator"):
        first = np.asarray(f(arg))
    with pytest.warns(UserWarning):
        second = np.asarray(f(arg))
    assert not np.allclose(first, second)  # a new sample at each call, as HIPS autograd draws eagerly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(lambda m: ((m + np.ones(3)) ** 2).sum())(arg)
