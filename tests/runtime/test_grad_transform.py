"""gg.grad / gg.value_and_grad: argument handling, coinciding outputs, closed-over constants, higher order."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.utils.gradcheck import numerical_jacobian


def numeric_grad(f, *args, argnum=0):
    """Central differences of a scalar NumPy function in one argument (float64)."""
    args = [np.asarray(a, dtype=np.float64) for a in args]

    def partial(x):
        return np.asarray(f(*args[:argnum], x, *args[argnum + 1:]))

    return numerical_jacobian(partial, [args[argnum]])[0].reshape(args[argnum].shape)


# -- two outputs or two cotangents that are the same value ---------------------------------------

def _inner(x, y, v):
    return (x + y) * v  # d/dx and d/dy are the same expression: v


@pytest.mark.parametrize("argnums, weights", [((0, 1), (1.0, 10.0)), ((1, 0), (1.0, 10.0)),
                                              ((0, 1), (10.0, 1.0)), ((0, 0), (1.0, 10.0)),
                                              ((1, 1), (3.0, 10.0)), ((0, 1, 0), (1.0, 10.0))])
def test_second_order_keeps_every_coinciding_inner_gradient(argnums, weights):
    def outer(x, y, v):
        g = gg.grad(_inner, argnums=argnums)(x, y, v)
        return weights[0] * g[0] + weights[1] * g[1]

    a = np.array(1.0)
    expected = numeric_grad(outer, a, a, a, argnum=2)
    np.testing.assert_allclose(expected, sum(weights), rtol=1e-8)
    np.testing.assert_allclose(gg.grad(outer, argnums=2)(a, a, a), expected, rtol=1e-8)


def _three(x, y, z):
    return gnp.sum(x * y + y * z + gnp.sin(x) * z ** 2)


@pytest.mark.parametrize("argnums", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (0, 2), (2, 0), (1, 1), (2,)])
def test_argnums_in_any_order_first_and_second_order(argnums):
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(3) for _ in range(3)]
    grads = gg.grad(_three, argnums=argnums)(*args)
    assert len(grads) == len(argnums)
    for k, g in zip(argnums, grads):
        np.testing.assert_allclose(g, numeric_grad(_three, *args, argnum=k), rtol=1e-6)
    weights = [1.0, 10.0, 100.0][:len(argnums)]

    def outer(*a):
        return gnp.sum(sum(w * g for w, g in zip(weights, gg.grad(_three, argnums=argnums)(*a))))

    def outer_np(*a):
        return np.sum(sum(w * g for w, g in zip(weights, gg.grad(_three, argnums=argnums)(*a))))

    for k in range(3):
        np.testing.assert_allclose(gg.grad(outer, argnums=k)(*args), numeric_grad(outer_np, *args, argnum=k),
                                   rtol=1e-5, atol=1e-7)


def test_second_order_coinciding_gradients_issue_example():
    a = np.array(1.0)
    f = gg.grad(lambda x, y, v: (lambda g: g[0] + 10.0 * g[1])(
        gg.grad(lambda x, y, v: (x + y) * v, argnums=(0, 1))(x, y, v)), argnums=2)
    np.testing.assert_allclose(f(a, a, a), 11.0)


def test_coinciding_gradients_replayed_on_eager_tensors_keep_both_terms():
    x, y = (gg.tensor(1.0, dtype=gg.float64) for _ in range(2))
    v = gg.tensor(2.0, dtype=gg.float64, requires_grad=True)
    gx, gy = gg.grad(_inner, argnums=(0, 1))(x, y, v)
    (dv,) = gg.autograd.grad(gx + 10.0 * gy, v)
    assert dv.item() == 11.0


def test_coinciding_gradients_inside_compile_then_backward():
    @gg.compile
    def f(x, y, v):
        gx, gy = gg.grad(lambda x, y, v: ((x + y) * v).sum(), argnums=(0, 1))(x, y, v)
        return (gx + 10.0 * gy).sum()

    x, y = gg.ones(3, dtype=gg.float64), gg.ones(3, dtype=gg.float64)
    v = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
    f(x, y, v).backward()
    np.testing.assert_allclose(v.grad.numpy(), [11.0, 11.0, 11.0])


def test_coinciding_gradients_are_distinct_arrays():
    gx, gy = gg.grad(lambda x, y: gnp.sum((x + y) * 3.0), argnums=(0, 1))(np.ones(2), np.ones(2))
    np.testing.assert_allclose(gx, [3.0, 3.0])
    gx *= 2  # a NumPy user may update one gradient in place; the other must not change
    np.testing.assert_allclose(gy, [3.0, 3.0])


def test_compiled_outputs_that_coincide_each_get_their_cotangent():
    @gg.compile
    def f(x):
        y = x * 2.0
        return y, y

    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    a, b = f(x)
    (a + 10.0 * b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [22.0, 22.0])


def test_compiled_outputs_merged_by_cse_are_separate_tensors():
    @gg.compile
    def f(x):
        return x * 2.0, x * 2.0  # CSE makes these one value

    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    a, b = f(x)
    (a + 10.0 * b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [22.0, 22.0])
    with gg.no_grad():
        a, b = f(x)
        a.add_(1.0)
    np.testing.assert_allclose(b.numpy(), [2.0, 4.0])
    arrays = f(np.ones(2))  # NumPy in, NumPy out: two arrays as well
    arrays[0][0] = 5.0
    assert arrays[1][0] == 2.0


def test_compiled_output_that_backward_reads_cannot_change_silently():
    @gg.compile
    def f(x):
        return x.exp()  # the output is also what backward reads

    x = gg.tensor([0.0, 1.0], dtype=gg.float64, requires_grad=True)
    y = f(x)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[torch.DoubleTensor \[2\]\], which "
                                           r"is output 0 of CompiledFunction, is at version 1; expected "
                                           r"version 0"):
        y.sum().backward()


def test_compiled_input_that_backward_reads_cannot_change_silently():
    @gg.compile
    def f(w, x):
        return (w * x).sum()  # backward reads x

    w = gg.ones(2, dtype=gg.float64, requires_grad=True)
    x = gg.tensor([1.0, 2.0], dtype=gg.float64)
    loss = f(w, x)
    x.mul_(3.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    assert w.grad is None
    f(w, x).backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 6.0])


def test_compiled_coinciding_input_gradients_accumulate_separately():
    @gg.compile
    def f(x, y):
        return ((x + y) * 3.0).sum()

    x = gg.ones(2, dtype=gg.float64, requires_grad=True)
    y = gg.ones(2, dtype=gg.float64, requires_grad=True)
    f(x, y).backward()
    x.grad.zero_()
    f(x, y).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 6.0])


# -- closed-over arrays and literals become constants that every pass carries --------------------

V = np.array([2.0, 3.0])
M = np.array([[0.0, 1.0], [2.0, 3.0]])


@pytest.mark.parametrize("f", [
    lambda x: gnp.sum(x * V),
    lambda x: gnp.sum((x + np.zeros(2)) ** 2),
    lambda x: gnp.sum(x @ M),
    lambda x: gnp.sum(gnp.dot(M, x) ** 2),
    lambda x: gnp.sum(x * [0.5, 0.25]),
    lambda x: gnp.sum(V / x),
    lambda x: gnp.sum(x * np.array(3.0)),
], ids=["ndarray", "zeros", "matmul", "dot", "list", "div", "0-d"])
def test_grad_through_closed_over_arrays(f):
    x = np.array([0.7, -1.3])
    np.testing.assert_allclose(gg.grad(f)(x), numeric_grad(f, x), rtol=1e-6)
    # second order: the gradient of a gradient that reads the constant
    outer = gg.grad(lambda x: gnp.sum(gg.grad(f)(x) * V))
    np.testing.assert_allclose(outer(x), numeric_grad(lambda x: np.sum(gg.grad(f)(x) * V), x), rtol=1e-5, atol=1e-8)


def test_compiled_backward_through_closed_over_arrays():
    @gg.compile
    def f(x):
        return (x * V + np.zeros(2)).sum() + (x @ M).sum()

    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), V + M.sum(axis=1))


def test_closed_over_array_replayed_on_eager_tensors_records_history():
    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    g = gg.grad(lambda x: (x * x * V).sum())(x)
    (h,) = gg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 2 * V)


# -- second order through reductions ---------------------------------------------------------------

def test_second_order_through_mean():
    f = gg.grad(lambda x, v, u: gnp.sum(gg.grad(lambda x, v: gnp.mean(x) * v)(x, v) * u), argnums=1)
    x, v, u = np.array([1.0, 2.0, 3.0]), np.array(2.0), np.array([0.5, 1.0, 4.0])
    # d/dx (mean(x) v) = v / n, so the outer function is v * sum(u) / n
    np.testing.assert_allclose(f(x, v, u), u.sum() / 3)


# -- arguments: Python scalars, pytrees, keyword arguments -----------------------------------------

def test_python_scalar_before_the_differentiated_argument():
    f = gg.grad(lambda s, x: x * x * s, argnums=1)
    assert f(10.0, np.array(2.0)) == 40.0
    assert f(3.0, np.array(2.0)) == 12.0  # a static scalar keys the specialization by value
    g = gg.grad(lambda s, t, x: gnp.sum(x ** t) * s, argnums=2)
    np.testing.assert_allclose(g(2.0, 3, np.array([1.0, 2.0])), [6.0, 24.0])


def test_differentiated_python_float_and_numpy_scalars_give_scalars():
    g = gg.grad(lambda x: x ** 3)(2.0)
    assert type(g) is np.float64 and g == 12.0
    g32 = gg.grad(lambda x: x * x)(np.float32(1.5))
    assert type(g32) is np.float32 and g32 == 3.0
    g0 = gg.grad(lambda x: x ** 3)(np.array(2.0))
    assert isinstance(g0, np.ndarray) and g0.shape == ()
    assert gg.grad(gg.grad(lambda x: x ** 3))(2.0) == 12.0
    assert gg.grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0) == (5.0, 2.0)


def test_integer_argument_is_refused_naming_it():
    with pytest.raises(TypeError, match=r"^grad requires real-valued \(floating point\) inputs, got int for "
                                        r"argument 0 \(x\) of <lambda>"):
        gg.grad(lambda x: x * 2.0)(3)


def _square_sum(x, n=None):
    return gnp.sum(x * x)


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacrev", "jacfwd", "hessian", "elementwise_grad"])
@pytest.mark.parametrize("arg,got", [(np.array([1, 2]), r"int64 \(shape \(2,\)\)"),
                                     (np.array([1, 2], dtype=np.int32), r"int32 \(shape \(2,\)\)"),
                                     (np.array([True]), r"bool \(shape \(1,\)\)"), (np.int64(3), "int64"),
                                     (gg.tensor([1, 2]), r"int64 \(shape \(2,\)\)")])
def test_integer_differentiated_argument_is_a_type_error_naming_it_and_its_dtype(transform, arg, got):
    """As JAX: grad of an integer argument is refused (not a gradient of a rounded function), naming the
    argument (position and parameter) and the dtype it got, in every transform that differentiates."""
    fn = _square_sum if transform in ("grad", "value_and_grad", "hessian") else (lambda x, n=None: x * x)
    with pytest.raises(TypeError, match=rf"^{transform} requires real-valued \(floating point\) inputs, got {got} "
                                        rf"for argument 0 \(x\) of (_square_sum|<lambda>): .*argnums"):
        getattr(gg, transform)(fn)(arg)


def test_integer_leaf_of_a_pytree_argument_and_later_argnums_are_named():
    with pytest.raises(TypeError, match=r"got int64 \(shape \(2,\)\) for argument 0 \(p\['b'\]\) of f"):
        def f(p):
            return gnp.sum(p["a"] * p["b"])
        gg.grad(f)({"a": np.ones(2), "b": np.array([1, 2])})
    with pytest.raises(TypeError, match=r"got int64 \(shape \(2,\)\) for argument 1 \(n\) of <lambda>"):
        gg.hessian(lambda x, n: gnp.sum(x * x * n), argnums=1)(np.ones(2), np.array([1, 2]))
    with pytest.raises(TypeError, match=r"^jvp requires .* got int64 \(shape \(2,\)\) for argument 1 \(n\)"):
        gg.jvp(lambda x, n: x * n, (np.ones(2), np.array([1, 2])), (np.ones(2), np.ones(2)))


def test_integer_arguments_that_are_not_differentiated_keep_working():
    n = np.array([1, 2])
    np.testing.assert_array_equal(gg.grad(lambda x, n: gnp.sum(x * n))(np.ones(2), n), [1.0, 2.0])
    np.testing.assert_array_equal(gg.jacrev(lambda x, n: x * n)(np.ones(2), n), np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(gg.jacfwd(lambda x, n: x * n)(np.ones(2), n), np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(gg.hessian(lambda x, n: gnp.sum(x * x * n))(np.ones(2), n), np.diag([2.0, 4.0]))
    np.testing.assert_array_equal(gg.elementwise_grad(lambda x, n: x * n)(np.ones(2), n), [1.0, 2.0])
    assert gg.grad(lambda x, k: x ** k)(2.0, 3) == 12.0


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_one_element_outputs_are_scalars_for_grad(shape):
    x = np.array([[3.0]]).reshape(shape)
    g = gg.grad(lambda x: x * x)(x)
    assert g.shape == shape and g.ravel()[0] == 6.0
    value, g = gg.value_and_grad(lambda x: gnp.sum(x * x, axis=0, keepdims=True))(np.array([1.0, 2.0]))
    assert value.shape == (1,) and value[0] == 5.0
    np.testing.assert_allclose(g, [2.0, 4.0])


def test_tuple_list_and_dict_arguments_are_pytrees():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    gt = gg.grad(lambda p: gnp.sum(p[0] * p[1] ** 2))((a, b))
    assert isinstance(gt, tuple)
    np.testing.assert_allclose(gt[0], b ** 2)
    np.testing.assert_allclose(gt[1], 2 * a * b)
    gl = gg.grad(lambda p: gnp.sum(p[0] * p[1]))([a, b])
    assert isinstance(gl, list) and len(gl) == 2
    gd = gg.grad(lambda p: gnp.sum(p["w"] * p["b"]["c"]) + p["s"] ** 2)({"w": a, "b": {"c": b}, "s": 3.0})
    assert set(gd) == {"w", "b", "s"} and set(gd["b"]) == {"c"}
    np.testing.assert_allclose(gd["w"], b)
    np.testing.assert_allclose(gd["b"]["c"], a)
    assert gd["s"] == 6.0


def test_pytree_arguments_not_differentiated_and_in_argnums_tuples():
    a, b, x = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([0.5, 0.25])

    def f(params, data):
        w, bias = params
        return gnp.sum((data["x"] * w + bias) ** 2) * data["scale"]

    data = {"x": x, "scale": 2.0}
    gw, gb = gg.grad(f)((a, b), data)
    residual = x * a + b
    np.testing.assert_allclose(gw, 4 * residual * x)
    np.testing.assert_allclose(gb, 4 * residual)
    (gw2, gb2), gdata = gg.grad(f, argnums=(0, 1))((a, b), data)
    np.testing.assert_allclose(gw2, gw)
    np.testing.assert_allclose(gdata["x"], 4 * residual * a)
    assert gdata["scale"] == np.sum(residual ** 2)
    # another structure or another static leaf is another specialization, never a stale one
    np.testing.assert_allclose(gg.grad(f)((a, b), {"x": x, "scale": 1.0})[0], 2 * residual * x)
    np.testing.assert_allclose(gg.grad(lambda p, d: f(tuple(p), d))([a, b], data)[0], gw)


def test_keyword_arguments_are_passed_and_not_differentiated():
    f = gg.grad(lambda x, *, scale, shift=np.zeros(2): gnp.sum((x + shift) ** 2) * scale)
    np.testing.assert_allclose(f(np.array([1.0, 2.0]), scale=3.0), [6.0, 12.0])
    np.testing.assert_allclose(f(np.array([1.0, 2.0]), scale=3.0, shift=np.ones(2)), [12.0, 18.0])


def test_closed_over_tensor_that_requires_grad_keeps_history():
    w = gg.tensor([2.0, 3.0], dtype=gg.float64, requires_grad=True)
    x = gg.tensor([1.0, -1.0], dtype=gg.float64)
    g = gg.grad(lambda x: (x * x * w).sum())(x)  # 2 x w
    (dw,) = gg.autograd.grad((g * g).sum(), w)  # d/dw sum(4 x^2 w^2) = 8 x^2 w
    np.testing.assert_allclose(dw.numpy(), 8 * x.numpy() ** 2 * w.detach().numpy())


# -- removable singularities: the gradient where the formula divides 0 by 0 --------------------------

@pytest.mark.parametrize("f, x", [
    (gnp.std, np.array(3.5)),
    (gnp.std, np.array([2.0, 2.0, 2.0])),
    (lambda x: gnp.std(x, axis=0)[0], np.array([[1.0, 4.0], [1.0, 5.0]])),
    (gnp.linalg.norm, np.zeros(3)),
    (gnp.linalg.norm, np.zeros((2, 2))),
    (lambda x: gnp.linalg.norm(x, 3), np.zeros(3)),
    (lambda x: gnp.logsumexp(x), np.array([-np.inf, -np.inf])),
], ids=["std-0d", "std-constant", "std-axis", "norm-0", "norm-fro-0", "norm-3-0", "logsumexp-all-neg-inf"])
def test_gradient_is_zero_at_removable_singularities(f, x):
    with np.errstate(divide="ignore"):  # log(0) in logsumexp's value, as NumPy warns
        g = gg.grad(f)(x)
    np.testing.assert_array_equal(g, np.zeros_like(x))


def test_power_with_exponent_zero_has_zero_gradient_at_zero():
    """x ** 0 is constant: its derivative is 0 at x = 0 too, although y * x ** (y - 1) is 0 * inf there
    (PyTorch and autograd give 0); x ** 1's second derivative likewise."""
    assert gg.grad(lambda x: x ** 0.0)(0.0) == 0.0
    assert gg.grad(gg.grad(lambda x: x ** 1.0))(0.0) == 0.0
    assert gg.jvp(lambda x: x ** 0.0, (0.0,), (1.0,))[1] == 0.0
    x, y = np.array([0.0, 2.0, 0.0]), np.array([0.0, 1.0, 3.0])  # a tensor exponent, 0 in places
    gx, gy = gg.grad(lambda x, y: gnp.sum(x ** y), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0])
    np.testing.assert_allclose(gy, [0.0, 2.0 * np.log(2.0), 0.0])
    hx = gg.grad(lambda x: gnp.sum(gg.grad(lambda x: gnp.sum(x ** y))(x)))(x)  # y (y - 1) x ** (y - 2)
    np.testing.assert_array_equal(hx, [0.0, 0.0, 0.0])
    for mode in (lambda f: f, gg.compile):
        t = gg.tensor([0.0, 1.0], dtype=gg.float64, requires_grad=True)
        mode(lambda t: (t ** 0.0).sum())(t).backward()
        np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0])
    t = gg.tensor([0.0, 1.0], dtype=gg.float64, requires_grad=True)
    (t ** 0).backward(gg.tensor([np.inf, np.nan], dtype=gg.float64))  # zeros, not g * 0 (PyTorch masks too)
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0])


def test_std_of_a_constant_column_is_zero_gradient_and_other_column_exact():
    x = np.array([[1.0, 4.0], [1.0, 5.0]])
    g = gg.grad(lambda x: gnp.sum(gnp.std(x, axis=0)))(x)
    np.testing.assert_array_equal(g[:, 0], [0.0, 0.0])
    np.testing.assert_allclose(g[:, 1], [-0.5, 0.5])


def test_removable_singularities_in_eager_mode_follow_pytorch():
    x = gg.zeros(3, dtype=gg.float64, requires_grad=True)
    x.norm().backward()  # torch.norm's backward masks the zero norm
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    y = gg.full((4,), 2.0, dtype=gg.float64, requires_grad=True)
    y.std().backward()  # as does torch.std's at zero variance
    np.testing.assert_array_equal(y.grad.numpy(), [0.0] * 4)
    assert np.isnan(gg.tensor([1.0], dtype=gg.float64).std().item())  # n - 1 = 0: still nan, as PyTorch


def test_second_order_at_removable_singularities_is_finite():
    assert gg.grad(gg.grad(lambda x: gnp.linalg.norm(x)))(np.array(0.0)) == 0.0
    h = gg.grad(lambda x: gnp.sum(gg.grad(lambda x: gnp.std(x))(x) * np.array([1.0, -1.0])))(np.array([2.0, 2.0]))
    assert np.all(np.isfinite(h))


@pytest.mark.parametrize("f", [gnp.std, gnp.linalg.norm, lambda x: gnp.linalg.norm(x, 3),
                               lambda x: gnp.logsumexp(x), lambda x: gnp.std(x, ddof=1)])
def test_gradients_away_from_the_singularity_are_unchanged(f):
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(gg.grad(f)(x), numeric_grad(f, x), rtol=1e-6)
    second = gg.grad(lambda x: gnp.sum(gg.grad(f)(x) * V[0]))
    np.testing.assert_allclose(second(x), numeric_grad(lambda x: np.sum(gg.grad(f)(x) * V[0]), x),
                               rtol=1e-5, atol=1e-7)


def test_logsumexp_of_all_negative_infinity_is_negative_infinity():
    assert gg.tensor([-np.inf, -np.inf]).logsumexp(0).item() == -np.inf
    with np.errstate(divide="ignore"):  # log(0), as NumPy warns
        assert gg.compile(lambda x: x.logsumexp(0))(gg.tensor([-np.inf, -np.inf])).item() == -np.inf
    value, g = gg.value_and_grad(lambda x: gnp.logsumexp(x))(np.array([-np.inf, 0.0]))
    assert value == 0.0
    np.testing.assert_array_equal(g, [0.0, 1.0])


def test_x_over_norm_at_zero_is_not_made_finite():
    # 0 / 0: the function has no value at the origin, so it has no gradient there either (as in PyTorch and JAX)
    with np.errstate(invalid="ignore", divide="ignore"):
        value, g = gg.value_and_grad(lambda x: gnp.sum(x / gnp.linalg.norm(x)))(np.zeros(2))
    assert np.isnan(value) and not np.any(np.isfinite(g))


def test_output_independent_of_the_inputs_has_zero_gradient():
    value, g = gg.value_and_grad(lambda x: 3.0)(np.ones(2))
    assert value == 3.0
    np.testing.assert_array_equal(g, [0.0, 0.0])
    np.testing.assert_array_equal(gg.grad(lambda x, y: gnp.sum(y * 2.0))(np.ones(2), np.ones(2)), [0.0, 0.0])
    np.testing.assert_array_equal(gg.grad(lambda x: gnp.sum(gg.grad(lambda y: 3.0)(x)))(np.ones(2)), [0.0, 0.0])


def test_second_order_with_a_numpy_argument_that_ops_read_alone():
    # the inner gradient's graph has ops on x only (x ** 2, x[:, None]); replayed inside the outer trace, x is a
    # plain array, which must become a constant there, not a literal pasted into the generated code
    x = np.array([1.0, 2.0, 3.0])

    def inner(p, x):
        return gnp.sum(p * (x ** 2)[:, None])

    outer = gg.grad(lambda p: gnp.sum(gg.grad(inner)(p, x) * p))
    p = np.ones((3, 2))
    np.testing.assert_allclose(outer(p), (x ** 2)[:, None] * np.ones((3, 2)))  # the inner gradient, constant in p


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_prod_gradient_with_zero_elements_is_the_product_of_the_others(axis):
    a = np.array([[1.5, 2.0, 0.0], [0.5, -2.0, 3.0], [0.0, 0.0, 2.0]])
    g = gg.grad(lambda x: gnp.sum(gnp.prod(x, axis=axis)))(a)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, numeric_grad(lambda x: np.sum(np.prod(x, axis=axis)), a), atol=1e-7)
    if axis is None:  # three zeros: the product of the others of any element still holds a zero
        np.testing.assert_array_equal(g, np.zeros_like(a))


@pytest.mark.parametrize("f", [lambda x: gnp.allclose(x, x * 3.0 / 3.0), lambda x: gnp.sum(x > 1.0),
                               lambda x: gnp.argmax(x)], ids=["bool", "int-sum", "argmax"])
def test_grad_of_a_bool_or_integer_output_is_a_type_error_not_zeros(f):
    """A piecewise-constant output has no gradient to speak of: JAX and autograd refuse it, and zeros would hide
    a mistake (a comparison where a value was meant)."""
    with pytest.raises(TypeError, match=r"real-valued \(floating point\) output; <lambda> returns (bool|i64)\[\]"):
        gg.grad(f)(np.array([1.0, 2.0, 3.0]))


def test_has_aux_returns_the_aux_values_beside_the_gradient():
    # JAX's has_aux for grad and value_and_grad (a TypeError about an unexpected keyword before)
    X = np.random.default_rng(0).standard_normal((4, 3))
    w = np.array([0.3, -0.2, 0.5])

    def loss(w, x):
        pred = gnp.tanh(x @ w)
        return gnp.sum(pred ** 2), {"pred": pred}

    g, aux = gg.grad(loss, has_aux=True)(w, X)
    np.testing.assert_allclose(g, numeric_grad(lambda w, x: loss(w, x)[0], w, X), rtol=1e-7)
    np.testing.assert_allclose(aux["pred"], np.tanh(X @ w), rtol=1e-12)
    (value, aux), (gx, gw) = gg.value_and_grad(loss, argnums=(1, 0), has_aux=True)(w, X)
    np.testing.assert_allclose(value, np.sum(np.tanh(X @ w) ** 2), rtol=1e-12)
    np.testing.assert_allclose(gw, g, rtol=1e-12)
    np.testing.assert_allclose(gx, numeric_grad(lambda w, x: loss(w, x)[0], w, X, argnum=1), rtol=1e-7)
    # per-example gradients with per-example aux; a Python float keeps a scalar gradient
    per, aux = gg.vmap(gg.grad(loss, has_aux=True), in_axes=(None, 0))(w, X)
    np.testing.assert_allclose(per, np.stack([gg.grad(lambda w: loss(w, x)[0])(w) for x in X]), rtol=1e-12)
    assert aux["pred"].shape == (4,)
    g, aux = gg.grad(lambda s: (s ** 3, s * 2), has_aux=True)(2.0)
    assert isinstance(g, np.float64) and g == 12.0 and aux == 4.0
    with pytest.raises(TypeError, match="must return a pair"):
        gg.grad(lambda x: x.sum(), has_aux=True)(w)
