"""Structured control flow (cond, scan, fori_loop, while_loop): values, gradients to second order in eager and
compiled mode (against finite differences in float64), the IR they print and the code they generate."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer.tracer import TracerError
from graphgrad.utils.gradcheck import gradcheck


def _tensors(args):
    return [gg.tensor(a, requires_grad=True) for a in args]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_both_branches_with_a_captured_value(rng, sign, check_gradients):
    w = rng.standard_normal((3, 2)) * 0.5

    def f(w, x):
        scale = w.sum()  # read inside a branch: an operand of the cond node
        y = gg.cond(x.sum() > 0, lambda x: gg.tanh(x @ w), lambda x: (x * scale)[:, :2] - 0.5, x)
        return (y * y).sum()

    x = sign * (np.abs(rng.standard_normal((2, 3))) + 0.1)
    compiled = check_gradients(f, [w, x])
    source = compiled.source(*_tensors([w, x]))
    assert "    if " in source and "    else:" in source  # a Python if in forward and backward
    assert source.count("if ") >= 2


def test_cond_branches_returning_tuples_and_python_numbers(rng, check_gradients):
    def f(x):
        a, b = gg.cond(x[0] > 0, lambda x: (x * 2, x.sum()), lambda x: (x, 1.0), x)
        return (a * b).sum()

    check_gradients(f, [rng.standard_normal(3) + np.array([2.0, 0, 0])])
    check_gradients(f, [rng.standard_normal(3) - np.array([2.0, 0, 0])])


def test_scan_rnn_with_stacked_outputs(rng, check_gradients):
    def rnn(w, h0, xs):
        def step(h, x):
            h = gg.tanh(h @ w + x)
            return h, h.sum()

        h, ys = gg.scan(step, h0, xs)
        return (h * h).sum() + (ys ** 2).sum()

    args = [rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3)), rng.standard_normal((4, 2, 3))]
    compiled = check_gradients(rnn, args)
    source = compiled.source(*_tensors(args))
    assert "for i in range(4):" in source and "for i_1 in range(3, -1, -1):" in source  # forward, reversed backward
    # the forward saves each iteration's carry (stacked) for the backward
    assert len(compiled.graph(*_tensors(args), stage="forward").outputs) > 1


def test_fori_loop_uses_the_index_and_a_tuple_carry(rng, check_gradients):
    def f(w, x):
        def body(i, carry):
            h, s = carry
            h = gg.sin(h @ w) + 0.1 * i
            return h, s + (h * h).sum() * i

        h, s = gg.fori_loop(1, 4, body, (x, x.sum() * 0))
        return s + h.sum()

    compiled = check_gradients(f, [rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3))])
    assert "for i in range(1, 4):" in compiled.source(*_tensors([np.eye(3), np.ones((2, 3))]))


def test_branch_inside_a_loop_and_loop_inside_a_branch(rng, check_gradients):
    def f(w, x):
        def body(i, h):
            return gg.cond(h.sum() > 0, lambda h: gg.tanh(h @ w), lambda h: h * 0.5 + w[0], h)

        h = gg.fori_loop(0, 3, body, x)
        inner = gg.cond(h.mean() > 0, lambda h: gg.fori_loop(0, 2, lambda i, c: c * h, h), lambda h: h + 1.0, h)
        return (inner * inner).sum()

    for x in (rng.standard_normal((2, 3)) * 0.5, np.full((2, 3), -0.7), np.full((2, 3), 0.3)):
        check_gradients(f, [rng.standard_normal((3, 3)) * 0.5, x])


def test_nested_loops(rng, check_gradients):
    def f(x):
        def outer(i, c):
            return gg.fori_loop(0, 2, lambda j, d: gg.sin(d) * 1.1, c) + c * 0.1

        return gg.fori_loop(0, 3, outer, x).sum()

    check_gradients(f, [rng.standard_normal(4)])


def test_while_loop_runs_compiled_and_differentiates_by_its_trip_count(check_gradients):
    def f(x, w):
        return gg.while_loop(lambda c: c.sum() < 10, lambda c: c * w + 0.5, x).sum()

    compiled = gg.compile(f)
    assert compiled(gg.tensor([1.0, 2.0]), gg.tensor([2.0, 2.0])).item() == 15.0  # [1,2] [2.5,4.5] [5.5,9.5]
    check_gradients(f, [np.array([1.0, 2.0]), np.array([1.5, 1.2])])  # 4 trips; first and second order
    source = compiled.source(_tensors([[1.0, 2.0], [1.5, 1.2]])[0], _tensors([[1.5, 1.2]])[0])
    assert source.count("while True:") >= 3 and "break" in source  # the loop; backward: reverse walk, recompute
    assert "trips" in source  # the forward counts its iterations for the backward


def test_fori_loop_with_a_traced_trip_count(check_gradients):
    @gg.compile
    def f(x, n):
        return gg.fori_loop(0, n, lambda i, c: c * 2 + i, x)

    out = f(gg.tensor([1.0, 0.0]), gg.tensor(3))
    assert out.tolist() == [12.0, 4.0]  # c -> 2c + i for i = 0, 1, 2
    assert f(gg.tensor([1.0, 0.0]), gg.tensor(1)).tolist() == [2.0, 0.0]  # same code, another count
    assert f.cache_info().specializations == 1
    n = gg.tensor(4)  # closed over: an input of the compiled function, so the trip count is traced

    def g(x, w):
        return gg.fori_loop(0, n, lambda i, c: gg.sin(c) * w + i * 0.1, x).sum()

    check_gradients(g, [np.array([0.3, -0.2]), np.array([1.5, 0.7])])
    assert "while True:" in gg.compile(g).source(*_tensors([[0.3, -0.2], [1.5, 0.7]]))


def test_printed_ir_shows_nested_blocks_and_verifies(rng):
    def f(x):
        return gg.cond(x.sum() > 0, lambda x: x * 2, lambda x: -x, x).sum()

    g = gg.compile(f).graph(gg.tensor([1.0, 2.0]), stage="traced")
    text = str(g)
    assert "= cond(" in text and "true(%" in text and "false(%" in text
    from graphgrad.ir.graph import Graph
    from graphgrad.ir.registry import ShapeError
    from graphgrad.ir.types import TensorType
    from graphgrad.ir.verify import VerificationError, verify

    node = next(n for n in g.nodes if n.op == "cond")
    bad = Graph("bad", [g.inputs[0]], [], [g.inputs[0]])
    node.attrs = dict(node.attrs, false=bad)  # the false branch now takes f32[2]... and returns it; types fit
    verify(g)
    wrong = g.inputs[0].__class__(TensorType((3,), "float32"))
    node.attrs = dict(node.attrs, false=Graph("bad", [wrong], [], [wrong]))  # sub-graphs are immutable: a new one
    with pytest.raises((ShapeError, VerificationError), match="false takes"):
        verify(g)


def test_branches_must_agree(rng):
    @gg.compile
    def f(x):
        return gg.cond(x.sum() > 0, lambda x: (x, x), lambda x: x, x)

    with pytest.raises(TracerError, match="same structure.*test_control.py"):
        f(gg.tensor([1.0]))


def test_unused_loop_outputs_and_carries_are_removed(rng, check_gradients):
    def f(w, x):
        def step(c, x):
            h, unused = c
            return (gg.tanh(h @ w + x), unused * 2.0), (h.sum(), h.mean())

        (h, _), (ys, _) = gg.scan(step, (x[0], x[0].sum()), x)
        return h.sum() + ys.sum()

    args = _tensors([rng.standard_normal((3, 3)), rng.standard_normal((4, 3))])
    compiled = gg.compile(f)
    forward = compiled.graph(*args, stage="forward")
    scan_node = next(n for n in forward.nodes if n.op == "scan")
    assert scan_node.attrs["n_carry"] == 1  # the carry nothing reads is gone
    body = scan_node.attrs["body"]
    assert not any(n.op == "mean" for n in body.nodes)  # so is the y nothing reads
    check_gradients(f, [a.detach().numpy() for a in args])


def test_eager_interpretation_of_a_compiled_graph(rng):
    """grad(f) on tensors with history replays its joint graph through eager autograd, control nodes too."""
    def f(x):
        return gg.fori_loop(0, 3, lambda i, c: gg.sin(c) + c, x).sum()

    x = gg.tensor(rng.standard_normal(3), requires_grad=True)
    g = gg.grad(f)(x)
    assert g.requires_grad
    (g.sum()).backward()
    x2 = gg.tensor(x.detach().numpy(), requires_grad=True)
    (gx,) = gg.autograd.grad(f(x2), [x2], create_graph=True)
    (hx,) = gg.autograd.grad(gx.sum(), [x2])
    assert np.allclose(x.grad.numpy(), hx.numpy())


def test_text_and_json_round_trips_of_nested_blocks(rng):
    from graphgrad.ir.parser import parse_graph
    from graphgrad.ir.printer import from_json, to_json

    def f(w, x):
        h = gg.fori_loop(0, 2, lambda i, h: gg.cond(h.sum() > 0, lambda h: gg.tanh(h @ w), lambda h: h * 0.5, h), x)
        return (h * h).sum()

    c = gg.compile(f)
    args = _tensors([rng.standard_normal((3, 3)), rng.standard_normal((2, 3))])
    for stage in ("traced", "optimized", "backward"):
        g = c.graph(*args, stage=stage)
        assert str(parse_graph(str(g))) == str(g)
        assert to_json(from_json(to_json(g))) == to_json(g)
    assert "scan(" in str(c.graph(*args, stage="backward"))


def test_cupy_module_source_for_control_flow_compiles(rng):
    """The CuPy module is the same program with cp: checked as source here (the GPU run is in test_cupy_backend)."""
    def f(w, x):
        h = gg.fori_loop(0, 3, lambda i, h: gg.cond(h.sum() > 0, lambda h: gg.tanh(h @ w), lambda h: h * 0.5, h), x)
        return gg.while_loop(lambda c: c.sum() < 10.0, lambda c: c * 2.0 + 1.0, (h * h).sum())

    args = _tensors([rng.standard_normal((3, 3)), rng.standard_normal((2, 3))])
    source = gg.compile(f).source(*args, backend="cupy")
    assert "import cupy as cp" in source and "np." not in source
    assert "for i in range(3):" in source and "while True:" in source and "    if " in source
    compile(source, "<cupy module>", "exec")


def test_forward_mode_through_scan_and_while_matches_finite_differences():
    def f(x):
        return gg.scan(lambda c, xi: (c * xi + xi.sin(), c), x[0] * 0 + 1.0, x)[0]

    def w(x):
        return gg.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * 1.5 + x.sum(), c[1] + 1),
                             (x.sum(), gg.tensor(0)))[0]

    x, t, eps = np.array([0.3, 0.5, 0.9]), np.array([1.0, -2.0, 0.5]), 1e-6
    for fn in (f, w):
        _, tangent = gg.jvp(fn, (x,), (t,))
        fd = (np.asarray(fn(gg.tensor(x + eps * t))) - np.asarray(fn(gg.tensor(x - eps * t)))) / (2 * eps)
        np.testing.assert_allclose(tangent, fd, rtol=1e-7)
        # the Hessian's rows are batched through the loops: against differences of the gradient
        g = gg.grad(fn)
        fd_h = np.stack([(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(3)], axis=1)
        np.testing.assert_allclose(gg.hessian(fn)(x), fd_h, rtol=1e-6, atol=1e-8)


def test_a_tensor_whose_shape_a_branch_or_body_changes_is_refused_not_broadcast():
    # compiled broadcast them back to one shape: fori_loop gave [8, 9] where the same Python loop gives [6, 7]
    from graphgrad.tracer import TracerError

    x = gg.tensor([1.0, 2.0], dtype=gg.float64)
    cases = [
        (lambda x: gg.fori_loop(0, gg.tensor(2), lambda i, y: y.sum() + x, gg.tensor(1.0, dtype=gg.float64)),
         r"while_loop: carried value 1 is f64\[\] when an iteration starts and f64\[2\] when it ends"),
        (lambda x: gg.while_loop(lambda y: y.sum() > 1, lambda y: y.sum() / 4, x),
         r"while_loop: carried value 0 \('x'\) is f64\[2\] when an iteration starts and f64\[\] when it ends"),
        (lambda x: gg.scan(lambda c, r: (c.sum() + r, c), gg.tensor(1.0, dtype=gg.float64), x.reshape(1, 2))[0],
         r"scan: carried value 0 is f64\[\] when an iteration starts and f64\[2\] when it ends"),
        (lambda x: gg.cond(x.sum() > 0, lambda: x.sum(), lambda: x),
         r"cond: output 0 is f64\[\] in the true branch and f64\[2\] in the false branch"),
    ]
    for f, message in cases:
        with pytest.raises(TracerError, match=message):
            gg.compile(f)(x)
    # a Python number still broadcasts, and a carry that starts as one still widens
    assert gg.compile(lambda x: gg.cond(x.sum() > 0, lambda: 0.0, lambda: x))(x).tolist() == [0.0, 0.0]
    assert gg.compile(lambda x: gg.fori_loop(0, 3, lambda i, c: c + x, 0.0))(x).tolist() == [3.0, 6.0]


def test_scan_and_loops_take_numpy_arrays_while_traced():
    # an ndarray carry or xs was "scan: expected a tensor or a number, got ndarray" under compile and the
    # transforms (lax.scan takes arrays); it is a constant of the trace, as in any op
    xs = np.array([0.5, -1.0, 2.0])
    w = np.array([0.3, -0.7])

    def f(w):
        c, ys = gg.scan(lambda c, x: ((c * x).tanh() + w, c.sum()), np.ones(2), xs)
        return c * ys.sum()

    def f_np(w):
        c, ys = np.ones(2), []
        for x in xs:
            ys.append(c.sum())
            c = np.tanh(c * x) + w
        return c * sum(ys)

    np.testing.assert_allclose(gg.compile(f)(gg.tensor(w)).numpy(), f_np(w), rtol=1e-12)
    jac = np.stack([(f_np(w + e) - f_np(w - e)) / 2e-6 for e in np.eye(2) * 1e-6], axis=1)
    np.testing.assert_allclose(gg.jacfwd(f)(w), jac, rtol=1e-6)
    np.testing.assert_allclose(gg.jacrev(f)(w), jac, rtol=1e-6)
    out = gg.compile(lambda n: gg.fori_loop(0, n, lambda i, a: a * 2, np.ones(2)))(gg.tensor(3))
    np.testing.assert_allclose(out.numpy(), np.full(2, 8.0))
