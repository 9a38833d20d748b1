"""Gradients at ties, branch boundaries and special points, where the derivative is a convention: PyTorch's (and
JAX's, for second order, where PyTorch has no graph), the same eagerly, compiled (``gg.compile``) and through
``gg.grad``. Values are closed forms; away from those points, finite differences (tests/_gradcheck.py)."""
import math

import numpy as np
import pytest

import graphgrad as gg

from _gradcheck import AWAY, sample, tensors


def modes(f, args):
    """The gradients of scalar ``f`` at float64 ``args`` eagerly (``.backward()``), compiled (``gg.compile``,
    ``.backward()``) and with ``gg.grad``: three lists of arrays."""
    out = []
    for run in (f, gg.compile(f)):
        ts = tensors(args)
        run(*ts).backward()
        out.append([t.grad.numpy() for t in ts])
    grads = gg.grad(f, argnums=tuple(range(len(args))))(*args)
    out.append([np.asarray(g) for g in grads])
    return out


def assert_every_mode(f, args, expected, rtol=0.0):
    for mode, grads in zip(("eager", "compiled", "gg.grad"), modes(f, args)):
        for k, (got, want) in enumerate(zip(grads, expected)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=f"{mode}, input {k}")


# -- max/min along a dim: the gradient goes to the returned index ------------------------------------------------
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0]])


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_along_a_dim_send_ties_gradient_to_the_returned_index_in_every_mode(kind, keepdim):
    # PyTorch's max(dim)/min(dim) backward is a gather at the indices it returns (the first extreme); compiled
    # code used to bind amax/amin, whose rule splits the gradient among the tied elements
    w = np.array([1.5, -2.0, 0.5]).reshape((3, 1) if keepdim else (3,))
    first = (np.argmax if kind == "max" else np.argmin)(TIES, axis=1)
    expected = np.zeros_like(TIES)
    expected[np.arange(3), first] = w.ravel()
    assert_every_mode(lambda x: (getattr(x, kind)(1, keepdim).values * gg.tensor(w)).sum(), [TIES], [expected])
    indices = gg.compile(lambda x: getattr(x, kind)(1, keepdim).indices)(gg.tensor(TIES))
    np.testing.assert_array_equal(indices.numpy().ravel(), first)
    # second order: d2/dx2 of sum(values**2) is 2 at each returned index, 0 elsewhere
    second = gg.grad(lambda x: gg.numpy.sum(gg.grad(lambda x: (getattr(x, kind)(1).values ** 2).sum())(x)))(TIES)
    hess = np.zeros_like(TIES)
    hess[np.arange(3), first] = 2.0
    np.testing.assert_array_equal(second, hess)


@pytest.mark.parametrize("kind", ["amax", "amin"])
def test_amax_amin_keep_splitting_ties_evenly_in_every_mode(kind):
    # PyTorch's amax/amin (and max()/min() without a dim) share the gradient among the tied elements
    extreme = (np.max if kind == "amax" else np.min)(TIES, axis=1, keepdims=True)
    mask = (TIES == extreme).astype(float)
    assert_every_mode(lambda x: getattr(x, kind)(1).sum(), [TIES], [mask / mask.sum(1, keepdims=True)])


@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_min_along_a_dim_away_from_ties(kind, check_gradients):
    x = sample(AWAY, (3, 4), np.random.default_rng(3))
    check_gradients(lambda x: (getattr(x, kind)(0, True).values ** 3).sum() + getattr(x, kind)(-1).values.sum(), [x])


def test_max_along_the_dim_of_a_zero_dim_tensor_in_every_mode():
    # a 0-d tensor is its own maximum, at index 0 (compiled code failed in amax's type rule)
    assert_every_mode(lambda x: x.max(0).values * 3.0, [np.array(2.0)], [np.array(3.0)])
    values, indices = gg.compile(lambda x: tuple(x.min(0, True)))(gg.tensor(2.0))
    assert values.item() == 2.0 and indices.item() == 0 and indices.dtype == gg.int64 and indices.shape == ()


# -- pow: the exponent's second derivative where it is 0 ---------------------------------------------------------
def test_pow_second_derivative_through_a_zero_exponent(check_gradients):
    # d/dy (d/dx x**y) = x**(y-1) (1 + y log x): 1/x at y = 0 (JAX's value). The rule used to replace the exponent
    # y - 1 by a constant wherever y was 0, which cut its dependence on y and gave x
    x, y = np.array([2.0, 4.0, 0.5, 1.5]), np.array([0.0, 0.0, 0.0, 1.3])
    cross = x ** (y - 1) * (1 + y * np.log(x))
    xt, yt = tensors([x, y])
    (gx,) = gg.autograd.grad((xt ** yt).sum(), xt, create_graph=True)
    (dxdy,) = gg.autograd.grad(gx.sum(), yt)
    np.testing.assert_allclose(dxdy.numpy(), cross, rtol=1e-14)
    gx_of = gg.grad(lambda x, y: gg.numpy.sum(x ** y), argnums=0)
    np.testing.assert_allclose(gg.grad(lambda x, y: gg.numpy.sum(gx_of(x, y)), argnums=1)(x, y), cross, rtol=1e-14)
    hess = np.asarray(gg.hessian(lambda v: gg.numpy.sum(v[:4] ** v[4:]))(np.concatenate([x, y])))
    np.testing.assert_allclose(np.diag(hess[:4, 4:]), cross, rtol=1e-14)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-14)  # d/dy d/dx = d/dx d/dy
    # finite differences, first and second order, eager and compiled, through the zero exponents
    check_gradients(lambda x, y: (x ** y * (x + y)).sum(), [x, y])


def test_pow_keeps_pytorchs_first_derivatives_at_a_zero_base():
    # PyTorch's conventions: d/dx x**y is 0 where y = 0 (x**0 is constant), y x**(y-1) elsewhere, inf for 0 < y < 1;
    # d/dy is 0 at x = 0 for y >= 0. Second order at x = 0 is finite for integer y: PyTorch's and JAX's values
    # (y (y-1) x**(y-2); x**(y-1) (1 + y log x), which is 0**0 = 1 at y = 1), and 0 at y = 0 where both give nan
    x, y = np.zeros(5), np.array([0.0, 1.0, 2.0, 3.0, 0.5])
    with np.errstate(divide="ignore", invalid="ignore"):
        for mode, (gx, gy) in zip(("eager", "compiled", "gg.grad"), modes(lambda x, y: (x ** y).sum(), [x, y])):
            np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0, 0.0, np.inf], err_msg=mode)
            np.testing.assert_array_equal(gy, np.zeros(5), err_msg=mode)
    first = gg.grad(lambda x, y: gg.numpy.sum(x ** y), argnums=0)
    dxdx, dxdy = gg.grad(lambda x, y: gg.numpy.sum(first(x, y)), argnums=(0, 1))(x[:4], y[:4])
    np.testing.assert_array_equal(dxdx, [0.0, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(dxdy, [0.0, 1.0, 0.0, 0.0])


# -- activations at their branch boundaries: the branch PyTorch's comparison picks ---------------------------------
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_elu_at_zero_takes_the_exponential_branch(alpha):
    # PyTorch's elu backward is alpha exp(x) for x <= 0: alpha at 0. The clamp before expm1 was minimum(x, 0),
    # whose tie at 0 split the gradient in half
    f = lambda x: gg.nn.functional.elu(x, alpha=alpha).sum()
    x = np.array([0.0, 1.0, -1.0])
    assert_every_mode(f, [x], [np.array([alpha, 1.0, alpha * np.exp(-1.0)])], rtol=1e-15)
    # second order: the branch's own, alpha exp(x) (PyTorch's double backward gives 0 at exactly 0, JAX alpha)
    np.testing.assert_allclose(gg.grad(lambda x: gg.numpy.sum(gg.grad(f)(x)))(x), [alpha, 0.0, alpha * np.exp(-1.0)],
                               rtol=1e-15)


def test_elu_next_to_zero(check_gradients):
    check_gradients(lambda x: (gg.nn.functional.elu(x, alpha=1.5) * x).sum(), [np.array([1e-3, -1e-3, 0.7, -2.0])])


@pytest.mark.parametrize("beta, x", [(2.0, 0.5), (-2.0, -0.5)])
def test_softplus_at_its_threshold_takes_the_log1p_branch(beta, x):
    # PyTorch switches to x only where beta * x > threshold: at beta * x == threshold value and gradient are
    # log1p(exp(beta x)) / beta's (gradient sigmoid(beta x)); minimum(beta x, threshold) halved the gradient there
    f = lambda x: gg.nn.functional.softplus(x, beta=beta, threshold=1.0).sum()
    xs = np.array([x, 0.2, 1.0 / beta + 0.5 * np.sign(beta)])
    z = beta * xs
    assert_every_mode(f, [xs], [np.array([sigmoid(1.0), sigmoid(z[1]), 1.0])], rtol=1e-15)
    value = gg.compile(lambda x: gg.nn.functional.softplus(x, beta=beta, threshold=1.0))(gg.tensor(xs))
    np.testing.assert_allclose(value.numpy()[:2], np.log1p(np.exp(z[:2])) / beta, rtol=1e-15)
    second = gg.grad(lambda x: gg.numpy.sum(gg.grad(f)(x)))(xs)  # beta s (1 - s) on the log1p branch
    np.testing.assert_allclose(second, [beta * sigmoid(1.0) * sigmoid(-1.0), beta * sigmoid(z[1]) * sigmoid(-z[1]), 0.0],
                               rtol=1e-14)


def test_softplus_next_to_its_threshold(check_gradients):
    x = np.array([0.5 - 1e-3, 0.5 + 1e-3, -0.3, 1.2])
    check_gradients(lambda x: (gg.nn.functional.softplus(x, beta=2.0, threshold=1.0) * x).sum(), [x])


# -- fmax/fmin: ties and nans, PyTorch's rule; atan2 at the origin -------------------------------------------------
NAN = np.nan
FA = np.array([1.0, 2.0, 0.0, NAN, 1.0, NAN, 0.0, -0.0, np.inf, -np.inf])
FB = np.array([1.0, 0.0, 2.0, 1.0, NAN, NAN, -0.0, 0.0, np.inf, 1.0])


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_give_ties_and_double_nans_to_the_first_operand(name):
    # PyTorch: the first operand gets the gradient where it is picked or equal (x >= y for fmax) or y is nan; the
    # second gets the rest. The rule used to split ties 0.5/0.5 and give both operands all of it where both are nan
    w = np.arange(1.0, 11.0)
    with np.errstate(invalid="ignore"):
        first = ((FA >= FB) if name == "fmax" else (FA <= FB)) | np.isnan(FB)
    f = lambda a, b: (getattr(gg, name)(a, b) * gg.tensor(w)).sum()
    assert_every_mode(f, [FA, FB], [np.where(first, w, 0.0), np.where(first, 0.0, w)])


def test_fmax_fmin_away_from_ties(check_gradients):
    x, y = sample(AWAY, (2, 4), np.random.default_rng(5))
    check_gradients(lambda x, y: (gg.fmax(x, y) * x + gg.fmin(x, y) ** 2).sum(), [x, y])


def test_atan2_at_the_origin_has_zero_gradient():
    # PyTorch 2.x masks atan2's backward at (0, 0) to 0 (the formula is 0 / 0 = nan there); signs as PyTorch's,
    # -y / r2 and x / r2 with 1 / r2 read as 0
    y, x = np.array([0.0, 0.0, -0.0, -0.0, 1.0]), np.array([0.0, -0.0, 0.0, -0.0, 0.0])
    expected = [np.array([0.0, -0.0, 0.0, -0.0, 0.0]), np.array([-0.0, -0.0, 0.0, 0.0, -1.0])]
    assert_every_mode(lambda y, x: gg.atan2(y, x).sum(), [y, x], expected)
    for (got, want) in zip(modes(lambda y, x: gg.atan2(y, x).sum(), [y, x])[2], expected):
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    # second order stays finite at the origin (the untaken branch never divides by 0)
    first = gg.grad(lambda y, x: gg.numpy.sum(gg.numpy.arctan2(y, x)), argnums=(0, 1))
    for h in gg.grad(lambda y, x: gg.numpy.sum(first(y, x)[0] + first(y, x)[1]), argnums=(0, 1))(y[:4], x[:4]):
        np.testing.assert_array_equal(h, np.zeros(4))


def test_atan2_near_the_origin(check_gradients):
    y, x = np.array([0.05, -0.03, 0.01, 1.0]), np.array([0.02, -0.04, -0.05, 0.0])  # off the cut y = 0, x < 0
    check_gradients(lambda y, x: (gg.atan2(y, x) * (x + 2)).sum(), [y, x])


# -- p-norms for p < 1 with a zero element --------------------------------------------------------------------------
def _norm_grad(x, p):
    """d/dx (sum |x|^p)^(1/p) = sign(x) |x|^(p-1) N^(1-p), and 0 at zero elements (PyTorch's mask)."""
    n = np.sum(np.abs(x) ** p) ** (1 / p)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, np.sign(x) * np.abs(x) ** (p - 1) * n ** (1 - p))


@pytest.mark.parametrize("p", [0.5, 0.3, -1.0, -2.5])
@pytest.mark.parametrize("api", ["vector_norm", "norm"])
def test_p_norm_below_one_has_zero_gradient_at_zero_elements(p, api, check_gradients):
    # |x|^p's gradient at 0 was p |0|^(p-1) sign(0) = inf * 0 = nan, spreading to every element at second order;
    # PyTorch masks it to 0 (for p < 0 the norm is 0 and so is every element's gradient)
    norm = (lambda x: gg.linalg.vector_norm(x, ord=p)) if api == "vector_norm" else (lambda x: x.norm(p=p))
    x = np.array([0.0, 1.0, -2.0, 0.5])
    assert_every_mode(norm, [x], [_norm_grad(x, p) if p > 0 else np.zeros(4)], rtol=1e-14)
    # second order: finite everywhere, and against finite differences of the first derivative at the others
    first = gg.grad(norm)
    w = np.array([0.7, 1.0, 2.0, -3.0])
    hvp = gg.grad(lambda x: gg.numpy.sum(first(x) * w))(x)
    assert np.all(np.isfinite(hvp))
    eps = 1e-6
    for i in (1, 2, 3):
        d = np.zeros(4)
        d[i] = eps
        numeric = (np.sum(_norm_grad(x + d, p) * w) - np.sum(_norm_grad(x - d, p) * w)) / (2 * eps)
        np.testing.assert_allclose(hvp[i], numeric, rtol=1e-6, atol=1e-9)
    check_gradients(lambda y: norm(gg.cat([gg.zeros(1, dtype=gg.float64), y])) * y.sum(), [x[1:]])


# -- nll_loss / cross_entropy with every target ignored ------------------------------------------------------------
def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient():
    # PyTorch: the mean over no targets is 0/0 = nan, but ignored targets are skipped by the backward, so the
    # gradient is 0; it used to be -0/0 = nan for every logit
    x = np.random.default_rng(0).standard_normal((3, 4))
    target = gg.tensor([1, 1, 1])
    for loss in (lambda x: gg.nn.functional.cross_entropy(x, target, ignore_index=1),
                 lambda x: gg.nn.functional.nll_loss(x.log_softmax(1), target, ignore_index=1)):
        assert np.isnan(loss(gg.tensor(x)).item()) and np.isnan(gg.compile(loss)(gg.tensor(x)).item())
        assert_every_mode(loss, [x], [np.zeros((3, 4))])
        hvp = gg.grad(lambda x: gg.numpy.sum(gg.grad(loss)(x) * x))(x)
        np.testing.assert_array_equal(hvp, np.zeros((3, 4)))


def test_cross_entropy_with_some_targets_ignored(check_gradients):
    # the kept targets' mean, as before; and a zero total weight over kept targets gives them nan, as PyTorch's,
    # but the ignored ones 0
    x = np.random.default_rng(1).standard_normal((4, 3))
    target = gg.tensor([2, 0, 2, 1])
    f = lambda x: gg.nn.functional.cross_entropy(x, target, ignore_index=2)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(f(gg.tensor(x)).item(), -(logp[1, 0] + logp[3, 1]) / 2, rtol=1e-14)
    check_gradients(f, [x])
    weight = gg.tensor([0.0, 0.0, 1.0], dtype=gg.float64)
    t = gg.tensor(x, requires_grad=True)
    gg.nn.functional.cross_entropy(t, target, weight=weight, ignore_index=2).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0.0] * 3, [np.nan] * 3, [0.0] * 3, [np.nan] * 3])


def test_clamp_passes_the_gradient_at_its_bounds_compiled_as_eager():
    # compiled clamp was maximum/minimum, whose ties halve the gradient at a bound; eager (and PyTorch) pass it
    def f(x):
        return (x.clamp(0.0, 1.0) * gg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=gg.float64)).sum()

    for run in (f, gg.compile(f)):
        x = gg.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], dtype=gg.float64, requires_grad=True)
        run(x).backward()
        assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 0.0]
    np.testing.assert_allclose(gg.grad(f)(np.array([-1.0, 0.0, 0.5, 1.0, 2.0])), [0.0, 2.0, 3.0, 4.0, 0.0])
    assert gg.compile(lambda x: x.clamp(2.0, 1.0))(gg.tensor([0.5, 3.0])).tolist() == [1.0, 1.0]  # max wins
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        gg.compile(lambda x: x.clamp())(gg.ones(1))


def test_a_nan_bound_of_clamp_gives_nan_and_no_gradient_as_pytorchs():
    # clamp was where(x < min, min, x): a nan bound compares false, so x came back unclamped with gradient 1;
    # PyTorch's clamp gives nan (its vectorized max/min propagate it) and a gradient of 0 (min <= x is false)
    nan = float("nan")
    for lo, hi in [(nan, None), (None, nan), (nan, 1.0), (0.0, nan)]:
        def f(x, lo=lo, hi=hi):
            return x.clamp(lo, hi).sum()

        for run in (f, gg.compile(f)):
            x = gg.tensor([-1.0, 0.5, 2.0], dtype=gg.float64, requires_grad=True)
            value = run(x)
            value.backward()
            assert math.isnan(value.item()), (lo, hi)
            assert x.grad.tolist() == [0.0, 0.0, 0.0], (lo, hi)
    # a tensor bound: nan where that bound is nan
    for run in (gg.clamp, gg.compile(gg.clamp)):
        got = run(gg.tensor([1.0, 5.0, 3.0]), gg.tensor([2.0, nan, 0.0]), None).numpy()
        np.testing.assert_array_equal(got, [2.0, nan, 3.0])


def test_clamp_by_numbers_is_one_np_clip_in_generated_code_with_pytorchs_dtypes():
    source = gg.compile(lambda x: x.clamp(0, 6).sum()).source(gg.ones(3, requires_grad=True))
    forward = source.split("def forward")[1].split("def backward")[0]
    assert "np.clip(x, 0, 6)" in forward and "where" not in forward
    for x, lo, dtype in [(gg.tensor([1, 2, 3]), 2, gg.int64), (gg.tensor([1, 2, 3]), 1.5, gg.float32),
                         (gg.tensor([1.0, 2.0], dtype=gg.float64), 1, gg.float64), (gg.tensor([1.0]), np.float64(0.5), gg.float32)]:
        for run in (lambda t: t.clamp(min=lo), gg.compile(lambda t: t.clamp(min=lo))):
            got = run(x)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got.numpy(), np.maximum(x.numpy(), lo))


def test_maximum_minimum_give_a_nan_operands_gradient_to_both_as_pytorch():
    for op in (gg.maximum, gg.minimum):
        for run in (lambda a, b: op(a, b).sum(), gg.compile(lambda a, b: op(a, b).sum())):
            x = gg.tensor([1.0, float("nan"), 2.0], dtype=gg.float64, requires_grad=True)
            y = gg.tensor([1.0, 0.0, float("nan")], dtype=gg.float64, requires_grad=True)
            run(x, y).backward()
            assert x.grad.tolist() == [0.5, 1.0, 1.0] and y.grad.tolist() == [0.5, 1.0, 1.0]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_bce_with_logits_and_pos_weight_at_a_zero_logit(mode):
    """d/dx of (1 - t) x + (1 + (w - 1) t) log(1 + exp(-x)) is (1 - t) - (1 + (w - 1) t) sigmoid(-x), -1 at x = 0
    for t = 1, w = 2: a zero-initialized output layer's first step. Written with a relu and an abs, each of
    derivative 0 at 0, it was 0 there."""
    import graphgrad.nn.functional as F

    x, t, w = np.array([0.0, 0.0, 1.0, -3.0, 40.0]), np.array([1.0, 0.3, 1.0, 0.0, 0.5]), np.array([2.0])
    fn = lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c, reduction="sum")  # noqa: E731
    logits = gg.tensor(x, requires_grad=True)
    (gg.compile(fn) if mode == "compiled" else fn)(logits, gg.tensor(t), gg.tensor(w)).backward()
    lw = 1 + (w - 1) * t
    np.testing.assert_allclose(logits.grad.numpy(), (1 - t) - lw / (1 + np.exp(x)), rtol=1e-14, atol=1e-16)
    assert logits.grad.numpy()[0] == -1.0


@pytest.mark.parametrize("name", ["expm1", "elu", "selu", "celu"])
def test_exponential_branches_keep_their_gradient_far_below_zero(name):
    # the gradient was computed as expm1(x) + 1, which cancels to 0 below x = -37 in float64 (-17 in float32);
    # PyTorch's elu gives exp(x) there
    import graphgrad.nn.functional as F

    f = {"expm1": gg.expm1, "elu": F.elu, "selu": F.selu, "celu": lambda x: F.celu(x, alpha=2.0)}[name]
    scale = {"expm1": 1.0, "elu": 1.0, "selu": 1.0507009873554805 * 1.6732632423543772, "celu": 1.0}[name]
    def exact(x):
        return scale * np.exp(x / 2.0 if name == "celu" else x)

    x = np.array([-60.0, -40.0, -20.0])
    for grads in modes(lambda t: f(t).sum(), [x]):
        np.testing.assert_allclose(grads[0], exact(x), rtol=1e-13)
    t = gg.tensor(np.array([-20.0, -30.0]), dtype=gg.float32, requires_grad=True)
    f(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), exact(np.array([-20.0, -30.0])), rtol=1e-5)


def test_elu_of_nan_is_nan_with_pytorchs_gradient_of_one():
    import graphgrad.nn.functional as F

    for grads in modes(lambda t: F.elu(t).sum() + F.celu(t).sum(), [np.array([np.nan, -1.0])]):
        np.testing.assert_allclose(grads[0], [2.0, 2 * math.exp(-1.0)], rtol=1e-14)


# -- nan, infinities and signed zeros: PyTorch's backward formulas, eager and compiled ----------------------------
SPECIAL = np.array([np.nan, 0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, 0.5, -2.0])
W = np.arange(1.0, 10.0)  # a cotangent with distinct entries: which element got which share shows


def weighted(f):
    return lambda *xs: (f(*xs) * gg.tensor(W[:xs[0].numel()] if xs[0].ndim else W[0], dtype=xs[0].dtype)).sum()


@pytest.mark.parametrize("dtype", [gg.float32, gg.float64])
def test_relu_passes_the_gradient_at_nan_as_pytorchs_threshold_backward(dtype):
    # PyTorch: threshold_backward(grad, result, 0) = result <= 0 ? 0 : grad, so a nan passes its gradient; the mask
    # was result > 0, which gave 0 there
    expected = np.where(np.maximum(SPECIAL, 0) <= 0, 0.0, W)
    assert_every_mode(weighted(gg.relu), [SPECIAL], [expected])
    for run in (weighted(gg.relu), gg.compile(weighted(gg.relu))):
        x = gg.tensor(SPECIAL, dtype=dtype, requires_grad=True)
        run(x).backward()
        np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_relu_of_a_negation_keeps_its_gradient_at_nan_compiled():
    # the compiler rewrites relu(-x)'s mask to read x (~(x >= 0), not x < 0, which is false at a nan)
    expected = np.where(np.maximum(-SPECIAL, 0) <= 0, 0.0, -W)
    assert_every_mode(weighted(lambda x: (-x).relu()), [SPECIAL], [expected])


def test_abs_has_pytorchs_gradient_sgn_zero_at_nan_and_at_zero():
    # PyTorch: abs backward is grad * sgn(x), and sgn(nan) = 0 (NumPy's sign(nan) is nan, which the rule used)
    sgn = np.where(SPECIAL > 0, 1.0, np.where(SPECIAL < 0, -1.0, 0.0))
    assert_every_mode(weighted(lambda x: x.abs()), [SPECIAL], [W * sgn])
    for run in (lambda x: x.sign(), gg.compile(lambda x: x.sign())):
        np.testing.assert_array_equal(run(gg.tensor(SPECIAL)).numpy(), sgn)
    # second order: sgn is piecewise constant
    np.testing.assert_array_equal(gg.grad(lambda x: gg.numpy.sum(gg.grad(weighted(lambda x: x.abs()))(x) * x))(SPECIAL),
                                  W * sgn)


HARD = np.array([-3.0, 3.0, 0.0, np.nan, -4.0, 4.0, np.inf, -np.inf, 2.5])


def test_hardsigmoid_passes_its_gradient_strictly_inside_and_not_at_nan():
    # PyTorch's hardsigmoid_backward: (x > -3 && x < 3) ? grad / 6 : 0, so 0 at a nan (the where() chain gave 1/6)
    import graphgrad.nn.functional as F

    with np.errstate(invalid="ignore"):
        expected = np.where((HARD > -3) & (HARD < 3), W / 6, 0.0)
    assert_every_mode(weighted(F.hardsigmoid), [HARD], [expected], rtol=1e-15)
    for run in (F.hardsigmoid, gg.compile(F.hardsigmoid)):  # PyTorch's min(max(x + 3, 0), 6) / 6: nan stays nan
        np.testing.assert_array_equal(run(gg.tensor(HARD)).numpy(), np.clip(HARD + 3, 0, 6) / 6)


def test_hardswish_has_pytorchs_gradient_at_its_kinks_and_infinities():
    # PyTorch's hardswish_backward: 0 for x <= -3, grad (x / 3 + 1/2) for x < 3, grad from 3 on (so at +-inf too,
    # where 0 * inf from the where() chain's untaken branch gave nan); a nan gives nan, as its vectorized loop
    import graphgrad.nn.functional as F

    with np.errstate(invalid="ignore"):
        expected = np.where(HARD <= -3, 0.0, np.where(HARD >= 3, W, W * (HARD / 3 + 0.5)))
    assert_every_mode(weighted(F.hardswish), [HARD], [expected], rtol=1e-15)
    for run in (F.hardswish, gg.compile(F.hardswish)):  # PyTorch's x * min(max(x + 3, 0), 6) / 6: -inf * 0 is nan
        x = HARD.astype(np.float32)
        np.testing.assert_array_equal(run(gg.tensor(x)).numpy(), x * np.clip(x + 3, 0, 6) / 6)
    # second order: 1/3 strictly inside, 0 elsewhere
    hvp = gg.grad(lambda x: gg.numpy.sum(gg.grad(weighted(F.hardswish))(x)))(HARD[[0, 1, 2, 4, 5, 8]])
    np.testing.assert_allclose(hvp, W[:6] / 3 * [0, 0, 1, 0, 0, 1], rtol=1e-15)


def test_hardsigmoid_hardswish_next_to_their_kinks(check_gradients):
    import graphgrad.nn.functional as F

    x = np.array([-3.01, -2.99, 2.99, 3.01, 0.4, -1.2, 5.0])
    check_gradients(lambda x: (F.hardsigmoid(x) * x + F.hardswish(x) * x).sum(), [x])


def test_pow_gradients_at_a_zero_or_nan_base_follow_pytorchs_masks():
    # PyTorch's pow_backward_self: where(y == 0, 0, grad * y * x**(y - 1)), so 0 at a nan base with y = 0 (was
    # 0 * nan = nan); pow_backward_exponent: grad * where((x == 0) & (y >= 0), 0, x**y * log(x)), so -inf at a zero
    # base and y < 0 (inf * log(0); +inf for -0.0 and an odd y), where the rule's 0 for log(0) gave inf * 0 = nan
    x = np.array([0.0, 0.0, 0.0, 0.0, -0.0, -0.0, np.nan, 2.0, -2.0])
    y = np.array([0.0, 2.0, -1.0, -0.5, -1.0, 0.5, 0.0, -1.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x ** y
        dx = np.where(y == 0, 0.0, W * y * x ** (y - 1))
        dy = W * np.where((x == 0) & (y >= 0), 0.0, out * np.log(x))
    np.testing.assert_array_equal(dy[[2, 3, 4, 5, 8]], [-3.0 * np.inf, -np.inf, np.inf, 0.0, np.nan])  # (the cases)
    assert_every_mode(weighted(lambda x, y: x ** y), [x, y], [dx, dy])
    # a number as the base: 0 ** y has PyTorch's where(y >= 0, 0, inf * log(0)) = -inf for y < 0
    with np.errstate(divide="ignore"):
        assert_every_mode(weighted(lambda y: 0.0 ** y), [y], [W * np.where(y >= 0, 0.0, -np.inf)])


def test_clamp_by_tensors_gives_nans_and_ties_pytorchs_gradients():
    # PyTorch's clamp_backward: x gets grad where min <= x <= max; clamp_backward_min_max: min where x < min < max,
    # max where x > max or max < min. A nan anywhere fails each test, so nobody gets the gradient there (the
    # where() chain gave it to x at a nan x, and to a nan bound)
    x = np.array([0.0, 1.0, 0.5, -1.0, 2.0, np.nan, -0.0, 0.3, 0.5])
    lo = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan, 0.0, 1.0])
    hi = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 0.0])
    with np.errstate(invalid="ignore"):
        masks = [(x >= lo) & (x <= hi), (x < lo) & (lo < hi), (x > hi) | (hi < lo)]
        value = np.minimum(np.maximum(x, lo), hi)  # nan from any operand; max wins over min
    assert_every_mode(weighted(gg.clamp), [x, lo, hi], [np.where(m, W, 0.0) for m in masks])
    for run in (gg.clamp, gg.compile(gg.clamp)):
        np.testing.assert_array_equal(run(*[gg.tensor(a) for a in (x, lo, hi)]).numpy(), value)
    # one bound: x where x >= min (x <= max), the bound where x < min (x > max)
    with np.errstate(invalid="ignore"):
        for fn, bound, keep, give in ((gg.clamp_min, lo, x >= lo, x < lo), (gg.clamp_max, hi, x <= hi, x > hi)):
            assert_every_mode(weighted(fn), [x, bound], [np.where(keep, W, 0.0), np.where(give, W, 0.0)])


@pytest.mark.parametrize("kind", ["amax", "amin"])
def test_amax_amin_of_everything_keep_pytorchs_nan_gradient_where_max_shares_it(kind):
    # PyTorch's amax/amin backward (over any dims, every dim too): grad * mask / mask.sum() with mask = (x == result):
    # a nan result equals nothing, so the gradient is 0 / 0 = nan throughout. max()/min() without a dim are
    # evenly_distribute_backward: the nans share it. amax() used to be max()'s
    x = np.array([[1.0, np.nan, 2.0], [np.nan, 0.0, 3.0]])
    assert_every_mode(lambda x: getattr(x, kind)() * 3.0, [x], [np.full((2, 3), np.nan)])
    assert_every_mode(lambda x: getattr(x, kind[1:])() * 3.0, [x], [np.where(np.isnan(x), 1.5, 0.0)])
    # without a nan, ties share it in both
    y = np.array([[1.0, 3.0, 3.0], [-1.0, 0.0, -1.0]])
    extreme = y.max() if kind == "amax" else y.min()
    assert_every_mode(lambda x: getattr(x, kind)() * 3.0, [y], [np.where(y == extreme, 1.5, 0.0)])


def test_logit_gradient_is_pytorchs_logit_backward_outside_and_at_the_ends():
    # PyTorch's logit_backward: without eps, x < 0 or x > 1 -> nan (the value is nan there; the chain rule through
    # log(p) - log1p(-p) gave a number), x == 0 or 1 -> grad * inf (+inf at -0.0 too, where 1 / p gave -inf), else
    # grad / (x (1 - x)); with eps, outside [eps, 1 - eps] -> 0
    x = np.array([0.0, 1.0, 0.5, -0.5, 1.5, 0.1, 0.95, -0.0, 0.25])
    with np.errstate(divide="ignore"):
        inside = W / (x * (1 - x) + 0.0)
    expected = np.where((x < 0) | (x > 1), np.nan, inside)
    np.testing.assert_array_equal(expected[[0, 1, 3, 7]], [np.inf, np.inf, np.nan, np.inf])
    assert_every_mode(weighted(lambda p: p.logit()), [x], [expected], rtol=1e-15)
    assert_every_mode(weighted(lambda p: p.logit(eps=0.2)), [x], [np.where((x < 0.2) | (x > 0.8), 0.0, inside)],
                      rtol=1e-15)
    assert_every_mode(weighted(lambda p: p.logit(eps=-1.0)), [x], [expected], rtol=1e-15)  # eps < 0: none
    # values: PyTorch's log(z / (1 - z)), z clamped below eps first
    for run in (lambda p: p.logit(eps=0.2), gg.compile(lambda p: p.logit(eps=0.2))):
        z = np.clip(x, 0.2, 0.8)
        np.testing.assert_array_equal(run(gg.tensor(x)).numpy(), np.log(z / (1 - z)))
    a, b = np.float32(0.7), np.float32(1 - 0.7)  # eps > 0.5: 0.3 < eps takes eps, 0.9 > 1 - eps takes 1 - eps
    for run in (lambda p: p.logit(eps=0.7), gg.compile(lambda p: p.logit(eps=0.7))):
        np.testing.assert_array_equal(run(gg.tensor([0.3, 0.9])).numpy(), [np.log(a / (1 - a)), np.log(b / (1 - b))])


def test_logit_inside(check_gradients):
    check_gradients(lambda p: (p.logit() * p + p.logit(eps=0.3)).sum(), [np.array([0.1, 0.45, 0.8, 0.25, 0.72])])


@pytest.mark.parametrize("ord", [math.inf, -math.inf])
def test_inf_norms_with_a_nan_have_pytorchs_zero_gradient(ord):
    # PyTorch's linalg_vector_norm_backward for p = +-inf: sgn(x) * grad / count * mask, mask = (|x| == norm) or
    # |x| is nan: in a slice holding a nan only the nans are in the mask, and sgn(nan) = 0, so the gradient is 0
    # there (amax's rule gave nan throughout); elsewhere the ties share it
    x = np.array([[1.0, np.nan, -3.0], [3.0, -3.0, 1.0], [np.nan, np.nan, 2.0]])
    a = np.abs(x)
    extreme = a.max(1, keepdims=True) if ord > 0 else a.min(1, keepdims=True)
    mask = a == extreme
    w = np.array([1.0, 2.0, 3.0])
    expected = np.where(np.isnan(x).any(1, keepdims=True), 0.0, np.sign(x) * mask / mask.sum(1, keepdims=True)) * w[:, None]
    f = lambda x: (gg.linalg.vector_norm(x, ord=ord, dim=1) * gg.tensor(w, dtype=gg.float64)).sum()
    assert_every_mode(f, [x], [expected])
    assert np.isnan(gg.linalg.vector_norm(gg.tensor(x), ord=ord, dim=1).numpy()[[0, 2]]).all()
    # over everything (torch.norm, dist): the nan's slice is the whole tensor
    assert_every_mode(lambda x: x.norm(p=ord), [x], [np.zeros((3, 3))])
    assert_every_mode(lambda x, y: gg.dist(x, y, p=ord), [x, x * 0.5], [np.zeros((3, 3))] * 2)


def test_cdist_and_vector_norm_of_order_zero_have_a_zero_gradient():
    # PyTorch: the 0-"norm" counts non-zeros, piecewise constant: its cdist and vector_norm gradients are 0 (cdist's
    # result had no gradient at all: backward raised)
    x1, x2 = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert_every_mode(lambda a, b: gg.cdist(a, b, p=0.0).sum(), [x1, x2], [np.zeros((2, 2)), np.zeros((3, 2))])
    np.testing.assert_array_equal(gg.cdist(gg.tensor(x1), gg.tensor(x2), p=0.0).numpy(), [[1, 2, 2], [2, 0, 2]])
    assert_every_mode(lambda a: gg.linalg.vector_norm(a, ord=0), [x1], [np.zeros((2, 2))])


def test_rsqrt_and_reciprocal_have_pytorchs_infinities_at_zero_to_second_order():
    # PyTorch: rsqrt backward -grad * out^3 / 2, reciprocal -grad * out^2, div's divisor -grad * (x / y) / y; at
    # +-0 these are -+inf and their derivatives (3/4 grad out^5, 2 grad out^3) +-inf, where 1 / sqrt(x) and
    # -g x / (y y) through the chain rule gave nan at second order
    x = np.array([0.0, -0.0, np.inf, 4.0, 0.25])
    with np.errstate(divide="ignore", invalid="ignore"):
        r, q = 1 / np.sqrt(x), 1 / x
        cases = [(lambda t: t.rsqrt(), -0.5 * W[:5] * r ** 3, 0.75 * W[:5] * r ** 5),
                 (lambda t: t.reciprocal(), -W[:5] * q * q, 2 * W[:5] * q ** 3),
                 (lambda t: 2.0 / t, -W[:5] * 2 * q * q, 4 * W[:5] * q ** 3)]
    for f, first, second in cases:
        assert_every_mode(weighted(f), [x], [first], rtol=1e-15)
        np.testing.assert_allclose(gg.grad(lambda t: gg.numpy.sum(gg.grad(weighted(f))(t)))(x), second, rtol=1e-15)
        t = gg.tensor(x, requires_grad=True)
        (gx,) = gg.autograd.grad(weighted(f)(t), t, create_graph=True)
        gx.sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), second, rtol=1e-15)
    np.testing.assert_array_equal(second[:2], [np.inf, -np.inf])  # (the cases)


def test_rsqrt_and_quotients_away_from_zero(check_gradients):
    x, y = np.array([0.3, 1.7, 4.0]), np.array([-0.6, 1.1, 2.5])
    check_gradients(lambda x, y: (x.rsqrt() * y + x / y + y.reciprocal()).sum(), [x, y])


def test_remainder_and_fmod_are_numpys_eagerly_with_pytorchs_gradients():
    # eager remainder/fmod of tensors requiring grad were x - y * floor(x / y) (not exact, and nan for an infinite y,
    # where PyTorch and NumPy give x); now the primitives compiled code runs. PyTorch's gradients: grad for x, and
    # -grad * x.div(y, rounding_mode="floor") (Python's -1 // inf = -1) or "trunc" for y, with no gradient of
    # their own (second order 0 where y is 0, which a rounded x / y made nan)
    x = np.array([2.0, -2.0, 3.0, 5.0, -1.0, 1e10, 1.0])
    y = np.array([1.0, 1.0, 1.5, np.inf, np.inf, 0.3, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, quotient in (("remainder", np.floor_divide(x, y)), ("fmod", np.trunc(x / y))):
            f = lambda a, b, name=name: getattr(gg, name)(a, b)
            for run in (f, gg.compile(f)):
                np.testing.assert_array_equal(run(gg.tensor(x, requires_grad=True), gg.tensor(y)).detach().numpy(),
                                              getattr(np, name)(x, y))
            assert_every_mode(weighted(f), [x, y], [W[:7], -W[:7] * quotient])
            first = gg.grad(weighted(f), argnums=1)
            np.testing.assert_array_equal(gg.grad(lambda a, b: gg.numpy.sum(first(a, b)), argnums=(0, 1))(x, y),
                                          [np.zeros(7), np.zeros(7)])
    assert np.floor_divide(-1.0, np.inf) == -1.0  # (the case)


def test_fused_device_kernels_keep_nan_through_relu_sign_and_rsqrt(cupy_device):
    # the C expressions of fused CuPy kernels: relu(nan) is nan (C's `x > 0 ? x : 0` gave 0), sgn(nan) 0, and the
    # gradients as on the CPU
    x = np.array([np.nan, -0.0, 0.0, 2.0, -3.0, np.inf, 0.25])
    f = lambda t: ((t.relu() * 2 + t.sign()) * (t.abs() + 1).rsqrt()).sum()
    grads = []
    for device in ("cpu", "cuda"):
        t = gg.tensor(x, dtype=gg.float64, device=device, requires_grad=True)
        out = gg.compile(f)(t)
        out.backward()
        grads.append(t.grad.cpu().numpy())
        assert np.isnan(out.item())
        y = gg.compile(lambda t: t.relu() + t.sign() * 0.5)(t.detach()).cpu().numpy()
        np.testing.assert_array_equal(y, np.where(np.isnan(x), np.nan, np.maximum(x, 0) + np.nan_to_num(np.sign(x)) * 0.5))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-14)


# -- logaddexp and logcumsumexp at infinities ---------------------------------------------------------------------
INF = math.inf


@pytest.mark.parametrize("name, power", [("logaddexp", np.exp), ("logaddexp2", np.exp2)])
def test_logaddexp_at_infinities_has_pytorchs_gradient_and_zero_for_two_minus_infinities(name, power):
    # PyTorch's LogaddexpBackward0 grad / (1 + exp(other - self)) (Logaddexp2Backward0: pow(2, other - self)): all
    # of it to a +inf operand beside a smaller one, where exp(x - out) gave inf - inf, nan; two +inf: nan, PyTorch's;
    # two -inf: 0, graphgrad's (PyTorch's is nan), as logsumexp's
    x = np.array([INF, 3.0, INF, -INF, -INF, 1.0, INF, -INF, 0.5])
    y = np.array([3.0, INF, -INF, INF, -INF, 2.0, INF, 4.0, -700.0])
    with np.errstate(invalid="ignore"):
        def share(a, b):
            w = 1 / (1 + power(b - a))
            return np.where((a == -INF) & (b == -INF), 0.0, w)
        expected = [W[:9] * share(x, y), W[:9] * share(y, x)]
    assert np.isnan(expected[0][6]) and expected[0][0] == 1 and expected[1][0] == 0  # (the cases)
    op = getattr(gg, name)
    # (rtol: the share 1e-304 of -700.5 is exp's of a sum rounded to 700 ulps)
    assert_every_mode(lambda a, b: (op(a, b) * gg.tensor(W[:9])).sum(), [x, y], expected, rtol=1e-13)


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_second_derivative_is_zero_where_one_operand_is_infinitely_larger(name):
    # d/dx of the share sigmoid(x - y) is share * (1 - share): 0 where a share is 0 or 1 (PyTorch's double backward,
    # the chain rule through exp(other - self), gives 0 * inf = nan there); 0 too for two -inf
    op = getattr(gg, name)
    x, y = np.array([-INF, 3.0, INF, -INF, 1.0]), np.array([3.0, INF, 3.0, -INF, 2.0])
    scale = 1.0 if name == "logaddexp" else math.log(2.0)
    s = 1 / (1 + np.exp(scale * (y[4] - x[4])))
    expected = np.array([0.0, 0.0, 0.0, 0.0, scale * s * (1 - s)])  # d^2/dx^2 and -d^2/dxdy of the finite pair
    second = gg.grad(lambda a, b: gg.numpy.sum(gg.grad(lambda a, b: gg.numpy.sum(op(a, b)))(a, b)), argnums=(0, 1))
    gx, gy = second(x, y)
    np.testing.assert_allclose(gx, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(gy, -expected, rtol=1e-14, atol=0)
    a, b = (gg.tensor(v, requires_grad=True) for v in (x, y))
    (ga,) = gg.autograd.grad(op(a, b).sum(), a, create_graph=True)
    ga.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(b.grad.numpy(), -expected, rtol=1e-14, atol=0)


def test_logaddexp_away_from_infinities(check_gradients):
    x, y = np.array([0.3, -1.7, 4.0, 2.0]), np.array([-0.6, 1.1, 2.5, 2.0])
    check_gradients(lambda x, y: (gg.logaddexp(x, y) * 2 + gg.logaddexp2(y, x)).sum(), [x, y])


def test_logcumsumexp_with_infinite_entries_has_pytorchs_values_and_gradients():
    # values log(cumsum(exp(x))): -inf until the first entry above -inf, +inf from the first +inf on. Gradients,
    # PyTorch's logcumsumexp_backward: sum over j >= i of grad_j exp(x_i - out_j), so 0 at the entries after a +inf
    # (x_i - out_j = -inf), where the chain rule through logaddexp(inf, x)'s nan share made every entry nan. Left as
    # graphgrad's: the leading -inf entries get 0 (out_j = -inf there: PyTorch's nan), the +inf entry the limit of
    # exp(x_i - out_j), 1 (PyTorch's nan)
    x = np.array([-INF, -INF, 0.0, 1.0, INF, 2.0, -INF])
    expected_values = np.array([-INF, -INF, 0.0, np.log1p(math.e), INF, INF, INF])
    share = 1 / (1 + math.e)  # exp(0 - out_3)
    expected = np.array([0.0, 0.0, W[2] + W[3] * share, W[3] * (1 - share), W[4:7].sum(), 0.0, 0.0])
    f = lambda a: (a.logcumsumexp(0) * gg.tensor(W[:7])).sum()
    assert_every_mode(f, [x], [expected], rtol=1e-15)
    np.testing.assert_allclose(gg.tensor(x).logcumsumexp(0).numpy(), expected_values, rtol=1e-15)
    np.testing.assert_allclose(gg.compile(lambda a: a.logcumsumexp(0))(gg.tensor(x)).numpy(), expected_values,
                               rtol=1e-15)
    rows = np.array([[0.5, INF, -1.0], [INF, -INF, 3.0]])  # along dim 1; the +inf first
    expected_rows = np.array([[W[0], W[1] + W[2], 0.0], [W[0] + W[1] + W[2], 0.0, 0.0]])
    assert_every_mode(lambda a: (a.logcumsumexp(1) * gg.tensor(W[:3])).sum(), [rows], [expected_rows], rtol=1e-15)
