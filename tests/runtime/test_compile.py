"""@compile semantics: specialization, accumulation into leaves, eager agreement, transforms."""
import numpy as np
import pytest

import graphgrad as gg


def loss(w, b, x, y):
    return ((x @ w + b - y) ** 2).mean()


def data(dtype=gg.float64):
    rng = np.random.default_rng(0)
    return (gg.tensor(rng.standard_normal((4, 2)), dtype=dtype, requires_grad=True),
            gg.tensor(rng.standard_normal(2), dtype=dtype, requires_grad=True),
            gg.tensor(rng.standard_normal((6, 4)), dtype=dtype), gg.tensor(rng.standard_normal((6, 2)), dtype=dtype))


def test_compiled_matches_eager_to_1e12_and_accumulates():
    f = gg.compile(loss)
    w, b, x, y = data()
    we, be = (t.detach().clone().requires_grad_() for t in (w, b))
    for _ in range(2):  # gradients accumulate across calls, as in eager
        f(w, b, x, y).backward()
        loss(we, be, x, y).backward()
    np.testing.assert_allclose(w.grad.numpy(), we.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), be.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert x.grad is None and y.grad is None
    assert f.cache_info().hits == 1 and f.cache_info().misses == 1


def test_new_signature_retraces():
    f = gg.compile(loss)
    w, b, x, y = data()
    f(w, b, x, y)
    f(w, b, x[:3], y[:3])  # new shape
    f(w.detach(), b, x, y)  # w no longer requires grad
    with gg.no_grad():      # grad mode is part of the signature
        out = f(w, b, x, y)
    assert not out.requires_grad
    assert f.cache_info().specializations == 4


def test_graph_stages_and_bad_stage():
    f = gg.compile(loss)
    args = data()
    for stage in ("traced", "pruned", "adjoint", "batched", "optimized", "forward", "backward"):
        assert f.graph(*args, stage=stage).nodes
    with pytest.raises(ValueError, match="unknown stage 'bogus'"):
        f.graph(*args, stage="bogus")


def test_second_backward_through_compiled_graph_raises():
    f = gg.compile(loss)
    out = f(*data())
    out.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out.backward()


def test_grad_and_value_and_grad_on_numpy():
    def f(x, y):
        return (x * y.sin()).sum()

    x, y = np.array([1.0, 2.0]), np.array([0.5, -0.3])
    gx = gg.grad(f)(x, y)
    assert isinstance(gx, np.ndarray)
    np.testing.assert_allclose(gx, np.sin(y))
    value, (gx2, gy) = gg.value_and_grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(value, (x * np.sin(y)).sum())
    np.testing.assert_allclose(gy, x * np.cos(y))


def test_grad_of_grad_closed_form():
    f = lambda x: (x ** 2 - 2 * x + 1).sum()  # noqa: E731  (the seed's y = x^2 - 2x + 1)
    x0 = np.array(0.0)
    assert gg.grad(f)(x0) == -2.0
    assert gg.grad(gg.grad(f))(x0) == 2.0
    assert gg.grad(gg.grad(gg.grad(lambda x: (x ** 4).sum())))(np.array(2.0)) == pytest.approx(48.0)


def test_grad_requires_scalar_output():
    with pytest.raises(TypeError, match="scalar output"):
        gg.grad(lambda x: x * 2)(np.ones(3))


def test_grad_inside_eager_records_for_higher_order():
    x = gg.tensor(3.0, dtype=gg.float64, requires_grad=True)
    g = gg.grad(lambda t: t ** 3)(x)   # 3 x^2, recorded on the eager tape
    (h,) = gg.autograd.grad(g, x)
    assert g.item() == 27.0 and h.item() == 18.0


def test_numpy_inputs_give_numpy_outputs():
    out = gg.compile(lambda a: (a * 2).sum())(np.ones(3))
    assert isinstance(out, np.ndarray) and out == 6.0


def test_keyword_arguments_and_defaults_specialize_like_positionals():
    @gg.compile
    def scaled(x, scale=2.0):
        return (x * scale).sum()

    x = gg.ones(3)
    assert scaled(x).item() == 6.0
    assert scaled(x=x, scale=3.0).item() == 9.0
    assert scaled(x, 2.0).item() == 6.0
    assert scaled.cache_info().specializations == 2


def test_keyword_only_and_var_keyword_parameters_are_arguments_of_the_specialization():
    # refused before ("keyword-only and **kwargs parameters are not supported by compile"), the way most
    # attention code passes its mask
    def attend(q, k, *, mask=None, scale=1.0, **extra):
        s = (q @ k.T) * scale
        if mask is not None:
            s = s.masked_fill(mask, -1e9)
        for bias in extra.values():
            s = s + bias
        return s.softmax(-1).sum(0)

    compiled = gg.compile(attend)
    rng = np.random.default_rng(0)
    mask = gg.tensor(rng.random((3, 4)) < 0.3)
    for kwargs in ({}, {"mask": mask}, {"mask": mask, "scale": 0.5}, {"bias": None, "scale": 2.0}):
        q, k = (gg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 5), (4, 5)))
        bias = gg.tensor(rng.standard_normal(4), requires_grad=True)
        if "bias" in kwargs:
            kwargs = {**kwargs, "bias": bias}
        out = compiled(q, k, **kwargs)
        grads = gg.autograd.grad((out * gg.arange(4.0)).sum(), [q, k, bias], allow_unused=True)
        ref = attend(q, k, **kwargs)
        ref_grads = gg.autograd.grad((ref * gg.arange(4.0)).sum(), [q, k, bias], allow_unused=True)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
        for g, r in zip(grads, ref_grads):
            assert (g is None) == (r is None)
            if r is not None:
                np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-10, atol=1e-14)
    assert compiled.cache_info().specializations == 4  # a scale and a mask given or not are parts of the key
    assert "mask" in compiled.source(q, k, mask=mask)


def test_recompiles_say_what_changed():
    f = gg.compile(loss)
    w, b, x, y = data()
    f(w, b, x, y)
    f(w, b, x[:3], y[:3])
    with gg.no_grad():
        f(w, b, x, y)
    assert f.recompile_reasons == ["x: f64[6,4] -> f64[3,4]; y: f64[6,2] -> f64[3,2]", "grad mode on -> off"]


def test_grad_of_a_function_whose_inner_gradient_is_constant():
    # d/dx ((x - y) * v).sum() = v summed over y's axis: computed from the closed-over v alone, so the inner
    # gradient is a constant of the outer trace, which must still trace (and differentiate to zeros)
    v = gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64)
    first = gg.grad(lambda x, y: ((x - y) * v).sum())

    def grad_norm(x, y):
        g = first(x, y)
        return (g * g).sum()

    x, y = np.ones((2, 1)), np.ones((1, 2))
    np.testing.assert_array_equal(gg.grad(grad_norm)(x, y), np.zeros((2, 1)))
    assert gg.value_and_grad(grad_norm)(x, y)[0] == 3.0 ** 2 + 7.0 ** 2


def test_ops_on_closed_over_tensors_that_require_grad_are_traced_not_frozen():
    # w.t() runs while tracing; it must become part of the graph, or its gradient path would be a one-off
    # eager graph, freed by the first backward
    w = gg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=gg.float64, requires_grad=True)
    f = gg.compile(lambda x: (x @ w.t()).sum())
    x = gg.tensor([[1.0, 1.0]], dtype=gg.float64)
    for call in range(1, 3):
        f(x).backward()
        np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 2), float(call)))
    assert "permute" in str(f.graph(x, stage="traced"))


def test_a_trace_on_one_thread_does_not_capture_eager_ops_of_another():
    import threading

    w = gg.tensor([2.0], requires_grad=True)
    started, release = threading.Event(), threading.Event()

    def slow(x):
        started.set()
        release.wait(5)
        return (x * w).sum()

    worker = threading.Thread(target=lambda: gg.compile(slow)(gg.ones(1)))
    worker.start()
    started.wait(5)
    eager = w * 3  # on this thread, while the other one is tracing: plain eager
    release.set()
    worker.join()
    assert type(eager) is gg.Tensor and eager.grad_fn.name() == "MulBackward0"


def test_grad_retraces_when_a_closed_over_tensor_changes_shape():
    v = gg.tensor([1.0, 2.0], dtype=gg.float64)
    grad = gg.grad(lambda x: (x * v).mean())  # the generated code divides by the element count: 2, then 3
    x = np.ones(1)
    np.testing.assert_allclose(grad(x), [3.0 / 2])
    v.data = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64)  # the same tensor, new storage of another shape
    np.testing.assert_allclose(grad(x), [6.0 / 3])


def test_compiled_code_divides_by_zero_without_warnings_as_eager_does():
    """inf and nan from 1/0, log(0), exp overflow: PyTorch's silence, in eager and compiled calls alike."""
    import warnings

    def f(x):
        return (1 / x).sum() + x.log().sum() + (x * 1000).exp().sum()

    x = gg.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eager = f(x)
        eager.backward()
        expected = x.grad.clone()
        x.grad = None
        compiled = gg.compile(f)
        for call in range(2):  # the first call and the fast path of later ones
            got = compiled(x)
            got.backward()
            np.testing.assert_array_equal(got.detach().numpy(), eager.detach().numpy())
            np.testing.assert_array_equal(x.grad.numpy(), expected.numpy())
            x.grad = None


def test_masks_combined_with_bitwise_and_logical_ops_compile(check_gradients):
    # &, |, ^, ~ and logical_* were eager-only methods: a compiled function with `(x > 0) & (x < 1)` failed
    def f(x):
        inside = (x > -0.5) & (x < 0.5) | (x > 1.5)
        flipped = ~inside ^ (x > 0)
        return gg.where(inside, x * x, x.sin()).sum() + gg.where(flipped.logical_and(x < 1), x, 0.0).sum()

    x = gg.tensor([-1.0, -0.2, 0.3, 0.8, 2.0], dtype=gg.float64)
    np.testing.assert_allclose(gg.compile(f)(x).item(), f(x).item())
    check_gradients(f, [x.numpy()])
    assert (gg.tensor([6, 3]) & 5).tolist() == [4, 1] and (~gg.tensor([0, -1])).tolist() == [-1, 0]
    with pytest.raises(RuntimeError, match="\"bitwise_or_cpu\" not implemented for 'Double'"):
        gg.compile(lambda x: x | x)(x)


def test_sort_and_argsort_with_torch_signatures_compile(check_gradients):
    # gg.argsort(x, dim=0) passed PyTorch's `stable` to a traced argsort without it, and traced tensors had no
    # .sort: both failed under compile while eager ran
    x = gg.tensor([[3.0, 1.0, 2.0], [2.0, 5.0, -1.0]], dtype=gg.float64)
    weights = gg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=gg.float64)

    def f(a):
        return (gg.sort(a, dim=0).values * weights).sum() + (a.sort(descending=True).values * weights).sum()

    for dim in (0, 1, -1):
        assert gg.compile(lambda a: gg.argsort(a, dim=dim))(x).tolist() == gg.argsort(x, dim=dim).tolist()
    assert gg.compile(lambda a: a.sort(dim=1).indices)(x).tolist() == x.sort(dim=1).indices.tolist()
    np.testing.assert_allclose(gg.compile(f)(x).item(), f(x).item())
    check_gradients(f, [x.numpy()])
