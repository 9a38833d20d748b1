"""Source conversion: Python if/elif/else, while and for-range on traced values inside compile / grad become
control-flow nodes; Python-valued control flow still runs at trace time."""
import cProfile
import sys

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer import TracerError


def _t(a):
    return gg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def test_data_dependent_if_compiles_with_the_right_gradient(check_gradients):
    def f(x):
        if x.sum() > 0:
            y = x * x
        else:
            y = -x * 3.0
        return y.sum()

    for x in (np.array([1.0, 2.0, -0.5]), np.array([-1.0, 0.5, -2.0])):
        compiled = check_gradients(f, [x])
    source = compiled.source(_t([1.0, 2.0]))
    assert "    if t2:" in source or "    if " in source
    assert "y = " in source and "else:" in source  # the user's variable names, a Python if/else
    assert "# test_autograph.py:" in source


def test_elif_chain_and_a_variable_only_one_branch_changes(check_gradients):
    def f(x, w):
        scale = 2.0
        if x.mean() > 1.0:
            h = x * w
        elif x.mean() > 0.0:
            h = x + w
            scale = 3.0
        else:
            h = x - w
        return (h * scale).sum() + (h * h).sum()

    w = np.array([0.5, -1.0, 2.0])
    for x in (np.full(3, 2.0), np.full(3, 0.5), np.full(3, -1.0)):
        check_gradients(f, [x, w])
    text = str(gg.compile(f).graph(_t([1.0, 2.0, 3.0]), _t(w), stage="traced"))
    assert text.count("= cond(") == 2  # the elif is a cond inside the else branch


def test_if_that_returns_is_restructured(check_gradients):
    def f(x):
        if x.sum() > 0:
            return (x ** 3).sum()
        return x.sum() * 2.0

    check_gradients(f, [np.array([1.0, 0.5])])
    check_gradients(f, [np.array([-1.0, 0.5])])


def test_branch_inside_a_python_loop_and_a_converted_helper(check_gradients):
    def helper(h, w):
        if h.sum() > 0:
            h = gg.tanh(h @ w)
        else:
            h = h * 0.5 + 0.1
        return h

    def f(w, x):
        h = x
        total = 0.0
        for _ in range(3):  # a Python int: unrolled at trace time, one cond per iteration
            h = helper(h, w)  # converted on call
            total = total + (h * h).sum()
        return total

    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3)) * 0.6
    check_gradients(f, [w, rng.standard_normal((2, 3))])
    text = str(gg.compile(f).graph(_t(w), _t(np.ones((2, 3))), stage="traced"))
    assert text.count("= cond(") == 3 and "= scan(" not in text


def test_for_over_a_traced_range_and_a_branch_inside_it(check_gradients):
    @gg.compile
    def f(x, n):
        s = x * 0.0
        for i in range(n):
            if s.sum() > 2.0:
                s = s + 1.0
            else:
                s = s + x * 2.0
        return s

    assert f(gg.tensor([1.0]), gg.tensor(4)).tolist() == [6.0]  # 0 -> 2 -> 4 -> 5 -> 6
    source = f.source(gg.tensor([1.0]), gg.tensor(4))
    assert "while True:" in source and "if " in source
    assert f(gg.tensor([1.0]), gg.tensor(1)).tolist() == [2.0]
    n = gg.tensor(3)

    def g(x):
        s = x * 0.5
        for i in range(n):  # a traced bound (n is an input of the compiled function)
            if s.sum() > 1.0:
                s = s * 0.9
            else:
                s = gg.sin(s) + x
        return (s * s).sum()

    check_gradients(g, [np.array([0.4, -0.1])])
    check_gradients(g, [np.array([1.4, 0.9])])


def test_while_on_a_traced_value_runs_and_differentiates(check_gradients):
    def f(x):
        steps = 0
        while x.sum() < 10.0:
            x = x * 2.0
            steps = steps + 1
        return x.sum() + steps

    c = gg.compile(f)
    assert c(gg.tensor([1.0, 2.0])).item() == 12.0 + 2
    assert "while True:" in c.source(gg.tensor([1.0, 2.0]))
    assert gg.grad(f)(np.array([1.0, 2.0])).tolist() == [4.0, 4.0]  # two doublings ran
    check_gradients(f, [np.array([1.0, 2.0])])


def test_break_in_a_traced_while_says_what_to_change():
    def f(x):
        while x.sum() < 10.0:
            x = x * 2.0
            if x.max() > 5.0:
                break
        return x

    with pytest.raises(TracerError) as info:
        gg.compile(f)(gg.tensor([1.0, 2.0]))
    msg = str(info.value)
    assert "`break`" in msg and "while cond and not done" in msg and "test_autograph.py:" in msg


def test_python_valued_control_flow_still_specializes():
    def f(x, flag):
        if flag:
            x = x * 2.0
        for _ in range(x.shape[0]):
            x = x + 1.0
        return x.sum()

    c = gg.compile(f)
    ops = [n.op for n in c.graph(gg.ones(2), True, stage="traced").nodes]
    assert ops == ["mul", "add", "add", "sum"]
    assert c(gg.ones(2), False).item() == 6.0


def test_value_and_grad_converts_too():
    def f(x):
        if x[0] > 0:
            out = (x * x).sum()
        else:
            out = x.sum()
        return out

    value, grad = gg.value_and_grad(f)(np.array([2.0, 3.0]))
    assert value == 13.0 and grad.tolist() == [4.0, 6.0]
    value, grad = gg.value_and_grad(f)(np.array([-2.0, 3.0]))
    assert value == 1.0 and grad.tolist() == [1.0, 1.0]


def test_compile_under_cprofile_and_a_trace_function():
    def f(w, x):
        h = gg.tanh(x @ w)
        return (h * h).sum()

    w, x = _t(np.eye(3) * 0.5), gg.ones(2, 3, dtype=gg.float64)
    profiler = cProfile.Profile()
    profiler.enable()  # it failed here: "'Profile' object is not callable"
    try:
        c = gg.compile(f)
        loss = c(w, x)
    finally:
        profiler.disable()
    loss.backward()
    assert np.allclose(w.grad.numpy(), gg.grad(f)(np.eye(3) * 0.5, np.ones((2, 3))))
    assert "np.tanh(h, out=h)" in c.source(w, x)  # names still come from the user's locals

    seen = []

    def tracer(frame, event, arg):  # what a debugger or coverage installs
        seen.append(event)
        return tracer

    sys.settrace(tracer)
    try:
        c2 = gg.compile(f)
        c2(w, x)
    finally:
        sys.settrace(None)
    assert seen and "np.tanh(h, out=h)" in c2.source(w, x)


def test_factories_inside_a_traced_function_are_nodes_not_inputs():
    def rnn(w, xs):
        h = gg.zeros(2, 3, dtype=gg.float64)
        ones = gg.ones_like(h)
        idx = gg.arange(3)
        for t in range(xs.shape[0]):
            h = gg.tanh(h @ w + xs[t]) * gg.full((1,), 0.5, dtype=gg.float64) + ones * 0.0
        return (h * h).sum() + idx.sum() * 0.0

    rng = np.random.default_rng(0)
    args = [_t(rng.standard_normal((3, 3))), _t(rng.standard_normal((4, 2, 3)))]
    c = gg.compile(rnn)
    source = c.source(*args)
    assert "def forward(w, xs):" in source  # no extra argument the user never wrote
    assert "np.full((2, 3), 0.0, dtype=np.float64)" in source and "np.arange(0, 3, 1" in source
    loss = c(*args)
    loss.backward()
    eager_args = [_t(a.detach().numpy()) for a in args]
    rnn(*eager_args).backward()
    assert np.allclose(args[0].grad.numpy(), eager_args[0].grad.numpy())


def test_a_variable_only_one_branch_assigns_is_reported_where_it_is_used():
    def f(x):
        if x.sum() > 0:
            y = x * 2
        return y + 1

    with pytest.raises(NameError, match="'y' is assigned on only some paths"):
        gg.compile(f)(gg.ones(2))


def test_generated_comments_point_at_the_lines_inside_a_branch():
    def f(x):
        if x.sum() > 0:
            h = x.tanh()
        else:
            h = x.exp()
        return h.sum()

    first = f.__code__.co_firstlineno
    source = gg.compile(f).source(gg.ones(2))
    assert f"# test_autograph.py:{first + 2}: h = x.tanh()" in source  # a method call reported its if's line
    assert f"# test_autograph.py:{first + 4}: h = x.exp()" in source


def test_a_modules_forward_is_converted_and_its_parameters_get_gradients():
    class Gate(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = gg.nn.Linear(3, 3, dtype=gg.float64)

        def forward(self, x):
            h = self.fc(x)
            if h.sum() > 0:
                h = h.tanh()
            else:
                h = h * 0.5
            return (h * h).sum()

    gg.manual_seed(0)
    model = Gate()
    compiled = gg.compile(model)
    for x in (gg.ones(2, 3, dtype=gg.float64), -gg.ones(2, 3, dtype=gg.float64) * 5):
        model.zero_grad()
        compiled(x).backward()
        got = model.fc.weight.grad.numpy().copy()
        model.zero_grad()
        model(x).backward()
        assert np.allclose(got, model.fc.weight.grad.numpy())
    assert "= cond(" in str(compiled.graph(gg.ones(2, 3, dtype=gg.float64), stage="traced"))


def test_and_or_not_in_a_traced_test(check_gradients):
    def f(x):
        if x[0] > 0 and not x[1] > 0 or x.sum() > 5.0:
            y = x * x
        else:
            y = x * 3.0
        return y.sum()

    for x in ([1.0, -1.0], [1.0, 1.0], [-1.0, -1.0], [3.0, 4.0]):
        check_gradients(f, [np.array(x)])
    flag = True

    def g(x):
        if flag and x.sum() > 0:  # a Python value short-circuits as in Python
            return x.sum()
        return -x.sum()

    assert gg.compile(g)(gg.tensor([1.0, 2.0])).item() == 3.0


def test_a_converted_forward_keeps_zero_argument_super():
    class Scaled(gg.nn.Linear):
        def forward(self, x):
            y = super().forward(x)
            if y.sum() > 0:
                y = y * 2.0
            return y.sum()

    gg.manual_seed(0)
    layer = Scaled(3, 2)
    x = gg.ones(4, 3)
    assert np.allclose(gg.compile(layer)(x).item(), layer(x).item())
    assert "= cond(" in str(gg.compile(layer).graph(x, stage="traced"))


def test_a_decorated_function_converts_through_its_wrapper():
    import functools

    def logged(f):
        @functools.wraps(f)
        def wrapper(*args):
            return f(*args)
        return wrapper

    @logged
    def f(x):
        if x.sum() > 0:
            return (x * 2.0).sum()
        return x.sum()

    c = gg.compile(f)
    assert c(gg.tensor([1.0, 2.0])).item() == 6.0 and c(gg.tensor([-1.0, -2.0])).item() == -3.0


def _scaled(x, f=1.0, *, args=0.0, kwargs=0.0):
    return x * f + args + kwargs


def test_a_converted_call_passes_keyword_arguments_named_like_the_helper_s_own():
    """Calls are rewritten to ``gg__.call(fn, ...)``: a keyword argument called ``f`` (the helper's first
    parameter), ``args`` or ``kwargs`` must reach the user's function."""
    def outer(x):
        return _scaled(x, f=2.0, args=1.0, kwargs=0.5).sum()

    assert gg.grad(outer)(np.array([1.0, 3.0])).tolist() == [2.0, 2.0]
    assert gg.compile(outer)(gg.tensor([1.0, 3.0])).item() == 11.0


def test_a_conditional_expression_on_a_traced_value_becomes_a_cond(check_gradients):
    def f(x):
        k = 2.0 if x.sum() > 0 else 3.0
        y = x.sin() if x.max() > 1 and x.min() > 0 else x * x
        return (y * k).sum()

    for x in ([0.5, 1.5], [-0.5, -1.5], [0.5, 0.7]):
        check_gradients(f, [np.array(x)])
    compiled = gg.compile(f)
    assert [n.op for n in compiled.graph(_t([0.5, 1.5]), stage="traced").nodes].count("cond") == 2
    np.testing.assert_allclose(gg.grad(f)(np.array([0.5, 1.5])), 2 * np.cos([0.5, 1.5]), rtol=1e-12)


def test_a_conditional_expression_on_python_values_runs_one_branch_at_trace_time():
    def f(x, n):
        first = x[0] if n > 0 else None  # the branch not taken is never evaluated, as in Python
        return (x * 2.0 if first is not None else x).sum()

    compiled = gg.compile(f)
    assert compiled(gg.tensor([1.0, 2.0]), 1).item() == 6.0
    assert compiled(gg.tensor([1.0, 2.0]), 0).item() == 3.0
    assert "cond" not in [n.op for n in compiled.graph(gg.tensor([1.0, 2.0]), 1).nodes]


def test_conditional_expressions_whose_branches_cannot_be_lambdas_stay_python():
    def f(x):
        class Scale:
            k = 2.0
            factor = k if True else 1.0  # a class body's names are not visible from a lambda
        y = (z := x * Scale.factor) if x.shape[0] == 2 else x  # := would bind inside a lambda
        return (y + z).sum()

    assert gg.compile(f)(gg.tensor([1.0, 2.0])).item() == 12.0


def _branchy(x, n):
    if x.sum() > 0:
        return (x * n).sum()
    return (x * x).sum()


def test_a_lambda_is_converted_and_so_are_the_functions_it_calls(check_gradients):
    g = gg.grad(lambda x: _branchy(x, 3.0))
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [3.0, 3.0])
    np.testing.assert_allclose(g(np.array([-1.0, -2.0])), [-2.0, -4.0])
    check_gradients(lambda x: x.sin().sum() if x.sum() > 0 else (x * x).sum(), [np.array([-0.5, 0.25])])
    np.testing.assert_allclose(gg.jacrev(lambda x: _branchy(x, 2.0))(np.array([1.0, 2.0])), [2.0, 2.0])


def test_each_of_several_lambdas_on_one_line_is_found_by_its_position():
    k = 5.0
    pair = (lambda x: (x * 2).sum(), lambda x: (x * 3).sum() if x.sum() > 0 else -x.sum())
    nested = lambda x: (lambda y: y * k if y.sum() > 0 else -y)(x).sum()  # noqa: E731
    np.testing.assert_allclose(gg.grad(pair[0])(np.ones(2)), [2.0, 2.0])
    np.testing.assert_allclose(gg.grad(pair[1])(np.ones(2)), [3.0, 3.0])
    np.testing.assert_allclose(gg.grad(pair[1])(-np.ones(2)), [-1.0, -1.0])
    np.testing.assert_allclose(gg.grad(nested)(np.ones(2)), [5.0, 5.0])
    np.testing.assert_allclose(gg.grad(nested)(-np.ones(2)), [-1.0, -1.0])
    assert gg.compile(pair[1]).__name__ == "<lambda>"


def test_a_functions_source_is_found_without_inspect_and_is_the_same_block(monkeypatch):
    import ast
    import inspect
    import textwrap

    import autograph_shapes as shapes
    from graphgrad.tracer import autograph

    fns = [shapes.plain, shapes.one_liner, shapes.decorated.__wrapped__.__func__, shapes.string_at_column_zero,
           shapes.continuation_at_column_zero, shapes.Holder.method, shapes.Holder().method.__func__]
    expected = {}
    for fn in fns:
        lines, first = inspect.getsourcelines(fn.__code__)
        expected[fn] = (ast.dump(ast.parse(textwrap.dedent("".join(lines)))), first)
    asked = []
    real = inspect.getsourcelines
    monkeypatch.setattr(inspect, "getsourcelines", lambda code: asked.append(code.co_name) or real(code))
    for fn in fns:
        tree, first, filename = autograph._definition(fn.__code__)
        assert (ast.dump(tree), first) == expected[fn], fn.__name__
        assert filename == fn.__code__.co_filename
    # a block cut short inside a string or brackets does not parse: only those two ask inspect
    assert sorted(set(asked)) == ["continuation_at_column_zero", "string_at_column_zero"]


def test_a_conditional_expression_in_a_loop_keeps_the_users_names_and_line(monkeypatch):
    import graphgrad.tracer.tracer as tracer_module

    def f(x):
        y = x
        for i in range(4):
            y = y * 0.5 if i % 2 == 0 else y.tanh()  # the line every generated statement points at
        return y.sum()

    named_from = []
    real = tracer_module._name_from_frames
    monkeypatch.setattr(tracer_module, "_name_from_frames",
                        lambda tracer, frames: named_from.append(len(frames)) or real(tracer, frames))
    source = gg.compile(f).source(gg.tensor([0.5, 1.0], requires_grad=True))
    assert named_from == [5]  # f and the loop body's four runs: the branches' lambdas are not frames to read
    forward = source.split("def backward")[0]
    line = f.__code__.co_firstlineno + 3
    assert [ln.split(" = ")[0].strip() for ln in forward.splitlines() if "# test_autograph.py:" in ln][:4] == \
        ["y", "y_1", "y_2", "y_3"]
    assert f"# test_autograph.py:{line}: y = y * 0.5 if" in forward
    assert all(f"test_autograph.py:{line}" in ln for ln in forward.splitlines() if "# test_autograph.py:" in ln
               and "sum" not in ln)


def test_a_function_edited_and_reloaded_is_converted_from_its_new_source(tmp_path, monkeypatch):
    # linecache keeps a file's lines until asked to check the file again: without that check, the reloaded
    # function (same name, same line) would be converted from the old text and compute the old formula
    import importlib
    import os

    path = tmp_path / "edited_mod.py"
    path.write_text("def f(x):\n    return (x * 2.0).sum()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("edited_mod")
    x = gg.tensor(np.arange(3.0), requires_grad=True)
    assert float(gg.compile(mod.f)(x)) == 6.0
    path.write_text("def f(x):\n    return (x * 3.0).sum()\n")
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))  # a new mtime even on a coarse clock
    mod = importlib.reload(mod)
    y = gg.compile(mod.f)(x)
    assert float(y) == 9.0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])
    sys.modules.pop("edited_mod", None)


# -- a converted if/loop computes what the Python code computes, or raises ------------------------------------

def test_a_variable_whose_shape_differs_between_the_branches_is_refused_not_broadcast():
    # broadcast to one shape, the scalar branch went on as a vector: (y * 2).sum() gave 12 where eager gives 6
    def vector_or_sum(x):
        y = x
        if x.sum() > 0:
            y = x.sum()
        return (y * 2).sum()

    def zero_or_vector(x):
        y = 0.0
        if x.sum() > 0:
            y = x * 2
        return y * x.sum()  # eager: a 0-d result on one path, a vector on the other

    def ternary(x):
        return (x.sum() if x[0] > 0 else x).sum()

    for f, what in ((vector_or_sum, "'y' is f64[] after the true branch and f64[2]"),
                    (zero_or_vector, "'y' is f64[2] after the true branch and a Python float (0.0)"),
                    (ternary, "the value is f64[] after the true branch and f64[2]")):
        with pytest.raises(TracerError, match=r"(?s)" + what.replace("[", r"\[").replace("]", r"\]").replace(
                "(", r"\(").replace(")", r"\)") + ".*test_autograph.py:"):
            gg.compile(f)(_t([1.0, 2.0]))
    assert f"{vector_or_sum(_t([1.0, 2.0])).item():g}" == "6"  # eager is unaffected


def test_a_loop_variable_whose_shape_the_body_changes_is_refused_not_broadcast(check_gradients):
    def narrows(x):
        y = x
        while y.sum() > 1:
            y = y.sum() / 4  # eager: a scalar from the first iteration on (0.375 for [3, 3]; compiled said 0.75)
        return y * 1.0

    def widens(x, n):
        y = gg.tensor(1.0, dtype=gg.float64)
        for _ in range(n):
            y = y.sum() + x  # eager: 1 + x, then sum(1 + x) + x (compiled summed the broadcast ones: 2 + x)
        return y.sum()

    with pytest.raises(TracerError, match=r"'y' is f64\[2\] when an iteration .* and f64\[\] when it ends"):
        gg.compile(narrows)(_t([3.0, 3.0]))
    with pytest.raises(TracerError, match=r"'y' is f64\[\] when an iteration .* and f64\[2\] when it ends"):
        gg.compile(widens)(_t([1.0, 2.0]), gg.tensor(2))

    def accumulates(x):
        total = 0.0  # a Python number that the body makes a tensor: the accumulator pattern still compiles
        for i in range(gg.tensor(3)):
            total = total + x * i
        return (total * total).sum()

    check_gradients(accumulates, [np.array([0.5, -1.5])])


def test_returns_in_nested_and_sequential_ifs_are_restructured(check_gradients):
    def sequential(x):
        if x.sum() > 0:
            return (x * 2).sum()
        y = x * x
        if y.sum() > 4:
            return y.sum()
        return x.sum()

    def nested(x):
        if x.sum() > 0:
            if x[0] > 1:
                y = x * 2
            else:
                y = x * 3
        else:
            if x[1] > 0:
                return (x * 7).sum()
            y = x * 5
        return (y * y).sum()

    def falls_through(x):
        if x.sum() > 0:
            y = x.sin()
            if y.sum() > 1.5:
                return y.sum()
        else:
            y = x
        return (y * 3).sum()

    for x in ([1.0, 2.0], [-3.0, -1.0], [-0.5, -0.1]):
        check_gradients(sequential, [np.array(x)], second_order=False)
    for x in ([2.0, 2.0], [0.5, 2.0], [-3.0, 1.0], [-3.0, -1.0]):
        check_gradients(nested, [np.array(x)], second_order=False)
    for x in ([1.0, 1.5], [0.1, 0.2], [-1.0, -2.0]):
        check_gradients(falls_through, [np.array(x)], second_order=False)
    compiled = gg.compile(sequential)
    assert [compiled(_t(x)).item() for x in ([1.0, 2.0], [-3.0, -1.0], [-0.5, -0.1])] == [6.0, 10.0, -0.6]


def _halve_or_double(x, n):
    if n == 0:
        return x
    if x.sum() > 0:
        return _halve_or_double(x * 0.5, n - 1)
    return _halve_or_double(x * 2.0, n - 1)


def test_a_function_that_calls_itself_is_converted():
    # its converted code looked its own name up in the converter's factory (a free variable no cell filled), so
    # it ran unconverted and its `if` asked the traced value
    compiled = gg.compile(lambda x: _halve_or_double(x, 3).sum())
    assert compiled(_t([1.0, 2.0])).item() == 0.375
    assert compiled(_t([-1.0, 0.5])).item() == -4.0
    assert gg.grad(lambda x: _halve_or_double(x, 2).sum())(np.array([1.0, 2.0])).tolist() == [0.25, 0.25]


def test_the_loop_variable_after_a_for_loop_holds_its_last_value():
    def static(x):
        for i in range(3):
            x = x * 2.0
        return x.sum() + i  # a NameError: the converted loop never assigned i

    def traced(x, n):
        i = 100
        for i in range(n):
            x = x * 2.0
        return x.sum() + i  # the value before the loop (100) was returned where eager gives n - 1

    assert gg.compile(static)(_t([1.0, 2.0])).item() == static(_t([1.0, 2.0])).item() == 26.0
    c = gg.compile(traced)
    for n in (2, 0, -1):
        assert c(_t([1.0, 2.0]), gg.tensor(n)).item() == traced(_t([1.0, 2.0]), gg.tensor(n)).item()


def test_bool_and_int_of_a_traced_value_in_a_test_and_a_range_bound(check_gradients):
    def f(x):
        if bool(x.sum() > 0):
            y = x.exp()
        else:
            y = x.sin()
        for _ in range(int(x.sum())):  # a loop node whose trip count is read each call, not a trace-time int
            y = y * 0.5
        return y.sum()

    for x in ([1.5, 2.0], [-0.5, -0.25], [0.2, 0.3]):
        check_gradients(f, [np.array(x)], second_order=False)
    def repeat(x, n, k):
        s = x * 0.0
        for _ in range(int(n)):  # a float count, truncated as int() does
            s = s + x
        for _ in range(k.item()):
            s = s + x
        return s.sum()

    c = gg.compile(repeat)
    for n, k in ((3.7, 1), (0.5, 2), (-2.0, 0)):
        assert c(_t([1.0, 2.0]), gg.tensor(n), gg.tensor(k)).item() == \
            repeat(_t([1.0, 2.0]), gg.tensor(n), gg.tensor(k)).item()


def test_changes_to_objects_from_outside_a_traced_branch_or_loop_are_refused():
    class Counter:
        n = 0

    def counts(x, counter):
        if x.sum() > 0:
            counter.n += 1  # ran while tracing both branches: 1 whatever the data
        return x.sum()

    def stores(x):
        d = {"k": x}
        if x.sum() > 0:
            d["k"] = x * 2.0  # the branch's value leaked out of its sub-graph (a KeyError in codegen)
        return d["k"].sum()

    def appends(x):
        outs = []
        while x.sum() > 1:
            x = x * 0.5
            outs.append(x)  # once while tracing: len(outs) was 1 whatever the trip count
        return x.sum() + len(outs)

    for f, args, what in ((counts, (Counter(),), r"`counter.n \+= 1` changes an object from outside an `if`"),
                          (stores, (), r"`d\['k'\] = x \* 2.0` changes an object from outside an `if`"),
                          (appends, (), r"`outs.append\(x\)` changes an object from outside a `while` loop")):
        with pytest.raises(TracerError, match=what + r".*test_autograph.py:"):
            gg.compile(f)(_t([1.0, 2.0]), *args)

    def rnn(xs):  # on a Python range the list grows as in eager code
        h, outs = xs[0] * 0.0, []
        for t in range(xs.shape[0]):
            h = (h + xs[t]).tanh() if h.sum() > 0 else h + xs[t]
            outs.append(h)
        return gg.stack(outs).sum()

    xs = _t([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]])
    assert np.isclose(gg.compile(rnn)(xs).item(), rnn(xs).item())


def _stash(store, value):
    store.append(value)


def test_a_value_kept_from_a_branch_through_a_helper_is_an_escaped_value():
    def f(x):
        kept = []
        if x.sum() > 0:
            _stash(kept, x * 2.0)  # not visible to the converter: the value escapes the branch's sub-graph
            y = x
        else:
            y = -x
        return kept[0].sum() + y.sum()

    with pytest.raises(TracerError, match=r"computed inside .*a branch or loop body on a traced value, and used "
                                          r"after it at .*test_autograph.py:"):
        gg.compile(f)(_t([1.0, 2.0]))


def test_raise_and_assert_on_a_traced_value_say_what_to_do_and_run_on_python_values():
    def raises(x):
        if x.sum() < -100:
            raise ValueError("too small")  # traced as a branch, it raised for every input
        return x.sum()

    def asserts(x):
        assert x.sum() > -100
        return x.sum()

    with pytest.raises(TracerError, match=r"`raise` inside an `if` whose test is a traced tensor: the compiled code "
                                          r"cannot raise on data"):
        gg.compile(raises)(_t([1.0, 2.0]))
    with pytest.raises(TracerError, match=r"`assert` on a traced tensor"):
        gg.compile(asserts)(_t([1.0, 2.0]))

    def checks_shape(x):
        if x.ndim != 1:
            raise ValueError("want a vector")
        assert x.shape[0] > 1
        return x.sum()

    assert gg.compile(checks_shape)(_t([1.0, 2.0])).item() == 3.0
    with pytest.raises(ValueError, match="want a vector"):
        gg.compile(checks_shape)(_t([[1.0, 2.0]]))


def test_a_number_on_one_path_takes_the_tensor_s_dtype_exactly():
    # 0.1 became a float32 constant, then float64: 0.1000000015 in float64 code
    def f(x):
        y = 0.1
        if x.sum() > 5:
            y = x.sum()
        total = 0.1
        for _ in range(gg.tensor(2)):
            total = total + x.sum()
        return y + total

    for x in ([1.0, 2.0], [3.0, 4.0]):
        assert gg.compile(f)(_t(x)).item() == f(_t(x)).item()


def test_in_place_updates_in_a_traced_branch_or_loop_reach_every_name_for_the_tensor(check_gradients):
    # `y += x` in a traced branch changed the outer tensor to a value of the branch's graph: a KeyError in codegen
    def branches(x):
        y = x * 1.0
        alias = y
        if x.sum() > 0:
            y += x
        else:
            y.mul_(3.0)
        return (y * alias).sum()  # eager: alias is y, updated in place on both paths

    def rebinds(x):
        y = x * 1.0
        alias = y
        if x.sum() > 0:
            y.mul_(3.0)
        else:
            y = y * 5.0  # a new tensor: alias keeps the old values on this path
        return (y * 2.0 + alias).sum()

    def loops(x, n):
        y = x * 1.0
        alias = y
        for _ in range(n):
            y.add_(x * 0.5)
        return (alias * alias).sum()

    for x in ([1.0, 2.0], [-1.0, -2.0]):
        check_gradients(branches, [np.array(x)], second_order=False)
        check_gradients(rebinds, [np.array(x)], second_order=False)
    c = gg.compile(loops)
    for n in (0, 3):
        assert c(_t([1.0, 2.0]), gg.tensor(n)).item() == loops(_t([1.0, 2.0]), gg.tensor(n)).item()

    def argument(x, buffer):
        if x.sum() > 0:
            buffer += x  # an argument updated in place on one path: written back to the caller's tensor
        return x.sum()

    c = gg.compile(argument)
    buffer = gg.zeros(2, dtype=gg.float64)
    for x in ([1.0, 2.0], [-5.0, 2.0], [0.5, 0.5]):
        c(gg.tensor(x, dtype=gg.float64), buffer)
    assert buffer.tolist() == [1.5, 2.5]

    running = gg.zeros(2, dtype=gg.float64)

    def closed_over(x, n):
        total = running  # an eager tensor from outside the function: written back after each call
        if x.sum() > 0:
            total.add_(x)
        for _ in range(n):
            total.mul_(2.0)
        return x.sum()

    c = gg.compile(closed_over)
    for x, n in (([1.0, 2.0], 1), ([-5.0, 2.0], 0), ([0.5, 0.5], 2)):
        c(gg.tensor(x, dtype=gg.float64), gg.tensor(n))
    assert running.tolist() == [10.0, 18.0]  # it stayed [0, 0], or crashed, before

    def helper_updates(y, x):
        y.add_(x)  # not visible to the converter: the tensor is the branch's outer value

    def through_helper(x):
        y = x * 1.0
        if x.sum() > 0:
            helper_updates(y, x)
        return y.sum()

    with pytest.raises(TracerError, match=r"in-place add_ of a tensor from outside a branch or loop body on a traced "
                                          r"value at .*test_autograph.py:"):
        gg.compile(through_helper)(_t([1.0, 2.0]))


_CALLS = 0


def test_a_global_assigned_in_a_traced_branch_is_refused_and_runs_on_python_values():
    def f(x, flag):
        global _CALLS
        if flag:
            _CALLS = _CALLS + 1  # was set to the converter's undefined marker when the other branch ran
        return x.sum()

    def g(x):
        global _CALLS
        if x.sum() > 0:
            _CALLS = 1
        return x.sum()

    gg.compile(f)(_t([1.0, 2.0]), False)
    assert _CALLS == 0
    gg.compile(f)(_t([1.0, 2.0]), True)
    assert _CALLS == 1
    with pytest.raises(TracerError, match="`global` inside an `if` whose test is a traced tensor"):
        gg.compile(g)(_t([1.0, 2.0]))


def test_python_floats_a_converted_if_or_loop_makes_tensors_keep_the_data_s_precision():
    # `0.1 if c else 0.2` was a float32 constant: 0.30000000447 for eager's 0.30000000000000004 in float64 code
    def f(x):
        k = 0.1 if x.sum() > 0 else 0.2
        rate, i = 1.0, 0
        while i < x.sum():
            rate = rate * 0.9
            i = i + 1
        return x.sum() * k * rate

    x = gg.tensor([1.0, 2.0], dtype=gg.float64)
    got, want = gg.compile(f)(x), f(x)
    assert got.dtype == want.dtype == gg.float64 and got.item() == want.item()
    x = gg.tensor([1.0, 2.0])  # float32 data: float32 results (the carried rate rounds as float32 does)
    got, want = gg.compile(f)(x), f(x)
    assert got.dtype == want.dtype == gg.float32 and np.isclose(got.item(), want.item(), rtol=1e-6)


def test_the_user_s_except_does_not_swallow_why_a_construct_cannot_be_traced():
    # `except Exception` caught the TracerError of float(traced) and compiled the fallback: x * 0 for eager's x * 3
    def fallback(x):
        try:
            v = float(x.sum())
        except Exception:
            v = 0.0
        return x * v

    # the false branch failed while traced (eager never runs it for this x): the user's handler took the error
    # for the whole `if` and compiled x * 5 for eager's x * 2
    def untaken_branch_fails(x):
        try:
            if x.sum() > 0:
                y = x * 2.0
            else:
                y = x.no_such_method()
        except AttributeError:
            y = x * 5.0
        return y

    with pytest.raises(TracerError, match=r"float\(\) needs the value of a traced tensor"):
        gg.compile(fallback)(gg.tensor([1.0, 2.0]))
    with pytest.raises(TracerError, match=r"AttributeError while tracing the false branch of an `if` on a traced "
                                          r"value at .*test_autograph.py:.*no_such_method"):
        gg.compile(untaken_branch_fails)(gg.tensor([1.0, 2.0]))

    def handles_its_own(x):  # a handler that names TracerError is the user's own business
        try:
            return x * float(x.sum())
        except TracerError:
            return x * 0.0

    assert gg.compile(handles_its_own)(gg.tensor([1.0, 2.0])).tolist() == [0.0, 0.0]

    def python_errors_still_handled(x, key):
        try:
            scale = {"a": 2.0}[key]
        except KeyError:
            scale = 3.0
        return x * scale

    assert gg.compile(python_errors_still_handled)(gg.tensor([1.0]), "b").tolist() == [3.0]


def test_a_walrus_in_a_loop_test_or_an_and_binds_the_function_s_name():
    # the test became a function (and each operand of `and` a lambda) of its own: `:=` bound a name there, so
    # the function's `n` was unbound (UnboundLocalError) even on Python values
    def counts(x):
        n = 0
        while (n := n + 1) < 3:
            x = x * 2.0
        if x.shape[0] > 1 and (m := x.max()) is not None:
            x = x + m
        return x.sum() + n

    x = _t([1.0, 2.0])
    assert gg.compile(counts)(x).item() == counts(x).item() == 31.0

    def traced(x):
        while (s := x.sum()) > 1:
            x = x / 2.0
        return s

    with pytest.raises(TracerError, match=r"`:=` in the test of a `while` loop whose test is a traced tensor"):
        gg.compile(traced)(x)


def test_a_branch_variable_holding_a_value_of_an_enclosing_trace():
    # gg.grad of a closure inside a compiled function: y starts as the compiled function's x, and the branch's
    # copy of it was refused as "a value of another trace"
    @gg.compile
    def outer(w, x):
        def loss(w):
            y = x
            if w.sum() > 0:
                y = y * w
            n = 0
            while n < w.sum():
                y = y * 0.5
                n = n + 1
            return (y * w).sum()
        return gg.grad(loss)(w)

    w, x = gg.tensor([1.0, 2.0], dtype=gg.float64), gg.tensor([3.0, 4.0], dtype=gg.float64)

    def eager(w):
        y = x * w
        for _ in range(3):
            y = y * 0.5
        return (y * w).sum()

    assert outer(w, x).tolist() == gg.grad(eager)(w.numpy()).tolist()


def _doubled_if_tensor(x):
    if isinstance(x, gg.Tensor):
        return x * 2
    return x * 3


def _tenfold_if_is_tensor(x):
    return x * 10 if gg.is_tensor(x) else x * 3


def _fivefold_unless_parameter(x):
    return x * 2 if isinstance(x, (int, gg.nn.Parameter)) else x * 5


def test_a_traced_value_is_a_tensor_to_isinstance_and_is_tensor_as_in_eager():
    # SymbolicTensor is not a subclass of Tensor: compiled code took the other branch ([3., 3.] for eager's [2., 2.])
    x = gg.ones(2, dtype=gg.float64)
    for fn, factor in ((_doubled_if_tensor, 2.0), (_tenfold_if_is_tensor, 10.0), (_fivefold_unless_parameter, 5.0)):
        assert fn(x).tolist() == [factor, factor]
        assert gg.compile(fn)(x).tolist() == [factor, factor]
        assert gg.grad(lambda t: fn(t).sum())(x).tolist() == [factor, factor]
