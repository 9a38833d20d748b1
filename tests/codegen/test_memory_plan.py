"""Memory planning in generated code (ir/buffers.py plans, codegen follows): elementwise results written into a
dying operand's buffer only where nobody else can see it, constants built once per module. Whether reuse changes a
result on the benchmark workloads is checked in tests/passes/test_partition.py (compiled against eager, float64)."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp


def mlp(w1, w2, x):
    h = (x @ w1).relu()
    return ((h @ w2).tanh() + 1.0).sum()


def test_elementwise_results_go_into_dying_temporaries():
    rng = np.random.default_rng(0)
    w1 = gg.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    w2 = gg.tensor(rng.standard_normal((8, 3)), requires_grad=True)
    x = gg.tensor(rng.standard_normal((5, 4)))
    f = gg.compile(mlp)
    src = f.source(w1, w2, x)
    # x @ w1 is a fresh temporary that dies at relu: relu writes into it, and the buffer takes the name h
    assert "    h = x @ w1  #" in src and "    np.maximum(h, 0, out=h)  #" in src
    assert "    np.tanh(t3, out=t3)  #" in src                 # t3 is saved for the backward, under its own name
    f(w1, w2, x).backward()
    e1, e2 = w1.detach().clone().requires_grad_(), w2.detach().clone().requires_grad_()
    mlp(e1, e2, x).backward()
    np.testing.assert_allclose(w1.grad.numpy(), e1.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(w2.grad.numpy(), e2.grad.numpy(), rtol=1e-13)


def test_inputs_and_saved_values_are_never_written():
    def f(x, y):
        a = x + y            # x, y: the caller's arrays
        return (a.tanh() * 2.0).sum(), a
    x = gg.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    y = gg.tensor(np.ones(6))
    cf = gg.compile(f)
    src = cf.source(x, y)
    assert "out=x" not in src and "out=y" not in src
    forward = src.split("def backward")[0]
    assert "out=a" not in forward                       # a is an output
    before = x.detach().numpy().copy(), y.numpy().copy()
    loss, a = cf(x, y)
    loss.backward()
    np.testing.assert_array_equal(x.detach().numpy(), before[0])
    np.testing.assert_array_equal(y.numpy(), before[1])
    np.testing.assert_allclose(a.detach().numpy(), before[0] + 1)
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh(before[0] + 1) ** 2), rtol=1e-13)


def test_a_buffer_with_a_live_view_is_not_reused():
    def f(x):
        a = x * 2.0
        row = a[0]               # a view of a's buffer, read after a's last use
        b = a + 1.0              # a dies here: writing into it would change row
        return (b * row).sum()
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    cf = gg.compile(f)
    src = cf.source(x)
    assert "out=a" not in src
    for view in (lambda a: a.reshape(6)[:3], lambda a: a.permute(1, 0)[:, 0], lambda a: a.expand(2, 2, 3)[0, 0]):
        def g(x, view=view):
            a = x * 2.0
            v = view(a)
            b = a + 1.0
            return (b.sum(0) * v).sum()
        out = gg.compile(g)(x)
        np.testing.assert_allclose(out.item(), g(x.detach()).item(), rtol=1e-14)
    np.testing.assert_allclose(cf(x).item(), f(x.detach()).item(), rtol=1e-14)


def test_constants_are_built_once_at_module_level():
    def f(x):
        return (gnp.add(x, [1.0, 2.0, 3.0]) * x).sum()
    x = gg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    cf = gg.compile(f)
    src = cf.source(x)
    module_level = src.split("def forward")[0]
    assert "np.array((1.0, 2.0, 3.0), dtype=np.float64)" in module_level
    assert "np.array(" not in src.split("def forward")[1]
    for _ in range(2):   # the module-level array is read, never written: the second call gives the same
        x.grad = None
        out = cf(x)
        out.backward()
        np.testing.assert_allclose(out.item(), np.sum((x.detach().numpy() + [1, 2, 3]) * x.detach().numpy()))
        np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + [1, 2, 3])


def test_arrays_made_from_attributes_alone_are_built_once_unless_large():
    # a one-hot compares the targets with an arange: built once per module (a CUDA launch and a NumPy call fewer
    # per step); a large zeros is built per call rather than held for the module's life
    def f(z, y):
        big = gg.zeros(200, 100) + 1.0  # float32: 80,000 bytes, over HOISTED_BYTES
        one_hot = (y.unsqueeze(-1) == gg.arange(3)).double()
        return -(one_hot * z.log_softmax(1)).sum() + (big * z.sum()).mean()

    rng = np.random.default_rng(6)
    z = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = gg.tensor(np.array([0, 2, 1, 1]))
    cf = gg.compile(f)
    module_level, body = cf.source(z, y).split("def forward")
    assert "np.arange(0, 3, 1, dtype=np.int64)" in module_level and "np.arange(" not in body
    assert "np.full((200, 100), 0.0" in body.split("def backward")[0]
    for _ in range(2):  # the module-level arange is read, never written
        z.grad = None
        out = cf(z, y)
        out.backward()
        e = z.detach().clone().requires_grad_()
        want = f(e, y)
        want.backward()
        np.testing.assert_allclose(out.item(), want.item(), rtol=1e-13)
        np.testing.assert_allclose(z.grad.numpy(), e.grad.numpy(), rtol=1e-13)


def test_a_constant_the_caller_receives_is_built_per_call():
    # an input with no path to the output gets a zero gradient: a fresh array on every call, since the caller
    # may add into it
    g = gg.grad(lambda x, y: (x * x).sum(), argnums=(0, 1))
    x, y = np.ones(3), np.ones(3)
    _, gy = g(x, y)
    gy += 5.0
    np.testing.assert_array_equal(g(x, y)[1], np.zeros(3))


def test_relu_gradient_is_a_product_with_positive_zeros_where_dead():
    # g * mask runs in place and far faster than where(mask, g, 0); + 0.0 keeps PyTorch's +0 for a negative g
    def f(x):
        return (x.relu() * -3.0).sum()
    x = gg.tensor([-1.0, 2.0, 0.0], requires_grad=True)
    cf = gg.compile(f)
    assert "np.where" not in cf.source(x)
    cf(x).backward()
    compiled = x.grad.numpy().copy()
    x.grad = None
    f(x).backward()
    for grad in (compiled, x.grad.numpy()):
        np.testing.assert_array_equal(grad, [0.0, -3.0, 0.0])
        assert not np.signbit(grad[[0, 2]]).any()


@pytest.mark.parametrize("equation, shape", [("ij->ji", (2, 3)), ("ii->i", (3, 3)), ("ijk->kij", (2, 1, 3))])
def test_an_einsum_that_numpy_returns_as_a_view_is_not_written_in_place(equation, shape):
    # np.einsum of one operand with nothing summed is a view of it; einsum is declared fresh, so the next
    # multiply wrote into that view: the compiled call changed the caller's array and returned wrong values
    a = np.arange(float(np.prod(shape))).reshape(shape) + 1.0
    before = a.copy()
    x = gg.tensor(a, requires_grad=True)
    f = gg.compile(lambda t: gg.einsum(equation, t) * 1.5)
    np.testing.assert_array_equal(f(x).detach().numpy(), np.einsum(equation, before) * 1.5)
    np.testing.assert_array_equal(a, before)
    g = gg.grad(lambda t: (gg.einsum(equation, t) * 1.5 * gg.einsum(equation, t)).sum())(a)
    np.testing.assert_array_equal(a, before)
    expected = gg.autograd.grad((gg.einsum(equation, x) * 1.5 * gg.einsum(equation, x)).sum(), x)[0].numpy()
    np.testing.assert_allclose(g, expected, rtol=1e-15)


def _evaluate(line: str, arrays: dict):
    return eval(line, {"np": np, "math": __import__("math")}, dict(arrays))


def test_each_declared_ufunc_computes_what_the_ops_expression_computes():
    """``ufunc=`` in an op's block is a second spelling of its expression, used for ``out=``: the two must agree
    bit for bit on every declared op (values inside every op's domain, float32 and float64)."""
    from graphgrad.codegen.expressions import statements
    from graphgrad.codegen.memory import into
    from graphgrad.ir.registry import OPS

    declared = sorted(name for name, opdef in OPS.items() if opdef.ufunc)
    # the ops generated code wrote in place before the field existed (the old table in ir/buffers.py)
    assert {"add", "sub", "mul", "div", "pow", "neg", "exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh",
            "sqrt", "abs", "sign", "maximum", "minimum", "relu"} <= set(declared)
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for name in declared:
            n = OPS[name].ufunc.count("{")
            values = rng.uniform(1.1, 1.9, size=(n, 7)).astype(dtype)  # arccosh needs > 1, arctanh < 1
            if name in ("arcsin", "arccos", "arctanh"):
                values = values - 1
            args = [f"a{i}" for i in range(n)]
            arrays = {a: v for a, v in zip(args, values)}
            expected = _evaluate(statements(name, args, "np", "out", {})[-1], arrays)
            buffer = {**arrays, "buf": np.empty(7, dtype)}
            result = _evaluate(into(name, args, "np", "buf"), buffer)
            assert result is buffer["buf"], name
            assert result.dtype == expected.dtype, name
            np.testing.assert_array_equal(result, expected, err_msg=name)


def test_view_ops_are_the_ops_whose_eager_results_share_the_version_counter():
    """``view=True`` in an op's block: its eager result is a PyTorch view (shares the version counter, has a
    base), or for ``stop_gradient`` (``detach()``) shares the counter without a base, as PyTorch's; an op that only
    shares NumPy memory (``memory="view"``) is not."""
    from graphgrad.ir.api import bind
    from graphgrad.ir.registry import OPS

    assert sorted(n for n, d in OPS.items() if d.view) == ["expand", "getitem", "permute", "reshape", "stop_gradient",
                                                            "unfold"]
    x = gg.ones(2, 3)
    for view in (x.reshape(3, 2), x.permute(1, 0), x.expand(4, 2, 3), x[0], x.unfold(1, 2, 1)):
        assert view._base is x and view._version_box is x._version_box
    detached = bind("stop_gradient", x)
    assert detached._base is None and detached._version_box is x._version_box
    fresh = x * 2
    assert fresh._base is None and fresh._version_box is not x._version_box


def test_the_only_view_of_a_dying_temporary_owns_its_buffer():
    def f(x, w, b):
        p = (x.reshape(6, 4) @ w).reshape(2, 3, 5)   # the view is the product's only reader
        return ((p + b).tanh() * p.sum()).sum()         # ... but p is read twice: p + b may not overwrite it

    def g(x, w, b):
        p = (x.reshape(6, 4) @ w).reshape(2, 3, 5)
        return (p + b).tanh().sum()                     # p dies at p + b: the sum goes into its buffer

    rng = np.random.default_rng(1)
    args = [gg.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True),
            gg.tensor(rng.standard_normal((4, 5)), requires_grad=True), gg.tensor(rng.standard_normal(5))]
    for fn, reused in ((f, False), (g, True)):
        cf = gg.compile(fn)
        forward = cf.source(*args).split("def backward")[0]
        assert ("    p += b  #" in forward) is reused
        assert ("= p + b  #" in forward) is not reused
        cf(*args).backward()
        got = [a.grad.numpy().copy() for a in args[:2]]
        for a in args[:2]:
            a.grad = None
        fn(*args).backward()
        for a, want in zip(args[:2], got):
            np.testing.assert_allclose(want, a.grad.numpy(), rtol=1e-13)
            a.grad = None


def _held_small_arrays(src: str, function: str) -> int:
    """Most names at once in ``function`` whose value is dead (read for the last time) but not deleted and still
    owns its buffer (not passed on by ``out=``), walking its statements in order."""
    import ast

    fn = next(f for f in ast.parse(src).body if isinstance(f, ast.FunctionDef) and f.name == function)
    body = fn.body[1:]  # the docstring
    last: dict = {}
    for i, stmt in enumerate(body):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                last[node.id] = i
    returned = {n.id for n in ast.walk(body[-1]) if isinstance(n, ast.Name)}
    alive, most = set(), 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, ast.Delete):
            alive -= {t.id for t in stmt.targets}
        elif isinstance(stmt, ast.Assign):
            alive.add(stmt.targets[0].id)
            passed_on = {k.value.id for k in getattr(stmt.value, "keywords", ()) if k.arg == "out"}
            alive -= passed_on
        dead = {name for name in alive if last.get(name, -1) <= i and name not in returned}
        most = max(most, len(dead))
    return most


def _chain(n):
    def f(x):
        y = x
        for i in range(n):
            y = y.sin() * 1.5 if i % 2 else y.tanh() + 1.0
        return y.sum()
    return f


def _step_peak(numpy_memory, fn, x) -> int:
    """The most bytes of array data a call and its backward hold at once (tracemalloc's total also counts Python
    objects, which vary by 100s of bytes from call to call)."""
    def step():
        x.grad = None
        fn(x).backward()
    return numpy_memory.peak_array_bytes(step)


@pytest.mark.parametrize("n", [8, 400])
def test_small_dead_arrays_are_held_only_where_that_does_not_raise_the_peak(monkeypatch, numpy_memory, n):
    """A ``del`` of a small array frees little for a line (codegen/python.py's HELD_BYTES), so small dead arrays
    may wait for one ``del`` of many, but only where the function's peak does not rise: tiny_chain's backward held
    a dozen 128-byte temporaries at its peak (6.3 KiB of arrays against PyTorch's 5.4). With 8 ops the backward
    frees its saved values as it goes (8 arguments are handed over); with 400 they stay to its end."""
    from graphgrad.codegen import python

    x = gg.tensor(np.linspace(-1, 1, 16), requires_grad=True)
    fn = gg.compile(_chain(n))
    held = _step_peak(numpy_memory, fn, x)
    np.testing.assert_allclose(x.grad.numpy(), gg.autograd.grad(_chain(n)(x), x)[0].numpy(), rtol=1e-12)
    per_array = 128 + python._ARRAY_OBJECT_BYTES
    src = fn.source(x)
    assert _held_small_arrays(src, "backward") * per_array <= python.HELD_BYTES + per_array
    assert _held_small_arrays(src, "forward") * per_array <= python.HELD_BYTES + per_array
    # the same code with every dead array deleted at once, and with small ones held up to HELD_BYTES throughout
    monkeypatch.setattr(python, "_room_to_hold", lambda graph, *rest: [0] * len(graph.nodes))
    each_deleted = _step_peak(numpy_memory, gg.compile(_chain(n)), x)
    monkeypatch.setattr(python, "_room_to_hold", lambda graph, *rest: [python.HELD_BYTES] * len(graph.nodes))
    always_held = _step_peak(numpy_memory, gg.compile(_chain(n)), x)
    # (NumPy makes an 8-byte array of a Python number operand while it computes: ``t11 * 1.5``, ``1 - t11``)
    assert held <= each_deleted + 4 * 8
    assert always_held > each_deleted + 2 * 128


def test_a_backward_of_up_to_30_arguments_has_them_handed_over_and_deletes_its_saved_values():
    """CPython calls a function with more than 30 arguments by packing them in a tuple, which holds each until the
    call returns: the runtime hands the saved arrays over (``_call_handing_over``) only up to that, and a backward
    with more does not ``del`` them (it could free none)."""
    import dis
    import weakref

    from graphgrad.runtime import compiled

    def call_opcodes(count):  # of the helper that calls a function with `count` arguments handed over
        compiled._call_handing_over(lambda *a: None, [None] * count)
        return {i.opname for i in dis.get_instructions(compiled._HANDING_OVER[count])}

    at_most = compiled.HANDED_OVER_AT_MOST
    assert "CALL_FUNCTION_EX" not in call_opcodes(at_most) and "CALL_FUNCTION_EX" in call_opcodes(at_most + 1)
    arrays = [np.ones(4) for _ in range(at_most)]
    first = weakref.ref(arrays[-1])  # popped first: the callee's first parameter
    namespace: dict = {}
    exec(f"def callee({', '.join(f'a{k}' for k in range(at_most))}):\n    del a0\n    return ref() is None",
         {"ref": first}, namespace)
    assert compiled._call_handing_over(namespace["callee"], arrays) is True

    x = gg.tensor(np.linspace(-1, 1, 16), requires_grad=True)
    for n, deletes_saved in ((8, True), (100, False)):
        backward = gg.compile(_chain(n)).source(x).split("def backward")[1]
        parameters = set(backward.split("(")[1].split(")")[0].split(", ")) - {"grad_f"}
        deleted = {name for line in backward.splitlines() if line.strip().startswith("del ")
                   for name in line.strip()[4:].split(", ")}
        assert bool(deleted & parameters) is deletes_saved, (n, deleted & parameters)


def test_rows_picked_by_an_argmin_index_are_a_fresh_array_not_a_view_of_the_input():
    # x.T[(x * x).argmin()] indexed with NumPy's integer scalar gave a view of x, and relu written into it with
    # out= overwrote the caller's x ([[-0.2, 0.7]] became [[0., 0.7]])
    def f(x):
        return x.transpose(0, -1)[(x * x).argmin()].relu()

    x = gg.tensor(np.array([[-0.2, 0.7]]), requires_grad=True)
    out = gg.compile(f)(x)
    assert x.tolist() == [[-0.2, 0.7]]
    np.testing.assert_array_equal(out.detach().numpy(), f(gg.tensor(np.array([[-0.2, 0.7]]))).numpy())


def _backward_peak(fn, x, retain_graph: bool) -> int:
    import tracemalloc

    tracemalloc.start()  # before the forward: the saved arrays it makes are counted, and their release
    try:
        out = fn(x)
        tracemalloc.reset_peak()
        out.backward(retain_graph=retain_graph)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_backward_frees_each_saved_activation_after_its_last_use():
    """As PyTorch's engine frees saved tensors node by node: ``e = exp(sin(w))`` is saved, read by the first
    statement of the backward and deleted there, before ``cos(w)`` is made; the caller's inputs are not deleted."""
    n = 200_000  # 1.6 MB of float64 per array

    def f(w):
        return w.sin().exp().sum()

    fn = gg.compile(f)
    w = gg.tensor(np.linspace(-1, 1, n), requires_grad=True)
    backward = fn.source(w).split("def backward")[1]
    saved = backward.split("(")[1].split(",")[0]  # the saved exp(sin(w))
    assert f"\n    del {saved}\n" in backward or f"del {saved}," in backward
    assert "del w" not in backward
    kept = _backward_peak(fn, w, retain_graph=True)  # the saved array stays for a second backward
    w.grad = None
    freed = _backward_peak(fn, w, retain_graph=False)
    assert freed <= kept - 0.9 * n * 8
    v = w.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), np.cos(v) * np.exp(np.sin(v)), rtol=1e-14)
    y = fn(w)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_the_engine_s_walk_through_a_compiled_function_frees_its_saved_activations_too():
    """The compiled function's output feeds eager ops (a compiled block inside an eager model): the engine walks
    to its backward, which frees the saved exp(sin(w)) as the direct path does."""
    n = 200_000
    fn = gg.compile(lambda w: w.sin().exp().sum())
    w = gg.tensor(np.linspace(-1, 1, n), requires_grad=True)

    def eager_after(x):
        return fn(x) * 3.0

    kept = _backward_peak(eager_after, w, retain_graph=True)
    w.grad = None
    freed = _backward_peak(eager_after, w, retain_graph=False)
    assert freed <= kept - 0.9 * n * 8
    v = w.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), 3 * np.cos(v) * np.exp(np.sin(v)), rtol=1e-14)


def test_operands_of_a_join_are_computed_into_its_rows():
    # cat([a * 2, b + 1]) allocates the join first and computes each operand into its rows: no concatenate copy;
    # b + 1, read again after the join, is a view of the join's rows, and nothing may write into it (dying at
    # (e * 3.0) it would otherwise receive that product, overwriting the join's rows that sin's gradient reads)
    def f(a, b):
        t, e = a * 2.0, b + 1.0
        joined = gg.cat([t, e])
        return joined.sin().sum() + (e * 3.0).sum()

    rng = np.random.default_rng(4)
    a, b = (gg.tensor(rng.standard_normal((3, 5)), requires_grad=True) for _ in range(2))
    compiled = gg.compile(f)
    src = compiled.source(a, b).split("def backward")[0]
    assert "joined = np.empty((6, 5), dtype=np.float64)" in src and "concatenate" not in src, src
    assert "    t = joined[0:3]\n    np.multiply(a, 2.0, out=t)" in src, src
    assert "out=e)" not in src.split("np.add(b, 1.0, out=e)")[1], src
    value = compiled(a, b)
    value.backward()
    ea, eb = (x.detach().clone().requires_grad_() for x in (a, b))
    want = f(ea, eb)
    want.backward()
    np.testing.assert_allclose(value.item(), want.item(), rtol=1e-14)
    np.testing.assert_allclose(a.grad.numpy(), ea.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad.numpy(), eb.grad.numpy(), rtol=1e-13)


def test_a_join_of_an_input_or_a_non_ufunc_result_is_copied_as_before():
    def f(a, b):
        return gg.cat([a, (b @ b.T)[:, :4] * 1.0 + b.sum()]).sum()  # a is the caller's: never written into

    rng = np.random.default_rng(5)
    a, b = gg.tensor(rng.standard_normal((4, 4))), gg.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    src = gg.compile(f).source(a, b)
    assert "np.concatenate([a, " in src and "np.empty(" not in src
